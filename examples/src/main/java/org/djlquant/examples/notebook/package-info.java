/**
 * Jupyter notebooks for the project, the kernel that runs them in Jupyter, and what keeps them
 * honest. {@link org.djlquant.examples.notebook.DjlqKernel} is the project's Jupyter kernel
 * (JJava's protocol library {@code org.dflib.jjava:jjava-jupyter} from Maven Central; installed
 * with {@code scripts/install-kernel.sh}); {@link org.djlquant.examples.notebook.NotebookRunner}
 * executes every code cell of a {@code .ipynb} in order without Jupyter and can write the outputs
 * back into the file. Both evaluate cells with one package-private piece, {@code CellEvaluator}
 * (JShell, local execution engine), so a notebook behaves the same in both; they differ only in
 * their magics (the kernel checks {@code %maven} against its classpath and adds {@code %jars}, the
 * runner skips both) and in where outputs go (Jupyter messages, or the notebook JSON). {@link
 * org.djlquant.examples.notebook.Show} is the one display convention the notebooks use for charts
 * ({@code image/png}); {@link org.djlquant.examples.notebook.ClasspathFiles} copies model files out
 * of jars.
 *
 * <p>Lifecycle: a runner is built once and runs any number of notebooks, each in a fresh JShell
 * that is closed when the notebook ends; a kernel process holds one JShell from start to shutdown.
 * The JShell executes in the calling JVM, so classes (and DJL's native libraries) are shared with
 * it. Not thread-safe: run one notebook at a time per JVM, because standard output is captured by
 * replacing {@link System#out} during each cell.
 */
package org.djlquant.examples.notebook;

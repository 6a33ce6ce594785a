/**
 * Jupyter notebooks for the project, and what keeps them honest: {@link
 * org.djlquant.examples.notebook.NotebookRunner} executes every code cell of a {@code .ipynb} in
 * order in JShell (as the IJava and JJava kernels do) and can write the outputs back into the file;
 * {@link org.djlquant.examples.notebook.Show} is the one display convention the notebooks use for
 * charts; {@link org.djlquant.examples.notebook.ClasspathFiles} copies model files out of jars.
 *
 * <p>Lifecycle: a runner is built once and runs any number of notebooks, each in a fresh JShell
 * that is closed when the notebook ends. The JShell executes in this JVM, so classes (and DJL's
 * native libraries) are shared with the caller. Not thread-safe: run one notebook at a time per
 * JVM, because standard output is captured by replacing {@link System#out} during each cell.
 */
package org.djlquant.examples.notebook;

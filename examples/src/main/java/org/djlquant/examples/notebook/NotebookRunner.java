package org.djlquant.examples.notebook;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.stream.Stream;
import jdk.jshell.JShell;
import org.djlquant.QuantizationException;

/**
 * Executes a notebook's code cells in order in one JShell, the way the IJava and JJava kernels do,
 * and fails on the first compile error, rejected snippet or exception with the cell, the line and
 * its source ({@link CellFailedException}). Kernel classpath magics ({@code %maven}, {@code %jars},
 * {@code %classpath}, {@code %addMavenDependency}, {@code %mavenRepo}) are skipped because the
 * runner gives JShell its own classpath; any other magic fails.
 *
 * <p>Outputs are captured as a kernel would send them: standard output and error as {@code stream}
 * outputs, a {@link Show#png} value ending a cell as an {@code image/png} {@code execute_result}
 * (base64), any other value of a cell's last expression as a {@code text/plain} {@code
 * execute_result} in JShell's rendering, and execution counts from 1; {@link DjlqKernel} sends the
 * same outputs to Jupyter, because both evaluate cells with the same {@code CellEvaluator}. The
 * JShell executes in this JVM ({@code local} execution engine), so DJL's native libraries are
 * loaded once per process.
 *
 * <p>{@code main} runs every {@code .ipynb} under {@code examples/notebooks} (or the files given)
 * and, with {@code --write}, saves the outputs into the files. Not thread-safe (see the package
 * documentation).
 */
public final class NotebookRunner {

    private static final Set<String> CLASSPATH_MAGICS =
            Set.of("maven", "jars", "classpath", "addMavenDependency", "mavenRepo", "loadFromPOM");

    private final List<String> classpath;
    private final PrintStream progress;

    private NotebookRunner(Builder b) {
        this.classpath = List.copyOf(b.classpath);
        this.progress = b.progress;
    }

    /**
     * Returns a builder.
     *
     * @return a builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Reads and runs a notebook file.
     *
     * @param file the {@code .ipynb}
     * @return the notebook with the outputs of this run
     * @throws QuantizationException if the file cannot be read
     * @throws CellFailedException if a cell fails
     */
    public Notebook run(Path file) throws QuantizationException {
        return run(Notebook.read(file), file.getFileName().toString());
    }

    /**
     * Runs a notebook.
     *
     * @param notebook the notebook
     * @param name a name for progress messages
     * @return the notebook with the outputs of this run
     * @throws CellFailedException if a cell fails
     */
    public Notebook run(Notebook notebook, String name) {
        Objects.requireNonNull(notebook, "notebook");
        Notebook result = notebook;
        int count = 0;
        PrintStream savedOut = System.out;
        PrintStream savedErr = System.err;
        try (CellEvaluator evaluator = new CellEvaluator(classpath, NotebookRunner::skipMagic)) {
            for (int i = 0; i < notebook.cellCount(); i++) {
                if (!"code".equals(notebook.cellType(i))) {
                    continue;
                }
                count++;
                long start = System.nanoTime();
                Capture capture = new Capture();
                try {
                    System.setOut(capture.stream("stdout"));
                    System.setErr(capture.stream("stderr"));
                    CellEvaluator.CellValue value;
                    try {
                        value = evaluator.eval(notebook.source(i));
                    } catch (SnippetFailedException e) {
                        throw new CellFailedException(i, e.line(), e.sourceLine(), e.detail());
                    }
                    System.out.flush();
                    System.err.flush();
                    System.setOut(savedOut);
                    System.setErr(savedErr);
                    JsonArray outputs = capture.outputs();
                    if (value.image() != null) {
                        outputs.add(imageResult(value.image(), count));
                    } else if (value.text() != null) {
                        outputs.add(textResult(value.text(), count));
                    }
                    result = result.withOutputs(i, outputs, count);
                } finally {
                    System.setOut(savedOut);
                    System.setErr(savedErr);
                }
                if (progress != null) {
                    progress.printf(
                            Locale.ROOT,
                            "%s: cell %d ran in %.1f s%n",
                            name,
                            i,
                            (System.nanoTime() - start) / 1e9);
                }
            }
        }
        return result;
    }

    /** Skips kernel classpath magics (the runner provides the classpath); refuses other magics. */
    private static void skipMagic(String name, String args, JShell shell) {
        if (!CLASSPATH_MAGICS.contains(name)) {
            throw new IllegalArgumentException(
                    "magic %"
                            + name
                            + " is not supported by the runner; allowed (and skipped, the runner"
                            + " provides the classpath): "
                            + CLASSPATH_MAGICS.stream().sorted().toList());
        }
    }

    private static JsonObject imageResult(BufferedImage image, int count) {
        JsonObject data = new JsonObject();
        data.addProperty("image/png", Show.base64Png(image));
        data.addProperty("text/plain", Show.describe(image));
        return result(data, count);
    }

    private static JsonObject textResult(String text, int count) {
        JsonObject data = new JsonObject();
        data.add("text/plain", Notebook.lines(text));
        return result(data, count);
    }

    private static JsonObject result(JsonObject data, int count) {
        JsonObject o = new JsonObject();
        o.addProperty("output_type", "execute_result");
        o.add("data", data);
        o.add("metadata", new JsonObject());
        o.addProperty("execution_count", count);
        return o;
    }

    /** Standard output and error of one cell, in the order written, merged by stream name. */
    private static final class Capture {
        private final List<String> names = new ArrayList<>();
        private final List<ByteArrayOutputStream> chunks = new ArrayList<>();

        PrintStream stream(String name) {
            OutputStream os =
                    new OutputStream() {
                        @Override
                        public void write(int b) {
                            write(new byte[] {(byte) b}, 0, 1);
                        }

                        @Override
                        public void write(byte[] b, int off, int len) {
                            synchronized (Capture.this) {
                                if (names.isEmpty() || !names.get(names.size() - 1).equals(name)) {
                                    names.add(name);
                                    chunks.add(new ByteArrayOutputStream());
                                }
                                chunks.get(chunks.size() - 1).write(b, off, len);
                            }
                        }
                    };
            return new PrintStream(os, true, StandardCharsets.UTF_8);
        }

        synchronized JsonArray outputs() {
            JsonArray arr = new JsonArray();
            for (int k = 0; k < names.size(); k++) {
                JsonObject o = new JsonObject();
                o.addProperty("output_type", "stream");
                o.addProperty("name", names.get(k));
                o.add("text", Notebook.lines(chunks.get(k).toString(StandardCharsets.UTF_8)));
                arr.add(o);
            }
            return arr;
        }
    }

    /**
     * Runs notebooks: {@code [--write] [file.ipynb ...]}; without files, every {@code .ipynb} in
     * {@code examples/notebooks} in name order. With {@code --write}, each notebook is saved with
     * its new outputs. Exits with status 1 on the first failing cell.
     *
     * @param args the arguments
     */
    public static void main(String[] args) {
        boolean write = false;
        List<Path> files = new ArrayList<>();
        for (String a : args) {
            if (a.equals("--write")) {
                write = true;
            } else if (a.startsWith("-")) {
                System.err.println("NotebookRunner: unknown option " + a + "; known: --write");
                System.exit(2);
            } else {
                files.add(Path.of(a));
            }
        }
        try {
            if (files.isEmpty()) {
                files = notebooksIn(Path.of("examples", "notebooks"));
            }
            NotebookRunner runner = builder().optProgress(System.err).build();
            for (Path f : files) {
                Notebook done = runner.run(f);
                if (write) {
                    done.write(f);
                    System.err.println("wrote " + f);
                } else {
                    System.err.println("ran " + f);
                }
            }
        } catch (QuantizationException | CellFailedException e) {
            System.err.println("NotebookRunner: " + e.getMessage());
            System.exit(1);
        }
    }

    /**
     * Lists the {@code .ipynb} files of a folder in name order.
     *
     * @param dir the folder
     * @return the notebooks
     * @throws QuantizationException if the folder cannot be listed or holds no notebook
     */
    public static List<Path> notebooksIn(Path dir) throws QuantizationException {
        try (Stream<Path> s = Files.list(dir)) {
            List<Path> found =
                    s.filter(p -> p.getFileName().toString().endsWith(".ipynb")).sorted().toList();
            if (found.isEmpty()) {
                throw new QuantizationException("no .ipynb notebook in " + dir);
            }
            return found;
        } catch (IOException e) {
            throw new QuantizationException("cannot list notebooks in " + dir, e);
        }
    }

    /** Builds a {@link NotebookRunner}. */
    public static final class Builder {
        private List<String> classpath;
        private PrintStream progress;

        private Builder() {
            classpath = List.of(System.getProperty("java.class.path").split(File.pathSeparator));
        }

        /**
         * Sets the classpath the notebooks compile against (default: this JVM's {@code
         * java.class.path}, which is also what their classes load from).
         *
         * @param entries jar files and class folders
         * @return this builder
         */
        public Builder optClasspath(List<String> entries) {
            this.classpath = List.copyOf(entries);
            return this;
        }

        /**
         * Sets where a line per executed cell is printed (default: nowhere).
         *
         * @param stream the stream, or {@code null}
         * @return this builder
         */
        public Builder optProgress(PrintStream stream) {
            this.progress = stream;
            return this;
        }

        /**
         * Builds the runner.
         *
         * @return the runner
         * @throws IllegalArgumentException if the classpath is empty
         */
        public NotebookRunner build() {
            if (classpath.isEmpty() || classpath.stream().allMatch(String::isBlank)) {
                throw new IllegalArgumentException(
                        "classpath was empty, must name the jars the notebooks compile against");
            }
            return new NotebookRunner(this);
        }
    }
}

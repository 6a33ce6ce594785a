package org.djlquant.examples.notebook;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import jdk.jshell.Diag;
import jdk.jshell.EvalException;
import jdk.jshell.JShell;
import jdk.jshell.JShellException;
import jdk.jshell.Snippet;
import jdk.jshell.SnippetEvent;
import jdk.jshell.SourceCodeAnalysis;
import jdk.jshell.UnresolvedReferenceException;
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
 * execute_result} in JShell's rendering, and execution counts from 1. The JShell executes in this
 * JVM ({@code local} execution engine), so DJL's native libraries are loaded once per process.
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
        List<BufferedImage> images = new ArrayList<>();
        PrintStream savedOut = System.out;
        PrintStream savedErr = System.err;
        try (JShell shell = JShell.builder().executionEngine("local").build()) {
            for (String entry : classpath) {
                shell.addToClasspath(entry);
            }
            Show.setSink(images::add);
            for (int i = 0; i < notebook.cellCount(); i++) {
                if (!"code".equals(notebook.cellType(i))) {
                    continue;
                }
                count++;
                long start = System.nanoTime();
                Capture capture = new Capture();
                images.clear();
                try {
                    System.setOut(capture.stream("stdout"));
                    System.setErr(capture.stream("stderr"));
                    CellValue value = runCell(shell, i, notebook.source(i), images);
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
        } finally {
            Show.setSink(null);
        }
        return result;
    }

    /** What a cell's last snippet evaluated to, if a kernel would display it. */
    private record CellValue(BufferedImage image, String text) {}

    private static CellValue runCell(
            JShell shell, int cell, String source, List<BufferedImage> images) {
        String code = stripMagics(cell, source);
        SourceCodeAnalysis analysis = shell.sourceCodeAnalysis();
        String rest = code;
        SnippetEvent last = null;
        int imagesBeforeLast = 0;
        while (!rest.isBlank()) {
            int offset = code.length() - rest.length();
            int lead = 0;
            while (Character.isWhitespace(rest.charAt(lead))) {
                lead++;
            }
            int snippetStart = offset + lead;
            SourceCodeAnalysis.CompletionInfo info = analysis.analyzeCompletion(rest);
            if (!info.completeness().isComplete()) {
                throw failure(
                        cell, code, snippetStart, "incomplete source: " + info.completeness());
            }
            if (last != null && images.size() > imagesBeforeLast) {
                throw failure(
                        cell,
                        code,
                        snippetStart,
                        "Show.png(...) must be the cell's last expression: the kernels display"
                                + " only the value of the last one");
            }
            imagesBeforeLast = images.size();
            String snippet = info.source();
            for (SnippetEvent event : shell.eval(snippet)) {
                if (event.causeSnippet() != null) {
                    continue;
                }
                check(shell, cell, code, snippetStart, event);
                last = event;
            }
            rest = info.remaining();
        }
        if (last == null) {
            return new CellValue(null, null);
        }
        boolean expression =
                last.snippet().kind() == Snippet.Kind.EXPRESSION
                        || last.snippet().subKind() == Snippet.SubKind.TEMP_VAR_EXPRESSION_SUBKIND;
        if (images.size() > imagesBeforeLast) {
            if (!expression || images.size() - imagesBeforeLast > 1) {
                throw failure(
                        cell,
                        code,
                        code.length() - last.snippet().source().length(),
                        "a chart is shown by ending the cell with the expression Show.png(...)"
                                + " (one per cell)");
            }
            return new CellValue(images.get(images.size() - 1), null);
        }
        if (expression && last.value() != null && !last.value().isEmpty()) {
            return new CellValue(null, last.value());
        }
        return new CellValue(null, null);
    }

    private static void check(JShell shell, int cell, String code, int start, SnippetEvent event) {
        Snippet snippet = event.snippet();
        List<Diag> errors = shell.diagnostics(snippet).filter(Diag::isError).toList();
        if (!errors.isEmpty()) {
            Diag d = errors.get(0);
            long pos = Math.max(0, d.getStartPosition());
            throw failure(
                    cell,
                    code,
                    start + (int) Math.min(pos, snippet.source().length()),
                    "compile error: " + d.getMessage(Locale.ROOT));
        }
        if (event.status() == Snippet.Status.REJECTED) {
            throw failure(cell, code, start, "snippet rejected by JShell");
        }
        if (event.status() == Snippet.Status.RECOVERABLE_DEFINED
                || event.status() == Snippet.Status.RECOVERABLE_NOT_DEFINED) {
            throw failure(
                    cell,
                    code,
                    start,
                    "refers to something not defined: "
                            + shell.unresolvedDependencies((jdk.jshell.DeclarationSnippet) snippet)
                                    .toList());
        }
        JShellException e = event.exception();
        if (e != null) {
            throw failure(cell, code, start, describe(e));
        }
    }

    private static String describe(Throwable e) {
        StringBuilder sb = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (sb.length() > 0) {
                sb.append("; caused by ");
            }
            if (t instanceof EvalException ee) {
                sb.append(ee.getExceptionClassName());
            } else if (t instanceof UnresolvedReferenceException ure) {
                sb.append("unresolved reference in ").append(ure.getSnippet().source().strip());
            } else {
                sb.append(t.getClass().getName());
            }
            if (t.getMessage() != null) {
                sb.append(": ").append(t.getMessage());
            }
        }
        return "exception " + sb;
    }

    private static CellFailedException failure(int cell, String code, int pos, String detail) {
        int p = Math.max(0, Math.min(pos, code.length()));
        int line = 1;
        for (int k = 0; k < p; k++) {
            if (code.charAt(k) == '\n') {
                line++;
            }
        }
        int from = code.lastIndexOf('\n', p - 1) + 1;
        int to = code.indexOf('\n', p);
        String text = code.substring(from, to < 0 ? code.length() : to);
        return new CellFailedException(cell, line, text, detail);
    }

    /** Blanks kernel classpath magics (keeping line numbers); refuses other magics. */
    private static String stripMagics(int cell, String source) {
        String[] lines = source.split("\n", -1);
        StringBuilder out = new StringBuilder();
        for (int k = 0; k < lines.length; k++) {
            String t = lines[k].strip();
            if (t.startsWith("%")) {
                String name = t.replaceFirst("^%+", "").split("\\s+", 2)[0];
                if (t.startsWith("%%") || !CLASSPATH_MAGICS.contains(name)) {
                    throw new CellFailedException(
                            cell,
                            k + 1,
                            lines[k],
                            "magic %"
                                    + name
                                    + " is not supported by the runner; allowed (and skipped,"
                                    + " the runner provides the classpath): "
                                    + CLASSPATH_MAGICS.stream().sorted().toList());
                }
                lines[k] = "";
            }
            if (k > 0) {
                out.append('\n');
            }
            out.append(lines[k]);
        }
        return out.toString();
    }

    private static JsonObject imageResult(BufferedImage image, int count) {
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        try {
            ImageIO.write(image, "png", png);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        JsonObject data = new JsonObject();
        data.addProperty("image/png", Base64.getEncoder().encodeToString(png.toByteArray()));
        data.addProperty(
                "text/plain",
                "BufferedImage " + image.getWidth() + "x" + image.getHeight() + " (image/png)");
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

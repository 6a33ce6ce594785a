package org.djlquant.examples.notebook;

import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import jdk.jshell.DeclarationSnippet;
import jdk.jshell.Diag;
import jdk.jshell.EvalException;
import jdk.jshell.JShell;
import jdk.jshell.JShellException;
import jdk.jshell.Snippet;
import jdk.jshell.SnippetEvent;
import jdk.jshell.SourceCodeAnalysis;
import jdk.jshell.UnresolvedReferenceException;

/**
 * Evaluates the cells of one notebook session in one JShell, the single piece of cell evaluation
 * shared by {@link NotebookRunner} (tests, {@code --write}) and {@link DjlqKernel} (Jupyter). A
 * cell's source is split into complete snippets with JShell's source analysis and evaluated in
 * order; the first compile error, rejected snippet, snippet referring to something undefined, or
 * exception stops the cell with a {@link SnippetFailedException} naming the line. Line magics
 * ({@code %name args}) are handed to a {@link MagicHandler} before the cell's code runs and blanked
 * so that line numbers stay those of the cell; cell magics ({@code %%name}) are refused.
 *
 * <p>The JShell executes in this JVM ({@code local} execution engine), so snippets see this JVM's
 * classes and share its native libraries. Not thread-safe: one cell at a time; closed once by its
 * owner (closing twice is harmless).
 */
final class CellEvaluator implements AutoCloseable {

    /** What one line magic does; throws {@link IllegalArgumentException} to refuse it. */
    @FunctionalInterface
    interface MagicHandler {
        /**
         * Applies a line magic.
         *
         * @param name the magic's name without {@code %}
         * @param args the rest of the line, stripped
         * @param shell the session's JShell (for example to extend its classpath)
         * @throws IllegalArgumentException if the magic is refused; the message says why
         */
        void apply(String name, String args, JShell shell);
    }

    /**
     * What a cell's last snippet evaluated to, if a kernel displays it: a {@link Show#png} image,
     * or JShell's text rendering of the last expression's value, or neither.
     *
     * @param image the image shown, or {@code null}
     * @param text the value's text, or {@code null}
     */
    record CellValue(BufferedImage image, String text) {}

    private final JShell shell;
    private final MagicHandler magics;
    private final List<BufferedImage> images = new ArrayList<>();
    private volatile boolean stopped;
    private boolean closed;

    /**
     * Opens a JShell session.
     *
     * @param classpath the jar files and class folders the cells compile against
     * @param magics what to do with line magics
     */
    CellEvaluator(List<String> classpath, MagicHandler magics) {
        this.magics = magics;
        this.shell = JShell.builder().executionEngine("local").build();
        for (String entry : classpath) {
            shell.addToClasspath(entry);
        }
    }

    /**
     * Evaluates one cell. {@link Show#png} calls are recorded while it runs; standard output and
     * error go wherever {@link System#out} and {@link System#err} point.
     *
     * @param source the cell's source
     * @return the value to display
     * @throws SnippetFailedException if a magic is refused or a snippet fails
     */
    CellValue eval(String source) {
        stopped = false;
        images.clear();
        Show.setSink(images::add);
        try {
            return run(applyMagics(source));
        } finally {
            Show.setSink(null);
        }
    }

    /**
     * Returns JShell's verdict on whether a source is complete, for a front end's {@code
     * is_complete} request.
     *
     * @param source the source
     * @return the completeness
     */
    SourceCodeAnalysis.Completeness completeness(String source) {
        return shell.sourceCodeAnalysis().analyzeCompletion(source).completeness();
    }

    /**
     * Returns completion suggestions at a cursor.
     *
     * @param source the source
     * @param cursor the cursor offset
     * @param anchor receives the start of the text the suggestions replace
     * @return the suggestions
     */
    List<SourceCodeAnalysis.Suggestion> suggestions(String source, int cursor, int[] anchor) {
        return shell.sourceCodeAnalysis().completionSuggestions(source, cursor, anchor);
    }

    /**
     * Stops the cell running in another thread, if any (a front end's interrupt): the running
     * snippet is stopped by JShell and the cell fails with "stopped by an interrupt" instead of
     * going on with its next snippet.
     */
    void stop() {
        stopped = true;
        shell.stop();
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            shell.close();
        }
    }

    private CellValue run(String code) {
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
                throw failure(code, snippetStart, "incomplete source: " + info.completeness());
            }
            if (last != null && images.size() > imagesBeforeLast) {
                throw failure(
                        code,
                        snippetStart,
                        "Show.png(...) must be the cell's last expression: the kernels display"
                                + " only the value of the last one");
            }
            imagesBeforeLast = images.size();
            for (SnippetEvent event : shell.eval(info.source())) {
                if (event.causeSnippet() != null) {
                    continue;
                }
                check(code, snippetStart, event);
                last = event;
            }
            if (stopped) {
                throw failure(code, snippetStart, "stopped by an interrupt");
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

    private void check(String code, int start, SnippetEvent event) {
        Snippet snippet = event.snippet();
        List<Diag> errors = shell.diagnostics(snippet).filter(Diag::isError).toList();
        if (!errors.isEmpty()) {
            Diag d = errors.get(0);
            long pos = Math.max(0, d.getStartPosition());
            throw failure(
                    code,
                    start + (int) Math.min(pos, snippet.source().length()),
                    "compile error: " + d.getMessage(Locale.ROOT));
        }
        if (event.status() == Snippet.Status.REJECTED) {
            throw failure(code, start, "snippet rejected by JShell");
        }
        if (event.status() == Snippet.Status.RECOVERABLE_DEFINED
                || event.status() == Snippet.Status.RECOVERABLE_NOT_DEFINED) {
            throw failure(
                    code,
                    start,
                    "refers to something not defined: "
                            + shell.unresolvedDependencies((DeclarationSnippet) snippet).toList());
        }
        JShellException e = event.exception();
        if (e != null) {
            throw failure(code, start, describe(e));
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

    private static SnippetFailedException failure(String code, int pos, String detail) {
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
        return new SnippetFailedException(line, text, detail);
    }

    /** Applies the line magics and blanks their lines (keeping line numbers). */
    private String applyMagics(String source) {
        String[] lines = source.split("\n", -1);
        StringBuilder out = new StringBuilder();
        for (int k = 0; k < lines.length; k++) {
            String t = lines[k].strip();
            if (t.startsWith("%")) {
                String[] parts = t.replaceFirst("^%+", "").split("\\s+", 2);
                String name = parts[0];
                if (t.startsWith("%%")) {
                    throw new SnippetFailedException(
                            k + 1, lines[k], "cell magic %%" + name + " is not supported");
                }
                try {
                    magics.apply(name, parts.length > 1 ? parts[1].strip() : "", shell);
                } catch (IllegalArgumentException e) {
                    throw new SnippetFailedException(k + 1, lines[k], e.getMessage());
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
}

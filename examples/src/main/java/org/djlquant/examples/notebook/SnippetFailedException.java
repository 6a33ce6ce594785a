package org.djlquant.examples.notebook;

/**
 * A cell did not run (compile error, rejected snippet, exception, refused magic): the 1-based line
 * inside the cell and that line's source. {@link NotebookRunner} turns it into a {@link
 * CellFailedException} naming the cell; {@link DjlqKernel} reports it as the Jupyter error of the
 * cell.
 */
final class SnippetFailedException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final int line;
    private final String sourceLine;
    private final String detail;

    SnippetFailedException(int line, String sourceLine, String detail) {
        super("line " + line + ": `" + sourceLine.strip() + "`: " + detail);
        this.line = line;
        this.sourceLine = sourceLine;
        this.detail = detail;
    }

    int line() {
        return line;
    }

    String sourceLine() {
        return sourceLine;
    }

    String detail() {
        return detail;
    }
}

package org.djlquant.examples.notebook;

/**
 * A notebook cell did not run: a snippet was rejected by the compiler, threw, or broke a rule of
 * the runner (unsupported magic, incomplete source, a chart that is not the cell's last value).
 * Names the cell, the line inside the cell and that line's source.
 */
public final class CellFailedException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final int cellIndex;
    private final int line;
    private final String sourceLine;

    /**
     * Creates the exception.
     *
     * @param cellIndex the 0-based index of the cell in the notebook's {@code cells} array
     * @param line the 1-based line inside the cell
     * @param sourceLine the text of that line
     * @param detail what went wrong
     */
    public CellFailedException(int cellIndex, int line, String sourceLine, String detail) {
        super(
                "cell "
                        + cellIndex
                        + " (0-based index in cells), line "
                        + line
                        + ": `"
                        + sourceLine.strip()
                        + "`: "
                        + detail);
        this.cellIndex = cellIndex;
        this.line = line;
        this.sourceLine = sourceLine;
    }

    /**
     * Returns the 0-based index of the failing cell in the notebook's {@code cells} array.
     *
     * @return the cell index
     */
    public int cellIndex() {
        return cellIndex;
    }

    /**
     * Returns the 1-based line inside the cell where the failing snippet (or the diagnostic)
     * starts.
     *
     * @return the line
     */
    public int line() {
        return line;
    }

    /**
     * Returns the source text of {@link #line()}.
     *
     * @return the source line
     */
    public String sourceLine() {
        return sourceLine;
    }
}

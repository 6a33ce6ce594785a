package org.djlquant.examples.notebook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.file.Path;
import java.util.Base64;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The runner on tiny synthetic notebooks. */
class NotebookRunnerTest {

    private final NotebookRunner runner = NotebookRunner.builder().build();

    /**
     * Builds an nbformat 4.5 notebook; sources starting with "#" are markdown cells, the rest code
     * cells; cell i has id {@code cell-i}.
     */
    private static Notebook notebook(String... cells) {
        JsonArray arr = new JsonArray();
        for (String c : cells) {
            JsonObject cell = new JsonObject();
            boolean md = c.startsWith("#");
            cell.addProperty("cell_type", md ? "markdown" : "code");
            cell.addProperty("id", "cell-" + arr.size());
            cell.add("metadata", new JsonObject());
            cell.add("source", Notebook.lines(c));
            if (!md) {
                cell.add("outputs", new JsonArray());
                cell.add("execution_count", null);
            }
            arr.add(cell);
        }
        JsonObject root = new JsonObject();
        root.add("cells", arr);
        root.add("metadata", new JsonObject());
        root.addProperty("nbformat", 4);
        root.addProperty("nbformat_minor", 5);
        return Notebook.parse(root.toString());
    }

    @Test
    void exceptionInACellIsReportedWithCellIndexLineAndSource() {
        Notebook nb =
                notebook(
                        "# title",
                        "int a = 1;",
                        "int b = a + 1;\nif (b == 2) throw new IllegalStateException(\"boom \" + b);");
        CellFailedException e = assertThrows(CellFailedException.class, () -> runner.run(nb, "t"));
        assertEquals(2, e.cellIndex());
        assertEquals(2, e.line());
        assertTrue(e.sourceLine().contains("throw new IllegalStateException"), e.sourceLine());
        assertTrue(
                e.getMessage().contains("java.lang.IllegalStateException: boom 2"), e.getMessage());
    }

    @Test
    void compileErrorIsReportedAtTheLineOfTheBadSnippet() {
        Notebook nb = notebook("int x = 1;\n\nString s = x;\nint y = 2;");
        CellFailedException e = assertThrows(CellFailedException.class, () -> runner.run(nb, "t"));
        assertEquals(0, e.cellIndex());
        assertEquals(3, e.line());
        assertEquals("String s = x;", e.sourceLine());
        assertTrue(e.getMessage().contains("compile error"), e.getMessage());
    }

    @Test
    void methodUsingAnUndefinedNameFailsInsteadOfBeingDeferred() {
        Notebook nb = notebook("int f() {\n  return missing + 1;\n}");
        CellFailedException e = assertThrows(CellFailedException.class, () -> runner.run(nb, "t"));
        assertEquals(0, e.cellIndex());
        assertTrue(e.getMessage().contains("missing"), e.getMessage());
    }

    @Test
    void classpathMagicsAreSkippedAndOtherMagicsRefused() {
        Notebook ok =
                notebook(
                        "%maven org.djlquant:examples:0.1.0-SNAPSHOT\n"
                                + "%jars /nowhere/*.jar\n"
                                + "System.out.println(\"after magics\");");
        Notebook done = runner.run(ok, "t");
        JsonArray out = done.outputs(0);
        assertEquals(1, out.size());
        assertEquals("after magics\n", text(out.get(0).getAsJsonObject().get("text")));

        Notebook bad = notebook("int a = 1;", "int b = 2;\n%timeit b + 1");
        CellFailedException e = assertThrows(CellFailedException.class, () -> runner.run(bad, "t"));
        assertEquals(1, e.cellIndex());
        assertEquals(2, e.line());
        assertTrue(e.getMessage().contains("%timeit"), e.getMessage());
    }

    @Test
    void streamsValuesImagesAndExecutionCountsAreCaptured() throws Exception {
        Notebook nb =
                notebook(
                        "# intro",
                        "import java.awt.image.BufferedImage;\n"
                                + "int n = 40;\n"
                                + "System.out.println(\"n=\" + n);\n"
                                + "System.err.println(\"warn\");\n"
                                + "System.out.print(\"done\");",
                        "n + 2",
                        "BufferedImage img = new BufferedImage(3, 2, BufferedImage.TYPE_INT_RGB);\n"
                                + "img.setRGB(2, 1, 0xFF0000);\n"
                                + "org.djlquant.examples.notebook.Show.png(img)");
        Notebook done = runner.run(nb, "t");

        assertNull(done.executionCount(0));
        assertEquals(1, done.executionCount(1));
        assertEquals(2, done.executionCount(2));
        assertEquals(3, done.executionCount(3));

        JsonArray streams = done.outputs(1);
        assertEquals(3, streams.size(), streams.toString());
        assertStream(streams.get(0).getAsJsonObject(), "stdout", "n=40\n");
        assertStream(streams.get(1).getAsJsonObject(), "stderr", "warn\n");
        assertStream(streams.get(2).getAsJsonObject(), "stdout", "done");

        JsonObject value = done.outputs(2).get(0).getAsJsonObject();
        assertEquals("execute_result", value.get("output_type").getAsString());
        assertEquals("42", text(value.getAsJsonObject("data").get("text/plain")));

        JsonObject image = done.outputs(3).get(0).getAsJsonObject();
        assertEquals("execute_result", image.get("output_type").getAsString());
        assertEquals(3, image.get("execution_count").getAsInt());
        byte[] png =
                Base64.getDecoder()
                        .decode(image.getAsJsonObject("data").get("image/png").getAsString());
        BufferedImage back = ImageIO.read(new ByteArrayInputStream(png));
        assertEquals(3, back.getWidth());
        assertEquals(2, back.getHeight());
        assertEquals(0xFF0000, back.getRGB(2, 1) & 0xFFFFFF);
        assertEquals(0, back.getRGB(0, 0) & 0xFFFFFF);
    }

    @Test
    void chartThatIsNotTheCellsLastValueIsRefused() {
        Notebook nb =
                notebook(
                        "var img = new java.awt.image.BufferedImage(1, 1, 1);\n"
                                + "org.djlquant.examples.notebook.Show.png(img);\n"
                                + "int after = 1;");
        CellFailedException e = assertThrows(CellFailedException.class, () -> runner.run(nb, "t"));
        assertEquals(0, e.cellIndex());
        assertEquals(3, e.line());
        assertTrue(e.getMessage().contains("last expression"), e.getMessage());
    }

    @Test
    void writtenNotebookReadsBackWithOutputsAndSourceLines(@TempDir Path dir) throws Exception {
        Notebook done = runner.run(notebook("# t", "System.out.println(\"a\\nb\");"), "t");
        Path file = dir.resolve("t.ipynb");
        done.write(file);
        Notebook back = Notebook.read(file);
        assertEquals(done.toJson(), back.toJson());
        assertStream(back.outputs(1).get(0).getAsJsonObject(), "stdout", "a\nb\n");
        assertEquals("cell-0", back.cellId(0), "ids survive running and writing");
        assertEquals("cell-1", back.cellId(1), "ids survive running and writing");
        JsonObject raw =
                com.google.gson.JsonParser.parseString(java.nio.file.Files.readString(file))
                        .getAsJsonObject();
        JsonObject cell = raw.getAsJsonArray("cells").get(1).getAsJsonObject();
        assertEquals(1, cell.get("execution_count").getAsInt());
        JsonArray lines =
                cell.getAsJsonArray("outputs").get(0).getAsJsonObject().getAsJsonArray("text");
        assertEquals(2, lines.size(), "stream text is stored as a list of lines: " + lines);
        assertTrue(java.nio.file.Files.readString(file).startsWith("{\n \"cells\": ["));
    }

    private static void assertStream(JsonObject o, String name, String text) {
        assertEquals("stream", o.get("output_type").getAsString());
        assertEquals(name, o.get("name").getAsString());
        assertEquals(text, text(o.get("text")));
    }

    private static String text(com.google.gson.JsonElement e) {
        if (e.isJsonPrimitive()) {
            return e.getAsString();
        }
        StringBuilder sb = new StringBuilder();
        e.getAsJsonArray().forEach(x -> sb.append(x.getAsString()));
        return sb.toString();
    }
}

package org.djlquant.examples.notebook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.djlquant.QuantizationException;
import org.djlquant.eval.SentimentData;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Executes every notebook in {@code examples/notebooks} with {@link NotebookRunner}, so a notebook
 * that no longer compiles or runs against the library fails the build. Adding a notebook is adding
 * a file. The one {@link JupyterNotebooksTest} executes in real Jupyter ({@link
 * JupyterNotebooksTest#IN_JUPYTER}) is left to it, so each notebook runs once per build. Skipped
 * when the data of {@code scripts/fetch-data.sh} is absent.
 */
class NotebooksTest {

    static Stream<Path> notebooks() throws QuantizationException {
        // surefire runs in the module folder
        return NotebookRunner.notebooksIn(Path.of("notebooks")).stream()
                .filter(f -> !f.getFileName().toString().equals(JupyterNotebooksTest.IN_JUPYTER));
    }

    static Stream<Path> allNotebooks() throws QuantizationException {
        return NotebookRunner.notebooksIn(Path.of("notebooks")).stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("allNotebooks")
    void everyCellHasAUniqueIdAsNbformat45Requires(Path file) throws Exception {
        JsonObject root =
                JsonParser.parseString(Files.readString(file, StandardCharsets.UTF_8))
                        .getAsJsonObject();
        assertEquals(4, root.get("nbformat").getAsInt(), file + " nbformat");
        assertEquals(5, root.get("nbformat_minor").getAsInt(), file + " nbformat_minor");
        Notebook notebook = Notebook.read(file);
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < notebook.cellCount(); i++) {
            String id = notebook.cellId(i);
            assertNotNull(id, file + " cell " + i + " has no id");
            // nbformat 4.5 schema: 1 to 64 characters of [a-zA-Z0-9-_]
            assertTrue(id.matches("[a-zA-Z0-9_-]{1,64}"), file + " cell " + i + " id " + id);
            assertTrue(seen.add(id), file + " cell " + i + " repeats id " + id);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("notebooks")
    void notebookRunsWithoutErrorAndShowsOutputs(Path file) throws Exception {
        Path data = SentimentData.defaultDataDir();
        Assumptions.assumeTrue(
                Files.isDirectory(data.resolve("sentiment"))
                        && Files.isDirectory(data.resolve("fashion-mnist")),
                "notebook data missing under " + data + " (run scripts/fetch-data.sh)");
        Notebook source = Notebook.read(file);
        Notebook done = NotebookRunner.builder().build().run(source, file.getFileName().toString());

        int code = 0;
        boolean printed = false;
        for (int i = 0; i < done.cellCount(); i++) {
            assertEquals(source.cellId(i), done.cellId(i), "running keeps the id of cell " + i);
            if (!"code".equals(done.cellType(i))) {
                continue;
            }
            code++;
            assertEquals(code, done.executionCount(i), "execution count of cell " + i);
            String outputs = done.outputs(i).toString();
            printed |= outputs.contains("\"stdout\"");
            assertFalse(
                    outputs.contains("\"stderr\"") || outputs.contains("Exception"),
                    file + " cell " + i + " wrote an error or an exception: " + outputs);
        }
        assertTrue(code > 1, file + " has no code cells");
        assertTrue(printed, file + " printed nothing");
        assertTrue(List.of("markdown").contains(done.cellType(0)), "first cell documents setup");
    }
}

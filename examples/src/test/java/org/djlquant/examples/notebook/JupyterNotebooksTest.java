package org.djlquant.examples.notebook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;
import org.djlquant.eval.SentimentData;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Executes notebooks in real Jupyter ({@code jupyter nbconvert --execute}) on the project's kernel,
 * installed by {@code scripts/install-kernel.sh --prefix <tmp> --classpath <this JVM's classpath>}
 * (the script's kernelspec, without its Maven step), and checks the executed file: every code cell
 * ran in order, no cell has an error or stderr output, and every cell that shows a chart has a
 * decodable {@code image/png}. {@link NotebooksTest} runs all four notebooks in JShell; to keep the
 * suite fast this test runs notebook 01 (the quick start; it prints tables, no chart) and a
 * four-cell notebook written here that covers what 01 does not: a {@code Show.png} chart as {@code
 * image/png}, a value as {@code text/plain}, and a failing cell as a Jupyter {@code error}. Jupyter
 * missing is a failure, not a skip: CI ({@code .ci/run}) installs it. Notebook 01 is skipped, as in
 * {@link NotebooksTest}, when the data of {@code scripts/fetch-data.sh} is absent.
 */
class JupyterNotebooksTest {

    /**
     * The notebook this test runs in Jupyter; {@link NotebooksTest} runs the others in JShell, so
     * every notebook is executed once per build.
     */
    static final String IN_JUPYTER = "01-quick-start.ipynb";

    private static final String APT =
            "apt-get install jupyter-notebook jupyter-nbconvert python3-nbclient"
                    + " python3-jupyter-client";

    @TempDir static Path jupyterHome;

    @BeforeAll
    static void installKernel() throws Exception {
        Result version = run(List.of("jupyter", "nbconvert", "--version"), Map.of(), 120);
        if (version.exit() != 0) {
            fail(
                    "Jupyter with nbconvert is not installed ("
                            + version.output().strip()
                            + "); install it with `"
                            + APT
                            + "` (.ci/run does) and run this test again");
        }
        Result install =
                run(
                        List.of(
                                "bash",
                                Path.of("..", "scripts", "install-kernel.sh").toString(),
                                "--prefix",
                                jupyterHome.toString(),
                                "--classpath",
                                System.getProperty("java.class.path")),
                        Map.of(),
                        120);
        assertEquals(0, install.exit(), "install-kernel.sh failed:\n" + install.output());
        assertTrue(Files.isRegularFile(kernelDir().resolve("kernel.json")), install.output());
    }

    @Test
    void kernelSendsTextImagePngAndErrorsToJupyter() throws Exception {
        Path file = jupyterHome.resolve("protocol.ipynb");
        Files.writeString(
                file,
                notebook(
                        "%maven "
                                + KernelMagics.ownArtifact()
                                + "\n"
                                + "import java.awt.image.BufferedImage;\n"
                                + "System.out.println(\"magic accepted\");",
                        "var img = new BufferedImage(5, 4, BufferedImage.TYPE_INT_RGB);\n"
                                + "img.setRGB(4, 3, 0x0000FF);\n"
                                + "org.djlquant.examples.notebook.Show.png(img)",
                        "6 * 7",
                        "int ok = 1;\nthrow new IllegalStateException(\"boom \" + ok);"),
                StandardCharsets.UTF_8);
        Path out = Files.createDirectories(jupyterHome.resolve("out"));
        Result r = nbconvert(file, out, "--allow-errors");
        assertEquals(0, r.exit(), "jupyter nbconvert --execute failed:\n" + r.output());
        Notebook done = Notebook.read(out.resolve("protocol.ipynb"));

        JsonObject printed = done.outputs(0).get(0).getAsJsonObject();
        assertEquals("stdout", printed.get("name").getAsString());
        assertEquals("magic accepted\n", text(printed.get("text")));

        JsonObject image = done.outputs(1).get(0).getAsJsonObject();
        assertEquals("execute_result", image.get("output_type").getAsString());
        assertEquals(2, image.get("execution_count").getAsInt());
        BufferedImage back = decode(image.getAsJsonObject("data").get("image/png").getAsString());
        assertEquals(5, back.getWidth());
        assertEquals(4, back.getHeight());
        assertEquals(0x0000FF, back.getRGB(4, 3) & 0xFFFFFF);
        assertEquals(0, back.getRGB(0, 0) & 0xFFFFFF);

        JsonObject value = done.outputs(2).get(0).getAsJsonObject();
        assertEquals("42", text(value.getAsJsonObject("data").get("text/plain")));

        JsonObject error = done.outputs(3).get(0).getAsJsonObject();
        assertEquals("error", error.get("output_type").getAsString());
        assertEquals("SnippetFailedException", error.get("ename").getAsString());
        String evalue = error.get("evalue").getAsString();
        assertTrue(evalue.startsWith("line 2: `throw new IllegalStateException"), evalue);
        assertTrue(evalue.contains("java.lang.IllegalStateException: boom 1"), evalue);
    }

    @Test
    void quickStartNotebookRunsInJupyterOnTheProjectKernel() throws Exception {
        String name = IN_JUPYTER;
        Path data = SentimentData.defaultDataDir();
        Assumptions.assumeTrue(
                Files.isDirectory(data.resolve("sentiment"))
                        && Files.isDirectory(data.resolve("fashion-mnist")),
                "notebook data missing under " + data + " (run scripts/fetch-data.sh)");
        Path source = Path.of("notebooks", name);
        Path out = Files.createDirectories(jupyterHome.resolve("out"));
        Result r = nbconvert(source, out);
        assertEquals(0, r.exit(), "jupyter nbconvert --execute failed:\n" + r.output());

        Notebook committed = Notebook.read(source);
        Notebook executed = Notebook.read(out.resolve(name));
        assertEquals(committed.cellCount(), executed.cellCount());
        for (int i = 0; i < executed.cellCount(); i++) {
            assertEquals(committed.cellId(i), executed.cellId(i), name + ": id of cell " + i);
        }
        int code = 0;
        int images = 0;
        int charts = 0;
        boolean printed = false;
        for (int i = 0; i < executed.cellCount(); i++) {
            if (!"code".equals(executed.cellType(i))) {
                continue;
            }
            code++;
            assertEquals(code, executed.executionCount(i), name + ": execution count of cell " + i);
            List<String> kinds = new ArrayList<>();
            String imagePng = null;
            for (JsonElement e : executed.outputs(i)) {
                JsonObject o = e.getAsJsonObject();
                String type = o.get("output_type").getAsString();
                kinds.add(type.equals("stream") ? o.get("name").getAsString() : type);
                if (o.has("data") && o.getAsJsonObject("data").has("image/png")) {
                    imagePng = o.getAsJsonObject("data").get("image/png").getAsString();
                }
            }
            printed |= kinds.contains("stdout");
            assertFalse(
                    kinds.contains("error") || kinds.contains("stderr"),
                    name + " cell " + i + " has error output: " + executed.outputs(i));
            if (hasImagePng(committed.outputs(i))) {
                charts++;
                assertNotNull(imagePng, name + " cell " + i + " shows no image/png: " + kinds);
            }
            if (imagePng != null) {
                BufferedImage img = decode(imagePng);
                assertTrue(img.getWidth() > 100 && img.getHeight() > 100, "chart size");
                images++;
            }
        }
        assertTrue(code > 1, name + " has no code cells");
        assertTrue(printed, name + " printed nothing");
        assertEquals(charts, images, name + ": the charts of the committed notebook");
    }

    private static Result nbconvert(Path notebook, Path outDir, String... extra)
            throws IOException, InterruptedException {
        List<String> command =
                new ArrayList<>(
                        List.of(
                                "jupyter",
                                "nbconvert",
                                "--to",
                                "notebook",
                                "--execute",
                                "--ExecutePreprocessor.kernel_name=" + DjlqKernel.KERNEL_NAME,
                                "--ExecutePreprocessor.timeout=1200",
                                "--output-dir",
                                outDir.toString()));
        command.addAll(List.of(extra));
        command.add(notebook.toString());
        return run(
                command,
                Map.of(
                        "JUPYTER_PATH",
                        jupyterHome.resolve("share/jupyter").toString(),
                        "JUPYTER_RUNTIME_DIR",
                        jupyterHome.resolve("runtime").toString()),
                1800);
    }

    /** An nbformat 4 notebook of code cells, as JSON. */
    private static String notebook(String... cells) {
        JsonArray arr = new JsonArray();
        for (String c : cells) {
            JsonObject cell = new JsonObject();
            cell.addProperty("cell_type", "code");
            cell.add("metadata", new JsonObject());
            cell.add("source", Notebook.lines(c));
            cell.add("outputs", new JsonArray());
            cell.add("execution_count", null);
            arr.add(cell);
        }
        JsonObject root = new JsonObject();
        root.add("cells", arr);
        root.add("metadata", new JsonObject());
        root.addProperty("nbformat", 4);
        root.addProperty("nbformat_minor", 4);
        return root.toString();
    }

    private static boolean hasImagePng(JsonArray outputs) {
        for (JsonElement e : outputs) {
            JsonObject o = e.getAsJsonObject();
            if (o.has("data") && o.getAsJsonObject("data").has("image/png")) {
                return true;
            }
        }
        return false;
    }

    private static BufferedImage decode(String base64) throws IOException {
        BufferedImage img =
                ImageIO.read(new ByteArrayInputStream(Base64.getMimeDecoder().decode(base64)));
        assertNotNull(img, "image/png does not decode");
        return img;
    }

    private static String text(JsonElement e) {
        if (e.isJsonPrimitive()) {
            return e.getAsString();
        }
        StringBuilder sb = new StringBuilder();
        e.getAsJsonArray().forEach(x -> sb.append(x.getAsString()));
        return sb.toString();
    }

    private static Path kernelDir() {
        return jupyterHome.resolve("share/jupyter/kernels").resolve(DjlqKernel.KERNEL_NAME);
    }

    private record Result(int exit, String output) {}

    private static Result run(List<String> command, Map<String, String> env, int timeoutSeconds)
            throws IOException, InterruptedException {
        Path log = Files.createTempFile(jupyterHome, "process", ".log");
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        pb.redirectOutput(log.toFile());
        pb.environment().putAll(env);
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            return new Result(127, command.get(0) + " cannot be started: " + e.getMessage());
        }
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return new Result(
                    -1,
                    "timed out after "
                            + timeoutSeconds
                            + " s\n"
                            + Files.readString(log, StandardCharsets.UTF_8));
        }
        return new Result(p.exitValue(), Files.readString(log, StandardCharsets.UTF_8));
    }
}

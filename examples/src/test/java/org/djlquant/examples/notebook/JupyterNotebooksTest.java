package org.djlquant.examples.notebook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

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
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Executes notebooks in real Jupyter ({@code jupyter nbconvert --execute}) on the project's kernel,
 * installed by {@code scripts/install-kernel.sh --prefix <tmp> --classpath <this JVM's classpath>}
 * (the script's kernelspec, without its Maven step), and checks the executed file: every code cell
 * ran in order, no cell has an error or stderr output, and every cell that shows a chart has a
 * decodable {@code image/png}. {@link NotebooksTest} runs all four notebooks in JShell; this test
 * runs the two cheapest ones that cover text and charts (01, the quick start, and 04, one chart).
 * Jupyter missing is a failure, not a skip: CI ({@code .ci/run}) installs it. Skipped, as {@link
 * NotebooksTest}, when the data of {@code scripts/fetch-data.sh} is absent.
 */
class JupyterNotebooksTest {

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

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"01-quick-start.ipynb", "04-per-layer-error-report.ipynb"})
    void notebookRunsInJupyterOnTheProjectKernel(String name) throws Exception {
        Path data = SentimentData.defaultDataDir();
        Assumptions.assumeTrue(
                Files.isDirectory(data.resolve("sentiment"))
                        && Files.isDirectory(data.resolve("fashion-mnist")),
                "notebook data missing under " + data + " (run scripts/fetch-data.sh)");
        Path source = Path.of("notebooks", name);
        Path out = Files.createDirectories(jupyterHome.resolve("out"));
        Result r =
                run(
                        List.of(
                                "jupyter",
                                "nbconvert",
                                "--to",
                                "notebook",
                                "--execute",
                                "--ExecutePreprocessor.kernel_name=" + DjlqKernel.KERNEL_NAME,
                                "--ExecutePreprocessor.timeout=1200",
                                "--output-dir",
                                out.toString(),
                                source.toString()),
                        Map.of(
                                "JUPYTER_PATH",
                                jupyterHome.resolve("share/jupyter").toString(),
                                "JUPYTER_RUNTIME_DIR",
                                jupyterHome.resolve("runtime").toString()),
                        1800);
        assertEquals(0, r.exit(), "jupyter nbconvert --execute failed:\n" + r.output());

        Notebook committed = Notebook.read(source);
        Notebook executed = Notebook.read(out.resolve(name));
        assertEquals(committed.cellCount(), executed.cellCount());
        int code = 0;
        int images = 0;
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
            boolean showsChart = committed.outputs(i).toString().contains("image/png");
            if (showsChart) {
                assertNotNull(imagePng, name + " cell " + i + " shows no image/png: " + kinds);
                BufferedImage img =
                        ImageIO.read(
                                new ByteArrayInputStream(Base64.getMimeDecoder().decode(imagePng)));
                assertNotNull(img, name + " cell " + i + ": image/png does not decode");
                assertTrue(img.getWidth() > 100 && img.getHeight() > 100, "chart size");
                images++;
            }
        }
        assertTrue(code > 1, name + " has no code cells");
        assertTrue(printed, name + " printed nothing");
        if (name.startsWith("04")) {
            assertEquals(1, images, name + ": the per-layer error chart");
        }
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

package org.djlquant.backend.pytorch.export;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import java.io.File;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarFile;
import java.util.regex.Pattern;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.TorchScriptExporter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Proves an exported archive needs no djl-quant class: a tiny main, compiled here with {@code
 * javax.tools}, runs in a separate JVM whose class path holds only DJL, JNA, gson and slf4j jars.
 */
class SeparateJvmLoadTest {

    private static final Pattern ALLOWED =
            Pattern.compile(
                    "(api|pytorch-engine|pytorch-jni|pytorch-native-cpu|jna|gson|slf4j-api"
                            + "|slf4j-simple)-[0-9].*\\.jar");

    private static final String MAIN =
            "import ai.djl.inference.Predictor;\n"
                    + "import ai.djl.ndarray.NDList;\n"
                    + "import ai.djl.ndarray.types.Shape;\n"
                    + "import ai.djl.repository.zoo.Criteria;\n"
                    + "import ai.djl.repository.zoo.ZooModel;\n"
                    + "public class PlainDjlMain {\n"
                    + "  public static void main(String[] a) throws Exception {\n"
                    + "    Criteria<NDList, NDList> c = Criteria.builder()\n"
                    + "        .setTypes(NDList.class, NDList.class).optEngine(\"PyTorch\")\n"
                    + "        .optModelPath(java.nio.file.Paths.get(a[0])).optModelName(a[1])"
                    + ".build();\n"
                    + "    String[] v = a[2].split(\",\");\n"
                    + "    float[] x = new float[v.length];\n"
                    + "    for (int i = 0; i < v.length; i++) x[i] = Float.parseFloat(v[i]);\n"
                    + "    long rows = Long.parseLong(a[3]);\n"
                    + "    try (ZooModel<NDList, NDList> m = c.loadModel();\n"
                    + "         Predictor<NDList, NDList> p = m.newPredictor()) {\n"
                    + "      float[] y = p.predict(new NDList(m.getNDManager().create(x,"
                    + " new Shape(rows, x.length / rows)))).head().toFloatArray();\n"
                    + "      StringBuilder s = new StringBuilder(\"OUT\");\n"
                    + "      for (float f : y) s.append(' ').append(Float.toString(f));\n"
                    + "      System.out.println(s);\n"
                    + "    }\n"
                    + "    try {\n"
                    + "      Class.forName(\"org.djlquant.QuantizationException\");\n"
                    + "      System.out.println(\"DJLQUANT_PRESENT\");\n"
                    + "    } catch (ClassNotFoundException e) {\n"
                    + "      System.out.println(\"DJLQUANT_ABSENT\");\n"
                    + "    }\n"
                    + "  }\n"
                    + "}\n";

    /** The test class path, reading the Class-Path of surefire's manifest-only jar if used. */
    private static List<String> testClassPath() throws Exception {
        List<String> entries = new ArrayList<>();
        for (String e : System.getProperty("java.class.path").split(File.pathSeparator)) {
            if (new File(e).getName().startsWith("surefirebooter")) {
                try (JarFile jar = new JarFile(e)) {
                    String cp = jar.getManifest().getMainAttributes().getValue("Class-Path");
                    for (String url : cp.trim().split("\\s+")) {
                        entries.add(Path.of(new URI(url)).toString());
                    }
                }
            } else {
                entries.add(e);
            }
        }
        return entries;
    }

    @Test
    void exportedModelRunsInAJvmWithoutDjlQuantClasses(@TempDir Path dir) throws Exception {
        QEngine initial = QEngine.current();
        QEngine.select(QEngine.X86); // a fresh JVM starts with libtorch's default, x86
        float[] expected;
        NDArray x;
        float[] xs;
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            TorchScriptExporter.builder()
                    .setBlock(ExportFixtures.calibratedFfn(m))
                    .build()
                    .export(dir.resolve("model"), "ffn");
            x = ExportFixtures.batches(m, 77, 1, 6, ExportFixtures.FFN_IN).get(0);
            xs = x.toFloatArray();
            expected = ExportFixtures.runExported(dir.resolve("model"), "ffn", new NDList(x));
        } finally {
            QEngine.select(initial);
        }
        List<String> cp = new ArrayList<>();
        for (String e : testClassPath()) {
            String name = new File(e).getName();
            if (ALLOWED.matcher(name).matches() && !e.contains("quant-plugin")) {
                cp.add(e);
            }
        }
        assertTrue(cp.size() >= 6, "DJL/JNA/gson/slf4j jars found: " + cp);
        Path src = dir.resolve("PlainDjlMain.java");
        Files.writeString(src, MAIN);
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        int rc =
                javac.run(
                        null,
                        null,
                        null,
                        "-cp",
                        String.join(File.pathSeparator, cp),
                        "-d",
                        dir.toString(),
                        src.toString());
        assertEquals(0, rc, "javac");
        StringBuilder values = new StringBuilder();
        for (int i = 0; i < xs.length; i++) {
            values.append(i == 0 ? "" : ",").append(Float.toString(xs[i]));
        }
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String key : System.getProperties().stringPropertyNames()) {
            if (key.startsWith("ai.djl.")
                    || key.startsWith("DJL_")
                    || key.equals("ENGINE_CACHE_DIR")) {
                command.add("-D" + key + "=" + System.getProperty(key));
            }
        }
        command.add("-cp");
        command.add(dir + File.pathSeparator + String.join(File.pathSeparator, cp));
        command.add("PlainDjlMain");
        command.add(dir.resolve("model").toString());
        command.add("ffn");
        command.add(values.toString());
        command.add("6");
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output;
        try (var in = process.getInputStream()) {
            output = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        assertTrue(process.waitFor(120, TimeUnit.SECONDS), "child JVM timed out");
        assertEquals(0, process.exitValue(), output);
        assertTrue(output.contains("DJLQUANT_ABSENT"), output);
        String line = output.lines().filter(l -> l.startsWith("OUT ")).findFirst().orElseThrow();
        String[] parts = line.substring(4).split(" ");
        float[] actual = new float[parts.length];
        for (int i = 0; i < parts.length; i++) {
            actual[i] = Float.parseFloat(parts[i]);
        }
        // same archive, same libtorch, same engine: the same values
        assertArrayEquals(expected, actual, 1e-6f);
    }
}

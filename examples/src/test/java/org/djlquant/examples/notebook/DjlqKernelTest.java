package org.djlquant.examples.notebook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.jar.JarOutputStream;
import java.util.zip.ZipEntry;
import javax.imageio.ImageIO;
import org.dflib.jjava.jupyter.kernel.BaseKernel;
import org.dflib.jjava.jupyter.kernel.display.DisplayData;
import org.dflib.jjava.jupyter.kernel.display.mime.MIMEType;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The kernel's cell evaluation and magics, called directly (no Jupyter, no sockets): what each cell
 * returns as a MIME bundle, how a failure is reported, and what {@code %maven} / {@code %jars}
 * accept. {@link JupyterNotebooksTest} runs real notebooks through Jupyter.
 */
class DjlqKernelTest {

    private DjlqKernel kernel;

    @BeforeEach
    void open() {
        kernel =
                DjlqKernel.create(
                        List.of(System.getProperty("java.class.path").split(File.pathSeparator)));
    }

    @AfterEach
    void close() {
        kernel.onShutdown(false);
    }

    @Test
    void showPngValueIsAnImagePngBundleWithTheSamePixels() throws Exception {
        kernel.evalRaw("import java.awt.image.BufferedImage;");
        DisplayData data =
                kernel.evalRaw(
                        "var img = new BufferedImage(4, 3, BufferedImage.TYPE_INT_RGB);\n"
                                + "img.setRGB(3, 2, 0x00FF00);\n"
                                + "org.djlquant.examples.notebook.Show.png(img)");
        byte[] png = Base64.getDecoder().decode((String) data.getData(MIMEType.IMAGE_PNG));
        BufferedImage back = ImageIO.read(new ByteArrayInputStream(png));
        assertEquals(4, back.getWidth());
        assertEquals(3, back.getHeight());
        assertEquals(0x00FF00, back.getRGB(3, 2) & 0xFFFFFF);
        assertEquals(0, back.getRGB(0, 0) & 0xFFFFFF);
        assertEquals("BufferedImage 4x3 (image/png)", data.getData(MIMEType.TEXT_PLAIN));
    }

    @Test
    void lastExpressionIsTextAndStatementsGiveNothing() {
        assertNull(kernel.evalRaw("int a = 20;\nSystem.out.println(a);"));
        DisplayData data = kernel.evalRaw("a * 2 + 2");
        assertEquals("42", data.getData(MIMEType.TEXT_PLAIN));
        assertNull(data.getData(MIMEType.IMAGE_PNG));
    }

    @Test
    void failingCellNamesTheLineAndTheExceptionInTheJupyterTraceback() {
        SnippetFailedException e =
                assertThrows(
                        SnippetFailedException.class,
                        () ->
                                kernel.evalRaw(
                                        "int b = 1;\nthrow new IllegalStateException(\"no\");"));
        assertEquals(2, e.line());
        assertTrue(e.detail().contains("java.lang.IllegalStateException: no"), e.detail());
        String traceback = String.join("\n", kernel.formatError(e));
        assertTrue(traceback.contains("line 2"), traceback);
        assertTrue(traceback.contains("IllegalStateException: no"), traceback);
        assertTrue(!traceback.contains("at org.djlquant"), "no kernel stack: " + traceback);
    }

    @Test
    void mavenMagicAcceptsArtifactsOnTheClasspathOnlyInTheirVersion() {
        // gson is a dependency of examples; its jar carries META-INF/maven/.../pom.properties
        String gson = gsonVersion();
        assertNull(kernel.evalRaw("%maven com.google.code.gson:gson:" + gson + "\nint ok = 1;"));
        assertNull(kernel.evalRaw("%maven " + KernelMagics.ownArtifact()));

        SnippetFailedException other =
                assertThrows(
                        SnippetFailedException.class,
                        () -> kernel.evalRaw("%maven com.google.code.gson:gson:1.0"));
        assertTrue(other.detail().contains("only in version [" + gson + "]"), other.detail());

        SnippetFailedException absent =
                assertThrows(
                        SnippetFailedException.class,
                        () -> kernel.evalRaw("int x = 1;\n%maven org.example:absent:1.0"));
        assertEquals(2, absent.line());
        assertTrue(absent.detail().contains("not on the kernel's classpath"), absent.detail());
        assertTrue(absent.detail().contains("%jars"), absent.detail());
    }

    @Test
    void jarsMagicAddsJarsByGlobAndRefusesPathsThatMatchNothing(@TempDir Path dir)
            throws Exception {
        Path jar = dir.resolve("extra-7.jar");
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar))) {
            out.putNextEntry(new ZipEntry("META-INF/maven/org.example/extra/pom.properties"));
            out.write("version=7\n".getBytes(StandardCharsets.UTF_8));
            out.closeEntry();
            out.putNextEntry(new ZipEntry("extra.txt"));
            out.write("from the extra jar".getBytes(StandardCharsets.UTF_8));
            out.closeEntry();
        }
        assertThrows(
                SnippetFailedException.class, () -> kernel.evalRaw("%maven org.example:extra:7"));
        assertNull(kernel.evalRaw("%jars " + dir + "/*.jar\n%maven org.example:extra:7"));

        SnippetFailedException none =
                assertThrows(
                        SnippetFailedException.class,
                        () -> kernel.evalRaw("%jars " + dir + "/*.zip"));
        assertTrue(none.detail().contains("matches no file"), none.detail());
        SnippetFailedException unknown =
                assertThrows(SnippetFailedException.class, () -> kernel.evalRaw("%timeit 1"));
        assertTrue(unknown.detail().contains("supported"), unknown.detail());
    }

    @Test
    void interruptStopsARunningCellAndTheSessionGoesOn() throws Exception {
        kernel.evalRaw("long spins = 0;");
        var running =
                java.util.concurrent.CompletableFuture.supplyAsync(
                        () -> {
                            try {
                                kernel.evalRaw("while (true) { spins++; }");
                                return "finished";
                            } catch (SnippetFailedException e) {
                                return e.detail();
                            }
                        });
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (!running.isDone() && System.nanoTime() < deadline) {
            Thread.sleep(500); // the loop may not have started yet: interrupt until it stops
            kernel.interrupt();
        }
        String outcome = running.get(1, java.util.concurrent.TimeUnit.SECONDS);
        assertTrue(outcome.contains("stopped"), outcome);
        assertEquals("3", kernel.evalRaw("1 + 2").getData(MIMEType.TEXT_PLAIN));
    }

    @Test
    void isCompleteFollowsJShellsAnalysis() {
        assertEquals(BaseKernel.IS_COMPLETE_YES, kernel.isComplete("int a = 1;"));
        assertEquals("    ", kernel.isComplete("for (int i = 0; i < 3; i++) {"));
    }

    private static String gsonVersion() {
        try (var in =
                DjlqKernelTest.class
                        .getClassLoader()
                        .getResourceAsStream(
                                "META-INF/maven/com.google.code.gson/gson/pom.properties")) {
            var p = new java.util.Properties();
            p.load(in);
            return p.getProperty("version");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}

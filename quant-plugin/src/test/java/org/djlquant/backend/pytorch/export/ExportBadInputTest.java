package org.djlquant.backend.pytorch.export;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.repository.zoo.Criteria;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.UnaryOperator;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;
import org.djlquant.backend.pytorch.CorruptArtifactException;
import org.djlquant.backend.pytorch.IncompatibleArtifactException;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.QuantizedArtifacts;
import org.djlquant.backend.pytorch.TorchScriptExporter;
import org.djlquant.backend.pytorch.UnsupportedExportException;
import org.djlquant.config.QConfigMapping;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.UncalibratedLayerException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Damaged archives, mismatching manifests and unexportable models: typed errors, no crash. */
class ExportBadInputTest {

    private static QEngine initial;

    @BeforeAll
    static void x86() {
        initial = QEngine.current();
        QEngine.select(QEngine.X86);
    }

    @AfterAll
    static void restore() {
        QEngine.select(initial);
    }

    private static Criteria.Builder<NDList, NDList> criteria() {
        return Criteria.builder().setTypes(NDList.class, NDList.class);
    }

    private static byte[] exportedFfn() throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            return TorchScriptExporter.builder()
                    .setBlock(ExportFixtures.calibratedFfn(m))
                    .build()
                    .export()
                    .bytes();
        }
    }

    /** Rewrites the entries whose name ends with {@code suffix}, keeping the zip valid. */
    private static byte[] rewrite(byte[] zip, String suffix, UnaryOperator<String> edit)
            throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipInputStream in = new ZipInputStream(new java.io.ByteArrayInputStream(zip));
                ZipOutputStream out = new ZipOutputStream(bytes)) {
            ZipEntry e;
            while ((e = in.getNextEntry()) != null) {
                byte[] content = in.readAllBytes();
                if (e.getName().endsWith(suffix)) {
                    content =
                            edit.apply(new String(content, StandardCharsets.UTF_8))
                                    .getBytes(StandardCharsets.UTF_8);
                }
                ZipEntry copy = new ZipEntry(e.getName());
                copy.setMethod(ZipEntry.STORED);
                copy.setSize(content.length);
                CRC32 crc = new CRC32();
                crc.update(content);
                copy.setCrc(crc.getValue());
                out.putNextEntry(copy);
                out.write(content);
                out.closeEntry();
            }
        }
        return bytes.toByteArray();
    }

    private static Path save(Path dir, byte[] bytes) throws IOException {
        Files.createDirectories(dir);
        Files.write(dir.resolve("m.pt"), bytes);
        return dir;
    }

    @Test
    void truncatedArchiveIsACorruptArtifact(@TempDir Path dir) throws Exception {
        byte[] full = exportedFfn();
        byte[] half = java.util.Arrays.copyOf(full, full.length / 2);
        CorruptArtifactException e =
                assertThrows(
                        CorruptArtifactException.class,
                        () -> QuantizedArtifacts.load(save(dir, half), "m", criteria()));
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
    }

    @Test
    void flippedByteInATensorRecordIsACorruptArtifact(@TempDir Path dir) throws Exception {
        byte[] bytes = exportedFfn();
        // the first tensor storage record: find its local header name and flip a data byte
        String name = "model/data/0";
        int at = new String(bytes, StandardCharsets.ISO_8859_1).indexOf(name);
        bytes[at + name.length() + 3] ^= 0x5a;
        CorruptArtifactException e =
                assertThrows(
                        CorruptArtifactException.class,
                        () -> QuantizedArtifacts.load(save(dir, bytes), "m", criteria()));
        assertTrue(e.getMessage().contains("corrupted record"), e.getMessage());
    }

    @Test
    void sourceThatLibtorchRefusesIsACorruptArtifactNotACrash(@TempDir Path dir) throws Exception {
        byte[] bytes =
                rewrite(
                        exportedFfn(),
                        "code/__torch__/djlquant/export.py",
                        s -> s.replace("torch.gelu", "torch.no_such_op"));
        assertThrows(
                CorruptArtifactException.class,
                () -> QuantizedArtifacts.load(save(dir, bytes), "m", criteria()));
    }

    @Test
    void manifestOfAnotherQEngineIsRefusedSayingWhatDiffers(@TempDir Path dir) throws Exception {
        byte[] bytes =
                rewrite(exportedFfn(), "djlquant_manifest.json", s -> s.replace("X86", "QNNPACK"));
        IncompatibleArtifactException e =
                assertThrows(
                        IncompatibleArtifactException.class,
                        () -> QuantizedArtifacts.load(save(dir, bytes), "m", criteria()));
        assertEquals("qengine", e.field());
        assertEquals("qnnpack", e.artifactValue());
        assertEquals("x86", e.currentValue());
        assertTrue(e.getMessage().contains("QEngine.select(QEngine.QNNPACK)"), e.getMessage());
    }

    @Test
    void manifestOfAnotherBackendIsRefused(@TempDir Path dir) throws Exception {
        byte[] bytes =
                rewrite(
                        exportedFfn(),
                        "djlquant_manifest.json",
                        s -> s.replace("\"PyTorch\"", "\"OnnxRuntime\""));
        IncompatibleArtifactException e =
                assertThrows(
                        IncompatibleArtifactException.class,
                        () -> QuantizedArtifacts.load(save(dir, bytes), "m", criteria()));
        assertEquals("backend", e.field());
    }

    @Test
    void manifestOfANewerFormatIsRefused(@TempDir Path dir) throws Exception {
        byte[] bytes =
                rewrite(
                        exportedFfn(),
                        "djlquant_manifest.json",
                        s -> s.replace("\"formatVersion\": 1", "\"formatVersion\": 2"));
        IncompatibleArtifactException e =
                assertThrows(
                        IncompatibleArtifactException.class,
                        () -> QuantizedArtifacts.load(save(dir, bytes), "m", criteria()));
        assertEquals("formatVersion", e.field());
        assertEquals("2", e.artifactValue());
    }

    @Test
    void archiveWithoutManifestIsRefused(@TempDir Path dir) throws Exception {
        byte[] bytes =
                rewrite(exportedFfn(), "djlquant_manifest.json", s -> "{\"formatVersion\": 1}");
        assertThrows(
                CorruptArtifactException.class,
                () -> QuantizedArtifacts.load(save(dir, bytes), "m", criteria()));
    }

    @Test
    void uncalibratedStaticModelCannotBeExported() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net = ExportFixtures.ffn0(m);
            Preparer.prepare(net, ExportFixtures.ffnMapping());
            UncalibratedLayerException e =
                    assertThrows(
                            UncalibratedLayerException.class,
                            () -> TorchScriptExporter.builder().setBlock(net).build().export());
            assertEquals("01", e.path());
        }
    }

    @Test
    void djlLambdaBlockIsRefusedNamingItsPathAndClass() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net =
                    new SequentialBlock()
                            .add(Linear.builder().setUnits(4).build())
                            .add(Activation::relu);
            net.initialize(m, DataType.FLOAT32, new Shape(1, 3));
            UnsupportedExportException e =
                    assertThrows(
                            UnsupportedExportException.class,
                            () -> TorchScriptExporter.builder().setBlock(net).build().export());
            assertEquals("02", e.path());
            assertEquals("ai.djl.nn.LambdaBlock", e.blockClass());
            assertTrue(e.getMessage().contains("ExportableBlocks"), e.getMessage());
        }
    }

    @Test
    void exportNeedsAnInitializedBlock() {
        SequentialBlock net = new SequentialBlock().add(Linear.builder().setUnits(4).build());
        assertThrows(
                IllegalArgumentException.class,
                () -> TorchScriptExporter.builder().setBlock(net).build());
        assertThrows(IllegalArgumentException.class, () -> TorchScriptExporter.builder().build());
    }

    @Test
    void qengineMismatchIsAlsoCaughtForARealExportForQnnpack(@TempDir Path dir) throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net = ExportFixtures.ffn0(m);
            Preparer.prepare(net, QConfigMapping.global(ExportFixtures.dynamicX86()));
            TorchScriptExporter.builder()
                    .setBlock(net)
                    .optEngine(QEngine.QNNPACK)
                    .build()
                    .export(dir, "m");
            assertThrows(
                    IncompatibleArtifactException.class,
                    () -> QuantizedArtifacts.load(dir, "m", criteria()));
        }
    }
}

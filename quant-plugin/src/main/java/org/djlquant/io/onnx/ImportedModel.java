package org.djlquant.io.onnx;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.djlquant.nn.transformer.BertConfig;
import org.djlquant.nn.transformer.BertModelBlock;

/**
 * A BERT encoder rebuilt from an ONNX file: the DJL block tree, its architecture and the names of
 * the original graph's inputs and output.
 *
 * <p>The block's parameters carry the ONNX weights as initializers: the first initialisation (by
 * {@link #newModel} or {@link #initialize}) copies them into engine arrays; after that the Java
 * copies are dropped and this object cannot initialise another block.
 *
 * <p>Not thread-safe: initialise once, from one thread.
 */
public final class ImportedModel {

    private final BertModelBlock block;
    private final List<String> inputNames;
    private final String outputName;
    private final long opsetVersion;
    private final String producerName;
    private final AtomicBoolean initialized = new AtomicBoolean();

    ImportedModel(
            BertModelBlock block,
            List<String> inputNames,
            String outputName,
            long opsetVersion,
            String producerName) {
        this.block = block;
        this.inputNames = List.copyOf(inputNames);
        this.outputName = outputName;
        this.opsetVersion = opsetVersion;
        this.producerName = producerName;
    }

    /**
     * Returns the block tree holding the imported weights (uninitialised until {@link #newModel} or
     * {@link #initialize} is called).
     *
     * @return the root block
     */
    public BertModelBlock getBlock() {
        return block;
    }

    /**
     * Returns the architecture read from the graph.
     *
     * @return vocabulary, hidden size, layers, heads, intermediate size, max positions, …
     */
    public BertConfig getConfig() {
        return block.getConfig();
    }

    /**
     * Returns the graph input names in the order the block expects its input arrays.
     *
     * @return {@code [input_ids, attention_mask, token_type_ids]}
     */
    public List<String> getInputNames() {
        return inputNames;
    }

    /**
     * Returns the name of the graph output the block reproduces.
     *
     * @return the output name, e.g. {@code last_hidden_state}
     */
    public String getOutputName() {
        return outputName;
    }

    /**
     * Returns the default-domain opset the graph was exported with.
     *
     * @return the opset version, at least 11
     */
    public long getOpsetVersion() {
        return opsetVersion;
    }

    /**
     * Returns the ONNX {@code producer_name} of the file.
     *
     * @return the producer, possibly empty
     */
    public String getProducerName() {
        return producerName;
    }

    /**
     * Creates a model on the given engine with the imported block set and initialised.
     *
     * @param modelName the model name
     * @param engineName a DJL engine able to run the block's operators, e.g. {@code PyTorch}
     * @return a new model; the caller closes it
     * @throws IllegalArgumentException if the engine is not available; the message lists those that
     *     are
     * @throws IllegalStateException if the weights were already used by an earlier call
     */
    public Model newModel(String modelName, String engineName) {
        if (!Engine.getAllEngines().contains(engineName)) {
            throw new IllegalArgumentException(
                    "engine was '" + engineName + "', must be one of " + Engine.getAllEngines());
        }
        Model model = Model.newInstance(modelName, engineName);
        try {
            model.setBlock(block);
            initialize(model.getNDManager());
            return model;
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /**
     * Initialises the block on a manager, copying the ONNX weights into its parameters. The
     * parameter arrays are attached to {@code manager} and closed with it.
     *
     * @param manager the manager that will own the parameter arrays
     * @throws IllegalStateException if the weights were already used by an earlier call
     */
    public void initialize(NDManager manager) {
        if (!initialized.compareAndSet(false, true)) {
            throw new IllegalStateException(
                    "the imported weights were already copied into a model; import the file again");
        }
        block.initialize(manager, DataType.FLOAT32, initShapes());
    }

    /**
     * Returns input shapes suitable for {@code Block.initialize} of a {@link BertModelBlock}.
     *
     * @return three [1, 8] shapes (ids, mask, token types)
     */
    public static Shape[] initShapes() {
        Shape ids = new Shape(1, 8);
        return new Shape[] {ids, ids, ids};
    }

    /**
     * Lists every block of a tree by path. A path joins DJL child names with dots after removing
     * the two-digit ordinal DJL puts in front of each name; children added without a name keep the
     * ordinal, so the first encoder layer is {@code encoder.01} and its query projection {@code
     * encoder.01.attention.query}.
     *
     * @param root the root block (its path is the empty string)
     * @return the blocks by path, in depth-first order
     */
    public static Map<String, Block> blockPaths(Block root) {
        Map<String, Block> out = new LinkedHashMap<>();
        walk("", root, out);
        return out;
    }

    private static void walk(String path, Block block, Map<String, Block> out) {
        out.put(path, block);
        block.getChildren()
                .forEach(
                        pair -> {
                            String key = pair.getKey();
                            String name = key.length() > 2 ? key.substring(2) : key;
                            walk(path.isEmpty() ? name : path + "." + name, pair.getValue(), out);
                        });
    }

    /**
     * Returns the block tree as text, one {@code path BlockClass} line per block.
     *
     * @return the tree of the imported block
     */
    public String treeString() {
        StringBuilder sb = new StringBuilder();
        blockPaths(block)
                .forEach(
                        (path, b) ->
                                sb.append(path.isEmpty() ? "<root>" : path)
                                        .append("  ")
                                        .append(b.getClass().getSimpleName())
                                        .append('\n'));
        return sb.toString();
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return "ImportedModel{"
                + getConfig()
                + ", inputs="
                + inputNames
                + ", output="
                + outputName
                + ", opset="
                + opsetVersion
                + ", producer="
                + producerName
                + "}";
    }
}

package org.djlquant.nn.transformer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The stack of {@link BertLayer}s.
 *
 * <p>Children: one {@link BertLayer} per layer, added with an empty name, so DJL names them {@code
 * 01}, {@code 02}, … (DJL's 1-based child numbering; {@code 01} is the exporter's {@code layer.0}).
 *
 * <p>Input {@code [x, m]}: hidden states [B, T, H] and the additive mask; output {@code [y]}.
 */
public class BertEncoder extends AbstractBlock {

    private static final byte VERSION = 1;

    // a modifiable list: quantization stages may swap a layer for a twin in place
    private final List<Block> layers = new ArrayList<>();

    /**
     * Creates {@code config.layerCount()} uninitialised layers.
     *
     * @param config the architecture
     */
    public BertEncoder(BertConfig config) {
        super(VERSION);
        for (int i = 0; i < config.layerCount(); i++) {
            layers.add(addChildBlock("", new BertLayer(config)));
        }
    }

    /**
     * Returns the layers in execution order.
     *
     * @return an unmodifiable view of the layers ({@link BertLayer}s unless swapped for twins)
     */
    public List<Block> getLayers() {
        return Collections.unmodifiableList(layers);
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        NDArray x = inputs.get(0);
        NDArray mask = inputs.get(1);
        for (Block layer : layers) {
            x = layer.forward(parameterStore, new NDList(x, mask), training).head();
        }
        return new NDList(x);
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    /** {@inheritDoc} */
    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        for (Block layer : layers) {
            layer.initialize(manager, dataType, inputShapes);
        }
    }
}

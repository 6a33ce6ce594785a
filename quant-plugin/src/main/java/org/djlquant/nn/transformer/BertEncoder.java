package org.djlquant.nn.transformer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
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

    private final List<BertLayer> layers;

    /**
     * Creates {@code config.layerCount()} uninitialised layers.
     *
     * @param config the architecture
     */
    public BertEncoder(BertConfig config) {
        super(VERSION);
        List<BertLayer> list = new ArrayList<>();
        for (int i = 0; i < config.layerCount(); i++) {
            list.add(addChildBlock("", new BertLayer(config)));
        }
        layers = Collections.unmodifiableList(list);
    }

    /**
     * Returns the layers in execution order.
     *
     * @return an unmodifiable list of the layers
     */
    public List<BertLayer> getLayers() {
        return layers;
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
        for (BertLayer layer : layers) {
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
        for (BertLayer layer : layers) {
            layer.initialize(manager, dataType, inputShapes);
        }
    }
}

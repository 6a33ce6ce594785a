package org.djlquant.policy.measure;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;

/**
 * Chooses what of a model's output the sensitivity runner compares with FP32, for example the
 * logits, or a mean-pooled sentence embedding computed from the hidden states and the attention
 * mask.
 */
@FunctionalInterface
public interface OutputSelector {

    /** The first output array. */
    OutputSelector FIRST = (inputs, outputs) -> outputs.head();

    /**
     * Selects the compared array.
     *
     * @param inputs the batch given to the model
     * @param outputs the model's outputs
     * @return an array whose last dimension holds one comparable vector (rows are the other
     *     dimensions); attached to the batch's manager, which the runner closes
     */
    NDArray select(NDList inputs, NDList outputs);
}

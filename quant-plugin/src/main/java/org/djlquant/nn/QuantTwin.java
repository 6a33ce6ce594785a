package org.djlquant.nn;

import ai.djl.nn.Block;

/**
 * A block that stands in for an original DJL block during preparation: it computes what the
 * original computes, shares the original's {@link ai.djl.nn.Parameter} objects, and adds observers
 * and fake quantization that are switched through {@link #control()}.
 *
 * <p>With observers and fake quantization both off, a twin's output equals the original's exactly.
 * Its parameter file is the original's: saving a prepared model writes the bytes an unprepared one
 * writes, and either loads the other's file.
 */
public interface QuantTwin extends Block {

    /**
     * Returns the block path the twin was placed at, in raw form (DJL child names).
     *
     * @return e.g. {@code 01SequentialBlock.02Linear}
     */
    String path();

    /**
     * Returns the block this twin replaced (or, for in-place rewiring, rewired).
     *
     * @return the original block; its parameters are the twin's parameters
     */
    Block original();

    /**
     * Returns the switches, observers and parameters of this twin.
     *
     * @return the control, one per twin
     */
    TwinControl control();
}

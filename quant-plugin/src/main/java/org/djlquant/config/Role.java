package org.djlquant.config;

/** Which tensor of a layer a quantization spec applies to. */
public enum Role {
    /** The layer's weight parameter. */
    WEIGHT,
    /** The layer's input activation (and, for attention, the matmul inputs). */
    ACTIVATION
}

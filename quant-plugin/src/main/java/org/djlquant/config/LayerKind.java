package org.djlquant.config;

/**
 * The kinds of quantizable layer a backend declares kernels for ({@link BackendTarget#modes}): the
 * capability table says which specs a backend runs, this says in which modes it runs each kind of
 * layer.
 */
public enum LayerKind {
    /** Fully connected layers ({@code Linear}, attention projections). */
    LINEAR,
    /** 2-D convolutions ({@code Conv2d}, NCHW). */
    CONV2D
}

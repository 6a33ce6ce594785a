/**
 * Configuration: which layer is quantized how.
 *
 * <p>A {@link org.djlquant.config.QConfig} says how one layer is quantized (mode, observer
 * factories, specs, optional LSQ); a {@link org.djlquant.config.QConfigMapping} assigns configs to
 * layers by global default, block class and block path (glob or regex), a null config keeping a
 * layer FP32; a {@link org.djlquant.config.BackendTarget} declares what a backend can run, and
 * presets refuse combinations it cannot. Mirrors PyTorch's {@code QConfig} / {@code QConfigMapping}
 * without its silent fallbacks.
 *
 * <p>Lifecycle: configs are built once and read by {@code nn} when a model is prepared. All types
 * here are immutable values and thread-safe; the observer factories they hold create a new observer
 * per call.
 */
package org.djlquant.config;

/**
 * Simulated quantization ("fake quantization") for calibration checks and quantization-aware
 * training.
 *
 * <p>{@link org.djlquant.fakequant.FakeQuant} rounds to the integer grid of given parameters and
 * back, with a straight-through estimator (Bengio et al. 2013; as in PyTorch's {@code
 * FakeQuantize}): gradient 1 inside the representable range, 0 for clipped values. {@link
 * org.djlquant.fakequant.Lsq} learns the scale (LSQ, Esser et al. 2019/2020).
 *
 * <p>Lifecycle: pure functions called from the twins' forward; results are attached to the input's
 * manager and closed with it. Stateless and thread-safe.
 */
package org.djlquant.fakequant;

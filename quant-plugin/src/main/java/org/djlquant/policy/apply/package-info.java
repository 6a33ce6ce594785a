/**
 * Applying a {@link org.djlquant.policy.MixedPrecisionPolicy} to a DJL model: {@link
 * org.djlquant.policy.apply.PolicyApplication} turns it into a {@link
 * org.djlquant.config.QConfigMapping} for {@link org.djlquant.nn.Preparer} (quantized layers) and
 * swaps {@link org.djlquant.policy.apply.HalfPrecisionLinear} blocks in place of the layers it runs
 * in FP16 / BF16, which then really run in that type on libtorch.
 *
 * <p>Lifecycle: apply half precision on the FP32 model, prepare with the mapping, calibrate,
 * convert; {@link org.djlquant.policy.apply.PolicyApplication.HalfSwaps#restore()} undoes the swaps
 * and frees the half-precision tensors. Swapping is not thread-safe (do it while no forward runs);
 * a built {@code HalfPrecisionLinear} may serve concurrent forwards.
 */
package org.djlquant.policy.apply;

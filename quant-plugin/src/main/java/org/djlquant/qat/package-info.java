/**
 * Quantization-aware training with DJL's own {@code Trainer} / {@code EasyTrain}.
 *
 * <p>Prepare the model with a QAT config (fake quantization with a straight-through estimator,
 * optionally LSQ learnable scales), then train as usual; {@link
 * org.djlquant.qat.QatScheduleListener} delays fake quantization for the first steps and freezes
 * observers after a chosen epoch. Training updates the original weights (twins share the original
 * {@code Parameter} objects).
 *
 * <p>Lifecycle: prepare, (optionally calibrate), train, freeze, compute parameters, convert. Not
 * thread-safe: one trainer per prepared model.
 */
package org.djlquant.qat;

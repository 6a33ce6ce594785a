/**
 * Preparing DJL block trees: observed / fake-quant twins of {@code Linear}, {@code Conv1d}, {@code
 * Conv2d} and attention blocks, and the rewriting that puts them in place.
 *
 * <p>{@link org.djlquant.nn.Preparer#prepare} walks the tree by child path, asks the {@link
 * org.djlquant.config.QConfigMapping} for each block's config, and lets the {@link
 * org.djlquant.nn.BlockRewriter} registered for the block's class (see {@link
 * org.djlquant.nn.RewriterRegistry}) produce a {@link org.djlquant.nn.QuantTwin}. Twins share the
 * original {@code Parameter} objects and write the original's parameter bytes, so a prepared model
 * trains the same weights and its parameter file loads into an unprepared model and back. The
 * returned {@link org.djlquant.nn.PrepareReport} lists every block path and what happened to it.
 *
 * <p>Lifecycle: prepare once, then calibrate (observers on) or train (fake quantization on), then
 * compute parameters and convert. Twins hold observer state in Java (no native memory) and create
 * their per-forward arrays in the input's manager. Not thread-safe: one forward at a time per
 * prepared model while observers are on (a predictor serving concurrent requests must not observe;
 * switch observers off first).
 */
package org.djlquant.nn;

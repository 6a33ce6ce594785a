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
 * Like PyTorch's Linear+ReLU and Conv2d+ReLU fusion, a static linear or conv2d twin followed by
 * DJL's ReLU in a {@code SequentialBlock} observes its output after the ReLU, and a static twin of
 * the same class consuming that output uses the same parameters for its input (no observer of its
 * own), so the converted chain keeps the activation INT8 ({@code quint8}) from one kernel to the
 * next.
 *
 * <p>{@link org.djlquant.nn.Converter#convert} then replaces the twins of a calibrated (or
 * QAT-trained) model in place by real INT8 blocks run by libtorch's quantized kernels: {@link
 * org.djlquant.nn.QuantizedLinear} (dynamic or static, ReLU fused), {@link
 * org.djlquant.nn.QuantizedConv2d} (static only, ReLU fused; DYNAMIC / WEIGHT_ONLY conv twins are
 * refused with {@link org.djlquant.nn.UnsupportedModeException}) and {@link
 * org.djlquant.nn.QuantizedBertSelfAttention}, and {@link org.djlquant.nn.WeightOnlyLinear} for
 * WEIGHT_ONLY twins (INT8 per channel, INT4 per group; libtorch's weight-only kernels; shapes the
 * INT4 kernel cannot take are refused with {@link org.djlquant.nn.WeightOnlyShapeException}); the
 * {@link org.djlquant.nn.ConvertReport} names the engine and every converted layer. Converted
 * blocks expose, read-only, what an exporter needs (mode, engine, INT8 weights and their
 * parameters, bias, activation parameters, fused ReLU, path). Their packed weights are native and
 * owned by the model's manager: closing the model frees them once. Converted blocks may run
 * concurrently (the op library is stateless).
 *
 * <p>Lifecycle: prepare once, then calibrate (observers on) or train (fake quantization on), then
 * compute parameters and convert. Twins hold observer state in Java (no native memory) and create
 * their per-forward arrays in the input's manager. Not thread-safe: one forward at a time per
 * prepared model while observers are on (a predictor serving concurrent requests must not observe;
 * switch observers off first).
 */
package org.djlquant.nn;

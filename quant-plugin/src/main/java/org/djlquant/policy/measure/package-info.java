/**
 * Measuring what the mixed-precision policy engine ({@link org.djlquant.policy}) needs, on a real
 * DJL model: per-layer sensitivity and per-layer cost.
 *
 * <p>Lifecycle: prepare the model with {@link org.djlquant.nn.Preparer} so that every candidate
 * Linear layer is wrapped; open a {@link org.djlquant.policy.measure.PrecisionSimulator} on it (it
 * swaps a stand-in per layer and precision in place of the twins, and puts the twins back on
 * close); run a {@link org.djlquant.policy.measure.SensitivityRunner} over calibration batches to
 * get a {@link org.djlquant.policy.measure.SensitivityReport} (SQNR, cosine and KL of the model
 * output against FP32, with only one layer in a precision, and with all but one), whose {@code
 * table(metric)} is the engine's {@link org.djlquant.policy.SensitivityTable}; measure costs with
 * {@link org.djlquant.policy.measure.TorchCostModel} (wrapped by {@link
 * org.djlquant.policy.CostCache}); give the search {@link
 * org.djlquant.policy.measure.PrecisionSimulator#evaluator} around the user's task metric.
 *
 * <p>Simulation: INT8 / INT4 through the twins' fake quantization with each precision's config for
 * the simulator's backend ({@link org.djlquant.policy.apply.PrecisionConfigs}); FP16 / BF16 by
 * rounding input, weight, bias and output to the half type in libtorch and back (the product in
 * FP32). SQNR = {@code 10 log10(sum ref^2 / sum (ref - out)^2)} over all output elements; cosine =
 * mean over output rows (the last dimension); KL = mean over rows of {@code KL(softmax(ref) ||
 * softmax(out))}.
 *
 * <p>Cost: every precision is timed on a real libtorch kernel, weight-only INT8 / INT4 on
 * libtorch's weight-only kernels with bfloat16 compute, and each layer input's round trip through
 * bfloat16 / float16 / quantized 8-bit (the cost of a boundary between precision families) (see
 * {@link org.djlquant.policy.measure.TorchCostModel}). Whole models: {@link
 * org.djlquant.policy.measure.TorchModelProbe} builds an assignment's real model in place and times
 * it, for the whole-model runs of {@link org.djlquant.policy.LatencyCalibration} and the measured
 * verification of {@link org.djlquant.policy.PolicySearch#withVerification}.
 *
 * <p>Thread-safety: none of these classes is thread-safe; measure while nothing else runs the
 * model.
 */
package org.djlquant.policy.measure;

/**
 * Reports on quantization quality.
 *
 * <p>{@link org.djlquant.report.ErrorReport} measures, per wrapped layer and for the whole model
 * output, the signal-to-quantization-noise ratio {@code SQNR = 10 log10(sum y^2 / sum (y_q - y)^2)}
 * dB and the maximum absolute error between float and fake-quantized outputs, and renders them as a
 * table, JSON and a bar-chart PNG (Java2D, headless).
 *
 * <p>Lifecycle: after calibration (or QAT). Reports are immutable values, thread-safe once built;
 * measuring runs forwards and must not overlap other use of the model.
 */
package org.djlquant.report;

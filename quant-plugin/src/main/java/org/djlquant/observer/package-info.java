/**
 * Observers: statistics of tensor streams turned into quantization parameters.
 *
 * <p>Min/max observers keep running extremes (PyTorch {@code MinMaxObserver}, {@code
 * PerChannelMinMaxObserver}) or their moving average {@code r <- r + c (batch - r)} (PyTorch's
 * {@code averaging_constant} {@code c}, our momentum). Histogram observers keep a fixed number of
 * bins and choose the clipping range by percentile, by minimum KL divergence (TensorRT / ONNX
 * Runtime entropy calibration) or by minimum expected squared quantization error. Parameters then
 * follow {@link org.djlquant.scheme.QuantMath#paramsFromMinMax}.
 *
 * <p><b>Lifecycle.</b> A configuration holds factories from {@link
 * org.djlquant.observer.Observers}; each observed tensor gets its own observer: {@code observe}*
 * then {@code computeParams}, {@code reset} to start again, {@code saveState}/{@code loadState} (or
 * JSON through {@link org.djlquant.observer.ObserverState}) to persist. State lives on the Java
 * heap, bounded in size; no NDArray is kept and inputs are never closed.
 *
 * <p><b>Thread-safety.</b> Observers are not thread-safe; the factories and states are.
 */
package org.djlquant.observer;

/**
 * djl-quant: model quantization for Deep Java Library.
 *
 * <p>The packages read like the quantization pipeline: {@code scheme} (data types, parameters and
 * the pure math), {@code observer} (statistics), {@code fakequant} (simulation), {@code config}
 * (which layer gets which scheme), {@code nn} (observed, fake-quant and quantized blocks), {@code
 * calibrate}, {@code qat}, {@code policy} (mixed precision), {@code backend} (real INT8 execution),
 * {@code io} (artifacts), {@code report} and {@code cli}.
 */
package org.djlquant;

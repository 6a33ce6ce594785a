/**
 * The PyTorch INT8 bridge: real INT8 kernels of libtorch (fbgemm, x86, oneDNN, qnnpack) reached
 * from Java through DJL's PyTorch engine.
 *
 * <p>DJL's PyTorch engine has no quantized data types, no quantized operators and no way to choose
 * the quantized engine. {@link org.djlquant.backend.pytorch.QEngine} chooses libtorch's
 * process-wide quantized engine through exported C++ symbols (JNA).
 *
 * <p>Lifecycle: select the engine first, before weights are packed or quantized models loaded.
 *
 * <p>Thread-safety: the engine choice is global to the process; select it once at start-up.
 */
package org.djlquant.backend.pytorch;

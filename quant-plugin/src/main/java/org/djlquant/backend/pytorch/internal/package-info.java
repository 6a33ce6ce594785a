/**
 * Internals of the PyTorch INT8 bridge; not an API, may change with the pinned libtorch version.
 *
 * <ul>
 *   <li>{@link org.djlquant.backend.pytorch.internal.NativeQEngine}: the JNA calls into {@code
 *       libtorch_cpu} (mangled names of libtorch 2.7.1);
 *   <li>{@link org.djlquant.backend.pytorch.internal.Pickler} and {@link
 *       org.djlquant.backend.pytorch.internal.TensorData}: a pickle protocol 2 writer with the
 *       subset libtorch's unpickler reads (including tensors as persistent storages);
 *   <li>{@link org.djlquant.backend.pytorch.internal.TorchScriptArchive}: the zip layout of a
 *       TorchScript {@code .pt} file;
 *   <li>{@link org.djlquant.backend.pytorch.internal.OpLibrary}: the TorchScript module whose
 *       methods run libtorch's quantized operators, loaded once per process;
 *   <li>{@link org.djlquant.backend.pytorch.internal.WeightOnlyOps}: a second such module for the
 *       weight-only kernels (kept apart so the op library's golden archive does not change);
 *   <li>{@link org.djlquant.backend.pytorch.internal.RangeOps}: a third one for the observers'
 *       range reductions ({@code aminmax}, {@code amin}/{@code amax} over several dimensions), used
 *       by {@link org.djlquant.scheme.NDQuant#minMax} for PyTorch arrays.
 *   <li>{@link org.djlquant.backend.pytorch.internal.DynamicReluOps}: a fourth, with {@code
 *       quantized::linear_relu_dynamic} (the dynamic linear with its ReLU in the requantization),
 *       apart for the same reason.
 *   <li>{@link org.djlquant.backend.pytorch.internal.ConvOps}: a fifth, with the static quantized
 *       2-D convolution ({@code quantized::conv2d_prepack}, {@code conv2d}, {@code conv2d_relu}).
 * </ul>
 *
 * <p>Thread-safety: writers are single-threaded builders; {@code NativeQEngine}, {@code OpLibrary},
 * {@code WeightOnlyOps}, {@code RangeOps} and {@code DynamicReluOps} are process-wide singletons
 * with synchronized initialisation.
 */
package org.djlquant.backend.pytorch.internal;

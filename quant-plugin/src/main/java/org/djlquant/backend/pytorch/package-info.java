/**
 * The PyTorch INT8 bridge: real INT8 kernels of libtorch (fbgemm, x86, oneDNN, qnnpack) reached
 * from Java through DJL's PyTorch engine.
 *
 * <p>DJL's PyTorch engine has no quantized data types, no quantized operators and no way to choose
 * the quantized engine. This package adds them without native code of its own:
 *
 * <ul>
 *   <li>{@link org.djlquant.backend.pytorch.QEngine} chooses libtorch's process-wide quantized
 *       engine through exported C++ symbols (JNA);
 *   <li>{@link org.djlquant.backend.pytorch.PackedLinear} is one INT8 linear layer: weights
 *       quantized in Java, packed by libtorch for the current engine, run through a small
 *       TorchScript "op library" that this package writes as a {@code .pt} archive and loads with
 *       DJL (the archive format is in {@code internal}): the in-place path;
 *   <li>{@link org.djlquant.backend.pytorch.WeightOnlyPackedLinear} is one weight-only linear layer
 *       (INT8 per channel or INT4 per group, float activations) run by libtorch's CPU weight-only
 *       kernels ({@code _weight_int8pack_mm}, {@code _weight_int4pack_mm_for_cpu}) through a second
 *       op-library module; float32 or bfloat16 compute;
 *   <li>{@link org.djlquant.backend.pytorch.PackedConv2d} is one static INT8 2-D convolution
 *       ({@code quantized::conv2d} / {@code conv2d_relu}, per-tensor or per-channel weights) run
 *       through a third op-library module ({@code internal.ConvOps}); libtorch has no dynamic
 *       convolution kernel;
 *   <li>{@link org.djlquant.backend.pytorch.QuantizedActivation} is a {@code quint8} tensor held in
 *       libtorch, so chained static layers keep activations INT8 between them;
 *   <li>{@link org.djlquant.backend.pytorch.Int8LinearArchive} writes one INT8 linear layer as a
 *       standalone {@code .pt} model that plain DJL loads;
 *   <li>{@link org.djlquant.backend.pytorch.TorchScriptExporter} writes a whole prepared and
 *       calibrated block tree as ONE TorchScript archive (INT8 kernels for quantized layers:
 *       linear, attention and 2-D convolution, float ops for the rest) with a {@link
 *       org.djlquant.backend.pytorch.QuantizationManifest} inside; blocks are lowered by {@link
 *       org.djlquant.backend.pytorch.BlockLowering}s registered per class in {@link
 *       org.djlquant.backend.pytorch.Lowerings} (users add their own); parameter-free blocks come
 *       from {@link org.djlquant.backend.pytorch.ExportableBlocks}; {@link
 *       org.djlquant.backend.pytorch.QuantizedArtifacts} reads the manifest, checks it against the
 *       running libtorch and quantized engine and loads the model: the exported path;
 *   <li>{@link org.djlquant.backend.pytorch.QuantizedRepositoryFactory} registers the {@code djlq:}
 *       URL scheme with DJL ({@code ServiceLoader}), so a plain {@code Criteria} with {@code
 *       optModelUrls("djlq:/dir")} runs the same manifest check before libtorch reads the archive.
 * </ul>
 *
 * <p>Export lifecycle: prepare, calibrate, (optionally check the simulation), export; the archive
 * packs its INT8 weights at load for the engine current then, which must be the manifest's.
 *
 * <p>Lifecycle: select the engine first, then create {@code PackedLinear}s (weights are packed for
 * the engine current at creation), call {@code forward} any number of times, close each once.
 *
 * <p>Thread-safety: the engine choice is global to the process; select it once at start-up. A
 * {@code PackedLinear} may run {@code forward} from several threads at once; never close it (or a
 * {@code QuantizedActivation}) while a call is running.
 */
package org.djlquant.backend.pytorch;

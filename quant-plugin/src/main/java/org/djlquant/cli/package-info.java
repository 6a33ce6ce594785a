/**
 * The {@code djlq} command line ({@link org.djlquant.cli.Djlq}, picocli): {@code quantize}, {@code
 * evaluate}, {@code sensitivity}, {@code policy}, {@code inspect}.
 *
 * <p>Conventions: results on stdout (a table, or with {@code --json} exactly one JSON object);
 * progress bars and errors on stderr ({@code --quiet} drops the bars). Exit codes: 0 success, 1 a
 * failure while running (stderr: {@code djlq <command>: <ExceptionClass>: <message>}), 2 a usage
 * error (stderr: {@code djlq: <message naming the option, the value and what is allowed>}).
 *
 * <p>JSON schemas (every object has {@code "schema"}; absent values are {@code null}):
 *
 * <ul>
 *   <li>{@code djlq.quantize/1}: {@code model, method (dynamic|static|weight-only-int8|
 *       weight-only-int4|null), policy (file|null), backend, qengine (fbgemm|qnnpack|onednn|x86,
 *       the engine the .pt is packed for, from its manifest; null for .onnx), int8Form,
 *       int8Embeddings, keepFp32 [glob], warnings [text], preparedLayers, calibration {file,
 *       format, sentences, batches, millis}|null, artifact {kind (TORCHSCRIPT|ONNX), file,
 *       sizeBytes, sourceSizeBytes, compression}, layers [{path, lowering}]};
 *   <li>{@code djlq.evaluate/1}: {@code data {file, format, sentences, labelled}, speed {batchSize,
 *       warmupRuns, timedRuns, settleMs, interleaved}, models [{role (artifact|baseline), file,
 *       engine, qengine (the quantized engine a .pt ran on, from its manifest, selected before
 *       loading; null for .onnx), sizeBytes, latencyMsMedian, throughputPerSecond, accuracy|null}],
 *       comparison {sizeRatio (baseline/artifact), speedup (baseline latency/artifact latency),
 *       accuracyDelta|null, cosineMean, cosineMin}|null};
 *   <li>{@code djlq.sensitivity/1}: {@code model, backend, qengine (the quantized engine selected
 *       for the measurement; null for onnxruntime), data {file, sentences, batches},
 *       mostSensitiveFirst {precision: [path]}, report (SensitivityReport JSON), files {json,
 *       table, chart}|null};
 *   <li>{@code djlq.policy/1}: {@code model, policyFile, backend, qengine (the engine costs,
 *       calibration and verification ran on; also in the policy file), metric, baselineMetric,
 *       chosen {metric, drop, latencyMs, predictedWholeModelMs, bytes}, calibration {enabled,
 *       source, remainderMs, wholeModelMs {precision: ms}}, costCache {file, outcome
 *       (no-reference|within-tolerance|rescaled), storedReferenceMs (absent for no-reference),
 *       referenceMs (timed now), ratio (now/stored; absent for no-reference), tolerance}, verified
 *       [{order, note, predictedMs, measuredMs, chosen}], evaluatorCalls, candidatesTried, policy
 *       (the policy file's JSON)};
 *   <li>{@code djlq.inspect/1}: {@code file, sizeBytes, kind (TORCHSCRIPT|ONNX), manifest
 *       (QuantizationManifest JSON)|null, onnx {producer, opset, inputs, outputs, operators {op:
 *       count}, initializerBytes {dtype: bytes}}|null, layers}: for TorchScript {@code layers
 *       [{path, precision, kernel, storedWeightBytes, float32WeightBytes}], quantizedWeightBytes,
 *       quantizedWeightFloat32Bytes}; for ONNX {@code layers [{path, operators [op type]}]} read
 *       from the node names ({@code <layer path>/<op>}, as our exporter writes them).
 * </ul>
 *
 * <p>Each invocation runs one command in one thread; the classes are not meant to be shared.
 */
package org.djlquant.cli;

/**
 * Runnable example pipelines. Each class with a {@code main} is started through the {@code
 * run-example} script at the root of the repository; results go to stdout as tables and to {@code
 * results/} as JSON.
 *
 * <p>The main job is {@link org.djlquant.examples.MiniLmPipeline}: all-MiniLM-L6-v2 and 3000
 * labelled sentences, every {@link org.djlquant.examples.Variant} measured side by side in one
 * process (size, compression, sentences/s at batch 32 for natural lengths and 128 tokens, batch-1
 * latency, speed-ups, probe accuracy and drop, cosine to FP32). A variant is one class: {@link
 * org.djlquant.examples.Fp32DjlVariant} (the FP32 reference, imported into DJL blocks on libtorch),
 * {@link org.djlquant.examples.Fp32OrtVariant}, {@link org.djlquant.examples.OrtInt8TwinVariant}
 * (ONNX Runtime's own INT8 twin, the peer to beat) and {@link
 * org.djlquant.examples.SimulatedInt8Variant} (fake quantization, accuracy only). {@link
 * org.djlquant.examples.QuantizeLinearDemo} is the small weight-quantization demo.
 *
 * <p>Variants are not thread-safe; the pipeline runs them one after another on one thread.
 */
package org.djlquant.examples;

/**
 * Task-level evaluation of a quantized model against its FP32 original.
 *
 * <p>The measure used throughout the project for sentence encoders: embeddings of labelled
 * sentences from every model variant; a {@link org.djlquant.eval.LinearProbe} (multinomial logistic
 * regression with L2 penalty, trained with DJL {@code NDArray} operations) is trained on the
 * <em>FP32</em> embeddings of the training folds and applied unchanged to every variant's
 * embeddings of the held-out fold ({@link org.djlquant.eval.ProbeEvaluation}, stratified k-fold
 * cross-validation), so an accuracy drop measures only what quantization changed in the embeddings.
 * {@link org.djlquant.eval.EmbeddingAgreement} adds the cosine similarity of every variant's
 * embeddings to the FP32 ones. {@link org.djlquant.eval.SpeedMeter} times work the way speed is
 * reported (warm-up runs, then the median of timed runs, items per second of the median run;
 * interleaved variants in an order that changes every round, optionally with a settle pause before
 * each timed call so that spinning native worker threads of the previous call do not steal cores).
 *
 * <p>All types here are immutable values or stateless functions and are safe to share between
 * threads; NDArrays are created in a sub-manager per call and closed before the call returns.
 */
package org.djlquant.eval;

/**
 * Text translators: turn sentences into model inputs and encoder outputs into sentence embeddings.
 *
 * <p>{@link org.djlquant.io.text.SentenceEmbeddingTranslator} tokenizes with DJL's Hugging Face
 * tokenizer (from a {@code tokenizer.json}), truncates to a maximum length (keeping the final
 * {@code [SEP]} and counting every truncation), pads a batch with an attention mask, and turns
 * {@code last_hidden_state} [B, T, H] into embeddings by mean pooling over the real tokens followed
 * by L2 normalisation (the sentence-transformers recipe: {@code e = Σₜ mₜ hₜ / Σₜ mₜ}, {@code e /
 * max(‖e‖₂, 1e-12)}). It works with any model mapping {@code (input_ids, attention_mask,
 * token_type_ids)} to {@code last_hidden_state}: an imported block model on PyTorch, or the
 * original ONNX file on ONNX Runtime; pooling runs in Java so it needs no engine operators.
 *
 * <p><b>Lifecycle.</b> Build a translator, hand it (or its {@code batch()} twin) to {@code
 * Model.newPredictor}, close the translator when done (it owns the native tokenizer).
 *
 * <p><b>Thread-safety.</b> A translator may serve several predictors concurrently: the tokenizer is
 * thread-safe and the truncation counter is atomic.
 */
package org.djlquant.io.text;

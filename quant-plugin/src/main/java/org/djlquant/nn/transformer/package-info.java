/**
 * BERT-family encoder blocks made of plain DJL blocks, so that every projection is an {@link
 * ai.djl.nn.core.Linear} and every normalisation an {@link ai.djl.nn.norm.LayerNorm} that later
 * stages can find and wrap by path.
 *
 * <p><b>Why not DJL's own transformer blocks.</b> {@code ai.djl.nn.transformer} (DJL 0.36.0) cannot
 * reproduce a Hugging Face BERT: {@code TransformerEncoderBlock} normalises with {@code BatchNorm}
 * (not {@code LayerNorm}) whose epsilon is not configurable, adds the block <em>input</em> as the
 * second residual instead of the normalised attention output, and {@code
 * ScaledDotProductAttentionBlock} expects a [B, T, F] 0/1 mask it turns into a fixed -100000
 * offset. The blocks here follow the original BERT computation exactly:
 *
 * <pre>
 * e = LayerNorm(word[ids] + position[0..T) + tokenType[types])            eps from the model
 * per layer:  a = LayerNorm(x + output(softmax(Q Kᵀ / √d + m) V))            Q,K,V = query/key/value(x)
 *             x = LayerNorm(a + output2(gelu_erf(intermediate(a))))
 * m = (1 - attention_mask) · maskValue, broadcast over heads and query positions
 * </pre>
 *
 * with heads split as [B, T, N·d] → [B, T, N, d] → [B, N, T, d] (the Hugging Face order).
 *
 * <p><b>Lifecycle.</b> Build a {@link org.djlquant.nn.transformer.BertModelBlock} from a {@link
 * org.djlquant.nn.transformer.BertConfig}, initialise it once with an engine's manager (for weights
 * coming from a file, parameter initializers carry them), then run it through a {@code Predictor}
 * or save and load its parameters with {@code Model.save}/{@code Model.load}.
 *
 * <p><b>Thread-safety.</b> Like all DJL blocks: initialisation and parameter changes are not
 * thread-safe; concurrent forward passes over an initialised block are as safe as the engine's.
 */
package org.djlquant.nn.transformer;

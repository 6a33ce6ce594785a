/**
 * Import of ONNX models into DJL block trees, starting with BERT-family encoders.
 *
 * <p>{@link org.djlquant.io.onnx.OnnxImporter#importModel(java.nio.file.Path)} parses the file with
 * the ONNX protobuf classes, recognises the encoder by the data flow of its graph (linear layers as
 * {@code MatMul}+{@code Add} with initializer weights, decomposed or fused layer norms, erf GELU,
 * softmax attention traced through its reshapes and transposes to the query/key/value projections,
 * the additive mask {@code (1 - mask) · c}), checks that every node is accounted for, and builds an
 * {@link org.djlquant.nn.transformer.BertModelBlock} whose parameters are initialised from the
 * weights ({@code MatMul} weights [in, out] are transposed into DJL's [out, in]). Graphs it does
 * not recognise are refused with an {@link org.djlquant.io.onnx.UnsupportedGraphException} listing
 * the nodes it could not map; unreadable files raise {@link org.djlquant.QuantizationException}.
 *
 * <p><b>Lifecycle.</b> Import once, then call {@link
 * org.djlquant.io.onnx.ImportedModel#newModel(String, String)} (or {@code initialize}) once; the
 * resulting DJL {@code Model} saves and loads its parameters with {@code Model.save}/{@code
 * Model.load} into a {@code BertModelBlock} built from the same {@code BertConfig}.
 *
 * <p><b>Thread-safety.</b> The importer is stateless and may be called from several threads; an
 * {@link org.djlquant.io.onnx.ImportedModel} is initialised once from one thread.
 */
package org.djlquant.io.onnx;

/**
 * A drop-in example: an ordinary DJL app (a Fashion-MNIST classifier loaded with {@code Criteria}
 * and served with its own {@link org.djlquant.examples.dropin.FashionTranslator} and a {@code
 * Predictor}), before ({@link org.djlquant.examples.dropin.FashionService}) and after ({@link
 * org.djlquant.examples.dropin.QuantizedFashionService}) djl-quant is added: prepare, calibrate on
 * the app's own traffic through a {@code CalibratingTranslator}, convert. {@link
 * org.djlquant.examples.dropin.DropInDemo} runs both, exports the INT8 model as TorchScript and
 * loads it back with a plain {@code Criteria}.
 *
 * <p>Lifecycle: services are opened once, serve any number of requests and are closed once. Not
 * thread-safe: each service holds one predictor.
 */
package org.djlquant.examples.dropin;

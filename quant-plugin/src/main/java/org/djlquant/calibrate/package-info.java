/**
 * Calibration: feeding representative data through a prepared model so that its observers record
 * activation ranges.
 *
 * <p>Three sources: a DJL {@link ai.djl.training.dataset.Dataset}, an {@code Iterable<NDList>}
 * (both through {@link org.djlquant.calibrate.Calibrator}), and live traffic through {@link
 * org.djlquant.calibrate.CalibratingTranslator}, which wraps the user's own translator. {@link
 * org.djlquant.calibrate.IdxReader} reads IDX files (MNIST / Fashion-MNIST) for examples and tests.
 *
 * <p>Lifecycle: prepare, calibrate, then compute parameters (observers that saw nothing refuse).
 * Each batch lives in a sub-manager closed after it, so native memory stays flat whatever the
 * number of batches. Not thread-safe: calibrate one model from one thread.
 */
package org.djlquant.calibrate;

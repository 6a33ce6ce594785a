package org.djlquant.calibrate;

/**
 * What a calibration run did.
 *
 * @param batches number of batches run through the model
 * @param layers number of prepared layers that observed them
 * @param millis wall-clock time in milliseconds
 */
public record CalibrationSummary(long batches, int layers, long millis) {}

package org.djlquant.observer;

import ai.djl.ndarray.NDArray;
import org.djlquant.scheme.QParams;
import org.djlquant.scheme.QSpec;

/**
 * Collects statistics of a stream of tensors and turns them into quantization parameters.
 *
 * <p>Lifecycle: {@link #observe} any number of times, then {@link #computeParams}; {@link #reset}
 * forgets everything. State lives on the Java heap only (no NDArray is kept), is bounded whatever
 * the number of batches, and can be saved and restored with {@link #saveState}/{@link #loadState}.
 *
 * <p>Implementations are not thread-safe; use one observer per tensor and per thread, created by a
 * factory from {@link Observers}.
 */
public interface Observer {

    /**
     * Returns the spec the parameters are computed for.
     *
     * @return the spec
     */
    QSpec spec();

    /**
     * Records statistics of {@code x}. Does not close {@code x} and keeps no reference to it.
     *
     * @param x a non-empty tensor whose shape fits the spec's granularity
     * @throws org.djlquant.scheme.NonFiniteValueException naming this observer if {@code x} holds
     *     NaN or an infinity (the state is left unchanged)
     * @throws IllegalArgumentException if {@code x} is empty or its shape does not fit the spec or
     *     earlier tensors
     */
    void observe(NDArray x);

    /**
     * Returns whether any data was observed since creation or the last reset.
     *
     * @return true after a successful {@link #observe}
     */
    boolean hasData();

    /**
     * Computes the parameters from the statistics so far.
     *
     * @return the parameters
     * @throws IllegalStateException if no data was observed
     */
    QParams computeParams();

    /** Forgets all statistics. */
    void reset();

    /**
     * Returns the minimum and maximum seen so far, per channel (or per group) where applicable.
     *
     * @return {@code {min[], max[]}}
     * @throws IllegalStateException if no data was observed
     */
    float[][] observedRange();

    /**
     * Returns a copy of the state.
     *
     * @return the state; saving before any data gives a state with no values
     */
    ObserverState saveState();

    /**
     * Replaces the state with a saved one.
     *
     * @param state a state saved by an observer of the same kind and configuration
     * @throws IllegalArgumentException if the state comes from another kind of observer or has
     *     other shapes
     */
    void loadState(ObserverState state);
}

package org.djlquant.observer;

import ai.djl.ndarray.NDArray;
import org.djlquant.scheme.QParams;
import org.djlquant.scheme.QSpec;

/** Histogram observer (work in progress). */
final class HistogramObserver implements Observer {

    private final QSpec spec;
    private final HistogramMethod method;
    private final int bins;
    private final double percentile;

    HistogramObserver(QSpec spec, HistogramMethod method, int bins, double percentile) {
        this.spec = spec;
        this.method = method;
        this.bins = bins;
        this.percentile = percentile;
    }

    @Override
    public QSpec spec() {
        return spec;
    }

    @Override
    public void observe(NDArray x) {
        throw new UnsupportedOperationException("not yet");
    }

    @Override
    public boolean hasData() {
        return false;
    }

    @Override
    public QParams computeParams() {
        throw new UnsupportedOperationException("not yet");
    }

    @Override
    public void reset() {}

    @Override
    public float[][] observedRange() {
        throw new UnsupportedOperationException("not yet");
    }

    @Override
    public ObserverState saveState() {
        throw new UnsupportedOperationException("not yet");
    }

    @Override
    public void loadState(ObserverState state) {
        throw new UnsupportedOperationException("not yet");
    }

    @Override
    public String toString() {
        return "HistogramObserver("
                + spec
                + ", "
                + method
                + ", bins="
                + bins
                + ", percentile="
                + percentile
                + ")";
    }
}

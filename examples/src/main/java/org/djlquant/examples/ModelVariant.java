package org.djlquant.examples;

import ai.djl.Model;
import ai.djl.inference.Predictor;
import ai.djl.translate.NoBatchifyTranslator;
import java.util.List;

/** A variant backed by one DJL {@link Model}, set by {@link #build}. */
abstract class ModelVariant implements Variant {

    private Model model;

    /**
     * Sets the model built by a subclass; this variant closes it.
     *
     * @param model the model
     */
    protected final void setModel(Model model) {
        if (this.model != null) {
            this.model.close();
        }
        this.model = model;
    }

    /**
     * Returns the model.
     *
     * @return the model
     * @throws IllegalStateException if the variant was not built
     */
    protected final Model model() {
        if (model == null) {
            throw new IllegalStateException(
                    "variant " + name() + " was not built; call build(context) first");
        }
        return model;
    }

    /** {@inheritDoc} */
    @Override
    public Predictor<List<String>, float[][]> newPredictor(
            NoBatchifyTranslator<List<String>, float[][]> translator) {
        return model().newPredictor(translator);
    }

    /** {@inheritDoc} */
    @Override
    public void close() {
        if (model != null) {
            model.close();
            model = null;
        }
    }
}

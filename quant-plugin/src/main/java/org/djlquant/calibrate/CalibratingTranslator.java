package org.djlquant.calibrate;

import ai.djl.ndarray.NDList;
import ai.djl.nn.Block;
import ai.djl.translate.Batchifier;
import ai.djl.translate.TranslateException;
import ai.djl.translate.Translator;
import ai.djl.translate.TranslatorContext;
import ai.djl.translate.TranslatorOptions;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import org.djlquant.nn.QuantTwin;
import org.djlquant.nn.Twins;

/**
 * Calibrates on live traffic: wraps the user's own {@link Translator} unchanged, and when the
 * predictor prepares it, switches every twin of the predictor's model to observing (fake
 * quantization off), so each request the predictor serves feeds the observers. {@link #stop()}
 * switches observing off again; requests served are counted.
 *
 * <p>The user's translator still does all pre- and post-processing; its checked exceptions are
 * rethrown as {@link TranslateException}. Observers are not thread-safe: while calibrating, serve
 * from one predictor used by one thread at a time.
 *
 * @param <I> the input type
 * @param <O> the output type
 */
public final class CalibratingTranslator<I, O> implements Translator<I, O> {

    private final Translator<I, O> delegate;
    private final AtomicLong requests = new AtomicLong();
    private volatile Block block;

    /**
     * Wraps a translator.
     *
     * @param delegate the user's translator
     */
    public CalibratingTranslator(Translator<I, O> delegate) {
        this.delegate = Objects.requireNonNull(delegate, "delegate");
    }

    /**
     * Returns the wrapped translator.
     *
     * @return the user's translator
     */
    public Translator<I, O> delegate() {
        return delegate;
    }

    /**
     * Returns how many inputs were processed while observing.
     *
     * @return the count
     */
    public long observedInputs() {
        return requests.get();
    }

    /** Switches observing off in the model this translator was prepared for. */
    public void stop() {
        Block b = block;
        if (b != null) {
            Twins.setObserving(b, false);
        }
    }

    /** {@inheritDoc} */
    @Override
    public void prepare(TranslatorContext ctx) throws TranslateException {
        Block b = ctx.getModel().getBlock();
        List<QuantTwin> twins = Twins.find(b);
        if (twins.isEmpty()) {
            throw new TranslateException(
                    "CalibratingTranslator: the model has no prepared layers; call"
                            + " Preparer.prepare on it before serving");
        }
        for (QuantTwin t : twins) {
            t.control().setObserving(true);
            t.control().setFakeQuant(false);
        }
        block = b;
        try {
            delegate.prepare(ctx);
        } catch (RuntimeException | TranslateException e) {
            throw e;
        } catch (Exception e) {
            throw new TranslateException(e);
        }
    }

    /** {@inheritDoc} */
    @Override
    public NDList processInput(TranslatorContext ctx, I input) throws TranslateException {
        requests.incrementAndGet();
        try {
            return delegate.processInput(ctx, input);
        } catch (RuntimeException | TranslateException e) {
            throw e;
        } catch (Exception e) {
            throw new TranslateException(e);
        }
    }

    /** {@inheritDoc} */
    @Override
    public O processOutput(TranslatorContext ctx, NDList list) throws TranslateException {
        try {
            return delegate.processOutput(ctx, list);
        } catch (RuntimeException | TranslateException e) {
            throw e;
        } catch (Exception e) {
            throw new TranslateException(e);
        }
    }

    /** {@inheritDoc} */
    @Override
    public NDList batchProcessInput(TranslatorContext ctx, List<I> inputs)
            throws TranslateException {
        requests.addAndGet(inputs.size());
        try {
            return delegate.batchProcessInput(ctx, inputs);
        } catch (RuntimeException | TranslateException e) {
            throw e;
        } catch (Exception e) {
            throw new TranslateException(e);
        }
    }

    /** {@inheritDoc} */
    @Override
    public List<O> batchProcessOutput(TranslatorContext ctx, NDList list)
            throws TranslateException {
        try {
            return delegate.batchProcessOutput(ctx, list);
        } catch (RuntimeException | TranslateException e) {
            throw e;
        } catch (Exception e) {
            throw new TranslateException(e);
        }
    }

    /** {@inheritDoc} */
    @Override
    public Batchifier getBatchifier() {
        return delegate.getBatchifier();
    }

    /** {@inheritDoc} */
    @Override
    public TranslatorOptions getExpansions() {
        return delegate.getExpansions();
    }
}

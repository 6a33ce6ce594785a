package org.djlquant.nn;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.config.QMode;

/**
 * What {@link Converter#convert} did: the quantized engine in use and one entry per converted
 * layer. Immutable.
 */
public final class ConvertReport {

    /**
     * One converted layer.
     *
     * @param path the layer path (raw form)
     * @param twinClass the simple class name of the twin that was replaced
     * @param convertedTo the simple class name of the INT8 block
     * @param mode the INT8 mode (QAT twins convert to {@link QMode#STATIC})
     * @param reluFused whether the ReLU that followed runs inside the layer (the ReLU block is
     *     replaced by an identity named {@code "ReLU fused into <path>"})
     * @param int8WeightBytes bytes of the packed integer weight values: one a weight for INT8, one
     *     per two weights for weight-only INT4 (0 for a container such as attention, whose
     *     projections have their own entries)
     * @param fp32WeightBytes bytes the same weights take as float32
     */
    public record Entry(
            String path,
            String twinClass,
            String convertedTo,
            QMode mode,
            boolean reluFused,
            long int8WeightBytes,
            long fp32WeightBytes) {}

    private final QEngine engine;
    private final List<Entry> entries;
    private final List<QuantizedLinear> layers;
    private final List<WeightOnlyLinear> weightOnly;
    private final List<QuantizedConv2d> convs;

    ConvertReport(QEngine engine, List<Entry> entries, List<QuantizedLinear> layers) {
        this(engine, entries, layers, List.of());
    }

    ConvertReport(
            QEngine engine,
            List<Entry> entries,
            List<QuantizedLinear> layers,
            List<WeightOnlyLinear> weightOnly) {
        this(engine, entries, layers, weightOnly, List.of());
    }

    ConvertReport(
            QEngine engine,
            List<Entry> entries,
            List<QuantizedLinear> layers,
            List<WeightOnlyLinear> weightOnly,
            List<QuantizedConv2d> convs) {
        this.engine = engine;
        this.convs = Collections.unmodifiableList(new ArrayList<>(convs));
        this.entries = Collections.unmodifiableList(new ArrayList<>(entries));
        this.layers = Collections.unmodifiableList(new ArrayList<>(layers));
        this.weightOnly = Collections.unmodifiableList(new ArrayList<>(weightOnly));
    }

    /**
     * Returns the weight-only layers made, in tree order.
     *
     * @return an unmodifiable list; the layers belong to the model
     */
    public List<WeightOnlyLinear> weightOnlyLinears() {
        return weightOnly;
    }

    /**
     * Returns the INT8 2-D convolutions made, in tree order (each also has an entry).
     *
     * @return an unmodifiable list; the layers belong to the model
     */
    public List<QuantizedConv2d> quantizedConv2ds() {
        return convs;
    }

    /**
     * Returns the quantized engine the weights were packed for (current after selection).
     *
     * @return the engine
     */
    public QEngine engine() {
        return engine;
    }

    /**
     * Returns one entry per converted block, in tree order.
     *
     * @return an unmodifiable list
     */
    public List<Entry> entries() {
        return entries;
    }

    /**
     * Returns the INT8 linear layers made, in tree order (also those inside attention blocks).
     *
     * @return an unmodifiable list; the layers belong to the model
     */
    public List<QuantizedLinear> quantizedLinears() {
        return layers;
    }

    /**
     * Returns the number of ReLUs fused into the preceding layer.
     *
     * @return the count
     */
    public int fusedReluCount() {
        return (int) entries.stream().filter(Entry::reluFused).count();
    }

    /**
     * Returns the total bytes of packed INT8 weight values.
     *
     * @return the sum over entries
     */
    public long int8WeightBytes() {
        return entries.stream().mapToLong(Entry::int8WeightBytes).sum();
    }

    /**
     * Returns the total bytes the converted weights take as float32.
     *
     * @return the sum over entries
     */
    public long fp32WeightBytes() {
        return entries.stream().mapToLong(Entry::fp32WeightBytes).sum();
    }

    /**
     * Returns a plain-text table, one line per entry, and the totals.
     *
     * @return the table
     */
    public String toTable() {
        StringBuilder sb = new StringBuilder();
        sb.append("engine ").append(engine.pytorchName()).append('\n');
        sb.append(
                String.format(
                        Locale.ROOT,
                        "%-50s %-26s %-28s %-7s %-5s %12s%n",
                        "path",
                        "twin",
                        "int8 block",
                        "mode",
                        "relu",
                        "int8 bytes"));
        for (Entry e : entries) {
            sb.append(
                    String.format(
                            Locale.ROOT,
                            "%-50s %-26s %-28s %-7s %-5s %12d%n",
                            e.path(),
                            e.twinClass(),
                            e.convertedTo(),
                            e.mode(),
                            e.reluFused() ? "fused" : "",
                            e.int8WeightBytes()));
        }
        sb.append(
                String.format(
                        Locale.ROOT,
                        "weights: %d bytes INT8 vs %d bytes FP32%n",
                        int8WeightBytes(),
                        fp32WeightBytes()));
        return sb.toString();
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return toTable();
    }
}

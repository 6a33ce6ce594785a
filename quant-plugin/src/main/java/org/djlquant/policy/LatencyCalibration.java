package org.djlquant.policy;

import java.util.Collections;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.djlquant.QuantizationException;

/**
 * Makes per-layer latencies agree with whole-model measurements.
 *
 * <p>A layer timed alone (a {@link CostModel} such as {@code TorchCostModel}) runs with its weights
 * hot in cache, on random inputs, without the rest of the model around it; the sum of such times
 * can rank precisions differently from the whole model (on MiniLM, isolated layers ranked dynamic
 * INT8 ahead of BF16 while the whole model ran faster in BF16). This class keeps the isolated costs
 * for what they are good at, how the time of one precision divides between layers, and takes the
 * size of each precision's effect from whole-model runs.
 *
 * <h2>Inputs</h2>
 *
 * <ul>
 *   <li>{@code c[l][p]}: the isolated latency of layer {@code l} in precision {@code p} (the
 *       isolated {@link CostTable});
 *   <li>{@code T(FP32)}: the whole model measured with every layer in FP32;
 *   <li>{@code T(p)} for each calibrated precision {@code p}: the whole model measured with every
 *       layer of {@code S(p)} in {@code p} and every other layer in FP32, where {@code S(p)} is the
 *       set of layers allowed to use {@code p} (the calibration assignment {@link
 *       #calibrationAssignment}). Conversion overhead is inside these numbers: the model runs the
 *       blocks it will deploy, with their casts (float32 ↔ bfloat16), quantize and dequantize
 *       steps.
 * </ul>
 *
 * <h2>The objective</h2>
 *
 * <p>The in-context effect of layer {@code l} in precision {@code p} is the whole-model difference
 * of {@code p}, shared between the layers of {@code S(p)} in proportion to their isolated cost in
 * {@code p}:
 *
 * <pre>
 *   w[l][p]    = (T(p) − T(FP32) − X(S(p))) · c[l][p] / Σ_{k ∈ S(p)} c[k][p]      (w[l][FP32] = 0)
 *   predict(a) = T(FP32) + Σ_l w[l][a(l)] + X(a)
 * </pre>
 *
 * where {@code X(a)} is the isolated table's transition cost of {@code a} ({@link
 * CostTable#transitionsMs}: per boundary between adjacent layers of different {@link
 * PrecisionFamily families}, half of each side's measured round trip; 0 for a table without round
 * trips). So {@code predict} equals {@code T(p)} for every calibration assignment and {@code
 * T(FP32)} for all-FP32 by construction; a mixed assignment adds up the per-layer effects and pays
 * for its boundaries. Without round trips the borders are assumed free, which is what made a BF16 /
 * static INT8 mix of MiniLM look faster than it ran (a whole model that chains bfloat16 or
 * quantized activations within a family converts only at the boundaries). Since {@code w} may be
 * negative (a speed-up) and {@link LayerCost} latencies may not, {@link #calibrated()} stores
 * {@code w[l][p] + K[l]} with {@code K[l] = max(0, max_p −w[l][p])}, a per-layer constant that does
 * not change which assignment is faster; {@link #remainderMs()} {@code = T(FP32) − Σ_l K[l]}, so
 * that {@code predict(a) = remainderMs() + calibrated().latencyMs(a)} (the layers' calibrated
 * latencies plus the transitions: the calibrated table carries the isolated table's round trips).
 * {@link PolicySearch} minimises that sum, so its latency objective is the predicted whole-model
 * latency minus a constant. Bytes are copied from the isolated table unchanged.
 *
 * <p>Immutable and thread-safe.
 */
public final class LatencyCalibration {

    private final List<LayerInfo> layers;
    private final ResolvedRules rules;
    private final Map<Precision, Double> wholeModelMs;
    private final Map<String, Map<Precision, Double>> effect;
    private final CostTable calibrated;
    private final double remainderMs;

    private LatencyCalibration(
            ResolvedRules rules,
            Map<Precision, Double> wholeModelMs,
            Map<String, Map<Precision, Double>> effect,
            CostTable calibrated,
            double remainderMs) {
        this.rules = rules;
        this.layers = rules.layers();
        this.wholeModelMs = Collections.unmodifiableMap(new EnumMap<>(wholeModelMs));
        this.effect = effect;
        this.calibrated = calibrated;
        this.remainderMs = remainderMs;
    }

    /**
     * Returns the assignment whose whole-model latency calibrates {@code precision}: every layer
     * the rules allow to use it in {@code precision}, every other layer in FP32.
     *
     * @param rules the layers and their allowed precisions
     * @param precision the precision
     * @return path to precision in model order, unmodifiable
     * @throws IllegalArgumentException naming the precision if no layer may use it
     */
    public static Map<String, Precision> calibrationAssignment(
            ResolvedRules rules, Precision precision) {
        Objects.requireNonNull(precision, "precision");
        Map<String, Precision> a = new LinkedHashMap<>();
        boolean any = false;
        for (LayerInfo l : rules.layers()) {
            boolean allowed = rules.allowed(l.path()).contains(precision);
            any |= allowed;
            a.put(l.path(), allowed ? precision : Precision.FP32);
        }
        if (!any) {
            throw new IllegalArgumentException(
                    "precision was " + precision + ", but no layer is allowed to use it");
        }
        return Collections.unmodifiableMap(a);
    }

    /**
     * Times whole-model runs of named assignments, for {@link #wholeModelMs}: a {@link
     * Verification}'s {@code measureMs}, or a caller's own loop that times more models in the same
     * interleaved rounds.
     */
    @FunctionalInterface
    public interface WholeModelTimer {
        /**
         * Times the runs the cost cache lacks.
         *
         * @param missing run name to assignment, in {@link Precision} order; not empty
         * @return latency in ms by run name: at least every name of {@code missing}; other
         *     calibration runs it also timed are stored as well, other names ignored
         * @throws QuantizationException if a model cannot be built or run
         */
        Map<String, Double> timeMs(Map<String, Map<String, Precision>> missing)
                throws QuantizationException;
    }

    /**
     * The whole-model latencies of the calibration runs and where they came from.
     *
     * @param wholeModelMs latency in ms by precision (FP32: all-FP32; others: their {@link
     *     #calibrationAssignment}), the input of {@link #of}
     * @param measured true if some run was timed now, false if all came from the cache
     */
    public record WholeModelRuns(Map<Precision, Double> wholeModelMs, boolean measured) {

        /**
         * Copies the map (unmodifiable, {@link Precision} order).
         *
         * @param wholeModelMs latency in ms by precision
         * @param measured true if some run was timed now
         */
        public WholeModelRuns {
            wholeModelMs = Collections.unmodifiableMap(new EnumMap<>(wholeModelMs));
        }
    }

    /**
     * Returns the cache name of a precision's calibration run.
     *
     * @param precision the precision
     * @return {@code "uniform " + precision}, for example {@code "uniform BF16"}
     */
    public static String runName(Precision precision) {
        return "uniform " + Objects.requireNonNull(precision, "precision");
    }

    /**
     * Returns the whole-model runs that calibrate a set of precisions: all-FP32 for {@link
     * Precision#FP32}, {@link #calibrationAssignment} for every other precision.
     *
     * @param rules the layers and their allowed precisions
     * @param precisions the precisions (FP32 included if the all-FP32 run is wanted)
     * @return precision to assignment, in {@link Precision} order, unmodifiable
     * @throws IllegalArgumentException naming the precision if no layer may use it
     */
    public static Map<Precision, Map<String, Precision>> calibrationRuns(
            ResolvedRules rules, Set<Precision> precisions) {
        Map<Precision, Map<String, Precision>> runs = new EnumMap<>(Precision.class);
        for (Precision p : EnumSet.copyOf(precisions)) {
            if (p == Precision.FP32) {
                Map<String, Precision> a = new LinkedHashMap<>();
                rules.layers().forEach(l -> a.put(l.path(), Precision.FP32));
                runs.put(p, Collections.unmodifiableMap(a));
            } else {
                runs.put(p, calibrationAssignment(rules, p));
            }
        }
        return Collections.unmodifiableMap(runs);
    }

    /**
     * Returns the whole-model latencies of {@link #calibrationRuns} from a cost cache, timing the
     * runs it lacks with {@code timer} (one call, only if some run is missing), storing what the
     * timer returns under {@link #runName} and saving the cache.
     *
     * @param rules the layers and their allowed precisions
     * @param precisions the precisions to calibrate (FP32 included)
     * @param cache the cost cache of the timed workload
     * @param timer times the missing runs
     * @return the latencies by precision and whether any was measured now
     * @throws QuantizationException if the timer fails or the cache cannot be written
     * @throws IllegalStateException naming the run if the timer did not return a missing run
     * @throws IllegalArgumentException if a returned latency is not finite and {@code > 0}
     */
    public static WholeModelRuns wholeModelMs(
            ResolvedRules rules, Set<Precision> precisions, CostCache cache, WholeModelTimer timer)
            throws QuantizationException {
        Objects.requireNonNull(cache, "cache");
        Objects.requireNonNull(timer, "timer");
        Map<Precision, Map<String, Precision>> runs = calibrationRuns(rules, precisions);
        Map<String, Map<String, Precision>> missing = new LinkedHashMap<>();
        runs.forEach(
                (p, a) -> {
                    if (cache.getWholeModel(runName(p)).isEmpty()) {
                        missing.put(runName(p), a);
                    }
                });
        if (!missing.isEmpty()) {
            Map<String, Double> timed = timer.timeMs(Collections.unmodifiableMap(missing));
            for (String name : missing.keySet()) {
                if (timed == null || !timed.containsKey(name)) {
                    throw new IllegalStateException(
                            "the whole-model timer returned no latency for '"
                                    + name
                                    + "'; asked for "
                                    + missing.keySet()
                                    + ", got "
                                    + (timed == null ? null : timed.keySet()));
                }
            }
            for (Precision p : runs.keySet()) {
                Double ms = timed.get(runName(p));
                if (ms != null) {
                    cache.putWholeModel(runName(p), ms);
                }
            }
            cache.save();
        }
        Map<Precision, Double> ms = new EnumMap<>(Precision.class);
        for (Precision p : runs.keySet()) {
            ms.put(p, cache.getWholeModel(runName(p)).orElseThrow());
        }
        return new WholeModelRuns(ms, !missing.isEmpty());
    }

    /**
     * Calibrates an isolated cost table with whole-model latencies.
     *
     * @param rules the layers and their allowed precisions; every allowed precision other than FP32
     *     must have a whole-model latency
     * @param isolated per-layer costs measured in isolation, for FP32 and every allowed precision
     * @param wholeModelMs whole-model latency in ms of the all-FP32 model (key FP32) and of {@link
     *     #calibrationAssignment} for each allowed precision; each finite and {@code > 0}
     * @return the calibration
     * @throws IllegalArgumentException naming the precision and the value if a whole-model latency
     *     is missing, not finite or not positive, or naming the layer and precision if the isolated
     *     table lacks a cost, or if the isolated costs of a precision sum to 0
     */
    public static LatencyCalibration of(
            ResolvedRules rules, CostTable isolated, Map<Precision, Double> wholeModelMs) {
        Objects.requireNonNull(rules, "rules");
        Objects.requireNonNull(isolated, "isolated");
        Map<Precision, Double> t = new EnumMap<>(Precision.class);
        t.putAll(wholeModelMs);
        Set<Precision> used = EnumSet.of(Precision.FP32);
        rules.layers().forEach(l -> used.addAll(rules.allowed(l.path())));
        for (Precision p : used) {
            Double ms = t.get(p);
            if (ms == null || !Double.isFinite(ms) || ms <= 0) {
                throw new IllegalArgumentException(
                        "whole-model latency of "
                                + p
                                + " was "
                                + ms
                                + ", must be finite and > 0 (measure "
                                + (p == Precision.FP32
                                        ? "the all-FP32 model"
                                        : "calibrationAssignment(rules, " + p + ")")
                                + ")");
            }
        }
        double fp32 = t.get(Precision.FP32);
        Map<String, Map<Precision, Double>> w = new LinkedHashMap<>();
        for (LayerInfo l : rules.layers()) {
            Map<Precision, Double> m = new EnumMap<>(Precision.class);
            m.put(Precision.FP32, 0.0);
            w.put(l.path(), m);
        }
        for (Precision p : used) {
            if (p == Precision.FP32) {
                continue;
            }
            double sum = 0;
            for (LayerInfo l : rules.layers()) {
                if (rules.allowed(l.path()).contains(p)) {
                    sum += isolated.cost(l.path(), p).latencyMs();
                }
            }
            if (!(sum > 0)) {
                throw new IllegalArgumentException(
                        "isolated latencies of "
                                + p
                                + " sum to "
                                + sum
                                + " ms, must be > 0 to share the whole-model difference");
            }
            double delta =
                    t.get(p) - fp32 - isolated.transitionsMs(calibrationAssignment(rules, p));
            for (LayerInfo l : rules.layers()) {
                if (rules.allowed(l.path()).contains(p)) {
                    w.get(l.path()).put(p, delta * isolated.cost(l.path(), p).latencyMs() / sum);
                }
            }
        }
        CostTable.Builder b = CostTable.builder().putRoundTrips(isolated);
        double sumK = 0;
        for (LayerInfo l : rules.layers()) {
            Map<Precision, Double> m = w.get(l.path());
            double k = 0;
            for (double v : m.values()) {
                k = Math.max(k, -v);
            }
            sumK += k;
            for (Map.Entry<Precision, Double> e : m.entrySet()) {
                b.put(
                        l.path(),
                        e.getKey(),
                        // clamp the rounding residue of -v + v at 0
                        Math.max(0, e.getValue() + k),
                        isolated.cost(l.path(), e.getKey()).bytes());
            }
        }
        Map<String, Map<Precision, Double>> frozen = new LinkedHashMap<>();
        w.forEach((k, v) -> frozen.put(k, Collections.unmodifiableMap(new EnumMap<>(v))));
        return new LatencyCalibration(
                rules, t, Collections.unmodifiableMap(frozen), b.build(), fp32 - sumK);
    }

    /**
     * Returns the calibrated cost table: latency {@code w[l][p] + K[l]} (see the class comment),
     * bytes from the isolated table, for FP32 and every allowed precision of every layer.
     *
     * @return the table to give {@link PolicySearch}
     */
    public CostTable calibrated() {
        return calibrated;
    }

    /**
     * Returns the constant that turns a sum over {@link #calibrated()} into a whole-model latency.
     *
     * @return {@code T(FP32) − Σ_l K[l]} in ms
     */
    public double remainderMs() {
        return remainderMs;
    }

    /**
     * Returns the in-context effect of a layer in a precision.
     *
     * @param path the layer path
     * @param precision FP32 or a precision the layer may use
     * @return {@code w[l][p]} in ms (negative: faster than FP32)
     * @throws IllegalArgumentException naming the layer and precision if there is none
     */
    public double effectMs(String path, Precision precision) {
        Map<Precision, Double> m = effect.get(path);
        if (m == null || !m.containsKey(precision)) {
            throw new IllegalArgumentException(
                    "layer "
                            + path
                            + " has no calibrated effect for "
                            + precision
                            + "; known layers: "
                            + effect.keySet().size()
                            + ", precisions there: "
                            + (m == null ? "none" : m.keySet()));
        }
        return m.get(precision);
    }

    /**
     * Returns the whole-model latencies the calibration was made from.
     *
     * @return ms by precision (FP32: all-FP32; others: their calibration assignment)
     */
    public Map<Precision, Double> wholeModelMs() {
        return wholeModelMs;
    }

    /**
     * Predicts the whole-model latency of an assignment: {@code T(FP32) + Σ_l w[l][a(l)] + X(a)}
     * (transitions in model order).
     *
     * @param assignment a precision for every layer of the rules
     * @return the predicted latency in ms
     * @throws IllegalArgumentException naming the layer if it is missing or its precision is not
     *     calibrated for it
     */
    public double predictMs(Map<String, Precision> assignment) {
        double s = wholeModelMs.get(Precision.FP32);
        Map<String, Precision> ordered = new LinkedHashMap<>();
        for (LayerInfo l : layers) {
            Precision p = assignment.get(l.path());
            if (p == null) {
                throw new IllegalArgumentException(
                        "assignment has no precision for layer " + l.path());
            }
            s += effectMs(l.path(), p);
            ordered.put(l.path(), p);
        }
        return s + calibrated.transitionsMs(ordered);
    }

    /**
     * Returns the rules the calibration was made for.
     *
     * @return the resolved rules
     */
    public ResolvedRules rules() {
        return rules;
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return String.format(
                Locale.ROOT,
                "LatencyCalibration[layers=%d, wholeModelMs=%s, remainderMs=%.4f]",
                layers.size(),
                wholeModelMs,
                remainderMs);
    }
}

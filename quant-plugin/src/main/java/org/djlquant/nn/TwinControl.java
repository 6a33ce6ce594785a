package org.djlquant.nn;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QMode;
import org.djlquant.fakequant.FakeQuant;
import org.djlquant.fakequant.Lsq;
import org.djlquant.observer.Observer;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.NDQuant;
import org.djlquant.scheme.NonFiniteValueException;
import org.djlquant.scheme.QDataType;
import org.djlquant.scheme.QParams;
import org.djlquant.scheme.QScheme;
import org.djlquant.scheme.QSpec;
import org.djlquant.scheme.QuantMath;

/**
 * Switches, observers and quantization parameters of one {@link QuantTwin}.
 *
 * <p>Tensor roles: {@code weight} (always), {@code input} (STATIC and QAT), {@code output} (Q, K
 * and V projections of attention: the inputs of the attention matmuls) and {@code probs} (attention
 * probabilities, the left input of P·V). Two independent switches: observing (each forward feeds
 * the observers) and fake quantization (each forward rounds through the current parameters, with a
 * straight-through gradient). Defaults: observing on; fake quantization on for QAT only. With both
 * off the twin computes exactly what the original computes. A weight observer that has seen nothing
 * observes the current weight when parameters are first needed, so weight-only and dynamic layers
 * need no calibration.
 *
 * <p>Not thread-safe: switch it while no forward runs. Observer state is Java-side only.
 */
public final class TwinControl {

    /** Role of the weight. */
    public static final String WEIGHT = "weight";

    /** Role of the layer input. */
    public static final String INPUT = "input";

    /** Role of the layer output (attention Q/K/V: the matmul inputs). */
    public static final String OUTPUT = "output";

    /** Role of the attention probabilities (the left input of P·V). */
    public static final String PROBS = "probs";

    private final String path;
    private final QConfig config;
    private final Map<String, Observer> observers = new LinkedHashMap<>();
    private final Map<String, QParams> cache = new HashMap<>();
    private final Map<String, Parameter> lsqScales = new HashMap<>();
    private final Map<String, FakeQuant.Prepared> prepared = new HashMap<>();
    private InputShare share;
    private boolean observing = true;
    private boolean fakeQuant;
    private ErrorProbe probe;
    private NDManager paramManager;
    private Parameter weightParam;
    private final Map<String, SharedParams> sharedParams = new HashMap<>();

    TwinControl(String path, QConfig config, boolean hasWeight, String... activationRoles) {
        this.path = Objects.requireNonNull(path, "path");
        this.config = Objects.requireNonNull(config, "config");
        if (hasWeight) {
            observers.put(WEIGHT, config.weightObserver().get());
        }
        if (config.mode().observesActivations()) {
            for (String role : activationRoles) {
                observers.put(role, config.activationObserver().get());
            }
        }
        fakeQuant = config.mode() == QMode.QAT;
    }

    /** A role whose parameters are another twin's (see {@link #shareParams}). */
    private record SharedParams(TwinControl source, String role) {}

    /**
     * Makes {@code role} use the parameters of {@code sourceRole} of {@code source}: the observer
     * is the source's (the same instance, so {@link #observers()} and saved observer states show
     * it), this twin never feeds it, and {@link #computeParams()} returns the source's parameters
     * for the role. This is how the input of a static layer that directly consumes another static
     * layer's (ReLU-fused) output is that output's quantization, as in PyTorch, where the next
     * quantized layer takes the previous one's {@code quint8} tensor and has no input observer.
     */
    void shareParams(String role, TwinControl source, String sourceRole) {
        if (!observers.containsKey(role) || !source.observers.containsKey(sourceRole)) {
            throw new IllegalArgumentException(
                    "layer "
                            + path
                            + ": cannot share role '"
                            + role
                            + "' with '"
                            + sourceRole
                            + "' of "
                            + source.path
                            + "; roles were "
                            + observers.keySet()
                            + " and "
                            + source.observers.keySet());
        }
        observers.put(role, source.observers.get(sourceRole));
        sharedParams.put(role, new SharedParams(source, sourceRole));
        cache.remove(role);
    }

    /**
     * Returns the layer whose parameters a role uses, if they are shared.
     *
     * @param role a role, e.g. {@link #INPUT}
     * @return the path (raw form) and role of the producer, as {@code path#role}, or null if the
     *     role has its own observer
     */
    public String sharedFrom(String role) {
        SharedParams s = sharedParams.get(role);
        return s == null ? null : s.source().path + "#" + s.role();
    }

    boolean has(String role) {
        return observers.containsKey(role);
    }

    void invalidate() {
        cache.clear();
    }

    void setWeight(Parameter weight) {
        weightParam = weight;
    }

    void setParamManager(NDManager manager) {
        paramManager = manager;
    }

    /**
     * Returns the layer path (raw form).
     *
     * @return the path
     */
    public String path() {
        return path;
    }

    /**
     * Returns the config the layer was prepared with.
     *
     * @return the config
     */
    public QConfig config() {
        return config;
    }

    /**
     * Turns observing on or off.
     *
     * @param on true to feed the observers on every forward
     */
    public void setObserving(boolean on) {
        observing = on;
    }

    /**
     * Returns whether observers are fed.
     *
     * @return the switch
     */
    public boolean isObserving() {
        return observing;
    }

    /**
     * Turns fake quantization on or off.
     *
     * @param on true to round through the current quantization parameters
     */
    public void setFakeQuant(boolean on) {
        fakeQuant = on;
    }

    /**
     * Returns whether fake quantization is on.
     *
     * @return the switch
     */
    public boolean isFakeQuant() {
        return fakeQuant;
    }

    /**
     * Returns the observers by role.
     *
     * @return an unmodifiable map
     */
    public Map<String, Observer> observers() {
        return Collections.unmodifiableMap(observers);
    }

    /**
     * Installs or removes an error probe (see {@link ErrorProbe}).
     *
     * @param probe the probe, or null to remove
     */
    public void setErrorProbe(ErrorProbe probe) {
        this.probe = probe;
    }

    /**
     * Returns the installed error probe.
     *
     * @return the probe, or null
     */
    public ErrorProbe errorProbe() {
        return probe;
    }

    /**
     * Computes the quantization parameters of every observed role (a role shared with another
     * layer, see {@link #sharedFrom}, gives that layer's parameters).
     *
     * @return parameters by role, in role order
     * @throws IllegalStateException naming the layer and role if an observer saw no data
     */
    public Map<String, QParams> computeParams() {
        Map<String, QParams> out = new LinkedHashMap<>();
        for (String role : observers.keySet()) {
            out.put(role, params(role));
        }
        return out;
    }

    QParams params(String role) {
        SharedParams s = sharedParams.get(role);
        if (s != null) {
            return s.source().params(s.role());
        }
        QParams p = cache.get(role);
        if (p != null) {
            return p;
        }
        Observer o = observers.get(role);
        if (!o.hasData()
                && WEIGHT.equals(role)
                && weightParam != null
                && weightParam.isInitialized()) {
            NDArray w = weightParam.getArray();
            try (NDManager scope = w.getManager().newSubManager()) {
                scope.tempAttachAll(new NDList(w));
                observe(WEIGHT, w);
            }
        }
        if (!o.hasData()) {
            throw new IllegalStateException(
                    "layer "
                            + path
                            + ": quantization parameters of '"
                            + role
                            + "' were asked for before its observer saw any data; calibrate"
                            + " first (run batches with observing on), then compute parameters"
                            + " or enable fake quantization");
        }
        p = o.computeParams();
        cache.put(role, p);
        return p;
    }

    void observe(String role, NDArray x) {
        Observer o = observers.get(role);
        NDArray v = x.stopGradient();
        Granularity g = o.spec().granularity();
        if (g.kind() == Granularity.Kind.PER_CHANNEL
                && g.axis() == 0
                && v.getShape().dimension() > 2) {
            // workaround: NDQuant.minMax reduces over several axes at once, which the PyTorch
            // engine refuses ("Only 1 axis is support!"); per-channel ranges along axis 0 are the
            // same on the [C, -1] view
            v = v.reshape(v.getShape().get(0), -1);
        }
        try {
            o.observe(v);
        } catch (NonFiniteValueException e) {
            throw new NonFiniteActivationException(path, role, -1, e);
        }
        cache.remove(role);
    }

    /**
     * Whether a DYNAMIC config's input runs fbgemm's {@code quantized::linear_dynamic} (libtorch on
     * x86, UINT8 affine per-tensor activations), whose parameters and rounding the simulation then
     * reproduces.
     */
    static boolean fbgemmDynamic(QConfig config) {
        QSpec spec = config.activationSpec();
        return config.mode() == QMode.DYNAMIC
                && config.backend() == BackendTarget.FBGEMM
                && spec.dtype() == QDataType.UINT8
                && spec.scheme() == QScheme.AFFINE;
    }

    /**
     * The fake-quant output of a DYNAMIC linear twin whose config targets FBGEMM, computed the way
     * fbgemm's {@code quantized::linear_dynamic} computes it (libtorch 2.7.1 on x86, read in {@code
     * qlinear_dynamic.cpp}, fbgemm's {@code PackAWithQuantRowOffset}, {@code QuantizeAvx2} and
     * {@code requantizeForFloatAvx2}), so that the simulation equals the kernel bit for bit rather
     * than up to float summation order (under per-tensor dynamic quantization a last-bit difference
     * in one layer's output moves later layers' rounding, and over a deep model such flips add up):
     *
     * <ol>
     *   <li>the input's parameters {@code s, z}: {@link QuantMath#dynamicParamsFbgemm} of its min
     *       and max;
     *   <li>{@code qx = clamp(rint(fl32(x · (1/s) + z)), 0, 255)} ({@link
     *       FakeQuant#applyFbgemmDynamic}'s rounding);
     *   <li>{@code qw}: the weight's integers as the exporter and converter store them ({@code
     *       rint(w · (1/sw)) + zw}, clamped);
     *   <li>{@code raw[m][n] = Σ_k (qx - z)(qw - zw)}: exact (float64 matmul of integers, below
     *       2^53);
     *   <li>{@code y = fma(float(raw), s · sw[n], b[n])}: the requantization multiplies by the
     *       float32 product of the two scales and adds the bias in one fused operation (measured on
     *       this libtorch build: every output of a 1280 x 384 x 64 layer equal; the product and sum
     *       are formed in float64 and rounded once, equal to the fused result except when the
     *       float64 value falls exactly on a float32 midpoint).
     * </ol>
     *
     * @return the output (the caller's batch manager owns it), or null when this twin does not
     *     apply (not DYNAMIC on FBGEMM, fake quantization off, training, an error probe attached,
     *     or weights that are not INT8 per tensor / per output channel)
     */
    NDArray fbgemmDynamicLinear(
            ParameterStore ps, NDArray x, Parameter weight, Parameter bias, boolean training) {
        if (!fakeQuant || training || probe != null || !fbgemmDynamic(config)) {
            return null;
        }
        QSpec ws = config.weightSpec();
        Granularity g = ws.granularity();
        if (ws.dtype() != QDataType.INT8
                || config.learnableScale()
                || !(g.kind() == Granularity.Kind.PER_TENSOR
                        || (g.kind() == Granularity.Kind.PER_CHANNEL && g.axis() == 0))) {
            return null;
        }
        Device device = x.getDevice();
        NDArray w = ps.getValue(weight, device, false);
        NDArray b = bias == null ? null : ps.getValue(bias, device, false);
        QParams wp = params(WEIGHT);
        long n = w.getShape().get(0);
        long k = w.getShape().get(1);
        float[] wInv = new float[(int) n];
        float[] wZero = new float[(int) n];
        float[] wScale = new float[(int) n];
        for (int o = 0; o < n; o++) {
            int i = wp.size() == 1 ? 0 : o;
            wScale[o] = wp.scaleAt(i);
            wInv[o] = 1.0f / wp.scaleAt(i);
            wZero[o] = wp.zeroPointAt(i);
        }
        float[][] mm = NDQuant.minMax(x.stopGradient(), Granularity.perTensor());
        QParams xp = QuantMath.dynamicParamsFbgemm(config.activationSpec(), mm[0][0], mm[1][0]);
        float s = xp.scale();
        long z = xp.zeroPoint();
        float[] multiplier = new float[(int) n];
        for (int o = 0; o < n; o++) {
            multiplier[o] = s * wScale[o];
        }
        NDManager batch = x.getManager();
        Shape xs = x.getShape();
        long[] outDims = xs.getShape().clone(); // Shape.getShape() is the Shape's own array
        outDims[outDims.length - 1] = n;
        NDArray y;
        try (NDManager scope = batch.newSubManager()) {
            scope.tempAttachAll(b == null ? new NDList(w) : new NDList(w, b));
            NDArray xd = x.stopGradient();
            xd.attach(scope);
            NDArray x2 = xd.reshape(-1, k);
            NDArray qx =
                    x2.toType(DataType.FLOAT64, false)
                            .mul((double) (1.0f / s))
                            .add((double) z)
                            .toType(DataType.FLOAT32, false)
                            .round()
                            .clip(0, 255)
                            .sub((float) z)
                            .toType(DataType.FLOAT64, false);
            NDArray inv = scope.create(wInv, new Shape(n, 1));
            NDArray zero = scope.create(wZero, new Shape(n, 1));
            NDArray qw =
                    w.mul(inv)
                            .round()
                            .add(zero)
                            .clip(ws.qmin(), ws.qmax())
                            .sub(zero)
                            .toType(DataType.FLOAT64, false);
            NDArray raw = qx.matMul(qw.transpose()).toType(DataType.FLOAT32, false);
            NDArray mult = scope.create(multiplier);
            NDArray out;
            if (b == null) {
                out = raw.mul(mult);
            } else {
                out =
                        raw.toType(DataType.FLOAT64, false)
                                .mul(mult.toType(DataType.FLOAT64, false))
                                .add(b.toType(DataType.FLOAT64, false))
                                .toType(DataType.FLOAT32, false);
            }
            y = out.reshape(new Shape(outDims));
            y.attach(batch);
        }
        return y;
    }

    /** Observes and/or fake-quantizes an activation of a role (identity when both are off). */
    NDArray activation(String role, NDArray x, ParameterStore ps, boolean training, boolean force) {
        if (config.mode() == QMode.WEIGHT_ONLY) {
            return x;
        }
        if (config.mode() == QMode.DYNAMIC) {
            if (!INPUT.equals(role) || !(fakeQuant || force)) {
                return x;
            }
            float[][] mm = NDQuant.minMax(x.stopGradient(), Granularity.perTensor());
            QSpec spec = config.activationSpec();
            if (fbgemmDynamic(config)) {
                // the kernel's own per-call parameters and rounding (QuantMath's class notes)
                QParams p = QuantMath.dynamicParamsFbgemm(spec, mm[0][0], mm[1][0]);
                return FakeQuant.applyFbgemmDynamic(x, p);
            }
            QParams p = QuantMath.paramsFromMinMax(spec, mm[0][0], mm[1][0]);
            return FakeQuant.apply(x, p);
        }
        if (!observers.containsKey(role)) {
            return x;
        }
        if (observing && !force && !sharedParams.containsKey(role)) {
            observe(role, x);
        }
        if (!(fakeQuant || force)) {
            return x;
        }
        if (share != null && INPUT.equals(role) && !config.learnableScale()) {
            QParams p = params(role);
            NDArray shared = share.lookup(x, p);
            if (shared == null) {
                shared = fakeQuantize(role, x, p);
                share.store(x, p, shared);
            }
            return shared;
        }
        return quantize(role, x, ps, training, null);
    }

    /**
     * Fake-quantizes with the role's parameter arrays kept between calls while the parameters and
     * the shape stay the same (per-channel / per-group weights; per-tensor needs no arrays).
     */
    private NDArray fakeQuantize(String role, NDArray x, QParams p) {
        if (p.spec().granularity().kind() == Granularity.Kind.PER_TENSOR || paramManager == null) {
            return FakeQuant.apply(x, p);
        }
        FakeQuant.Prepared fp = prepared.get(role);
        if (fp == null || !fp.matches(p, x.getShape())) {
            if (fp != null) {
                fp.close();
            }
            fp = FakeQuant.prepare(p, x.getShape(), paramManager);
            prepared.put(role, fp);
        }
        return FakeQuant.apply(x, fp);
    }

    /**
     * Lets twins whose inputs are the same array (the Q, K and V projections of attention) share
     * one fake-quantized input while it is installed: the first twin stores its result, a later one
     * given the same array (by identity) and equal parameters gets that result back instead of
     * computing it again. Install with {@link #install}, remove with {@link #close()} after the
     * projections ran. Holds at most one result; not thread-safe (one forward at a time).
     */
    static final class InputShare implements AutoCloseable {
        private final TwinControl[] controls;
        private NDArray in;
        private QParams params;
        private NDArray out;

        private InputShare(TwinControl[] controls) {
            this.controls = controls;
        }

        /**
         * Installs a share on the controls of those blocks that are twins.
         *
         * @param blocks the blocks (non-twins are skipped)
         * @return the share; close it after the blocks ran
         */
        static InputShare install(Block... blocks) {
            List<TwinControl> cs = new ArrayList<>();
            for (Block b : blocks) {
                if (b instanceof QuantTwin) {
                    cs.add(((QuantTwin) b).control());
                }
            }
            InputShare s = new InputShare(cs.toArray(new TwinControl[0]));
            for (TwinControl c : s.controls) {
                c.share = s;
            }
            return s;
        }

        NDArray lookup(NDArray x, QParams p) {
            return x == in && p.equals(params) && out != null && !out.isReleased() ? out : null;
        }

        void store(NDArray x, QParams p, NDArray result) {
            in = x;
            params = p;
            out = result;
        }

        /** Removes the share from its controls and drops the arrays it pointed to. */
        @Override
        public void close() {
            for (TwinControl c : controls) {
                if (c.share == this) {
                    c.share = null;
                }
            }
            in = null;
            params = null;
            out = null;
        }
    }

    /** Observes and/or fake-quantizes a weight (identity when both are off). */
    NDArray weight(NDArray w, NDManager batch, ParameterStore ps, boolean training, boolean force) {
        boolean empty = !observers.get(WEIGHT).hasData();
        boolean observeNow =
                (observing && !force && (empty || (training && config.mode() == QMode.QAT)))
                        || ((fakeQuant || force) && empty);
        boolean quantizeNow = fakeQuant || force;
        if (!observeNow && !quantizeNow) {
            return w;
        }
        // the weight lives in the model's manager: borrow it into a scope under the batch's
        // manager so that copies and intermediates never accumulate in the model's manager
        try (NDManager scope = batch.newSubManager()) {
            scope.tempAttachAll(new NDList(w));
            if (observeNow) {
                observe(WEIGHT, w);
            }
            if (!quantizeNow) {
                return w;
            }
            NDArray out = quantize(WEIGHT, w, ps, training, scope);
            out.attach(batch);
            return out;
        }
    }

    private NDArray quantize(
            String role, NDArray x, ParameterStore ps, boolean training, NDManager scope) {
        if (!config.learnableScale()) {
            return fakeQuantize(role, x, params(role));
        }
        QParams p = params(role);
        QSpec spec = p.spec();
        Parameter scale = lsqScales.get(role);
        if (scale == null) {
            scale = newLsqScale(role, x, p);
            lsqScales.put(role, scale);
        }
        Device device = x.getDevice();
        NDArray s = ps.getValue(scale, device, training);
        float zero = p.zeroPoints()[0];
        long n = WEIGHT.equals(role) ? x.size() : x.getShape().get(x.getShape().dimension() - 1);
        float g = Lsq.gradScale(n, spec.qmax());
        if (scope != null) {
            scope.tempAttachAll(new NDList(s));
            return Lsq.apply(x, s, zero, spec.qmin(), spec.qmax(), g);
        }
        try (NDManager tmp = x.getManager().newSubManager()) {
            // the learnt scale lives in the model's manager: borrow it (see weight())
            tmp.tempAttachAll(new NDList(s));
            NDArray out = Lsq.apply(x, s, zero, spec.qmin(), spec.qmax(), g);
            out.attach(x.getManager());
            return out;
        }
    }

    private Parameter newLsqScale(String role, NDArray x, QParams p) {
        Granularity g = p.spec().granularity();
        Shape shape;
        if (g.kind() == Granularity.Kind.PER_TENSOR) {
            shape = new Shape();
        } else if (g.kind() == Granularity.Kind.PER_CHANNEL && g.axis() == 0) {
            long[] dims = new long[x.getShape().dimension()];
            Arrays.fill(dims, 1);
            dims[0] = p.scales().length;
            shape = new Shape(dims);
        } else {
            throw new IllegalStateException(
                    "layer "
                            + path
                            + ": LSQ was asked for '"
                            + role
                            + "' with granularity "
                            + g
                            + ", allowed: PER_TENSOR, PER_CHANNEL axis 0");
        }
        // LSQ starts from the observer's scale (the paper's 2 mean|x| / sqrt(qmax) when the
        // observer gives a degenerate one)
        float[] init = p.scales().clone();
        for (int i = 0; i < init.length; i++) {
            if (!(init[i] > 0)) {
                init[i] = Lsq.initialScale(x, p.spec().qmax());
            }
        }
        if (paramManager == null) {
            throw new IllegalStateException(
                    "layer "
                            + path
                            + ": the LSQ scale of '"
                            + role
                            + "' needs the manager of the model's parameters, which is known"
                            + " once the layer's parameters are initialized");
        }
        NDArray array = paramManager.create(init, shape);
        array.setRequiresGradient(true);
        Parameter param =
                Parameter.builder()
                        .setName("lsq_" + role + "_scale")
                        .setType(Parameter.Type.OTHER)
                        .optRequiresGrad(true)
                        .build();
        param.setArray(array);
        return param;
    }

    /**
     * Returns the LSQ scales learnt so far.
     *
     * @return scale arrays by role (owned by the twin; do not close)
     */
    public Map<String, NDArray> learnedScales() {
        Map<String, NDArray> out = new LinkedHashMap<>();
        lsqScales.forEach((k, v) -> out.put(k, v.getArray()));
        return out;
    }

    /** The layer computation a twin wraps: output from (input, weight, bias). */
    interface Kernel {
        NDArray apply(NDArray x, NDArray w, NDArray b);
    }

    /**
     * Runs a weighted layer: observes / fake-quantizes input, weight and (if observed) output. With
     * an error probe installed, computes the float and the fake-quantized outputs, records the
     * difference and returns the float output.
     */
    NDArray run(
            ParameterStore ps,
            NDArray x,
            Parameter weight,
            Parameter bias,
            boolean training,
            Kernel kernel) {
        Device device = x.getDevice();
        NDArray w = ps.getValue(weight, device, training);
        NDArray b = ps.getValue(bias, device, training);
        paramManager = w.getManager();
        if (probe != null) {
            NDArray reference = kernel.apply(x, w, b);
            NDArray q =
                    kernel.apply(
                            activation(INPUT, x, ps, training, true),
                            weight(w, x.getManager(), ps, training, true),
                            b);
            if (observers.containsKey(OUTPUT)) {
                q = activation(OUTPUT, q, ps, training, true);
            }
            probe.record(reference, q);
            return reference;
        }
        NDArray xi = activation(INPUT, x, ps, training, false);
        NDArray wi = weight(w, x.getManager(), ps, training, false);
        NDArray out = kernel.apply(xi, wi, b);
        if (observers.containsKey(OUTPUT)) {
            out = activation(OUTPUT, out, ps, training, false);
        }
        return out;
    }
}

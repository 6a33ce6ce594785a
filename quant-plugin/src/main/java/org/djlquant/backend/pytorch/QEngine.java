package org.djlquant.backend.pytorch;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.djlquant.backend.pytorch.internal.NativeQEngine;

/**
 * The quantized engines (kernel libraries) of libtorch, and the process-wide choice between them.
 *
 * <p>libtorch packs INT8 weights for the engine that is current when they are packed, and runs
 * quantized ops with the kernels of that engine. On x86 the CPU build of libtorch 2.7.1 supports
 * {@link #QNNPACK}, {@link #ONEDNN}, {@link #X86} and {@link #FBGEMM} (default {@link #X86}, which
 * uses fbgemm for linear layers); the aarch64 build supports {@link #QNNPACK} but not fbgemm.
 * Select the engine <em>before</em> loading or packing a quantized model.
 *
 * <p>The choice is global to the process (it is {@code at::globalContext()} state in libtorch), so
 * two threads that select different engines race. Select once at start-up.
 */
public enum QEngine {
    /** Facebook's x86 INT8 GEMM library (AVX2 / AVX-512). */
    FBGEMM(1),
    /**
     * The mobile INT8 library; native on ARM, SSE-only and slow on x86 (for correctness checks).
     */
    QNNPACK(2),
    /** Intel oneDNN. */
    ONEDNN(3),
    /** libtorch's x86 default: fbgemm or oneDNN per operator. */
    X86(4);

    private final int nativeValue;

    QEngine(int nativeValue) {
        this.nativeValue = nativeValue;
    }

    /**
     * Returns the engines this libtorch build supports. Loads DJL's PyTorch engine if needed.
     *
     * @return the supported engines, never empty on a quantization-enabled build
     * @throws UnsupportedOperationException if the platform or libtorch version is not one whose
     *     native symbols were checked
     */
    public static Set<QEngine> available() {
        EnumSet<QEngine> engines = EnumSet.noneOf(QEngine.class);
        for (int value : NativeQEngine.get().supported()) {
            QEngine engine = ofNative(value);
            if (engine != null) {
                engines.add(engine);
            }
        }
        return Collections.unmodifiableSet(engines);
    }

    /**
     * Returns the engine that quantized ops and weight packing use now.
     *
     * @return the current engine
     * @throws IllegalStateException if libtorch reports no engine
     * @throws UnsupportedOperationException as {@link #available()}
     */
    public static QEngine current() {
        int value = NativeQEngine.get().current();
        QEngine engine = ofNative(value);
        if (engine == null) {
            throw new IllegalStateException(
                    "libtorch reports the quantized engine value "
                            + value
                            + ", known are "
                            + Arrays.toString(values()));
        }
        return engine;
    }

    /**
     * Makes {@code engine} the process-wide quantized engine.
     *
     * @param engine the engine to use
     * @throws QEngineUnavailableException if this libtorch build does not support it
     * @throws UnsupportedOperationException as {@link #available()}
     */
    public static void select(QEngine engine) {
        if (engine == null) {
            throw new IllegalArgumentException(
                    "engine was null, must be one of " + Arrays.toString(values()));
        }
        Set<QEngine> available = available();
        if (!available.contains(engine)) {
            throw new QEngineUnavailableException(engine, available);
        }
        NativeQEngine.get().set(engine.nativeValue);
    }

    /**
     * Returns the engine with the given name, as PyTorch spells it ({@code "fbgemm"}, {@code
     * "qnnpack"}, {@code "onednn"}, {@code "x86"}), in any case.
     *
     * @param name the name
     * @return the engine
     * @throws IllegalArgumentException if no engine has that name; the message lists the names
     */
    public static QEngine fromName(String name) {
        List<String> names = new ArrayList<>();
        for (QEngine engine : values()) {
            if (engine.name().equalsIgnoreCase(name)) {
                return engine;
            }
            names.add(engine.pytorchName());
        }
        throw new IllegalArgumentException(
                "quantized engine name was '" + name + "', must be one of " + names);
    }

    /**
     * Returns the name PyTorch uses for this engine ({@code torch.backends.quantized.engine}).
     *
     * @return the lower-case name
     */
    public String pytorchName() {
        return name().toLowerCase(Locale.ROOT);
    }

    private static QEngine ofNative(int value) {
        for (QEngine engine : values()) {
            if (engine.nativeValue == value) {
                return engine;
            }
        }
        return null;
    }
}

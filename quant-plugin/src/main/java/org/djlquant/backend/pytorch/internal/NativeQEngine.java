package org.djlquant.backend.pytorch.internal;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.LibUtils;
import com.sun.jna.Function;
import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Pointer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The one place that calls libtorch's quantized-engine getters and setter directly, through JNA.
 *
 * <p>DJL offers no way to choose the quantized engine, but {@code at::globalContext()}, {@code
 * at::Context::qEngine() const}, {@code at::Context::supportedQEngines()} and {@code
 * at::Context::setQEngine(c10::QEngine)} are exported C++ symbols of {@code libtorch_cpu}. Their
 * Itanium-ABI names (checked with {@code nm -D} on libtorch 2.7.1 for linux-x86_64) are the
 * constants below. {@code supportedQEngines()} returns a reference to a function-local static
 * {@code std::vector<c10::QEngine>}: a pointer to three pointers (begin, end, capacity) over
 * one-byte enum values.
 *
 * <p>{@code setQEngine} throws a C++ exception for an engine the build does not support; a C++
 * exception thrown through JNA would abort the JVM. So this class only ever calls it with a value
 * read back from {@code supportedQEngines()}: callers must check {@link #supported()} first, and
 * {@link #set(int)} checks it again.
 *
 * <p>Thread-safety: all methods are synchronized on the class; the engine is process-wide state of
 * libtorch.
 */
public final class NativeQEngine {

    /** {@code at::globalContext()}. */
    static final String GLOBAL_CONTEXT = "_ZN2at13globalContextEv";

    /** {@code at::Context::qEngine() const}. */
    static final String Q_ENGINE = "_ZNK2at7Context7qEngineEv";

    /** {@code at::Context::supportedQEngines()}. */
    static final String SUPPORTED_Q_ENGINES = "_ZN2at7Context17supportedQEnginesEv";

    /** {@code at::Context::setQEngine(c10::QEngine)}. */
    static final String SET_Q_ENGINE = "_ZN2at7Context10setQEngineEN3c107QEngineE";

    /** The libtorch version whose symbols and enum values were checked. */
    static final String CHECKED_LIBTORCH = "2.7.1";

    private static NativeQEngine instance;

    private final Pointer context;
    private final Function qEngine;
    private final Function supportedQEngines;
    private final Function setQEngine;

    private NativeQEngine(NativeLibrary library) {
        Function globalContext = library.getFunction(GLOBAL_CONTEXT);
        qEngine = library.getFunction(Q_ENGINE);
        supportedQEngines = library.getFunction(SUPPORTED_Q_ENGINES);
        setQEngine = library.getFunction(SET_Q_ENGINE);
        context = (Pointer) globalContext.invoke(Pointer.class, new Object[0]);
        if (context == null) {
            throw new IllegalStateException("at::globalContext() returned null");
        }
    }

    /**
     * Returns the bridge, loading DJL's PyTorch engine and binding the symbols on first use.
     *
     * @return the bridge
     * @throws UnsupportedOperationException if the platform or the libtorch build is not one whose
     *     symbols were checked (Linux or macOS with libtorch 2.7.x)
     */
    public static synchronized NativeQEngine get() {
        if (instance == null) {
            NativeLibrary library = bindLibrary();
            try {
                instance = new NativeQEngine(library);
            } catch (UnsatisfiedLinkError e) {
                throw new UnsupportedOperationException(
                        "libtorch_cpu lacks a quantized-engine symbol checked against libtorch "
                                + CHECKED_LIBTORCH
                                + ": "
                                + e.getMessage(),
                        e);
            }
        }
        return instance;
    }

    private static NativeLibrary bindLibrary() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        if (os.startsWith("windows")) {
            throw new UnsupportedOperationException(
                    "Selecting the quantized engine needs the Itanium C++ ABI symbols of"
                            + " libtorch_cpu; os.name was '"
                            + System.getProperty("os.name")
                            + "', supported are Linux and macOS");
        }
        Engine engine = Engine.getEngine("PyTorch");
        String version = engine.getVersion();
        if (!version.startsWith("2.7.")) {
            throw new UnsupportedOperationException(
                    "The quantized-engine symbols were checked against libtorch "
                            + CHECKED_LIBTORCH
                            + "; the loaded libtorch is "
                            + version);
        }
        Path dir = Paths.get(LibUtils.getLibtorchPath());
        Path file = dir.resolve(System.mapLibraryName("torch_cpu"));
        if (!Files.isRegularFile(file)) {
            throw new UnsupportedOperationException(
                    "libtorch_cpu was not found at "
                            + file
                            + " (DJL's libtorch folder "
                            + dir
                            + ")");
        }
        try {
            // dlopen of a library the JVM already loaded returns the same handle: same globals.
            return NativeLibrary.getInstance(file.toAbsolutePath().toString());
        } catch (UnsatisfiedLinkError e) {
            throw new UnsupportedOperationException(
                    "Cannot open " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Returns the current quantized engine as libtorch's {@code c10::QEngine} value.
     *
     * @return the enum value (0 none, 1 fbgemm, 2 qnnpack, 3 onednn, 4 x86)
     */
    public synchronized int current() {
        Object value = qEngine.invoke(Byte.class, new Object[] {context});
        return ((Byte) value) & 0xFF;
    }

    /**
     * Returns the engines this libtorch build supports, as {@code c10::QEngine} values.
     *
     * @return the values, in libtorch's order
     */
    public synchronized List<Integer> supported() {
        Pointer vector = (Pointer) supportedQEngines.invoke(Pointer.class, new Object[] {context});
        if (vector == null) {
            throw new IllegalStateException("at::Context::supportedQEngines() returned null");
        }
        Pointer begin = vector.getPointer(0);
        Pointer end = vector.getPointer(Native.POINTER_SIZE);
        List<Integer> values = new ArrayList<>();
        if (begin == null || end == null) {
            return values;
        }
        long count = Pointer.nativeValue(end) - Pointer.nativeValue(begin);
        if (count < 0 || count > 64) {
            throw new IllegalStateException(
                    "at::Context::supportedQEngines() has an implausible size " + count);
        }
        for (long i = 0; i < count; i++) {
            values.add(begin.getByte(i) & 0xFF);
        }
        return values;
    }

    /**
     * Makes {@code value} the process-wide quantized engine.
     *
     * @param value a {@code c10::QEngine} value that {@link #supported()} lists
     * @throws IllegalArgumentException if {@link #supported()} does not list it (libtorch would
     *     throw a C++ exception, which must never cross JNA)
     */
    public synchronized void set(int value) {
        List<Integer> supported = supported();
        if (!supported.contains(value)) {
            throw new IllegalArgumentException(
                    "c10::QEngine value was " + value + ", supported are " + supported);
        }
        setQEngine.invoke(Void.class, new Object[] {context, (byte) value});
    }
}

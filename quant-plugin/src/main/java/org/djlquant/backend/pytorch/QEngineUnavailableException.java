package org.djlquant.backend.pytorch;

import java.util.Collections;
import java.util.EnumSet;
import java.util.Set;

/** A quantized engine was requested that the loaded libtorch build does not support. */
public class QEngineUnavailableException extends IllegalArgumentException {

    /** The engine that was asked for. */
    private final QEngine requested;

    /** The engines this build supports. */
    private final Set<QEngine> available;

    /**
     * Creates the exception.
     *
     * @param requested the engine asked for
     * @param available the engines this build supports
     */
    public QEngineUnavailableException(QEngine requested, Set<QEngine> available) {
        super("quantized engine was " + requested + ", this libtorch build supports " + available);
        this.requested = requested;
        this.available =
                available.isEmpty()
                        ? Collections.emptySet()
                        : Collections.unmodifiableSet(EnumSet.copyOf(available));
    }

    /**
     * Returns the engine that was asked for.
     *
     * @return the requested engine
     */
    public QEngine getRequested() {
        return requested;
    }

    /**
     * Returns the engines this build supports.
     *
     * @return an unmodifiable set
     */
    public Set<QEngine> getAvailable() {
        return available;
    }
}

package org.djlquant.nn;

import java.util.Set;
import org.djlquant.config.LayerKind;
import org.djlquant.config.QMode;

/**
 * Thrown by {@link Converter} for a twin prepared in a mode its backend has no kernel for, for its
 * kind of layer ({@link org.djlquant.config.BackendTarget#modes}): for instance a 2-D convolution
 * prepared DYNAMIC or WEIGHT_ONLY (libtorch has static quantized convolutions only). The message
 * names the layer path, the mode given and the modes allowed. Prepare that layer with a STATIC
 * config, or with a null config (FP32).
 */
public class UnsupportedModeException extends BackendCapabilityException {

    private static final long serialVersionUID = 1L;

    private final LayerKind kind;
    private final QMode mode;
    private final Set<QMode> allowed;

    /**
     * Creates the exception.
     *
     * @param path the layer's clean path, named by the message
     * @param rawPath the path from DJL's child names
     * @param kind the kind of layer
     * @param mode the mode the layer was prepared with
     * @param allowed the modes the backend runs this kind of layer in
     * @param cause the backend's refusal
     */
    public UnsupportedModeException(
            String path,
            String rawPath,
            LayerKind kind,
            QMode mode,
            Set<QMode> allowed,
            IllegalArgumentException cause) {
        super(path, rawPath, cause);
        this.kind = kind;
        this.mode = mode;
        this.allowed = Set.copyOf(allowed);
    }

    /**
     * Returns the kind of layer.
     *
     * @return the kind
     */
    public LayerKind kind() {
        return kind;
    }

    /**
     * Returns the mode the layer was prepared with.
     *
     * @return the mode given
     */
    public QMode mode() {
        return mode;
    }

    /**
     * Returns the modes the backend runs this kind of layer in.
     *
     * @return an unmodifiable set
     */
    public Set<QMode> allowedModes() {
        return allowed;
    }
}

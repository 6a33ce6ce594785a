package org.djlquant.policy.apply;

import java.util.Collection;

/**
 * A policy, an assignment or a rule names a layer the model does not have. The message names the
 * path given and lists the layers the model has.
 */
public class UnknownLayerException extends IllegalArgumentException {

    private static final long serialVersionUID = 1L;

    private final String path;

    /**
     * Creates the exception.
     *
     * @param path the path given
     * @param what what named it, for example {@code "policy"}
     * @param known the layer paths the model has
     */
    public UnknownLayerException(String path, String what, Collection<String> known) {
        super(
                what
                        + " names layer '"
                        + path
                        + "', which the model does not have; its layers: "
                        + known);
        this.path = path;
    }

    /**
     * Returns the path given.
     *
     * @return the unknown path
     */
    public String path() {
        return path;
    }
}

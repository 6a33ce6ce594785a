package org.djlquant.policy;

/**
 * A rule set that cannot be applied to a model and backend: a rule naming a layer the model does
 * not have, or a precision the backend cannot run there. The message names the rule, the layer and
 * the precisions allowed.
 */
public class RuleException extends IllegalArgumentException {

    /**
     * Creates the exception.
     *
     * @param message the rule, the layer, the value given and the values allowed
     */
    public RuleException(String message) {
        super(message);
    }
}

package org.djlquant.nn;

import ai.djl.nn.Block;
import ai.djl.nn.BlockList;
import ai.djl.nn.convolutional.Conv1d;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.nn.transformer.ScaledDotProductAttentionBlock;
import ai.djl.nn.transformer.TransformerEncoderBlock;
import ai.djl.util.Pair;
import org.djlquant.nn.transformer.BertSelfAttention;

/** The rewriters registered by default. */
final class BuiltinRewriters {

    private BuiltinRewriters() {}

    static BlockRewriter linear() {
        return of(
                Linear.class,
                c ->
                        new ObservedLinear(
                                (Linear) c.block(),
                                c.path(),
                                c.config(),
                                c.config().mode().observesActivations()));
    }

    static BlockRewriter conv1d() {
        return of(Conv1d.class, c -> new ObservedConv1d((Conv1d) c.block(), c.path(), c.config()));
    }

    static BlockRewriter conv2d() {
        return of(Conv2d.class, c -> new ObservedConv2d((Conv2d) c.block(), c.path(), c.config()));
    }

    /**
     * DJL's attention: projections become {@link ObservedLinear} (Q, K, V observing their outputs),
     * the block becomes an {@link ObservedAttention} where its parent can hold one, and otherwise
     * stays, rewired in place, with a warning that P is not observed.
     */
    static BlockRewriter attention() {
        return of(
                ScaledDotProductAttentionBlock.class,
                c -> {
                    ScaledDotProductAttentionBlock a = (ScaledDotProductAttentionBlock) c.block();
                    BlockList children = ChildSwapper.childrenOf(a);
                    for (Pair<String, Block> child : children) {
                        String key = child.getKey();
                        if (key.endsWith("Projection") && child.getValue() instanceof Linear) {
                            c.wrapLinear(key, !key.endsWith("resultProjection"));
                        } else {
                            c.leaveFloat(
                                    key,
                                    "attention "
                                            + child.getValue().getClass().getSimpleName()
                                            + " stays float");
                        }
                    }
                    if (!c.config().mode().observesActivations()) {
                        return a;
                    }
                    String why = c.whyNotReplaceable(ObservedAttention.class);
                    if (why == null) {
                        return new ObservedAttention(a, c.path(), c.config());
                    }
                    if (c.parent() != null
                            && c.parent().getClass() == TransformerEncoderBlock.class) {
                        ObservedAttention twin = new ObservedAttention(a, c.path(), c.config());
                        c.replaceParentAfterChildren(
                                p ->
                                        new ObservedTransformerEncoder(
                                                (TransformerEncoderBlock) p, twin));
                        return a;
                    }
                    c.warn(
                            c.path()
                                    + ": attention probabilities P (left input of P·V) are not"
                                    + " observed because the attention block cannot be replaced"
                                    + " ("
                                    + why
                                    + "); Q, K, V are observed, projections are wrapped in place");
                    return a;
                });
    }

    /**
     * Our BERT attention: the four projections become {@link ObservedLinear} twins observing their
     * outputs (Q and K are the inputs of Q·Kᵀ, V the right input of P·V); for STATIC and QAT the
     * block becomes an {@link ObservedBertSelfAttention} that also observes P, else it stays,
     * rewired in place.
     */
    static BlockRewriter bertSelfAttention() {
        return of(
                BertSelfAttention.class,
                c -> {
                    BertSelfAttention a = (BertSelfAttention) c.block();
                    for (Pair<String, Block> child : ChildSwapper.childrenOf(a)) {
                        if (child.getValue() instanceof Linear) {
                            c.wrapLinear(child.getKey(), c.config().mode().observesActivations());
                        } else {
                            c.leaveFloat(
                                    child.getKey(),
                                    child.getValue().getClass().getSimpleName() + " stays float");
                        }
                    }
                    if (!c.config().mode().observesActivations()) {
                        return a;
                    }
                    return new ObservedBertSelfAttention(a, c.path(), c.config());
                });
    }

    private static BlockRewriter of(
            Class<? extends Block> type, java.util.function.Function<RewriteContext, Block> f) {
        return new BlockRewriter() {
            @Override
            public Class<? extends Block> blockClass() {
                return type;
            }

            @Override
            public Block rewrite(RewriteContext context) {
                return f.apply(context);
            }
        };
    }
}

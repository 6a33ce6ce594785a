package org.djlquant.nn;

import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.BlockList;
import java.lang.reflect.Array;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.util.ArrayList;
import java.util.List;

/**
 * Replaces one child of a block by another, everywhere the parent holds it.
 *
 * <p>DJL blocks keep their children in the protected {@code BlockList children} of {@link
 * AbstractBlock} (what {@code getChildren()}, saving and loading see) and usually also in private
 * fields that {@code forwardInternal} calls (e.g. {@code Linear keyProjection}). Both must be
 * swapped or the forward keeps calling the old child. The swap walks the parent's class hierarchy
 * and replaces, by identity, the child in: the {@code children} list (same key, same position),
 * every instance field holding it, every {@link List} field and every array field containing it. A
 * holder whose declared type cannot take the replacement (a field typed with a final class, a
 * {@code List<Foo>} when the twin is no {@code Foo}, an unmodifiable list) makes the swap fail
 * before anything is changed. Children held outside the parent object itself (in a helper object or
 * a lambda) are not seen.
 */
final class ChildSwapper {

    private ChildSwapper() {}

    /** One place that holds the child. */
    private interface Slot {
        void set(Block value);
    }

    /**
     * Checks whether {@code parent} can hold {@code replacementClass} wherever it holds {@code
     * child}.
     *
     * @return null if possible, else the reason
     */
    static String whyNot(Block parent, Block child, Class<?> replacementClass) {
        try {
            slots(parent, child, replacementClass);
            return null;
        } catch (IllegalStateException e) {
            return e.getMessage();
        }
    }

    static void replace(Block parent, String key, Block child, Block replacement) {
        List<Slot> slots = slots(parent, child, replacement.getClass());
        for (Slot s : slots) {
            s.set(replacement);
        }
        BlockList children = childrenOf(parent);
        int index = children.indexOf(key);
        if (index < 0 || children.valueAt(index) != child) {
            throw new IllegalStateException(
                    "child '" + key + "' of " + parent.getClass().getName() + " not found");
        }
        children.remove(index);
        children.add(index, key, replacement);
    }

    static BlockList childrenOf(Block parent) {
        if (!(parent instanceof AbstractBlock)) {
            throw new IllegalStateException(
                    "parent "
                            + parent.getClass().getName()
                            + " is not an AbstractBlock, its children cannot be replaced");
        }
        return (BlockList) Reflect.read(parent, AbstractBlock.class, "children");
    }

    private static List<Slot> slots(Block parent, Block child, Class<?> replacementClass) {
        childrenOf(parent);
        List<Slot> slots = new ArrayList<>();
        for (Class<?> k = parent.getClass();
                k != null && k != Object.class;
                k = k.getSuperclass()) {
            for (Field f : k.getDeclaredFields()) {
                if (Modifier.isStatic(f.getModifiers())
                        || (k == AbstractBlock.class && f.getName().equals("children"))) {
                    continue;
                }
                Object value;
                try {
                    f.setAccessible(true);
                    value = f.get(parent);
                } catch (ReflectiveOperationException | RuntimeException e) {
                    continue;
                }
                if (value == null) {
                    continue;
                }
                String where = k.getSimpleName() + "." + f.getName();
                if (value == child) {
                    if (!f.getType().isAssignableFrom(replacementClass)) {
                        throw new IllegalStateException(
                                "field "
                                        + where
                                        + " is typed "
                                        + f.getType().getName()
                                        + ", which cannot hold a "
                                        + replacementClass.getName());
                    }
                    slots.add(v -> set(f, parent, v));
                } else if (value instanceof List) {
                    List<?> list = (List<?>) value;
                    for (int i = 0; i < list.size(); i++) {
                        if (list.get(i) == child) {
                            Class<?> element = elementClass(f.getGenericType());
                            if (!element.isAssignableFrom(replacementClass)) {
                                throw new IllegalStateException(
                                        "list field "
                                                + where
                                                + " holds "
                                                + element.getName()
                                                + ", which cannot hold a "
                                                + replacementClass.getName());
                            }
                            @SuppressWarnings("unchecked")
                            List<Object> target = (List<Object>) list;
                            int index = i;
                            try {
                                target.set(index, child);
                            } catch (UnsupportedOperationException e) {
                                throw new IllegalStateException(
                                        "list field " + where + " is unmodifiable", e);
                            }
                            slots.add(v -> target.set(index, v));
                        }
                    }
                } else if (value.getClass().isArray()
                        && !value.getClass().getComponentType().isPrimitive()) {
                    int n = Array.getLength(value);
                    for (int i = 0; i < n; i++) {
                        if (Array.get(value, i) == child) {
                            Class<?> component = value.getClass().getComponentType();
                            if (!component.isAssignableFrom(replacementClass)) {
                                throw new IllegalStateException(
                                        "array field "
                                                + where
                                                + " holds "
                                                + component.getName()
                                                + ", which cannot hold a "
                                                + replacementClass.getName());
                            }
                            int index = i;
                            slots.add(v -> Array.set(value, index, v));
                        }
                    }
                }
            }
        }
        return slots;
    }

    private static Class<?> elementClass(Type type) {
        if (type instanceof ParameterizedType) {
            Type[] args = ((ParameterizedType) type).getActualTypeArguments();
            if (args.length == 1 && args[0] instanceof Class) {
                return (Class<?>) args[0];
            }
            if (args.length == 1 && args[0] instanceof ParameterizedType) {
                return (Class<?>) ((ParameterizedType) args[0]).getRawType();
            }
        }
        return Object.class;
    }

    private static void set(Field f, Object target, Object value) {
        try {
            f.set(target, value);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException("cannot write field " + f, e);
        }
    }
}

package org.djlquant.nn;

import java.lang.reflect.Field;

/** Reads and writes private fields of DJL blocks (classpath, unnamed module: always accessible). */
final class Reflect {

    private Reflect() {}

    static Field field(Class<?> declaring, String name) {
        try {
            Field f = declaring.getDeclaredField(name);
            f.setAccessible(true);
            return f;
        } catch (NoSuchFieldException e) {
            throw new IllegalStateException(
                    "DJL "
                            + declaring.getName()
                            + " has no field '"
                            + name
                            + "'; this djl-quant build supports DJL 0.36.0",
                    e);
        }
    }

    static Object read(Object target, Class<?> declaring, String name) {
        try {
            return field(declaring, name).get(target);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException("cannot read " + declaring.getName() + "." + name, e);
        }
    }

    static void write(Object target, Class<?> declaring, String name, Object value) {
        try {
            field(declaring, name).set(target, value);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException("cannot write " + declaring.getName() + "." + name, e);
        }
    }
}

package org.djlquant.backend.pytorch.internal;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Writes Python pickle protocol 2, restricted to what libtorch's TorchScript unpickler reads.
 *
 * <p>Java values map to pickle values as follows: {@code null} to {@code None}; {@link Boolean};
 * {@link Integer} and {@link Long} to {@code int} (BININT1/BININT2/BININT/LONG1); {@link Float} and
 * {@link Double} to {@code float} (BINFLOAT, big-endian); {@link String} to {@code str}
 * (BINUNICODE, UTF-8); {@link List} to {@code list}; {@link Tuple} to {@code tuple}; {@link Map} to
 * {@code dict} in the map's iteration order; {@link TensorData} to a tensor rebuilt by {@code
 * torch._utils._rebuild_tensor_v2} from a persistent storage id {@code ('storage',
 * torch.<Type>Storage, key, 'cpu', numel)}; {@link ScriptObject} to an instance of a TorchScript
 * class built with {@code NEWOBJ} and set up by {@code BUILD} with its state.
 *
 * <p>No memo (BINPUT) is written: every value is written where it occurs, so a tensor that occurs
 * twice gets two storages. Output is deterministic for equal input.
 *
 * <p>Not thread-safe; one instance writes one pickle.
 */
public final class Pickler {

    private static final int PROTO = 0x80;
    private static final int STOP = '.';
    private static final int NONE = 'N';
    private static final int NEWTRUE = 0x88;
    private static final int NEWFALSE = 0x89;
    private static final int BININT = 'J';
    private static final int BININT1 = 'K';
    private static final int BININT2 = 'M';
    private static final int LONG1 = 0x8a;
    private static final int BINFLOAT = 'G';
    private static final int BINUNICODE = 'X';
    private static final int EMPTY_TUPLE = ')';
    private static final int TUPLE1 = 0x85;
    private static final int TUPLE2 = 0x86;
    private static final int TUPLE3 = 0x87;
    private static final int MARK = '(';
    private static final int TUPLE = 't';
    private static final int EMPTY_LIST = ']';
    private static final int APPENDS = 'e';
    private static final int EMPTY_DICT = '}';
    private static final int SETITEMS = 'u';
    private static final int GLOBAL = 'c';
    private static final int REDUCE = 'R';
    private static final int BUILD = 'b';
    private static final int NEWOBJ = 0x81;
    private static final int BINPERSID = 'Q';

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final List<TensorData> storages = new ArrayList<>();

    private Pickler() {}

    /**
     * Pickles one value.
     *
     * @param value the value, made of the types listed in the class comment
     * @return the pickle bytes and the tensor storages it refers to, keyed "0", "1", ...
     * @throws IllegalArgumentException if the value contains an unsupported type
     */
    public static Result pickle(Object value) {
        Pickler pickler = new Pickler();
        pickler.out.write(PROTO);
        pickler.out.write(2);
        pickler.write(value);
        pickler.out.write(STOP);
        return new Result(pickler.out.toByteArray(), List.copyOf(pickler.storages));
    }

    private void write(Object value) {
        if (value == null) {
            out.write(NONE);
        } else if (value instanceof Boolean) {
            out.write((Boolean) value ? NEWTRUE : NEWFALSE);
        } else if (value instanceof Integer || value instanceof Long) {
            writeInt(((Number) value).longValue());
        } else if (value instanceof Float || value instanceof Double) {
            out.write(BINFLOAT);
            long bits = Double.doubleToLongBits(((Number) value).doubleValue());
            for (int shift = 56; shift >= 0; shift -= 8) {
                out.write((int) (bits >>> shift) & 0xFF);
            }
        } else if (value instanceof String) {
            writeString((String) value);
        } else if (value instanceof Tuple) {
            writeTuple(((Tuple) value).items());
        } else if (value instanceof List) {
            out.write(EMPTY_LIST);
            List<?> list = (List<?>) value;
            if (!list.isEmpty()) {
                out.write(MARK);
                for (Object item : list) {
                    write(item);
                }
                out.write(APPENDS);
            }
        } else if (value instanceof Map) {
            out.write(EMPTY_DICT);
            Map<?, ?> map = (Map<?, ?>) value;
            if (!map.isEmpty()) {
                out.write(MARK);
                for (Map.Entry<?, ?> entry : map.entrySet()) {
                    write(entry.getKey());
                    write(entry.getValue());
                }
                out.write(SETITEMS);
            }
        } else if (value instanceof TensorData) {
            writeTensor((TensorData) value);
        } else if (value instanceof ScriptObject) {
            ScriptObject object = (ScriptObject) value;
            writeGlobal(object.module(), object.name());
            out.write(EMPTY_TUPLE);
            out.write(NEWOBJ);
            write(object.state());
            out.write(BUILD);
        } else {
            throw new IllegalArgumentException(
                    "cannot pickle a "
                            + value.getClass().getName()
                            + "; supported are null, Boolean, Integer, Long, Float, Double,"
                            + " String, List, Map, Pickler.Tuple, TensorData, ScriptObject");
        }
    }

    private void writeInt(long v) {
        if (v >= 0 && v < 0x100) {
            out.write(BININT1);
            out.write((int) v);
        } else if (v >= 0 && v < 0x10000) {
            out.write(BININT2);
            out.write((int) v & 0xFF);
            out.write((int) (v >>> 8) & 0xFF);
        } else if (v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE) {
            out.write(BININT);
            writeLittleEndian(v, 4);
        } else {
            out.write(LONG1);
            out.write(8);
            writeLittleEndian(v, 8);
        }
    }

    private void writeLittleEndian(long v, int bytes) {
        for (int i = 0; i < bytes; i++) {
            out.write((int) (v >>> (8 * i)) & 0xFF);
        }
    }

    private void writeString(String s) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        out.write(BINUNICODE);
        writeLittleEndian(bytes.length, 4);
        out.write(bytes, 0, bytes.length);
    }

    private void writeGlobal(String module, String name) {
        if (module.indexOf('\n') >= 0 || name.indexOf('\n') >= 0) {
            throw new IllegalArgumentException(
                    "global name was '" + module + " " + name + "', must not contain a newline");
        }
        out.write(GLOBAL);
        byte[] m = (module + "\n" + name + "\n").getBytes(StandardCharsets.UTF_8);
        out.write(m, 0, m.length);
    }

    private void writeTuple(List<?> items) {
        switch (items.size()) {
            case 0:
                out.write(EMPTY_TUPLE);
                return;
            case 1:
                write(items.get(0));
                out.write(TUPLE1);
                return;
            case 2:
                write(items.get(0));
                write(items.get(1));
                out.write(TUPLE2);
                return;
            case 3:
                write(items.get(0));
                write(items.get(1));
                write(items.get(2));
                out.write(TUPLE3);
                return;
            default:
                out.write(MARK);
                for (Object item : items) {
                    write(item);
                }
                out.write(TUPLE);
        }
    }

    private void writeTensor(TensorData tensor) {
        String key = Integer.toString(storages.size());
        storages.add(tensor);
        writeGlobal("torch._utils", "_rebuild_tensor_v2");
        out.write(MARK);
        // persistent id of the storage
        out.write(MARK);
        writeString("storage");
        writeGlobal("torch", tensor.dtype().storageName());
        writeString(key);
        writeString("cpu");
        writeInt(tensor.numel());
        out.write(TUPLE);
        out.write(BINPERSID);
        writeInt(0); // storage offset
        writeTuple(boxed(tensor.shape()));
        writeTuple(boxed(tensor.contiguousStrides()));
        out.write(NEWFALSE); // requires_grad
        writeGlobal("collections", "OrderedDict");
        out.write(EMPTY_TUPLE);
        out.write(REDUCE); // backward hooks: an empty OrderedDict
        out.write(TUPLE);
        out.write(REDUCE);
    }

    private static List<Long> boxed(long[] values) {
        List<Long> list = new ArrayList<>(values.length);
        for (long v : values) {
            list.add(v);
        }
        return list;
    }

    /**
     * A Python tuple.
     *
     * @param items the items, in order
     */
    public record Tuple(List<Object> items) {
        /**
         * Creates a tuple, copying the items (which may include {@code null}).
         *
         * @param items the items, in order
         */
        public Tuple {
            items = Collections.unmodifiableList(new ArrayList<>(items));
        }

        /**
         * Creates a tuple of the given items.
         *
         * @param items the items, in order
         * @return the tuple
         */
        public static Tuple of(Object... items) {
            return new Tuple(java.util.Arrays.asList(items));
        }
    }

    /**
     * An instance of a TorchScript class, pickled as {@code GLOBAL module name; EMPTY_TUPLE;
     * NEWOBJ; state; BUILD}. For a module, {@code state} is a dict from attribute name to value
     * (libtorch sets each attribute) or, if the class defines {@code __setstate__}, the argument of
     * that method.
     *
     * @param module the qualified module, e.g. {@code __torch__.djlquant}
     * @param name the class name, e.g. {@code OpLibrary}
     * @param state the state handed to BUILD
     */
    public record ScriptObject(String module, String name, Object state) {
        /**
         * Checks the names.
         *
         * @param module the qualified module
         * @param name the class name
         * @param state the state
         */
        public ScriptObject {
            Objects.requireNonNull(module, "module");
            Objects.requireNonNull(name, "name");
        }
    }

    /**
     * A pickle and the storages it refers to.
     *
     * @param bytes the pickle
     * @param storages the tensors whose raw data must be stored as {@code data/<index>}
     */
    public record Result(byte[] bytes, List<TensorData> storages) {}
}

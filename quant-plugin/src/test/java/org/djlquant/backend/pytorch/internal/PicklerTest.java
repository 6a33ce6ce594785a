package org.djlquant.backend.pytorch.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Byte-exact pickles derived by hand from the protocol 2 opcode table (Python's pickletools). */
class PicklerTest {

    private static byte[] bytes(int... values) {
        byte[] b = new byte[values.length];
        for (int i = 0; i < values.length; i++) {
            b[i] = (byte) values[i];
        }
        return b;
    }

    @Test
    void scalarsUseTheSmallestIntegerOpcodeAndBigEndianDoubles() {
        // PROTO 2, MARK, BININT1 1, BININT2 300, BININT -1, LONG1 8 bytes 2^40, BINFLOAT 1.5,
        // NEWTRUE, NEWFALSE, NONE, TUPLE, STOP
        byte[] expected =
                bytes(
                        0x80, 2, '(', 'K', 1, 'M', 0x2c, 0x01, 'J', 0xff, 0xff, 0xff, 0xff, 0x8a, 8,
                        0, 0, 0, 0, 0, 1, 0, 0, 'G', 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0x88, 0x89, 'N',
                        't', '.');
        byte[] actual =
                Pickler.pickle(Pickler.Tuple.of(1, 300, -1, 1L << 40, 1.5, true, false, null))
                        .bytes();
        assertArrayEquals(expected, actual);
    }

    @Test
    void stringsListsDictsAndSmallTuples() {
        Map<String, Object> dict = new LinkedHashMap<>();
        dict.put("a", List.of(1, 2));
        dict.put("é", Pickler.Tuple.of());
        byte[] e = "é".getBytes(StandardCharsets.UTF_8);
        byte[] expected =
                bytes(
                        0x80,
                        2,
                        '}',
                        '(',
                        'X',
                        1,
                        0,
                        0,
                        0,
                        'a',
                        ']',
                        '(',
                        'K',
                        1,
                        'K',
                        2,
                        'e',
                        'X',
                        2,
                        0,
                        0,
                        0,
                        e[0] & 0xff,
                        e[1] & 0xff,
                        ')',
                        'u',
                        '.');
        assertArrayEquals(expected, Pickler.pickle(dict).bytes());
        assertArrayEquals(
                bytes(0x80, 2, 'K', 7, 0x85, '.'), Pickler.pickle(Pickler.Tuple.of(7)).bytes());
        assertArrayEquals(
                bytes(0x80, 2, 'K', 7, 'K', 8, 0x86, '.'),
                Pickler.pickle(Pickler.Tuple.of(7, 8)).bytes());
        assertArrayEquals(bytes(0x80, 2, ']', '.'), Pickler.pickle(List.of()).bytes());
    }

    @Test
    void tensorIsRebuiltFromAPersistentStorageId() {
        TensorData t = TensorData.ofFloats(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
        Pickler.Result result = Pickler.pickle(t);
        String text = new String(result.bytes(), StandardCharsets.ISO_8859_1);
        String expected =
                "\u0080\u0002"
                        + "ctorch._utils\n_rebuild_tensor_v2\n"
                        + "(" // args
                        + "(X\u0007\0\0\0storage" // persistent id tuple
                        + "ctorch\nFloatStorage\n"
                        + "X\u0001\0\0\0"
                        + "0"
                        + "X\u0003\0\0\0cpu"
                        + "K\u0006"
                        + "tQ" // TUPLE, BINPERSID
                        + "K\0" // offset
                        + "K\u0002K\u0003\u0086" // size (2, 3)
                        + "K\u0003K\u0001\u0086" // stride (3, 1)
                        + "\u0089" // requires_grad False
                        + "ccollections\nOrderedDict\n)R" // OrderedDict()
                        + "tR.";
        assertEquals(expected, text);
        assertEquals(1, result.storages().size());
        // little-endian float32 1.0 = 00 00 80 3f
        assertArrayEquals(
                bytes(0, 0, 0x80, 0x3f), Arrays.copyOf(result.storages().get(0).data(), 4));
    }

    @Test
    void scriptObjectIsBuiltWithNewobjAndBuild() {
        Map<String, Object> state = new LinkedHashMap<>();
        state.put("training", true);
        String text =
                new String(
                        Pickler.pickle(new Pickler.ScriptObject("__torch__.m", "C", state)).bytes(),
                        StandardCharsets.ISO_8859_1);
        assertEquals("\u0080\u0002c__torch__.m\nC\n)\u0081}(X\u0008\0\0\0training\u0088ub.", text);
    }

    @Test
    void unsupportedTypeIsRefusedWithTheSupportedOnes() {
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> Pickler.pickle(new Object()));
        assertEquals(
                "cannot pickle a java.lang.Object; supported are null, Boolean, Integer, Long,"
                        + " Float, Double, String, List, Map, Pickler.Tuple, TensorData,"
                        + " ScriptObject",
                e.getMessage());
    }
}

package org.djlquant.backend.pytorch.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.engine.EngineException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import org.djlquant.QuantizationException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class TorchScriptArchiveTest {

    private static final String ADD_SOURCE =
            "class Add(Module):\n"
                    + "  __parameters__ = []\n"
                    + "  __buffers__ = []\n"
                    + "  training : bool\n"
                    + "  w : Tensor\n"
                    + "  k : int\n"
                    + "  def forward(self: __torch__.t.Add,\n"
                    + "    x: Tensor) -> Tensor:\n"
                    + "    return torch.add(torch.mul(x, self.k), self.w)\n";

    private PtNDManager manager;

    @BeforeEach
    void open() {
        manager = (PtNDManager) Engine.getEngine("PyTorch").newBaseManager();
    }

    @AfterEach
    void close() {
        manager.close();
    }

    private static byte[] addArchive(Map<String, Object> state, String source) {
        return TorchScriptArchive.builder("add")
                .addCode("t", source)
                .setRoot(new Pickler.ScriptObject("__torch__.t", "Add", state))
                .toBytes();
    }

    private static Map<String, Object> addState() {
        Map<String, Object> state = new LinkedHashMap<>();
        state.put("training", false);
        state.put("w", TensorData.ofFloats(new float[] {10, 20, 30, 40, 50, 60}, 2, 3));
        state.put("k", 3);
        return state;
    }

    @Test
    void libtorchLoadsAJavaWrittenModuleWithTensorAndIntAttributes() throws Exception {
        PtSymbolBlock block = TorchScriptArchive.load(addArchive(addState(), ADD_SOURCE), manager);
        NDArray x = manager.create(new float[] {1, 2, 3, 4, 5, 6}, new Shape(2, 3));
        NDList out = block.forward(null, new NDList(x), false);
        // 3 * x + w
        assertArrayEquals(
                new float[] {13, 26, 39, 52, 65, 78}, out.singletonOrThrow().toFloatArray());
    }

    @Test
    void archiveHasTheTorchScriptLayoutAndIsDeterministic() throws IOException {
        byte[] zip = addArchive(addState(), ADD_SOURCE);
        assertArrayEquals(zip, addArchive(addState(), ADD_SOURCE));
        List<String> names = new ArrayList<>();
        try (ZipInputStream in = new ZipInputStream(new ByteArrayInputStream(zip))) {
            for (ZipEntry e = in.getNextEntry(); e != null; e = in.getNextEntry()) {
                names.add(e.getName());
                assertEquals(ZipEntry.STORED, e.getMethod());
                if (e.getName().equals("add/data/0")) {
                    assertEquals(24, in.readAllBytes().length); // 6 float32
                } else if (e.getName().equals("add/version")) {
                    assertEquals("10\n", new String(in.readAllBytes(), "US-ASCII"));
                }
            }
        }
        assertEquals(
                List.of(
                        "add/data.pkl",
                        "add/code/__torch__/t.py",
                        "add/data/0",
                        "add/constants.pkl",
                        "add/version",
                        "add/byteorder"),
                names);
    }

    @Test
    void truncatedArchivesAreRefusedWithTheCheckedException() {
        byte[] zip = addArchive(addState(), ADD_SOURCE);
        for (int length : new int[] {0, 10, zip.length / 2, zip.length - 30}) {
            QuantizationException e =
                    assertThrows(
                            QuantizationException.class,
                            () -> TorchScriptArchive.load(Arrays.copyOf(zip, length), manager));
            assertTrue(e.getMessage().startsWith("libtorch refused"), e.getMessage());
        }
    }

    @Test
    void corruptedRecordIsRefusedWithTheCheckedException() {
        byte[] zip = addArchive(addState(), ADD_SOURCE);
        for (int i = 200; i < 260; i++) {
            zip[i] ^= 0x55;
        }
        assertThrows(QuantizationException.class, () -> TorchScriptArchive.load(zip, manager));
    }

    @Test
    void libtorchDoesNotTypeCheckStateAtLoadOnlyAtFirstUse() throws Exception {
        // a finding, kept as a test: a str in an attribute declared int loads without complaint
        // and fails (as an exception, not a crash) when the attribute is used
        Map<String, Object> state = addState();
        state.put("k", "three");
        PtSymbolBlock block = TorchScriptArchive.load(addArchive(state, ADD_SOURCE), manager);
        NDArray x = manager.create(new float[] {1, 2, 3, 4, 5, 6}, new Shape(2, 3));
        assertThrows(EngineException.class, () -> block.forward(null, new NDList(x), false));
    }

    @Test
    void sourceThatDoesNotCompileIsRefusedWithTheCheckedException() {
        String broken = ADD_SOURCE.replace("torch.add(", "torch.no_such_op(");
        QuantizationException e =
                assertThrows(
                        QuantizationException.class,
                        () -> TorchScriptArchive.load(addArchive(addState(), broken), manager));
        assertTrue(e.getMessage().contains("no_such_op"), e.getMessage());
    }

    @Test
    void rootOutsideTheAddedCodeIsRefused() {
        TorchScriptArchive.Builder builder =
                TorchScriptArchive.builder("a")
                        .addCode("t", ADD_SOURCE)
                        .setRoot(new Pickler.ScriptObject("__torch__.other", "Add", Map.of()));
        IllegalStateException e = assertThrows(IllegalStateException.class, builder::toBytes);
        assertEquals(
                "root class module was '__torch__.other', must be __torch__.<m> for an added"
                        + " module m, added are [t]",
                e.getMessage());
    }

    @Test
    void archiveNameMustBeAnIdentifier() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class, () -> TorchScriptArchive.builder("a/b"));
        assertEquals(
                "archive name was 'a/b', must be a Python identifier [A-Za-z_][A-Za-z0-9_]*",
                e.getMessage());
    }
}

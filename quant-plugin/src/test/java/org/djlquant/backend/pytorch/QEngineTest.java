package org.djlquant.backend.pytorch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.EnumSet;
import java.util.Set;
import org.djlquant.backend.pytorch.internal.NativeQEngine;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class QEngineTest {

    private static QEngine initial;

    @BeforeAll
    static void remember() {
        initial = QEngine.current();
    }

    @AfterAll
    static void restore() {
        QEngine.select(initial);
    }

    @Test
    void qnnpackIsAvailableOnEveryBuild() {
        assertTrue(QEngine.available().contains(QEngine.QNNPACK), QEngine.available()::toString);
    }

    @Test
    void x86BuildSupportsFbgemmAndDefaultsToX86() {
        assumeTrue(isX86(), "not an x86-64 JVM");
        assertEquals(EnumSet.allOf(QEngine.class), QEngine.available());
        assertTrue(QEngine.available().contains(initial));
    }

    @Test
    void x86BuildListsNoEngineBesideTheFourKernelLibraries() {
        assumeTrue(isX86(), "not an x86-64 JVM");
        // a server build of at::Context::supportedQEngines() also lists NoQEngine (0), which the
        // public enum does not expose
        assertEquals(
                java.util.Set.of(0, 1, 2, 3, 4),
                new java.util.HashSet<>(NativeQEngine.get().supported()));
    }

    @Test
    void currentReadsBackEverySelectedEngine() {
        for (QEngine engine : QEngine.available()) {
            QEngine.select(engine);
            assertEquals(engine, QEngine.current());
        }
    }

    @Test
    void unavailableEngineIsRefusedWithTheAvailableOnes() {
        Set<QEngine> missing = EnumSet.complementOf(EnumSet.copyOf(QEngine.available()));
        assumeFalse(missing.isEmpty(), "this build supports every engine");
        QEngine engine = missing.iterator().next();
        QEngineUnavailableException e =
                assertThrows(QEngineUnavailableException.class, () -> QEngine.select(engine));
        assertEquals(engine, e.getRequested());
        assertEquals(QEngine.available(), e.getAvailable());
    }

    @Test
    void unavailableEngineMessageNamesRequestedAndAvailable() {
        QEngineUnavailableException e =
                new QEngineUnavailableException(QEngine.FBGEMM, EnumSet.of(QEngine.QNNPACK));
        assertEquals(
                "quantized engine was FBGEMM, this libtorch build supports [QNNPACK]",
                e.getMessage());
    }

    @Test
    void nativeSetterRefusesValuesTheBuildDoesNotListWithoutCallingLibtorch() {
        QEngine before = QEngine.current();
        // 5 is c10::QEngine::QXPU (not in a CPU build), 200 is nothing: libtorch would throw a
        // C++ exception for each, which must never reach JNA.
        for (int value : new int[] {5, 200}) {
            assertFalse(NativeQEngine.get().supported().contains(value));
            assertThrows(IllegalArgumentException.class, () -> NativeQEngine.get().set(value));
        }
        assertEquals(before, QEngine.current());
    }

    @Test
    void unknownNameIsRefusedWithTheKnownNames() {
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> QEngine.fromName("mkldnn"));
        assertEquals(
                "quantized engine name was 'mkldnn', must be one of [fbgemm, qnnpack, onednn, x86]",
                e.getMessage());
        assertEquals(QEngine.FBGEMM, QEngine.fromName("fbgemm"));
        assertEquals(QEngine.X86, QEngine.fromName("X86"));
    }

    @Test
    void nullEngineIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> QEngine.select(null));
    }

    private static boolean isX86() {
        String arch = System.getProperty("os.arch");
        return "amd64".equals(arch) || "x86_64".equals(arch);
    }
}

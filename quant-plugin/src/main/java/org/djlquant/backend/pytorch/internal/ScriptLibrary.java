package org.djlquant.backend.pytorch.internal;

import ai.djl.engine.Engine;
import ai.djl.engine.EngineException;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValue;
import ai.djl.pytorch.jni.IValueUtils;
import java.util.LinkedHashMap;
import java.util.Map;
import org.djlquant.QuantizationException;

/**
 * A TorchScript module of stateless methods written from Java source, loaded once and kept for the
 * life of the process: what {@link OpLibrary} and {@link WeightOnlyOps} each hold. The module and
 * the manager it lives in are never closed (the owning class keeps one instance per process). Its
 * methods may run concurrently.
 */
final class ScriptLibrary {

    private final PtNDManager manager;
    private final PtSymbolBlock module;

    private ScriptLibrary(PtNDManager manager, PtSymbolBlock module) {
        this.manager = manager;
        this.module = module;
    }

    /**
     * Writes the archive of a module with no parameters.
     *
     * @param archiveName the archive's top folder name
     * @param modulePath the module path below {@code __torch__}
     * @param className the module's class name
     * @param source the module's TorchScript source
     * @return the zip bytes, equal for equal arguments
     */
    /**
     * The opening of an op-library class in serialized-code dialect: no parameters or buffers, the
     * {@code training} flag, and an identity {@code forward(x)} (libtorch loads a module only with
     * a forward). The methods follow it.
     *
     * @param className the class name
     * @param self the qualified type of {@code self}, {@code __torch__.<module>.<className>}
     * @return the source lines, each ending in a newline
     */
    static String moduleHeader(String className, String self) {
        return "class "
                + className
                + "(Module):\n"
                + "  __parameters__ = []\n"
                + "  __buffers__ = []\n"
                + "  training : bool\n"
                + "  def forward(self: "
                + self
                + ",\n"
                + "    x: Tensor) -> Tensor:\n"
                + "    return x\n";
    }

    static byte[] archive(String archiveName, String modulePath, String className, String source) {
        Map<String, Object> state = new LinkedHashMap<>();
        state.put("training", false);
        return TorchScriptArchive.builder(archiveName)
                .addCode(modulePath, source)
                .setRoot(new Pickler.ScriptObject("__torch__." + modulePath, className, state))
                .toBytes();
    }

    /**
     * Loads an archive into a manager of its own; the manager is closed if libtorch refuses it.
     *
     * @param archive the zip bytes
     * @return the loaded library
     * @throws QuantizationException if libtorch refuses the module
     */
    static ScriptLibrary load(byte[] archive) throws QuantizationException {
        PtNDManager manager = (PtNDManager) Engine.getEngine("PyTorch").newBaseManager();
        try {
            return new ScriptLibrary(manager, TorchScriptArchive.load(archive, manager));
        } catch (QuantizationException | RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    /**
     * Runs one method.
     *
     * @param method the method name
     * @param args the arguments; the caller keeps ownership
     * @return the result; the caller closes it
     * @throws IllegalStateException if libtorch fails (the message is libtorch's)
     */
    IValue run(String method, IValue... args) {
        try {
            return IValueUtils.runMethod(module, method, args);
        } catch (EngineException e) {
            throw new IllegalStateException(
                    "libtorch failed in " + method + ": " + e.getMessage(), e);
        }
    }

    @Override
    public String toString() {
        return "ScriptLibrary(" + manager.getName() + ")";
    }
}

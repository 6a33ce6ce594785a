package org.djlquant.backend.pytorch.internal;

import ai.djl.engine.EngineException;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.JniUtils;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.LocalDateTime;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.djlquant.QuantizationException;

/**
 * Writes a TorchScript module archive ({@code .pt}) that libtorch's {@code torch::jit::load}
 * compiles and loads, so DJL can load it as a PyTorch model.
 *
 * <p>Layout (every record under one top-level folder, the archive name; all entries STORED unless
 * {@link Builder#optCompressTensors} asks for DEFLATE on the tensor records, with a fixed timestamp
 * so equal input gives equal bytes):
 *
 * <pre>
 * name/data.pkl                      pickle (protocol 2) of the root module object
 * name/code/__torch__/pkg.py         TorchScript source of module {@code __torch__.pkg}
 * name/data/0, name/data/1, ...      raw little-endian storages of the tensors in data.pkl
 * name/constants.pkl                 pickle of the constants tuple: always {@code ()}
 * name/version                       file-format version, {@value #FILE_FORMAT_VERSION}
 * name/byteorder                     "little"
 * name/extra/file                    optional extra files, ignored by libtorch
 * </pre>
 *
 * <p>The root object is a {@link Pickler.ScriptObject} of a class defined in one of the code files,
 * whose state is a dict from attribute name to value: libtorch resolves the class by its qualified
 * name ({@code __torch__.pkg.Class} is looked up in {@code code/__torch__/pkg.py}), compiles the
 * source and sets each attribute. libtorch does <em>not</em> check the values against the attribute
 * types the class declares (a {@code str} in an {@code int} attribute loads and fails at first
 * use), so whoever writes the code and the state keeps them consistent. The source uses the
 * serialized-code dialect that {@code torch.jit.save} writes ({@code class C(Module):} with {@code
 * __parameters__}, {@code __buffers__} and typed attribute declarations, fully-qualified types such
 * as {@code __torch__.torch.classes.quantized.LinearPackedParamsBase}, and {@code ops.quantized.*}
 * for quantized operators).
 *
 * <p>Records are not padded to 64-byte alignment as PyTorch's writer does; libtorch's reader copies
 * records out of the zip, so alignment only matters for memory-mapped loading.
 *
 * <p>Not thread-safe; a builder writes one archive.
 */
public final class TorchScriptArchive {

    /**
     * The file-format version written. libtorch 2.7.1 reads versions up to 10; a version below the
     * one an operator was last changed in makes libtorch apply that operator's upgrader, so the
     * newest version is written.
     */
    public static final int FILE_FORMAT_VERSION = 10;

    /** Tensor records shorter than this stay STORED even when compression is asked for. */
    static final int MIN_DEFLATED = 1024;

    private static final Pattern NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");
    private static final LocalDateTime FIXED_TIME = LocalDateTime.of(1980, 1, 2, 0, 0);

    private TorchScriptArchive() {}

    /**
     * Starts an archive.
     *
     * @param archiveName the top-level folder of the zip, a Python identifier
     * @return a builder
     */
    public static Builder builder(String archiveName) {
        return new Builder(archiveName);
    }

    /** Collects the parts of an archive; {@link #toBytes()} validates and writes them. */
    public static final class Builder {
        private final String archiveName;
        private final Map<String, String> code = new LinkedHashMap<>();
        private final Map<String, byte[]> extras = new LinkedHashMap<>();
        private Pickler.ScriptObject root;
        private boolean compressTensors;

        private Builder(String archiveName) {
            checkName("archive name", archiveName);
            this.archiveName = archiveName;
        }

        /**
         * Adds the source of TorchScript module {@code __torch__.<module>}.
         *
         * @param module the module path below {@code __torch__}, dot-separated identifiers
         * @param source the source in the serialized-code dialect
         * @return this builder
         */
        public Builder addCode(String module, String source) {
            for (String part : module.split("\\.", -1)) {
                checkName("module", part);
            }
            Objects.requireNonNull(source, "source");
            if (code.putIfAbsent(module, source) != null) {
                throw new IllegalArgumentException("module was '" + module + "', added twice");
            }
            return this;
        }

        /**
         * Adds an extra file, stored as {@code <name>/extra/<fileName>}: libtorch loads the module
         * without reading it ({@code torch.jit.save}'s {@code _extra_files}), other tools read it
         * from the zip without loading the model.
         *
         * @param fileName a file name: letters, digits, '.', '_' or '-'
         * @param content the bytes
         * @return this builder
         */
        public Builder addExtra(String fileName, byte[] content) {
            if (fileName == null || !fileName.matches("[A-Za-z0-9._-]+")) {
                throw new IllegalArgumentException(
                        "extra file name was '" + fileName + "', must match [A-Za-z0-9._-]+");
            }
            Objects.requireNonNull(content, "content");
            if (extras.putIfAbsent(fileName, content.clone()) != null) {
                throw new IllegalArgumentException(
                        "extra file name was '" + fileName + "', added twice");
            }
            return this;
        }

        /**
         * Sets the root module object.
         *
         * @param root an object of a class defined in one of the added code modules
         * @return this builder
         */
        public Builder setRoot(Pickler.ScriptObject root) {
            this.root = Objects.requireNonNull(root, "root");
            return this;
        }

        /**
         * Sets whether the tensor records ({@code data/<n>}) of at least 1 KiB are
         * DEFLATE-compressed (best compression); libtorch's reader inflates them while loading.
         * Default: false (STORED).
         *
         * @param compress true to compress the tensor records
         * @return this builder
         */
        public Builder optCompressTensors(boolean compress) {
            this.compressTensors = compress;
            return this;
        }

        /**
         * Writes the archive.
         *
         * @return the zip bytes
         * @throws IllegalStateException if no root or no code was given, or the root's class is not
         *     in an added module
         */
        public byte[] toBytes() {
            if (root == null) {
                throw new IllegalStateException("archive '" + archiveName + "' has no root object");
            }
            String prefix = "__torch__.";
            if (!root.module().startsWith(prefix)
                    || !code.containsKey(root.module().substring(prefix.length()))) {
                throw new IllegalStateException(
                        "root class module was '"
                                + root.module()
                                + "', must be __torch__.<m> for an added module m, added are "
                                + code.keySet());
            }
            Pickler.Result data = Pickler.pickle(root);
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
                put(zip, "data.pkl", data.bytes());
                for (Map.Entry<String, String> e : code.entrySet()) {
                    String path = "code/__torch__/" + e.getKey().replace('.', '/') + ".py";
                    put(zip, path, e.getValue().getBytes(StandardCharsets.UTF_8));
                }
                List<TensorData> storages = data.storages();
                for (int i = 0; i < storages.size(); i++) {
                    if (compressTensors && storages.get(i).data().length >= MIN_DEFLATED) {
                        putDeflated(zip, "data/" + i, storages.get(i).data());
                    } else {
                        put(zip, "data/" + i, storages.get(i).data());
                    }
                }
                put(zip, "constants.pkl", Pickler.pickle(Pickler.Tuple.of()).bytes());
                put(
                        zip,
                        "version",
                        (FILE_FORMAT_VERSION + "\n").getBytes(StandardCharsets.US_ASCII));
                put(zip, "byteorder", "little".getBytes(StandardCharsets.US_ASCII));
                for (Map.Entry<String, byte[]> e : extras.entrySet()) {
                    put(zip, "extra/" + e.getKey(), e.getValue());
                }
            } catch (IOException e) {
                // a ByteArrayOutputStream does not fail
                throw new UncheckedIOException(e);
            }
            return bytes.toByteArray();
        }

        private void put(ZipOutputStream zip, String path, byte[] content) throws IOException {
            ZipEntry entry = new ZipEntry(archiveName + "/" + path);
            entry.setMethod(ZipEntry.STORED);
            entry.setSize(content.length);
            entry.setCompressedSize(content.length);
            CRC32 crc = new CRC32();
            crc.update(content);
            entry.setCrc(crc.getValue());
            entry.setTimeLocal(FIXED_TIME);
            zip.putNextEntry(entry);
            zip.write(content);
            zip.closeEntry();
        }

        private void putDeflated(ZipOutputStream zip, String path, byte[] content)
                throws IOException {
            ZipEntry entry = new ZipEntry(archiveName + "/" + path);
            entry.setMethod(ZipEntry.DEFLATED);
            entry.setTimeLocal(FIXED_TIME);
            zip.setLevel(Deflater.BEST_COMPRESSION);
            zip.putNextEntry(entry);
            zip.write(content);
            zip.closeEntry();
        }
    }

    /**
     * Loads an archive into libtorch through DJL. libtorch compiles the code it contains.
     *
     * @param archive the zip bytes
     * @param manager the manager the module is attached to; closing it closes the module
     * @return the loaded module
     * @throws QuantizationException if libtorch refuses the archive (not a zip, truncated, a record
     *     corrupted, source that does not compile, state that does not fit the class)
     */
    public static PtSymbolBlock load(byte[] archive, PtNDManager manager)
            throws QuantizationException {
        try {
            return JniUtils.loadModule(manager, new ByteArrayInputStream(archive), false, false);
        } catch (EngineException e) {
            throw new QuantizationException(
                    "libtorch refused the TorchScript archive ("
                            + archive.length
                            + " bytes): "
                            + e.getMessage(),
                    e);
        } catch (IOException e) {
            throw new QuantizationException("cannot read the TorchScript archive", e);
        }
    }

    private static void checkName(String what, String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException(
                    what
                            + " was '"
                            + name
                            + "', must be a Python identifier [A-Za-z_][A-Za-z0-9_]*");
        }
    }
}

package org.djlquant.backend.pytorch;

import ai.djl.repository.Artifact;
import ai.djl.repository.Repository;
import ai.djl.repository.RepositoryFactory;
import ai.djl.repository.SimpleRepository;
import ai.djl.util.Progress;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.djlquant.QuantizationException;

/**
 * Lets DJL's {@code Criteria} check exported models before libtorch reads them: a {@link
 * RepositoryFactory} for the URL scheme {@value #SCHEME}, registered through {@code
 * META-INF/services/ai.djl.repository.RepositoryFactory} (DJL finds it with {@code ServiceLoader}
 * when this library is on the classpath). A {@code djlq:} URL names a model folder written by
 * {@link TorchScriptExporter}; it behaves as DJL's own {@code file:} folder, except that when DJL
 * prepares the artifact, every {@code .pt} archive in the folder is read in Java ({@link
 * QuantizedArtifacts#readManifest}) and checked against the running libtorch and quantized engine
 * ({@link QuantizedArtifacts#checkCompatible}) first.
 *
 * <pre>{@code
 * Criteria<Image, Classifications> criteria = Criteria.builder()
 *         .setTypes(Image.class, Classifications.class)
 *         .optModelUrls(QuantizedRepositoryFactory.url(dir))   // "djlq:/path/to/dir"
 *         .optModelName("fashion-mlp")
 *         .optEngine("PyTorch")
 *         .optTranslator(appTranslator)
 *         .build();
 * }</pre>
 *
 * <p>A folder that fails the check makes {@code Criteria.loadModel()} throw an {@link IOException}
 * whose message says what differs and whose cause is the {@link CorruptArtifactException} or {@link
 * IncompatibleArtifactException}. URL query parameters ({@code ?model_name=...}) are passed on as
 * for {@code file:} folders. Plain {@code optModelPath(dir)} still loads an exported folder,
 * without the check.
 *
 * <p>Stateless and thread-safe; DJL creates one instance.
 */
public final class QuantizedRepositoryFactory implements RepositoryFactory {

    /** The URL scheme this factory serves. */
    public static final String SCHEME = "djlq";

    /** Creates the factory (called by {@code ServiceLoader}). */
    public QuantizedRepositoryFactory() {}

    /**
     * Returns the {@code djlq:} URL of a model folder.
     *
     * @param dir the folder written by {@link TorchScriptExporter#export(Path, String)}
     * @return the URL, e.g. {@code djlq:/tmp/models/fashion}
     */
    public static String url(Path dir) {
        return SCHEME + ":" + dir.toAbsolutePath().normalize().toUri().getRawPath();
    }

    /**
     * Creates the repository of a {@code djlq:} URL.
     *
     * @param name the repository name
     * @param uri the URL
     * @return the repository
     * @throws IllegalArgumentException if the URL has another scheme, no path, or does not name an
     *     existing folder
     */
    @Override
    public Repository newInstance(String name, URI uri) {
        if (!SCHEME.equalsIgnoreCase(uri.getScheme())) {
            throw new IllegalArgumentException(
                    "URL scheme was " + uri.getScheme() + ", must be " + SCHEME);
        }
        String path = uri.getPath();
        if (path == null || path.isEmpty()) {
            throw new IllegalArgumentException(
                    "URL was "
                            + uri
                            + ", must name a model folder, e.g. "
                            + SCHEME
                            + ":/path/to/dir");
        }
        Path dir = Path.of(path);
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException(
                    "URL " + uri + " names " + dir + ", which is not a folder");
        }
        return new CheckedRepository(name, uri, dir);
    }

    /**
     * Returns the schemes served.
     *
     * @return {@code {"djlq"}}
     */
    @Override
    public Set<String> getSupportedScheme() {
        return Set.of(SCHEME);
    }

    /**
     * Checks every {@code .pt} archive of a folder.
     *
     * @param dir the folder
     * @throws CorruptArtifactException if the folder has no archive or an archive is damaged
     * @throws IncompatibleArtifactException if an archive does not fit the running environment
     */
    static void checkFolder(Path dir) throws QuantizationException {
        List<Path> archives;
        try (Stream<Path> s = Files.list(dir)) {
            archives = s.filter(p -> p.getFileName().toString().endsWith(".pt")).sorted().toList();
        } catch (IOException e) {
            throw new CorruptArtifactException("cannot list " + dir + ": " + e.getMessage(), e);
        }
        if (archives.isEmpty()) {
            throw new CorruptArtifactException(
                    dir + " holds no .pt archive; export one with TorchScriptExporter", null);
        }
        for (Path file : archives) {
            QuantizedArtifacts.checkCompatible(QuantizedArtifacts.readManifest(file));
        }
    }

    /** DJL's folder repository with the manifest check in {@code prepare}. */
    private static final class CheckedRepository extends SimpleRepository {

        private final Path dir;

        CheckedRepository(String name, URI uri, Path dir) {
            super(name, uri, dir);
            this.dir = dir;
        }

        @Override
        public void prepare(Artifact artifact, Progress progress) throws IOException {
            try {
                checkFolder(dir);
            } catch (QuantizationException e) {
                throw new IOException(e.getMessage(), e);
            }
            super.prepare(artifact, progress);
        }
    }
}

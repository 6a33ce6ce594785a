package org.djlquant.examples.notebook;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import org.djlquant.QuantizationException;

/**
 * Copies files shipped inside jars (for example {@code all-minilm-l6-v2.onnx} from the langchain4j
 * jar) into a folder, so DJL and the importer can open them as files. Resources are looked up with
 * the class loader that loaded this class, which in a notebook kernel is the one that received the
 * {@code %maven}/{@code %jars} jars. Stateless and thread-safe.
 */
public final class ClasspathFiles {

    private ClasspathFiles() {}

    /**
     * Copies a resource at the classpath root into a folder (replacing a file of that name).
     *
     * @param resource the resource name, e.g. {@code all-minilm-l6-v2.onnx}
     * @param dir the target folder (created if needed)
     * @return the file written
     * @throws QuantizationException if the resource is not on the classpath or cannot be copied
     */
    public static Path extract(String resource, Path dir) throws QuantizationException {
        ClassLoader loader = ClasspathFiles.class.getClassLoader();
        try (InputStream in = loader.getResourceAsStream(resource)) {
            if (in == null) {
                throw new QuantizationException(
                        resource
                                + " is not on the classpath; add the jar that holds it (see the"
                                + " first cell of the notebook)");
            }
            Files.createDirectories(dir);
            Path file = dir.resolve(resource);
            Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
            return file;
        } catch (IOException e) {
            throw new QuantizationException("cannot copy " + resource + " into " + dir, e);
        }
    }
}

package org.djlquant.backend.pytorch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.repository.Repository;
import ai.djl.repository.RepositoryFactory;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ServiceLoader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code djlq:} URL scheme: registration through {@code ServiceLoader}, URL form, refusals.
 * Loading a real exported model through it is tested in the examples ({@code DropInDemoTest}).
 */
class QuantizedRepositoryFactoryTest {

    @Test
    void factoryIsRegisteredForDjlsServiceLoader() {
        boolean found = false;
        for (RepositoryFactory f : ServiceLoader.load(RepositoryFactory.class)) {
            found |= f instanceof QuantizedRepositoryFactory;
        }
        assertTrue(found, "META-INF/services/ai.djl.repository.RepositoryFactory");
    }

    @Test
    void djlRoutesTheDjlqSchemeToTheFactory(@TempDir Path dir) {
        Repository repo = Repository.newInstance("m", QuantizedRepositoryFactory.url(dir));
        assertEquals("m", repo.getName());
        assertTrue(
                repo.getClass().getName().startsWith(QuantizedRepositoryFactory.class.getName()),
                repo.getClass().getName());
    }

    @Test
    void urlIsTheSchemeAndTheAbsoluteFolderPath(@TempDir Path dir) {
        String url = QuantizedRepositoryFactory.url(dir);
        assertTrue(url.startsWith("djlq:/"), url);
        assertEquals(dir.toAbsolutePath().normalize(), Path.of(URI.create(url).getPath()));
    }

    @Test
    void urlThatIsNotAFolderIsRefusedNamingIt(@TempDir Path dir) {
        QuantizedRepositoryFactory f = new QuantizedRepositoryFactory();
        Path missing = dir.resolve("nope");
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> f.newInstance("m", URI.create("djlq:" + missing.toUri().getPath())));
        assertTrue(e.getMessage().contains("nope"), e.getMessage());
        IllegalArgumentException scheme =
                assertThrows(IllegalArgumentException.class, () -> f.newInstance("m", dir.toUri()));
        assertTrue(scheme.getMessage().contains("file"), scheme.getMessage());
    }

    @Test
    void folderWithoutArchiveOrWithDamagedArchiveFailsTheCheck(@TempDir Path dir)
            throws IOException {
        CorruptArtifactException empty =
                assertThrows(
                        CorruptArtifactException.class,
                        () -> QuantizedRepositoryFactory.checkFolder(dir));
        assertTrue(empty.getMessage().contains("no .pt"), empty.getMessage());
        Files.write(dir.resolve("m.pt"), new byte[] {'P', 'K', 3, 4, 0, 0});
        CorruptArtifactException damaged =
                assertThrows(
                        CorruptArtifactException.class,
                        () -> QuantizedRepositoryFactory.checkFolder(dir));
        assertTrue(damaged.getMessage().contains("m.pt"), damaged.getMessage());
    }
}

package org.djlquant.examples.notebook;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.jar.JarFile;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import jdk.jshell.JShell;

/**
 * The line magics of {@link DjlqKernel}. The kernel resolves nothing from a Maven repository: its
 * classpath is the one {@code scripts/install-kernel.sh} wrote into the kernelspec.
 *
 * <ul>
 *   <li>{@code %maven g:a:v ...} (and JJava's older {@code %addMavenDependency}) checks that each
 *       artifact is already on the kernel's classpath in that version, and is then a no-op; an
 *       artifact that is absent, or present in another version, fails the cell and says what to do.
 *       An artifact counts as present when it is the kernel's own ({@code org.djlquant:examples},
 *       from {@code kernel.properties}) or when a jar on the classpath or added by {@code %jars}
 *       holds its {@code META-INF/maven/g/a/pom.properties}.
 *   <li>{@code %jars path ...} (and {@code %classpath}) adds jar files or class folders to the
 *       session's JShell classpath; a path may end in a glob ({@code lib/*.jar}); relative paths
 *       resolve against the kernel's working directory (the notebook's folder under Jupyter); a
 *       path that matches nothing fails the cell.
 *   <li>{@code %mavenRepo} is accepted and does nothing (no repository is ever contacted).
 * </ul>
 *
 * <p>Any other magic fails the cell with the list of supported ones. Not thread-safe (used by one
 * kernel session).
 */
final class KernelMagics implements CellEvaluator.MagicHandler {

    static final Set<String> SUPPORTED =
            Set.of("maven", "addMavenDependency", "jars", "classpath", "mavenRepo");

    private final ClassLoader loader;
    private final String ownArtifact;
    private final List<Path> addedJars = new ArrayList<>();

    /**
     * Creates the handler.
     *
     * @param loader the loader whose classpath the kernel runs with
     * @param ownArtifact the kernel's own coordinates {@code group:artifact:version}
     */
    KernelMagics(ClassLoader loader, String ownArtifact) {
        this.loader = loader;
        this.ownArtifact = ownArtifact;
    }

    /**
     * Reads the kernel's own coordinates from the {@code kernel.properties} resource that the build
     * writes next to this class.
     *
     * @return {@code group:artifact:version}
     * @throws IllegalStateException if the resource is missing (the classes were not built by
     *     Maven)
     */
    static String ownArtifact() {
        try (InputStream in = KernelMagics.class.getResourceAsStream("kernel.properties")) {
            if (in == null) {
                throw new IllegalStateException(
                        "kernel.properties is missing next to "
                                + KernelMagics.class.getName()
                                + "; build the examples module with Maven");
            }
            Properties p = new Properties();
            p.load(in);
            return p.getProperty("artifact");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read kernel.properties", e);
        }
    }

    @Override
    public void apply(String name, String args, JShell shell) {
        switch (name) {
            case "maven", "addMavenDependency" -> {
                for (String coordinates : words(args, name)) {
                    requireProvided(coordinates);
                }
            }
            case "jars", "classpath" -> {
                for (String pattern : words(args.replace(File.pathSeparatorChar, ' '), name)) {
                    for (Path p : expand(pattern)) {
                        shell.addToClasspath(p.toString());
                        if (Files.isRegularFile(p)) {
                            addedJars.add(p);
                        }
                    }
                }
            }
            case "mavenRepo" -> {
                // nothing is downloaded, so a repository changes nothing
            }
            default ->
                    throw new IllegalArgumentException(
                            "magic %"
                                    + name
                                    + " is not supported by the djl-quant kernel; supported: "
                                    + SUPPORTED.stream().sorted().toList());
        }
    }

    private static List<String> words(String args, String magic) {
        List<String> out = Stream.of(args.strip().split("\\s+")).filter(s -> !s.isEmpty()).toList();
        if (out.isEmpty()) {
            throw new IllegalArgumentException("%" + magic + " was given nothing, needs arguments");
        }
        return out;
    }

    private void requireProvided(String coordinates) {
        String[] parts = coordinates.split(":");
        if (parts.length < 3) {
            throw new IllegalArgumentException(
                    "%maven coordinates were "
                            + coordinates
                            + ", must be group:artifact[:extension[:classifier]]:version");
        }
        String group = parts[0];
        String artifact = parts[1];
        String version = parts[parts.length - 1];
        Set<String> found = versionsOnClasspath(group, artifact);
        if (found.contains(version)) {
            return;
        }
        String where =
                found.isEmpty()
                        ? "is not on the kernel's classpath"
                        : "is on the kernel's classpath only in version " + found;
        throw new IllegalArgumentException(
                group
                        + ":"
                        + artifact
                        + ":"
                        + version
                        + " "
                        + where
                        + "; this kernel downloads nothing: add the jar with %jars <path>, or"
                        + " rebuild the kernel's classpath with scripts/install-kernel.sh");
    }

    private Set<String> versionsOnClasspath(String group, String artifact) {
        Set<String> versions = new LinkedHashSet<>();
        String[] own = ownArtifact.split(":");
        if (own[0].equals(group) && own[1].equals(artifact)) {
            versions.add(own[2]);
        }
        String resource = "META-INF/maven/" + group + "/" + artifact + "/pom.properties";
        try {
            Enumeration<URL> urls = loader.getResources(resource);
            while (urls.hasMoreElements()) {
                try (InputStream in = urls.nextElement().openStream()) {
                    versions.add(version(in));
                }
            }
            for (Path jar : addedJars) {
                try (JarFile j = new JarFile(jar.toFile())) {
                    ZipEntry e = j.getEntry(resource);
                    if (e != null) {
                        try (InputStream in = j.getInputStream(e)) {
                            versions.add(version(in));
                        }
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + resource + " from the classpath", e);
        }
        versions.remove(null);
        return versions;
    }

    private static String version(InputStream in) throws IOException {
        Properties p = new Properties();
        p.load(in);
        return p.getProperty("version");
    }

    private static List<Path> expand(String pattern) {
        Path path = Path.of(pattern).toAbsolutePath().normalize();
        String file = path.getFileName() == null ? "" : path.getFileName().toString();
        if (!file.contains("*") && !file.contains("?")) {
            if (!Files.exists(path)) {
                throw new IllegalArgumentException(
                        "%jars path " + pattern + " does not exist (resolved to " + path + ")");
            }
            return List.of(path);
        }
        Path dir = path.getParent();
        PathMatcher matcher = dir.getFileSystem().getPathMatcher("glob:" + file);
        List<Path> matches;
        try (Stream<Path> s = Files.list(dir)) {
            matches = s.filter(p -> matcher.matches(p.getFileName())).sorted().toList();
        } catch (IOException e) {
            throw new IllegalArgumentException(
                    "%jars pattern " + pattern + ": cannot list " + dir + ": " + e.getMessage(), e);
        }
        if (matches.isEmpty()) {
            throw new IllegalArgumentException(
                    "%jars pattern " + pattern + " matches no file in " + dir);
        }
        return matches;
    }
}

package org.djlquant.examples.notebook;

import java.awt.image.BufferedImage;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import jdk.jshell.SourceCodeAnalysis;
import org.dflib.jjava.jupyter.channels.JupyterConnection;
import org.dflib.jjava.jupyter.kernel.BaseKernel;
import org.dflib.jjava.jupyter.kernel.BaseKernelBuilder;
import org.dflib.jjava.jupyter.kernel.HelpLink;
import org.dflib.jjava.jupyter.kernel.JupyterIO;
import org.dflib.jjava.jupyter.kernel.KernelConnectionProperties;
import org.dflib.jjava.jupyter.kernel.LanguageInfo;
import org.dflib.jjava.jupyter.kernel.ReplacementOptions;
import org.dflib.jjava.jupyter.kernel.comm.CommManager;
import org.dflib.jjava.jupyter.kernel.display.DisplayData;
import org.dflib.jjava.jupyter.kernel.display.Renderer;
import org.dflib.jjava.jupyter.kernel.display.mime.MIMEType;
import org.dflib.jjava.jupyter.kernel.util.StringStyler;

/**
 * The project's Jupyter kernel: Java cells evaluated in JShell by the same {@link CellEvaluator}
 * that {@link NotebookRunner} uses, on the Jupyter messaging protocol of {@code
 * org.dflib.jjava:jjava-jupyter} (JJava's protocol library from Maven Central). The cells compile
 * against and load from the kernel JVM's own classpath ({@code -cp} in the kernelspec that {@code
 * scripts/install-kernel.sh} writes: the examples module and its dependencies), so {@code %maven}
 * only checks that an artifact is there and {@code %jars} adds jars ({@link KernelMagics}).
 *
 * <p>What a cell sends: standard output and error as {@code stream} messages; a cell ending with
 * {@link Show#png} as an {@code execute_result} with an {@code image/png} (base64) and a {@code
 * text/plain} entry; any other last expression's value as {@code text/plain} in JShell's rendering;
 * a failing cell as a Jupyter {@code error} (ename {@code SnippetFailedException}, the value naming
 * the line in the cell, its source and the compile error or exception). Completion and is-complete
 * requests are answered with JShell's source analysis; inspection finds nothing. Interrupts ({@code
 * interrupt_mode: message}) stop the running cell with {@code JShell.stop()}.
 *
 * <p>Lifecycle: {@link #main} creates one kernel per process, serves the connection file's sockets
 * until Jupyter asks for shutdown, closes the JShell and exits the JVM. Requests are handled one at
 * a time (the protocol library serialises execute requests).
 */
public final class DjlqKernel extends BaseKernel {

    /** The kernelspec name {@code scripts/install-kernel.sh} installs the kernel under. */
    public static final String KERNEL_NAME = "djl-quant";

    private static final String SIMPLE_LOGGER_LEVEL = "org.slf4j.simpleLogger.defaultLogLevel";

    private final CellEvaluator evaluator;

    private DjlqKernel(
            String name,
            String version,
            JupyterIO io,
            CommManager comms,
            Renderer renderer,
            StringStyler errorStyler,
            List<String> classpath) {
        super(
                name,
                version,
                new LanguageInfo(
                        "java",
                        String.valueOf(Runtime.version().feature()),
                        "text/x-java-source",
                        ".jshell",
                        "java",
                        "text/x-java",
                        null),
                List.of(new HelpLink("djl-quant notebooks", "examples/notebooks")),
                null,
                io,
                comms,
                renderer,
                null,
                null,
                false,
                errorStyler);
        String own = KernelMagics.ownArtifact();
        this.evaluator =
                new CellEvaluator(
                        classpath, new KernelMagics(DjlqKernel.class.getClassLoader(), own));
    }

    /**
     * Creates a kernel whose cells compile against a classpath (normally this JVM's {@code
     * java.class.path}).
     *
     * @param classpath jar files and class folders
     * @return the kernel, not yet connected
     * @throws IllegalArgumentException if the classpath is empty
     */
    static DjlqKernel create(List<String> classpath) {
        if (classpath.isEmpty() || classpath.stream().allMatch(String::isBlank)) {
            throw new IllegalArgumentException(
                    "classpath was empty, must name the jars the notebooks compile against");
        }
        return new Builder().name(KERNEL_NAME).version(KernelMagics.ownArtifact()).build(classpath);
    }

    /**
     * Evaluates a cell (called by the protocol library for each {@code execute_request}).
     *
     * @param source the cell's source
     * @return the MIME bundle of the cell's value, or {@code null} if it has none
     * @throws SnippetFailedException if the cell fails; the protocol library publishes it as the
     *     cell's {@code error}
     */
    @Override
    public DisplayData evalRaw(String source) {
        CellEvaluator.CellValue value;
        try {
            value = evaluator.eval(source);
        } finally {
            System.out.flush();
            System.err.flush();
        }
        BufferedImage image = value.image();
        if (image != null) {
            DisplayData data = new DisplayData(Show.describe(image));
            data.putData(MIMEType.IMAGE_PNG, Show.base64Png(image));
            return data;
        }
        return value.text() == null ? null : new DisplayData(value.text());
    }

    /**
     * Finds no documentation: inspection is not supported.
     *
     * @param code the cell
     * @param at the cursor
     * @param extraDetail whether more detail is asked for
     * @return {@code null}
     */
    @Override
    public DisplayData inspect(String code, int at, boolean extraDetail) {
        return null;
    }

    /**
     * Completes the identifier at the cursor with JShell's suggestions.
     *
     * @param code the cell
     * @param at the cursor offset
     * @return the suggestions and the range they replace
     */
    @Override
    public synchronized ReplacementOptions complete(String code, int at) {
        int[] anchor = new int[1];
        Set<String> options = new LinkedHashSet<>();
        for (SourceCodeAnalysis.Suggestion s : evaluator.suggestions(code, at, anchor)) {
            options.add(s.continuation());
        }
        return new ReplacementOptions(new ArrayList<>(options), anchor[0], at);
    }

    /**
     * Says whether a console input is complete, by JShell's source analysis of each snippet.
     *
     * @param code the input
     * @return {@link #IS_COMPLETE_YES}, {@link #IS_COMPLETE_BAD}, {@link #IS_COMPLETE_MAYBE} or an
     *     indent for the next line
     */
    @Override
    public synchronized String isComplete(String code) {
        if (code.strip().startsWith("%")) {
            return IS_COMPLETE_MAYBE;
        }
        return switch (evaluator.completeness(code)) {
            case COMPLETE, COMPLETE_WITH_SEMI, EMPTY -> IS_COMPLETE_YES;
            case DEFINITELY_INCOMPLETE, CONSIDERED_INCOMPLETE -> "    ";
            case UNKNOWN -> IS_COMPLETE_BAD;
        };
    }

    /** Stops the running cell ({@code interrupt_mode: message}). */
    @Override
    public void interrupt() {
        evaluator.stop();
    }

    /**
     * Closes the JShell session.
     *
     * @param isRestarting whether a restart follows
     */
    @Override
    public void onShutdown(boolean isRestarting) {
        super.onShutdown(isRestarting);
        evaluator.close();
    }

    /**
     * Formats a failed cell as its one-line explanation (line, source, compile error or exception,
     * without the kernel's own stack); any other error as the protocol library does.
     *
     * @param e the error
     * @return the traceback lines
     */
    @Override
    public List<String> formatError(Throwable e) {
        if (e instanceof SnippetFailedException) {
            return errorStyler.secondaryLines(e.getMessage());
        }
        return super.formatError(e);
    }

    /**
     * Runs the kernel: {@code DjlqKernel <connection-file>}, as a kernelspec's {@code argv} gives
     * it. Serves until Jupyter asks for shutdown, then exits the JVM (DJL's engine threads would
     * otherwise keep it alive). slf4j-simple starts at level {@code error} unless {@code
     * -Dorg.slf4j.simpleLogger.defaultLogLevel} is given: the protocol library initialises SLF4J
     * before the first cell, so a cell that sets that property has no effect any more.
     *
     * @param args the connection file
     * @throws IOException if the connection file cannot be read
     * @throws GeneralSecurityException if its signature scheme is not available
     */
    public static void main(String[] args) throws IOException, GeneralSecurityException {
        if (args.length != 1) {
            System.err.println("usage: DjlqKernel <connection-file>");
            System.exit(2);
        }
        // the protocol library logs through SLF4J before the first cell runs, so slf4j-simple is
        // configured by then and a cell's System.setProperty for it comes too late: start it at
        // the level the notebooks ask for (DJL's start-up INFO/WARN lines would be cell stderr)
        if (System.getProperty(SIMPLE_LOGGER_LEVEL) == null) {
            System.setProperty(SIMPLE_LOGGER_LEVEL, "error");
        }
        Path file = Path.of(args[0]);
        KernelConnectionProperties props =
                KernelConnectionProperties.parse(Files.readString(file, StandardCharsets.UTF_8));
        JupyterConnection connection = new JupyterConnection(props);
        DjlqKernel kernel =
                create(List.of(System.getProperty("java.class.path").split(File.pathSeparator)));
        kernel.onStartup();
        kernel.becomeHandlerForConnection(connection);
        connection.connect();
        connection.waitUntilClose();
        System.exit(0);
    }

    /** Supplies the protocol library's default parts (I/O, comms, renderer, error colours). */
    private static final class Builder extends BaseKernelBuilder<Builder, DjlqKernel> {
        @Override
        public DjlqKernel build() {
            throw new UnsupportedOperationException("use build(classpath)");
        }

        DjlqKernel build(List<String> classpath) {
            return new DjlqKernel(
                    buildName(),
                    buildVersion(),
                    buildJupyterIO(buildJupyterIOEncoding()),
                    buildCommManager(),
                    buildRenderer(),
                    buildErrorStyler(),
                    classpath);
        }
    }
}

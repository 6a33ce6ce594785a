package org.djlquant.cli;

import ai.djl.engine.Engine;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import org.djlquant.backend.pytorch.QuantizationManifest;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The {@code djlq} command line: {@code quantize}, {@code evaluate}, {@code sensitivity}, {@code
 * policy} and {@code inspect} (see the package documentation for each command's JSON schema).
 *
 * <p>Exit codes follow picocli: 0 success, 1 a failure while running (the typed exception's class
 * and message on stderr), 2 a usage error (an unknown option, a bad value, a missing file: the
 * message names the option, the value given and what is allowed). Results go to stdout (a table, or
 * one JSON object with {@code --json}); progress bars and errors go to stderr.
 */
@Command(
        name = "djlq",
        mixinStandardHelpOptions = true,
        versionProvider = Djlq.Version.class,
        description = "Quantize, evaluate and inspect DJL models (djl-quant).",
        subcommands = {
            QuantizeCommand.class,
            EvaluateCommand.class,
            SensitivityCommand.class,
            PolicyCommand.class,
            InspectCommand.class,
            CommandLine.HelpCommand.class
        })
public final class Djlq implements Runnable {

    static final Gson GSON =
            new GsonBuilder()
                    .setPrettyPrinting()
                    .disableHtmlEscaping()
                    .serializeNulls()
                    .serializeSpecialFloatingPointValues()
                    .create();

    @CommandLine.Spec private CommandLine.Model.CommandSpec spec;

    @Option(
            names = "--quiet",
            scope = CommandLine.ScopeType.INHERIT,
            description = "Draw no progress bars on stderr.")
    boolean quiet;

    private PrintStream out = System.out;
    private PrintStream err = System.err;

    /** Creates the top command (picocli instantiates it). */
    public Djlq() {}

    /**
     * Runs the command line and exits with its code.
     *
     * @param args the arguments
     */
    public static void main(String[] args) {
        System.exit(run(System.out, System.err, args));
    }

    /**
     * Runs the command line with the given streams.
     *
     * @param out where results go
     * @param err where progress and errors go
     * @param args the arguments
     * @return the exit code: 0 ok, 1 runtime failure, 2 usage error
     */
    public static int run(PrintStream out, PrintStream err, String... args) {
        Djlq top = new Djlq();
        top.out = out;
        top.err = err;
        CommandLine cl = new CommandLine(top);
        cl.setOut(
                new PrintWriter(new java.io.OutputStreamWriter(out, StandardCharsets.UTF_8), true));
        cl.setErr(
                new PrintWriter(new java.io.OutputStreamWriter(err, StandardCharsets.UTF_8), true));
        cl.setParameterExceptionHandler(
                (ex, a) -> {
                    CommandLine c = ex.getCommandLine();
                    err.println("djlq: " + ex.getMessage());
                    err.println(
                            "Try '" + c.getCommandSpec().qualifiedName() + " --help' for usage.");
                    err.flush();
                    return c.getCommandSpec().exitCodeOnInvalidInput();
                });
        cl.setExecutionExceptionHandler(
                (ex, c, parsed) -> {
                    err.println(
                            c.getCommandSpec().qualifiedName()
                                    + ": "
                                    + ex.getClass().getSimpleName()
                                    + ": "
                                    + ex.getMessage());
                    err.flush();
                    return c.getCommandSpec().exitCodeOnExecutionException();
                });
        int code = cl.execute(args);
        out.flush();
        err.flush();
        return code;
    }

    /** Without a subcommand: usage on stderr, usage error. */
    @Override
    public void run() {
        throw new CommandLine.ParameterException(
                spec.commandLine(),
                "a command is required: quantize, evaluate, sensitivity, policy or inspect");
    }

    PrintStream out() {
        return out;
    }

    PrintStream err() {
        return err;
    }

    /** Returns the progress stream, or null with --quiet. */
    PrintStream progress() {
        return quiet ? null : err;
    }

    /** Prints one JSON object on stdout. */
    void printJson(JsonElement json) {
        out.println(GSON.toJson(json));
        out.flush();
    }

    /** The version: djl-quant, DJL and libtorch. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {
                "djlq (djl-quant) " + QuantizationManifest.LIBRARY_VERSION,
                "DJL " + Engine.getDjlVersion()
            };
        }
    }
}

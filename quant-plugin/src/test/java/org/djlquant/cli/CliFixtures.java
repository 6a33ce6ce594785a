package org.djlquant.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.djlquant.io.onnx.TinyBertOnnx;

/**
 * A tiny BERT as ONNX (2 layers, hidden 8, vocabulary 40, the importer tests' graph), a
 * hand-written word-level tokenizer.json for it, and sentence files, in one folder per test class.
 */
final class CliFixtures {

    static final List<String> WORDS =
            List.of(
                    "the", "a", "film", "food", "service", "was", "is", "very", "not", "good",
                    "great", "bad", "awful", "and", "but", "i", "liked", "hated", "it", "place");

    private CliFixtures() {}

    /** Writes tiny.onnx, tokenizer.json, calib.txt, labelled.jsonl and images.idx into dir. */
    static void write(Path dir) throws Exception {
        Files.createDirectories(dir);
        Files.write(dir.resolve("tiny.onnx"), TinyBertOnnx.twoLayers());
        Files.writeString(dir.resolve("tokenizer.json"), tokenizerJson());
        Random r = new Random(9);
        List<String> calib = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            calib.add(sentence(r, i % 2 == 0 ? "good" : "bad"));
        }
        Files.write(dir.resolve("calib.txt"), calib);
        StringBuilder jsonl = new StringBuilder();
        for (int i = 0; i < 40; i++) {
            int label = i % 2;
            JsonObject o = new JsonObject();
            o.addProperty("text", sentence(r, label == 1 ? "great" : "awful"));
            o.addProperty("label", label);
            jsonl.append(o).append('\n');
        }
        Files.writeString(dir.resolve("labelled.jsonl"), jsonl.toString());
        // an IDX file: 2 images of 3x3 unsigned bytes
        byte[] idx = {0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 3};
        byte[] all = new byte[idx.length + 18];
        System.arraycopy(idx, 0, all, 0, idx.length);
        Files.write(dir.resolve("images.idx"), all);
    }

    private static String sentence(Random r, String key) {
        StringBuilder b = new StringBuilder();
        int n = 3 + r.nextInt(6);
        int at = r.nextInt(n);
        for (int i = 0; i < n; i++) {
            if (i > 0) {
                b.append(' ');
            }
            b.append(i == at ? key : WORDS.get(r.nextInt(WORDS.size())));
        }
        return b.toString();
    }

    /** A word-level tokenizer: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3, then WORDS. */
    static String tokenizerJson() {
        JsonObject vocab = new JsonObject();
        List<String> special = List.of("[PAD]", "[UNK]", "[CLS]", "[SEP]");
        JsonArray added = new JsonArray();
        for (int i = 0; i < special.size(); i++) {
            vocab.addProperty(special.get(i), i);
            JsonObject t = new JsonObject();
            t.addProperty("id", i);
            t.addProperty("content", special.get(i));
            t.addProperty("single_word", false);
            t.addProperty("lstrip", false);
            t.addProperty("rstrip", false);
            t.addProperty("normalized", false);
            t.addProperty("special", true);
            added.add(t);
        }
        for (int i = 0; i < WORDS.size(); i++) {
            vocab.addProperty(WORDS.get(i), 4 + i);
        }
        JsonObject model = new JsonObject();
        model.addProperty("type", "WordLevel");
        model.add("vocab", vocab);
        model.addProperty("unk_token", "[UNK]");
        JsonObject root = new JsonObject();
        root.addProperty("version", "1.0");
        root.add("truncation", null);
        root.add("padding", null);
        root.add("added_tokens", added);
        JsonObject lower = new JsonObject();
        lower.addProperty("type", "Lowercase");
        root.add("normalizer", lower);
        JsonObject ws = new JsonObject();
        ws.addProperty("type", "Whitespace");
        root.add("pre_tokenizer", ws);
        root.add("post_processor", template());
        root.add("decoder", null);
        root.add("model", model);
        return new com.google.gson.GsonBuilder().serializeNulls().create().toJson(root);
    }

    private static JsonObject template() {
        JsonObject p = new JsonObject();
        p.addProperty("type", "TemplateProcessing");
        JsonArray single = new JsonArray();
        single.add(special("[CLS]"));
        JsonObject seq = new JsonObject();
        JsonObject a = new JsonObject();
        a.addProperty("id", "A");
        a.addProperty("type_id", 0);
        seq.add("Sequence", a);
        single.add(seq);
        single.add(special("[SEP]"));
        p.add("single", single);
        JsonArray pair = new JsonArray();
        pair.add(special("[CLS]"));
        pair.add(seq);
        pair.add(special("[SEP]"));
        JsonObject seqB = new JsonObject();
        JsonObject b = new JsonObject();
        b.addProperty("id", "B");
        b.addProperty("type_id", 1);
        seqB.add("Sequence", b);
        pair.add(seqB);
        pair.add(special("[SEP]"));
        p.add("pair", pair);
        JsonObject tokens = new JsonObject();
        tokens.add("[CLS]", specialToken("[CLS]", 2));
        tokens.add("[SEP]", specialToken("[SEP]", 3));
        p.add("special_tokens", tokens);
        return p;
    }

    private static JsonObject special(String id) {
        JsonObject o = new JsonObject();
        JsonObject s = new JsonObject();
        s.addProperty("id", id);
        s.addProperty("type_id", 0);
        o.add("SpecialToken", s);
        return o;
    }

    private static JsonObject specialToken(String id, int value) {
        JsonObject o = new JsonObject();
        o.addProperty("id", id);
        JsonArray ids = new JsonArray();
        ids.add(value);
        o.add("ids", ids);
        JsonArray toks = new JsonArray();
        toks.add(id);
        o.add("tokens", toks);
        return o;
    }

    /** One run of the command line: exit code, stdout, stderr. */
    record Run(int code, String out, String err) {
        JsonObject json() {
            return com.google.gson.JsonParser.parseString(out).getAsJsonObject();
        }
    }

    static Run run(String... args) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code;
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
                PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            code = Djlq.run(o, e, args);
        }
        return new Run(
                code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }
}

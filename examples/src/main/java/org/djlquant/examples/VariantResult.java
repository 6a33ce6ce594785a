package org.djlquant.examples;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The measured numbers of one variant, as one row of the table and one object of {@code
 * summary.json}. A {@code null} number was not measured; {@link #note} says why.
 *
 * @param name variant name, e.g. {@code fp32-djl}
 * @param kind what the variant is (reference, FP32, peer, simulated, INT8)
 * @param engine the DJL engine it runs on
 * @param description one line saying what it is
 * @param artifact what its artifact on disk is, or why it has none
 * @param sizeMb size of the artifact on disk in MB (10^6 bytes)
 * @param compression size of {@code fp32-djl}'s artifact divided by this one's
 * @param sentencesPerSecondNatural sentences/s at batch 32, natural lengths padded per batch
 *     (median of the timed passes)
 * @param sentencesPerSecond128 sentences/s at batch 32, every input exactly 128 tokens
 * @param latencyMsBatch1 median latency of one sentence at batch 1, in ms, in steady state (calls
 *     back to back after untimed lead-in calls)
 * @param latencyMsBatch1FirstCall median latency of the first batch-1 call after the machine sat
 *     idle for the settle pause, in ms (slower: idle cores and thread pools must wake up)
 * @param speedupNaturalVsFp32Djl {@code sentencesPerSecondNatural} over {@code fp32-djl}'s
 * @param speedupNaturalVsFp32Ort {@code sentencesPerSecondNatural} over {@code fp32-ort}'s
 * @param speedup128VsFp32Djl {@code sentencesPerSecond128} over {@code fp32-djl}'s
 * @param speedup128VsFp32Ort {@code sentencesPerSecond128} over {@code fp32-ort}'s
 * @param accuracy probe accuracy in [0, 1] (probe trained on fp32-djl embeddings, stratified k-fold
 *     cross-validation)
 * @param accuracyDropPoints {@code fp32-djl}'s accuracy minus this one's, in percentage points
 * @param cosineMean mean cosine similarity of the embeddings to fp32-djl's, over all sentences
 * @param cosineMin the smallest such cosine
 * @param note caveats (simulation, what was not measured and why), or {@code null}
 */
public record VariantResult(
        String name,
        String kind,
        String engine,
        String description,
        String artifact,
        Double sizeMb,
        Double compression,
        Double sentencesPerSecondNatural,
        Double sentencesPerSecond128,
        Double latencyMsBatch1,
        Double latencyMsBatch1FirstCall,
        Double speedupNaturalVsFp32Djl,
        Double speedupNaturalVsFp32Ort,
        Double speedup128VsFp32Djl,
        Double speedup128VsFp32Ort,
        double accuracy,
        double accuracyDropPoints,
        double cosineMean,
        double cosineMin,
        String note) {

    /**
     * Documents every field of a variant object in {@code summary.json}; written into the file as
     * {@code "fields"}.
     *
     * @return field name to its meaning, in record order
     */
    public static Map<String, String> fieldDocs() {
        Map<String, String> d = new LinkedHashMap<>();
        d.put("name", "variant name");
        d.put("kind", "REFERENCE | FP32 | PEER | SIMULATED | INT8");
        d.put("engine", "DJL engine the variant runs on");
        d.put("description", "what the variant is");
        d.put("artifact", "the artifact on disk, or why there is none");
        d.put("sizeMb", "artifact size on disk, MB = 10^6 bytes; null if no artifact");
        d.put("compression", "fp32-djl artifact size / this size; null if no artifact");
        d.put(
                "sentencesPerSecondNatural",
                "sentences/s at batch 32, natural lengths padded per batch to the longest,"
                        + " median of timed passes; null if not timed");
        d.put(
                "sentencesPerSecond128",
                "sentences/s at batch 32, every input exactly 128 tokens; null if not timed");
        d.put(
                "latencyMsBatch1",
                "median ms per sentence at batch 1, steady state (calls back to back after"
                        + " untimed lead-in calls); null if not timed");
        d.put(
                "latencyMsBatch1FirstCall",
                "median ms of the first batch-1 call after a 30 ms idle pause; null if not timed");
        d.put("speedupNaturalVsFp32Djl", "sentencesPerSecondNatural / fp32-djl's");
        d.put("speedupNaturalVsFp32Ort", "sentencesPerSecondNatural / fp32-ort's");
        d.put("speedup128VsFp32Djl", "sentencesPerSecond128 / fp32-djl's");
        d.put("speedup128VsFp32Ort", "sentencesPerSecond128 / fp32-ort's");
        d.put(
                "accuracy",
                "probe accuracy in [0,1]: logistic regression trained on fp32-djl embeddings,"
                        + " applied to this variant's embeddings of the held-out folds");
        d.put("accuracyDropPoints", "fp32-djl accuracy minus this accuracy, percentage points");
        d.put("cosineMean", "mean cosine similarity to fp32-djl embeddings");
        d.put("cosineMin", "minimum cosine similarity to fp32-djl embeddings");
        d.put("note", "caveats, or null");
        return d;
    }
}

package org.djlquant.policy;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.util.List;

/**
 * One candidate the search built and timed as a whole model before choosing ({@link Verification}).
 *
 * @param order the candidate's {@link Candidate#order()} in {@link SearchResult#tried()}
 * @param note what the candidate is, for example {@code "uniform BF16"}
 * @param predictedMs the whole-model latency the cost model predicts: the candidate's {@link
 *     Candidate#latencyMs()} plus {@link Verification#predictionOffsetMs()}
 * @param measuredMs the median of the timed whole-model forwards, {@code > 0}
 * @param chosen true for the candidate the search returned
 */
public record VerifiedLatency(
        int order, String note, double predictedMs, double measuredMs, boolean chosen) {

    /**
     * Validates the fields.
     *
     * @param order the candidate's order
     * @param note what the candidate is
     * @param predictedMs the predicted whole-model latency, finite
     * @param measuredMs the measured whole-model latency, finite and {@code > 0}
     * @param chosen true for the chosen candidate
     * @throws IllegalArgumentException naming the candidate and the value if a latency is invalid
     */
    public VerifiedLatency {
        if (note == null) {
            throw new IllegalArgumentException("note of candidate #" + order + " must not be null");
        }
        if (!Double.isFinite(predictedMs)) {
            throw new IllegalArgumentException(
                    "predictedMs of candidate #"
                            + order
                            + " ("
                            + note
                            + ") was "
                            + predictedMs
                            + ", must be finite");
        }
        if (!Double.isFinite(measuredMs) || measuredMs <= 0) {
            throw new IllegalArgumentException(
                    "measuredMs of candidate #"
                            + order
                            + " ("
                            + note
                            + ") was "
                            + measuredMs
                            + ", must be finite and > 0");
        }
    }

    /**
     * Writes entries as a JSON array of {@code {order, note, predictedMs, measuredMs, chosen}}, the
     * form of the policy file's {@code verifiedLatency} and of the reports.
     *
     * @param entries the entries
     * @return a new array
     */
    public static JsonArray toJson(List<VerifiedLatency> entries) {
        JsonArray out = new JsonArray();
        for (VerifiedLatency v : entries) {
            JsonObject o = new JsonObject();
            o.addProperty("order", v.order());
            o.addProperty("note", v.note());
            o.addProperty("predictedMs", v.predictedMs());
            o.addProperty("measuredMs", v.measuredMs());
            o.addProperty("chosen", v.chosen());
            out.add(o);
        }
        return out;
    }

    /**
     * Returns this entry marked as chosen or not.
     *
     * @param isChosen the new mark
     * @return a copy with {@code chosen = isChosen}
     */
    public VerifiedLatency withChosen(boolean isChosen) {
        return new VerifiedLatency(order, note, predictedMs, measuredMs, isChosen);
    }
}

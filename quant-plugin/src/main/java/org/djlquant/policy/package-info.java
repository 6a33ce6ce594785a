/**
 * Mixed-precision policy engine: decides, per layer, which {@link org.djlquant.policy.Precision} a
 * model runs in (the "decide" stage of the pipeline, between calibration and conversion).
 *
 * <p>The engine is model-agnostic: it works on abstract inputs that the model-specific stages
 * provide (layer descriptors, a sensitivity table, a cost table, an evaluator), so it can be tested
 * with synthetic data whose optimum is known.
 *
 * <h2>Lifecycle</h2>
 *
 * <ol>
 *   <li>A person writes {@link org.djlquant.policy.PolicyRules} (pin or restrict precisions by
 *       block class, path glob / regex, exact path, first / last layers).
 *   <li>{@link org.djlquant.policy.PolicyRules#resolve} applies them to the model's {@link
 *       org.djlquant.policy.LayerInfo}s and the backend's {@link
 *       org.djlquant.policy.BackendCapabilities}, giving {@link org.djlquant.policy.ResolvedRules}
 *       (allowed precisions per layer, provenance, warnings).
 *   <li>The caller measures a {@link org.djlquant.policy.SensitivityTable} (error proxy with one
 *       layer quantized at a time) and a {@link org.djlquant.policy.CostTable} (latency and bytes,
 *       through a {@link org.djlquant.policy.CostModel}, cached per machine by {@link
 *       org.djlquant.policy.CostCache}). Layers timed in isolation can rank precisions differently
 *       from the whole model; {@link org.djlquant.policy.LatencyCalibration} calibrates the table
 *       with whole-model runs (all-FP32 and one per precision), so that the latency the search
 *       minimises is the predicted whole-model latency minus a constant. A boundary between
 *       adjacent layers (model order) of different {@link org.djlquant.policy.PrecisionFamily
 *       families} costs half of each side's measured round trip ({@link
 *       org.djlquant.policy.CostTable#transitionMs}).
 *   <li>{@link org.djlquant.policy.PolicySearch} runs one strategy with an {@link
 *       org.djlquant.policy.Evaluator} and returns a {@link org.djlquant.policy.SearchResult}: the
 *       chosen {@link org.djlquant.policy.MixedPrecisionPolicy}, every candidate tried and their
 *       Pareto frontier. If the rules fix every layer, {@link
 *       org.djlquant.policy.MixedPrecisionPolicy#fromRules} needs no search.
 *   <li>The policy is written as a small JSON file, can be edited by hand, and is read back with
 *       validation by the conversion stage.
 * </ol>
 *
 * <pre>{@code
 * PolicyRules rules = PolicyRules.builder()
 *         .pin(LayerSelector.first(1), Precision.FP32)
 *         .pin(LayerSelector.last(1), Precision.FP32)
 *         .pin(LayerSelector.blockClass("Embedding"), Precision.INT8_WEIGHT_ONLY)
 *         .allow(LayerSelector.glob("encoder.*.attention.**"), Precision.FP16, Precision.FP32)
 *         .allow(LayerSelector.glob("encoder.*.ffn.**"), Precision.INT8_DYNAMIC, Precision.INT8_STATIC)
 *         .build();
 * ResolvedRules allowed = rules.resolve(layers, backendCapabilities);
 * PolicySearch search = new PolicySearch(allowed, sensitivityTable, costTable);
 * SearchResult result = search.optimise(evaluator, SearchBudget.ofDrop(0.01).withMaxBytes(30_000_000));
 * result.policy().write(Path.of("policy.json"));
 * }</pre>
 *
 * <h2>Thread-safety</h2>
 *
 * All values (rules, tables, policies, results) are immutable and thread-safe. {@link
 * org.djlquant.policy.PolicySearch} is immutable; each search call keeps its own state and calls
 * the evaluator from the calling thread. {@link org.djlquant.policy.CostCache} synchronises its
 * methods.
 *
 * <h2>The additive proxy</h2>
 *
 * The search converts each sensitivity value into a non-negative damage ({@link
 * org.djlquant.policy.ProxyMetric#damage}: relative noise power {@code 10^(-SQNR/10)}, {@code 1 -
 * cosine}, KL, MSE or the metric drop itself) and assumes that the damage of an assignment is the
 * sum of its layers' damages, and that the metric drop is proportional to it: {@code drop ≈ alpha *
 * Σ damage(layer, precision)}. This is the assumption of HAWQ-V2/V3 (Dong et al., NeurIPS 2020; Yao
 * et al., ICML 2021: the sum of Hessian-weighted per-layer perturbations, optimised as an integer
 * linear program under size / latency / BOPs constraints) and of ZeroQ's Pareto-frontier bit
 * allocation (Cai et al., CVPR 2020: the sum of per-layer KL sensitivities). It holds for small,
 * independent perturbations; with aggressive quantization errors compound (super-additive), which
 * is why every candidate the proxy proposes is confirmed by the evaluator and {@code alpha} is
 * re-estimated from each measurement. Costs are assumed additive too (latency of the model = a
 * constant + the sum of the layers' + the boundary costs between adjacent layers of different
 * families, which the exact solver and the fallback's moves charge as they propose); with a table
 * from {@link org.djlquant.policy.LatencyCalibration} the per-layer terms are each layer's share of
 * the whole-model difference its precision makes, which the uniform assignments reproduce exactly.
 *
 * <h2>Strategies</h2>
 *
 * <ul>
 *   <li><b>Accuracy-driven fallback</b> ({@link org.djlquant.policy.PolicySearch#fallback}), after
 *       Intel Neural Compressor's accuracy-aware tuning ("basic" strategy: quantize everything,
 *       then fall back the most sensitive operators to higher precision one at a time until the
 *       accuracy criterion holds): start from the fastest allowed assignment, raise layers in order
 *       of sensitivity (or of the "all but this layer" measurement when present) until the drop is
 *       within budget, then try once to lower each raised layer again; the fastest candidate within
 *       budget among these moves and the uniform seeds wins.
 *   <li><b>Budgeted optimisation</b> ({@link org.djlquant.policy.PolicySearch#optimise}): minimise
 *       latency or size subject to drop ≤ δ, size ≤ S and latency ≤ L. The proxy problem is a
 *       multiple-choice knapsack solved exactly by dynamic programming over Pareto sets of partial
 *       sums (Nemhauser and Ullmann, 1969) pruned with Lagrangian bounds (72 layers × 7 precisions
 *       are solved exactly in well under a second), in the spirit of HAQ's hardware-in-the-loop
 *       search (Wang et al., CVPR 2019) but with measured costs as data instead of a learned agent;
 *       the evaluator confirms each proposal.
 *   <li><b>Progressive quantization</b> ({@link org.djlquant.policy.PolicySearch#progressive}):
 *       from a floating-point start (FP16 / BF16) move layers one at a time, least sensitive first,
 *       to the target (an INT8 precision), stopping at the first move that would break the budget;
 *       the trajectory is recorded.
 *   <li><b>Pareto frontier</b> ({@link org.djlquant.policy.PolicySearch#paretoFrontier}): the
 *       non-dominated candidates in (metric, latency, size) among all evaluated ones.
 * </ul>
 *
 * <h2>Guarantees</h2>
 *
 * <ul>
 *   <li>At most {@code 2 * layers + 4 + precisions} evaluator calls per search ({@code precisions}:
 *       the distinct precisions the layers may use), enforced; an assignment is never evaluated
 *       twice.
 *   <li>Measured verification ({@link org.djlquant.policy.PolicySearch#withVerification}, a {@link
 *       org.djlquant.policy.Verification} with a {@link org.djlquant.policy.LatencyProbe}): a cost
 *       model can mispredict a mixed assignment (on MiniLM a BF16 / static INT8 mix predicted 1.93x
 *       FP32 ran 1.60x, slower than uniform BF16), so the best {@code topK} predicted candidates
 *       within budget and the uniform ones are built and timed as whole models in interleaved
 *       rounds (order rotated per round, a settle pause before each timed forward, through {@link
 *       org.djlquant.eval.SpeedMeter}), and the fastest measured is chosen: at most {@code topK +
 *       precisions} builds, {@code warmupRounds + rounds} forwards each.
 *   <li>The fallback and the budgeted search also evaluate the uniform assignment of every allowed
 *       precision (pinned layers keep their pin) and choose the best candidate within budget among
 *       everything evaluated, so a uniform assignment the proxy-guided moves miss is still found.
 *   <li>The chosen assignment was evaluated and is within budget; an infeasible budget is an {@link
 *       org.djlquant.policy.InfeasibleBudgetException} stating the smallest drop reached and its
 *       cost (or the smallest size / latency reachable).
 *   <li>Deterministic: there is no randomness; ties are broken by a documented total order
 *       (objective, then drop / damage, then the other cost, then higher {@link
 *       org.djlquant.policy.Precision#fidelityRank()} layer by layer in model order).
 *   <li>The budgeted search returns the true optimum when the drop is exactly proportional to the
 *       proxy damage (tested against exhaustive search on 1-6 layer models with 3-4 precisions,
 *       with and without boundary costs; the latency of an assignment is {@link
 *       org.djlquant.policy.CostTable#latencyMs}).
 * </ul>
 *
 * <p>Not in this package: running the sensitivity analysis on a real DJL model, and measuring
 * latency on a backend; they produce the tables this package consumes.
 */
package org.djlquant.policy;

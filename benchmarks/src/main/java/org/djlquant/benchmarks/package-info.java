/**
 * Benchmarks; timings live here, never in unit tests. Two kinds:
 *
 * <ul>
 *   <li>JMH benchmarks of the quantization math and the observers, run with {@link
 *       org.djlquant.benchmarks.SchemeBenchmarkRunner} (see its javadoc for the commands);
 *   <li>end-to-end runners: plain {@code main} programs that measure several variants in one run on
 *       one machine and print ratios.
 * </ul>
 *
 * <p>Every benchmark writes a JSON file and a Markdown table to {@code benchmarks/results/}.
 *
 * <p>Lifecycle: each runner owns its DJL managers and closes them before exiting. Thread-safety:
 * runners are single-threaded programs.
 */
package org.djlquant.benchmarks;

/**
 * End-to-end benchmark runners: plain {@code main} programs that measure several variants in one
 * run on one machine and print ratios, writing a JSON file and a Markdown table to {@code
 * benchmarks/results/}.
 *
 * <p>Lifecycle: each runner owns its DJL managers and closes them before exiting. Thread-safety:
 * runners are single-threaded programs.
 */
package org.djlquant.benchmarks;

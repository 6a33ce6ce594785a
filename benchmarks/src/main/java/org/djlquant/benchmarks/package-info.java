/**
 * JMH benchmarks of the quantization math and the observers. Run with {@link
 * org.djlquant.benchmarks.SchemeBenchmarkRunner} (see its javadoc for the commands); results go to
 * {@code benchmarks/results/} as JMH JSON plus a Markdown table. Timings live here, never in unit
 * tests.
 */
package org.djlquant.benchmarks;

/**
 * Runnable example pipelines. Each class has a {@code main} and is started through the {@code
 * run-example} script at the root of the repository; results go to stdout as tables and to {@code
 * results/} as JSON.
 */
package org.djlquant.examples;

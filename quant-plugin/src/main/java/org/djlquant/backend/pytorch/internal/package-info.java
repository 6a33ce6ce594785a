/**
 * Internals of the PyTorch INT8 bridge; not an API, may change with the pinned libtorch version.
 *
 * <p>{@link org.djlquant.backend.pytorch.internal.NativeQEngine}: the JNA calls into {@code
 * libtorch_cpu} (mangled names of libtorch 2.7.1).
 *
 * <p>Thread-safety: {@code NativeQEngine} is a process-wide singleton with synchronized methods.
 */
package org.djlquant.backend.pytorch.internal;

package org.djlquant.backend.onnx;

import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What an export wrote.
 *
 * @param file the ONNX file
 * @param sizeBytes its size on disk
 * @param layers what each lowered layer became, by path, in graph order
 */
public record ExportReport(Path file, long sizeBytes, Map<String, String> layers) {

    /**
     * Copies the layer map.
     *
     * @param file the file
     * @param sizeBytes its size
     * @param layers lowering descriptions by path
     */
    public ExportReport {
        layers = Collections.unmodifiableMap(new LinkedHashMap<>(layers));
    }

    /**
     * Returns a readable table: one line per layer.
     *
     * @return the table
     */
    public String toTable() {
        StringBuilder b = new StringBuilder();
        b.append(String.format("%s (%.2f MB)%n", file, sizeBytes / 1e6));
        layers.forEach((k, v) -> b.append(String.format("  %-36s %s%n", k, v)));
        return b.toString();
    }
}

#!/usr/bin/env bash
# Builds the library and runs the MiniLM ONNX export benchmark (ORT FP32, ORT's INT8 twin, our
# static and dynamic INT8 exports; batch 32 natural length and 128 tokens; 1 and 2 threads).
# Results: benchmarks/results/onnx-export-minilm.{json,md}
# Usage: benchmarks/run-onnx-export.sh [rounds] [warmup]
set -euo pipefail
cd "$(dirname "$0")/.."
cp_file=benchmarks/target/bench-classpath.txt
mvn -B -ntp -q -pl benchmarks -am package -DskipTests \
  dependency:build-classpath -Dmdep.outputFile="$PWD/$cp_file"
exec java -Dai.djl.offline=true -Xmx6g \
  -cp "benchmarks/target/classes:$(cat "$cp_file")" \
  org.djlquant.benchmarks.OnnxExportBenchmark "${1:-7}" "${2:-2}"

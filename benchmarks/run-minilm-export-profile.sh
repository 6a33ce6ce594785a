#!/usr/bin/env bash
# Builds the library and profiles the pipeline's int8-static-ts MiniLM export: whole graph, ablated copies,
# single ops of one layer on its real shapes, ORT INT8 twin and FP32 (batch 32, natural and 128 tokens, 2 threads).
# Usage: benchmarks/run-minilm-export-profile.sh [rounds] [warmup] [settle-ms] [tag]
set -euo pipefail
cd "$(dirname "$0")/.."
cp_file=benchmarks/target/bench-classpath.txt
mvn -B -ntp -q -pl benchmarks -am package -DskipTests \
  dependency:build-classpath -Dmdep.outputFile="$PWD/$cp_file"
exec java ${JAVA_OPTS:-} -Dai.djl.offline=true -Xmx4g \
  -cp "benchmarks/target/classes:$(cat "$cp_file")" \
  org.djlquant.benchmarks.MiniLmExportProfile "$@"

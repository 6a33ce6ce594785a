#!/usr/bin/env bash
# Builds the library and times loading exported TorchScript archives with DJL Criteria: FP32, dynamic
# INT8, weight-only INT8 and weight-only INT4 (packed at load by QInt4Linear.__setstate__) of the FFN
# 768-3072-768 and of a 2-layer BERT-base-width encoder; load and load + first call; 1 and 2 threads.
# Results: benchmarks/results/export-load-time.{json,md}
# Timing: interleaved, order rotated per round, settle pause (ms, default 30) before each timed call.
# JAVA_OPTS is passed to java (e.g. -Dresults.dir=/tmp/r).
# Usage: benchmarks/run-export-load-time.sh [rounds] [warmup] [settle-ms]
set -euo pipefail
cd "$(dirname "$0")/.."
cp_file=benchmarks/target/bench-classpath.txt
mvn -B -ntp -q -pl benchmarks -am package -DskipTests \
  dependency:build-classpath -Dmdep.outputFile="$PWD/$cp_file"
exec java ${JAVA_OPTS:-} -Dai.djl.offline=true -Xmx4g \
  -cp "benchmarks/target/classes:$(cat "$cp_file")" \
  org.djlquant.benchmarks.ExportLoadTime "${1:-9}" "${2:-2}" "${3:-30}"

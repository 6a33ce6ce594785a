#!/usr/bin/env bash
# Builds the library and times MiniLM FP32 vs in-place dynamic vs in-place static INT8 (batch 32,
# natural length and 128 tokens, 1 and 2 threads). Results: benchmarks/results/minilm-int8-inplace.{json,md}
# Timing: interleaved, order rotated per round, settle pause (ms, default 30) before each timed call.
# JAVA_OPTS is passed to java (e.g. -Dresults.dir=/tmp/r).
# Usage: benchmarks/run-minilm-int8.sh [rounds] [warmup] [settle-ms]
set -euo pipefail
cd "$(dirname "$0")/.."
cp_file=benchmarks/target/bench-classpath.txt
mvn -B -ntp -q -pl benchmarks -am package -DskipTests \
  dependency:build-classpath -Dmdep.outputFile="$PWD/$cp_file"
exec java ${JAVA_OPTS:-} -Dai.djl.offline=true -Xmx4g \
  -cp "benchmarks/target/classes:$(cat "$cp_file")" \
  org.djlquant.benchmarks.MiniLmInt8InPlace "${1:-7}" "${2:-2}" "${3:-30}"

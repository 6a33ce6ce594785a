#!/usr/bin/env bash
# Builds the library and runs the FFN weight-only benchmark (FP32 libtorch / ONNX Runtime, dynamic
# INT8 for reference, weight-only INT8 and INT4 through Converter; one thread; inputs [8,128,768]
# and [1,1,768]). Results: benchmarks/results/ffn-weight-only.{json,md}
# Timing: interleaved, order rotated per round, settle pause (ms, default 30) before each timed call.
# JAVA_OPTS is passed to java (e.g. -Dresults.dir=/tmp/r).
# Usage: benchmarks/run-ffn-weight-only.sh [rounds] [warmup] [settle-ms]
set -euo pipefail
cd "$(dirname "$0")/.."
cp_file=benchmarks/target/bench-classpath.txt
mvn -B -ntp -q -pl benchmarks -am package -DskipTests \
  dependency:build-classpath -Dmdep.outputFile="$PWD/$cp_file"
exec java ${JAVA_OPTS:-} -Dai.djl.offline=true -Xmx4g \
  -cp "benchmarks/target/classes:$(cat "$cp_file")" \
  org.djlquant.benchmarks.FfnWeightOnly "${1:-3}" "${2:-1}" "${3:-30}"

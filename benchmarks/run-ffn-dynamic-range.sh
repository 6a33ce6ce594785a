#!/usr/bin/env bash
# Builds the library and times the FFN 768-3072-ReLU-768 dynamic INT8 on fbgemm with the input range
# found serially (quantized::linear_dynamic, current) vs in parallel (aminmax + _choose_qparams_per_tensor
# + quantized::linear_with_input_q_dq_qweight_dq_output_fp32, checked bit-identical), and without any
# range pass (lower bound); [8|1,128,768], 1 and 2 threads. Results: benchmarks/results/ffn-dynamic-range.{json,md}
# Timing: interleaved, order rotated per round, settle pause (ms, default 30) before each timed call.
# JAVA_OPTS is passed to java (e.g. -Dresults.dir=/tmp/r).
# Usage: benchmarks/run-ffn-dynamic-range.sh [rounds] [warmup] [settle-ms]
set -euo pipefail
cd "$(dirname "$0")/.."
cp_file=benchmarks/target/bench-classpath.txt
mvn -B -ntp -q -pl benchmarks -am package -DskipTests \
  dependency:build-classpath -Dmdep.outputFile="$PWD/$cp_file"
exec java ${JAVA_OPTS:-} -Dai.djl.offline=true -Xmx4g \
  -cp "benchmarks/target/classes:$(cat "$cp_file")" \
  org.djlquant.benchmarks.FfnDynamicRange "${1:-21}" "${2:-3}" "${3:-30}"

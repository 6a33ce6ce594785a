#!/usr/bin/env bash
# Builds the library and runs the INT8 convolution bridge benchmark (FP32 libtorch vs static INT8 in place and exported: a ResNet-style
# conv3x3-ReLU-conv3x3 block (+ flatten-Linear10 head) on [8|1,64,56,56] and the Fashion-MNIST CNN on [64,1,28,28], 1 and 2 threads).
# Results: benchmarks/results/conv-int8-bridge-<qengine>.{json,md}
# Timing: interleaved rounds, order rotated per round, a settle pause (default 30 ms) before every turn
# timed call so that libtorch worker threads still spinning from the previous call do
# not steal cores (0 turns it off); then lead-in calls untimed (default 3: the first calls after a
# pause run slow) and a burst of timed calls back to back (default 5): steady state. The first call
# after each pause is reported apart. JAVA_OPTS is passed to java (e.g. -Dresults.dir=/tmp/r).
# Usage: benchmarks/run-conv-int8.sh [rounds] [warmup] [qengine: x86|fbgemm|qnnpack|onednn] [settle-ms] [lead-in] [burst]
set -euo pipefail
cd "$(dirname "$0")/.."
cp_file=benchmarks/target/bench-classpath.txt
mvn -B -ntp -q -pl benchmarks -am package -DskipTests \
  dependency:build-classpath -Dmdep.outputFile="$PWD/$cp_file"
exec java ${JAVA_OPTS:-} -Dai.djl.offline=true -Xmx4g \
  -cp "benchmarks/target/classes:$(cat "$cp_file")" \
  org.djlquant.benchmarks.ConvInt8Bridge "${1:-15}" "${2:-3}" "${3:-x86}" "${4:-30}" "${5:-3}" "${6:-5}"

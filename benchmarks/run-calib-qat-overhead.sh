#!/usr/bin/env bash
# Builds the library and runs the calibration and QAT overhead benchmark (ratios to FP32 inference and
# training, on the Fashion-MNIST CNN and a BERT-base layer). Results:
# benchmarks/results/calib-qat-overhead[-label].{json,md}
# Usage: benchmarks/run-calib-qat-overhead.sh [rounds] [warmup] [threads] [label]
set -euo pipefail
cd "$(dirname "$0")/.."
cp_file=benchmarks/target/bench-classpath.txt
mvn -B -ntp -q -pl benchmarks -am package -DskipTests \
  dependency:build-classpath -Dmdep.outputFile="$PWD/$cp_file"
exec java -Dai.djl.offline=true -Xmx4g \
  -cp "benchmarks/target/classes:$(cat "$cp_file")" \
  org.djlquant.benchmarks.CalibrationQatOverhead "${1:-7}" "${2:-2}" "${3:-1}" ${4:+"$4"}

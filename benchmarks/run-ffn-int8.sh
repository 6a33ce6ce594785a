#!/usr/bin/env bash
# Builds the library and runs the FFN INT8 bridge benchmark (FP32 libtorch and ONNX Runtime vs dynamic and static INT8, in place and exported,
# [8|1,128,768], 1 and 2 threads). Results: benchmarks/results/ffn-int8-bridge-<qengine>.{json,md}
# Usage: benchmarks/run-ffn-int8.sh [rounds] [warmup] [qengine: x86|fbgemm|qnnpack|onednn]
set -euo pipefail
cd "$(dirname "$0")/.."
cp_file=benchmarks/target/bench-classpath.txt
mvn -B -ntp -q -pl benchmarks -am package -DskipTests \
  dependency:build-classpath -Dmdep.outputFile="$PWD/$cp_file"
exec java -Dai.djl.offline=true -Xmx4g \
  -cp "benchmarks/target/classes:$(cat "$cp_file")" \
  org.djlquant.benchmarks.FfnInt8Bridge "${1:-15}" "${2:-3}" "${3:-x86}"

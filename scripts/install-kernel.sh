#!/usr/bin/env bash
# Installs the project's Jupyter kernel (org.djlquant.examples.notebook.DjlqKernel) as the
# kernelspec "djl-quant" ("Java (djl-quant)"), so examples/notebooks/*.ipynb run in real Jupyter.
#   scripts/install-kernel.sh                 into the user's Jupyter data dir
#                                             ($JUPYTER_DATA_DIR, default ~/.local/share/jupyter)
#   scripts/install-kernel.sh --prefix DIR    into DIR/share/jupyter (then JUPYTER_PATH=DIR/share/jupyter)
#   scripts/install-kernel.sh --classpath CP  use CP instead of building it with Maven
# The classpath is built as ./run-example builds it (mvn package of examples and the modules it
# needs, tests skipped, dependency:build-classpath; nothing is installed into ~/.m2). The kernel
# runs from examples/target/classes and the jars in ~/.m2: run the script again after `mvn clean`.
# Extra JVM options for the kernel: DJLQ_KERNEL_JVM_OPTS (e.g. "-Xmx6g"), read at install time.
set -euo pipefail
cd "$(dirname "$0")/.."

KERNEL=djl-quant
MAIN=org.djlquant.examples.notebook.DjlqKernel

fail() {
  echo "install-kernel: $*" >&2
  exit 1
}

data_dir="${JUPYTER_DATA_DIR:-$HOME/.local/share/jupyter}"
prefix=""
classpath=""
while [ $# -gt 0 ]; do
  case "$1" in
    --user) prefix="" ;;
    --prefix) [ $# -ge 2 ] || fail "--prefix needs a folder"; prefix="$2"; shift ;;
    --classpath) [ $# -ge 2 ] || fail "--classpath needs a value"; classpath="$2"; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) fail "unknown argument '$1'; known: --user, --prefix DIR, --classpath CP" ;;
  esac
  shift
done
if [ -n "$prefix" ]; then
  mkdir -p "$prefix"
  data_dir="$(cd "$prefix" && pwd)/share/jupyter"
fi

if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
  java="$JAVA_HOME/bin/java"
else
  java="$(command -v java)" || fail "java is not on PATH (apt-get install openjdk-17-jdk-headless)"
  java="$(readlink -f "$java")"
fi
"$java" -version 2>&1 | grep -q 'version "\(1[7-9]\|[2-9][0-9]\)' \
  || fail "$java is older than Java 17; set JAVA_HOME to a JDK 17 or newer"

if [ -z "$classpath" ]; then
  echo "install-kernel: building the examples classpath (mvn package, tests skipped) ..." >&2
  mvn -B -ntp -q -pl examples -am package dependency:build-classpath \
    -DskipTests -Dmdep.outputFile=target/classpath.txt -Dmdep.includeScope=runtime >&2
  classpath="$(pwd)/examples/target/classes:$(cat examples/target/classpath.txt)"
fi

json_string() {
  local s="$1"
  s="${s//\\/\\\\}"
  s="${s//\"/\\\"}"
  printf '"%s"' "$s"
}

argv=("$java" -Dai.djl.offline=true -Djava.awt.headless=true)
if [ -n "${DJLQ_KERNEL_JVM_OPTS:-}" ]; then
  read -r -a extra <<<"$DJLQ_KERNEL_JVM_OPTS"
  argv+=("${extra[@]}")
fi
argv+=(-cp "$classpath" "$MAIN" "{connection_file}")

dir="$data_dir/kernels/$KERNEL"
mkdir -p "$dir"
{
  echo "{"
  echo "  \"argv\": ["
  n=${#argv[@]}
  for ((i = 0; i < n; i++)); do
    sep=","
    [ $i -eq $((n - 1)) ] && sep=""
    echo "    $(json_string "${argv[$i]}")$sep"
  done
  echo "  ],"
  echo "  \"display_name\": \"Java (djl-quant)\","
  echo "  \"language\": \"java\","
  echo "  \"interrupt_mode\": \"message\","
  echo "  \"metadata\": {}"
  echo "}"
} >"$dir/kernel.json"

echo "install-kernel: wrote $dir/kernel.json (kernel '$KERNEL', display name 'Java (djl-quant)')"
if ! command -v jupyter >/dev/null; then
  echo "install-kernel: Jupyter is not installed; on Debian/Ubuntu:" \
    "apt-get install jupyter-notebook jupyter-nbconvert python3-nbclient python3-jupyter-client"
fi
echo "install-kernel: the notebooks read the data of scripts/fetch-data.sh (run it once). Start Jupyter with:"
if [ -n "$prefix" ]; then
  echo "  JUPYTER_PATH=$data_dir jupyter notebook examples/notebooks"
else
  echo "  jupyter notebook examples/notebooks"
fi
echo "or run one notebook headless:"
[ -n "$prefix" ] && echo -n "  JUPYTER_PATH=$data_dir" || echo -n " "
echo " jupyter nbconvert --to notebook --execute --ExecutePreprocessor.kernel_name=$KERNEL" \
  "--ExecutePreprocessor.timeout=600 --output-dir /tmp examples/notebooks/01-quick-start.ipynb"

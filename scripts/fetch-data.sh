#!/usr/bin/env bash
# Fetches the real evaluation data into a cache folder, idempotently.
#   - UCI "Sentiment Labelled Sentences" (3000 sentences) from the npm package sentiment@5.0.2
#   - Fashion-MNIST (60k/10k, IDX) from Debian's dataset-fashion-mnist package
# The folder is $DJLQ_DATA_DIR, default ~/.cache/djl-quant/data. Tests and examples read the same
# variable. The MiniLM model itself comes from Maven Central as a dependency, not from here.
set -euo pipefail

DATA_DIR="${DJLQ_DATA_DIR:-$HOME/.cache/djl-quant/data}"
SENTIMENT_VERSION=5.0.2
FASHION_SRC=/usr/share/datasets/fashion-mnist
mkdir -p "$DATA_DIR"

fail() {
  echo "fetch-data: $*" >&2
  exit 1
}

fetch_sentiment() {
  local dest="$DATA_DIR/sentiment"
  if [ -s "$dest/amazon.json" ] && [ -s "$dest/yelp.json" ] && [ -s "$dest/imdb.json" ]; then
    echo "fetch-data: sentiment sentences already in $dest"
    return
  fi
  command -v npm >/dev/null || fail "npm is not installed; install Node.js/npm (apt-get install npm) to fetch sentiment@$SENTIMENT_VERSION"
  local tmp
  tmp=$(mktemp -d)
  if ! (cd "$tmp" && npm pack --silent "sentiment@$SENTIMENT_VERSION" >"$tmp/npm.log" 2>&1); then
    cat "$tmp/npm.log" >&2
    fail "could not download sentiment@$SENTIMENT_VERSION from the npm registry (is registry.npmjs.org reachable?)"
  fi
  tar -xzf "$tmp/sentiment-$SENTIMENT_VERSION.tgz" -C "$tmp"
  mkdir -p "$dest"
  for f in amazon yelp imdb; do
    [ -s "$tmp/package/test/fixtures/$f.json" ] || fail "sentiment@$SENTIMENT_VERSION has no test/fixtures/$f.json"
    cp "$tmp/package/test/fixtures/$f.json" "$dest/$f.json"
  done
  rm -rf "$tmp"
  echo "fetch-data: sentiment sentences written to $dest"
}

fetch_fashion_mnist() {
  local dest="$DATA_DIR/fashion-mnist"
  local files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
  local have=1
  for f in "${files[@]}"; do [ -s "$dest/$f" ] || have=0; done
  if [ "$have" = 1 ]; then
    echo "fetch-data: Fashion-MNIST already in $dest"
    return
  fi
  if [ ! -s "$FASHION_SRC/train-images-idx3-ubyte.gz" ]; then
    if [ "$(id -u)" = 0 ]; then
      if ! (apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 ||
        (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1)); then
        fail "could not install Debian's dataset-fashion-mnist (are the Debian mirrors reachable?)"
      fi
    else
      fail "Fashion-MNIST is missing: run 'sudo apt-get install dataset-fashion-mnist' and retry"
    fi
  fi
  mkdir -p "$dest"
  for f in "${files[@]}"; do
    [ -s "$FASHION_SRC/$f" ] || fail "dataset-fashion-mnist has no $FASHION_SRC/$f"
    cp "$FASHION_SRC/$f" "$dest/$f"
  done
  echo "fetch-data: Fashion-MNIST written to $dest"
}

fetch_sentiment
fetch_fashion_mnist
echo "fetch-data: data ready in $DATA_DIR"

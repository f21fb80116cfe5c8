#!/bin/sh
# generate_smollm2.sh — the real SmolLM2-135M-Instruct answers "Paris" greedily,
# and a seed reproduces a sampled answer exactly.
set -u
: "${LORAC:=./lorac}"
pass=0; fail=0
gguf=$(sh "$(dirname "$0")/../../scripts/fetch-smollm2.sh") || { echo "0 passed, 1 failed"; exit 1; }
a=$("$LORAC" generate --model "$gguf" --temp 0 --prompt "What is the capital of France?" --max-tokens 30 2>/dev/null)
case "$a" in *Paris*) pass=$((pass + 1)) ;; *) fail=$((fail + 1)); echo "FAIL: no Paris in: $a" ;; esac
s1=$("$LORAC" generate --model "$gguf" --temp 0.7 --top-p 0.9 --repetition-penalty 1.2 --seed 42 --prompt "Tell me about insulin." --max-tokens 60 2>/dev/null)
s2=$("$LORAC" generate --model "$gguf" --temp 0.7 --top-p 0.9 --repetition-penalty 1.2 --seed 42 --prompt "Tell me about insulin." --max-tokens 60 2>/dev/null)
s3=$("$LORAC" generate --model "$gguf" --temp 0.7 --top-p 0.9 --repetition-penalty 1.2 --seed 43 --prompt "Tell me about insulin." --max-tokens 60 2>/dev/null)
[ -n "$s1" ] && [ "$s1" = "$s2" ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: seed 42 twice differs"; }
[ "$s1" != "$s3" ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: seeds 42 and 43 gave the same text"; }
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]

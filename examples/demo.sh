#!/bin/sh
# demo.sh — `make demo`: fetch the real SmolLM2-135M-Instruct once, then run the
# most complete end-to-end path lorac has on it: inspect, the chat template and
# tokens of a question, a greedy answer, a sampled answer with the settings the
# user tests with (temperature 0.7, repetition penalty 1.2), and a short chat.
set -eu
: "${LORAC:=./lorac}"
gguf=$(sh scripts/fetch-smollm2.sh)
q="What is the capital of France?"
echo "== lorac inspect"
"$LORAC" inspect "$gguf" --max-seq-length 1024
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lorac-demo-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
printf '[{"role": "user", "content": "%s"}]' "$q" > "$tmp/messages.json"
echo
echo "== lorac template (the prompt the model sees)"
"$LORAC" template --model "$gguf" --messages "$tmp/messages.json" --add-generation-prompt
echo
echo "== lorac tokenize"
"$LORAC" tokenize --model "$gguf" --text "$q"
echo
echo "== lorac generate --temp 0"
"$LORAC" generate --model "$gguf" --prompt "$q" --temp 0 --max-tokens 60 --verbose 2>&1 | grep -v '^=\+$' | grep -vF '<|im_' | grep -v '^You are' | grep -v "^$q" || true
echo
echo "== lorac generate --temp 0.7 --top-p 0.9 --repetition-penalty 1.2 --seed 42"
"$LORAC" generate --model "$gguf" --prompt "Explain in two sentences what insulin does." --temp 0.7 --top-p 0.9 \
    --repetition-penalty 1.2 --seed 42 --max-tokens 120
echo
echo "== lorac chat (piped, the KV cache is kept between turns)"
printf 'Name a fruit.\nWhat colour is it?\n' | "$LORAC" chat --model "$gguf" --temp 0 --max-tokens 40 --verbose

#!/bin/sh
# learn_smollm2.sh — LoRA on the real SmolLM2-135M-Instruct over examples/data for
# one epoch (examples/quickstart.yaml): validation loss falls, and the answer to a
# held-out domain question moves toward the data (the markdown voice: bold terms,
# lists), away from the base model's answer.
set -u
. "$(dirname "$0")/../lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
gguf=$(sh "$root/scripts/fetch-smollm2.sh") || { echo "0 passed, 1 failed"; exit 1; }
cd "$root"
expect 0 "Saved final weights" "$LORAC" lora --config examples/quickstart.yaml --model "$gguf" --epochs 1 \
    --adapter-path "$T/ad" --steps-per-eval 1000
first=$(grep '"val_loss"' "$T/ad/metrics.jsonl" | head -n 1 | sed 's/.*"val_loss":\([0-9.]*\).*/\1/')
last=$(grep '"val_loss"' "$T/ad/metrics.jsonl" | tail -n 1 | sed 's/.*"val_loss":\([0-9.]*\).*/\1/')
echo "validation loss: $first -> $last"
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 0.05) }' && ok || bad "validation loss did not fall: $first -> $last"
q="How does insulin affect whether my body stores or burns fat?"
base=$("$LORAC" generate --model "$gguf" --prompt "$q" --temp 0 --repetition-penalty 1.1 --max-tokens 200 2>/dev/null)
tuned=$("$LORAC" generate --model "$gguf" --adapter-path "$T/ad" --prompt "$q" --temp 0 --repetition-penalty 1.1 --max-tokens 200 2>/dev/null)
printf 'base:  %s\n\ntuned: %s\n' "$base" "$tuned"
[ "$base" != "$tuned" ] && ok || bad "the adapters did not change the answer"
nb=$(printf '%s' "$base" | grep -o '\*\*' | wc -l); nt=$(printf '%s' "$tuned" | grep -o '\*\*' | wc -l)
[ "$nt" -gt "$nb" ] && ok || bad "tuned answer has no more bold terms than the base ($nt vs $nb)"
finish

#!/bin/sh
# eval_smollm2.sh — lorac eval on the real SmolLM2-135M-Instruct: with
# --temp 0.7 --repetition-penalty 1.2 the answers differ from --temp 0's, the same
# seed reproduces them exactly and another seed changes them (the flags reach the
# sampler); the greedy model knows the capital of France (a suite's expect check);
# and the eval JSON has every metric for real answers.
set -u
. "$(dirname "$0")/../lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
gguf=$(sh "$root/scripts/fetch-smollm2.sh") || { echo "0 passed, 1 failed"; exit 1; }
cd "$root"
common="-t 1 --model $gguf --data examples/data/valid.jsonl --max-examples 3 --max-tokens 48 -q"
"$LORAC" eval $common --temp 0 --no-reference-loss -o "$T/greedy.json" && ok || bad "greedy eval failed"
"$LORAC" eval $common --temp 0.7 --repetition-penalty 1.2 --seed 42 -o "$T/s42.json" && ok || bad "sampled eval failed"
"$LORAC" eval $common --temp 0.7 --repetition-penalty 1.2 --seed 42 --no-reference-loss -o "$T/s42b.json" && ok || bad "sampled eval failed"
"$LORAC" eval $common --temp 0.7 --repetition-penalty 1.2 --seed 43 --no-reference-loss -o "$T/s43.json" && ok || bad "sampled eval failed"
resp() { grep '"response":' "$1"; }
echo "greedy:"; resp "$T/greedy.json" | head -n 1 | cut -c 1-200
echo "seed 42:"; resp "$T/s42.json" | head -n 1 | cut -c 1-200
[ "$(resp "$T/greedy.json" | wc -l)" -eq 3 ] && ok || bad "expected 3 answers"
[ "$(resp "$T/s42.json")" = "$(resp "$T/s42b.json")" ] && ok || bad "seed 42 twice gave different answers"
[ "$(resp "$T/s42.json")" != "$(resp "$T/greedy.json")" ] && ok || bad "--temp 0.7 --repetition-penalty 1.2 gave the greedy answers"
[ "$(resp "$T/s42.json")" != "$(resp "$T/s43.json")" ] && ok || bad "seeds 42 and 43 gave the same answers"
grep -q '"repetition_penalty": 1.2' "$T/s42.json" && grep -q '"temp": 0.7' "$T/s42.json" && ok || bad "params not recorded"
for k in '"reference_loss":' '"rouge_l":' '"distinct_2":' '"stance":' '"formatting_checks":' '"tokens":' '"finish_reason":'; do
  grep -q "$k" "$T/s42.json" && ok || bad "s42.json lacks $k"
done
cat > "$T/suite.yaml" <<'EOF'
name: forgetting
categories:
  - name: general
    stance: false
    formatting: false
    length: [1, 400]
    prompts:
      - prompt: What is the capital of France?
        expect: Paris
EOF
expect 0 "expected content found" "$LORAC" eval -t 1 --model "$gguf" --prompts "$T/suite.yaml" --temp 0 --max-tokens 30 -o "$T/fr.json"
grep -q '"found": true' "$T/fr.json" && grep -q 'Paris' "$T/fr.json" && ok || bad "the greedy model did not answer Paris: $(grep '"response"' "$T/fr.json")"
finish

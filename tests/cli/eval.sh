#!/bin/sh
# eval.sh — `lorac eval` and `lorac compare` end to end on a tiny random model:
# the results JSON (lorac's keys and the user's script's), sampling flags applied
# and seed-reproducible, reference loss equal to lorac perplexity's, prompt suites
# with their suggested sampling, --responses scoring hand-written answers (a loop
# flagged with its span, a clean one not), --base-model deltas, --check; compare
# on hand-written run directories with known losses, a lorac run layout and a real
# lorac lora adapter_path, the HTML page (one SVG path per loss series, nothing
# fetched); and every bad input with its exit code.
set -u
. "$(dirname "$0")/../lib.sh"
Q=$LORAC_SHARED/fixtures/tokenizers/qwen3
"$LORAC" init-model --preset tiny --arch qwen3 --out "$T/m" --tokenizer "$Q" --init-std 0.1 2>/dev/null || { echo "0 passed, 1 failed"; exit 1; }
cd "$T"
cat > d.jsonl <<'EOF'
{"messages": [{"role": "user", "content": "Does insulin store fat?"}, {"role": "assistant", "content": "Yes: **insulin** stores fat.\n\n- one\n- two"}]}
{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is fasting?"}]}
{"prompt": "Is a calorie a calorie?", "completion": "Not for your hormones."}
EOF
# ---- eval on a dataset ----
expect 0 "answers that loop" "$LORAC" eval -t 1 --model m --data d.jsonl --max-tokens 8 --temp 0 --seed 0 -o r0.json
for k in '"model":' '"adapter":' '"data":' '"params":' '"thresholds":' '"statistics":' '"results":' '"model_path":' \
         '"validation_file":' '"total_examples": 3' '"instruction":' '"response":' '"response_length":' '"formatting_score":' \
         '"formatting_checks":' '"has_bold":' '"distinct_3":' '"in_band":' '"truncated": true' '"rouge_l":' '"reference_loss":' \
         '"tokens":' '"seed": 0' '"max_loop_rate": 0' '"min_stance_rate": 0.8' '"checks":' '"pass":'; do
  grep -q "$k" r0.json && ok || bad "r0.json lacks $k"
done
[ "$(grep -c '"reference_loss":' r0.json)" -eq 3 ] && ok || bad "expected 2 per-example reference losses + the statistics entry"
grep -q '"instruction": "What is fasting?"' r0.json && grep -q '"role": "system"' r0.json && ok || bad "multi-turn example not recorded"
# the reference loss is the perplexity command's loss on the same answers
ppl=$(printf '%s\n' "$(sed -n 1p d.jsonl)" "$(sed -n 3p d.jsonl)" > ref.jsonl; "$LORAC" perplexity -t 1 --model m --data ref.jsonl 2>/dev/null | sed -n 's/mean loss: *//p')
tok=$(sed -n 's/.*"reference_token_loss": \([0-9.]*\).*/\1/p' r0.json)
awk -v a="$ppl" -v b="$tok" 'BEGIN { exit !(a - b < 5e-5 && b - a < 5e-5) }' && ok || bad "reference loss $tok != perplexity $ppl"
# sampling flags are applied; a seed reproduces; example i uses seed + i
fast="--max-tokens 8 --no-reference-loss -q"
"$LORAC" eval -t 1 --model m --data d.jsonl $fast --temp 0 -o r0b.json
"$LORAC" eval -t 1 --model m --data d.jsonl $fast --temp 1.5 --top-k 50 --seed 7 -o r1.json
"$LORAC" eval -t 1 --model m --data d.jsonl $fast --temp 1.5 --top-k 50 --seed 7 -o r1b.json
"$LORAC" eval -t 1 --model m --data d.jsonl $fast --temp 1.5 --top-k 50 --seed 8 -o r2.json
resp() { grep '"response":' "$1"; }
[ "$(resp r0.json)" = "$(resp r0b.json)" ] && ok || bad "greedy eval is not reproducible"
[ "$(resp r1.json)" = "$(resp r1b.json)" ] && ok || bad "--seed 7 twice gave different answers"
[ "$(resp r1.json)" != "$(resp r0.json)" ] && ok || bad "--temp 1.5 gave the greedy answers: flags not applied"
[ "$(resp r1.json)" != "$(resp r2.json)" ] && ok || bad "seeds 7 and 8 gave the same answers"
grep -q '"seed": 8' r1.json && grep -q '"seed": 9' r1.json && grep -q '"temp": 1.5' r1.json && grep -q '"top_k": 50' r1.json && ok || bad "per-example seeds or params not recorded"
# stdout carries the JSON when there is no --output
"$LORAC" eval -t 1 --model m --data d.jsonl --max-tokens 2 --max-examples 1 -q > out.json 2>err.txt
grep -q '"total_examples": 1' out.json && [ ! -s err.txt ] && ok || bad "JSON on stdout / quiet stderr: $(cat err.txt)"
# ---- prompt suites: categories, suggested sampling unless a flag is given ----
expect 0 "" "$LORAC" eval -t 1 --model m --prompts default --max-examples 1 --max-tokens 3 -q -o s.json
grep -q '"category": "domain"' s.json && grep -q '"suite": "default"' s.json && grep -q '"temp": 0.7' s.json && ok || bad "suite results lack category or suggested temp"
grep -q '"max_tokens": 3' s.json && ! grep -q '"max_tokens": 600' s.json && ok || bad "--max-tokens did not beat the suite's suggestion"
cat > suite.yaml <<'EOF'
name: mini
categories:
  - name: general
    stance: false
    length: [1, 400]
    prompts:
      - prompt: What is the capital of France?
        expect: Paris
EOF
expect 0 "expected content found" "$LORAC" eval -t 1 --model m --prompts suite.yaml --max-tokens 3 --temp 0
# ---- answers made elsewhere ----
cat > resp.jsonl <<'EOF'
{"instruction": "Why do I gain weight?", "response": "Insulin drives fat storage. Insulin drives fat storage. Insulin drives fat storage.", "reference": "Insulin drives fat storage."}
{"prompt": "Is it calories?", "response": "**Insulin** matters more than you think.\n\n- Lowering insulin helps you burn fat.\n- It's not all about calories.", "finish_reason": "stop"}
{"messages": [{"role": "user", "content": "Count calories?"}], "response": "Weight loss is all about calories: eat less and move more."}
EOF
expect 0 "answers that loop" "$LORAC" eval -t 1 --responses resp.jsonl -o rr.json
grep -q '"repeated_sentence"' rr.json && grep -q '"text": "Insulin drives fat storage."' rr.json && grep -q '"count": 3' rr.json && ok || bad "loop not flagged with its sentence"
[ "$(grep -c '"loop": true' rr.json)" -eq 1 ] && ok || bad "exactly one answer should loop"
grep -q '"label": "calorie-counting"' rr.json && grep -q '"label": "insulin-model"' rr.json && ok || bad "stance labels"
grep -q '"negated": true' rr.json && ok || bad "the negated calorie claim was not marked"
grep -q '"domain_count": 2' rr.json && grep -q '"count": 1,' rr.json && ok || bad "statistics of the responses"
grep -q '"truncated": false' rr.json && grep -q '"params": null' rr.json && ok || bad "finish_reason / params"
# the user's script's results file, and lorac's own, re-scored
printf '{"model_path": "x", "validation_file": "v", "total_examples": 1, "statistics": {}, "results": [{"instruction": "q", "response": "a a a", "response_length": 5, "formatting_score": 0, "formatting_checks": {}}]}\n' > theirs.json
expect 0 "1 examples" "$LORAC" eval -t 1 --responses theirs.json
"$LORAC" eval -t 1 --responses rr.json -q -o rr2.json
[ "$(grep -A3 '"loops": {' rr.json | tail -n 3)" = "$(grep -A3 '"loops": {' rr2.json | tail -n 3)" ] && ok || bad "re-scoring a results file changed the statistics"
# with a model: token counts and the reference loss
expect 0 "" "$LORAC" eval -t 1 --responses resp.jsonl --model m -q -o rm.json
grep -q '"tokens":' rm.json && grep -q '"reference_loss":' rm.json && ok || bad "--responses with --model: tokens/reference loss"
# --check: exit 3 when a threshold fails
expect 3 "overall: FAIL" "$LORAC" eval -t 1 --responses resp.jsonl --check
cat > lenient.yaml <<'EOF'
thresholds: {max_loop_rate: 1, min_stance_rate: 0, min_well_formatted_rate: 0, min_length_band_rate: 0}
EOF
expect 0 "overall: PASS" "$LORAC" eval -t 1 --responses resp.jsonl --check --rules lenient.yaml
# ---- base vs tuned ----
mkdir -p data && for i in 1 2 3 4 5 6; do sed -n 1p d.jsonl >> data/train.jsonl; done
printf 'model: m\ntrain: true\ndata: data\nlora_rank: 4\nnum_layers: 1\nbatch_size: 2\niters: 2\nlearning_rate: 1e-2\nsteps_per_eval: 2\nval_batches: 0\nmax_seq_length: 64\n' > run.yaml
OMP_NUM_THREADS=1 "$LORAC" lora --config run.yaml --adapter-path ad >/dev/null 2>&1 && ok || bad "lorac lora for the adapter"
expect 0 "delta" "$LORAC" eval -t 1 --model m --adapter-path ad --base-model m --data d.jsonl --max-tokens 4 --temp 0 --max-examples 2 -o bt.json
grep -q '"deltas":' bt.json && grep -q '"base":' bt.json && grep -q '"adapter": "ad"' bt.json && ok || bad "base/deltas missing"
# ---- bad input: usage errors (2), bad files (1), no partial output ----
expect 2 "one of --data, --prompts or --responses is required" "$LORAC" eval -t 1 --model m
expect 2 "exclude each other" "$LORAC" eval -t 1 --model m --data d.jsonl --prompts default
expect 2 "--model is required" "$LORAC" eval -t 1 --data d.jsonl
expect 2 "--max-examples must be >= 1" "$LORAC" eval -t 1 --responses resp.jsonl --max-examples 0
expect 2 "does not combine with --responses" "$LORAC" eval -t 1 --responses resp.jsonl --base-model m
expect 2 "--top-p must be in (0, 1]" "$LORAC" eval -t 1 --model m --data d.jsonl --top-p 1.5
expect 2 "did you mean '--temp'" "$LORAC" eval -t 1 --model m --data d.jsonl --tmep 1
printf '{"text": "raw"}\n' > text.jsonl
expect 1 "text.jsonl:1: a 'text' record has no user turn" "$LORAC" eval -t 1 --model m --data text.jsonl
printf '{"messages": [{"role": "user", "content": "a"}]}\n{"messages": [{"role": "assistant", "content": "b"}]}\n' > noturn.jsonl
expect 1 "noturn.jsonl:2: messages[0]: an assistant turn with no user turn before it" "$LORAC" eval -t 1 --model m --data noturn.jsonl
printf '{"messages": [{"role": "user", "content": "a"}]}\n{bad\n' > badjson.jsonl
expect 1 "badjson.jsonl:2:" "$LORAC" eval -t 1 --model m --data badjson.jsonl
printf '{"instruction": "q", "responce": "a"}\n' > typo.jsonl
expect 1 "typo.jsonl:1: no string 'response' (the answer to score); did you mean 'responce' -> 'response'?" "$LORAC" eval -t 1 --responses typo.jsonl
printf '{"response": "a"}\n' > nouser.jsonl
expect 1 "nouser.jsonl:1: no user turn" "$LORAC" eval -t 1 --responses nouser.jsonl
printf '{"results": 3}\n' > badres.json
expect 1 "without a 'results' list" "$LORAC" eval -t 1 --responses badres.json
printf 'stance:\n  domain: a\n  sides:\n    a: {patterns: ["(x"]}\n    b: {patterns: [y]}\n' > badrules.yaml
expect 1 "badrules.yaml:4: stance.sides.a.patterns[0]: bad regex" "$LORAC" eval -t 1 --responses resp.jsonl --rules badrules.yaml
printf 'categories:\n  - name: a\n    promts: [hi]\n' > badsuite.yaml
expect 1 "badsuite.yaml:3: unknown key 'promts' in categories[0]; did you mean 'prompts'?" "$LORAC" eval -t 1 --model m --prompts badsuite.yaml
expect 1 "nosuch.jsonl" "$LORAC" eval -t 1 --model m --data nosuch.jsonl
expect 1 "" "$LORAC" eval -t 1 --model nosuch-model --data d.jsonl
expect 1 "no adapter_config.json" "$LORAC" eval -t 1 --model m --adapter-path data --data d.jsonl
expect 1 "" "$LORAC" eval -t 1 --responses resp.jsonl -o nodir/out.json
[ ! -e nodir ] && ok || bad "a failed write left output behind"
expect 1 "" "$LORAC" eval -t 1 --model nosuch-model --data d.jsonl -o never.json
[ ! -e never.json ] && ok || bad "a failed eval wrote its output file"
# ---- compare: hand-written runs with known losses ----
mkdir -p A B/adapters
printf '{"model": "m", "learning_rate": 1e-05, "lora_parameters": {"rank": 8, "scale": 20.0}, "adapter_path": "A"}\n' > A/adapter_config.json
cat > A/metrics.jsonl <<'EOF'
{"step": 0, "val_loss": 2.0}
{"step": 10, "train_loss": 1.8}
{"step": 10, "val_loss": 1.5}
{"step": 20, "train_loss": 1.4}
{"step": 20, "val_loss": 1.6}
EOF
printf '{"model": "m", "learning_rate": 2e-05, "lora_parameters": {"rank": 16, "scale": 20.0}, "adapter_path": "B/adapters"}\n' > B/adapters/adapter_config.json
# B was resumed at step 10: the repeated steps replace the first attempt's
cat > B/adapters/metrics.jsonl <<'EOF'
{"step": 0, "val_loss": 2.0}
{"step": 10, "train_loss": 9.0}
{"step": 20, "train_loss": 9.0}
{"step": 10, "train_loss": 1.7}
{"step": 10, "val_loss": 1.4}
{"step": 20, "train_loss": 1.2}
{"step": 20, "val_loss": 1.3}
EOF
cp rr.json B/eval.json
expect 0 "| learning_rate | 1e-5 | 2e-5 |" "$LORAC" compare A B rr.json --html rep.html
"$LORAC" compare A B rr.json > cmp.md 2>/dev/null
grep -q '| lora_parameters.rank | 8 | 16 | - |' cmp.md && ok || bad "config differences: $(grep rank cmp.md)"
grep -q '| val loss, best | 1.5000 (step 10) | 1.3000 (step 20) | - |' cmp.md && ok || bad "best val loss: $(grep 'val loss, best' cmp.md)"
grep -q '| train loss, final | 1.4000 (step 20) | 1.2000 (step 20) | - |' cmp.md && ok || bad "final train loss (resume replacement): $(grep 'train loss, final' cmp.md)"
grep -q '+6.7% \*\*FAIL\*\* | +0.0% pass' cmp.md && ok || bad "val loss rise check: $(grep rise cmp.md)"
grep -q '| answers that loop (check <= 0%) | - | 33.3% \*\*FAIL\*\* | 33.3% \*\*FAIL\*\* |' cmp.md && ok || bad "eval row: $(grep 'loop' cmp.md)"
grep -q '| overall | FAIL | FAIL | FAIL |' cmp.md && ok || bad "overall row: $(grep overall cmp.md)"
! grep -q 'adapter_path' cmp.md && ok || bad "adapter_path shown as a difference"
head -c 15 rep.html | grep -q '<!DOCTYPE html>' && ok || bad "rep.html is not HTML"
[ "$(grep -o '<path' rep.html | wc -l)" -eq 4 ] && ok || bad "expected 4 loss paths (2 runs x train/val), got $(grep -o '<path' rep.html | wc -l)"
! grep -q -i -E '<script|<link|src=|url\(|@import' rep.html && ok || bad "the report references outside resources"
grep -q 'class="bar"' rep.html && grep -q '</svg>' rep.html && ok || bad "no eval bars"
# a real lorac lora adapter_path next to them
expect 0 "| ad |" "$LORAC" compare ad A
# compare errors
expect 2 "" "$LORAC" compare
expect 1 "nosuch: no such run directory or results file" "$LORAC" compare nosuch
mkdir -p empty && expect 1 "empty: not a run" "$LORAC" compare empty
mkdir -p C && printf '{"step": 1, "train_loss": 1}\n{"loss": 2}\n' > C/metrics.jsonl
expect 1 "C/metrics.jsonl:2: expected an object with a numeric 'step'" "$LORAC" compare C
printf '{"results": []}\n' > nostats.json
expect 1 "nostats.json: no 'statistics' object" "$LORAC" compare nostats.json
expect 1 "" "$LORAC" compare A --html nodir/rep.html
[ ! -e nodir ] && ok || bad "a failed --html write left output behind"
finish

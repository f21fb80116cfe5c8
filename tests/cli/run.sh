#!/bin/sh
# run.sh — `lorac run` end to end on tiny random models: the Run 7 and Run 8
# example configs (scaled down by flags, not edited) pass preflight and run every
# stage; a second run skips what is done, a changed section reruns only what
# reads it, --from/--only; a stopped training run (Ctrl-C, or killed) resumes
# from its checkpoint; config and flag errors name file, line and the nearest
# key; preflight refuses a run that does not fit the memory or the time budget
# and says what to change; and each recommendation rule fires on a run showing
# its evidence and stays silent on a healthy one.
set -u
. "$(dirname "$0")/../lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
Q=$LORAC_SHARED/fixtures/tokenizers/qwen3
L3=$LORAC_SHARED/fixtures/tokenizers/llama3
cd "$T"
"$LORAC" init-model --preset tiny --arch qwen3 --out m --tokenizer "$Q" --init-std 0.1 2>/dev/null &&
  "$LORAC" init-model --preset tiny --arch smollm3 --out s3 --tokenizer "$L3" 2>/dev/null ||
  { echo "0 passed, 1 failed"; exit 1; }
# the examples' relative paths (./data, examples/...) resolve here
mkdir data
head -n 40 "$root/examples/data/train.jsonl" > data/train.jsonl
head -n 6 "$root/examples/data/valid.jsonl" > data/valid.jsonl
ln -s "$root/examples" examples
small="-t 1 --iters 4 --num-layers 2 --max-seq-length 96 --steps-per-eval 2 --save-every 2"

# ---- the example configs, every stage ----
for ex in run7-smollm3 run8-qwen3; do
  mdl=$([ $ex = run7-smollm3 ] && echo s3 || echo m)
  expect 0 "next run: runs/$ex/run-next.yaml" "$LORAC" run "examples/$ex.yaml" --model "$mdl" $small
  for f in preflight.json data-check.json audit.json adapters/adapters.safetensors adapters/metrics.jsonl \
           fused/config.json test.json test.md eval.json report.md report.html loss.svg eval.svg run-next.yaml run.json; do
    [ -s "runs/$ex/$f" ] && ok || bad "$ex: runs/$ex/$f missing"
  done
  ls runs/$ex/fused/*.gguf >/dev/null 2>&1 && ok || bad "$ex: no GGUF exported (fuse.export_gguf: true)"
  [ "$(grep -c '"status": "done"' runs/$ex/run.json)" = 7 ] && ok || bad "$ex: not every stage is done: $(cat runs/$ex/run.json)"
  for s in "## Configuration" "## Preflight" "## Data audit" "## Training" "## Evaluation" "## Before and after" "## Recommendations"; do
    grep -q "$s" runs/$ex/report.md && ok || bad "$ex: report.md lacks '$s'"
  done
  grep -q "| matmul_precision | auto: \(bf16\|fp32\) |" runs/$ex/report.md && ok || bad "$ex: report.md lacks the resolved matmul precision"
  grep -q "<svg" runs/$ex/report.html && ! grep -q 'src="http\|href="http\|url(http' runs/$ex/report.html && ok ||
    bad "$ex: report.html lacks inline SVG or loads something from the network"
  # the test prompts ran on base and tuned with the user's settings
  grep -q '"repetition_penalty": 1.2' runs/$ex/test.json && grep -q '"max_tokens": 300' runs/$ex/test.json && ok ||
    bad "$ex: test.json lacks the generation settings"
  [ "$(grep -c '^## ' runs/$ex/test.md)" = 4 ] && ok || bad "$ex: test.md does not hold the 4 test prompts"
  # the next run's config loads (same keys, valid values)
  expect 0 "1/7 preflight" "$LORAC" run "runs/$ex/run-next.yaml" --model "$mdl" $small --run-dir "next-$ex" --only preflight
done
grep -q '"fine_tune_type": "dora"' runs/run8-qwen3/adapters/adapter_config.json && ok || bad "run8 is not DoRA"
grep -q '"architecture": "smollm3"' runs/run7-smollm3/preflight.json && ok || bad "run7 did not run on smollm3"

# ---- a second run skips; a changed section reruns what reads it ----
out=$("$LORAC" run examples/run8-qwen3.yaml --model m $small 2>&1)
[ "$(printf '%s\n' "$out" | grep -c 'skipped')" = 7 ] && ok || bad "second run did not skip every stage: $out"
# from here on, shorter answers and fewer eval examples keep the test fast
sed 's/max_tokens: 300/max_tokens: 16/; s/max_examples: 20/max_examples: 2/' examples/run8-qwen3.yaml > run8s.yaml
"$LORAC" run run8s.yaml --model m $small --run-dir runs/run8-qwen3 >/dev/null 2>&1
sed 's/temp: 0.7/temp: 0.5/' run8s.yaml > run8b.yaml
out=$("$LORAC" run run8b.yaml --model m $small --run-dir runs/run8-qwen3 2>&1)
for s in "3/7 train: done before" "4/7 fuse: done before" "== 5/7 test$" "== 6/7 eval$" "== 7/7 report$"; do
  printf '%s\n' "$out" | grep -q "$s" && ok || bad "changed generation: expected '$s': $out"
done
out=$("$LORAC" run run8b.yaml --model m $small --run-dir runs/run8-qwen3 --only eval 2>&1)
[ "$(printf '%s\n' "$out" | grep -c '^== ')" = 1 ] && printf '%s\n' "$out" | grep -q "== 6/7 eval" && ok || bad "--only eval: $out"
out=$("$LORAC" run run8b.yaml --model m $small --run-dir runs/run8-qwen3 --from fuse 2>&1)
printf '%s\n' "$out" | grep -q "3/7 train: done before" && printf '%s\n' "$out" | grep -q "== 4/7 fuse$" && ok || bad "--from fuse: $out"
# a changed training key retrains from scratch
out=$("$LORAC" run run8b.yaml --model m $small --learning-rate 2e-4 --run-dir runs/run8-qwen3 2>&1)
printf '%s\n' "$out" | grep -q "== 3/7 train$" && printf '%s\n' "$out" | grep -q "starting over" && ok || bad "changed lr did not retrain: $out"

# ---- a stopped training run resumes from its checkpoint ----
long="-t 1 --iters 60 --num-layers 2 --max-seq-length 96 --steps-per-eval 1000 --save-every 5 --steps-per-report 1"
"$LORAC" run run8s.yaml --model m $long --run-dir stop > stop.log 2>&1 &
pid=$!
n=0; while [ $n -lt 300 ] && ! grep -q "Iter 6:" stop.log 2>/dev/null; do sleep 0.1; n=$((n + 1)); done
kill -INT $pid; wait $pid; rc=$?
[ $rc = 130 ] && ok || bad "Ctrl-C during train exited $rc, expected 130: $(tail -n 3 stop.log)"
grep -q '"status": "interrupted"' stop/run.json && ok || bad "run.json does not record the interrupted train stage"
"$LORAC" run run8s.yaml --model m $long --run-dir stop > stop2.log 2>&1 &
pid=$!
n=0; while [ $n -lt 300 ] && ! grep -q "Iter 1[0-9]:" stop2.log 2>/dev/null; do sleep 0.1; n=$((n + 1)); done
kill -KILL $pid; wait $pid 2>/dev/null
grep -q "resuming the stopped training run from stop/adapters/adapters.safetensors (iteration [1-9]" stop2.log && ok ||
  bad "Ctrl-C: the rerun did not resume: $(head -n 20 stop2.log)"
# killed outright: the newest numbered checkpoint (save_every 5)
out=$("$LORAC" run run8s.yaml --model m $long --run-dir stop 2>&1 | grep -E "resuming|Resuming")
printf '%s\n' "$out" | grep -q "(iteration [1-9][0-9]*)" && ok || bad "after kill -9 the rerun did not resume: $out"
grep -q '"step":1,' stop/adapters/metrics.jsonl && [ "$(grep -c '"step":7,' stop/adapters/metrics.jsonl)" = 1 ] && ok ||
  bad "metrics.jsonl repeats steps after the resumes"

# ---- errors ----
cat > bad1.yaml <<'EOF'
model: m
data: data
generation:
  temperature: 0.7
EOF
expect 1 "bad1.yaml:4: unknown key 'temperature' in 'generation'; did you mean 'temp'?" "$LORAC" run bad1.yaml
printf 'model: m\ndata: data\ngeneration:\n  temp: hot\n' > bad2.yaml
expect 1 "bad2.yaml:4: 'generation.temp' is \"hot\"; expected a number" "$LORAC" run bad2.yaml
printf 'model: m\ndata: data\ntest_prompts:\n  - 42\n' > bad3.yaml
expect 1 "bad3.yaml:4: test_prompts[0] must be a non-empty string" "$LORAC" run bad3.yaml
printf 'model: m\ndata: data\nfuse:\n  gguf_type: q4_0\n' > bad4.yaml
expect 1 "bad4.yaml:4: 'fuse.gguf_type' is \"q4_0\"; expected f16|bf16|q8_0" "$LORAC" run bad4.yaml
printf 'model: m\ndata: data\nevaluation:\n  rules: nowhere.yaml\n' > bad5.yaml
expect 1 "bad5.yaml:4: nowhere.yaml (evaluation.rules) does not exist" "$LORAC" run bad5.yaml -t 1 --run-dir bad5
printf 'model: m\ndata: data\nevaluation:\n  thresholds:\n    min_stanse_rate: 0.5\n' > bad6.yaml
expect 1 "bad6.yaml:5: unknown key 'min_stanse_rate' in thresholds; did you mean 'min_stance_rate'?" \
    "$LORAC" run bad6.yaml
expect 2 "unknown stage 'trian'; did you mean 'train'?" "$LORAC" run bad1.yaml --from trian
expect 2 "--from and --only exclude each other" "$LORAC" run bad1.yaml --from train --only eval
expect 2 "--time-budget must be a positive number" "$LORAC" run bad1.yaml --time-budget 0
expect 2 "unknown option '--run-dri'; did you mean '--run-dir'?" "$LORAC" run bad1.yaml --run-dri x
expect 1 "nope.yaml" "$LORAC" run nope.yaml

# ---- preflight refuses and says what to change ----
sed 's/grad_checkpoint: true/grad_checkpoint: false/; s/batch_size: 1/batch_size: 4/' run8s.yaml > mem.yaml
memf="-t 1 --iters 4 --num-layers 2 --max-seq-length 1024"
est() { # DIR [FLAGS]: the preflight estimate (GB) of mem.yaml
  d=$1; shift
  "$LORAC" run mem.yaml --model m $memf --run-dir "$d" --only preflight "$@" >/dev/null 2>&1
  sed -n 's/.*"estimate_gb": \([0-9.e-]*\).*/\1/p' "$d/preflight.json"
}
a=$(est est-a); b=$(est est-b --grad-checkpoint)
limit=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.6f", (a + b) / 2 }')
awk -v a="$a" -v b="$b" 'BEGIN { exit !(b < a) }' && ok || bad "grad checkpointing does not lower the estimate ($a vs $b)"
expect 1 "preflight: 1 check failed" "$LORAC" run mem.yaml --model m $memf --run-dir mem --memory-limit "$limit"
grep -q "grad_checkpoint: true  # lorac run: was false" mem/run-next.yaml && ok || bad "memory: run-next.yaml: $(cat mem/run-next.yaml)"
grep -q '"fits": false' mem/preflight.json && ok || bad "memory: preflight.json does not record the refusal"
[ ! -e mem/adapters ] && ok || bad "memory: training started after a refusal"
expect 1 "over the time budget" "$LORAC" run run8s.yaml --model m $small --run-dir slow --time-budget 0.000001
grep -q "num_layers: 1  # lorac run: was 2" slow/run-next.yaml && ok || bad "time: run-next.yaml: $(cat slow/run-next.yaml)"
# bf16 products are offered when the run computed in fp32 and the CPU has them (auto
# already picked them for these bf16 weights where it could)
used=$(sed -n 's/.*"matmul_precision": "\([a-z0-9]*\)".*/\1/p' slow/preflight.json | head -n 1)
cpu_bf16=0; grep -q 'avx512_bf16\|amx_bf16' /proc/cpuinfo && cpu_bf16=1
[ -n "$used" ] && ok || bad "preflight.json: no probe matmul_precision"
if [ "$used" = fp32 ] && [ $cpu_bf16 = 1 ]; then
  grep -q "matmul_precision: bf16  # lorac run: was auto" slow/run-next.yaml && ok || bad "time: no bf16 in run-next.yaml: $(cat slow/run-next.yaml)"
else
  grep -q "matmul_precision" slow/run-next.yaml && bad "time: bf16 offered to a run already in bf16 (or a CPU without it)" || ok
fi
expect 1 "over the time budget" "$LORAC" run run8s.yaml --model m $small --run-dir slow32 --time-budget 0.000001 --matmul-precision fp32
if [ $cpu_bf16 = 1 ]; then
  grep -q "matmul_precision: bf16  # lorac run: was fp32" slow32/run-next.yaml && ok || bad "time: fp32 run not offered bf16: $(cat slow32/run-next.yaml)"
else
  grep -q "matmul_precision" slow32/run-next.yaml && bad "time: bf16 offered on a CPU without it" || ok
fi

# ---- the decision rules, on runs that show their evidence ----
# a run directory: config.yaml, adapters/metrics.jsonl, eval.json scored by lorac eval from answers
fixture() { # NAME METRICS RESPONSES
  mkdir -p "fx/$1/adapters"
  printf 'model: m\ndata: data\nlearning_rate: 1e-4\niters: 100\ngeneration:\n  temp: 0.7\n  repetition_penalty: 1.2\n' > "fx/$1/config.yaml"
  printf '%s\n' "$2" > "fx/$1/adapters/metrics.jsonl"
  printf '%s\n' "$3" > "fx/$1/responses.jsonl"
  "$LORAC" eval -t 1 --responses "fx/$1/responses.jsonl" -q -o "fx/$1/eval.json" || bad "eval --responses for fixture $1"
  "$LORAC" run "fx/$1/config.yaml" --run-dir "fx/$1" --only report > "fx/$1.log" 2>&1 || bad "report on fixture $1: $(cat fx/$1.log)"
}
# fires NAME LOG_NEEDLE NEXT_NEEDLE: fixture NAME's report names the rule and run-next.yaml carries the change
fires() {
  grep -q "$2" "fx/$1.log" && grep -q "$3" "fx/$1/run-next.yaml" && ok || bad "$1: $(cat "fx/$1.log") $(cat "fx/$1/run-next.yaml")"
}
good='{"prompt": "Why do I keep gaining weight?", "response": "**Insulin** is the hormone that decides whether your body stores fat or burns it.\n\nWhen insulin stays high all day, fat cells keep taking in energy and struggle to release it. That is why the **insulin model** explains weight gain better than calories alone.\n\n- Lower your **carbohydrate** intake, especially refined starch and sugar.\n- Leave longer gaps between meals so insulin can fall.\n- Try a short **fast** once you are used to fewer snacks.\n\nCalories still count, but lowering insulin is what lets stored fat come back out. Most people find hunger settles within a couple of weeks, and energy becomes steadier through the day."}'
falling='{"step":0,"val_loss":2.0}
{"step":10,"train_loss":2.0}
{"step":20,"train_loss":1.6}
{"step":30,"train_loss":1.4}
{"step":50,"val_loss":1.6}
{"step":100,"val_loss":1.5}'
fixture healthy "$falling" "$good"
grep -q "Recommendations: none" fx/healthy.log && grep -q "None: no rule found evidence" fx/healthy/report.md && ok ||
  bad "healthy run got recommendations: $(cat fx/healthy.log)"
fixture loops "$falling" '{"prompt": "q", "response": "Insulin drives fat storage in the body. Insulin drives fat storage in the body. Insulin drives fat storage in the body. Insulin drives fat storage in the body."}'
fires loops "\[loops" "repetition_penalty: 1.3  # lorac run: was 1.2"
fixture val_rising '{"step":0,"val_loss":2.0}
{"step":10,"train_loss":1.9}
{"step":50,"val_loss":1.5}
{"step":60,"train_loss":0.9}
{"step":100,"val_loss":1.9}
{"step":100,"train_loss":0.4}' "$good"
fires val_rising "\[val_rising" "iters: 50  # lorac run: was 100"
fixture train_flat '{"step":0,"val_loss":2.0}
{"step":10,"train_loss":2.0}
{"step":20,"train_loss":2.01}
{"step":30,"train_loss":1.99}
{"step":100,"val_loss":2.0}' "$good"
fires train_flat "\[train_flat" "learning_rate: 0.0003  # lorac run: was 0.0001"
fixture stance "$falling" '{"prompt": "q", "response": "Weight loss is all about calories: eat less and move more. A calorie is a calorie."}'
fires stance "\[stance" "lora_rank: 16  # lorac run: was 8"
fixture diverging '{"step":0,"val_loss":2.0}
{"step":10,"train_loss":2.0}
{"step":20,"train_loss":2.6}
{"step":30,"train_loss":3.1}
{"step":100,"val_loss":2.0}' "$good"
fires diverging "Training loss diverged" "learning_rate: 3.33333e-05  # lorac run: was 0.0001"
# after the fact: training peaked near the machine's memory; training took longer than the budget
mkdir -p fx/peak/adapters fx/late/adapters
cp fx/healthy/config.yaml fx/healthy/eval.json fx/peak/ && cp fx/healthy/config.yaml fx/healthy/eval.json fx/late/
printf '{"step":0,"val_loss":2.0}\n{"step":10,"train_loss":2.0,"peak_rss_gb":0.95}\n{"step":20,"train_loss":1.5,"peak_rss_gb":0.97}\n{"step":30,"train_loss":1.2}\n{"step":100,"val_loss":1.5}\n' > fx/peak/adapters/metrics.jsonl
printf '{"ok": true, "memory": {"fits": true, "total_gb": 1.0}, "model": {"layers": 4}}\n' > fx/peak/preflight.json
"$LORAC" run fx/peak/config.yaml --run-dir fx/peak --only report > fx/peak.log 2>&1
fires peak "\[memory" "grad_checkpoint: true  # lorac run: was false"
cp fx/healthy/adapters/metrics.jsonl fx/late/adapters/
printf '{"ok": true, "estimated_seconds": {"total": 7200}, "probe": {"tokens_per_sec": 10}, "model": {"layers": 4}, "data": {"train_tokens": {"p95": 300}}}\n' > fx/late/preflight.json
"$LORAC" run fx/late/config.yaml --run-dir fx/late --only report --time-budget 1 > fx/late.log 2>&1
fires late "\[time" "max_seq_length: 300  # lorac run: was 2048"
"$LORAC" run fx/late/config.yaml --run-dir fx/late --only report > fx/late2.log 2>&1
grep -q "Recommendations: none" fx/late2.log && ok || bad "time rule fired without a budget: $(cat fx/late2.log)"
# rules that did not see their evidence stay silent
for f in loops val_rising train_flat stance diverging peak late; do
  n=$(grep -c "severity" fx/$f.log)
  [ "$n" = 1 ] && ok || bad "fixture $f fired $n rules: $(cat fx/$f.log)"
done
finish

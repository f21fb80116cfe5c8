#!/bin/sh
# lora.sh — `lorac lora` end to end on tiny random models with the real Qwen3 and
# Llama 3 tokenizers: it trains and writes every promised file, the same seed
# gives identical adapters, stop + resume equals an uninterrupted run (bitwise),
# Ctrl-C saves a resumable checkpoint and exits 130, the adapters load into
# generate/perplexity, the Run 7 / Run 8 example configs are accepted, and bad
# configs and data fail with file:line and a suggestion.
set -u
. "$(dirname "$0")/../lib.sh"
Q=$LORAC_SHARED/fixtures/tokenizers/qwen3
"$LORAC" init-model --preset tiny --arch qwen3 --out "$T/m" --tokenizer "$Q" --init-std 0.1 2>/dev/null || { echo "0 passed, 1 failed"; exit 1; }
mkdir -p "$T/data"
i=0
while [ $i -lt 24 ]; do
  printf '{"messages": [{"role": "user", "content": "Question %d about insulin?"}, {"role": "assistant", "content": "Answer %d: **insulin** stores energy.\\n\\n- point one\\n- point two"}]}\n' $i $i >> "$T/data/train.jsonl"
  i=$((i + 1))
done
head -n 4 "$T/data/train.jsonl" > "$T/data/valid.jsonl"
cat > "$T/run.yaml" <<YAML
model: $T/m
train: true
data: $T/data
lora_rank: 4
lora_alpha: 8
lora_dropout: 0.1
num_layers: 2
batch_size: 2
iters: 12
grad_accumulation_steps: 2
learning_rate: 1e-3
steps_per_report: 4
steps_per_eval: 6
save_every: 4
mask_prompt: true
max_seq_length: 128
YAML
cd "$T"
expect 0 "Iter 12: Train loss" "$LORAC" lora --config run.yaml --adapter-path a1
for f in adapters.safetensors adapter_config.json best_adapters.safetensors training_state.safetensors \
         0000004_adapters.safetensors 0000008_state.safetensors metrics.jsonl; do
  [ -s "a1/$f" ] && ok || bad "a1/$f missing"
done
grep -q '"val_loss"' a1/metrics.jsonl && grep -q '"train_loss"' a1/metrics.jsonl && ok || bad "metrics.jsonl lacks losses"
grep -q '"rank": 4' a1/adapter_config.json && grep -q '"scale": 2' a1/adapter_config.json && ok || bad "adapter_config.json lacks rank/scale"
expect 0 "lora_rank: 4 -> lora_parameters.rank" "$LORAC" lora --config run.yaml --adapter-path a2
cmp -s a1/adapters.safetensors a2/adapters.safetensors && ok || bad "same seed gave different adapters"
"$LORAC" lora --config run.yaml --adapter-path a3 --seed 5 >/dev/null 2>&1
cmp -s a1/adapters.safetensors a3/adapters.safetensors && bad "another seed gave identical adapters" || ok
# matmul_precision bf16 (PyTorch bf16 autocast's precision): reproducible, thread-count
# independent, recorded, and close to fp32 in loss; auto (the default) picks it for these
# bf16 weights; on a CPU without AVX-512 BF16 or AMX both say they compute in fp32
OMP_NUM_THREADS=2 "$LORAC" lora --config run.yaml --adapter-path h1 --matmul-precision bf16 > h1.log 2>&1
"$LORAC" lora --config run.yaml --adapter-path h0 --matmul-precision fp32 > h0.log 2>&1
grep -q "Matmul precision: fp32 — exact fp32 products (matmul_precision)" h0.log && ok || bad "fp32 line: $(cat h0.log)"
if grep -q "Matmul precision: bf16" h1.log; then
  ok
  cmp -s h0/adapters.safetensors h1/adapters.safetensors && bad "bf16 matmuls gave the fp32 adapters bit for bit" || ok
  "$LORAC" lora --config run.yaml --adapter-path h3 > h3.log 2>&1
  grep -q "Matmul precision: bf16 .*(auto: bf16 weights" h3.log && cmp -s h1/adapters.safetensors h3/adapters.safetensors &&
    ok || bad "auto did not train in bf16 on bf16 weights: $(cat h3.log)"
elif grep -q "matmul_precision bf16 needs AVX-512 BF16 or AMX.*computing in fp32" h1.log; then
  ok; ok; ok
else
  bad "no precision line: $(cat h1.log)"; bad "bf16 skipped"; bad "auto skipped"
fi
OMP_NUM_THREADS=1 "$LORAC" lora --config run.yaml --adapter-path h2 --matmul-precision bf16 >/dev/null 2>&1
cmp -s h1/adapters.safetensors h2/adapters.safetensors && ok || bad "bf16 adapters differ between 1 and 2 threads"
grep -q '"matmul_precision": "bf16"' h1/adapter_config.json && grep -q '"matmul_precision": "auto"' a1/adapter_config.json &&
  ok || bad "adapter_config.json lacks matmul_precision"
last_val() { grep '"val_loss"' "$1" | tail -n 1 | sed 's/.*"val_loss": *\([0-9.e+-]*\).*/\1/'; }
awk -v a="$(last_val h0/metrics.jsonl)" -v b="$(last_val h1/metrics.jsonl)" 'BEGIN { d = a - b; exit !(a > 0 && b > 0 && d < 0.02 && d > -0.02) }' &&
  ok || bad "bf16 final val loss $(last_val h1/metrics.jsonl) far from fp32 $(last_val h0/metrics.jsonl)"
# resume from the middle of an accumulation group and from its end
expect 0 "at iteration 4" "$LORAC" lora --config run.yaml --adapter-path a4 --resume-adapter-file a1/0000004_adapters.safetensors
cmp -s a1/adapters.safetensors a4/adapters.safetensors && ok || bad "resume from iteration 4 differs from the uninterrupted run"
# resuming in place (a killed run): the metrics of iterations after the checkpoint are
# dropped, so each report appears once, and the result equals the uninterrupted run
cp -r a1 a5
expect 0 "at iteration 4" "$LORAC" lora --config run.yaml --adapter-path a5 --resume-adapter-file a5/0000004_adapters.safetensors
cmp -s a1/adapters.safetensors a5/adapters.safetensors && ok || bad "in-place resume differs from the uninterrupted run"
[ "$(grep -c '"train_loss"' a5/metrics.jsonl)" = "$(grep -c '"train_loss"' a1/metrics.jsonl)" ] && ok ||
  bad "in-place resume left duplicate metrics: $(cat a5/metrics.jsonl)"
sed 's/grad_accumulation_steps: 2/grad_accumulation_steps: 3/' run.yaml > run3.yaml
"$LORAC" lora --config run3.yaml --adapter-path b1 >/dev/null 2>&1
expect 0 "at iteration 4" "$LORAC" lora --config run3.yaml --adapter-path b2 --resume-adapter-file b1/0000004_adapters.safetensors
cmp -s b1/adapters.safetensors b2/adapters.safetensors && ok || bad "resume inside an accumulation group differs"
# Ctrl-C saves a resumable checkpoint and exits 130
sed 's/iters: 12/iters: 100000/; s/save_every: 4/save_every: 100000/' run.yaml > long.yaml
"$LORAC" lora --config long.yaml --adapter-path c1 > c1.log 2>&1 &
pid=$!
n=0; while [ $n -lt 100 ] && ! grep -q "Iter 4:" c1.log 2>/dev/null; do sleep 0.2; n=$((n + 1)); done
kill -INT $pid; wait $pid; rc=$?
[ $rc -eq 130 ] && ok || bad "Ctrl-C exit code $rc, expected 130: $(tail -3 c1.log)"
grep -q "Resume with" c1.log && [ -s c1/training_state.safetensors ] && ok || bad "no resumable checkpoint after Ctrl-C"
# adapters apply in generate and perplexity
expect 0 "mean loss" "$LORAC" perplexity --model m --data data/valid.jsonl --adapter-path a1
base=$("$LORAC" perplexity --model m --data data/valid.jsonl 2>/dev/null | grep 'mean loss')
tuned=$("$LORAC" perplexity --model m --data data/valid.jsonl --adapter-path a1 2>/dev/null | grep 'mean loss')
[ "$base" != "$tuned" ] && ok || bad "adapters did not change the validation loss"
expect 0 "" "$LORAC" generate --model m --adapter-path a1 --prompt "Question 1 about insulin?" --max-tokens 5 --temp 0
expect 1 "no adapter_config.json" "$LORAC" generate --model m --adapter-path data --prompt "hi" --max-tokens 1
# full fine-tuning of the last block: trains, and its weights apply in generate/perplexity
expect 0 "full fine-tuning of the last 1 layers" "$LORAC" lora --config run.yaml --fine-tune-type full --num-layers 1 --adapter-path f1
grep -q '"fine_tune_type": "full"' f1/adapter_config.json && ok || bad "full adapter_config.json"
full=$("$LORAC" perplexity --model m --data data/valid.jsonl --adapter-path f1 2>/dev/null | grep 'mean loss')
[ -n "$full" ] && [ "$full" != "$base" ] && ok || bad "full fine-tuned weights did not change the loss ($full vs $base)"
# example configs against tiny models of their architectures
"$LORAC" init-model --preset tiny --arch smollm3 --out s3 --tokenizer "$LORAC_SHARED/fixtures/tokenizers/llama3" 2>/dev/null
for ex in run7-smollm3 run8-qwen3; do
  cfg="$TESTS_DIR/../examples/$ex.yaml"
  mdl=$([ $ex = run7-smollm3 ] && echo s3 || echo m)
  expect 0 "Saved final weights" "$LORAC" lora --config "$cfg" --model "$mdl" --data data --iters 2 \
      --num-layers 2 --adapter-path "ex-$ex" --max-seq-length 64 --steps-per-eval 1000
done
grep -q '"fine_tune_type": "dora"' ex-run8-qwen3/adapter_config.json && ok || bad "run8 is not DoRA"
# bad configs and data
printf 'model: m\nlearning_rte: 1e-4\n' > typo.yaml
expect 1 "typo.yaml:2: unknown key 'learning_rte'; did you mean 'learning_rate'?" "$LORAC" lora --config typo.yaml
printf 'model: m\nlora_parameters:\n  rnak: 8\n' > typo2.yaml
expect 1 "typo2.yaml:3:" "$LORAC" lora --config typo2.yaml
printf 'model: m\nbatch_size: four\n' > type.yaml
expect 1 "type.yaml:2: 'batch_size' must be" "$LORAC" lora --config type.yaml
grep -v '^train:' run.yaml > notrain.yaml
expect 1 "nothing to do" "$LORAC" lora --config notrain.yaml
expect 2 "did you mean '--learning-rate'" "$LORAC" lora --config run.yaml --learning-rte 1
mkdir -p baddata && cp data/valid.jsonl baddata/ && { head -n 3 data/train.jsonl; echo '{"messages": [{"role": "user", "content": "q"}]}'; } > baddata/train.jsonl
expect 1 "baddata/train.jsonl:4: the last message must be the assistant's" "$LORAC" lora --config run.yaml --data baddata --adapter-path d1
finish

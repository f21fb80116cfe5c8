#!/bin/sh
# fuse_llamacpp.sh — GGUF files from `lorac fuse --export-gguf` load in llama.cpp
# (llama-cpp-python, built once by scripts/llamacpp-venv.sh) and continue a prompt
# greedily exactly as lorac does on the fused HF directory:
#   - a tiny Qwen3 (real Qwen3 tokenizer) fused with the PEFT-made adapter
#     tests/golden/fuse/qwen3_peft_rslora, and a tiny Qwen2 (q/k/v biases) with
#     qwen2_peft_dora,
#   - a tiny SmolLM3 (Llama 3 tokenizer, NoPE every 4th layer) fused with a DoRA
#     adapter lorac trains for a few steps,
#   - the real SmolLM2-135M-Instruct (Q4_1 GGUF base) fused with a LoRA lorac
#     trains for a few steps on examples/data.
# Each model is exported as an f32 GGUF from an f32 fused directory (the same
# weights on both sides: every token must agree) and in f16/bf16 (lorac's bf16
# directory vs llama.cpp's f16/bf16 file, which rounds activations too: the
# agreement is printed, and for SmolLM2 must hold for the first 16 tokens and
# include Paris). The tiny SmolLM3's bf16 GGUF must equal, tensor for tensor and
# in its tokenizer metadata, what gguf-py writes the way llama.cpp's converter does
# (bench/make_bench_models.py). llama.cpp's own tokenization of each prompt must
# equal lorac's. Where llama.cpp crashes with its
# defaults (its AMX int8 kernels do on some VMs) the run is repeated without extra
# buffer types and a note says so.
set -u
. "$(dirname "$0")/../lib.sh"
: "${TESTS_DIR:=$(cd "$(dirname "$0")/.." && pwd)}"
root=$(cd "$TESTS_DIR/.." && pwd)
Q=$LORAC_SHARED/fixtures/tokenizers/qwen3
L3=$LORAC_SHARED/fixtures/tokenizers/llama3
py=$(sh "$root/scripts/llamacpp-venv.sh") || { bad "llama.cpp (llama-cpp-python) is not available; see above"; finish; exit 1; }
helper=$TESTS_DIR/slow/llamacpp_greedy.py
cd "$T"

# llama.cpp on GGUF vs lorac on DIR for TEXT, N tokens; at least MIN must agree.
# llama.cpp's ids are decoded by lorac (special tokens skipped, as generate prints)
# and compared with lorac's text: all of it, else the longest agreeing prefix.
check() {
  name=$1 dir=$2 file=$3 text=$4 n=$5 min=$6 # (sh has no locals: these names are check's own)
  lo=$("$LORAC" generate --model "$dir" --ignore-chat-template --prompt "$text" --max-tokens "$n" --temp 0 --ignore-eos 2>/dev/null) \
    || { bad "$name: lorac generate failed"; return; }
  ids=$("$LORAC" tokenize --model "$dir" --text "$text" --json)
  res=$("$py" "$helper" "$file" "$ids" "$n" "$text" 2>&1); rc=$?
  if [ $rc -ge 128 ]; then
    echo "note: $name: llama.cpp crashed (exit $rc) with its defaults (its AMX int8 kernels); rerun without extra buffer types"
    res=$("$py" "$helper" "$file" "$ids" "$n" "$text" --no-extra-bufts 2>&1); rc=$?
  fi
  [ $rc -eq 0 ] || { bad "$name: llama.cpp failed (exit $rc): $(printf '%s' "$res" | tail -3)"; return; }
  res=$(printf '%s\n' "$res" | tail -n 1)
  case "$res" in *'"tok_same": true'*) ok ;; *) bad "$name: llama.cpp tokenizes the prompt differently: $res" ;; esac
  gen=$(printf '%s' "$res" | sed 's/.*"ids": \[\([^]]*\)\].*/\1/' | tr -d ',')
  ll=$("$LORAC" tokenize --model "$dir" --decode --skip-special --text "$gen")
  agree=0
  if [ "$ll" = "$lo" ]; then
    agree=$n
  else
    acc=""
    for id in $gen; do
      acc="$acc $id"
      d=$("$LORAC" tokenize --model "$dir" --decode --skip-special --text "$acc")
      case "$lo" in "$d"*) agree=$((agree + 1)) ;; *) break ;; esac
    done
  fi
  echo "$name: llama.cpp and lorac agree on $agree/$n greedy tokens"
  [ "$agree" -ge "$min" ] && ok || bad "$name: only $agree/$n tokens agree (need $min)
    lorac:     $(printf '%s' "$lo" | head -c 200)
    llama.cpp: $(printf '%s' "$ll" | head -c 200)"
  printf '%s' "$lo" > lorac.txt
}

# ---- tiny Qwen3 + PEFT adapter ----
"$LORAC" init-model --preset tiny --arch qwen3 --out q3 --tokenizer "$Q" --init-std 0.25 --seed 5 2>/dev/null
expect 0 "wrote q3f" "$LORAC" fuse --model q3 --adapter-path "$TESTS_DIR/golden/fuse/qwen3_peft_rslora" --save-path q3f \
  --dtype f32 --export-gguf --gguf-type f32
check "qwen3 tiny f32" q3f q3f/ggml-model-f32.gguf "The history of the city begins" 32 32
expect 0 "wrote q3b" "$LORAC" fuse --model q3 --adapter-path "$TESTS_DIR/golden/fuse/qwen3_peft_rslora" --save-path q3b --export-gguf
check "qwen3 tiny bf16 dir vs f16 GGUF" q3b q3b/ggml-model-f16.gguf "The history of the city begins" 32 0

# ---- tiny Qwen2 (q/k/v biases) + PEFT DoRA adapter on every layer ----
"$LORAC" init-model --preset tiny --arch qwen2 --out q2 --tokenizer "$Q" --init-std 0.25 --seed 7 2>/dev/null
expect 0 "wrote q2f" "$LORAC" fuse --model q2 --adapter-path "$TESTS_DIR/golden/fuse/qwen2_peft_dora" --save-path q2f \
  --dtype f32 --export-gguf --gguf-type f32
check "qwen2 tiny f32" q2f q2f/ggml-model-f32.gguf "The history of the city begins" 32 32

# ---- tiny SmolLM3 + DoRA trained by lorac ----
"$LORAC" init-model --preset tiny --arch smollm3 --out s3 --tokenizer "$L3" --init-std 0.25 --seed 6 2>/dev/null
mkdir -p data
i=0
while [ $i -lt 16 ]; do
  printf '{"messages": [{"role": "user", "content": "Question %d about insulin?"}, {"role": "assistant", "content": "Answer %d: insulin moves glucose into cells."}]}\n' $i $i >> data/train.jsonl
  i=$((i + 1))
done
cat > s3.yaml <<YAML
model: s3
train: true
data: data
fine_tune_type: dora
lora_parameters: {rank: 4, scale: 4.0, dropout: 0.0}
num_layers: 2
batch_size: 4
iters: 4
learning_rate: 5e-2
val_batches: 0
steps_per_eval: 100
save_every: 100
max_seq_length: 64
YAML
expect 0 "Saved final weights" "$LORAC" lora --config s3.yaml --adapter-path s3a
expect 0 "wrote s3f" "$LORAC" fuse --model s3 --adapter-path s3a --save-path s3f --dtype f32 --export-gguf --gguf-type f32
check "smollm3 tiny f32" s3f s3f/ggml-model-f32.gguf "Answer about insulin and glucose" 32 32
expect 0 "wrote s3b" "$LORAC" fuse --model s3 --adapter-path s3a --save-path s3b --export-gguf --gguf-type bf16
check "smollm3 tiny bf16" s3b s3b/ggml-model-bf16.gguf "Answer about insulin and glucose" 32 0
# the same directory written by gguf-py the way llama.cpp's converter does (bench/make_bench_models.py):
# every tensor identical, so any disagreement above is llama.cpp's bf16 arithmetic, not the file
"$py" "$root/bench/make_bench_models.py" hf2gguf s3b ref.gguf >/dev/null 2>&1 || bad "gguf-py could not convert s3b"
cmp_out=$("$py" -c '
import sys, numpy as np, gguf
a, b = gguf.GGUFReader(sys.argv[1]), gguf.GGUFReader(sys.argv[2])
ta, tb = {t.name: t for t in a.tensors}, {t.name: t for t in b.tensors}
bad = sorted(set(ta) ^ set(tb)) + [n for n in ta if n in tb and (ta[n].tensor_type != tb[n].tensor_type
       or not np.array_equal(np.array(ta[n].data), np.array(tb[n].data)))]
keys = ["general.architecture", "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type"]
bad += [k for k in keys if a.fields[k].contents() != b.fields[k].contents()]
print("same" if not bad else "differ: " + " ".join(bad[:8]))' s3b/ggml-model-bf16.gguf ref.gguf 2>&1)
[ "$cmp_out" = same ] && ok || bad "lorac's smollm3 bf16 GGUF vs gguf-py's: $cmp_out"
echo "smollm3 tiny bf16: tensors, architecture and tokenizer metadata identical to gguf-py's conversion: $cmp_out"

# ---- SmolLM2-135M-Instruct (Q4_1 base) + LoRA trained by lorac ----
s2=$(sh "$root/scripts/fetch-smollm2.sh") || { bad "no SmolLM2 GGUF"; finish; exit 1; }
expect 0 "Saved final weights" "$LORAC" lora --config "$root/examples/quickstart.yaml" --model "$s2" --data "$root/examples/data" \
  --adapter-path s2a --iters 6 --num-layers 8 --val-batches 0 --steps-per-eval 100 --save-every 100 --max-seq-length 256
out=$("$LORAC" fuse --model "$s2" --adapter-path s2a --save-path s2f --dtype f32 --export-gguf --gguf-type f32 2>&1)
[ $? -eq 0 ] && ok || bad "SmolLM2 fuse: $out"
printf '%s\n' "$out" | grep "kept" | sed 's/^/  /'
printf '[{"role": "user", "content": "What is the capital of France?"}]' > q.json
prompt=$("$LORAC" template --model s2f --messages q.json --add-generation-prompt)
check "SmolLM2 fused f32" s2f s2f/ggml-model-f32.gguf "$prompt" 32 32
out=$("$LORAC" fuse --model "$s2" --adapter-path s2a --save-path s2b --export-gguf 2>&1)
[ $? -eq 0 ] && ok || bad "SmolLM2 fuse (bf16 / f16): $out"
printf '%s\n' "$out" | grep "kept" | sed 's/^/  /'
check "SmolLM2 fused bf16 dir vs f16 GGUF" s2b s2b/ggml-model-f16.gguf "$prompt" 32 16
case "$(cat lorac.txt)" in *Paris*) ok ;; *) bad "no Paris from the fused SmolLM2: $(cat lorac.txt)" ;; esac
finish

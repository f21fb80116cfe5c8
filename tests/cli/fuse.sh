#!/bin/sh
# fuse.sh — `lorac fuse`, `lorac convert` and `lorac adapters` end to end on a tiny
# Qwen3 with the real Qwen3 tokenizer and a PEFT adapter made by PEFT
# (tests/golden/fuse/qwen3_peft_rslora): --adapter-path takes PEFT and mlx-lm
# layouts alike, the fused directory gives the unfused loss, adapters convert both
# ways without changing it, GGUF export (f32) generates the same text, outputs
# are atomic (existing ones refused without --force; a write that fails half way,
# here a file-size limit, leaves nothing), and bad flags and inputs fail clearly.
set -u
. "$(dirname "$0")/../lib.sh"
Q=$LORAC_SHARED/fixtures/tokenizers/qwen3
G=$TESTS_DIR/golden/fuse
"$LORAC" init-model --preset tiny --arch qwen3 --out "$T/m" --tokenizer "$Q" --init-std 0.1 --seed 3 2>/dev/null \
  || { echo "0 passed, 1 failed"; exit 1; }
cd "$T"
i=0
while [ $i -lt 6 ]; do
  printf '{"messages": [{"role": "user", "content": "Question %d about insulin?"}, {"role": "assistant", "content": "Answer %d: insulin stores energy."}]}\n' $i $i >> valid.jsonl
  i=$((i + 1))
done
loss() { "$LORAC" perplexity --model "$1" --data valid.jsonl ${2:+--adapter-path "$2"} 2>/dev/null | grep 'mean loss'; }
same() { [ -n "$2" ] && [ "$2" = "$3" ] && ok || bad "$1: '$2' vs '$3'"; }

# the PEFT adapter applies unfused, and fused it gives the same loss
base=$(loss m)
peft=$(loss m "$G/qwen3_peft_rslora")
[ -n "$peft" ] && [ "$peft" != "$base" ] && ok || bad "the PEFT adapter did not change the loss ($peft vs $base)"
expect 0 '"dtype": "bf16"' "$LORAC" fuse --model m --adapter-path "$G/qwen3_peft_rslora" --save-path f --json
for x in config.json generation_config.json model.safetensors tokenizer.json tokenizer_config.json; do
  [ -s "f/$x" ] && ok || bad "f/$x missing"
done
ls -d f.tmp.* >/dev/null 2>&1 && bad "a temp directory was left behind" || ok
grep -q '"torch_dtype": "bfloat16"' f/config.json && ok || bad "config.json dtype: $(grep dtype f/config.json)"
expect 0 '"kept": 1' "$LORAC" fuse --model m --adapter-path "$G/qwen3_peft_rslora" --save-path f32 --dtype f32 --json
same "fused (f32 weights) vs unfused loss" "$(loss f32)" "$peft"

# adapters: PEFT -> mlx-lm (the layer count comes from --model) -> PEFT, same loss
expect 1 "cannot tell mlx-lm's num_layers" "$LORAC" adapters convert --to mlx "$G/qwen3_peft_rslora" a_mlx
expect 0 "mlx-lm layout" "$LORAC" adapters convert --to mlx "$G/qwen3_peft_rslora" a_mlx --model m
grep -q '"num_layers": 3' a_mlx/adapter_config.json && [ -s a_mlx/adapters.safetensors ] && ok || bad "a_mlx: $(cat a_mlx/adapter_config.json)"
same "mlx-lm conversion loss" "$(loss m a_mlx)" "$peft"
expect 0 "PEFT layout" "$LORAC" adapters convert --to peft a_mlx a_peft
grep -q '"lora_alpha": 6' a_peft/adapter_config.json && grep -q '"use_rslora": true' a_peft/adapter_config.json && ok \
  || bad "a_peft config: $(cat a_peft/adapter_config.json)"
same "PEFT round-trip loss" "$(loss m a_peft)" "$peft"
expect 0 "LoRA adapter, peft layout, rank 4, scale 3" "$LORAC" adapters info a_peft
expect 0 '"layout": "mlx"' "$LORAC" adapters info a_mlx --json
expect 1 "already exists" "$LORAC" adapters convert --to peft a_mlx a_peft
expect 0 "PEFT layout" "$LORAC" adapters convert --to peft a_mlx a_peft --force

# GGUF export: f32 weights generate exactly what the HF directory does
expect 0 "ggml-model-f32.gguf" "$LORAC" fuse --model m --adapter-path a_mlx --save-path g --dtype f32 --export-gguf --gguf-type f32
t_hf=$("$LORAC" generate --model g --prompt "Question 2 about insulin?" --max-tokens 12 --temp 0 2>/dev/null)
t_gg=$("$LORAC" generate --model g/ggml-model-f32.gguf --prompt "Question 2 about insulin?" --max-tokens 12 --temp 0 2>/dev/null)
same "GGUF vs HF greedy text" "$t_gg" "$t_hf"
expect 0 "wrote" "$LORAC" fuse --model m --adapter-path a_mlx --save-path g2 --export-gguf --gguf-path "$T/out/elsewhere.gguf" --gguf-type q8_0
[ -s out/elsewhere.gguf ] && [ ! -e g2/elsewhere.gguf ] && ok || bad "--gguf-path outside the directory"
# convert both ways: the tokenizer survives
expect 0 "wrote m.gguf" "$LORAC" convert --model m --out m.gguf
expect 0 "wrote back" "$LORAC" convert --model m.gguf --out back --dtype f32
same "tokenizer after HF -> GGUF -> HF" "$("$LORAC" tokenize --model back --text 'Hello wörld 123' --json)" \
  "$("$LORAC" tokenize --model m --text 'Hello wörld 123' --json)"
same "loss after HF -> GGUF -> HF (bf16 weights exactly)" "$(loss back)" "$base"

# outputs: refused when they exist, replaced with --force; a failed write leaves nothing
expect 1 "f: already exists" "$LORAC" fuse --model m --adapter-path "$G/qwen3_peft_rslora" --save-path f
expect 0 "wrote f" "$LORAC" fuse --model m --adapter-path "$G/qwen3_peft_rslora" --save-path f --force
expect 1 "m.gguf: already exists" "$LORAC" convert --model m --out m.gguf
out=$(sh -c 'ulimit -f 4000; trap "" XFSZ; exec "$0" fuse --model m --adapter-path a_mlx --save-path full' "$LORAC" 2>&1); rc=$?
[ $rc -eq 1 ] && case "$out" in *"write failed"*) true ;; *) false ;; esac && ok || bad "file-size limit: exit $rc: $out"
[ ! -e full ] && ! ls -d full.tmp.* >/dev/null 2>&1 && ok || bad "a failed fuse left $(ls -d full* 2>/dev/null)"
out=$(sh -c 'ulimit -f 4000; trap "" XFSZ; exec "$0" convert --model m --out big.gguf --dtype f32' "$LORAC" 2>&1); rc=$?
[ $rc -eq 1 ] && [ ! -e big.gguf ] && ! ls big.gguf.* >/dev/null 2>&1 && ok || bad "failed GGUF write: exit $rc, $(ls big* 2>/dev/null): $out"

# bad input: another model's adapter, missing files, bad flags
"$LORAC" init-model --preset tiny --arch llama --num-layers 2 --out small --tokenizer "$Q" 2>/dev/null
expect 1 "adapts layer 2 but the model (llama, small) has 2 layers" "$LORAC" fuse --model small --adapter-path "$G/qwen3_peft_rslora" --save-path x
expect 1 "missing adapter file nope.safetensors" "$LORAC" fuse --model m --adapter-path a_mlx --adapter-file nope.safetensors --save-path x
expect 1 "no adapter_config.json" "$LORAC" fuse --model m --adapter-path m --save-path x
expect 1 "no such adapter directory" "$LORAC" generate --model m --adapter-path nowhere --prompt hi
[ ! -e x ] && ok || bad "a failed fuse wrote x"
expect 2 "--model is required" "$LORAC" fuse --adapter-path a_mlx
expect 2 "--gguf-type" "$LORAC" fuse --model m --gguf-type q4_k --export-gguf
expect 2 "--min-kept must be in (0, 1]" "$LORAC" fuse --model m --min-kept 2
expect 2 "--model and --out are required" "$LORAC" convert --model m
expect 2 "--dtype q8_0 is for GGUF output" "$LORAC" convert --model m --out dir --dtype q8_0
expect 2 "did you mean 'convert'" "$LORAC" adapters convrt a b
expect 2 "convert needs --to" "$LORAC" adapters convert a_mlx z
expect 2 "--to: unknown value 'onnx'" "$LORAC" adapters convert --to onnx a_mlx z
expect 0 "--gguf-type" "$LORAC" help fuse
finish

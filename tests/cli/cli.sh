#!/bin/sh
# cli.sh — the command-line shell and bad-input handling, end to end through ./lorac:
# every bad input exits non-zero with one clear line naming the file and the
# problem, and never leaves a partial output behind.
set -u
. "$(dirname "$0")/../lib.sh"

# little-endian byte writers for hand-built files
le32() { v=$1; i=0; while [ $i -lt 4 ]; do printf "\\$(printf %03o $((v & 255)))"; v=$((v >> 8)); i=$((i + 1)); done; }
le64() { le32 $(($1 & 4294967295)); le32 $(($1 >> 32)); }
gstr() { le64 ${#1}; printf '%s' "$1"; }

# ---- shell ----
expect 0 "lorac 0." "$LORAC" --version
expect 0 "init-model" "$LORAC" help
expect 0 "--max-seq-length N" "$LORAC" help inspect
expect 0 "(default: 2048)" "$LORAC" help inspect
expect 0 "--dtype T" "$LORAC" help init-model
expect 0 "(default: bf16)" "$LORAC" init-model --help
expect 2 "did you mean 'inspect'" "$LORAC" inspct
expect 2 "unknown command 'frobnicate'" "$LORAC" frobnicate
expect 2 "did you mean 'inspect'" "$LORAC" help inpsect
expect 2 "unknown option '--max-seq-len'; did you mean '--max-seq-length'?" "$LORAC" inspect x --max-seq-len 5
expect 2 "unknown option '--jsn'; did you mean '--json'?" "$LORAC" inspect x --jsn
expect 2 "expected 1 argument" "$LORAC" inspect
expect 2 "needs a value" "$LORAC" inspect x --max-seq-length
expect 2 "--max-seq-length: expected an integer, got 'lots'" "$LORAC" inspect x --max-seq-length lots
expect 2 "unknown value 'tiy'; did you mean 'tiny'?" "$LORAC" init-model --preset tiy --out "$T/x"
expect 2 "unknown value 'lama'; did you mean 'llama'?" "$LORAC" init-model --preset tiny --arch lama --out "$T/x"
expect 2 "--out is required" "$LORAC" init-model --preset tiny
expect 2 "unknown option '--outt'; did you mean '--out'?" "$LORAC" init-model --preset tiny --outt "$T/x"
expect 2 "unknown option '--verison'; did you mean '--version' or '--help'?" "$LORAC" --verison
[ ! -e "$T/x" ] && ok || bad "usage errors left $T/x behind"

# ---- init-model / inspect round trip for every architecture ----
for arch in llama qwen2 qwen3 smollm3; do
  expect 0 "wrote $T/$arch" "$LORAC" init-model --preset tiny --arch "$arch" --out "$T/$arch" --dtype f32 --seed 3
  expect 0 "architecture:  $arch" "$LORAC" inspect "$T/$arch"
done
expect 0 "nope layers:   1 of 4: 3" "$LORAC" inspect "$T/smollm3"
expect 0 "q/k norm" "$LORAC" inspect "$T/qwen3"
expect 0 "q/k/v bias" "$LORAC" inspect "$T/qwen2"
expect 0 '"architecture": "qwen3"' "$LORAC" inspect "$T/qwen3" --json
expect 0 "model.layers.0.self_attn.q_norm.weight" "$LORAC" inspect "$T/qwen3" --tensors
expect 0 "parameters:    180.8K" "$LORAC" inspect "$T/llama"
expect 1 "already exists" "$LORAC" init-model --preset tiny --out "$T/llama"
expect 0 "wrote" "$LORAC" init-model --preset tiny --out "$T/llama" --force --tie-embeddings true
expect 0 "tied embeddings" "$LORAC" inspect "$T/llama"
# a tokenizer is copied and sets the tiny vocabulary
if [ -d "${LORAC_SHARED:-../shared}/fixtures/tokenizers/qwen3" ]; then
  expect 0 "wrote" "$LORAC" init-model --preset tiny --arch qwen3 --out "$T/qtok" --tokenizer "${LORAC_SHARED:-../shared}/fixtures/tokenizers/qwen3"
  expect 0 "tokenizer:     BPE, 151669 tokens" "$LORAC" inspect "$T/qtok"
  expect 0 "chat template: yes" "$LORAC" inspect "$T/qtok"
  expect 0 "vocabulary:    151669" "$LORAC" inspect "$T/qtok"
fi
# failures leave nothing behind
expect 1 "cannot create" "$LORAC" init-model --preset tiny --out /proc/lorac-no/x
expect 1 "--tokenizer $T/none" "$LORAC" init-model --preset tiny --out "$T/nt" --tokenizer "$T/none"
[ ! -e "$T/nt" ] && ok || bad "failed init-model left $T/nt behind"
ls "$T" | grep -q 'tmp\.' && bad "temp directories left in $T: $(ls "$T")" || ok

# ---- bad HF directories ----
mk() { rm -rf "$T/m"; cp -r "$T/llama" "$T/m"; }
expect 1 "$T/nowhere: no such file or directory" "$LORAC" inspect "$T/nowhere"
mkdir -p "$T/empty"
expect 1 "missing config.json" "$LORAC" inspect "$T/empty"
mk; printf '{"model_type": "llama", "hidden_size": 64,,' > "$T/m/config.json"
expect 1 "$T/m/config.json:1:" "$LORAC" inspect "$T/m"
mk; sed -i 's/"model_type": "llama"/"model_type": "mistral"/' "$T/m/config.json"
expect 1 "unsupported model_type 'mistral'" "$LORAC" inspect "$T/m"
mk; sed -i 's/"num_hidden_layers": 4/"num_hidden_layers": 5/' "$T/m/config.json"
expect 1 "missing tensor 'model.layers.4.input_layernorm.weight'" "$LORAC" inspect "$T/m"
mk; sed -i 's/"intermediate_size": 128/"intermediate_size": 96/' "$T/m/config.json"
expect 1 "tensor 'model.layers.0.mlp.gate_proj.weight' has shape (128, 64), expected (96, 64)" "$LORAC" inspect "$T/m"
# safetensors: truncated header, lying offsets, overlap, wrong size
mk; head -c 5 "$T/llama/model.safetensors" > "$T/m/model.safetensors"
expect 1 "$T/m/model.safetensors: " "$LORAC" inspect "$T/m"
mk; { le64 400; printf '{"a":'; } > "$T/m/model.safetensors"
expect 1 "$T/m/model.safetensors: " "$LORAC" inspect "$T/m"
st_file() { h=$1; n=${#h}; { le64 "$n"; printf '%s' "$h"; head -c "$2" /dev/zero; } > "$T/m/model.safetensors"; }
mk; st_file '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[16,48]}}' 32
expect 1 "'b'" "$LORAC" inspect "$T/m"
mk; st_file '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}' 24
expect 1 "overlap" "$LORAC" inspect "$T/m"
mk; st_file '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,12]}}' 12
expect 1 "$T/m/model.safetensors: tensor 'a'" "$LORAC" inspect "$T/m"
mk; st_file '{"a":{"dtype":"F33","shape":[4],"data_offsets":[0,16]}}' 16
expect 1 "F33" "$LORAC" inspect "$T/m"

# ---- bad GGUF files ----
printf 'GGUX' > "$T/bad.gguf"; le32 3 >> "$T/bad.gguf"; le64 0 >> "$T/bad.gguf"; le64 0 >> "$T/bad.gguf"
expect 1 "$T/bad.gguf: not a GGUF file" "$LORAC" inspect "$T/bad.gguf"
{ printf 'GGUF'; le32 1; le64 0; le64 0; } > "$T/v1.gguf"
expect 1 "$T/v1.gguf: unsupported GGUF version 1" "$LORAC" inspect "$T/v1.gguf"
{ printf 'GGUF'; le32 3; le64 0; } > "$T/trunc.gguf"
expect 1 "$T/trunc.gguf: truncated" "$LORAC" inspect "$T/trunc.gguf"
{ printf 'GGUF'; le32 3; le64 0; le64 1; gstr general.architecture; le32 8; le64 1000; printf 'll'; } > "$T/trunc2.gguf"
expect 1 "$T/trunc2.gguf: " "$LORAC" inspect "$T/trunc2.gguf"
# one tensor of 1000 f32 values (4000 bytes) with only 64 bytes of data
{ printf 'GGUF'; le32 3; le64 1; le64 0; gstr token_embd.weight; le32 1; le64 1000; le32 0; le64 0; } > "$T/oob.gguf"
sz=$(wc -c < "$T/oob.gguf"); pad=$(( (32 - sz % 32) % 32 + 64 )); head -c "$pad" /dev/zero >> "$T/oob.gguf"
expect 1 "token_embd.weight" "$LORAC" inspect "$T/oob.gguf"
out=$("$LORAC" inspect "$T/oob.gguf" 2>&1); lines=$(printf '%s\n' "$out" | grep -c .)
[ "$lines" -le 2 ] && ok || bad "error is not one line (+hint): $out"
# a valid-header GGUF without the architecture key
{ printf 'GGUF'; le32 3; le64 0; le64 0; } > "$T/noarch.gguf"
expect 1 "general.architecture" "$LORAC" inspect "$T/noarch.gguf"

finish

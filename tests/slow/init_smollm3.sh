#!/bin/sh
# init_smollm3.sh — init-model writes a SmolLM3-3B-shaped bf16 directory (6.2 GB,
# two shards) that inspect reads back with the real model's shape, and whose
# files hold exactly 2 bytes per parameter plus their headers.
set -u
: "${LORAC:=./lorac}"
T=$(mktemp -d "${TMPDIR:-/tmp}/lorac-s3-XXXXXX")
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
check() { if printf '%s\n' "$out" | grep -qF -- "$1"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: lacks '$1'"; fi; }
out=$("$LORAC" init-model --preset smollm3-3b --out "$T/m" 2>&1); check "3.08B parameters, bf16"
out=$("$LORAC" inspect "$T/m" 2>&1)
check "architecture:  smollm3"
check "layers:        36"
check "hidden size:   2048"
check "nope layers:   9 of 36: 3 7 11 15 19 23 27 31 35"
check "parameters:    3.08B (3075098624)"
# file sizes: sum over shards of (size - 8 - header length) == 2 bytes x parameters
data=0
for f in "$T"/m/model-*.safetensors; do
  hl=$(od -An -t u8 -N 8 "$f" | tr -d ' ')
  sz=$(wc -c < "$f")
  data=$((data + sz - 8 - hl))
done
[ "$data" -eq $((3075098624 * 2)) ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: tensor bytes $data != $((3075098624 * 2))"; }
total=$(grep -o '"total_size": [0-9]*' "$T/m/model.safetensors.index.json" | grep -o '[0-9]*$')
[ "$total" = $((3075098624 * 2)) ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: index total_size $total"; }
[ "$(ls "$T"/m/model-*.safetensors | wc -l)" -eq 2 ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: expected 2 shards"; }
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]

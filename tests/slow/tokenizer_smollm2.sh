#!/bin/sh
# tokenizer_smollm2.sh — `lorac tokenize` on the real SmolLM2-135M-Instruct GGUF
# gives the golden ids (HF tokenizers with llama.cpp's "smollm" pre-tokenizer,
# checked against llama.cpp itself by tests/ref/make_tokenizer_goldens.py) for
# every corpus line and for the first blocks of 8 lines joined by '\n'; and
# --decode gives each line back.
set -u
: "${LORAC:=./lorac}"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
corpus=$root/tests/data/tokenizer_corpus.txt
golden=$root/tests/golden/tokenizer/smollm2.ids
gguf=$(sh "$root/scripts/fetch-smollm2.sh") || { echo "FAIL: could not fetch the model"; echo "0 passed, 1 failed"; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/lorac-tok-XXXXXX")
trap 'rm -rf "$T"' EXIT
pass=0; fail=0

# every line alone
nlines=$(head -n 1 "$golden" | sed 's/.* lines=\([0-9]*\) .*/\1/')
if "$LORAC" tokenize --model "$gguf" --no-special --lines --file "$corpus" > "$T/got" 2> "$T/err"; then
  sed -n "2,$((nlines + 1))p" "$golden" > "$T/want"
  r=$(awk 'NR == FNR { want[FNR] = $0; n = FNR; next }
           { if ($0 == want[FNR]) p++; else { f++; if (f <= 3) print "FAIL: line " FNR ": got " $0 " want " want[FNR] > "/dev/stderr" } }
           END { if (FNR != n) { print "FAIL: " FNR " output lines for " n " corpus lines" > "/dev/stderr"; f++ } print p + 0, f + 0 }' \
      "$T/want" "$T/got")
  pass=$((pass + ${r% *})); fail=$((fail + ${r#* }))
else
  fail=$((fail + 1)); echo "FAIL: lorac tokenize exited non-zero: $(cat "$T/err")"
fi

# blocks of 8 lines joined by '\n' (the file's lines are '\n'-terminated, a block is not)
for b in 0 1 2 3 4 5 6 7 8 9 100 200 299; do
  start=$((b * 8 + 1))
  sed -n "${start},$((start + 7))p" "$corpus" | head -c -1 > "$T/block"
  want=$(sed -n "$((nlines + 2 + b))p" "$golden")
  got=$("$LORAC" tokenize --model "$gguf" --no-special --file "$T/block" 2>&1)
  if [ "$got" = "$want" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: block $b: got $got"; fi
done

# decode gives the text back
if "$LORAC" tokenize --model "$gguf" --decode --lines --file "$T/got" > "$T/back" 2> "$T/err" && cmp -s "$T/back" "$corpus"; then
  pass=$((pass + 1))
else
  fail=$((fail + 1)); echo "FAIL: --decode --lines does not give the corpus back $(cat "$T/err")"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

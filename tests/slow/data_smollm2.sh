#!/bin/sh
# data_smollm2.sh — `lorac data check --model` on the real SmolLM2-135M-Instruct
# GGUF (its tokenizer.chat_template and llama.cpp-style tokenizer): per-example
# token counts equal `lorac template | lorac tokenize` for examples with and
# without a system message, the truncation totals follow from them, and the
# planted issues of examples/data are all found.
set -u
. "$(dirname "$0")/../lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
D=$root/examples/data
M=$(sh "$root/scripts/fetch-smollm2.sh") || { echo "FAIL: could not fetch the model"; echo "0 passed, 1 failed"; exit 1; }
expect 0 "leaks between files: 1" "$LORAC" data check --data "$D" --model "$M" --lengths "$T/len.tsv" --max-seq-length 300
for line in 1 8 20 64 88 135 142; do
  sed -n "${line}p" "$D/train.jsonl" > "$T/m.json"
  "$LORAC" template --model "$M" --messages "$T/m.json" > "$T/r.txt"
  want=$("$LORAC" tokenize --model "$M" --file "$T/r.txt" --no-special --count)
  got=$(awk -F'\t' -v f="$D/train.jsonl" -v l="$line" '$1 == f && $2 == l { print $3 }' "$T/len.tsv")
  [ -n "$want" ] && [ "$want" = "$got" ] && ok || bad "train.jsonl:$line: data check says $got tokens, template+tokenize $want"
done
"$LORAC" data check --data "$D" --model "$M" --max-seq-length 300 --json > "$T/c.json"
over=$(awk -F'\t' 'NR > 1 && $3 > 300 { n++ } END { print n + 0 }' "$T/len.tsv")
cut=$(awk -F'\t' 'NR > 1 && $3 > 300 { s += $3 - 300 } END { print s + 0 }' "$T/len.tsv")
grep -q "\"over_max_seq_length\": $over," "$T/c.json" && ok || bad "over_max_seq_length is not $over"
[ "$(grep '"tokens_dropped"' "$T/c.json" | tail -n 1 | tr -dc 0-9)" = "$cut" ] && ok || bad "tokens_dropped is not $cut"
finish

#!/bin/sh
# data.sh — lorac audit, lorac data check, lorac data split end to end: every
# usage error (exit 2) and bad input (exit 1) with its message; the planted
# duplicates and leak of examples/data; each bad-line kind with file:line; token
# counts per example equal to `lorac template | lorac tokenize` and truncation
# totals computed from them; split determinism, coverage, and no duplicates
# across sides.
set -u
. "$(dirname "$0")/../lib.sh"
R=$TESTS_DIR/..
D=$R/examples/data
Q=$LORAC_SHARED/fixtures/tokenizers/qwen3

# ---- usage errors ----
expect 2 "expected a subcommand: check or split" "$LORAC" data
expect 2 "unknown subcommand 'chek'; did you mean 'check'?" "$LORAC" data chek
expect 2 "unknown subcommand 'frobnicate'" "$LORAC" data frobnicate
expect 0 "lorac data check|split" "$LORAC" data --help
expect 0 "--max-seq-length" "$LORAC" data check --help
expect 0 "--dedupe" "$LORAC" help data split
expect 0 "lorac data check|split" "$LORAC" help data
expect 0 "--rules RULES" "$LORAC" help audit
expect 2 "--data is required" "$LORAC" data check
expect 2 "did you mean '--max-seq-length'?" "$LORAC" data check --data "$D" --max-seq-lenght 10
expect 2 "--max-seq-length must be at least 2" "$LORAC" data check --data "$D" --max-seq-length 1
expect 2 "--max-seq-length" "$LORAC" data check --data "$D" --max-seq-length ten
expect 2 "--threshold must be between 0.5 and 1" "$LORAC" data check --data "$D" --threshold 0.2
expect 2 "--lengths needs --model" "$LORAC" data check --data "$D" --lengths "$T/l.tsv"
expect 2 "--chat-template-args" "$LORAC" data check --data "$D" --model "$Q" --chat-template-args '{bad'
expect 2 "--data is required" "$LORAC" audit
expect 2 "--show must be 0 or more" "$LORAC" audit --data "$D" --show -1
expect 2 "did you mean '--rules'?" "$LORAC" audit --data "$D" --rule x
expect 2 "--input and --out are required" "$LORAC" data split --input "$D/train.jsonl"
expect 2 "--valid must be between 0 and 1" "$LORAC" data split --input "$D/train.jsonl" --out "$T/s" --valid 0
expect 2 "--test must be at least 0 and below 1" "$LORAC" data split --input "$D/train.jsonl" --out "$T/s" --test 1
expect 2 "leave nothing to train on" "$LORAC" data split --input "$D/train.jsonl" --out "$T/s" --valid 0.6 --test 0.5
expect 2 "--threshold must be between 0.5 and 1" "$LORAC" data split --input "$D/train.jsonl" --out "$T/s" --threshold 2
expect 2 "--seed must be 0 or more" "$LORAC" data split --input "$D/train.jsonl" --out "$T/s" --seed -1
[ ! -e "$T/s" ] && ok || bad "a usage error created the output directory"

# ---- the planted issues of examples/data ----
expect 0 "train.jsonl:90: exact duplicate (question and answer) of line 43" "$LORAC" data check --data "$D"
out=$("$LORAC" data check --data "$D" 2>&1)
for needle in "train.jsonl:104: exact duplicate (question and answer) of line 61" \
              "train.jsonl:128: exact duplicate (question and answer) of line 83" \
              "train.jsonl:141: near-duplicate of line 32 (question similarity 0.44, answer 0.85)" \
              "train.jsonl:126: near-duplicate of line 87 (question similarity 0.80, answer 0.91)" \
              "valid.jsonl:7: leak: exact duplicate (question and answer) of $D/train.jsonl:109" \
              "3 exact, 2 near-duplicate, 0 same question; leaks between files: 1" \
              "result: 0 errors, 6 warnings"; do
  case "$out" in *"$needle"*) ok ;; *) bad "data check lacks '$needle'" ;; esac
done
expect 1 "result: 0 errors, 6 warnings" "$LORAC" data check --data "$D" --strict
expect 0 "" "$LORAC" data check --data "$D" --output "$T/check.json"
for k in '"errors": \[\]' '"leaks": \[' '"exact_duplicates": 3' '"near_duplicates": 2' '"warning_counts"' '"ok": true'; do
  grep -q "$k" "$T/check.json" && ok || bad "check.json lacks $k"
done
expect 0 '"summary"' "$LORAC" data check --data "$D/train.jsonl" --json
expect 1 "no such file or directory" "$LORAC" data check --data "$T/nothing"
mkdir -p "$T/empty"
expect 1 "no train.jsonl, valid.jsonl or test.jsonl" "$LORAC" data check --data "$T/empty"
printf '\n\n' > "$T/empty/train.jsonl"
expect 1 "$T/empty/train.jsonl: no examples (the file is empty or holds only blank lines)" "$LORAC" data check --data "$T/empty"
rm "$T/empty/train.jsonl"
expect 1 "$T/nothing" "$LORAC" data check --data "$D" --model "$T/nothing"

# ---- every bad-line kind, each with file:line ----
B=$T/bad; mkdir -p "$B"
cat > "$B/train.jsonl" <<'EOF'
{"messages": [{"role": "user", "content": "What is insulin?"}, {"role": "assistant", "content": "A hormone."}]}
{"messages": [{"role": "user", "content": "q"}
[1, 2]
{"txt": "hello"}
{"messages": []}
{"messages": [{"content": "q"}, {"role": "assistant", "content": "a"}]}
{"messages": [{"role": "robot", "content": "q"}, {"role": "assistant", "content": "a"}]}
{"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "a"}]}
{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}]}
{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}, {"role": "user", "content": "more?"}]}
{"messages": [{"role": "user", "content": "q"}, {"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}]}
{"prompt": "p", "completion": 3}
{"text": ""}

{"messages": [{"role": "user", "content": "Why?"}, {"role": "user", "content": "Really?"}, {"role": "assistant", "content": "Because."}]}
EOF
head -n 1 "$B/train.jsonl" > "$B/valid.jsonl"
expect 1 "result: 12 errors" "$LORAC" data check --data "$B"
out=$("$LORAC" data check --data "$B" 2>&1)
for needle in "$B/train.jsonl:2:" "invalid JSON" \
              "$B/train.jsonl:3: expected a JSON object" \
              "$B/train.jsonl:4: unknown key 'txt'; did you mean 'text'?" \
              "$B/train.jsonl:5: 'messages' must be a non-empty list" \
              "$B/train.jsonl:6: messages[0] needs a string 'role'" \
              "$B/train.jsonl:7: messages[0] has role 'robot' (expected user, assistant, system or tool)" \
              "$B/train.jsonl:8: messages[0] ('user') needs a string 'content'" \
              "$B/train.jsonl:9: messages[1]: empty assistant content" \
              "$B/train.jsonl:10: the last message must be the assistant's (the turn to learn), got 'user'" \
              "$B/train.jsonl:11: messages[1]: a system message after the conversation started" \
              "$B/train.jsonl:12: 'prompt' and 'completion' must both be strings" \
              "$B/train.jsonl:13: 'text' must be a non-empty string" \
              "$B/train.jsonl:14: blank line (lorac skips it; mlx-lm fails on it)" \
              "$B/train.jsonl:15: messages[1]: two user turns in a row" \
              "$B/valid.jsonl:1: leak: exact duplicate (question and answer) of $B/train.jsonl:1" \
              "errors (12):" "bad_content 2"; do
  case "$out" in *"$needle"*) ok ;; *) bad "data check of bad lines lacks '$needle'" ;; esac
done
expect 1 "$B/train.jsonl:2:" "$LORAC" audit --data "$B/train.jsonl"
expect 1 "lists every problem in the file" "$LORAC" audit --data "$B/train.jsonl"
expect 1 "$B/train.jsonl:2:" "$LORAC" data split --input "$B/train.jsonl" --out "$T/s"
expect 1 "a directory without train.jsonl" "$LORAC" audit --data "$T/empty"

# ---- audit ----
expect 0 "on-topic:     137 of 142 (96.5%)" "$LORAC" audit --data "$D/train.jsonl"
expect 0 "examples/audit-rules/insulin.yaml (built in)" "$LORAC" audit --data "$D"
out=$("$LORAC" audit --data "$D/train.jsonl" --rules "$R/examples/audit-rules/insulin.yaml" --show 2 --output "$T/audit.json" 2>&1)
for needle in "insulin_vs_cico        HIGH        keep" "uncategorized          VERY LOW    replace       5" \
              "    63  uncategorized      Can you write me a short poem about autumn?" \
              "    76  uncategorized      How do I get a red wine stain out of a carpet?" \
              "and the terms that decided them" "runner-up"; do
  case "$out" in *"$needle"*) ok ;; *) bad "audit lacks '$needle'" ;; esac
done
for k in '"total_examples": 142' '"category_counts"' '"replacement_candidates"' '"examples_by_category"' \
         '"value_counts"' '"value_groups"' '"on_topic_share"' '"evidence"' '"runner_up"'; do
  grep -q "$k" "$T/audit.json" && ok || bad "audit.json lacks $k"
done
# the traps: breakfast is not fasting, fasting glucose is a lab value, the insulin model is the calorie debate
"$LORAC" audit --data "$D/train.jsonl" --json > "$T/a.json"
for pair in "64 nutrition_general" "88 related_health" "28 insulin_vs_cico" "65 insulin_mechanism" "123 fasting_practice"; do
  set -- $pair
  got=$(awk -v l="$1" '/"line": /{ gsub(/[^0-9]/, "", $0); cur = $0 } /^      "category": /{ if (cur == l) { gsub(/.*: "|",?/, ""); print; exit } }' "$T/a.json")
  [ "$got" = "$2" ] && ok || bad "audit: line $1 is '$got', expected $2"
done
expect 1 "no/such.yaml: no such rules file" "$LORAC" audit --data "$D/train.jsonl" --rules no/such.yaml
printf 'tiers: {HIGH: high}\ncategories:\n  - name: a\n    value: HIGH\n    keep: keep\n    patterns: ["low[- carb"]\n' > "$T/rules.yaml"
expect 1 "$T/rules.yaml:6: category 'a': pattern 'low[- carb': missing terminating ]" "$LORAC" audit --data "$D/train.jsonl" --rules "$T/rules.yaml"
expect 1 "$T/no-dir/audit.json" "$LORAC" audit --data "$D/train.jsonl" --output "$T/no-dir/audit.json"
# a pattern that backtracks without end is an error, not fewer matches
printf 'tiers: {HIGH: high}\ncategories:\n  - {name: a, value: HIGH, keep: keep, patterns: [{pattern: "(?:x+x+)+y", whole_word: false}]}\n' > "$T/bt.yaml"
printf '{"prompt": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxz y", "completion": "x"}\n' > "$T/bt.jsonl"
expect 1 "$T/bt.jsonl:1: category 'a': matching failed: match limit exceeded" "$LORAC" audit --data "$T/bt.jsonl" --rules "$T/bt.yaml"
# a prompt/completion file and a text file audit too
printf '%s\n' '{"prompt": "Does black coffee break a fast?", "completion": "No: black coffee has almost no calories and barely moves insulin, so it does not break a fast."}' \
  '{"text": "Intermittent fasting: eat within a window, then fast until the next one."}' > "$T/mixed.jsonl"
expect 0 "fasting_practice       MEDIUM      keep          2" "$LORAC" audit --data "$T/mixed.jsonl"

# ---- token counts: the chat template then the tokenizer, per example ----
expect 0 "tokens after the chat template" "$LORAC" data check --data "$D" --model "$Q" --lengths "$T/len.tsv"
for line in 1 8 16 28 63 96 141; do
  sed -n "${line}p" "$D/train.jsonl" > "$T/m.json"
  "$LORAC" template --model "$Q" --messages "$T/m.json" > "$T/r.txt"
  want=$("$LORAC" tokenize --model "$Q" --file "$T/r.txt" --no-special --count)
  got=$(awk -F'\t' -v f="$D/train.jsonl" -v l="$line" '$1 == f && $2 == l { print $3 }' "$T/len.tsv")
  [ -n "$want" ] && [ "$want" = "$got" ] && ok || bad "train.jsonl:$line: data check says $got tokens, template+tokenize $want"
done
# enough examples for a tokenizer per thread: the same counts as one thread
for i in 1 2 3 4; do cat "$D/train.jsonl"; done > "$T/many.jsonl"
"$LORAC" data check --data "$T/many.jsonl" --model "$Q" --lengths "$T/many1.tsv" --threads 1 > /dev/null
"$LORAC" data check --data "$T/many.jsonl" --model "$Q" --lengths "$T/many2.tsv" --threads 2 > /dev/null
[ "$(wc -l < "$T/many1.tsv")" -eq 569 ] && cmp -s "$T/many1.tsv" "$T/many2.tsv" && ok || bad "token counts differ between 1 and 2 threads"
# prompt masking: the target starts after the prefix rendered with the generation prompt
printf '%s\n' '{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Does black coffee break a fast?"}, {"role": "assistant", "content": "No. Black coffee has almost no calories."}]}' > "$T/one.jsonl"
printf '%s\n' '[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Does black coffee break a fast?"}]' > "$T/prefix.json"
"$LORAC" template --model "$Q" --messages "$T/prefix.json" --add-generation-prompt > "$T/p.txt"
ptoks=$("$LORAC" tokenize --model "$Q" --file "$T/p.txt" --no-special --count)
"$LORAC" template --model "$Q" --messages "$T/one.jsonl" > "$T/f.txt"
ftoks=$("$LORAC" tokenize --model "$Q" --file "$T/f.txt" --no-special --count)
"$LORAC" data check --data "$T/one.jsonl" --model "$Q" --mask-prompt --lengths "$T/one.tsv" > /dev/null
row=$(tail -n 1 "$T/one.tsv")
[ "$row" = "$(printf '%s\t1\t%s\t%s\t%s\t%s\t0' "$T/one.jsonl" "$ftoks" "$ftoks" "$ptoks" $((ftoks - ptoks)))" ] && ok || bad "masked lengths row '$row' (full $ftoks, prefix $ptoks)"
# truncation: over-long examples and the tokens cut, from the per-example counts
L=260
"$LORAC" data check --data "$D" --model "$Q" --max-seq-length $L --json > "$T/trunc.json"
over=$(awk -F'\t' -v L=$L 'NR > 1 && $3 > L { n++ } END { print n + 0 }' "$T/len.tsv")
cut=$(awk -F'\t' -v L=$L 'NR > 1 && $3 > L { s += $3 - L } END { print s + 0 }' "$T/len.tsv")
[ "$over" -gt 0 ] && grep -q "\"over_max_seq_length\": $over," "$T/trunc.json" && ok || bad "over_max_seq_length: expected $over"
[ "$(grep '"tokens_dropped"' "$T/trunc.json" | tail -n 1 | tr -dc 0-9)" = "$cut" ] && ok || bad "tokens_dropped: expected $cut"
expect 0 "max_seq_length $L cuts the last" "$LORAC" data check --data "$D" --model "$Q" --max-seq-length $L
expect 0 "no target tokens within max_seq_length 20 (the prompt fills it)" "$LORAC" data check --data "$T/one.jsonl" --model "$Q" --max-seq-length 20 --mask-prompt

# ---- split ----
cat "$D/train.jsonl" "$D/valid.jsonl" > "$T/all.jsonl"
expect 0 "6 groups of duplicates kept on one side" "$LORAC" data split --input "$T/all.jsonl" --out "$T/s1" --valid 0.1 --test 0.05 --seed 42
"$LORAC" data split --input "$T/all.jsonl" --out "$T/s2" --valid 0.1 --test 0.05 --seed 42 > /dev/null 2>&1
"$LORAC" data split --input "$T/all.jsonl" --out "$T/s3" --valid 0.1 --test 0.05 --seed 7 > /dev/null 2>&1
for f in train valid test; do cmp -s "$T/s1/$f.jsonl" "$T/s2/$f.jsonl" && ok || bad "same seed, different $f.jsonl"; done
cmp -s "$T/s1/valid.jsonl" "$T/s3/valid.jsonl" && bad "seeds 42 and 7 gave the same valid.jsonl" || ok
[ "$(wc -l < "$T/s1/valid.jsonl")" -eq 16 ] && [ "$(wc -l < "$T/s1/test.jsonl")" -eq 8 ] && ok || bad "split sizes: $(wc -l "$T"/s1/*.jsonl)"
cat "$T"/s1/*.jsonl | sort > "$T/union"; sort "$T/all.jsonl" > "$T/sorted"
cmp -s "$T/union" "$T/sorted" && ok || bad "the split files are not the input's lines"
expect 0 "leaks between files: 0" "$LORAC" data check --data "$T/s1"
for seed in 1 2 3 4 5; do # duplicates never straddle the sides, whatever the seed
  "$LORAC" data split --input "$T/all.jsonl" --out "$T/r$seed" --valid 0.2 --test 0.2 --seed $seed > /dev/null 2>&1
  expect 0 "leaks between files: 0" "$LORAC" data check --data "$T/r$seed"
done
expect 0 "dropped 6 duplicates" "$LORAC" data split --input "$T/all.jsonl" --out "$T/dd" --valid 0.1 --seed 42 --dedupe
[ ! -e "$T/dd/test.jsonl" ] && [ "$(cat "$T"/dd/*.jsonl | wc -l)" -eq 158 ] && ok || bad "--dedupe output"
expect 0 "0 exact, 0 near-duplicate" "$LORAC" data check --data "$T/dd"
expect 1 "$T/s1/train.jsonl already exists" "$LORAC" data split --input "$T/all.jsonl" --out "$T/s1"
expect 0 "train" "$LORAC" data split --input "$T/all.jsonl" --out "$T/s1" --force
expect 1 "would overwrite its own input" "$LORAC" data split --input "$T/s1/train.jsonl" --out "$T/s1" --force
head -n 3 "$D/train.jsonl" > "$T/three.jsonl"
expect 1 "3 examples are too few for valid 0.5 and test 0.4" "$LORAC" data split --input "$T/three.jsonl" --out "$T/t3" --valid 0.5 --test 0.4
finish

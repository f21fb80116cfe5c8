#!/bin/sh
# tokenize.sh — `lorac tokenize` end to end: ids as text and JSON, specials on
# and off, --decode back to the exact text, --lines, and clear errors with a
# non-zero exit for bad models, bad ids and bad usage.
set -u
. "$(dirname "$0")/../lib.sh"
Q=$LORAC_SHARED/fixtures/tokenizers/qwen3
L=$LORAC_SHARED/fixtures/tokenizers/llama3

# expect CODE WANT CMD... : exit code CODE and stdout+stderr exactly WANT (or containing it, for errors)
expect() {
  code=$1; want=$2; shift 2
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -ne "$code" ]; then bad "'$*' exited $rc, expected $code: $out"; return; fi
  if [ "$code" -eq 0 ]; then
    [ "$out" = "$want" ] && ok || bad "'$*' printed '$out', expected '$want'"
  else
    case "$out" in *"$want"*) ok ;; *) bad "'$*' output lacks '$want': $out" ;; esac
    case "$out" in *"AddressSanitizer"*|*"runtime error"*|*"Segmentation"*) bad "'$*' crashed: $out" ;; esac
  fi
}

# ids identical to HF tokenizers (values from tokenizers 0.22)
expect 0 "9707 1879 0 220 16 17 18" "$LORAC" tokenize --model "$Q" --text "Hello world! 123"
expect 0 "128000 9906 1917 0 220 4513" "$LORAC" tokenize --model "$L" --text "Hello world! 123"
expect 0 "9906 1917 0 220 4513" "$LORAC" tokenize --model "$L" --text "Hello world! 123" --no-special
expect 0 "[128000,9906,1917]" "$LORAC" tokenize --model "$L" -t "Hello world" --json
expect 0 "151644 872 198 9707 151645" "$LORAC" tokenize --model "$Q" --text "<|im_start|>user
Hello<|im_end|>"
expect 0 "3" "$LORAC" tokenize --model "$L" --text "Hello world" --count

# --decode: ids as text, commas or JSON; exact text back, no newline added
expect 0 "Hello world! 123" "$LORAC" tokenize --model "$Q" --decode --text "9707 1879 0 220 16 17 18"
expect 0 "<|begin_of_text|>Hello world" "$LORAC" tokenize --model "$L" --decode --text "[128000, 9906, 1917]"
expect 0 "Hello world" "$LORAC" tokenize --model "$L" --decode --skip-special --text "128000,9906,1917"
printf 'héllo wörld\t\n  two  lines\r\n' > "$T/in.txt"
"$LORAC" tokenize --model "$L" --file "$T/in.txt" --no-special > "$T/ids" 2>&1
"$LORAC" tokenize --model "$L" --decode --file "$T/ids" > "$T/back" 2>&1
cmp -s "$T/in.txt" "$T/back" && ok || bad "decode(encode(file)) differs: $(cat "$T/back")"
# --lines: one output line per input line, and back
"$LORAC" tokenize --model "$Q" --lines --file "$T/in.txt" > "$T/lids" 2>&1
[ "$(wc -l < "$T/lids")" -eq 2 ] && ok || bad "--lines gave $(wc -l < "$T/lids") lines"
"$LORAC" tokenize --model "$Q" --lines --decode --file "$T/lids" > "$T/lback" 2>&1
cmp -s "$T/in.txt" "$T/lback" && ok || bad "--lines --decode differs: $(cat "$T/lback")"
# stdin
out=$(printf 'Hello world' | "$LORAC" tokenize --model "$L" --file - --no-special 2>&1)
[ "$out" = "9906 1917" ] && ok || bad "stdin gave '$out'"

# errors
expect 1 "no tokenizer.json" "$LORAC" tokenize --model "$T" --text x
expect 1 "nonexistent" "$LORAC" tokenize --model "$T/nonexistent" --text x
expect 1 "token id 999999 is not in the vocabulary" "$LORAC" tokenize --model "$Q" --decode --text "1 999999"
expect 1 "expected token ids, found 'x'" "$LORAC" tokenize --model "$Q" --decode --text "1 x"
printf 'ok\n\377bad\n' > "$T/bad.txt"
expect 1 "line 2: tokenize: text is not valid UTF-8 (byte 0)" "$LORAC" tokenize --model "$Q" --lines --file "$T/bad.txt"
expect 1 "not valid UTF-8" "$LORAC" tokenize --model "$Q" --file "$T/bad.txt"
printf '{"model": {"type": "BPE", "vocab": {"a": 0}}}' > "$T/tokenizer.json"
expect 1 "missing \"merges\"" "$LORAC" tokenize --model "$T" --text x
expect 2 "give exactly one of --text and --file" "$LORAC" tokenize --model "$Q"
expect 2 "give exactly one of --text and --file" "$LORAC" tokenize --model "$Q" --text a --file b
expect 2 "--model is required" "$LORAC" tokenize --text a
expect 2 "did you mean '--decode'" "$LORAC" tokenize --model "$Q" --decod --text 1
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

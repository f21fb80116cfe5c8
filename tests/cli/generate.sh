#!/bin/sh
# generate.sh — lorac generate / chat / perplexity end to end on a tiny random
# qwen3 model carrying the real Qwen3 tokenizer and chat template: seeds
# reproduce, flags are validated, stdin works, chat keeps its cache, bad input
# is a clear error.
set -u
. "$(dirname "$0")/../lib.sh"
SHARED=$LORAC_SHARED
M="$T/m"
"$LORAC" init-model --preset tiny --arch qwen3 --out "$M" --tokenizer "$SHARED/fixtures/tokenizers/qwen3" --init-std 0.3 2>/dev/null \
  || { echo "FAIL: init-model"; echo "0 passed, 1 failed"; exit 1; }

# ---- generate ----
a=$("$LORAC" generate --model "$M" --prompt "Hello there" --temp 0 --max-tokens 12 2>/dev/null); rc=$?
[ $rc -eq 0 ] && [ -n "$a" ] && ok || bad "greedy generate failed ($rc)"
b=$("$LORAC" generate --model "$M" --prompt "Hello there" --temp 0 --max-tokens 12 2>/dev/null)
[ "$a" = "$b" ] && ok || bad "greedy runs differ"
s1=$("$LORAC" generate --model "$M" --prompt "Hello there" --temp 0.9 --seed 7 --max-tokens 16 2>/dev/null)
s2=$("$LORAC" generate --model "$M" --prompt "Hello there" --temp 0.9 --seed 7 --max-tokens 16 2>/dev/null)
s3=$("$LORAC" generate --model "$M" --prompt "Hello there" --temp 0.9 --seed 8 --max-tokens 16 2>/dev/null)
[ "$s1" = "$s2" ] && ok || bad "same seed, different text"
[ "$s1" != "$s3" ] && ok || bad "different seeds gave the same text"
c=$(printf 'Hello there' | "$LORAC" generate --model "$M" --prompt - --temp 0 --max-tokens 12 2>/dev/null)
[ "$a" = "$c" ] && ok || bad "stdin prompt differs from --prompt"
expect 0 "<|im_start|>user" "$LORAC" generate --model "$M" --prompt "Hi" --max-tokens 2 --verbose
expect 0 "Generation: 2 tokens" "$LORAC" generate --model "$M" --prompt "Hi" --max-tokens 2 --verbose --extra-eos-token "<|endoftext|>"
expect 0 "<think>" "$LORAC" generate --model "$M" --prompt "Hi" --max-tokens 1 --verbose --chat-template-args '{"enable_thinking": false}'
expect 0 "<|im_start|>system" "$LORAC" generate --model "$M" --prompt "Hi" --system-prompt "Be brief." --max-tokens 1 --verbose
expect 0 "Prompt: 2 tokens" "$LORAC" generate --model "$M" --prompt "Hi you" --ignore-chat-template --max-tokens 1 --verbose
expect 0 "--repetition-penalty R" "$LORAC" help generate
# bad input
expect 2 "--temp must be >= 0" "$LORAC" generate --model "$M" --prompt "Hi" --temp -1
expect 2 "--top-p must be in (0, 1], got 1.5" "$LORAC" generate --model "$M" --prompt "Hi" --top-p 1.5
expect 2 "--top-p must be in (0, 1], got 0" "$LORAC" generate --model "$M" --prompt "Hi" --top-p 0
expect 2 "--repetition-penalty" "$LORAC" generate --model "$M" --prompt "Hi" --repetition-penalty 0
expect 2 "the prompt is empty" "$LORAC" generate --model "$M" --prompt ""
expect 2 "--model is required" "$LORAC" generate --prompt "Hi"
expect 2 "did you mean '--temp'" "$LORAC" generate --model "$M" --prompt "Hi" --temperature 0.7
expect 2 "expected a JSON object" "$LORAC" generate --model "$M" --prompt "Hi" --chat-template-args '{oops'
expect 1 "more than the context allows" "$LORAC" generate --model "$M" --prompt "$(printf 'word %.0s' $(seq 1 300))" --max-kv-size 64
expect 1 "not a single token" "$LORAC" generate --model "$M" --prompt "Hi" --extra-eos-token "two words here"
expect 1 "no such file or directory" "$LORAC" generate --model "$T/none" --prompt "Hi"

# ---- chat ----
out=$(printf 'Hello\nHow are you?\n/reset\nHello\n/quit\nignored\n' | "$LORAC" chat --model "$M" --temp 0 --max-tokens 6 --verbose 2>"$T/chat.err"); rc=$?
[ $rc -eq 0 ] && ok || bad "chat exited $rc: $(cat "$T/chat.err")"
[ "$(printf '%s\n' "$out" | grep -c .)" -ge 2 ] && ok || bad "chat printed too few replies: $out"
grep -q "cached tokens" "$T/chat.err" && ok || bad "chat --verbose lacks cache stats"
# second turn reuses the first turn's cache
second=$(sed -n 2p "$T/chat.err")
case "$second" in *" 0 cached"*) bad "second turn reused no cache: $second" ;; *) ok ;; esac
# after /reset the first reply repeats exactly (greedy)
r1=$(printf '%s\n' "$out" | sed -n 1p); r3=$(printf '%s\n' "$out" | sed -n 3p)
[ "$r1" = "$r3" ] && ok || bad "reply after /reset differs: '$r1' vs '$r3'"

# ---- perplexity ----
printf '%s\n' '{"messages": [{"role": "user", "content": "What is insulin?"}, {"role": "assistant", "content": "A hormone."}]}' \
  '{"prompt": "Say hi", "completion": "Hi!"}' '{"text": "Plain text example."}' > "$T/d.jsonl"
expect 0 "perplexity:" "$LORAC" perplexity --model "$M" --data "$T/d.jsonl"
expect 0 '"target_tokens"' "$LORAC" perplexity --model "$M" --data "$T/d.jsonl" --json
printf '%s\n' '{"messages": [{"role": "user", "content": "Q"}]}' > "$T/bad1.jsonl"
expect 1 "$T/bad1.jsonl:1: the last message must be the assistant's" "$LORAC" perplexity --model "$M" --data "$T/bad1.jsonl"
printf '%s\n' '{"text": "ok"}' '{"txt": "typo"}' > "$T/bad2.jsonl"
expect 1 "$T/bad2.jsonl:2: unknown key 'txt'; did you mean 'text'?" "$LORAC" perplexity --model "$M" --data "$T/bad2.jsonl"
printf '%s\n' '{"text": "ok"}' '' '{"text": "broken' > "$T/bad3.jsonl"
expect 1 "$T/bad3.jsonl:3:" "$LORAC" perplexity --model "$M" --data "$T/bad3.jsonl"
printf '%s\n' '{"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]}' > "$T/bad4.jsonl"
expect 1 "role 'robot'" "$LORAC" perplexity --model "$M" --data "$T/bad4.jsonl"
printf '%s\n' '{"prompt": "p", "completion": 3}' > "$T/bad5.jsonl"
expect 1 "'prompt' and 'completion' must both be strings" "$LORAC" perplexity --model "$M" --data "$T/bad5.jsonl"

finish

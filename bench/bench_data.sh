#!/bin/sh
# bench_data.sh — the data tools at scale: `lorac audit` and `lorac data check
# --model` over 10,000 synthetic chat examples (~23 MB, bench/make_data_bench.py,
# regenerated, never committed). The target: both together in under 10 s on the
# 2-core development machine. Three runs each; wall and CPU seconds.
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${LORAC:=$here/../lorac}"
: "${LORAC_CACHE:=$HOME/.cache/lorac}"
M=${BENCH_DATA_MODEL:-$LORAC_CACHE/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf}
[ -f "$M" ] || M=$(sh "$here/../scripts/fetch-smollm2.sh")
T=$(mktemp -d "${TMPDIR:-/tmp}/lorac-bench-data-XXXXXX")
trap 'rm -rf "$T"' EXIT
python3 "$here/make_data_bench.py" "$T/big.jsonl" 10000 || exit 1
# the result first: every example categorised, every line tokenized
"$LORAC" audit --data "$T/big.jsonl" --json > "$T/a.json" || exit 1
grep -q '"total_examples": 10000' "$T/a.json" || { echo "audit did not see 10000 examples"; exit 1; }
"$LORAC" data check --data "$T/big.jsonl" --model "$M" --json > "$T/c.json"
grep -q '"examples": 10000' "$T/c.json" || { echo "data check did not see 10000 examples"; exit 1; }
timed() { # prints "wall cpu" seconds of a command (cpu 0 without GNU time)
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "%e %U %S" "$@" > /dev/null 2> "$T/time" || { cat "$T/time"; return 1; }
    tail -n 1 "$T/time" | awk '{ printf "%.2f %.2f", $1, $2 + $3 }'
  else
    t0=$(date +%s.%N); "$@" > /dev/null || return 1; t1=$(date +%s.%N)
    echo "$t0 $t1" | awk '{ printf "%.2f 0", $2 - $1 }'
  fi
}
echo "run  audit wall/cpu  check wall/cpu  total wall"
for run in 1 2 3; do
  a=$(timed "$LORAC" audit --data "$T/big.jsonl" --show 0) || exit 1
  c=$(timed "$LORAC" data check --data "$T/big.jsonl" --model "$M") || exit 1
  echo "$run $a $c" | awk '{ printf "%-4s %5.2f / %5.2f   %5.2f / %5.2f   %6.2f s\n", $1, $2, $3, $4, $5, $2 + $4 }'
done
echo "target: audit + data check --model under 10 s"

#!/bin/sh
# run.sh — `make bench`: every bench/bench_*.sh, each measuring lorac side by
# side with a peer in the same run and printing ratios.
set -u
here=$(cd "$(dirname "$0")" && pwd)
n=0
for b in "$here"/bench_*.sh; do
  [ -f "$b" ] || continue
  echo "== $(basename "$b")"
  sh "$b" || echo "bench $(basename "$b") failed"
  n=$((n + 1))
done
[ $n -gt 0 ] || echo "no benchmarks in bench/"

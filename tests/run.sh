#!/bin/sh
# run.sh — runs every test binary in $BUILD/tests and every tests/cli/*.sh script,
# sums their "N passed, N failed" lines, and ends with the total on one line.
# --slow also runs tests/slow/*.sh (real model; needs network once for the cache).
set -u
: "${BUILD:=build}"
: "${LORAC:=$(pwd)/lorac}"
export LORAC BUILD
here=$(cd "$(dirname "$0")" && pwd)
export TESTS_DIR="$here"
: "${LORAC_SHARED:=$here/../../shared}"
export LORAC_SHARED
[ -d "$LORAC_SHARED/fixtures" ] || echo "warning: shared fixtures not found at $LORAC_SHARED (set LORAC_SHARED); tests that need them will fail"
total_p=0; total_f=0
run_one() {
  name=$1; shift
  out=$("$@" 2>&1); rc=$?
  line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
  if [ -z "$line" ]; then
    printf '%s\n' "$out" | tail -n 20
    echo "CRASH $name (exit $rc, no summary line)"
    total_f=$((total_f + 1)); return
  fi
  p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed*}
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "exit $rc without failures reported"; fi
  [ "$f" -ne 0 ] && printf '%s\n' "$out" | grep -v -E '^[0-9]+ passed' | tail -n 40
  printf '%-28s %s\n' "$name" "$line"
  total_p=$((total_p + p)); total_f=$((total_f + f))
}
if [ "${1:-}" = "--slow" ]; then
  export LORAC_SLOW=1
  sh "$here/../scripts/fetch-smollm2.sh" >/dev/null || echo "warning: could not fetch SmolLM2-135M-Instruct"
fi
for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  run_one "$(basename "$t")" "$t"
done
for s in "$here"/cli/*.sh; do
  [ -f "$s" ] || continue
  run_one "cli/$(basename "$s")" sh "$s"
done
if [ "${1:-}" = "--slow" ]; then
  for s in "$here"/slow/*.sh; do
    [ -f "$s" ] || continue
    run_one "slow/$(basename "$s")" sh "$s"
  done
fi
echo "$total_p passed, $total_f failed"
[ "$total_f" -eq 0 ]

# lib.sh — shared by the tests/cli and tests/slow scripts (sourced, not run):
# counters, a scratch directory removed on exit, and `expect`.
: "${LORAC:=./lorac}"
: "${LORAC_SHARED:=../shared}"
T=$(mktemp -d "${TMPDIR:-/tmp}/lorac-test-XXXXXX")
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# expect CODE NEEDLE CMD... : exit code CODE and NEEDLE in stdout+stderr; a
# failing command must not have crashed (sanitizer reports count as crashes)
expect() {
  code=$1; needle=$2; shift 2
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -ne "$code" ]; then bad "'$*' exited $rc, expected $code: $out"; return; fi
  case "$out" in *"$needle"*) ok ;; *) bad "'$*' output lacks '$needle': $out" ;; esac
  case "$out" in *"AddressSanitizer"*|*"runtime error"*|*"Segmentation"*) bad "'$*' crashed: $out" ;; esac
}

# finish: the summary line run.sh reads, and the exit status
finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}

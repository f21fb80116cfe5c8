#!/bin/sh
# bench_kernels.sh — builds and runs bench/bench_kernels.c (matmul and attention
# kernels on SmolLM2-135M / SmolLM3-3B layer shapes, per dtype) against
# build/liblorac.a. Extra arguments go to the benchmark (--quick, --model,
# --type, --isa, --precision). Threads: OMP_NUM_THREADS (default 2).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
: "${BUILD:=build}"
lib="$root/$BUILD/liblorac.a"
[ -f "$lib" ] || make -C "$root" --no-print-directory "$BUILD/liblorac.a" >/dev/null
out="$root/$BUILD/bench_kernels"
${CC:-gcc} -std=c11 -Wall -Wextra -O2 -march=native -fopenmp -I"$root/src" "$here/bench_kernels.c" "$lib" \
  -ljansson -lpcre2-8 -lutf8proc -lyaml -lm -o "$out"
OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OMP_PROC_BIND=${OMP_PROC_BIND:-close} "$out" "$@"

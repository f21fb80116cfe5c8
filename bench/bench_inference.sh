#!/bin/sh
# bench_inference.sh — lorac generate vs llama.cpp (PyPI llama-cpp-python) on the
# same GGUF files and thread count: prefill 512 / decode 128 tokens for
# SmolLM2-135M f16, q8_0 (and the shipped q4_1) and a random SmolLM3-3B bf16;
# peak RSS of generate on the 3B's bf16 HF directory. See bench/inference_bench.py.
#
# Python side: scripts/llamacpp-venv.sh's venv in $LORAC_CACHE/bench/venv-llamacpp
# with gguf-py, numpy and llama-cpp-python (which builds llama.cpp from source the
# first time: 9-12 min on 2 cores; pip's wheel cache keeps it after that). If that
# build fails, the log is kept and lorac's numbers are printed alone; delete the
# log to retry. Without a venv (python3-venv missing), python3 is used as it is.
# Models are made once into $LORAC_CACHE/bench/ (~12.5 GB for the 3B: HF dir + GGUF).
# Extra arguments go to inference_bench.py (--runs N, --runs-3b N, --only f16,q8_0, --no-3b).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cache=${LORAC_CACHE:-$HOME/.cache/lorac}
venv=$cache/bench/venv-llamacpp
# the venv with gguf-py and llama-cpp-python (scripts/llamacpp-venv.sh builds it once);
# when llama.cpp cannot be had, lorac's numbers are printed alone
py=$(LORAC_CACHE=$cache sh "$root/scripts/llamacpp-venv.sh") || py=""
if [ -z "$py" ]; then
  if [ -x "$venv/bin/python" ]; then py=$venv/bin/python
  else
    echo "inference: no venv in $venv (python3 -m venv); using python3 as it is"
    py=python3
  fi
fi
exec "$py" "$here/inference_bench.py" --lorac "${LORAC:-$root/lorac}" "$@"

#!/bin/sh
# bench_inference.sh — lorac generate vs llama.cpp (PyPI llama-cpp-python) on the
# same GGUF files and thread count: prefill 512 / decode 128 tokens for
# SmolLM2-135M f16, q8_0 (and the shipped q4_1) and a random SmolLM3-3B bf16;
# peak RSS of generate on the 3B's bf16 HF directory. See bench/inference_bench.py.
#
# Python side: a venv in $LORAC_CACHE/bench/venv-llamacpp with gguf-py, numpy and
# llama-cpp-python (which builds llama.cpp from source the first time: 9-12 min
# on 2 cores; pip's wheel cache keeps it after that). If that build fails, the
# log is kept and lorac's numbers are printed alone; delete the log to retry.
# Without a venv (python3-venv missing), python3 is used as it is, nothing installed.
# Models are made once into $LORAC_CACHE/bench/ (~12.5 GB for the 3B: HF dir + GGUF).
# Extra arguments go to inference_bench.py (--runs N, --runs-3b N, --only f16,q8_0, --no-3b).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cache=${LORAC_CACHE:-$HOME/.cache/lorac}
venv=$cache/bench/venv-llamacpp
failed=$venv/llama-cpp-python-build-failed.log
PINS="gguf==0.19.0 numpy<3"
LLAMA_PIN="llama-cpp-python==0.3.36"
mkdir -p "$cache/bench"
py=$venv/bin/python
if [ ! -x "$py" ]; then
  python3 -m venv "$venv" >/dev/null 2>&1 || rm -rf "$venv"
fi
if [ ! -x "$py" ]; then
  echo "inference: cannot make a venv in $venv (python3 -m venv); using python3 as it is"
  exec python3 "$here/inference_bench.py" --lorac "${LORAC:-$root/lorac}" "$@"
fi
if ! "$py" -c "import gguf, numpy" 2>/dev/null; then
  "$py" -m pip install -q $PINS >&2 || echo "inference: pip install $PINS failed; only the shipped q4_1 model will run" >&2
fi
if ! "$py" -c "import llama_cpp" 2>/dev/null; then
  if [ -f "$failed" ]; then
    echo "inference: llama.cpp skipped: building $LLAMA_PIN failed earlier (log: $failed; delete it to retry)"
  else
    echo "inference: installing $LLAMA_PIN (builds llama.cpp from source once; 9-12 min on 2 cores)..."
    start=$(date +%s)
    if CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "$py" -m pip install "$LLAMA_PIN" "numpy<3" >"$venv/llama-cpp-python-build.log" 2>&1 \
       && "$py" -c "import llama_cpp" 2>>"$venv/llama-cpp-python-build.log"; then
      echo "inference: llama-cpp-python ready ($(( $(date +%s) - start )) s)"
    else
      log=$venv/llama-cpp-python-build.log
      # a failed build is remembered (it would fail again, and it takes minutes); a failed download is not
      if grep -q -i "building wheel\|cmake" "$log" 2>/dev/null; then mv "$log" "$failed"; log=$failed; fi
      echo "inference: llama.cpp unavailable: installing $LLAMA_PIN failed; last lines of $log:"
      tail -n 15 "$log" | sed 's/^/  | /'
    fi
  fi
fi
exec "$py" "$here/inference_bench.py" --lorac "${LORAC:-$root/lorac}" "$@"

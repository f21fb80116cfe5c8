#!/bin/sh
# llamacpp-venv.sh — make sure the Python venv with llama-cpp-python (llama.cpp
# itself, built from source once) and gguf-py exists, and print its python.
#
#   py=$(sh scripts/llamacpp-venv.sh) || exit
#
# The venv is $LORAC_CACHE/bench/venv-llamacpp, shared by bench/bench_inference.sh
# and the slow tests (tests/slow/fuse_llamacpp.sh). Building llama-cpp-python
# takes 9-12 min on 2 cores the first time; pip's wheel cache keeps it after that.
# A failed build is remembered in llama-cpp-python-build-failed.log (it would fail
# again and takes minutes); delete that file to retry. Progress goes to stderr.
# Exit status: 0 with the python path on stdout when `import llama_cpp, gguf`
# works; 1 with the reason on stderr otherwise.
set -u
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
  echo "llama.cpp: cannot make a venv in $venv (python3 -m venv; install python3-venv)" >&2
  exit 1
fi
if ! "$py" -c "import gguf, numpy" 2>/dev/null; then
  "$py" -m pip install -q $PINS >&2 || echo "llama.cpp: pip install $PINS failed" >&2
fi
if ! "$py" -c "import llama_cpp" 2>/dev/null; then
  if [ -f "$failed" ]; then
    echo "llama.cpp: building $LLAMA_PIN failed earlier (log: $failed; delete it to retry)" >&2
    exit 1
  fi
  echo "llama.cpp: installing $LLAMA_PIN (builds llama.cpp from source once; 9-12 min on 2 cores)..." >&2
  start=$(date +%s)
  log=$venv/llama-cpp-python-build.log
  if CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "$py" -m pip install "$LLAMA_PIN" "numpy<3" >"$log" 2>&1 \
     && "$py" -c "import llama_cpp" 2>>"$log"; then
    echo "llama.cpp: llama-cpp-python ready ($(( $(date +%s) - start )) s)" >&2
  else
    # a failed build is remembered (it would fail again, and it takes minutes); a failed download is not
    if grep -q -i "building wheel\|cmake" "$log" 2>/dev/null; then mv "$log" "$failed"; log=$failed; fi
    echo "llama.cpp: installing $LLAMA_PIN failed; last lines of $log:" >&2
    tail -n 15 "$log" | sed 's/^/  | /' >&2
    exit 1
  fi
fi
"$py" -c "import llama_cpp, gguf" 2>/dev/null || { echo "llama.cpp: $py cannot import llama_cpp and gguf" >&2; exit 1; }
echo "$py"

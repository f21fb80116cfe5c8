#!/bin/sh
# bench_train.sh — LoRA training speed and peak RSS: lorac lora vs PyTorch
# (transformers + PEFT, bf16 autocast and fp32) and mlx_lm.lora, one engine at a
# time, 2 threads each, on (a) a SmolLM2-135M-shaped model (all 30 layers, seq 512)
# and (b) a SmolLM3-3B-shaped one (last 8 layers, seq 1024, grad checkpointing).
# See bench/train_bench.py. Models are made once in $LORAC_CACHE/bench/ (the 3B
# directory, 6.2 GB, is the one bench_inference.sh uses). ~15-20 min on an idle machine.
#
# Python: python3 when it has torch, transformers and peft (mlx, mlx_lm optional);
# else a venv in $LORAC_CACHE/bench/venv-train (system site-packages visible)
# gets what is missing from PyPI. Engines whose packages are absent are skipped.
# Extra arguments go to train_bench.py (--only a|b, --engines LIST (lorac,lorac-bf16,torch-bf16,torch-fp32,mlx), --fp32-3b,
# --mlx-3b, --keep, --threads N).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cache=${LORAC_CACHE:-$HOME/.cache/lorac}
mkdir -p "$cache/bench"
py=python3
missing() {
  "$1" - <<'PY'
import importlib.util
need = {"torch": "torch", "transformers": "transformers", "peft": "peft", "safetensors": "safetensors",
        "gguf": "gguf", "mlx": "mlx[cpu]", "mlx_lm": "mlx-lm"}
print(" ".join(p for m, p in need.items() if importlib.util.find_spec(m) is None))
PY
}
miss=$(missing python3)
if [ -n "$miss" ]; then
  venv=$cache/bench/venv-train
  [ -x "$venv/bin/python" ] || python3 -m venv --system-site-packages "$venv" >/dev/null 2>&1 || rm -rf "$venv"
  if [ -x "$venv/bin/python" ]; then
    py=$venv/bin/python
    pkgs=$(missing "$py")
    if [ -n "$pkgs" ]; then
      echo "train: installing $pkgs into $venv..."
      # shellcheck disable=SC2086
      "$py" -m pip install -q $pkgs >&2 || echo "train: pip install $pkgs failed; engines without their packages are skipped" >&2
    fi
  fi
fi
OMP_NUM_THREADS=2 exec "$py" "$here/train_bench.py" --lorac "${LORAC:-$root/lorac}" "$@"

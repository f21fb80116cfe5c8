#!/usr/bin/env python3
"""make_quant_goldens.py — golden files for tests/test_quant.c from gguf-py.

gguf-py (gguf.quants) is the Python reference of ggml's block formats; its
dequantize is bit-exact with ggml-quants.c, and its Q8_0 quantize is bit-exact
with quantize_row_q8_0_ref. For each type this writes, under tests/golden/quant/:

  <TYPE>.bin          raw blocks (random bytes, valid f16 scales)
  <TYPE>.f32          gguf.quants.dequantize of them (little-endian float32)
  quant_in.f32        float inputs for quantization: 8 blocks of 32
  <TYPE>_quant.bin    gguf.quants.quantize of them (F16, BF16: all 8 blocks;
                      Q8_0: the first 6, whose scales fit in f16)

Run from anywhere: python3 tests/ref/make_quant_goldens.py
The C tests read these files and need no Python at run time.
"""
import os
import subprocess
import sys

try:
    import numpy as np
    import gguf  # noqa: F401
except ImportError:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "gguf", "numpy"])
    import numpy as np

from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType as T
from gguf.quants import dequantize, quantize

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "quant"))
rng = np.random.default_rng(1234)


def f16_bytes(vals):
    """Valid f16 scales as bytes: the given floats, rounded to f16."""
    return np.asarray(vals, dtype=np.float32).astype(np.float16).view(np.uint8)


def scales(n):
    """n f16 scales: mostly N(0, 0.05), plus a zero, a negative, a subnormal and a large one."""
    v = rng.normal(0.0, 0.05, size=n).astype(np.float32)
    special = [0.0, -0.75, 3.0e-6, 1000.0]
    for i, s in enumerate(special[: max(0, n - 2)]):
        v[(3 * i + 1) % n] = s
    return v


def make_blocks(qtype, n_blocks):
    """Random blocks whose f16 fields (d, m/dmin) are valid finite halves."""
    block, size = GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    if qtype in (T.Q8_0, T.Q4_0):  # d at 0
        raw[:, 0:2] = f16_bytes(scales(n_blocks)).reshape(n_blocks, 2)
    elif qtype == T.Q4_1:  # d at 0, m at 2
        raw[:, 0:2] = f16_bytes(scales(n_blocks)).reshape(n_blocks, 2)
        raw[:, 2:4] = f16_bytes(scales(n_blocks)).reshape(n_blocks, 2)
    elif qtype == T.Q4_K:  # d at 0, dmin at 2
        raw[:, 0:2] = f16_bytes(scales(n_blocks)).reshape(n_blocks, 2)
        raw[:, 2:4] = f16_bytes(scales(n_blocks)).reshape(n_blocks, 2)
    elif qtype == T.Q6_K:  # d at 208
        raw[:, 208:210] = f16_bytes(scales(n_blocks)).reshape(n_blocks, 2)
    else:
        raise ValueError(qtype)
    return raw


def write(name, arr):
    path = os.path.join(OUT, name)
    with open(path, "wb") as f:
        f.write(np.ascontiguousarray(arr).tobytes())
    print(f"{path}: {os.path.getsize(path)} bytes")


def quant_inputs():
    """8 blocks of 32 floats covering Q8_0/F16/BF16 edge cases."""
    x = rng.normal(0.0, 1.0, size=(8, 32)).astype(np.float32)
    x[1] *= 1e-3
    x[2] = 0.0                                             # all-zero block: d = 0, id = 0
    x[3] = np.arange(-16, 16, dtype=np.float32) + 0.5      # x*id lands on .5 ties
    x[3, 0] = 127.0                                        # amax 127 -> d = 1
    x[4] *= 1e-6                                           # f16 subnormal d
    x[5] *= 3e4                                            # large values (f16 overflow to inf)
    x[6, :8] = [65504.0, 65519.0, 65520.0, -65520.0, 6.1035156e-05, 5.9604645e-08, 2.9802322e-08, 1.0009766]
    x[6, 8:16] = [1.00048828125, 1.00146484375, -0.0, np.inf, -np.inf, 1.0 + 2**-8, 1.0 + 3 * 2**-9, 3.0e-39]
    x[7] = rng.uniform(-1, 1, size=32).astype(np.float32)
    return x


def main():
    os.makedirs(OUT, exist_ok=True)
    for qtype, n_blocks in ((T.Q8_0, 8), (T.Q4_0, 8), (T.Q4_1, 8), (T.Q4_K, 4), (T.Q6_K, 4)):
        raw = make_blocks(qtype, n_blocks)
        y = dequantize(raw, qtype).astype("<f4").reshape(-1)
        write(f"{qtype.name}.bin", raw)
        write(f"{qtype.name}.f32", y)

    x = quant_inputs()
    with np.errstate(over="ignore"):
        q8 = quantize(x[:6], T.Q8_0)        # Q8_0 on the finite, in-range blocks
        f16 = quantize(x, T.F16)
        bf16 = quantize(x, T.BF16)
    write("quant_in.f32", x.astype("<f4"))
    write("Q8_0_quant.bin", q8)
    write("F16_quant.bin", f16.view(np.uint8))
    write("BF16_quant.bin", bf16.view(np.uint8))


if __name__ == "__main__":
    main()

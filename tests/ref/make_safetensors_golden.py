#!/usr/bin/env python3
"""make_safetensors_golden.py — golden files for tests/test_safetensors.c, made by the
reference implementation (huggingface `safetensors`, Rust core).

  python3 tests/ref/make_safetensors_golden.py            # writes tests/golden/safetensors/ref.{safetensors,json}
  python3 tests/ref/make_safetensors_golden.py --check F  # parses F with the reference library, prints it

ref.safetensors holds a few small F32/F16/BF16/I64 tensors (a scalar and an empty one
included) and a __metadata__ map; ref.json lists each tensor's name, dtype, shape and
values as plain numbers (row-major), plus the metadata, for the C test to compare.
--check runs the reference parser (full validation) on a file lorac wrote and exits
non-zero if it rejects it.
"""
import json
import os
import subprocess
import sys

try:
    import numpy as np
    import safetensors
except ImportError:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "safetensors", "numpy"])
    import numpy as np
    import safetensors

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "golden", "safetensors")

# ---- value decoding (shared by both modes) ----
NP = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I8": "i1", "U8": "u1", "I16": "<i2",
      "I32": "<i4", "I64": "<i8", "BOOL": "?"}


# deserialize() reports safetensors names ("BF16"); accept numpy-style names too
ST_NAME = {"bfloat16": "BF16", "float32": "F32", "float16": "F16", "float64": "F64", "int8": "I8",
           "uint8": "U8", "int16": "I16", "int32": "I32", "int64": "I64", "bool": "BOOL"}


def st_name(dtype):
    return ST_NAME.get(dtype, dtype)


def decode(dtype, shape, data):
    """Raw little-endian bytes -> flat list of Python numbers."""
    if dtype == "BF16":
        u = np.frombuffer(data, dtype="<u2").astype(np.uint32) << 16
        return [float(x) for x in u.view(np.float32)]
    a = np.frombuffer(data, dtype=NP[dtype])
    if dtype in ("F32", "F16", "F64"):
        return [float(x) for x in a]
    return [int(x) for x in a]


def bf16_bytes(values):
    """float32 values exactly representable in bf16 -> raw BF16 bytes."""
    f = np.asarray(values, dtype=np.float32)
    u = f.view(np.uint32)
    assert np.all((u & 0xFFFF) == 0), "golden BF16 values must be exact"
    return (u >> 16).astype("<u2")


# ---- golden mode ----
def make():
    arrays = {  # name -> (safetensors dtype name for TensorSpec, numpy array of the stored bits)
        "model.embed.weight": ("float32", np.array([[0.5, -1.25, 3.0], [1e-3, -7.5, 65504.0]], dtype="<f4")),
        "model.norm.weight": ("float16", np.array([1.0, -0.5, 0.333251953125, 65504.0, -6.1035156e-05], dtype="<f2")),
        "layers.0.q.weight": ("bfloat16", bf16_bytes([[1.0, -2.0], [0.15625, 3.3895314e38], [-0.0, 0.0078125]])),
        "positions": ("int64", np.array([0, 1, -1, 2**40, -(2**53)], dtype="<i8")),
        "scale": ("float32", np.array(2.5, dtype="<f4")),  # 0-d scalar
        "empty": ("float32", np.zeros((0, 3), dtype="<f4")),
    }
    meta = {"format": "pt", "lorac": "golden", "note": "ünïcode ✓"}
    specs = {
        k: safetensors.TensorSpec(dtype=dt, shape=list(a.shape), data_ptr=a.ctypes.data, data_len=a.nbytes)
        for k, (dt, a) in arrays.items()
    }
    os.makedirs(OUT, exist_ok=True)
    st_path = os.path.join(OUT, "ref.safetensors")
    safetensors.serialize_file(specs, st_path, metadata=meta)
    os.chmod(st_path, 0o644)

    # read back with the reference reader so the JSON reflects what was stored
    with open(st_path, "rb") as fh:
        raw = fh.read()
    with safetensors.safe_open(st_path, framework="numpy") as f:
        stored_meta = f.metadata()
    tensors = []
    for name, t in safetensors.deserialize(raw):
        dtype = st_name(t["dtype"])
        tensors.append({"name": name, "dtype": dtype, "shape": list(t["shape"]),
                        "values": decode(dtype, t["shape"], bytes(t["data"]))})
    tensors.sort(key=lambda t: t["name"])
    with open(os.path.join(OUT, "ref.json"), "w") as fh:
        json.dump({"metadata": stored_meta, "tensors": tensors}, fh, indent=1, ensure_ascii=False)
        fh.write("\n")
    print(f"wrote {st_path} ({len(raw)} bytes), {len(tensors)} tensors")


# ---- check mode ----
def check(path):
    with open(path, "rb") as fh:
        raw = fh.read()
    tensors = safetensors.deserialize(raw)  # raises on any format violation
    with safetensors.safe_open(path, framework="numpy") as f:
        meta = f.metadata()
    print(f"{path}: OK, {len(tensors)} tensors, metadata {meta}")
    for name, t in tensors:
        vals = decode(st_name(t["dtype"]), t["shape"], bytes(t["data"]))
        print(f"  {name}: {t['dtype']} {list(t['shape'])} {vals[:6]}{' ...' if len(vals) > 6 else ''}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
    elif len(sys.argv) == 1:
        make()
    else:
        sys.exit(__doc__)

#!/usr/bin/env python3
"""check_init_model.py — HF transformers loads every `lorac init-model` architecture
with no missing or unexpected weights and the same config values.

    python3 tests/ref/check_init_model.py [./lorac]

Installs torch/transformers/safetensors with pip when missing. Prints one line per
architecture and exits non-zero on any mismatch.
"""
import json, os, subprocess, sys, tempfile

def need(*pkgs):
    import importlib
    missing = [p for p in pkgs if importlib.util.find_spec(p) is None]
    if missing:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", *missing])

need("torch", "transformers", "safetensors")
import torch
from transformers import AutoModelForCausalLM

lorac = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "./lorac")
bad = 0
with tempfile.TemporaryDirectory() as tmp:
    for arch in ["llama", "qwen2", "qwen3", "smollm3"]:
        for tie in ["true", "false"]:
            out = os.path.join(tmp, f"{arch}-{tie}")
            subprocess.check_call([lorac, "init-model", "--preset", "tiny", "--arch", arch, "--dtype", "f32",
                                   "--tie-embeddings", tie, "--out", out], stderr=subprocess.DEVNULL)
            model, info = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32, output_loading_info=True)
            problems = {k: v for k, v in info.items() if v}
            cfg = json.load(open(os.path.join(out, "config.json")))
            if model.config.model_type != arch or model.config.tie_word_embeddings != (tie == "true"):
                problems["config"] = (model.config.model_type, model.config.tie_word_embeddings)
            if arch == "smollm3" and list(model.config.no_rope_layers) != cfg["no_rope_layers"]:
                problems["no_rope_layers"] = model.config.no_rope_layers
            print(f"{arch:8s} tie={tie:5s} {type(model).__name__:20s} "
                  f"{'ok' if not problems else 'MISMATCH ' + str(problems)}")
            bad += bool(problems)
sys.exit(1 if bad else 0)

#!/usr/bin/env python3
"""make_forward_goldens.py — logits and greedy continuations from HF transformers
for tiny random models of every architecture, written to tests/golden/forward/.

    python3 tests/ref/make_forward_goldens.py [./lorac]

Each case: `lorac init-model --preset tiny --arch A --dtype D --seed S
--tie-embeddings T`, then the case's config patch (rope scaling) merged into
config.json, then transformers computes logits for a 40-token prompt and a
32-token greedy continuation. The C test (tests/test_forward.c) rebuilds the
same model through the library with the same seed and compares.
Files: <case>.json (manifest: tokens, greedy ids, settings) and <case>.f32
(logits, (T, vocab) little-endian float32).
"""
import json, os, subprocess, sys, tempfile

def need(*pkgs):
    import importlib.util
    missing = [p for p in pkgs if importlib.util.find_spec(p) is None]
    if missing:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", *missing])

need("torch", "transformers", "safetensors", "numpy")
import numpy as np
import torch
from transformers import AutoModelForCausalLM

CASES = [
    # name, arch, dtype, tie, seed, config patch
    ("llama_f32", "llama", "f32", "false", 11, {}),
    ("llama_tied_f32", "llama", "f32", "true", 12, {}),
    ("llama3rope_f32", "llama", "f32", "false", 13,
     {"rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                       "original_max_position_embeddings": 16}, "rope_theta": 500000.0}),
    ("linear_rope_f32", "llama", "f32", "true", 14, {"rope_scaling": {"rope_type": "linear", "factor": 4.0}}),
    ("qwen2_f32", "qwen2", "f32", "false", 21, {}),
    ("qwen3_f32", "qwen3", "f32", "true", 31, {}),
    ("qwen3_yarn_f32", "qwen3", "f32", "false", 32,
     {"rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32}, "max_position_embeddings": 128}),
    ("smollm3_f32", "smollm3", "f32", "true", 41, {}),
    ("smollm3_untied_f32", "smollm3", "f32", "false", 42, {}),
    ("llama_bf16", "llama", "bf16", "true", 51, {}),
    ("qwen3_bf16", "qwen3", "bf16", "true", 52, {}),
    ("smollm3_bf16", "smollm3", "bf16", "true", 53, {}),
]
T_PROMPT, N_GEN = 40, 32
INIT_STD = 0.25  # larger than HF's 0.02 so logits spread and greedy picks are not near-ties

lorac = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "./lorac")
out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "forward")
os.makedirs(out_dir, exist_ok=True)
torch.manual_seed(0)
with tempfile.TemporaryDirectory() as tmp:
    for name, arch, dtype, tie, seed, patch in CASES:
        mdir = os.path.join(tmp, name)
        subprocess.check_call([lorac, "init-model", "--preset", "tiny", "--arch", arch, "--dtype", dtype,
                               "--seed", str(seed), "--tie-embeddings", tie, "--init-std", str(INIT_STD), "--out", mdir],
                              stderr=subprocess.DEVNULL)
        cfg_path = os.path.join(mdir, "config.json")
        cfg = json.load(open(cfg_path))
        cfg.update(patch)
        json.dump(cfg, open(cfg_path, "w"), indent=2)
        # bf16 files: lorac keeps activations in fp32 (DESIGN.md), so the reference is the
        # bf16 weights upcast exactly to fp32; the looser bf16 tolerance covers kernels
        # that round activations to bf16 for the dot products.
        tdtype = torch.float32 if dtype == "f32" else torch.bfloat16
        model = AutoModelForCausalLM.from_pretrained(mdir, dtype=tdtype, attn_implementation="eager").eval().float()
        rng = np.random.default_rng(seed)
        tokens = rng.integers(3, cfg["vocab_size"], size=T_PROMPT).tolist()
        with torch.no_grad():
            logits = model(torch.tensor([tokens])).logits[0].float().numpy().astype("<f4")
            gen = model.generate(torch.tensor([tokens]), max_new_tokens=N_GEN, do_sample=False,
                                 eos_token_id=None, pad_token_id=0, min_new_tokens=N_GEN)
        greedy = gen[0, T_PROMPT:].tolist()
        with torch.no_grad():  # smallest top-1 / top-2 gap along the greedy path: how robust the check is
            full = model(gen).logits[0, T_PROMPT - 1:-1].float()
            top2 = full.topk(2, dim=-1).values
            margin = float((top2[:, 0] - top2[:, 1]).min())
        logits.tofile(os.path.join(out_dir, name + ".f32"))
        manifest = {"arch": arch, "dtype": dtype, "tie": tie == "true", "seed": seed, "init_std": INIT_STD, "config_patch": patch, "greedy_min_margin": margin,
                    "tokens": tokens, "greedy": greedy, "vocab": cfg["vocab_size"],
                    "reference": f"transformers {__import__('transformers').__version__}, torch {torch.__version__}, "
                                 f"eager attention, {dtype} weights, fp32 compute"}
        json.dump(manifest, open(os.path.join(out_dir, name + ".json"), "w"), indent=1)
        print(f"{name:20s} logits {logits.shape} max |x| {abs(logits).max():.4f} margin {margin:.2e} greedy {greedy[:8]}...")

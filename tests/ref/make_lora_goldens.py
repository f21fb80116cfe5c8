#!/usr/bin/env python3
"""make_lora_goldens.py — LoRA/DoRA (and full fine-tune) loss, gradients and an AdamW
loss trajectory from PyTorch autograd on tiny random models, written to tests/golden/lora/.

    python3 tests/ref/make_lora_goldens.py [./lorac] [--check-peft]

Each case: `lorac init-model --preset tiny --arch A --dtype f32 --seed S
--tie-embeddings T --init-std 0.25` (as tests/ref/make_forward_goldens.py), loaded
with HF transformers (eager attention); every target nn.Linear of the adapted layers
is replaced by a wrapper computing (mlx-lm layout, which lorac uses):

    LoRA:  y = x·Wᵀ + b + scale·(x·A)·B                        A (in, r), B (r, out)
    DoRA:  y = (m / n) ∘ (x·Wᵀ + scale·(x·A)·B) + b            m (out)
           n = ‖W + scale·(A·B)ᵀ‖₂ per output row (over in), DETACHED (no gradient)

The bias (qwen2 q/k/v) is added AFTER the DoRA rescale (mlx-lm DoRALinear and PEFT
agree on this), so it plays no part in m's gradient:
    ∂L/∂m_j = Σ_tokens ∂L/∂y_j · (x·Wᵀ + scale·(x·A)·B)_j / n_j.

Initial LoRA parameters are drawn from numpy default_rng(seed + 7919), layer by
layer (ascending), projection by projection (q,k,v,o,gate,up,down):
A ~ U(±1/√in), B ~ N(0, 0.05²) (both non-zero so every gradient is non-trivial),
DoRA m = ‖W‖_row · (1 + N(0, 0.01²)); all rounded to float32 and written to
<case>.adapters.safetensors; the references start from exactly those f32 values.

Data: 3 sequences (lengths 23, 17, 30; ids uniform in [3, vocab)) from
default_rng(seed). target_start s = round(0.4·L): tokens ids[s..L-1] are the targets,
predicted by positions s-1..L-2 (position t predicts ids[t+1]); prompt tokens count
nothing. Each sequence runs alone (no padding). Loss = Σ CE over all target tokens of
the batch / total target count (one mean over the batch, not a mean of per-sequence
means).

Gradients: the model and LoRA parameters cast to float64 (model.double()), torch
autograd; stored as float32 in <case>.grads.safetensors (same names as the adapters).
loss (float64) and loss_f32 (the same computation in float32) go to <case>.json.

Trajectory cases: 10 steps of AdamW on the same batch, float64, lr 1e-2 constant,
betas (0.9, 0.999), eps 1e-8, weight_decay 0.01 applied to every trainable tensor
(A, B and m), bias correction on; per element, at step t = 1..10:
    g = ∂L/∂p at the current p                     (loss recorded here, before the update)
    p ← p · (1 − lr·wd)                            (decoupled decay, on the old p)
    mom ← β1·mom + (1−β1)·g ;  v ← β2·v + (1−β2)·g²   (both start at 0)
    m̂ = mom / (1−β1^t) ;  v̂ = v / (1−β2^t)
    p ← p − lr · m̂ / (√v̂ + eps)
which equals torch.optim.AdamW and mlx.optimizers.AdamW(bias_correction=True). For
DoRA n is recomputed from the updated A, B every step (it is a function of them).
`trajectory` holds the 10 losses; <case>.final.safetensors the parameters after the
10th update (float32, for debugging). `trajectory_f32` is the same run in float32.

--check-peft (pip-installs peft) recomputes loss and gradients with PEFT's LoRA/DoRA
(its (r,in)/(out,r) layout, lora_alpha = scale·r) and asserts they agree.

Full fine-tune cases (FULL_CASES; mlx-lm fine_tune_type "full"): no adapters; every
parameter of the last num_layers blocks is trained directly (all else, embeddings,
final norm and lm_head included, frozen): input_layernorm.weight,
post_attention_layernorm.weight, self_attn.{q,k,v,o}_proj.weight,
mlp.{gate,up,down}_proj.weight, plus self_attn.{q,k,v}_proj.bias (qwen2) and
self_attn.{q,k}_norm.weight (qwen3), HF names and shapes (Linear weights (out, in)),
listed in the manifest's "trainable" (model order). The model, data, masking and loss
are as for the LoRA cases; the model starts from its own initial weights.
<case>.grads.safetensors holds ∂L/∂p (float64 autograd, stored float32) for every
trainable tensor; <case>.json has "fine_tune_type": "full" (LoRA manifests have no such
key), "num_layers", "layers", "trainable", and no rank/scale/dora. The full trajectory
case runs FULL_STEPS = 5 AdamW steps with lr FULL_LR = 1e-3 (the formula above, weight
decay on every trainable tensor, norms and biases included, as mlx-lm's AdamW does);
no final.safetensors is written for it.
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
import torch.nn as nn
import torch.nn.functional as F
from safetensors.numpy import save_file
from transformers import AutoModelForCausalLM
from transformers.utils import logging as hf_logging

hf_logging.disable_progress_bar()

CASES = [
    # name, arch, tie, seed, num_layers, dora, trajectory
    ("llama_lora", "llama", False, 101, 2, False, True),
    ("llama_lora_all", "llama", False, 102, -1, False, False),
    ("llama_dora", "llama", False, 103, 2, True, False),
    ("qwen2_lora", "qwen2", False, 201, 2, False, False),
    ("qwen2_dora", "qwen2", False, 202, 2, True, False),  # DoRA with q/k/v bias
    ("qwen3_lora", "qwen3", True, 301, 2, False, False),
    ("qwen3_lora_all", "qwen3", True, 302, -1, False, False),
    ("qwen3_dora", "qwen3", True, 303, 2, True, True),
    ("smollm3_lora", "smollm3", True, 401, 2, False, False),  # layer 3 is NoPE
]
INIT_STD = 0.25
RANK, SCALE = 4, 2.0
KEYS = [("self_attn", "q_proj"), ("self_attn", "k_proj"), ("self_attn", "v_proj"), ("self_attn", "o_proj"),
        ("mlp", "gate_proj"), ("mlp", "up_proj"), ("mlp", "down_proj")]
SEQ_LENS = (23, 17, 30)
PROMPT_FRAC = 0.4
B_STD, M_PERTURB = 0.05, 0.01
STEPS, LR, BETAS, EPS, WD = 10, 1e-2, (0.9, 0.999), 1e-8, 0.01

FULL_CASES = [
    # name, arch, tie, seed, num_layers, trajectory
    ("llama_full", "llama", False, 111, 2, True),
    ("qwen2_full", "qwen2", False, 211, 2, False),  # q/k/v bias
    ("qwen3_full", "qwen3", True, 311, 2, False),  # tied embeddings, q_norm/k_norm
]
FULL_STEPS, FULL_LR = 5, 1e-3
FULL_TENSORS = ["input_layernorm.weight", "post_attention_layernorm.weight",
                "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
                "self_attn.o_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight"]
FULL_EXTRA = {"qwen2": ["self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias"],
              "qwen3": ["self_attn.q_norm.weight", "self_attn.k_norm.weight"]}


class LoRALinear(nn.Module):
    """Wraps a frozen nn.Linear; mlx-lm layout (A (in,r), B (r,out)); DoRA if m is given."""

    def __init__(self, base, a, b, scale, m=None):
        super().__init__()
        self.base, self.scale = base, scale
        self.lora_a = nn.Parameter(a)
        self.lora_b = nn.Parameter(b)
        self.m = nn.Parameter(m) if m is not None else None

    def forward(self, x):
        w = self.base.weight
        y = F.linear(x, w) + self.scale * ((x @ self.lora_a) @ self.lora_b)
        if self.m is not None:
            n = (w + self.scale * (self.lora_a @ self.lora_b).T).norm(dim=1).detach()
            y = (self.m / n) * y
        if self.base.bias is not None:
            y = y + self.base.bias
        return y


def adapted_layers(n_layers, num_layers):
    return list(range(n_layers)) if num_layers < 0 else list(range(n_layers - num_layers, n_layers))


def init_params(model, layers, dora, seed):
    """Initial LoRA parameters (float32 numpy), mlx-lm names."""
    rng = np.random.default_rng(seed + 7919)
    params = {}
    for li in layers:
        for sub, proj in KEYS:
            lin = getattr(getattr(model.model.layers[li], sub), proj)
            w = lin.weight.detach().double().numpy()
            out_f, in_f = w.shape
            p = f"model.layers.{li}.{sub}.{proj}"
            bound = 1.0 / np.sqrt(in_f)
            params[p + ".lora_a"] = rng.uniform(-bound, bound, size=(in_f, RANK)).astype(np.float32)
            params[p + ".lora_b"] = rng.normal(0.0, B_STD, size=(RANK, out_f)).astype(np.float32)
            if dora:
                wn = np.linalg.norm(w, axis=1)
                params[p + ".m"] = (wn * (1.0 + rng.normal(0.0, M_PERTURB, size=out_f))).astype(np.float32)
    return params


def patch(model, layers, params, dtype):
    """Replace the target Linears by LoRALinear; returns {name: nn.Parameter}."""
    live = {}
    for li in layers:
        for sub, proj in KEYS:
            parent = getattr(model.model.layers[li], sub)
            p = f"model.layers.{li}.{sub}.{proj}"
            t = lambda k: torch.tensor(params[p + k], dtype=dtype)
            wrap = LoRALinear(getattr(parent, proj), t(".lora_a"), t(".lora_b"), SCALE,
                              t(".m") if p + ".m" in params else None)
            setattr(parent, proj, wrap)
            live[p + ".lora_a"], live[p + ".lora_b"] = wrap.lora_a, wrap.lora_b
            if wrap.m is not None:
                live[p + ".m"] = wrap.m
    return live


def batch_loss(model, seqs):
    total, count = 0.0, 0
    for s in seqs:
        ids, st = s["ids"], s["target_start"]
        logits = model(torch.tensor([ids]), use_cache=False).logits[0]
        total = total + F.cross_entropy(logits[st - 1:len(ids) - 1], torch.tensor(ids[st:]), reduction="sum")
        count += len(ids) - st
    return total / count


def load(mdir, dtype):
    model = AutoModelForCausalLM.from_pretrained(mdir, dtype=torch.float32, attn_implementation="eager").eval()
    if dtype == torch.float64:
        model = model.double()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def loss_and_grads(model, live, seqs):
    for p in live.values():
        p.grad = None
    loss = batch_loss(model, seqs)
    loss.backward()
    return loss.item(), {k: p.grad.detach().clone() for k, p in live.items()}


def adamw_trajectory(model, live, seqs, steps=STEPS, lr=LR):
    """Hand-written AdamW (the documented formula); returns losses before each update."""
    mom = {k: torch.zeros_like(p) for k, p in live.items()}
    vel = {k: torch.zeros_like(p) for k, p in live.items()}
    losses = []
    for t in range(1, steps + 1):
        loss, grads = loss_and_grads(model, live, seqs)
        losses.append(loss)
        with torch.no_grad():
            for k, p in live.items():
                g = grads[k]
                p.mul_(1.0 - lr * WD)
                mom[k] = BETAS[0] * mom[k] + (1.0 - BETAS[0]) * g
                vel[k] = BETAS[1] * vel[k] + (1.0 - BETAS[1]) * g * g
                mhat = mom[k] / (1.0 - BETAS[0] ** t)
                vhat = vel[k] / (1.0 - BETAS[1] ** t)
                p.sub_(lr * mhat / (vhat.sqrt() + EPS))
    return losses


def torch_adamw_trajectory(model, live, seqs, steps=STEPS, lr=LR):
    opt = torch.optim.AdamW(list(live.values()), lr=lr, betas=BETAS, eps=EPS, weight_decay=WD)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = batch_loss(model, seqs)
        loss.backward()
        losses.append(loss.item())
        opt.step()
    return losses


def peft_check(mdir, layers, params, dora, seqs):
    need("peft")
    from peft import LoraConfig, get_peft_model
    model = load(mdir, torch.float64)
    cfg = LoraConfig(r=RANK, lora_alpha=SCALE * RANK, lora_dropout=0.0, use_dora=dora, bias="none",
                     target_modules=[k for _, k in KEYS], layers_to_transform=layers)
    pm = get_peft_model(model, cfg)
    live = {}
    for li in layers:
        for sub, proj in KEYS:
            mod = getattr(getattr(pm.base_model.model.model.layers[li], sub), proj)
            p = f"model.layers.{li}.{sub}.{proj}"
            with torch.no_grad():
                mod.lora_A["default"].weight.copy_(torch.tensor(params[p + ".lora_a"]).double().T)
                mod.lora_B["default"].weight.copy_(torch.tensor(params[p + ".lora_b"]).double().T)
                if dora:
                    mod.lora_magnitude_vector["default"].weight.copy_(torch.tensor(params[p + ".m"]).double())
            live[p + ".lora_a"] = mod.lora_A["default"].weight
            live[p + ".lora_b"] = mod.lora_B["default"].weight
            if dora:
                live[p + ".m"] = mod.lora_magnitude_vector["default"].weight
    pm.eval()
    loss = batch_loss(pm, seqs)
    loss.backward()
    loss = loss.item()
    grads = {k: (p.grad.T if k.endswith((".lora_a", ".lora_b")) else p.grad).detach() for k, p in live.items()}
    return loss, grads


def unfreeze_layers(model, layers, arch):
    """Full fine-tune: make every parameter of the given blocks trainable; {HF name: parameter}."""
    live = {}
    for name, p in model.named_parameters():
        parts = name.split(".")
        if name.startswith("model.layers.") and int(parts[2]) in layers:
            p.requires_grad_(True)
            live[name] = p
    want = {f"model.layers.{li}.{t}" for li in layers for t in FULL_TENSORS + FULL_EXTRA.get(arch, [])}
    assert set(live) == want, (arch, sorted(set(live) ^ want))
    return live


def make_case(tmp, lorac, name, arch, tie, seed):
    """`lorac init-model` the tiny model and draw the 3-sequence batch; (model dir, config, seqs, n_targets)."""
    mdir = os.path.join(tmp, name)
    subprocess.check_call([lorac, "init-model", "--preset", "tiny", "--arch", arch, "--dtype", "f32",
                           "--seed", str(seed), "--tie-embeddings", "true" if tie else "false",
                           "--init-std", str(INIT_STD), "--out", mdir], stderr=subprocess.DEVNULL)
    cfg = json.load(open(os.path.join(mdir, "config.json")))
    rng = np.random.default_rng(seed)
    seqs = []
    for L in SEQ_LENS:
        ids = rng.integers(3, cfg["vocab_size"], size=L).tolist()
        seqs.append({"ids": ids, "target_start": int(round(PROMPT_FRAC * L))})
    n_targets = sum(len(s["ids"]) - s["target_start"] for s in seqs)
    return mdir, cfg, seqs, n_targets


def full_case(tmp, lorac, out_dir, name, arch, tie, seed, num_layers, traj):
    mdir, cfg, seqs, n_targets = make_case(tmp, lorac, name, arch, tie, seed)
    layers = adapted_layers(cfg["num_hidden_layers"], num_layers)

    m64 = load(mdir, torch.float64)
    live64 = unfreeze_layers(m64, layers, arch)
    loss64, g64 = loss_and_grads(m64, live64, seqs)

    m32 = load(mdir, torch.float32)
    live32 = unfreeze_layers(m32, layers, arch)
    loss32, g32 = loss_and_grads(m32, live32, seqs)
    f32_err = rel_err(g32, g64)

    # only the trained blocks carry gradients
    for n, p in m64.named_parameters():
        assert (p.grad is not None) == (n in live64), (name, n)
    for k, g in g64.items():
        assert torch.isfinite(g).all() and float(g.abs().max()) > 0, (name, k)
    save({k: g.numpy().astype(np.float32) for k, g in g64.items()}, os.path.join(out_dir, name + ".grads.safetensors"))

    manifest = {
        "arch": arch, "tie": tie, "seed": seed, "init_std": INIT_STD, "dtype": "f32",
        "fine_tune_type": "full", "num_layers": num_layers, "layers": layers,
        "trainable": list(live64), "n_trainable_params": sum(p.numel() for p in live64.values()),
        "sequences": seqs, "n_targets": n_targets,
        "loss": loss64, "loss_f32": loss32,
        "grad_f32_vs_f64_max_rel": f32_err,
        "grad_max_abs": max(float(g.abs().max()) for g in g64.values()),
        "grad_min_tensor_max_abs": min(float(g.abs().max()) for g in g64.values()),
    }
    msg = f"{name:16s} loss {loss64:.10f} f32 {loss32:.10f} |Δ| {abs(loss64 - loss32):.1e} grad f32 rel {f32_err:.1e}"

    if traj:
        traj64 = adamw_trajectory(m64, live64, seqs, FULL_STEPS, FULL_LR)
        traj32 = adamw_trajectory(m32, live32, seqs, FULL_STEPS, FULL_LR)
        m_chk = load(mdir, torch.float64)
        chk = torch_adamw_trajectory(m_chk, unfreeze_layers(m_chk, layers, arch), seqs, FULL_STEPS, FULL_LR)
        assert max(abs(a - b) for a, b in zip(chk, traj64)) < 1e-12, (name, chk, traj64)
        manifest["optimizer"] = {"name": "adamw", "steps": FULL_STEPS, "learning_rate": FULL_LR,
                                 "lr_schedule": "constant", "betas": list(BETAS), "eps": EPS,
                                 "weight_decay": WD, "bias_correction": True}
        manifest["trajectory"] = traj64
        manifest["trajectory_f32"] = traj32
        msg += "\n" + " " * 17 + "trajectory " + " ".join(f"{x:.6f}" for x in traj64)
        msg += "\n" + " " * 17 + f"traj f32 max |Δ| {max(abs(a - b) for a, b in zip(traj32, traj64)):.1e}"

    manifest["reference"] = (f"transformers {__import__('transformers').__version__}, torch {torch.__version__}, "
                             "eager attention, f32 weights, float64 autograd; mlx-lm full fine-tune "
                             "(last num_layers blocks trainable)")
    json.dump(manifest, open(os.path.join(out_dir, name + ".json"), "w"), indent=1)
    print(msg, flush=True)


def save(tensors, path):
    save_file(tensors, path, metadata={"format": "mlx"})
    os.chmod(path, 0o644)


def rel_err(a, b):
    """max |a − b| / max |b| per tensor, worst over tensors."""
    return max(float((a[k].double() - b[k].double()).abs().max() / b[k].double().abs().max()) for k in b)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    check_peft = "--check-peft" in sys.argv[1:]
    lorac = os.path.abspath(args[0] if args else "./lorac")
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "lora")
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        for name, arch, tie, seed, num_layers, dora, traj in CASES:
            mdir, cfg, seqs, n_targets = make_case(tmp, lorac, name, arch, tie, seed)
            layers = adapted_layers(cfg["num_hidden_layers"], num_layers)

            m64 = load(mdir, torch.float64)
            params = init_params(m64, layers, dora, seed)
            live64 = patch(m64, layers, params, torch.float64)
            loss64, g64 = loss_and_grads(m64, live64, seqs)

            m32 = load(mdir, torch.float32)
            live32 = patch(m32, layers, params, torch.float32)
            loss32, g32 = loss_and_grads(m32, live32, seqs)
            f32_err = rel_err(g32, g64)

            for k, g in g64.items():
                assert torch.isfinite(g).all() and float(g.abs().max()) > 0, (name, k)
            save(params, os.path.join(out_dir, name + ".adapters.safetensors"))
            save({k: g.numpy().astype(np.float32) for k, g in g64.items()}, os.path.join(out_dir, name + ".grads.safetensors"))

            manifest = {
                "arch": arch, "tie": tie, "seed": seed, "init_std": INIT_STD, "dtype": "f32",
                "num_layers": num_layers, "layers": layers, "keys": [f"{s}.{k}" for s, k in KEYS],
                "rank": RANK, "scale": SCALE, "dora": dora, "dropout": 0.0,
                "sequences": seqs, "n_targets": n_targets,
                "loss": loss64, "loss_f32": loss32,
                "grad_f32_vs_f64_max_rel": f32_err,
                "grad_max_abs": max(float(g.abs().max()) for g in g64.values()),
                "grad_min_tensor_max_abs": min(float(g.abs().max()) for g in g64.values()),
            }
            msg = f"{name:16s} loss {loss64:.10f} f32 {loss32:.10f} |Δ| {abs(loss64 - loss32):.1e} grad f32 rel {f32_err:.1e}"

            if check_peft:
                lp, gp = peft_check(mdir, layers, params, dora, seqs)
                perr = rel_err(gp, g64)
                assert abs(lp - loss64) < 1e-12 and perr < 1e-10, (name, lp, loss64, perr)
                msg += f" | peft loss Δ {abs(lp - loss64):.1e} grad rel {perr:.1e}"

            if traj:
                traj64 = adamw_trajectory(m64, live64, seqs)
                traj32 = adamw_trajectory(m32, live32, seqs)
                # cross-check the hand-written update against torch.optim.AdamW on a fresh copy
                m_chk = load(mdir, torch.float64)
                chk = torch_adamw_trajectory(m_chk, patch(m_chk, layers, params, torch.float64), seqs)
                assert max(abs(a - b) for a, b in zip(chk, traj64)) < 1e-12, (name, chk, traj64)
                save({k: p.detach().numpy().astype(np.float32) for k, p in live64.items()},
                     os.path.join(out_dir, name + ".final.safetensors"))
                manifest["optimizer"] = {"name": "adamw", "steps": STEPS, "learning_rate": LR, "lr_schedule": "constant",
                                         "betas": list(BETAS), "eps": EPS, "weight_decay": WD, "bias_correction": True}
                manifest["trajectory"] = traj64
                manifest["trajectory_f32"] = traj32
                msg += "\n" + " " * 17 + "trajectory " + " ".join(f"{x:.6f}" for x in traj64)
                msg += f"\n" + " " * 17 + f"traj f32 max |Δ| {max(abs(a - b) for a, b in zip(traj32, traj64)):.1e}"

            manifest["reference"] = (f"transformers {__import__('transformers').__version__}, torch {torch.__version__}, "
                                     "eager attention, f32 weights, float64 autograd; mlx-lm LoRA/DoRA layout")
            json.dump(manifest, open(os.path.join(out_dir, name + ".json"), "w"), indent=1)
            print(msg, flush=True)
        for case in FULL_CASES:
            full_case(tmp, lorac, out_dir, *case)


if __name__ == "__main__":
    main()

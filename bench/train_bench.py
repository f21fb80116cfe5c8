#!/usr/bin/env python3
"""train_bench.py — LoRA training speed and memory: lorac vs PyTorch (PEFT) and mlx_lm.lora.

    python3 bench/train_bench.py [--lorac ./lorac] [--only a,b] [--engines LIST]
                                 [--fp32-3b] [--mlx-3b] [--threads 2] [--keep]

Workloads (random-weight models with the real shapes, made once in $LORAC_CACHE/bench/):
  (a) SmolLM2-135M shape (`lorac init-model --preset smollm2-135m`, the real
      SmolLM2 tokenizer exported from the shipped GGUF by transformers), LoRA
      rank 8 on q,k,v,o,gate,up,down of all 30 layers, seq 512, batch 1.
  (b) SmolLM3-3B shape (`lorac init-model --preset smollm3-3b`, llama3 fixture
      tokenizer; the same 6.2 GB directory bench/inference_bench.py uses), LoRA
      rank 8 on the last 8 layers, seq 1024, batch 1, gradient checkpointing.

Engines, run one at a time, each in its own process under /usr/bin/time -v
(peak RSS = its "Maximum resident set size", the same getrusage figure lorac
prints as "Peak mem"); every one on --threads threads (OMP_NUM_THREADS etc.,
torch.set_num_threads):
  lorac        `lorac lora --config X.yaml`, text data whose every example is
               exactly SEQ tokens (BOS + text + the EOS lorac appends); its
               "Iter N: ... Tokens/sec" lines after the first are averaged.
               fp32 matmuls (the default, matmul_precision: fp32).
  lorac-bf16   the same with matmul_precision: bf16: activations and weights
               rounded to bf16, sums in fp32 -- torch-bf16's precision, so
               this is the like-for-like pair, and what lorac's default
               (matmul_precision: auto) picks for these bf16 models.
  torch-bf16   transformers + PEFT LoRA (a hand-written LoRA when peft is
               missing) on the same HF directory, bf16 weights under
               torch.autocast("cpu", bfloat16), LoRA params fp32, AdamW;
               gradient_checkpointing_enable() for (b). Warm-up steps, then N
               timed steps of one SEQ-token sequence of random ids, labels = ids.
  torch-fp32   the same with fp32 weights and no autocast ((b) only with
               --fp32-3b: ~13 GB of fp32 weights and ~2 min a step).
  mlx          `mlx_lm.lora` (mlx[cpu]) on the same directory and data, with a
               reporting callback that prints mlx-lm's classic "Iter N: ...
               Tokens/sec ..., Peak mem ..." line (its rich table drops them).
               mlx on CPU is slow (bf16 matmuls): (b) runs only when 35x its
               (a) step time fits the timeout, or with --mlx-3b.
Tokens/s = SEQ / mean step time (model loading, validation and the first step
excluded everywhere): positions trained per second. lorac's own Tokens/sec is
the same figure (SEQ tokens a step); mlx-lm's counts SEQ-1 targets a step. The
engines' own Tokens/sec are shown in the detail lines. Ratios are lorac/peer
(fp32 matmuls) and lorac-bf16/peer (bf16/peer).
The machine may be shared: each engine's line gives every step time, its best
step and the CPU share it got; the table gives median-step and best-step ratios.
--keep keeps the configs, data and logs (the path is printed); --model-a DIR /
--model-b DIR run a workload's settings on another HF directory.
Targets (issue 5): (a) and (b) >= 1.5x torch-bf16 tokens/s; (b) lorac peak RSS <= 9 GB
(reported for both lorac engines).
"""
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CACHE = os.environ.get("LORAC_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "lorac"))
BDIR = os.path.join(CACHE, "bench")
SHARED = os.environ.get("LORAC_SHARED", os.path.join(ROOT, "..", "shared"))
LLAMA3_TOK = os.path.join(SHARED, "fixtures", "tokenizers", "llama3")
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
GB = 1e9
# (b)'s training FLOPs over (a)'s, about 35: (a) 512 tokens x 2 x 134.5M (forward) x 2 (input
# gradients through every block); (b) 1024 tokens x 2 x (3.08B forward + 0.89B backward through the
# last 8 blocks and the LM head + 0.63B recomputing those blocks).
MLX_B_OVER_A = 35

# name, model dir, seq, trained layers (-1 = all), grad checkpoint, iters (lorac/mlx: the first is
# warm-up), torch (warm-up, timed) steps, per-engine timeout (s), rough peak-RSS needs (GB)
WORKLOADS = {
    "a": dict(title="(a) SmolLM2-135M r8 all layers seq 512", seq=512, layers=-1, gc=False,
              iters=7, mlx_iters=3, torch_steps=(2, 5), timeout=420,
              need={"lorac": 2, "lorac-bf16": 2, "torch-bf16": 3, "torch-fp32": 3, "mlx": 3}),
    "b": dict(title="(b) SmolLM3-3B r8 last 8 seq 1024 gc", seq=1024, layers=8, gc=True,
              iters=4, mlx_iters=3, torch_steps=(1, 3), timeout=600,
              need={"lorac": 9, "lorac-bf16": 9, "torch-bf16": 15, "torch-fp32": 17, "mlx": 14}),
}


def arg(name, default):
    a = sys.argv
    return a[a.index(name) + 1] if name in a else default


def log(*a):
    print(*a, flush=True)


def run_ok(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} ...: {(r.stderr or r.stdout).strip()[-500:]}")
    return r.stdout


def mem_available():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def psi_some_us():
    """Total microseconds some runnable task waited for a CPU (/proc/pressure/cpu), or None."""
    try:
        with open("/proc/pressure/cpu") as f:
            for line in f:
                if line.startswith("some"):
                    return int(line.split("total=")[1])
    except (OSError, IndexError, ValueError):
        pass
    return None


def loadavg():
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


# ---- models ----


def make_dir(cmd, dst, what):
    """Run CMD writing DST.part, rename it to DST. DST existing means done."""
    if os.path.isdir(dst):
        return dst
    tmp = dst + ".part"
    shutil.rmtree(tmp, ignore_errors=True)
    log(f"  making {what} -> {dst}")
    t = time.time()
    r = subprocess.run([x if x != "{out}" else tmp for x in cmd], capture_output=True, text=True)
    if r.returncode != 0 or not os.path.isdir(tmp):
        log(f"  could not make {what}: {(r.stderr or r.stdout).strip()[-600:]}")
        shutil.rmtree(tmp, ignore_errors=True)
        return None
    os.rename(tmp, dst)
    log(f"  ({time.time() - t:.0f} s)")
    return dst


def smollm2_tokenizer():
    """A tokenizer.json directory for SmolLM2, exported by transformers from the shipped GGUF."""
    dst = os.path.join(BDIR, "smollm2-tokenizer")
    if os.path.exists(os.path.join(dst, "tokenizer.json")):
        return dst
    r = subprocess.run(["sh", os.path.join(ROOT, "scripts", "fetch-smollm2.sh")], capture_output=True, text=True)
    gguf = r.stdout.strip().splitlines()[-1] if r.returncode == 0 and r.stdout.strip() else None
    if not gguf:
        log(f"  SmolLM2 tokenizer: fetch-smollm2.sh failed: {r.stderr.strip()[-400:]}")
        return None
    code = ("import sys\nfrom transformers import AutoTokenizer\n"
            "t = AutoTokenizer.from_pretrained(sys.argv[1], gguf_file=sys.argv[2])\n"
            "t.save_pretrained(sys.argv[3])\n")
    cmd = [sys.executable, "-c", code, os.path.dirname(gguf), os.path.basename(gguf), "{out}"]
    return make_dir(cmd, dst, "SmolLM2 tokenizer.json from the GGUF (transformers + gguf)")


def model_dir(lorac, w):
    if w == "a":
        tok = smollm2_tokenizer()
        if not tok:
            return None
        return make_dir([lorac, "init-model", "--preset", "smollm2-135m", "--tokenizer", tok, "--out", "{out}"],
                        os.path.join(BDIR, "smollm2-135m-hf"), "SmolLM2-135M random bf16 HF directory")
    dst = os.path.join(BDIR, "smollm3-3b-hf")  # shared with bench/inference_bench.py
    if os.path.isdir(dst):
        return dst
    if not os.path.exists(os.path.join(LLAMA3_TOK, "tokenizer.json")):
        log(f"  SmolLM3-3B: skipped (no llama3 tokenizer fixture at {LLAMA3_TOK}; set LORAC_SHARED)")
        return None
    if shutil.disk_usage(BDIR).free < 7.5e9:
        log(f"  SmolLM3-3B: skipped (needs 7.5 GB free in {BDIR})")
        return None
    return make_dir([lorac, "init-model", "--preset", "smollm3-3b", "--tokenizer", LLAMA3_TOK, "--out", "{out}"],
                    dst, "SmolLM3-3B random bf16 HF directory (6.2 GB)")


# ---- data: text examples of exactly SEQ tokens ----


def prose_words():
    """English prose: the tokenizer bench's cached text, else this repository's Markdown."""
    p = os.path.join(BDIR, "prose-8mb.txt")
    words = []
    if os.path.exists(p):
        with open(p, encoding="utf-8", errors="replace") as f:
            words = f.read(400000).split()
    if len(words) < 20000:
        for dp, _, fs in os.walk(ROOT):
            if "/." in dp or "/build" in dp:
                continue
            for fn in sorted(fs):
                if fn.endswith(".md"):
                    with open(os.path.join(dp, fn), encoding="utf-8", errors="replace") as f:
                        words += f.read().split()
        words = (words * (80000 // max(1, len(words)) + 1))
    return words


def counts(lorac, model, texts):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(texts) + "\n")
    try:
        return [int(x) for x in run_ok([lorac, "tokenize", "--model", model, "--file", f.name, "--lines", "--count"]).split()]
    finally:
        os.unlink(f.name)


def exact_texts(lorac, model, n, k, words):
    """K texts that lorac tokenizes (special tokens included) to exactly N tokens."""
    out, start = [], 0
    while len(out) < k and start + 4 * n < len(words):
        w = words[start:start + 3 * n]
        c0 = counts(lorac, model, [" ".join(w[:n])])[0]
        guess = max(8, int(n * n / max(c0, 1)))
        cands = [" ".join(w[:j]) for j in range(max(8, guess - n // 6), min(len(w), guess + n // 6))]
        for text, c in zip(cands, counts(lorac, model, cands)):
            if c == n:
                out.append(text)
                break
        start += 3 * n
    if len(out) < k:
        raise RuntimeError(f"found only {len(out)} prose texts of exactly {n} tokens")
    return out


def make_data(lorac, model, seq, dst):
    """train.jsonl: 4 texts of SEQ tokens once the trainer appends EOS; valid/test: one short text."""
    words = prose_words()
    train = exact_texts(lorac, model, seq - 1, 4, words)
    short = exact_texts(lorac, model, 31, 1, words[-2000:])
    os.makedirs(dst, exist_ok=True)
    for name, texts in (("train", train), ("valid", short), ("test", short)):
        with open(os.path.join(dst, name + ".jsonl"), "w") as f:
            for t in texts:
                f.write(json.dumps({"text": t}) + "\n")
    return dst


# ---- running one engine ----


def env2(threads):
    e = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
        e[k] = str(threads)
    e["TOKENIZERS_PARALLELISM"] = "false"
    e["PYTHONUNBUFFERED"] = "1"
    return e


def run_timed(cmd, threads, timeout, logpath):
    """(returncode or 'timeout', combined output, peak RSS bytes or None, wall seconds)."""
    timev = os.path.exists("/usr/bin/time")
    full = (["/usr/bin/time", "-v"] if timev else []) + cmd
    t, psi0 = time.time(), psi_some_us()
    with open(logpath, "w") as lf:
        p = subprocess.Popen(full, stdout=lf, stderr=subprocess.STDOUT, env=env2(threads), start_new_session=True)
        rc = None
        try:
            if timev:
                p.wait(timeout=timeout)
                rc, rss = p.returncode, None
            else:
                deadline = time.time() + timeout
                while True:
                    pid, status, ru = os.wait4(p.pid, os.WNOHANG)
                    if pid:
                        p.returncode = os.waitstatus_to_exitcode(status)
                        rc, rss = p.returncode, ru.ru_maxrss * 1024
                        break
                    if time.time() > deadline:
                        raise subprocess.TimeoutExpired(cmd, timeout)
                    time.sleep(0.2)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 9)
            p.wait()
            rc, rss = "timeout", None
    wall = time.time() - t
    psi1 = psi_some_us()
    run_timed.contended = (psi1 - psi0) / 1e6 / wall if psi0 is not None and psi1 is not None and wall > 0 else None
    try:
        with open(logpath, encoding="utf-8", errors="replace") as f:
            out = f.read()
    except OSError as e:
        out = f"(log {logpath} unreadable: {e.strerror})"
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out)
    if m:
        rss = int(m.group(1)) * 1024
    return rc, out, rss, wall


RE_ITER = re.compile(r"^Iter (\d+): Train loss ([-\w.]+), .*?It/sec ([\d.]+), Tokens/sec ([\d.]+), "
                     r"Trained Tokens (\d+), Peak mem ([\d.]+) GB", re.M)


def parse_iters(out, seq):
    """Step time over every report after the first (the warm-up step); losses; the engine's own figures."""
    rows = [(int(a), float(l), float(i), float(t), int(n), float(p)) for a, l, i, t, n, p in RE_ITER.findall(out)]
    if not rows:
        return None
    per = []  # seconds a step, one entry per report after the first
    for prev, r in zip(rows, rows[1:]):
        k = r[0] - prev[0]
        if r[2] > 0 and k > 0:
            per += [1 / r[2]] * k
    return dict(step_times=per, losses=[r[1] for r in rows],
                tokens_per_it=[(r[4] - q[4]) / (r[0] - q[0]) for q, r in zip(rows, rows[1:]) if r[0] > q[0]], reported_peak=rows[-1][5] * GB,
                own_tok_s=[r[3] for r in rows[1:]], warm_s=rows[0][0] / rows[0][2] if rows[0][2] else None)


def yaml_cfg(path, model, data, adapters, wl, iters, optimizer="adamw", val_batches=0, extra=()):
    lines = [f"model: {json.dumps(model)}", "train: true", f"data: {json.dumps(data)}",
             f"adapter_path: {json.dumps(adapters)}", "fine_tune_type: lora", f"optimizer: {optimizer}",
             f"num_layers: {wl['layers']}", "batch_size: 1", f"iters: {iters}", f"val_batches: {val_batches}",
             "learning_rate: 1.0e-5", "steps_per_report: 1", "steps_per_eval: 100000", "save_every: 100000",
             f"max_seq_length: {wl['seq'] + 1}", f"grad_checkpoint: {'true' if wl['gc'] else 'false'}",
             "seed: 0", *extra, "lora_parameters:", "  rank: 8", "  scale: 1.0", "  dropout: 0.0"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def engine_lorac(lorac, model, data, wl, work, threads, precision="fp32"):
    name = "lorac" if precision == "fp32" else f"lorac-{precision}"
    ad = os.path.join(work, f"{name}-adapters")
    cfg = yaml_cfg(os.path.join(work, f"{name}.yaml"), model, data, ad, wl, wl["iters"],
                   extra=(f"matmul_precision: {precision}",))
    rc, out, rss, wall = run_timed([lorac, "lora", "--config", cfg], threads, wl["timeout"], os.path.join(work, f"{name}.log"))
    return rc, out, rss, wall, parse_iters(out, wl["seq"])


def engine_mlx(model, data, wl, work, threads):
    ad = os.path.join(work, "mlx-adapters")
    # mlx_lm wants a non-empty valid set; its validation is outside its step timing
    cfg = yaml_cfg(os.path.join(work, "mlx.yaml"), model, data, ad, wl, wl["mlx_iters"], val_batches=1)
    rc, out, rss, wall = run_timed([sys.executable, os.path.abspath(__file__), "--mlx-worker", cfg], threads,
                                   wl["timeout"], os.path.join(work, "mlx.log"))
    return rc, out, rss, wall, parse_iters(out, wl["seq"])


def engine_torch(model, wl, work, threads, bf16):
    name = "torch-bf16" if bf16 else "torch-fp32"
    job = dict(model=model, seq=wl["seq"], layers=wl["layers"], gc=wl["gc"], bf16=bf16, threads=threads,
               warmup=wl["torch_steps"][0], steps=wl["torch_steps"][1])
    jp = os.path.join(work, name + ".json")
    with open(jp, "w") as f:
        json.dump(job, f)
    rc, out, rss, wall = run_timed([sys.executable, os.path.abspath(__file__), "--torch-worker", jp], threads,
                                   wl["timeout"], os.path.join(work, name + ".log"))
    m = re.findall(r"^TORCH_RESULT (.*)$", out, re.M)
    res = None
    if m:
        r = json.loads(m[-1])
        res = dict(step_times=r["times"], losses=r["losses"], reported_peak=None, lora=r["lora"], warm_s=r["warm_s"])
    return rc, out, rss, wall, res


# ---- workers (run in their own process) ----


def torch_worker(jp):
    with open(jp) as f:
        job = json.load(f)
    import torch
    torch.set_num_threads(job["threads"])
    from transformers import AutoModelForCausalLM
    dtype = torch.bfloat16 if job["bf16"] else torch.float32
    t0 = time.time()
    try:
        model = AutoModelForCausalLM.from_pretrained(job["model"], dtype=dtype)
    except TypeError:
        model = AutoModelForCausalLM.from_pretrained(job["model"], torch_dtype=dtype)
    model.config.use_cache = False
    nl = model.config.num_hidden_layers
    layers = list(range(nl)) if job["layers"] < 0 else list(range(nl - job["layers"], nl))
    if job["gc"]:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    try:
        from peft import LoraConfig, get_peft_model
        cfg = LoraConfig(r=8, lora_alpha=8, lora_dropout=0.0, target_modules=TARGETS, layers_to_transform=layers,
                         bias="none", task_type="CAUSAL_LM")
        model = get_peft_model(model, cfg)
        kind = "peft"
    except ImportError:
        kind = "hand-written"
        for p in model.parameters():
            p.requires_grad_(False)

        class LoRA(torch.nn.Module):
            def __init__(self, base, r=8, scale=1.0):
                super().__init__()
                self.base, self.scale = base, scale
                self.a = torch.nn.Parameter(torch.empty(r, base.in_features).uniform_(-base.in_features ** -0.5,
                                                                                       base.in_features ** -0.5))
                self.b = torch.nn.Parameter(torch.zeros(base.out_features, r))

            def forward(self, x):
                return self.base(x) + (x.to(self.a.dtype) @ self.a.t() @ self.b.t()).to(x.dtype) * self.scale

        for i in layers:
            blk = model.model.layers[i]
            for mod in (blk.self_attn, blk.mlp):
                for t in TARGETS:
                    if hasattr(mod, t):
                        setattr(mod, t, LoRA(getattr(mod, t)))
    params = [p for p in model.parameters() if p.requires_grad]
    ntrain = sum(p.numel() for p in params)
    dtypes = sorted({str(p.dtype) for p in params})
    opt = torch.optim.AdamW(params, lr=1e-5)
    model.train()
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, model.config.vocab_size, (1, job["seq"]), generator=g)
    print(f"loaded in {time.time() - t0:.1f} s; LoRA ({kind}) trainable params {ntrain} ({','.join(dtypes)}), "
          f"layers {layers[0]}..{layers[-1]}, torch {torch.__version__}, threads {torch.get_num_threads()}", flush=True)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=job["bf16"]):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        loss = loss.detach()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    losses = []
    tw = time.time()
    for i in range(job["warmup"]):
        t = time.time()
        losses.append(step())
        print(f"warm-up step {i + 1}: loss {losses[-1]:.3f}, {time.time() - t:.2f} s", flush=True)
    warm_s = (time.time() - tw) / max(1, job["warmup"])
    times = []
    for i in range(job["steps"]):
        t = time.time()
        losses.append(step())
        times.append(time.time() - t)
        print(f"step {i + 1}: loss {losses[-1]:.3f}, {times[-1]:.2f} s, {job['seq'] / times[-1]:.1f} tok/s", flush=True)
    print("TORCH_RESULT " + json.dumps(dict(times=times, losses=losses, lora=kind, warm_s=warm_s)), flush=True)


def mlx_worker(cfg):
    """mlx_lm.lora's own CLI, plus a reporting callback that prints the classic mlx-lm report line."""
    import mlx.core as mx
    import mlx_lm.lora as L
    from mlx_lm.tuner.callbacks import TrainingCallback

    class Report(TrainingCallback):
        def on_train_loss_report(self, i):
            print(f"Iter {i['iteration']}: Train loss {i['train_loss']:.3f}, Learning Rate {i['learning_rate']:.3e}, "
                  f"It/sec {i['iterations_per_second']:.4f}, Tokens/sec {i['tokens_per_second']:.3f}, "
                  f"Trained Tokens {i['trained_tokens']}, Peak mem {i['peak_memory']:.3f} GB", flush=True)

        def on_val_loss_report(self, i):
            print(f"Iter {i['iteration']}: Val loss {i['val_loss']:.3f}, Val took {i['val_time']:.3f}s", flush=True)

    L.get_reporting_callbacks = lambda *a, **k: Report()
    print(f"mlx {mx.__version__}, default device {mx.default_device()}", flush=True)
    sys.argv = ["mlx_lm.lora", "--config", cfg]
    L.main()


# ---- main ----


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def main():
    if "--torch-worker" in sys.argv:
        return torch_worker(arg("--torch-worker", None))
    if "--mlx-worker" in sys.argv:
        return mlx_worker(arg("--mlx-worker", None))
    t_all = time.time()
    lorac = os.path.abspath(arg("--lorac", os.path.join(ROOT, "lorac")))
    threads = int(arg("--threads", "2"))
    only = arg("--only", "a,b").split(",")
    engines = arg("--engines", "lorac,lorac-bf16,torch-bf16,torch-fp32,mlx").split(",")
    fp32_3b = "--fp32-3b" in sys.argv
    keep = "--keep" in sys.argv
    if not os.access(lorac, os.X_OK):
        log(f"train: no lorac binary at {lorac}")
        return 1
    os.makedirs(BDIR, exist_ok=True)
    import importlib.util
    have = {m: importlib.util.find_spec(m) is not None for m in ("torch", "transformers", "peft", "mlx", "mlx_lm")}
    log(f"train: {threads} threads; load average {loadavg():.2f} on {os.cpu_count()} CPUs (other work on the machine "
        f"slows whichever engine it overlaps: see each run's CPU% and best step)")
    work = tempfile.mkdtemp(prefix="lorac-train-bench-")
    results = []  # dicts: w, e, tok, best, s, rss, cpu, note
    by_key = {}
    notes = []
    for w in only:
        wl = WORKLOADS[w]
        log(f"== {wl['title']}")
        model = arg(f"--model-{w}", None) or model_dir(lorac, w)
        if not model:
            results.append(dict(w=w, e="all", note="no model"))
            continue
        wdir = os.path.join(work, w)
        os.makedirs(wdir, exist_ok=True)
        try:
            t = time.time()
            data = make_data(lorac, model, wl["seq"], os.path.join(wdir, "data"))
            log(f"  data: 4 texts of exactly {wl['seq']} tokens with EOS ({time.time() - t:.0f} s)")
        except RuntimeError as e:
            log(f"  data: {e}")
            results.append(dict(w=w, e="all", note="no data"))
            continue
        for eng in engines:
            if eng == "torch-fp32" and w == "b" and not fp32_3b:
                results.append(dict(w=w, e=eng, note="skipped (--fp32-3b runs it: ~17 GB, minutes a step)"))
                continue
            need = {"torch-bf16": ("torch", "transformers"), "torch-fp32": ("torch", "transformers"),
                    "mlx": ("mlx", "mlx_lm"), "lorac": (), "lorac-bf16": ()}[eng]
            miss = [m for m in need if not have[m]]
            if miss:
                results.append(dict(w=w, e=eng, note=f"skipped: no {','.join(miss)} in {sys.executable}"))
                continue
            if eng == "mlx" and w == "b" and "--mlx-3b" not in sys.argv:
                ma = by_key.get(("a", "mlx"), {}).get("s")
                if not ma:
                    results.append(dict(w=w, e=eng, note="skipped: no (a) step time to project from (--mlx-3b runs it)"))
                    continue
                proj = ma * MLX_B_OVER_A
                if proj * wl["mlx_iters"] + 120 > wl["timeout"]:
                    results.append(dict(w=w, e=eng, note=f"skipped: ~{proj / 60:.0f} min/step projected from its (a) "
                                                         f"step (--mlx-3b runs it)"))
                    continue
            avail = mem_available()
            if avail is not None and avail < wl["need"][eng] * GB:
                results.append(dict(w=w, e=eng, note=f"skipped: {avail / GB:.1f} GB available < ~{wl['need'][eng]} GB"))
                continue
            log(f"  {eng}: running (load {loadavg():.2f}, {fmt(avail and avail / GB, '.1f')} GB available)...")
            if eng in ("lorac", "lorac-bf16"):
                rc, out, rss, wall, res = engine_lorac(lorac, model, data, wl, wdir, threads,
                                                       "bf16" if eng == "lorac-bf16" else "fp32")
            elif eng == "mlx":
                rc, out, rss, wall, res = engine_mlx(model, data, wl, wdir, threads)
            else:
                rc, out, rss, wall, res = engine_torch(model, wl, wdir, threads, eng == "torch-bf16")
            cpu = re.search(r"Percent of CPU this job got: (\d+)%", out)
            cpu = int(cpu.group(1)) if cpu else None
            wait = run_timed.contended
            note = ""
            if rc != 0:
                tail = "\n".join(l for l in out.strip().splitlines() if not l.startswith("\t"))[-700:]
                note = "timed out" if rc == "timeout" else f"exit {rc}"
                log(f"  {eng}: {note} after {wall:.0f} s; last lines:")
                log("    | " + tail.replace("\n", "\n    | "))
            st = (res or {}).get("step_times") or []
            if not st:
                results.append(dict(w=w, e=eng, rss=rss, cpu=cpu, wait=wait, note=note or "no timed steps"))
                continue
            med = statistics.median(st)
            mean = sum(st) / len(st)
            extra = ""
            if eng in ("lorac", "lorac-bf16", "mlx"):
                want = wl["seq"]  # mlx-lm: SEQ-1 real targets + its padding target
                tpi = res["tokens_per_it"]
                if tpi and any(x != want for x in tpi):
                    extra = f"; reported tokens/step {min(tpi):.0f}..{max(tpi):.0f}, expected {want}"
                    notes.append(f"{w}/{eng}: reports {min(tpi):.0f}..{max(tpi):.0f} tokens per step, expected {want}")
                if res["own_tok_s"]:
                    extra += f"; own Tokens/sec {' '.join(f'{x:.1f}' for x in res['own_tok_s'])}"
                if res["reported_peak"]:
                    extra += f"; own Peak mem {res['reported_peak'] / GB:.2f} GB"
            if eng.startswith("torch"):
                extra += f"; LoRA: {res['lora']}"
            if any(x != x or abs(x) == float("inf") for x in res["losses"]):
                notes.append(f"{w}/{eng}: non-finite loss {res['losses']}")
            log(f"  {eng}: {wl['seq'] / med:.1f} tok/s median ({wl['seq'] / mean:.1f} mean, {wl['seq'] / min(st):.1f} best) "
                f"over {len(st)} steps of {', '.join(f'{x:.2f}' for x in st)} s; first step "
                f"{fmt(res.get('warm_s'), '.1f')} s; peak RSS {fmt(rss and rss / GB, '.2f')} GB; CPU {fmt(cpu, 'd')}%; "
                f"CPU-wait {fmt(wait and 100 * wait, '.0f')}%; "
                f"wall {wall:.0f} s; losses {' '.join(f'{x:.3f}' for x in res['losses'])}{extra}")
            by_key[(w, eng)] = dict(s=med)
            results.append(dict(w=w, e=eng, tok=wl["seq"] / med, best=wl["seq"] / min(st), s=med, rss=rss, cpu=cpu,
                                wait=wait, note=note))
    # ---- table ----
    log("")
    log("tok/s = SEQ / median step time; best = the fastest step; CPU = the process's CPU use over its whole run;")
    log("wait = share of its run during which some task on the machine waited for a CPU (PSI cpu some): high")
    log("       means other work competed with it and its figures are low by an unknown factor")
    log(f"{'workload':<40} {'engine':<11} {'tok/s':>7} {'best':>7} {'s/step':>7} {'peak RSS':>9} {'CPU':>5} {'wait':>5} "
        f"{'lorac/peer':>10} {'(best)':>7} {'bf16/peer':>9} {'(best)':>7}")
    by = {(r["w"], r["e"]): r for r in results}
    for r in results:
        cols = []
        for mine in ("lorac", "lorac-bf16"):  # fp32 and bf16 matmuls against each other engine
            lo = by.get((r["w"], mine), {})
            peer = r["e"] != mine and r.get("tok") and lo.get("tok")
            cols += [f"{lo['tok'] / r['tok']:.2f}x" if peer else "-", f"{lo['best'] / r['best']:.2f}x" if peer else "-"]
        log(f"{WORKLOADS[r['w']]['title']:<40} {r['e']:<11} {fmt(r.get('tok'), '.1f'):>7} {fmt(r.get('best'), '.1f'):>7} "
            f"{fmt(r.get('s'), '.2f'):>7} {(fmt(r['rss'] and r['rss'] / GB, '.2f') + ' GB') if r.get('rss') else '-':>9} "
            f"{(str(r['cpu']) + '%') if r.get('cpu') is not None else '-':>5} "
            f"{(format(100 * r['wait'], '.0f') + '%') if r.get('wait') is not None else '-':>5} "
            f"{cols[0]:>10} {cols[1]:>7} {cols[2]:>9} {cols[3]:>7}"
            + (f"  {r['note']}" if r.get("note") else ""))
    log("")
    for w in only:
        pt = by.get((w, "torch-bf16"), {})
        for eng, what in (("lorac", "fp32 matmuls"), ("lorac-bf16", "bf16 matmuls, torch-bf16's precision")):
            lo = by.get((w, eng), {})
            if lo.get("tok") and pt.get("tok"):
                q = lo["tok"] / pt["tok"]
                log(f"target {w}: {eng}/torch-bf16 tokens/s {q:.2f}x (best steps {lo['best'] / pt['best']:.2f}x; {what}), "
                    f"needs >= 1.5x: {'met' if q >= 1.5 else 'NOT met'}")
            elif eng in engines:
                log(f"target {w}: {eng}/torch-bf16 tokens/s: not measured")
            if w == "b" and eng in engines:
                if lo.get("rss"):
                    log(f"target b: {eng} peak RSS {lo['rss'] / GB:.2f} GB, needs <= 9 GB: "
                        f"{'met' if lo['rss'] <= 9 * GB else 'NOT met'}")
                else:
                    log(f"target b: {eng} peak RSS: not measured")
    for n in notes:
        log(f"note: {n}")
    log(f"train: total {time.time() - t_all:.0f} s; load average now {loadavg():.2f}"
        + (f"; logs in {work}" if keep else ""))
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""inference_bench.py — lorac generate vs llama.cpp (llama-cpp-python) on the same GGUF files.

    python3 bench/inference_bench.py [--lorac ./lorac] [--runs N] [--runs-3b N]
                                     [--only NAME[,NAME]] [--no-3b] [--threads 2]

Models (made once, cached in $LORAC_CACHE/bench/, by bench/make_bench_models.py):
  smollm2-135m f16, q8_0  the shipped SmolLM2-135M-Instruct Q4_1 GGUF re-quantized
  smollm2-135m q4_1       the shipped file itself (bonus row)
  smollm3-3b   bf16       `lorac init-model --preset smollm3-3b` (random, llama3
                          fixture tokenizer) converted to a bf16 GGUF
Each model gets a raw prompt (no chat template) that lorac tokenizes to exactly
512 tokens; llama.cpp gets those same ids. One measurement = one fresh process:
a 512-token prefill, then 128 greedy tokens (EOS ignored), on --threads threads.
lorac's figures are its `generate --verbose` "Prompt"/"Generation" lines;
llama.cpp's are timed the same way around llama_decode (prefill: one 512-token
batch; generation: 128 sampled tokens / the time from the first sample to the
last, i.e. 127 single-token decodes plus sampling, as lorac counts them). Runs
alternate lorac, llama.cpp, lorac, ... and the best of each is kept.

Before timing, each GGUF's greedy continuation of a short prompt is compared
between the two engines (token by token), and the timed 128-token outputs are
compared again (the "greedy" column). llama.cpp runs with its defaults; where
that crashes (its AMX int8 kernels do on some VMs) it runs again with
use_extra_bufts=false, and a NOTE says so. Before each measurement the harness
waits for the CPUs to go quiet; the "busy" column is the CPU share other
processes still took during the kept runs (> 10% gets a NOTE: unreliable).
The closing lines give peak RSS (wait4) of each engine, and of `lorac generate`
on the bf16 HF directory of the 3B model against its weight files (issue 4:
<= size + 15%), where lorac's text must also equal its text on the GGUF made
from that directory (a check of the q/k permutation round trip).

llama.cpp parts run in the venv made by bench/bench_inference.sh; when
llama_cpp cannot be imported, lorac's numbers are still printed.
"""
import ast
import glob
import importlib.util
import json
import os
import re
import shutil
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
N_PROMPT, N_GEN = 512, 128
CHECK_PROMPT, CHECK_GEN = "The capital of France is", 32


def arg(name, default):
    a = sys.argv
    return a[a.index(name) + 1] if name in a else default


def log(*a):
    print(*a, flush=True)


# ---- models ----


def have(mod):
    return importlib.util.find_spec(mod) is not None


def make(cmd, dst, what):
    """Run a model-making command once; DST existing means done."""
    if os.path.exists(dst):
        return dst
    log(f"  making {what} -> {dst}")
    t = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0 or not os.path.exists(dst):
        log(f"  could not make {what}: {(r.stderr or r.stdout).strip()[-600:]}")
        return None
    log(f"  ({time.time() - t:.0f} s)")
    return dst


def models(lorac, want_3b):
    """[(name, dtype, gguf path or None, hf dir or None)]"""
    out = []
    r = subprocess.run(["sh", os.path.join(ROOT, "scripts", "fetch-smollm2.sh")], capture_output=True, text=True)
    q41 = r.stdout.strip().splitlines()[-1] if r.returncode == 0 and r.stdout.strip() else None
    if not q41:
        log(f"  SmolLM2-135M: fetch-smollm2.sh failed: {r.stderr.strip()[-400:]}")
    os.makedirs(BDIR, exist_ok=True)
    mk = [sys.executable, os.path.join(HERE, "make_bench_models.py")]
    for kind in ("f16", "q8_0"):
        p = None
        dst = os.path.join(BDIR, f"SmolLM2-135M-Instruct.{kind}.gguf")
        if os.path.exists(dst) or (q41 and have("gguf")):
            p = make(mk + ["requant", q41, dst, kind], dst, f"SmolLM2-135M {kind}")
        elif q41:
            log(f"  SmolLM2-135M {kind}: skipped (no gguf-py in {sys.executable})")
        if p:
            out.append(("SmolLM2-135M", kind, p, None))
    if q41:
        out.append(("SmolLM2-135M", "q4_1", q41, None))
    if not want_3b:
        return out
    hf = os.path.join(BDIR, "smollm3-3b-hf")
    gg = os.path.join(BDIR, "smollm3-3b.bf16.gguf")
    if not os.path.isdir(hf):
        if not os.path.exists(os.path.join(LLAMA3_TOK, "tokenizer.json")):
            log(f"  SmolLM3-3B: skipped (no llama3 tokenizer fixture at {LLAMA3_TOK}; set LORAC_SHARED)")
            return out
        need = 6.3e9 * (1 if os.path.exists(gg) else 2) + 1e9
        if shutil.disk_usage(BDIR).free < need:
            log(f"  SmolLM3-3B: skipped (needs {need / 1e9:.0f} GB free in {BDIR})")
            return out
        tmp = hf + ".part"
        shutil.rmtree(tmp, ignore_errors=True)
        cmd = [lorac, "init-model", "--preset", "smollm3-3b", "--tokenizer", LLAMA3_TOK, "--out", tmp]
        if make(cmd, tmp, "SmolLM3-3B random bf16 HF directory (6.2 GB)"):
            os.rename(tmp, hf)
    if not os.path.isdir(hf):
        return out
    if not os.path.exists(gg):
        if shutil.disk_usage(BDIR).free < 7.3e9:
            log(f"  SmolLM3-3B GGUF: skipped (needs 7.3 GB free in {BDIR})")
        elif have("gguf"):
            make(mk + ["hf2gguf", hf, gg], gg, "SmolLM3-3B bf16 GGUF (6.2 GB)")
        else:
            log(f"  SmolLM3-3B GGUF: not made (no gguf-py in {sys.executable}); lorac runs the HF directory only")
    out.append(("SmolLM3-3B", "bf16", gg if os.path.exists(gg) else None, hf))
    return out


# ---- prompt: prose that lorac tokenizes to exactly N_PROMPT tokens ----


def prose_words(n):
    """English prose words: the tokenizer bench's text when cached, else stdlib docstrings."""
    p = os.path.join(BDIR, "prose-8mb.txt")
    if os.path.exists(p):
        with open(p, encoding="utf-8") as f:
            words = f.read(200000).split()
        if len(words) >= n:
            return words[:n]
    libdir = os.path.dirname(ast.__file__)
    words = []
    for f in sorted(glob.glob(os.path.join(libdir, "*.py"))):
        try:
            tree = ast.parse(open(f, encoding="utf-8").read())
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Module)):
                for para in (ast.get_docstring(node) or "").split("\n\n"):
                    q = " ".join(para.split())
                    if len(q) > 80 and re.fullmatch(r"[A-Za-z0-9 ,.;:'\"()\-!?]+", q):
                        words += q.split()
        if len(words) >= n:
            return words[:n]
    return (words * (n // max(1, len(words)) + 1))[:n]


def run_ok(cmd, **kw):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    except OSError as e:
        raise RuntimeError(f"{cmd[0]}: {e.strerror}")
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} ...: {(r.stderr or r.stdout).strip()[-500:]}")
    return r.stdout


def prompt_for(lorac, model, n=N_PROMPT):
    """(text, ids): the shortest prefix of the prose that tokenizes to exactly n tokens."""
    words = prose_words(4 * n)
    for start in range(0, 40, 7):  # another starting word if no prefix lands on n
        w = words[start:]
        cands = [" ".join(w[:k]) for k in range(n // 4, min(len(w), 2 * n))]
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            f.write("\n".join(cands) + "\n")
        try:
            counts = [int(x) for x in run_ok([lorac, "tokenize", "--model", model, "--file", f.name, "--lines", "--count"]).split()]
        finally:
            os.unlink(f.name)
        for text, c in zip(cands, counts):
            if c == n:
                ids = json.loads(run_ok([lorac, "tokenize", "--model", model, "--text", text, "--json"]))
                if len(ids) != n:
                    raise RuntimeError(f"lorac tokenize: {len(ids)} ids with --json, {n} with --count")
                return text, ids
    raise RuntimeError(f"no prose prefix tokenizes to exactly {n} tokens")


# ---- one measurement each ----

RE_PROMPT = re.compile(r"^Prompt: (\d+) tokens, ([\d.]+) tokens-per-sec", re.M)
RE_GEN = re.compile(r"^Generation: (\d+) tokens, ([\d.]+) tokens-per-sec", re.M)


def run_proc(cmd, stdin_text=None):
    """(returncode, stdout bytes, stderr bytes, seconds)."""
    t = time.time()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate(stdin_text.encode() if stdin_text is not None else None)
    return p.returncode, out, err, time.time() - t


def cpu_ticks():
    """(busy, total) jiffies over all CPUs from /proc/stat (0, 0 where there is none)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v) - idle, sum(v)
    except (OSError, ValueError, IndexError):
        return 0, 0


QUIET = {"patience": 120.0, "told": False}


def wait_quiet(busy_max=0.15):
    """Before a measurement, wait until the CPUs are <= busy_max busy, so that other work
    on the machine does not land in it: up to 2 minutes the first time, then (the machine
    evidently shared) up to 15 s. Returns the last busy share seen."""
    t_end = time.time() + QUIET["patience"]
    while True:
        b0, t0 = cpu_ticks()
        time.sleep(0.5)
        b1, t1 = cpu_ticks()
        share = (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0
        if share <= busy_max:
            return share
        if time.time() > t_end:
            QUIET["patience"] = 15.0
            return share
        if not QUIET["told"]:
            log(f"  (other processes keep the CPUs {share * 100:.0f}% busy; waiting for them before measuring)")
            QUIET["told"] = True
        time.sleep(2)


TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def timed(cmd, stdin_text=None):
    """Run cmd under a tiny wrapper that reports that child's own peak RSS and CPU time
    (wait4); returns (rc, stdout, stderr, seconds, rss, foreign) where foreign is the share
    of the machine's CPU time spent by other processes meanwhile."""
    wrap = [sys.executable, "-c",
            "import os,sys\n"
            "pid=os.fork()\n"
            "if pid==0:\n"
            " try: os.execvp(sys.argv[1],sys.argv[1:])\n"
            " except OSError as e: sys.stderr.write('%s: %s\\n'%(sys.argv[1],e.strerror)); os._exit(127)\n"
            "_,st,ru=os.wait4(pid,0)\n"
            "sys.stderr.write('\\n@@RUSAGE %d %f\\n'%(ru.ru_maxrss*1024,ru.ru_utime+ru.ru_stime))\n"
            "sys.exit(os.waitstatus_to_exitcode(st))\n"] + cmd
    b0, t0 = cpu_ticks()
    rc, out, err, secs = run_proc(wrap, stdin_text)
    b1, t1 = cpu_ticks()
    err = err.decode("utf-8", "replace")
    m = re.search(r"@@RUSAGE (\d+) ([\d.]+)", err)
    rss, own = (int(m.group(1)), float(m.group(2))) if m else (0, 0.0)
    err = err[: m.start()] if m else err
    foreign = max(0.0, ((b1 - b0) / TICK - own - 0.05 * secs) / ((t1 - t0) / TICK)) if t1 > t0 else 0.0
    return rc, out, err, secs, rss, foreign


def lorac_run(lorac, model, text, n_gen, threads, n_prompt=N_PROMPT):
    cmd = [lorac, "generate", "--model", model, "--ignore-chat-template", "--prompt", "-", "--max-tokens", str(n_gen),
           "--ignore-eos", "--temp", "0", "--threads", str(threads), "--verbose"]
    rc, out, err, secs, rss, foreign = timed(cmd, text)
    mp, mg = RE_PROMPT.search(err), RE_GEN.search(err)
    if rc != 0 or not mp or not mg:
        raise RuntimeError(f"lorac generate failed (rc {rc}): {err.strip()[-500:]}")
    if int(mp.group(1)) != n_prompt or int(mg.group(1)) != n_gen:
        raise RuntimeError(f"lorac generate: {mp.group(1)} prompt / {mg.group(1)} generated tokens, "
                           f"expected {n_prompt} / {n_gen}")
    gen = out.decode("utf-8", "replace")
    if gen.endswith("\n"):
        gen = gen[:-1]
    return {"prefill": float(mp.group(2)), "decode": float(mg.group(2)), "rss": rss, "secs": secs, "text": gen,
            "foreign": foreign}


class LlamaCrash(RuntimeError):
    pass


def llama_run(model, ids, n_gen, threads, text=None, extra_bufts=True):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"model": model, "ids": ids, "n_gen": n_gen, "threads": threads, "text": text,
                   "extra_bufts": extra_bufts}, f)
    try:
        rc, out, err, secs, rss, foreign = timed([sys.executable, os.path.abspath(__file__), "--llama-worker", f.name])
    finally:
        os.unlink(f.name)
    lines = [x for x in out.decode().splitlines() if x.startswith("{")]
    if rc < 0 or rc >= 128:
        sig = -rc if rc < 0 else 256 - rc
        raise LlamaCrash(f"llama.cpp crashed (signal {sig}) {err.strip()[-300:]}")
    if rc != 0 or not lines:
        raise RuntimeError(f"llama.cpp worker failed (rc {rc}): {err.strip()[-500:]}")
    r = json.loads(lines[-1])
    r["rss"], r["secs"], r["foreign"] = rss, secs, foreign
    return r


def llama_worker(spec_path):
    """In a fresh process: load, prefill the ids, generate n_gen greedy tokens; print JSON."""
    import ctypes
    import numpy as np
    import llama_cpp as L

    spec = json.load(open(spec_path))
    null_log = L.llama_log_callback(lambda level, text, user: None)
    L.llama_log_set(null_log, ctypes.c_void_p())
    L.llama_backend_init()
    mp = L.llama_model_default_params()
    mp.use_extra_bufts = bool(spec.get("extra_bufts", True))
    model = L.llama_model_load_from_file(spec["model"].encode(), mp)
    if not model:
        sys.exit(f"llama.cpp could not load {spec['model']}")
    ids, n_gen, thr = spec["ids"], spec["n_gen"], spec["threads"]
    cp = L.llama_context_default_params()
    cp.n_ctx = max(1024, len(ids) + n_gen + 16)
    cp.n_batch = cp.n_ubatch = max(512, len(ids))
    cp.n_threads = cp.n_threads_batch = thr
    ctx = L.llama_init_from_model(model, cp)
    if not ctx:
        sys.exit("llama.cpp could not make a context")
    vocab = L.llama_model_get_vocab(model)
    nv = L.llama_vocab_n_tokens(vocab)
    res = {"system": L.llama_print_system_info().decode(errors="replace").strip()}
    if spec.get("text") is not None:  # llama.cpp's own tokenization of the prompt, for the record
        tb = spec["text"].encode()
        buf = (L.llama_token * (len(tb) + 16))()
        n = L.llama_tokenize(vocab, tb, len(tb), buf, len(buf), True, False)
        res["tok_same"] = n >= 0 and list(buf[:n]) == ids

    def piece(t):
        b = ctypes.create_string_buffer(256)
        n = L.llama_token_to_piece(vocab, t, b, 256, 0, False)
        return b.raw[: max(n, 0)]

    arr = (L.llama_token * len(ids))(*ids)
    one = (L.llama_token * 1)()
    t0 = time.perf_counter()
    if L.llama_decode(ctx, L.llama_batch_get_one(arr, len(ids))) != 0:
        sys.exit("llama_decode failed on the prompt")
    L.llama_synchronize(ctx)
    t_prefill = time.perf_counter() - t0
    out = []
    t0 = time.perf_counter()
    for step in range(n_gen):
        logits = np.ctypeslib.as_array(L.llama_get_logits_ith(ctx, -1), shape=(nv,))
        tok = int(logits.argmax())
        out.append(tok)
        if step + 1 < n_gen:
            one[0] = tok
            if L.llama_decode(ctx, L.llama_batch_get_one(one, 1)) != 0:
                sys.exit(f"llama_decode failed at generated token {step}")
    L.llama_synchronize(ctx)
    t_gen = time.perf_counter() - t0
    res.update(prefill=len(ids) / t_prefill, decode=n_gen / t_gen, ids=out,
               pieces=[piece(t).decode("latin-1") for t in out])
    L.llama_free(ctx)
    L.llama_model_free(model)
    print(json.dumps(res), flush=True)


# ---- comparing greedy continuations ----


def agree(lorac_text, pieces):
    """How many of llama.cpp's tokens lorac's streamed text starts with (by bytes)."""
    want = lorac_text.encode("utf-8", "replace")
    got, k = b"", 0
    for p in pieces:
        got += p.encode("latin-1")
        if not want.startswith(got):
            break
        k += 1
    return k


# ---- main ----


def fmt(x, w=8):
    return f"{x:{w}.1f}" if x else f"{'-':>{w}}"


def ratio(a, b):
    return f"{a / b:6.2f}x" if a and b else f"{'-':>7}"


def gb(n):
    return f"{n / 1e9:.2f} GB"


def main():
    if "--llama-worker" in sys.argv:
        return llama_worker(arg("--llama-worker", ""))
    t_start = time.time()
    lorac = os.path.abspath(arg("--lorac", os.environ.get("LORAC", os.path.join(ROOT, "lorac"))))
    if not os.access(lorac, os.X_OK):
        log(f"inference: no lorac binary at {lorac} (run make)")
        sys.exit(1)
    threads = int(arg("--threads", "2"))
    runs, runs_3b = int(arg("--runs", "3")), int(arg("--runs-3b", "2"))
    only = [x.strip().lower() for x in arg("--only", "").split(",") if x.strip()]
    llama = have("llama_cpp") and have("numpy")
    if not llama:
        log(f"llama.cpp: llama_cpp is not importable by {sys.executable}; lorac's numbers only")
    log(f"inference: lorac generate vs llama.cpp, {threads} threads, prefill {N_PROMPT} tokens, "
        f"decode {N_GEN} tokens, best of {runs} (3B: {runs_3b})")
    ms = models(lorac, "--no-3b" not in sys.argv)
    if only:
        ms = [m for m in ms if f"{m[0]} {m[1]}".lower() in only or m[1].lower() in only or m[0].lower() in only]
    rows, notes, sysinfo = [], [], None
    checks = {}  # (name, dtype) -> (lorac text, llama.cpp pieces) of the greedy check

    for name, dt, gg, hf in ms:
        label = f"{name} {dt}"
        t_model = time.time()
        target = gg or hf
        row = {"name": name, "dtype": dt, "lp": 0, "ld": 0, "cp": 0, "cd": 0}
        rows.append(row)
        try:
            text, ids = prompt_for(lorac, target)
        except RuntimeError as e:
            log(f"{label}: {e}")
            continue
        # correctness first: greedy continuation of a short prompt, token by token. llama.cpp
        # runs with its defaults; if it crashes (its AMX int8 path does on some VMs), again
        # without extra buffer types (AMX, weight repacking) and that is noted.
        can_llama, extra = llama and gg is not None, True
        if can_llama:
            try:
                cids = json.loads(run_ok([lorac, "tokenize", "--model", gg, "--text", CHECK_PROMPT, "--json"]))
                lr = lorac_run(lorac, gg, CHECK_PROMPT, CHECK_GEN, threads, n_prompt=len(cids))
                try:
                    cr = llama_run(gg, cids, CHECK_GEN, threads, text=CHECK_PROMPT)
                except LlamaCrash as e:
                    extra = False
                    sig = re.search(r"signal \d+", e.args[0])
                    notes.append(f"{label}: llama.cpp crashed ({sig.group(0) if sig else 'signal'}) with its defaults"
                                 " (its AMX int8 kernels); it ran with use_extra_bufts=false (no AMX / repacked weights)")
                    cr = llama_run(gg, cids, CHECK_GEN, threads, text=CHECK_PROMPT, extra_bufts=False)
                sysinfo = sysinfo or cr.get("system")
                k = agree(lr["text"], cr["pieces"])
                same = "" if cr.get("tok_same") else "; llama.cpp tokenizes the prompt differently (lorac's ids used)"
                msg = f"{label}: greedy check {CHECK_PROMPT!r}: {k}/{CHECK_GEN} tokens agree{same}"
                log(msg + ("" if k == CHECK_GEN else f"\n    lorac:     {lr['text'][:160]!r}"
                           f"\n    llama.cpp: {''.join(cr['pieces']).encode('latin-1').decode('utf-8', 'replace')[:160]!r}"))
                checks[(name, dt)] = (lr["text"], cr["pieces"])
                ref = checks.get((name, "f16")) if dt != "f16" else None
                if k < CHECK_GEN and name.startswith("SmolLM2"):
                    why = ""
                    if ref:  # the f16 file is made from the same weights: llama.cpp on it is the reference
                        kl = agree(lr["text"], ref[1])
                        kc = agree("".join(cr["pieces"]).encode("latin-1").decode("utf-8", "replace"), ref[1])
                        why = (f" (the f16 file is made from the same weights; against llama.cpp's f16 continuation "
                               f"lorac {dt} agrees on {kl}/{CHECK_GEN} tokens, llama.cpp {dt} on {kc}/{CHECK_GEN}"
                               + ("; the drift is llama.cpp's quantized-activation path)" if kl == CHECK_GEN > kc else ")"))
                    notes.append(f"{label}: greedy tokens disagree with llama.cpp after {k} of {CHECK_GEN} tokens{why}")
            except RuntimeError as e:
                log(f"{label}: greedy check failed, llama.cpp left out: {e}")
                can_llama = False
        n = runs_3b if "3B" in name else runs
        best = {"lorac": {}, "llama": {}}
        for i in range(n):
            for eng in ("lorac", "llama"):
                if (eng == "lorac" and not gg) or (eng == "llama" and not can_llama):
                    continue
                busy = wait_quiet()
                try:
                    r = (lorac_run(lorac, gg, text, N_GEN, threads) if eng == "lorac"
                         else llama_run(gg, ids, N_GEN, threads, extra_bufts=extra))
                except RuntimeError as e:
                    log(f"{label}: {e}")
                    if eng == "llama":
                        can_llama = False
                    else:
                        gg = None
                    continue
                b = best[eng]
                for k in ("prefill", "decode"):
                    if r[k] > b.get(k, 0):
                        b[k], b[k + "_foreign"] = r[k], max(r["foreign"], busy)
                b["rss"] = max(b.get("rss", 0), r["rss"])
                b["out"] = r.get("text") if eng == "lorac" else r.get("pieces")
                b.setdefault("outs", set()).add(json.dumps(b["out"]))
        bl, bc = best["lorac"], best["llama"]
        row.update(lp=bl.get("prefill", 0), ld=bl.get("decode", 0), cp=bc.get("prefill", 0), cd=bc.get("decode", 0),
                   lrss=bl.get("rss", 0), crss=bc.get("rss", 0), size=os.path.getsize(target) if gg else 0,
                   noise=max([b.get(k, 0) for b in (bl, bc) for k in ("prefill_foreign", "decode_foreign")] or [0]))
        if bl.get("out") is not None and bc.get("out"):
            row["agree"] = agree(bl["out"], bc["out"])
        for eng, b in (("lorac", bl), ("llama.cpp", bc)):
            if len(b.get("outs", ())) > 1:
                notes.append(f"{label}: {eng}'s greedy text differs between its {n} runs (not deterministic)")
        log(f"{label}: lorac {fmt(row['lp'], 0)} / {fmt(row['ld'], 0)} tok/s, "
            f"llama.cpp {fmt(row['cp'], 0)} / {fmt(row['cd'], 0)} tok/s (prefill / decode), {time.time() - t_model:.0f} s")
        # the bf16 HF directory: speed and peak RSS vs its weight files
        if hf:
            try:
                htext, _ = prompt_for(lorac, hf)
                busy = wait_quiet()
                r = lorac_run(lorac, hf, htext, N_GEN, threads)
                size = sum(os.path.getsize(p) for p in glob.glob(os.path.join(hf, "*.safetensors")))
                row["hf"] = dict(r, size=size, busy=max(busy, r["foreign"]))
                # same weights, same prompt: lorac on the HF directory and on the GGUF made from it
                # (q/k rows permuted there) must produce the same text
                if htext == text and bl.get("out") is not None:
                    same = r["text"] == bl["out"]
                    log(f"{label}: lorac on the HF directory and on its GGUF: "
                        f"{'the same' if same else 'DIFFERENT'} {N_GEN}-token greedy text")
                    if not same:
                        notes.append(f"{label}: lorac gives different greedy text on the HF directory and on the GGUF "
                                     "converted from it")
            except RuntimeError as e:
                log(f"{label} HF directory: {e}")

    # ---- report ----
    log("")
    log(f"{'model':<14}{'dtype':<6}{'lorac pp':>10}{'llama pp':>10}{'ratio':>8}"
        f"{'lorac tg':>10}{'llama tg':>10}{'ratio':>8}  greedy   busy")
    for r in rows:
        ag = f"{r['agree']}/{N_GEN}" if "agree" in r else "-"
        log(f"{r['name']:<14}{r['dtype']:<6}{fmt(r['lp'], 10)}{fmt(r['cp'], 10)}{ratio(r['lp'], r['cp']):>8}"
            f"{fmt(r['ld'], 10)}{fmt(r['cd'], 10)}{ratio(r['ld'], r['cd']):>8}  {ag:<8}{r.get('noise', 0) * 100:4.0f}%")
        if r.get("noise", 0) > 0.10:
            notes.append(f"{r['name']} {r['dtype']}: other processes used {r['noise'] * 100:.0f}% of the CPUs during a "
                         "kept run; its numbers are unreliable")
    log(f"(tok/s, best of runs; pp = prefill {N_PROMPT} tokens, tg = decode {N_GEN} tokens; ratio = lorac / llama.cpp;"
        f"\n greedy = leading tokens of the {N_GEN}-token continuation on which both engines agree;"
        f" busy = CPU share taken by other processes in this VM during the kept runs;"
        f"\n absolute tok/s drift with the host's load too: compare the ratios, measured interleaved)")
    log("")
    log("peak RSS (one generate process; llama.cpp's includes the Python interpreter):")
    for r in rows:
        if r.get("size"):
            log(f"  {r['name']} {r['dtype']} GGUF {gb(r['size'])}: lorac {gb(r.get('lrss', 0))}"
                + (f", llama.cpp {gb(r['crss'])}" if r.get("crss") else ""))
        h = r.get("hf")
        if h:
            lim = h["size"] * 1.15
            verdict = "ok" if h["rss"] <= lim else "OVER"
            log(f"  {r['name']} bf16 HF directory ({gb(h['size'])} safetensors): lorac {gb(h['rss'])} = "
                f"{h['rss'] / h['size']:.2f}x the files (limit 1.15x: {verdict}); "
                f"speed there {h['prefill']:.1f} / {h['decode']:.1f} tok/s"
                + (f" (other processes {h['busy'] * 100:.0f}% busy)" if h["busy"] > 0.10 else ""))
            if h["rss"] > lim:
                notes.append(f"{r['name']} HF directory: peak RSS {gb(h['rss'])} > size + 15% ({gb(lim)})")
    if sysinfo:
        log(f"llama.cpp: {sysinfo}")
    for n in notes:
        log(f"NOTE: {n}")
    log(f"inference bench: {time.time() - t_start:.0f} s")


if __name__ == "__main__":
    main()

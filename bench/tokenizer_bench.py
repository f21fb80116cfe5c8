#!/usr/bin/env python3
"""tokenizer_bench.py — lorac's encoder vs HF `tokenizers` on English prose, one core.

    python3 bench/tokenizer_bench.py [--lorac ./lorac] [--mb 8]

The prose is the English docstrings of Python's standard library, repeated to
--mb MB and kept in $LORAC_CACHE/bench/. For each tokenizer (the qwen3 and
llama3 fixtures, and the SmolLM2 GGUF when cached) it first checks that lorac's
ids equal HF's on the whole text, then times encoding on one core: HF
`tokenizers` with RAYON_NUM_THREADS=1, the faster of one whole-text `encode`
and an `encode_batch` of the text's lines; lorac `tokenize --count --stats`
(encode time only, best of 3). Prints MB/s and the ratio lorac/HF. Runs in the
venv of tests/ref/make_tokenizer_goldens.py.
"""
import ast
import glob
import os
import re
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "ref"))
os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
import make_tokenizer_goldens as ref  # noqa: E402


def arg(name, default):
    a = sys.argv
    return a[a.index(name) + 1] if name in a else default


def prose(path, mb):
    if os.path.exists(path) and os.path.getsize(path) >= mb * 1e6 * 0.95:
        return open(path, encoding="utf-8").read()
    libdir = os.path.dirname(os.__file__)
    if ref.VENV in libdir:  # the venv's lib has no stdlib sources: use the base interpreter's
        libdir = os.path.dirname(ast.__file__)
    docs = []
    for f in sorted(glob.glob(os.path.join(libdir, "**", "*.py"), recursive=True)):
        if "test" in f or "site-packages" in f:
            continue
        try:
            tree = ast.parse(open(f, encoding="utf-8").read())
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Module, ast.AsyncFunctionDef)):
                d = ast.get_docstring(node)
                # prose only: paragraphs that are mostly words
                for para in (d or "").split("\n\n"):
                    p = " ".join(para.split())
                    if len(p) > 80 and re.fullmatch(r"[A-Za-z0-9 ,.;:'\"()\-!?]+", p):
                        docs.append(p)
    text, out = "\n".join(docs), []
    while sum(map(len, out)) < mb * 1e6:
        out.append(text)
    text = "\n".join(out)[: int(mb * 1e6)]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return text


def run_lorac(lorac, model, path, extra):
    r = subprocess.run([lorac, "tokenize", "--model", model, "--file", path, *extra],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"lorac failed: {r.stderr}")
    return r


def bench_one(name, hf_tok, model, add_special, lorac, path, text):
    ids = hf_tok.encode(text, add_special_tokens=add_special).ids
    extra = [] if add_special else ["--no-special"]
    got = run_lorac(lorac, model, path, extra).stdout.split()
    if list(map(int, got)) != ids:
        sys.exit(f"{name}: lorac's ids differ from HF's on the bench text; not timing")
    # HF gets the faster of one whole-text call and a batch of the text's lines (one thread either way)
    lines = text.split("\n")
    hf_whole = min(timeit(lambda: hf_tok.encode(text, add_special_tokens=add_special)) for _ in range(2))
    hf_batch = min(timeit(lambda: hf_tok.encode_batch(lines, add_special_tokens=add_special)) for _ in range(2))
    hf_best = min(hf_whole, hf_batch)
    lo_best = 1e9
    for _ in range(3):
        err = run_lorac(lorac, model, path, extra + ["--count", "--stats"]).stderr
        m = re.search(r"in ([0-9.]+) s", err)
        lo_best = min(lo_best, float(m.group(1)))
    mb = len(text.encode("utf-8")) / 1e6
    print(f"{name:8s} {len(ids):>9d} tokens  HF tokenizers {mb / hf_best:6.1f} MB/s "
          f"(whole text {mb / hf_whole:.1f}, batch of lines {mb / hf_batch:.1f})   "
          f"lorac {mb / lo_best:6.1f} MB/s   ratio {hf_best / lo_best:4.2f}x")


def timeit(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def main():
    ref.ensure_venv()
    from tokenizers import Tokenizer
    lorac = os.path.abspath(arg("--lorac", os.environ.get("LORAC", os.path.join(ROOT, "lorac"))))
    mb = float(arg("--mb", "8"))
    path = os.path.join(ref.CACHE, "bench", f"prose-{mb:g}mb.txt")
    text = prose(path, mb)
    print(f"English prose: {len(text.encode()) / 1e6:.1f} MB (Python stdlib docstrings), one core")
    for name in ("qwen3", "llama3"):
        d = os.path.join(ref.SHARED, "fixtures", "tokenizers", name)
        bench_one(name, Tokenizer.from_file(os.path.join(d, "tokenizer.json")), d, True, lorac, path, text)
    gguf = ref.smollm2_path() if hasattr(ref, "smollm2_path") else None
    if gguf:
        tok = ref.smollm2_tokenizer(gguf)
        bench_one("smollm2", tok, gguf, False, lorac, path, text)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""make_eval_goldens.py — ROUGE-L goldens for tests/test_eval.c from the rouge-score package.

Reads the `rouge` pairs of tests/data/eval_cases.yaml and scores each with
rouge_score.rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False) — the
package's own tokenizer (lowercase, runs of [a-z0-9]) and LCS — writing
tests/golden/eval/rouge.json: {"generator", "cases": {name: {precision, recall, f1}}}.
The C test checks eval_rouge_l against these within 1e-12, and against the
hand-computed f1 values in the data file.

Tested with rouge-score 0.1.2. Run from anywhere: python3 tests/ref/make_eval_goldens.py
"""
import importlib.metadata
import json
import os
import subprocess
import sys

def need(mod, pkg):
    try:
        __import__(mod)
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", pkg])

need("yaml", "pyyaml")
need("rouge_score", "rouge-score")
import yaml  # noqa: E402
from rouge_score import rouge_scorer  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
tests = os.path.dirname(here)
with open(os.path.join(tests, "data", "eval_cases.yaml"), encoding="utf-8") as f:
    data = yaml.safe_load(f)
scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
cases = {}
for c in data["rouge"]:
    s = scorer.score(c["reference"], c["candidate"])["rougeL"]  # score(target, prediction)
    cases[c["name"]] = {"precision": s.precision, "recall": s.recall, "f1": s.fmeasure}
    if c.get("f1") is not None and abs(c["f1"] - s.fmeasure) > 1e-12:
        sys.exit(f"{c['name']}: the hand-computed f1 {c['f1']} disagrees with rouge-score's {s.fmeasure}")
out = {"generator": "rouge-score " + importlib.metadata.version("rouge-score") + ", rougeL, use_stemmer=False",
       "cases": cases}
path = os.path.join(tests, "golden", "eval", "rouge.json")
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path, "w", encoding="utf-8") as f:
    json.dump(out, f, indent=1, sort_keys=True)
    f.write("\n")
print(f"wrote {path}: {len(cases)} cases")

#!/usr/bin/env python3
"""make_data_bench.py OUT.jsonl [N] — a synthetic chat dataset for timing lorac's
data tools (bench/bench_data.sh): N examples (default 10,000, about 20 MB) built
from examples/data/train.jsonl by recombining its questions and answer
paragraphs with a fixed seed, plus 1% exact and 1% near duplicates. Not
committed; regenerate it."""
import json, os, random, re, sys

here = os.path.dirname(os.path.abspath(__file__))
out, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10000
rng = random.Random(7)
recs = [json.loads(l) for l in open(os.path.join(here, "..", "examples", "data", "train.jsonl"))]
questions = [[m["content"] for m in r["messages"] if m["role"] == "user"][-1] for r in recs]
paras = [p for r in recs for p in r["messages"][-1]["content"].split("\n\n")]
openers = ["", "Quick question: ", "I've been wondering: ", "My doctor mentioned this. ", "Honest answer please: "]
lines = []
for i in range(n):
    q = rng.choice(openers) + rng.choice(questions) + ("" if rng.random() < 0.5 else " (asking for case %d)" % i)
    body, size = [], rng.randint(1700, 2300)
    while sum(len(p) + 2 for p in body) < size:
        body.append(rng.choice(paras))
    msgs = [{"role": "user", "content": q}, {"role": "assistant", "content": "\n\n".join(body)}]
    if rng.random() < 0.1:
        msgs.insert(0, {"role": "system", "content": "You are a metabolic health educator."})
    lines.append(json.dumps({"messages": msgs}))
for k in range(n // 100):  # exact duplicates and near duplicates (a few words changed)
    lines[rng.randrange(n)] = lines[rng.randrange(n)]
    src = json.loads(lines[rng.randrange(n)])
    words = src["messages"][-1]["content"].split(" ")
    for _ in range(len(words) // 40):
        words[rng.randrange(len(words))] = rng.choice(["really", "often", "usually", "quite"])
    src["messages"][-1]["content"] = " ".join(words)
    lines[rng.randrange(n)] = json.dumps(src)
with open(out, "w") as f:
    f.write("\n".join(lines) + "\n")
print("%s: %d examples, %.1f MB" % (out, n, os.path.getsize(out) / 1e6))

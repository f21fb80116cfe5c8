#!/usr/bin/env python3
"""make_sampler_goldens.py — golden distributions for tests/test_sampler.c from mlx-lm.

Runs mlx-lm's own sampling code (mlx_lm.sample_utils: make_logits_processors and
the filter chain that make_sampler builds, taken from the sampler's closure so the
order is mlx-lm's, not ours) on fixed logits and writes, per case, the processed
logits and the distribution that mlx-lm's categorical_sampling draws from:
softmax(filtered_logprobs * (1/temp)), or one-hot at mx.argmax for temp 0. For the
small cases it also draws 200k tokens with mx.random.categorical and checks they
follow that distribution, so the golden is what mlx-lm really samples.

Some cases carry an `alt` distribution: the same filters in the other common
order (temperature first, as HF transformers does). The C test checks that its
draws reject it, which shows the chi-square test can tell the orders apart.

Output: tests/golden/sampler/cases.txt, a line-based text file:
  case NAME
  params TEMP TOP_P MIN_P TOP_K REP_PENALTY CTX PRESENCE FREQUENCY
  vocab V
  logits v0 v1 ...        (small cases: float32 values, %.9g)
  logits_hash             (large cases: see hash_logits below; the C test rebuilds them)
  accept t0 t1 ...        (tokens fed to sampler_accept, oldest first; may be empty)
  processed v0 v1 ...     (small cases: logits after the penalties, bitwise)
  probs N i:p i:p ...     (the N nonzero probabilities, %.9g)
  alt N i:p ...           (optional)
  end

Tested with mlx 0.32.4 / mlx-lm 0.32.2 (pip install "mlx[cpu]" mlx-lm on Linux).
Run from anywhere: python3 tests/ref/make_sampler_goldens.py
"""
import os
import subprocess
import sys

try:
    import numpy as np
    import mlx.core as mx
    import mlx_lm
    from mlx_lm.sample_utils import make_logits_processors, make_sampler
except ImportError:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "mlx[cpu]", "mlx-lm", "numpy"])
    import numpy as np
    import mlx.core as mx
    import mlx_lm
    from mlx_lm.sample_utils import make_logits_processors, make_sampler

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "sampler"))
rng = np.random.default_rng(4)
f32 = lambda v: float(np.float32(v))  # the C side stores parameters as float


def hash_logits(vocab):
    """Peaked logits the C test rebuilds bit for bit (only exact float32 ops):
    u = top 24 bits of a 32-bit mix of i, scaled to [0, 1); logit = 20 * u^8;
    every 9973rd token gets + 10 * (1 + u) (a few tokens far above the body)."""
    i = np.arange(vocab, dtype=np.uint64)
    h = (i * np.uint64(2654435761) + np.uint64(12345)) & np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(15)
    h = (h * np.uint64(2246822519)) & np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(13)
    u = (h >> np.uint64(8)).astype(np.float32) * np.float32(1.0 / 16777216.0)
    u2 = u * u
    u4 = u2 * u2
    u8 = u4 * u4
    l = np.float32(20.0) * u8
    spike = (i % np.uint64(9973)) == 0
    bump = np.float32(10.0) * (np.float32(1.0) + u)
    l[spike] = l[spike] + bump[spike]
    return l.astype(np.float32)


def top_p_margin(processed, top_p):
    """How far, in float64 probability mass, top_p lies from the nearest group
    boundary (mass of the strictly larger logits) — mlx-lm sums that mass in
    float32 (error ~1e-5 over a 152k vocabulary), so a golden must not sit closer."""
    z = processed.astype(np.float64)
    p = np.exp(z - z.max())
    p /= p.sum()
    vals, inv = np.unique(-z, return_inverse=True)  # groups of equal logits, largest first
    mass = np.bincount(inv, weights=p)
    above = np.concatenate([[0.0], np.cumsum(mass)[:-1]])
    return np.abs(above - top_p).min()


def pick_top_p(processed, approx):
    """A float32 top_p near approx, halfway between two group boundaries."""
    z = processed.astype(np.float64)
    p = np.exp(z - z.max())
    p /= p.sum()
    c = np.cumsum(np.sort(p)[::-1])
    j = int(np.searchsorted(c, approx))
    return f32((c[j - 1] + c[j]) / 2)


def mlx_process(logits, rep, ctx, pres, freq, accept):
    """mlx-lm's logits processors over the accepted tokens, as an mx.array (1, V)."""
    x = mx.array(logits[None, :])
    procs = make_logits_processors(
        repetition_penalty=rep if rep != 1.0 else None,
        repetition_context_size=ctx,
        presence_penalty=pres,
        presence_context_size=ctx,
        frequency_penalty=freq,
        frequency_context_size=ctx,
    )
    if accept and procs:
        toks = mx.array(np.array(accept, dtype=np.int32))
        for p in procs:
            x = p(toks, x)
    return x


def mlx_case(logits, temp, top_p, min_p, top_k, rep, ctx, pres, freq, accept):
    """Processed logits and the final distribution, by mlx-lm's functions."""
    x = mlx_process(logits, rep, ctx, pres, freq, accept)
    processed = np.array(x[0], dtype=np.float32)
    logprobs = x - mx.logsumexp(x, keepdims=True)
    s = make_sampler(temp=temp, top_p=top_p, min_p=min_p, top_k=top_k)
    if temp == 0:
        probs = np.zeros(len(logits))
        probs[int(s(logprobs).item())] = 1.0
        return processed, probs, None
    cells = dict(zip(s.__code__.co_freevars, (c.cell_contents for c in s.__closure__)))
    for method in cells["sampling_methods"]:
        logprobs = method(logprobs)
    scaled = logprobs * (1.0 / cells["temp"])  # what categorical_sampling draws from
    z = np.array(scaled[0], dtype=np.float64)
    probs = np.exp(z - z.max())
    probs /= probs.sum()
    return processed, probs, scaled


def check_mlx_draws(scaled, probs, n=200_000):
    """mx.random.categorical really follows `probs` (chi-square, merged small bins)."""
    mx.random.seed(7)
    draws = np.array(mx.random.categorical(scaled[0], num_samples=n))
    obs = np.bincount(draws, minlength=len(probs))
    assert obs[probs == 0].sum() == 0, "mlx drew a filtered token"
    exp = probs * n
    big = exp >= 5
    chi = (((obs[big] - exp[big]) ** 2) / exp[big]).sum()
    rest_o, rest_e = obs[~big].sum(), exp[~big].sum()
    if rest_e > 0:
        chi += (rest_o - rest_e) ** 2 / rest_e
    df = big.sum() - (0 if rest_e > 0 else 1)
    assert chi < df + 5 * np.sqrt(2 * max(df, 1)), f"mlx draws disagree: chi2 {chi:.1f}, df {df}"


def hf_order(logits, temp, top_p, min_p, top_k):
    """The same filters with the temperature applied first (HF transformers' order:
    temperature, top-k, top-p, min-p on the tempered distribution)."""
    z = logits.astype(np.float64) / temp
    keep = np.ones(len(z), bool)
    if 0 < top_k < len(z):
        keep[np.argsort(-z, kind="stable")[top_k:]] = False
    p = np.exp(z - z.max())
    p[~keep] = 0
    p /= p.sum()
    if 0 < top_p < 1:
        order = np.argsort(-p, kind="stable")
        above = np.concatenate([[0.0], np.cumsum(p[order])[:-1]])
        keep[order[above >= top_p]] = False
    if min_p > 0:
        keep &= p >= min_p * p.max()
    p[~keep] = 0
    return p / p.sum()


def fmt(v):
    return "%.9g" % v


def sparse(probs):
    nz = np.nonzero(probs)[0]
    return f"{len(nz)} " + " ".join(f"{i}:{fmt(probs[i])}" for i in nz)


def main():
    os.makedirs(OUT, exist_ok=True)
    V = 32
    base = (rng.normal(size=V) * 2.0).astype(np.float32)
    ties = base.copy()  # a run of equal logits around the top-p / top-k boundaries
    order = np.argsort(-ties)
    ties[order[2:6]] = ties[order[2]]
    ties[order[0]] = ties[order[1]]  # two equal maxima: greedy must pick the first
    mixed = base.copy()
    mixed[:8] = np.float32([2.5, -1.5, 0.0, 3.0, -0.25, 1.0, -3.0, 0.5])
    # window tokens: 0..7 have known signs; 3 and 1 repeat; 20 and 21 fall out of
    # an 8-token window; the prompt/generated split does not matter to the sampler
    acc = [20, 21, 0, 3, 1, 3, 4, 1, 3, 6, 22]

    # name, logits, temp, top_p, min_p, top_k, rep, ctx, pres, freq, accept, with_alt
    small = [
        ("greedy_ties", ties, 0.0, 1.0, 0.0, 0, 1.0, 20, 0.0, 0.0, [], False),
        ("greedy_penalised", mixed, 0.0, 1.0, 0.0, 0, 2.0, 8, 0.0, 0.0, acc, False),
        ("temp_1", base, 1.0, 1.0, 0.0, 0, 1.0, 20, 0.0, 0.0, [], False),
        ("temp_0.7", base, 0.7, 1.0, 0.0, 0, 1.0, 20, 0.0, 0.0, [], False),
        ("temp_1.5", base, 1.5, 1.0, 0.0, 0, 1.0, 20, 0.0, 0.0, [], False),
        ("top_k_5", base, 1.0, 1.0, 0.0, 5, 1.0, 20, 0.0, 0.0, [], False),
        ("top_k_5_temp_0.7", base, 0.7, 1.0, 0.0, 5, 1.0, 20, 0.0, 0.0, [], False),
        ("top_p_0.8", base, 1.0, 0.8, 0.0, 0, 1.0, 20, 0.0, 0.0, [], False),
        ("top_p_0.8_temp_0.5", base, 0.5, 0.8, 0.0, 0, 1.0, 20, 0.0, 0.0, [], True),
        ("top_p_0.6_temp_1.8", base, 1.8, 0.6, 0.0, 0, 1.0, 20, 0.0, 0.0, [], True),
        ("min_p_0.1", base, 1.0, 1.0, 0.1, 0, 1.0, 20, 0.0, 0.0, [], False),
        ("min_p_0.05_temp_2", base, 2.0, 1.0, 0.05, 0, 1.0, 20, 0.0, 0.0, [], True),
        ("combined", base, 0.8, 0.9, 0.02, 6, 1.0, 20, 0.0, 0.0, [], True),
        ("ties_top_p", ties, 1.0, 0.5, 0.0, 0, 1.0, 20, 0.0, 0.0, [], False),
        ("ties_top_k_4", ties, 1.0, 1.0, 0.0, 4, 1.0, 20, 0.0, 0.0, [], False),
        ("repetition_1.3", mixed, 1.0, 1.0, 0.0, 0, 1.3, 8, 0.0, 0.0, acc, False),
        ("repetition_0.7_ctx_20", mixed, 1.0, 1.0, 0.0, 0, 0.7, 20, 0.0, 0.0, acc, False),
        ("presence_frequency", mixed, 1.0, 1.0, 0.0, 0, 1.0, 8, 0.5, 0.3, acc, False),
        ("all_penalties_filters", mixed, 0.9, 0.95, 0.01, 12, 1.2, 10, 0.25, 0.1, acc, False),
    ]
    HV = 151936
    hl = hash_logits(HV)
    spikes = [i for i in range(0, HV, 9973)]
    hacc = [spikes[3], 5, spikes[7], 77, spikes[3], spikes[10], 12345]
    # top_p None: picked near 0.2 between two group boundaries (see top_p_margin);
    # in the dense body near 0.9 the boundaries of this vocabulary sit ~1e-4
    # apart, within mlx-lm's float32 summation error
    large = [
        ("large_top_p_temp_0.7", 0.7, None, 0.0, 0, 1.0, 20, 0.0, 0.0, []),
        ("large_min_p_0.05", 1.0, 1.0, 0.05, 0, 1.0, 20, 0.0, 0.0, []),
        ("large_top_k_40_temp_1.3", 1.3, 1.0, 0.0, 40, 1.0, 20, 0.0, 0.0, []),
        ("large_penalties_combined", 0.8, None, 0.001, 100, 1.5, 5, 0.2, 0.4, hacc),
    ]

    lines = [f"# made by tests/ref/make_sampler_goldens.py with mlx {mx.__version__}, mlx-lm {mlx_lm.__version__}"]

    def emit(name, logits, params, accept, processed, probs, alt, small_case):
        temp, top_p, min_p, top_k, rep, ctx, pres, freq = params
        lines.append(f"case {name}")
        lines.append("params " + " ".join(fmt(v) for v in (temp, top_p, min_p)) + f" {top_k} {fmt(rep)} {ctx} {fmt(pres)} {fmt(freq)}")
        lines.append(f"vocab {len(logits)}")
        lines.append("logits " + " ".join(fmt(v) for v in logits) if small_case else "logits_hash")
        lines.append("accept" + "".join(f" {t}" for t in accept))
        if small_case:
            lines.append("processed " + " ".join(fmt(v) for v in processed))
        lines.append("probs " + sparse(probs))
        if alt is not None:
            lines.append("alt " + sparse(alt))
        lines.append("end")

    for name, logits, temp, top_p, min_p, top_k, rep, ctx, pres, freq, accept, with_alt in small:
        params = (f32(temp), f32(top_p), f32(min_p), top_k, f32(rep), ctx, f32(pres), f32(freq))
        processed, probs, scaled = mlx_case(logits, *params, accept)
        if 0 < top_p < 1:
            assert top_p_margin(processed, params[1]) > 1e-5, f"{name}: top_p too close to a boundary"
        if scaled is not None:
            check_mlx_draws(scaled, probs)
        alt = None
        if with_alt:
            alt = hf_order(processed, params[0], params[1], params[2], params[3])
            assert np.abs(alt - probs).max() > 0.02, f"{name}: alt order does not differ"
        emit(name, logits, params, accept, processed, probs, alt, True)
        print(f"{name:28s} kept {np.count_nonzero(probs):3d} of {V}", file=sys.stderr)

    for name, temp, top_p, min_p, top_k, rep, ctx, pres, freq, accept in large:
        if top_p is None:
            processed = np.array(mlx_process(hl, f32(rep), ctx, f32(pres), f32(freq), accept)[0])
            top_p = pick_top_p(processed, 0.2)
            assert top_p_margin(processed, top_p) > 2e-4, f"{name}: top_p too close to a boundary"
        params = (f32(temp), f32(top_p), f32(min_p), top_k, f32(rep), ctx, f32(pres), f32(freq))
        _, probs, _ = mlx_case(hl, *params, accept)
        emit(name, hl, params, accept, None, probs, None, False)
        print(f"{name:28s} kept {np.count_nonzero(probs):3d} of {HV}", file=sys.stderr)

    with open(os.path.join(OUT, "cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    # a fingerprint of hash_logits for the C test to check its rebuild against
    with open(os.path.join(OUT, "hash_logits.txt"), "w") as f:
        f.write(f"{HV} " + " ".join(f"{i}:{fmt(hl[i])}" for i in [0, 1, 2, 9973, 77777, 151935]) +
                f" sum:{fmt(float(hl.astype(np.float64).sum()))}\n")
    print(f"wrote {OUT}/cases.txt", file=sys.stderr)


if __name__ == "__main__":
    main()

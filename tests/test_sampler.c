// test_sampler.c — the sampler against mlx-lm and against a naive reference.
//
// Goldens (tests/golden/sampler/cases.txt, made by tests/ref/make_sampler_goldens.py
// from mlx-lm's own make_logits_processors / make_sampler chain) give, per case,
// the processed logits (checked bitwise) and the distribution mlx-lm draws from
// (checked to 1e-5 with the same support). On the small cases 100k draws must fit
// that distribution: a filtered token is never drawn, and Pearson's chi-square
// over the bins with expected count >= 5 (the rest merged into one bin) must stay
// under df + 5*sqrt(2*df), about five standard deviations. The same draws must
// REJECT the distribution of the other filter order (temperature first, as in HF
// transformers), which the goldens also carry: that shows the bound has the power
// to catch a wrong implementation. A naive full-sort reference of the documented
// rules is compared with sampler_probs on random logits up to vocab 151936.
// hash_logits must round every float operation as numpy does
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "generate/sampler.h"
#include "test.h"

#define N_DRAWS 100000

// ---- goldens ----
typedef struct {
    char name[64];
    sampler_params p;
    int64_t vocab;
    float *logits;     // (vocab)
    int hashed;        // logits from hash_logits
    int32_t *accept;   // (n_accept)
    int64_t n_accept;
    float *processed;  // (vocab) or NULL
    double *probs;     // (vocab), dense
    double *alt;       // (vocab) or NULL
} gcase;

// The golden script's peaked logits, rebuilt bit for bit (float32 products only).
static void hash_logits(float *l, int64_t V) {
    for (int64_t i = 0; i < V; i++) {
        uint32_t h = (uint32_t)i * 2654435761u + 12345u;
        h ^= h >> 15;
        h *= 2246822519u;
        h ^= h >> 13;
        float u = (float)(h >> 8) * (1.0f / 16777216.0f);
        float u2 = u * u, u4 = u2 * u2, u8 = u4 * u4;
        l[i] = 20.0f * u8;
    }
    for (int64_t i = 0; i < V; i += 9973) { // separate loop: no fused multiply-add
        uint32_t h = (uint32_t)i * 2654435761u + 12345u;
        h ^= h >> 15;
        h *= 2246822519u;
        h ^= h >> 13;
        float u = (float)(h >> 8) * (1.0f / 16777216.0f);
        float bump = 10.0f * (1.0f + u);
        l[i] = l[i] + bump;
    }
}

static const char *golden_path(const char *name) {
    static char path[512];
    const char *dir = getenv("TESTS_DIR");
    snprintf(path, sizeof path, "%s/golden/sampler/%s", dir ? dir : "tests", name);
    return path;
}

static void parse_floats(char *s, float *out, int64_t n) {
    char *end;
    for (int64_t i = 0; i < n; i++) {
        out[i] = strtof(s, &end);
        LORAC_ASSERT(end != s);
        s = end;
    }
}

// "N i:p i:p ..." into a dense vector of length V
static double *parse_sparse(char *s, int64_t V) {
    double *d = xcalloc((size_t)V, sizeof(double));
    char *end;
    long n = strtol(s, &end, 10);
    s = end;
    for (long k = 0; k < n; k++) {
        long i = strtol(s, &end, 10);
        LORAC_ASSERT(end != s && *end == ':' && i >= 0 && i < V);
        d[i] = strtod(end + 1, &end);
        s = end;
    }
    return d;
}

static int load_goldens(gcase **out) {
    char *buf;
    size_t len;
    if (file_read_all(golden_path("cases.txt"), &buf, &len)) {
        CHECK_MSG(0, "cannot read goldens: %s (run tests/ref/make_sampler_goldens.py)", err_msg());
        return 0;
    }
    gcase *cs = NULL;
    int n = 0;
    gcase *c = NULL;
    char *save;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(line, ' ');
        char *rest = sp ? sp + 1 : line + strlen(line);
        if (!strncmp(line, "case ", 5)) {
            cs = xrealloc(cs, sizeof *cs * (size_t)(n + 1));
            c = &cs[n++];
            memset(c, 0, sizeof *c);
            snprintf(c->name, sizeof c->name, "%s", rest);
        } else if (!c || line[0] == '#') {
            continue;
        } else if (!strncmp(line, "params ", 7)) {
            sampler_params *p = &c->p;
            sampler_params_init(p);
            int got = sscanf(rest, "%f %f %f %d %f %d %f %f", &p->temp, &p->top_p, &p->min_p, &p->top_k,
                             &p->repetition_penalty, &p->repetition_context_size, &p->presence_penalty,
                             &p->frequency_penalty);
            LORAC_ASSERT(got == 8);
        } else if (!strncmp(line, "vocab ", 6)) {
            c->vocab = strtoll(rest, NULL, 10);
            c->logits = xmalloc(sizeof(float) * (size_t)c->vocab);
        } else if (!strcmp(line, "logits_hash")) {
            c->hashed = 1;
            hash_logits(c->logits, c->vocab);
        } else if (!strncmp(line, "logits ", 7)) {
            parse_floats(rest, c->logits, c->vocab);
        } else if (!strncmp(line, "accept", 6)) {
            c->accept = xmalloc(sizeof(int32_t) * 64);
            char *s = rest, *end;
            for (long t; *s && (t = strtol(s, &end, 10), end != s); s = end) c->accept[c->n_accept++] = (int32_t)t;
        } else if (!strncmp(line, "processed ", 10)) {
            c->processed = xmalloc(sizeof(float) * (size_t)c->vocab);
            parse_floats(rest, c->processed, c->vocab);
        } else if (!strncmp(line, "probs ", 6)) {
            c->probs = parse_sparse(rest, c->vocab);
        } else if (!strncmp(line, "alt ", 4)) {
            c->alt = parse_sparse(rest, c->vocab);
        }
    }
    free(buf);
    *out = cs;
    return n;
}

static void free_goldens(gcase *cs, int n) {
    for (int i = 0; i < n; i++) {
        free(cs[i].logits);
        free(cs[i].accept);
        free(cs[i].processed);
        free(cs[i].probs);
        free(cs[i].alt);
    }
    free(cs);
}

// ---- statistics ----
// Pearson chi-square of counts against probs (N draws): bins with expected
// count >= 5, the rest merged into one. INFINITY when a zero-probability token
// was drawn. *df gets the degrees of freedom.
static double chi_square(const long *obs, const double *probs, int64_t V, long N, int *df) {
    double chi = 0, rest_o = 0, rest_e = 0;
    int bins = 0;
    for (int64_t i = 0; i < V; i++) {
        double e = probs[i] * (double)N;
        if (probs[i] == 0.0) {
            if (obs[i] > 0) return *df = 1, INFINITY;
            continue;
        }
        if (e >= 5.0) {
            chi += ((double)obs[i] - e) * ((double)obs[i] - e) / e;
            bins++;
        } else {
            rest_o += (double)obs[i];
            rest_e += e;
        }
    }
    if (rest_e > 0) {
        chi += (rest_o - rest_e) * (rest_o - rest_e) / rest_e;
        bins++;
    }
    *df = bins > 1 ? bins - 1 : 1;
    return chi;
}

static double chi_bound(int df) { return df + 5.0 * sqrt(2.0 * df); }

// ---- golden cases ----
static void run_case(const gcase *c) {
    const int64_t V = c->vocab;
    sampler *s = sampler_new(&c->p, V);
    CHECK_MSG(s != NULL, "%s: %s", c->name, err_msg());
    if (!s) return;
    for (int64_t i = 0; i < c->n_accept; i++) sampler_accept(s, c->accept[i]);
    float *l = xmalloc(sizeof(float) * (size_t)V);
    float *probs = xmalloc(sizeof(float) * (size_t)V);

    // penalties: bitwise equal to mlx-lm's processors
    if (c->processed) {
        memcpy(l, c->logits, sizeof(float) * (size_t)V);
        sampler_process(s, l);
        CHECK_MSG(!memcmp(l, c->processed, sizeof(float) * (size_t)V), "%s: processed logits differ from mlx-lm",
                  c->name);
    }

    // the distribution: same support, values within 1e-5
    memcpy(l, c->logits, sizeof(float) * (size_t)V);
    CHECK(sampler_probs(s, l, probs) == 0);
    double maxd = 0;
    int64_t support_diff = 0, kept = 0;
    for (int64_t i = 0; i < V; i++) {
        maxd = fmax(maxd, fabs(probs[i] - c->probs[i]));
        support_diff += (probs[i] > 0) != (c->probs[i] > 0);
        kept += c->probs[i] > 0;
    }
    CHECK_MSG(support_diff == 0, "%s: %lld tokens kept by one side only", c->name, (long long)support_diff);
    CHECK_MSG(maxd <= 1e-5, "%s: max abs diff %.3g vs mlx-lm", c->name, maxd);

    if (c->p.temp == 0.0f) { // greedy: the argmax, first on ties
        memcpy(l, c->logits, sizeof(float) * (size_t)V);
        int32_t t = sampler_sample(s, l);
        CHECK_MSG(t >= 0 && c->probs[t] == 1.0, "%s: greedy picked %d", c->name, t);
    } else if (!c->hashed) { // 100k draws against the golden distribution
        long *obs = xcalloc((size_t)V, sizeof(long));
        for (long k = 0; k < N_DRAWS; k++) {
            memcpy(l, c->logits, sizeof(float) * (size_t)V);
            int32_t t = sampler_sample(s, l);
            LORAC_ASSERT(t >= 0 && t < V);
            obs[t]++;
        }
        int df;
        double chi = chi_square(obs, c->probs, V, N_DRAWS, &df);
        double maxdev = 0;
        for (int64_t i = 0; i < V; i++) maxdev = fmax(maxdev, fabs((double)obs[i] / N_DRAWS - c->probs[i]));
        CHECK_MSG(chi < chi_bound(df), "%s: chi2 %.1f >= %.1f (df %d)", c->name, chi, chi_bound(df), df);
        fprintf(stderr, "  %-26s kept %3lld/%lld  chi2 %6.1f (df %2d, bound %5.1f)  max |freq - p| %.4f",
                c->name, (long long)kept, (long long)V, chi, df, chi_bound(df), maxdev);
        if (c->alt) {
            int df2;
            double chi2 = chi_square(obs, c->alt, V, N_DRAWS, &df2);
            CHECK_MSG(chi2 > chi_bound(df2), "%s: draws do not reject the temperature-first order (chi2 %.1f)",
                      c->name, chi2);
            fprintf(stderr, "  temperature-first chi2 %.0f", chi2);
        }
        fprintf(stderr, "\n");
        free(obs);
    } else { // large vocab: every draw is a kept token
        int bad = 0;
        for (int k = 0; k < 300; k++) {
            memcpy(l, c->logits, sizeof(float) * (size_t)V);
            int32_t t = sampler_sample(s, l);
            bad += !(t >= 0 && t < V && c->probs[t] > 0);
        }
        CHECK_MSG(bad == 0, "%s: %d draws outside the kept set", c->name, bad);
        fprintf(stderr, "  %-26s kept %3lld/%lld  max abs diff %.2g\n", c->name, (long long)kept, (long long)V,
                maxd);
    }
    free(l);
    free(probs);
    sampler_free(s);
}

static void test_goldens(void) {
    // the rebuilt hash logits are the script's
    char *buf;
    size_t len;
    if (file_read_all(golden_path("hash_logits.txt"), &buf, &len)) {
        CHECK_MSG(0, "%s", err_msg());
    } else {
        char *s = buf, *end;
        int64_t V = strtoll(s, &end, 10);
        float *l = xmalloc(sizeof(float) * (size_t)V);
        hash_logits(l, V);
        double sum = 0;
        for (int64_t i = 0; i < V; i++) sum += l[i];
        int ok = 1;
        for (s = end; *s == ' ';) {
            s++;
            if (!strncmp(s, "sum:", 4)) {
                double want = strtod(s + 4, &end);
                ok &= fabs(sum - want) <= 1e-6 * want;
            } else {
                long i = strtol(s, &end, 10);
                float want = strtof(end + 1, &end);
                ok &= l[i] == want;
            }
            s = end;
        }
        CHECK_MSG(ok, "hash_logits differs from the golden script's");
        free(l);
        free(buf);
    }

    gcase *cs;
    int n = load_goldens(&cs);
    CHECK_MSG(n >= 20, "only %d golden cases", n);
    for (int i = 0; i < n; i++) run_case(&cs[i]);
    free_goldens(cs, n);
}

// ---- penalties, worked by hand ----
static void test_penalties_exact(void) {
    const int V = 10;
    const float base[10] = {2.0f, -1.0f, 0.5f, -0.25f, 3.0f, 0.0f, -2.0f, 1.5f, 4.0f, -3.0f};
    sampler_params p;
    sampler_params_init(&p);
    p.repetition_penalty = 1.25f;
    p.repetition_context_size = 5;
    sampler *s = sampler_new(&p, V);
    // "prompt" 8 1 2, then "generated" 1 3 6 1: window (last 5) = 2 1 3 6 1; 8 has left it
    const int32_t seq[] = {8, 1, 2, 1, 3, 6, 1};
    for (size_t i = 0; i < sizeof seq / sizeof *seq; i++) sampler_accept(s, seq[i]);
    float l[10];
    memcpy(l, base, sizeof l);
    sampler_process(s, l);
    float want[10];
    memcpy(want, base, sizeof want);
    want[2] = 0.5f / 1.25f;   // positive: divided
    want[1] = -1.0f * 1.25f;  // negative: multiplied, once although it occurs twice
    want[3] = -0.25f * 1.25f;
    want[6] = -2.0f * 1.25f;
    CHECK(!memcmp(l, want, sizeof l));
    CHECK(l[8] == 4.0f); // outside the window: untouched
    CHECK(l[0] == 2.0f && l[4] == 3.0f && l[5] == 0.0f);

    // the CTRL rule lowers each recent token's probability; the others rise
    float pr0[10], pr1[10], tmp[10];
    sampler_params q = p;
    q.temp = 1.0f;
    sampler *plain = sampler_new(&(sampler_params){.temp = 1, .top_p = 1, .repetition_penalty = 1,
                                                   .repetition_context_size = 5}, V);
    sampler *pen = sampler_new(&q, V);
    for (size_t i = 0; i < sizeof seq / sizeof *seq; i++) sampler_accept(pen, seq[i]);
    memcpy(tmp, base, sizeof tmp);
    sampler_probs(plain, tmp, pr0);
    memcpy(tmp, base, sizeof tmp);
    sampler_probs(pen, tmp, pr1);
    int ok = 1;
    for (int i = 0; i < V; i++) {
        int recent = i == 1 || i == 2 || i == 3 || i == 6;
        ok &= recent ? pr1[i] < pr0[i] : pr1[i] > pr0[i];
    }
    CHECK_MSG(ok, "repetition penalty must lower exactly the window's tokens");
    sampler_free(plain);
    sampler_free(pen);

    // reset empties the window
    sampler_reset(s);
    memcpy(l, base, sizeof l);
    sampler_process(s, l);
    CHECK(!memcmp(l, base, sizeof l));
    sampler_accept(s, 4);
    memcpy(l, base, sizeof l);
    sampler_process(s, l);
    CHECK(l[4] == 3.0f / 1.25f && l[1] == -1.0f);
    sampler_free(s);

    // presence once per distinct token, frequency once per occurrence, after repetition
    sampler_params_init(&p);
    p.repetition_penalty = 2.0f;
    p.presence_penalty = 0.5f;
    p.frequency_penalty = 0.75f;
    p.repetition_context_size = 20;
    s = sampler_new(&p, V);
    const int32_t seq2[] = {4, 4, 4, 9, 0};
    for (size_t i = 0; i < sizeof seq2 / sizeof *seq2; i++) sampler_accept(s, seq2[i]);
    memcpy(l, base, sizeof l);
    sampler_process(s, l);
    memcpy(want, base, sizeof want);
    want[4] = 3.0f / 2.0f - 0.5f - 0.75f - 0.75f - 0.75f;
    want[9] = -3.0f * 2.0f - 0.5f - 0.75f;
    want[0] = 2.0f / 2.0f - 0.5f - 0.75f;
    CHECK(!memcmp(l, want, sizeof l));
    sampler_free(s);

    // window size 0: nothing is penalised
    sampler_params_init(&p);
    p.repetition_penalty = 3.0f;
    p.repetition_context_size = 0;
    s = sampler_new(&p, V);
    sampler_accept(s, 4);
    memcpy(l, base, sizeof l);
    sampler_process(s, l);
    CHECK(!memcmp(l, base, sizeof l));
    sampler_free(s);
}

// ---- seeds ----
static void test_seed(void) {
    const int V = 1000;
    float *base = xmalloc(sizeof(float) * V), *l = xmalloc(sizeof(float) * V), *pr = xmalloc(sizeof(float) * V);
    rng_state r;
    rng_seed(&r, 5);
    for (int i = 0; i < V; i++) base[i] = 2.0f * rng_normal(&r);
    sampler_params p;
    sampler_params_init(&p);
    p.temp = 0.9f;
    p.top_p = 0.95f;
    p.top_k = 200;
    p.repetition_penalty = 1.1f;
    p.seed = 42;
    int32_t a[500], b[500], c[500];
    sampler *sa = sampler_new(&p, V), *sb = sampler_new(&p, V);
    p.seed = 43;
    sampler *sc = sampler_new(&p, V);
    for (int k = 0; k < 500; k++) {
        memcpy(l, base, sizeof(float) * V);
        a[k] = sampler_sample(sa, l);
        if (k == 250) { // probs draws nothing: the stream is unchanged by it
            memcpy(l, base, sizeof(float) * V);
            sampler_probs(sb, l, pr);
        }
        memcpy(l, base, sizeof(float) * V);
        b[k] = sampler_sample(sb, l);
        memcpy(l, base, sizeof(float) * V);
        c[k] = sampler_sample(sc, l);
        sampler_accept(sa, a[k]);
        sampler_accept(sb, b[k]);
        sampler_accept(sc, c[k]);
    }
    CHECK_MSG(!memcmp(a, b, sizeof a), "same seed, different tokens");
    CHECK_MSG(memcmp(a, c, sizeof a) != 0, "different seeds, same 500 tokens");
    sampler_free(sa);
    sampler_free(sb);
    sampler_free(sc);
    free(base);
    free(l);
    free(pr);
}

// ---- validation and bad logits ----
static int new_fails(sampler_params p) {
    sampler *s = sampler_new(&p, 10);
    if (s) sampler_free(s);
    return s ? 0 : -1;
}

static void test_validation(void) {
    sampler_params p, q;
    sampler_params_init(&p);
    CHECK(sampler_params_validate(&p) == 0);
    q = p, q.temp = -0.5f;
    CHECK_ERR(sampler_params_validate(&q), "--temp must be >= 0, got -0.5");
    q = p, q.temp = NAN;
    CHECK_ERR(sampler_params_validate(&q), "--temp");
    q = p, q.top_p = 1.5f;
    CHECK_ERR(sampler_params_validate(&q), "--top-p must be in (0, 1], got 1.5");
    q = p, q.top_p = 0.0f;
    CHECK_ERR(sampler_params_validate(&q), "--top-p must be in (0, 1], got 0");
    q = p, q.top_k = -1;
    CHECK_ERR(sampler_params_validate(&q), "--top-k must be >= 0, got -1");
    q = p, q.min_p = 1.25f;
    CHECK_ERR(sampler_params_validate(&q), "--min-p must be in [0, 1], got 1.25");
    q = p, q.min_p = -0.1f;
    CHECK_ERR(sampler_params_validate(&q), "--min-p must be in [0, 1], got -0.1");
    q = p, q.repetition_penalty = 0.0f;
    CHECK_ERR(sampler_params_validate(&q), "--repetition-penalty must be > 0, got 0");
    q = p, q.repetition_penalty = -1.0f;
    CHECK_ERR(sampler_params_validate(&q), "--repetition-penalty must be > 0, got -1");
    q = p, q.repetition_context_size = -3;
    CHECK_ERR(sampler_params_validate(&q), "--repetition-context-size must be >= 0, got -3");
    q = p, q.presence_penalty = INFINITY;
    CHECK_ERR(sampler_params_validate(&q), "--presence-penalty");
    q = p, q.frequency_penalty = NAN;
    CHECK_ERR(sampler_params_validate(&q), "--frequency-penalty");
    q = p, q.top_p = 2.0f;
    CHECK_ERR(new_fails(q), "--top-p");
    CHECK(sampler_new(&p, 0) == NULL);
    // boundaries that are valid
    q = p, q.top_p = 1.0f, q.min_p = 1.0f, q.top_k = 0, q.repetition_context_size = 0, q.temp = 0.0f;
    CHECK(sampler_params_validate(&q) == 0);

    // NaN / no finite maximum in the logits
    q = p, q.temp = 1.0f;
    sampler *s = sampler_new(&q, 4);
    float l[4] = {0.0f, NAN, 1.0f, 2.0f};
    CHECK_ERR(sampler_sample(s, l), "logit 1 is NaN");
    float l2[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    CHECK_ERR(sampler_sample(s, l2), "largest logit");
    float l3[4] = {0.0f, INFINITY, 1.0f, 2.0f};
    CHECK_ERR(sampler_sample(s, l3), "largest logit");
    // greedy: the first of equal maxima, as mx.argmax
    q = p;
    sampler *g = sampler_new(&q, 4);
    float lg[4] = {1.0f, 3.0f, 3.0f, 2.0f};
    CHECK(sampler_sample(g, lg) == 1);
    sampler_free(g);
    // -inf logits are fine (masked tokens) and never drawn
    float pr[4];
    float l4[4] = {-INFINITY, 1.0f, -INFINITY, 1.0f};
    CHECK(sampler_probs(s, l4, pr) == 0 && pr[0] == 0.0f && pr[2] == 0.0f && pr[1] == 0.5f && pr[3] == 0.5f);
    sampler_free(s);
    sampler_free(NULL);
}

// ---- a naive reference of the documented rules ----
typedef struct {
    float x;
    int32_t i;
} xi;

static int cmp_desc(const void *a, const void *b) {
    const xi *p = a, *q = b;
    if (p->x != q->x) return p->x > q->x ? -1 : 1;
    return p->i < q->i ? -1 : 1;
}

// Full sort, groups of equal values, the rules as sampler.h states them.
static void ref_probs(const float *logits, int64_t V, const sampler_params *p, double *out) {
    memset(out, 0, sizeof(double) * (size_t)V);
    int64_t am = 0;
    for (int64_t i = 1; i < V; i++)
        if (logits[i] > logits[am]) am = i;
    if (p->temp == 0.0f) {
        out[am] = 1.0;
        return;
    }
    xi *o = xmalloc(sizeof(xi) * (size_t)V);
    char *alive = xmalloc((size_t)V);
    for (int64_t i = 0; i < V; i++) o[i] = (xi){logits[i] - logits[am], (int32_t)i}, alive[i] = 1;
    qsort(o, (size_t)V, sizeof(xi), cmp_desc);
    if (p->top_p > 0.0f && p->top_p < 1.0f) {
        double total = 0;
        for (int64_t i = 0; i < V; i++) total += expf(o[i].x);
        double above = 0;
        int dropping = 0;
        for (int64_t g = 0; g < V;) { // group [g, e) of equal x
            int64_t e = g;
            double mass = 0;
            while (e < V && o[e].x == o[g].x) mass += expf(o[e].x), e++;
            if (above >= (double)p->top_p * total) dropping = 1;
            for (int64_t k = g; k < e; k++)
                if (dropping) alive[o[k].i] = 0;
            above += mass;
            g = e;
        }
    }
    if (p->min_p > 0.0f) {
        float thr = (float)log((double)p->min_p);
        for (int64_t i = 0; i < V; i++)
            if (o[i].x < thr) alive[o[i].i] = 0;
    }
    if (p->top_k > 0) {
        int64_t seen = 0;
        for (int64_t i = 0; i < V; i++)
            if (alive[o[i].i] && ++seen > p->top_k) alive[o[i].i] = 0;
    }
    float inv = (float)(1.0 / (double)p->temp);
    double sum = 0;
    for (int64_t i = 0; i < V; i++)
        if (alive[o[i].i]) sum += out[o[i].i] = expf(o[i].x * inv);
    for (int64_t i = 0; i < V; i++) out[i] /= sum;
    free(o);
    free(alive);
}

static void test_against_reference(void) {
    const int64_t sizes[] = {1, 2, 7, 64, 1000, 32000, 151936};
    rng_state r;
    rng_seed(&r, 99);
    int bad_support = 0, n_cases = 0;
    double worst = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        int64_t V = sizes[si];
        float *base = xmalloc(sizeof(float) * (size_t)V), *l = xmalloc(sizeof(float) * (size_t)V);
        float *got = xmalloc(sizeof(float) * (size_t)V);
        double *want = xmalloc(sizeof(double) * (size_t)V);
        int reps = V > 10000 ? 4 : 40;
        for (int rep = 0; rep < reps; rep++) {
            float scale = 0.5f + 4.0f * rng_uniform(&r);
            int grid = rep % 3 == 0; // many exact ties
            for (int64_t i = 0; i < V; i++) {
                float v = scale * rng_normal(&r);
                base[i] = grid ? roundf(v * 2.0f) * 0.5f : v;
            }
            sampler_params p;
            sampler_params_init(&p);
            p.temp = rep % 7 == 0 ? 0.0f : 0.2f + 1.8f * rng_uniform(&r);
            p.top_p = rep % 2 ? 0.05f + 0.95f * rng_uniform(&r) : 1.0f;
            p.min_p = rep % 3 == 1 ? 0.3f * rng_uniform(&r) : 0.0f;
            p.top_k = rep % 4 == 3 ? 1 + (int)(rng_next(&r) % (uint64_t)(V + 5)) : 0;
            sampler *s = sampler_new(&p, V);
            memcpy(l, base, sizeof(float) * (size_t)V);
            CHECK(sampler_probs(s, l, got) == 0);
            ref_probs(base, V, &p, want);
            int64_t diff = 0;
            for (int64_t i = 0; i < V; i++) {
                diff += (got[i] > 0) != (want[i] > 0);
                worst = fmax(worst, fabs(got[i] - want[i]));
            }
            if (diff) {
                bad_support++;
                fprintf(stderr, "  V %lld temp %g top_p %g min_p %g top_k %d: %lld tokens differ in support\n",
                        (long long)V, p.temp, p.top_p, p.min_p, p.top_k, (long long)diff);
            }
            n_cases++;
            sampler_free(s);
        }
        free(base);
        free(l);
        free(got);
        free(want);
    }
    CHECK_MSG(bad_support == 0, "%d of %d random cases keep other tokens than the reference", bad_support, n_cases);
    CHECK_MSG(worst <= 1e-6, "max abs diff %.3g vs the reference", worst);
    fprintf(stderr, "  naive reference: %d random cases, max abs diff %.2g\n", n_cases, worst);
}

// ---- speed at Qwen's vocabulary ----
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void bench_one(const char *what, const float *base, int64_t V, sampler_params p) {
    float *l = xmalloc(sizeof(float) * (size_t)V);
    sampler *s = sampler_new(&p, V);
    for (int i = 0; i < 20; i++) sampler_accept(s, (int32_t)(i * 7919 % V));
    const int steps = 50;
    double t0 = now_s();
    long sum = 0;
    for (int k = 0; k < steps; k++) {
        memcpy(l, base, sizeof(float) * (size_t)V);
        int32_t t = sampler_sample(s, l);
        sum += t;
        sampler_accept(s, t);
    }
    double ms = (now_s() - t0) * 1e3 / steps;
    CHECK(sum >= 0);
    fprintf(stderr, "  %-44s %.3f ms/token (incl. a %lld-float copy)\n", what, ms, (long long)V);
    sampler_free(s);
    free(l);
}

static void test_speed(void) {
    const int64_t V = 151936;
    float *peaked = xmalloc(sizeof(float) * (size_t)V), *flat = xmalloc(sizeof(float) * (size_t)V);
    hash_logits(peaked, V);
    rng_state r;
    rng_seed(&r, 3);
    for (int64_t i = 0; i < V; i++) flat[i] = rng_normal(&r);
    sampler_params p;
    sampler_params_init(&p);
    p.temp = 0.7f;
    p.top_p = 0.9f;
    p.repetition_penalty = 1.1f;
    bench_one("vocab 151936, peaked, temp .7 top-p .9 rep 1.1", peaked, V, p);
    bench_one("vocab 151936, N(0,1), temp .7 top-p .9 rep 1.1", flat, V, p);
    p.top_k = 50;
    p.min_p = 0.05f;
    bench_one("vocab 151936, N(0,1), + top-k 50 min-p .05", flat, V, p);
    sampler_params_init(&p);
    p.temp = 1.0f;
    bench_one("vocab 151936, N(0,1), temp 1 only", flat, V, p);
    free(peaked);
    free(flat);
}

int main(void) {
    test_validation();
    test_penalties_exact();
    test_seed();
    test_goldens();
    test_against_reference();
    test_speed();
    TEST_MAIN_END();
}

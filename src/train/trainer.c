// trainer.c — data → length-sorted packed batches → LoRA steps → reports,
// validation, checkpoints.
#include "trainer.h"

#include "../generate/generate.h"
#include "block.h"
#include "dataset.h"
#include "optim.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

// ---- tokenized examples ----
typedef struct {
    int32_t *ids;
    int64_t n;            // tokens after truncation
    int64_t target_start; // first target token index
} example;

typedef struct {
    example *ex;
    int64_t n;
    int64_t truncated, tokens_cut;
} example_set;

static void examples_release(example_set *s) {
    for (int64_t i = 0; i < s->n; i++) free(s->ex[i].ids);
    free(s->ex);
    memset(s, 0, sizeof *s);
}

static int examples_load(gen_model *g, const char *path, const train_config *cfg, example_set *out) {
    memset(out, 0, sizeof *out);
    dataset ds;
    if (dataset_load(&ds, path)) return -1;
    out->ex = xcalloc((size_t)ds.n, sizeof *out->ex);
    tok_ids ids;
    tok_ids_init(&ids);
    int rc = 0;
    for (int64_t i = 0; i < ds.n && rc == 0; i++) {
        int64_t start;
        if (record_tokenize(g, &ds.recs[i], NULL, &ids, &start)) {
            rc = -1;
            break;
        }
        if (!cfg->mask_prompt) start = 1; // every token after the first is a target
        int64_t n = (int64_t)ids.n;
        if (n > cfg->max_seq_length) {
            out->truncated++;
            out->tokens_cut += n - cfg->max_seq_length;
            n = cfg->max_seq_length;
        }
        if (n < 2 || start >= n) { // nothing left to learn after truncation
            fprintf(stderr, "lorac: warning: %s:%lld: no target tokens within max_seq_length %lld; skipped\n", path,
                    (long long)ds.recs[i].line, (long long)cfg->max_seq_length);
            continue;
        }
        example *e = &out->ex[out->n++];
        e->ids = xmalloc((size_t)n * sizeof(int32_t));
        memcpy(e->ids, ids.ids, (size_t)n * sizeof(int32_t));
        e->n = n, e->target_start = start;
    }
    tok_ids_release(&ids);
    dataset_release(&ds);
    if (rc == 0 && out->n == 0) rc = err_set("%s: no usable examples", path);
    if (rc) examples_release(out);
    return rc;
}

// ---- batches ----
// mlx-lm's iterate_batches: examples sorted by length, cut into batches of
// batch_size, batch order shuffled each epoch. lorac packs each batch's
// sequences back to back instead of padding them.
typedef struct {
    int64_t *order;   // example indices sorted by length
    int64_t n_batches;
    int64_t bs;
} batch_plan;

static int cmp_len(const void *a, const void *b, void *ctx) {
    const example *e = ctx;
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    if (e[x].n != e[y].n) return e[x].n < e[y].n ? -1 : 1;
    return x < y ? -1 : x > y;
}

static void plan_init(batch_plan *p, const example_set *s, int64_t bs) {
    p->bs = bs;
    p->order = xmalloc((size_t)s->n * sizeof(int64_t));
    for (int64_t i = 0; i < s->n; i++) p->order[i] = i;
    qsort_r(p->order, (size_t)s->n, sizeof(int64_t), cmp_len, s->ex);
    p->n_batches = s->n / bs; // mlx-lm drops the incomplete last batch
    if (p->n_batches == 0) p->n_batches = 1, p->bs = s->n;
}

// The batch index to use for global batch number k (epoch = k / n_batches),
// from a per-epoch permutation seeded by (seed, epoch).
static int64_t plan_batch(const batch_plan *p, uint64_t seed, int64_t k, int shuffle) {
    int64_t nb = p->n_batches, epoch = k / nb, i = k % nb;
    if (!shuffle) return i;
    rng_state r;
    rng_seed(&r, seed * 1000003ull + (uint64_t)epoch);
    int64_t *perm = xmalloc((size_t)nb * sizeof(int64_t));
    for (int64_t j = 0; j < nb; j++) perm[j] = j;
    for (int64_t j = nb - 1; j > 0; j--) {
        int64_t x = (int64_t)(rng_next(&r) % (uint64_t)(j + 1)), t = perm[j];
        perm[j] = perm[x], perm[x] = t;
    }
    int64_t b = perm[i];
    free(perm);
    return b;
}

typedef struct {
    int64_t start[513];
    int32_t *tokens, *targets;
    train_batch b;
    int64_t n_targets;
} packed;

static void pack(packed *pk, const example_set *s, const batch_plan *p, int64_t bi) {
    int64_t T = 0, ns = 0, nt = 0;
    for (int64_t j = 0; j < p->bs && ns < 512; j++) {
        const example *e = &s->ex[p->order[bi * p->bs + j]];
        pk->start[ns++] = T;
        for (int64_t i = 0; i < e->n; i++) {
            pk->tokens[T + i] = e->ids[i];
            int32_t tgt = i + 1 < e->n && i + 1 >= e->target_start ? e->ids[i + 1] : -1;
            pk->targets[T + i] = tgt;
            nt += tgt >= 0;
        }
        T += e->n;
    }
    pk->start[ns] = T;
    pk->b = (train_batch){ns, T, pk->start, pk->tokens, pk->targets};
    pk->n_targets = nt;
}

// ---- Ctrl-C ----
static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

// ---- evaluation ----
// Mean target loss over the first n_batches batches (all when < 0), in fixed order.
static int evaluate(train_ctx *c, const example_set *s, int64_t bs, int64_t n_batches, packed *pk, double *mean,
                    int64_t *n_tokens) {
    batch_plan p;
    plan_init(&p, s, bs);
    int64_t nb = n_batches < 0 || n_batches > p.n_batches ? p.n_batches : n_batches;
    double sum = 0;
    int64_t n = 0;
    int saved = c->training;
    c->training = 0;
    for (int64_t b = 0; b < nb; b++) {
        pack(pk, s, &p, b);
        double ls;
        int64_t nt;
        if (train_step(c, &pk->b, 0, 1.0f, &ls, &nt)) {
            c->training = saved;
            free(p.order);
            return -1;
        }
        sum += ls, n += nt;
    }
    c->training = saved;
    free(p.order);
    *mean = n ? sum / (double)n : NAN;
    *n_tokens = n;
    return 0;
}

// ---- checkpoints ----
// The optimizer moments, the gradients accumulated so far in the current group,
// and the counters: enough to resume anywhere, bitwise identical.
static int save_state(const char *path, const optimizer *o, const float *grads, int64_t iter, int64_t trained_tokens,
                      double best_val, int64_t best_iter, int64_t bad_evals) {
    char meta_buf[6][64];
    snprintf(meta_buf[0], 64, "%lld", (long long)iter);
    snprintf(meta_buf[1], 64, "%lld", (long long)o->step);
    snprintf(meta_buf[2], 64, "%lld", (long long)trained_tokens);
    snprintf(meta_buf[3], 64, "%.17g", best_val);
    snprintf(meta_buf[4], 64, "%lld", (long long)best_iter);
    snprintf(meta_buf[5], 64, "%lld", (long long)bad_evals);
    st_meta meta[] = {{"iter", meta_buf[0]},       {"optimizer_step", meta_buf[1]}, {"trained_tokens", meta_buf[2]},
                      {"best_val_loss", meta_buf[3]}, {"best_iter", meta_buf[4]},  {"bad_evals", meta_buf[5]},
                      {"format", "lorac-training-state"}};
    st_tensor_spec specs[3] = {{"grads", DTYPE_F32, 1, {o->n}}, {"optimizer.m", DTYPE_F32, 1, {o->n}},
                               {"optimizer.v", DTYPE_F32, 1, {o->n}}};
    const void *data[3] = {grads, o->m, o->v};
    return st_write_file(path, specs, data, o->v ? 3 : 2, meta, 7);
}

static int load_state(const char *path, optimizer *o, float *grads, int64_t *iter, int64_t *trained_tokens, double *best_val,
                      int64_t *best_iter, int64_t *bad_evals) {
    st_file f;
    if (st_open(&f, path)) return -1;
    int rc = 0;
    const char *fmt = st_meta_get(&f, "format");
    if (!fmt || strcmp(fmt, "lorac-training-state") != 0) rc = err_set("%s: not a lorac training state file", path);
    const tensor_view *m = st_find(&f, "optimizer.m"), *v = st_find(&f, "optimizer.v"), *gr = st_find(&f, "grads");
    if (rc == 0 && (!m || !gr || tensor_numel(gr) != o->n || m->type != DTYPE_F32 || tensor_numel(m) != o->n || (o->v && (!v || tensor_numel(v) != o->n))))
        rc = err_set("%s: optimizer state does not match this run (%lld parameters, %s)", path, (long long)o->n,
                     m ? "another size" : "none stored");
    if (rc == 0) {
        memcpy(o->m, m->data, (size_t)o->n * sizeof(float));
        memcpy(grads, gr->data, (size_t)o->n * sizeof(float));
        if (o->v) memcpy(o->v, v->data, (size_t)o->n * sizeof(float));
        *iter = atoll(st_meta_get(&f, "iter"));
        o->step = atoll(st_meta_get(&f, "optimizer_step"));
        *trained_tokens = atoll(st_meta_get(&f, "trained_tokens"));
        *best_val = strtod(st_meta_get(&f, "best_val_loss"), NULL);
        *best_iter = atoll(st_meta_get(&f, "best_iter"));
        *bad_evals = atoll(st_meta_get(&f, "bad_evals"));
    }
    st_close(&f);
    return rc;
}

// The state file that belongs to an adapters file: X_adapters.safetensors ->
// X_state.safetensors; adapters.safetensors -> training_state.safetensors.
static char *state_path_for(const char *adapters) {
    const char *slash = strrchr(adapters, '/');
    const char *base = slash ? slash + 1 : adapters;
    size_t dir_len = (size_t)(base - adapters);
    const char *suffix = "_adapters.safetensors";
    size_t bl = strlen(base), sl = strlen(suffix);
    if (bl > sl && strcmp(base + bl - sl, suffix) == 0)
        return xasprintf("%.*s%.*s_state.safetensors", (int)dir_len, adapters, (int)(bl - sl), base);
    return xasprintf("%.*straining_state.safetensors", (int)dir_len, adapters);
}

static int save_checkpoint(const train_config *cfg, const model *m, const lora_set *s, const optimizer *o, int64_t iter,
                           int64_t trained, double best_val, int64_t best_iter, int64_t bad, int numbered) {
    char *ad = path_join(cfg->adapter_path, "adapters.safetensors");
    char *st = path_join(cfg->adapter_path, "training_state.safetensors");
    int rc = lora_save(s, m, ad) || save_state(st, o, s->grads, iter, trained, best_val, best_iter, bad) ? -1 : 0;
    if (rc == 0 && numbered) {
        char name[64], sname[64];
        snprintf(name, sizeof name, "%07lld_adapters.safetensors", (long long)iter);
        snprintf(sname, sizeof sname, "%07lld_state.safetensors", (long long)iter);
        char *p1 = path_join(cfg->adapter_path, name), *p2 = path_join(cfg->adapter_path, sname);
        rc = lora_save(s, m, p1) || save_state(p2, o, s->grads, iter, trained, best_val, best_iter, bad) ? -1 : 0;
        free(p1);
        free(p2);
    }
    free(ad);
    free(st);
    return rc;
}

// ---- metrics ----
static void metric(FILE *f, json_t *o) {
    if (!f) {
        json_decref(o);
        return;
    }
    char *s = json_dumps(o, JSON_COMPACT);
    fprintf(f, "%s\n", s);
    fflush(f);
    free(s);
    json_decref(o);
}

static double gb(double bytes) { return bytes / 1e9; }

// ---- setup shared by the run and the probe ----
typedef struct {
    gen_model g;
    example_set tr, va, te;
    lora_set lora;
    train_ctx ctx;
    optimizer opt;
    packed pk;
    int loaded, have_lora, have_ctx, have_opt;
    kernel_precision prev_precision; // restored on release: matmul_precision is the trainer's only
    kernel_precision precision;      // what the run computes in (matmul_precision resolved)
} trainer;

static void trainer_release(trainer *t) {
    free(t->pk.tokens), free(t->pk.targets);
    if (t->have_opt) optim_release(&t->opt);
    if (t->have_ctx) train_ctx_release(&t->ctx);
    if (t->have_lora) lora_release(&t->lora);
    examples_release(&t->tr), examples_release(&t->va), examples_release(&t->te);
    if (t->loaded) gen_model_release(&t->g);
    kernels_set_precision(t->prev_precision);
}

// matmul_precision resolved for this model and CPU (auto: bf16 products on bf16
// weights where the CPU has them), printed unless quiet.
static kernel_precision matmul_precision_for(const train_config *cfg, const layer_weights *trained, int quiet) {
    kernel_precision prec;
    const char *why;
    if (cfg->matmul_precision == TRAIN_MATMUL_AUTO) {
        const tensor_view *w = trained->q;
        int bf16_weights = w && w->type == DTYPE_BF16;
        int cpu = kernels_precision_effective(KERNEL_PREC_BF16) == KERNEL_PREC_BF16;
        prec = bf16_weights && cpu ? KERNEL_PREC_BF16 : KERNEL_PREC_FP32;
        why = bf16_weights && cpu ? "auto: bf16 weights, a CPU with bf16 products; matmul_precision: fp32 for exact products"
              : !bf16_weights     ? "auto: the weights are not bf16"
                                  : "auto: this CPU has no bf16 products";
    } else {
        prec = (kernel_precision)cfg->matmul_precision;
        why = "matmul_precision";
        if (kernels_precision_effective(prec) != prec) {
            if (!quiet)
                fprintf(stderr, "lorac: warning: matmul_precision %s needs %s, which this CPU (%s) lacks: computing in fp32\n",
                        kernel_precision_name(prec), prec == KERNEL_PREC_FAST ? "AMX" : "AVX-512 BF16 or AMX",
                        kernel_isa_name(kernels_isa()));
            prec = KERNEL_PREC_FP32;
        }
    }
    if (!quiet)
        fprintf(stderr, "Matmul precision: %s — %s (%s)\n", kernel_precision_name(prec),
                prec == KERNEL_PREC_BF16   ? "activations and weights rounded to bf16, sums in fp32"
                : prec == KERNEL_PREC_FAST ? "activations in two bf16 parts (AMX)"
                                           : "exact fp32 products",
                why);
    return prec;
}

// Model, tokenized data (train when training, valid when validating, test when
// testing), adapters (resumed weights when resume_adapter_file), buffers and the
// optimizer. Prints the truncation warning and the trainable-parameter line.
static int trainer_setup(trainer *t, train_config *cfg, int quiet) {
    memset(t, 0, sizeof *t);
    t->prev_precision = kernels_precision();
    if (train_config_check_data(cfg)) return -1;
    if (gen_model_load(&t->g, cfg->model)) return -1;
    t->loaded = 1;
    char *trp = path_join(cfg->data, "train.jsonl"), *vap = path_join(cfg->data, "valid.jsonl");
    char *tep = path_join(cfg->data, "test.jsonl");
    int rc = -1;
    if (cfg->train && examples_load(&t->g, trp, cfg, &t->tr)) goto out;
    if (file_exists(vap) && cfg->val_batches != 0 && examples_load(&t->g, vap, cfg, &t->va)) goto out;
    if (cfg->test && examples_load(&t->g, tep, cfg, &t->te)) goto out;
    if (t->tr.truncated && !quiet)
        fprintf(stderr, "lorac: warning: %lld of %lld training examples are longer than max_seq_length %lld: %lld tokens cut\n",
                (long long)t->tr.truncated, (long long)t->tr.n, (long long)cfg->max_seq_length, (long long)t->tr.tokens_cut);
    // adapters
    uint32_t mask = (1u << PROJ_COUNT) - 1;
    if (cfg->lora_parameters.n_keys &&
        lora_targets_from_names((const char *const *)cfg->lora_parameters.keys, cfg->lora_parameters.n_keys, &mask)) {
        err_prefix("lora_parameters.keys");
        goto out;
    }
    lora_set *lora = &t->lora;
    if (cfg->fine_tune_type == FT_FULL ? lora_init_full(lora, &t->g.m, cfg->num_layers)
                                       : lora_init(lora, &t->g.m, cfg->num_layers, mask, cfg->lora_parameters.rank,
                                                   (float)cfg->lora_parameters.scale, (float)cfg->lora_parameters.dropout,
                                                   cfg->fine_tune_type == FT_DORA, (uint64_t)cfg->seed))
        goto out;
    t->have_lora = 1;
    if (cfg->resume_adapter_file) {
        if (lora_load_into(lora, &t->g.m, cfg->resume_adapter_file)) goto out;
        lora_refresh(lora, &t->g.m);
    }
    if (!quiet) {
        char b1[32], b2[32];
        double total = (double)model_param_count(&t->g.m.cfg);
        fprintf(stderr, "Trainable parameters: %.3f%% (%s/%s) — ", 100.0 * (double)lora->n_params / total,
                fmt_count(b1, sizeof b1, (double)lora->n_params), fmt_count(b2, sizeof b2, total));
        if (lora->full) fprintf(stderr, "full fine-tuning of the last %lld layers\n", (long long)(lora->n_layers - lora->first_layer));
        else fprintf(stderr, "%s rank %lld, scale %g, dropout %g on the last %lld layers\n", cfg->fine_tune_type == FT_DORA ? "DoRA" : "LoRA",
                     (long long)lora->rank, lora->scale, lora->dropout, (long long)(lora->n_layers - lora->first_layer));
    }
    kernel_precision prec = matmul_precision_for(cfg, &t->g.m.layers[lora->first_layer], quiet);
    kernels_set_precision(prec);
    t->precision = prec;
    // buffers sized for the largest batch any set can make
    int64_t max_tokens = cfg->batch_size * cfg->max_seq_length;
    if (train_ctx_init(&t->ctx, &t->g.m, lora, max_tokens, cfg->grad_checkpoint)) goto out;
    t->have_ctx = 1;
    t->pk.tokens = xmalloc((size_t)max_tokens * sizeof(int32_t));
    t->pk.targets = xmalloc((size_t)max_tokens * sizeof(int32_t));
    // optimizer
    optimizer *opt = &t->opt;
    optim_kind ok = cfg->optimizer == OPT_ADAMW ? OPTIM_ADAMW : cfg->optimizer == OPT_SGD ? OPTIM_SGD : OPTIM_ADAM;
    optim_init(opt, ok, lora->n_params);
    t->have_opt = 1;
    if (ok == OPTIM_SGD) {
        opt->momentum = (float)cfg->optimizer_config.sgd.momentum;
        opt->weight_decay = (float)cfg->optimizer_config.sgd.weight_decay;
        opt->dampening = (float)cfg->optimizer_config.sgd.dampening;
        opt->nesterov = cfg->optimizer_config.sgd.nesterov;
    } else {
        const train_adam_config *ac = ok == OPTIM_ADAMW ? &cfg->optimizer_config.adamw : &cfg->optimizer_config.adam;
        opt->beta1 = (float)ac->betas[0], opt->beta2 = (float)ac->betas[1], opt->eps = (float)ac->eps;
        opt->weight_decay = ok == OPTIM_ADAMW ? (float)ac->weight_decay : 0.0f;
        opt->bias_correction = ac->bias_correction;
    }
    rc = 0;
out:
    free(trp), free(vap), free(tep);
    if (rc) trainer_release(t);
    return rc;
}

// On resume at iteration k, drop the metrics lines of iterations after k that an
// earlier, killed run wrote past its last checkpoint, so the log has each step once.
static int metrics_truncate(const char *path, int64_t keep_through) {
    char *text;
    size_t len;
    if (!file_exists(path)) return 0;
    if (file_read_all(path, &text, &len)) return -1;
    strbuf sb;
    sb_init(&sb);
    for (char *line = text, *nl; *line; line = nl) {
        nl = strchr(line, '\n');
        nl = nl ? nl + 1 : line + strlen(line);
        json_t *o = json_loadb(line, (size_t)(nl - line), 0, NULL);
        int keep = !o || json_integer_value(json_object_get(o, "step")) <= keep_through;
        json_decref(o);
        if (keep) sb_append(&sb, line, (size_t)(nl - line));
    }
    int rc = sb.len == len ? 0 : file_write_atomic(path, sb.buf ? sb.buf : "", sb.len);
    sb_release(&sb);
    free(text);
    return rc;
}

// ---- the run ----
int train_run(train_config *cfg) {
    trainer t;
    int rc = -1;
    batch_plan plan = {0};
    FILE *mf = NULL;
    if (!cfg->train && !cfg->test) {
        err_set("nothing to do: neither 'train' nor 'test' is set (mlx-lm's default for both is false)");
        err_hint("add `train: true` to the YAML or pass --train");
        return -1;
    }
    if (trainer_setup(&t, cfg, 0)) return -1;
    gen_model *gm = &t.g;
    example_set *tr = &t.tr, *va = &t.va, *te = &t.te;
    lora_set *lora = &t.lora;
    train_ctx *ctx = &t.ctx;
    optimizer *opt = &t.opt;
    packed *pk = &t.pk;
    if (mkdir_p(cfg->adapter_path)) goto done;
    char *cfg_json = path_join(cfg->adapter_path, "adapter_config.json");
    if (train_config_save_json(cfg, cfg_json)) {
        free(cfg_json);
        goto done;
    }
    free(cfg_json);
    int want_train = cfg->train;
    int64_t iters = want_train ? train_config_iters(cfg, tr->n) : 0, start_iter = 0, trained_tokens = 0, best_iter = 0;
    int64_t bad_evals = 0;
    double best_val = INFINITY;
    if (cfg->resume_adapter_file) {
        char *sp = state_path_for(cfg->resume_adapter_file);
        if (file_exists(sp)) {
            if (load_state(sp, opt, lora->grads, &start_iter, &trained_tokens, &best_val, &best_iter, &bad_evals)) {
                free(sp);
                goto done;
            }
            fprintf(stderr, "Resuming from %s at iteration %lld (optimizer state from %s)\n", cfg->resume_adapter_file,
                    (long long)start_iter, sp);
        } else {
            fprintf(stderr, "lorac: warning: no training state next to %s (%s): resuming the weights only, from iteration 0\n",
                    cfg->resume_adapter_file, sp);
        }
        free(sp);
    }
    char *mpath = path_join(cfg->adapter_path, "metrics.jsonl");
    if (start_iter > 0 && metrics_truncate(mpath, start_iter)) {
        free(mpath);
        goto done;
    }
    mf = fopen(mpath, start_iter > 0 ? "ab" : "wb");
    if (!mf) {
        err_set("%s: cannot write", mpath);
        free(mpath);
        goto done;
    }
    free(mpath);
    if (want_train) {
        plan_init(&plan, tr, cfg->batch_size);
        double epoch_len = (double)plan.n_batches;
        fprintf(stderr, "Training: %lld examples, %lld batches of %lld per epoch, %lld iterations (%.2f epochs), "
                        "grad accumulation %lld; batches packed without padding\n",
                (long long)tr->n, (long long)plan.n_batches, (long long)plan.bs, (long long)iters,
                (double)iters / epoch_len, (long long)cfg->grad_accumulation_steps);
    }
    interrupted = 0;
    struct sigaction sa = {0}, old_sa;
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old_sa);
    int tty = isatty(2);
    double t_report = now_seconds(), loss_acc = 0;
    int64_t tok_acc = 0, tgt_acc = 0, it_acc = 0;
    int64_t accum = cfg->grad_accumulation_steps > 0 ? cfg->grad_accumulation_steps : 1;
    for (int64_t it = start_iter + 1; it <= iters; it++) {
        // validation before the update at iteration 1, every steps_per_eval, and at the end
        if (va->n && cfg->val_batches != 0 && (it == 1 || it % cfg->steps_per_eval == 0 || it == iters)) {
            double vl, t0 = now_seconds();
            int64_t vn;
            if (evaluate(ctx, va, cfg->batch_size, cfg->val_batches, pk, &vl, &vn)) goto restore;
            double took = now_seconds() - t0;
            if (tty) fprintf(stderr, "\r\033[K");
            fprintf(stderr, "Iter %lld: Val loss %.3f, Val took %.3fs\n", (long long)(it == 1 ? 0 : it), vl, took);
            metric(mf, json_pack("{s:I,s:f,s:f,s:I,s:f}", "step", (json_int_t)(it == 1 ? 0 : it), "epoch",
                                 (double)(it - 1) / (double)plan.n_batches, "val_loss", vl, "val_tokens", (json_int_t)vn,
                                 "val_seconds", took));
            if (vl < best_val) {
                best_val = vl, best_iter = it == 1 ? 0 : it, bad_evals = 0;
                char *bp = path_join(cfg->adapter_path, "best_adapters.safetensors");
                int src = lora_save(lora, &gm->m, bp);
                free(bp);
                if (src) goto restore;
            } else if (++bad_evals >= cfg->early_stopping_patience && cfg->early_stopping_patience > 0) {
                fprintf(stderr, "Early stopping at iteration %lld: validation loss has not improved for %lld "
                                "evaluations (best %.3f at iteration %lld, saved as best_adapters.safetensors)\n",
                        (long long)it, (long long)bad_evals, best_val, (long long)best_iter);
                iters = it - 1;
                break;
            }
        }
        // one accumulation group: gradients averaged over the targets of all its batches
        int64_t group_start = ((it - 1) / accum) * accum; // global batch index of the group's first batch
        if ((it - 1) % accum == 0) memset(lora->grads, 0, (size_t)lora->n_params * sizeof(float));
        int64_t group_targets = 0;
        for (int64_t k = group_start; k < group_start + accum && k < iters; k++) {
            int64_t bi = plan_batch(&plan, (uint64_t)cfg->seed, k, 1);
            for (int64_t j = 0; j < plan.bs; j++) {
                const example *e = &tr->ex[plan.order[bi * plan.bs + j]];
                group_targets += e->n - (e->target_start > 1 ? e->target_start : 1);
            }
        }
        pack(pk, tr, &plan, plan_batch(&plan, (uint64_t)cfg->seed, it - 1, 1));
        ctx->dropout_seed = (uint64_t)cfg->seed * 0x9e3779b97f4a7c15ull + (uint64_t)it;
        double ls;
        int64_t nt;
        if (train_step(ctx, &pk->b, 1, 1.0f / (float)(group_targets > 0 ? group_targets : 1), &ls, &nt)) goto restore;
        loss_acc += ls, tgt_acc += nt, tok_acc += pk->b.T, it_acc++;
        trained_tokens += pk->b.T;
        double lr = train_config_lr(cfg, opt->step);
        if (it % accum == 0 || it == iters) {
            optim_update(opt, lora->params, lora->grads, (float)lr);
            lora_refresh(lora, &gm->m);
        }
        if (tty) {
            double el = now_seconds() - t_report;
            fprintf(stderr, "\r\033[K[%lld/%lld] loss %.3f  %.1f tok/s  ETA %.0f s", (long long)it, (long long)iters,
                    tgt_acc ? loss_acc / (double)tgt_acc : 0, el > 0 ? (double)tok_acc / el : 0,
                    el > 0 && it_acc ? el / (double)it_acc * (double)(iters - it) : 0);
        }
        if (it % cfg->steps_per_report == 0 || it == iters) {
            double el = now_seconds() - t_report, tl = tgt_acc ? loss_acc / (double)tgt_acc : NAN;
            if (tty) fprintf(stderr, "\r\033[K");
            fprintf(stderr, "Iter %lld: Train loss %.3f, Learning Rate %.3e, It/sec %.3f, Tokens/sec %.3f, Trained Tokens %lld, Peak mem %.3f GB\n",
                    (long long)it, tl, lr, (double)it_acc / el, (double)tok_acc / el, (long long)trained_tokens,
                    gb(peak_rss_bytes()));
            metric(mf, json_pack("{s:I,s:f,s:f,s:f,s:f,s:f,s:I,s:f}", "step", (json_int_t)it, "epoch",
                                 (double)it / (double)plan.n_batches, "train_loss", tl, "learning_rate", lr, "it_per_sec",
                                 (double)it_acc / el, "tokens_per_sec", (double)tok_acc / el, "trained_tokens",
                                 (json_int_t)trained_tokens, "peak_rss_gb", gb(peak_rss_bytes())));
            loss_acc = 0, tok_acc = tgt_acc = it_acc = 0, t_report = now_seconds();
        }
        if (it % cfg->save_every == 0 && it != iters) {
            if (save_checkpoint(cfg, &gm->m, lora, opt, it, trained_tokens, best_val, best_iter, bad_evals, it % cfg->save_every == 0))
                goto restore;
            if (it % cfg->save_every == 0)
                fprintf(stderr, "Iter %lld: Saved adapter weights to %s/adapters.safetensors and %s/%07lld_adapters.safetensors.\n",
                        (long long)it, cfg->adapter_path, cfg->adapter_path, (long long)it);
        }
        if (interrupted) {
            if (save_checkpoint(cfg, &gm->m, lora, opt, it, trained_tokens, best_val, best_iter, bad_evals, 0)) goto restore;
            fprintf(stderr, "\nInterrupted at iteration %lld; saved %s/adapters.safetensors and training_state.safetensors.\n"
                            "Resume with: --resume-adapter-file %s/adapters.safetensors\n",
                    (long long)it, cfg->adapter_path, cfg->adapter_path);
            rc = 130;
            goto restore;
        }
    }
    if (want_train) {
        if (save_checkpoint(cfg, &gm->m, lora, opt, iters, trained_tokens, best_val, best_iter, bad_evals, 0)) goto restore;
        fprintf(stderr, "Saved final weights to %s/adapters.safetensors.\n", cfg->adapter_path);
        if (isfinite(best_val))
            fprintf(stderr, "Best validation loss %.3f at iteration %lld (best_adapters.safetensors)\n", best_val, (long long)best_iter);
    }
    if (cfg->test) {
        double tl;
        int64_t tn;
        if (evaluate(ctx, te, cfg->batch_size, cfg->test_batches, pk, &tl, &tn)) goto restore;
        fprintf(stderr, "Test loss %.3f, Test ppl %.3f.\n", tl, exp(tl));
        metric(mf, json_pack("{s:I,s:f,s:f,s:I}", "step", (json_int_t)iters, "test_loss", tl, "test_ppl", exp(tl),
                             "test_tokens", (json_int_t)tn));
    }
    rc = 0;
restore:
    sigaction(SIGINT, &old_sa, NULL);
done:
    if (mf) fclose(mf);
    free(plan.order);
    trainer_release(&t);
    return rc;
}

// ---- timing probe ----
int train_probe(train_config *cfg, int steps, train_probe_result *out) {
    memset(out, 0, sizeof *out);
    train_config probe_cfg = *cfg; // the probe needs the training set; test data is not read
    probe_cfg.train = 1, probe_cfg.test = 0, probe_cfg.resume_adapter_file = NULL;
    trainer t;
    if (trainer_setup(&t, &probe_cfg, 1)) return -1;
    batch_plan plan;
    plan_init(&plan, &t.tr, cfg->batch_size);
    int64_t iters = train_config_iters(cfg, t.tr.n);
    double all = 0;
    for (int64_t b = 0; b < plan.n_batches; b++) {
        pack(&t.pk, &t.tr, &plan, b);
        all += (double)t.pk.b.T;
    }
    out->iters = iters;
    out->n_train = t.tr.n, out->n_valid = t.va.n;
    out->tokens_per_iter = all / (double)plan.n_batches;
    out->lora_params = t.lora.n_params;
    out->matmul_precision = (int)t.precision;
    // batches at evenly spaced length quantiles, longest last (the memory peak)
    int rc = 0;
    double secs = 0, toks = 0;
    if (steps < 1) steps = 1;
    for (int s = 0; s < steps && rc == 0; s++) {
        int64_t b = steps == 1 ? plan.n_batches / 2 : (plan.n_batches - 1) * (s + 1) / steps;
        pack(&t.pk, &t.tr, &plan, b);
        double ls, t0 = now_seconds();
        int64_t nt;
        t.ctx.dropout_seed = (uint64_t)s;
        rc = train_step(&t.ctx, &t.pk.b, 1, 1.0f, &ls, &nt);
        secs += now_seconds() - t0, toks += (double)t.pk.b.T;
    }
    if (rc == 0) {
        out->tokens_per_sec = secs > 0 ? toks / secs : 0;
        out->step_seconds = out->tokens_per_sec > 0 ? out->tokens_per_iter / out->tokens_per_sec : 0;
        out->est_train_seconds = out->step_seconds * (double)iters;
        // validation: forward only, about a third of a training step per token
        int64_t n_evals = 0;
        if (t.va.n && cfg->val_batches != 0) {
            n_evals = 2 + (cfg->steps_per_eval > 0 ? iters / cfg->steps_per_eval : 0);
            batch_plan vp;
            plan_init(&vp, &t.va, cfg->batch_size);
            int64_t nb = cfg->val_batches < 0 || cfg->val_batches > vp.n_batches ? vp.n_batches : cfg->val_batches;
            double vt = 0;
            for (int64_t b = 0; b < nb; b++) {
                pack(&t.pk, &t.va, &vp, b);
                vt += (double)t.pk.b.T;
            }
            free(vp.order);
            out->est_eval_seconds = out->tokens_per_sec > 0 ? (double)n_evals * vt / (3.0 * out->tokens_per_sec) : 0;
        }
        out->peak_rss = peak_rss_bytes();
    }
    free(plan.order);
    trainer_release(&t);
    return rc;
}

// ---- resuming ----
static int64_t state_iter(const char *state_path) {
    st_file f;
    if (!file_exists(state_path) || st_open(&f, state_path)) {
        err_clear();
        return -1;
    }
    const char *fmt = st_meta_get(&f, "format"), *it = st_meta_get(&f, "iter");
    int64_t iter = fmt && it && !strcmp(fmt, "lorac-training-state") ? atoll(it) : -1;
    st_close(&f);
    return iter;
}

char *train_find_checkpoint(const char *adapter_path, int64_t *iter) {
    char *best = NULL;
    int64_t best_iter = -1;
    DIR *d = opendir(adapter_path);
    if (!d) return NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *suffix = "_adapters.safetensors";
        size_t n = strlen(e->d_name), sl = strlen(suffix);
        int numbered = n == 7 + sl && strspn(e->d_name, "0123456789") == 7 && !strcmp(e->d_name + 7, suffix);
        if (!numbered && strcmp(e->d_name, "adapters.safetensors") != 0) continue;
        char *ad = path_join(adapter_path, e->d_name), *sp = state_path_for(ad);
        int64_t it = state_iter(sp);
        // on a tie the unnumbered pair wins: it is the same iteration, saved last
        if (it > best_iter || (it == best_iter && it >= 0 && !numbered)) {
            free(best);
            best = ad, best_iter = it;
        } else {
            free(ad);
        }
        free(sp);
    }
    closedir(d);
    if (best_iter < 0) {
        free(best);
        return NULL;
    }
    if (iter) *iter = best_iter;
    return best;
}

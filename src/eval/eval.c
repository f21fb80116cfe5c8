// eval.c — the eval run: collect the examples (a JSONL dataset, a prompt suite,
// or answers produced elsewhere), render each conversation with the model's chat
// template, generate with the sampler (every flag applied, seed + index per
// example), score every answer, add the teacher-forced loss on reference
// answers, aggregate, and return the results JSON. Also the base-vs-tuned deltas
// and the summary table.
#include "eval_internal.h"

#include "../io/jsonl.h"
#include "../train/dataset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

// ---- headline metrics (summary table, deltas, lorac compare) ----
const eval_headline eval_headlines[] = {
    {"loops.rate", "answers that loop", 1, "max_loop_rate"},
    {"stance.domain_rate", "answers favouring the domain", 1, "min_stance_rate"},
    {"formatting.well_formatted_rate", "well formatted", 1, "min_well_formatted_rate"},
    {"length_band.in_band_rate", "inside the length band", 1, "min_length_band_rate"},
    {"truncated.rate", "cut at max tokens", 1, "max_truncated_rate"},
    {"expected.rate", "expected content found", 1, "min_expected_rate"},
    {"stance.score.mean", "stance score (mean, -1..1)", 0, NULL},
    {"response_length.mean", "length, characters (mean)", 0, NULL},
    {"response_length.median", "length, characters (median)", 0, NULL},
    {"formatting_score.mean", "formatting score (mean, 0..3)", 0, NULL},
    {"distinct_2.mean", "distinct-2 (mean)", 0, NULL},
    {"rouge_l_f1.mean", "ROUGE-L F1 vs reference (mean)", 0, NULL},
    {"length_ratio.mean", "length / reference length (mean)", 0, NULL},
    {"reference_token_loss", "loss on reference answers", 0, NULL},
    {"tokens_per_sec.mean", "generation tokens/s (mean)", 0, NULL},
};
const int eval_n_headlines = (int)(sizeof eval_headlines / sizeof eval_headlines[0]);

json_t *eval_stat_at(const json_t *statistics, const char *path) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *cur = (json_t *)statistics;
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k && cur; k = strtok_r(NULL, ".", &save))
        cur = json_object_get(cur, k);
    return cur;
}

void eval_opts_init(eval_opts *o) {
    memset(o, 0, sizeof *o);
    sampler_params_init(&o->sampling);
    o->max_tokens = 256;
    o->max_examples = -1;
    o->reference_loss = 1;
    o->progress = 1;
    o->label = "eval";
}

// ---- examples ----
typedef struct {
    json_t *conv;              // messages to answer, ending on the user turn (owned)
    const char *instruction;   // the last user turn
    const char *reference;     // the reference answer, or NULL
    const char *response;      // --responses: the answer to score
    int truncated;             // --responses: 1/0, -1 unknown
    int64_t line;              // in the source file (0 for results[] entries)
    int64_t entry;             // results[] index (results-JSON inputs), else -1
    const char *category, *purpose;
    eval_item_opts opts;
    const json_t *sampling;    // suggested sampling (prompt suites), or NULL
    tok_ids prompt, ref_ids;   // rendered prompt; the whole conversation with the reference
    int64_t ref_start;         // first target token in ref_ids
} item;

typedef struct {
    item *it;
    int64_t n;
    dataset ds;
    eval_suite suite;
    json_t *responses;         // parsed --responses file (owns the strings)
    const char *path;          // what the examples came from
    const char *kind;          // "data", "prompts", "responses"
} item_set;

static item *add_item(item_set *s, const eval_rules *r) {
    s->it = xrealloc(s->it, (size_t)(s->n + 1) * sizeof *s->it);
    item *e = &s->it[s->n++];
    memset(e, 0, sizeof *e);
    e->truncated = -1;
    e->entry = -1;
    tok_ids_init(&e->prompt);
    tok_ids_init(&e->ref_ids);
    eval_item_opts_init(&e->opts, r);
    return e;
}

static void items_release(item_set *s) {
    for (int64_t i = 0; i < s->n; i++) {
        json_decref(s->it[i].conv);
        tok_ids_release(&s->it[i].prompt);
        tok_ids_release(&s->it[i].ref_ids);
    }
    free(s->it);
    dataset_release(&s->ds);
    eval_suite_release(&s->suite);
    json_decref(s->responses);
    memset(s, 0, sizeof *s);
}

// Split messages into the conversation to answer and the reference answer (a
// trailing assistant turn). The conversation must end on a user turn.
static int split_messages(const json_t *msgs, json_t **conv, const char **reference, const char **instruction,
                          const char *where) {
    size_t n = json_array_size(msgs);
    json_t *last = json_array_get(msgs, n - 1);
    const char *role = json_string_value(json_object_get(last, "role"));
    *reference = NULL;
    if (role && strcmp(role, "assistant") == 0) {
        *reference = json_string_value(json_object_get(last, "content"));
        n--;
    }
    json_t *u = n ? json_array_get(msgs, n - 1) : NULL;
    const char *urole = json_string_value(json_object_get(u, "role"));
    if (!urole || strcmp(urole, "user") != 0)
        return err_set("%s: the turn to answer must be the user's (the last message, or the one before the "
                       "assistant's reference answer)", where);
    *instruction = json_string_value(json_object_get(u, "content"));
    if (!*instruction) return err_set("%s: the user turn needs a string 'content'", where);
    *conv = json_array();
    for (size_t i = 0; i < n; i++) json_array_append(*conv, json_array_get(msgs, i));
    return 0;
}

static int items_from_data(item_set *s, const eval_opts *o, const eval_rules *r) {
    if (dataset_load_flags(&s->ds, o->data, DATASET_PROMPTS)) return -1;
    for (int64_t i = 0; i < s->ds.n && (o->max_examples < 0 || i < o->max_examples); i++) {
        const record *rec = &s->ds.recs[i];
        if (rec->kind == REC_TEXT)
            return err_set("%s:%lld: a 'text' record has no user turn to answer; eval reads 'messages' or "
                           "'prompt'/'completion' records", s->ds.path, (long long)rec->line);
        item *e = add_item(s, r);
        e->line = rec->line;
        if (rec->kind == REC_COMPLETION) {
            e->instruction = json_string_value(json_object_get(rec->obj, "prompt"));
            e->reference = json_string_value(json_object_get(rec->obj, "completion"));
            e->conv = json_pack("[{s:s,s:s}]", "role", "user", "content", e->instruction);
        } else {
            char *w = xasprintf("%s:%lld", s->ds.path, (long long)rec->line);
            int rc = split_messages(json_object_get(rec->obj, "messages"), &e->conv, &e->reference, &e->instruction, w);
            free(w);
            if (rc) return -1;
        }
    }
    return 0;
}

static int items_from_suite(item_set *s, const eval_opts *o, const eval_rules *r) {
    if (eval_suite_load(&s->suite, o->prompts, r)) return -1;
    for (int64_t i = 0; i < s->suite.n && (o->max_examples < 0 || i < o->max_examples); i++) {
        const eval_prompt *p = &s->suite.p[i];
        item *e = add_item(s, r);
        e->line = p->line;
        e->instruction = p->prompt;
        e->conv = json_pack("[{s:s,s:s}]", "role", "user", "content", p->prompt);
        e->category = p->category;
        e->purpose = p->purpose;
        e->opts = p->opts;
        e->sampling = p->sampling;
    }
    return 0;
}

// One answer produced elsewhere: the user turn (instruction / prompt / question /
// messages), the response, and optionally the reference (reference / completion
// / expected, or a trailing assistant turn in messages), truncated/finish_reason,
// category, expect.
static int response_item(item_set *s, const eval_rules *r, json_t *obj, const char *where) {
    if (!json_is_object(obj)) return err_set("%s: expected a JSON object", where);
    json_t *resp = json_object_get(obj, "response");
    if (!json_is_string(resp)) {
        static const char *const keys[] = {"response", "instruction", "prompt", "messages", "reference"};
        const char *k;
        json_t *v;
        json_object_foreach(obj, k, v) {
            const char *near = closest_match(k, keys, 5);
            if (near && strcmp(near, "response") == 0)
                return err_set("%s: no string 'response' (the answer to score); did you mean '%s' -> 'response'?", where, k);
        }
        return err_set("%s: no string 'response' (the answer to score)", where);
    }
    item *e = add_item(s, r);
    e->response = json_string_value(resp);
    json_t *msgs = json_object_get(obj, "messages");
    const char *instr = NULL;
    static const char *const ikeys[] = {"instruction", "prompt", "question"};
    for (int k = 0; k < 3 && !instr; k++) instr = json_string_value(json_object_get(obj, ikeys[k]));
    if (json_is_array(msgs) && json_array_size(msgs)) {
        if (split_messages(msgs, &e->conv, &e->reference, &e->instruction, where)) return -1;
    } else if (instr) {
        e->instruction = instr;
        e->conv = json_pack("[{s:s,s:s}]", "role", "user", "content", instr);
    } else {
        return err_set("%s: no user turn: expected 'instruction', 'prompt', 'question' or 'messages'", where);
    }
    static const char *const rkeys[] = {"reference", "completion", "expected"};
    for (int k = 0; k < 3 && !e->reference; k++) e->reference = json_string_value(json_object_get(obj, rkeys[k]));
    json_t *t = json_object_get(obj, "truncated");
    const char *fr = json_string_value(json_object_get(obj, "finish_reason"));
    if (json_is_boolean(t)) e->truncated = json_is_true(t);
    else if (fr) e->truncated = strcmp(fr, "length") == 0;
    e->category = json_string_value(json_object_get(obj, "category"));
    json_t *ex = json_object_get(obj, "expect");
    if (json_is_array(ex)) e->opts.expect = ex;
    json_t *band = json_object_get(obj, "length");
    band = json_object_get(band, "band");
    if (json_is_array(band) && json_array_size(band) == 2 && json_is_integer(json_array_get(band, 0)) &&
        json_is_integer(json_array_get(band, 1))) {
        e->opts.min_chars = json_integer_value(json_array_get(band, 0));
        e->opts.max_chars = json_integer_value(json_array_get(band, 1));
    }
    if (json_is_false(json_object_get(json_object_get(obj, "stance"), "counted"))) e->opts.stance = 0;
    if (json_is_false(json_object_get(json_object_get(obj, "formatting"), "counted"))) e->opts.formatting = 0;
    return 0;
}

typedef struct {
    item_set *s;
    const eval_opts *o;
    const eval_rules *r;
} responses_ctx;

static int response_line(void *ctx, json_t *obj, int64_t line) {
    responses_ctx *c = ctx;
    if (c->o->max_examples >= 0 && c->s->n >= c->o->max_examples) return 0;
    char *w = xasprintf("%s:%lld", c->o->responses, (long long)line);
    json_array_append(c->s->responses, obj);
    int rc = response_item(c->s, c->r, obj, w);
    if (rc == 0) c->s->it[c->s->n - 1].line = line;
    free(w);
    return rc;
}

static int items_from_responses(item_set *s, const eval_opts *o, const eval_rules *r) {
    char *text;
    size_t len;
    if (file_read_all(o->responses, &text, &len)) return -1;
    s->responses = json_array();
    json_error_t je;
    json_t *whole = json_loadb(text, len, 0, &je);
    int rc = 0;
    if (json_is_object(whole) && json_object_get(whole, "results")) {
        // a results file: lorac eval's, or the user's script's ({"results": [...]})
        json_t *res = json_object_get(whole, "results");
        if (!json_is_array(res)) rc = err_set("%s: a JSON object without a 'results' list (expected JSONL, or a results file)", o->responses);
        size_t i;
        json_t *e;
        json_array_foreach(res, i, e) {
            if (rc || (o->max_examples >= 0 && (int64_t)i >= o->max_examples)) break;
            char *w = xasprintf("%s: results[%zu]", o->responses, i);
            json_array_append(s->responses, e);
            rc = response_item(s, r, e, w);
            if (rc == 0) s->it[s->n - 1].entry = (int64_t)i;
            free(w);
        }
        json_decref(whole);
    } else {
        json_decref(whole);
        responses_ctx c = {s, o, r};
        rc = jsonl_read_buffer(text, len, o->responses, response_line, &c);
    }
    free(text);
    if (rc == 0 && s->n == 0) rc = err_set("%s: no responses", o->responses);
    return rc;
}

// ---- prompts and references as tokens ----
static json_t *with_system(const json_t *conv, const char *system_prompt) {
    json_t *m = json_array();
    const char *first = json_string_value(json_object_get(json_array_get(conv, 0), "role"));
    if (system_prompt && !(first && strcmp(first, "system") == 0))
        json_array_append_new(m, json_pack("{s:s,s:s}", "role", "system", "content", system_prompt));
    json_array_extend(m, (json_t *)conv);
    return m;
}

static int tokenize_item(gen_model *g, item *e, const eval_opts *o, const char *where, int want_prompt) {
    json_t *msgs = with_system(e->conv, o->system_prompt);
    int rc = 0;
    if (want_prompt) {
        if (g->has_template) rc = gen_chat_prompt(g, msgs, NULL, 1, o->chat_template_args, &e->prompt, NULL);
        else if (json_array_size(msgs) == 1) rc = gen_raw_prompt(g, e->instruction, &e->prompt);
        else rc = err_set("the model has no chat template to render a conversation of %zu turns", json_array_size(msgs));
    }
    if (rc == 0 && e->reference && o->reference_loss && g->has_template) {
        json_t *full = json_deep_copy(msgs);
        json_array_append_new(full, json_pack("{s:s,s:s}", "role", "assistant", "content", e->reference));
        json_t *obj = json_pack("{s:o}", "messages", full);
        record rec = {REC_MESSAGES, obj, e->line, where};
        rc = record_tokenize(g, &rec, o->chat_template_args, &e->ref_ids, &e->ref_start);
        json_decref(obj);
    }
    json_decref(msgs);
    return rc;
}

// ---- sampling per example ----
// The suite's suggestion for a flag the caller did not set.
static void suggested(const json_t *s, unsigned set, unsigned bit, const char *key, float *f, int *i, int64_t *l) {
    json_t *v = json_object_get(s, key);
    if (!json_is_number(v) || (set & bit)) return;
    if (f) *f = (float)json_number_value(v);
    if (i) *i = (int)json_integer_value(v);
    if (l) *l = json_integer_value(v);
}

static void item_sampling(const eval_opts *o, const item *e, int64_t index, sampler_params *p, int64_t *max_tokens) {
    *p = o->sampling;
    *max_tokens = o->max_tokens;
    unsigned set = o->sampling_set;
    const json_t *s = e->sampling;
    suggested(s, set, EVAL_SET_TEMP, "temp", &p->temp, NULL, NULL);
    suggested(s, set, EVAL_SET_TOP_P, "top_p", &p->top_p, NULL, NULL);
    suggested(s, set, EVAL_SET_TOP_K, "top_k", NULL, &p->top_k, NULL);
    suggested(s, set, EVAL_SET_MIN_P, "min_p", &p->min_p, NULL, NULL);
    suggested(s, set, EVAL_SET_REP, "repetition_penalty", &p->repetition_penalty, NULL, NULL);
    suggested(s, set, EVAL_SET_REP_CTX, "repetition_context_size", NULL, &p->repetition_context_size, NULL);
    suggested(s, set, EVAL_SET_PRESENCE, "presence_penalty", &p->presence_penalty, NULL, NULL);
    suggested(s, set, EVAL_SET_FREQUENCY, "frequency_penalty", &p->frequency_penalty, NULL, NULL);
    suggested(s, set, EVAL_SET_MAX_TOKENS, "max_tokens", NULL, NULL, max_tokens);
    p->seed = o->sampling.seed + (uint64_t)index;
}

// A float flag as the decimal it was written as (0.7f -> 0.7, not 0.699999988).
static double fdec(float f) {
    char b[32];
    snprintf(b, sizeof b, "%.7g", (double)f);
    return strtod(b, NULL);
}

static json_t *params_json(const sampler_params *p, int64_t max_tokens) {
    return json_pack("{s:f,s:f,s:i,s:f,s:f,s:i,s:f,s:f,s:I,s:I}", "temp", fdec(p->temp), "top_p", fdec(p->top_p), "top_k",
                     p->top_k, "min_p", fdec(p->min_p), "repetition_penalty", fdec(p->repetition_penalty),
                     "repetition_context_size", p->repetition_context_size, "presence_penalty", fdec(p->presence_penalty),
                     "frequency_penalty", fdec(p->frequency_penalty), "max_tokens", (json_int_t)max_tokens, "seed",
                     (json_int_t)p->seed);
}

// ---- progress ----
static void fmt_secs(char *b, size_t n, double s) {
    if (s >= 3600) snprintf(b, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else if (s >= 60) snprintf(b, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else snprintf(b, n, "%.0fs", s);
}

static void progress(const eval_opts *o, int64_t done, int64_t total, double elapsed, double last_s, double tps) {
    if (!o->progress) return;
    int tty = isatty(2);
    char eta[32], el[32];
    fmt_secs(eta, sizeof eta, done ? elapsed / (double)done * (double)(total - done) : 0);
    fmt_secs(el, sizeof el, elapsed);
    fprintf(stderr, "%s%s: %lld/%lld  last %.1f s", tty ? "\r\033[K" : "", o->label, (long long)done, (long long)total, last_s);
    if (tps > 0) fprintf(stderr, " (%.1f tok/s)", tps);
    fprintf(stderr, "  elapsed %s  ETA %s%s", el, eta, tty && done < total ? "" : "\n");
    fflush(stderr);
}

// ---- the run ----
typedef struct {
    strbuf text;
} collect;

static int collect_emit(void *ctx, const char *t, size_t n) {
    sb_append(&((collect *)ctx)->text, t, n);
    return 0;
}

static json_t *result_head(const item *e, int64_t index) {
    json_t *r = json_pack("{s:I}", "index", (json_int_t)index);
    if (e->line) json_object_set_new(r, "line", json_integer((json_int_t)e->line));
    if (e->entry >= 0) json_object_set_new(r, "entry", json_integer((json_int_t)e->entry));
    if (e->category) json_object_set_new(r, "category", json_string(e->category));
    if (e->purpose) json_object_set_new(r, "purpose", json_string(e->purpose));
    json_object_set_new(r, "instruction", json_string(e->instruction));
    if (json_array_size(e->conv) > 1) json_object_set(r, "messages", e->conv);
    if (e->reference) json_object_set_new(r, "reference", json_string(e->reference));
    return r;
}

int eval_run(const eval_opts *o, json_t **results) {
    *results = NULL;
    int nsrc = !!o->data + !!o->prompts + !!o->responses;
    if (nsrc != 1) return err_set("eval needs exactly one of data, prompts or responses (got %d)", nsrc);
    if (!o->responses && !o->model) return err_set("eval needs a model to generate answers");
    eval_rules rules;
    if (eval_rules_load(&rules, o->rules)) return -1;
    if (o->thresholds && eval_rules_set_thresholds(&rules, o->thresholds, o->thresholds_file ? o->thresholds_file : "thresholds",
                                                   o->thresholds_lines)) {
        eval_rules_release(&rules);
        return -1;
    }
    item_set s = {0};
    gen_model g;
    int loaded = 0, rc = -1;
    infer_state st = {0};
    json_t *out = json_array();
    s.kind = o->data ? "data" : o->prompts ? "prompts" : "responses";
    s.path = o->data ? o->data : o->prompts ? o->prompts : o->responses;
    if ((o->data ? items_from_data(&s, o, &rules) : o->prompts ? items_from_suite(&s, o, &rules)
                                                              : items_from_responses(&s, o, &rules)))
        goto done;
    if (s.n == 0) {
        err_set("%s: no examples", s.path);
        goto done;
    }
    // the model: generation, token counts, reference loss
    if (o->model) {
        if (gen_model_load(&g, o->model)) goto done;
        loaded = 1;
        if (o->adapter_path && gen_model_load_adapter(&g, o->adapter_path, o->adapter_file)) goto done;
        for (int i = 0; i < o->n_extra_eos; i++)
            if (gen_add_stop_token(&g, o->extra_eos[i])) goto done;
        if (!g.has_template)
            fprintf(stderr, "lorac: warning: %s has no chat template; prompts are used as raw text and reference "
                            "answers are not scored for loss\n", g.m.src.path);
        int64_t max_pos = g.m.cfg.max_position_embeddings, need = 1;
        for (int64_t i = 0; i < s.n; i++) {
            item *e = &s.it[i];
            char *where = e->entry >= 0 ? xasprintf("%s: results[%lld]", s.path, (long long)e->entry)
                                        : xasprintf("%s:%lld", s.path, (long long)e->line);
            if (tokenize_item(&g, e, o, where, !o->responses)) {
                err_prefix("%s", where);
                free(where);
                goto done;
            }
            sampler_params sp;
            int64_t mt;
            item_sampling(o, e, i, &sp, &mt);
            int64_t want = o->responses ? 0 : (int64_t)e->prompt.n + mt;
            if (!o->responses && (int64_t)e->prompt.n >= max_pos) {
                err_set("%s: the prompt has %zu tokens; the model's context is %lld", where, e->prompt.n, (long long)max_pos);
                free(where);
                goto done;
            }
            if ((int64_t)e->ref_ids.n > want) want = (int64_t)e->ref_ids.n;
            if (want > need) need = want;
            free(where);
        }
        if (need > max_pos) need = max_pos;
        if (infer_init(&st, &g.m, need, 128)) goto done;
        gen_attach(&g, &st);
    }
    double t0 = now_seconds();
    for (int64_t i = 0; i < s.n; i++) {
        item *e = &s.it[i];
        json_t *head = result_head(e, i);
        sampler_params sp;
        int64_t mt;
        item_sampling(o, e, i, &sp, &mt);
        collect c;
        sb_init(&c.text);
        double t1 = now_seconds(), tps = 0;
        gen_stats gs = {0};
        if (!o->responses) {
            sampler *sm = sampler_new(&sp, g.m.cfg.vocab_size);
            tok_ids gen;
            tok_ids_init(&gen);
            int64_t room = st.n_ctx - (int64_t)e->prompt.n;
            int grc = !sm ? -1 : gen_run(&g, &st, sm, e->prompt.ids, (int64_t)e->prompt.n, NULL, 0, mt < room ? mt : room,
                                         collect_emit, &c, &gen, &gs);
            sampler_free(sm);
            tok_ids_release(&gen);
            if (grc) {
                err_prefix("%s:%lld", s.path, (long long)e->line);
                sb_release(&c.text);
                json_decref(head);
                goto done;
            }
            tps = gs.gen_seconds > 0 ? (double)gs.gen_tokens / gs.gen_seconds : 0;
        } else {
            sb_puts(&c.text, e->response);
        }
        json_t *sc = eval_score_response(&rules, c.text.buf, e->reference, loaded ? g.tok : NULL, &e->opts);
        json_object_set_new(head, "response", json_string(c.text.buf));
        json_object_update(head, sc);
        json_decref(sc);
        if (!o->responses) {
            json_object_set_new(head, "seed", json_integer((json_int_t)sp.seed));
            if (e->sampling) json_object_set_new(head, "params", params_json(&sp, mt));
            json_object_set_new(head, "generated_tokens", json_integer((json_int_t)gs.gen_tokens));
            json_object_set_new(head, "finish_reason", json_string(gs.hit_stop ? "stop" : "length"));
            json_object_set_new(head, "truncated", json_boolean(!gs.hit_stop));
            json_object_set_new(head, "prompt_tokens", json_integer((json_int_t)e->prompt.n));
            json_object_set_new(head, "tokens_per_sec", json_real(tps));
        } else if (e->truncated >= 0) {
            json_object_set_new(head, "truncated", json_boolean(e->truncated));
        }
        if (e->ref_ids.n && loaded) {
            double sum;
            int64_t nt, T = (int64_t)e->ref_ids.n < st.n_ctx ? (int64_t)e->ref_ids.n : st.n_ctx; // cut at the context
            if (gen_target_nll(&g, &st, e->ref_ids.ids, T, e->ref_start, &sum, &nt)) {
                err_prefix("%s:%lld: reference loss", s.path, (long long)e->line);
                sb_release(&c.text);
                json_decref(head);
                goto done;
            }
            json_t *gt = json_object_get(head, "ground_truth");
            if (gt && nt) {
                json_object_set_new(gt, "reference_loss", json_real(sum / (double)nt));
                json_object_set_new(gt, "reference_tokens", json_integer((json_int_t)nt));
                if (T < (int64_t)e->ref_ids.n) json_object_set_new(gt, "reference_truncated", json_true());
            }
        }
        double secs = now_seconds() - t1;
        json_object_set_new(head, "seconds", json_real(secs));
        json_array_append_new(out, head);
        sb_release(&c.text);
        if (!o->responses) progress(o, i + 1, s.n, now_seconds() - t0, secs, tps);
    }
    // the document
    json_t *res = json_object();
    char created[32];
    time_t now = time(NULL);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    json_object_set_new(res, "lorac_version", json_string(LORAC_VERSION));
    json_object_set_new(res, "created", json_string(created));
    json_object_set_new(res, "model", o->model ? json_string(o->model) : json_null());
    json_object_set_new(res, "adapter", o->adapter_path ? json_string(o->adapter_path) : json_null());
    if (o->adapter_path && o->adapter_file) json_object_set_new(res, "adapter_file", json_string(o->adapter_file));
    json_object_set_new(res, "data", json_string(s.path));
    json_object_set_new(res, "source", json_string(s.kind));
    if (o->prompts) json_object_set_new(res, "suite", json_string(s.suite.name));
    json_object_set_new(res, "model_path", o->model ? json_string(o->model) : json_null());
    json_object_set_new(res, "validation_file", json_string(s.path));
    json_object_set_new(res, "total_examples", json_integer((json_int_t)s.n));
    if (!o->responses) {
        json_t *pj = params_json(&o->sampling, o->max_tokens);
        json_object_set_new(pj, "system_prompt", o->system_prompt ? json_string(o->system_prompt) : json_null());
        json_object_set_new(pj, "chat_template_args", o->chat_template_args ? json_deep_copy(o->chat_template_args) : json_null());
        json_object_set_new(pj, "chat_template", json_boolean(g.has_template));
        json_t *eos = json_array();
        for (int i = 0; i < o->n_extra_eos; i++) json_array_append_new(eos, json_string(o->extra_eos[i]));
        json_object_set_new(pj, "extra_eos_tokens", eos);
        json_object_set_new(pj, "seeds", json_string("seed + example index"));
        json_object_set_new(res, "params", pj);
    } else {
        json_object_set_new(res, "params", json_null());
    }
    json_object_set_new(res, "rules", json_pack("{s:s,s:s}", "source", rules.source, "name", rules.name));
    json_object_set_new(res, "thresholds", eval_rules_thresholds(&rules));
    json_t *stats = eval_statistics(&rules, out);
    json_object_set(res, "pass", json_object_get(stats, "pass"));
    json_object_set_new(res, "statistics", stats);
    json_object_set_new(res, "seconds", json_real(now_seconds() - t0));
    json_object_set(res, "results", out);
    *results = res;
    rc = 0;
done:
    infer_release(&st);
    if (loaded) gen_model_release(&g);
    items_release(&s);
    json_decref(out);
    eval_rules_release(&rules);
    return rc;
}

// ---- base vs tuned ----
json_t *eval_deltas(const json_t *base, const json_t *tuned) {
    json_t *o = json_object();
    const json_t *bs = json_object_get(base, "statistics"), *ts = json_object_get(tuned, "statistics");
    for (int i = 0; i < eval_n_headlines; i++) {
        json_t *b = eval_stat_at(bs, eval_headlines[i].metric), *t = eval_stat_at(ts, eval_headlines[i].metric);
        if (!json_is_number(b) && !json_is_number(t)) continue;
        json_t *d = json_object();
        json_object_set(d, "base", json_is_number(b) ? b : json_null());
        json_object_set(d, "tuned", json_is_number(t) ? t : json_null());
        json_object_set_new(d, "delta", json_is_number(b) && json_is_number(t)
                                            ? json_real(json_number_value(t) - json_number_value(b))
                                            : json_null());
        json_object_set_new(o, eval_headlines[i].metric, d);
    }
    return o;
}

// ---- summary table ----
void eval_format_value(char *b, size_t n, const json_t *v, int is_rate) {
    if (!json_is_number(v)) snprintf(b, n, "-");
    else if (is_rate) snprintf(b, n, "%.1f%%", 100 * json_number_value(v));
    else if (fabs(json_number_value(v)) >= 100) snprintf(b, n, "%.0f", json_number_value(v));
    else snprintf(b, n, "%.3f", json_number_value(v));
}

// "pass", "FAIL" or "" for the check on this metric in a statistics object.
const char *eval_check_status(const json_t *statistics, const char *threshold, char *desc, size_t n) {
    if (desc && n) desc[0] = 0;
    if (!threshold) return "";
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(statistics, "checks"), i, c) {
        if (strcmp(json_string_value(json_object_get(c, "name")), threshold)) continue;
        if (desc) snprintf(desc, n, "%s %g%%", json_string_value(json_object_get(c, "op")),
                           100 * json_number_value(json_object_get(c, "threshold")));
        json_t *p = json_object_get(c, "pass");
        return json_is_true(p) ? "pass" : json_is_false(p) ? "FAIL" : "n/a";
    }
    return "";
}

void eval_summary_table(strbuf *out, const json_t *results, const json_t *base) {
    const json_t *st = json_object_get(results, "statistics");
    const json_t *bst = base ? json_object_get(base, "statistics") : NULL;
    json_int_t n = json_integer_value(json_object_get(st, "examples"));
    sb_printf(out, "%lld examples", (long long)n);
    const char *dom = json_string_value(eval_stat_at(st, "stance.domain"));
    if (dom) sb_printf(out, "; domain position: %s", dom);
    sb_printf(out, "\n");
    if (base) sb_printf(out, "%-34s %10s %10s %10s   %s\n", "metric", "base", "tuned", "delta", "check (tuned)");
    else sb_printf(out, "%-34s %10s   %s\n", "metric", "value", "check");
    for (int i = 0; i < eval_n_headlines; i++) {
        const eval_headline *h = &eval_headlines[i];
        json_t *v = eval_stat_at(st, h->metric), *bv = bst ? eval_stat_at(bst, h->metric) : NULL;
        if (!json_is_number(v) && !json_is_number(bv)) continue;
        char a[32], b[32], d[32], desc[48];
        const char *status = eval_check_status(st, h->threshold, desc, sizeof desc);
        eval_format_value(a, sizeof a, v, h->is_rate);
        if (base) {
            eval_format_value(b, sizeof b, bv, h->is_rate);
            if (json_is_number(v) && json_is_number(bv)) {
                double dv = json_number_value(v) - json_number_value(bv);
                if (h->is_rate) snprintf(d, sizeof d, "%+.1f pp", 100 * dv);
                else snprintf(d, sizeof d, "%+.3f", dv);
            } else {
                snprintf(d, sizeof d, "-");
            }
            sb_printf(out, "%-34s %10s %10s %10s   %s%s%s\n", h->label, b, a, d, desc, *desc ? " " : "", status);
        } else {
            sb_printf(out, "%-34s %10s   %s%s%s\n", h->label, a, desc, *desc ? " " : "", status);
        }
    }
    json_t *pass = json_object_get(st, "pass");
    sb_printf(out, "overall: %s\n", json_is_true(pass) ? "PASS" : "FAIL");
}

// test_train_config.c — the training config: mlx-lm's defaults (checked against
// values dumped from mlx-lm itself), the data-driven cases in
// tests/data/train_config_cases.yaml (mapping, conflicts, errors with file:line
// and suggestions, flags over YAML), the shipped examples, the JSON round trip,
// learning-rate schedules against mlx-lm's build_schedule, and data checks.
#include "core/core.h"
#include "train/config.h"
#include "test.h"

#include <jansson.h>
#include <stdlib.h>
#include <yaml.h>

static const char *tests_dir(void) {
    const char *t = getenv("TESTS_DIR");
    return t ? t : "tests";
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(2);
    }
    fputs(text, f);
    fclose(f);
}

static int has_note(const train_config *c, const char *needle, int warning) {
    for (int i = 0; i < c->n_notes; i++)
        if (c->notes[i].warning == warning && strstr(c->notes[i].text, needle)) return 1;
    return 0;
}

static int n_warnings(const train_config *c) {
    int n = 0;
    for (int i = 0; i < c->n_notes; i++) n += c->notes[i].warning;
    return n;
}

static void dump_notes(const train_config *c) { train_config_print_notes(c, stderr); }

// ---- YAML -> JSON for the cases file (plain scalars typed as YAML 1.1 does) ----
static json_t *yj(yaml_document_t *d, yaml_node_t *n) {
    if (!n) return json_null();
    if (n->type == YAML_SCALAR_NODE) {
        const char *s = (const char *)n->data.scalar.value;
        if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return json_string(s);
        if (!*s || !strcmp(s, "~") || !strcmp(s, "null")) return json_null();
        if (!strcmp(s, "true")) return json_true();
        if (!strcmp(s, "false")) return json_false();
        char *end;
        long long i = strtoll(s, &end, 10);
        if (!*end) return json_integer(i);
        double x = strtod(s, &end);
        if (!*end) return json_real(x);
        return json_string(s);
    }
    if (n->type == YAML_SEQUENCE_NODE) {
        json_t *a = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
            json_array_append_new(a, yj(d, yaml_document_get_node(d, *it)));
        return a;
    }
    json_t *o = json_object();
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++)
        json_object_set_new(o, (const char *)yaml_document_get_node(d, p->key)->data.scalar.value,
                            yj(d, yaml_document_get_node(d, p->value)));
    return o;
}

static json_t *load_yaml_as_json(const char *path) {
    char *text;
    size_t len;
    if (file_read_all(path, &text, &len)) {
        fprintf(stderr, "%s\n", err_msg());
        exit(2);
    }
    yaml_parser_t p;
    yaml_document_t d;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    if (!yaml_parser_load(&p, &d)) {
        fprintf(stderr, "%s:%zu: %s\n", path, p.problem_mark.line + 1, p.problem);
        exit(2);
    }
    json_t *j = yj(&d, yaml_document_get_root_node(&d));
    yaml_document_delete(&d);
    yaml_parser_delete(&p);
    free(text);
    return j;
}

// ---- JSON helpers ----
static json_t *jpath(json_t *j, const char *path) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *tok = strtok(buf, "."); tok && j; tok = strtok(NULL, ".")) j = json_object_get(j, tok);
    return j;
}

// Equal, with numbers compared by value (1000 == 1000.0) to a relative 1e-12.
static int json_like(json_t *a, json_t *b) {
    if (!a || !b) return a == b;
    if (json_is_number(a) && json_is_number(b)) {
        double x = json_number_value(a), y = json_number_value(b);
        return fabs(x - y) <= 1e-12 * fmax(1.0, fmax(fabs(x), fabs(y)));
    }
    if (json_typeof(a) != json_typeof(b)) return 0;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b)) return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!json_like(json_array_get(a, i), json_array_get(b, i))) return 0;
        return 1;
    }
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b)) return 0;
        const char *k;
        json_t *v;
        json_object_foreach(a, k, v) if (!json_like(v, json_object_get(b, k))) return 0;
        return 1;
    }
    return json_equal(a, b);
}

static char *jtext(json_t *j) {
    return j ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT) : xstrdup("(absent)");
}

// ---- data-driven cases ----
static void run_case(json_t *c) {
    const char *name = json_string_value(json_object_get(c, "name"));
    const char *yaml = json_string_value(json_object_get(c, "yaml"));
    json_t *error = json_object_get(c, "error");
    train_config cfg;
    train_config_init(&cfg);
    err_clear();
    int rc = train_config_load_string(&cfg, yaml, "run.yaml");
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(c, "set"), i, s) {
        if (rc) break;
        rc = train_config_set(&cfg, json_string_value(json_array_get(s, 0)), json_string_value(json_array_get(s, 1)),
                              json_string_value(json_array_get(s, 2)));
    }
    if (!rc) rc = train_config_resolve(&cfg);
    if (error) {
        const char *want = json_string_value(error);
        CHECK_MSG(rc < 0 && strstr(err_msg(), want), "%s: rc %d, error '%s', expected '%s'", name, rc, err_msg(), want);
        const char *hint = json_string_value(json_object_get(c, "hint"));
        if (hint) CHECK_MSG(strstr(err_hint_msg(), hint), "%s: hint '%s' lacks '%s'", name, err_hint_msg(), hint);
        train_config_release(&cfg);
        return;
    }
    CHECK_MSG(rc == 0, "%s: unexpected error '%s'", name, err_msg());
    if (rc) {
        train_config_release(&cfg);
        return;
    }
    json_t *j = train_config_to_json(&cfg);
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(c, "expect"), k, v) {
        json_t *got = jpath(j, k);
        char *a = jtext(got), *b = jtext(v);
        CHECK_MSG(json_like(got, v), "%s: %s = %s, expected %s", name, k, a, b);
        free(a);
        free(b);
    }
    json_array_foreach(json_object_get(c, "absent"), i, v) {
        CHECK_MSG(!jpath(j, json_string_value(v)), "%s: %s should be absent", name, json_string_value(v));
    }
    json_array_foreach(json_object_get(c, "notes"), i, v) {
        int ok = has_note(&cfg, json_string_value(v), 0);
        CHECK_MSG(ok, "%s: no note with '%s'", name, json_string_value(v));
        if (!ok) dump_notes(&cfg);
    }
    json_array_foreach(json_object_get(c, "warnings"), i, v) {
        int ok = has_note(&cfg, json_string_value(v), 1);
        CHECK_MSG(ok, "%s: no warning with '%s'", name, json_string_value(v));
        if (!ok) dump_notes(&cfg);
    }
    if (json_is_true(json_object_get(c, "no_warnings"))) {
        CHECK_MSG(n_warnings(&cfg) == 0, "%s: %d unexpected warnings", name, n_warnings(&cfg));
        if (n_warnings(&cfg)) dump_notes(&cfg);
    }
    json_decref(j);
    train_config_release(&cfg);
}

static void test_cases(void) {
    char *path = path_join(tests_dir(), "data/train_config_cases.yaml");
    json_t *cases = load_yaml_as_json(path);
    size_t i;
    json_t *c;
    int before = test_passed + test_failed;
    json_array_foreach(cases, i, c) run_case(c);
    printf("train_config_cases.yaml: %zu cases, %d checks\n", json_array_size(cases), test_passed + test_failed - before);
    CHECK(json_array_size(cases) >= 80);
    json_decref(cases);
    free(path);
}

// ---- defaults: mlx-lm's ----
static void test_defaults(void) {
    train_config c;
    train_config_init(&c);
    // mlx-lm 0.32.2 lora.py CONFIG_DEFAULTS, one by one
    CHECK(!strcmp(c.model, "Qwen/Qwen3-0.6b"));
    CHECK(c.train == 0);
    CHECK(c.fine_tune_type == FT_LORA);
    CHECK(c.optimizer == OPT_ADAM);
    CHECK(!strcmp(c.data, "mlx-community/WikiSQL"));
    CHECK(c.seed == 0);
    CHECK(c.num_layers == 16);
    CHECK(c.batch_size == 4);
    CHECK(c.iters == 1000);
    CHECK(c.val_batches == 25);
    CHECK(c.learning_rate == 1e-5);
    CHECK(c.steps_per_report == 10);
    CHECK(c.steps_per_eval == 200);
    CHECK(c.resume_adapter_file == NULL);
    CHECK(!strcmp(c.adapter_path, "adapters"));
    CHECK(c.save_every == 100);
    CHECK(c.test == 0);
    CHECK(c.test_batches == 500);
    CHECK(c.max_seq_length == 2048);
    CHECK(c.config == NULL);
    CHECK(c.grad_checkpoint == 0);
    CHECK(c.grad_accumulation_steps == 1);
    CHECK(c.clear_cache_threshold == 0);
    CHECK(c.lr_schedule.name == LRS_NONE);
    CHECK(c.lora_parameters.rank == 8);
    CHECK(c.lora_parameters.dropout == 0.0);
    CHECK(c.lora_parameters.scale == 20.0);
    CHECK(c.lora_parameters.keys == NULL);
    CHECK(c.mask_prompt == 0);
    CHECK(c.report_to == NULL);
    CHECK(c.project_name == NULL);
    CHECK(c.trust_remote_code == 0);
    // create_dataset's feature names
    CHECK(!strcmp(c.prompt_feature, "prompt") && !strcmp(c.completion_feature, "completion"));
    CHECK(!strcmp(c.chat_feature, "messages") && !strcmp(c.text_feature, "text"));
    // mlx 0.32.4 optimizer constructors
    CHECK(c.optimizer_config.adam.betas[0] == 0.9 && c.optimizer_config.adam.betas[1] == 0.999);
    CHECK(c.optimizer_config.adam.eps == 1e-8 && c.optimizer_config.adam.bias_correction == 1);
    CHECK(c.optimizer_config.adamw.weight_decay == 0.01 && c.optimizer_config.adamw.eps == 1e-8);
    CHECK(c.optimizer_config.sgd.momentum == 0 && c.optimizer_config.sgd.nesterov == 0);
    CHECK(c.optimizer_config.muon.momentum == 0.95 && c.optimizer_config.muon.ns_steps == 5);
    CHECK(isnan(c.optimizer_config.adafactor.beta_1) && c.optimizer_config.adafactor.decay_rate == -0.8);
    // lorac's own
    CHECK(c.epochs == 0 && c.early_stopping_patience == 0 && c.use_dora == 0);
    CHECK(train_config_resolve(&c) == 0);
    CHECK(c.lora_parameters.scale == 20.0);

    // the same against the values dumped from mlx-lm
    char *path = path_join(tests_dir(), "data/train_config_cases_defaults.json");
    json_error_t je;
    json_t *ref = json_load_file(path, 0, &je);
    CHECK_MSG(ref != NULL, "%s: %s", path, je.text);
    json_t *j = train_config_to_json(&c);
    const char *k;
    json_t *v;
    int n = 0;
    json_object_foreach(json_object_get(ref, "config_defaults"), k, v) {
        if (!strcmp(k, "optimizer_config")) continue; // per optimizer, below
        json_t *got = json_object_get(j, k);
        char *a = jtext(got), *b = jtext(v);
        CHECK_MSG(json_like(got, v), "default %s = %s, mlx-lm has %s", k, a, b);
        free(a);
        free(b);
        n++;
    }
    CHECK(n == 29);
    // every optimizer's defaults: set the optimizer, compare its resolved sub-map
    json_t *opt;
    json_object_foreach(json_object_get(ref, "optimizer_defaults"), k, opt) {
        train_config o;
        train_config_init(&o);
        int rc = train_config_set(&o, "optimizer", k, "--optimizer");
        CHECK(rc == 0);
        json_t *oj = train_config_to_json(&o);
        json_t *got = jpath(oj, "optimizer_config");
        got = json_object_get(got, k);
        // the one deliberate difference: lorac bias-corrects Adam/AdamW by default (issue #5)
        if (json_object_get(opt, "bias_correction")) {
            CHECK(json_is_true(json_object_get(got, "bias_correction")));
            opt = json_deep_copy(opt);
            json_object_set_new(opt, "bias_correction", json_true());
        } else {
            json_incref(opt);
        }
        char *a = jtext(got), *b = jtext(opt);
        CHECK_MSG(json_like(got, opt), "optimizer_config.%s = %s, mlx has %s", k, a, b);
        free(a);
        free(b);
        json_decref(opt);
        json_decref(oj);
        train_config_release(&o);
    }
    json_decref(j);
    json_decref(ref);
    free(path);
    train_config_release(&c);
}

// ---- the shipped examples ----
static train_config load_example(const char *name) {
    char *path = xasprintf("%s/../examples/%s", tests_dir(), name);
    train_config c;
    train_config_init(&c);
    int rc = train_config_load_file(&c, path);
    if (!rc) rc = train_config_resolve(&c);
    CHECK_MSG(rc == 0, "%s: %s", path, err_msg());
    free(path);
    return c;
}

static void test_examples(void) {
    train_config c = load_example("run7-smollm3.yaml");
    CHECK(!strcmp(c.model, "HuggingFaceTB/SmolLM3-3B"));
    CHECK(c.train == 1 && c.fine_tune_type == FT_LORA);
    CHECK(c.epochs == 1 && c.batch_size == 1 && c.grad_accumulation_steps == 16);
    CHECK(c.num_layers == 8 && c.lora_parameters.rank == 8);
    CHECK(c.lora_parameters.alpha == 8 && c.lora_parameters.scale == 1.0 && c.lora_parameters.dropout == 0.1);
    CHECK(c.learning_rate == 1e-5 && c.max_seq_length == 1024 && c.grad_checkpoint == 1);
    CHECK(c.steps_per_eval == 50 && c.mask_prompt == 1);
    CHECK(!strcmp(c.data, "./data") && !strcmp(c.adapter_path, "adapters/run7"));
    CHECK(c.optimizer == OPT_ADAM);
    CHECK(train_config_iters(&c, 1600) == 1600);
    CHECK(has_note(&c, "lora_rank: 8 -> lora_parameters.rank (", 0));
    CHECK(has_note(&c, "run7-smollm3.yaml:13)", 0));
    CHECK(has_note(&c, "LoRA scale 1 = alpha 8 / rank 8", 0));
    CHECK(has_note(&c, "epochs: 1 -> iters", 0));
    CHECK_MSG(n_warnings(&c) == 0, "run7 has %d warnings", n_warnings(&c));
    CHECK(train_config_is_set(&c, "lora_rank") && train_config_is_set(&c, "lora_parameters.rank"));
    CHECK(!train_config_is_set(&c, "iters"));
    CHECK(strstr(train_config_where(&c, "learning-rate"), "run7-smollm3.yaml:20") != NULL);
    CHECK(!strcmp(train_config_where(&c, "seed"), "default"));
    train_config_release(&c);

    c = load_example("run8-qwen3.yaml");
    CHECK(!strcmp(c.model, "Qwen/Qwen3-4B-Instruct-2507"));
    CHECK(c.fine_tune_type == FT_DORA && c.use_dora == 1);
    CHECK(c.num_layers == 24 && c.lora_parameters.rank == 16 && c.lora_parameters.scale == 1.0);
    CHECK(c.epochs == 1 && c.grad_accumulation_steps == 16 && c.max_seq_length == 1024);
    CHECK(has_note(&c, "use_dora: true -> fine_tune_type: dora", 0));
    CHECK(n_warnings(&c) == 0);
    json_t *j = train_config_to_json(&c);
    CHECK(!strcmp(json_string_value(json_object_get(j, "fine_tune_type")), "dora"));
    CHECK(json_integer_value(jpath(j, "lora_parameters.rank")) == 16);
    CHECK(json_real_value(jpath(j, "lora_parameters.scale")) == 1.0);
    CHECK(json_integer_value(json_object_get(j, "num_layers")) == 24);
    json_decref(j);
    train_config_release(&c);

    setenv("HOME", "/home/tester", 1);
    c = load_example("quickstart.yaml");
    CHECK(!strcmp(c.model, "/home/tester/.cache/lorac/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"));
    CHECK(!strcmp(c.data, "examples/data") && c.epochs == 1.0 && c.num_layers == -1);
    CHECK(c.optimizer == OPT_ADAMW && c.optimizer_config.adamw.weight_decay == 0.0);
    CHECK(c.lora_parameters.scale == 2.0);
    CHECK(n_warnings(&c) == 0);
    train_config_release(&c);
}

// ---- JSON round trip: save, load back, same config ----
static void roundtrip(const char *what, train_config *c) {
    char *path = xasprintf("%s/%s-adapter_config.json", test_tmpdir(), what);
    CHECK(train_config_save_json(c, path) == 0);
    train_config back;
    train_config_init(&back);
    int rc = train_config_load_file(&back, path);
    if (!rc) rc = train_config_resolve(&back);
    CHECK_MSG(rc == 0, "%s: reload: %s", what, err_msg());
    json_t *a = train_config_to_json(c), *b = train_config_to_json(&back);
    json_object_del(a, "config"); // the file it came from differs by design
    json_object_del(b, "config");
    char *sa = json_dumps(a, JSON_SORT_KEYS | JSON_COMPACT), *sb = json_dumps(b, JSON_SORT_KEYS | JSON_COMPACT);
    CHECK_MSG(json_equal(a, b), "%s round trip:\n %s\n %s", what, sa, sb);
    free(sa);
    free(sb);
    // the file has what mlx-lm's load_adapters reads
    json_error_t je;
    json_t *f = json_load_file(path, 0, &je);
    CHECK(f && json_is_integer(json_object_get(f, "num_layers")) && json_is_string(json_object_get(f, "fine_tune_type")));
    json_t *lp = json_object_get(f, "lora_parameters");
    CHECK(json_is_null(lp) || (json_object_get(lp, "rank") && json_object_get(lp, "scale") && json_object_get(lp, "dropout")));
    json_decref(f);
    json_decref(a);
    json_decref(b);
    train_config_release(&back);
    free(path);
}

static void test_roundtrip(void) {
    train_config c = load_example("run8-qwen3.yaml");
    roundtrip("run8", &c);
    train_config_release(&c);

    train_config_init(&c);
    const char *y = "model: ~/m.gguf\n"
                    "optimizer: sgd\n"
                    "optimizer_config: {sgd: {momentum: 0.9}, adamw: {eps: 1e-6}}\n"
                    "lora_parameters: {rank: 6, alpha: 2, keys: [self_attn.q_proj]}\n"
                    "use_rslora: true\n"
                    "lr_schedule: {name: cosine_decay, arguments: [3e-4, 1000, 1e-7], warmup: 50, warmup_init: 1e-8}\n"
                    "iters: 1234\nlearning_rate: 3e-4\nreport_to: wandb\nprompt_feature: q\n"
                    "early_stopping_patience: 2\n"
                    "fuse: {gguf: q8_0}\ntest_prompts: [{prompt: \"a: b\"}, 'x']\n";
    CHECK(train_config_load_string(&c, y, "rt.yaml") == 0);
    CHECK(train_config_resolve(&c) == 0);
    CHECK(fabs(c.lora_parameters.scale - 2 / sqrt(6.0)) < 1e-15);
    roundtrip("mixed", &c);
    train_config_release(&c);

    train_config_init(&c);
    CHECK(train_config_load_string(&c, "fine_tune_type: full\nnum_layers: 2\n", "full.yaml") == 0);
    CHECK(train_config_resolve(&c) == 0);
    roundtrip("full", &c);
    train_config_release(&c);
}

// ---- learning-rate schedules against mlx-lm ----
static void test_lr(void) {
    char *path = path_join(tests_dir(), "data/train_config_cases_lr.json");
    json_error_t je;
    json_t *ref = json_load_file(path, 0, &je);
    CHECK_MSG(ref != NULL, "%s: %s", path, je.text);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(ref, "cases"), i, c) {
        train_config cfg;
        train_config_init(&cfg);
        char *sched = json_dumps(json_object_get(c, "schedule"), JSON_COMPACT);
        int rc = train_config_set(&cfg, "lr_schedule", sched, "--lr-schedule");
        if (!rc) rc = train_config_resolve(&cfg);
        CHECK_MSG(rc == 0, "%s: %s", sched, err_msg());
        double maxrel = 0;
        json_t *steps = json_object_get(c, "steps"), *lr = json_object_get(c, "lr");
        for (size_t s = 0; s < json_array_size(steps); s++) {
            double want = json_number_value(json_array_get(lr, s));
            double got = train_config_lr(&cfg, json_integer_value(json_array_get(steps, s)));
            double rel = fabs(got - want) / fmax(fabs(want), 1e-12);
            if (rel > maxrel) maxrel = rel;
        }
        CHECK_MSG(maxrel < 1e-5, "%s: max relative difference %g vs mlx (float32)", sched, maxrel);
        free(sched);
        train_config_release(&cfg);
    }
    train_config cfg;
    train_config_init(&cfg);
    CHECK(train_config_lr(&cfg, 0) == 1e-5 && train_config_lr(&cfg, 999) == 1e-5);
    train_config_release(&cfg);
    json_decref(ref);
    free(path);
}

// ---- data directory and iters ----
static void test_data(void) {
    char *dir = xasprintf("%s/data", test_tmpdir());
    mkdir_p(dir);
    train_config c;
    train_config_init(&c);
    // default data is mlx-lm's Hugging Face dataset
    c.train = 1;
    CHECK_ERR(train_config_check_data(&c), "data is not set (mlx-lm's default is the Hugging Face dataset");
    CHECK(strstr(err_hint_msg(), "local directory") != NULL);
    char *y = xasprintf("data: %s/nope\ntrain: true\n", test_tmpdir());
    CHECK(train_config_load_string(&c, y, "d.yaml") == 0);
    free(y);
    CHECK_ERR(train_config_check_data(&c), "d.yaml:1: data: '");
    CHECK_ERR(train_config_check_data(&c), "/nope' is not a directory");
    CHECK(train_config_set(&c, "data", dir, "--data") == 0);
    CHECK_ERR(train_config_check_data(&c), "train.jsonl not found (needed to train)");
    char *p = path_join(dir, "train.jsonl");
    write_text(p, "");
    CHECK_ERR(train_config_check_data(&c), "train.jsonl is empty");
    write_text(p, "{\"text\": \"hi\"}\n");
    free(p);
    CHECK(train_config_resolve(&c) == 0);
    CHECK(train_config_check_data(&c) == 0);
    CHECK(has_note(&c, "valid.jsonl not found: training proceeds without validation", 1));
    CHECK(train_config_set(&c, "early_stopping_patience", "2", "--early-stopping-patience") == 0);
    CHECK(train_config_resolve(&c) == 0);
    CHECK_ERR(train_config_check_data(&c), "valid.jsonl not found (early_stopping_patience needs validation)");
    p = path_join(dir, "valid.jsonl");
    write_text(p, "{\"text\": \"v\"}\n");
    free(p);
    CHECK(train_config_check_data(&c) == 0);
    CHECK(train_config_set(&c, "test", NULL, "--test") == 0);
    CHECK_ERR(train_config_check_data(&c), "test.jsonl not found (test: true needs it)");
    p = path_join(dir, "test.jsonl");
    write_text(p, "{\"text\": \"t\"}\n");
    free(p);
    CHECK(train_config_check_data(&c) == 0);
    train_config_release(&c);

    // iters from epochs: batches of batch_size, rounded up
    train_config_init(&c);
    CHECK(train_config_iters(&c, 1600) == 1000);
    CHECK(train_config_load_string(&c, "epochs: 2\nbatch_size: 3\n", "e.yaml") == 0 && train_config_resolve(&c) == 0);
    CHECK(train_config_iters(&c, 100) == 67);
    CHECK(train_config_set(&c, "epochs", "0.5", "--epochs") == 0 && train_config_resolve(&c) == 0);
    CHECK(train_config_iters(&c, 100) == 17);
    train_config_release(&c);
    free(dir);
}

// ---- the key list, and set() for every flag ----
static void test_keys(void) {
    size_t n;
    const train_config_key_info *k = train_config_keys(&n);
    CHECK(n > 60);
    static const char *const MLX[] = {"model", "train", "fine_tune_type", "optimizer", "optimizer_config", "data", "seed",
                                      "num_layers", "batch_size", "iters", "val_batches", "learning_rate",
                                      "steps_per_report", "steps_per_eval", "resume_adapter_file", "adapter_path",
                                      "save_every", "test", "test_batches", "max_seq_length", "config",
                                      "grad_checkpoint", "grad_accumulation_steps", "clear_cache_threshold",
                                      "lr_schedule", "lora_parameters", "mask_prompt", "report_to", "project_name",
                                      "trust_remote_code"};
    for (size_t m = 0; m < sizeof MLX / sizeof *MLX; m++) {
        int found = 0;
        for (size_t i = 0; i < n; i++) found |= !strcmp(k[i].name, MLX[m]);
        CHECK_MSG(found, "mlx-lm key %s is not listed", MLX[m]);
    }
    int top_done = 0, flags = 0;
    for (size_t i = 0; i < n; i++) {
        int nested = strchr(k[i].name, '.') != NULL;
        CHECK_MSG(!(top_done && !nested), "%s: top-level keys come first", k[i].name);
        top_done |= nested;
        CHECK(k[i].type && k[i].def && k[i].help && *k[i].help);
        if (!k[i].flag) continue;
        flags++;
        CHECK(!strncmp(k[i].flag, "--", 2) && !strchr(k[i].flag, '_'));
        // every flag takes its default (or a sample) through set()
        train_config c;
        train_config_init(&c);
        const char *v = strcmp(k[i].def, "null") ? k[i].def : !strcmp(k[i].type, "float") ? "2" : "x";
        if (!strcmp(k[i].name, "config")) v = "run.yaml";
        int rc = train_config_set(&c, k[i].flag, v, k[i].flag);
        CHECK_MSG(rc == 0, "%s %s: %s", k[i].flag, v, err_msg());
        CHECK(train_config_is_set(&c, k[i].name));
        train_config_release(&c);
    }
    CHECK(flags >= 40);
    CHECK(!strcmp(k[0].name, "model"));
}

static void test_files(void) {
    train_config c;
    train_config_init(&c);
    CHECK_ERR(train_config_load_file(&c, "/nonexistent/run.yaml"), "/nonexistent/run.yaml");
    char *p = xasprintf("%s/run.yaml", test_tmpdir());
    write_text(p, "model: m\nlearning_rte: 1e-4\n");
    CHECK_ERR(train_config_load_file(&c, p), "run.yaml:2: unknown key 'learning_rte'; did you mean 'learning_rate'?");
    write_text(p, "model: m\n\tbatch_size: 2\n");
    CHECK_ERR(train_config_load_file(&c, p), "run.yaml:2:1: YAML syntax error");
    train_config_release(&c);
    // notes survive repeated resolve() once each, and set() after resolve() keeps order
    train_config_init(&c);
    write_text(p, "lora_rank: 4\nuse_dora: true\n");
    CHECK(train_config_load_file(&c, p) == 0);
    CHECK(!strcmp(c.config, p));
    CHECK(train_config_resolve(&c) == 0);
    int n1 = c.n_notes;
    CHECK(train_config_resolve(&c) == 0);
    CHECK(c.n_notes == n1);
    CHECK(train_config_set(&c, "lora_alpha", "8", "--lora-alpha") == 0);
    CHECK(train_config_resolve(&c) == 0);
    CHECK(c.lora_parameters.scale == 2.0 && c.fine_tune_type == FT_DORA);
    CHECK(strstr(c.notes[c.n_notes - 1].text, "LoRA scale") || strstr(c.notes[c.n_notes - 2].text, "LoRA scale"));
    CHECK(has_note(&c, "lora_alpha: 8 -> lora_parameters.alpha (--lora-alpha)", 0));
    const json_t *sec = train_config_section(&c, "fuse", NULL);
    CHECK(sec == NULL);
    train_config_release(&c);

    // section lines
    train_config_init(&c);
    CHECK(train_config_load_string(&c, "model: m\n\ngeneration:\n  temperature: 0.7\n  top_p: 0.9\n", "g.yaml") == 0);
    int line;
    const json_t *g = train_config_section(&c, "generation", &line);
    CHECK(g && line == 3);
    CHECK(json_integer_value(json_object_get(c.section_lines[TC_SEC_GENERATION], "generation.top_p")) == 5);
    train_config_release(&c);
    train_config_release(NULL);
    free(p);
}

int main(void) {
    setenv("HOME", "/home/tester", 1);
    test_defaults();
    test_cases();
    test_examples();
    test_roundtrip();
    test_lr();
    test_data();
    test_keys();
    test_files();
    TEST_MAIN_END();
}

// run_config.c — the workflow sections of a run config: a schema per section,
// checked key by key with the line each key came from.
#include "run_config.h"

#include "../core/core.h"
#include "../eval/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// ---- the schema ----
typedef enum { V_STR, V_BOOL, V_INT, V_NUM, V_MAP, V_CHOICE } vkind;

typedef struct {
    const char *section, *key;
    vkind kind;
    double lo, hi;        // V_INT / V_NUM range (inclusive)
    const char *choices;  // V_CHOICE: '|'-separated
    const char *help;
} skey;

static const skey KEYS[] = {
    {"fuse", "save_path", V_STR, 0, 0, NULL, "fused HF directory (default RUN/fused)"},
    {"fuse", "adapter_file", V_STR, 0, 0, NULL, "adapters to fuse (adapters.safetensors or best_adapters.safetensors)"},
    {"fuse", "dtype", V_CHOICE, 0, 0, "f32|f16|bf16", "weights of the fused HF directory (default: the base's; bf16 for quantized)"},
    {"fuse", "dequantize", V_BOOL, 0, 0, NULL, "fuse a quantized GGUF base into bf16"},
    {"fuse", "export_gguf", V_BOOL, 0, 0, NULL, "also write a GGUF of the fused model"},
    {"fuse", "gguf_path", V_STR, 0, 0, NULL, "GGUF file to write"},
    {"fuse", "gguf_type", V_CHOICE, 0, 0, "f16|bf16|q8_0", "GGUF tensor type"},
    {"generation", "temp", V_NUM, 0, 100, NULL, "sampling temperature; 0 = greedy"},
    {"generation", "top_p", V_NUM, 1e-12, 1, NULL, "nucleus filter in (0, 1]"},
    {"generation", "top_k", V_INT, 0, 1e9, NULL, "keep the K most likely tokens; 0 = off"},
    {"generation", "min_p", V_NUM, 0, 1, NULL, "min-p filter; 0 = off"},
    {"generation", "repetition_penalty", V_NUM, 1e-6, 100, NULL, "CTRL repetition penalty; 1 = off"},
    {"generation", "repetition_context_size", V_INT, 1, 1e9, NULL, "tokens the penalties look back over"},
    {"generation", "presence_penalty", V_NUM, -100, 100, NULL, "presence penalty"},
    {"generation", "frequency_penalty", V_NUM, -100, 100, NULL, "frequency penalty"},
    {"generation", "max_tokens", V_INT, 1, 1e9, NULL, "most tokens per answer"},
    {"generation", "seed", V_INT, 0, 9.2e18, NULL, "sampling seed"},
    {"generation", "system_prompt", V_STR, 0, 0, NULL, "a system message before each prompt"},
    {"generation", "chat_template_args", V_MAP, 0, 0, NULL, "extra chat-template variables"},
    {"evaluation", "data", V_STR, 0, 0, NULL, "JSONL to evaluate on (default DATA/valid.jsonl)"},
    {"evaluation", "max_examples", V_INT, 1, 1e9, NULL, "examples to evaluate"},
    {"evaluation", "rules", V_STR, 0, 0, NULL, "eval rules YAML (stance patterns, thresholds)"},
    {"evaluation", "thresholds", V_MAP, 0, 0, NULL, "pass/fail thresholds over the rules file's"},
    {"audit", "data", V_STR, 0, 0, NULL, "JSONL to audit (default DATA/train.jsonl)"},
    {"audit", "rules", V_STR, 0, 0, NULL, "audit rules YAML"},
};
#define N_KEYS (sizeof KEYS / sizeof KEYS[0])


// ---- where ----
static int section_id(const char *name) {
    for (int i = 0; i < TC_NSECTIONS; i++)
        if (!strcmp(train_config_section_names[i], name)) return i;
    return -1;
}

char *run_config_where(const train_config *cfg, const char *dotted) {
    const char *file = cfg->config ? cfg->config : "config";
    const char *dot = strchr(dotted, '.'), *br = strchr(dotted, '[');
    size_t n = dot && (!br || dot < br) ? (size_t)(dot - dotted) : br ? (size_t)(br - dotted) : strlen(dotted);
    char *sec = xstrndup(dotted, n);
    int id = section_id(sec);
    free(sec);
    if (id >= 0 && cfg->section_lines[id]) {
        json_int_t line = json_integer_value(json_object_get(cfg->section_lines[id], dotted));
        if (!line) line = json_integer_value(json_object_get(cfg->section_lines[id], train_config_section_names[id]));
        if (line) return xasprintf("%s:%lld", file, (long long)line);
    }
    return xstrdup(file);
}

int run_config_line(const train_config *cfg, const char *dotted) {
    for (int id = 0; id < TC_NSECTIONS; id++) {
        size_t n = strlen(train_config_section_names[id]);
        if (strncmp(dotted, train_config_section_names[id], n) != 0 || (dotted[n] && dotted[n] != '.' && dotted[n] != '[')) continue;
        return cfg->section_lines[id] ? (int)json_integer_value(json_object_get(cfg->section_lines[id], dotted)) : 0;
    }
    return -1;
}

// ---- checks ----
static const char *kind_text(const skey *k) {
    switch (k->kind) {
    case V_STR: return "a string";
    case V_BOOL: return "true or false";
    case V_INT: return "an integer";
    case V_NUM: return "a number";
    case V_MAP: return "a mapping (key: value lines)";
    case V_CHOICE: return k->choices;
    }
    return "a value";
}

static int check_value(const train_config *cfg, const skey *k, const json_t *v) {
    char *dotted = xasprintf("%s.%s", k->section, k->key);
    char *w = run_config_where(cfg, dotted);
    int ok = 1;
    if (json_is_null(v)) goto out;
    switch (k->kind) {
    case V_STR: ok = json_is_string(v) && *json_string_value(v); break;
    case V_BOOL: ok = json_is_boolean(v); break;
    case V_MAP: ok = json_is_object(v); break;
    case V_CHOICE: {
        ok = 0;
        if (!json_is_string(v)) break;
        const char *s = json_string_value(v), *c = k->choices;
        size_t n = strlen(s);
        while (*c && !ok) {
            const char *e = strchr(c, '|');
            size_t cl = e ? (size_t)(e - c) : strlen(c);
            ok = cl == n && !strncmp(c, s, n);
            c += cl + (e != NULL);
        }
        break;
    }
    case V_INT:
    case V_NUM: {
        double d = json_is_integer(v) ? (double)json_integer_value(v) : json_is_real(v) ? json_real_value(v) : NAN;
        ok = isfinite(d) && d >= k->lo && d <= k->hi && (k->kind == V_NUM || d == floor(d));
        if (!ok && isfinite(d)) {
            err_set("%s: '%s' is %g; expected %s in [%g, %g]", w, dotted, d, kind_text(k), k->lo, k->hi);
            free(w), free(dotted);
            return -1;
        }
        break;
    }
    }
out:
    if (!ok) {
        char *txt = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        err_set("%s: '%s' is %s; expected %s", w, dotted, txt ? txt : "?", kind_text(k));
        free(txt);
    }
    free(w), free(dotted);
    return ok ? 0 : -1;
}

static int check_map(const train_config *cfg, const char *section, const json_t *map) {
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)map, key, v) {
        const skey *k = NULL;
        const char *names[N_KEYS];
        size_t n = 0;
        for (size_t i = 0; i < N_KEYS; i++) {
            if (strcmp(KEYS[i].section, section)) continue;
            names[n++] = KEYS[i].key;
            if (!strcmp(KEYS[i].key, key)) k = &KEYS[i];
        }
        if (!k) {
            char *dotted = xasprintf("%s.%s", section, key);
            char *w = run_config_where(cfg, dotted);
            const char *best = closest_match(key, names, n);
            if (best) err_set("%s: unknown key '%s' in '%s'; did you mean '%s'?", w, key, section, best);
            else err_set("%s: unknown key '%s' in '%s'", w, key, section);
            strbuf sb;
            sb_init(&sb);
            for (size_t i = 0; i < n; i++) sb_printf(&sb, "%s%s", i ? ", " : "", names[i]);
            err_hint("'%s' takes: %s", section, sb.buf);
            sb_release(&sb);
            free(w), free(dotted);
            return -1;
        }
        if (check_value(cfg, k, v)) return -1;
    }
    return 0;
}

int run_config_check(const train_config *cfg) {
    for (int i = 0; i < TC_NSECTIONS; i++) {
        const json_t *s = cfg->sections[i];
        if (!s || json_is_null(s)) continue;
        const char *name = train_config_section_names[i];
        char *w = run_config_where(cfg, name);
        int rc = 0;
        if (i == TC_SEC_TEST_PROMPTS) {
            if (json_is_string(s)) {
                if (!*json_string_value(s)) rc = err_set("%s: 'test_prompts' is empty; expected a list of prompts or a prompt-suite file", w);
            } else if (!json_is_array(s) || json_array_size(s) == 0) {
                rc = err_set("%s: 'test_prompts' must be a list of prompts or the path of a prompt-suite YAML", w);
            } else {
                size_t j;
                json_t *p;
                json_array_foreach(s, j, p) {
                    if (json_is_string(p) && *json_string_value(p)) continue;
                    char *path = xasprintf("test_prompts[%zu]", j);
                    char *pw = run_config_where(cfg, path);
                    rc = err_set("%s: test_prompts[%zu] must be a non-empty string (a prompt)", pw, j);
                    free(pw), free(path);
                    break;
                }
            }
        } else if (!json_is_object(s)) {
            rc = err_set("%s: '%s' must be a mapping (indented key: value lines)", w, name);
        } else {
            rc = check_map(cfg, name, s);
        }
        free(w);
        if (rc) return -1;
    }
    // evaluation.thresholds: the eval rules' own checks, now rather than after training
    const json_t *thr = run_config_json(cfg, "evaluation.thresholds");
    if (thr) {
        eval_rules r;
        if (eval_rules_load(&r, NULL)) return -1;
        json_t *lines = run_config_threshold_lines(cfg);
        int rc = eval_rules_set_thresholds(&r, thr, cfg->config ? cfg->config : "config", lines);
        json_decref(lines);
        eval_rules_release(&r);
        if (rc) return -1;
    }
    return 0;
}

json_t *run_config_threshold_lines(const train_config *cfg) {
    json_t *lines = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(cfg->section_lines[TC_SEC_EVALUATION], k, v) if (!strncmp(k, "evaluation.", 11)) json_object_set(lines, k + 10, v);
    return lines;
}

// ---- values ----
const json_t *run_config_json(const train_config *cfg, const char *dotted) {
    const char *dot = strchr(dotted, '.');
    if (!dot) {
        int id = section_id(dotted);
        return id >= 0 && cfg->sections[id] && !json_is_null(cfg->sections[id]) ? cfg->sections[id] : NULL;
    }
    char *sec = xstrndup(dotted, (size_t)(dot - dotted));
    int id = section_id(sec);
    free(sec);
    if (id < 0 || !json_is_object(cfg->sections[id])) return NULL;
    const json_t *v = json_object_get(cfg->sections[id], dot + 1);
    return json_is_null(v) ? NULL : v;
}

double run_config_num(const train_config *cfg, const char *dotted, double def) {
    const json_t *v = run_config_json(cfg, dotted);
    return json_is_number(v) ? json_number_value(v) : def;
}

int run_config_bool(const train_config *cfg, const char *dotted, int def) {
    const json_t *v = run_config_json(cfg, dotted);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

const char *run_config_str(const train_config *cfg, const char *dotted, const char *def) {
    const json_t *v = run_config_json(cfg, dotted);
    return json_is_string(v) ? json_string_value(v) : def;
}

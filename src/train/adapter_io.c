// adapter_io.c — mlx-lm and PEFT adapter directories <-> adapter <-> lora_set.
//
// Reading collects every tensor of the weights file, parses its name into
// (layer, projection, part), checks shapes against the configured rank and
// converts values to fp32 in mlx-lm's orientation; nothing in the file may be
// left unexplained (an unknown tensor is an error naming it). Writing is the
// mirror image. adapter_to_lora is where the model comes in: layer indices and
// shapes are checked against it and q/k rows reordered for GGUF llama bases.
#include "adapter_io.h"

#include "../io/json_file.h"
#include "../kernels/kernels.h"

#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MLX_WEIGHTS "adapters.safetensors"
#define PEFT_WEIGHTS "adapter_model.safetensors"
#define PEFT_PREFIX "base_model.model."

static const char *const layout_names[] = {"mlx", "peft"};

const char *adapter_layout_name(adapter_layout l) { return (unsigned)l < 2 ? layout_names[l] : "?"; }

int adapter_layout_from_name(const char *name) {
    for (int i = 0; i < 2; i++)
        if (strcmp(name, layout_names[i]) == 0) return i;
    return -1;
}

// The projection's own name without its block prefix: "q_proj", "down_proj".
static const char *proj_short(proj_kind p) { return strchr(proj_names[p], '.') + 1; }

// ---- adapter_config.json ----
static json_t *load_config(const char *dir, char **path_out) {
    char *path = path_join(dir, "adapter_config.json");
    json_error_t je;
    json_t *cfg = NULL;
    if (!dir_exists(dir)) err_set("%s: no such adapter directory", dir);
    else if (!file_exists(path)) err_set("%s: no adapter_config.json (is this an adapter directory?)", dir);
    else if (!(cfg = json_load_file(path, 0, &je))) err_set("%s:%d:%d: %s", path, je.line, je.column, je.text);
    else if (!json_is_object(cfg)) {
        err_set("%s: expected a JSON object", path);
        json_decref(cfg);
        cfg = NULL;
    }
    if (cfg && path_out) *path_out = path;
    else free(path);
    return cfg;
}

int adapter_detect(const char *dir, adapter_layout *out) {
    json_t *cfg = load_config(dir, NULL);
    if (!cfg) return -1;
    *out = json_object_get(cfg, "peft_type") ? ADAPTER_PEFT : ADAPTER_MLX;
    json_decref(cfg);
    return 0;
}

// Typed optional fields: 1 present, 0 absent or null, -1 wrong type (error set).
static int cfg_int(json_t *o, const char *key, int64_t *v, const char *path) {
    json_t *j = json_object_get(o, key);
    if (!j || json_is_null(j)) return 0;
    if (!json_is_integer(j)) return err_set("%s: '%s' must be an integer", path, key);
    *v = json_integer_value(j);
    return 1;
}

static int cfg_num(json_t *o, const char *key, double *v, const char *path) {
    json_t *j = json_object_get(o, key);
    if (!j || json_is_null(j)) return 0;
    if (!json_is_number(j)) return err_set("%s: '%s' must be a number", path, key);
    *v = json_number_value(j);
    return 1;
}

static int cfg_bool(json_t *o, const char *key, int *v, const char *path) {
    json_t *j = json_object_get(o, key);
    if (!j || json_is_null(j)) return 0;
    if (!json_is_boolean(j)) return err_set("%s: '%s' must be true or false", path, key);
    *v = json_is_true(j);
    return 1;
}

// What the config says, in one place for both layouts.
typedef struct {
    int64_t rank;
    double scale, alpha, dropout;
    int dora, rslora;
    int64_t num_layers;
    uint32_t keys;          // projections the config allows (all when it does not say)
    int64_t *layers;        // PEFT layers_to_transform (NULL = every layer)
    int64_t n_layers;
    char *base_model;
} adapter_cfg;

static int parse_mlx_config(json_t *cfg, const char *path, adapter_cfg *c) {
    const char *ft = json_string_value(json_object_get(cfg, "fine_tune_type"));
    if (ft && strcmp(ft, "full") == 0)
        return err_set("%s: fine_tune_type 'full': these are fine-tuned weights, not LoRA/DoRA adapters", path);
    if (ft && strcmp(ft, "lora") && strcmp(ft, "dora"))
        return err_set("%s: unknown fine_tune_type '%s' (lora, dora or full)", path, ft);
    json_t *lp = json_object_get(cfg, "lora_parameters");
    if (!json_is_object(lp) || !json_is_integer(json_object_get(cfg, "num_layers")))
        return err_set("%s: needs 'num_layers' and 'lora_parameters' (mlx-lm adapter_config.json)", path);
    c->num_layers = json_integer_value(json_object_get(cfg, "num_layers"));
    c->dora = ft && strcmp(ft, "dora") == 0;
    int legacy_dora = 0;
    if (cfg_bool(cfg, "use_dora", &legacy_dora, path) < 0) return -1; // mlx-lm before fine_tune_type
    c->dora |= legacy_dora;
    if (cfg_int(lp, "rank", &c->rank, path) <= 0) return err_set("%s: lora_parameters needs an integer 'rank'", path);
    if (cfg_num(lp, "scale", &c->scale, path) <= 0) return err_set("%s: lora_parameters needs a number 'scale'", path);
    if (cfg_num(lp, "dropout", &c->dropout, path) < 0 || cfg_num(lp, "alpha", &c->alpha, path) < 0 ||
        cfg_bool(cfg, "use_rslora", &c->rslora, path) < 0)
        return -1;
    json_t *keys = json_object_get(lp, "keys");
    if (json_is_array(keys) && json_array_size(keys)) {
        const char *names[64];
        int n = 0;
        size_t i;
        json_t *k;
        json_array_foreach(keys, i, k) {
            if (!json_is_string(k)) return err_set("%s: lora_parameters.keys[%zu] must be a string", path, i);
            if (n < 64) names[n++] = json_string_value(k);
        }
        if (lora_targets_from_names(names, n, &c->keys)) return err_prefix("%s", path);
    }
    const char *model = json_string_value(json_object_get(cfg, "model"));
    c->base_model = model ? xstrdup(model) : NULL;
    return 0;
}

static int parse_peft_config(json_t *cfg, const char *path, adapter_cfg *c) {
    const char *pt = json_string_value(json_object_get(cfg, "peft_type"));
    if (!pt || strcmp(pt, "LORA") != 0)
        return err_set("%s: peft_type '%s' is not supported (lorac reads LoRA and DoRA adapters: peft_type LORA)", path,
                       pt ? pt : "?");
    if (cfg_int(cfg, "r", &c->rank, path) <= 0) return err_set("%s: needs an integer 'r' (the LoRA rank)", path);
    c->alpha = 8; // PEFT's default lora_alpha
    if (cfg_num(cfg, "lora_alpha", &c->alpha, path) < 0 || cfg_num(cfg, "lora_dropout", &c->dropout, path) < 0 ||
        cfg_bool(cfg, "use_dora", &c->dora, path) < 0 || cfg_bool(cfg, "use_rslora", &c->rslora, path) < 0)
        return -1;
    int fan_in_fan_out = 0;
    if (cfg_bool(cfg, "fan_in_fan_out", &fan_in_fan_out, path) < 0) return -1;
    if (fan_in_fan_out) return err_set("%s: fan_in_fan_out: true (GPT-2 Conv1D layers) is not supported", path);
    const char *bias = json_string_value(json_object_get(cfg, "bias"));
    if (bias && strcmp(bias, "none") != 0)
        return err_set("%s: bias '%s': adapters that train biases are not supported (bias must be \"none\")", path, bias);
    json_t *mts = json_object_get(cfg, "modules_to_save");
    if (json_is_array(mts) && json_array_size(mts))
        return err_set("%s: modules_to_save (%s, ...) holds fully trained modules; lorac reads LoRA/DoRA adapters only",
                       path, json_string_value(json_array_get(mts, 0)) ? json_string_value(json_array_get(mts, 0)) : "?");
    const char *pats[] = {"rank_pattern", "alpha_pattern"};
    for (int i = 0; i < 2; i++) {
        json_t *p = json_object_get(cfg, pats[i]);
        if (json_is_object(p) && json_object_size(p))
            return err_set("%s: '%s' gives modules their own rank or alpha; lorac needs one rank and alpha", path, pats[i]);
    }
    // PEFT features that change what the tensors mean: refused rather than misread
    static const char *const unsupported[] = {"lora_bias", "use_qalora", "trainable_token_indices", "target_parameters",
                                              "layer_replication", "alora_invocation_tokens", "use_bdlora"};
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
        json_t *v = json_object_get(cfg, unsupported[i]);
        if (v && !json_is_null(v) && !json_is_false(v) && !(json_is_object(v) && !json_object_size(v)) &&
            !(json_is_array(v) && !json_array_size(v)))
            return err_set("%s: '%s' is set: lorac reads plain LoRA/DoRA adapters, without that PEFT feature", path,
                           unsupported[i]);
    }
    json_t *tm = json_object_get(cfg, "target_modules");
    c->keys = 0;
    if (json_is_array(tm)) {
        size_t i;
        json_t *k;
        json_array_foreach(tm, i, k) {
            const char *name = json_string_value(k);
            if (!name) return err_set("%s: target_modules[%zu] must be a string", path, i);
            int found = 0;
            for (int p = 0; p < PROJ_COUNT; p++) {
                size_t ln = strlen(name), lp = strlen(proj_names[p]);
                // PEFT matches a key against the end of the module's name
                if (ln <= lp && strcmp(proj_names[p] + lp - ln, name) == 0 && (ln == lp || proj_names[p][lp - ln - 1] == '.'))
                    c->keys |= 1u << p, found = 1;
            }
            if (!found)
                return err_set("%s: target_modules entry '%s' is not one of q_proj, k_proj, v_proj, o_proj, gate_proj, "
                               "up_proj, down_proj (lorac adapts those)",
                               path, name);
        }
    }
    if (!c->keys) c->keys = (1u << PROJ_COUNT) - 1; // a regex or "all-linear": the tensors tell
    json_t *lt = json_object_get(cfg, "layers_to_transform");
    c->num_layers = -1;
    if (json_is_integer(lt)) {
        c->layers = xmalloc(sizeof *c->layers);
        c->layers[0] = json_integer_value(lt);
        c->n_layers = 1;
    } else if (json_is_array(lt)) {
        c->layers = xmalloc((json_array_size(lt) + 1) * sizeof *c->layers);
        size_t i;
        json_t *v;
        json_array_foreach(lt, i, v) {
            if (!json_is_integer(v)) return err_set("%s: layers_to_transform[%zu] must be an integer", path, i);
            c->layers[c->n_layers++] = json_integer_value(v);
        }
    } else if (lt && !json_is_null(lt)) {
        return err_set("%s: layers_to_transform must be an integer, a list of integers or null", path);
    }
    if (c->layers) c->num_layers = 0;
    c->scale = c->rslora ? c->alpha / sqrt((double)c->rank) : c->alpha / (double)c->rank;
    const char *model = json_string_value(json_object_get(cfg, "base_model_name_or_path"));
    c->base_model = model ? xstrdup(model) : NULL;
    return 0;
}

// ---- tensor names ----
enum { PART_A, PART_B, PART_M };

typedef struct {
    int64_t layer;
    int proj, part;
    const tensor_view *v;
} named_part;

// "model.layers.N.<proj>.<suffix>" after the layout's prefix; 0 when it parses.
static int parse_name(const char *name, adapter_layout layout, named_part *np) {
    const char *s = name;
    if (layout == ADAPTER_PEFT) {
        if (strncmp(s, PEFT_PREFIX, strlen(PEFT_PREFIX)) != 0) return -1;
        s += strlen(PEFT_PREFIX);
    }
    long long layer;
    int off = 0;
    if (sscanf(s, "model.layers.%lld.%n", &layer, &off) != 1 || off == 0 || layer < 0) return -1;
    s += off;
    for (int p = 0; p < PROJ_COUNT; p++) {
        size_t lp = strlen(proj_names[p]);
        if (strncmp(s, proj_names[p], lp) != 0 || s[lp] != '.') continue;
        const char *suffix = s + lp + 1;
        static const char *const mlx_parts[] = {"lora_a", "lora_b", "m"};
        static const char *const peft_parts[] = {"lora_A.weight", "lora_B.weight", "lora_magnitude_vector"};
        const char *const *parts = layout == ADAPTER_MLX ? mlx_parts : peft_parts;
        for (int k = 0; k < 3; k++)
            if (strcmp(suffix, parts[k]) == 0 ||
                (layout == ADAPTER_PEFT && k == PART_M && strcmp(suffix, "lora_magnitude_vector.weight") == 0)) {
                np->layer = layer, np->proj = p, np->part = k;
                return 0;
            }
    }
    return -1;
}

static int part_cmp(const void *a, const void *b) {
    const named_part *x = a, *y = b;
    if (x->layer != y->layer) return x->layer < y->layer ? -1 : 1;
    if (x->proj != y->proj) return x->proj - y->proj;
    return x->part - y->part;
}

// The .safetensors files in dir, for the hint when the weights file is missing.
static void hint_weight_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    strbuf sb;
    sb_init(&sb);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 6) {
        size_t l = strlen(e->d_name);
        if (l > 12 && strcmp(e->d_name + l - 12, ".safetensors") == 0) sb_printf(&sb, "%s%s", n++ ? ", " : "", e->d_name);
    }
    closedir(d);
    if (n) err_hint("the directory holds %s; choose one with --adapter-file NAME", sb.buf);
    sb_release(&sb);
}

// Element (i, j) of an adapter matrix in mlx orientation from the file's view.
static void read_matrix(float *dst, const tensor_view *v, int transpose) {
    int64_t rows = v->shape[0], cols = v->shape[1];
    float *row = xmalloc((size_t)cols * sizeof(float));
    for (int64_t r = 0; r < rows; r++) {
        tensor_row_f32(row, v, r);
        if (!transpose) memcpy(dst + r * cols, row, (size_t)cols * sizeof(float));
        else
            for (int64_t c = 0; c < cols; c++) dst[c * rows + r] = row[c];
    }
    free(row);
}

static int check_shape(const tensor_view *v, int ndim, int64_t d0, int64_t d1, const char *path, const char *why) {
    if (v->ndim == ndim && v->shape[0] == d0 && (ndim == 1 || v->shape[1] == d1)) return 0;
    char got[64], want[64];
    int64_t sh[2] = {d0, d1};
    return err_set("%s: tensor '%s' has shape %s, expected %s (%s)", path, v->name, shape_str(got, sizeof got, v->ndim, v->shape),
                   shape_str(want, sizeof want, ndim, sh), why);
}

// ---- reading ----
static int read_modules(adapter *a, const st_file *f, const adapter_cfg *c, adapter_layout layout) {
    const char *path = a->weights_path;
    named_part *np = xcalloc((size_t)(f->n_tensors ? f->n_tensors : 1), sizeof *np);
    int rc = 0;
    for (int64_t i = 0; i < f->n_tensors && rc == 0; i++) {
        const tensor_view *v = &f->tensors[i];
        if (parse_name(v->name, layout, &np[i])) {
            rc = err_set("%s: tensor '%s' is not a LoRA/DoRA tensor of the %s layout (expected %s)", path, v->name,
                         layout == ADAPTER_MLX ? "mlx-lm" : "PEFT",
                         layout == ADAPTER_MLX ? "model.layers.N.<proj>.lora_a / .lora_b / .m"
                                               : PEFT_PREFIX "model.layers.N.<proj>.lora_A.weight / .lora_B.weight / "
                                                             ".lora_magnitude_vector");
            break;
        }
        np[i].v = v;
        if (v->type != DTYPE_F32 && v->type != DTYPE_F16 && v->type != DTYPE_BF16)
            rc = err_set("%s: tensor '%s' has dtype %s, expected F32, F16 or BF16", path, v->name, dtype_name(v->type));
        else if (!(c->keys & (1u << np[i].proj)))
            rc = err_set("%s: tensor '%s' adapts %s, which the adapter configuration's %s does not list", path, v->name,
                         proj_names[np[i].proj], layout == ADAPTER_MLX ? "lora_parameters.keys" : "target_modules");
        else if (np[i].part == PART_M && !c->dora)
            rc = err_set("%s: tensor '%s' is a DoRA magnitude but the configuration is not DoRA (%s)", path, v->name,
                         layout == ADAPTER_MLX ? "fine_tune_type" : "use_dora");
        else if (c->layers) {
            int in = 0;
            for (int64_t k = 0; k < c->n_layers; k++) in |= c->layers[k] == np[i].layer;
            if (!in)
                rc = err_set("%s: tensor '%s' adapts layer %lld, which layers_to_transform does not list", path, v->name,
                             (long long)np[i].layer);
        }
    }
    if (rc == 0 && f->n_tensors == 0) rc = err_set("%s: holds no tensors", path);
    if (rc) {
        free(np);
        return -1;
    }
    qsort(np, (size_t)f->n_tensors, sizeof *np, part_cmp);
    // group parts into modules; sizes first, then one slab
    a->mods = xcalloc((size_t)f->n_tensors, sizeof *a->mods);
    int64_t total = 0, r = c->rank;
    for (int64_t i = 0; i < f->n_tensors && rc == 0;) {
        const named_part *g[3] = {NULL, NULL, NULL};
        int64_t j = i;
        for (; j < f->n_tensors && np[j].layer == np[i].layer && np[j].proj == np[i].proj; j++) {
            if (g[np[j].part]) {
                rc = err_set("%s: '%s' and '%s' are the same tensor", path, g[np[j].part]->v->name, np[j].v->name);
                break;
            }
            g[np[j].part] = &np[j];
        }
        if (rc) break;
        const char *pn = proj_names[np[i].proj];
        if (!g[PART_A] || !g[PART_B] || (c->dora && !g[PART_M])) {
            const char *miss = !g[PART_A] ? (layout == ADAPTER_MLX ? "lora_a" : "lora_A.weight")
                               : !g[PART_B] ? (layout == ADAPTER_MLX ? "lora_b" : "lora_B.weight")
                                            : (layout == ADAPTER_MLX ? "m" : "lora_magnitude_vector");
            rc = err_set("%s: layer %lld %s has no '%s' tensor", path, (long long)np[i].layer, pn, miss);
            break;
        }
        const tensor_view *A = g[PART_A]->v, *B = g[PART_B]->v;
        adapter_module *mod = &a->mods[a->n_mods++];
        mod->layer = np[i].layer, mod->proj = (proj_kind)np[i].proj;
        if (A->ndim != 2 || B->ndim != 2) {
            rc = err_set("%s: '%s' and '%s' must be matrices", path, A->name, B->name);
            break;
        }
        mod->in = layout == ADAPTER_MLX ? A->shape[0] : A->shape[1];
        mod->out = layout == ADAPTER_MLX ? B->shape[1] : B->shape[0];
        char why[96];
        snprintf(why, sizeof why, "rank %lld from adapter_config.json", (long long)r);
        if (layout == ADAPTER_MLX) rc = check_shape(A, 2, mod->in, r, path, why) || check_shape(B, 2, r, mod->out, path, why);
        else rc = check_shape(A, 2, r, mod->in, path, why) || check_shape(B, 2, mod->out, r, path, why);
        if (rc == 0 && g[PART_M]) rc = check_shape(g[PART_M]->v, 1, mod->out, 0, path, "one magnitude per output");
        if (rc) rc = -1;
        total += r * (mod->in + mod->out) + (c->dora ? mod->out : 0);
        i = j;
    }
    if (rc == 0) {
        a->slab = xmalloc((size_t)(total ? total : 1) * sizeof(float));
        float *p = a->slab;
        int64_t k = 0;
        for (int64_t i = 0; i < f->n_tensors; i++) {
            if (i > 0 && np[i].layer == np[i - 1].layer && np[i].proj == np[i - 1].proj) continue;
            adapter_module *mod = &a->mods[k++];
            mod->A = p, p += mod->in * r;
            mod->B = p, p += r * mod->out;
            if (c->dora) mod->m = p, p += mod->out;
        }
        for (int64_t i = 0; i < f->n_tensors; i++) {
            adapter_module *mod = NULL;
            for (int64_t q = 0; q < a->n_mods && !mod; q++)
                if (a->mods[q].layer == np[i].layer && (int)a->mods[q].proj == np[i].proj) mod = &a->mods[q];
            int tr = layout == ADAPTER_PEFT;
            if (np[i].part == PART_A) read_matrix(mod->A, np[i].v, tr);
            else if (np[i].part == PART_B) read_matrix(mod->B, np[i].v, tr);
            else tensor_to_f32(mod->m, np[i].v);
        }
    }
    free(np);
    return rc;
}

int adapter_read(adapter *a, const char *dir, const char *file) {
    memset(a, 0, sizeof *a);
    char *cfg_path = NULL;
    json_t *cfg = load_config(dir, &cfg_path);
    if (!cfg) return -1;
    adapter_cfg c;
    memset(&c, 0, sizeof c);
    c.alpha = NAN;
    c.keys = (1u << PROJ_COUNT) - 1;
    a->layout = json_object_get(cfg, "peft_type") ? ADAPTER_PEFT : ADAPTER_MLX;
    int rc = a->layout == ADAPTER_PEFT ? parse_peft_config(cfg, cfg_path, &c) : parse_mlx_config(cfg, cfg_path, &c);
    if (rc == 0 && c.rank < 1) rc = err_set("%s: the rank must be at least 1, got %lld", cfg_path, (long long)c.rank);
    st_file f;
    memset(&f, 0, sizeof f);
    if (rc == 0) {
        a->weights_path = path_join(dir, file ? file : a->layout == ADAPTER_PEFT ? PEFT_WEIGHTS : MLX_WEIGHTS);
        if (!file_exists(a->weights_path)) {
            char *bin = path_join(dir, "adapter_model.bin");
            if (!file && a->layout == ADAPTER_PEFT && file_exists(bin)) {
                err_set("%s: missing adapter file adapter_model.safetensors (only adapter_model.bin, a pickle, is there)", dir);
                err_hint("save it as safetensors: PeftModel.save_pretrained(dir, safe_serialization=True)");
            } else {
                err_set("%s: missing adapter file %s", dir, file ? file : a->layout == ADAPTER_PEFT ? PEFT_WEIGHTS : MLX_WEIGHTS);
                hint_weight_files(dir);
            }
            free(bin);
            rc = -1;
        } else {
            rc = st_open(&f, a->weights_path);
        }
    }
    if (rc == 0) rc = read_modules(a, &f, &c, a->layout);
    st_close(&f);
    if (rc == 0) {
        a->rank = c.rank, a->scale = c.scale, a->dropout = c.dropout;
        a->dora = c.dora, a->rslora = c.rslora, a->num_layers = c.num_layers;
        a->alpha = !isnan(c.alpha) ? c.alpha : c.rslora ? c.scale * sqrt((double)c.rank) : c.scale * (double)c.rank;
        a->base_model = c.base_model;
        c.base_model = NULL;
    }
    free(c.layers);
    free(c.base_model);
    json_decref(cfg);
    free(cfg_path);
    if (rc) adapter_release(a);
    return rc;
}

void adapter_release(adapter *a) {
    if (!a) return;
    free(a->mods);
    free(a->slab);
    free(a->base_model);
    free(a->weights_path);
    memset(a, 0, sizeof *a);
}

// ---- writing ----
static uint32_t used_projs(const adapter *a) {
    uint32_t m = 0;
    for (int64_t i = 0; i < a->n_mods; i++) m |= 1u << a->mods[i].proj;
    return m;
}

static int write_json(const char *dir, const char *name, json_t *j) {
    char *path = path_join(dir, name);
    int rc = json_save(path, j, JSON_INDENT(4) | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
    free(path);
    return rc;
}

static int write_weights(const adapter *a, const char *dir, adapter_layout layout) {
    int per = a->dora ? 3 : 2;
    int64_t n = a->n_mods * per;
    st_tensor_spec *specs = xcalloc((size_t)n, sizeof *specs);
    const void **data = xcalloc((size_t)n, sizeof *data);
    char **names = xcalloc((size_t)n, sizeof *names);
    float **owned = xcalloc((size_t)n, sizeof *owned);
    int64_t r = a->rank;
    for (int64_t i = 0; i < a->n_mods; i++) {
        const adapter_module *mod = &a->mods[i];
        const char *pn = proj_names[mod->proj];
        long long l = (long long)mod->layer;
        int64_t k = i * per;
        if (layout == ADAPTER_MLX) {
            names[k] = xasprintf("model.layers.%lld.%s.lora_a", l, pn);
            specs[k] = (st_tensor_spec){names[k], DTYPE_F32, 2, {mod->in, r}};
            data[k] = mod->A;
            names[k + 1] = xasprintf("model.layers.%lld.%s.lora_b", l, pn);
            specs[k + 1] = (st_tensor_spec){names[k + 1], DTYPE_F32, 2, {r, mod->out}};
            data[k + 1] = mod->B;
            if (a->dora) names[k + 2] = xasprintf("model.layers.%lld.%s.m", l, pn);
        } else { // PEFT stores A (r, in) and B (out, r): the transposes
            owned[k] = xmalloc((size_t)(r * mod->in) * sizeof(float));
            owned[k + 1] = xmalloc((size_t)(r * mod->out) * sizeof(float));
            for (int64_t x = 0; x < mod->in; x++)
                for (int64_t y = 0; y < r; y++) owned[k][y * mod->in + x] = mod->A[x * r + y];
            for (int64_t x = 0; x < r; x++)
                for (int64_t y = 0; y < mod->out; y++) owned[k + 1][y * r + x] = mod->B[x * mod->out + y];
            names[k] = xasprintf(PEFT_PREFIX "model.layers.%lld.%s.lora_A.weight", l, pn);
            specs[k] = (st_tensor_spec){names[k], DTYPE_F32, 2, {r, mod->in}};
            data[k] = owned[k];
            names[k + 1] = xasprintf(PEFT_PREFIX "model.layers.%lld.%s.lora_B.weight", l, pn);
            specs[k + 1] = (st_tensor_spec){names[k + 1], DTYPE_F32, 2, {mod->out, r}};
            data[k + 1] = owned[k + 1];
            if (a->dora) names[k + 2] = xasprintf(PEFT_PREFIX "model.layers.%lld.%s.lora_magnitude_vector", l, pn);
        }
        if (a->dora) {
            specs[k + 2] = (st_tensor_spec){names[k + 2], DTYPE_F32, 1, {mod->out, 0}};
            data[k + 2] = mod->m;
        }
    }
    st_meta meta[] = {{"format", layout == ADAPTER_MLX ? "mlx" : "pt"}};
    char *path = path_join(dir, layout == ADAPTER_MLX ? MLX_WEIGHTS : PEFT_WEIGHTS);
    int rc = st_write_file(path, specs, data, n, meta, 1);
    free(path);
    for (int64_t i = 0; i < n; i++) free(names[i]), free(owned[i]);
    free(names);
    free(owned);
    free(specs);
    free(data);
    return rc;
}

// The adapted layers as a sorted list without repeats; returns the count.
static int64_t adapted_layers(const adapter *a, int64_t *out) {
    int64_t n = 0;
    for (int64_t i = 0; i < a->n_mods; i++)
        if (n == 0 || out[n - 1] != a->mods[i].layer) out[n++] = a->mods[i].layer;
    return n;
}

static json_t *proj_list(uint32_t mask, int short_names) {
    json_t *k = json_array();
    for (int p = 0; p < PROJ_COUNT; p++)
        if (mask & (1u << p)) json_array_append_new(k, json_string(short_names ? proj_short((proj_kind)p) : proj_names[p]));
    return k;
}

static json_t *mlx_config(const adapter *a, int64_t num_layers) {
    json_t *j = json_object(), *lp = json_object();
    json_object_set_new(j, "fine_tune_type", json_string(a->dora ? "dora" : "lora"));
    json_object_set_new(j, "num_layers", json_integer(num_layers));
    json_object_set_new(lp, "rank", json_integer(a->rank));
    json_object_set_new(lp, "scale", json_real(a->scale));
    json_object_set_new(lp, "dropout", json_real(a->dropout));
    json_object_set_new(lp, "keys", proj_list(used_projs(a), 0));
    if (!isnan(a->alpha)) json_object_set_new(lp, "alpha", json_real(a->alpha));
    json_object_set_new(j, "lora_parameters", lp);
    if (a->rslora) json_object_set_new(j, "use_rslora", json_true());
    if (a->base_model) json_object_set_new(j, "model", json_string(a->base_model));
    return j;
}

static json_t *peft_config(const adapter *a, const int64_t *layers, int64_t n_layers) {
    json_t *j = json_object();
    double alpha = !isnan(a->alpha) ? a->alpha : a->rslora ? a->scale * sqrt((double)a->rank) : a->scale * (double)a->rank;
    json_object_set_new(j, "peft_type", json_string("LORA"));
    json_object_set_new(j, "task_type", json_string("CAUSAL_LM"));
    json_object_set_new(j, "base_model_name_or_path", a->base_model ? json_string(a->base_model) : json_null());
    json_object_set_new(j, "r", json_integer(a->rank));
    json_object_set_new(j, "lora_alpha", alpha == floor(alpha) && fabs(alpha) < 1e15 ? json_integer((json_int_t)alpha)
                                                                                       : json_real(alpha));
    json_object_set_new(j, "lora_dropout", json_real(a->dropout));
    json_object_set_new(j, "target_modules", proj_list(used_projs(a), 1));
    json_object_set_new(j, "use_dora", json_boolean(a->dora));
    json_object_set_new(j, "use_rslora", json_boolean(a->rslora));
    if (layers) {
        json_t *l = json_array();
        for (int64_t i = 0; i < n_layers; i++) json_array_append_new(l, json_integer(layers[i]));
        json_object_set_new(j, "layers_to_transform", l);
    } else {
        json_object_set_new(j, "layers_to_transform", json_null());
    }
    json_object_set_new(j, "layers_pattern", json_null());
    json_object_set_new(j, "bias", json_string("none"));
    json_object_set_new(j, "fan_in_fan_out", json_false());
    json_object_set_new(j, "inference_mode", json_true());
    json_object_set_new(j, "init_lora_weights", json_true());
    json_object_set_new(j, "modules_to_save", json_null());
    json_object_set_new(j, "rank_pattern", json_object());
    json_object_set_new(j, "alpha_pattern", json_object());
    json_object_set_new(j, "revision", json_null());
    return j;
}

int adapter_write(const adapter *a, const char *dir, adapter_layout layout, int64_t n_model_layers) {
    if (a->n_mods == 0) return err_set("%s: the adapter has no modules to write", dir);
    int64_t *layers = xmalloc((size_t)a->n_mods * sizeof *layers);
    int64_t n_layers = adapted_layers(a, layers);
    int64_t top = layers[n_layers - 1];
    if (n_model_layers > 0 && top >= n_model_layers) {
        free(layers);
        return err_set("%s: the adapter adapts layer %lld but the model has %lld layers", dir, (long long)top,
                       (long long)n_model_layers);
    }
    json_t *cfg;
    if (layout == ADAPTER_MLX) {
        // mlx-lm adapts the last num_layers layers: they must reach down to the lowest adapted one
        int64_t num_layers;
        if (n_model_layers > 0) num_layers = n_model_layers - layers[0];
        else if (a->layout == ADAPTER_MLX || a->num_layers < 0) num_layers = a->num_layers;
        else {
            err_set("%s: cannot tell mlx-lm's num_layers: the PEFT adapter lists layers_to_transform (%lld..%lld) and "
                    "the model's layer count is unknown",
                    a->weights_path ? a->weights_path : dir, (long long)layers[0], (long long)top);
            err_hint("pass --model with the base model");
            free(layers);
            return -1;
        }
        cfg = mlx_config(a, num_layers);
    } else {
        int every = a->num_layers < 0 && layers[0] == 0 && n_layers == top + 1 &&
                    (n_model_layers <= 0 || n_model_layers == n_layers);
        cfg = peft_config(a, every ? NULL : layers, n_layers);
    }
    free(layers);
    int rc = write_weights(a, dir, layout);
    if (rc == 0) rc = write_json(dir, "adapter_config.json", cfg);
    json_decref(cfg);
    return rc;
}

// ---- against a model ----
// The model the adapter records it was trained on, when that model is here: a
// different architecture or shape is an error (a stale or absent path is not).
static int check_recorded_base(const adapter *a, const model *m, const char *src) {
    model_src ms;
    if (!a->base_model || model_path_resolve(a->base_model, &ms)) {
        err_clear();
        return 0;
    }
    model_config bc;
    int rc = 0, have = 0;
    if (ms.kind == MODEL_SRC_HF_DIR) have = config_load_hf(&bc, ms.path) == 0;
    else {
        gguf_file g;
        if (gguf_open(&g, ms.path) == 0) {
            have = config_from_gguf(&bc, &g) == 0;
            gguf_close(&g);
        }
    }
    err_clear();
    if (have && (bc.arch != m->cfg.arch || bc.hidden_size != m->cfg.hidden_size || bc.n_layers != m->cfg.n_layers))
        rc = err_set("%s: the adapter was trained on %s (%s, %lld layers, hidden size %lld) but the model is %s (%s, "
                     "%lld layers, hidden size %lld): an adapter for another model",
                     src, a->base_model, arch_name(bc.arch), (long long)bc.n_layers, (long long)bc.hidden_size,
                     m->src.path, arch_name(m->cfg.arch), (long long)m->cfg.n_layers, (long long)m->cfg.hidden_size);
    if (have) config_release(&bc);
    model_src_release(&ms);
    return rc;
}

int adapter_to_lora(const adapter *a, const model *m, lora_set *s) {
    memset(s, 0, sizeof *s);
    const model_config *c = &m->cfg;
    int64_t L = c->n_layers;
    const char *src = a->weights_path ? a->weights_path : "adapter";
    if (a->n_mods == 0) return err_set("%s: the adapter has no modules", src);
    if (check_recorded_base(a, m, src)) return -1;
    if (a->layout == ADAPTER_MLX && a->num_layers > L)
        return err_set("%s: num_layers is %lld but the model (%s, %s) has %lld layers (an adapter for another model?)", src,
                       (long long)a->num_layers, arch_name(c->arch), m->src.path, (long long)L);
    int64_t first = L;
    uint32_t targets = 0;
    int64_t total = 0;
    for (int64_t i = 0; i < a->n_mods; i++) {
        const adapter_module *mod = &a->mods[i];
        if (mod->layer >= L)
            return err_set("%s: the adapter adapts layer %lld but the model (%s, %s) has %lld layers (an adapter for "
                           "another model?)",
                           src, (long long)mod->layer, arch_name(c->arch), m->src.path, (long long)L);
        if (a->layout == ADAPTER_MLX && a->num_layers >= 0 && mod->layer < L - a->num_layers)
            return err_set("%s: %s of layer %lld is below the first adapted layer %lld (num_layers mismatch?)", src,
                           proj_names[mod->proj], (long long)mod->layer, (long long)(L - a->num_layers));
        const tensor_view *w = layer_proj(&m->layers[mod->layer], mod->proj);
        if (w->shape[0] != mod->out || w->shape[1] != mod->in)
            return err_set("%s: layer %lld %s maps %lld -> %lld features in the adapter but %lld -> %lld in the model (%s, "
                           "hidden size %lld): an adapter for another model?",
                           src, (long long)mod->layer, proj_names[mod->proj], (long long)mod->in, (long long)mod->out,
                           (long long)w->shape[1], (long long)w->shape[0], arch_name(c->arch), (long long)c->hidden_size);
        if (mod->layer < first) first = mod->layer;
        targets |= 1u << mod->proj;
        total += a->rank * (mod->in + mod->out) + (a->dora ? mod->out : 0);
    }
    s->rank = a->rank, s->scale = (float)a->scale, s->dropout = 0, s->dora = a->dora;
    s->n_layers = L, s->first_layer = first, s->targets = targets;
    s->mods = xcalloc((size_t)((L - first) * PROJ_COUNT), sizeof *s->mods);
    s->n_params = total;
    s->params = xmalloc((size_t)total * sizeof(float));
    int64_t off = 0, r = a->rank;
    for (int64_t i = 0; i < a->n_mods; i++) {
        const adapter_module *am = &a->mods[i];
        lora_module *mod = &s->mods[(am->layer - first) * PROJ_COUNT + am->proj];
        mod->in = am->in, mod->out = am->out;
        mod->A = s->params + off, off += am->in * r;
        mod->B = s->params + off, off += r * am->out;
        memcpy(mod->A, am->A, (size_t)(am->in * r) * sizeof(float));
        memcpy(mod->B, am->B, (size_t)(r * am->out) * sizeof(float));
        if (a->dora) {
            mod->m = s->params + off, off += am->out;
            memcpy(mod->m, am->m, (size_t)am->out * sizeof(float));
            mod->wnorm = xmalloc((size_t)am->out * sizeof(float));
        }
        if (c->qk_permuted && (am->proj == PROJ_Q || am->proj == PROJ_K)) { // the base file's row order
            qk_reorder_f32(mod->B, r, am->out, 0, c->head_dim, 0);
            if (mod->m) qk_reorder_f32(mod->m, 1, am->out, 0, c->head_dim, 0);
        }
    }
    lora_refresh(s, m);
    return 0;
}

int adapter_from_lora(adapter *a, const lora_set *s, const model *m) {
    memset(a, 0, sizeof *a);
    if (s->full) return err_set("fine-tuned weights (fine_tune_type full) are not a LoRA/DoRA adapter");
    a->layout = ADAPTER_MLX;
    a->rank = s->rank, a->scale = s->scale, a->dropout = s->dropout, a->dora = s->dora;
    a->alpha = NAN;
    a->num_layers = s->n_layers - s->first_layer;
    int64_t total = 0, n = 0;
    for (int64_t l = s->first_layer; l < s->n_layers; l++)
        for (int p = 0; p < PROJ_COUNT; p++) {
            const lora_module *mod = lora_get(s, l, (proj_kind)p);
            if (mod) n++, total += s->rank * (mod->in + mod->out) + (s->dora ? mod->out : 0);
        }
    a->mods = xcalloc((size_t)(n ? n : 1), sizeof *a->mods);
    a->slab = xmalloc((size_t)(total ? total : 1) * sizeof(float));
    float *q = a->slab;
    int64_t r = s->rank;
    for (int64_t l = s->first_layer; l < s->n_layers; l++)
        for (int p = 0; p < PROJ_COUNT; p++) {
            const lora_module *mod = lora_get(s, l, (proj_kind)p);
            if (!mod) continue;
            adapter_module *am = &a->mods[a->n_mods++];
            am->layer = l, am->proj = (proj_kind)p, am->in = mod->in, am->out = mod->out;
            am->A = q, q += mod->in * r;
            am->B = q, q += r * mod->out;
            memcpy(am->A, mod->A, (size_t)(mod->in * r) * sizeof(float));
            memcpy(am->B, mod->B, (size_t)(r * mod->out) * sizeof(float));
            if (s->dora) {
                am->m = q, q += mod->out;
                memcpy(am->m, mod->m, (size_t)mod->out * sizeof(float));
            }
            if (m->cfg.qk_permuted && (p == PROJ_Q || p == PROJ_K)) {
                qk_reorder_f32(am->B, r, am->out, 0, m->cfg.head_dim, 1);
                if (am->m) qk_reorder_f32(am->m, 1, am->out, 0, m->cfg.head_dim, 1);
            }
        }
    return 0;
}

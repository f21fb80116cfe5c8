// fuse.c — fuse_model and convert_model: load, check, write every output into a
// temporary place, check what the adapter change kept, then rename into place.
//
// Order in fuse_model: the base and the adapter load and are checked against
// each other; the GGUF (when asked for) is written first, because a quantized
// GGUF may be refused when it keeps too little of the adapter's change; then the
// HF weights and side files; then the directory is renamed into place and a GGUF
// named outside it is renamed to its own path.
#include "fuse_internal.h"

#include "../train/adapter_io.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const dtype_words[] = {"f32", "f16", "bf16", "q8_0"};
static const dtype dtype_vals[] = {DTYPE_F32, DTYPE_F16, DTYPE_BF16, DTYPE_Q8_0};

int fuse_dtype_from_name(const char *name) {
    for (int i = 0; i < 4; i++)
        if (strcmp(name, dtype_words[i]) == 0) return dtype_vals[i];
    return -1;
}

const char *fuse_dtype_name(dtype t) {
    for (int i = 0; i < 4; i++)
        if (dtype_vals[i] == t) return dtype_words[i];
    return dtype_name(t);
}

void fuse_opts_init(fuse_opts *o) {
    memset(o, 0, sizeof *o);
    o->dtype = -1;
    o->gguf_type = -1;
}

void convert_opts_init(convert_opts *o) {
    memset(o, 0, sizeof *o);
    o->dtype = -1;
}

void fuse_report_release(fuse_report *r) {
    if (!r) return;
    free(r->gguf_path);
    memset(r, 0, sizeof *r);
}

// ---- shared steps ----
// The dtype of the base's large weights; quantized (or mixed) bases give BF16.
static dtype base_dtype(const model *m) {
    dtype t = m->embed->type;
    for (int64_t l = 0; l < m->cfg.n_layers; l++)
        for (int p = 0; p < PROJ_COUNT; p++)
            if (layer_proj(&m->layers[l], (proj_kind)p)->type != t) return DTYPE_BF16;
    return t == DTYPE_F32 || t == DTYPE_F16 || t == DTYPE_BF16 ? t : DTYPE_BF16;
}

static int is_quantized_base(const model *m) {
    for (int64_t l = 0; l < m->cfg.n_layers; l++)
        for (int p = 0; p < PROJ_COUNT; p++)
            if (dtype_is_quantized(layer_proj(&m->layers[l], (proj_kind)p)->type)) return 1;
    return dtype_is_quantized(m->embed->type);
}

// general.name for a GGUF: the output's base name without ".gguf".
static char *gguf_name_for(const char *path) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (n > 5 && strcmp(b + n - 5, ".gguf") == 0) n -= 5;
    return xstrndup(b, n);
}

static void log_kept(FILE *log, const char *what, dtype t, const kept_stats *k) {
    if (!log || k->n_tensors == 0) return;
    fprintf(log, "%s (%s): %.1f%% of the adapter's change kept, rounding noise %.2g of its size (least kept: %s, %.1f%%)\n",
            what, fuse_dtype_name(t), 100 * kept_fraction(k), kept_error(k), k->worst_name, 100 * k->worst);
    if (kept_error(k) > 1)
        fprintf(log, "lorac: warning: in %s the adapter's change is mostly below the weights' resolution: rounding noise "
                     "is %.2g times the change%s\n",
                fuse_dtype_name(t), kept_error(k), dtype_is_quantized(t) ? "" : "; --dtype f32 keeps it exactly");
}

// ---- fuse ----
int fuse_model(const fuse_opts *o, fuse_report *r) {
    fuse_report local;
    if (!r) r = &local;
    memset(r, 0, sizeof *r);
    if (!o->model) return err_set("fuse: no base model given");
    if (!o->save_path) return err_set("fuse: no save path given");
    double min_kept = o->min_kept > 0 ? o->min_kept : FUSE_MIN_KEPT_DEFAULT;
    dtype gtype = o->gguf_type < 0 ? DTYPE_F16 : (dtype)o->gguf_type;
    if (o->export_gguf && gtype != DTYPE_F16 && gtype != DTYPE_BF16 && gtype != DTYPE_Q8_0 && gtype != DTYPE_F32)
        return err_set("fuse: GGUF type %s is not one of f16, bf16, q8_0, f32", dtype_name(gtype));
    if (o->dtype >= 0 && o->dtype != DTYPE_F32 && o->dtype != DTYPE_F16 && o->dtype != DTYPE_BF16)
        return err_set("fuse: HF weights dtype %s is not one of f32, f16, bf16", dtype_name((dtype)o->dtype));
    // outputs are checked before anything is loaded
    char *gguf_final = NULL, *gguf_file = NULL; // the GGUF's path; inside the directory: its name there
    if (o->export_gguf) {
        const char *g = o->gguf_path;
        char *def = g ? NULL : xasprintf("ggml-model-%s.gguf", fuse_dtype_name(gtype));
        if (!g) g = def;
        if (strchr(g, '/')) gguf_final = xstrdup(g);
        else gguf_file = xstrdup(g);
        free(def);
        if (gguf_final && path_check_new(gguf_final, o->force)) {
            free(gguf_final);
            return -1;
        }
    }
    if (path_check_new(o->save_path, o->force) && !(o->force && dir_exists(o->save_path))) {
        free(gguf_final), free(gguf_file);
        return -1;
    }
    err_clear();
    model m;
    lora_set lora;
    memset(&lora, 0, sizeof lora);
    int have_lora = 0, rc = -1;
    atomic_dir ad = {0};
    char *gguf_tmp = NULL;
    if (model_load(&m, o->model)) {
        free(gguf_final), free(gguf_file);
        return -1;
    }
    if (o->adapter_path) {
        if (lora_load_dir(&lora, &m, o->adapter_path, o->adapter_file)) goto done;
        have_lora = 1;
    }
    int quantized = is_quantized_base(&m);
    dtype htype = o->dtype >= 0 ? (dtype)o->dtype : base_dtype(&m);
    if (o->log) {
        fprintf(o->log, "base: %s (%s, %lld layers, %s%s)\n", m.src.path, arch_name(m.cfg.arch), (long long)m.cfg.n_layers,
                dtype_name(layer_proj(&m.layers[0], PROJ_Q)->type), quantized ? ", dequantized to write" : "");
        if (o->dequantize && !quantized) fprintf(o->log, "note: --dequantize: the base is not quantized; nothing to dequantize\n");
        if (have_lora && lora.full)
            fprintf(o->log, "adapter: %s: fully fine-tuned weights of the last %lld layers\n", o->adapter_path,
                    (long long)(lora.n_layers - lora.first_layer));
        else if (have_lora)
            fprintf(o->log, "adapter: %s: %s, rank %lld, scale %g, layers %lld-%lld\n", o->adapter_path,
                    lora.dora ? "DoRA" : "LoRA", (long long)lora.rank, lora.scale, (long long)lora.first_layer,
                    (long long)(lora.n_layers - 1));
    }
    if (ad_open(&ad, o->save_path, o->force)) goto done;
    wsource src = {&m, have_lora ? &lora : NULL};
    kept_stats kg, kh;
    memset(&kg, 0, sizeof kg);
    memset(&kh, 0, sizeof kh);
    if (o->export_gguf) {
        if (gguf_final) {
            char *parent = xstrdup(gguf_final), *slash = strrchr(parent, '/');
            *slash = 0;
            int bad = *parent && mkdir_p(parent);
            free(parent);
            if (bad) goto done;
        }
        gguf_tmp = gguf_final ? xasprintf("%s.part.%d", gguf_final, (int)getpid()) : path_join(ad.tmp, gguf_file);
        char *name = gguf_name_for(o->save_path);
        if (o->log) fprintf(o->log, "writing GGUF (%s) ...\n", fuse_dtype_name(gtype));
        rc = gguf_write_model(&src, gguf_tmp, gtype, name, &kg, o->log);
        free(name);
        if (rc) goto done;
        rc = -1;
        log_kept(o->log, "GGUF weights", gtype, &kg);
        if (dtype_is_quantized(gtype) && kept_fraction(&kg) < min_kept) {
            err_set("the %s GGUF keeps only %.1f%% of the adapter's change (%s keeps %.1f%%): re-quantizing rounds "
                    "most of ΔW away, so the file would not be the model you trained; nothing was written",
                    fuse_dtype_name(gtype), 100 * kept_fraction(&kg), kg.worst_name, 100 * kg.worst);
            err_hint("export --gguf-type f16 or bf16 (dequantized), or train longer / with a larger learning rate or scale");
            goto done;
        }
        r->have_gguf = 1, r->gguf_dtype = gtype, r->gguf_kept = kept_fraction(&kg), r->gguf_err = kept_error(&kg);
    }
    if (o->log) fprintf(o->log, "writing %s weights into %s ...\n", fuse_dtype_name(htype), o->save_path);
    if (hf_write_weights(&src, ad.tmp, htype, &kh, o->log) || hf_write_side_files(&m, ad.tmp, htype)) goto done;
    log_kept(o->log, "HF weights", htype, &kh);
    if (kh.n_tensors && kept_fraction(&kh) < min_kept && o->log)
        fprintf(o->log, "lorac: warning: the %s weights keep only %.1f%% of the adapter's change; --dtype f32 keeps all of it\n",
                fuse_dtype_name(htype), 100 * kept_fraction(&kh));
    r->hf_worst_kept = kh.n_tensors ? kh.worst : 1;
    r->n_changed = kh.n_tensors, r->hf_dtype = htype, r->hf_kept = kept_fraction(&kh), r->hf_err = kept_error(&kh);
    snprintf(r->hf_worst, sizeof r->hf_worst, "%s", kh.worst_name);
    if (gguf_final) { // the file outside the directory goes into place once the directory is complete
        if (ad_commit(&ad)) goto done;
        if (rename(gguf_tmp, gguf_final) != 0) {
            err_set("%s: cannot rename the GGUF into place (the HF directory %s was written)", gguf_final, o->save_path);
            goto done;
        }
        r->gguf_path = xstrdup(gguf_final);
    } else {
        if (ad_commit(&ad)) goto done;
        if (o->export_gguf) r->gguf_path = path_join(o->save_path, gguf_file);
    }
    if (o->log) {
        fprintf(o->log, "wrote %s", o->save_path);
        if (r->gguf_path) fprintf(o->log, " and %s", r->gguf_path);
        fprintf(o->log, "\n");
    }
    rc = 0;
done:
    if (rc) {
        ad_abort(&ad);
        if (gguf_final && gguf_tmp) remove(gguf_tmp);
    }
    free(gguf_tmp);
    free(gguf_final);
    free(gguf_file);
    if (have_lora) lora_release(&lora);
    model_release(&m);
    if (r == &local) fuse_report_release(r);
    return rc;
}

// ---- convert ----
int convert_model(const convert_opts *o) {
    if (!o->model || !o->out) return err_set("convert: needs an input model and an output path");
    size_t n = strlen(o->out);
    int to_gguf = n > 5 && strcmp(o->out + n - 5, ".gguf") == 0;
    if (o->dtype >= 0 && o->dtype != DTYPE_F32 && o->dtype != DTYPE_F16 && o->dtype != DTYPE_BF16 &&
        !(to_gguf && o->dtype == DTYPE_Q8_0))
        return err_set("convert: dtype %s: %s", fuse_dtype_name((dtype)o->dtype),
                       to_gguf ? "a GGUF takes f32, f16, bf16 or q8_0" : "an HF directory takes f32, f16 or bf16");
    if (to_gguf ? path_check_new(o->out, o->force) : (path_check_new(o->out, o->force) && !(o->force && dir_exists(o->out))))
        return -1;
    err_clear();
    model m;
    if (model_load(&m, o->model)) return -1;
    dtype t = o->dtype >= 0 ? (dtype)o->dtype : base_dtype(&m);
    wsource src = {&m, NULL};
    int rc;
    if (o->log)
        fprintf(o->log, "%s (%s, %lld layers) -> %s %s\n", m.src.path, arch_name(m.cfg.arch), (long long)m.cfg.n_layers,
                to_gguf ? "GGUF" : "HF directory", fuse_dtype_name(t));
    if (to_gguf) {
        char *name = gguf_name_for(o->out);
        rc = gguf_write_model(&src, o->out, t, name, NULL, o->log);
        free(name);
    } else {
        atomic_dir ad;
        rc = ad_open(&ad, o->out, o->force);
        if (rc == 0) {
            rc = hf_write_weights(&src, ad.tmp, t, NULL, o->log) || hf_write_side_files(&m, ad.tmp, t) ? -1 : 0;
            rc = rc ? (ad_abort(&ad), -1) : ad_commit(&ad);
        }
    }
    if (rc == 0 && o->log) fprintf(o->log, "wrote %s\n", o->out);
    model_release(&m);
    return rc;
}

// model_path.c — resolve --model: HF directory, GGUF file, or ORG/NAME in the HF cache.
#include "model_path.h"

#include "../core/core.h"
#include "gguf.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// ---- HF cache ----
// Candidate hub directories in the order huggingface_hub uses them.
static int hub_dirs(char **dirs) {
    int n = 0;
    const char *c = getenv("HF_HUB_CACHE");
    const char *h = getenv("HF_HOME");
    const char *home = getenv("HOME");
    if (c && *c) dirs[n++] = xstrdup(c);
    if (h && *h) dirs[n++] = path_join(h, "hub");
    if (home && *home) dirs[n++] = path_join(home, ".cache/huggingface/hub");
    return n;
}

// The snapshot to use inside models--ORG--NAME: refs/main if it names an
// existing snapshot, else the most recently modified snapshot directory.
static char *pick_snapshot(const char *repo_dir) {
    char *snaps = path_join(repo_dir, "snapshots");
    char *ref_path = path_join(repo_dir, "refs/main");
    char *ref = NULL, *found = NULL;
    size_t n;
    if (file_read_all(ref_path, &ref, &n) == 0) {
        while (n && (ref[n - 1] == '\n' || ref[n - 1] == ' ' || ref[n - 1] == '\r')) ref[--n] = 0;
        char *cand = path_join(snaps, ref);
        if (dir_exists(cand)) found = cand;
        else free(cand);
        free(ref);
    }
    err_clear();
    if (!found) {
        DIR *d = opendir(snaps);
        double best = -1;
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char *cand = path_join(snaps, e->d_name);
            struct stat st;
            if (stat(cand, &st) == 0 && S_ISDIR(st.st_mode) &&
                (double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec * 1e-9 > best) {
                best = (double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec * 1e-9;
                free(found);
                found = cand;
            } else {
                free(cand);
            }
        }
        if (d) closedir(d);
    }
    free(snaps);
    free(ref_path);
    return found;
}

// A snapshot may hold an HF directory or only GGUF files (repos of quantized models).
static int snapshot_source(const char *snap, model_src *out) {
    char *cfg = path_join(snap, "config.json");
    int has_cfg = file_exists(cfg);
    free(cfg);
    if (has_cfg) {
        out->kind = MODEL_SRC_HF_DIR;
        out->path = xstrdup(snap);
        return 0;
    }
    DIR *d = opendir(snap);
    struct dirent *e;
    char *gguf = NULL;
    int n_gguf = 0;
    while (d && (e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > 5 && strcmp(e->d_name + l - 5, ".gguf") == 0) {
            if (!gguf || strcmp(e->d_name, strrchr(gguf, '/') + 1) < 0) {
                free(gguf);
                gguf = path_join(snap, e->d_name);
            }
            n_gguf++;
        }
    }
    if (d) closedir(d);
    if (n_gguf == 1) {
        out->kind = MODEL_SRC_GGUF;
        out->path = gguf;
        return 0;
    }
    free(gguf);
    if (n_gguf > 1) {
        err_set("%s: holds %d .gguf files and no config.json", snap, n_gguf);
        err_hint("pass the GGUF file itself: --model %s/<file>.gguf", snap);
        return -1;
    }
    return err_set("%s: snapshot has neither config.json nor a .gguf file", snap);
}

// ---- resolve ----
int model_path_resolve(const char *spec, model_src *out) {
    memset(out, 0, sizeof *out);
    if (!spec || !*spec) return err_set("no model given");
    struct stat st;
    if (stat(spec, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            out->kind = MODEL_SRC_HF_DIR;
            out->path = xstrdup(spec);
            return 0;
        }
        size_t len = strlen(spec);
        if (gguf_is_gguf(spec) || (len > 5 && strcmp(spec + len - 5, ".gguf") == 0)) { // the reader names a bad magic
            out->kind = MODEL_SRC_GGUF;
            out->path = xstrdup(spec);
            return 0;
        }
        err_set("%s: not a model directory or a GGUF file", spec);
        err_hint("--model takes an HF directory (config.json + *.safetensors), a .gguf file, or ORG/NAME from the HF cache");
        return -1;
    }
    // ORG/NAME: exactly one slash, no leading '.' or '/'
    const char *slash = strchr(spec, '/');
    if (!slash || strchr(slash + 1, '/') || spec[0] == '.' || slash == spec || !slash[1])
        return err_set("%s: no such file or directory", spec);
    char *dirs[3];
    int nd = hub_dirs(dirs);
    char *repo = xasprintf("models--%.*s--%s", (int)(slash - spec), spec, slash + 1);
    strbuf looked;
    sb_init(&looked);
    int rc = -1;
    for (int i = 0; i < nd && rc != 0; i++) {
        char *rd = path_join(dirs[i], repo);
        sb_printf(&looked, "\n  %s", rd);
        if (dir_exists(rd)) {
            char *snap = pick_snapshot(rd);
            if (snap) {
                rc = snapshot_source(snap, out);
                free(snap);
                if (rc) { // a broken snapshot is an error of its own
                    free(rd);
                    for (int j = i; j < nd; j++) free(dirs[j]);
                    free(repo);
                    sb_release(&looked);
                    return -1;
                }
            } else {
                sb_printf(&looked, " (no snapshots)");
            }
        }
        free(rd);
        free(dirs[i]);
        dirs[i] = NULL;
    }
    for (int i = 0; i < nd; i++) free(dirs[i]);
    if (rc) {
        err_set("model '%s' not found: not a local path, and not in the Hugging Face cache; looked in:%s", spec,
                looked.buf);
        err_hint("download it once (e.g. `huggingface-cli download %s`), or pass a local directory or .gguf file", spec);
    }
    free(repo);
    sb_release(&looked);
    return rc;
}

void model_src_release(model_src *m) {
    if (!m) return;
    free(m->path);
    m->path = NULL;
}

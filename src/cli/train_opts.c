// train_opts.c — training-config keys as flags (see train_opts.h).
#include "train_opts.h"

#include <string.h>

int train_opts_build(cli_opt *out, int max, const cli_opt *head, int n_head) {
    size_t n;
    int k = 0;
    const train_config_key_info *keys = train_config_keys(&n);
    for (int i = 0; i < n_head && k < max - 1; i++) out[k++] = head[i];
    for (size_t i = 0; i < n && k < max - 1; i++) {
        if (!keys[i].flag || strcmp(keys[i].flag, "--config") == 0 || keys[i].kind == 3) continue; // no legacy spellings
        int is_bool = strcmp(keys[i].type, "bool") == 0;
        out[k++] = (cli_opt){keys[i].flag, is_bool ? NULL : keys[i].type, keys[i].def, keys[i].help, 0};
    }
    out[k] = (cli_opt){NULL};
    return k;
}

int train_opts_apply(const cli_args *a, const cli_opt *opts, int first, train_config *cfg) {
    for (int i = first; opts[i].name; i++) {
        if (!a->count[i]) continue;
        if (train_config_set(cfg, opts[i].name, opts[i].arg ? a->val[i] : NULL, opts[i].name)) return cli_fail();
    }
    return 0;
}

int train_opts_load(train_config *cfg, const char *path, const cli_args *a, const cli_opt *opts, int first) {
    if (path && train_config_load_file(cfg, path)) return cli_fail();
    return train_opts_apply(a, opts, first, cfg);
}

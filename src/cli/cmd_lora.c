// cmd_lora.c — `lorac lora --config run.yaml [flags]`: train LoRA/DoRA adapters.
// Every configuration key is also a flag (--learning-rate, --lora-parameters.rank
// is spelled --rank where mlx-lm has one); flags beat the YAML, which beats the
// defaults (mlx-lm's).
#include "commands.h"

#include "../train/trainer.h"

#include <stdlib.h>
#include <string.h>

// ---- flags from the configuration's key table ----
#define MAX_LORA_OPTS 160
cli_opt lora_opts[MAX_LORA_OPTS];

__attribute__((constructor)) static void build_lora_opts(void) {
    size_t n, k = 0;
    const train_config_key_info *keys = train_config_keys(&n);
    lora_opts[k++] = (cli_opt){"--config|-c", "FILE", NULL, "mlx-lm lora YAML (every key below may be set there)", 0};
    for (size_t i = 0; i < n && k < MAX_LORA_OPTS - 1; i++) {
        if (!keys[i].flag || strcmp(keys[i].flag, "--config") == 0 || keys[i].kind == 3) continue; // no legacy spellings
        int is_bool = strcmp(keys[i].type, "bool") == 0;
        lora_opts[k++] = (cli_opt){keys[i].flag, is_bool ? NULL : keys[i].type, keys[i].def, keys[i].help, 0};
    }
    lora_opts[k] = (cli_opt){NULL};
}

// ---- command ----
int cmd_lora(int argc, char **argv) {
    const cli_command *cmd = cli_find_command("lora");
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) {
        cli_args_release(&a);
        return rc < 0 ? 0 : rc;
    }
    train_config cfg;
    train_config_init(&cfg);
    rc = 1;
    const char *path = cli_get(&a, "--config");
    if (path && train_config_load_file(&cfg, path)) {
        rc = cli_fail();
        goto done;
    }
    for (int i = 1; lora_opts[i].name; i++) {
        if (!a.count[i]) continue;
        if (train_config_set(&cfg, lora_opts[i].name, lora_opts[i].arg ? a.val[i] : NULL, lora_opts[i].name)) {
            rc = cli_fail();
            goto done;
        }
    }
    if (train_config_resolve(&cfg)) {
        rc = cli_fail();
        goto done;
    }
    train_config_print_notes(&cfg, stderr);
    int r = train_run(&cfg);
    if (r == 130) rc = 130;
    else rc = r ? cli_fail() : 0;
done:
    train_config_release(&cfg);
    cli_args_release(&a);
    return rc;
}

// cmd_lora.c — `lorac lora --config run.yaml [flags]`: train LoRA/DoRA adapters.
// Every configuration key is also a flag (--learning-rate, --lora-parameters.rank
// is spelled --rank where mlx-lm has one); flags beat the YAML, which beats the
// defaults (mlx-lm's).
#include "commands.h"
#include "train_opts.h"

#include "../train/trainer.h"

#include <stdlib.h>
#include <string.h>

// ---- flags from the configuration's key table ----
#define MAX_LORA_OPTS 160
cli_opt lora_opts[MAX_LORA_OPTS];

__attribute__((constructor)) static void build_lora_opts(void) {
    static const cli_opt head[] = {{"--config|-c", "FILE", NULL, "mlx-lm lora YAML (every key below may be set there)", 0}};
    train_opts_build(lora_opts, MAX_LORA_OPTS, head, 1);
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
    if (train_opts_load(&cfg, cli_get(&a, "--config"), &a, lora_opts, 1)) goto done;
    if (train_config_resolve(&cfg)) {
        rc = cli_fail();
        goto done;
    }
    train_config_print_notes(&cfg, stderr);
    // the workflow sections are lorac run's: say so rather than ignore them silently
    for (int i = 0; i < TC_NSECTIONS; i++) {
        const char *name = train_config_section_names[i];
        int line = 0;
        if (train_config_section(&cfg, name, &line))
            fprintf(stderr, "note: '%s' (%s:%d) is a lorac run section; lorac lora does not use it\n", name,
                    cfg.config ? cfg.config : "config", line);
    }
    int r = train_run(&cfg);
    if (r == 130) rc = 130;
    else rc = r ? cli_fail() : 0;
done:
    train_config_release(&cfg);
    cli_args_release(&a);
    return rc;
}

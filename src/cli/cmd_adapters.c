// cmd_adapters.c — `lorac adapters`: adapter directories between mlx-lm's and
// PEFT's layouts (convert), and what one holds (info).
#include "commands.h"

#include "../model/model.h"
#include "../train/adapter_io.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

const cli_opt adapters_cli_opts[] = {
    {"--to", "LAYOUT", NULL, "convert: the output layout, peft or mlx (required)", 0},
    {"--model", "MODEL", NULL, "base model: checks layers and shapes, and gives mlx-lm's num_layers exactly", 0},
    {"--adapter-file", "NAME", NULL, "weights file inside IN (default: the layout's)", 0},
    {"--force", NULL, NULL, "replace an existing OUT", 0},
    {"--json", NULL, NULL, "info: print a JSON object", 0},
    {NULL},
};

// ---- info ----
static int adapters_info(const adapter *a, const char *dir, int as_json) {
    int64_t params = 0, lo = -1, hi = -1;
    uint32_t mask = 0;
    for (int64_t i = 0; i < a->n_mods; i++) {
        const adapter_module *m = &a->mods[i];
        params += a->rank * (m->in + m->out) + (a->dora ? m->out : 0);
        mask |= 1u << m->proj;
        if (lo < 0 || m->layer < lo) lo = m->layer;
        if (m->layer > hi) hi = m->layer;
    }
    json_t *j = json_object(), *keys = json_array();
    for (int p = 0; p < PROJ_COUNT; p++)
        if (mask & (1u << p)) json_array_append_new(keys, json_string(proj_names[p]));
    json_object_set_new(j, "path", json_string(dir));
    json_object_set_new(j, "layout", json_string(adapter_layout_name(a->layout)));
    json_object_set_new(j, "type", json_string(a->dora ? "dora" : "lora"));
    json_object_set_new(j, "rank", json_integer(a->rank));
    json_object_set_new(j, "scale", json_real(a->scale));
    json_object_set_new(j, "alpha", json_real(a->alpha));
    json_object_set_new(j, "use_rslora", json_boolean(a->rslora));
    json_object_set_new(j, "modules", json_integer(a->n_mods));
    json_object_set_new(j, "first_layer", json_integer(lo));
    json_object_set_new(j, "last_layer", json_integer(hi));
    json_object_set_new(j, "keys", keys);
    json_object_set_new(j, "parameters", json_integer(params));
    json_object_set_new(j, "base_model", a->base_model ? json_string(a->base_model) : json_null());
    if (as_json) {
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
        printf("%s\n", s);
        free(s);
    } else {
        printf("%s: %s adapter, %s layout, rank %lld, scale %g (alpha %g%s), %lld modules on layers %lld-%lld, "
               "%lld parameters\n",
               dir, a->dora ? "DoRA" : "LoRA", adapter_layout_name(a->layout), (long long)a->rank, a->scale, a->alpha,
               a->rslora ? ", rsLoRA" : "", (long long)a->n_mods, (long long)lo, (long long)hi, (long long)params);
        printf("keys: ");
        for (size_t i = 0; i < json_array_size(keys); i++)
            printf("%s%s", i ? ", " : "", json_string_value(json_array_get(keys, i)));
        printf("\nbase model: %s\n", a->base_model ? a->base_model : "(not recorded)");
    }
    json_decref(j);
    return 0;
}

// ---- command ----
int cmd_adapters(int argc, char **argv) {
    const cli_command *cmd = cli_find_command("adapters");
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) {
        cli_args_release(&a);
        return rc < 0 ? 0 : rc;
    }
    static const char *const layouts[] = {"peft", "mlx", NULL};
    const char *sub = a.pos[0], *to = NULL;
    adapter ad;
    memset(&ad, 0, sizeof ad);
    model m;
    int have_model = 0;
    lora_set check;
    memset(&check, 0, sizeof check);
    rc = EXIT_USAGE;
    int is_convert = strcmp(sub, "convert") == 0, is_info = strcmp(sub, "info") == 0;
    if (!is_convert && !is_info) {
        static const char *const subs[] = {"convert", "info"};
        const char *best = closest_match(sub, subs, 2);
        cli_usage_error(cmd, "unknown subcommand '%s'%s%s%s (convert or info)", sub, best ? "; did you mean '" : "",
                        best ? best : "", best ? "'?" : "");
        goto done;
    }
    if (a.n_pos != (is_convert ? 3 : 2)) {
        cli_usage_error(cmd, is_convert ? "convert takes IN and OUT" : "info takes one adapter directory");
        goto done;
    }
    if (is_convert && (!cli_has(&a, "--to") || cli_get_choice(&a, "--to", layouts, &to))) {
        if (!cli_has(&a, "--to")) cli_usage_error(cmd, "convert needs --to peft or --to mlx");
        goto done;
    }
    rc = 1;
    const char *in = a.pos[1];
    if (adapter_read(&ad, in, cli_get(&a, "--adapter-file"))) {
        rc = cli_fail();
        goto done;
    }
    if (cli_has(&a, "--model")) {
        if (model_load(&m, cli_get(&a, "--model"))) {
            rc = cli_fail();
            goto done;
        }
        have_model = 1;
        if (adapter_to_lora(&ad, &m, &check)) { // layers and shapes against the model
            rc = cli_fail();
            goto done;
        }
    }
    if (is_info) {
        rc = adapters_info(&ad, in, cli_has(&a, "--json"));
        goto done;
    }
    const char *out = a.pos[2];
    adapter_layout layout = (adapter_layout)adapter_layout_from_name(to);
    atomic_dir dir;
    if (ad_open(&dir, out, cli_has(&a, "--force"))) {
        rc = cli_fail();
        goto done;
    }
    if (adapter_write(&ad, dir.tmp, layout, have_model ? m.cfg.n_layers : 0)) {
        ad_abort(&dir);
        rc = cli_fail();
        goto done;
    }
    if (ad_commit(&dir)) {
        rc = cli_fail();
        goto done;
    }
    fprintf(stderr, "wrote %s: %s adapter in %s layout (%lld modules, rank %lld, scale %g)\n", out,
            ad.dora ? "DoRA" : "LoRA", layout == ADAPTER_PEFT ? "PEFT" : "mlx-lm", (long long)ad.n_mods,
            (long long)ad.rank, ad.scale);
    rc = 0;
done:
    lora_release(&check);
    if (have_model) model_release(&m);
    adapter_release(&ad);
    cli_args_release(&a);
    return rc;
}

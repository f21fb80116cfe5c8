// cmd_fuse.c — `lorac fuse`: merge adapters into the base model and write an HF
// directory (and a GGUF), with mlx-lm's fuse flags.
#include "commands.h"
#include "gen_opts.h"

#include "../fuse/fuse.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

const cli_opt fuse_cli_opts[] = {
    {"--model", "MODEL", NULL, "base model: HF directory, HF cache repo id or GGUF file (required)", 0},
    {"--adapter-path", "DIR", "adapters", "adapter directory: mlx-lm or PEFT layout, with adapter_config.json", 0},
    {"--adapter-file", "NAME", NULL, "adapter weights file inside DIR (default: adapters.safetensors, or adapter_model.safetensors for PEFT)", 0},
    {"--save-path", "DIR", "fused_model", "HF directory to write (must not exist unless --force)", 0},
    {"--dtype", "T", NULL, "HF weights dtype: f32, f16 or bf16 (default: the base's; bf16 for quantized GGUF bases)", 0},
    {"--dequantize", NULL, NULL, "write a quantized GGUF base dequantized (always so: HF files hold no GGUF blocks)", 0},
    {"--export-gguf", NULL, NULL, "also write a GGUF for llama.cpp / Ollama / LM Studio", 0},
    {"--gguf-path", "F", NULL, "GGUF file name inside --save-path, or a path with a '/' (default: ggml-model-<type>.gguf)", 0},
    {"--gguf-type", "T", "f16", "GGUF tensor type: f16, bf16, q8_0 or f32 (norms and biases stay f32)", 0},
    {"--min-kept", "X", "0.9", "refuse a quantized GGUF that keeps less than this fraction of the adapter's change", 0},
    {"--force", NULL, NULL, "replace existing outputs", 0},
    {"--json", NULL, NULL, "print the report (what the adapter changed, how much each output keeps) as JSON", 0},
    {"--threads|-t", "N", NULL, "threads (default: all cores)", 0},
    {NULL},
};

static json_t *report_json(const fuse_opts *o, const fuse_report *r) {
    json_t *j = json_object();
    json_object_set_new(j, "save_path", json_string(o->save_path));
    json_object_set_new(j, "changed_tensors", json_integer(r->n_changed));
    json_object_set_new(j, "dtype", json_string(fuse_dtype_name(r->hf_dtype)));
    json_object_set_new(j, "kept", json_real(r->hf_kept));
    json_object_set_new(j, "kept_error", json_real(r->hf_err));
    json_object_set_new(j, "least_kept_tensor", json_string(r->hf_worst));
    json_object_set_new(j, "least_kept", json_real(r->hf_worst_kept));
    if (r->have_gguf) {
        json_t *g = json_object();
        json_object_set_new(g, "path", json_string(r->gguf_path));
        json_object_set_new(g, "type", json_string(fuse_dtype_name(r->gguf_dtype)));
        json_object_set_new(g, "kept", json_real(r->gguf_kept));
        json_object_set_new(g, "kept_error", json_real(r->gguf_err));
        json_object_set_new(j, "gguf", g);
    }
    return j;
}

int cmd_fuse(int argc, char **argv) {
    const cli_command *cmd = cli_find_command("fuse");
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) {
        cli_args_release(&a);
        return rc < 0 ? 0 : rc;
    }
    static const char *const htypes[] = {"f32", "f16", "bf16", NULL};
    static const char *const gtypes[] = {"f16", "bf16", "q8_0", "f32", NULL};
    fuse_opts o;
    fuse_opts_init(&o);
    const char *ht = NULL, *gt = NULL;
    double min_kept;
    if ((rc = gen_opts_threads(&a))) goto done;
    rc = EXIT_USAGE;
    if (!cli_get(&a, "--model")) {
        cli_usage_error(cmd, "--model is required");
        goto done;
    }
    if ((cli_has(&a, "--dtype") && cli_get_choice(&a, "--dtype", htypes, &ht)) || cli_get_choice(&a, "--gguf-type", gtypes, &gt) ||
        cli_get_double(&a, "--min-kept", &min_kept))
        goto done;
    if (!(min_kept > 0 && min_kept <= 1)) {
        cli_usage_error(cmd, "--min-kept must be in (0, 1], got %g", min_kept);
        goto done;
    }
    if (!cli_has(&a, "--export-gguf") && (cli_has(&a, "--gguf-path") || cli_has(&a, "--gguf-type")))
        fprintf(stderr, "lorac: warning: --gguf-path / --gguf-type have no effect without --export-gguf\n");
    o.model = cli_get(&a, "--model");
    o.adapter_path = cli_get(&a, "--adapter-path");
    o.adapter_file = cli_get(&a, "--adapter-file");
    o.save_path = cli_get(&a, "--save-path");
    o.dtype = ht ? fuse_dtype_from_name(ht) : -1;
    o.dequantize = cli_has(&a, "--dequantize");
    o.export_gguf = cli_has(&a, "--export-gguf");
    o.gguf_path = cli_get(&a, "--gguf-path");
    o.gguf_type = fuse_dtype_from_name(gt);
    o.force = cli_has(&a, "--force");
    o.min_kept = min_kept;
    o.log = stderr;
    fuse_report r;
    if (fuse_model(&o, &r)) {
        rc = cli_fail();
        goto done;
    }
    if (cli_has(&a, "--json")) {
        json_t *j = report_json(&o, &r);
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
        printf("%s\n", s);
        free(s);
        json_decref(j);
    }
    fuse_report_release(&r);
    rc = 0;
done:
    cli_args_release(&a);
    return rc;
}

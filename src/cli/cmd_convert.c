// cmd_convert.c — `lorac convert`: a model between the HF directory and GGUF
// formats (either way, or re-saved in another dtype).
#include "commands.h"
#include "gen_opts.h"

#include "../fuse/fuse.h"

#include <string.h>

const cli_opt convert_cli_opts[] = {
    {"--model", "MODEL", NULL, "input: HF directory, HF cache repo id or GGUF file (required)", 0},
    {"--out|-o", "PATH", NULL, "output: a name ending in .gguf writes a GGUF file, anything else an HF directory (required)", 0},
    {"--dtype", "T", NULL, "f32, f16, bf16, or q8_0 (GGUF only) (default: the input's; bf16 for quantized inputs)", 0},
    {"--force", NULL, NULL, "replace an existing output", 0},
    {"--threads|-t", "N", NULL, "threads (default: all cores)", 0},
    {NULL},
};

int cmd_convert(int argc, char **argv) {
    const cli_command *cmd = cli_find_command("convert");
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) {
        cli_args_release(&a);
        return rc < 0 ? 0 : rc;
    }
    static const char *const types[] = {"f32", "f16", "bf16", "q8_0", NULL};
    const char *t = NULL;
    convert_opts o;
    convert_opts_init(&o);
    if ((rc = gen_opts_threads(&a))) goto done;
    rc = EXIT_USAGE;
    if (!cli_get(&a, "--model") || !cli_get(&a, "--out")) {
        cli_usage_error(cmd, "--model and --out are required");
        goto done;
    }
    if (cli_has(&a, "--dtype") && cli_get_choice(&a, "--dtype", types, &t)) goto done;
    o.model = cli_get(&a, "--model");
    o.out = cli_get(&a, "--out");
    o.dtype = t ? fuse_dtype_from_name(t) : -1;
    o.force = cli_has(&a, "--force");
    o.log = stderr;
    size_t n = strlen(o.out);
    if (o.dtype == DTYPE_Q8_0 && !(n > 5 && strcmp(o.out + n - 5, ".gguf") == 0)) {
        cli_usage_error(cmd, "--dtype q8_0 is for GGUF output (an --out ending in .gguf); HF directories take f32, f16, bf16");
        goto done;
    }
    rc = convert_model(&o) ? cli_fail() : 0;
done:
    cli_args_release(&a);
    return rc;
}

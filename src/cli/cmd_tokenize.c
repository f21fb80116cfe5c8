// cmd_tokenize.c — `lorac tokenize`: text to token ids, or ids back to text (--decode).
#include "commands.h"

#include "../tokenizer/tokenizer.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const cli_opt tokenize_opts[] = {
    {"--model", "M", NULL, "HF model directory (or one holding tokenizer.json), GGUF file, or ORG/NAME", 0},
    {"--text|-t", "T", NULL, "the text to encode (with --decode: the ids)", 0},
    {"--file|-f", "F", NULL, "read the text (or ids) from file F ('-' = stdin)", 0},
    {"--json", NULL, NULL, "print ids as a JSON array", 0},
    {"--no-special", NULL, NULL, "do not add BOS/EOS or other post-processor tokens", 0},
    {"--decode", NULL, NULL, "input is ids (space/comma separated or a JSON array); print the text", 0},
    {"--skip-special", NULL, NULL, "with --decode: drop special tokens from the text", 0},
    {"--lines", NULL, NULL, "treat each input line separately; one output line per input line", 0},
    {"--count", NULL, NULL, "print only the number of tokens", 0},
    {"--stats", NULL, NULL, "report bytes, tokens, time and MB/s of encoding on stderr", 0},
    {NULL},
};

// ---- input ----
static int read_input(const char *path, char **out, size_t *n) {
    if (strcmp(path, "-") != 0) return file_read_all(path, out, n);
    strbuf sb;
    sb_init(&sb);
    char buf[65536];
    size_t r;
    while ((r = fread(buf, 1, sizeof buf, stdin)) > 0) sb_append(&sb, buf, r);
    if (ferror(stdin)) {
        sb_release(&sb);
        return err_set("stdin: read error");
    }
    *n = sb.len;
    *out = sb_detach(&sb);
    return 0;
}

// Ids from "1 2 3", "1,2,3" or "[1, 2, 3]".
static int parse_ids(const char *s, size_t n, tok_ids *ids) {
    size_t i = 0;
    while (i < n) {
        char c = s[i];
        if (isspace((unsigned char)c) || c == ',' || c == '[' || c == ']') {
            i++;
            continue;
        }
        if (!isdigit((unsigned char)c) && c != '-')
            return err_set("--decode: expected token ids, found '%c' at offset %zu", c, i);
        char *end;
        long long v = strtoll(s + i, &end, 10);
        if (end == s + i || v < INT32_MIN || v > INT32_MAX)
            return err_set("--decode: bad token id at offset %zu", i);
        tok_ids_push(ids, (int32_t)v);
        i = (size_t)(end - s);
    }
    return 0;
}

// ---- one unit of work ----
typedef struct {
    int json, count;
    double seconds;
    size_t bytes, tokens;
} enc_opts;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int do_encode(tokenizer *t, const char *s, size_t n, int add_special, enc_opts *o, strbuf *out) {
    tok_ids ids;
    tok_ids_init(&ids);
    double t0 = now_s();
    if (tok_encode(t, s, n, add_special, &ids) < 0) {
        tok_ids_release(&ids);
        return -1;
    }
    o->seconds += now_s() - t0;
    o->bytes += n;
    o->tokens += ids.n;
    int json = o->json;
    if (o->count) {
        sb_printf(out, "%zu\n", ids.n);
        tok_ids_release(&ids);
        return 0;
    }
    if (json) sb_putc(out, '[');
    for (size_t i = 0; i < ids.n; i++) sb_printf(out, i ? (json ? ",%d" : " %d") : "%d", ids.ids[i]);
    if (json) sb_putc(out, ']');
    sb_putc(out, '\n');
    tok_ids_release(&ids);
    return 0;
}

static int do_decode(tokenizer *t, const char *s, size_t n, int flags, strbuf *out) {
    tok_ids ids;
    tok_ids_init(&ids);
    int rc = parse_ids(s, n, &ids);
    if (rc == 0) rc = tok_decode(t, ids.ids, ids.n, flags, out);
    tok_ids_release(&ids);
    return rc;
}

// ---- command ----
int cmd_tokenize(int argc, char **argv) {
    const cli_command *cmd = cli_find_command("tokenize");
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) {
        cli_args_release(&a);
        return rc < 0 ? 0 : rc;
    }
    const char *model = cli_get(&a, "--model"), *text = cli_get(&a, "--text"), *file = cli_get(&a, "--file");
    if (!model || (!text == !file)) {
        rc = cli_usage_error(cmd, !model ? "--model is required" : "give exactly one of --text and --file");
        cli_args_release(&a);
        return rc;
    }
    char *buf = NULL;
    size_t n = 0;
    if (file && read_input(file, &buf, &n) < 0) {
        cli_args_release(&a);
        return cli_fail();
    }
    const char *in = file ? buf : text;
    if (!file) n = strlen(text);

    tokenizer *t = tok_load(model);
    if (!t) {
        free(buf);
        cli_args_release(&a);
        return cli_fail();
    }
    int decode = cli_has(&a, "--decode");
    enc_opts eo = {.json = cli_has(&a, "--json"), .count = cli_has(&a, "--count")};
    int add_special = !cli_has(&a, "--no-special");
    int flags = cli_has(&a, "--skip-special") ? TOK_SKIP_SPECIAL : 0;
    strbuf out;
    sb_init(&out);
    rc = 0;
    if (cli_has(&a, "--lines")) {
        size_t i = 0, line = 1;
        while (i < n && rc == 0) {
            const char *nl = memchr(in + i, '\n', n - i);
            size_t len = nl ? (size_t)(nl - (in + i)) : n - i;
            rc = decode ? do_decode(t, in + i, len, flags, &out) : do_encode(t, in + i, len, add_special, &eo, &out);
            if (rc < 0) err_prefix("line %zu", line);
            if (decode) sb_putc(&out, '\n');
            i += len + 1;
            line++;
            if (out.len > (1 << 20)) {
                fwrite(out.buf, 1, out.len, stdout);
                out.len = 0;
            }
        }
    } else {
        rc = decode ? do_decode(t, in, n, flags, &out) : do_encode(t, in, n, add_special, &eo, &out);
    }
    if (rc == 0) fwrite(out.buf, 1, out.len, stdout);
    if (rc == 0 && !decode && cli_has(&a, "--stats"))
        fprintf(stderr, "encoded %zu bytes into %zu tokens in %.3f s (%.1f MB/s, %.2f bytes/token)\n", eo.bytes,
                eo.tokens, eo.seconds, eo.seconds > 0 ? eo.bytes / eo.seconds / 1e6 : 0.0,
                eo.tokens ? (double)eo.bytes / (double)eo.tokens : 0.0);
    sb_release(&out);
    tok_free(t);
    free(buf);
    cli_args_release(&a);
    return rc < 0 ? cli_fail() : 0;
}

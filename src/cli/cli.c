// cli.c — option parsing with did-you-mean, help output, error printing.
#include "cli.h"

#include <stdlib.h>
#include <string.h>

// ---- commands ----
const cli_command *cli_find_command(const char *name) {
    for (int i = 0; i < n_commands; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

// ---- option lookup ----
static int opt_count(const cli_command *cmd) {
    int n = 0;
    while (cmd->opts && cmd->opts[n].name) n++;
    return n;
}

// Does `given` name option o ("--out|-o" matches "--out" and "-o")?
static int opt_matches(const cli_opt *o, const char *given, size_t glen) {
    const char *p = o->name;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == glen && strncmp(p, given, len) == 0) return 1;
        if (!bar) break;
        p = bar + 1;
    }
    return 0;
}

static int opt_index(const cli_command *cmd, const char *given, size_t glen) {
    int n = opt_count(cmd);
    for (int i = 0; i < n; i++)
        if (opt_matches(&cmd->opts[i], given, glen)) return i;
    return -1;
}

// The primary spelling of an option (before any '|').
static void opt_primary(const cli_opt *o, char *buf, size_t bufsz) {
    const char *bar = strchr(o->name, '|');
    size_t len = bar ? (size_t)(bar - o->name) : strlen(o->name);
    if (len >= bufsz) len = bufsz - 1;
    memcpy(buf, o->name, len);
    buf[len] = 0;
}

int cli_usage_error(const cli_command *cmd, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "lorac %s: %s\n", cmd->name, msg);
    fprintf(stderr, "usage: %s\n(see 'lorac help %s')\n", cmd->usage, cmd->name);
    return EXIT_USAGE;
}

// ---- parsing ----
int cli_parse(const cli_command *cmd, int argc, char **argv, cli_args *a) {
    int n = opt_count(cmd);
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    a->val = xcalloc((size_t)n + 1, sizeof *a->val);
    a->count = xcalloc((size_t)n + 1, sizeof *a->count);
    a->multi = xcalloc((size_t)n + 1, sizeof *a->multi);
    a->pos = xcalloc((size_t)argc + 1, sizeof *a->pos);
    int only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (only_pos || s[0] != '-' || strcmp(s, "-") == 0) {
            a->pos[a->n_pos++] = s;
            continue;
        }
        if (strcmp(s, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            cli_print_help(stdout, cmd);
            return -1;
        }
        const char *eq = strchr(s, '=');
        size_t len = eq ? (size_t)(eq - s) : strlen(s);
        int k = opt_index(cmd, s, len);
        if (k < 0) {
            char given[256], prim[128];
            snprintf(given, sizeof given, "%.*s", (int)len, s);
            const char **names = xcalloc((size_t)n + 1, sizeof *names);
            char(*bufs)[128] = xcalloc((size_t)n + 1, sizeof *bufs);
            for (int j = 0; j < n; j++) {
                opt_primary(&cmd->opts[j], bufs[j], sizeof bufs[j]);
                names[j] = bufs[j];
            }
            const char *best = closest_match(given, names, (size_t)n);
            if (best) snprintf(prim, sizeof prim, "%s", best);
            free(names);
            free(bufs);
            if (best) return cli_usage_error(cmd, "unknown option '%s'; did you mean '%s'?", given, prim);
            return cli_usage_error(cmd, "unknown option '%s'", given);
        }
        const cli_opt *o = &cmd->opts[k];
        const char *v = NULL;
        if (o->arg) {
            if (eq) v = eq + 1;
            else if (i + 1 < argc) v = argv[++i];
            else return cli_usage_error(cmd, "option '%.*s' needs a value (%s)", (int)len, s, o->arg);
        } else if (eq) {
            return cli_usage_error(cmd, "option '%.*s' takes no value", (int)len, s);
        } else {
            v = "1";
        }
        if (a->count[k] && !o->repeat && o->arg)
            return cli_usage_error(cmd, "option '%.*s' given more than once", (int)len, s);
        a->val[k] = v;
        if (o->repeat) {
            a->multi[k] = xrealloc(a->multi[k], (size_t)(a->count[k] + 2) * sizeof(char *));
            a->multi[k][a->count[k]] = v;
            a->multi[k][a->count[k] + 1] = NULL;
        }
        a->count[k]++;
    }
    if (a->n_pos < cmd->min_pos)
        return cli_usage_error(cmd, "expected %d argument%s, got %d", cmd->min_pos, cmd->min_pos == 1 ? "" : "s",
                               a->n_pos);
    if (cmd->max_pos >= 0 && a->n_pos > cmd->max_pos)
        return cli_usage_error(cmd, "unexpected argument '%s'", a->pos[cmd->max_pos]);
    return 0;
}

void cli_args_release(cli_args *a) {
    if (!a) return;
    int n = a->cmd ? opt_count(a->cmd) : 0;
    for (int i = 0; i < n && a->multi; i++) free(a->multi[i]);
    free(a->multi);
    free(a->val);
    free(a->count);
    free(a->pos);
    memset(a, 0, sizeof *a);
}

static int must_index(const cli_args *a, const char *name) {
    int k = opt_index(a->cmd, name, strlen(name));
    LORAC_ASSERT(k >= 0); // asking for an option the command does not declare is a bug
    return k;
}

const char *cli_get(const cli_args *a, const char *name) {
    int k = must_index(a, name);
    return a->val[k] ? a->val[k] : a->cmd->opts[k].def;
}

int cli_has(const cli_args *a, const char *name) { return a->count[must_index(a, name)] > 0; }

int cli_get_multi(const cli_args *a, const char *name, const char ***vals) {
    int k = must_index(a, name);
    *vals = a->multi[k];
    return a->count[k];
}

int cli_get_int(const cli_args *a, const char *name, int64_t *out) {
    const char *v = cli_get(a, name);
    if (!v) return -1;
    if (parse_int64(v, out, name) == 0) return 0;
    cli_usage_error(a->cmd, "%s", err_msg());
    return -1;
}

int cli_get_double(const cli_args *a, const char *name, double *out) {
    const char *v = cli_get(a, name);
    if (!v) return -1;
    if (parse_double(v, out, name) == 0) return 0;
    cli_usage_error(a->cmd, "%s", err_msg());
    return -1;
}

int cli_get_choice(const cli_args *a, const char *name, const char *const *choices, const char **out) {
    const char *v = cli_get(a, name);
    size_t n = 0;
    while (choices[n]) n++;
    for (size_t i = 0; i < n; i++)
        if (v && strcmp(v, choices[i]) == 0) {
            *out = choices[i];
            return 0;
        }
    strbuf sb;
    sb_init(&sb);
    for (size_t i = 0; i < n; i++) sb_printf(&sb, "%s%s", i ? ", " : "", choices[i]);
    const char *best = v ? closest_match(v, choices, n) : NULL;
    if (best) cli_usage_error(a->cmd, "%s: unknown value '%s'; did you mean '%s'? (one of: %s)", name, v, best, sb.buf);
    else cli_usage_error(a->cmd, "%s: unknown value '%s' (one of: %s)", name, v ? v : "", sb.buf);
    sb_release(&sb);
    return -1;
}

// ---- help ----
void cli_print_help(FILE *f, const cli_command *cmd) {
    fprintf(f, "usage: %s\n\n%s\n", cmd->usage, cmd->summary);
    if (cmd->details) fprintf(f, "\n%s\n", cmd->details);
    int n = opt_count(cmd);
    if (!n) return;
    fprintf(f, "\noptions:\n");
    for (int i = 0; i < n; i++) {
        const cli_opt *o = &cmd->opts[i];
        char left[160];
        char names[128];
        snprintf(names, sizeof names, "%s", o->name);
        for (char *p = names; *p; p++)
            if (*p == '|') *p = ',';
        if (o->arg) snprintf(left, sizeof left, "%s %s", names, o->arg);
        else snprintf(left, sizeof left, "%s", names);
        fprintf(f, "  %-30s %s", left, o->help);
        // help text may state the default itself ("(default: the preset's)", "(required)")
        int says = strstr(o->help, "(default") || strstr(o->help, "(required");
        if (o->def) fprintf(f, " (default: %s)", o->def);
        else if (o->arg && !says) fprintf(f, " (default: none)");
        if (o->repeat) fprintf(f, " [repeatable]");
        fprintf(f, "\n");
    }
    fprintf(f, "  %-30s %s\n", "--help,-h", "show this help");
}

int cli_fail(void) {
    const char *m = err_msg();
    fprintf(stderr, "lorac: error: %s\n", *m ? m : "unknown error");
    if (*err_hint_msg()) fprintf(stderr, "hint: %s\n", err_hint_msg());
    return 1;
}

// cmd_template.c — `lorac template`: render a chat template exactly as Hugging Face's
// apply_chat_template would, and print the prompt as is (no newline added).
#include "commands.h"

#include "../io/model_path.h"
#include "../template/template.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

const cli_opt template_opts[] = {
    {"--model", "M", NULL, "model whose chat template and special tokens to use: HF directory, GGUF file, or ORG/NAME", 0},
    {"--template", "FILE", NULL, "a Jinja template file instead of the model's (tokens still come from --model)", 0},
    {"--template-name", "NAME", NULL, "one of the model's named templates (default: 'tool_use' with --tools when present, else 'default')", 0},
    {"--messages", "FILE", NULL, "JSON list of messages, or an object with \"messages\" (and \"tools\"); '-' = stdin", 0},
    {"--tools", "FILE", NULL, "JSON list of tool schemas", 0},
    {"--add-generation-prompt", NULL, NULL, "end with the opening of the assistant's turn", 0},
    {"--var", "K=V", NULL, "extra variable; V is parsed as JSON when valid, else taken as a string", 1},
    {"--now", "YYYY-MM-DD", NULL, "the date strftime_now() sees (default: today)", 0},
    {NULL, NULL, NULL, NULL, 0},
};

static json_t *load_json(const char *path, const char *what) {
    json_error_t je;
    json_t *j = strcmp(path, "-") == 0 ? json_loadf(stdin, 0, &je) : json_load_file(path, 0, &je);
    if (!j) {
        err_set("%s %s:%d:%d: %s", what, strcmp(path, "-") ? path : "<stdin>", je.line, je.column, je.text);
        return NULL;
    }
    return j;
}

static int parse_date(const char *s, struct tm *out) {
    int y, m, d;
    char extra;
    if (sscanf(s, "%d-%d-%d%c", &y, &m, &d, &extra) != 3 || y < 1 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
        return err_set("--now: expected a date YYYY-MM-DD, got '%s'", s);
    struct tm t;
    memset(&t, 0, sizeof t);
    t.tm_year = y - 1900, t.tm_mon = m - 1, t.tm_mday = d;
    time_t secs = timegm(&t);
    gmtime_r(&secs, &t); // normalizes and fills the weekday
    if (t.tm_mday != d || t.tm_mon != m - 1) return err_set("--now: '%s' is not a calendar date", s);
    *out = t;
    return 0;
}

// --var K=V into vars: V as JSON when it parses, else as a string.
static int add_var(json_t *vars, const char *kv) {
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) return err_set("--var: expected K=V, got '%s'", kv);
    char *key = xstrndup(kv, (size_t)(eq - kv));
    json_t *v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
    if (!v) v = json_string(eq + 1);
    if (!v) { // not valid UTF-8
        free(key);
        return err_set("--var %s: value is not valid UTF-8", kv);
    }
    json_object_set_new(vars, key, v);
    free(key);
    return 0;
}

static int run(cli_args *a) {
    const char *model = cli_get(a, "--model"), *tpl_file = cli_get(a, "--template");
    const char *name = cli_get(a, "--template-name");
    int rc = -1;
    json_t *messages = NULL, *tools = NULL, *extra = json_object();
    chat_template_src src = {0};
    char *file_src = NULL;
    strbuf out;
    sb_init(&out);

    json_t *m = load_json(cli_get(a, "--messages"), "--messages");
    if (!m) goto done;
    if (json_is_object(m)) { // a data record: {"messages": [...], "tools": [...]}
        messages = json_incref(json_object_get(m, "messages"));
        tools = json_incref(json_object_get(m, "tools"));
        json_decref(m);
    } else messages = m;
    if (!json_is_array(messages)) {
        err_set("--messages: expected a JSON list of messages (or an object with \"messages\")");
        goto done;
    }
    if (cli_get(a, "--tools")) {
        json_decref(tools);
        if (!(tools = load_json(cli_get(a, "--tools"), "--tools"))) goto done;
    }
    if (tools && json_is_null(tools)) {
        json_decref(tools);
        tools = NULL;
    }

    const char *source = NULL, *origin = NULL;
    if (model) {
        model_src ms;
        if (model_path_resolve(model, &ms) < 0) goto done;
        int is_gguf = ms.kind == MODEL_SRC_GGUF, loaded = 0;
        if (tpl_file) { // the template comes from the file, the special tokens from the model
            json_t *special = chat_special_tokens(ms.path, is_gguf);
            if (special) json_object_update(extra, special);
            else loaded = -1;
            json_decref(special);
        } else {
            loaded = chat_template_load(ms.path, is_gguf, name, tools != NULL, &src);
            if (loaded == 0) {
                json_object_update(extra, src.special);
                source = src.source, origin = src.origin;
            }
        }
        model_src_release(&ms);
        if (loaded < 0) goto done;
    }
    if (tpl_file) {
        size_t n;
        if (file_read_all(tpl_file, &file_src, &n) < 0) goto done;
        source = file_src, origin = tpl_file;
    }

    const char **vars;
    int nv = cli_get_multi(a, "--var", &vars);
    for (int i = 0; i < nv; i++)
        if (add_var(extra, vars[i]) < 0) goto done;

    struct tm day, *now = NULL;
    if (cli_get(a, "--now")) {
        if (parse_date(cli_get(a, "--now"), &day) < 0) goto done;
        now = &day;
    }

    tpl_template *t = tpl_parse(source, origin);
    if (!t) goto done;
    json_t *all = json_object();
    json_object_set(all, "messages", messages);
    if (tools) json_object_set(all, "tools", tools);
    json_object_set_new(all, "add_generation_prompt", json_boolean(cli_has(a, "--add-generation-prompt")));
    json_object_update(all, extra);
    tpl_vars tv = {.vars = all, .now = now};
    rc = tpl_render(t, &tv, &out);
    json_decref(all);
    tpl_free(t);
    if (rc == 0 && out.len && fwrite(out.buf, 1, out.len, stdout) != out.len) rc = err_set("stdout: write failed");
    if (rc == 0 && fflush(stdout) != 0) rc = err_set("stdout: write failed");

done:
    sb_release(&out);
    free(file_src);
    chat_template_src_release(&src);
    json_decref(messages);
    json_decref(tools);
    json_decref(extra);
    return rc;
}

int cmd_template(int argc, char **argv) {
    const cli_command *cmd = cli_find_command("template");
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) {
        cli_args_release(&a);
        return rc < 0 ? 0 : rc;
    }
    if (!cli_get(&a, "--model") && !cli_get(&a, "--template"))
        rc = cli_usage_error(cmd, "give --model M or --template FILE.jinja");
    else if (!cli_get(&a, "--messages")) rc = cli_usage_error(cmd, "--messages FILE.json is required");
    else rc = run(&a) < 0 ? cli_fail() : 0;
    cli_args_release(&a);
    return rc;
}

// test_template.c — the Jinja chat-template engine against jinja2:
//   1. every HF-rendered case in $LORAC_SHARED/fixtures/chat_templates (byte for byte);
//   2. tests/data/template_cases.json rendered here vs tests/golden/template/cases.json
//      (made by tests/ref/make_template_goldens.py with jinja2 configured as HF does),
//      expected errors included;
//   3. error positions and messages, the chat API, model directories and GGUF files.
#include "test.h"

#include "core/core.h"
#include "io/gguf.h"
#include "template/template.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

static struct tm fixed_day(int y, int m, int d) {
    struct tm t;
    memset(&t, 0, sizeof t);
    t.tm_year = y - 1900, t.tm_mon = m - 1, t.tm_mday = d, t.tm_hour = 12;
    time_t s = timegm(&t);
    gmtime_r(&s, &t); // fills tm_wday / tm_yday
    return t;
}

// Print where two strings first differ.
static void show_diff(const char *what, const char *got, size_t glen, const char *want, size_t wlen) {
    size_t i = 0;
    while (i < glen && i < wlen && got[i] == want[i]) i++;
    size_t from = i > 40 ? i - 40 : 0;
    fprintf(stderr, "  %s: first difference at byte %zu (got %zu bytes, want %zu)\n", what, i, glen, wlen);
    fprintf(stderr, "    got:  ...%.*s...\n", (int)(glen - from < 100 ? glen - from : 100), got + from);
    fprintf(stderr, "    want: ...%.*s...\n", (int)(wlen - from < 100 ? wlen - from : 100), want + from);
}

static char *shared_path(const char *rel) {
    const char *base = getenv("LORAC_SHARED");
    if (!base || !*base) base = "../shared";
    return path_join(base, rel);
}

// ---- 1. HF-rendered fixtures ----
static void test_hf_fixtures(void) {
    char *path = shared_path("fixtures/chat_templates/hf_rendered_cases.json");
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    CHECK_MSG(root != NULL, "%s: %s (set LORAC_SHARED)", path, je.text);
    if (!root) {
        free(path);
        return;
    }
    struct tm day = fixed_day(2025, 12, 17);
    int total = 0, ok = 0;
    const char *model;
    json_t *entry;
    json_object_foreach(root, model, entry) {
        const char *src = json_string_value(json_object_get(entry, "template"));
        tpl_template *t = tpl_parse(src, model);
        CHECK_MSG(t != NULL, "%s: %s", model, err_msg());
        json_t *cases = json_object_get(entry, "cases");
        size_t i;
        json_t *cs;
        json_array_foreach(cases, i, cs) {
            total++;
            if (!t) continue;
            json_t *vars = json_deep_copy(json_object_get(entry, "special_tokens"));
            json_object_set(vars, "messages", json_object_get(cs, "messages"));
            if (json_object_get(cs, "tools")) json_object_set(vars, "tools", json_object_get(cs, "tools"));
            json_object_set(vars, "add_generation_prompt", json_object_get(cs, "add_generation_prompt"));
            tpl_vars v = {.vars = vars, .now = &day};
            strbuf out;
            sb_init(&out);
            err_clear();
            int rc = tpl_render(t, &v, &out);
            const char *want = json_string_value(json_object_get(cs, "expected"));
            size_t wlen = json_string_length(json_object_get(cs, "expected"));
            int same = rc == 0 && out.len == wlen && memcmp(out.buf ? out.buf : "", want, wlen) == 0;
            if (same) ok++;
            else {
                fprintf(stderr, "FAIL fixture %s / %s: %s\n", model,
                        json_string_value(json_object_get(cs, "description")), rc ? err_msg() : "output differs");
                if (!rc) show_diff("output", out.buf ? out.buf : "", out.len, want, wlen);
            }
            CHECK(same);
            sb_release(&out);
            json_decref(vars);
        }
        tpl_free(t);
    }
    printf("hf fixtures: %d/%d reproduced byte for byte\n", ok, total);
    CHECK(total == 317);
    json_decref(root);
    free(path);
}

// ---- 2. own cases vs jinja2 goldens ----
static void test_golden_cases(void) {
    json_error_t je;
    json_t *data = json_load_file("tests/data/template_cases.json", 0, &je);
    json_t *gold = json_load_file("tests/golden/template/cases.json", 0, &je);
    CHECK_MSG(data && gold, "cannot load template cases or goldens: %s", je.text);
    if (!data || !gold) {
        json_decref(data), json_decref(gold);
        return;
    }
    json_t *golden = json_object_get(gold, "cases");
    struct tm day = fixed_day(2025, 12, 17);
    int n = 0, n_ok = 0, n_err = 0;
    size_t i;
    json_t *cs;
    json_array_foreach(json_object_get(data, "cases"), i, cs) {
        const char *name = json_string_value(json_object_get(cs, "name"));
        const char *src = json_string_value(json_object_get(cs, "template"));
        json_t *g = json_object_get(golden, name);
        CHECK_MSG(g != NULL, "case %s has no golden (rerun tests/ref/make_template_goldens.py)", name);
        if (!g) continue;
        n++;
        json_t *vars = json_deep_copy(json_object_get(data, "defaults"));
        json_object_update(vars, json_object_get(cs, "vars"));
        err_clear();
        tpl_template *t = tpl_parse(src, "case");
        strbuf out;
        sb_init(&out);
        int rc = -1;
        if (t) {
            tpl_vars v = {.vars = vars, .now = &day};
            rc = tpl_render(t, &v, &out);
        }
        const char *want = json_string_value(json_object_get(g, "output"));
        if (want) {
            size_t wlen = json_string_length(json_object_get(g, "output"));
            int same = rc == 0 && out.len == wlen && memcmp(out.buf ? out.buf : "", want, wlen) == 0;
            if (!same) {
                fprintf(stderr, "FAIL case %s: %s\n", name, rc ? err_msg() : "output differs");
                if (!rc) show_diff("output", out.buf ? out.buf : "", out.len, want, wlen);
            }
            CHECK(same);
            n_ok += same;
        } else {
            const char *phase = json_string_value(json_object_get(g, "phase"));
            // where lorac deliberately fails earlier than jinja2 (e.g. {% include %} at parse)
            if (json_object_get(cs, "lorac_phase")) phase = json_string_value(json_object_get(cs, "lorac_phase"));
            const char *jmsg = json_string_value(json_object_get(g, "error"));
            int parse_phase = phase && !strcmp(phase, "parse");
            int failed_right = parse_phase ? t == NULL : (t != NULL && rc < 0);
            CHECK_MSG(failed_right, "case %s: jinja2 fails at %s (%s) but lorac %s: %s", name, phase, jmsg,
                      t ? (rc ? "failed at render" : "rendered") : "failed at parse", t && !rc ? out.buf : err_msg());
            // the template position comes first: "case:<line>:<col>: "
            CHECK_MSG(strncmp(err_msg(), "case:", 5) == 0, "case %s: error lacks a position: %s", name, err_msg());
            json_t *line = json_object_get(g, "line");
            if (parse_phase && json_is_integer(line)) {
                char needle[32];
                snprintf(needle, sizeof needle, "case:%d:", (int)json_integer_value(line));
                CHECK_MSG(strstr(err_msg(), needle) != NULL, "case %s: jinja2 says line %d, lorac: %s", name,
                          (int)json_integer_value(line), err_msg());
            }
            // runtime errors carry Python's / jinja2's message
            const char *needle = json_string_value(json_object_get(cs, "error_needle"));
            if (!parse_phase && !needle) needle = jmsg;
            if (needle) CHECK_MSG(strstr(err_msg(), needle) != NULL, "case %s: error '%s' lacks '%s'", name, err_msg(), needle);
            n_err += failed_right;
        }
        sb_release(&out);
        tpl_free(t);
        json_decref(vars);
    }
    printf("own cases: %d (%d outputs, %d expected errors) matched jinja2 %s\n", n, n_ok, n_err,
           json_string_value(json_object_get(gold, "jinja2")));
    json_decref(data);
    json_decref(gold);
}

// ---- 3. errors: what, where ----
static int parse_fails(const char *src) {
    tpl_template *t = tpl_parse(src, "t.jinja");
    if (!t) return -1;
    tpl_free(t);
    return 0;
}

static int render_str(const char *src, const char *vars_json, strbuf *out) {
    tpl_template *t = tpl_parse(src, "t.jinja");
    if (!t) return -1;
    json_t *vars = vars_json ? json_loads(vars_json, 0, NULL) : NULL;
    tpl_vars v = {.vars = vars};
    int rc = tpl_render(t, &v, out);
    json_decref(vars);
    tpl_free(t);
    return rc;
}

static int render_fails(const char *src) {
    strbuf out;
    sb_init(&out);
    int rc = render_str(src, "{\"d\": {\"a\": 1}, \"l\": [1, 2]}", &out);
    sb_release(&out);
    return rc;
}

static void test_errors(void) {
    // syntax errors of each kind: file:line:col and what was expected
    CHECK_ERR(parse_fails("a\n{% if x %}\nb"), "t.jinja:3:2: expected 'endif', got end of template (the 'if' block opened at 2:4");
    CHECK_ERR(parse_fails("{% for x in l %}{{ x }}"), "t.jinja:1:24: expected 'endfor', got end of template");
    CHECK_ERR(parse_fails("{% macro m() %}"), "expected 'endmacro', got end of template");
    CHECK_ERR(parse_fails("{% set x %}abc"), "expected 'endset', got end of template");
    CHECK_ERR(parse_fails("{% for x in l %}\n  {% if x %}\n{% endfor %}"), "t.jinja:3:4: unexpected 'endfor': expected 'endif' first");
    CHECK_ERR(parse_fails("x\n  {% frobnicate %}"), "t.jinja:2:6: unknown tag 'frobnicate'");
    CHECK_ERR(parse_fails("{% endfi %}"), "unknown tag 'endfi'");
    CHECK_ERR(parse_fails("{% endif %}"), "t.jinja:1:4: unexpected 'endif': no block is open");
    CHECK_ERR(parse_fails("{% fro x in l %}{% endfor %}"), "unknown tag 'fro'; did you mean 'for'?");
    CHECK_ERR(parse_fails("{{ 'abc }}"), "t.jinja:1:4: unterminated string literal");
    CHECK_ERR(parse_fails("{{ 1 + }}"), "t.jinja:1:8: expected an expression, got '}}'");
    CHECK_ERR(parse_fails("{{ x"), "t.jinja:1:5: expected '}}', got end of template");
    CHECK_ERR(parse_fails("{% if x"), "expected '%}', got end of template");
    CHECK_ERR(parse_fails("{# abc"), "t.jinja:1:1: unclosed comment");
    CHECK_ERR(parse_fails("{% raw %}x"), "missing {% endraw %}");
    CHECK_ERR(parse_fails("{{ a ! b }}"), "t.jinja:1:6: unexpected character '!'");
    CHECK_ERR(parse_fails("{{ [1, 2) }}"), "t.jinja:1:9: unexpected ')', expected ']' to close the bracket at 1:4");
    CHECK_ERR(parse_fails("{{ x|uper }}"), "t.jinja:1:6: no filter named 'uper'; did you mean 'upper'?");
    CHECK_ERR(parse_fails("{{ x is strin }}"), "no test named 'strin'; did you mean 'string'?");
    CHECK_ERR(parse_fails("{% break %}"), "'break' outside of a for loop");
    CHECK_ERR(parse_fails("{% include 'x' %}"), "'include' is not supported");
    CHECK_ERR(parse_fails("{{ '\\x4g' }}"), "truncated \\x escape");
    CHECK_ERR(parse_fails("é\n  ✓ {{ ) }}"), "t.jinja:2:8: unexpected ')'"); // columns count characters
    CHECK_ERR(parse_fails("{% if 1 %}{% else %}{% else %}{% endif %}"), "unexpected 'else'");
    // render errors carry the position too
    CHECK_ERR(render_fails("line\n{{ d.a.b.c }}"), "t.jinja:2:10: 'int object' has no attribute 'b'");
    CHECK_ERR(render_fails("{{ nope.x }}"), "t.jinja:1:9: 'nope' is undefined");
    CHECK_ERR(render_fails("{{ raise_exception('bad input: ' ~ l|length) }}"), "t.jinja:1:19: bad input: 2");
    CHECK_ERR(render_fails("{{ 1 + 'a' }}"), "unsupported operand type(s) for +: 'int' and 'str'");
    CHECK_ERR(render_fails("{{ l.append(3) }}"), "access to attribute 'append' of 'list' object is unsafe");
    CHECK_ERR(render_fails("{{ 1 // 0 }}"), "integer division or modulo by zero");
    CHECK_ERR(render_fails("{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}"), "maximum recursion depth exceeded");
    CHECK_ERR(render_fails("{{ range(100001)|length }}"), "Range too big");
    CHECK_ERR(render_fails("{% set x = 1 %}{% set x.y = 2 %}"), "cannot assign attribute on non-namespace object");
    CHECK_ERR(render_fails("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"),
              "more than 1024 MiB of memory");
    // parsing is stable after an error (nothing leaks, nothing is left half-built)
    for (int i = 0; i < 3; i++) CHECK_ERR(parse_fails("{% if %}"), "expected an expression, got '%}'");
}

// ---- 4. bad input never crashes: truncations, mutations, deep nesting ----
static void test_robustness(void) {
    char *path = shared_path("fixtures/chat_templates/hf_rendered_cases.json");
    json_t *root = json_load_file(path, 0, NULL);
    free(path);
    int parsed = 0, rejected = 0;
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    if (root) {
        const char *model;
        json_t *entry;
        json_object_foreach(root, model, entry) {
            const char *src = json_string_value(json_object_get(entry, "template"));
            size_t n = strlen(src);
            json_t *vars = json_deep_copy(json_object_get(entry, "special_tokens"));
            json_object_set(vars, "messages", json_object_get(json_array_get(json_object_get(entry, "cases"), 0), "messages"));
            for (size_t cut = 0; cut < n; cut += 1 + n / 150) { // every prefix class: ends inside tags, strings, blocks
                char *pre = xstrndup(src, cut);
                // and a mutated copy: one byte replaced by a template metacharacter
                char *mut = xstrdup(src);
                seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                mut[(seed >> 33) % n] = "{}%#'\"()[]|.-~"[(seed >> 20) % 14];
                const char *srcs[2] = {pre, mut};
                for (int k = 0; k < 2; k++) {
                    tpl_template *t = tpl_parse(srcs[k], "fuzz");
                    if (!t) {
                        rejected++;
                        CHECK(strncmp(err_msg(), "fuzz:", 5) == 0);
                        continue;
                    }
                    parsed++;
                    strbuf out;
                    sb_init(&out);
                    tpl_vars v = {.vars = vars};
                    if (tpl_render(t, &v, &out) < 0) CHECK(strncmp(err_msg(), "fuzz:", 5) == 0);
                    sb_release(&out);
                    tpl_free(t);
                }
                free(pre);
                free(mut);
            }
            json_decref(vars);
        }
        json_decref(root);
    }
    printf("robustness: %d truncated/mutated templates parsed, %d rejected with a positioned error\n", parsed, rejected);
    // deep nesting is refused with an error instead of exhausting the stack
    strbuf s;
    sb_init(&s);
    sb_puts(&s, "{{ 1");
    for (int i = 0; i < 100000; i++) sb_puts(&s, " + 1");
    sb_puts(&s, " }}");
    CHECK_ERR(parse_fails(s.buf), "t.jinja:1:4006: expression nested too deeply (more than 1000 levels)");
    s.len = 0;
    sb_puts(&s, "{{ x");
    for (int i = 0; i < 100000; i++) sb_puts(&s, i % 2 ? ".a" : "|trim");
    sb_puts(&s, " }}");
    CHECK_ERR(parse_fails(s.buf), "expression nested too deeply");
    s.len = 0;
    sb_puts(&s, "{{ 1");
    for (int i = 0; i < 999; i++) sb_puts(&s, " + 1");
    sb_puts(&s, " }}");
    CHECK(parse_fails(s.buf) == 0); // 1000 levels are fine
    s.len = 0;
    sb_puts(&s, "{{ ");
    for (int i = 0; i < 300; i++) sb_puts(&s, "(");
    sb_puts(&s, "1");
    for (int i = 0; i < 300; i++) sb_puts(&s, ")");
    sb_puts(&s, " }}");
    CHECK_ERR(parse_fails(s.buf), "nested too deeply");
    s.len = 0;
    for (int i = 0; i < 300; i++) sb_puts(&s, "{% if 1 %}");
    CHECK_ERR(parse_fails(s.buf), "nested too deeply");
    sb_release(&s);
    // invalid UTF-8 in a template passes through as bytes
    strbuf out;
    sb_init(&out);
    CHECK(render_str("a\xff\xfe{{ 'b\xc3' }}c", NULL, &out) == 0 && out.len == 6);
    sb_release(&out);
}

// ---- 5. the chat API, model directories and GGUF files ----
static void write_file(const char *dir, const char *name, const char *text) {
    char *p = path_join(dir, name);
    CHECK(file_write_atomic(p, text, strlen(text)) == 0);
    free(p);
}

static void test_chat_api(void) {
    // template selection from tokenizer_config.json's chat_template
    json_t *one = json_string("T0");
    json_t *many = json_loads("[{\"name\": \"default\", \"template\": \"D\"}, {\"name\": \"tool_use\", \"template\": \"U\"},"
                              " {\"name\": \"rag\", \"template\": \"R\"}]", 0, NULL);
    char *s;
    CHECK((s = chat_template_select(one, NULL, 0)) && !strcmp(s, "T0"));
    free(s);
    CHECK((s = chat_template_select(many, NULL, 0)) && !strcmp(s, "D"));
    free(s);
    CHECK((s = chat_template_select(many, NULL, 1)) && !strcmp(s, "U"));
    free(s);
    CHECK((s = chat_template_select(many, "rag", 1)) && !strcmp(s, "R"));
    free(s);
    err_clear();
    CHECK(chat_template_select(many, "nope", 0) == NULL && strstr(err_msg(), "'nope' not found; this model has 'default', 'tool_use', 'rag'"));
    CHECK(chat_template_select(one, "tool_use", 0) == NULL);
    json_decref(one);
    json_decref(many);
    // special tokens: a string or an AddedToken object
    json_t *tok = json_loads("{\"a\": \"<s>\", \"b\": {\"__type\": \"AddedToken\", \"content\": \"</s>\"}, \"c\": null}", 0, NULL);
    CHECK((s = chat_special_token(json_object_get(tok, "a"))) && !strcmp(s, "<s>"));
    free(s);
    CHECK((s = chat_special_token(json_object_get(tok, "b"))) && !strcmp(s, "</s>"));
    free(s);
    CHECK(chat_special_token(json_object_get(tok, "c")) == NULL);
    json_decref(tok);
    // chat_template_render: messages, tools, add_generation_prompt, extra variables
    json_t *msgs = json_loads("[{\"role\": \"user\", \"content\": \"hi\"}]", 0, NULL);
    json_t *tools = json_loads("[{\"name\": \"f\"}]", 0, NULL);
    json_t *extra = json_loads("{\"bos_token\": \"<s>\", \"enable_thinking\": false}", 0, NULL);
    struct tm day = fixed_day(2025, 12, 17);
    strbuf out;
    sb_init(&out);
    CHECK(chat_template_render("{{ bos_token }}{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}"
                               "{{ tools|tojson }}{{ add_generation_prompt }}{{ enable_thinking }}{{ strftime_now('%d %b %Y') }}",
                               msgs, tools, 1, extra, &day, &out) == 0);
    CHECK_MSG(out.buf && !strcmp(out.buf, "<s>[user:hi][{\"name\": \"f\"}]TrueFalse17 Dec 2025"), "%s", out.buf);
    out.len = 0;
    CHECK(chat_template_render("{{ tools is defined }}", msgs, NULL, 0, NULL, &day, &out) == 0 && !strcmp(out.buf, "False"));
    CHECK_ERR(chat_template_render("{% if %}", msgs, NULL, 0, NULL, NULL, &out), "chat_template:1:7:");
    sb_release(&out);
    json_decref(msgs), json_decref(tools), json_decref(extra);

    // an HF model directory
    const char *dir = test_tmpdir();
    chat_template_src src;
    err_clear();
    CHECK_ERR(chat_template_load(dir, 0, NULL, 0, &src), "no chat template found");
    write_file(dir, "tokenizer_config.json",
               "{\"bos_token\": {\"__type\": \"AddedToken\", \"content\": \"<|begin|>\"}, \"eos_token\": \"<|end|>\","
               " \"model_max_length\": 1000000000000000019884624838656,"
               " \"chat_template\": [{\"name\": \"default\", \"template\": \"cfg-default\"},"
               " {\"name\": \"tool_use\", \"template\": \"cfg-tools\"}]}");
    write_file(dir, "special_tokens_map.json", "{\"unk_token\": \"<unk>\", \"eos_token\": \"ignored\"}");
    CHECK(chat_template_load(dir, 0, NULL, 0, &src) == 0 && !strcmp(src.source, "cfg-default"));
    CHECK(!strcmp(json_string_value(json_object_get(src.special, "bos_token")), "<|begin|>"));
    CHECK(!strcmp(json_string_value(json_object_get(src.special, "eos_token")), "<|end|>"));
    CHECK(!strcmp(json_string_value(json_object_get(src.special, "unk_token")), "<unk>"));
    chat_template_src_release(&src);
    CHECK(chat_template_load(dir, 0, NULL, 1, &src) == 0 && !strcmp(src.source, "cfg-tools"));
    chat_template_src_release(&src);
    CHECK(chat_template_load(dir, 0, "tool_use", 0, &src) == 0 && !strcmp(src.source, "cfg-tools"));
    chat_template_src_release(&src);
    write_file(dir, "chat_template.jinja", "jinja-file");
    char *extra_dir = path_join(dir, "additional_chat_templates");
    CHECK(mkdir_p(extra_dir) == 0);
    write_file(extra_dir, "rag.jinja", "rag-file");
    CHECK(chat_template_load(dir, 0, NULL, 0, &src) == 0 && !strcmp(src.source, "jinja-file") && strstr(src.origin, "chat_template.jinja"));
    chat_template_src_release(&src);
    CHECK(chat_template_load(dir, 0, "rag", 0, &src) == 0 && !strcmp(src.source, "rag-file"));
    chat_template_src_release(&src);
    // chat_template.jinja replaces only the default: the config's named templates stay
    CHECK(chat_template_load(dir, 0, "tool_use", 0, &src) == 0 && !strcmp(src.source, "cfg-tools"));
    chat_template_src_release(&src);
    CHECK_ERR(chat_template_load(dir, 0, "nope", 0, &src), "no chat template named 'nope'; available: 'default', 'tool_use', 'rag'");
    json_t *sp = chat_special_tokens(dir, 0);
    CHECK(sp && json_object_size(sp) == 3);
    json_decref(sp);
    free(extra_dir);
    // a single string chat_template: chat_template.jinja wins over it too
    write_file(dir, "tokenizer_config.json", "{\"chat_template\": \"cfg-string\"}");
    CHECK(chat_template_load(dir, 0, NULL, 0, &src) == 0 && !strcmp(src.source, "jinja-file"));
    chat_template_src_release(&src);
    char *jinja = path_join(dir, "chat_template.jinja");
    remove(jinja);
    free(jinja);
    CHECK(chat_template_load(dir, 0, "default", 0, &src) == 0 && !strcmp(src.source, "cfg-string") && strstr(src.origin, "tokenizer_config.json"));
    chat_template_src_release(&src);
    write_file(dir, "tokenizer_config.json", "{\"chat_template\": 5}");
    CHECK_ERR(chat_template_load(dir, 0, NULL, 0, &src), "chat_template must be a string or a list");
    write_file(dir, "tokenizer_config.json", "{not json");
    CHECK_ERR(chat_template_load(dir, 0, NULL, 0, &src), "invalid JSON");

    // a GGUF file: tokenizer.chat_template[.name] and tokens by id
    char *gpath = path_join(dir, "tiny.gguf");
    gguf_writer *w = gguf_writer_new();
    const char *toks[] = {"<unk>", "<|im_start|>", "<|im_end|>", "hello"};
    gguf_set_str(w, "general.architecture", "llama");
    gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, 4);
    gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    gguf_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    gguf_set_str(w, "tokenizer.chat_template", "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}");
    gguf_set_str(w, "tokenizer.chat_template.tool_use", "tools!");
    CHECK(gguf_writer_open(w, gpath) == 0 && gguf_writer_commit(w) == 0);
    gguf_writer_free(w);
    CHECK_MSG(chat_template_load(gpath, 1, NULL, 0, &src) == 0, "%s", err_msg());
    if (src.source) {
        json_t *m = json_loads("[{\"role\": \"user\", \"content\": \"hey\"}]", 0, NULL);
        sb_init(&out);
        CHECK(chat_template_render(src.source, m, NULL, 0, src.special, NULL, &out) == 0);
        CHECK_MSG(out.buf && !strcmp(out.buf, "<|im_start|>hey<|im_end|>"), "%s", out.buf);
        CHECK(!strcmp(json_string_value(json_object_get(src.special, "unk_token")), "<unk>"));
        sb_release(&out);
        json_decref(m);
    }
    chat_template_src_release(&src);
    CHECK(chat_template_load(gpath, 1, NULL, 1, &src) == 0 && !strcmp(src.source, "tools!"));
    chat_template_src_release(&src);
    CHECK(chat_template_load(gpath, 1, "tool_use", 0, &src) == 0 && !strcmp(src.source, "tools!") && strstr(src.origin, "tokenizer.chat_template.tool_use"));
    chat_template_src_release(&src);
    CHECK_ERR(chat_template_load(gpath, 1, "rag", 0, &src), "no chat template named 'rag'; available: 'default', 'tool_use'");
    free(gpath);
    rm_rf(dir);

    // a real model directory (tokenizer_config.json's chat_template)
    char *qwen3 = shared_path("fixtures/tokenizers/qwen3");
    CHECK_MSG(chat_template_load(qwen3, 0, NULL, 0, &src) == 0, "%s", err_msg());
    CHECK(src.source && strstr(src.source, "<|im_start|>"));
    chat_template_src_release(&src);
    free(qwen3);
}

// ---- 6. `lorac template` (when the test runner names the binary in $LORAC) ----
static char *run_cli(const char *args, int *status) {
    const char *bin = getenv("LORAC");
    char *cmd = xasprintf("'%s' template %s 2>&1", bin, args);
    FILE *p = popen(cmd, "r");
    free(cmd);
    strbuf sb;
    sb_init(&sb);
    char buf[4096];
    size_t n;
    while (p && (n = fread(buf, 1, sizeof buf, p)) > 0) sb_append(&sb, buf, n);
    *status = p ? pclose(p) : -1;
    if (!sb.buf) sb_append(&sb, "", 0);
    return sb_detach(&sb);
}

static void test_cli(void) {
    const char *bin = getenv("LORAC");
    if (!bin || !file_exists(bin)) {
        printf("cli: skipped ($LORAC not set; make test sets it)\n");
        return;
    }
    const char *dir = test_tmpdir();
    mkdir_p(dir);
    write_file(dir, "tokenizer_config.json",
               "{\"bos_token\": \"<s>\", \"eos_token\": {\"content\": \"</s>\"},"
               " \"chat_template\": \"{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}{{ eos_token }}{% endfor %}"
               "{% if add_generation_prompt %}<assistant>{% endif %}{% if tools %}|{{ tools|length }}{% endif %}"
               "{% if enable_thinking is defined %}|think={{ enable_thinking }}{% endif %}{{ extra }}\"}");
    write_file(dir, "config.json", "{\"model_type\": \"llama\"}");
    write_file(dir, "m.json", "[{\"role\": \"user\", \"content\": \"hi ✓\"}]");
    write_file(dir, "rec.json", "{\"messages\": [{\"role\": \"user\", \"content\": \"rec\"}], \"tools\": [{}, {}]}");
    write_file(dir, "t.json", "[{\"type\": \"function\"}]");
    write_file(dir, "day.jinja", "{{ strftime_now('%Y-%m-%d') }}|{{ bos_token }}|{{ messages|length }}");
    int st;
    char *args = xasprintf("--model '%s' --messages '%s/m.json'", dir, dir);
    char *o = run_cli(args, &st);
    CHECK_MSG(st == 0 && !strcmp(o, "<s><user>hi ✓</s>"), "%s", o);
    free(o), free(args);
    args = xasprintf("--model '%s' --messages '%s/m.json' --tools '%s/t.json' --add-generation-prompt "
                     "--var enable_thinking=false --var 'extra=not json'", dir, dir, dir);
    o = run_cli(args, &st);
    CHECK_MSG(st == 0 && !strcmp(o, "<s><user>hi ✓</s><assistant>|1|think=Falsenot json"), "%s", o);
    free(o), free(args);
    args = xasprintf("--model '%s' --messages '%s/rec.json' --var 'bos_token=\"<B>\"'", dir, dir);
    o = run_cli(args, &st);
    CHECK_MSG(st == 0 && !strcmp(o, "<B><user>rec</s>|2"), "%s", o);
    free(o), free(args);
    args = xasprintf("--template '%s/day.jinja' --model '%s' --messages '%s/m.json' --now 2024-02-29", dir, dir, dir);
    o = run_cli(args, &st);
    CHECK_MSG(st == 0 && !strcmp(o, "2024-02-29|<s>|1"), "%s", o);
    free(o), free(args);
    args = xasprintf("--template '%s/day.jinja' --messages '%s/m.json' --now 2023-02-29", dir, dir);
    o = run_cli(args, &st);
    CHECK_MSG(st != 0 && strstr(o, "not a calendar date"), "%s", o);
    free(o), free(args);
    write_file(dir, "bad.jinja", "ok\n{% for x in messages %}\n");
    args = xasprintf("--template '%s/bad.jinja' --messages '%s/m.json'", dir, dir);
    o = run_cli(args, &st);
    CHECK_MSG(st != 0 && strstr(o, "bad.jinja:2:24: expected 'endfor', got end of template"), "%s", o);
    free(o), free(args);
    args = xasprintf("--messages '%s/m.json'", dir);
    o = run_cli(args, &st);
    CHECK_MSG(WEXITSTATUS(st) == 2 && strstr(o, "--model"), "%s", o);
    free(o), free(args);
    rm_rf(dir);
}

int main(void) {
    test_hf_fixtures();
    test_golden_cases();
    test_errors();
    test_robustness();
    test_chat_api();
    test_cli();
    TEST_MAIN_END();
}

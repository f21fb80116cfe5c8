// test_eval.c — the eval metrics on hand-written answers with known answers
// (tests/data/eval_cases.yaml: loops with their spans, stance on clear, mixed and
// negated cases, formatting and length counts), ROUGE-L against hand-computed
// values and the rouge-score goldens (tests/golden/eval/rouge.json, made by
// tests/ref/make_eval_goldens.py), stance arithmetic on a small rules file, rules
// and suite errors with file:line, aggregates and threshold checks, SVG charts.
#include "core/core.h"
#include "eval/compare.h"
#include "eval/eval.h"
#include "eval/svg.h"
#include "io/yaml.h"
#include "test.h"
#include "train/dataset.h"

static const char *tests_dir(void) {
    const char *t = getenv("TESTS_DIR");
    return t ? t : "tests";
}

// ---- hand-written cases ----
static int64_t jint(const json_t *c, const char *k) { return json_integer_value(json_object_get(c, k)); }

static void check_case(const eval_rules *r, const json_t *c) {
    const char *name = json_string_value(json_object_get(c, "name"));
    const char *text = json_string_value(json_object_get(c, "response"));
    json_t *v;
    eval_loops l;
    eval_loops_detect(r, text, &l);
    if ((v = json_object_get(c, "loop"))) CHECK_MSG(l.loop == json_is_true(v), "%s: loop %d", name, l.loop);
    if ((v = json_object_get(c, "sentence"))) {
        if (json_is_null(v)) CHECK_MSG(!l.sentence, "%s: unexpected sentence '%s'", name, l.sentence);
        else CHECK_MSG(l.sentence && strcmp(l.sentence, json_string_value(v)) == 0, "%s: sentence '%s'", name,
                       l.sentence ? l.sentence : "(none)");
    }
    if ((v = json_object_get(c, "sentence_count"))) CHECK_MSG(l.sentence_count == json_integer_value(v), "%s: count %lld", name, (long long)l.sentence_count);
    if ((v = json_object_get(c, "span"))) {
        if (json_is_null(v)) CHECK_MSG(!l.span, "%s: unexpected span '%s'", name, l.span);
        else CHECK_MSG(l.span && strcmp(l.span, json_string_value(v)) == 0, "%s: span '%s'", name, l.span ? l.span : "(none)");
    }
    if ((v = json_object_get(c, "span_tokens"))) CHECK_MSG(l.span_tokens == json_integer_value(v), "%s: span_tokens %lld", name, (long long)l.span_tokens);
    if ((v = json_object_get(c, "span_repeats"))) CHECK_MSG(l.span_repeats == json_integer_value(v), "%s: span_repeats %lld", name, (long long)l.span_repeats);
    if ((v = json_object_get(c, "span_offset"))) CHECK_MSG(l.span_offset == json_integer_value(v), "%s: span_offset %lld", name, (long long)l.span_offset);
    eval_loops_release(&l);
    eval_format f;
    eval_format_count(r, text, &f);
    if (json_object_get(c, "bold")) CHECK_MSG(f.bold == jint(c, "bold"), "%s: bold %lld", name, (long long)f.bold);
    if (json_object_get(c, "bullets")) CHECK_MSG(f.bullet_items == jint(c, "bullets"), "%s: bullets %lld", name, (long long)f.bullet_items);
    if (json_object_get(c, "numbered")) CHECK_MSG(f.numbered_items == jint(c, "numbered"), "%s: numbered %lld", name, (long long)f.numbered_items);
    if (json_object_get(c, "paragraphs")) CHECK_MSG(f.paragraphs == jint(c, "paragraphs"), "%s: paragraphs %lld", name, (long long)f.paragraphs);
    if (json_object_get(c, "headings")) CHECK_MSG(f.headings == jint(c, "headings"), "%s: headings %lld", name, (long long)f.headings);
    if (json_object_get(c, "format_score")) CHECK_MSG(f.score == jint(c, "format_score"), "%s: format score %d", name, f.score);
    if ((v = json_object_get(c, "well_formatted"))) CHECK_MSG(f.well_formatted == json_is_true(v), "%s: well formatted %d", name, f.well_formatted);
    if (json_object_get(c, "chars")) CHECK_MSG(eval_count_chars(text) == jint(c, "chars"), "%s: chars %lld", name, (long long)eval_count_chars(text));
    if (json_object_get(c, "words")) CHECK_MSG(eval_count_words(text) == jint(c, "words"), "%s: words %lld", name, (long long)eval_count_words(text));
    if (json_object_get(c, "stance_label") || json_object_get(c, "negated")) {
        eval_stance s;
        json_t *m;
        CHECK(eval_stance_score(r, text, &s, &m) == 0);
        if ((v = json_object_get(c, "stance_label"))) CHECK_MSG(strcmp(s.label, json_string_value(v)) == 0, "%s: label %s (score %.3f)", name, s.label, s.score);
        if ((v = json_object_get(c, "stance_score"))) CHECK_MSG(fabs(s.score - json_number_value(v)) < 1e-12, "%s: score %.6f", name, s.score);
        if ((v = json_object_get(c, "negated"))) {
            int64_t neg = 0;
            size_t i;
            json_t *e;
            json_array_foreach(m, i, e) neg += json_is_true(json_object_get(e, "negated"));
            CHECK_MSG(neg == json_integer_value(v), "%s: %lld negated matches", name, (long long)neg);
        }
        json_decref(m);
    }
}

static void test_cases(const eval_rules *r, const json_t *data) {
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(data, "cases"), i, c) check_case(r, c);
    CHECK(json_array_size(json_object_get(data, "cases")) >= 20);
}

// ---- ROUGE-L ----
static void test_rouge(const json_t *data) {
    char *gp = xasprintf("%s/golden/eval/rouge.json", tests_dir());
    json_error_t je;
    json_t *g = json_load_file(gp, 0, &je);
    CHECK_MSG(g != NULL, "%s: %s", gp, je.text);
    json_t *gc = json_object_get(g, "cases");
    size_t i;
    json_t *c;
    int n = 0;
    json_array_foreach(json_object_get(data, "rouge"), i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        double p, r, f = eval_rouge_l(json_string_value(json_object_get(c, "reference")),
                                      json_string_value(json_object_get(c, "candidate")), &p, &r);
        json_t *hand = json_object_get(c, "f1");
        if (json_is_number(hand)) CHECK_MSG(fabs(f - json_number_value(hand)) < 1e-12, "%s: f1 %.17g vs hand %.17g", name, f, json_number_value(hand));
        json_t *ref = json_object_get(gc, name);
        CHECK_MSG(ref != NULL, "no golden for '%s'", name);
        if (!ref) continue;
        double gf = json_number_value(json_object_get(ref, "f1")), gp_ = json_number_value(json_object_get(ref, "precision")),
               gr = json_number_value(json_object_get(ref, "recall"));
        CHECK_MSG(fabs(f - gf) < 1e-12 && fabs(p - gp_) < 1e-12 && fabs(r - gr) < 1e-12,
                  "%s: P/R/F %.17g %.17g %.17g vs rouge-score %.17g %.17g %.17g", name, p, r, f, gp_, gr, gf);
        n++;
    }
    CHECK(n >= 9);
    json_decref(g);
    free(gp);
}

// ---- stance arithmetic and negation windows on a small rules file ----
static void test_stance_rules(void) {
    const char *y = "name: t\n"
                    "stance:\n"
                    "  domain: a\n"
                    "  negation: {cues: ['\\bnot\\b'], before: 2, after: 1}\n"
                    "  sides:\n"
                    "    a: {patterns: [{pattern: 'alpha', weight: 2}, gamma, {pattern: delta, negate: false}]}\n"
                    "    b: {patterns: [{pattern: beta, weight: 3}]}\n";
    eval_rules r;
    CHECK(eval_rules_load_string(&r, y, "t.yaml") == 0);
    struct {
        const char *text, *label;
        double score;
    } cases[] = {
        {"alpha beta", "b", -0.2},            // (2 - 3) / 5, at the margin
        {"alpha gamma beta", "mixed", 0},     // (3 - 3) / 6
        {"alpha", "a", 1},
        {"nothing here", "neutral", 0},
        {"not x alpha", "b", -1},             // "not" 2 words before: negated
        {"not x y alpha", "a", 1},            // 3 words before: outside the window
        {"alpha z not", "a", 1},              // 2 words after: outside
        {"alpha not", "b", -1},               // 1 word after: negated
        {"not, alpha", "a", 1},               // a comma ends the clause
        {"not not alpha", "a", 1},            // two cues: the claim stands
        {"not delta", "a", 1},                // negate: false
        {"ALPHA", "a", 1},                    // caseless
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        eval_stance s;
        CHECK(eval_stance_score(&r, cases[i].text, &s, NULL) == 0);
        CHECK_MSG(strcmp(s.label, cases[i].label) == 0 && fabs(s.score - cases[i].score) < 1e-12, "'%s': %s %.3f, expected %s %.3f",
                  cases[i].text, s.label, s.score, cases[i].label, cases[i].score);
    }
    eval_rules_release(&r);
    // no stance section: nothing scored, label "none"
    CHECK(eval_rules_load_string(&r, "length: {min_chars: 1, max_chars: 10}\n", "n.yaml") == 0);
    eval_stance s;
    CHECK(eval_stance_score(&r, "calories", &s, NULL) == 0 && strcmp(s.label, "none") == 0);
    CHECK(r.min_chars == 1 && r.max_chars == 10 && r.min_stance_rate == 0.8);
    eval_rules_release(&r);
}

// ---- rules errors ----
static void test_rules_errors(void) {
    eval_rules r;
    CHECK_ERR(eval_rules_load_string(&r, "name: x\nlenght: {min_chars: 1}\n", "e.yaml"), "e.yaml:2: unknown key 'lenght'; did you mean 'length'?");
    CHECK_ERR(eval_rules_load_string(&r, "length:\n  min_chars: 10\n  max_chars: 5\n", "e.yaml"), "e.yaml:1: length: min_chars 10 is above max_chars 5");
    CHECK_ERR(eval_rules_load_string(&r, "length:\n  min_chars: ten\n", "e.yaml"), "e.yaml:2: length.min_chars: expected an integer, got a string");
    CHECK_ERR(eval_rules_load_string(&r, "thresholds:\n  min_stance_rate: 1.5\n", "e.yaml"), "e.yaml:2: thresholds.min_stance_rate: must be between 0 and 1");
    CHECK_ERR(eval_rules_load_string(&r, "thresholds:\n  min_stance: 0.5\n", "e.yaml"), "did you mean 'min_stance_rate'?");
    CHECK_ERR(eval_rules_load_string(&r, "stance:\n  domain: a\n  sides:\n    a: {patterns: [x]}\n    b:\n      patterns:\n        - 'ok'\n        - '(unclosed'\n",
                                     "e.yaml"),
              "e.yaml:8: stance.sides.b.patterns[1]: bad regex '(unclosed'");
    CHECK_ERR(eval_rules_load_string(&r, "stance:\n  domain: insulin\n  sides:\n    insuln: {patterns: [x]}\n    b: {patterns: [y]}\n", "e.yaml"),
              "'insulin' is not one of the sides ('insuln', 'b'); did you mean 'insuln'?");
    CHECK_ERR(eval_rules_load_string(&r, "stance:\n  domain: a\n  sides:\n    a: {patterns: [x]}\n", "e.yaml"), "exactly two sides");
    CHECK_ERR(eval_rules_load_string(&r, "stance:\n  domain: a\n  sides:\n    a: {patterns: [x]}\n    b: {patterns: [{pattern: y, weight: heavy}]}\n", "e.yaml"),
              "e.yaml:5: stance.sides.b.patterns[0].weight: expected a number, got a string");
    CHECK_ERR(eval_rules_load_string(&r, "- a list\n", "e.yaml"), "e.yaml:1: expected a mapping, got a list");
    CHECK_ERR(eval_rules_load(&r, "/nonexistent/rules.yaml"), "/nonexistent/rules.yaml");
    // the built-in rules load, with the user's thresholds
    CHECK(eval_rules_load(&r, NULL) == 0);
    CHECK(r.stance && strcmp(r.side[0], "insulin-model") == 0 && strcmp(r.side[1], "calorie-counting") == 0);
    CHECK(r.min_chars == 500 && r.max_chars == 1500 && r.max_loop_rate == 0 && r.min_stance_rate == 0.8 &&
          r.min_well_formatted_rate == 0.6 && r.min_length_band_rate == 0.7 && isnan(r.max_truncated_rate));
    eval_rules_release(&r);
}

// ---- prompt suites ----
static void test_suite(const eval_rules *r) {
    eval_suite s;
    CHECK(eval_suite_load(&s, "default", r) == 0);
    int general = 0, domain = 0;
    for (int64_t i = 0; i < s.n; i++) {
        if (strcmp(s.p[i].category, "general") == 0) {
            general++;
            CHECK(!s.p[i].opts.stance && json_array_size(s.p[i].opts.expect) >= 1);
            CHECK(json_integer_value(json_object_get(s.p[i].sampling, "max_tokens")) == 120);
        }
        if (strcmp(s.p[i].category, "domain") == 0) {
            domain++;
            CHECK(s.p[i].opts.stance && s.p[i].opts.min_chars == 500 && s.p[i].opts.max_chars == 1500);
            CHECK(json_number_value(json_object_get(s.p[i].sampling, "temp")) == 0.7);
        }
    }
    CHECK(general >= 5 && domain >= 8);
    CHECK(strcmp(s.p[domain].prompt, "What is the capital of France?") == 0);
    eval_suite_release(&s);
    char *p = xasprintf("%s/suite.yaml", test_tmpdir());
    const char *bad[][2] = {
        {"categories:\n  - name: a\n    prompts: [hi]\n    lenght: [1, 2]\n", "suite.yaml:4: unknown key 'lenght' in categories[0]; did you mean 'length'?"},
        {"categories:\n  - name: a\n    prompts:\n      - prompt: hi\n        length: [5, 1]\n", "suite.yaml:5: categories[0].prompts[0].length: expected [min_chars, max_chars]"},
        {"categories:\n  - name: a\n    sampling: {temp: -1}\n    prompts: [hi]\n", "suite.yaml:3: categories[0].sampling.temp: must be between 0 and 100"},
        {"categories:\n  - name: a\n    sampling: {temperature: 1}\n    prompts: [hi]\n", "did you mean 'temp'?"},
        {"categories:\n  - name: a\n    prompts: []\n", "needs 'prompts': a non-empty list"},
        {"name: x\n", "expected 'categories': a non-empty list"},
        {"categories:\n  - name: a\n    prompts:\n      - prompt: hi\n        expect: [1]\n", "categories[0].prompts[0].expect: expected a string or a list"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        file_write_atomic(p, bad[i][0], strlen(bad[i][0]));
        CHECK_ERR(eval_suite_load(&s, p, r), bad[i][1]);
    }
    free(p);
}

// ---- one answer as JSON, aggregates, checks ----
static void test_score_and_stats(const eval_rules *r) {
    json_t *o = eval_score_response(r, "**Insulin** drives fat storage.\n\n- one\n- two", "Insulin drives fat storage.", NULL, NULL);
    CHECK(json_integer_value(json_object_get(o, "response_length")) == 44);
    CHECK(json_integer_value(json_object_get(o, "formatting_score")) == 3);
    CHECK(json_is_true(json_object_get(json_object_get(o, "formatting_checks"), "has_bold")));
    CHECK(json_is_false(json_object_get(json_object_get(o, "length"), "in_band")));
    CHECK(!json_object_get(json_object_get(o, "length"), "tokens")); // no tokenizer
    json_t *gt = json_object_get(o, "ground_truth");
    CHECK(fabs(json_number_value(json_object_get(json_object_get(gt, "rouge_l"), "f1")) - 2 * 4.0 / (6 + 4)) < 1e-12);
    CHECK(fabs(json_number_value(json_object_get(gt, "length_ratio")) - 44.0 / 27) < 1e-12);
    json_decref(o);
    // summary statistics
    double v[] = {4, 1, NAN, 3, 2};
    json_t *s = eval_summary_stats(v, 5);
    CHECK(json_integer_value(json_object_get(s, "n")) == 4);
    CHECK(json_number_value(json_object_get(s, "mean")) == 2.5 && json_number_value(json_object_get(s, "median")) == 2.5);
    CHECK(json_number_value(json_object_get(s, "min")) == 1 && json_number_value(json_object_get(s, "max")) == 4);
    CHECK(fabs(json_number_value(json_object_get(s, "std")) - sqrt(1.25)) < 1e-15);
    json_decref(s);
    s = eval_summary_stats(v, 2); // {4, 1}
    CHECK(json_number_value(json_object_get(s, "median")) == 2.5);
    json_decref(s);
    s = eval_summary_stats(v + 2, 1); // NaN only
    CHECK(json_integer_value(json_object_get(s, "n")) == 0 && !json_object_get(s, "mean"));
    json_decref(s);
    // statistics and checks over four answers: 1 loop, 3 of 4 favour the domain, etc.
    const char *ans[] = {
        "**Insulin** drives fat storage.\n\nLowering insulin helps.",
        "**Insulin** drives fat storage.\n\nIt is hormonal.",
        "Insulin drives fat storage. Insulin drives fat storage. Insulin drives fat storage.",
        "Weight loss is all about calories.",
    };
    json_t *res = json_array();
    for (int i = 0; i < 4; i++) {
        json_t *e = eval_score_response(r, ans[i], NULL, NULL, NULL);
        json_object_set_new(e, "truncated", json_boolean(i == 3));
        json_array_append_new(res, e);
    }
    json_t *st = eval_statistics(r, res);
    CHECK(json_number_value(eval_stat_at(st, "loops.rate")) == 0.25);
    CHECK(json_number_value(eval_stat_at(st, "stance.domain_rate")) == 0.75);
    CHECK(json_number_value(eval_stat_at(st, "formatting.well_formatted_rate")) == 0.5);
    CHECK(json_number_value(eval_stat_at(st, "length_band.in_band_rate")) == 0);
    CHECK(json_number_value(eval_stat_at(st, "truncated.rate")) == 0.25);
    CHECK(json_is_false(json_object_get(st, "pass")));
    char desc[48];
    CHECK(strcmp(eval_check_status(st, "max_loop_rate", desc, sizeof desc), "FAIL") == 0 && strcmp(desc, "<= 0%") == 0);
    CHECK(strcmp(eval_check_status(st, "min_stance_rate", desc, sizeof desc), "FAIL") == 0);
    CHECK(strcmp(eval_check_status(st, "min_expected_rate", NULL, 0), "n/a") == 0);
    CHECK(json_integer_value(json_object_get(st, "total_examples")) == 4 && json_object_get(st, "avg_response_length"));
    json_decref(st);
    json_decref(res);
}

// ---- calibration: the built-in rules on the reference answers of examples/data ----
// The answers the fine-tune should learn must pass the default checks themselves,
// or the checks would fail a perfect model.
static void test_reference_answers(const eval_rules *r) {
    const char *files[] = {"train.jsonl", "valid.jsonl"};
    json_t *res = json_array();
    for (int f = 0; f < 2; f++) {
        char *p = xasprintf("%s/../examples/data/%s", tests_dir(), files[f]);
        dataset ds;
        CHECK_MSG(dataset_load(&ds, p) == 0, "%s", err_msg());
        for (int64_t i = 0; i < ds.n; i++) {
            json_t *m = json_object_get(ds.recs[i].obj, "messages");
            const char *ans = json_string_value(json_object_get(json_array_get(m, json_array_size(m) - 1), "content"));
            json_array_append_new(res, eval_score_response(r, ans, NULL, NULL, NULL));
        }
        dataset_release(&ds);
        free(p);
    }
    json_t *st = eval_statistics(r, res);
    double dom = json_number_value(eval_stat_at(st, "stance.domain_rate"));
    CHECK(json_array_size(res) == 164);
    CHECK_MSG(dom >= 0.85, "only %.1f%% of the reference answers favour the domain", 100 * dom);
    CHECK_MSG(json_is_true(json_object_get(st, "pass")), "the reference answers fail the default checks");
    CHECK(json_number_value(eval_stat_at(st, "loops.rate")) == 0);
    json_decref(st);
    json_decref(res);
}

// ---- SVG ----
static int count(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p++) n++;
    return n;
}

static void test_svg(void) {
    double x1[] = {0, 10, 20, 30}, y1[] = {2.5, 2.0, 1.7, 1.6}, x2[] = {0, 20}, y2[] = {2.6, NAN};
    svg_series s[] = {
        {"run <a> & \"b\" train", x1, y1, 4, 0, 0},
        {"run <a> val", x2, y2, 2, 0, 1},
        {"single", x1, y1, 1, 1, 0},
    };
    svg_chart c = {"Loss & friends", "step", "loss", 640, 360};
    strbuf sb;
    sb_init(&sb);
    svg_line_chart(&sb, &c, s, 3);
    CHECK(strncmp(sb.buf, "<svg", 4) == 0 && strstr(sb.buf, "</svg>"));
    CHECK(count(sb.buf, "<path") == 3);                 // one path per series
    CHECK(strstr(sb.buf, "run &lt;a&gt; &amp; &quot;b&quot; train") != NULL);
    CHECK(strstr(sb.buf, "Loss &amp; friends") != NULL && !strstr(sb.buf, "<a>"));
    CHECK(count(sb.buf, "stroke-dasharray") >= 1);      // the dashed validation series
    CHECK(!strstr(sb.buf, "nan") && !strstr(sb.buf, "inf"));
    sb.len = 0;
    const char *groups[] = {"loops", "stance"}, *series[] = {"run1", "run<2>"};
    double vals[] = {0.1, 0.0, 0.9, NAN};
    svg_bar_chart(&sb, &c, groups, 2, series, NULL, 2, vals, 0, 1);
    CHECK(count(sb.buf, "class=\"bar\"") == 3);         // the missing value draws no bar
    CHECK(strstr(sb.buf, "run&lt;2&gt;") != NULL);
    sb.len = 0;
    svg_line_chart(&sb, &c, s, 0);                      // no data: a frame saying so
    CHECK(strstr(sb.buf, "no data") != NULL && count(sb.buf, "<path") == 0);
    sb_release(&sb);
}

int main(void) {
    char *path = xasprintf("%s/data/eval_cases.yaml", tests_dir());
    json_t *data;
    if (yaml_load_file(path, &data, NULL)) {
        fprintf(stderr, "%s\n", err_msg());
        return 1;
    }
    eval_rules r;
    if (eval_rules_load(&r, NULL)) {
        fprintf(stderr, "%s\n", err_msg());
        return 1;
    }
    test_cases(&r, data);
    test_rouge(data);
    test_stance_rules();
    test_rules_errors();
    test_suite(&r);
    test_score_and_stats(&r);
    test_reference_answers(&r);
    test_svg();
    eval_rules_release(&r);
    json_decref(data);
    free(path);
    TEST_MAIN_END();
}

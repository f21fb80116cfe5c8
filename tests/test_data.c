// test_data.c — the data tools: words, shingles and MinHash; duplicate search
// against a brute-force all-pairs answer; rules files (every error names its
// line, tests/data/audit_rules_cases.json); classification semantics (whole
// words, weights, min_hits, strategies, the fallback); the shipped insulin rules
// on the hand-labelled examples (tests/data/audit_labels.tsv); every bad-line
// kind of the collecting validator; data check on the planted issues of
// examples/data.
#include "core/core.h"
#include "data/data.h"
#include "test.h"

#include <jansson.h>

// ---- words, shingles, MinHash ----
static void test_words(void) {
    CHECK(text_words_hash("Is a calorie just a calorie?", NULL) == text_words_hash("is a CALORIE  just, a calorie", NULL));
    CHECK(text_words_hash("Is a calorie just a calorie?", NULL) != text_words_hash("Is a calorie a calorie?", NULL));
    CHECK(text_words_hash("Café au lait", NULL) == text_words_hash("CAFÉ AU LAIT!", NULL));
    size_t nw;
    text_words_hash("don't fast-track this", &nw);
    CHECK(nw == 5); // don, t, fast, track, this
    uint64_t *a, *b;
    size_t na = text_shingles("Hello, hello WORLD", 1, &a), nb = text_shingles("world hello", 1, &b);
    CHECK(na == 2 && nb == 2 && jaccard(a, na, b, nb) == 1.0);
    free(a), free(b);
    na = text_shingles("one two", 3, &a); // shorter than k: one shingle of all its words
    CHECK(na == 1);
    free(a);
    na = text_shingles("  ...  ", 3, &a);
    CHECK(na == 0);
    free(a);
    na = text_shingles("a b c d e", 3, &a), nb = text_shingles("a b c d x", 3, &b); // abc bcd cde vs abc bcd cdx
    CHECK(na == 3 && nb == 3);
    CHECK(fabs(jaccard(a, na, b, nb) - 2.0 / 4.0) < 1e-12);
    free(a), free(b);
    CHECK(jaccard(NULL, 0, NULL, 0) == 1.0);
}

static void test_minhash(void) {
    // sets with known Jaccard similarity; the estimate's standard deviation is
    // sqrt(J(1-J)/128) <= 0.045, so 0.15 is more than 3 of them
    uint64_t *x = xmalloc(2000 * sizeof *x), *y = xmalloc(2000 * sizeof *y);
    uint64_t sx[MINHASH_PERM], sy[MINHASH_PERM];
    const int overlaps[] = {0, 250, 500, 800, 1000};
    for (int k = 0; k < 5; k++) {
        int ov = overlaps[k];
        for (int i = 0; i < 1000; i++) x[i] = (uint64_t)i * 0x9e3779b97f4a7c15ull + 12345;
        for (int i = 0; i < 1000; i++) y[i] = (uint64_t)(i + 1000 - ov) * 0x9e3779b97f4a7c15ull + 12345;
        // sorted sets for jaccard(): the hashes are distinct and minhash needs no order
        minhash_sign(x, 1000, sx);
        minhash_sign(y, 1000, sy);
        int eq = 0;
        for (int i = 0; i < MINHASH_PERM; i++) eq += sx[i] == sy[i];
        double est = (double)eq / MINHASH_PERM, truth = (double)ov / (2000.0 - ov);
        CHECK_MSG(fabs(est - truth) <= 0.15, "overlap %d: estimate %.3f, Jaccard %.3f", ov, est, truth);
    }
    free(x), free(y);
}

// ---- duplicates against brute force ----
static void test_dedupe_small(void) {
    const char *ans = "Insulin moves glucose into cells and tells fat cells to store energy. When it stays high all "
                      "day the door to stored fat stays closed, and hunger comes back sooner than it should.";
    const char *ans_edit = "Insulin moves glucose into cells and tells fat cells to store energy. When it stays high "
                           "all day the door to stored fat stays closed, and hunger comes back sooner than it ought to.";
    const char *other = "Walking after meals pulls glucose into working muscle through a pathway that needs little "
                        "insulin, so the peak after a meal is lower.";
    dup_item it[] = {
        {"What does insulin do?", ans, 0},                  // 0
        {"what does INSULIN do", ans, 0},                   // 1: exact (case, punctuation)
        {"Explain insulin's job to me.", ans_edit, 0},      // 2: near (answer edited)
        {"What does insulin do?", other, 0},                // 3: same question, different answer
        {"Why walk after meals?", other, 1},                // 4: another group; same answer as 3 -> near
        {"", "A text record with no question at all, just some words about nothing in particular here.", 0},
        {"", "A text record with no question at all, just some words about nothing in particular here.", 1},
    };
    dup_pair *p;
    int64_t n;
    CHECK(dedupe_find(it, 7, 0.7, &p, &n) == 0);
    int seen[7][7] = {{0}};
    for (int64_t i = 0; i < n; i++) {
        CHECK(p[i].a < p[i].b);
        seen[p[i].a][p[i].b] = (int)p[i].kind + 1;
    }
    CHECK(seen[0][1] == DUP_EXACT + 1);
    CHECK(seen[0][2] == DUP_NEAR + 1 || seen[1][2] == DUP_NEAR + 1);
    CHECK(seen[0][3] == DUP_QUESTION + 1);
    CHECK(seen[3][4] == DUP_NEAR + 1);
    CHECK(seen[5][6] == DUP_EXACT + 1); // identical text records (no questions)
    CHECK(seen[0][4] == 0 && seen[2][3] == 0);
    free(p);
    CHECK_ERR(dedupe_find(it, 7, 0.3, &p, &n), "threshold 0.3");
}

// Every example of examples/data, plus edited copies, against all pairs by brute force.
static void test_dedupe_bruteforce(void) {
    dataset ds;
    CHECK(dataset_load(&ds, "examples/data/train.jsonl") == 0);
    int64_t n = ds.n * 2;
    example_text *t = xcalloc((size_t)n, sizeof *t);
    dup_item *it = xcalloc((size_t)n, sizeof *it);
    char **edited = xcalloc((size_t)ds.n, sizeof *edited), **qtext = xcalloc((size_t)ds.n, sizeof *qtext);
    rng_state r;
    rng_seed(&r, 3);
    for (int64_t i = 0; i < ds.n; i++) {
        example_text_init(&t[i], &ds.recs[i]);
        it[i] = (dup_item){t[i].question, t[i].answer, 0};
        // a copy with every k-th word replaced: Jaccard spread around the threshold
        strbuf sb;
        sb_init(&sb);
        int k = 6 + (int)(rng_next(&r) % 30), w = 0;
        for (const char *s = t[i].answer; *s; s++) {
            if (*s == ' ' && ++w % k == 0) {
                sb_puts(&sb, " zzz");
                while (s[1] && s[1] != ' ') s++;
                continue;
            }
            sb_putc(&sb, *s);
        }
        edited[i] = sb_detach(&sb);
        qtext[i] = xasprintf("variant %llx %llx %llx", (unsigned long long)rng_next(&r), (unsigned long long)rng_next(&r),
                             (unsigned long long)rng_next(&r));
        it[ds.n + i] = (dup_item){qtext[i], edited[i], 1};
    }
    const double thr = 0.7;
    dup_pair *p;
    int64_t np;
    CHECK(dedupe_find(it, n, thr, &p, &np) == 0);
    // brute force: exact similarities of every pair
    uint64_t **qs = xcalloc((size_t)n, sizeof *qs), **as = xcalloc((size_t)n, sizeof *as);
    size_t *nq = xcalloc((size_t)n, sizeof *nq), *na = xcalloc((size_t)n, sizeof *na);
    for (int64_t i = 0; i < n; i++) nq[i] = text_shingles(it[i].question, 1, &qs[i]), na[i] = text_shingles(it[i].answer, 3, &as[i]);
    int64_t expected = 0, found = 0, wrong = 0;
    char *hit = xcalloc((size_t)(n * n), 1);
    for (int64_t i = 0; i < np; i++) hit[p[i].a * n + p[i].b] = 1;
    for (int64_t a = 0; a < n; a++)
        for (int64_t b = a + 1; b < n; b++) {
            double qsim = jaccard(qs[a], nq[a], qs[b], nq[b]), asim = jaccard(as[a], na[a], as[b], na[b]);
            int identical = text_words_hash(it[a].question, NULL) == text_words_hash(it[b].question, NULL) &&
                            text_words_hash(it[a].answer, NULL) == text_words_hash(it[b].answer, NULL);
            if (identical) continue; // exact copies form a star, checked in test_dedupe_small
            int dup = asim >= thr || qsim >= thr;
            expected += dup;
            found += dup && hit[a * n + b];
            wrong += !dup && hit[a * n + b];
        }
    printf("dedupe vs brute force: %lld duplicate pairs, %lld found, %lld false\n", (long long)expected, (long long)found,
           (long long)wrong);
    CHECK(expected > 100); // the edits spread around the threshold: many pairs on both sides
    CHECK(found == expected);
    CHECK(wrong == 0);
    for (int64_t i = 0; i < np; i++) { // reported similarities are exact at or above the threshold
        if (p[i].kind != DUP_NEAR) continue;
        double asim = jaccard(as[p[i].a], na[p[i].a], as[p[i].b], na[p[i].b]);
        CHECK_MSG(fabs(asim - p[i].a_sim) < 1e-12, "pair %lld-%lld: %.4f vs %.4f", (long long)p[i].a, (long long)p[i].b,
                  p[i].a_sim, asim);
    }
    for (int64_t i = 0; i < n; i++) free(qs[i]), free(as[i]);
    free(qs), free(as), free(nq), free(na), free(hit), free(p);
    for (int64_t i = 0; i < ds.n; i++) example_text_release(&t[i]), free(edited[i]), free(qtext[i]);
    free(t), free(it), free(edited), free(qtext);
    dataset_release(&ds);
}

// ---- rules files ----
static void test_rules_errors(void) {
    json_error_t je;
    json_t *cases = json_load_file("tests/data/audit_rules_cases.json", 0, &je);
    CHECK_MSG(cases != NULL, "tests/data/audit_rules_cases.json: %s", je.text);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *want = json_string_value(json_object_get(c, "error"));
        err_clear();
        audit_rules *r = audit_rules_parse(json_string_value(json_object_get(c, "yaml")), "r.yaml");
        CHECK_MSG(r == NULL && strstr(err_msg(), want), "%s: got '%s', want '%s'", json_string_value(json_object_get(c, "name")),
                  r ? "(accepted)" : err_msg(), want);
        audit_rules_free(r);
    }
    json_decref(cases);
    CHECK(audit_rules_load("no/such/rules.yaml") == NULL && strstr(err_msg(), "no/such/rules.yaml: no such rules file"));
    CHECK(audit_rules_load("tests") == NULL && strstr(err_msg(), "is a directory"));
    audit_rules *r = audit_rules_load(NULL); // the built-in insulin rules
    CHECK(r && audit_rules_count(r) == 8 && !strcmp(audit_category_name(r, 8), "uncategorized"));
    CHECK(r && strstr(audit_rules_source(r), "(built in)"));
    audit_rules_free(r);
    r = audit_rules_load("examples/audit-rules/insulin.yaml");
    CHECK(r && audit_rules_count(r) == 8 && !strcmp(audit_category_name(r, 0), "insulin_vs_cico"));
    audit_rules_free(r);
}

// ---- classification semantics ----
static int classify(const audit_rules *r, const char *q, const char *a, audit_result *res) {
    audit_result_release(res);
    CHECK(audit_classify(r, q, a, res) == 0);
    return res->category;
}

static void test_classify(void) {
    const char *yaml = "tiers: {HIGH: high, MEDIUM: medium, LOW: low}\n"
                       "defaults: {question_weight: 5, answer_weight: 1}\n"
                       "categories:\n"
                       "  - {name: fasting, value: HIGH, keep: keep, patterns: ['fasting', 'fasts?']}\n"
                       "  - {name: food, value: MEDIUM, keep: review, min_hits: 2, patterns: ['eggs?', 'breakfast', 'oat(?:s|meal)']}\n"
                       "  - {name: inside, value: LOW, keep: replace, patterns: [{pattern: 'carb', whole_word: false}]}\n";
    audit_rules *r = audit_rules_parse(yaml, "t.yaml");
    CHECK(r != NULL);
    if (!r) return;
    audit_result res = {0};
    // whole words: "breakfast" holds "fast" but is not a fast
    CHECK(classify(r, "What about breakfast?", "Eggs for breakfast.", &res) == 1);
    CHECK(json_object_get(res.evidence, "fasting") == NULL);
    // case-insensitive; a question match outweighs answer matches (5 vs 1 each)
    CHECK(classify(r, "Is FASTING ok?", "eggs eggs eggs eggs", &res) == 0);
    CHECK(res.score == 5 && res.runner_up == 1 && res.runner_up_score == 4);
    json_t *terms = json_object_get(json_object_get(res.evidence, "food"), "terms");
    CHECK(json_array_size(terms) == 1 && !strcmp(json_string_value(json_object_get(json_array_get(terms, 0), "term")), "eggs") &&
          json_integer_value(json_object_get(json_array_get(terms, 0), "answer")) == 4);
    // answer-only evidence needs min_hits; a question match always qualifies
    CHECK(classify(r, "Hi", "An egg.", &res) == 3);               // food has 1 answer hit < min_hits 2
    CHECK(res.runner_up == 1);                                     // ...but is the runner-up
    CHECK(classify(r, "An egg?", "Nothing here.", &res) == 1);    // 1 question hit qualifies
    // whole_word: false matches inside words
    CHECK(classify(r, "Low-carbohydrate diets", "", &res) == 2);
    // ties go to the category listed first
    CHECK(classify(r, "fasting and oatmeal", "", &res) == 0 && res.score == res.runner_up_score);
    // nothing matches: the fallback
    CHECK(classify(r, "Capital of Australia?", "Canberra.", &res) == 3 && res.runner_up == -1);
    audit_result_release(&res);
    audit_rules_free(r);
    // strategy first: the first category with min_hits wins, whatever the scores
    const char *first = "tiers: {HIGH: high}\nstrategy: first\ncategories:\n"
                        "  - {name: a, value: HIGH, keep: keep, patterns: [alpha]}\n"
                        "  - {name: b, value: HIGH, keep: keep, patterns: [beta]}\n";
    r = audit_rules_parse(first, "f.yaml");
    CHECK(r && classify(r, "beta beta beta", "alpha", &res) == 0 && res.runner_up == 1);
    audit_result_release(&res);
    audit_rules_free(r);
}

// ---- the shipped rules on the hand labels ----
static void test_labels(void) {
    json_t *rep[2] = {NULL, NULL};
    const char *files[2] = {"examples/data/train.jsonl", "examples/data/valid.jsonl"};
    for (int f = 0; f < 2; f++) {
        audit_options o = {.data = files[f], .rules = "examples/audit-rules/insulin.yaml"};
        CHECK(audit_run(&o, &rep[f]) == 0);
        if (!rep[f]) return;
    }
    char *text;
    size_t len;
    CHECK(file_read_all("tests/data/audit_labels.tsv", &text, &len) == 0);
    int n = 0, right = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') continue;
        char file[16], cats[96];
        int ln;
        if (sscanf(line, "%15[^\t]\t%d\t%95[^\t]", file, &ln, cats) != 3) continue;
        json_t *ex = json_object_get(rep[strcmp(file, "train") ? 1 : 0], "examples");
        const char *got = NULL;
        size_t i;
        json_t *e;
        json_array_foreach(ex, i, e) if (json_integer_value(json_object_get(e, "line")) == ln) got =
            json_string_value(json_object_get(e, "category"));
        int ok = 0;
        for (char *c = cats, *bar; c && got; c = bar ? bar + 1 : NULL) { // "a|b": either
            bar = strchr(c, '|');
            size_t cl = bar ? (size_t)(bar - c) : strlen(c);
            ok |= strlen(got) == cl && !strncmp(got, c, cl);
        }
        n++;
        right += ok;
        CHECK_MSG(ok, "%s line %d: labelled %s, audit says %s", file, ln, cats, got ? got : "(no such line)");
    }
    printf("audit vs hand labels: %d of %d\n", right, n);
    CHECK(n >= 100);
    free(text);
    // the report's keys and totals
    json_t *t = rep[0];
    CHECK(json_integer_value(json_object_get(t, "total_examples")) == 142);
    CHECK(json_object_size(json_object_get(t, "category_counts")) == 9);
    int64_t sum = 0;
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(t, "category_counts"), k, v) sum += json_integer_value(v);
    CHECK(sum == 142);
    json_t *vg = json_object_get(t, "value_groups");
    CHECK(json_integer_value(json_object_get(vg, "high")) + json_integer_value(json_object_get(vg, "medium")) +
              json_integer_value(json_object_get(vg, "low")) == 142);
    json_t *sumry = json_object_get(t, "summary");
    CHECK(json_integer_value(json_object_get(sumry, "uncategorized")) == 5); // the five off-topic examples
    CHECK(fabs(json_real_value(json_object_get(sumry, "on_topic_share")) - 137.0 / 142.0) < 1e-9);
    size_t i;
    json_t *c;
    int off_topic[] = {63, 76, 96, 110, 140}, found = 0;
    json_array_foreach(json_object_get(t, "replacement_candidates"), i, c) for (int j = 0; j < 5; j++) found +=
        json_integer_value(json_object_get(c, "line")) == off_topic[j];
    CHECK(found == 5);
    CHECK(json_array_size(json_object_get(json_object_get(t, "examples_by_category"), "uncategorized")) == 5);
    // the built-in rules are the shipped file
    json_t *b;
    audit_options o = {.data = files[0]};
    CHECK(audit_run(&o, &b) == 0);
    CHECK(json_equal(json_object_get(b, "examples"), json_object_get(t, "examples")));
    json_decref(b);
    json_decref(rep[0]);
    json_decref(rep[1]);
}

// ---- every bad-line kind ----
static void test_dataset_check(void) {
    char *path = path_join(test_tmpdir(), "bad.jsonl");
    const char *lines =
        "{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"assistant\", \"content\": \"a\"}]}\n" // 1 ok
        "{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}\n"                                                  // 2 invalid_json
        "[1, 2]\n"                                                                                                    // 3 not_object
        "{\"txt\": \"hello\"}\n"                                                                                      // 4 unknown_format
        "{\"messages\": []}\n"                                                                                        // 5 bad_messages
        "{\"messages\": [{\"content\": \"q\"}, {\"role\": \"assistant\", \"content\": \"a\"}]}\n"                     // 6 bad_message
        "{\"messages\": [{\"role\": \"robot\", \"content\": \"q\"}, {\"role\": \"assistant\", \"content\": \"a\"}]}\n" // 7 unknown_role
        "{\"messages\": [{\"role\": \"user\", \"content\": 5}, {\"role\": \"assistant\", \"content\": \"a\"}]}\n"     // 8 bad_content
        "{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"assistant\", \"content\": \"\"}]}\n"  // 9 empty_content
        "{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"assistant\", \"content\": \"a\"}, {\"role\": \"user\", \"content\": \"q2\"}]}\n" // 10 no_assistant_turn
        "{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"system\", \"content\": \"s\"}, {\"role\": \"assistant\", \"content\": \"a\"}]}\n" // 11 role_order
        "{\"messages\": [{\"role\": \"assistant\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"a\"}]}\n" // 12 role_order
        "{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"tool\", \"content\": \"42\"}, {\"role\": \"assistant\", \"content\": \"a\"}]}\n" // 13 role_order
        "{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}], \"tools\": 3}\n"                                   // 14 bad_tools
        "{\"prompt\": \"p\", \"completion\": 3}\n"                                                                    // 15 bad_content
        "{\"prompt\": \"\", \"completion\": \"c\"}\n"                                                                 // 16 empty_content
        "{\"text\": \"\"}\n"                                                                                          // 17 empty_content
        "\n"                                                                                                          // 18 blank_line (warning)
        "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"user\", \"content\": \"b\"}, {\"role\": \"assistant\", \"content\": \"  \"}]}\n" // 19 warnings
        "{\"text\": \"plain\", \"tex\": 1}\n"                                                                         // 20 warnings: stray key, mixed formats
        "{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{}]}, {\"role\": \"tool\", \"content\": \"42\"}, {\"role\": \"assistant\", \"content\": \"a\"}]}\n"; // 21 ok
    CHECK(file_write_atomic(path, lines, strlen(lines)) == 0);
    struct {
        int64_t line;
        ds_level level;
        const char *kind, *text;
    } want[] = {
        {2, DS_ERROR, "invalid_json", ":2:"},
        {3, DS_ERROR, "not_object", "expected a JSON object"},
        {4, DS_ERROR, "unknown_format", "unknown key 'txt'; did you mean 'text'?"},
        {5, DS_ERROR, "bad_messages", "'messages' must be a non-empty list"},
        {6, DS_ERROR, "bad_message", "messages[0] needs a string 'role'"},
        {7, DS_ERROR, "unknown_role", "messages[0] has role 'robot'"},
        {8, DS_ERROR, "bad_content", "messages[0] ('user') needs a string 'content'"},
        {9, DS_ERROR, "empty_content", "messages[1]: empty assistant content"},
        {10, DS_ERROR, "no_assistant_turn", "the last message must be the assistant's (the turn to learn), got 'user'"},
        {11, DS_ERROR, "role_order", "messages[1]: a system message after the conversation started"},
        {12, DS_ERROR, "role_order", "messages[0]: an assistant turn with no user turn before it"},
        {13, DS_ERROR, "role_order", "messages[1]: a tool result without the assistant's tool call before it"},
        {14, DS_ERROR, "bad_tools", "'tools' must be a list"},
        {15, DS_ERROR, "bad_content", "'prompt' and 'completion' must both be strings"},
        {16, DS_ERROR, "empty_content", "empty 'prompt'"},
        {17, DS_ERROR, "empty_content", "'text' must be a non-empty string"},
        {18, DS_WARNING, "blank_line", "blank line"},
        {19, DS_WARNING, "consecutive_roles", "messages[1]: two user turns in a row"},
        {19, DS_WARNING, "blank_content", "messages[2]: assistant content is only whitespace"},
        {20, DS_WARNING, "mixed_formats", "1 record is not in the 'messages' format of the first record"},
        {20, DS_WARNING, "unknown_key", "unknown key 'tex' is ignored; did you mean 'text'?"},
    };
    int nw = (int)(sizeof want / sizeof *want);
    dataset ds;
    ds_issues is = {0};
    CHECK(dataset_check(&ds, path, &is) == 0);
    CHECK_MSG(is.n == nw, "%lld issues, expected %d", (long long)is.n, nw);
    CHECK(is.n_errors == 16 && is.n_warnings == 5);
    for (int i = 0; i < nw && i < is.n; i++) {
        const ds_issue *x = &is.v[i];
        int ok = x->line == want[i].line && x->level == want[i].level && !strcmp(x->kind, want[i].kind) &&
                 strstr(x->msg, want[i].text) && !strncmp(x->msg, path, strlen(path));
        int any = 0; // same line: either order
        for (int j = 0; j < nw && !ok; j++)
            any |= x->line == want[j].line && !strcmp(x->kind, want[j].kind) && strstr(x->msg, want[j].text) != NULL;
        CHECK_MSG(ok || any, "issue %d: line %lld %s '%s'", i, (long long)x->line, x->kind, x->msg);
    }
    CHECK(ds.n == 4); // lines 1, 19, 20, 21 are usable
    dataset_release(&ds);
    ds_issues_release(&is);
    // the first-error mode stops at line 2 with the same message
    CHECK_ERR(dataset_load(&ds, path), ":2:");
    free(path);
}

// ---- data check on the planted issues ----
static void test_data_check(void) {
    data_check_options o = {.data = "examples/data"};
    json_t *rep;
    CHECK(data_check_run(&o, &rep) == 0);
    if (!rep) return;
    json_t *s = json_object_get(rep, "summary");
    CHECK(json_integer_value(json_object_get(s, "examples")) == 164);
    CHECK(json_integer_value(json_object_get(s, "errors")) == 0);
    CHECK(json_integer_value(json_object_get(s, "exact_duplicates")) == 3);
    CHECK(json_integer_value(json_object_get(s, "near_duplicates")) == 2);
    CHECK(json_integer_value(json_object_get(s, "same_questions")) == 0);
    CHECK(json_integer_value(json_object_get(s, "leaks")) == 1);
    CHECK(json_is_true(json_object_get(s, "ok")));
    // the planted pairs (examples/data/README.md)
    int want[][3] = {{43, 90, DUP_EXACT}, {61, 104, DUP_EXACT}, {83, 128, DUP_EXACT}, {32, 141, DUP_NEAR}, {87, 126, DUP_NEAR}};
    size_t i;
    json_t *p;
    int found = 0;
    json_array_foreach(json_object_get(json_object_get(rep, "duplicates"), "pairs"), i, p) {
        int a = (int)json_integer_value(json_object_get(json_object_get(p, "a"), "line"));
        int b = (int)json_integer_value(json_object_get(json_object_get(p, "b"), "line"));
        for (int k = 0; k < 5; k++)
            found += a == want[k][0] && b == want[k][1] &&
                     !strcmp(json_string_value(json_object_get(p, "kind")), dup_kind_name((dup_kind)want[k][2]));
    }
    CHECK(found == 5);
    json_t *leak = json_array_get(json_object_get(rep, "leaks"), 0);
    CHECK(leak && json_integer_value(json_object_get(json_object_get(leak, "a"), "line")) == 109 &&
          strstr(json_string_value(json_object_get(json_object_get(leak, "a"), "file")), "train.jsonl") &&
          json_integer_value(json_object_get(json_object_get(leak, "b"), "line")) == 7 &&
          strstr(json_string_value(json_object_get(json_object_get(leak, "b"), "file")), "valid.jsonl"));
    json_decref(rep);
    o.data = "examples/data/nothing-here";
    CHECK_ERR(data_check_run(&o, &rep), "examples/data/nothing-here: no such file or directory");
    o.data = "tests";
    CHECK_ERR(data_check_run(&o, &rep), "tests: no train.jsonl, valid.jsonl or test.jsonl");
}

int main(void) {
    test_words();
    test_minhash();
    test_dedupe_small();
    test_dedupe_bruteforce();
    test_rules_errors();
    test_classify();
    test_labels();
    test_dataset_check();
    test_data_check();
    rm_rf(test_tmpdir());
    TEST_MAIN_END();
}

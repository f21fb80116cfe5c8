// test_yaml.c — YAML documents read as JSON: PyYAML's scalar resolution, the line
// map, and the errors (syntax, duplicate key, second document, empty file).
#include "core/core.h"
#include "io/yaml.h"
#include "test.h"

// ---- scalars (as PyYAML's resolver) ----
static void test_scalars(void) {
    int64_t iv;
    double dv;
    int bv;
    CHECK(yaml_classify("", 1, &iv, &dv, &bv) == YS_NULL);
    CHECK(yaml_classify("~", 1, &iv, &dv, &bv) == YS_NULL);
    CHECK(yaml_classify("null", 0, &iv, &dv, &bv) == YS_STR); // quoted
    CHECK(yaml_classify("yes", 1, &iv, &dv, &bv) == YS_BOOL && bv == 1);
    CHECK(yaml_classify("Off", 1, &iv, &dv, &bv) == YS_BOOL && bv == 0);
    CHECK(yaml_classify("1_000", 1, &iv, &dv, &bv) == YS_INT && iv == 1000);
    CHECK(yaml_classify("0x1f", 1, &iv, &dv, &bv) == YS_INT && iv == 31);
    CHECK(yaml_classify("017", 1, &iv, &dv, &bv) == YS_INT && iv == 15);
    CHECK(yaml_classify("-3", 1, &iv, &dv, &bv) == YS_INT && iv == -3);
    CHECK(yaml_classify("1e-5", 1, &iv, &dv, &bv) == YS_FLOAT && dv == 1e-5);
    CHECK(yaml_classify("2.5", 1, &iv, &dv, &bv) == YS_FLOAT && dv == 2.5);
    CHECK(yaml_classify("-.inf", 1, &iv, &dv, &bv) == YS_FLOAT && isinf(dv) && dv < 0);
    CHECK(yaml_classify("1.2.3", 1, &iv, &dv, &bv) == YS_STR);
    CHECK(yaml_classify("fast", 1, &iv, &dv, &bv) == YS_STR);
}

// ---- documents and the line map ----
static void test_document(void) {
    const char *text = "# rules\n"
                       "name: insulin\n"
                       "categories:\n"
                       "  - name: a\n"
                       "    patterns: ['\\bfast(ing)?\\b', \"x\"]\n"
                       "    value: 1.5\n"
                       "  - name: b\n"
                       "    min_hits: 2\n"
                       "empty:\n";
    json_t *j, *lines;
    CHECK(yaml_load_string(text, "r.yaml", &j, &lines) == 0);
    CHECK(json_is_object(j));
    CHECK(!strcmp(json_string_value(json_object_get(j, "name")), "insulin"));
    json_t *cats = json_object_get(j, "categories");
    CHECK(json_array_size(cats) == 2);
    json_t *a = json_array_get(cats, 0);
    CHECK(!strcmp(json_string_value(json_array_get(json_object_get(a, "patterns"), 0)), "\\bfast(ing)?\\b"));
    CHECK(json_real_value(json_object_get(a, "value")) == 1.5);
    CHECK(json_integer_value(json_object_get(json_array_get(cats, 1), "min_hits")) == 2);
    CHECK(json_is_null(json_object_get(j, "empty")));
    CHECK(yaml_line(lines, ".name") == 2);
    CHECK(yaml_line(lines, ".categories[0]") == 4);
    CHECK(yaml_line(lines, ".categories[0].patterns") == 5);
    CHECK(yaml_line(lines, ".categories[1].min_hits") == 8);
    CHECK(yaml_line(lines, ".empty") == 9);
    CHECK(yaml_line(lines, ".nothing") == 0);
    json_decref(j);
    json_decref(lines);
}

// ---- errors name the file and line ----
static int load(const char *text) {
    json_t *j, *lines;
    int rc = yaml_load_string(text, "r.yaml", &j, &lines);
    if (rc == 0) json_decref(j), json_decref(lines);
    return rc;
}

static void test_errors(void) {
    CHECK_ERR(load(""), "r.yaml: the file is empty");
    CHECK_ERR(load("a: 1\na: 2\n"), "r.yaml:2: duplicate key 'a'");
    CHECK_ERR(load("a: [1, 2\n"), "r.yaml:2:1: YAML syntax error");
    CHECK_ERR(load("a: 1\n---\nb: 2\n"), "r.yaml:3: a second YAML document");
    CHECK_ERR(load("? [1, 2]\n: x\n"), "r.yaml:1: a key in '' must be a name");
    CHECK_ERR(yaml_load_file("/nonexistent/rules.yaml", &(json_t *){0}, NULL), "/nonexistent/rules.yaml");
}

int main(void) {
    test_scalars();
    test_document();
    test_errors();
    TEST_MAIN_END();
}

// yaml.h — YAML (libyaml) read as JSON values (jansson), with the line of every
// key and list item, for config and rules files. Scalars resolve as PyYAML does
// (YAML 1.1: null/~, true/yes/on, ints with 0x/0o/0b and '_', floats incl. 1e-5
// and .inf); quoted scalars stay strings.
//
// Ownership: returned JSON values are new references owned by the caller.
#ifndef LORAC_YAML_H
#define LORAC_YAML_H

#include <jansson.h>
#include <stdint.h>
#include <yaml.h>

typedef enum { YS_NULL, YS_BOOL, YS_INT, YS_FLOAT, YS_STR } yaml_scalar;

// Resolve a scalar's text; plain = written without quotes. Fills *iv, *dv or *bv.
yaml_scalar yaml_classify(const char *s, int plain, int64_t *iv, double *dv, int *bv);

// A scalar node written without quotes; its text; "a mapping" / "a list" / "a value".
int yaml_node_plain(const yaml_node_t *n);
const char *yaml_node_text(const yaml_node_t *n);
const char *yaml_node_kind_name(const yaml_node_t *n);

// Set the error "name:line:col: YAML syntax error: ..." from a failed parser; returns -1.
int yaml_parse_error(const char *name, const yaml_parser_t *p);

// Node n of doc as JSON. lines (an object) receives "path" -> line for every
// mapping key ("path.key") and list item ("path[i]"); file names the source in
// errors (duplicate key, non-scalar key, nesting deeper than 64). NULL on error.
json_t *yaml_node_to_json(yaml_document_t *doc, const yaml_node_t *n, const char *file, const char *path, json_t *lines);

// Read the single YAML document in path as JSON. *lines (may be NULL) receives the
// line map with paths rooted at "" (".key", ".list[0].key"), plus "" -> the root's
// line. An empty file, a second document, or a syntax error is an error naming
// path and line. Returns 0, or -1 with the error set.
int yaml_load_file(const char *path, json_t **out, json_t **lines);
int yaml_load_string(const char *text, const char *name, json_t **out, json_t **lines);

// The line recorded for path in lines, or 0.
int yaml_line(const json_t *lines, const char *path);

#endif

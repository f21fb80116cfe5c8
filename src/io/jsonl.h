// jsonl.h — JSON Lines: one JSON value per line, blank lines skipped; an unparsable
// line is the error "path:line:col: invalid JSON: ...". Used by datasets, eval
// responses and training metrics.
//
// Ownership: each value is passed to the callback borrowed (json_incref to keep it).
#ifndef LORAC_JSONL_H
#define LORAC_JSONL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

// Called per value with its 1-based line; a non-zero return stops the reading and
// is returned (set the error first).
typedef int (*jsonl_fn)(void *ctx, json_t *value, int64_t line);

int jsonl_read(const char *path, jsonl_fn fn, void *ctx);
// The same over text already in memory; path names it in errors.
int jsonl_read_buffer(const char *text, size_t len, const char *path, jsonl_fn fn, void *ctx);

#endif

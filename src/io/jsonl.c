// jsonl.c — JSON Lines reading (see jsonl.h).
#include "jsonl.h"

#include "../core/core.h"

#include <stdlib.h>
#include <string.h>

int jsonl_read_buffer(const char *text, size_t len, const char *path, jsonl_fn fn, void *ctx) {
    int64_t line = 0;
    int rc = 0;
    for (const char *p = text; rc == 0 && p < text + len;) {
        const char *nl = memchr(p, '\n', (size_t)(text + len - p));
        const char *end = nl ? nl : text + len;
        line++;
        const char *q = p;
        while (q < end && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
        if (q < end) {
            json_error_t je;
            json_t *o = json_loadb(p, (size_t)(end - p), 0, &je);
            if (!o) rc = err_set("%s:%lld:%d: invalid JSON: %s", path, (long long)line, je.column, je.text);
            else rc = fn(ctx, o, line);
            json_decref(o);
        }
        p = end + 1;
    }
    return rc;
}

int jsonl_read(const char *path, jsonl_fn fn, void *ctx) {
    char *text;
    size_t len;
    if (file_read_all(path, &text, &len)) return -1;
    int rc = jsonl_read_buffer(text, len, path, fn, ctx);
    free(text);
    return rc;
}

// json_file.c — atomic JSON files.
#include "json_file.h"

#include "../core/core.h"

#include <stdlib.h>
#include <string.h>

int json_save(const char *path, const json_t *j, size_t flags) {
    char *text = json_dumps(j, flags);
    if (!text) return err_set("%s: cannot encode as JSON (invalid UTF-8 in a string?)", path);
    size_t n = strlen(text);
    text = xrealloc(text, n + 2);
    text[n] = '\n';
    int rc = file_write_atomic(path, text, n + 1);
    free(text);
    return rc;
}

// json_file.h — a JSON value written as a file the way lorac writes all files:
// through a temporary name, renamed into place, ending in a newline.
#ifndef LORAC_JSON_FILE_H
#define LORAC_JSON_FILE_H

#include <jansson.h>

// flags: jansson's json_dumps flags (JSON_INDENT(n), JSON_SORT_KEYS, ...).
// -1 with "path: problem" when the value cannot be encoded or the file written.
int json_save(const char *path, const json_t *j, size_t flags);

#endif

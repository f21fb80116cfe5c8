// eval_internal.h — what the eval module's files share and nobody else needs:
// the compiled stance patterns, the threshold table, and the YAML key/type
// checks that rules files and prompt suites both use (one place for both).
#ifndef LORAC_EVAL_INTERNAL_H
#define LORAC_EVAL_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "eval.h"

// ---- stance patterns ----
typedef struct {
    pcre2_code *re;
    char *source;   // the regex as written
    double weight;
    int side;       // 0 = domain, 1 = other
    int negate;     // 0: a topic mention, counted for its side even when negated
} ev_pattern;

struct eval_stance_rules {
    ev_pattern *pat;
    int n;
    pcre2_code **cue; // negation cues
    int n_cue;
    int64_t before, after; // words searched before / after a match
};

// ---- thresholds: the rules key, the statistics path it checks, the direction ----
typedef struct {
    const char *key;    // "min_stance_rate"
    const char *metric; // "stance.domain_rate" (in statistics)
    int at_least;       // 1: value >= threshold passes; 0: value <= threshold
    const char *what;   // "answers favouring the domain"
    size_t offset;      // of the double in eval_rules
} ev_threshold;
extern const ev_threshold ev_thresholds[];
extern const int ev_n_thresholds;

// ---- YAML checks (rules and suites) ----
typedef struct {
    const char *file;   // for messages
    const json_t *lines; // yaml line map
} ev_yaml;

// "file:line: key.path: message" (path as in the line map, leading '.' dropped); -1.
int ev_err(const ev_yaml *y, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
// o must be an object whose keys are all in keys (NULL-terminated); else an error
// naming the unknown key and the nearest known one.
int ev_check_object(const ev_yaml *y, const json_t *o, const char *path, const char *const *keys);
// Typed members of o at path: absent leaves *out as is; a wrong type or range is an error.
int ev_get_int(const ev_yaml *y, const json_t *o, const char *path, const char *key, int64_t lo, int64_t hi,
               int64_t *out);
int ev_get_num(const ev_yaml *y, const json_t *o, const char *path, const char *key, double lo, double hi,
               int null_ok, double *out); // null_ok: null -> NAN
int ev_get_bool(const ev_yaml *y, const json_t *o, const char *path, const char *key, int *out);
int ev_get_str(const ev_yaml *y, const json_t *o, const char *path, const char *key, const char **out);
// Load YAML (file, or the built-in text when path names it) with its line map.
int ev_yaml_load(const char *path, const char *builtin, const char *builtin_name, json_t **root, json_t **lines,
                 char **source);

#endif

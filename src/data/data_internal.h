// data_internal.h — what the data module's files share and nobody else needs:
// the compiled form of an audit rules file (built by rules.c, used by audit.c)
// and a sort for 64-bit hashes.
#ifndef LORAC_DATA_INTERNAL_H
#define LORAC_DATA_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include "data.h"

#include <pcre2.h>

typedef enum { KEEP_KEEP, KEEP_REVIEW, KEEP_REPLACE } keep_advice;
extern const char *const keep_names[3];

typedef enum { STRATEGY_SCORE, STRATEGY_FIRST } rules_strategy;

typedef struct {
    char *name, *description;
    int tier;            // index into audit_rules.tiers
    keep_advice keep;
    int on_topic;
    double q_weight, a_weight;
    int64_t min_hits;
    char **patterns;     // as written (n_patterns)
    int n_patterns;
    pcre2_code *re;      // every pattern in one alternation (NULL for the fallback)
} rule_category;

struct audit_rules {
    char *source;        // file path, or "built-in 'NAME'"
    char *name;
    char **tiers;        // value tier names, most valuable first
    char **tier_group;   // "high" | "medium" | "low" per tier
    int n_tiers;
    rule_category *cats; // n_cats categories in priority order, then the fallback at [n_cats]
    int n_cats;
    rules_strategy strategy;
};

// Sort ascending (LSD radix, 8 bits a pass; a digit all values share is skipped).
void sort_u64(uint64_t *v, size_t n);

#endif

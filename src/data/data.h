// data.h — lorac's data tools, as a library the commands and the workflow call
// in-process:
//   audit       each example of a JSONL file assigned to a category by a rules
//               file (PCRE2 patterns, value tiers, keep/replace advice), with the
//               terms that decided it;
//   data check  every line of train/valid/test validated with file:line errors,
//               exact and near-duplicate questions and answers (MinHash over word
//               shingles), train/valid/test leaks, and token lengths after the chat
//               template against max_seq_length;
//   data split  a deterministic train/valid/test split that keeps near-duplicates
//               on one side.
// Each *_run returns the report as one JSON object (what --output writes); its
// "summary" object holds the few keys a caller needs (documented per function).
//
// Ownership: reports are new references the caller decrefs; rules and
// signatures are owned by their handles (x_free / x_release). Work runs on
// OpenMP's threads (omp_set_num_threads to limit them).
#ifndef LORAC_DATA_H
#define LORAC_DATA_H

#include "../train/dataset.h"

#include <jansson.h>
#include <stdio.h>

// ---- an example as question and answer ----
// messages: the user turns (joined by a blank line) and the assistant turns;
// prompt/completion: the two strings; text: no question, the text is the answer.
// shown: the last user turn (text: the first line), for listings. Strings are
// owned by the struct.
typedef struct {
    char *question, *answer, *shown;
} example_text;
void example_text_init(example_text *t, const record *r);
void example_text_release(example_text *t);

// ---- words, shingles and MinHash ----
// Words: maximal runs of Unicode letters, marks and digits, lowercased. Shingles:
// 64-bit hashes of k consecutive words (texts shorter than k words give one
// shingle of all their words), sorted and unique. Caller frees *out.
size_t text_shingles(const char *text, int k, uint64_t **out);
// Hash of the word sequence: equal for texts that differ only in case, spacing
// and punctuation. *n_words (may be NULL) receives the word count.
uint64_t text_words_hash(const char *text, size_t *n_words);
// Both from one pass over the words: returns the shingle count (*shingles may be NULL).
size_t text_features(const char *text, int k, uint64_t *seq_hash, size_t *n_words, uint64_t **shingles);
// Jaccard similarity |A∩B| / |A∪B| of two sorted unique hash sets (1 when both empty).
double jaccard(const uint64_t *a, size_t na, const uint64_t *b, size_t nb);

#define MINHASH_PERM 128
// sig[MINHASH_PERM]: the minimum over the set of each of 128 seeded hash functions.
// P(sig_a[i] == sig_b[i]) is the Jaccard similarity of the two sets.
void minhash_sign(const uint64_t *set, size_t n, uint64_t *sig);

// ---- duplicates ----
typedef enum {
    DUP_EXACT,       // question and answer identical (ignoring case, spacing, punctuation)
    DUP_NEAR,        // answers similar (word 3-shingle Jaccard >= threshold), not exact
    DUP_QUESTION,    // questions identical or similar (word-set Jaccard >= threshold), answers not
} dup_kind;
const char *dup_kind_name(dup_kind k); // "exact", "near_duplicate", "same_question"

typedef struct {
    const char *question, *answer; // borrowed
    int group;                      // file index: pairs across groups are leaks
} dup_item;

typedef struct {
    int64_t a, b;            // item indices, a < b
    dup_kind kind;
    double q_sim, a_sim;     // Jaccard similarities: question word sets, answer 3-shingle sets
} dup_pair;

// Every pair of items that are duplicates at threshold (0.5..1). Identical
// items form a star around the first (pairs first-other, not all pairs), and so
// do more than 64 items sharing an identical question, answer or LSH bucket;
// near pairs come from MinHash LSH (128 permutations, bands chosen so a pair
// at the threshold is a candidate with probability >= 0.999) and are verified
// exactly: q_sim is exact, a_sim is exact at or near the threshold and the
// MinHash estimate (standard deviation <= 0.045) when it lies more than 0.2
// below it. Pairs sorted by (a, b). Caller frees *pairs.
int dedupe_find(const dup_item *items, int64_t n, double threshold, dup_pair **pairs, int64_t *n_pairs);

// ---- audit rules ----
// A rules file (YAML): value tiers in order, categories in priority order with
// PCRE2 patterns (case-insensitive, whole-word unless whole_word: false), their
// tier, keep advice and weights; see examples/audit-rules/insulin.yaml and the
// README. Errors name the file and line ("rules.yaml:12: ...").
typedef struct audit_rules audit_rules;
audit_rules *audit_rules_load(const char *path_or_name); // a YAML path, or a built-in name ("insulin")
audit_rules *audit_rules_parse(const char *yaml, const char *name);
void audit_rules_free(audit_rules *r);
int audit_rules_count(const audit_rules *r);     // categories, the fallback excluded
const char *audit_rules_source(const audit_rules *r);

// The classification of one example.
typedef struct {
    int category;      // index into the rules' categories; audit_rules_count() = uncategorized
    int runner_up;     // the next best category with any match; -1 when none
    double score, runner_up_score;
    // {category: {score, question_hits, answer_hits, terms: [{term, question, answer}]}}
    // for every category with a match: the evidence (owned)
    json_t *evidence;
} audit_result;
// Classify one question/answer pair. Thread-safe (per-call match data).
int audit_classify(const audit_rules *r, const char *question, const char *answer, audit_result *out);
void audit_result_release(audit_result *res);
const char *audit_category_name(const audit_rules *r, int c); // c == count: the fallback's name

// ---- lorac audit ----
typedef struct {
    const char *data;   // FILE.jsonl, or a DIR holding train.jsonl
    const char *rules;  // YAML path or built-in name; NULL = "insulin"
} audit_options;

// Report keys: data, rules, strategy, total_examples, category_counts {name: n},
// category_shares {name: share}, categories [{name, description, value, group,
// keep, on_topic, count, share}], value_counts {tier: n}, value_groups {high,
// medium, low}, on_topic {count, share}, replacement_candidates [{line, category,
// value, question}], examples_by_category {name: [{line, question}]}, examples
// [{line, question, category, value, keep, score, runner_up, runner_up_score,
// close_call, evidence}], summary {total_examples, on_topic_share, high, medium,
// low, replacement_candidates, uncategorized, close_calls}. A close call: the
// runner-up scored at least 80% of the winner.
// -1 with the error set when the data or rules cannot be read (a bad line is an error).
int audit_run(const audit_options *o, json_t **report);
// The human table: categories with value, keep, count and share; tier totals;
// on-topic share; replacement candidates; `show` examples per category with evidence.
void audit_print(FILE *f, const json_t *report, int show);

// ---- lorac data check ----
typedef struct {
    const char *data;           // DIR with train/valid/test.jsonl, or one FILE
    const char *model;          // NULL: no token statistics
    int64_t max_seq_length;     // 0 = 2048
    int mask_prompt;            // targets = the last assistant turn only
    double threshold;           // near-duplicate Jaccard threshold; 0 = 0.7
    const json_t *template_args; // extra chat-template variables (may be NULL)
    const char *lengths_tsv;    // write per-example token counts here (may be NULL)
} data_check_options;

// Report keys: data, files [{name, path, lines, examples, errors, warnings, formats}],
// errors [{file, line, kind, message}], warnings [same], error_counts and
// warning_counts {kind: n},
// duplicates {threshold, pairs_found, pairs [{kind, a {file, line}, b {file, line},
// question_similarity, answer_similarity}]: one per duplicate example b, with its
// earliest partner a}, leaks [same pair objects, a and b in different files],
// tokens (with a model) {model, max_seq_length, mask_prompt, files {name: {examples,
// min, median, p95, max, mean, total, over_max, tokens_dropped, kept_tokens,
// target_tokens, target_share, masked_target_tokens, masked_target_share,
// no_targets}}, all {same}, histogram [{from, to, count}]},
// summary {examples, errors, warnings, exact_duplicates, near_duplicates,
// same_questions, leaks, over_max_seq_length, tokens_dropped, ok}.
// Returns 0 when the check ran (errors in the data are in the report), -1 when it
// could not (no data files, unreadable file, model load failure).
int data_check_run(const data_check_options *o, json_t **report);
void data_check_print(FILE *f, const json_t *report);

// Write a report as indented JSON (with a final newline) to path, atomically,
// or to f.
int data_write_json(const char *path, const json_t *report);
void data_print_json(FILE *f, const json_t *report);

// ---- lorac data split ----
typedef struct {
    const char *input;   // FILE.jsonl
    const char *out;     // output directory (created)
    double valid, test;  // fractions of the examples
    uint64_t seed;
    int dedupe;          // drop exact and near duplicates, keeping the first
    double threshold;    // 0 = 0.7
    int force;           // replace existing train/valid/test.jsonl in out
} data_split_options;

// Report keys: input, out, seed, valid, test, threshold, examples, kept, dropped
// [{line, duplicate_of, kind, answer_similarity}], clusters_kept_together,
// files {train, valid, test: {path, examples}}. Lines are copied byte for byte
// in input order. -1 with the error set on bad input or options.
int data_split_run(const data_split_options *o, json_t **report);

#endif

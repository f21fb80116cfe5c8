// eval.h — judging chat answers by the questions a fine-tune is judged by: does it
// loop, which position does it take (stance), is it formatted, is it the right
// length, was it cut off — and, when the data has the reference answer, how close
// it is (ROUGE-L, length ratio) and the model's teacher-forced loss on it. Then
// the aggregates and pass/fail against thresholds, and the eval run that
// generates answers (chat template and every sampling flag applied) and scores them.
//
// Everything configurable lives in one rules file (eval_rules_load: stance
// patterns, negation cues, length band, loop and formatting settings, thresholds);
// the built-in default is examples/eval-rules/insulin-vs-cico.yaml, compiled in.
//
// Ownership: eval_rules and eval_suite own everything they point to; every json_t
// returned is a new reference the caller owns; eval_loops owns its strings
// (eval_loops_release).
#ifndef LORAC_EVAL_H
#define LORAC_EVAL_H

#include "../core/core.h"
#include "../generate/generate.h"
#include "../tokenizer/tokenizer.h"

#include <jansson.h>

// ---- rules: one file for every setting and threshold ----
typedef struct eval_stance_rules eval_stance_rules; // compiled patterns (opaque)

typedef struct {
    char *source;                // the file, or "insulin-vs-cico.yaml (built in)"
    char *name;                  // the rules' own name ("insulin-vs-cico")
    // length band, characters (Unicode code points), both ends inclusive
    int64_t min_chars, max_chars;          // 500, 1500
    // loops
    int64_t loop_min_repeats;              // a sentence or line this many times (3)
    int64_t loop_min_span_tokens;          // or a span this long twice back to back (16)
    int64_t loop_min_sentence_words;       // shorter sentences/lines are not counted (3)
    // formatting
    int64_t min_list_items;                // list items for "has a list" (2)
    int64_t min_paragraphs;                // blank-line separated blocks for "has paragraphs" (2)
    int64_t well_formatted_min;            // of bold / list / paragraphs for "well formatted" (2)
    // stance (NULL when the rules define none: stance is not scored)
    eval_stance_rules *stance;
    char *side[2];                         // side names; [0] is the domain's position
    double stance_margin;                  // |score| below it = mixed (0.2)
    // thresholds; NAN = not checked
    double max_loop_rate;                  // 0: no loops at all
    double min_stance_rate;                // 0.8: answers favouring the domain
    double min_well_formatted_rate;        // 0.6
    double min_length_band_rate;           // 0.7
    double max_truncated_rate;             // NAN
    double min_expected_rate;              // answers containing their `expect` strings (suites)
    double max_val_loss_rise;              // compare: final validation loss over the best, relative (0.05)
} eval_rules;

// Load rules from a YAML file (NULL = the built-in default). Missing sections and
// keys take the defaults above (no stance section: stance is not scored); an
// unknown key, a wrong type, a bad regex is an error "file:line: ...".
int eval_rules_load(eval_rules *r, const char *path);
int eval_rules_load_string(eval_rules *r, const char *text, const char *name);
// Override thresholds from a mapping {max_loop_rate: 0, ...} (e.g. a run config's
// evaluation.thresholds): the rules file's checks (known keys, ranges); errors
// name file and the line lines maps ".thresholds.<key>" to (lines may be NULL).
int eval_rules_set_thresholds(eval_rules *r, const json_t *thresholds, const char *file, const json_t *lines);
void eval_rules_release(eval_rules *r);
// {"max_loop_rate": 0, "min_stance_rate": 0.8, ...} (null for unchecked ones).
json_t *eval_rules_thresholds(const eval_rules *r);
// The built-in rules and prompt suite (NUL-terminated YAML text).
extern const char eval_builtin_rules[];
extern const char eval_builtin_prompts[];

// ---- metrics on one text ----
// Text tokens (tokenizer-independent, so answers from any tool score alike): runs of
// letters/digits (with inner apostrophes), and each other non-space character.
typedef struct {
    int loop;                    // any of the two below
    // a sentence or line (normalised: case, markdown markers, outer punctuation)
    char *sentence;              // the most repeated one when >= min_repeats, else NULL
    int64_t sentence_count;
    // a token span of >= min_span_tokens repeated back to back
    char *span;                  // its first occurrence, as written, else NULL
    int64_t span_tokens, span_repeats, span_offset; // length, copies in a row, byte offset
    double distinct[3];          // distinct-1/2/3: unique / total word n-grams (NAN: none)
} eval_loops;
int eval_loops_detect(const eval_rules *r, const char *text, eval_loops *out);
void eval_loops_release(eval_loops *l);

typedef struct {
    int64_t bold, bullet_items, numbered_items, paragraphs, headings;
    int has_bold, has_list, has_paragraphs, has_headings;
    int score;                   // has_bold + has_list + has_paragraphs (0..3)
    int well_formatted;          // score >= well_formatted_min
} eval_format;
void eval_format_count(const eval_rules *r, const char *text, eval_format *f);

// Unicode code points, whitespace-separated words.
int64_t eval_count_chars(const char *text);
int64_t eval_count_words(const char *text);

// ROUGE-L as the rouge-score package (no stemming): lowercase, runs of [a-z0-9]
// as tokens, LCS; returns F1, and precision/recall when not NULL.
double eval_rouge_l(const char *reference, const char *candidate, double *precision, double *recall);

// Stance: weighted patterns per side; a match with an odd number of negation cues
// in its clause (a few words before, the match, a few words after) counts for the
// other side. score = (w_domain - w_other) / (w_domain + w_other) in [-1, 1], 0 with
// no match. label: the domain side's name when score >= margin, the other's when
// <= -margin, "mixed" when both sides matched, else "neutral". matches (may be
// NULL) receives [{side, text, weight, negated, pattern}].
typedef struct {
    double score, weight[2];
    const char *label;           // points into r (or a literal)
} eval_stance;
int eval_stance_score(const eval_rules *r, const char *text, eval_stance *s, json_t **matches);

// Per-example options that a prompt suite may set (eval_item_opts_init: the rules').
typedef struct {
    int64_t min_chars, max_chars; // length band
    int stance, formatting;       // whether the stance / formatting counts for this prompt
    const json_t *expect;         // strings a correct answer contains (case-insensitive), or NULL
} eval_item_opts;
void eval_item_opts_init(eval_item_opts *o, const eval_rules *r);

// Every metric of one answer as the JSON object eval writes per example:
// response_length, formatting_score, formatting_checks (the user's script's keys),
// length {chars, words, tokens, band, in_band}, loops {...}, stance {...},
// formatting {...}, expected {...} (with opts->expect), ground_truth
// {reference_chars, length_ratio, rouge_l {precision, recall, f1}} (with a
// reference). tok (may be NULL) counts tokens; opts NULL = the rules' defaults.
json_t *eval_score_response(const eval_rules *r, const char *response, const char *reference, tokenizer *tok,
                            const eval_item_opts *opts);

// ---- aggregates ----
// {n, mean, median, min, max, std (population)} over the finite values; n = 0 -> only n.
json_t *eval_summary_stats(const double *v, int64_t n);
// The statistics object of a results array (eval_score_response objects plus what
// eval_run adds): means/medians/..., rates, per category, and `checks`
// [{name, metric, op, threshold, value, pass}] + `pass` against r's thresholds.
json_t *eval_statistics(const eval_rules *r, const json_t *results);

// ---- prompt suites ----
typedef struct {
    char *category, *purpose, *prompt;
    int line;                    // in the suite file
    eval_item_opts opts;         // band, stance/formatting flags, expect (owned by the suite's JSON)
    json_t *sampling;            // suggested sampling {temp, top_p, ...} (suite < category < prompt), or NULL
} eval_prompt;

typedef struct {
    char *source, *name;
    eval_prompt *p;
    int64_t n;
    json_t *root;                // the loaded YAML (owns expect lists)
} eval_suite;

// "default" (when no such file exists) = the built-in examples/prompts/default.yaml.
int eval_suite_load(eval_suite *s, const char *path, const eval_rules *r);
void eval_suite_release(eval_suite *s);

// ---- the eval run ----
// Sampling flags the caller set explicitly (they beat a suite's suggested sampling).
enum {
    EVAL_SET_TEMP = 1 << 0, EVAL_SET_TOP_P = 1 << 1, EVAL_SET_TOP_K = 1 << 2, EVAL_SET_MIN_P = 1 << 3,
    EVAL_SET_REP = 1 << 4, EVAL_SET_REP_CTX = 1 << 5, EVAL_SET_PRESENCE = 1 << 6, EVAL_SET_FREQUENCY = 1 << 7,
    EVAL_SET_MAX_TOKENS = 1 << 8,
};

typedef struct {
    const char *model;           // required to generate; with responses optional (token counts, reference loss)
    const char *adapter_path, *adapter_file; // unfused adapters on top of model (NULL = none)
    const char *data;            // JSONL: messages (ending on the user turn, or with the reference answer last), prompt[/completion]
    const char *prompts;         // a prompt suite YAML ("default" = built in)
    const char *responses;       // answers made elsewhere: JSONL, or a results JSON with results[]; nothing is generated
    const char *rules;           // NULL = built-in
    const char *system_prompt;   // a system turn put first (NULL: none; the data's own are kept)
    const json_t *chat_template_args; // template variables (may be NULL)
    sampler_params sampling;     // example i is sampled with seed sampling.seed + i
    unsigned sampling_set;       // EVAL_SET_* bits
    int64_t max_tokens;          // 256
    int64_t max_examples;        // < 0 = all
    int reference_loss;          // teacher-forced loss on reference answers (1)
    int progress;                // progress with ETA on stderr (1)
    const char *label;           // progress prefix ("eval", "base")
    const char *const *extra_eos; // stop tokens by text, n_extra_eos of them
    int n_extra_eos;
    const json_t *thresholds;    // overrides of the rules' thresholds (may be NULL; eval_rules_set_thresholds)
    const char *thresholds_file; // where they come from, for errors
    const json_t *thresholds_lines; // ".thresholds.<key>" -> line (may be NULL)
} eval_opts;
void eval_opts_init(eval_opts *o);

// Generate (unless o->responses) and score every example; *results gets
// {model, adapter, data, params, rules, thresholds, statistics, results[], pass}
// plus the user's script's keys (model_path, validation_file, total_examples).
int eval_run(const eval_opts *o, json_t **results);
// The headline statistics, in the order the summary table, the deltas and lorac
// compare show them: dotted path into `statistics`, label, a rate (shown as %),
// and the threshold key that checks it (NULL: none).
typedef struct {
    const char *metric, *label;
    int is_rate;
    const char *threshold;
} eval_headline;
extern const eval_headline eval_headlines[];
extern const int eval_n_headlines;
// The value at a dotted path of a statistics object ("stance.domain_rate"), or NULL.
json_t *eval_stat_at(const json_t *statistics, const char *path);
// "12.5%" for rates, "0.431" / "1043" for numbers, "-" for missing.
void eval_format_value(char *buf, size_t n, const json_t *v, int is_rate);
// "pass", "FAIL", "n/a" (nothing to check) or "" (no such threshold) for a check of
// statistics; desc (may be NULL) gets ">= 80%".
const char *eval_check_status(const json_t *statistics, const char *threshold, char *desc, size_t n);

// Base vs fine-tuned: {metric: {base, tuned, delta}} for the headline statistics.
json_t *eval_deltas(const json_t *base, const json_t *tuned);
// The summary table (stderr in lorac eval); side by side with deltas when base != NULL.
void eval_summary_table(strbuf *out, const json_t *results, const json_t *base);

#endif

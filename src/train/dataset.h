// dataset.h — training/evaluation records from JSONL in mlx-lm's three formats,
// and their tokenization with the prompt/target boundary.
//
//   {"messages": [{"role": .., "content": ..}, ...], "tools": [...]?}   chat
//   {"prompt": "..", "completion": ".."}                                 completions
//   {"text": ".."}                                                       raw text
//
// Chat and completions go through the model's chat template (completions become
// a user turn and an assistant turn, as mlx-lm does). The target starts after the
// rendered prefix: the messages before the last one rendered with the generation
// prompt (mlx-lm's mask_prompt offset), clamped to the sequence. Text is encoded
// as the tokenizer does (BOS when it adds one) and EOS appended when missing;
// every token after the first is a target.
//
// Ownership: a dataset owns its records and their JSON.
#ifndef LORAC_DATASET_H
#define LORAC_DATASET_H

#include "../generate/generate.h"

typedef enum { REC_MESSAGES, REC_COMPLETION, REC_TEXT } record_kind;

typedef struct {
    record_kind kind;
    json_t *obj;  // the whole line's object (owned reference)
    int64_t line; // 1-based line number in the file
    const char *path; // the file (owned by the dataset)
} record;

typedef struct {
    char *path;
    record *recs;
    int64_t n;
} dataset;

// Read and validate every line: JSON object, a known format, non-empty string
// content, roles user/assistant/system/tool in a usable order (system messages
// first, a tool result after the assistant's tool call, a user turn before the
// first assistant turn), an assistant turn last for chat. Stops at the first
// error, which reads "path:line: what is wrong". Blank lines are skipped.
int dataset_load(dataset *ds, const char *path);
// As dataset_load; with DATASET_PROMPTS a record may also end on a user turn, or
// have a 'prompt' without 'completion' (prompts to answer, no reference: eval).
#define DATASET_PROMPTS 1
int dataset_load_flags(dataset *ds, const char *path, int flags);
void dataset_release(dataset *ds);

// ---- checking every line (lorac data check) ----
// The same validation, but nothing stops at the first problem: every bad line
// becomes an error and is left out of ds, every good line is kept, and
// warnings report what lorac accepts but is probably not meant (a blank line,
// mixed formats in one file, two user turns in a row, whitespace-only content,
// an unknown key close to a known one).
typedef enum { DS_ERROR, DS_WARNING } ds_level;

typedef struct {
    ds_level level;
    int64_t line;     // 1-based
    const char *kind; // stable identifier ("invalid_json", "role_order", ...; static string)
    char *msg;        // "path:line: what is wrong" (owned)
} ds_issue;

typedef struct {
    ds_issue *v; // in line order
    int64_t n, cap;
    int64_t n_errors, n_warnings;
} ds_issues;

void ds_issues_release(ds_issues *x);

// Returns -1 (error set) only when the file cannot be read; bad lines are in
// issues (appended) and ds may hold zero records. ds->path is path.
int dataset_check(dataset *ds, const char *path, ds_issues *issues);

// Token ids of one record and the index of the first target token (ids before
// it are context only). extra: template variables (may be NULL).
int record_tokenize(gen_model *g, const record *r, const json_t *extra, tok_ids *ids, int64_t *target_start);

#endif

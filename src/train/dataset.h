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
// content, roles user/assistant/system/tool, an assistant turn last for chat.
// Errors read "path:line: what is wrong". Blank lines are skipped.
int dataset_load(dataset *ds, const char *path);
// As dataset_load; with DATASET_PROMPTS a record may also end on a user turn, or
// have a 'prompt' without 'completion' (prompts to answer, no reference: eval).
#define DATASET_PROMPTS 1
int dataset_load_flags(dataset *ds, const char *path, int flags);
void dataset_release(dataset *ds);

// Token ids of one record and the index of the first target token (ids before
// it are context only). extra: template variables (may be NULL).
int record_tokenize(gen_model *g, const record *r, const json_t *extra, tok_ids *ids, int64_t *target_start);

#endif

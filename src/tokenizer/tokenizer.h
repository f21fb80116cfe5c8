// tokenizer.h — byte-level BPE tokenizer, identical to Hugging Face `tokenizers`.
//
// One tokenizer object is built either from an HF model directory
// (tokenizer.json + tokenizer_config.json) or from the tokenizer metadata of a
// GGUF file (tokenizer.ggml.*). Encoding runs the HF pipeline: added/special
// tokens split out first (leftmost-longest, honouring lstrip/rstrip/single_word/
// normalized and split_special_tokens), normalizer (NFC/NFD/NFKC/NFKD/Sequence),
// pre-tokenizer (Sequence of Split regex steps run with PCRE2 JIT, Digits,
// ByteLevel), BPE with a word cache, then the post-processor's specials (BOS)
// when asked. Decoding is the ByteLevel decoder; tok_decoder_* does it token by
// token and only ever emits complete UTF-8 (a partial sequence is held back
// until it completes).
//
// Ownership: the tokenizer owns everything it returns (strings stay valid until
// tok_free); encode/decode append into caller-owned buffers. tok_encode updates
// the word cache and scratch space inside the tokenizer, so one tokenizer must
// not be used by two threads at once (load one per thread instead).
#ifndef LORAC_TOKENIZER_H
#define LORAC_TOKENIZER_H

#include "../core/core.h"
#include "../io/gguf.h"

#include <stdint.h>

typedef struct tokenizer tokenizer;

// ---- loading ----
// HF directory: dir/tokenizer.json (required) and dir/tokenizer_config.json
// (optional). NULL with "path: problem" on error.
tokenizer *tok_load_dir(const char *dir);
// tokenizer.json and an optional tokenizer_config.json (config_path may be NULL).
tokenizer *tok_load_json(const char *json_path, const char *config_path);
// GGUF tokenizer metadata (tokenizer.ggml.model "gpt2"); path is used in messages.
tokenizer *tok_load_gguf_file(const gguf_file *g, const char *path);
tokenizer *tok_load_gguf(const char *path);
// What a user typed after --model: a directory holding tokenizer.json, a GGUF
// file, or anything model_path_resolve() accepts.
tokenizer *tok_load(const char *spec);
void tok_free(tokenizer *t); // NULL-safe

// ---- encoding ----
typedef struct {
    int32_t *ids; // owned
    size_t n, cap;
} tok_ids;
void tok_ids_init(tok_ids *v);
void tok_ids_release(tok_ids *v);
void tok_ids_push(tok_ids *v, int32_t id);

// Append the ids of text[0..len) to out. add_special: add what the
// post-processor adds (BOS for Llama 3), like add_special_tokens=True.
// Text must be valid UTF-8 (-1 with the byte offset otherwise).
int tok_encode(tokenizer *t, const char *text, size_t len, int add_special, tok_ids *out);

// ---- decoding ----
enum { TOK_SKIP_SPECIAL = 1 }; // drop special added tokens (skip_special_tokens=True)

// Append the text of ids to out. Invalid UTF-8 produced by the ids becomes
// U+FFFD per maximal invalid subsequence (Rust's from_utf8_lossy). -1 on an id
// outside the vocabulary.
int tok_decode(const tokenizer *t, const int32_t *ids, size_t n, int flags, strbuf *out);

// Streaming decode: push ids one at a time; out receives only complete UTF-8.
// Concatenating every push and the final flush equals tok_decode of all ids.
typedef struct {
    const tokenizer *tok;
    int flags;
    uint8_t pend[4]; // bytes of an incomplete UTF-8 sequence
    int npend;
    int need; // total length of the pending sequence
} tok_decoder;
void tok_decoder_init(tok_decoder *d, const tokenizer *t, int flags);
int tok_decoder_push(tok_decoder *d, int32_t id, strbuf *out); // -1 on a bad id
void tok_decoder_flush(tok_decoder *d, strbuf *out); // pending partial -> U+FFFD

// ---- vocabulary ----
int32_t tok_vocab_size(const tokenizer *t); // highest id + 1, added tokens included
// Token string as stored in the vocabulary (byte-level form, "Ġthe"); NULL if
// the id is unused or out of range.
const char *tok_id_to_token(const tokenizer *t, int32_t id);
int32_t tok_token_to_id(const tokenizer *t, const char *token); // -1 if absent
// Raw bytes an id decodes to (not NUL-terminated); NULL if the id is unused.
const uint8_t *tok_id_bytes(const tokenizer *t, int32_t id, size_t *len);
int tok_is_special(const tokenizer *t, int32_t id); // a special added token
// Id of an added token by its exact content ("<|im_end|>"); -1 if none.
int32_t tok_added_id(const tokenizer *t, const char *content);

// ---- special tokens and settings ----
int32_t tok_bos_id(const tokenizer *t); // -1 when the model has none
int32_t tok_eos_id(const tokenizer *t);
int32_t tok_pad_id(const tokenizer *t);
int32_t tok_unk_id(const tokenizer *t);
const char *tok_bos_str(const tokenizer *t); // NULL when none
const char *tok_eos_str(const tokenizer *t);
const char *tok_pad_str(const tokenizer *t);
int tok_adds_bos(const tokenizer *t); // encode(add_special=1) starts with BOS
int tok_adds_eos(const tokenizer *t); // encode(add_special=1) ends with EOS

const char *tok_source(const tokenizer *t); // file it was loaded from

#endif

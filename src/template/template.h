// template.h — Jinja chat templates rendered exactly as Hugging Face's
// apply_chat_template renders them (jinja2 ImmutableSandboxedEnvironment with
// trim_blocks, lstrip_blocks and the loopcontrols extension; HF's tojson,
// raise_exception, strftime_now and {% generation %}).
//
// Ownership: tpl_parse returns a template the caller frees with tpl_free; it
// keeps a copy of the source. Rendering appends to a caller-owned strbuf and
// allocates nothing that outlives the call. Strings returned by the lookup
// helpers are heap copies the caller frees. Errors are -1/NULL with err_msg()
// set to "<name>:<line>:<col>: <what went wrong>".
#ifndef LORAC_TEMPLATE_H
#define LORAC_TEMPLATE_H

#include "../core/core.h"

#include <jansson.h>
#include <time.h>

// ---- the engine ----
typedef struct tpl_template tpl_template;

// Parse `src`; `name` (e.g. the file name) prefixes error positions.
tpl_template *tpl_parse(const char *src, const char *name);
void tpl_free(tpl_template *t); // NULL-safe

typedef struct {
    const json_t *vars;   // JSON object: variable name -> value (may be NULL)
    const struct tm *now; // the date strftime_now() sees; NULL = local time now
} tpl_vars;

// Render into out (appended). On error out holds whatever was rendered before it.
int tpl_render(const tpl_template *t, const tpl_vars *vars, strbuf *out);

// ---- chat templates ----
// Render a chat template the way apply_chat_template does: variables messages,
// tools (when not NULL), add_generation_prompt, then every key of `extra`
// (bos_token, eos_token, enable_thinking, ...; extra wins on clashes).
int chat_template_render(const char *src, const json_t *messages, const json_t *tools,
                         int add_generation_prompt, const json_t *extra,
                         const struct tm *now, strbuf *out);

// Choose a template from a tokenizer_config.json "chat_template" value: a string,
// or a list of {"name", "template"}. With a list: `name` when given, else
// "tool_use" when have_tools and present, else "default". Returns a heap copy.
char *chat_template_select(const json_t *chat_template, const char *name, int have_tools);

// Special token text from a tokenizer_config.json value: a string, or an
// {"content": ...} object. NULL when absent or null. Returns a heap copy.
char *chat_special_token(const json_t *tok);

// A model's chat template and special tokens, from an HF directory
// (chat_template.jinja wins over tokenizer_config.json's chat_template;
// additional_chat_templates/<name>.jinja for named ones) or a GGUF file
// (tokenizer.chat_template[.<name>], tokens by tokenizer.ggml.{bos,eos}_token_id).
typedef struct {
    char *source;    // template text
    char *origin;    // where it came from, for error messages ("dir/chat_template.jinja")
    json_t *special; // object: bos_token, eos_token (and unk/pad when known) -> string
} chat_template_src;

int chat_template_load(const char *path, int is_gguf, const char *name, int have_tools,
                       chat_template_src *out);
void chat_template_src_release(chat_template_src *s);
// Only the special tokens (a new JSON object the caller decrefs; NULL on error).
json_t *chat_special_tokens(const char *path, int is_gguf);

#endif

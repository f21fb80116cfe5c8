// builtin.c — the default rules file and prompt suite, compiled into lorac so
// `lorac eval` works from any directory. The sources are the example files; the
// Makefile rebuilds this object when they change.
#include "eval.h"

#include "../core/embed.h"

LORAC_EMBED(eval_builtin_rules, "examples/eval-rules/insulin-vs-cico.yaml");
LORAC_EMBED(eval_builtin_prompts, "examples/prompts/default.yaml");

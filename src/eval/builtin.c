// builtin.c — the default rules file and prompt suite, compiled into lorac so
// `lorac eval` works from any directory. The sources are the example files; the
// Makefile rebuilds this object when they change.
#include "eval.h"

__asm__(".section .rodata\n"
        ".global eval_builtin_rules\n"
        ".type eval_builtin_rules, @object\n"
        "eval_builtin_rules:\n"
        ".incbin \"examples/eval-rules/insulin-vs-cico.yaml\"\n"
        ".byte 0\n"
        ".global eval_builtin_prompts\n"
        ".type eval_builtin_prompts, @object\n"
        "eval_builtin_prompts:\n"
        ".incbin \"examples/prompts/default.yaml\"\n"
        ".byte 0\n"
        ".previous\n");

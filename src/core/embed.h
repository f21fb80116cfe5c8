// embed.h — a file of the repository linked into the binary as a NUL-terminated
// string (the built-in rules and prompt suites), so commands work from any
// directory. The path is relative to the repository root, where make runs; the
// Makefile names the embedded files as prerequisites of the object that embeds them.
//
//     LORAC_EMBED(eval_builtin_rules, "examples/eval-rules/insulin-vs-cico.yaml");
//     extern const char eval_builtin_rules[];
#ifndef LORAC_EMBED_H
#define LORAC_EMBED_H

#define LORAC_EMBED(sym, path)                                                                       \
    __asm__(".section .rodata\n.global " #sym "\n.type " #sym ", @object\n" #sym ":\n.incbin \"" path \
            "\"\n.byte 0\n.size " #sym ", . - " #sym "\n.previous\n")

#endif

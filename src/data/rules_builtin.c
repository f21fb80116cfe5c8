// rules_builtin.c — the shipped rules files, linked into the binary so
// `lorac audit` works without --rules (the Makefile rebuilds this file when
// examples/audit-rules/*.yaml change). Each is a NUL-terminated string.
__asm__(".section .rodata\n"
        ".global lorac_rules_insulin\n"
        ".type lorac_rules_insulin, @object\n"
        "lorac_rules_insulin:\n"
        ".incbin \"examples/audit-rules/insulin.yaml\"\n"
        ".byte 0\n"
        ".size lorac_rules_insulin, . - lorac_rules_insulin\n"
        ".previous\n");

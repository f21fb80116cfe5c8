// rules_builtin.c — the shipped rules files, linked into the binary so
// `lorac audit` works without --rules (the Makefile rebuilds this file when
// examples/audit-rules/*.yaml change). Each is a NUL-terminated string.
#include "../core/embed.h"

LORAC_EMBED(lorac_rules_insulin, "examples/audit-rules/insulin.yaml");

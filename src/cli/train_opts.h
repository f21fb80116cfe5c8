// train_opts.h — every training-config key as a command-line flag, for the
// commands that take a run config (lora, run): one table built from the
// config's key list, and its values applied with flag precedence.
#ifndef LORAC_TRAIN_OPTS_H
#define LORAC_TRAIN_OPTS_H

#include "../train/config.h"
#include "cli.h"

// Fill out (capacity max, NULL-terminated) with head's n_head options, then one
// option per training key (legacy spellings left out). Returns the count.
int train_opts_build(cli_opt *out, int max, const cli_opt *head, int n_head);
// Apply each given option from index `first` on as a training key; on a bad value
// prints the error and returns 1.
int train_opts_apply(const cli_args *a, const cli_opt *opts, int first, train_config *cfg);
// cfg (initialised) from the YAML at path (NULL: none), then the flags from index
// first on; prints the error and returns 1 on failure. Resolving is the caller's.
int train_opts_load(train_config *cfg, const char *path, const cli_args *a, const cli_opt *opts, int first);

#endif

// cli.h — command table entries, option parsing, and error reporting for commands.
//
// Every command declares its options in a cli_opt table; cli_parse checks argv
// against it (unknown flag -> message with the closest valid flag, exit 2) and
// `lorac help <command>` prints the same table with defaults. Parsed values
// point into argv or into the table; cli_args owns only its arrays.
#ifndef LORAC_CLI_H
#define LORAC_CLI_H

#include "../core/core.h"

#define EXIT_USAGE 2

typedef struct {
    const char *name; // "--max-seq-length"; a short alias may follow after '|': "--out|-o"
    const char *arg;  // value placeholder ("N", "DIR"); NULL for a boolean flag
    const char *def;  // default shown in help and returned by cli_get; NULL = none
    const char *help;
    int repeat;       // 1: may be given several times (values collected in order)
} cli_opt;

typedef struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary; // one line for `lorac help`
    const char *usage;   // "lorac inspect MODEL [options]"
    const char *details; // paragraph(s) for `lorac help <command>`; may be NULL
    const cli_opt *opts; // terminated by {NULL}
    int min_pos, max_pos; // positional argument count bounds (max -1 = any)
} cli_command;

extern const cli_command commands[];
extern const int n_commands;
const cli_command *cli_find_command(const char *name);

typedef struct {
    const cli_command *cmd;
    const char **val;   // per option: last value given (or NULL)
    int *count;         // per option: times given
    const char ***multi; // per option with repeat: all values
    const char **pos;   // positional arguments
    int n_pos;
} cli_args;

// Parse argv (argv[0] is the command name). On a usage error prints the message
// and returns EXIT_USAGE; on `--help` prints help and returns -1 (caller exits 0).
int cli_parse(const cli_command *cmd, int argc, char **argv, cli_args *a);
void cli_args_release(cli_args *a);
const char *cli_get(const cli_args *a, const char *name); // value or default (NULL if none)
int cli_has(const cli_args *a, const char *name);         // flag given
int cli_get_multi(const cli_args *a, const char *name, const char ***vals); // count
// Typed getters: on a bad value print "lorac CMD: --flag: ..." and return -1.
int cli_get_int(const cli_args *a, const char *name, int64_t *out);
int cli_get_double(const cli_args *a, const char *name, double *out);
// Value must be one of the '|'-free words in choices (NULL-terminated).
int cli_get_choice(const cli_args *a, const char *name, const char *const *choices, const char **out);

void cli_print_help(FILE *f, const cli_command *cmd);
// Print "lorac: error: <stored message>" (+ "hint: ...") to stderr; returns 1.
int cli_fail(void);
// Print a usage error for cmd to stderr; returns EXIT_USAGE.
int cli_usage_error(const cli_command *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

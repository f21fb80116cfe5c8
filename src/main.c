// main.c — lorac's entry point: one table of commands, dispatched by name (git's commands[]).
#include "cli/cli.h"
#include "cli/commands.h"

#include <string.h>

// ---- the command table ----
const cli_command commands[] = {
    CMD_HELP,
    CMD_INSPECT,
    CMD_INIT_MODEL,
    CMD_TOKENIZE,
    CMD_TEMPLATE,
    CMD_GENERATE,
    CMD_CHAT,
    CMD_PERPLEXITY,
    CMD_LORA,
    CMD_FUSE,
    CMD_CONVERT,
    CMD_ADAPTERS,
    CMD_AUDIT,
    CMD_DATA,
    CMD_EVAL,
    CMD_COMPARE,
    CMD_RUN,
};
const int n_commands = (int)(sizeof commands / sizeof commands[0]);

// ---- dispatch ----
static int unknown_command(const char *name) {
    const char *names[sizeof commands / sizeof commands[0]];
    for (int i = 0; i < n_commands; i++) names[i] = commands[i].name;
    const char *best = closest_match(name, names, (size_t)n_commands);
    if (best) fprintf(stderr, "lorac: unknown command '%s'; did you mean '%s'?\n", name, best);
    else fprintf(stderr, "lorac: unknown command '%s'\n", name);
    fprintf(stderr, "(see 'lorac help' for the list of commands)\n");
    return EXIT_USAGE;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        cmd_help(1, argv);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("lorac %s\n", LORAC_VERSION);
        return 0;
    }
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) return cmd_help(1, argv + 1);
    if (name[0] == '-') {
        fprintf(stderr, "lorac: unknown option '%s'; did you mean '--version' or '--help'?\n", name);
        return EXIT_USAGE;
    }
    const cli_command *cmd = cli_find_command(name);
    if (!cmd) return unknown_command(name);
    return cmd->fn(argc - 1, argv + 1);
}

// cmd_help.c — `lorac help [COMMAND]`: the command list, or one command's options.
#include "commands.h"

#include <string.h>

const cli_opt help_opts[] = {{NULL}};

int cmd_help(int argc, char **argv) {
    if (argc >= 2 && argv[1][0] != '-') {
        const cli_command *cmd = cli_find_command(argv[1]);
        if (!cmd) {
            const char *names[64];
            int n = n_commands < 64 ? n_commands : 64;
            for (int i = 0; i < n; i++) names[i] = commands[i].name;
            const char *best = closest_match(argv[1], names, (size_t)n);
            if (best) fprintf(stderr, "lorac help: unknown command '%s'; did you mean '%s'?\n", argv[1], best);
            else fprintf(stderr, "lorac help: unknown command '%s'\n", argv[1]);
            return EXIT_USAGE;
        }
        if (argc >= 3 && cmd->max_pos < 0) { // a subcommand: `lorac help data check`
            char *sub[] = {argv[1], argv[2], "--help", NULL};
            return cmd->fn(3, sub);
        }
        cli_print_help(stdout, cmd);
        return 0;
    }
    printf("lorac %s — fine-tune small chat LLMs with LoRA on a CPU\n\n", LORAC_VERSION);
    printf("usage: lorac <command> [options]\n\ncommands:\n");
    for (int i = 0; i < n_commands; i++) printf("  %-14s %s\n", commands[i].name, commands[i].summary);
    printf("\n'lorac help <command>' lists a command's options and their defaults.\n");
    printf("'lorac --version' prints the version.\n");
    return 0;
}

/* The retrograd command: `retrograd COMMAND [ARGS...]`. Each command is one row of the table
 * below; its function gets argv starting at the command's name and returns the exit status. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "expr.h"
#include "retrograd.h"
#include "train.h"

/* retrograd dot (tools/dot_cmd.c) */
int dot_main(int argc, char **argv);

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"expr", expr_main, "evaluate an expression and its gradients (and Hessian)"},
    {"train", train_main, "train a classifier (MLP) on a data set; plots and model files"},
    {"predict", predict_main, "classify data with a saved model"},
    {"dot", dot_main, "draw a saved model's graph, forward and backward (Graphviz)"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fputs("usage: retrograd [--help] [--version] COMMAND [ARGS...]\n"
          "\n"
          "commands:\n",
          f);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputs("\n'retrograd COMMAND --help' describes a command.\n", f);
}

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_BAD_INPUT;
    }
    const char *a = argv[1];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(a, "--version") == 0) {
        printf("%s\n", rg_version());
        /* stdout stays the bare version for scripts; the BLAS in use is for the reader */
        fprintf(stderr, "blas: %s\n", rg_blas_info());
        return CLI_OK;
    }
    const command *cmd = find_command(a);
    if (!cmd) {
        char q[CLI_QUOTE_LEN];
        cli_fail("unknown %s '%s'", a[0] == '-' ? "option" : "command",
                 cli_quote(a, strlen(a), q));
        usage(stderr);
        return CLI_BAD_INPUT;
    }
    return cmd->run(argc - 1, argv + 1);
}

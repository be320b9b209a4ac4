/* The `retrograd expr` subcommand: a small expression language evaluated and differentiated
 * on an f64 retrograd graph. Uses the public API only. */
#ifndef RG_TOOLS_EXPR_H
#define RG_TOOLS_EXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "retrograd.h"

/* Room for one error message: "LINE:COL: what went wrong". */
#define EXPR_ERRLEN 512
/* Deepest nesting of parentheses, unary signs, powers and calls the parser accepts. Each
 * level costs a few C stack frames, so this keeps hostile input from exhausting the stack. */
#define EXPR_MAX_DEPTH 256

/* ---- lexer (expr_lex.c) -------------------------------------------------------------- */

typedef enum expr_tok_kind {
    TOK_END,    /* end of the program */
    TOK_SEP,    /* ';' or a newline outside parentheses */
    TOK_NUMBER, /* 12, 1.5, .5, 1e-3 */
    TOK_NAME,   /* [A-Za-z_][A-Za-z0-9_]* */
    TOK_PUNCT   /* one of + - * / ^ @ ( ) , = */
} expr_tok_kind;

typedef struct expr_token {
    expr_tok_kind kind;
    const char *text; /* points into the program */
    size_t len;
    double num;       /* TOK_NUMBER: its value */
    char punct;       /* TOK_PUNCT: the character */
    bool newline;     /* TOK_SEP: a newline rather than ';' */
    int line, col;    /* 1-based; col counts bytes */
} expr_token;

/* Splits `src` into tokens ending with TOK_END. Returns the array (free() it) and its length
 * in *ntok, or NULL with a message in err ("LINE:COL: ...") on a lexical error. */
expr_token *expr_lex(const char *src, size_t *ntok, char *err, size_t errlen);

/* Describes a token for an error message ("'x'", "number 12", "end of input"). */
void expr_tok_describe(const expr_token *t, char *buf, size_t len);

/* ---- variables given with --at (expr_value.c) ---------------------------------------- */

typedef struct expr_var {
    char *name;
    int ndim;
    int64_t shape[RG_MAX_DIMS];
    int64_t size;
    double *data; /* size values, row-major */
    rg_node *node; /* the rg_param made for it */
} expr_var;

/* Parses "NAME=VALUE" where VALUE is a number or a rectangular nested list of numbers
 * ("[[1,2],[3,4]]"). Fills var (free it with expr_var_clear) or returns false with err. */
bool expr_var_parse(const char *arg, expr_var *var, char *err, size_t errlen);
void expr_var_clear(expr_var *var);

/* True if s[0..len) is a valid variable name. */
bool expr_is_name(const char *s, size_t len);

/* ---- parser (expr_parse.c) ----------------------------------------------------------- */

/* Builds the program's output node on graph g. Names not assigned by the program resolve to
 * vars[i].node (those nodes must exist). Returns NULL with err set ("LINE:COL: ...") on a
 * syntax error, an unknown name or function, a wrong argument count or a shape error. */
rg_node *expr_build(rg_graph *g, const char *src, expr_var *vars, int nvars, char *err,
                    size_t errlen);

/* True if `name` (len bytes) is a function the language knows. */
bool expr_is_function(const char *name, size_t len);

/* Prints the list of functions, one per line with its arguments, to f (for --help). */
void expr_print_functions(FILE *f);

/* ---- output (expr_out.c) ------------------------------------------------------------- */

/* A number as %.17g; in JSON a non-finite value is null, in text it is nan, inf or -inf. */
void out_number(FILE *f, double v, bool json);
/* A tensor as nested lists ("[[1, 2], [3, 4]]"); a 0-D tensor is a bare number. */
void out_tensor(FILE *f, const double *v, int ndim, const int64_t *shape, bool json);

/* ---- the subcommand (expr_cmd.c) ----------------------------------------------------- */

int expr_main(int argc, char **argv);
void expr_usage(FILE *f);

/* Options of expr_run(), or-ed together: the command's --hessian, --check, --check-finite. */
enum { EXPR_RUN_HESSIAN = 1, EXPR_RUN_CHECK = 2, EXPR_RUN_CHECK_FINITE = 4 };

/* Runs PROGRAM src as `retrograd expr --at at[0] ... --at at[nat-1]` would (with the options
 * in flags), without printing the results; a failure is printed as the command prints it.
 * Returns the command's exit status. For the fuzzer and the regression tests, which drive
 * the parser and the evaluator without an argument vector. */
int expr_run(const char *src, int nat, const char *const *at, unsigned flags);

#endif

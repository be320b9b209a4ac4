/* Recursive-descent parser of the expression language. It builds retrograd nodes directly:
 * every operator and call becomes one constructor call, and a constructor that refuses its
 * inputs (a shape mismatch) is reported at the operator's line and column with the graph's
 * message.
 *
 *   program := sep* [stmt (sep+ stmt)*] sep* END
 *   stmt    := NAME '=' expr | expr
 *   expr    := term (('+' | '-') term)*
 *   term    := unary (('*' | '/' | '@') unary)*
 *   unary   := ('-' | '+') unary | power
 *   power   := primary ['^' unary]          (right-associative; -x^2 is -(x^2))
 *   primary := NUMBER | NAME | NAME '(' [arg (',' arg)*] ')' | '(' expr ')'
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "expr.h"

/* What the arguments of a function are and which constructor builds it. */
typedef enum fn_kind {
    FN_UNARY,   /* f(x) */
    FN_BINARY,  /* f(a, b) */
    FN_REDUCE,  /* f(x[, axis]): every axis by default */
    FN_SOFTMAX, /* f(x[, axis]): the last axis by default */
    FN_SLOPE    /* f(x[, slope]) */
} fn_kind;

typedef struct fn_def {
    const char *name;
    fn_kind kind;
    rg_node *(*unary)(rg_node *);
    rg_node *(*binary)(rg_node *, rg_node *);
    rg_node *(*reduce)(rg_node *, int, bool);
    rg_node *(*softmax)(rg_node *, int);
    rg_node *(*slope)(rg_node *, double);
    const char *sig; /* "sum(x[, axis])" */
    const char *doc; /* one line for --help, may be "" */
} fn_def;

#define UNARY(n, f, d) {n, FN_UNARY, .unary = f, .sig = n "(x)", .doc = d}
#define BINARY(n, f, d) {n, FN_BINARY, .binary = f, .sig = n "(a, b)", .doc = d}

/* leaky_relu's slope when none is given, as in PyTorch. */
#define DEFAULT_SLOPE 0.01

static const fn_def functions[] = {
    UNARY("exp", rg_exp, ""),
    UNARY("log", rg_log, "natural logarithm"),
    UNARY("sqrt", rg_sqrt, ""),
    UNARY("square", rg_square, "x^2"),
    UNARY("abs", rg_abs, ""),
    UNARY("neg", rg_neg, "-x"),
    UNARY("sin", rg_sin, ""),
    UNARY("cos", rg_cos, ""),
    UNARY("tanh", rg_tanh, ""),
    UNARY("sigmoid", rg_sigmoid, "1/(1+exp(-x))"),
    UNARY("relu", rg_relu, "max(x, 0)"),
    UNARY("softplus", rg_softplus, "log(1+exp(x))"),
    UNARY("heaviside", rg_heaviside, "1 if x>0, 1/2 at 0, else 0"),
    UNARY("transpose", rg_transpose, "swaps the last two axes"),
    {"leaky_relu", FN_SLOPE, .slope = rg_leaky_relu, .sig = "leaky_relu(x[, slope])",
     .doc = "x if x>0 else slope*x; slope a number, default 0.01"},
    BINARY("pow", rg_pow, "a^b"),
    BINARY("maximum", rg_maximum, "elementwise"),
    BINARY("minimum", rg_minimum, "elementwise"),
    BINARY("matmul", rg_matmul, "a @ b"),
    BINARY("mse", rg_mse, "mean((a-b)^2)"),
    {"sum", FN_REDUCE, .reduce = rg_sum, .sig = "sum(x[, axis])",
     .doc = "over every axis by default"},
    {"mean", FN_REDUCE, .reduce = rg_mean, .sig = "mean(x[, axis])",
     .doc = "over every axis by default"},
    {"max", FN_REDUCE, .reduce = rg_max, .sig = "max(x[, axis])",
     .doc = "over every axis by default"},
    {"softmax", FN_SOFTMAX, .softmax = rg_softmax, .sig = "softmax(x[, axis])",
     .doc = "over the last axis by default"},
    {"log_softmax", FN_SOFTMAX, .softmax = rg_log_softmax, .sig = "log_softmax(x[, axis])",
     .doc = "over the last axis by default"},
};

#define NFUNCTIONS (sizeof functions / sizeof functions[0])

static const fn_def *find_function(const char *name, size_t len)
{
    for (size_t i = 0; i < NFUNCTIONS; i++)
        if (strlen(functions[i].name) == len && memcmp(functions[i].name, name, len) == 0)
            return &functions[i];
    return NULL;
}

bool expr_is_function(const char *name, size_t len)
{
    return find_function(name, len) != NULL;
}

void expr_print_functions(FILE *f)
{
    for (size_t i = 0; i < NFUNCTIONS; i++)
        if (*functions[i].doc)
            fprintf(f, "  %-24s%s\n", functions[i].sig, functions[i].doc);
        else
            fprintf(f, "  %s\n", functions[i].sig);
}

/* The names assigned so far are an open-addressing hash table (a linear scan per name made
 * a program of n statements take n^2 time: ten seconds for 100 000 statements); a
 * reassignment replaces the node, as a name means its latest assignment. */
typedef struct binding {
    const char *name; /* into the program text; NULL for an empty slot */
    size_t len;
    rg_node *node;
} binding;

typedef struct parser {
    rg_graph *g;
    const expr_token *toks;
    size_t pos;
    expr_var *vars;
    int nvars;
    binding *binds;           /* capbinds slots (a power of two), at most half full */
    size_t nbinds, capbinds;
    int depth;
    char *err;
    size_t errlen;
} parser;

static const expr_token *peek(const parser *ps)
{
    return &ps->toks[ps->pos];
}

static bool at_punct(const parser *ps, char c)
{
    return peek(ps)->kind == TOK_PUNCT && peek(ps)->punct == c;
}

/* Records "LINE:COL: message" at token t; returns NULL for the callers' convenience. */
static rg_node *error_at(parser *ps, const expr_token *t, const char *fmt, ...)
{
    char msg[EXPR_ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(ps->err, ps->errlen, "%d:%d: %s", t->line, t->col, msg);
    return NULL;
}

static rg_node *unexpected(parser *ps, const char *expected)
{
    char what[CLI_QUOTE_LEN + 16];
    expr_tok_describe(peek(ps), what, sizeof what);
    return error_at(ps, peek(ps), "expected %s, found %s", expected, what);
}

/* A constructor's result: NULL means the library refused the inputs; its message (naming
 * the op and the shapes) is reported at token t. */
static rg_node *built(parser *ps, const expr_token *t, rg_node *n)
{
    if (n)
        return n;
    const char *msg = rg_graph_errmsg(ps->g);
    if (!msg || !*msg)
        msg = rg_strerror(rg_graph_status(ps->g));
    return error_at(ps, t, "%s", msg);
}

static rg_node *parse_expr(parser *ps);
static rg_node *parse_unary(parser *ps);

/* The slot holding `name`, or the empty slot where it would go. */
static binding *binding_slot(binding *binds, size_t cap, const char *name, size_t len)
{
    uint64_t h = 0xCBF29CE484222325ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)name[i]) * 0x100000001B3ull;
    for (size_t k = (size_t)h & (cap - 1);; k = (k + 1) & (cap - 1))
        if (!binds[k].name || (binds[k].len == len && memcmp(binds[k].name, name, len) == 0))
            return &binds[k];
}

static rg_node *lookup(parser *ps, const expr_token *t)
{
    if (ps->capbinds) {
        const binding *b = binding_slot(ps->binds, ps->capbinds, t->text, t->len);
        if (b->name)
            return b->node;
    }
    for (int i = 0; i < ps->nvars; i++)
        if (strlen(ps->vars[i].name) == t->len && memcmp(ps->vars[i].name, t->text, t->len) == 0)
            return ps->vars[i].node;
    char q[CLI_QUOTE_LEN];
    cli_quote(t->text, t->len, q);
    if (expr_is_function(t->text, t->len))
        return error_at(ps, t, "'%s' is a function: call it as %s(...)", q, q);
    return error_at(ps, t, "no value for '%s' (give one with --at %s=VALUE)", q, q);
}

/* A number argument: an optional sign and a numeric literal. */
static bool parse_literal(parser *ps, double *out)
{
    double sign = 1;
    if (at_punct(ps, '-') || at_punct(ps, '+')) {
        sign = at_punct(ps, '-') ? -1 : 1;
        ps->pos++;
    }
    if (peek(ps)->kind != TOK_NUMBER) {
        unexpected(ps, "a number");
        return false;
    }
    *out = sign * peek(ps)->num;
    ps->pos++;
    return true;
}

/* Arguments from the current position to the call's closing parenthesis, counted by
 * commas outside nested parentheses (for the message about too many arguments). */
static int count_args(const parser *ps, int parsed)
{
    int depth = 0;
    for (size_t i = ps->pos; ps->toks[i].kind != TOK_END; i++) {
        const expr_token *t = &ps->toks[i];
        if (t->kind != TOK_PUNCT)
            continue;
        if (t->punct == '(')
            depth++;
        else if (t->punct == ')' && depth-- == 0)
            break;
        else if (t->punct == ',' && depth == 0)
            parsed++;
    }
    return parsed + 1;
}

static rg_node *arg_count_error(parser *ps, const expr_token *name, const fn_def *fn, int got)
{
    const char *expected = fn->kind == FN_UNARY ? "1" : fn->kind == FN_BINARY ? "2" : "1 or 2";
    return error_at(ps, name, "%s expects %s argument%s, got %d (usage: %s)", fn->name, expected,
                    fn->kind == FN_UNARY ? "" : "s", got, fn->sig);
}

static rg_node *parse_call(parser *ps)
{
    const expr_token *name = peek(ps);
    const fn_def *fn = find_function(name->text, name->len);
    char q[CLI_QUOTE_LEN];
    if (!fn)
        return error_at(ps, name, "unknown function '%s'", cli_quote(name->text, name->len, q));
    ps->pos += 2; /* name and '(' */
    rg_node *args[2] = {NULL, NULL};
    double literal = 0;
    int nargs = 0;
    int max_args = fn->kind == FN_UNARY ? 1 : 2;
    int min_args = fn->kind == FN_BINARY ? 2 : 1;
    if (!at_punct(ps, ')')) {
        for (;;) {
            if (nargs == max_args)
                return arg_count_error(ps, name, fn, count_args(ps, nargs));
            /* The second argument of a reduction, softmax or leaky_relu is a number fixed
             * when the graph is built (an axis, a slope), not a node. */
            if (nargs == 1 && fn->kind != FN_BINARY) {
                if (!parse_literal(ps, &literal))
                    return NULL;
            } else if (!(args[nargs] = parse_expr(ps))) {
                return NULL;
            }
            nargs++;
            if (at_punct(ps, ','))
                ps->pos++;
            else if (at_punct(ps, ')'))
                break;
            else
                return unexpected(ps, "',' or ')'");
        }
    }
    ps->pos++; /* ')' */
    if (nargs < min_args)
        return arg_count_error(ps, name, fn, nargs);
    int axis = 0;
    if (nargs == 2 && (fn->kind == FN_REDUCE || fn->kind == FN_SOFTMAX)) {
        /* Beyond any rank a tensor can have, and far from RG_AXIS_ALL. */
        if (literal != floor(literal) || fabs(literal) > 64)
            return error_at(ps, name, "%s: axis must be a small integer, got %.17g", fn->name,
                            literal);
        axis = (int)literal;
    }
    rg_node *n = NULL;
    switch (fn->kind) {
    case FN_UNARY:
        n = fn->unary(args[0]);
        break;
    case FN_BINARY:
        n = fn->binary(args[0], args[1]);
        break;
    case FN_REDUCE:
        n = fn->reduce(args[0], nargs == 2 ? axis : RG_AXIS_ALL, false);
        break;
    case FN_SOFTMAX:
        n = fn->softmax(args[0], nargs == 2 ? axis : -1);
        break;
    case FN_SLOPE:
        n = fn->slope(args[0], nargs == 2 ? literal : DEFAULT_SLOPE);
        break;
    }
    return built(ps, name, n);
}

static rg_node *parse_primary(parser *ps)
{
    const expr_token *t = peek(ps);
    if (t->kind == TOK_NUMBER) {
        ps->pos++;
        return built(ps, t, rg_scalar(ps->g, t->num));
    }
    if (t->kind == TOK_NAME) {
        const expr_token *next = &ps->toks[ps->pos + 1];
        if (next->kind == TOK_PUNCT && next->punct == '(')
            return parse_call(ps);
        ps->pos++;
        return lookup(ps, t);
    }
    if (at_punct(ps, '(')) {
        ps->pos++;
        rg_node *n = parse_expr(ps);
        if (!n)
            return NULL;
        if (!at_punct(ps, ')'))
            return unexpected(ps, "')'");
        ps->pos++;
        return n;
    }
    return unexpected(ps, "an expression");
}

static rg_node *parse_power(parser *ps)
{
    rg_node *base = parse_primary(ps);
    if (!base || !at_punct(ps, '^'))
        return base;
    const expr_token *op = peek(ps);
    ps->pos++;
    /* The exponent is a unary: 2^-1 is allowed, and 2^3^2 = 2^(3^2). */
    rg_node *exponent = parse_unary(ps);
    if (!exponent)
        return NULL;
    return built(ps, op, rg_pow(base, exponent));
}

static rg_node *parse_unary(parser *ps)
{
    /* Every recursive path of the grammar passes through here, so this one counter bounds
     * the C stack used by any input. */
    if (++ps->depth > EXPR_MAX_DEPTH) {
        error_at(ps, peek(ps), "expression nested too deeply (more than %d levels)",
                 EXPR_MAX_DEPTH);
        return NULL;
    }
    rg_node *n;
    if (at_punct(ps, '-')) {
        const expr_token *op = peek(ps);
        ps->pos++;
        n = parse_unary(ps);
        if (n)
            n = built(ps, op, rg_neg(n));
    } else if (at_punct(ps, '+')) {
        ps->pos++;
        n = parse_unary(ps);
    } else {
        n = parse_power(ps);
    }
    ps->depth--;
    return n;
}

static rg_node *parse_term(parser *ps)
{
    rg_node *n = parse_unary(ps);
    while (n && (at_punct(ps, '*') || at_punct(ps, '/') || at_punct(ps, '@'))) {
        const expr_token *op = peek(ps);
        ps->pos++;
        rg_node *rhs = parse_unary(ps);
        if (!rhs)
            return NULL;
        if (op->punct == '*')
            n = built(ps, op, rg_mul(n, rhs));
        else if (op->punct == '/')
            n = built(ps, op, rg_div(n, rhs));
        else
            n = built(ps, op, rg_matmul(n, rhs));
    }
    return n;
}

static rg_node *parse_expr(parser *ps)
{
    rg_node *n = parse_term(ps);
    while (n && (at_punct(ps, '+') || at_punct(ps, '-'))) {
        const expr_token *op = peek(ps);
        ps->pos++;
        rg_node *rhs = parse_term(ps);
        if (!rhs)
            return NULL;
        n = built(ps, op, op->punct == '+' ? rg_add(n, rhs) : rg_sub(n, rhs));
    }
    return n;
}

static bool bind(parser *ps, const expr_token *name, rg_node *node)
{
    for (int i = 0; i < ps->nvars; i++) {
        if (strlen(ps->vars[i].name) == name->len &&
            memcmp(ps->vars[i].name, name->text, name->len) == 0) {
            error_at(ps, name, "cannot assign to '%s': it is a variable given with --at",
                     ps->vars[i].name);
            return false;
        }
    }
    if (2 * (ps->nbinds + 1) > ps->capbinds) {
        size_t cap = ps->capbinds ? 2 * ps->capbinds : 16;
        binding *b = calloc(cap, sizeof *b);
        if (!b) {
            error_at(ps, name, "out of memory");
            return false;
        }
        for (size_t i = 0; i < ps->capbinds; i++)
            if (ps->binds[i].name)
                *binding_slot(b, cap, ps->binds[i].name, ps->binds[i].len) = ps->binds[i];
        free(ps->binds);
        ps->binds = b;
        ps->capbinds = cap;
    }
    binding *b = binding_slot(ps->binds, ps->capbinds, name->text, name->len);
    if (!b->name) {
        *b = (binding){name->text, name->len, NULL};
        ps->nbinds++;
    }
    b->node = node;
    /* pictures (--dot, --svg) show the node under the name the program gave it */
    if (!rg_node_name(node)) {
        char *copy = malloc(name->len + 1);
        if (copy) {
            memcpy(copy, name->text, name->len);
            copy[name->len] = '\0';
            rg_node_set_name(node, copy);
            free(copy);
        }
    }
    return true;
}

static rg_node *parse_statement(parser *ps)
{
    const expr_token *t = peek(ps);
    const expr_token *next = &ps->toks[ps->pos + (t->kind == TOK_END ? 0 : 1)];
    if (t->kind == TOK_NAME && next->kind == TOK_PUNCT && next->punct == '=') {
        ps->pos += 2;
        rg_node *n = parse_expr(ps);
        if (n && !bind(ps, t, n))
            return NULL;
        return n;
    }
    return parse_expr(ps);
}

rg_node *expr_build(rg_graph *g, const char *src, expr_var *vars, int nvars, char *err,
                    size_t errlen)
{
    size_t ntok = 0;
    expr_token *toks = expr_lex(src, &ntok, err, errlen);
    if (!toks)
        return NULL;
    parser ps = {.g = g, .toks = toks, .vars = vars, .nvars = nvars, .err = err,
                 .errlen = errlen};
    rg_node *out = NULL;
    bool failed = false;
    for (;;) {
        while (peek(&ps)->kind == TOK_SEP)
            ps.pos++;
        if (peek(&ps)->kind == TOK_END)
            break;
        out = parse_statement(&ps);
        if (out && peek(&ps)->kind != TOK_SEP && peek(&ps)->kind != TOK_END)
            out = unexpected(&ps, "an operator, ';' or end of line");
        if (!out) {
            failed = true;
            break;
        }
    }
    if (!failed && !out) /* nothing but separators and comments */
        error_at(&ps, peek(&ps), "empty program");
    free(ps.binds);
    free(toks);
    return out;
}

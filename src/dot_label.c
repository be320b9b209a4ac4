/* Text for the drawing: a growable string, HTML escaping, op descriptions, and values printed
 * in full or summarised. No Graphviz here: dot.c turns these strings into node labels. */
#include "dot_priv.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

void rg__sb_init(rg__sb *b, rg_graph *g)
{
    memset(b, 0, sizeof *b);
    b->g = g;
}

void rg__sb_free(rg__sb *b)
{
    rg__free(b->g, b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}

static bool reserve(rg__sb *b, size_t more)
{
    if (b->oom)
        return false;
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *s = rg__realloc(b->g, b->s, b->cap, cap);
    if (!s) {
        b->oom = true;
        return false;
    }
    b->s = s;
    b->cap = cap;
    return true;
}

void rg__sb_add(rg__sb *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void rg__sb_str(rg__sb *b, const char *s)
{
    rg__sb_add(b, s, strlen(s));
}

void rg__sb_printf(rg__sb *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        rg__sb_add(b, tmp, (size_t)n);
        return;
    }
    if (!reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

const char *rg__sb_get(const rg__sb *b)
{
    return b->s ? b->s : "";
}

/* Length of the valid UTF-8 sequence at s (1 to 4), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n = s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
    if (s[0] >= 0xF8)
        n = 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    /* overlong three-byte forms and UTF-16 surrogates are not characters */
    if (n == 3 && ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0)))
        return 0;
    if (n == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90)))
        return 0;
    return n;
}

/* Graphviz parses HTML labels as XML: the five markup characters become entities, control
 * characters (not allowed in XML) become spaces, and bytes that are not UTF-8 become U+FFFD,
 * so any name a user gives still parses and renders. After the XML, Graphviz expands escapes
 * such as \N (the node's id) in the text, so a backslash is doubled. '|' and '{' have no
 * meaning inside an HTML label. */
void rg__sb_html(rg__sb *b, const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    while (*s) {
        switch (*s) {
        case '&': rg__sb_str(b, "&amp;"); s++; continue;
        case '<': rg__sb_str(b, "&lt;"); s++; continue;
        case '>': rg__sb_str(b, "&gt;"); s++; continue;
        case '"': rg__sb_str(b, "&quot;"); s++; continue;
        case '\'': rg__sb_str(b, "&#39;"); s++; continue;
        case '\\': rg__sb_str(b, "\\\\"); s++; continue;
        default: break;
        }
        if (*s < 0x20 || *s == 0x7F) {
            rg__sb_str(b, " ");
            s++;
            continue;
        }
        size_t n = utf8_len(s);
        if (n == 0) {
            rg__sb_str(b, "\xEF\xBF\xBD");
            s++;
        } else {
            rg__sb_add(b, (const char *)s, n);
            s += n;
        }
    }
}

void rg__dot_node_name(rg__sb *b, const rg_node *n)
{
    if (n->name)
        rg__sb_html(b, n->name);
    else
        rg__sb_printf(b, "#%u", n->id);
}

/* A name the d/d notation can show bare: letters, digits and '_' (x1, W1, h_2). Anything
 * else is parenthesised, so dL/d(x1*w1) cannot be misread. */
static bool plain_name(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

static void grad_part(rg__sb *b, const rg_node *n)
{
    if (n->name && !plain_name(n->name)) {
        rg__sb_str(b, "(");
        rg__sb_html(b, n->name);
        rg__sb_str(b, ")");
    } else {
        rg__dot_node_name(b, n);
    }
}

void rg__dot_grad_name(rg__sb *b, const rg_node *x)
{
    rg__sb_str(b, "dL/d");
    grad_part(b, x);
}

static void axis_text(rg__sb *b, int axis)
{
    if (axis == RG_AXIS_ALL)
        rg__sb_str(b, "all");
    else
        rg__sb_printf(b, "%d", axis);
}

void rg__dot_op_text(rg__sb *b, const rg_node *n)
{
    rg__sb_html(b, rg_node_op_name(n));
    if (n->op >= RG_OP__BUILTIN_COUNT)
        return;
    const struct rg__attr *a = &n->attr;
    switch (n->op) {
    case RG_OP_MATMUL:
        if (a->ta || a->tb)
            rg__sb_printf(b, "(A%s, B%s)", a->ta ? "^T" : "", a->tb ? "^T" : "");
        break;
    case RG_OP_FILL:
        rg__sb_printf(b, " %g", a->f);
        break;
    case RG_OP_LEAKY_RELU:
        rg__sb_printf(b, "(slope=%g)", a->f);
        break;
    case RG_OP_SUM:
    case RG_OP_MEAN:
    case RG_OP_MAX:
        rg__sb_str(b, "(axis=");
        axis_text(b, a->axis);
        rg__sb_str(b, a->keepdims ? ", keepdims)" : ")");
        break;
    case RG_OP_SOFTMAX:
    case RG_OP_LOG_SOFTMAX:
    case RG_OP_MAX_MASK:
    case RG_OP_CONCAT:
        rg__sb_str(b, "(axis=");
        axis_text(b, a->axis);
        rg__sb_str(b, ")");
        break;
    case RG_OP_SLICE:
        rg__sb_printf(b, "(axis=%d, %lld:%lld)", a->axis, (long long)a->i0, (long long)a->i1);
        break;
    case RG_OP_PAD:
        rg__sb_printf(b, "(axis=%d, at %lld of %lld)", a->axis, (long long)a->i0,
                      (long long)a->i1);
        break;
    case RG_OP_ONE_HOT:
        rg__sb_printf(b, "(depth=%lld)", (long long)a->i0);
        break;
    case RG_OP_SCATTER_ADD:
        rg__sb_printf(b, "(rows=%lld)", (long long)a->i0);
        break;
    default:
        break;
    }
}

bool rg__dot_ordered(const rg_node *n)
{
    if (n->arity < 2)
        return false;
    switch (n->op) {
    case RG_OP_ADD:
    case RG_OP_MUL:
    case RG_OP_MAXIMUM:
    case RG_OP_MINIMUM:
        return false;
    default:
        return true;
    }
}

void rg__dot_shape_text(rg__sb *b, const rg_node *n)
{
    if (n->ndim == 0) {
        rg__sb_str(b, "scalar");
        return;
    }
    char buf[RG_MAX_DIMS * 22 + 3];
    rg__sb_str(b, rg_shape_str(n->ndim, n->shape, buf, sizeof buf));
}

bool rg__dot_value(const rg_node *n, rg__value *v)
{
    memset(v, 0, sizeof *v);
    v->node = n;
    if (n->op == RG_OP_FILL) {
        v->fill = true; /* a fill is its attribute: known without evaluation */
        v->ok = true;
    } else if (n->kind != RG_KIND_OP) {
        v->ok = n->data != NULL;
    } else {
        v->ok = n->data != NULL && n->g->keep_values;
    }
    if (!v->ok)
        return false;
    for (int64_t i = 0; i < n->size; i++) {
        double x = rg__dot_get(v, i);
        if (isnan(x))
            v->nan++;
        else if (isinf(x))
            v->inf++;
    }
    return true;
}

double rg__dot_get(const rg__value *v, int64_t i)
{
    const rg_node *n = v->node;
    if (v->fill)
        return n->attr.f;
    return n->g->dtype == RG_F64 ? ((const double *)n->data)[i] : ((const float *)n->data)[i];
}

static void number(rg__sb *b, double x, int digits)
{
    if (isnan(x))
        rg__sb_str(b, "nan");
    else if (isinf(x))
        rg__sb_str(b, x > 0 ? "inf" : "-inf");
    else
        rg__sb_printf(b, "%.*g", digits, x == 0 ? 0.0 : x); /* no "-0" on a slide */
}

/* Entries of inline tensors and summaries: a slide shows four digits legibly. */
#define TENSOR_DIGITS 4
/* Inline vectors wrap after this many entries per line. */
#define PER_LINE 8

void rg__dot_value_text(rg__sb *b, const rg__value *v, int precision, int max_inline,
                        const char *br)
{
    const rg_node *n = v->node;
    int tdigits = precision < TENSOR_DIGITS ? precision : TENSOR_DIGITS;
    if (n->ndim == 0) {
        number(b, rg__dot_get(v, 0), precision);
        return;
    }
    if (n->size == 0) {
        rg__sb_str(b, "(empty)");
        return;
    }
    if (n->size <= max_inline) {
        /* one line per row of the last axis, long rows wrapped */
        int64_t row = n->shape[n->ndim - 1];
        for (int64_t r = 0; r < n->size / row; r++) {
            if (r > 0)
                rg__sb_str(b, br);
            rg__sb_str(b, "[");
            for (int64_t c = 0; c < row; c++) {
                if (c > 0) {
                    rg__sb_str(b, ",");
                    rg__sb_str(b, c % PER_LINE ? " " : br);
                }
                number(b, rg__dot_get(v, r * row + c), tdigits);
            }
            rg__sb_str(b, "]");
        }
        return;
    }
    /* A summary over the finite entries, in double whatever the dtype. */
    double lo = INFINITY, hi = -INFINITY, sum = 0, sq = 0;
    int64_t finite = 0;
    for (int64_t i = 0; i < n->size; i++) {
        double x = rg__dot_get(v, i);
        if (!isfinite(x))
            continue;
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
        sum += x;
        sq += x * x;
        finite++;
    }
    if (finite > 0) {
        rg__sb_str(b, "min ");
        number(b, lo, tdigits);
        rg__sb_str(b, "  mean ");
        number(b, sum / (double)finite, tdigits);
        rg__sb_str(b, "  max ");
        number(b, hi, tdigits);
        rg__sb_str(b, br);
        rg__sb_str(b, "L2 norm ");
        number(b, sqrt(sq), tdigits);
    }
    if (v->nan || v->inf) {
        if (finite > 0)
            rg__sb_str(b, "  ");
        rg__sb_printf(b, "%lld NaN, %lld Inf", (long long)v->nan, (long long)v->inf);
    }
}

/* ---- labels of a drawing ---- */

/* Gradient nodes a frame does not show yet (or sweeps after the selected one). */
bool rg__dot_invisible(const rg__dot_view *view, const rg_node *n)
{
    if (!view->frames || !n->is_grad)
        return false;
    int s = view->info.sweep_of[n->id];
    return s > view->info.sel || (s == view->info.sel && n->step > view->o->frame);
}

/* One table row holding `prefix` followed by the value (rows of a tensor on their own lines),
 * in red when it holds a NaN or an infinity. A value a frame must not reveal yet is written
 * in transparent ink: it keeps its room, so the layout stays put from frame to frame. */
static void value_row(const rg__dot_view *view, rg__sb *l, const char *prefix, const rg__value *v,
                      const char *color, bool hidden)
{
    const char *ink = v->nan || v->inf ? C_BAD : color;
    rg__sb_printf(l, "<TR><TD><FONT COLOR=\"%s\">", ink);
    rg__sb_str(l, prefix);
    if (hidden)
        rg__sb_str(l, "</FONT><FONT COLOR=\"transparent\">");
    if (v->node->ndim > 0 && v->node->size <= view->o->max_inline &&
        v->node->size > v->node->shape[v->node->ndim - 1])
        rg__sb_str(l, "<BR/>"); /* a matrix starts on its own line */
    rg__dot_value_text(l, v, view->o->precision, view->o->max_inline, "<BR/>");
    rg__sb_str(l, "</FONT></TD></TR>");
}

/* In a frame: the selected sweep has not completed x's gradient yet. */
bool rg__dot_unknown_yet(const rg__dot_view *view, size_t x)
{
    return view->frames && view->info.known_step[x] > view->o->frame;
}

static const char *kind_text(const rg_node *n)
{
    switch (n->kind) {
    case RG_KIND_INPUT: return "input";
    case RG_KIND_PARAM: return "parameter";
    case RG_KIND_CONST: return "constant";
    default: return NULL;
    }
}

/* The gradient row of a node the selected sweep differentiated: "dL/dx = value", the value
 * hidden in a frame before the step that completes it. */
static void grad_row(const rg__dot_view *view, const rg_node *n, rg__sb *l)
{
    const rg__dot_info *in = &view->info;
    const rg_node *gn = in->grad[n->id];
    if (!gn || !view->o->grads)
        return;
    rg__sb prefix;
    rg__sb_init(&prefix, view->g);
    rg__dot_grad_name(&prefix, n);
    rg__sb_str(&prefix, " = ");
    rg__value v;
    if (view->o->values && rg__dot_value(gn, &v))
        value_row(view, l, rg__sb_get(&prefix), &v, C_GRAD, rg__dot_unknown_yet(view, n->id));
    if (prefix.oom)
        l->oom = true;
    rg__sb_free(&prefix);
}

/* The HTML label of node n: a title (its name, the derivative it holds, or its op), a small
 * line with op, shape, creation index and sweep step, its value, and its gradient. Sets *bad
 * when the value holds a NaN or an infinity. */
void rg__dot_label(const rg__dot_view *view, const rg_node *n, rg__sb *l, bool *bad)
{
    const rg__dot_info *in = &view->info;
    int32_t alias = view->alias_head[n->id];
    bool op_title = false;
    rg__sb_str(l, "<TABLE BORDER=\"0\" CELLBORDER=\"0\" CELLSPACING=\"0\" CELLPADDING=\"1\">"
                  "<TR><TD><B>");
    if (n->name) {
        rg__sb_html(l, n->name);
    } else if (n->is_grad && n->grad_of) {
        rg__dot_grad_name(l, n->grad_of);
    } else if (alias >= 0) {
        rg__dot_grad_name(l, view->g->nodes[alias]);
        alias = view->alias[alias];
    } else {
        rg__dot_op_text(l, n);
        op_title = true;
    }
    rg__sb_str(l, "</B></TD></TR>");
    /* the same node is also the gradient of these (an add passes its gradient through) */
    for (; alias >= 0; alias = view->alias[alias]) {
        rg__sb_printf(l, "<TR><TD><FONT COLOR=\"%s\"><B>= ",
                      rg__dot_unknown_yet(view, (size_t)alias) ? "transparent" : C_TEXT);
        rg__dot_grad_name(l, view->g->nodes[alias]);
        rg__sb_str(l, "</B></FONT></TD></TR>");
    }

    rg__sb_str(l, "<TR><TD><FONT POINT-SIZE=\"9\" COLOR=\"" C_MUTED "\">");
    if (!op_title) {
        const char *k = kind_text(n);
        if (k)
            rg__sb_str(l, k);
        else
            rg__dot_op_text(l, n);
        rg__sb_str(l, " ");
    }
    rg__dot_shape_text(l, n);
    rg__sb_printf(l, " #%u", n->id);
    if (n->is_grad)
        rg__sb_printf(l, " step %d", n->step);
    rg__sb_str(l, "</FONT></TD></TR>");

    rg__value v;
    *bad = false;
    if (view->o->values && view->draw[n->id] == RG__SHOWN && rg__dot_value(n, &v)) {
        *bad = v.nan || v.inf;
        value_row(view, l, "= ", &v, C_TEXT, false);
    }
    if (view->draw[n->id] == RG__SHOWN && in->sel >= 0)
        grad_row(view, n, l);
    rg__sb_str(l, "</TABLE>");
}

/* Which nodes are drawn (part), which lie on the highlighted path, and which nodes share each
 * gradient node (for its label). */
void rg__dot_choose(rg__dot_view *view)
{
    const rg__dot_info *in = &view->info;
    rg_graph *g = view->g;
    rg_dot_part part = view->o->part;
    for (size_t i = 0; i < in->n; i++) {
        const rg_node *n = g->nodes[i];
        view->alias_head[i] = view->alias[i] = -1;
        if (part == RG_DOT_BOTH || (part == RG_DOT_FORWARD && !n->is_grad) ||
            (part == RG_DOT_BACKWARD && n->is_grad))
            view->draw[i] = RG__SHOWN;
    }
    if (part == RG_DOT_BACKWARD)
        for (size_t i = 0; i < in->n; i++) {
            const rg_node *n = g->nodes[i];
            if (in->sel >= 0 && in->grad[i] && view->draw[i] == RG__HIDDEN)
                view->draw[i] = RG__FADED;
            if (!n->is_grad)
                continue;
            for (int k = 0; k < n->arity; k++)
                if (view->draw[n->in[k]->id] == RG__HIDDEN)
                    view->draw[n->in[k]->id] = RG__FADED;
            if (n->grad_of && view->draw[n->grad_of->id] == RG__HIDDEN)
                view->draw[n->grad_of->id] = RG__FADED;
        }
    for (size_t i = in->n; i-- > 0;)
        if (in->sel >= 0 && in->shared[i]) {
            size_t gid = in->grad[i]->id;
            view->alias[i] = view->alias_head[gid];
            view->alias_head[gid] = (int32_t)i;
        }
    const rg_node *from = view->o->from, *to = view->o->to;
    if (from && to && from->g == g && to->g == g && from->id <= to->id) {
        /* descendants of `from` that are ancestors of `to` */
        uint8_t *down = view->path;
        down[from->id] = 1;
        for (size_t i = from->id + 1; i <= to->id; i++)
            for (int k = 0; k < g->nodes[i]->arity; k++)
                if (down[g->nodes[i]->in[k]->id] & 1)
                    down[i] |= 1;
        down[to->id] |= 2;
        for (size_t i = to->id + 1; i-- > from->id;)
            if (down[i] & 2)
                for (int k = 0; k < g->nodes[i]->arity; k++)
                    down[g->nodes[i]->in[k]->id] |= 2;
        for (size_t i = 0; i < in->n; i++)
            down[i] = down[i] == 3;
    }
}

/* SVG pictures of a training run: decision regions and learning curves. The SVG is written
 * by hand (a few element kinds), coordinates rounded to 0.1 px to keep files small. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outfile.h"
#include "svg_plot.h"

#define FONT "DejaVu Sans, Helvetica, Arial, sans-serif"
#define INK "#222222"
#define MUTED "#555555"
#define GRID "#e4e4e4"
#define MAX_TICKS 32
/* Classes named in the legend; a legend of more would run off the picture. */
#define LEGEND_CLASSES 16

/* Tableau 10: distinct in hue and lightness, and readable by most colour-blind viewers. */
static const unsigned char palette[10][3] = {
    {78, 121, 167}, {242, 142, 43}, {225, 87, 89},  {118, 183, 178}, {89, 161, 79},
    {237, 201, 72}, {176, 122, 161}, {255, 157, 167}, {156, 117, 95}, {186, 176, 172},
};

void svg_class_rgb(int k, int rgb[3])
{
    if (k < 0)
        k = 0;
    const unsigned char *c = palette[k % 10];
    int variant = (k / 10) % 3; /* past ten classes: darker, then lighter versions */
    for (int i = 0; i < 3; i++) {
        double v = c[i];
        if (variant == 1)
            v *= 0.6;
        else if (variant == 2)
            v += (255.0 - v) * 0.5;
        rgb[i] = (int)lround(v);
    }
}

static void class_hex(int k, char hex[8])
{
    int c[3];
    svg_class_rgb(k, c);
    snprintf(hex, 8, "#%02x%02x%02x", c[0], c[1], c[2]);
}

/* The class colour mixed with white: `amount` of the colour, 1 - amount of white. */
static void tint_hex(int k, double amount, char hex[8])
{
    int c[3];
    svg_class_rgb(k, c);
    for (int i = 0; i < 3; i++)
        c[i] = (int)lround(255.0 + (c[i] - 255.0) * amount);
    snprintf(hex, 8, "#%02x%02x%02x", c[0], c[1], c[2]);
}

/* ---- elements ----------------------------------------------------------------------- */

static void xml_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            /* control characters are not allowed in XML 1.0 text */
            fputc((unsigned char)*s < 0x20 ? ' ' : *s, f);
        }
    }
}

/* Text at (x, y): anchor "start", "middle" or "end"; `attrs` extra attributes or "". */
static void text(FILE *f, double x, double y, const char *anchor, double size, const char *attrs,
                 const char *s)
{
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%g\"%s%s>", x, y,
            anchor, size, *attrs ? " " : "", attrs);
    xml_escaped(f, s);
    fputs("</text>\n", f);
}

static void header(FILE *f, int w, int h)
{
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"%s\" fill=\"" INK "\">\n"
            "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n",
            w, h, w, h, FONT, w, h);
}

static void titles(FILE *f, double x, const char *title, const char *subtitle)
{
    if (title)
        text(f, x, 30, "start", 18, "font-weight=\"bold\"", title);
    if (subtitle)
        text(f, x, 52, "start", 13, "fill=\"" MUTED "\"", subtitle);
}

/* ---- axes --------------------------------------------------------------------------- */

typedef struct axis {
    double lo, hi;   /* data range */
    bool log;        /* log10 scale (lo > 0) */
    double p0, p1;   /* pixel positions of lo and hi */
    double tick[MAX_TICKS];
    int nticks;
    int decimals;    /* for linear tick labels */
} axis;

static double axis_map(const axis *a, double v)
{
    double t = a->log ? (log10(v) - log10(a->lo)) / (log10(a->hi) - log10(a->lo))
                      : (v - a->lo) / (a->hi - a->lo);
    return a->p0 + t * (a->p1 - a->p0);
}

/* Round-number ticks (1, 2 or 5 times a power of ten apart), about `target` of them. With
 * `integers` the step is at least 1 (epochs). */
static void linear_ticks(axis *a, int target, bool integers)
{
    double span = a->hi - a->lo;
    double raw = span / target;
    double mag = pow(10.0, floor(log10(raw)));
    double norm = raw / mag;
    double step = (norm < 1.5 ? 1.0 : norm < 3.5 ? 2.0 : norm < 7.5 ? 5.0 : 10.0) * mag;
    if (integers && step < 1.0)
        step = 1.0;
    a->decimals = step >= 1.0 ? 0 : (int)ceil(-log10(step) - 1e-9);
    double first = ceil(a->lo / step - 1e-9) * step;
    a->nticks = 0;
    for (int i = 0; i < MAX_TICKS; i++) {
        double v = first + i * step;
        if (v > a->hi + step * 1e-9)
            break;
        a->tick[a->nticks++] = fabs(v) < step * 1e-9 ? 0.0 : v;
    }
}

/* 1, 2, 5 times the powers of ten inside the range; only the powers when that is too many. */
static void log_ticks(axis *a)
{
    static const double mult[3] = {1, 2, 5};
    for (int pass = 0; pass < 2; pass++) {
        a->nticks = 0;
        for (int k = (int)floor(log10(a->lo)); k <= (int)ceil(log10(a->hi)); k++)
            for (int m = 0; m < (pass == 0 ? 3 : 1); m++) {
                double v = mult[m] * pow(10.0, k);
                if (v >= a->lo * (1 - 1e-9) && v <= a->hi * (1 + 1e-9) && a->nticks < MAX_TICKS)
                    a->tick[a->nticks++] = v;
            }
        if (a->nticks <= 8)
            return;
    }
}

static void tick_label(const axis *a, double v, char *buf, size_t len)
{
    if (a->log)
        snprintf(buf, len, "%g", v);
    else
        snprintf(buf, len, "%.*f", a->decimals, v);
}

/* The x axis below a plot area from (x0, y0) to (x1, y1) (pixels), its ticks, labels and
 * optionally vertical grid lines. */
static void x_axis(FILE *f, const axis *a, double y0, double y1, bool grid, const char *label)
{
    char buf[32];
    for (int i = 0; i < a->nticks; i++) {
        double x = axis_map(a, a->tick[i]);
        if (grid)
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" GRID
                       "\"/>\n", x, y0, x, y1);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" INK "\"/>\n",
                x, y1, x, y1 + 5);
        tick_label(a, a->tick[i], buf, sizeof buf);
        text(f, x, y1 + 19, "middle", 12, "", buf);
    }
    text(f, (a->p0 + a->p1) / 2, y1 + 40, "middle", 13, "", label);
}

static void y_axis(FILE *f, const axis *a, double x0, double x1, bool grid, const char *label)
{
    char buf[32];
    for (int i = 0; i < a->nticks; i++) {
        double y = axis_map(a, a->tick[i]);
        if (grid)
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" GRID
                       "\"/>\n", x0, y, x1, y);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" INK "\"/>\n",
                x0 - 5, y, x0, y);
        tick_label(a, a->tick[i], buf, sizeof buf);
        text(f, x0 - 8, y + 4, "end", 12, "", buf);
    }
    double ym = (a->p0 + a->p1) / 2, xl = x0 - 52;
    char attrs[80];
    snprintf(attrs, sizeof attrs, "transform=\"rotate(-90 %.1f %.1f)\"", xl, ym);
    text(f, xl, ym, "middle", 13, attrs, label);
}

static void frame(FILE *f, double x, double y, double w, double h)
{
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
               "stroke=\"" INK "\"/>\n", x, y, w, h);
}

static bool finish(outfile *o, char *err, size_t errlen)
{
    fputs("</svg>\n", o->f);
    return outfile_commit(o, err, errlen);
}

/* ---- decision regions --------------------------------------------------------------- */

/* Shading levels of a region: lighter where the model is less sure. Four levels keep the
 * picture calm and let neighbouring cells merge into long rectangles. */
#define LEVELS 4

static int conf_level(const regions_plot *p, int64_t cell)
{
    if (!p->cell_conf)
        return LEVELS - 1;
    double c = p->cell_conf[cell];
    int q = (int)(c * LEVELS);
    return q < 0 ? 0 : q >= LEVELS ? LEVELS - 1 : q;
}

static double level_amount(int q)
{
    return 0.14 + 0.11 * q;
}

/* Each run of equal cells along a row is a rectangle; the rectangles of one colour form one
 * path ("M x y h w v h h -w z" each), which keeps the file to tens of kilobytes. */
static void draw_cells(FILE *f, const regions_plot *p, double left, double top, double size)
{
    double cw = size / p->nx, ch = size / p->ny;
    fputs("<g shape-rendering=\"crispEdges\">\n", f);
    for (int k = 0; k < p->nclasses; k++)
        for (int q = 0; q < LEVELS; q++) {
            bool open = false;
            for (int j = 0; j < p->ny; j++) {
                double y = top + size - (j + 1) * ch;
                int i = 0;
                while (i < p->nx) {
                    int64_t c0 = (int64_t)j * p->nx + i;
                    int64_t cls = p->cell_class[c0];
                    int lv = conf_level(p, c0);
                    int run = 1;
                    while (i + run < p->nx && p->cell_class[c0 + run] == cls &&
                           conf_level(p, c0 + run) == lv)
                        run++;
                    if (cls == k && lv == q) {
                        if (!open) {
                            char hex[8];
                            tint_hex(k, level_amount(q), hex);
                            fprintf(f, "<path fill=\"%s\" d=\"", hex);
                            open = true;
                        }
                        /* %g: the cells are whole pixels on the default grid */
                        fprintf(f, "M%g %gh%gv%gh%gz", left + i * cw, y, run * cw, ch, -run * cw);
                    }
                    i += run;
                }
            }
            if (open)
                fputs("\"/>\n", f);
        }
    fputs("</g>\n", f);
}

static void marker(FILE *f, double x, double y, double r, bool diamond, const char *fill,
                   bool wrong)
{
    const char *stroke = wrong ? "#000000" : "#ffffff";
    double sw = wrong ? 1.8 : 0.8;
    if (diamond) {
        double d = r * 1.3;
        fprintf(f, "<path d=\"M%.1f %.1fL%.1f %.1fL%.1f %.1fL%.1f %.1fZ\" fill=\"%s\" "
                   "stroke=\"%s\" stroke-width=\"%g\"/>\n",
                x, y - d, x + d, y, x, y + d, x - d, y, fill, stroke, sw);
    } else {
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\" stroke=\"%s\" "
                   "stroke-width=\"%g\"/>\n", x, y, r, fill, stroke, sw);
    }
}

static void draw_points(FILE *f, const regions_plot *p, const axis *ax, const axis *ay)
{
    double r = p->npoints <= 1000 ? 4.0 : p->npoints <= 5000 ? 2.8 : 1.8;
    /* correct points first, misclassified ones on top where they are seen */
    for (int pass = 0; pass < 2; pass++)
        for (int64_t i = 0; i < p->npoints; i++) {
            bool wrong = p->pred[i] != p->label[i];
            if (wrong != (pass == 1))
                continue;
            char hex[8];
            class_hex(p->label[i], hex);
            marker(f, axis_map(ax, p->px[i]), axis_map(ay, p->py[i]), r,
                   p->is_test && p->is_test[i], hex, wrong);
        }
}

static void regions_legend(FILE *f, const regions_plot *p, double x, double y)
{
    text(f, x, y, "start", 13, "font-weight=\"bold\"", "classes");
    y += 8;
    int shown = p->nclasses < LEGEND_CLASSES ? p->nclasses : LEGEND_CLASSES;
    for (int k = 0; k < shown; k++) {
        char hex[8], tint[8], name[64];
        class_hex(k, hex);
        tint_hex(k, level_amount(LEVELS - 1), tint);
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"18\" height=\"18\" fill=\"%s\"/>\n", x,
                y + 4, tint);
        marker(f, x + 9, y + 13, 4, false, hex, false);
        if (p->class_names)
            snprintf(name, sizeof name, "%.24s", p->class_names[k]);
        else
            snprintf(name, sizeof name, "class %d", k);
        text(f, x + 26, y + 18, "start", 12, "", name);
        y += 24;
    }
    if (shown < p->nclasses) {
        char more[48];
        snprintf(more, sizeof more, "and %d more", p->nclasses - shown);
        text(f, x, y + 16, "start", 12, "fill=\"" MUTED "\"", more);
        y += 24;
    }
    y += 22;
    text(f, x, y, "start", 13, "font-weight=\"bold\"", "points");
    y += 8;
    bool any_test = false;
    int64_t wrong = 0;
    for (int64_t i = 0; i < p->npoints; i++) {
        any_test |= p->is_test && p->is_test[i];
        wrong += p->pred[i] != p->label[i];
    }
    marker(f, x + 9, y + 13, 4, false, "#888888", false);
    text(f, x + 26, y + 18, "start", 12, "", "training point");
    y += 24;
    if (any_test) {
        marker(f, x + 9, y + 13, 4, true, "#888888", false);
        text(f, x + 26, y + 18, "start", 12, "", "test point");
        y += 24;
    }
    char buf[64];
    marker(f, x + 9, y + 13, 4, false, "#888888", true);
    snprintf(buf, sizeof buf, "misclassified (%lld)", (long long)wrong);
    text(f, x + 26, y + 18, "start", 12, "", buf);
    y += 46;
    text(f, x, y, "start", 13, "font-weight=\"bold\"", "regions");
    y += 8;
    for (int q = LEVELS - 1; q >= 0; q--) {
        char tint[8];
        tint_hex(0, level_amount(q), tint);
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"18\" height=\"12\" fill=\"%s\"/>\n",
                x + (LEVELS - 1 - q) * 18, y + 6, tint);
    }
    text(f, x, y + 34, "start", 12, "", "darker: more confident");
    text(f, x, y + 50, "start", 12, "", "lighter: near a boundary");
}

bool svg_regions(const char *path, const regions_plot *p, char *err, size_t errlen)
{
    const double left = 80, top = 76, size = 500;
    const int w = 820, h = 650;
    outfile o;
    if (!outfile_open(&o, path, err, errlen))
        return false;
    FILE *f = o.f;
    header(f, w, h);
    titles(f, left, p->title, p->subtitle);
    axis ax = {.lo = p->x0, .hi = p->x1, .p0 = left, .p1 = left + size};
    axis ay = {.lo = p->y0, .hi = p->y1, .p0 = top + size, .p1 = top};
    linear_ticks(&ax, 6, false);
    linear_ticks(&ay, 6, false);
    draw_cells(f, p, left, top, size);
    draw_points(f, p, &ax, &ay);
    frame(f, left, top, size, size);
    x_axis(f, &ax, top, top + size, false, p->xlabel ? p->xlabel : "x1");
    y_axis(f, &ay, left, left + size, false, p->ylabel ? p->ylabel : "x2");
    regions_legend(f, p, left + size + 30, top + 12);
    return finish(&o, err, errlen);
}

/* ---- learning curves ---------------------------------------------------------------- */

typedef struct series {
    const double *v;
    const char *name;
    const char *color;
    bool dashed;
} series;

static void draw_series(FILE *f, const curve_plot *c, const axis *ax, const axis *ay,
                        const series *s)
{
    /* a polyline per stretch of finite values (a NaN, as a diverged loss, breaks it) */
    bool open = false;
    for (int64_t i = 0; i < c->n; i++) {
        double v = s->v[i];
        bool ok = isfinite(v) && (!ay->log || v > 0);
        if (ok && !open) {
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                       "stroke-linejoin=\"round\"%s points=\"",
                    s->color, s->dashed ? " stroke-dasharray=\"6 4\"" : "");
            open = true;
        } else if (!ok && open) {
            fputs("\"/>\n", f);
            open = false;
        }
        if (ok)
            fprintf(f, "%.1f,%.1f ", axis_map(ax, (double)(c->first_epoch + i + 1)),
                    axis_map(ay, v));
    }
    if (open)
        fputs("\"/>\n", f);
    /* markers show where the epochs are when there are few of them */
    for (int64_t i = 0; c->n <= 40 && i < c->n; i++)
        if (isfinite(s->v[i]) && (!ay->log || s->v[i] > 0))
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                    axis_map(ax, (double)(c->first_epoch + i + 1)), axis_map(ay, s->v[i]),
                    s->color);
}

/* The legend under a panel: a stretch of each line, its name and its last value (the
 * number a reader looks for, given as text rather than read off the axis). */
static void panel_legend(FILE *f, double x, double y, const series *s, int n, int64_t len)
{
    for (int i = 0; i < n; i++) {
        double last = NAN;
        for (int64_t k = len - 1; k >= 0 && isnan(last); k--)
            if (isfinite(s[i].v[k]))
                last = s[i].v[k];
        char buf[160];
        snprintf(buf, sizeof buf, "%s: last %.4g", s[i].name, last);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                   "stroke-width=\"2\"%s/>\n",
                x, y + 20 * i - 4, x + 24, y + 20 * i - 4, s[i].color,
                s[i].dashed ? " stroke-dasharray=\"6 4\"" : "");
        text(f, x + 32, y + 20 * i, "start", 12, "", buf);
    }
}

static void range_of(const double *v, int64_t n, bool positive, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(v[i]) && (!positive || v[i] > 0)) {
            *lo = fmin(*lo, v[i]);
            *hi = fmax(*hi, v[i]);
        }
}

static void epoch_axis(axis *ax, const curve_plot *c, double p0, double p1)
{
    ax->lo = (double)c->first_epoch + 1;
    ax->hi = (double)(c->first_epoch + c->n);
    if (c->n == 1) {
        ax->lo -= 0.5;
        ax->hi += 0.5;
    }
    ax->p0 = p0;
    ax->p1 = p1;
    linear_ticks(ax, 6, true);
}

static void loss_panel(FILE *f, const curve_plot *c, double left, double top, double pw,
                       double ph)
{
    axis ax = {0}, ay = {0};
    epoch_axis(&ax, c, left, left + pw);
    double lo, hi;
    range_of(c->loss, c->n, false, &lo, &hi);
    if (!isfinite(lo)) {
        lo = 0;
        hi = 1;
    }
    /* cross-entropy falls by orders of magnitude: on a linear axis the second half of the
     * training would be a flat line on the floor */
    ay.log = lo > 0 && hi / lo > 20;
    if (ay.log) {
        ay.lo = lo / 1.3;
        ay.hi = hi * 1.3;
        log_ticks(&ay);
    } else {
        ay.lo = lo >= 0 ? 0 : lo * 1.05;
        ay.hi = hi > ay.lo ? hi * 1.05 : ay.lo + 1;
        linear_ticks(&ay, 5, false);
        if (ay.nticks && ay.tick[ay.nticks - 1] < hi)
            ay.hi = hi * 1.05;
    }
    ay.p0 = top + ph;
    ay.p1 = top;
    x_axis(f, &ax, top, top + ph, true, "epoch");
    char label[96];
    snprintf(label, sizeof label, "%s%s", c->loss_label ? c->loss_label : "loss",
             ay.log ? " (log scale)" : "");
    y_axis(f, &ay, left, left + pw, true, label);
    series s = {c->loss, "training (mean over the epoch's batches)", "#4e79a7", false};
    draw_series(f, c, &ax, &ay, &s);
    frame(f, left, top, pw, ph);
    panel_legend(f, left, top + ph + 66, &s, 1, c->n);
}

static void accuracy_panel(FILE *f, const curve_plot *c, double left, double top, double pw,
                           double ph)
{
    axis ax = {0}, ay = {0};
    epoch_axis(&ax, c, left, left + pw);
    double lo, hi, tlo = 1, thi;
    range_of(c->train_acc, c->n, false, &lo, &hi);
    if (c->test_acc)
        range_of(c->test_acc, c->n, false, &tlo, &thi);
    lo = fmin(lo, tlo);
    /* from the tenth below the lowest accuracy to 1: the top of the scale is where the
     * differences that matter are */
    ay.lo = isfinite(lo) ? fmin(floor(lo * 10) / 10, 0.9) : 0;
    if (ay.lo < 0)
        ay.lo = 0;
    ay.hi = 1.0;
    linear_ticks(&ay, 5, false);
    ay.hi = 1.0 + 0.03 * (1.0 - ay.lo); /* room for a line at exactly 1 */
    ay.p0 = top + ph;
    ay.p1 = top;
    x_axis(f, &ax, top, top + ph, true, "epoch");
    y_axis(f, &ay, left, left + pw, true, "accuracy");
    series s[2] = {
        {c->train_acc, "training (batches, during the epoch)", "#4e79a7", false},
        {c->test_acc, "test (at the end of the epoch)", "#f28e2b", true},
    };
    int ns = c->test_acc ? 2 : 1;
    for (int i = 0; i < ns; i++)
        draw_series(f, c, &ax, &ay, &s[i]);
    frame(f, left, top, pw, ph);
    panel_legend(f, left, top + ph + 66, s, ns, c->n);
}

bool svg_curve(const char *path, const curve_plot *c, char *err, size_t errlen)
{
    const double top = 84, pw = 380, ph = 270, left1 = 84, left2 = left1 + pw + 110;
    const int w = (int)(left2 + pw + 40), h = 470;
    outfile o;
    if (!outfile_open(&o, path, err, errlen))
        return false;
    FILE *f = o.f;
    header(f, w, h);
    titles(f, left1, c->title, c->subtitle);
    if (c->n > 0) {
        loss_panel(f, c, left1, top, pw, ph);
        accuracy_panel(f, c, left2, top, pw, ph);
    }
    return finish(&o, err, errlen);
}

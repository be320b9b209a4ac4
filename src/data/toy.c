/* Built-in 2-D teaching sets: spiral, moons, circles, xor. Each is a pure function of its
 * arguments and seed (see data.h for the formulas); rows are grouped class by class. */
#include <math.h>
#include <string.h>

#include "data/data_internal.h"
#include "retrograd.h"

static const double PI = 3.14159265358979323846;

/* Up to this many points per class: a bound far above any teaching use that keeps
 * n * classes * 2 doubles well inside size_t. */
#define TOY_MAX_N (INT64_C(1) << 32)

/* A fresh class-labelled data set of `classes` * n two-feature rows, or NULL. */
static rg_dataset *toy_new(int64_t n, int classes, double noise)
{
    if (n < 1 || n > TOY_MAX_N || classes < 1 || classes > 1024 || !(noise >= 0.0) ||
        !isfinite(noise))
        return NULL;
    return rg_dataset_new(n * classes, 2, RG_TARGET_CLASS, classes);
}

/* sin x and cos x from basic IEEE arithmetic, so the sets are bit-identical everywhere
 * (libm's last bit differs between platforms). x = k pi/2 + r with |r| <= pi/4: pi/2 is
 * split in three 33-bit parts (Cody and Waite; fdlibm's constants), so each k * part is
 * exact for |k| < 2^20 and r is accurate to about 1e-25; larger |x| is first reduced by
 * fmod (exact) modulo the double nearest 2 pi. Then Taylor series to r^17 and r^18, whose
 * remainders on |r| <= pi/4 are below 1e-19. */
static void det_sincos(double x, double *sn, double *cs)
{
    static const double two_pi = 6.28318530717958647692;
    static const double inv_pio2 = 6.36619772367581382433e-01;
    static const double p1 = 1.57079632673412561417e+00;
    static const double p2 = 6.07710050630396597660e-11;
    static const double p3 = 2.02226624871116645580e-21;
    if (fabs(x) > 1e6)
        x = fmod(x, two_pi);
    double k = x * inv_pio2;
    k = k >= 0 ? floor(k + 0.5) : -floor(0.5 - k);
    double r = ((x - k * p1) - k * p2) - k * p3;
    double r2 = r * r;
    /* (-1)^j / (2j+1)! and (-1)^j / (2j)!, rounded to nearest */
    static const double sn_coef[9] = {1.0, -0.16666666666666666, 0.008333333333333333,
        -0.0001984126984126984, 2.7557319223985893e-06, -2.505210838544172e-08,
        1.6059043836821613e-10, -7.647163731819816e-13, 2.8114572543455206e-15};
    static const double cs_coef[10] = {1.0, -0.5, 0.041666666666666664,
        -0.001388888888888889, 2.48015873015873e-05, -2.755731922398589e-07,
        2.08767569878681e-09, -1.1470745597729725e-11, 4.779477332387385e-14,
        -1.5619206968586225e-16};
    double ps = 0.0, pc = 0.0;
    for (int j = 8; j >= 0; j--)
        ps = sn_coef[j] + r2 * ps;
    for (int j = 9; j >= 0; j--)
        pc = cs_coef[j] + r2 * pc;
    double s0 = r * ps, c0 = pc;
    long q = (long)fmod(k, 4.0);
    if (q < 0)
        q += 4;
    switch (q) {
    case 0: *sn = s0; *cs = c0; break;
    case 1: *sn = c0; *cs = -s0; break;
    case 2: *sn = -s0; *cs = -c0; break;
    default: *sn = -c0; *cs = s0; break;
    }
}

/* a + (b - a) i / (n - 1): NumPy's linspace, endpoint included (a alone when n == 1) */
static double linspace(double a, double b, int64_t i, int64_t n)
{
    return n == 1 ? a : a + (b - a) * (double)i / (double)(n - 1);
}

rg_dataset *rg_data_spiral(int64_t n, int k, double noise, uint64_t seed)
{
    rg_dataset *ds = toy_new(n, k, noise);
    if (!ds)
        return NULL;
    rg_rng r;
    rg_rng_seed(&r, seed);
    for (int j = 0; j < k; j++) {
        for (int64_t i = 0; i < n; i++) {
            int64_t row = (int64_t)j * n + i;
            double rad = linspace(0.0, 1.0, i, n);
            double a = linspace(4.0 * j, 4.0 * (j + 1), i, n) + noise * rg_rng_normal(&r);
            double sa, ca;
            det_sincos(a, &sa, &ca);
            ds->x[2 * row] = rad * sa;
            ds->x[2 * row + 1] = rad * ca;
            ds->labels[row] = j;
        }
    }
    return ds;
}

rg_dataset *rg_data_moons(int64_t n, double noise, uint64_t seed)
{
    rg_dataset *ds = toy_new(n, 2, noise);
    if (!ds)
        return NULL;
    rg_rng r;
    rg_rng_seed(&r, seed);
    for (int c = 0; c < 2; c++) {
        for (int64_t i = 0; i < n; i++) {
            int64_t row = c * n + i;
            double ss, cs;
            det_sincos(linspace(0.0, PI, i, n), &ss, &cs);
            double px = c == 0 ? cs : 1.0 - cs;
            double py = c == 0 ? ss : 0.5 - ss;
            ds->x[2 * row] = px + noise * rg_rng_normal(&r);
            ds->x[2 * row + 1] = py + noise * rg_rng_normal(&r);
            ds->labels[row] = c;
        }
    }
    return ds;
}

rg_dataset *rg_data_circles(int64_t n, double noise, double factor, uint64_t seed)
{
    if (!(factor > 0.0 && factor < 1.0))
        return NULL;
    rg_dataset *ds = toy_new(n, 2, noise);
    if (!ds)
        return NULL;
    rg_rng r;
    rg_rng_seed(&r, seed);
    for (int c = 0; c < 2; c++) {
        double rad = c == 0 ? 1.0 : factor;
        for (int64_t i = 0; i < n; i++) {
            int64_t row = c * n + i;
            double ss, cs;
            det_sincos(2.0 * PI * (double)i / (double)n, &ss, &cs);
            ds->x[2 * row] = rad * cs + noise * rg_rng_normal(&r);
            ds->x[2 * row + 1] = rad * ss + noise * rg_rng_normal(&r);
            ds->labels[row] = c;
        }
    }
    return ds;
}

rg_dataset *rg_data_xor(int64_t n, double noise, uint64_t seed)
{
    /* corners of class 0 (signs agree) and class 1 (signs differ) */
    static const double corner[2][2][2] = {{{1, 1}, {-1, -1}}, {{1, -1}, {-1, 1}}};
    rg_dataset *ds = toy_new(n, 2, noise);
    if (!ds)
        return NULL;
    rg_rng r;
    rg_rng_seed(&r, seed);
    for (int c = 0; c < 2; c++) {
        for (int64_t i = 0; i < n; i++) {
            int64_t row = c * n + i;
            const double *p = corner[c][i % 2];
            ds->x[2 * row] = p[0] + noise * rg_rng_normal(&r);
            ds->x[2 * row + 1] = p[1] + noise * rg_rng_normal(&r);
            ds->labels[row] = c;
        }
    }
    return ds;
}

rg_toy_opts rg_toy_defaults(void)
{
    rg_toy_opts o = {.n = 100, .classes = 3, .noise = -1.0, .factor = 0.5, .seed = 1};
    return o;
}

rg_status rg_toy_make(const char *name, const rg_toy_opts *opts, rg_dataset **out, char *err,
                      size_t errlen)
{
    static const struct {
        const char *name;
        double noise;
    } sets[] = {{"spiral", 0.2}, {"moons", 0.1}, {"circles", 0.05}, {"xor", 0.2}};
    rg_toy_opts o = opts ? *opts : rg_toy_defaults();
    if (out)
        *out = NULL;
    if (!out || !name) {
        rg__errf(err, errlen, "toy data: no name or no output");
        return RG_ERR_ARG;
    }
    int which = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(name, sets[i].name) == 0)
            which = i;
    if (which < 0) {
        rg__errf(err, errlen, "unknown data set '%.40s' (built-in: spiral, moons, circles, xor)",
                 name);
        return RG_ERR_ARG;
    }
    if (o.noise < 0.0)
        o.noise = sets[which].noise;
    if (o.n < 1 || o.n > TOY_MAX_N) {
        rg__errf(err, errlen, "%s: %lld points per class (need 1 to %lld)", name,
                 (long long)o.n, (long long)TOY_MAX_N);
        return RG_ERR_ARG;
    }
    if (!isfinite(o.noise)) {
        rg__errf(err, errlen, "%s: noise must be finite", name);
        return RG_ERR_ARG;
    }
    if (which == 0 && (o.classes < 1 || o.classes > 1024)) {
        rg__errf(err, errlen, "spiral: %d classes (need 1 to 1024)", o.classes);
        return RG_ERR_ARG;
    }
    if (which == 2 && !(o.factor > 0.0 && o.factor < 1.0)) {
        rg__errf(err, errlen, "circles: factor %g must be between 0 and 1", o.factor);
        return RG_ERR_ARG;
    }
    switch (which) {
    case 0: *out = rg_data_spiral(o.n, o.classes, o.noise, o.seed); break;
    case 1: *out = rg_data_moons(o.n, o.noise, o.seed); break;
    case 2: *out = rg_data_circles(o.n, o.noise, o.factor, o.seed); break;
    default: *out = rg_data_xor(o.n, o.noise, o.seed); break;
    }
    if (!*out) {
        rg__errf(err, errlen, "%s: out of memory", name);
        return RG_ERR_NOMEM;
    }
    return RG_OK;
}

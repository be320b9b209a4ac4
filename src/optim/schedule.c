/* Learning-rate schedules (formulas in retrograd/optim.h). */
#include "retrograd.h"

#include <math.h>
#include <string.h>

rg_schedule rg_schedule_defaults(void)
{
    return (rg_schedule){
        .kind = RG_SCHEDULE_CONSTANT,
        .step_size = 1,
        .gamma = 0.1,
        .total = 1,
        .min_lr = 0.0,
    };
}

/* x^k by repeated squaring: O(log k) and the same rounding on every machine, unlike pow(). */
static double ipow(double x, uint64_t k)
{
    double r = 1.0;
    while (k) {
        if (k & 1)
            r *= x;
        x *= x;
        k >>= 1;
    }
    return r;
}

double rg_schedule_lr(const rg_schedule *s, double base, uint64_t t)
{
    if (!s)
        return NAN;
    switch (s->kind) {
    case RG_SCHEDULE_CONSTANT:
        return base;
    case RG_SCHEDULE_STEP:
        if (!s->step_size)
            return NAN;
        return base * ipow(s->gamma, t / s->step_size);
    case RG_SCHEDULE_COSINE: {
        if (!s->total)
            return NAN;
        if (t >= s->total)
            return s->min_lr;
        /* half a cosine period from base (t = 0) down to min_lr (t = total) */
        const double pi = 3.14159265358979323846;
        double c = cos(pi * (double)t / (double)s->total);
        return s->min_lr + (base - s->min_lr) * (1.0 + c) / 2.0;
    }
    }
    return NAN;
}

static const char *const schedule_names[] = {"constant", "step", "cosine"};

const char *rg_schedule_name(rg_schedule_kind kind)
{
    if ((int)kind < 0 || (size_t)kind >= sizeof schedule_names / sizeof schedule_names[0])
        return NULL;
    return schedule_names[kind];
}

int rg_schedule_from_name(const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < sizeof schedule_names / sizeof schedule_names[0]; i++)
        if (strcmp(name, schedule_names[i]) == 0)
            return (int)i;
    return -1;
}

/* Printing numbers and tensors, as text or as JSON. */
#include <math.h>

#include "expr.h"

void out_number(FILE *f, double v, bool json)
{
    /* JSON has no NaN or infinity: null stands for every non-finite value. */
    if (isnan(v))
        fputs(json ? "null" : "nan", f);
    else if (isinf(v))
        fputs(json ? "null" : v > 0 ? "inf" : "-inf", f);
    else
        fprintf(f, "%.17g", v); /* 17 significant digits round-trip every double */
}

void out_tensor(FILE *f, const double *v, int ndim, const int64_t *shape, bool json)
{
    if (ndim == 0) {
        out_number(f, v[0], json);
        return;
    }
    int64_t inner = 1; /* elements per entry of the first axis */
    for (int i = 1; i < ndim; i++)
        inner *= shape[i];
    fputc('[', f);
    for (int64_t i = 0; i < shape[0]; i++) {
        if (i)
            fputs(", ", f);
        out_tensor(f, v + i * inner, ndim - 1, shape + 1, json);
    }
    fputc(']', f);
}

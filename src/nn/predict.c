/* Predictions from scores: argmax per row and accuracy. */
#include "internal.h"

#include <math.h>

void rg_argmax_rows_f64(const double *scores, int64_t rows, int64_t cols, int64_t *out)
{
    if (!scores || !out || cols < 1)
        return;
    for (int64_t r = 0; r < rows; r++) {
        const double *row = scores + r * cols;
        if (cols == 1) {
            /* one binary logit: sigmoid(s) > 1/2 exactly when s > 0 */
            out[r] = row[0] > 0.0;
            continue;
        }
        int64_t best = 0;
        for (int64_t c = 1; c < cols; c++)
            if (row[c] > row[best] || (isnan(row[best]) && !isnan(row[c])))
                best = c;
        out[r] = best;
    }
}

/* Rows and columns of a score node: [N, C], or [N] as [N, 1]. */
static bool score_dims(const rg_node *s, int64_t *rows, int64_t *cols)
{
    if (s->ndim == 2) {
        *rows = s->shape[0];
        *cols = s->shape[1];
    } else if (s->ndim == 1) {
        *rows = s->shape[0];
        *cols = 1;
    } else {
        return false;
    }
    return *cols >= 1;
}

/* The argmax of row r of an evaluated score node, without converting the whole tensor. */
static int64_t row_argmax(const rg_node *s, int64_t r, int64_t cols)
{
    double best_v = rg_node_get(s, r * cols);
    if (cols == 1)
        return best_v > 0.0;
    int64_t best = 0;
    for (int64_t c = 1; c < cols; c++) {
        double v = rg_node_get(s, r * cols + c);
        if (v > best_v || (isnan(best_v) && !isnan(v))) {
            best = c;
            best_v = v;
        }
    }
    return best;
}

rg_status rg_argmax_rows(const rg_node *scores, int64_t *out)
{
    if (!scores || !out)
        return RG_ERR_ARG;
    int64_t rows, cols;
    if (!score_dims(scores, &rows, &cols)) {
        char buf[128];
        return rg__fail(scores->g, RG_ERR_SHAPE, "argmax_rows: scores %s are not [N, C]",
                        rg_shape_str(scores->ndim, scores->shape, buf, sizeof buf));
    }
    if (!rg_node_data(scores))
        return rg__fail(scores->g, RG_ERR_NOT_EVALUATED, "argmax_rows: scores not evaluated");
    for (int64_t r = 0; r < rows; r++)
        out[r] = row_argmax(scores, r, cols);
    return RG_OK;
}

double rg_accuracy(const rg_node *scores, const rg_node *labels)
{
    int64_t rows, cols;
    if (!scores || !labels || !score_dims(scores, &rows, &cols) || rows < 1 ||
        rg_node_size(labels) != rows || !rg_node_data(scores) || !rg_node_data(labels))
        return NAN;
    int64_t hits = 0;
    for (int64_t r = 0; r < rows; r++) {
        double label = rg_node_get(labels, r);
        hits += isfinite(label) && row_argmax(scores, r, cols) == (int64_t)llround(label);
    }
    return (double)hits / (double)rows;
}

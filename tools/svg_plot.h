/* SVG pictures of a training run: the decision regions of a 2-D classifier with its data
 * points, and the loss and accuracy curves. Plain SVG 1.1 with a white background and
 * generic fonts, so any browser, rsvg or Inkscape shows it the same. Files are written
 * atomically (outfile.h). */
#ifndef RG_TOOLS_SVG_PLOT_H
#define RG_TOOLS_SVG_PLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The colour of class k ("#rrggbb"): Tableau's ten, then darker and lighter variants. */
void svg_class_rgb(int k, int rgb[3]);

typedef struct regions_plot {
    const char *title, *subtitle;
    const char *xlabel, *ylabel;
    double x0, x1, y0, y1;      /* extent of the grid, in data coordinates */
    int nx, ny;                 /* grid cells; row 0 is at y0 (the bottom) */
    const int64_t *cell_class;  /* nx * ny predicted classes */
    const double *cell_conf;    /* nx * ny confidences in [0, 1] (0: a tie, 1: certain) */
    int nclasses;
    const char *const *class_names; /* NULL: "class 0", "class 1", ... */
    int64_t npoints;
    const double *px, *py;      /* point coordinates */
    const int32_t *label;       /* true class of each point */
    const int64_t *pred;        /* predicted class of each point */
    const bool *is_test;        /* NULL: every point is a training point */
} regions_plot;

/* Writes the decision regions (shaded lighter where the model is less sure) with the points
 * on top (training points round, test points diamonds, misclassified ones ringed in black)
 * and a legend. False with a message in err on failure. */
bool svg_regions(const char *path, const regions_plot *p, char *err, size_t errlen);

typedef struct curve_plot {
    const char *title, *subtitle;
    const char *loss_label;     /* "cross-entropy loss" */
    int64_t n;                  /* epochs */
    int64_t first_epoch;        /* the points are epochs first_epoch + 1 .. first_epoch + n */
    const double *loss;         /* n values */
    const double *train_acc;    /* n values */
    const double *test_acc;     /* n values, or NULL */
} curve_plot;

/* Writes two panels side by side: the loss per epoch (on a log scale when it spans more
 * than a factor of 20) and the accuracies per epoch, with axes, ticks, grid and legends.
 * False with a message in err on failure. */
bool svg_curve(const char *path, const curve_plot *c, char *err, size_t errlen);

#endif

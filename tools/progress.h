/* Training progress on standard output: on a terminal, a bar redrawn in place during each
 * epoch with the running loss, accuracy and speed; otherwise one plain line per epoch, which
 * reads well in a log file. Nothing here allocates. */
#ifndef RG_TOOLS_PROGRESS_H
#define RG_TOOLS_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct progress {
    bool tty;            /* standard output is a terminal: draw bars */
    bool quiet;          /* print nothing */
    int first_epoch;     /* number shown for the first epoch of this run (1 when fresh) */
    int last_epoch;      /* number shown for the last */
    int64_t steps;       /* steps per epoch */
    double last_draw;    /* time of the last redraw (seconds) */
    int drawn;           /* width of the bar line last drawn, to blank what is left */
} progress;

/* Seconds from an arbitrary fixed point, monotonic. */
double progress_now(void);

void progress_init(progress *p, bool quiet, int first_epoch, int last_epoch, int64_t steps);

/* After `step` (1-based) steps of epoch `epoch`, with the running means so far. Redraws the
 * bar at most ten times a second, and only on a terminal. */
void progress_step(progress *p, int epoch, int64_t step, double loss, double acc,
                   double samples_per_s);

/* At the end of an epoch: its mean loss and running accuracy, the test accuracy (NaN when
 * there is no test data) and the speed. Replaces the bar by the epoch's line. */
void progress_epoch(progress *p, int epoch, double loss, double acc, double test_acc,
                    double samples_per_s);

#endif

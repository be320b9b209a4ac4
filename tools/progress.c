/* Training progress: a bar per epoch on a terminal, a plain line per epoch otherwise. */
#include <math.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

/* Cells of the bar; with the numbers beside it the line stays under 80 columns. */
#define BAR_WIDTH 24

double progress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_init(progress *p, bool quiet, int first_epoch, int last_epoch, int64_t steps)
{
    p->tty = isatty(fileno(stdout)) != 0;
    p->quiet = quiet;
    p->first_epoch = first_epoch;
    p->last_epoch = last_epoch;
    p->steps = steps > 0 ? steps : 1;
    p->last_draw = 0.0;
    p->drawn = 0;
}

/* Width of the largest epoch number, so the columns line up from the first line. */
static int epoch_width(const progress *p)
{
    int w = 1;
    for (int e = p->last_epoch; e >= 10; e /= 10)
        w++;
    return w;
}

void progress_step(progress *p, int epoch, int64_t step, double loss, double acc,
                   double samples_per_s)
{
    if (p->quiet || !p->tty)
        return;
    double now = progress_now();
    if (step < p->steps && now - p->last_draw < 0.1)
        return;
    p->last_draw = now;
    char bar[BAR_WIDTH + 1];
    int full = (int)(BAR_WIDTH * step / p->steps);
    for (int i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < full ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    int w = epoch_width(p);
    int n = printf("\repoch %*d/%d [%s] loss %.4f acc %.4f %.0f samples/s", w, epoch,
                   p->last_epoch, bar, loss, acc, samples_per_s);
    /* blank the tail of a longer line drawn before */
    for (int i = n; i < p->drawn; i++)
        putchar(' ');
    p->drawn = n;
    fflush(stdout);
}

void progress_epoch(progress *p, int epoch, double loss, double acc, double test_acc,
                    double samples_per_s)
{
    if (p->quiet)
        return;
    int w = epoch_width(p);
    int n = printf("%sepoch %*d/%d  loss %.6f  acc %.4f", p->tty ? "\r" : "", w, epoch,
                   p->last_epoch, loss, acc);
    if (!isnan(test_acc))
        n += printf("  test_acc %.4f", test_acc);
    n += printf("  %.0f samples/s", samples_per_s);
    for (int i = n; p->tty && i < p->drawn; i++)
        putchar(' ');
    putchar('\n');
    p->drawn = 0;
    p->last_draw = 0.0;
    fflush(stdout);
}

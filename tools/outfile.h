/* Output files written atomically: the content goes to a temporary file in the target's
 * directory, which is flushed, synced and renamed over the target only when complete, so a
 * reader (a browser reloading a plot, a script reading predictions) never sees half a file
 * and a failed run leaves an existing file as it was. */
#ifndef RG_TOOLS_OUTFILE_H
#define RG_TOOLS_OUTFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct outfile {
    FILE *f;        /* write here between outfile_open() and outfile_commit() */
    char *path;     /* the target */
    char *tmp;      /* the temporary file */
} outfile;

/* Creates the temporary file for `path`. On failure returns false with a one-line message
 * ("PATH: cannot create: REASON") in err. */
bool outfile_open(outfile *o, const char *path, char *err, size_t errlen);

/* Flushes, syncs and renames the temporary file over the target. On failure (a write error
 * seen at any point, a full disk) removes the temporary file and returns false with a
 * message in err. Releases o either way. */
bool outfile_commit(outfile *o, char *err, size_t errlen);

/* Removes the temporary file and releases o (after an error while writing). Safe on an
 * outfile that was never opened or is already released. */
void outfile_abort(outfile *o);

#endif

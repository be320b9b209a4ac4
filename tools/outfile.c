/* Output files written atomically (temporary file, fsync, rename). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outfile.h"

static void release(outfile *o)
{
    if (o->f)
        fclose(o->f);
    free(o->path);
    free(o->tmp);
    o->f = NULL;
    o->path = o->tmp = NULL;
}

bool outfile_open(outfile *o, const char *path, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    size_t len = strlen(path);
    o->path = malloc(len + 1);
    /* the temporary file sits next to the target: rename() is only atomic within one file
     * system, and the target's directory is the one place known to be on it */
    o->tmp = malloc(len + sizeof ".tmp-XXXXXX");
    if (!o->path || !o->tmp) {
        snprintf(err, errlen, "%s: out of memory", path);
        release(o);
        return false;
    }
    memcpy(o->path, path, len + 1);
    snprintf(o->tmp, len + sizeof ".tmp-XXXXXX", "%s.tmp-XXXXXX", path);
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
        release(o);
        return false;
    }
    /* mkstemp() creates the file readable by its owner only; an output file gets the mode
     * any other new file would get (0666 less the umask) */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    o->f = fdopen(fd, "w");
    if (!o->f) {
        snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
        close(fd);
        unlink(o->tmp);
        release(o);
        return false;
    }
    return true;
}

bool outfile_commit(outfile *o, char *err, size_t errlen)
{
    if (!o->f) {
        snprintf(err, errlen, "output file not open");
        release(o);
        return false;
    }
    bool ok = !ferror(o->f) && fflush(o->f) == 0 && fsync(fileno(o->f)) == 0;
    int e = errno;
    if (fclose(o->f) != 0 && ok) {
        ok = false;
        e = errno;
    }
    o->f = NULL;
    if (ok && rename(o->tmp, o->path) != 0) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        snprintf(err, errlen, "%s: cannot write: %s", o->path, strerror(e ? e : EIO));
        unlink(o->tmp);
    }
    release(o);
    return ok;
}

void outfile_abort(outfile *o)
{
    if (o->tmp) {
        if (o->f)
            fclose(o->f);
        o->f = NULL;
        unlink(o->tmp);
    }
    release(o);
}

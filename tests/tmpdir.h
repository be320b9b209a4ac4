/* A scratch directory for the files a test writes: a fresh one under $TMPDIR (or /tmp), and
 * its removal with everything in it. Header-only. nftw is an XSI function, so a suite that
 * includes this defines _XOPEN_SOURCE 700 before its first include. */
#ifndef RG_TESTS_TMPDIR_H
#define RG_TESTS_TMPDIR_H

#if !defined(_XOPEN_SOURCE) || _XOPEN_SOURCE < 500
#error "tmpdir.h needs _XOPEN_SOURCE 700 defined before the first include (nftw)"
#endif

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* Makes a fresh directory <$TMPDIR or /tmp>/<prefix>_XXXXXX and writes its path to buf.
 * Returns buf, or NULL with errno set. */
static inline char *tu_tmpdir_make(char *buf, size_t cap, const char *prefix)
{
    const char *base = getenv("TMPDIR");
    int n = snprintf(buf, cap, "%s/%s_XXXXXX", base && *base ? base : "/tmp", prefix);
    if (n < 0 || (size_t)n >= cap) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    return mkdtemp(buf);
}

static inline int tu__rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

/* Removes the directory and all below it; depth first, without following symbolic links. */
static inline void tu_tmpdir_remove(const char *path)
{
    nftw(path, tu__rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif

/* Drawings as files: atomic writes, frames, and rendering in-process through libgvc (the
 * cgraph graph built by dot.c is laid out with dot and rendered to memory with gvRenderData,
 * then written out). Without libgvc, rendering explains how to render the DOT file instead. */
#include "dot_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef RG_HAVE_GVC
#include <gvc.h>
#endif

/* ---- atomic files ---- */

rg_status rg__dot_atomic(rg_graph *g, const char *file, rg__dot_writer write, const void *ctx)
{
    if (!g || !file || !*file)
        return g ? rg__fail(g, RG_ERR_ARG, "dot: no file name given") : RG_ERR_ARG;
    size_t len = strlen(file);
    char *tmp = rg__malloc(g, len + 8);
    if (!tmp)
        return rg__fail(g, RG_ERR_NOMEM, "dot: out of memory");
    memcpy(tmp, file, len);
    memcpy(tmp + len, ".XXXXXX", 8);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        rg_status st = rg__fail(g, RG_ERR_IO, "dot: cannot create a file next to '%s': %s",
                                file, strerror(errno));
        rg__free(g, tmp);
        return st;
    }
    /* mkstemp makes the file private; a picture is as readable as any file the user writes */
    fchmod(fd, 0644);
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        unlink(tmp);
        rg__free(g, tmp);
        return rg__fail(g, RG_ERR_IO, "dot: cannot write '%s': %s", file, strerror(errno));
    }
    rg_status st = write(g, f, ctx);
    if (st == RG_OK && (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0))
        st = rg__fail(g, RG_ERR_IO, "dot: cannot write '%s': %s", file, strerror(errno));
    if (fclose(f) != 0 && st == RG_OK)
        st = rg__fail(g, RG_ERR_IO, "dot: cannot write '%s': %s", file, strerror(errno));
    if (st == RG_OK && rename(tmp, file) != 0)
        st = rg__fail(g, RG_ERR_IO, "dot: cannot rename '%s' to '%s': %s", tmp, file,
                      strerror(errno));
    if (st != RG_OK)
        unlink(tmp);
    rg__free(g, tmp);
    return st;
}

static rg_status write_dot(rg_graph *g, FILE *f, const void *ctx)
{
    return rg_dot_write(g, f, ctx);
}

rg_status rg_dot_save(rg_graph *g, const char *file, const rg_dot_opts *opts)
{
    return rg__dot_atomic(g, file, write_dot, opts);
}

/* ---- frames ---- */

typedef struct frame_job {
    const rg_dot_opts *opts;
    const char *format;
} frame_job;

static rg_status write_frame(rg_graph *g, FILE *f, const void *ctx)
{
    const frame_job *job = ctx;
    if (strcmp(job->format, "dot") == 0)
        return rg_dot_write(g, f, job->opts);
    return rg_dot_render(g, f, job->format, job->opts);
}

rg_status rg_dot_save_frames(rg_graph *g, const char *dir, const char *format,
                             const rg_dot_opts *opts, int *count)
{
    if (count)
        *count = 0;
    if (!g)
        return RG_ERR_ARG;
    if (!dir || !format)
        return rg__fail(g, RG_ERR_ARG, "dot frames: no directory or format given");
    if (strcmp(format, "dot") != 0 && strcmp(format, "svg") != 0 && strcmp(format, "png") != 0)
        return rg__fail(g, RG_ERR_ARG, "dot frames: format '%.32s' is not dot, svg or png",
                        format);
    rg_dot_opts o = opts ? *opts : rg_dot_defaults();
    int n = rg_dot_frame_count(g, o.sweep);
    if (n == 0)
        return rg__fail(g, RG_ERR_ARG,
                        "dot frames: the graph has no reverse sweep %d to step through (it has "
                        "%d; call rg_grad or rg_backward first)",
                        o.sweep, rg_dot_sweep_count(g));
    size_t len = strlen(dir) + 32;
    char *file = rg__malloc(g, len);
    if (!file)
        return rg__fail(g, RG_ERR_NOMEM, "dot frames: out of memory");
    rg_status st = RG_OK;
    frame_job job = {&o, format};
    for (int k = 0; k < n && st == RG_OK; k++) {
        o.frame = k;
        snprintf(file, len, "%s/frame_%03d.%s", dir, k, format);
        st = rg__dot_atomic(g, file, write_frame, &job);
        if (st == RG_OK && count)
            *count = k + 1;
    }
    rg__free(g, file);
    return st;
}

static const char *format_of(const char *file)
{
    const char *dot = strrchr(file, '.');
    const char *slash = strrchr(file, '/');
    return dot && (!slash || dot > slash) && dot[1] ? dot + 1 : NULL;
}

typedef struct render_job {
    const char *format;
    const rg_dot_opts *opts;
} render_job;

static rg_status write_render(rg_graph *g, FILE *f, const void *ctx)
{
    const render_job *job = ctx;
    return rg_dot_render(g, f, job->format, job->opts);
}

rg_status rg_dot_render_file(rg_graph *g, const char *file, const char *format,
                             const rg_dot_opts *opts)
{
    if (!g)
        return RG_ERR_ARG;
    if (!file)
        return rg__fail(g, RG_ERR_ARG, "render: no file name given");
    if (!format && !(format = format_of(file)))
        return rg__fail(g, RG_ERR_ARG,
                        "render: cannot tell the format of '%s' (name it .svg or .png)", file);
    if (!rg_dot_can_render())
        return rg_dot_render(g, NULL, format, opts); /* the explanation */
    render_job job = {format, opts};
    return rg__dot_atomic(g, file, write_render, &job);
}

#ifndef RG_HAVE_GVC

bool rg_dot_can_render(void)
{
    return false;
}

rg_status rg_dot_render(rg_graph *g, FILE *f, const char *format, const rg_dot_opts *opts)
{
    (void)f, (void)opts;
    if (!g)
        return RG_ERR_UNSUPPORTED;
    return rg__fail(g, RG_ERR_UNSUPPORTED,
                    "render: this build of retrograd has no Graphviz libgvc; save DOT with "
                    "rg_dot_save (or --dot FILE) and run `dot -T%.16s graph.dot -o graph.%.16s`",
                    format ? format : "svg", format ? format : "svg");
}

#else /* RG_HAVE_GVC */

bool rg_dot_can_render(void)
{
    return true;
}

/* Graphviz reports problems through a process-wide callback that prints to stderr by
 * default; while rendering, messages are kept here instead (the library never prints) and
 * the first becomes the error message. */
static _Thread_local char gv_msg[256];

static int keep_message(char *msg)
{
    if (!gv_msg[0]) {
        snprintf(gv_msg, sizeof gv_msg, "%s", msg);
        size_t n = strlen(gv_msg);
        while (n > 0 && (gv_msg[n - 1] == '\n' || gv_msg[n - 1] == ' '))
            gv_msg[--n] = '\0';
    }
    return 0;
}

/* One Graphviz context for the process, made on first use and never freed: Graphviz 2.4x's
 * text-layout plugin keeps a pointer into the font cache of the context it last measured
 * text for, so freeing a context and making another reads freed memory. Graphviz is not
 * reentrant either, so renders take turns with each other and with DOT export under the
 * Graphviz lock (dot_priv.h), which also guards the context's creation. */
static GVC_t *the_gvc;

rg_status rg_dot_render(rg_graph *g, FILE *f, const char *format, const rg_dot_opts *opts)
{
    if (!g)
        return RG_ERR_ARG;
    if (!f || !format || !*format)
        return rg__fail(g, RG_ERR_ARG, "render: no file or format given");
    rg__graphviz_lock();
    void *graph = rg__dot_graph(g, opts);
    if (!graph) {
        rg__graphviz_unlock();
        return g->status != RG_OK ? g->status : RG_ERR_NOMEM;
    }
    if (!the_gvc)
        the_gvc = gvContext();
    GVC_t *gvc = the_gvc;
    gv_msg[0] = '\0';
    agusererrf old_f = agseterrf(keep_message);
    agerrlevel_t old_level = agseterr(AGERR);
    rg_status st = RG_OK;
    char *data = NULL;
    unsigned int len = 0;
    if (!gvc) {
        st = rg__fail(g, RG_ERR_NOMEM, "render: cannot start Graphviz");
    } else if (gvLayout(gvc, graph, "dot") != 0) {
        st = rg__fail(g, RG_ERR_UNSUPPORTED, "render: Graphviz layout failed%s%s",
                      gv_msg[0] ? ": " : "", gv_msg);
    } else {
        if (gvRenderData(gvc, graph, format, &data, &len) != 0 || !data)
            st = rg__fail(g, RG_ERR_UNSUPPORTED,
                          "render: Graphviz cannot render format '%.32s'%s%s", format,
                          gv_msg[0] ? ": " : "", gv_msg);
        else if (fwrite(data, 1, len, f) != len || fflush(f) != 0)
            st = rg__fail(g, RG_ERR_IO, "render: write failed");
        if (data)
            gvFreeRenderData(data);
        gvFreeLayout(gvc, graph);
    }
    agseterr(old_level);
    agseterrf(old_f);
    rg__dot_graph_close(graph);
    rg__graphviz_unlock();
    return st;
}

#endif /* RG_HAVE_GVC */

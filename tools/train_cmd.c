/* retrograd train: read the data, build the network once (an f32 graph holding the forward
 * pass, the loss and, from rg_grad(), the gradient of every parameter), then for each
 * mini-batch feed it, evaluate loss and gradients in one executor run and take an optimiser
 * step. Nothing here knows how backpropagation works: the gradients are graph nodes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "outfile.h"
#include "progress.h"
#include "train_cmd.h"

/* ---- data --------------------------------------------------------------------------- */

static int load_data(train_run *r, const net_arch *model_arch)
{
    train_opts *o = &r->o;
    const rg_model *model = r->resume;
    data_req req = {
        .label = o->label,
        .labels_required = true,
        .features = model ? model_arch->inputs : -1,
        .class_names = model && model->nclass_names ? (const char *const *)model->class_names
                                                    : NULL,
        .nclasses = model ? (int32_t)model_arch->outputs : 0,
    };
    rg_dataset *all = NULL;
    int rc = data_load(o->data, &req, &all);
    if (rc != CLI_OK)
        return rc;
    if (!model && all->nclasses < 2) {
        rg_dataset_free(all);
        return cli_fail("%s has one class: a classifier needs at least two", o->data);
    }
    if (o->test_data) {
        data_req treq = req;
        treq.features = all->d;
        if (all->class_names) {
            treq.class_names = (const char *const *)all->class_names;
            treq.nclasses = all->nclasses;
        } else if (!model) {
            treq.nclasses = all->nclasses;
        }
        rc = data_load(o->test_data, &treq, &r->test);
        if (rc != CLI_OK) {
            rg_dataset_free(all);
            return rc;
        }
        r->train = all;
    } else if (o->test_split > 0) {
        rg_status st = rg_dataset_split(all, o->test_split, o->seed, &r->train, &r->test);
        int64_t n = all->n;
        rg_dataset_free(all);
        if (st != RG_OK)
            return cli_fail("--test-split %g: cannot split %lld rows (%s)", o->test_split,
                            (long long)n, rg_strerror(st));
        if (r->test->n == 0) {
            rg_dataset_free(r->test);
            r->test = NULL;
        }
    } else {
        r->train = all;
    }
    if (o->plot && r->train->d != 2)
        return cli_fail("--plot draws the decision regions of 2-D data; %s has %lld features",
                        o->data, (long long)r->train->d);
    return CLI_OK;
}

/* Standardisation: a resumed model keeps the statistics it was trained with; a new one takes
 * them from the training rows only, so nothing of the test data leaks into training. */
static int standardize(train_run *r)
{
    const rg_model *model = r->resume;
    int64_t d = r->train->d;
    if (!(model ? model->nstats > 0 : r->o.standardize))
        return CLI_OK;
    r->mean = malloc((size_t)d * sizeof *r->mean);
    r->std = malloc((size_t)d * sizeof *r->std);
    if (!r->mean || !r->std)
        return cli_fail("out of memory");
    if (model) {
        memcpy(r->mean, model->mean, (size_t)d * sizeof *r->mean);
        memcpy(r->std, model->std, (size_t)d * sizeof *r->std);
    } else if (rg_dataset_stats(r->train, r->mean, r->std) != RG_OK) {
        return cli_fail("%s: cannot compute the standardisation", r->o.data);
    }
    if (rg_dataset_standardize(r->train, r->mean, r->std) != RG_OK ||
        (r->test && rg_dataset_standardize(r->test, r->mean, r->std) != RG_OK))
        return cli_fail("%s: cannot standardise the data", r->o.data);
    return CLI_OK;
}

/* ---- network and optimiser ---------------------------------------------------------- */

static int build(train_run *r)
{
    train_opts *o = &r->o;
    if (!r->resume) {
        o->arch.inputs = r->train->d;
        o->arch.outputs = r->train->nclasses;
    }
    r->batch = o->batch < r->train->n ? o->batch : r->train->n;
    /* every batch is full: the rows an epoch leaves over go into the next epoch's shuffle */
    r->steps_per_epoch = r->train->n / r->batch;
    rg_graph *g;
    r->m = net_build(&o->arch, r->batch, o->seed, &g);
    if (!r->m)
        return CLI_BAD_INPUT;
    if (r->resume && net_set_params(r->m, r->resume) != CLI_OK)
        return CLI_BAD_INPUT;

    rg_optim_opts oo = rg_optim_defaults(o->opt);
    oo.lr = o->lr;
    if (o->opt == RG_OPTIM_SGD)
        oo.momentum = o->momentum;
    oo.nesterov = o->nesterov;
    oo.weight_decay = o->weight_decay;
    oo.clip_norm = o->clip;
    oo.schedule = rg_schedule_defaults();
    oo.schedule.kind = o->schedule;
    /* schedules run over every epoch of the model, those before a --resume included */
    uint64_t total_epochs = (uint64_t)(r->first_epoch + o->epochs);
    uint64_t spe = (uint64_t)r->steps_per_epoch;
    if (o->schedule == RG_SCHEDULE_STEP) {
        oo.schedule.step_size = (total_epochs / 3 ? total_epochs / 3 : 1) * spe;
        oo.schedule.gamma = 0.1;
    } else if (o->schedule == RG_SCHEDULE_COSINE) {
        oo.schedule.total = total_epochs * spe;
        oo.schedule.min_lr = 0.0;
    }
    int np = 0;
    rg_node *const *params = rg_mlp_params(r->m, &np);
    r->opt = rg_optim_new(&oo, np, params, rg_mlp_grads(r->m, NULL), rg_mlp_is_weight(r->m));
    if (!r->opt)
        return cli_fail("optimiser: %s", rg_graph_errmsg(g));
    rg_graph_set_check_finite(g, o->check_finite);
    if (r->resume && r->resume->has_opt &&
        net_set_optim(r->opt, o->resume, r->resume) != CLI_OK)
        return CLI_BAD_INPUT;
    return eval_init(&r->ev, &o->arch, o->check_finite);
}

/* ---- training ----------------------------------------------------------------------- */

static int graph_fail(const rg_mlp *m, const char *what)
{
    return cli_fail("%s: %s", what, rg_graph_errmsg(rg_mlp_graph(m)));
}

/* Accuracy of the current weights on the test data, through the evaluation network. */
static int test_accuracy(train_run *r, double *acc)
{
    int64_t correct = 0;
    int rc = eval_copy_params(&r->ev, r->m);
    if (rc == CLI_OK)
        rc = eval_predict(&r->ev, r->test, NULL, r->pred_test, &correct);
    *acc = (double)correct / (double)r->test->n;
    return rc;
}

/* One epoch: every full batch of the epoch's order, a step each. Allocates nothing. */
static int epoch(train_run *r, int64_t e, float *xb, float *yb, int64_t *pred,
                 rg_batch_iter *it, progress *p, double *t_steps)
{
    rg_mlp *m = r->m;
    rg_graph *g = rg_mlp_graph(m);
    rg_node *loss_node = rg_mlp_loss(m), *logits = rg_mlp_logits(m);
    int64_t ep = r->first_epoch + e; /* epochs count from 0 inside, from 1 on screen */
    rg_batch_iter_epoch(it, (uint64_t)ep);
    double loss_sum = 0.0, t_epoch = 0.0;
    int64_t correct = 0, seen = 0, step = 0, rows;
    while ((rows = rg_batch_next_f32(it, xb, yb)) > 0) {
        double t0 = progress_now();
        uint64_t a0 = rg_graph_alloc_count(g);
        /* loss, scores and every parameter's gradient in one run of the executor */
        if (rg_mlp_backward(m) != RG_OK) {
            const char *msg = rg_graph_errmsg(g);
            if (r->o.check_finite && strncmp(msg, "check_finite:", 13) == 0) {
                cli_fail("epoch %lld, step %lld: %s", (long long)ep + 1, (long long)step + 1,
                         msg);
                return CLI_FAILED;
            }
            return graph_fail(m, "training step");
        }
        double loss = rg_node_item(loss_node);
        if (!isfinite(loss)) {
            cli_fail("training diverged: the loss is %g at epoch %lld, step %lld (try a "
                     "smaller --lr, or --clip)",
                     loss, (long long)ep + 1, (long long)step + 1);
            return CLI_FAILED;
        }
        if (rg_argmax_rows(logits, pred) != RG_OK)
            return graph_fail(m, "reading the scores");
        for (int64_t i = 0; i < rows; i++)
            correct += pred[i] == (int64_t)yb[i];
        if (rg_optim_step(r->opt) != RG_OK)
            return graph_fail(m, "optimiser step");
        double dt = progress_now() - t0;
        t_epoch += dt;
        if (r->steps > 0)
            r->step_allocs += rg_graph_alloc_count(g) - a0;
        r->steps++;
        step++;
        seen += rows;
        loss_sum += loss;
        progress_step(p, (int)(ep + 1), step, loss_sum / (double)step,
                      (double)correct / (double)seen, (double)seen / t_epoch);
    }
    *t_steps += t_epoch;
    r->hist_loss[e] = loss_sum / (double)step;
    r->hist_acc[e] = (double)correct / (double)seen;
    r->hist_test[e] = NAN;
    if (r->test) {
        int rc = test_accuracy(r, &r->hist_test[e]);
        if (rc != CLI_OK)
            return rc;
    }
    progress_epoch(p, (int)(ep + 1), r->hist_loss[e], r->hist_acc[e], r->hist_test[e],
                   (double)seen / t_epoch);
    return CLI_OK;
}

static int train(train_run *r)
{
    const train_opts *o = &r->o;
    int64_t d = r->train->d, b = r->batch, n_ep = o->epochs;
    r->hist_loss = malloc((size_t)n_ep * sizeof(double));
    r->hist_acc = malloc((size_t)n_ep * sizeof(double));
    r->hist_test = malloc((size_t)n_ep * sizeof(double));
    r->pred_train = malloc((size_t)r->train->n * sizeof(int64_t));
    r->pred_test = r->test ? malloc((size_t)r->test->n * sizeof(int64_t)) : NULL;
    float *xb = malloc((size_t)(b * d) * sizeof *xb);
    float *yb = malloc((size_t)b * sizeof *yb);
    int64_t *pred = malloc((size_t)b * sizeof *pred);
    rg_batch_opts bo = rg_batch_defaults();
    bo.batch = b;
    bo.drop_last = true;
    bo.seed = o->seed;
    rg_batch_iter *it = rg_batch_iter_new(r->train, &bo);
    int rc = CLI_OK;
    if (!r->hist_loss || !r->hist_acc || !r->hist_test || !r->pred_train ||
        (r->test && !r->pred_test) || !xb || !yb || !pred || !it) {
        rc = cli_fail("out of memory");
        goto done;
    }
    /* the batches are copied into xb and yb, which the graph reads in place */
    if (rg_feed_borrow(rg_mlp_input(r->m), xb) != RG_OK ||
        rg_feed_borrow(rg_mlp_labels(r->m), yb) != RG_OK) {
        rc = graph_fail(r->m, "feeding the network");
        goto done;
    }
    progress p;
    progress_init(&p, o->quiet, (int)r->first_epoch + 1, (int)(r->first_epoch + n_ep),
                  r->steps_per_epoch);
    double t0 = progress_now(), t_steps = 0.0;
    for (int64_t e = 0; e < n_ep && rc == CLI_OK; e++) {
        rc = epoch(r, e, xb, yb, pred, it, &p, &t_steps);
        if (rc == CLI_OK)
            r->epochs_run = e + 1;
    }
    r->seconds = progress_now() - t0;
    r->samples_per_s = t_steps > 0 ? (double)(r->steps * (uint64_t)b) / t_steps : 0.0;
    if (rc != CLI_OK)
        goto done;
    r->final_loss = r->hist_loss[n_ep - 1];
    rc = eval_copy_params(&r->ev, r->m);
    if (rc == CLI_OK)
        rc = eval_predict(&r->ev, r->train, NULL, r->pred_train, &r->correct_train);
    if (rc == CLI_OK && r->test)
        rc = eval_predict(&r->ev, r->test, NULL, r->pred_test, &r->correct_test);
done:
    /* the graph must not point at buffers about to be freed: it keeps a copy of the last
     * batch (which --dot shows) */
    if (xb && yb) {
        rg_feed(rg_mlp_input(r->m), xb);
        rg_feed(rg_mlp_labels(r->m), yb);
    }
    rg_batch_iter_free(it);
    free(xb);
    free(yb);
    free(pred);
    return rc;
}

/* ---- outputs ------------------------------------------------------------------------ */

static int save(const train_run *r)
{
    const train_opts *o = &r->o;
    train_settings s = {
        .epochs = (double)(r->first_epoch + r->epochs_run),
        .seed = (double)o->seed,
        .batch = (double)o->batch,
        .lr = o->lr,
        .momentum = o->momentum,
        .nesterov = o->nesterov,
        .weight_decay = o->weight_decay,
        .clip = o->clip,
        .schedule = (double)o->schedule,
    };
    net_save_args a = {
        .m = r->m,
        .arch = &o->arch,
        .o = r->opt,
        .mean = r->mean,
        .std = r->std,
        .classes = r->train,
        .settings = &s,
    };
    return net_save(o->save, &a);
}

/* The graph of the training network: forward pass, loss and the backward pass that
 * rg_grad() built. It is evaluated once more on the last batch, keeping every value, so
 * each node shows the value it has for the final weights. */
static int write_pictures(const train_run *r)
{
    rg_graph *g = rg_mlp_graph(r->m);
    rg_graph_set_keep_values(g, true);
    if (rg_mlp_backward(r->m) != RG_OK)
        return graph_fail(r->m, "drawing");
    char title[160], arch[96];
    snprintf(title, sizeof title, "retrograd train: %s, batch %lld",
             net_arch_str(&r->o.arch, arch, sizeof arch), (long long)r->batch);
    draw_opts d = r->o.draw;
    d.dot_opts.title = title;
    return draw_write(&d, g);
}

static void print_header(const train_run *r)
{
    const train_opts *o = &r->o;
    char arch[96];
    printf("data: %s, %lld rows for training", data_display_name(o->data),
           (long long)r->train->n);
    if (r->test)
        printf(", %lld for testing", (long long)r->test->n);
    printf(", %lld features, %lld classes%s\n", (long long)r->train->d,
           (long long)o->arch.outputs, r->mean ? " (standardised)" : "");
    printf("network: %s, loss %s; %s lr %g", net_arch_str(&o->arch, arch, sizeof arch),
           net_loss_name(o->arch.loss), rg_optim_name(o->opt), o->lr);
    if (o->opt == RG_OPTIM_SGD && o->momentum > 0)
        printf(" momentum %g%s", o->momentum, o->nesterov ? " (nesterov)" : "");
    if (o->weight_decay > 0)
        printf(" weight decay %g", o->weight_decay);
    if (o->schedule != RG_SCHEDULE_CONSTANT)
        printf(" (%s schedule)", rg_schedule_name(o->schedule));
    if (o->clip > 0)
        printf(" clip %g", o->clip);
    printf(", batch %lld, %lld epochs", (long long)r->batch, (long long)o->epochs);
    if (r->first_epoch)
        printf(" after %lld", (long long)r->first_epoch);
    printf("\n");
    fflush(stdout);
}

static void print_summary(const train_run *r)
{
    const train_opts *o = &r->o;
    printf("trained %lld epoch%s (%llu step%s) in %.2f s, %.0f samples/s\n",
           (long long)r->epochs_run, r->epochs_run == 1 ? "" : "s",
           (unsigned long long)r->steps, r->steps == 1 ? "" : "s", r->seconds, r->samples_per_s);
    printf("train accuracy %.4f (%lld/%lld)\n", (double)r->correct_train / (double)r->train->n,
           (long long)r->correct_train, (long long)r->train->n);
    if (r->test)
        printf("test accuracy  %.4f (%lld/%lld)\n", (double)r->correct_test / (double)r->test->n,
               (long long)r->correct_test, (long long)r->test->n);
    printf("final loss %.6f\n", r->final_loss);
    const char *files[7] = {o->save,     o->plot,     o->curve,      o->draw.dot,
                            o->draw.svg, o->draw.png, o->draw.frames};
    const char *what[7] = {"saved model", "wrote plot",  "wrote curve",  "wrote graph",
                           "wrote graph", "wrote graph", "wrote frames in"};
    for (int i = 0; i < 7; i++)
        if (files[i])
            printf("%s %s\n", what[i], files[i]);
}

static void print_json(const train_run *r)
{
    const train_opts *o = &r->o;
    char arch[96];
    printf("{\"data\": ");
    json_str(stdout, data_display_name(o->data));
    printf(", \"train_rows\": %lld, \"test_rows\": %lld, \"features\": %lld, \"classes\": %lld",
           (long long)r->train->n, (long long)(r->test ? r->test->n : 0), (long long)r->train->d,
           (long long)o->arch.outputs);
    printf(", \"network\": ");
    json_str(stdout, net_arch_str(&o->arch, arch, sizeof arch));
    printf(", \"loss\": \"%s\", \"optimizer\": \"%s\", \"lr\": ", net_loss_name(o->arch.loss),
           rg_optim_name(o->opt));
    json_num(stdout, o->lr);
    printf(", \"batch\": %lld, \"epochs\": %lld, \"total_epochs\": %lld, \"steps\": %llu",
           (long long)r->batch, (long long)r->epochs_run,
           (long long)(r->first_epoch + r->epochs_run), (unsigned long long)r->steps);
    printf(", \"train_accuracy\": ");
    json_num(stdout, (double)r->correct_train / (double)r->train->n);
    if (r->test) {
        printf(", \"test_accuracy\": ");
        json_num(stdout, (double)r->correct_test / (double)r->test->n);
    }
    printf(", \"final_loss\": ");
    json_num(stdout, r->final_loss);
    printf(", \"step_allocations\": %llu, \"seconds\": ", (unsigned long long)r->step_allocs);
    json_num(stdout, r->seconds);
    printf(", \"samples_per_second\": ");
    json_num(stdout, r->samples_per_s);
    if (r->threads > 0)
        printf(", \"threads\": %d", r->threads);
    printf(", \"blas\": ");
    json_str(stdout, rg_blas_info());
    printf("}\n");
}

/* The files asked for. Their paths were checked before training, so a failure here is the
 * system's (a full disk): exit status 1, as for a run that did not succeed. */
static int outputs(train_run *r)
{
    const train_opts *o = &r->o;
    if ((o->save && save(r) != CLI_OK) || (o->plot && train_write_plot(r, o->plot) != CLI_OK) ||
        (o->curve && train_write_curve(r, o->curve) != CLI_OK) ||
        (draw_wanted(&o->draw) && write_pictures(r) != CLI_OK))
        return CLI_FAILED;
    return CLI_OK;
}

static void run_free(train_run *r)
{
    eval_free(&r->ev);
    rg_optim_free(r->opt);
    net_free(r->m);
    rg_dataset_free(r->train);
    rg_dataset_free(r->test);
    rg_model_free(r->resume);
    free(r->mean);
    free(r->std);
    free(r->hist_loss);
    free(r->hist_acc);
    free(r->hist_test);
    free(r->pred_train);
    free(r->pred_test);
}

int train_main(int argc, char **argv)
{
    train_run r;
    memset(&r, 0, sizeof r);
    int rc = train_parse(argc, argv, &r.o);
    if (rc >= 0)
        return rc;
    rc = CLI_OK;
    net_arch model_arch;
    if (r.o.resume) {
        rc = net_load_model(r.o.resume, &r.resume, &model_arch);
        if (rc == CLI_OK)
            rc = train_merge_resume(&r.o, r.o.resume, r.resume, &model_arch);
        train_settings s;
        if (rc == CLI_OK && net_settings(r.resume, &s))
            r.first_epoch = (int64_t)s.epochs;
    }
    train_resolve_defaults(&r.o);
    if (rc == CLI_OK && r.o.nesterov && !(r.o.momentum > 0))
        rc = cli_fail("--nesterov needs --momentum > 0");
    const char *outs[6][2] = {{"--save", r.o.save},   {"--plot", r.o.plot},
                              {"--curve", r.o.curve}, {"--dot", r.o.draw.dot},
                              {"--svg", r.o.draw.svg}, {"--png", r.o.draw.png}};
    for (int i = 0; i < 6 && rc == CLI_OK; i++)
        if (outs[i][1])
            rc = out_path_check(outs[i][0], outs[i][1]);
    if (rc == CLI_OK)
        r.threads = train_set_threads(r.o.threads);
    if (rc == CLI_OK)
        rc = load_data(&r, &model_arch);
    if (rc == CLI_OK)
        rc = standardize(&r);
    if (rc == CLI_OK)
        rc = build(&r);
    if (rc == CLI_OK && !r.o.quiet)
        print_header(&r);
    if (rc == CLI_OK)
        rc = train(&r);
    if (rc == CLI_OK)
        rc = outputs(&r);
    if (rc == CLI_OK) {
        if (r.o.json)
            print_json(&r);
        else
            print_summary(&r);
        if (fflush(stdout) != 0)
            rc = cli_fail("cannot write the output");
    }
    run_free(&r);
    return rc;
}

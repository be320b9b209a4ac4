/* retrograd train: usage, option parsing, and what --resume takes from the model file. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train_cmd.h"

/* The defaults make `retrograd train` with no options learn the 3-class spiral (300 points)
 * to >= 0.95 training accuracy in a fraction of a second: two hidden layers of 64 ReLU
 * units, Adam at its usual rate 0.001, batches of 32, 100 epochs (900 steps). Measured: 0.993
 * (298 of 300; two points sit inside another arm) for each of the seeds 1 to 20; the
 * accuracy first passes 0.95 after about 25 epochs. */
#define DEFAULT_HIDDEN 64
#define DEFAULT_EPOCHS 100
#define DEFAULT_BATCH 32
/* Most epochs and rows per batch accepted: far past any useful run, small enough that step
 * counts fit every counter. */
#define MAX_EPOCHS 10000000
#define MAX_BATCH (1 << 24)
/* Seeds are stored in model files as doubles: every seed up to 2^53 comes back exactly. */
#define MAX_SEED ((int64_t)1 << 53)

void train_usage(FILE *f)
{
    fputs("usage: retrograd train\n"
          "         [--data spiral|moons|circles|xor|FILE.csv|IMAGES.idx:LABELS.idx]\n"
          "         [--label-col N|NAME] [--test-split F] [--test-data FILE] [--standardize]\n"
          "         [--hidden 64,64] [--act relu|tanh|sigmoid|leaky_relu] [--loss ce|mse]\n"
          "         [--opt sgd|adam|adamw] [--lr F] [--momentum F] [--nesterov]\n"
          "         [--weight-decay F] [--schedule constant|step|cosine] [--clip F]\n"
          "         [--batch N] [--epochs N] [--seed N] [--threads N]\n"
          "         [--save MODEL] [--resume MODEL] [--plot FILE.svg]\n"
          "         [--curve FILE.svg] [--dot FILE] [--svg FILE] [--png FILE] [--frames DIR]\n"
          "         [drawing options] [--json] [--quiet] [--check-finite]\n"
          "\n"
          "Trains a multi-layer perceptron classifier by mini-batch gradient descent: the\n"
          "network, its loss and their gradients are one graph, differentiated by the generic\n"
          "reverse sweep. With no options it learns the built-in 3-class spiral.\n"
          "\n"
          "data:\n"
          "  --data SPEC         spiral (default), moons, circles, xor (built-in 2-D sets), a CSV\n"
          "                      file (a header row is optional), or IDX files (the MNIST\n"
          "                      format) IMAGES.idx:LABELS.idx; byte images are scaled to [0,1]\n"
          "  --label-col N|NAME  CSV column of the class labels: index from 0 (negative counts\n"
          "                      from the end) or header name; default the last column\n"
          "  --test-split F      hold out the fraction F (0 <= F < 1) of the rows as test data\n"
          "  --test-data FILE    test data from a file (same columns as the training data)\n"
          "  --standardize       scale each feature to mean 0, standard deviation 1, with\n"
          "                      statistics from the training rows (saved with the model)\n"
          "\n"
          "network:\n"
          "  --hidden SIZES      hidden layer sizes, comma-separated (default 64,64; 'none'\n"
          "                      for a linear model)\n"
          "  --act NAME          hidden activation: relu (default), tanh, sigmoid, leaky_relu\n"
          "  --loss NAME         ce: softmax cross-entropy (default); mse: squared error\n"
          "                      against one-hot labels\n"
          "\n"
          "optimiser:\n"
          "  --opt NAME          adam (default), adamw, or sgd\n"
          "  --lr F              learning rate (default: adam and adamw 0.001, sgd 0.01)\n"
          "  --momentum F        sgd momentum mu in [0, 1) (default 0)\n"
          "  --nesterov          Nesterov momentum (needs --momentum > 0)\n"
          "  --weight-decay F    L2 penalty lambda on weights, not biases (adamw: decoupled,\n"
          "                      default 0.01; others default 0)\n"
          "  --schedule NAME     learning rate: constant (default); step: times 0.1 after each\n"
          "                      third of the epochs; cosine: down to 0 over the epochs\n"
          "  --clip F            scale gradients down to global norm F when larger\n"
          "  --batch N           rows per step (default 32); the rows an epoch leaves over\n"
          "                      (fewer than N) wait for the next epoch's shuffle\n"
          "  --epochs N          passes over the training data (default 100)\n"
          "  --seed N            initial weights, batch order, test split (default 1)\n"
          "  --threads N         threads of the kernels and the matrix products\n"
          "\n"
          "files and output:\n"
          "  --save MODEL        save the model, its standardisation and the optimiser state\n"
          "  --resume MODEL      continue training a saved model for --epochs more epochs,\n"
          "                      with its settings unless options override them\n"
          "  --plot FILE.svg     decision regions and points (2-D data)\n"
          "  --curve FILE.svg    loss and accuracy per epoch\n"
          "  --json              end with one JSON line: train_accuracy, test_accuracy,\n"
          "                      final_loss, epochs, seconds, ...\n"
          "  --quiet             print only the summary\n"
          "  --check-finite      stop at the first NaN or infinity an op produces, forward or\n"
          "                      backward, naming the epoch, the step, the node and its\n"
          "                      inputs' ranges (exit 1)\n"
          "  -h, --help          show this help\n"
          "\n",
          f);
    draw_usage(f);
    fputs("\n"
          "Progress goes to standard output: a bar per epoch on a terminal, else one line per\n"
          "epoch (the mean loss and the accuracy of the epoch's batches while training).\n"
          "Output files are written whole or not at all (temporary file, then rename).\n"
          "\n"
          "exit status: 0 success, 1 training diverged (or --check-finite stopped it) or an\n"
          "output failed, 2 bad input\n"
          "\n"
          "examples:\n"
          "  retrograd train --plot spiral.svg --curve curve.svg\n"
          "  retrograd train --data iris.csv --standardize --hidden 64 --opt sgd \\\n"
          "                  --momentum 0.9 --epochs 30 --test-split 0.2 --save iris.rgm\n",
          f);
}

static void defaults(train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->data = "spiral";
    draw_init(&o->draw);
    o->arch.nhidden = 2;
    o->arch.hidden[0] = o->arch.hidden[1] = DEFAULT_HIDDEN;
    o->arch.act = RG_ACT_RELU;
    o->arch.slope = 0.01;
    o->arch.loss = RG_LOSS_CROSS_ENTROPY;
    o->opt = RG_OPTIM_ADAM;
    o->lr = o->momentum = o->weight_decay = NAN;
    o->schedule = RG_SCHEDULE_CONSTANT;
    o->batch = DEFAULT_BATCH;
    o->epochs = DEFAULT_EPOCHS;
    o->seed = 1;
}

/* A value chosen from a list: the index, or -1 with the message printed. */
static int choice(const char *name, const char *v, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(v, names[i]) == 0)
            return i;
    char q[CLI_QUOTE_LEN], list[128] = "";
    for (int i = 0; i < n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                 names[i]);
    cli_fail("%s: unknown value '%s' (one of: %s)", name, cli_quote(v, strlen(v), q), list);
    return -1;
}

static const char *const act_names[] = {"relu", "tanh", "sigmoid", "leaky_relu"};
static const rg_activation act_values[] = {RG_ACT_RELU, RG_ACT_TANH, RG_ACT_SIGMOID,
                                           RG_ACT_LEAKY_RELU};
static const char *const loss_names[] = {"ce", "mse"};
static const char *const opt_names[] = {"sgd", "adam", "adamw"};
static const rg_optim_kind opt_values[] = {RG_OPTIM_SGD, RG_OPTIM_ADAM, RG_OPTIM_ADAMW};
static const char *const schedule_names[] = {"constant", "step", "cosine"};
static const rg_schedule_kind schedule_values[] = {RG_SCHEDULE_CONSTANT, RG_SCHEDULE_STEP,
                                                   RG_SCHEDULE_COSINE};

#define NAMES(a) a, (int)(sizeof a / sizeof *a)

/* One option with a value; false when it is not one of them. *ok is false after an error. */
static bool value_option(int argc, char **argv, int *i, train_opts *o, bool *ok)
{
    static const char *const with_value[] = {
        "--data", "--label-col", "--test-split", "--test-data", "--hidden", "--act",
        "--loss", "--opt", "--lr", "--momentum", "--weight-decay", "--schedule", "--clip",
        "--batch", "--epochs", "--seed", "--threads", "--save", "--resume", "--plot",
        "--curve",
    };
    const char *a = argv[*i], *name = NULL;
    for (size_t k = 0; k < sizeof with_value / sizeof *with_value && !name; k++)
        if (opt_is(a, with_value[k]))
            name = with_value[k];
    if (!name)
        return false;
    const char *v = opt_value(argc, argv, i, name);
    if (!v) {
        *ok = false;
        return true;
    }
    int c = 0;
    int64_t n = 0;
    /* file names and the data spec: an empty one is a slip (an unset shell variable) */
    static const char *const paths[] = {"--data", "--test-data", "--save", "--resume",
                                        "--plot", "--curve"};
    for (size_t k = 0; k < sizeof paths / sizeof *paths; k++)
        if (strcmp(name, paths[k]) == 0 && *v == '\0') {
            cli_fail("%s: empty file name", name);
            *ok = false;
            return true;
        }
    if (strcmp(name, "--data") == 0) {
        o->data = v;
    } else if (strcmp(name, "--label-col") == 0) {
        *ok = opt_label(v, &o->label);
    } else if (strcmp(name, "--test-split") == 0) {
        *ok = opt_f64(name, v, 0.0, 0.99, &o->test_split);
    } else if (strcmp(name, "--test-data") == 0) {
        o->test_data = v;
    } else if (strcmp(name, "--hidden") == 0) {
        *ok = opt_hidden(v, o->arch.hidden, &o->arch.nhidden);
        o->hidden_given = true;
    } else if (strcmp(name, "--act") == 0) {
        *ok = (c = choice(name, v, NAMES(act_names))) >= 0;
        o->arch.act = *ok ? act_values[c] : RG_ACT_RELU;
        o->act_given = true;
    } else if (strcmp(name, "--loss") == 0) {
        *ok = (c = choice(name, v, NAMES(loss_names))) >= 0;
        o->arch.loss = c == 1 ? RG_LOSS_MSE_ONEHOT : RG_LOSS_CROSS_ENTROPY;
        o->loss_given = true;
    } else if (strcmp(name, "--opt") == 0) {
        *ok = (c = choice(name, v, NAMES(opt_names))) >= 0;
        o->opt = *ok ? opt_values[c] : RG_OPTIM_ADAM;
        o->opt_given = true;
    } else if (strcmp(name, "--lr") == 0) {
        *ok = opt_f64(name, v, 0.0, 1e6, &o->lr);
        o->lr_given = true;
    } else if (strcmp(name, "--momentum") == 0) {
        *ok = opt_f64(name, v, 0.0, 0.999999, &o->momentum);
        o->momentum_given = true;
    } else if (strcmp(name, "--weight-decay") == 0) {
        *ok = opt_f64(name, v, 0.0, 1e6, &o->weight_decay);
        o->wd_given = true;
    } else if (strcmp(name, "--schedule") == 0) {
        *ok = (c = choice(name, v, NAMES(schedule_names))) >= 0;
        o->schedule = *ok ? schedule_values[c] : RG_SCHEDULE_CONSTANT;
        o->schedule_given = true;
    } else if (strcmp(name, "--clip") == 0) {
        *ok = opt_f64(name, v, 0.0, 1e12, &o->clip);
        o->clip_given = true;
    } else if (strcmp(name, "--batch") == 0) {
        *ok = opt_i64(name, v, 1, MAX_BATCH, &o->batch);
        o->batch_given = true;
    } else if (strcmp(name, "--epochs") == 0) {
        *ok = opt_i64(name, v, 1, MAX_EPOCHS, &o->epochs);
    } else if (strcmp(name, "--seed") == 0) {
        *ok = opt_i64(name, v, 0, MAX_SEED, &n);
        o->seed = (uint64_t)n;
        o->seed_given = true;
    } else if (strcmp(name, "--threads") == 0) {
        *ok = opt_i64(name, v, 1, 1024, &n);
        o->threads = n;
    } else if (strcmp(name, "--save") == 0) {
        o->save = v;
    } else if (strcmp(name, "--resume") == 0) {
        o->resume = v;
    } else if (strcmp(name, "--plot") == 0) {
        o->plot = v;
    } else {
        o->curve = v;
    }
    return true;
}

int train_parse(int argc, char **argv, train_opts *o)
{
    defaults(o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char q[CLI_QUOTE_LEN];
        bool ok = true;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            train_usage(stdout);
            return CLI_OK;
        } else if (strcmp(a, "--standardize") == 0) {
            o->standardize = o->standardize_given = true;
        } else if (strcmp(a, "--nesterov") == 0) {
            o->nesterov = o->nesterov_given = true;
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (strcmp(a, "--quiet") == 0) {
            o->quiet = true;
        } else if (strcmp(a, "--check-finite") == 0) {
            o->check_finite = true;
        } else if (draw_is_option(a)) {
            if (draw_parse(&o->draw, argc, argv, &i) != CLI_OK)
                return CLI_BAD_INPUT;
        } else if (opt_is(a, "--standardize") || opt_is(a, "--nesterov") ||
                   opt_is(a, "--json") || opt_is(a, "--quiet") || opt_is(a, "--help") ||
                   opt_is(a, "--check-finite")) {
            return cli_fail("option '%s' takes no value", cli_quote(a, strcspn(a, "="), q));
        } else if (!value_option(argc, argv, &i, o, &ok)) {
            return opt_unknown("train", a);
        }
        if (!ok)
            return CLI_BAD_INPUT;
    }
    if (o->test_split > 0 && o->test_data)
        return cli_fail("--test-split and --test-data both give test data: choose one");
    if (o->nesterov && o->opt != RG_OPTIM_SGD)
        return cli_fail("--nesterov applies to --opt sgd (with --momentum)");
    if (o->momentum_given && o->opt != RG_OPTIM_SGD)
        return cli_fail("--momentum applies to --opt sgd (adam and adamw have their own)");
    return -1;
}

void train_resolve_defaults(train_opts *o)
{
    rg_optim_opts d = rg_optim_defaults(o->opt);
    if (isnan(o->lr))
        o->lr = d.lr;
    if (isnan(o->momentum))
        o->momentum = o->opt == RG_OPTIM_SGD ? 0.0 : d.momentum;
    if (isnan(o->weight_decay))
        o->weight_decay = d.weight_decay;
}

/* ---- --resume ----------------------------------------------------------------------- */

static bool same_hidden(const net_arch *a, const net_arch *b)
{
    if (a->nhidden != b->nhidden)
        return false;
    for (int i = 0; i < a->nhidden; i++)
        if (a->hidden[i] != b->hidden[i])
            return false;
    return true;
}

int train_merge_resume(train_opts *o, const char *path, const rg_model *model,
                       const net_arch *arch)
{
    char want[128];
    net_arch_str(arch, want, sizeof want);
    if (o->hidden_given && !same_hidden(&o->arch, arch))
        return cli_fail("--hidden does not match %s, which is a %s network", path, want);
    if (o->act_given && o->arch.act != arch->act)
        return cli_fail("--act %s does not match %s, which uses %s",
                        rg_activation_name(o->arch.act), path, rg_activation_name(arch->act));
    if (o->loss_given && o->arch.loss != arch->loss)
        return cli_fail("--loss %s does not match %s, which was trained with %s",
                        net_loss_name(o->arch.loss), path, net_loss_name(arch->loss));
    if (o->standardize_given && model->nstats == 0)
        return cli_fail("--standardize: %s was trained on unstandardised data", path);
    o->arch = *arch;
    o->standardize = model->nstats > 0;
    if (model->has_opt) {
        int kind = rg_optim_from_name(model->opt_name);
        if (kind == RG_OPTIM_MOMENTUM)
            kind = RG_OPTIM_SGD;
        if (kind < 0)
            return cli_fail("%s: unknown optimiser '%s'", path, model->opt_name);
        if (o->opt_given && (int)o->opt != kind)
            return cli_fail("--opt %s: %s was trained with %s, whose state it holds; resume "
                            "with the same optimiser",
                            rg_optim_name(o->opt), path, model->opt_name);
        o->opt = (rg_optim_kind)kind;
    }
    train_settings s;
    if (!net_settings(model, &s))
        return CLI_OK;
    if (!o->seed_given)
        o->seed = (uint64_t)s.seed;
    if (!o->batch_given && s.batch >= 1 && s.batch <= MAX_BATCH)
        o->batch = (int64_t)s.batch;
    if (!o->lr_given)
        o->lr = s.lr;
    if (!o->momentum_given && o->opt == RG_OPTIM_SGD)
        o->momentum = s.momentum;
    if (!o->nesterov_given)
        o->nesterov = s.nesterov != 0;
    if (!o->wd_given)
        o->weight_decay = s.weight_decay;
    if (!o->clip_given)
        o->clip = s.clip;
    if (!o->schedule_given && s.schedule >= 0 && s.schedule <= RG_SCHEDULE_COSINE)
        o->schedule = (rg_schedule_kind)s.schedule;
    return CLI_OK;
}

/* ---- threads ------------------------------------------------------------------------ */

int train_set_threads(int64_t n)
{
    if (n <= 0)
        return 0;
    /* one pool for everything: the kernels (elementwise ops, the optimiser's update) and the
     * matrix products, split over it with the BLAS itself on one thread */
    if (rg_set_threads((int)n) != RG_OK)
        fprintf(stderr, "retrograd: note: --threads %lld: the kernels keep %d thread(s)\n",
                (long long)n, rg_get_threads());
    /* when the BLAS cannot be set, the run goes on with what it has: the request was for
     * speed, not results */
    if (rg_blas_set_threads(1) != RG_OK && n > 1)
        fprintf(stderr, "retrograd: note: --threads %lld does not reach the matrix products: %s\n",
                (long long)n, rg_blas_info());
    return rg_get_threads();
}

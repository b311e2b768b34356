/* server/cli.c — `quantd quantize`, `quantd inspect`, `quantd version`.
 *
 * The CLI runs the same plan, kernels and chunk executor as a daemon job,
 * on the core's pthread executor. Output is written to a temp file next to
 * OUT and renamed into place only when complete and fsynced (--no-sync:
 * complete, left to the page cache).
 */
#define _GNU_SOURCE /* getopt_long */
#include "server/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/ctq.h"
#include "core/formats/model.h"
#include "core/hf.h"
#include "core/job.h"
#include "core/plan.h"
#include "core/report.h"

#define MAX_OVERRIDES 256
#define MAX_IGNORE 256

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void human_bytes(uint64_t b, char *buf, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, len, u ? "%.2f %s" : "%.0f %s", v, units[u]);
}

/* Exit status of a core error: bad input or options -> 2, the rest -> 1. */
static int exit_code(int rc)
{
    switch (rc) {
    case QCORE_EINVAL: case QCORE_EFORMAT: case QCORE_EMALFORMED:
    case QCORE_EUNSUPPORTED: case QCORE_ELIMIT:
        return 2;
    default:
        return 1;
    }
}

static void print_error(const char *what, const struct qcore_error *e)
{
    if (e->offset != QCORE_NO_OFFSET && !strstr(e->msg, "offset"))
        fprintf(stderr, "quantd: %s: %s (at offset %" PRIu64 ")\n", what, e->msg, e->offset);
    else
        fprintf(stderr, "quantd: %s: %s\n", what, e->msg);
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_type(const char *s, int *out)
{
    enum qcore_type t;
    enum qcore_ct_scheme cs;
    if (qcore_ct_scheme_from_name(s, &cs) == 0) {
        *out = QCORE_OVERRIDE_CT(cs);
        return 0;
    }
    if (qcore_type_from_name(s, &t) != 0 || !qcore_type_traits(t)->quantizer) {
        fprintf(stderr, "quantd: unknown or unsupported tensor type '%s'\n", s);
        return -1;
    }
    *out = (int)t;
    return 0;
}

static void quantize_usage(FILE *f)
{
    fputs("usage: quantd quantize [options] IN OUT\n"
          "       quantd quantize [options] IN_DIR OUT_DIR\n"
          "\n"
          "Quantize the model IN (GGUF or safetensors, detected by content) into OUT\n"
          "(.gguf or .safetensors, chosen by extension), or a Hugging Face model folder\n"
          "(model.safetensors or shards + index, config.json, tokenizer files) into a\n"
          "folder with the same shard layout.\n"
          "\n"
          "  -t, --type SCHEME              Q4_K_M (default), Q4_K_S, Q5_K_M, Q5_K_S, Q3_K_S,\n"
          "                                 Q3_K_M, Q3_K_L, Q2_K, Q6_K, Q8_0, Q4_0, Q4_1, Q5_0,\n"
          "                                 Q5_1, IQ4_NL, F16, BF16, F32 (case-insensitive);\n"
          "                                 safetensors only, compressed-tensors layout:\n"
          "                                 int8 (W8A16), int4 (W4A16), int8-asym, int4-asym,\n"
          "                                 fp8 (docs/int-schemes.md)\n"
          "      --group-size N|channel     int schemes: scale group along the input dim\n"
          "                                 (default: 128 for int4, per channel for int8)\n"
          "      --ignore REGEX             int/fp8 schemes: keep matching tensors as they are\n"
          "                                 (repeatable; replaces the default list: lm_head,\n"
          "                                 embeddings)\n"
          "      --pure                     no k-quant mix: every eligible tensor gets the\n"
          "                                 scheme's base type\n"
          "      --tensor-type RE=TYPE      tensors whose name matches the regex RE get TYPE\n"
          "                                 or scheme (repeatable; first match wins)\n"
          "      --output-tensor-type TYPE  type of output.weight\n"
          "      --token-embedding-type TYPE type of token_embd.weight\n"
          "      --leave-output-tensor      keep output.weight unquantized\n"
          "  -j, --threads N                worker threads (default: CPUs)\n"
          "      --chunk-size BYTES         F32 input per work item (default 4 MiB)\n"
          "      --no-metrics               skip the error metrics\n"
          "      --no-sync                  do not fsync the output before renaming it into\n"
          "                                 place (faster; a crash soon after may leave OUT\n"
          "                                 empty)\n"
          "      --report FILE              write the JSON report to FILE ('-': stdout)\n"
          "  -n, --dry-run                  print the plan; write nothing\n"
          "  -q, --quiet                    no progress line or summary\n"
          "  -h, --help                     this text\n"
          "\n"
          "Exit status: 0 done, 1 failure (I/O...), 2 bad usage or bad input file.\n",
          f);
}

struct quantize_args {
    struct qcore_plan_opts opts;
    struct qcore_override overrides[MAX_OVERRIDES];
    const char *ignore[MAX_IGNORE];
    char *override_buf[MAX_OVERRIDES];
    const char *scheme;
    const char *in, *out, *report;
    long threads, chunk, group;
    bool dry_run, quiet, metrics, folder, no_sync;
};

static int parse_override(struct quantize_args *a, const char *arg)
{
    const char *eq = strrchr(arg, '=');
    if (!eq || eq == arg || !eq[1]) {
        fprintf(stderr, "quantd: --tensor-type wants REGEX=TYPE, got '%s'\n", arg);
        return -1;
    }
    if (a->opts.n_overrides >= MAX_OVERRIDES) {
        fprintf(stderr, "quantd: at most %d --tensor-type options\n", MAX_OVERRIDES);
        return -1;
    }
    size_t i = a->opts.n_overrides;
    int type;
    if (parse_type(eq + 1, &type) != 0)
        return -1;
    a->override_buf[i] = strndup(arg, (size_t)(eq - arg));
    if (!a->override_buf[i])
        return -1;
    a->overrides[i].pattern = a->override_buf[i];
    a->overrides[i].type = type;
    a->opts.n_overrides++;
    return 0;
}

/* Parse argv into a; returns -1 on a usage error (message printed), 1 for
 * --help, 0 otherwise. */
static int parse_quantize_args(int argc, char **argv, struct quantize_args *a)
{
    enum { O_PURE = 256, O_TT, O_OTT, O_TET, O_LEAVE, O_CHUNK, O_NOMET, O_NOSYNC, O_REPORT, O_GROUP,
           O_IGNORE };
    static const struct option longopts[] = {
        {"type", required_argument, NULL, 't'},
        {"pure", no_argument, NULL, O_PURE},
        {"tensor-type", required_argument, NULL, O_TT},
        {"output-tensor-type", required_argument, NULL, O_OTT},
        {"token-embedding-type", required_argument, NULL, O_TET},
        {"leave-output-tensor", no_argument, NULL, O_LEAVE},
        {"threads", required_argument, NULL, 'j'},
        {"chunk-size", required_argument, NULL, O_CHUNK},
        {"no-metrics", no_argument, NULL, O_NOMET},
        {"no-sync", no_argument, NULL, O_NOSYNC},
        {"report", required_argument, NULL, O_REPORT},
        {"group-size", required_argument, NULL, O_GROUP},
        {"ignore", required_argument, NULL, O_IGNORE},
        {"dry-run", no_argument, NULL, 'n'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    qcore_plan_opts_init(&a->opts);
    a->opts.overrides = a->overrides;
    a->threads = ncpu > 0 ? ncpu : 1;
    a->metrics = true;
    a->scheme = "Q4_K_M";
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "t:j:nqh", longopts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (qcore_ct_scheme_from_name(optarg, &a->opts.ct_scheme) == 0) {
                a->scheme = qcore_ct_scheme_name(a->opts.ct_scheme);
                break;
            }
            a->opts.ct_scheme = QCORE_CT_NONE;
            if (qcore_ftype_from_name(optarg, &a->opts.ftype) != 0) {
                fprintf(stderr, "quantd: unknown scheme '%s' (see quantd quantize --help)\n", optarg);
                return -1;
            }
            a->scheme = qcore_ftype_name(a->opts.ftype);
            break;
        case O_PURE: a->opts.pure = true; break;
        case O_TT:
            if (parse_override(a, optarg) != 0)
                return -1;
            break;
        case O_OTT:
            if (parse_type(optarg, &a->opts.output_tensor_type) != 0)
                return -1;
            break;
        case O_TET:
            if (parse_type(optarg, &a->opts.token_embedding_type) != 0)
                return -1;
            break;
        case O_LEAVE: a->opts.leave_output_tensor = true; break;
        case 'j':
            if (parse_int(optarg, 1, 1024, &a->threads) != 0) {
                fprintf(stderr, "quantd: --threads wants 1..1024, got '%s'\n", optarg);
                return -1;
            }
            break;
        case O_CHUNK:
            if (parse_int(optarg, 4096, 1L << 30, &a->chunk) != 0) {
                fprintf(stderr, "quantd: --chunk-size wants 4096..1073741824, got '%s'\n", optarg);
                return -1;
            }
            break;
        case O_GROUP:
            if (strcasecmp(optarg, "channel") == 0) {
                a->opts.group_size = QCORE_GROUP_CHANNEL;
            } else if (parse_int(optarg, 1, QCORE_CT_MAX_GROUP, &a->group) == 0) {
                a->opts.group_size = a->group;
            } else {
                fprintf(stderr, "quantd: --group-size wants 1..%d or 'channel', got '%s'\n",
                        QCORE_CT_MAX_GROUP, optarg);
                return -1;
            }
            break;
        case O_IGNORE:
            if (a->opts.n_ignore >= MAX_IGNORE) {
                fprintf(stderr, "quantd: at most %d --ignore options\n", MAX_IGNORE);
                return -1;
            }
            a->ignore[a->opts.n_ignore++] = optarg;
            a->opts.ignore = a->ignore;
            break;
        case O_NOMET: a->metrics = false; break;
        case O_NOSYNC: a->no_sync = true; break;
        case O_REPORT: a->report = optarg; break;
        case 'n': a->dry_run = true; break;
        case 'q': a->quiet = true; break;
        case 'h': return 1;
        default: return -1;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "quantd: quantize wants IN and OUT\n");
        return -1;
    }
    a->in = argv[optind];
    a->out = argv[optind + 1];
    if (a->opts.ct_scheme == QCORE_CT_NONE && (a->opts.group_size || a->opts.ignore)) {
        fprintf(stderr, "quantd: --group-size and --ignore apply to the int8, int4, int8-asym, "
                        "int4-asym and fp8 schemes\n");
        return -1;
    }
    if (qcore_hf_is_folder(a->in)) {
        a->folder = true;
        a->opts.out_format = QCORE_FORMAT_SAFETENSORS;
        return 0;
    }
    const char *dot = strrchr(a->out, '.');
    if (dot && strcasecmp(dot, ".gguf") == 0)
        a->opts.out_format = QCORE_FORMAT_GGUF;
    else if (dot && strcasecmp(dot, ".safetensors") == 0)
        a->opts.out_format = QCORE_FORMAT_SAFETENSORS;
    else {
        fprintf(stderr, "quantd: OUT must end in .gguf or .safetensors: '%s'\n", a->out);
        return -1;
    }
    return 0;
}

static void progress_line(const struct qcore_progress *p, void *ud)
{
    double t0 = *(const double *)ud;
    double dt = now_s() - t0;
    double pct = p->bytes_total ? 100.0 * (double)p->bytes_done / (double)p->bytes_total : 100.0;
    fprintf(stderr, "\r[%5.1f%%] %" PRIu64 "/%" PRIu64 " tensors  %.0f MB/s ", pct,
            p->tensors_done, p->tensors_total, dt > 0 ? (double)p->bytes_done / 1e6 / dt : 0.0);
    fflush(stderr);
}

/* A tensor's target as shown: the type, or the compressed-tensors label. */
static const char *dst_name(const struct qcore_plan_tensor *t)
{
    return t->ct ? t->ct->label : qcore_type_traits(t->dst_type)->name;
}

/* "4096x256" (outermost first) for a tensor's ggml-ordered dims. */
static void format_shape(char *buf, size_t len, uint32_t n_dims, const int64_t *ne)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int d = (int)n_dims - 1; d >= 0 && off < len; d--)
        off += (size_t)snprintf(buf + off, len - off, "%s%" PRId64,
                                d == (int)n_dims - 1 ? "" : "x", ne[d]);
}

static void print_plan(FILE *f, const struct qcore_plan *p)
{
    char a[32], b[32];
    bool ct = p->opts.ct_scheme != QCORE_CT_NONE;
    fprintf(f, "%-48s %-6s %-*s %-22s %12s\n", "tensor", "from", ct ? 14 : 6, "to", "shape",
            "size");
    for (size_t i = 0; i < p->n; i++) {
        const struct qcore_plan_tensor *t = &p->t[i];
        char shape[64];
        format_shape(shape, sizeof shape, t->n_dims, t->ne);
        human_bytes(t->dst_bytes, a, sizeof a);
        fprintf(f, "%-48s %-6s %-*s %-22s %12s%s%s\n", t->name,
                qcore_type_traits(t->src_type)->name, ct ? 14 : 6, dst_name(t), shape, a,
                t->note[0] ? "  " : "", t->note);
    }
    human_bytes(p->src_bytes, a, sizeof a);
    human_bytes(p->out_size, b, sizeof b);
    fprintf(f, "total: %zu tensors (%zu quantized, %zu fallbacks), tensors %s -> file %s\n", p->n,
            p->n_quantized, p->n_fallbacks, a, b);
}

static void print_summary(FILE *f, const struct qcore_job *job, double secs)
{
    const struct qcore_plan *p = qcore_job_plan(job);
    char a[32], b[32];
    int64_t params = 0;
    double worst = INFINITY;
    const char *worst_name = NULL;
    const char *worst_type = NULL;
    for (size_t i = 0; i < p->n; i++) {
        const struct qcore_tensor_metrics *m = qcore_job_metrics(job, i);
        params += p->t[i].numel;
        if (m->has_error_metrics && !isnan(m->sqnr_db) && m->sqnr_db < worst) {
            worst = m->sqnr_db;
            worst_name = p->t[i].name;
            worst_type = dst_name(&p->t[i]);
        }
    }
    human_bytes(p->model->file_size, a, sizeof a);
    human_bytes(p->out_size, b, sizeof b);
    fprintf(f, "tensors     %zu (%zu quantized, %zu fallbacks)\n", p->n, p->n_quantized,
            p->n_fallbacks);
    fprintf(f, "size        %s -> %s (%.2fx), %.3f bits per weight\n", a, b,
            p->out_size ? (double)p->model->file_size / (double)p->out_size : 0.0,
            params ? (double)p->dst_bytes * 8.0 / (double)params : 0.0);
    if (worst_name)
        fprintf(f, "worst SQNR  %.2f dB  %s (%s)\n", worst, worst_name, worst_type);
    fprintf(f, "time        %.2f s (%.0f MB/s)\n", secs,
            secs > 0 ? (double)p->src_bytes / 1e6 / secs : 0.0);
}

static int write_report(const char *path, json_t *rep)
{
    int rc;
    if (strcmp(path, "-") == 0) {
        rc = json_dumpf(rep, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    } else {
        rc = json_dump_file(rep, path, JSON_INDENT(2));
    }
    if (rc != 0)
        fprintf(stderr, "quantd: cannot write the report to '%s'\n", path);
    return rc;
}

/* Same file (inode) as IN? Writing over the input would destroy it mid-read. */
static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

static int run_quantize(struct quantize_args *a)
{
    struct qcore_error err = {0};
    struct qcore_model *m = NULL;
    struct qcore_plan *plan = NULL;
    struct qcore_job *job = NULL;
    char *tmp = NULL;
    int fd = -1, status = 1, rc;
    double t0 = now_s();

    rc = qcore_model_open(a->in, &m, &err);
    if (rc != 0) {
        print_error(a->in, &err);
        return exit_code(rc);
    }
    rc = qcore_plan_build(m, &a->opts, &plan, &err);
    if (rc != 0) {
        print_error("plan", &err);
        status = exit_code(rc);
        goto out;
    }
    if (a->dry_run) {
        print_plan(stdout, plan);
        if (a->report) {
            json_t *pj = qcore_plan_json(plan, a->scheme);
            status = pj && write_report(a->report, pj) == 0 ? 0 : 1;
            json_decref(pj);
        } else {
            status = 0;
        }
        goto out;
    }
    if (same_file(a->in, a->out)) {
        fprintf(stderr, "quantd: IN and OUT are the same file\n");
        status = 2;
        goto out;
    }
    size_t tlen = strlen(a->out) + 16;
    tmp = malloc(tlen);
    if (!tmp)
        goto out;
    snprintf(tmp, tlen, "%s.tmp.XXXXXX", a->out);
    fd = mkstemp(tmp);
    if (fd < 0) {
        fprintf(stderr, "quantd: cannot create '%s': %s\n", tmp, strerror(errno));
        goto out;
    }
    struct qcore_job_opts jo = {.chunk_bytes = (size_t)a->chunk, .metrics = a->metrics,
                                .no_sync = a->no_sync};
    rc = qcore_job_create(plan, fd, &jo, &job, &err);
    if (rc == 0) {
        bool tty = !a->quiet && isatty(STDERR_FILENO);
        rc = qcore_exec_run(job, (int)a->threads, tty ? progress_line : NULL, &t0, &err);
        if (tty)
            fputc('\n', stderr);
    }
    if (rc != 0) {
        print_error("quantize", &err);
        status = exit_code(rc);
        goto out;
    }
    if (fchmod(fd, 0644) != 0 || rename(tmp, a->out) != 0) {
        fprintf(stderr, "quantd: cannot move the output into place: %s\n", strerror(errno));
        goto out;
    }
    free(tmp);
    tmp = NULL;
    double secs = now_s() - t0;
    status = 0;
    if (a->report) {
        struct qcore_report_times times = {0.0, secs};
        json_t *rep = qcore_report_json(job, a->scheme, &times);
        if (!rep || write_report(a->report, rep) != 0)
            status = 1;
        json_decref(rep);
    }
    if (!a->quiet)
        print_summary(a->report && strcmp(a->report, "-") == 0 ? stderr : stdout, job, secs);
out:
    if (tmp) {
        if (fd >= 0)
            unlink(tmp);
        free(tmp);
    }
    if (fd >= 0)
        close(fd);
    qcore_job_destroy(job);
    qcore_plan_destroy(plan);
    qcore_model_close(m);
    return status;
}

/* ---- Hugging Face folders --------------------------------------------- */

/* OUT_DIR: created when missing; never the input folder. */
static int prepare_out_dir(const char *in, const char *out)
{
    struct stat si, so;
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "quantd: cannot create '%s': %s\n", out, strerror(errno));
        return 1;
    }
    if (stat(out, &so) != 0 || !S_ISDIR(so.st_mode)) {
        fprintf(stderr, "quantd: OUT must be a folder when IN is one: '%s'\n", out);
        return 2;
    }
    if (stat(in, &si) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino) {
        fprintf(stderr, "quantd: IN and OUT are the same folder\n");
        return 2;
    }
    return 0;
}

/* Quantize one shard into out_dir/name through a temp file. */
static int run_shard(const struct quantize_args *a, const struct qcore_plan *plan,
                     const char *name, struct qcore_job **job, double *t0)
{
    struct qcore_error err = {0};
    size_t len = strlen(a->out) + strlen(name) + 20;
    char *tmp = malloc(len), *dst = malloc(len);
    int fd = -1, status = 1, rc;
    if (!tmp || !dst)
        goto out;
    snprintf(dst, len, "%s/%s", a->out, name);
    snprintf(tmp, len, "%s.tmp.XXXXXX", dst);
    fd = mkstemp(tmp);
    if (fd < 0) {
        fprintf(stderr, "quantd: cannot create '%s': %s\n", tmp, strerror(errno));
        goto out;
    }
    struct qcore_job_opts jo = {.chunk_bytes = (size_t)a->chunk, .metrics = a->metrics,
                                .no_sync = a->no_sync};
    rc = qcore_job_create(plan, fd, &jo, job, &err);
    if (rc == 0) {
        bool tty = !a->quiet && isatty(STDERR_FILENO);
        rc = qcore_exec_run(*job, (int)a->threads, tty ? progress_line : NULL, t0, &err);
        if (tty)
            fputc('\n', stderr);
    }
    if (rc != 0) {
        print_error(name, &err);
        status = exit_code(rc);
    } else if (fchmod(fd, 0644) != 0 || rename(tmp, dst) != 0) {
        fprintf(stderr, "quantd: cannot move '%s' into place: %s\n", dst, strerror(errno));
    } else {
        status = 0;
    }
out:
    if (fd >= 0) {
        if (status != 0)
            unlink(tmp);
        close(fd);
    }
    free(tmp);
    free(dst);
    return status;
}

static void print_folder_summary(FILE *f, const json_t *rep, size_t n_files, double secs)
{
    const json_t *to = json_object_get(rep, "totals"), *w = json_array_get(json_object_get(rep, "worst"), 0);
    char a[32], b[32];
    human_bytes((uint64_t)json_integer_value(json_object_get(to, "file_bytes_in")), a, sizeof a);
    human_bytes((uint64_t)json_integer_value(json_object_get(to, "file_bytes_out")), b, sizeof b);
    fprintf(f, "files       %zu safetensors shard(s)\n", n_files);
    fprintf(f, "tensors     %" JSON_INTEGER_FORMAT " (%" JSON_INTEGER_FORMAT " quantized, %"
            JSON_INTEGER_FORMAT " fallbacks)\n",
            json_integer_value(json_object_get(to, "tensors")),
            json_integer_value(json_object_get(to, "tensors_quantized")),
            json_integer_value(json_object_get(to, "fallbacks")));
    fprintf(f, "size        %s -> %s, %.3f bits per weight\n", a, b,
            json_number_value(json_object_get(to, "bpw")));
    if (json_is_number(json_object_get(to, "sqnr_db")))
        fprintf(f, "SQNR        %.2f dB overall\n", json_number_value(json_object_get(to, "sqnr_db")));
    if (w)
        fprintf(f, "worst SQNR  %.2f dB  %s (%s)\n", json_number_value(json_object_get(w, "sqnr_db")),
                json_string_value(json_object_get(w, "name")),
                json_string_value(json_object_get(w, "dst_type")));
    fprintf(f, "time        %.2f s\n", secs);
}

static int folder_dry_run(const struct quantize_args *a, const struct qcore_hf_folder *f,
                          struct qcore_plan *const *plans)
{
    json_t *files = a->report ? json_array() : NULL;
    for (size_t i = 0; i < f->n_shards; i++) {
        printf("== %s\n", f->shard[i]);
        print_plan(stdout, plans[i]);
        if (files)
            json_array_append_new(files, json_pack("{s:s, s:o}", "name", f->shard[i], "plan",
                                                   qcore_plan_json(plans[i], a->scheme)));
    }
    int status = 0;
    if (files) {
        json_t *pj = json_pack("{s:b, s:o}", "dry_run", 1, "files", files);
        status = pj && write_report(a->report, pj) == 0 ? 0 : 1;
        json_decref(pj);
    }
    return status;
}

static int write_folder_report(const struct quantize_args *a, const struct qcore_hf_folder *f,
                               struct qcore_job **jobs, double secs)
{
    struct qcore_report_times times = {0.0, secs};
    json_t *rep = qcore_report_files_json((const struct qcore_job *const *)jobs,
                                          (const char *const *)f->shard, f->n_shards, a->scheme,
                                          &times);
    int status = rep ? 0 : 1;
    if (rep && a->report && write_report(a->report, rep) != 0)
        status = 1;
    if (rep && !a->quiet)
        print_folder_summary(a->report && strcmp(a->report, "-") == 0 ? stderr : stdout, rep,
                             f->n_shards, secs);
    json_decref(rep);
    return status;
}

static int run_folder(struct quantize_args *a)
{
    struct qcore_error err = {0};
    struct qcore_hf_folder *f = NULL;
    struct qcore_plan **plans = NULL;
    struct qcore_job **jobs = NULL;
    double t0 = now_s();
    int status, rc = qcore_hf_open(a->in, &f, &err);
    if (rc == 0)
        rc = qcore_hf_plan(f, &a->opts, &plans, &err);
    if (rc != 0) {
        print_error(a->in, &err);
        status = exit_code(rc);
        goto out;
    }
    if (a->dry_run) {
        status = folder_dry_run(a, f, plans);
        goto out;
    }
    status = prepare_out_dir(a->in, a->out);
    jobs = calloc(f->n_shards, sizeof *jobs);
    if (!jobs)
        status = 1;
    for (size_t i = 0; status == 0 && i < f->n_shards; i++)
        status = run_shard(a, plans[i], f->shard[i], &jobs[i], &t0);
    if (status == 0 && (rc = qcore_hf_write_meta(f, plans, a->out, &err)) != 0) {
        print_error(a->out, &err);
        status = exit_code(rc);
    }
    if (status == 0)
        status = write_folder_report(a, f, jobs, now_s() - t0);
out:
    for (size_t i = 0; jobs && i < f->n_shards; i++)
        qcore_job_destroy(jobs[i]);
    free(jobs);
    qcore_hf_plans_destroy(plans, f ? f->n_shards : 0);
    qcore_hf_close(f);
    return status;
}

int qd_cli_quantize(int argc, char **argv)
{
    struct quantize_args a;
    memset(&a, 0, sizeof a);
    int rc = parse_quantize_args(argc, argv, &a);
    int status;
    if (rc != 0) {
        if (rc > 0)
            quantize_usage(stdout);
        else
            fputs("usage: quantd quantize [options] IN OUT (quantd quantize --help)\n", stderr);
        status = rc > 0 ? 0 : 2;
    } else {
        status = a.folder ? run_folder(&a) : run_quantize(&a);
    }
    for (size_t i = 0; i < a.opts.n_overrides; i++)
        free(a.override_buf[i]);
    return status;
}

/* ---- inspect ---------------------------------------------------------- */

static const char *const vtype_names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                          "bool", "str", "arr", "u64", "i64", "f64"};

static void print_scalar(FILE *f, uint32_t vt, const uint8_t *p)
{
    uint64_t u = 0;
    switch (vt) {
    case QCORE_GGUF_U8: fprintf(f, "%u", p[0]); break;
    case QCORE_GGUF_I8: fprintf(f, "%d", (int8_t)p[0]); break;
    case QCORE_GGUF_BOOL: fputs(p[0] ? "true" : "false", f); break;
    case QCORE_GGUF_U16: case QCORE_GGUF_I16:
        u = (uint64_t)p[0] | (uint64_t)p[1] << 8;
        if (vt == QCORE_GGUF_U16)
            fprintf(f, "%u", (unsigned)u);
        else
            fprintf(f, "%d", (int)(int16_t)u);
        break;
    case QCORE_GGUF_U32: case QCORE_GGUF_I32: case QCORE_GGUF_F32: {
        uint32_t w = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        float fl;
        memcpy(&fl, &w, 4);
        if (vt == QCORE_GGUF_U32) fprintf(f, "%" PRIu32, w);
        else if (vt == QCORE_GGUF_I32) fprintf(f, "%" PRId32, (int32_t)w);
        else fprintf(f, "%g", (double)fl);
        break;
    }
    default: {
        for (int i = 7; i >= 0; i--)
            u = u << 8 | p[i];
        double d;
        memcpy(&d, &u, 8);
        if (vt == QCORE_GGUF_U64) fprintf(f, "%" PRIu64, u);
        else if (vt == QCORE_GGUF_I64) fprintf(f, "%" PRId64, (int64_t)u);
        else fprintf(f, "%g", d);
    }
    }
}

static void print_kv(FILE *f, const struct qcore_kv *kv)
{
    const char *s;
    size_t len;
    fprintf(f, "  %-44s %-4s ", kv->key, kv->vtype < 13 ? vtype_names[kv->vtype] : "?");
    if (kv->vtype == QCORE_GGUF_STRING && qcore_kv_get_str(kv, &s, &len) == 0) {
        fputc('"', f);
        for (size_t i = 0; i < len && i < 60; i++)
            fputc(s[i] == '\n' ? ' ' : s[i], f);
        fputs(len > 60 ? "...\"" : "\"", f);
    } else if (kv->vtype == QCORE_GGUF_ARRAY) {
        fprintf(f, "[%s x %" PRIu64 "]", kv->arr_type < 13 ? vtype_names[kv->arr_type] : "?",
                kv->arr_len);
    } else {
        print_scalar(f, kv->vtype, kv->raw);
    }
    fputc('\n', f);
}

static int print_cpu(void)
{
    static const char *const isas[] = {"scalar", "avx2", "avx512", "neon"};
    const char *env = getenv("QUANTD_ISA");
    printf("isa: %s%s%s%s\n", qcore_kernels_get()->isa, env ? " (QUANTD_ISA=" : "",
           env ? env : "", env ? ")" : "");
    printf("supported here:");
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++)
        if (qcore_kernels_by_isa(isas[i]))
            printf(" %s", isas[i]);
    printf("\n");
    return 0;
}

int qd_cli_inspect(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--cpu") == 0)
        return print_cpu();
    if (argc != 2 || argv[1][0] == '-') {
        fputs("usage: quantd inspect FILE | quantd inspect --cpu\n", argc == 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
        return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    struct qcore_error err = {0};
    struct qcore_model *m = NULL;
    int rc = qcore_model_open(argv[1], &m, &err);
    if (rc != 0) {
        print_error(argv[1], &err);
        return exit_code(rc);
    }
    char a[32];
    human_bytes(m->file_size, a, sizeof a);
    if (m->format == QCORE_FORMAT_GGUF)
        printf("format: GGUF v%u, alignment %u, %zu KVs, %zu tensors, %s\n", m->version,
               m->alignment, m->n_kv, m->n_tensors, a);
    else
        printf("format: safetensors, %zu tensors, %s\n", m->n_tensors, a);
    if (m->n_kv) {
        printf("metadata:\n");
        for (size_t i = 0; i < m->n_kv; i++)
            print_kv(stdout, &m->kv[i]);
    }
    if (m->st_metadata)
        printf("metadata: %s\n", m->st_metadata);
    printf("tensors:\n");
    for (size_t i = 0; i < m->n_tensors; i++) {
        const struct qcore_tensor *t = &m->tensors[i];
        char shape[96];
        format_shape(shape, sizeof shape, t->n_dims, t->ne);
        human_bytes(t->nbytes, a, sizeof a);
        printf("  %-48s %-8s %-22s %12s  @%" PRIu64 "\n", t->name, qcore_type_traits(t->type)->name,
               shape, a, t->offset);
    }
    qcore_model_close(m);
    return 0;
}

int qd_cli_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("quantd %s (isa: %s)\n", QD_VERSION, qcore_kernels_get()->isa);
    return 0;
}

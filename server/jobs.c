/* server/jobs.c — queue, state machine, pool executor, persistence. */
#include "server/jobs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/route.h"
#include "config/limits.h"
#include "core/hf.h"
#include "core/job.h"
#include "core/plan.h"
#include "core/report.h"
#include "server/log.h"

#define JOB_FILE "job.json"
#define REPORT_FILE "report.json"
#define ART_TMP ".artifact.tmp"
#define OUT_DIR "out"          /* a folder job's artifacts */
#define OUT_TMP ".out.tmp"     /* ... while it runs */
#define MAX_JOB_JSON (64u << 20) /* job.json holds a report summary: small */

enum run_phase { PH_PREPARE, PH_CHUNKS, PH_FINISH };

/* What a running job owns. A single-file job has one core job; a folder job
 * (a Hugging Face model folder) has one per shard, run one after the other:
 * the finish item of shard i finishes it and creates shard i + 1's. Pool
 * items write `qjs[]` and the model/plan fields; the loop thread reads only
 * `qj` (the current core job, for progress), which it alone sets, in the
 * after-work callbacks. Only the loop thread changes the counters. */
struct run {
    enum run_phase phase;
    struct qcore_model *model;
    struct qcore_plan *plan;    /* the current plan (owned unless `plans`) */
    struct qcore_job *qj;       /* the current core job (owned by qjs[]) */
    struct qcore_job **qjs;     /* one per output file */
    size_t n_files, file;       /* file = index of the current one */
    struct qcore_hf_folder *hf; /* folder jobs */
    struct qcore_plan **plans;  /* folder jobs: one per shard */
    struct qcore_progress base; /* folder jobs: shards already finished */
    uint64_t tensors_all, bytes_all;
    int out_fd;
    size_t n_chunks, next, inflight, done;
    int rc;                     /* first failure (QCORE_E*) or 0 */
    struct qcore_error err;
    struct qcore_override *ovr; /* overrides handed to the plan */
    size_t n_ovr;
    char **ovr_pat;             /* owned patterns of ignore expansion */
    size_t n_ovr_pat;
    double t_start;
    /* results of the finish phase */
    json_t *summary;
    struct qd_artifact *arts;
    size_t n_arts;
};

struct qd_job {
    struct qd_jobs *js;
    char id[QD_JOB_ID_LEN + 1];
    enum qd_job_state state;
    double created, started, finished;
    struct qd_spec spec;
    json_t *request;
    struct qd_job_input in;
    char artifact[QD_MAX_NAME_LEN + 1]; /* the planned name (single-file jobs) */
    struct qd_artifact *arts;           /* the results, when succeeded */
    size_t n_arts;
    char err_type[40];
    char err_detail[QCORE_ERRMSG_MAX + 64];
    json_t *summary;
    struct qcore_progress prog; /* last known progress */
    uint64_t version;
    struct run *run;
    bool deleted, interrupt;
};

struct work {
    uv_work_t req;
    struct qd_job *j;
    struct qcore_job *qj;       /* chunk items: the core job of the chunk */
    size_t chunk;
    int rc;
    struct qcore_error err;
};

struct qd_jobs {
    struct qd_jobs_opts o;
    struct qd_job **all; /* creation order */
    size_t n_all, cap_all;
    struct qd_job **queue; /* FIFO */
    size_t n_queue, cap_queue;
    struct qd_job **running;
    size_t n_running;
    size_t inflight; /* work items on the pool, all jobs */
    size_t rr;
    bool draining;
    double avg_run_s;
};

double qd_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int grow(void *arr, size_t *cap, size_t need)
{
    void **p = arr;
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    void *np = realloc(*p, ncap * sizeof(void *));
    if (!np)
        return -ENOMEM;
    *p = np;
    *cap = ncap;
    return 0;
}

static void remove_ptr(struct qd_job **arr, size_t *n, const struct qd_job *j)
{
    for (size_t i = 0; i < *n; i++) {
        if (arr[i] == j) {
            memmove(&arr[i], &arr[i + 1], (*n - i - 1) * sizeof *arr);
            (*n)--;
            return;
        }
    }
}

static int job_dir(const struct qd_job *j, char *buf, size_t len)
{
    return qd_spool_path(buf, len, "%s/jobs/%s", j->js->o.spool->root, j->id);
}

const char *qd_job_state_name(enum qd_job_state s)
{
    static const char *const n[] = {"queued", "running", "succeeded", "failed", "canceled"};
    return (unsigned)s < 5 ? n[s] : "unknown";
}

static int state_from_name(const char *s)
{
    for (int i = 0; i < 5; i++)
        if (strcmp(qd_job_state_name((enum qd_job_state)i), s) == 0)
            return i;
    return -1;
}

int qd_jobs_new_id(char id[QD_JOB_ID_LEN + 1])
{
    unsigned char r[8];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        return -EIO;
    static const char hex[] = "0123456789abcdef";
    id[0] = 'j';
    for (size_t i = 0; i < 8; i++) {
        id[1 + 2 * i] = hex[r[i] >> 4];
        id[2 + 2 * i] = hex[r[i] & 15];
    }
    id[QD_JOB_ID_LEN] = '\0';
    return 0;
}

/* ---- persistence ---------------------------------------------------- */

static json_t *job_to_json(const struct qd_job *j)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "id", json_string(j->id));
    json_object_set_new(o, "state", json_string(qd_job_state_name(j->state)));
    json_object_set_new(o, "created", json_real(j->created));
    json_object_set_new(o, "started", json_real(j->started));
    json_object_set_new(o, "finished", json_real(j->finished));
    json_object_set_new(o, "request", json_incref(j->request));
    json_object_set_new(o, "input", json_pack("{s:s, s:s, s:I, s:b, s:b}", "path",
                                              j->in.rel_path, "sha256", j->in.sha256, "size",
                                              (json_int_t)j->in.size, "owned", j->in.owned,
                                              "folder", j->in.folder));
    json_object_set_new(o, "artifact", json_pack("{s:s}", "name", j->artifact));
    json_t *arts = json_array();
    for (size_t i = 0; i < j->n_arts; i++)
        json_array_append_new(arts, json_pack("{s:s, s:I, s:s}", "name", j->arts[i].name, "size",
                                              (json_int_t)j->arts[i].size, "sha256",
                                              j->arts[i].sha256));
    json_object_set_new(o, "artifacts", arts);
    json_object_set_new(o, "error", j->err_type[0] ? json_pack("{s:s, s:s}", "type", j->err_type,
                                                               "detail", j->err_detail)
                                                   : json_null());
    json_object_set_new(o, "summary", j->summary ? json_incref(j->summary) : json_null());
    json_object_set_new(o, "progress",
                        json_pack("{s:I, s:I, s:I, s:I}", "tensors_done",
                                  (json_int_t)j->prog.tensors_done, "tensors_total",
                                  (json_int_t)j->prog.tensors_total, "bytes_done",
                                  (json_int_t)j->prog.bytes_done, "bytes_total",
                                  (json_int_t)j->prog.bytes_total));
    return o;
}

static int persist(struct qd_job *j)
{
    char dir[QD_PATH_MAX];
    if (job_dir(j, dir, sizeof dir) != 0)
        return -ENAMETOOLONG;
    json_t *o = job_to_json(j);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text)
        return -ENOMEM;
    int rc = qd_spool_write_atomic(dir, JOB_FILE, text, strlen(text));
    free(text);
    if (rc != 0)
        QD_LOGF(QD_LOG_ERROR, "job %s: cannot persist state: %s", j->id, strerror(-rc));
    return rc;
}

static void changed(struct qd_job *j)
{
    j->version++;
    if (j->js->o.on_change)
        j->js->o.on_change(j->id, j->js->o.ud);
}

/* ---- lifecycle ------------------------------------------------------ */

static void run_free(struct run *r)
{
    if (!r)
        return;
    for (size_t i = 0; r->qjs && i < r->n_files; i++)
        qcore_job_destroy(r->qjs[i]);
    free(r->qjs);
    if (r->plans)
        qcore_hf_plans_destroy(r->plans, r->hf ? r->hf->n_shards : 0);
    else
        qcore_plan_destroy(r->plan);
    qcore_hf_close(r->hf);
    qcore_model_close(r->model);
    if (r->out_fd >= 0)
        close(r->out_fd);
    free(r->arts);
    for (size_t i = 0; i < r->n_ovr_pat; i++)
        free(r->ovr_pat[i]);
    free(r->ovr_pat);
    free(r->ovr);
    json_decref(r->summary);
    free(r);
}

static void job_free(struct qd_job *j)
{
    if (!j)
        return;
    run_free(j->run);
    qd_spec_cleanup(&j->spec);
    json_decref(j->request);
    json_decref(j->summary);
    free(j->arts);
    free(j);
}

/* Progress of a job: over all its files for a folder. */
static void run_progress(const struct qd_job *j, struct qcore_progress *p)
{
    const struct run *r = j->run;
    *p = j->prog;
    if (!r || !r->qj)
        return;
    qcore_job_progress(r->qj, p);
    if (r->hf) {
        p->chunks_done += r->base.chunks_done;
        p->chunks_total += r->base.chunks_done;
        p->tensors_done += r->base.tensors_done;
        p->bytes_done += r->base.bytes_done;
        p->tensors_total = r->tensors_all;
        p->bytes_total = r->bytes_all;
    }
}

static void pump(struct qd_jobs *js);

static void set_error(struct qd_job *j, enum qd_problem p, const char *detail)
{
    snprintf(j->err_type, sizeof j->err_type, "%s", qd_problem_type(p));
    snprintf(j->err_detail, sizeof j->err_detail, "%s", detail ? detail : "");
}

/* A running job reached its end (success handled in finish_done). */
static void end_run(struct qd_job *j, enum qd_job_state st)
{
    struct qd_jobs *js = j->js;
    struct run *r = j->run;
    char tmp[QD_PATH_MAX], jd[QD_PATH_MAX];
    if (r && r->qj)
        run_progress(j, &j->prog);
    double run_s = r ? qd_now() - r->t_start : 0;
    run_free(r);
    j->run = NULL;
    remove_ptr(js->running, &js->n_running, j);
    if (st != QD_JOB_SUCCEEDED && job_dir(j, jd, sizeof jd) == 0) {
        if (qd_spool_path(tmp, sizeof tmp, "%s/%s", jd, ART_TMP) == 0)
            unlink(tmp);
        if (qd_spool_path(tmp, sizeof tmp, "%s/%s", jd, OUT_TMP) == 0)
            qd_spool_remove(tmp);
    }
    if (j->deleted) {
        char dir[QD_PATH_MAX];
        if (job_dir(j, dir, sizeof dir) == 0)
            qd_spool_remove(dir);
        QD_LOGF(QD_LOG_INFO, "job %s: deleted", j->id);
        job_free(j);
        pump(js);
        return;
    }
    if (j->interrupt && st == QD_JOB_CANCELED) {
        /* Checkpoint on drain: back to the queue, run again after restart. */
        j->state = QD_JOB_QUEUED;
        j->started = 0;
        j->interrupt = false;
        memset(&j->prog, 0, sizeof j->prog);
        persist(j);
        if (grow(&js->queue, &js->cap_queue, js->n_queue + 1) == 0) {
            memmove(&js->queue[1], &js->queue[0], js->n_queue * sizeof *js->queue);
            js->queue[0] = j;
            js->n_queue++;
        }
        QD_LOGF(QD_LOG_INFO, "job %s: interrupted by drain, re-queued", j->id);
        changed(j);
        pump(js);
        return;
    }
    j->state = st;
    j->finished = qd_now();
    int prc = persist(j);
    if (prc != 0 && st == QD_JOB_SUCCEEDED) {
        /* A success that is not on disk must not be announced: a restart
         * would not know it. job.json still says running (a restart runs
         * the job again) unless this second write gets through. */
        st = j->state = QD_JOB_FAILED;
        char why[96];
        snprintf(why, sizeof why, "cannot record the job's state: %s", strerror(-prc));
        set_error(j, prc == -ENOSPC ? QD_P_INSUFFICIENT_STORAGE : QD_P_INTERNAL, why);
        persist(j);
    }
    if (st == QD_JOB_SUCCEEDED)
        js->avg_run_s = js->avg_run_s > 0 ? 0.8 * js->avg_run_s + 0.2 * run_s : run_s;
    if (js->o.metrics)
        qd_metrics_job_finished(js->o.metrics, j->spec.scheme, qd_job_state_name(st), run_s);
    qd_log_json(st == QD_JOB_FAILED ? QD_LOG_WARN : QD_LOG_INFO, "job finished",
                json_pack("{s:s, s:s, s:s, s:f, s:s}", "job", j->id, "state",
                          qd_job_state_name(st), "scheme", j->spec.scheme, "run_s", run_s,
                          "error", j->err_detail));
    changed(j);
    pump(js);
}

static void fail_run(struct qd_job *j, int code, const char *msg)
{
    set_error(j, qd_problem_from_qcore(code), msg);
    end_run(j, QD_JOB_FAILED);
}

/* ---- prepare (pool) --------------------------------------------------- */

static int add_pattern(struct run *r, char *pat, int type)
{
    r->ovr_pat[r->n_ovr_pat++] = pat;
    r->ovr[r->n_ovr].pattern = pat;
    r->ovr[r->n_ovr].type = type;
    r->n_ovr++;
    return 0;
}

/* "^name$" with ERE metacharacters escaped. */
static char *anchored(const char *name)
{
    size_t n = strlen(name);
    char *p = malloc(2 * n + 3);
    if (!p)
        return NULL;
    size_t k = 0;
    p[k++] = '^';
    for (size_t i = 0; i < n; i++) {
        if (strchr(".[]()*+?{}|^$\\", name[i]))
            p[k++] = '\\';
        p[k++] = name[i];
    }
    p[k++] = '$';
    p[k] = '\0';
    return p;
}

/* Ignore patterns become exact-name overrides to each matching tensor's own
 * type (so they are copied), ahead of the user's overrides. */
static int build_overrides(const struct qd_spec *s, struct run *r, struct qcore_error *err)
{
    const struct qcore_model *m = r->model;
    size_t n_ign = 0;
    if (s->ct_scheme != QCORE_CT_NONE || !m) {
        /* compressed-tensors schemes and folders: the plan applies `ignore`
         * itself (and names it in quantization_config), as for the CLI */
        size_t max = s->n_overrides;
        r->ovr = calloc(max ? max : 1, sizeof *r->ovr);
        r->ovr_pat = calloc(max ? max : 1, sizeof *r->ovr_pat);
        if (!r->ovr || !r->ovr_pat)
            return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
        for (size_t i = 0; i < s->n_overrides; i++) {
            char *p = strdup(s->overrides[i].pattern);
            if (!p)
                return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
            add_pattern(r, p, s->overrides[i].type);
        }
        return 0;
    }
    regex_t *res = calloc(s->n_ignore ? s->n_ignore : 1, sizeof *res);
    if (!res)
        return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < s->n_ignore; i++, n_ign++)
        if (regcomp(&res[i], s->ignore[i], REG_EXTENDED | REG_NOSUB) != 0) {
            rc = qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET, "bad ignore regex");
            goto out;
        }
    size_t max = m->n_tensors + s->n_overrides;
    r->ovr = calloc(max ? max : 1, sizeof *r->ovr);
    r->ovr_pat = calloc(max ? max : 1, sizeof *r->ovr_pat);
    if (!r->ovr || !r->ovr_pat) {
        rc = qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
        goto out;
    }
    for (size_t t = 0; t < m->n_tensors && s->n_ignore; t++) {
        bool hit = false;
        for (size_t i = 0; i < s->n_ignore && !hit; i++)
            hit = regexec(&res[i], m->tensors[t].name, 0, NULL, 0) == 0;
        if (!hit)
            continue;
        char *p = anchored(m->tensors[t].name);
        if (!p) {
            rc = qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
            goto out;
        }
        add_pattern(r, p, m->tensors[t].type);
    }
    for (size_t i = 0; i < s->n_overrides; i++) {
        char *p = strdup(s->overrides[i].pattern);
        if (!p) {
            rc = qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
            goto out;
        }
        add_pattern(r, p, s->overrides[i].type);
    }
out:
    for (size_t i = 0; i < n_ign; i++)
        regfree(&res[i]);
    free(res);
    return rc;
}

/* The plan options of a job, as `quantd quantize` sets them from its flags. */
static void plan_opts(const struct qd_job *j, const struct run *r, struct qcore_plan_opts *po)
{
    const struct qd_spec *s = &j->spec;
    qcore_plan_opts_init(po);
    po->ftype = (enum qcore_ftype)s->ftype;
    po->pure = s->pure;
    po->overrides = r->ovr;
    po->n_overrides = r->n_ovr;
    po->out_format = (enum qcore_format)s->out_format;
    po->ct_scheme = (enum qcore_ct_scheme)s->ct_scheme;
    if (s->ct_scheme != QCORE_CT_NONE) {
        po->group_size = s->group_size;
        po->ignore = (const char *const *)s->ignore; /* NULL: the default list */
        po->n_ignore = s->n_ignore;
    }
}

static int io_code(int neg_errno)
{
    return neg_errno == -ENOSPC || neg_errno == -EDQUOT ? QCORE_ENOSPC : QCORE_EIO;
}

/* Create output file `i` (in the job dir, or in the folder's temp dir) and
 * its core job into r->qjs[i]; pool thread. */
static int open_output(struct qd_job *j, struct run *r, size_t i, struct qcore_error *err)
{
    char dir[QD_PATH_MAX], path[QD_PATH_MAX];
    int rc = job_dir(j, dir, sizeof dir);
    if (rc == 0)
        rc = r->hf ? qd_spool_path(path, sizeof path, "%s/%s/%s", dir, OUT_TMP, r->hf->shard[i])
                   : qd_spool_path(path, sizeof path, "%s/%s", dir, ART_TMP);
    if (rc != 0)
        return qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET, "path too long");
    if (r->out_fd >= 0)
        close(r->out_fd);
    r->out_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (r->out_fd < 0)
        return qcore_error_set(err, io_code(-errno), QCORE_NO_OFFSET,
                               "cannot create output: %s", strerror(errno));
    struct qcore_job_opts jo = {.chunk_bytes = j->js->o.chunk_bytes, .metrics = true};
    const struct qcore_plan *plan = r->plans ? r->plans[i] : r->plan;
    return qcore_job_create(plan, r->out_fd, &jo, &r->qjs[i], err);
}

/* Sum the integer members of `from` into `into` (dry-run totals of a folder). */
static void add_totals(json_t *into, const json_t *from)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)from, k, v) {
        if (!json_is_integer(v))
            continue;
        json_t *cur = json_object_get(into, k);
        json_int_t base = json_is_integer(cur) ? json_integer_value(cur) : 0;
        json_object_set_new(into, k, json_integer(base + json_integer_value(v)));
    }
}

/* report.json of the job dir: `o` written atomically (the dry run's plan
 * or the finished job's report). */
static int store_report(const char *dir, const json_t *o, const char *what,
                        struct qcore_error *err)
{
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (!text)
        return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "cannot build the %s", what);
    int wr = qd_spool_write_atomic(dir, REPORT_FILE, text, strlen(text));
    free(text);
    if (wr != 0)
        return qcore_error_set(err, io_code(wr), QCORE_NO_OFFSET, "cannot write the %s: %s", what,
                               strerror(-wr));
    return 0;
}

/* A dry run: the plan(s) as report.json, their totals as the summary. */
static int write_plans(struct qd_job *j, struct run *r, const char *dir, struct qcore_error *err)
{
    json_t *pj = NULL;
    if (r->hf) {
        json_t *files = json_array(), *totals = json_object();
        for (size_t i = 0; files && totals && i < r->n_files; i++) {
            json_t *p = qcore_plan_json(r->plans[i], j->spec.scheme);
            add_totals(totals, json_object_get(p, "totals"));
            json_array_append_new(files, json_pack("{s:s, s:o}", "name", r->hf->shard[i], "plan",
                                                   p ? p : json_null()));
        }
        pj = json_pack("{s:b, s:s, s:o, s:o}", "dry_run", 1, "scheme", j->spec.scheme, "totals",
                       totals ? totals : json_object(), "files", files ? files : json_array());
    } else {
        pj = qcore_plan_json(r->plan, j->spec.scheme);
    }
    int rc = store_report(dir, pj, "plan", err);
    json_t *totals = json_object_get(pj, "totals");
    r->summary = totals ? json_deep_copy(totals) : NULL;
    json_decref(pj);
    return rc;
}

static void prepare_work(uv_work_t *req)
{
    struct work *w = req->data;
    struct qd_job *j = w->j;
    struct run *r = j->run;
    char path[QD_PATH_MAX], dir[QD_PATH_MAX], tmp[QD_PATH_MAX];
    w->rc = 0;
    if (qd_spool_path(path, sizeof path, "%s/%s", j->js->o.spool->root, j->in.rel_path) != 0 ||
        job_dir(j, dir, sizeof dir) != 0 ||
        qd_spool_path(tmp, sizeof tmp, "%s/%s", dir, OUT_TMP) != 0) {
        w->rc = qcore_error_set(&w->err, QCORE_EINVAL, QCORE_NO_OFFSET, "path too long");
        return;
    }
    if (j->in.folder)
        w->rc = qcore_hf_open(path, &r->hf, &w->err);
    else
        w->rc = qcore_model_open(path, &r->model, &w->err);
    if (w->rc != 0 || (w->rc = build_overrides(&j->spec, r, &w->err)) != 0)
        return;
    struct qcore_plan_opts po;
    plan_opts(j, r, &po);
    if (r->hf) {
        po.out_format = QCORE_FORMAT_SAFETENSORS;
        if ((w->rc = qcore_hf_plan(r->hf, &po, &r->plans, &w->err)) != 0)
            return;
        r->n_files = r->hf->n_shards;
        r->plan = r->plans[0];
        for (size_t i = 0; i < r->n_files; i++) {
            r->tensors_all += r->plans[i]->n;
            for (size_t t = 0; t < r->plans[i]->n; t++)
                r->bytes_all += r->plans[i]->t[t].src_bytes;
        }
    } else {
        if ((w->rc = qcore_plan_build(r->model, &po, &r->plan, &w->err)) != 0)
            return;
        r->n_files = 1;
    }
    if (j->spec.dry_run) {
        w->rc = write_plans(j, r, dir, &w->err);
        return;
    }
    r->qjs = calloc(r->n_files ? r->n_files : 1, sizeof *r->qjs);
    if (!r->qjs) {
        w->rc = qcore_error_set(&w->err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
        return;
    }
    if (r->hf) {
        qd_spool_remove(tmp);
        if (mkdir(tmp, 0750) != 0) {
            w->rc = qcore_error_set(&w->err, io_code(-errno), QCORE_NO_OFFSET,
                                    "cannot create the output folder: %s", strerror(errno));
            return;
        }
    }
    w->rc = open_output(j, r, 0, &w->err);
}

static void finish_start(struct qd_job *j);

static void prepare_done(uv_work_t *req, int status)
{
    struct work *w = req->data;
    struct qd_job *j = w->j;
    struct qd_jobs *js = j->js;
    js->inflight--;
    j->run->inflight--;
    int rc = status == UV_ECANCELED ? QCORE_ECANCELED : w->rc;
    struct qcore_error err = w->err;
    free(w);
    if (rc == 0 && (j->deleted || j->interrupt))
        rc = QCORE_ECANCELED;
    if (rc == QCORE_ECANCELED) {
        end_run(j, QD_JOB_CANCELED);
        return;
    }
    if (rc != 0) {
        fail_run(j, rc, err.msg);
        return;
    }
    struct run *r = j->run;
    if (j->spec.dry_run) {
        j->summary = r->summary;
        r->summary = NULL;
        j->prog.tensors_total = j->prog.tensors_done = r->hf ? r->tensors_all : r->plan->n;
        end_run(j, QD_JOB_SUCCEEDED);
        return;
    }
    r->qj = r->qjs[0];
    r->n_chunks = qcore_job_n_chunks(r->qj);
    run_progress(j, &j->prog);
    r->phase = PH_CHUNKS;
    changed(j);
    if (r->n_chunks == 0)
        finish_start(j);
    else
        pump(js);
}

/* ---- chunks (pool) ---------------------------------------------------- */

/* CPU work runs below the loop thread's priority, so that API answers keep
 * their latency while every pool thread quantizes: with the same weight, a
 * loop woken by a request waits behind the pool threads' time slices.
 * Raising a nice value needs no privilege; on Linux it applies to the
 * calling thread only. Once per pool thread. */
static void worker_nice(void)
{
    static _Thread_local bool done;
    if (done)
        return;
    done = true;
    int e = errno;
    if (setpriority(PRIO_PROCESS, 0, QD_WORKER_NICE) != 0)
        QD_LOGF(QD_LOG_DEBUG, "setpriority(%d) of a pool thread: %s", QD_WORKER_NICE,
                strerror(errno));
    errno = e;
}

static void chunk_work(uv_work_t *req)
{
    worker_nice();
    struct work *w = req->data;
    w->rc = qcore_job_run_chunk(w->qj, w->chunk, &w->err);
}

static void chunk_done(uv_work_t *req, int status)
{
    struct work *w = req->data;
    struct qd_job *j = w->j;
    struct run *r = j->run;
    j->js->inflight--;
    r->inflight--;
    r->done++;
    int rc = status == UV_ECANCELED ? QCORE_ECANCELED : w->rc;
    if (rc != 0 && r->rc == 0) {
        r->rc = rc;
        r->err = w->err;
        if (rc != QCORE_ECANCELED)
            qcore_job_cancel(r->qj); /* stop the others at their next chunk */
    }
    free(w);
    run_progress(j, &j->prog);
    bool stop = r->rc != 0 || qcore_job_canceled(r->qj);
    if (r->inflight == 0 && (stop || r->done == r->n_chunks)) {
        if (r->rc != 0 && r->rc != QCORE_ECANCELED)
            fail_run(j, r->rc, r->err.msg);
        else if (stop)
            end_run(j, QD_JOB_CANCELED);
        else
            finish_start(j);
        return;
    }
    changed(j);
    pump(j->js);
}

static int submit_work(struct qd_job *j, uv_work_cb work, uv_after_work_cb after, size_t chunk)
{
    struct work *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->req.data = w;
    w->j = j;
    w->qj = j->run->qj;
    w->chunk = chunk;
    int rc = uv_queue_work(j->js->o.loop, &w->req, work, after);
    if (rc != 0) {
        free(w);
        return rc;
    }
    j->js->inflight++;
    j->run->inflight++;
    return 0;
}

/* ---- finish (pool) ---------------------------------------------------- */

static int cmp_art(const void *a, const void *b)
{
    return strcmp(((const struct qd_artifact *)a)->name, ((const struct qd_artifact *)b)->name);
}

/* Hash (and fsync) every file of a finished output folder into r->arts,
 * sorted by name. */
static int list_outputs(struct run *r, const char *out)
{
    DIR *d = opendir(out);
    if (!d)
        return -errno;
    size_t cap = r->n_files + 8;
    r->arts = calloc(cap, sizeof *r->arts);
    int rc = r->arts ? 0 : -ENOMEM;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue; /* "." and ".." (the core's temp files are renamed away) */
        if (r->n_arts == cap) {
            struct qd_artifact *na = realloc(r->arts, 2 * cap * sizeof *na);
            if (!na) {
                rc = -ENOMEM;
                break;
            }
            r->arts = na;
            cap *= 2;
        }
        struct qd_artifact *a = &r->arts[r->n_arts];
        char path[QD_PATH_MAX];
        size_t nlen = strlen(e->d_name);
        if (nlen > QD_MAX_NAME_LEN ||
            qd_spool_path(path, sizeof path, "%s/%s", out, e->d_name) != 0) {
            rc = -ENAMETOOLONG;
            break;
        }
        memcpy(a->name, e->d_name, nlen + 1);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) != 0)
            rc = -errno;
        if (fd >= 0)
            close(fd);
        if (rc == 0)
            rc = qd_spool_sha256_file(path, a->sha256, &a->size);
        r->n_arts++;
    }
    closedir(d);
    if (rc == 0)
        qsort(r->arts, r->n_arts, sizeof *r->arts, cmp_art);
    return rc;
}

/* The report of the whole job into report.json and r->summary. */
static int write_report(struct qd_job *j, struct run *r, const char *dir, struct qcore_error *err)
{
    double now = qd_now();
    struct qcore_report_times t = {.queued_s = j->started - j->created, .run_s = now - r->t_start};
    json_t *rep;
    if (r->hf) {
        rep = qcore_report_files_json((const struct qcore_job *const *)r->qjs,
                                      (const char *const *)r->hf->shard, r->n_files,
                                      j->spec.scheme, &t);
        /* the summary: the report without its per-tensor and per-file lists */
        r->summary = rep ? json_deep_copy(rep) : NULL;
        json_object_del(r->summary, "tensors");
        json_object_del(r->summary, "files");
    } else {
        rep = qcore_report_json(r->qj, j->spec.scheme, &t);
        r->summary = qcore_report_summary_json(r->qj, j->spec.scheme, &t);
    }
    int rc = r->summary ? store_report(dir, rep, "report", err)
                        : qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET,
                                          "cannot build the report");
    json_decref(rep);
    return rc;
}

/* The last file is done: the folder's index, config.json and copies, the
 * report, the hashes, then the results move into place. */
static int finish_all(struct qd_job *j, struct run *r, const char *dir, struct qcore_error *err)
{
    char tmp[QD_PATH_MAX], dst[QD_PATH_MAX];
    int rc, wr = 0;
    if (r->hf) {
        if (qd_spool_path(tmp, sizeof tmp, "%s/%s", dir, OUT_TMP) != 0 ||
            qd_spool_path(dst, sizeof dst, "%s/%s", dir, OUT_DIR) != 0)
            return qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET, "path too long");
        if ((rc = qcore_hf_write_meta(r->hf, r->plans, tmp, err)) != 0)
            return rc;
        if ((rc = write_report(j, r, dir, err)) != 0)
            return rc;
        wr = list_outputs(r, tmp);
        if (wr == 0)
            wr = qd_spool_fsync_dir(tmp);
        if (wr == 0)
            qd_spool_remove(dst); /* a leftover of an interrupted run */
    } else {
        if (qd_spool_path(tmp, sizeof tmp, "%s/%s", dir, ART_TMP) != 0 ||
            qd_spool_path(dst, sizeof dst, "%s/%s", dir, j->artifact) != 0)
            return qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET, "path too long");
        if ((rc = write_report(j, r, dir, err)) != 0)
            return rc;
        r->arts = calloc(1, sizeof *r->arts);
        wr = r->arts ? 0 : -ENOMEM;
        if (wr == 0) {
            r->n_arts = 1;
            snprintf(r->arts[0].name, sizeof r->arts[0].name, "%s", j->artifact);
            wr = qd_spool_sha256_file(tmp, r->arts[0].sha256, &r->arts[0].size);
        }
    }
    if (wr == 0 && rename(tmp, dst) != 0)
        wr = -errno;
    if (wr == 0)
        wr = qd_spool_fsync_dir(dir);
    if (wr != 0)
        return qcore_error_set(err, io_code(wr), QCORE_NO_OFFSET, "cannot store the result: %s",
                               strerror(-wr));
    return 0;
}

/* Finish the current file; then either the next file's core job (folders)
 * or the whole job. The loop thread installs the next job in finish_done. */
static void finish_work(uv_work_t *req)
{
    struct work *w = req->data;
    struct qd_job *j = w->j;
    struct run *r = j->run;
    char dir[QD_PATH_MAX];
    if (job_dir(j, dir, sizeof dir) != 0) {
        w->rc = qcore_error_set(&w->err, QCORE_EINVAL, QCORE_NO_OFFSET, "path too long");
        return;
    }
    if ((w->rc = qcore_job_finish(w->qj, &w->err)) != 0)
        return;
    if (w->chunk + 1 < r->n_files) {
        w->rc = open_output(j, r, w->chunk + 1, &w->err);
        return;
    }
    if (r->out_fd >= 0 && close(r->out_fd) != 0) {
        r->out_fd = -1;
        w->rc = qcore_error_set(&w->err, io_code(-errno), QCORE_NO_OFFSET,
                                "cannot close the output: %s", strerror(errno));
        return;
    }
    r->out_fd = -1;
    w->rc = finish_all(j, r, dir, &w->err);
}

static void finish_done(uv_work_t *req, int status)
{
    struct work *w = req->data;
    struct qd_job *j = w->j;
    struct run *r = j->run;
    j->js->inflight--;
    r->inflight--;
    int rc = status == UV_ECANCELED ? QCORE_ECANCELED : w->rc;
    struct qcore_error err = w->err;
    size_t file = w->chunk;
    free(w);
    if (rc != 0) {
        fail_run(j, rc, err.msg);
        return;
    }
    if (file + 1 < r->n_files) {
        /* next shard of a folder */
        struct qcore_progress p;
        qcore_job_progress(r->qj, &p);
        r->base.chunks_done += p.chunks_done;
        r->base.tensors_done += p.tensors_done;
        r->base.bytes_done += p.bytes_done;
        r->file = file + 1;
        r->plan = r->plans[r->file];
        r->qj = r->qjs[r->file];
        if (j->deleted || j->interrupt) {
            end_run(j, QD_JOB_CANCELED);
            return;
        }
        r->n_chunks = qcore_job_n_chunks(r->qj);
        r->next = r->done = 0;
        r->phase = PH_CHUNKS;
        run_progress(j, &j->prog);
        changed(j);
        if (r->n_chunks == 0)
            finish_start(j);
        else
            pump(j->js);
        return;
    }
    if (j->deleted || j->interrupt) {
        /* finished anyway: keep the result unless deleted */
        if (j->deleted) {
            end_run(j, QD_JOB_CANCELED);
            return;
        }
        j->interrupt = false;
    }
    j->summary = r->summary;
    r->summary = NULL;
    free(j->arts);
    j->arts = r->arts;
    j->n_arts = r->n_arts;
    r->arts = NULL;
    end_run(j, QD_JOB_SUCCEEDED);
}

static void finish_start(struct qd_job *j)
{
    j->run->phase = PH_FINISH;
    int rc = submit_work(j, finish_work, finish_done, j->run->file);
    if (rc != 0)
        fail_run(j, QCORE_ENOMEM, "cannot queue the finish step");
}

/* ---- scheduling ------------------------------------------------------- */

static void start_job(struct qd_jobs *js, struct qd_job *j)
{
    struct run *r = calloc(1, sizeof *r);
    if (!r) {
        set_error(j, QD_P_INTERNAL, "out of memory");
        j->state = QD_JOB_FAILED;
        j->finished = qd_now();
        persist(j);
        changed(j);
        return;
    }
    r->out_fd = -1;
    r->t_start = qd_now();
    j->run = r;
    j->state = QD_JOB_RUNNING;
    j->started = r->t_start;
    js->running[js->n_running++] = j;
    persist(j);
    QD_LOGF(QD_LOG_INFO, "job %s: started (%s)", j->id, j->spec.scheme);
    if (submit_work(j, prepare_work, prepare_done, 0) != 0) {
        fail_run(j, QCORE_ENOMEM, "cannot queue the job");
        return;
    }
    changed(j);
}

static void feed_chunks(struct qd_jobs *js)
{
    size_t cap = (size_t)js->o.threads * QD_INFLIGHT_PER_THREAD;
    size_t active = 0;
    for (size_t i = 0; i < js->n_running; i++) {
        struct run *r = js->running[i]->run;
        active += r && r->phase == PH_CHUNKS && r->next < r->n_chunks;
    }
    if (active == 0)
        return;
    size_t per_job = cap / active ? cap / active : 1;
    bool progress = true;
    while (js->inflight < cap && progress) {
        progress = false;
        for (size_t k = 0; k < js->n_running && js->inflight < cap; k++) {
            struct qd_job *j = js->running[(js->rr + k) % js->n_running];
            struct run *r = j->run;
            if (!r || r->phase != PH_CHUNKS || r->next >= r->n_chunks || r->rc != 0 ||
                r->inflight >= per_job || qcore_job_canceled(r->qj))
                continue;
            if (submit_work(j, chunk_work, chunk_done, r->next) != 0)
                return;
            r->next++;
            progress = true;
        }
        js->rr++;
    }
}

static void pump(struct qd_jobs *js)
{
    while (!js->draining && js->n_queue > 0 && js->n_running < (size_t)js->o.max_running) {
        struct qd_job *j = js->queue[0];
        memmove(&js->queue[0], &js->queue[1], (js->n_queue - 1) * sizeof *js->queue);
        js->n_queue--;
        start_job(js, j);
    }
    feed_chunks(js);
}

/* ---- public ----------------------------------------------------------- */

int qd_jobs_create(const struct qd_jobs_opts *o, struct qd_jobs **out)
{
    *out = NULL;
    struct qd_jobs *js = calloc(1, sizeof *js);
    if (!js)
        return -ENOMEM;
    js->o = *o;
    js->running = calloc((size_t)o->max_running, sizeof *js->running);
    if (!js->running) {
        free(js);
        return -ENOMEM;
    }
    *out = js;
    return 0;
}

void qd_jobs_destroy(struct qd_jobs *js)
{
    if (!js)
        return;
    for (size_t i = 0; i < js->n_all; i++)
        job_free(js->all[i]);
    /* deleted jobs still running are in `running` only */
    for (size_t i = 0; i < js->n_running; i++)
        if (js->running[i]->deleted)
            job_free(js->running[i]);
    free(js->all);
    free(js->queue);
    free(js->running);
    free(js);
}

bool qd_jobs_queue_full(const struct qd_jobs *js)
{
    return js->n_queue >= (size_t)js->o.max_queued || js->n_all >= QD_MAX_JOBS;
}

int qd_jobs_retry_after(const struct qd_jobs *js)
{
    double est = js->avg_run_s > 0 ? js->avg_run_s : 5;
    double s = est * (double)js->n_queue / (double)(js->o.max_running ? js->o.max_running : 1);
    if (s < 1)
        s = 1;
    if (s > 3600)
        s = 3600;
    return (int)s;
}

static enum qd_problem add_job(struct qd_jobs *js, struct qd_job *j, bool front)
{
    if (grow(&js->all, &js->cap_all, js->n_all + 1) != 0 ||
        grow(&js->queue, &js->cap_queue, js->n_queue + 1) != 0)
        return QD_P_INTERNAL;
    js->all[js->n_all++] = j;
    if (j->state == QD_JOB_QUEUED) {
        if (front) {
            memmove(&js->queue[1], &js->queue[0], js->n_queue * sizeof *js->queue);
            js->queue[0] = j;
        } else {
            js->queue[js->n_queue] = j;
        }
        js->n_queue++;
    }
    return QD_P_NONE;
}

enum qd_problem qd_jobs_submit(struct qd_jobs *js, const char *id, struct qd_spec *spec,
                               const struct qd_job_input *in, const char *artifact_base,
                               struct qd_job **out, char *detail, size_t dlen)
{
    *out = NULL;
    if (js->draining) {
        snprintf(detail, dlen, "the server is shutting down");
        return QD_P_DRAINING;
    }
    if (qd_jobs_queue_full(js)) {
        snprintf(detail, dlen, "%zu jobs are queued (max_queued_jobs)", js->n_queue);
        return QD_P_QUEUE_FULL;
    }
    struct qd_job *j = calloc(1, sizeof *j);
    if (!j)
        return QD_P_INTERNAL;
    j->js = js;
    snprintf(j->id, sizeof j->id, "%s", id);
    j->state = QD_JOB_QUEUED;
    j->created = qd_now();
    j->spec = *spec;
    qd_spec_init(spec); /* moved: the caller's copy no longer owns the arrays */
    j->in = *in;
    snprintf(j->artifact, sizeof j->artifact, "%s-%s.%s", artifact_base, j->spec.scheme,
             qd_spec_format_ext(j->spec.out_format));
    if (j->spec.dry_run || j->in.folder)
        j->artifact[0] = '\0'; /* a folder's artifacts are named after its files */
    j->request = qd_spec_to_json(&j->spec);
    if (!j->request || persist(j) != 0 || add_job(js, j, false) != QD_P_NONE) {
        snprintf(detail, dlen, "cannot record the job");
        job_free(j);
        return QD_P_INSUFFICIENT_STORAGE;
    }
    if (js->o.metrics)
        qd_metrics_job_submitted(js->o.metrics, j->spec.scheme);
    QD_LOGF(QD_LOG_INFO, "job %s: queued (%s, input %s)", j->id, j->spec.scheme, j->in.rel_path);
    *out = j;
    changed(j);
    pump(js);
    return QD_P_NONE;
}

struct qd_job *qd_jobs_find(struct qd_jobs *js, const char *id)
{
    for (size_t i = js->n_all; i-- > 0;)
        if (strcmp(js->all[i]->id, id) == 0)
            return js->all[i];
    return NULL;
}

size_t qd_jobs_count(const struct qd_jobs *js)
{
    return js->n_all;
}

struct qd_job *qd_jobs_nth_newest(struct qd_jobs *js, size_t i)
{
    return i < js->n_all ? js->all[js->n_all - 1 - i] : NULL;
}

void qd_jobs_delete(struct qd_jobs *js, struct qd_job *j)
{
    remove_ptr(js->all, &js->n_all, j);
    remove_ptr(js->queue, &js->n_queue, j);
    char id[QD_JOB_ID_LEN + 1];
    memcpy(id, j->id, sizeof id);
    if (j->run) {
        /* Freed when its last work item returns (end_run). */
        j->deleted = true;
        if (j->run->qj)
            qcore_job_cancel(j->run->qj);
    } else {
        char dir[QD_PATH_MAX];
        if (job_dir(j, dir, sizeof dir) == 0)
            qd_spool_remove(dir);
        job_free(j);
    }
    QD_LOGF(QD_LOG_INFO, "job %s: delete requested", id);
    if (js->o.on_change)
        js->o.on_change(id, js->o.ud);
}

void qd_job_view(const struct qd_job *j, struct qd_job_view *v)
{
    memset(v, 0, sizeof *v);
    struct qcore_progress p;
    run_progress(j, &p);
    v->id = j->id;
    v->state = qd_job_state_name(j->state);
    v->created = j->created;
    v->started = j->started;
    v->finished = j->finished;
    v->tensors_done = p.tensors_done;
    v->tensors_total = p.tensors_total;
    v->bytes_done = p.bytes_done;
    v->bytes_total = p.bytes_total;
    v->request = j->request;
    v->summary = j->summary;
    if (j->state == QD_JOB_SUCCEEDED) {
        v->artifacts = j->arts;
        v->n_artifacts = j->n_arts;
    }
    if (j->err_type[0]) {
        v->error_type = j->err_type;
        v->error_detail = j->err_detail;
    }
    v->input_sha256 = j->in.sha256[0] ? j->in.sha256 : NULL;
    v->input_size = j->in.size;
}

enum qd_job_state qd_job_state(const struct qd_job *j)
{
    return j->state;
}

bool qd_job_done(const struct qd_job *j)
{
    return j->state >= QD_JOB_SUCCEEDED;
}

const char *qd_job_id(const struct qd_job *j)
{
    return j->id;
}

uint64_t qd_job_version(const struct qd_job *j)
{
    return j->version;
}

const struct qd_artifact *qd_job_artifact(const struct qd_job *j, const char *name, char *path,
                                          size_t len)
{
    if (j->state != QD_JOB_SUCCEEDED)
        return NULL;
    for (size_t i = 0; i < j->n_arts; i++) {
        if (strcmp(j->arts[i].name, name) != 0)
            continue;
        int rc = j->in.folder ? qd_spool_path(path, len, "%s/jobs/%s/%s/%s",
                                              j->js->o.spool->root, j->id, OUT_DIR, name)
                              : qd_spool_path(path, len, "%s/jobs/%s/%s", j->js->o.spool->root,
                                              j->id, name);
        return rc == 0 ? &j->arts[i] : NULL;
    }
    return NULL;
}

int qd_job_report_path(const struct qd_job *j, char *buf, size_t len)
{
    return qd_spool_path(buf, len, "%s/jobs/%s/%s", j->js->o.spool->root, j->id, REPORT_FILE);
}

bool qd_jobs_uses_model(const struct qd_jobs *js, const char *name)
{
    char prefix[QD_PATH_MAX];
    qd_spool_path(prefix, sizeof prefix, "models/%s/", name);
    size_t n = strlen(prefix);
    for (size_t i = 0; i < js->n_all; i++) {
        const struct qd_job *j = js->all[i];
        if (!qd_job_done(j) && strncmp(j->in.rel_path, prefix, n) == 0)
            return true;
    }
    return false;
}

void qd_jobs_gauges(const struct qd_jobs *js, struct qd_metrics_gauges *g)
{
    for (size_t i = 0; i < js->n_all; i++) {
        switch (js->all[i]->state) {
        case QD_JOB_QUEUED: g->queued++; break;
        case QD_JOB_RUNNING: g->running++; break;
        case QD_JOB_SUCCEEDED: g->succeeded++; break;
        case QD_JOB_FAILED: g->failed++; break;
        case QD_JOB_CANCELED: g->canceled++; break;
        }
    }
    g->chunks_in_flight = js->inflight;
}

void qd_jobs_drain(struct qd_jobs *js)
{
    js->draining = true;
}

void qd_jobs_checkpoint(struct qd_jobs *js)
{
    for (size_t i = 0; i < js->n_running; i++) {
        struct qd_job *j = js->running[i];
        j->interrupt = true;
        if (j->run && j->run->qj)
            qcore_job_cancel(j->run->qj);
    }
}

bool qd_jobs_idle(const struct qd_jobs *js)
{
    return js->n_running == 0 && js->inflight == 0;
}

size_t qd_jobs_expire(struct qd_jobs *js, double now, int64_t retention_s)
{
    if (retention_s <= 0)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < js->n_all;) {
        struct qd_job *j = js->all[i];
        if (qd_job_done(j) && j->finished > 0 && now - j->finished > (double)retention_s) {
            qd_jobs_delete(js, j);
            n++;
            continue;
        }
        i++;
    }
    return n;
}

/* ---- recovery --------------------------------------------------------- */

static void copy_str(char *dst, size_t len, json_t *v)
{
    const char *s = json_string_value(v);
    snprintf(dst, len, "%s", s ? s : "");
}

static struct qd_job *job_from_json(struct qd_jobs *js, const char *id, json_t *o)
{
    struct qd_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->js = js;
    snprintf(j->id, sizeof j->id, "%.17s", id);
    qd_spec_init(&j->spec);
    const char *sname = json_string_value(json_object_get(o, "state"));
    int st = state_from_name(sname ? sname : "");
    json_t *req = json_object_get(o, "request");
    char *rtext = req ? json_dumps(req, JSON_COMPACT) : NULL;
    char why[256];
    if (st < 0 || !rtext ||
        qd_spec_from_json(&j->spec, rtext, strlen(rtext), false, why, sizeof why) != QD_P_NONE) {
        free(rtext);
        job_free(j);
        return NULL;
    }
    free(rtext);
    j->request = json_incref(req);
    j->state = (enum qd_job_state)st;
    j->created = json_number_value(json_object_get(o, "created"));
    j->started = json_number_value(json_object_get(o, "started"));
    j->finished = json_number_value(json_object_get(o, "finished"));
    json_t *in = json_object_get(o, "input");
    copy_str(j->in.rel_path, sizeof j->in.rel_path, json_object_get(in, "path"));
    copy_str(j->in.sha256, sizeof j->in.sha256, json_object_get(in, "sha256"));
    j->in.size = (uint64_t)json_integer_value(json_object_get(in, "size"));
    j->in.owned = json_is_true(json_object_get(in, "owned"));
    j->in.folder = json_is_true(json_object_get(in, "folder"));
    json_t *art = json_object_get(o, "artifact");
    copy_str(j->artifact, sizeof j->artifact, json_object_get(art, "name"));
    json_t *arts = json_object_get(o, "artifacts");
    size_t na = json_array_size(arts);
    if (!json_is_array(arts) && json_is_string(json_object_get(art, "sha256")))
        na = 1; /* a job.json of the first version: one "artifact" with its hash */
    j->arts = na ? calloc(na, sizeof *j->arts) : NULL;
    for (size_t i = 0; j->arts && i < na; i++) {
        json_t *a = json_is_array(arts) ? json_array_get(arts, i) : art;
        copy_str(j->arts[i].name, sizeof j->arts[i].name, json_object_get(a, "name"));
        copy_str(j->arts[i].sha256, sizeof j->arts[i].sha256, json_object_get(a, "sha256"));
        j->arts[i].size = (uint64_t)json_integer_value(json_object_get(a, "size"));
        if (!qd_name_valid(j->arts[i].name)) {
            job_free(j);
            return NULL;
        }
        j->n_arts = i + 1;
    }
    if (na && !j->arts) {
        job_free(j);
        return NULL;
    }
    json_t *err = json_object_get(o, "error");
    copy_str(j->err_type, sizeof j->err_type, json_object_get(err, "type"));
    copy_str(j->err_detail, sizeof j->err_detail, json_object_get(err, "detail"));
    json_t *sum = json_object_get(o, "summary");
    j->summary = json_is_object(sum) ? json_incref(sum) : NULL;
    json_t *pr = json_object_get(o, "progress");
    j->prog.tensors_done = (uint64_t)json_integer_value(json_object_get(pr, "tensors_done"));
    j->prog.tensors_total = (uint64_t)json_integer_value(json_object_get(pr, "tensors_total"));
    j->prog.bytes_done = (uint64_t)json_integer_value(json_object_get(pr, "bytes_done"));
    j->prog.bytes_total = (uint64_t)json_integer_value(json_object_get(pr, "bytes_total"));
    return j;
}

static int cmp_created(const void *a, const void *b)
{
    const struct qd_job *x = *(struct qd_job *const *)a, *y = *(struct qd_job *const *)b;
    return x->created < y->created ? -1 : x->created > y->created;
}

/* Load one job dir; returns the job or NULL (dir removed when unusable). */
static struct qd_job *recover_one(struct qd_jobs *js, const char *id)
{
    char dir[QD_PATH_MAX], path[QD_PATH_MAX];
    if (qd_spool_path(dir, sizeof dir, "%s/jobs/%s", js->o.spool->root, id) != 0)
        return NULL;
    qd_spool_path(path, sizeof path, "%s/%s", dir, ART_TMP);
    unlink(path);
    qd_spool_path(path, sizeof path, "%s/%s", dir, OUT_TMP);
    qd_spool_remove(path);
    qd_spool_path(path, sizeof path, "%s/.%s.tmp", dir, JOB_FILE);
    unlink(path);
    qd_spool_path(path, sizeof path, "%s/.%s.tmp", dir, REPORT_FILE);
    unlink(path);
    qd_spool_path(path, sizeof path, "%s/%s", dir, JOB_FILE);
    char *text = NULL;
    size_t len = 0;
    json_t *o = NULL;
    if (qd_spool_read_small(path, MAX_JOB_JSON, &text, &len) == 0)
        o = json_loadb(text, len, 0, NULL);
    free(text);
    struct qd_job *j = (o && qd_job_id_valid(id)) ? job_from_json(js, id, o) : NULL;
    json_decref(o);
    if (!j) {
        QD_LOGF(QD_LOG_WARN, "recovery: removing unreadable job dir %s", dir);
        qd_spool_remove(dir);
        return NULL;
    }
    if (j->state == QD_JOB_RUNNING) {
        j->state = QD_JOB_QUEUED;
        j->started = 0;
        memset(&j->prog, 0, sizeof j->prog);
    }
    for (size_t i = 0; j->state == QD_JOB_SUCCEEDED && i < j->n_arts; i++) {
        struct stat st;
        if (!qd_job_artifact(j, j->arts[i].name, path, sizeof path) || stat(path, &st) != 0 ||
            (uint64_t)st.st_size != j->arts[i].size) {
            j->state = QD_JOB_FAILED;
            set_error(j, QD_P_INTERNAL, "an artifact was lost before a restart");
        }
    }
    if (j->state == QD_JOB_QUEUED) {
        qd_spool_path(path, sizeof path, "%s/%s", js->o.spool->root, j->in.rel_path);
        if (access(path, R_OK) != 0) {
            j->state = QD_JOB_FAILED;
            j->finished = qd_now();
            set_error(j, QD_P_MODEL_NOT_FOUND, "the input model is gone after a restart");
        }
    }
    persist(j);
    return j;
}

int qd_jobs_recover(struct qd_jobs *js)
{
    char jobs[QD_PATH_MAX];
    qd_spool_path(jobs, sizeof jobs, "%s/jobs", js->o.spool->root);
    DIR *d = opendir(jobs);
    if (!d)
        return -errno;
    struct qd_job **found = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        struct qd_job *j = recover_one(js, e->d_name);
        if (!j)
            continue;
        if (grow(&found, &cap, n + 1) != 0) {
            job_free(j);
            break;
        }
        found[n++] = j;
    }
    closedir(d);
    if (n)
        qsort(found, n, sizeof *found, cmp_created);
    int requeued = 0;
    for (size_t i = 0; i < n; i++) {
        if (add_job(js, found[i], false) != QD_P_NONE) {
            job_free(found[i]);
            continue;
        }
        requeued += found[i]->state == QD_JOB_QUEUED;
    }
    free(found);
    if (n)
        QD_LOGF(QD_LOG_INFO, "recovery: %zu jobs loaded, %d queued again", n, requeued);
    pump(js);
    return requeued;
}

/* server/jobs.h — the job manager: a bounded queue, the state machine, and
 * the libuv pool executor.
 *
 * A job goes queued -> running -> succeeded | failed | canceled. Running is
 * three phases, each on the libuv pool: prepare (open the model, build the
 * plan, create the core job: header written, output sized), one work item
 * per chunk (qcore_job_run_chunk; chunks of all running jobs are fed round
 * robin with a per-job cap so jobs share the threads fairly), and finish
 * (qcore_job_finish = reduce + fsync, the report, the artifact's SHA-256,
 * rename into place). A folder job (a Hugging Face model folder: shards,
 * index, config.json, tokenizer files) plans every shard up front with
 * core/hf.h and runs the chunks of one shard after the other; the finish
 * item of each shard creates the next one's core job, and the last one
 * writes the index, config.json and copies (qcore_hf_write_meta) into
 * jobs/<id>/.out.tmp/, renamed to jobs/<id>/out/ when all is fsynced. Only the loop thread touches job records; workers get
 * the immutable plan and their chunk index. Every state change is persisted
 * to jobs/<id>/job.json (temp, fsync, rename) before it is announced.
 *
 * Not thread-safe: call everything from the loop thread.
 */
#ifndef QD_JOBS_H
#define QD_JOBS_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "api/problem.h"
#include "api/spec.h"
#include "api/view.h"
#include "server/metrics.h"
#include "server/spool.h"

struct qd_jobs;
struct qd_job;

enum qd_job_state {
    QD_JOB_QUEUED = 0,
    QD_JOB_RUNNING,
    QD_JOB_SUCCEEDED,
    QD_JOB_FAILED,
    QD_JOB_CANCELED,
};

struct qd_jobs_opts {
    uv_loop_t *loop;
    const struct qd_spool *spool;
    int64_t max_queued, max_running, threads;
    uint64_t chunk_bytes;
    struct qd_metrics *metrics;          /* may be NULL */
    /* Called on the loop thread after a job changed (state or progress),
     * and with the id of a deleted job. */
    void (*on_change)(const char *job_id, void *ud);
    void *ud;
};

/* Where a job reads its model. `rel_path` is relative to the state dir. */
struct qd_job_input {
    char rel_path[QD_PATH_MAX];
    char sha256[65];
    uint64_t size;
    bool owned;              /* the input lives in the job dir (upload+submit) */
    bool folder;             /* rel_path is a Hugging Face model folder */
};

int qd_jobs_create(const struct qd_jobs_opts *o, struct qd_jobs **out);
/* Free everything; no work may be in flight (see qd_jobs_idle). */
void qd_jobs_destroy(struct qd_jobs *js);

/* Load jobs/<id>/job.json files: finished jobs stay as they were, queued
 * and interrupted ones are queued again, leftovers are removed. Returns
 * the number of re-queued jobs, or a negative errno. */
int qd_jobs_recover(struct qd_jobs *js);

/* A fresh random job id ('j' + 16 hex digits). 0 or -errno. */
int qd_jobs_new_id(char id[QD_JOB_ID_LEN + 1]);

/* True when a new submission would get 429. */
bool qd_jobs_queue_full(const struct qd_jobs *js);

/* Seconds a client should wait before retrying after a 429 (an estimate). */
int qd_jobs_retry_after(const struct qd_jobs *js);

/* Queue a job. `spec` is moved into the job (left empty). The job dir
 * jobs/<id>/ must exist (the caller may have put the input there). */
enum qd_problem qd_jobs_submit(struct qd_jobs *js, const char *id, struct qd_spec *spec,
                               const struct qd_job_input *in, const char *artifact_base,
                               struct qd_job **out, char *detail, size_t dlen);

/* Look up a job (NULL when unknown or deleted). */
struct qd_job *qd_jobs_find(struct qd_jobs *js, const char *id);

/* Jobs, newest first: the i-th one, or NULL past the end. */
struct qd_job *qd_jobs_nth_newest(struct qd_jobs *js, size_t i);
size_t qd_jobs_count(const struct qd_jobs *js);

/* Cancel a job if it runs, remove its files, forget it. */
void qd_jobs_delete(struct qd_jobs *js, struct qd_job *j);

/* Fill a view (pointers valid until the job changes). */
void qd_job_view(const struct qd_job *j, struct qd_job_view *v);
enum qd_job_state qd_job_state(const struct qd_job *j);
const char *qd_job_state_name(enum qd_job_state s);
bool qd_job_done(const struct qd_job *j);
const char *qd_job_id(const struct qd_job *j);
/* Bumped on every change; SSE streams send when it moves. */
uint64_t qd_job_version(const struct qd_job *j);
/* The artifact `name` of a succeeded job and its path, or NULL when the job
 * has none of that name. A single-file job has one artifact; a folder job
 * one per file of the output folder (shards, index, config.json, copies). */
const struct qd_artifact *qd_job_artifact(const struct qd_job *j, const char *name, char *path,
                                          size_t len);
/* Path of the report (dry run: the plan). */
int qd_job_report_path(const struct qd_job *j, char *buf, size_t len);
/* True if a queued or running job reads models/<name>. */
bool qd_jobs_uses_model(const struct qd_jobs *js, const char *name);

/* Gauges for /metrics. */
void qd_jobs_gauges(const struct qd_jobs *js, struct qd_metrics_gauges *g);

/* Drain: start no more queued jobs. */
void qd_jobs_drain(struct qd_jobs *js);
/* Stop running jobs at the next chunk boundary; they go back to queued
 * (persisted) so that a restart runs them again. */
void qd_jobs_checkpoint(struct qd_jobs *js);
/* True when nothing runs and no work item is in flight. */
bool qd_jobs_idle(const struct qd_jobs *js);

/* Remove finished jobs older than `retention_s` seconds (0: none). */
size_t qd_jobs_expire(struct qd_jobs *js, double now, int64_t retention_s);

/* Wall-clock seconds since the epoch. */
double qd_now(void);

#endif

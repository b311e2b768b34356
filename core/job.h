/* core/job.h — running a plan: chunks, the executor interface, progress.
 *
 * A job cuts a plan into chunks of whole rows (about chunk_bytes of F32 input
 * each). Every chunk knows its input and output byte ranges up front: it
 * preads its rows, converts them to F32, quantizes them with the dispatched
 * kernels, pwrites the result at its final offset and, if metrics are on,
 * dequantizes and accumulates its error sums. Chunks are independent: any
 * executor (the pthread one below, or the daemon's libuv pool) may run them
 * in any order and in parallel. Memory: O(chunk_bytes) per running chunk.
 *
 * Thread-safety: qcore_job_run_chunk may be called concurrently for
 * distinct chunk indices; qcore_job_cancel and qcore_job_progress from any
 * thread. create/finish/destroy from one thread, with no chunk running.
 */
#ifndef QCORE_JOB_H
#define QCORE_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/kernels/kernels.h"
#include "core/plan.h"

struct qcore_job;

struct qcore_job_opts {
    size_t chunk_bytes;                /* 0: QCORE_DEFAULT_CHUNK_BYTES */
    bool metrics;                      /* compute error metrics */
    bool no_sync;                      /* leave the output to the page cache:
                                          no write-back start, no fsync */
    const struct qcore_kernels *kernels; /* NULL: qcore_kernels_get() */
};

struct qcore_progress {
    uint64_t chunks_done, chunks_total;
    uint64_t tensors_done, tensors_total;
    uint64_t bytes_done, bytes_total;  /* source bytes */
};

/* Per-tensor results after qcore_job_finish. */
struct qcore_tensor_metrics {
    struct qcore_err_sums sums;
    double mse, rmse, max_abs_err;
    double sqnr_db;        /* NaN when the error is zero (report: null) */
    double cosine;         /* NaN when undefined (a zero vector) */
    bool has_error_metrics;/* false for copied tensors */
    uint64_t nonfinite_src;/* NaN/Inf values in the source */
};

/* Create a job writing the plan's output to out_fd (opened O_RDWR by the
 * caller; truncated and sized here, header written). */
int qcore_job_create(const struct qcore_plan *plan, int out_fd, const struct qcore_job_opts *o,
                     struct qcore_job **out, struct qcore_error *err);

size_t qcore_job_n_chunks(const struct qcore_job *job);

/* Run chunk i. Returns 0, QCORE_ECANCELED if the job was canceled, or an
 * I/O error (QCORE_EIO, QCORE_ENOSPC) with err filled. */
int qcore_job_run_chunk(struct qcore_job *job, size_t i, struct qcore_error *err);

/* Ask running and future chunks to stop (async-signal-safe: sets a flag). */
void qcore_job_cancel(struct qcore_job *job);
bool qcore_job_canceled(const struct qcore_job *job);

void qcore_job_progress(const struct qcore_job *job, struct qcore_progress *p);

/* After all chunks succeeded: reduce metrics, fsync the output (unless
 * opts.no_sync). */
int qcore_job_finish(struct qcore_job *job, struct qcore_error *err);

const struct qcore_plan *qcore_job_plan(const struct qcore_job *job);
/* Metrics of plan tensor i (valid after finish). */
const struct qcore_tensor_metrics *qcore_job_metrics(const struct qcore_job *job, size_t i);

void qcore_job_destroy(struct qcore_job *job);

/* The built-in executor: run every chunk on `nthreads` pthreads, then
 * finish. `progress` (may be NULL) is called from the calling thread about
 * every 100 ms. */
int qcore_exec_run(struct qcore_job *job, int nthreads,
                   void (*progress)(const struct qcore_progress *p, void *ud), void *ud,
                   struct qcore_error *err);

#endif

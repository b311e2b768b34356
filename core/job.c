/* core/job.c — a plan cut into chunks, and the pthread executor.
 *
 * Chunking: quantization works block by block and a block never spans rows
 * (row lengths are whole blocks), so a chunk is any run of whole blocks of
 * one tensor: [e0, e1) elements with e0, e1 multiples of 256 (a multiple of
 * every block size) except at the tensor's end. Copied tensors are cut by
 * bytes. Compressed-tensors tensors (QUANTIZE_CT) are cut by whole output
 * rows, [r0, r1) with r0 a multiple of CT_ROW_ALIGN, so that each chunk owns
 * whole packed rows, whole scale rows and whole zero-point words (packed 4
 * or 8 rows to a word along dim 0). Every chunk's input and output ranges
 * follow from the plan alone.
 */
#define _GNU_SOURCE /* sync_file_range */
#include "core/job.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/ctq.h"
#include "core/limits.h"

#define CHUNK_ALIGN 256 /* elements: a multiple of every block size */
#define CT_ROW_ALIGN 8  /* rows: a multiple of the rows in a zero-point word (4 or 8) */

struct chunk {
    size_t tensor;            /* index in plan->t */
    uint64_t begin, end;      /* elements (quantize) or bytes (copy) */
};

struct chunk_result {
    struct qcore_err_sums sums;
    uint64_t nonfinite_src;
};

struct qcore_job {
    const struct qcore_plan *plan;
    const struct qcore_kernels *k;
    int out_fd;
    bool metrics;
    bool sync;              /* write-back start per chunk, fsync at the end */
    size_t chunk_bytes;
    size_t n_chunks;
    struct chunk *chunks;             /* begin/end: elements, bytes or rows (by op) */
    struct chunk_result *results;      /* one per chunk, written by its runner */
    atomic_uint_fast32_t *left;        /* chunks left per tensor */
    struct qcore_tensor_metrics *tm;   /* per tensor, after finish */
    atomic_bool canceled;
    atomic_uint_fast64_t chunks_done, tensors_done, bytes_done;
    uint64_t bytes_total;
};

static int make_chunks(struct qcore_job *job, struct qcore_error *err)
{
    const struct qcore_plan *p = job->plan;
    uint64_t per_q = job->chunk_bytes / 4 / CHUNK_ALIGN * CHUNK_ALIGN;
    if (per_q == 0)
        per_q = CHUNK_ALIGN;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < p->n; i++) {
        const struct qcore_plan_tensor *pt = &p->t[i];
        uint64_t total = pt->op == QCORE_OP_QUANTIZE ? (uint64_t)pt->numel : pt->src_bytes;
        uint64_t step = pt->op == QCORE_OP_QUANTIZE ? per_q : job->chunk_bytes;
        if (pt->op == QCORE_OP_QUANTIZE_CT) {
            total = (uint64_t)pt->ct->prm.rows;
            step = per_q / (uint64_t)pt->ct->prm.cols / CT_ROW_ALIGN * CT_ROW_ALIGN;
            if (step == 0)
                step = CT_ROW_ALIGN;
        }
        uint64_t pieces = total == 0 ? 1 : (total + step - 1) / step;
        if (pieces > UINT32_MAX)
            return qcore_error_set(err, QCORE_ELIMIT, QCORE_NO_OFFSET, "too many chunks");
        atomic_init(&job->left[i], (uint_fast32_t)pieces);
        for (uint64_t c = 0; c < pieces; c++) {
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 256;
                struct chunk *nc = realloc(job->chunks, ncap * sizeof *nc);
                if (!nc)
                    return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
                job->chunks = nc;
                cap = ncap;
            }
            job->chunks[n].tensor = i;
            job->chunks[n].begin = c * step;
            job->chunks[n].end = (c + 1) * step < total ? (c + 1) * step : total;
            n++;
        }
    }
    job->n_chunks = n;
    return 0;
}

int qcore_job_create(const struct qcore_plan *plan, int out_fd, const struct qcore_job_opts *o,
                     struct qcore_job **out, struct qcore_error *err)
{
    int rc;
    struct qcore_job *job = calloc(1, sizeof *job);
    *out = NULL;
    if (!job)
        return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    job->plan = plan;
    job->out_fd = out_fd;
    job->k = o && o->kernels ? o->kernels : qcore_kernels_get();
    job->metrics = o ? o->metrics : true;
    job->sync = o ? !o->no_sync : true;
    job->chunk_bytes = o && o->chunk_bytes ? o->chunk_bytes : QCORE_DEFAULT_CHUNK_BYTES;
    if (job->chunk_bytes < 4 * CHUNK_ALIGN)
        job->chunk_bytes = 4 * CHUNK_ALIGN;
    atomic_init(&job->canceled, false);
    atomic_init(&job->chunks_done, 0);
    atomic_init(&job->tensors_done, 0);
    atomic_init(&job->bytes_done, 0);
    job->left = calloc(plan->n ? plan->n : 1, sizeof *job->left);
    job->tm = calloc(plan->n ? plan->n : 1, sizeof *job->tm);
    if (!job->left || !job->tm) {
        rc = qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
        goto fail;
    }
    rc = make_chunks(job, err);
    if (rc != 0)
        goto fail;
    job->results = calloc(job->n_chunks ? job->n_chunks : 1, sizeof *job->results);
    if (!job->results) {
        rc = qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < plan->n; i++)
        job->bytes_total += plan->t[i].src_bytes;

    /* Size the file (padding reads as zeros) and write the header. */
    if (ftruncate(out_fd, 0) != 0 || ftruncate(out_fd, (off_t)plan->out_size) != 0) {
        rc = qcore_error_set(err, errno == ENOSPC || errno == EFBIG ? QCORE_ENOSPC : QCORE_EIO,
                             QCORE_NO_OFFSET, "cannot size the output: %s", strerror(errno));
        goto fail;
    }
    rc = qcore_pwrite_full(out_fd, plan->header, plan->header_len, 0, err);
    if (rc != 0)
        goto fail;
    *out = job;
    return 0;
fail:
    qcore_job_destroy(job);
    return rc;
}

size_t qcore_job_n_chunks(const struct qcore_job *job)
{
    return job->n_chunks;
}

/* ---- per-thread scratch buffers -----------------------------------------
 *
 * A chunk needs a few buffers of up to chunk_bytes each. Allocating and
 * freeing them per chunk costs more than the kernels: blocks this large
 * come from mmap (or are trimmed back to the OS on free), so every chunk
 * would page-fault its buffers in again. Each thread that runs chunks keeps
 * its buffers instead, grown on demand and released when the thread exits
 * (pthread key destructor). Memory stays O(chunk_bytes x threads).
 */
enum { SCR_X, SCR_RAW, SCR_Q, SCR_Y, SCR_W, SCR_S, SCR_Z, SCR_T, SCR_N };

struct scratch {
    void *p[SCR_N];
    size_t cap[SCR_N];
};

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_ok;

static void scratch_destroy(void *v)
{
    struct scratch *s = v;
    for (int i = 0; i < SCR_N; i++)
        free(s->p[i]);
    free(s);
}

static void scratch_key_init(void)
{
    scratch_key_ok = pthread_key_create(&scratch_key, scratch_destroy) == 0;
}

/* This thread's buffer `slot`, at least `size` bytes, or NULL. The content
 * is not preserved across calls. */
static void *scratch_get(int slot, size_t size)
{
    pthread_once(&scratch_once, scratch_key_init);
    if (!scratch_key_ok)
        return NULL;
    struct scratch *s = pthread_getspecific(scratch_key);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s || pthread_setspecific(scratch_key, s) != 0) {
            free(s);
            return NULL;
        }
    }
    if (size == 0)
        size = 1;
    if (s->cap[slot] < size) {
        free(s->p[slot]);
        s->p[slot] = malloc(size);
        s->cap[slot] = s->p[slot] ? size : 0;
    }
    return s->p[slot];
}

/* pwrite a chunk's output, then start its writeback at once (Linux): the
 * final fsync then waits for what is still in flight instead of flushing
 * the whole file after the compute, so disk writes overlap quantization. */
static int write_out(struct qcore_job *job, const void *buf, size_t len, uint64_t off,
                     struct qcore_error *err)
{
    int rc = qcore_pwrite_full(job->out_fd, buf, len, off, err);
#ifdef __linux__
    if (rc == 0 && len > 0 && job->sync)
        (void)sync_file_range(job->out_fd, (off64_t)off, (off64_t)len, SYNC_FILE_RANGE_WRITE);
#endif
    return rc;
}

static int run_copy(struct qcore_job *job, const struct chunk *c, struct qcore_error *err)
{
    const struct qcore_plan_tensor *pt = &job->plan->t[c->tensor];
    const struct qcore_tensor *t = &job->plan->model->tensors[pt->src];
    size_t len = (size_t)(c->end - c->begin);
    if (len == 0)
        return 0;
    void *buf = scratch_get(SCR_RAW, len);
    if (!buf)
        return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    int rc = qcore_pread_full(job->plan->model->fd, buf, len, t->offset + c->begin, err);
    if (rc == 0)
        rc = write_out(job, buf, len, pt->dst_offset + c->begin, err);
    return rc;
}

/* NaN/±Inf in the source, with the table's kernel when it has one. */
static uint64_t count_nonfinite(const struct qcore_kernels *k, const float *x, size_t n)
{
    if (k->count_nonfinite)
        return k->count_nonfinite(x, (int64_t)n);
    uint64_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += !isfinite(x[i]);
    return c;
}

static int run_quantize(struct qcore_job *job, const struct chunk *c, struct chunk_result *r,
                        struct qcore_error *err)
{
    const struct qcore_plan_tensor *pt = &job->plan->t[c->tensor];
    const struct qcore_tensor *t = &job->plan->model->tensors[pt->src];
    const struct qcore_type_traits *st = qcore_type_traits(pt->src_type);
    const struct qcore_type_traits *dt = qcore_type_traits(pt->dst_type);
    const size_t n = (size_t)(c->end - c->begin);
    const size_t in_len = n * st->type_size;
    const size_t out_len = n / dt->block_size * dt->type_size;
    int rc = QCORE_ENOMEM;
    if (n == 0)
        return 0;

    /* The chunk is quantized, and (metrics on) dequantized and compared, a
     * slice at a time, so that the slice of x is still in cache for the
     * three passes and y is only a slice (METRIC_SLICE: a multiple of every
     * block size). The error sums then add slice by slice: the same order
     * whatever the thread count. */
    enum { METRIC_SLICE = 16384 };
    float *x = scratch_get(SCR_X, n * sizeof *x);
    void *raw = pt->src_type == QCORE_TYPE_F32 ? (void *)x : scratch_get(SCR_RAW, in_len);
    uint8_t *q = scratch_get(SCR_Q, out_len);
    float *y = job->metrics ? scratch_get(SCR_Y, METRIC_SLICE * sizeof *y) : NULL;
    if (!x || !raw || !q || (job->metrics && !y))
        return qcore_error_set(err, rc, QCORE_NO_OFFSET, "out of memory");
    rc = qcore_pread_full(job->plan->model->fd, raw, in_len, t->offset + c->begin * st->type_size,
                          err);
    if (rc != 0)
        return rc;
    if (raw != x)
        qcore_to_f32(job->k, pt->src_type, raw, x, (int64_t)n);
    for (size_t o = 0; o < n; o += METRIC_SLICE) {
        const size_t len = n - o < METRIC_SLICE ? n - o : METRIC_SLICE;
        uint8_t *qs = q + o / dt->block_size * dt->type_size;
        job->k->quantize[pt->dst_type](x + o, qs, (int64_t)len);
        if (job->metrics) {
            job->k->dequantize[pt->dst_type](qs, y, (int64_t)len);
            job->k->err_sums(x + o, y, (int64_t)len, &r->sums);
            r->nonfinite_src += count_nonfinite(job->k, x + o, len);
        }
    }
    rc = write_out(job, q, out_len,
                           pt->dst_offset + c->begin / dt->block_size * dt->type_size, err);
    if (rc != 0)
        return rc;
    return 0;
}

/* Buffers of one compressed-tensors chunk (this thread's scratch). */
struct ct_bufs {
    float *x;
    void *raw;
    struct qcore_ct_out o;
    size_t w_len, s_len, z_len;
};

static int ct_bufs_alloc(struct ct_bufs *b, const struct qcore_plan_tensor *pt, size_t n_rows,
                         bool metrics)
{
    const struct qcore_ct_params *prm = &pt->ct->prm;
    const size_t n = n_rows * (size_t)prm->cols, G = (size_t)qcore_ct_groups(prm);
    const size_t pw = qcore_ct_per_word(prm);
    b->w_len = n_rows * (size_t)qcore_ct_row_bytes(prm);
    b->s_len = n_rows * G * qcore_type_traits(prm->scale_type)->type_size;
    b->z_len = pt->ct->present[QCORE_CT_ZERO] ? (n_rows + pw - 1) / pw * G * 4 : 0;
    b->x = scratch_get(SCR_X, n * sizeof *b->x);
    b->raw = pt->src_type == QCORE_TYPE_F32
                 ? (void *)b->x
                 : scratch_get(SCR_RAW, n * qcore_type_traits(pt->src_type)->type_size);
    b->o.weights = scratch_get(SCR_W, b->w_len);
    b->o.scale = scratch_get(SCR_S, b->s_len);
    b->o.zero = b->z_len ? scratch_get(SCR_Z, b->z_len) : NULL;
    b->o.y = metrics ? scratch_get(SCR_Y, n * sizeof *b->o.y) : NULL;
    b->o.scratch = scratch_get(SCR_T, (size_t)prm->cols * sizeof *b->o.scratch);
    if (!b->x || !b->raw || !b->o.weights || !b->o.scale || (b->z_len && !b->o.zero) ||
        (metrics && !b->o.y) || !b->o.scratch)
        return QCORE_ENOMEM;
    return 0;
}

/* <name>_shape: I64 [rows, cols], little-endian; written by the first chunk. */
static int write_shape(struct qcore_job *job, const struct qcore_plan_ct *ct,
                       struct qcore_error *err)
{
    uint8_t b[16];
    const uint64_t v[2] = {(uint64_t)ct->prm.rows, (uint64_t)ct->prm.cols};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 8; i++)
            b[8 * k + i] = (uint8_t)(v[k] >> (8 * i));
    return write_out(job, b, sizeof b, ct->offset[QCORE_CT_SHAPE], err);
}

/* Rows [begin, end) of a compressed-tensors tensor: read, widen to F32,
 * quantize, write each companion's slice, sum the errors. */
static int run_ct(struct qcore_job *job, const struct chunk *c, struct chunk_result *r,
                  struct qcore_error *err)
{
    const struct qcore_plan_tensor *pt = &job->plan->t[c->tensor];
    const struct qcore_plan_ct *ct = pt->ct;
    const struct qcore_tensor *t = &job->plan->model->tensors[pt->src];
    const size_t ssize = qcore_type_traits(pt->src_type)->type_size;
    const size_t n_rows = (size_t)(c->end - c->begin), cols = (size_t)ct->prm.cols;
    const size_t n = n_rows * cols;
    const uint64_t G = (uint64_t)qcore_ct_groups(&ct->prm), pw = qcore_ct_per_word(&ct->prm);
    struct ct_bufs b = {0};
    int rc = ct_bufs_alloc(&b, pt, n_rows, job->metrics);
    if (rc != 0) {
        qcore_error_set(err, rc, QCORE_NO_OFFSET, "out of memory");
        goto out;
    }
    rc = qcore_pread_full(job->plan->model->fd, b.raw, n * ssize,
                          t->offset + c->begin * cols * ssize, err);
    if (rc != 0)
        goto out;
    if (b.raw != b.x)
        qcore_to_f32(job->k, pt->src_type, b.raw, b.x, (int64_t)n);
    /* The table's kernel (same bytes as the scalar qcore_ct_quantize_rows). */
    (job->k->ct_quantize_rows ? job->k->ct_quantize_rows
                              : qcore_ct_quantize_rows)(&ct->prm, b.x, (int64_t)n_rows, &b.o);
    rc = write_out(job, b.o.weights, b.w_len,
                           ct->offset[QCORE_CT_WEIGHT] + c->begin * qcore_ct_row_bytes(&ct->prm),
                           err);
    if (rc == 0)
        rc = write_out(job, b.o.scale, b.s_len,
                               ct->offset[QCORE_CT_SCALE] + c->begin * (b.s_len / n_rows), err);
    if (rc == 0 && b.z_len)
        rc = write_out(job, b.o.zero, b.z_len,
                               ct->offset[QCORE_CT_ZERO] + c->begin / pw * G * 4, err);
    if (rc == 0 && c->begin == 0 && ct->present[QCORE_CT_SHAPE])
        rc = write_shape(job, ct, err);
    if (rc == 0 && job->metrics) {
        job->k->err_sums(b.x, b.o.y, (int64_t)n, &r->sums);
        r->nonfinite_src = count_nonfinite(job->k, b.x, n);
    }
out:
    return rc;
}

int qcore_job_run_chunk(struct qcore_job *job, size_t i, struct qcore_error *err)
{
    if (atomic_load(&job->canceled))
        return qcore_error_set(err, QCORE_ECANCELED, QCORE_NO_OFFSET, "canceled");
    const struct chunk *c = &job->chunks[i];
    const struct qcore_plan_tensor *pt = &job->plan->t[c->tensor];
    struct chunk_result *r = &job->results[i];
    memset(r, 0, sizeof *r);
    int rc = pt->op == QCORE_OP_QUANTIZE      ? run_quantize(job, c, r, err)
             : pt->op == QCORE_OP_QUANTIZE_CT ? run_ct(job, c, r, err)
                                              : run_copy(job, c, err);
    if (rc != 0)
        return rc;
    uint64_t src_done = c->end - c->begin;
    if (pt->op == QCORE_OP_QUANTIZE)
        src_done *= qcore_type_traits(pt->src_type)->type_size;
    else if (pt->op == QCORE_OP_QUANTIZE_CT)
        src_done *= (uint64_t)pt->ct->prm.cols * qcore_type_traits(pt->src_type)->type_size;
    atomic_fetch_add(&job->bytes_done, src_done);
    atomic_fetch_add(&job->chunks_done, 1);
    if (atomic_fetch_sub(&job->left[c->tensor], 1) == 1)
        atomic_fetch_add(&job->tensors_done, 1);
    return 0;
}

void qcore_job_cancel(struct qcore_job *job)
{
    atomic_store(&job->canceled, true);
}

bool qcore_job_canceled(const struct qcore_job *job)
{
    return atomic_load(&((struct qcore_job *)job)->canceled);
}

void qcore_job_progress(const struct qcore_job *job, struct qcore_progress *p)
{
    struct qcore_job *j = (struct qcore_job *)job; /* atomics are read-only here */
    p->chunks_done = atomic_load(&j->chunks_done);
    p->chunks_total = job->n_chunks;
    p->tensors_done = atomic_load(&j->tensors_done);
    p->tensors_total = job->plan->n;
    p->bytes_done = atomic_load(&j->bytes_done);
    p->bytes_total = job->bytes_total;
}

static void sums_add(struct qcore_err_sums *a, const struct qcore_err_sums *b)
{
    a->sum_x2 += b->sum_x2;
    a->sum_y2 += b->sum_y2;
    a->sum_xy += b->sum_xy;
    a->sum_e2 += b->sum_e2;
    if (b->max_abs > a->max_abs)
        a->max_abs = b->max_abs;
    a->n += b->n;
    a->nonfinite += b->nonfinite;
}

/* Metrics of DESIGN.md §5 from the summed errors. */
static void metrics_from_sums(struct qcore_tensor_metrics *m)
{
    const struct qcore_err_sums *s = &m->sums;
    m->mse = s->n ? s->sum_e2 / (double)s->n : 0.0;
    m->rmse = sqrt(m->mse);
    m->max_abs_err = s->max_abs;
    m->sqnr_db = s->sum_e2 > 0 ? 10.0 * log10(s->sum_x2 / s->sum_e2) : NAN;
    double den = sqrt(s->sum_x2) * sqrt(s->sum_y2);
    m->cosine = den > 0 ? s->sum_xy / den : NAN;
}

int qcore_job_finish(struct qcore_job *job, struct qcore_error *err)
{
    const struct qcore_plan *p = job->plan;
    for (size_t i = 0; i < p->n; i++) {
        memset(&job->tm[i], 0, sizeof job->tm[i]);
        job->tm[i].has_error_metrics = job->metrics && p->t[i].op != QCORE_OP_COPY;
    }
    /* Reduce in chunk order: the sums do not depend on thread timing. */
    for (size_t c = 0; c < job->n_chunks; c++) {
        struct qcore_tensor_metrics *m = &job->tm[job->chunks[c].tensor];
        sums_add(&m->sums, &job->results[c].sums);
        m->nonfinite_src += job->results[c].nonfinite_src;
    }
    for (size_t i = 0; i < p->n; i++)
        if (job->tm[i].has_error_metrics)
            metrics_from_sums(&job->tm[i]);
    if (job->sync && fsync(job->out_fd) != 0 && errno != EINVAL && errno != EROFS)
        return qcore_error_set(err, errno == ENOSPC ? QCORE_ENOSPC : QCORE_EIO, QCORE_NO_OFFSET,
                               "fsync of the output failed: %s", strerror(errno));
    return 0;
}

const struct qcore_plan *qcore_job_plan(const struct qcore_job *job)
{
    return job->plan;
}

const struct qcore_tensor_metrics *qcore_job_metrics(const struct qcore_job *job, size_t i)
{
    return i < job->plan->n ? &job->tm[i] : NULL;
}

void qcore_job_destroy(struct qcore_job *job)
{
    if (!job)
        return;
    free(job->chunks);
    free(job->results);
    free((void *)job->left);
    free(job->tm);
    free(job);
}

/* ---- the pthread executor --------------------------------------------- */

struct exec_shared {
    struct qcore_job *job;
    atomic_size_t next;
    atomic_int failed;
    pthread_mutex_t lock;     /* guards err */
    struct qcore_error err;
};

static void *exec_worker(void *arg)
{
    struct exec_shared *s = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&s->next, 1);
        if (i >= s->job->n_chunks || atomic_load(&s->failed))
            break;
        struct qcore_error e = {0};
        int rc = qcore_job_run_chunk(s->job, i, &e);
        if (rc != 0) {
            pthread_mutex_lock(&s->lock);
            if (!atomic_load(&s->failed)) {
                s->err = e;
                s->err.code = rc;
                atomic_store(&s->failed, rc);
            }
            pthread_mutex_unlock(&s->lock);
            break;
        }
    }
    return NULL;
}

int qcore_exec_run(struct qcore_job *job, int nthreads,
                   void (*progress)(const struct qcore_progress *p, void *ud), void *ud,
                   struct qcore_error *err)
{
    if (nthreads < 1)
        nthreads = 1;
    if (nthreads > 256)
        nthreads = 256;
    struct exec_shared s = {.job = job};
    atomic_init(&s.next, 0);
    atomic_init(&s.failed, 0);
    pthread_mutex_init(&s.lock, NULL);
    pthread_t *th = calloc((size_t)nthreads, sizeof *th);
    if (!th) {
        pthread_mutex_destroy(&s.lock);
        return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    }
    int started = 0;
    for (; started < nthreads; started++)
        if (pthread_create(&th[started], NULL, exec_worker, &s) != 0)
            break;
    if (started == 0)
        exec_worker(&s); /* no thread could start: run inline */
    while (progress && started > 0) {
        struct qcore_progress pr;
        qcore_job_progress(job, &pr);
        progress(&pr, ud);
        if (pr.chunks_done >= pr.chunks_total || atomic_load(&s.failed))
            break;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    free(th);
    pthread_mutex_destroy(&s.lock);
    int rc = atomic_load(&s.failed);
    if (rc != 0) {
        if (err)
            *err = s.err;
        return rc;
    }
    if (progress) {
        struct qcore_progress pr;
        qcore_job_progress(job, &pr);
        progress(&pr, ud);
    }
    return qcore_job_finish(job, err);
}

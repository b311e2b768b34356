/* tests/fuzz/fuzz_model.h — what the model fuzzers do with a file that opens.
 *
 * qcore_model_open promises (core/formats/model.h): every tensor inside the
 * file, whole blocks, no overlap, unique NUL-free names, dims >= 0 whose
 * product fits. Those promises are checked here, then the model goes down
 * the path an upload takes in the daemon: a plan, and (for small models) a
 * real job into a memfd with metrics on, so that a reader bug that lets a
 * tensor reach outside its bytes shows up as an ASan report in the executor.
 */
#ifndef QD_FUZZ_MODEL_H
#define QD_FUZZ_MODEL_H

#include "core/formats/model.h"
#include "core/job.h"
#include "core/plan.h"
#include "fuzz_util.h"

/* Run a job only for small files: keeps executions fast. */
#define FUZZ_JOB_MAX_BYTES (256u << 10)

struct fuzz_span {
    uint64_t begin, end;
};

static int fuzz_span_cmp(const void *a, const void *b)
{
    const struct fuzz_span *x = a, *y = b;
    return (x->begin > y->begin) - (x->begin < y->begin);
}

static int fuzz_name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void fuzz_check_model(const struct qcore_model *m)
{
    size_t n = m->n_tensors;
    struct fuzz_span *s = calloc(n ? n : 1, sizeof *s);
    const char **names = calloc(n ? n : 1, sizeof *names);
    FUZZ_CHECK(s && names, "oom");
    for (size_t i = 0; i < n; i++) {
        const struct qcore_tensor *t = &m->tensors[i];
        FUZZ_CHECK(t->name && t->name[0], "tensor %zu has no name", i);
        FUZZ_CHECK(t->n_dims <= QCORE_MAX_DIMS, "n_dims %u", t->n_dims);
        if (m->format == QCORE_FORMAT_GGUF)
            FUZZ_CHECK(t->n_dims >= 1 && t->n_dims <= QCORE_GGUF_MAX_DIMS, "gguf n_dims %u",
                       t->n_dims);
        int64_t numel = 1;
        for (uint32_t d = 0; d < QCORE_MAX_DIMS; d++) {
            FUZZ_CHECK(t->ne[d] >= 0, "negative dim");
            if (d >= t->n_dims)
                FUZZ_CHECK(t->ne[d] == 1, "unused dim %u is %lld", d, (long long)t->ne[d]);
            if (t->ne[d] != 0)
                FUZZ_CHECK(numel <= INT64_MAX / t->ne[d], "numel overflows");
            numel *= t->ne[d];
        }
        FUZZ_CHECK(numel == t->numel, "numel %lld != %lld", (long long)numel, (long long)t->numel);
        uint64_t nb = 0;
        FUZZ_CHECK(qcore_type_nbytes(t->type, (uint64_t)numel, &nb) && nb == t->nbytes,
                   "nbytes %llu for type %d", (unsigned long long)t->nbytes, t->type);
        FUZZ_CHECK(t->offset <= m->file_size && t->nbytes <= m->file_size - t->offset,
                   "tensor '%s' [%llu, +%llu) outside the %llu-byte file", t->name,
                   (unsigned long long)t->offset, (unsigned long long)t->nbytes,
                   (unsigned long long)m->file_size);
        s[i] = (struct fuzz_span){t->offset, t->offset + t->nbytes};
        names[i] = t->name;
    }
    qsort(s, n, sizeof *s, fuzz_span_cmp);
    for (size_t i = 1; i < n; i++)
        FUZZ_CHECK(s[i].begin >= s[i - 1].end || s[i - 1].begin == s[i - 1].end ||
                       s[i].begin == s[i].end,
                   "tensors overlap");
    qsort(names, n, sizeof *names, fuzz_name_cmp);
    for (size_t i = 1; i < n; i++)
        FUZZ_CHECK(strcmp(names[i - 1], names[i]) != 0, "duplicate name '%s'", names[i]);
    for (size_t i = 0; i < m->n_kv; i++)
        FUZZ_CHECK(m->kv[i].key && m->kv[i].key[0] && (m->kv[i].raw || !m->kv[i].raw_len),
                   "kv %zu", i);
    free(names);
    free(s);
}

/* Plan the model for `ftype` into `fmt` and, when small, run the job. */
static void fuzz_plan_and_run(const struct qcore_model *m, enum qcore_ftype ftype,
                              enum qcore_format fmt)
{
    struct qcore_plan_opts o;
    struct qcore_plan *p = NULL;
    struct qcore_job *job = NULL;
    struct qcore_error err;
    qcore_plan_opts_init(&o);
    o.ftype = ftype;
    o.out_format = fmt;
    if (qcore_plan_build(m, &o, &p, &err) != 0)
        return;
    FUZZ_CHECK(p->header_len <= p->out_size, "header beyond the output");
    if (p->out_size > FUZZ_JOB_MAX_BYTES || m->file_size > FUZZ_JOB_MAX_BYTES) {
        qcore_plan_destroy(p);
        return;
    }
    int fd = memfd_create("fuzz-out", MFD_CLOEXEC);
    if (fd < 0) {
        qcore_plan_destroy(p);
        return;
    }
    struct qcore_job_opts jo = {.chunk_bytes = 4096, .metrics = true,
                                .kernels = qcore_kernels_ref()};
    if (qcore_job_create(p, fd, &jo, &job, &err) == 0) {
        int rc = 0;
        for (size_t i = 0; i < qcore_job_n_chunks(job) && rc == 0; i++)
            rc = qcore_job_run_chunk(job, i, &err);
        if (rc == 0)
            rc = qcore_job_finish(job, &err);
        /* the data are in bounds by contract: only a data problem may fail */
        FUZZ_CHECK(rc == 0 || rc == QCORE_EDATA, "job failed: %d %s", rc, err.msg);
        qcore_job_destroy(job);
    }
    close(fd);
    qcore_plan_destroy(p);
}

/* Open the bytes as a model; on success check and exercise it. Returns the
 * code of qcore_model_open_fd. */
static int fuzz_model_one(const uint8_t *data, size_t size, bool run)
{
    struct qcore_model *m = NULL;
    struct qcore_error err;
    int fd = fuzz_memfd(data, size);
    if (fd < 0)
        return 0;
    memset(&err, 0, sizeof err);
    int rc = qcore_model_open_fd(fd, &m, &err);
    if (rc != 0) {
        FUZZ_CHECK(m == NULL, "model returned on failure");
        FUZZ_CHECK(rc == QCORE_EFORMAT || rc == QCORE_EMALFORMED || rc == QCORE_EUNSUPPORTED ||
                       rc == QCORE_ELIMIT,
                   "unexpected code %d: %s", rc, err.msg);
        FUZZ_CHECK(err.code == rc && err.msg[0] && memchr(err.msg, '\n', sizeof err.msg) == NULL,
                   "error message not set or not one line: '%s'", err.msg);
        return rc;
    }
    FUZZ_CHECK(m->file_size == size, "file size");
    fuzz_check_model(m);
    if (run) {
        fuzz_plan_and_run(m, QCORE_FTYPE_Q4_K_M, QCORE_FORMAT_GGUF);
        fuzz_plan_and_run(m, QCORE_FTYPE_Q8_0, QCORE_FORMAT_SAFETENSORS);
    }
    qcore_model_close(m);
    return 0;
}

#endif

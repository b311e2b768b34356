/* core/formats/model.c — format detection, open/close and lookups. */
#include "core/formats/model.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/formats/gguf.h"
#include "core/formats/safetensors.h"

/* Bytes of the file head looked at by detection. */
#define DETECT_BYTES 16

enum qcore_format qcore_format_detect(const uint8_t *head, size_t len)
{
    if (len >= 4 && memcmp(head, "GGUF", 4) == 0)
        return QCORE_FORMAT_GGUF;
    /* safetensors: u64 LE header length, then the JSON object's '{' */
    if (len >= 9 && head[8] == '{')
        return QCORE_FORMAT_SAFETENSORS;
    return QCORE_FORMAT_UNKNOWN;
}

int qcore_model_open(const char *path, struct qcore_model **out, struct qcore_error *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        qcore_error_set(err, QCORE_EIO, QCORE_NO_OFFSET, "cannot open %s: %s", path, strerror(e));
        if (err)
            err->sys_errno = e;
        return QCORE_EIO;
    }
    return qcore_model_open_fd(fd, out, err);
}

static int read_head(struct qcore_model *m, struct qcore_error *err)
{
    struct stat st;
    uint8_t head[DETECT_BYTES];
    if (fstat(m->fd, &st) != 0) {
        int e = errno;
        qcore_error_set(err, QCORE_EIO, QCORE_NO_OFFSET, "fstat failed: %s", strerror(e));
        if (err)
            err->sys_errno = e;
        return QCORE_EIO;
    }
    if (!S_ISREG(st.st_mode))
        return qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET, "not a regular file");
    m->file_size = (uint64_t)st.st_size;
    size_t n = m->file_size < DETECT_BYTES ? (size_t)m->file_size : DETECT_BYTES;
    int rc = qcore_pread_full(m->fd, head, n, 0, err);
    if (rc)
        return rc;
    m->format = qcore_format_detect(head, n);
    if (m->format == QCORE_FORMAT_UNKNOWN)
        return qcore_error_set(err, QCORE_EFORMAT, 0,
                               "not a GGUF or safetensors file (%" PRIu64
                               " bytes, unknown magic at offset 0)",
                               m->file_size);
    return 0;
}

int qcore_model_open_fd(int fd, struct qcore_model **out, struct qcore_error *err)
{
    *out = NULL;
    struct qcore_model *m = calloc(1, sizeof *m);
    if (!m) {
        close(fd);
        return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    }
    m->fd = fd;
    int rc = read_head(m, err);
    if (rc == 0)
        rc = m->format == QCORE_FORMAT_GGUF ? qcore_gguf_read(m, err) : qcore_st_read(m, err);
    if (rc) {
        qcore_model_close(m);
        return rc;
    }
    *out = m;
    return 0;
}

void qcore_model_close(struct qcore_model *m)
{
    if (!m)
        return;
    if (m->kv)
        for (size_t i = 0; i < m->n_kv; i++) {
            free(m->kv[i].key);
            free(m->kv[i].raw);
        }
    free(m->kv);
    if (m->tensors)
        for (size_t i = 0; i < m->n_tensors; i++)
            free(m->tensors[i].name);
    free(m->tensors);
    free(m->st_metadata);
    if (m->fd >= 0)
        close(m->fd);
    free(m);
}

/* Linear scans: models hold thousands of entries at most in practice, and
 * callers that need many lookups iterate m->tensors instead. */
const struct qcore_kv *qcore_model_kv(const struct qcore_model *m, const char *key)
{
    for (size_t i = 0; i < m->n_kv; i++)
        if (strcmp(m->kv[i].key, key) == 0)
            return &m->kv[i];
    return NULL;
}

const struct qcore_tensor *qcore_model_tensor(const struct qcore_model *m, const char *name)
{
    for (size_t i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0)
            return &m->tensors[i];
    return NULL;
}

static uint64_t raw_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int qcore_kv_get_int(const struct qcore_kv *kv, int64_t *out)
{
    static const uint8_t size[QCORE_GGUF_VTYPE_COUNT] = {
        [QCORE_GGUF_U8] = 1,  [QCORE_GGUF_I8] = 1,  [QCORE_GGUF_U16] = 2, [QCORE_GGUF_I16] = 2,
        [QCORE_GGUF_U32] = 4, [QCORE_GGUF_I32] = 4, [QCORE_GGUF_U64] = 8, [QCORE_GGUF_I64] = 8,
    };
    if (!kv || kv->vtype >= QCORE_GGUF_VTYPE_COUNT || !size[kv->vtype] || !kv->raw ||
        kv->raw_len != size[kv->vtype])
        return -1;
    size_t n = size[kv->vtype];
    uint64_t v = raw_le(kv->raw, n);
    bool is_signed = kv->vtype == QCORE_GGUF_I8 || kv->vtype == QCORE_GGUF_I16 ||
                     kv->vtype == QCORE_GGUF_I32 || kv->vtype == QCORE_GGUF_I64;
    if (is_signed) {
        if (n < 8 && (v >> (8 * n - 1)) & 1)
            v |= UINT64_MAX << (8 * n); /* sign-extend */
        *out = (int64_t)v;              /* two's complement, as gcc and clang define it */
        return 0;
    }
    if (v > (uint64_t)INT64_MAX)
        return -1;
    *out = (int64_t)v;
    return 0;
}

int qcore_kv_get_str(const struct qcore_kv *kv, const char **s, size_t *len)
{
    if (!kv || kv->vtype != QCORE_GGUF_STRING || !kv->raw || kv->raw_len < 8)
        return -1;
    uint64_t n = raw_le(kv->raw, 8);
    if (n != kv->raw_len - 8)
        return -1;
    *s = (const char *)kv->raw + 8;
    *len = (size_t)n;
    return 0;
}

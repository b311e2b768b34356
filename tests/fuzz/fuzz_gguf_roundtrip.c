/* tests/fuzz/fuzz_gguf_roundtrip.c — read -> write -> read is the identity.
 *
 * A GGUF input that opens is written again with the writer
 * (qcore_gguf_layout_build on its KVs and tensor infos, then the tensor data
 * copied to the new offsets) and reopened: the KVs (keys, types, raw bytes,
 * in order) and the tensors (names, dims, types, sizes, data bytes, in order)
 * must be equal. The writer must accept everything the reader accepts.
 */
#include "core/formats/gguf.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Copy the tensor data of `a` to their offsets in `l`, zero padding between. */
static void write_data(int out, const struct qcore_model *a, const struct qcore_gguf_layout *l)
{
    struct qcore_error err;
    FUZZ_CHECK(ftruncate(out, (off_t)l->file_size) == 0, "ftruncate");
    FUZZ_CHECK(qcore_pwrite_full(out, l->header, l->header_len, 0, &err) == 0, "%s", err.msg);
    for (size_t i = 0; i < a->n_tensors; i++) {
        const struct qcore_tensor *t = &a->tensors[i];
        FUZZ_CHECK(l->nbytes[i] == t->nbytes, "layout size of tensor %zu", i);
        uint8_t *buf = malloc(t->nbytes ? (size_t)t->nbytes : 1);
        FUZZ_CHECK(buf, "oom");
        FUZZ_CHECK(qcore_pread_full(a->fd, buf, (size_t)t->nbytes, t->offset, &err) == 0,
                   "read tensor %zu: %s", i, err.msg);
        FUZZ_CHECK(qcore_pwrite_full(out, buf, (size_t)t->nbytes, l->offsets[i], &err) == 0,
                   "write tensor %zu: %s", i, err.msg);
        free(buf);
    }
}

static void compare(const struct qcore_model *a, const struct qcore_model *b)
{
    struct qcore_error err;
    FUZZ_CHECK(a->n_kv == b->n_kv && a->n_tensors == b->n_tensors, "counts");
    FUZZ_CHECK(a->alignment == b->alignment, "alignment %u != %u", a->alignment, b->alignment);
    for (size_t i = 0; i < a->n_kv; i++) {
        const struct qcore_kv *x = &a->kv[i], *y = &b->kv[i];
        FUZZ_CHECK(strcmp(x->key, y->key) == 0 && x->vtype == y->vtype &&
                       x->arr_type == y->arr_type && x->arr_len == y->arr_len &&
                       x->raw_len == y->raw_len &&
                       (x->raw_len == 0 || memcmp(x->raw, y->raw, x->raw_len) == 0),
                   "kv %zu '%s' differs", i, x->key);
    }
    for (size_t i = 0; i < a->n_tensors; i++) {
        const struct qcore_tensor *x = &a->tensors[i], *y = &b->tensors[i];
        FUZZ_CHECK(strcmp(x->name, y->name) == 0 && x->n_dims == y->n_dims &&
                       memcmp(x->ne, y->ne, sizeof x->ne) == 0 && x->type == y->type &&
                       x->nbytes == y->nbytes && x->numel == y->numel,
                   "tensor %zu '%s' differs", i, x->name);
        uint8_t *p = malloc(x->nbytes ? (size_t)x->nbytes : 1);
        uint8_t *q = malloc(x->nbytes ? (size_t)x->nbytes : 1);
        FUZZ_CHECK(p && q, "oom");
        FUZZ_CHECK(qcore_pread_full(a->fd, p, (size_t)x->nbytes, x->offset, &err) == 0 &&
                       qcore_pread_full(b->fd, q, (size_t)y->nbytes, y->offset, &err) == 0,
                   "read: %s", err.msg);
        FUZZ_CHECK(memcmp(p, q, (size_t)x->nbytes) == 0, "data of '%s' differs", x->name);
        free(p);
        free(q);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct qcore_model *a = NULL, *b = NULL;
    struct qcore_gguf_layout l;
    struct qcore_error err;
    if (size > (1u << 20))
        return 0;
    int fd = fuzz_memfd(data, size);
    if (fd < 0)
        return 0;
    if (qcore_model_open_fd(fd, &a, &err) != 0)
        return 0;
    if (a->format != QCORE_FORMAT_GGUF) {
        qcore_model_close(a);
        return 0;
    }
    struct qcore_gguf_out_tensor *t = calloc(a->n_tensors ? a->n_tensors : 1, sizeof *t);
    FUZZ_CHECK(t, "oom");
    for (size_t i = 0; i < a->n_tensors; i++)
        t[i] = (struct qcore_gguf_out_tensor){a->tensors[i].name, a->tensors[i].n_dims,
                                              a->tensors[i].ne, a->tensors[i].type};
    int rc = qcore_gguf_layout_build(a->kv, a->n_kv, t, a->n_tensors, a->alignment, &l, &err);
    FUZZ_CHECK(rc == 0, "the writer refuses what the reader accepted: %s", err.msg);
    int out = memfd_create("fuzz-rt", MFD_CLOEXEC);
    FUZZ_CHECK(out >= 0, "memfd");
    write_data(out, a, &l);
    rc = qcore_model_open_fd(out, &b, &err);
    FUZZ_CHECK(rc == 0, "the reader refuses what the writer wrote: %s", err.msg);
    FUZZ_CHECK(b->file_size == l.file_size && b->data_offset == l.header_len, "layout");
    compare(a, b);
    qcore_model_close(b);
    qcore_gguf_layout_cleanup(&l);
    free(t);
    qcore_model_close(a);
    return 0;
}

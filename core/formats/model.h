/* core/formats/model.h — the common view of a model file, whatever its format.
 *
 * qcore_model_open() detects the format by magic bytes (never by name), reads
 * and validates the header against the real file size, and fills a
 * struct qcore_model. Tensor data are NOT read: callers pread() them from
 * `fd` at `tensor.offset` (absolute file offset), in bounded pieces.
 *
 * Every tensor of an opened model is guaranteed: offset + nbytes <= file_size,
 * nbytes == element count x type size (whole blocks), no two tensors overlap,
 * names unique and NUL-free, dims >= 0 and their product fits in int64.
 *
 * Ownership: the model owns everything it points to and its fd.
 * A model may be read from several threads at once (pread only).
 */
#ifndef QCORE_MODEL_H
#define QCORE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/limits.h"
#include "core/types.h"

enum qcore_format {
    QCORE_FORMAT_UNKNOWN = 0,
    QCORE_FORMAT_GGUF,
    QCORE_FORMAT_SAFETENSORS,
};

/* GGUF metadata value types (gguf_type). */
enum qcore_gguf_vtype {
    QCORE_GGUF_U8 = 0, QCORE_GGUF_I8 = 1, QCORE_GGUF_U16 = 2, QCORE_GGUF_I16 = 3,
    QCORE_GGUF_U32 = 4, QCORE_GGUF_I32 = 5, QCORE_GGUF_F32 = 6, QCORE_GGUF_BOOL = 7,
    QCORE_GGUF_STRING = 8, QCORE_GGUF_ARRAY = 9, QCORE_GGUF_U64 = 10, QCORE_GGUF_I64 = 11,
    QCORE_GGUF_F64 = 12, QCORE_GGUF_VTYPE_COUNT = 13,
};

/* One GGUF key/value. `raw` holds the value's encoding exactly as in the file
 * (after the i32 value type): for an array, its element type, count and
 * elements. Writers copy `raw` verbatim. */
struct qcore_kv {
    char *key;                /* NUL-terminated, validated */
    uint32_t vtype;           /* enum qcore_gguf_vtype */
    uint32_t arr_type;        /* element type when vtype == ARRAY */
    uint64_t arr_len;         /* element count when vtype == ARRAY */
    uint8_t *raw;
    size_t raw_len;
};

struct qcore_tensor {
    char *name;               /* NUL-terminated */
    uint32_t n_dims;          /* 0..QCORE_MAX_DIMS (0 = scalar) */
    int64_t ne[QCORE_MAX_DIMS]; /* ggml order: ne[0] innermost; unused dims = 1 */
    int type;                 /* enum qcore_type */
    uint64_t offset;          /* absolute offset of the data in the file */
    uint64_t nbytes;
    int64_t numel;
};

struct qcore_model {
    enum qcore_format format;
    int fd;
    uint64_t file_size;
    /* GGUF */
    uint32_t version;
    uint32_t alignment;       /* 32 unless general.alignment */
    uint64_t data_offset;     /* absolute start of the data section */
    size_t n_kv;
    struct qcore_kv *kv;
    /* safetensors: the __metadata__ object as JSON text, or NULL */
    char *st_metadata;
    size_t n_tensors;
    struct qcore_tensor *tensors;
};

/* Detect the format of the first bytes of a file (needs >= 8 bytes). */
enum qcore_format qcore_format_detect(const uint8_t *head, size_t len);

/* Open and validate `path`. On failure returns a negative code, *out = NULL,
 * and err names the problem and offset (QCORE_EFORMAT for an unknown magic,
 * QCORE_EMALFORMED for a broken header, QCORE_EUNSUPPORTED, QCORE_ELIMIT). */
int qcore_model_open(const char *path, struct qcore_model **out, struct qcore_error *err);

/* Same on an open fd, which the model takes over (closed by _close, also
 * on failure). */
int qcore_model_open_fd(int fd, struct qcore_model **out, struct qcore_error *err);

/* Close the fd and free everything. Accepts NULL. */
void qcore_model_close(struct qcore_model *m);

/* Find a KV by key, or NULL. */
const struct qcore_kv *qcore_model_kv(const struct qcore_model *m, const char *key);

/* Read a scalar integer KV (any integer vtype) into *out. 0 or -1. */
int qcore_kv_get_int(const struct qcore_kv *kv, int64_t *out);

/* Read a string KV: pointer into raw (not NUL-terminated) and length. 0 or -1. */
int qcore_kv_get_str(const struct qcore_kv *kv, const char **s, size_t *len);

/* Find a tensor by name, or NULL. */
const struct qcore_tensor *qcore_model_tensor(const struct qcore_model *m, const char *name);

/* pread exactly `len` bytes at `off` (absolute), retrying on EINTR/short
 * reads; fails with QCORE_EIO or QCORE_EMALFORMED on EOF. Thread-safe. */
int qcore_pread_full(int fd, void *buf, size_t len, uint64_t off, struct qcore_error *err);
/* pwrite exactly `len` bytes at `off`; QCORE_ENOSPC on ENOSPC/EDQUOT. */
int qcore_pwrite_full(int fd, const void *buf, size_t len, uint64_t off, struct qcore_error *err);

#endif

/* core/formats/gguf.h — GGUF v2/v3 reader and v3 writer.
 *
 * The reader is used through qcore_model_open(). The writer does not stream:
 * it serialises the header (KVs + tensor infos + padding) into memory and
 * computes every tensor's data offset, so that chunks can pwrite() tensor
 * data to their final place in any order. Layout (as ggml's writer):
 * header padded to `alignment`; tensors in the given order, each padded with
 * zeros to `alignment`, the last one included.
 */
#ifndef QCORE_GGUF_H
#define QCORE_GGUF_H

#include "core/formats/model.h"

/* Parse the GGUF header read from fd (file_size bytes). Called by
 * qcore_model_open; fills m's GGUF fields and tensors. */
int qcore_gguf_read(struct qcore_model *m, struct qcore_error *err);

struct qcore_gguf_out_tensor {
    const char *name;
    uint32_t n_dims;          /* 1..4 */
    const int64_t *ne;        /* n_dims entries, ggml order */
    int type;                 /* ggml type id */
};

struct qcore_gguf_layout {
    uint8_t *header;          /* serialised header incl. padding to alignment */
    size_t header_len;        /* multiple of alignment */
    uint64_t *offsets;        /* absolute file offset of each tensor's data */
    uint64_t *nbytes;         /* data bytes of each tensor (without padding) */
    uint64_t file_size;       /* total, last tensor padded */
};

/* Build the header for `kv` (written in order, raw bytes copied) and the
 * tensors (in order). Validates names (< 64 bytes, unique), dims (<= 4) and
 * block fit, with an error naming the tensor. */
int qcore_gguf_layout_build(const struct qcore_kv *kv, size_t n_kv,
                            const struct qcore_gguf_out_tensor *t, size_t n_t,
                            uint32_t alignment, struct qcore_gguf_layout *out,
                            struct qcore_error *err);
void qcore_gguf_layout_cleanup(struct qcore_gguf_layout *l);

/* Make a u32 KV (owned, free with qcore_kv_cleanup). */
int qcore_kv_make_u32(struct qcore_kv *kv, const char *key, uint32_t v);
/* Make a string KV. */
int qcore_kv_make_str(struct qcore_kv *kv, const char *key, const char *s);
/* Deep copy. */
int qcore_kv_copy(struct qcore_kv *dst, const struct qcore_kv *src);
void qcore_kv_cleanup(struct qcore_kv *kv);

#endif

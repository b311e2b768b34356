/* core/plan.h — which tensors are quantized, to what, and where they go.
 *
 * A plan is built from an opened model and the user's options before any
 * data is touched: for each output tensor its source, target type, output
 * byte range and (for GGUF/safetensors output) the serialised header. The
 * type choice follows llama-quantize (mixes, --pure, overrides, output and
 * token-embedding types, the shape fallback). The plan is immutable once
 * built and may be shared by worker threads.
 */
#ifndef QCORE_PLAN_H
#define QCORE_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/formats/model.h"
#include "core/types.h"

#define QCORE_TYPE_UNSET (-1)

struct qcore_override {
    const char *pattern;      /* POSIX extended regex, searched in the name */
    int type;                 /* enum qcore_type */
};

struct qcore_plan_opts {
    enum qcore_ftype ftype;
    bool pure;
    const struct qcore_override *overrides; /* first match wins */
    size_t n_overrides;
    int output_tensor_type;   /* QCORE_TYPE_UNSET: by the mix */
    int token_embedding_type; /* QCORE_TYPE_UNSET: by the mix */
    bool leave_output_tensor;
    enum qcore_format out_format; /* GGUF or SAFETENSORS */
};

/* Sensible defaults: Q8_0... no: ftype Q4_K_M, GGUF output, nothing set. */
void qcore_plan_opts_init(struct qcore_plan_opts *o);

enum qcore_plan_op {
    QCORE_OP_COPY = 0,        /* bytes copied unchanged */
    QCORE_OP_QUANTIZE,        /* rows converted src_type -> dst_type */
};

#define QCORE_NOTE_MAX 160

struct qcore_plan_tensor {
    size_t src;               /* index in model->tensors */
    const char *name;         /* points into the model */
    enum qcore_plan_op op;
    int src_type, dst_type;
    uint32_t n_dims;
    int64_t ne[QCORE_MAX_DIMS];
    int64_t numel, row_len, n_rows;
    uint64_t src_bytes, dst_bytes;
    uint64_t dst_offset;      /* absolute offset in the output file */
    bool fallback;            /* the mix's type did not fit the row length */
    char note[QCORE_NOTE_MAX];/* why this type (fallback, override...), or "" */
};

struct qcore_plan {
    const struct qcore_model *model; /* borrowed; must outlive the plan */
    struct qcore_plan_opts opts;     /* overrides not kept after build */
    enum qcore_format out_format;
    size_t n;
    struct qcore_plan_tensor *t;     /* in output order */
    uint8_t *header;                 /* bytes [0, header_len) of the output */
    size_t header_len;
    uint64_t out_size;               /* total output file size */
    uint64_t src_bytes, dst_bytes;   /* sums over tensors */
    size_t n_quantized, n_fallbacks;
};

/* Build the plan. Errors: QCORE_EINVAL (bad option, bad regex),
 * QCORE_EUNSUPPORTED (e.g. a name GGUF cannot hold, requantizing a
 * quantized tensor), QCORE_ENOMEM. */
int qcore_plan_build(const struct qcore_model *m, const struct qcore_plan_opts *o,
                     struct qcore_plan **out, struct qcore_error *err);
void qcore_plan_destroy(struct qcore_plan *p);

#endif

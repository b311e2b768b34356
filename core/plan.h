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

#include "core/ctq.h"
#include "core/error.h"
#include "core/formats/model.h"
#include "core/types.h"

#define QCORE_TYPE_UNSET (-1)

struct qcore_override {
    const char *pattern;      /* POSIX extended regex, searched in the name */
    int type;                 /* enum qcore_type, or QCORE_OVERRIDE_CT(scheme) */
};

/* An override `type` naming a compressed-tensors scheme (safetensors output)
 * rather than a tensor type: QCORE_OVERRIDE_CT(QCORE_CT_INT8). */
#define QCORE_OVERRIDE_CT_BASE 1000
#define QCORE_OVERRIDE_CT(s) (QCORE_OVERRIDE_CT_BASE + (int)(s))

/* group_size values besides a positive size. */
#define QCORE_GROUP_DEFAULT 0     /* the scheme's own: 128 for INT4, per channel else */
#define QCORE_GROUP_CHANNEL (-1)  /* one scale per output channel */

struct qcore_plan_opts {
    enum qcore_ftype ftype;
    bool pure;
    const struct qcore_override *overrides; /* first match wins */
    size_t n_overrides;
    int output_tensor_type;   /* QCORE_TYPE_UNSET: by the mix */
    int token_embedding_type; /* QCORE_TYPE_UNSET: by the mix */
    bool leave_output_tensor;
    enum qcore_format out_format; /* GGUF or SAFETENSORS */
    /* compressed-tensors output (safetensors only; docs/int-schemes.md).
     * When ct_scheme is not NONE, ftype, pure and the output/embedding
     * options are not used. */
    enum qcore_ct_scheme ct_scheme;
    int64_t group_size;           /* QCORE_GROUP_DEFAULT, _CHANNEL, or 32, 64, 128... */
    const char *const *ignore;    /* regexes of tensors kept as they are; NULL: */
    size_t n_ignore;              /*   the default list (lm_head, embeddings) */
    /* The quantization_config JSON text to store in __metadata__, or NULL to
     * derive it from this plan alone. A sharded folder passes the config of
     * all its shards (qcore_plan_ct_config) so that every shard agrees. */
    const char *quant_config;
};

/* Defaults: ftype Q4_K_M, GGUF output, no compressed-tensors scheme. */
void qcore_plan_opts_init(struct qcore_plan_opts *o);

enum qcore_plan_op {
    QCORE_OP_COPY = 0,        /* bytes copied unchanged */
    QCORE_OP_QUANTIZE,        /* rows converted src_type -> dst_type */
    QCORE_OP_QUANTIZE_CT,     /* rows quantized to compressed-tensors companions */
};

/* The output tensors of a QUANTIZE_CT tensor, in file order. For the int
 * schemes: <name>_packed (I32 [rows, ceil(cols*bits/32)]), <name>_scale
 * ([rows, groups], the source dtype), <name>_zero_point (asymmetric only,
 * I32 [ceil(rows/per_word), groups]), <name>_shape (I64 [2] = rows, cols).
 * For fp8: <name> itself (F8_E4M3, the source shape) and <name>_scale
 * (F32 [rows, 1]). */
enum qcore_ct_role {
    QCORE_CT_WEIGHT = 0,
    QCORE_CT_SCALE,
    QCORE_CT_ZERO,
    QCORE_CT_SHAPE,
    QCORE_CT_ROLES
};

struct qcore_plan_ct {
    struct qcore_ct_params prm;
    int64_t strategy_group;   /* group_size of the config group; 0: per channel */
    char label[32];           /* "int4-g128", "int8-channel", "fp8-channel" */
    bool present[QCORE_CT_ROLES];
    char *name[QCORE_CT_ROLES];   /* owned by the plan */
    int type[QCORE_CT_ROLES];
    uint32_t n_dims[QCORE_CT_ROLES];
    int64_t ne[QCORE_CT_ROLES][QCORE_MAX_DIMS]; /* ggml order */
    uint64_t offset[QCORE_CT_ROLES];  /* absolute offset in the output file */
    uint64_t nbytes[QCORE_CT_ROLES];
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
    struct qcore_plan_ct *ct; /* QUANTIZE_CT only, owned by the plan */
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
    size_t n_out;                    /* tensors in the output file */
    char *quant_config;              /* compressed-tensors plans: the config JSON text */
};

/* Whether a user-supplied tensor-name pattern is cheap enough to compile:
 * at most QCORE_MAX_PATTERN_LEN bytes, at most QCORE_MAX_PATTERN_REPEATS
 * repetition operators (* + ? {m,n}) and bounded repeats of at most
 * QCORE_MAX_PATTERN_BOUND. glibc's regcomp grows exponentially with stacked
 * repetitions (".*++++++++++++" takes seconds and hundreds of MB), so
 * patterns from the network are checked before they reach it.
 * Returns 0, or QCORE_EINVAL with err naming the reason. Thread-safe. */
int qcore_pattern_check(const char *pattern, struct qcore_error *err);

/* Build the plan. Errors: QCORE_EINVAL (bad option, bad regex),
 * QCORE_EUNSUPPORTED (e.g. a name GGUF cannot hold, requantizing a
 * quantized tensor), QCORE_ENOMEM. */
int qcore_plan_build(const struct qcore_model *m, const struct qcore_plan_opts *o,
                     struct qcore_plan **out, struct qcore_error *err);
void qcore_plan_destroy(struct qcore_plan *p);

/* The compressed-tensors quantization_config of one or more plans (the
 * shards of one model) as compact JSON text: quant_method, format,
 * quantization_status "compressed", config_groups (the scheme's group with
 * targets ["Linear"] plus exact-name regexes for tensors that are not 2-D
 * module weights; one more group per other scheme/group size used by
 * overrides or fallbacks), and ignore (the 2-D module weights left
 * unquantized). Returns a malloc'd string (free()), or NULL on allocation
 * failure or when no plan has a compressed-tensors scheme. */
char *qcore_plan_ct_config(const struct qcore_plan *const *plans, size_t n);

/* The default ignore list (regexes), NULL-terminated. */
const char *const *qcore_plan_default_ignore(void);

#endif

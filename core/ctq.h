/* core/ctq.h — INT8/INT4/FP8 weight quantization in the compressed-tensors
 * layouts (`pack-quantized`, `float-quantized`; FORMATS.md §6,
 * docs/int-schemes.md).
 *
 * A weight of any rank is viewed as a matrix [rows, cols]: rows = the
 * outermost dim (output channels), cols = all other dims flattened. Each row
 * is cut into groups of `group` consecutive elements (group == cols: one
 * scale per output channel). These are the scalar reference quantizers;
 * outputs are little-endian bytes whatever the host order.
 *
 * Everything here is pure and thread-safe.
 */
#ifndef QCORE_CTQ_H
#define QCORE_CTQ_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest group size accepted: real checkpoints use 32..128; a larger one
 * only bounds the per-group loops. */
#define QCORE_CT_MAX_GROUP (1 << 20)

/* The schemes, as the CLI and the API name them. */
enum qcore_ct_scheme {
    QCORE_CT_NONE = 0,   /* not a compressed-tensors scheme (GGUF ftypes) */
    QCORE_CT_INT8,       /* symmetric INT8, per channel (W8A16) */
    QCORE_CT_INT4,       /* symmetric INT4, per group of 128 (W4A16) */
    QCORE_CT_INT8_ASYM,  /* asymmetric INT8 with zero points */
    QCORE_CT_INT4_ASYM,
    QCORE_CT_FP8,        /* F8_E4M3 weights, per-channel F32 scale */
    QCORE_CT_SCHEME_COUNT
};

/* Parse a scheme name, case-insensitive: int8, w8a16, int4, w4a16,
 * int8-asym, int4-asym, fp8. Returns 0, or -1 when unknown. */
int qcore_ct_scheme_from_name(const char *name, enum qcore_ct_scheme *out);

/* Canonical lower-case name ("int4"), or NULL for NONE/unknown. */
const char *qcore_ct_scheme_name(enum qcore_ct_scheme s);

/* All scheme names, NULL-terminated (aliases included). */
const char *const *qcore_ct_scheme_names(void);

/* Bits (4 or 8), symmetry and kind of a scheme. */
unsigned qcore_ct_scheme_bits(enum qcore_ct_scheme s);
bool qcore_ct_scheme_symmetric(enum qcore_ct_scheme s);
bool qcore_ct_scheme_is_fp8(enum qcore_ct_scheme s);

/* The default group size of a scheme: 128 for INT4, 0 (per channel) else. */
int64_t qcore_ct_scheme_default_group(enum qcore_ct_scheme s);

/* How one tensor is quantized. */
struct qcore_ct_params {
    enum qcore_ct_scheme scheme;
    int64_t rows, cols;   /* > 0 */
    int64_t group;        /* elements per scale; divides cols (cols: per channel) */
    int scale_type;       /* QCORE_TYPE_F32, F16 or BF16 (F32 for fp8) */
};

/* Values per 32-bit word (32 / bits) for the int schemes. */
unsigned qcore_ct_per_word(const struct qcore_ct_params *p);
/* Scales per row (cols / group). */
int64_t qcore_ct_groups(const struct qcore_ct_params *p);
/* Bytes of one packed row: ceil(cols * bits / 32) * 4 (int), cols (fp8). */
uint64_t qcore_ct_row_bytes(const struct qcore_ct_params *p);

/* The outputs of a run of rows, all little-endian.
 * weights: the packed I32 words, rows x row_bytes (fp8: E4M3 bytes);
 * scale:   rows x groups values of scale_type;
 * zero:    asymmetric only: zero points packed along dim 0, words
 *          [ceil(rows / per_word), groups]; NULL otherwise;
 * y:       optional, the dequantized values (rows x cols), for metrics;
 * scratch: cols int32 of working space (int schemes; unused for fp8). */
struct qcore_ct_out {
    uint8_t *weights;
    uint8_t *scale;
    uint8_t *zero;
    float *y;
    int32_t *scratch;
};

/* Quantize n_rows rows of `x` (n_rows x cols floats). For the asymmetric
 * schemes the run must start at a multiple of per_word rows of the tensor,
 * so that it owns whole zero-point words. Non-finite inputs are handled
 * without undefined behaviour (NaN quantizes to the zero point, ±Inf
 * saturates). */
void qcore_ct_quantize_rows(const struct qcore_ct_params *p, const float *restrict x,
                            int64_t n_rows, const struct qcore_ct_out *out);

/* Pack n signed integers q (in [-2^(bits-1), 2^(bits-1) - 1], bits 4 or 8)
 * as one row: each offset by 2^(bits-1), element i at bit i*bits, lowest
 * bits first, the last word padded with zero bits; ceil(n*bits/32) LE words.
 * compressed-tensors' pack_to_int32 on one row. */
void qcore_ct_pack_row(const int32_t *q, int64_t n, unsigned bits, uint8_t *dst);

/* F32 <-> F8_E4M3 (E4M3FN: bias 7, no infinities, 0x7F/0xFF NaN, max 448).
 * The encoder rounds to nearest even and saturates at ±448; NaN -> 0x7F. */
uint8_t qcore_f32_to_e4m3(float f);
float qcore_e4m3_to_f32(uint8_t b);

/* torch.finfo(type).eps (F32, F16, BF16): the scale of an all-zero group. */
float qcore_ct_scale_eps(int type);

/* Store scale `s` (> 0) as `type` without rounding it down: returns the
 * stored value, and writes its bytes to dst. A stored scale never
 * underestimates the one computed, so quantized values stay in range. */
float qcore_ct_store_scale(int type, float s, uint8_t *dst);

/* The integer schemes' rounding, shared by the reference (core/ctq.c) and
 * the SIMD kernels: rint(v) clamped to [lo, hi]; NaN gives `nan_to`.
 * Clamping happens in float so that the conversion to int is always
 * defined. */
static inline int qcore_ct_round_clamp(float v, int lo, int hi, int nan_to)
{
    if (isnan(v))
        return nan_to;
    v = rintf(v);
    if (v < (float)lo)
        return lo;
    if (v > (float)hi)
        return hi;
    return (int)v;
}

#endif

/* core/kernels/kernels.h — quantize/dequantize kernels and the dispatch table.
 *
 * A kernel table holds, per ggml type id, a row quantizer (F32 -> blocks) and
 * a dequantizer (blocks -> F32), plus the error sums the metrics need.
 * The scalar reference table is the oracle: every other table (AVX2,
 * AVX-512, NEON) produces identical quantized bytes.
 *
 * All functions are pure and thread-safe. `n` is an element count and must be
 * a multiple of the type's block size (checked by callers, not here).
 */
#ifndef QCORE_KERNELS_H
#define QCORE_KERNELS_H

#include <stdint.h>

#include "core/types.h"

typedef void (*qcore_quantize_fn)(const float *restrict src, void *restrict dst, int64_t n);
typedef void (*qcore_dequantize_fn)(const void *restrict src, float *restrict dst, int64_t n);

/* Error sums between a source x and its reconstruction y, accumulated in
 * double. Non-finite pairs are counted, not summed. */
struct qcore_err_sums {
    double sum_x2;    /* Σ x²        */
    double sum_y2;    /* Σ y²        */
    double sum_xy;    /* Σ x·y       */
    double sum_e2;    /* Σ (x − y)²  */
    double max_abs;   /* max |x − y| */
    uint64_t n;       /* finite pairs summed */
    uint64_t nonfinite; /* pairs with a NaN/Inf in x or y */
};

/* Compressed-tensors rows (core/ctq.h): INT8/INT4 (symmetric or with zero
 * points) and FP8, per channel or per group. */
struct qcore_ct_params;
struct qcore_ct_out;
typedef void (*qcore_ct_rows_fn)(const struct qcore_ct_params *p, const float *restrict x,
                                 int64_t n_rows, const struct qcore_ct_out *out);

typedef void (*qcore_err_sums_fn)(const float *restrict x, const float *restrict y, int64_t n,
                                  struct qcore_err_sums *acc);

struct qcore_kernels {
    const char *isa; /* "scalar", "avx2", "avx512", "neon" */
    qcore_quantize_fn quantize[QCORE_GGML_TYPE_COUNT];   /* NULL: not supported */
    qcore_dequantize_fn dequantize[QCORE_GGML_TYPE_COUNT];
    qcore_err_sums_fn err_sums;
    /* Source conversion to F32 (exact widening). */
    void (*f16_to_f32)(const uint16_t *restrict src, float *restrict dst, int64_t n);
    void (*bf16_to_f32)(const uint16_t *restrict src, float *restrict dst, int64_t n);
    /* qcore_ct_quantize_rows (the scalar reference) or a table's own: the
     * same packed words, scales, zero points and dequantized values. */
    qcore_ct_rows_fn ct_quantize_rows;
    /* How many of x[0..n) are NaN or ±Inf (the metrics' source count). */
    uint64_t (*count_nonfinite)(const float *restrict x, int64_t n);
};

/* The scalar reference table. */
const struct qcore_kernels *qcore_kernels_ref(void);

/* The table chosen for this CPU (once, at first call; thread-safe).
 * QUANTD_ISA=scalar|avx2|avx512|neon forces a lower level. */
const struct qcore_kernels *qcore_kernels_get(void);

/* The table of one ISA by its QUANTD_ISA name ("scalar", "avx2", "avx512",
 * "neon"), or NULL when this build or this CPU cannot run it. For tests and
 * benchmarks; production code calls qcore_kernels_get(). */
const struct qcore_kernels *qcore_kernels_by_isa(const char *name);

/* Scalar conversions used everywhere (F32 <-> F16 is IEEE RNE with correct
 * subnormals, F32 -> BF16 as ggml_fp32_to_bf16_row_ref: RNE, NaN quieted). */
uint16_t qcore_f32_to_f16(float f);
float qcore_f16_to_f32(uint16_t h);
uint16_t qcore_f32_to_bf16(float f);
float qcore_bf16_to_f32(uint16_t h);

/* Convert a row of `n` source elements of `type` (F32, F16, BF16) to F32. */
void qcore_to_f32(const struct qcore_kernels *k, int type, const void *restrict src,
                  float *restrict dst, int64_t n);

#endif

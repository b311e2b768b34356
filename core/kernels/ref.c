/* core/kernels/ref.c — the scalar reference kernel table, the float
 * conversions (F32 <-> F16/BF16) and the error sums.
 *
 * The block quantizers live in ref_legacy.c and ref_kquants.c; this file
 * gathers them into the one const table that every SIMD table is tested
 * against.
 */
#include <math.h>
#include <string.h>

#include "core/ctq.h"
#include "core/kernels/ref_internal.h"

/* ---- Scalar conversions --------------------------------------------------- */

uint16_t qcore_f32_to_f16(float f)
{
    return qref_f32_to_f16(f);
}

float qcore_f16_to_f32(uint16_t h)
{
    return qref_f16_to_f32(h);
}

/* As ggml_fp32_to_bf16_row_ref (what llama-quantize uses): NaN is quieted
 * keeping sign and top payload; everything else rounds to nearest even on the
 * 16 dropped bits, so overflow becomes inf by itself and subnormals are kept
 * (the AVX512-BF16 path of ggml's CPU backend differs; not ours). */
uint16_t qcore_f32_to_bf16(float f)
{
    const uint32_t u = qref_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x0040u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

float qcore_bf16_to_f32(uint16_t h)
{
    return qref_bits_f32((uint32_t)h << 16);
}

/* ---- Row kernels of the plain float types -------------------------------- */

void qref_quantize_f32(const float *restrict src, void *restrict dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

void qref_dequantize_f32(const void *restrict src, float *restrict dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

void qref_quantize_f16(const float *restrict src, void *restrict dst, int64_t n)
{
    uint8_t *y = dst;
    for (int64_t i = 0; i < n; i++)
        qref_put_le16(y + 2 * i, qref_f32_to_f16(src[i]));
}

void qref_quantize_bf16(const float *restrict src, void *restrict dst, int64_t n)
{
    uint8_t *y = dst;
    for (int64_t i = 0; i < n; i++)
        qref_put_le16(y + 2 * i, qcore_f32_to_bf16(src[i]));
}

/* The table's f16_to_f32/bf16_to_f32 take host-order uint16_t; the
 * dequantizers take the little-endian bytes of a tensor. */
void qref_f16_row_to_f32(const uint16_t *restrict src, float *restrict dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = qref_f16_to_f32(src[i]);
}

void qref_bf16_row_to_f32(const uint16_t *restrict src, float *restrict dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = qcore_bf16_to_f32(src[i]);
}

void qref_dequantize_f16(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = qref_f16_to_f32(qref_get_le16(x + 2 * i));
}

void qref_dequantize_bf16(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = qcore_bf16_to_f32(qref_get_le16(x + 2 * i));
}

/* ---- Error sums ----------------------------------------------------------- */

/* Adds to *acc (the caller zeroes it once), so it can be called row by row.
 * Every product is formed in double from exact float->double widenings. */
uint64_t qref_count_nonfinite(const float *restrict x, int64_t n)
{
    uint64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        k += !isfinite(x[i]);
    return k;
}

void qref_err_sums(const float *restrict x, const float *restrict y, int64_t n,
                     struct qcore_err_sums *acc)
{
    double sx2 = acc->sum_x2, sy2 = acc->sum_y2, sxy = acc->sum_xy, se2 = acc->sum_e2;
    double max_abs = acc->max_abs;
    uint64_t finite = acc->n, nonfinite = acc->nonfinite;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) {
            nonfinite++;
            continue;
        }
        const double a = x[i], b = y[i];
        const double e = a - b;
        sx2 += a * a;
        sy2 += b * b;
        sxy += a * b;
        se2 += e * e;
        if (fabs(e) > max_abs)
            max_abs = fabs(e);
        finite++;
    }
    acc->sum_x2 = sx2;
    acc->sum_y2 = sy2;
    acc->sum_xy = sxy;
    acc->sum_e2 = se2;
    acc->max_abs = max_abs;
    acc->n = finite;
    acc->nonfinite = nonfinite;
}

/* ---- The table ------------------------------------------------------------ */

static const struct qcore_kernels ref_table = {
    .isa = "scalar",
    .quantize = {
        [QCORE_TYPE_F32] = qref_quantize_f32,
        [QCORE_TYPE_F16] = qref_quantize_f16,
        [QCORE_TYPE_BF16] = qref_quantize_bf16,
        [QCORE_TYPE_Q8_0] = qref_quantize_q8_0,
        [QCORE_TYPE_Q4_0] = qref_quantize_q4_0,
        [QCORE_TYPE_Q4_1] = qref_quantize_q4_1,
        [QCORE_TYPE_Q5_0] = qref_quantize_q5_0,
        [QCORE_TYPE_Q5_1] = qref_quantize_q5_1,
        [QCORE_TYPE_Q2_K] = qref_quantize_q2_k,
        [QCORE_TYPE_Q3_K] = qref_quantize_q3_k,
        [QCORE_TYPE_Q4_K] = qref_quantize_q4_k,
        [QCORE_TYPE_Q5_K] = qref_quantize_q5_k,
        [QCORE_TYPE_Q6_K] = qref_quantize_q6_k,
        [QCORE_TYPE_IQ4_NL] = qref_quantize_iq4_nl,
    },
    .dequantize = {
        [QCORE_TYPE_F32] = qref_dequantize_f32,
        [QCORE_TYPE_F16] = qref_dequantize_f16,
        [QCORE_TYPE_BF16] = qref_dequantize_bf16,
        [QCORE_TYPE_Q8_0] = qref_dequantize_q8_0,
        [QCORE_TYPE_Q4_0] = qref_dequantize_q4_0,
        [QCORE_TYPE_Q4_1] = qref_dequantize_q4_1,
        [QCORE_TYPE_Q5_0] = qref_dequantize_q5_0,
        [QCORE_TYPE_Q5_1] = qref_dequantize_q5_1,
        [QCORE_TYPE_Q2_K] = qref_dequantize_q2_k,
        [QCORE_TYPE_Q3_K] = qref_dequantize_q3_k,
        [QCORE_TYPE_Q4_K] = qref_dequantize_q4_k,
        [QCORE_TYPE_Q5_K] = qref_dequantize_q5_k,
        [QCORE_TYPE_Q6_K] = qref_dequantize_q6_k,
        [QCORE_TYPE_IQ4_NL] = qref_dequantize_iq4_nl,
    },
    .err_sums = qref_err_sums,
    .f16_to_f32 = qref_f16_row_to_f32,
    .ct_quantize_rows = qcore_ct_quantize_rows,
    .count_nonfinite = qref_count_nonfinite,
    .bf16_to_f32 = qref_bf16_row_to_f32,
};

const struct qcore_kernels *qcore_kernels_ref(void)
{
    return &ref_table;
}

/* F32 is copied, F16/BF16 widened with the table's converters (the source is
 * in host order, as the table functions expect; a source that is not 2-byte
 * aligned, possible in a safetensors buffer, goes through the byte-wise
 * dequantizer instead, so no misaligned uint16_t is read). Any other type the
 * table can dequantize is dequantized; for a type it cannot, the row is
 * filled with NaN so the mistake shows up in the error sums instead of
 * passing silently. */
void qcore_to_f32(const struct qcore_kernels *k, int type, const void *restrict src,
                  float *restrict dst, int64_t n)
{
    switch (type) {
    case QCORE_TYPE_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    case QCORE_TYPE_F16:
        if (((uintptr_t)src & 1u) == 0) {
            k->f16_to_f32(src, dst, n);
            return;
        }
        break;
    case QCORE_TYPE_BF16:
        if (((uintptr_t)src & 1u) == 0) {
            k->bf16_to_f32(src, dst, n);
            return;
        }
        break;
    default:
        break;
    }
    if (type >= 0 && type < QCORE_GGML_TYPE_COUNT && k->dequantize[type] != NULL) {
        k->dequantize[type](src, dst, n);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        dst[i] = NAN;
}

/* core/kernels/ref_internal.h — private to the scalar reference kernels.
 *
 * Shared helpers (rounding, little-endian access, half conversion) and the
 * row functions that ref.c puts into the reference table. Not part of the
 * public contract: other code reaches these through qcore_kernels_ref().
 *
 * Everything here must be compiled with -ffp-contract=off: the quantizers are
 * pinned bit for bit to llama.cpp's reference, which evaluates every float32
 * expression as written (no FMA, no reassociation).
 */
#ifndef QCORE_KERNELS_REF_INTERNAL_H
#define QCORE_KERNELS_REF_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "core/kernels/kernels.h"

#define QREF_QK 32  /* legacy block (Q4_0...Q8_0, IQ4_NL) */
#define QREF_QK_K 256 /* K-quant super-block */

/* Groups whose largest |x| is below this are treated as all zero
 * (ggml's GROUP_MAX_EPS). */
#define QREF_GROUP_MAX_EPS 1e-15f

/* Round to nearest, ties to even, the way ggml's nearest_int does it: add
 * 1.5·2^23 so the integer lands in the low mantissa bits. Exact for
 * |v| < 2^22. Beyond that (and for NaN/Inf) it still returns a defined value
 * in [-2^22, 2^22) — ggml's result, which callers clamp — where rintf plus a
 * cast would be undefined or different. */
static inline int qref_nearest_int(float v)
{
    float t = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &t, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

static inline int qref_clamp(int v, int lo, int hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* Blocks are little-endian on disk whatever the host order. */
static inline uint16_t qref_get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static inline void qref_put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline uint32_t qref_get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void qref_put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* A stored byte read as int8 without relying on implementation-defined
 * narrowing. */
static inline int qref_as_i8(uint8_t b)
{
    return b < 128 ? (int)b : (int)b - 256;
}

static inline uint32_t qref_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float qref_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* F32 -> binary16, IEEE round-to-nearest-even, done on the bits so the result
 * does not depend on the FPU. |x| >= 65520 becomes ±inf (65520 is the tie
 * between 65504 and 2^16); NaN becomes 0x7E00 with the input's sign;
 * subnormal halves are produced exactly (no flush to zero). */
static inline uint16_t qref_f32_to_f16(float f)
{
    uint32_t x = qref_f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;

    if (ax > 0x7f800000u)
        return sign | 0x7e00u;
    if (ax >= 0x477ff000u) /* 65520.0f and up, including inf */
        return sign | 0x7c00u;
    if (ax >= 0x38800000u) { /* normal half: >= 2^-14 */
        /* Rebias the exponent (127 -> 15) and keep the top 10 mantissa bits;
         * a carry out of the mantissa correctly bumps the exponent. */
        uint32_t h = (ax >> 13) - (112u << 10);
        uint32_t rest = ax & 0x1fffu;
        if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
            h++;
        return (uint16_t)(sign | h);
    }
    uint32_t e = ax >> 23;
    if (e < 102) /* below 2^-25: rounds to zero (2^-25 itself is a tie to 0) */
        return sign;
    /* Half subnormal: value = m·2^-24, m = mant·2^(e-150+24). */
    uint32_t mant = (ax & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e; /* 14..24 */
    uint32_t m = mant >> shift;
    uint32_t rest = mant & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1);
    if (rest > half || (rest == half && (m & 1u)))
        m++; /* may carry into 0x400, the smallest normal: still correct */
    return (uint16_t)(sign | m);
}

/* binary16 -> F32, exact. NaN payloads are kept (shifted into place). */
static inline float qref_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu;
    uint32_t m = h & 0x3ffu;

    if (e == 0x1f)
        return qref_bits_f32(sign | 0x7f800000u | m << 13);
    if (e == 0) {
        if (m == 0)
            return qref_bits_f32(sign);
        /* Subnormal half: normalise; every one is a normal float. */
        e = 1;
        while (!(m & 0x400u)) {
            m <<= 1;
            e--;
        }
        m &= 0x3ffu;
    }
    return qref_bits_f32(sign | (e + 112u) << 23 | m << 13);
}

/* Quantize/dequantize row functions of the reference table. `n` is a
 * multiple of the block size. */
#define QREF_DECLARE(t)                                                                  \
    void qref_quantize_##t(const float *restrict src, void *restrict dst, int64_t n);   \
    void qref_dequantize_##t(const void *restrict src, float *restrict dst, int64_t n)

QREF_DECLARE(q8_0);
QREF_DECLARE(q4_0);
QREF_DECLARE(q4_1);
QREF_DECLARE(q5_0);
QREF_DECLARE(q5_1);
QREF_DECLARE(iq4_nl);
QREF_DECLARE(q2_k);
QREF_DECLARE(q3_k);
QREF_DECLARE(q4_k);
QREF_DECLARE(q5_k);
QREF_DECLARE(q6_k);

#undef QREF_DECLARE

/* The plain float rows, the conversions and the error sums of the reference
 * table, so that an ISA table can reuse what it does not vectorise. */
void qref_quantize_f32(const float *restrict src, void *restrict dst, int64_t n);
void qref_dequantize_f32(const void *restrict src, float *restrict dst, int64_t n);
void qref_quantize_f16(const float *restrict src, void *restrict dst, int64_t n);
void qref_quantize_bf16(const float *restrict src, void *restrict dst, int64_t n);
void qref_dequantize_f16(const void *restrict src, float *restrict dst, int64_t n);
void qref_dequantize_bf16(const void *restrict src, float *restrict dst, int64_t n);
void qref_f16_row_to_f32(const uint16_t *restrict src, float *restrict dst, int64_t n);
void qref_bf16_row_to_f32(const uint16_t *restrict src, float *restrict dst, int64_t n);
void qref_err_sums(const float *restrict x, const float *restrict y, int64_t n,
                   struct qcore_err_sums *acc);
uint64_t qref_count_nonfinite(const float *restrict x, int64_t n);

/* The second half of the searching quantizers, one (super-)block at a time:
 * given the per-sub-block results of the search (float scales, mins as the
 * non-negative -min, codes in L), quantize the scales against the block
 * maximum, re-quantize the codes with the effective scales and pack `y`.
 * A SIMD table that runs the searches lane-parallel calls these, so the
 * bytes cannot drift from the reference. L is modified. */
void qref_finish_q2_k(const float *restrict x, const float *restrict scales,
                      const float *restrict mins, uint8_t *restrict L, uint8_t *restrict y);
void qref_finish_q3_k(const float *restrict x, const float *restrict scales,
                      uint8_t *restrict L, uint8_t *restrict y);
void qref_finish_q4_k(const float *restrict x, const float *restrict scales,
                      const float *restrict mins, uint8_t *restrict L, uint8_t *restrict y);
void qref_finish_q5_k(const float *restrict x, const float *restrict scales,
                      const float *restrict mins, uint8_t *restrict L, uint8_t *restrict y);
void qref_finish_q6_k(const float *restrict x, const float *restrict scales,
                      uint8_t *restrict L, uint8_t *restrict y);
/* The same split into steps, for a SIMD table that re-quantizes lane by
 * lane: qref_scales_* is step (b) (writes the scale fields of y, zeroing the
 * rest, and the effective scale d and min dm of each sub-block; returns 0
 * when y is already complete: a Q6_K block of zeros), qref_requant is the
 * scalar step (c) (see ref_kquants.c) and qref_pack_* is step (d) (L is
 * modified). qref_finish_X == scales, requant, pack. */
int qref_scales_q2_k(const float *restrict scales, const float *restrict mins,
                     uint8_t *restrict y, float *restrict d, float *restrict dm);
int qref_scales_q3_k(const float *restrict scales, uint8_t *restrict y, float *restrict d);
int qref_scales_k4(const float *restrict scales, const float *restrict mins,
                   uint8_t *restrict y, float *restrict d, float *restrict dm);
int qref_scales_q6_k(const float *restrict scales, uint8_t *restrict y, float *restrict d);
void qref_requant(const float *restrict x, int nsub, int sub, const float *restrict d,
                  const float *restrict dm, int lo, int hi, uint8_t *restrict L);
void qref_pack_q2_k(uint8_t *restrict L, uint8_t *restrict y);
void qref_pack_q3_k(uint8_t *restrict L, uint8_t *restrict y);
void qref_pack_q4_k(uint8_t *restrict L, uint8_t *restrict y);
void qref_pack_q5_k(uint8_t *restrict L, uint8_t *restrict y);
void qref_pack_q6_k(uint8_t *restrict L, uint8_t *restrict y);
/* IQ4_NL: store the half of d and the 32 indices chosen with 1/d. */
void qref_finish_iq4_nl(const float *restrict x, float d, uint8_t *restrict y);

#endif

/* core/kernels/simd_x86.h — 256-bit x86 kernels shared by avx2.c and avx512.c.
 *
 * Included (never compiled on its own) by a file built with at least
 * -mavx2 -mf16c -ffp-contract=off; in avx512.c the same code gets the EVEX
 * encodings. Everything is static, so each ISA file has its own copy built
 * with its own flags.
 *
 * Bit-exactness with the reference (ref_legacy.c, ref.c):
 *   - No reductions other than max/min, whose result is order independent
 *     for finite data. The one order-dependent detail, which element is
 *     "first" among equal ones (±0, the signed extreme of Q4_0/Q5_0, the min
 *     and max of Q4_1/Q5_1), is reproduced by locating the first element
 *     equal to the reduced value and taking its bits.
 *   - A block with a NaN or an infinity goes to the reference block
 *     function: ggml's MAX() chain makes NaN handling depend on position,
 *     and such tensors are rejected by the callers anyway.
 *   - Q8_0's roundf (half away from zero) is rebuilt from truncation; the
 *     legacy types' trunc(v + 0.5) is a truncating conversion of a value
 *     clamped to [0, hi] with NaN mapped to 0, as trunc_code() does.
 *   - Halves of finite values come from vcvtps2ph with RNE, which equals
 *     qref_f32_to_f16 for finite inputs; F16 rows with NaN are fixed up.
 */
#ifndef QCORE_KERNELS_SIMD_X86_H
#define QCORE_KERNELS_SIMD_X86_H

#include <float.h>
#include <immintrin.h>
#include <math.h>

#include "core/kernels/ref_internal.h"

/* ---- Helpers -------------------------------------------------------------- */

static inline __m256 x86_abs(__m256 v)
{
    return _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)));
}

static inline float x86_hmax(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

static inline float x86_hmin(__m256 v)
{
    __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_min_ps(m, _mm_movehl_ps(m, m));
    m = _mm_min_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

/* Finite float -> half bits, RNE (same as qref_f32_to_f16 for finite f). */
static inline uint16_t x86_f16(float f)
{
    return (uint16_t)_mm_extract_epi16(
        _mm_cvtps_ph(_mm_set_ss(f), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), 0);
}

/* Loads the 32 floats of a block and their magnitudes, sets *amax to the
 * largest magnitude and tells whether all are finite. The maximum is taken
 * on the bits: for magnitudes, integer order is float order, and NaN/Inf
 * (exponent all ones) sort above every finite value. */
static inline int x86_load_block(const float *restrict x, __m256 v[4], __m256 a[4], float *amax)
{
    const __m256i mag = _mm256_set1_epi32(0x7fffffff);
    __m256i ai[4];
    for (int k = 0; k < 4; k++) {
        v[k] = _mm256_loadu_ps(x + 8 * k);
        ai[k] = _mm256_and_si256(_mm256_castps_si256(v[k]), mag);
        a[k] = _mm256_castsi256_ps(ai[k]);
    }
    __m256i m = _mm256_max_epi32(_mm256_max_epi32(ai[0], ai[1]), _mm256_max_epi32(ai[2], ai[3]));
    __m128i h = _mm_max_epi32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
    h = _mm_max_epi32(h, _mm_shuffle_epi32(h, 0x4E));
    h = _mm_max_epi32(h, _mm_shuffle_epi32(h, 0xB1));
    const uint32_t bits = (uint32_t)_mm_cvtsi128_si32(h);
    memcpy(amax, &bits, sizeof *amax);
    return bits < 0x7f800000u;
}

/* Bit i set when element i of the block equals `val` (ordered compare). */
static inline uint32_t x86_eq_mask(const __m256 v[4], float val)
{
    const __m256 s = _mm256_set1_ps(val);
    uint32_t m = 0;
    for (int k = 0; k < 4; k++)
        m |= (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(v[k], s, _CMP_EQ_OQ)) << (8 * k);
    return m;
}

/* Four vectors of int32 in [-128, 127] -> 32 int8 in element order. */
static inline __m256i x86_pack_i8(__m256i c0, __m256i c1, __m256i c2, __m256i c3)
{
    const __m256i p01 = _mm256_packs_epi32(c0, c1);
    const __m256i p23 = _mm256_packs_epi32(c2, c3);
    const __m256i b = _mm256_packs_epi16(p01, p23);
    return _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* trunc_code(): NaN and v <= 0 give 0, v >= hi gives hi, else (int)v. */
static inline __m256i x86_trunc_code(__m256 v, __m256 hi)
{
    const __m256 pos = _mm256_and_ps(v, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GT_OQ));
    return _mm256_cvttps_epi32(_mm256_min_ps(pos, hi));
}

/* Byte j of the result = low nibble of code j | low nibble of code j+16 << 4. */
static inline __m128i x86_pack_nibbles(__m256i codes)
{
    const __m128i m = _mm_set1_epi8(0x0F);
    const __m128i lo = _mm_and_si128(_mm256_castsi256_si128(codes), m);
    const __m128i hi = _mm_and_si128(_mm256_extracti128_si256(codes, 1), m);
    return _mm_or_si128(lo, _mm_slli_epi16(hi, 4));
}

/* Bit 4 of each of the 32 codes, element i at bit i. */
static inline uint32_t x86_high_bits(__m256i codes)
{
    return (uint32_t)_mm256_movemask_epi8(_mm256_slli_epi16(codes, 3));
}

static inline void x86_put16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2); /* x86 is little-endian */
}

static inline void x86_put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static inline float x86_half_at(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return qref_f16_to_f32(h);
}

/* ---- F16 / BF16 ------------------------------------------------------------ */

static void x86_quantize_f16(const float *restrict src, void *restrict dst, int64_t n)
{
    uint8_t *y = dst;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(src + i);
        const __m128i h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128((__m128i *)(y + 2 * i), h);
        /* vcvtps2ph keeps NaN payload bits; the reference writes 0x7E00|sign. */
        if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)) != 0)
            for (int j = 0; j < 8; j++)
                x86_put16(y + 2 * (i + j), qref_f32_to_f16(src[i + j]));
    }
    for (; i < n; i++)
        x86_put16(y + 2 * i, qref_f32_to_f16(src[i]));
}

static void x86_quantize_bf16(const float *restrict src, void *restrict dst, int64_t n)
{
    uint8_t *y = dst;
    const __m256i one = _mm256_set1_epi32(1), r = _mm256_set1_epi32(0x7fff);
    const __m256i quiet = _mm256_set1_epi32(0x40);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i out[2];
        for (int k = 0; k < 2; k++) {
            const __m256 v = _mm256_loadu_ps(src + i + 8 * k);
            const __m256i u = _mm256_castps_si256(v);
            const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), one);
            const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, r), lsb), 16);
            const __m256i nan = _mm256_or_si256(_mm256_srli_epi32(u, 16), quiet);
            out[k] = _mm256_blendv_epi8(rounded, nan,
                                        _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)));
        }
        const __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(out[0], out[1]), 0xD8);
        _mm256_storeu_si256((__m256i *)(y + 2 * i), p);
    }
    for (; i < n; i++)
        x86_put16(y + 2 * i, qcore_f32_to_bf16(src[i]));
}

/* Host-order halves -> F32. vcvtph2ps quiets signalling NaNs where the
 * reference keeps the payload as is: groups with a NaN take the scalar path. */
static void x86_f16_row_to_f32(const uint16_t *restrict src, float *restrict dst, int64_t n)
{
    const __m128i mag = _mm_set1_epi16(0x7fff), inf = _mm_set1_epi16(0x7c00);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm_loadu_si128((const __m128i *)(src + i));
        if (_mm_movemask_epi8(_mm_cmpgt_epi16(_mm_and_si128(h, mag), inf)) != 0) {
            for (int j = 0; j < 8; j++)
                dst[i + j] = qref_f16_to_f32(src[i + j]);
            continue;
        }
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
    for (; i < n; i++)
        dst[i] = qref_f16_to_f32(src[i]);
}

static void x86_bf16_row_to_f32(const uint16_t *restrict src, float *restrict dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
    }
    for (; i < n; i++)
        dst[i] = qcore_bf16_to_f32(src[i]);
}

/* Tensor bytes are little-endian, as is x86: the row converters apply. */
static void x86_dequantize_f16(const void *restrict src, float *restrict dst, int64_t n)
{
    if (((uintptr_t)src & 1u) == 0) {
        x86_f16_row_to_f32(src, dst, n);
        return;
    }
    qref_dequantize_f16(src, dst, n);
}

static void x86_dequantize_bf16(const void *restrict src, float *restrict dst, int64_t n)
{
    if (((uintptr_t)src & 1u) == 0) {
        x86_bf16_row_to_f32(src, dst, n);
        return;
    }
    qref_dequantize_bf16(src, dst, n);
}

/* ---- Q8_0 ------------------------------------------------------------------ */

/* The legacy quantizers below take 8 blocks (256 floats) per step: the 8
 * maxima are reduced into one vector, so the scales, their inverses, the
 * halves and the finite/overflow checks are one vector operation each for
 * the 8 blocks, and the codes are computed from the source again (1 KiB, in
 * L1). A block with NaN/Inf, or whose 1/d overflows, is redone by the
 * reference block function afterwards. */
#define X86_GROUP 8

/* max of adjacent pairs: per 128-bit half [max(a0,a1), max(a2,a3), max(b0,b1), max(b2,b3)]. */
static inline __m256i x86_max_pairs(__m256i a, __m256i b)
{
    const __m256 fa = _mm256_castsi256_ps(a), fb = _mm256_castsi256_ps(b);
    return _mm256_max_epi32(_mm256_castps_si256(_mm256_shuffle_ps(fa, fb, 0x88)),
                            _mm256_castps_si256(_mm256_shuffle_ps(fa, fb, 0xDD)));
}

/* Lane j = the largest |x| (as bits) of block j of x[0..256). On the bits:
 * for magnitudes integer order is float order, and NaN/Inf (exponent all
 * ones) sort above every finite value, so lane j >= 0x7f800000 flags a
 * block with a non-finite element. */
static inline __m256i x86_amax8(const float *restrict x)
{
    const __m256i mag = _mm256_set1_epi32(0x7fffffff);
    __m256i m[X86_GROUP];
#pragma GCC unroll 8
    for (int j = 0; j < X86_GROUP; j++) {
        const __m256i *p = (const __m256i *)(x + QREF_QK * j);
        const __m256i a0 = _mm256_and_si256(_mm256_loadu_si256(p), mag);
        const __m256i a1 = _mm256_and_si256(_mm256_loadu_si256(p + 1), mag);
        const __m256i a2 = _mm256_and_si256(_mm256_loadu_si256(p + 2), mag);
        const __m256i a3 = _mm256_and_si256(_mm256_loadu_si256(p + 3), mag);
        m[j] = _mm256_max_epi32(_mm256_max_epi32(a0, a1), _mm256_max_epi32(a2, a3));
    }
    const __m256i u0 = x86_max_pairs(x86_max_pairs(m[0], m[1]), x86_max_pairs(m[2], m[3]));
    const __m256i u1 = x86_max_pairs(x86_max_pairs(m[4], m[5]), x86_max_pairs(m[6], m[7]));
    return _mm256_max_epi32(_mm256_permute2x128_si256(u0, u1, 0x20),
                            _mm256_permute2x128_si256(u0, u1, 0x31));
}

/* The same transposing reduction for signed and unsigned maxima of the
 * raw bits: lane j of *smax is the largest element of block j as int32
 * (the largest positive float, +amax when it occurs), lane j of *umax the
 * largest as uint32 (0x80000000 | the largest |negative|, so -amax when it
 * occurs; the positive maximum when there is no negative element). */
static inline __m256i x86_maxu_pairs(__m256i a, __m256i b)
{
    const __m256 fa = _mm256_castsi256_ps(a), fb = _mm256_castsi256_ps(b);
    return _mm256_max_epu32(_mm256_castps_si256(_mm256_shuffle_ps(fa, fb, 0x88)),
                            _mm256_castps_si256(_mm256_shuffle_ps(fa, fb, 0xDD)));
}

static inline void x86_signed_max8(const float *restrict x, __m256i *smax, __m256i *umax)
{
    __m256i s[X86_GROUP], u[X86_GROUP];
#pragma GCC unroll 8
    for (int j = 0; j < X86_GROUP; j++) {
        const __m256i *p = (const __m256i *)(x + QREF_QK * j);
        const __m256i v0 = _mm256_loadu_si256(p), v1 = _mm256_loadu_si256(p + 1);
        const __m256i v2 = _mm256_loadu_si256(p + 2), v3 = _mm256_loadu_si256(p + 3);
        s[j] = _mm256_max_epi32(_mm256_max_epi32(v0, v1), _mm256_max_epi32(v2, v3));
        u[j] = _mm256_max_epu32(_mm256_max_epu32(v0, v1), _mm256_max_epu32(v2, v3));
    }
    const __m256i s0 = x86_max_pairs(x86_max_pairs(s[0], s[1]), x86_max_pairs(s[2], s[3]));
    const __m256i s1 = x86_max_pairs(x86_max_pairs(s[4], s[5]), x86_max_pairs(s[6], s[7]));
    *smax = _mm256_max_epi32(_mm256_permute2x128_si256(s0, s1, 0x20),
                             _mm256_permute2x128_si256(s0, s1, 0x31));
    const __m256i u0 = x86_maxu_pairs(x86_maxu_pairs(u[0], u[1]), x86_maxu_pairs(u[2], u[3]));
    const __m256i u1 = x86_maxu_pairs(x86_maxu_pairs(u[4], u[5]), x86_maxu_pairs(u[6], u[7]));
    *umax = _mm256_max_epu32(_mm256_permute2x128_si256(u0, u1, 0x20),
                             _mm256_permute2x128_si256(u0, u1, 0x31));
}

/* d != 0 ? 1/d : 0, lane by lane (1/0 is masked away). */
static inline __m256 x86_inverse_or_zero(__m256 d)
{
    return _mm256_and_ps(_mm256_div_ps(_mm256_set1_ps(1.0f), d),
                         _mm256_cmp_ps(d, _mm256_setzero_ps(), _CMP_NEQ_UQ));
}

/* Lanes whose block must take the reference path: a non-finite element
 * (amax bits >= 0x7f800000) or |1/d| beyond FLT_MAX. */
static inline unsigned x86_bad_lanes(__m256i amax, __m256 id)
{
    const __m256 nonfinite = _mm256_castsi256_ps(_mm256_cmpgt_epi32(amax, _mm256_set1_epi32(0x7f7fffff)));
    const __m256 overflow = _mm256_cmp_ps(x86_abs(id), _mm256_set1_ps(FLT_MAX), _CMP_GT_OQ);
    return (unsigned)_mm256_movemask_ps(_mm256_or_ps(nonfinite, overflow));
}

/* roundf(x·id) for |x·id| < 2^23 (here <= 127 + a few ulps, so no clamp):
 * x·id + copysign(0.5 - 2^-25, x) truncated is rounding half away from zero
 * (checked for every float of that range); the sign of x·id is the sign of
 * x since id >= +0. */
static inline __m256i x86_q8_codes(__m256 x, __m256 idv)
{
    const __m256 sign = _mm256_set1_ps(-0.0f), c = _mm256_set1_ps(0x1.fffffep-2f);
    const __m256 off = _mm256_or_ps(_mm256_and_ps(x, sign), c);
    return _mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(x, idv), off));
}

/* 8 blocks of Q8_0 from x[0..256) into y[0..8·34). */
static inline void x86_q8_0_group(const float *restrict x, uint8_t *restrict y)
{
    const __m256i am = x86_amax8(x);
    const __m256 d = _mm256_div_ps(_mm256_castsi256_ps(am), _mm256_set1_ps(127.0f));
    const __m256 id = x86_inverse_or_zero(d);
    const unsigned bad = x86_bad_lanes(am, id);
    /* Halves of finite d, RNE: qref_f32_to_f16's result. */
    uint16_t hs[X86_GROUP];
    float ids[X86_GROUP];
    _mm_storeu_si128((__m128i *)hs, _mm256_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    _mm256_storeu_ps(ids, id);
#pragma GCC unroll 8
    for (int j = 0; j < X86_GROUP; j++) {
        const float *p = x + QREF_QK * j;
        uint8_t *q = y + 34 * j;
        const __m256 idv = _mm256_broadcast_ss(ids + j);
        const __m256i c0 = x86_q8_codes(_mm256_loadu_ps(p), idv);
        const __m256i c1 = x86_q8_codes(_mm256_loadu_ps(p + 8), idv);
        const __m256i c2 = x86_q8_codes(_mm256_loadu_ps(p + 16), idv);
        const __m256i c3 = x86_q8_codes(_mm256_loadu_ps(p + 24), idv);
        x86_put16(q, hs[j]);
        _mm256_storeu_si256((__m256i *)(q + 2), x86_pack_i8(c0, c1, c2, c3));
    }
    for (unsigned m = bad; m != 0; m &= m - 1) {
        const int j = __builtin_ctz(m);
        qref_quantize_q8_0(x + QREF_QK * j, y + 34 * j, QREF_QK);
    }
}

/* Runs `group` over whole groups of 8 blocks, then the last 1..7 blocks
 * zero-padded to a group in a buffer (blocks are independent). */
#define X86_GROUPED_ROW(group, bytes)                                                  \
    do {                                                                               \
        uint8_t *y_ = dst;                                                             \
        const int64_t nb_ = n / QREF_QK;                                               \
        int64_t b_ = 0;                                                                \
        for (; b_ + X86_GROUP <= nb_; b_ += X86_GROUP)                                 \
            group(src + QREF_QK * b_, y_ + (bytes) * b_);                              \
        if (b_ < nb_) {                                                                \
            float xt_[QREF_QK * X86_GROUP] = {0};                                      \
            uint8_t yt_[(bytes) * X86_GROUP];                                          \
            memcpy(xt_, src + QREF_QK * b_, sizeof(float) * QREF_QK * (size_t)(nb_ - b_)); \
            group(xt_, yt_);                                                           \
            memcpy(y_ + (bytes) * b_, yt_, (size_t)(bytes) * (size_t)(nb_ - b_));      \
        }                                                                              \
    } while (0)

static void x86_quantize_q8_0(const float *restrict src, void *restrict dst, int64_t n)
{
    X86_GROUPED_ROW(x86_q8_0_group, 34);
}

static void x86_dequantize_q8_0(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    for (int64_t b = 0; b < n / QREF_QK; b++, x += 34, dst += QREF_QK) {
        const __m256 d = _mm256_set1_ps(x86_half_at(x));
        for (int k = 0; k < 4; k++) {
            const __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(x + 2 + 8 * k)));
            _mm256_storeu_ps(dst + 8 * k, _mm256_mul_ps(_mm256_cvtepi32_ps(q), d));
        }
    }
}

/* ---- Q4_0 / Q5_0 ------------------------------------------------------------ */

/* Codes of a finite block for the symmetric types; returns d, or NaN when
 * 1/d overflows and the block must take the reference path. */
static inline float x86_symmetric_block(const float *restrict x, const __m256 a[4], const __m256 v[4],
                                        float amax, int offset, __m256i *codes)
{
    /* The reference keeps the first element whose |x| is strictly larger
     * than all before it, starting from 0: so 0.0f when all are ±0. */
    float mx = 0.0f;
    if (amax > 0.0f) {
        uint32_t m = 0;
        const __m256 s = _mm256_set1_ps(amax);
        for (int k = 0; k < 4; k++)
            m |= (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(a[k], s, _CMP_EQ_OQ)) << (8 * k);
        mx = x[__builtin_ctz(m)];
    }
    const float d = mx / (float)-offset;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    if (fabsf(id) > FLT_MAX)
        return NAN;
    /* x·id lies in [-offset, offset] up to rounding, so v >= 0.5 - ε > 0:
     * trunc_code() reduces to min(trunc(v), hi). */
    const __m256 idv = _mm256_set1_ps(id), bias = _mm256_set1_ps((float)offset + 0.5f);
    const __m256 hi = _mm256_set1_ps((float)(2 * offset - 1));
    __m256i c[4];
    for (int k = 0; k < 4; k++)
        c[k] = _mm256_cvttps_epi32(_mm256_min_ps(_mm256_add_ps(_mm256_mul_ps(v[k], idv), bias), hi));
    *codes = x86_pack_i8(c[0], c[1], c[2], c[3]);
    return d;
}

/* 8 blocks of Q4_0 from x[0..256) into y[0..8·18). */
static inline void x86_q4_0_group(const float *restrict x, uint8_t *restrict y)
{
    /* The signed extreme: the reference keeps the first element whose |x|
     * is strictly larger than all before it, starting from 0 (so +0.0f when
     * all are ±0). From the signed and unsigned maxima of the bits: amax is
     * the larger of the positive maximum and |the negative maximum|; the
     * extreme is negative when -amax occurs and +amax does not, and when
     * both occur (rare) the first one's sign is looked up. */
    const __m256i sbit = _mm256_set1_epi32((int)0x80000000u);
    __m256i smax, umax;
    x86_signed_max8(x, &smax, &umax);
    const __m256i am = _mm256_max_epi32(smax, _mm256_andnot_si256(sbit, umax));
    __m256i negv = _mm256_and_si256(_mm256_cmpeq_epi32(umax, _mm256_or_si256(am, sbit)),
                                    _mm256_cmpgt_epi32(am, _mm256_setzero_si256()));
    const unsigned both = (unsigned)_mm256_movemask_ps(
        _mm256_castsi256_ps(_mm256_and_si256(negv, _mm256_cmpeq_epi32(smax, am))));
    if (both != 0) {
        uint32_t nb[X86_GROUP], ab[X86_GROUP];
        _mm256_storeu_si256((__m256i *)nb, negv);
        _mm256_storeu_si256((__m256i *)ab, am);
        for (unsigned m = both; m != 0; m &= m - 1) {
            const int j = __builtin_ctz(m);
            const float *e = x + QREF_QK * j;
            int k = 0;
            while ((qref_f32_bits(e[k]) & 0x7fffffffu) != ab[j])
                k++;
            nb[j] = (uint32_t)-(int32_t)(qref_f32_bits(e[k]) >> 31);
        }
        negv = _mm256_loadu_si256((const __m256i *)nb);
    }
    const __m256i mx = _mm256_or_si256(am, _mm256_and_si256(negv, sbit));
    const __m256 d = _mm256_div_ps(_mm256_castsi256_ps(mx), _mm256_set1_ps(-8.0f));
    const __m256 id = x86_inverse_or_zero(d);
    const unsigned bad = x86_bad_lanes(am, id);
    uint16_t hs[X86_GROUP];
    float ids[X86_GROUP];
    _mm_storeu_si128((__m128i *)hs, _mm256_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    _mm256_storeu_ps(ids, id);
    /* x·id lies in [-8, 8] up to rounding, so v = x·id + 8.5 >= 0.5 - ε > 0:
     * trunc_code() reduces to min(trunc(v), 15). */
    const __m256 bias = _mm256_set1_ps(8.5f), hi = _mm256_set1_ps(15.0f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
#pragma GCC unroll 8
    for (int j = 0; j < X86_GROUP; j++) {
        const float *p = x + QREF_QK * j;
        uint8_t *q = y + 18 * j;
        const __m256 idv = _mm256_broadcast_ss(ids + j);
#define X86_Q4_CODES(k) \
    _mm256_cvttps_epi32(_mm256_min_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(p + 8 * (k)), idv), bias), hi))
        const __m256i c0 = X86_Q4_CODES(0), c1 = X86_Q4_CODES(1);
        const __m256i c2 = X86_Q4_CODES(2), c3 = X86_Q4_CODES(3);
#undef X86_Q4_CODES
        /* byte i = code i | code i+16 << 4 */
        const __m256i w0 = _mm256_or_si256(c0, _mm256_slli_epi32(c2, 4));
        const __m256i w1 = _mm256_or_si256(c1, _mm256_slli_epi32(c3, 4));
        const __m256i b = _mm256_packus_epi16(_mm256_packs_epi32(w0, w1), _mm256_setzero_si256());
        x86_put16(q, hs[j]);
        _mm_storeu_si128((__m128i *)(q + 2),
                         _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(b, order)));
    }
    for (unsigned m = bad; m != 0; m &= m - 1) {
        const int j = __builtin_ctz(m);
        qref_quantize_q4_0(x + QREF_QK * j, y + 18 * j, QREF_QK);
    }
}

static void x86_quantize_q4_0(const float *restrict src, void *restrict dst, int64_t n)
{
    X86_GROUPED_ROW(x86_q4_0_group, 18);
}

static void x86_quantize_q5_0(const float *restrict src, void *restrict dst, int64_t n)
{
    uint8_t *y = dst;
    for (int64_t b = 0; b < n / QREF_QK; b++, src += QREF_QK, y += 22) {
        __m256 v[4], a[4];
        float amax, d;
        __m256i codes;
        if (!x86_load_block(src, v, a, &amax) ||
            isnan(d = x86_symmetric_block(src, a, v, amax, 16, &codes))) {
            qref_quantize_q5_0(src, y, QREF_QK);
            continue;
        }
        x86_put16(y, x86_f16(d));
        x86_put32(y + 2, x86_high_bits(codes));
        _mm_storeu_si128((__m128i *)(y + 6), x86_pack_nibbles(codes));
    }
}

/* 32 codes (one per byte) -> 4 vectors of floats. */
static inline void x86_codes_to_f32(__m256i codes, __m256 out[4])
{
    const __m128i lo = _mm256_castsi256_si128(codes), hi = _mm256_extracti128_si256(codes, 1);
    out[0] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo));
    out[1] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)));
    out[2] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi));
    out[3] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8)));
}

/* 16 packed bytes -> 32 codes 0..15 in element order. */
static inline __m256i x86_unpack_nibbles(const uint8_t *qs)
{
    const __m128i b = _mm_loadu_si128((const __m128i *)qs);
    const __m128i m = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
}

/* Bit i of qh -> 0x10 in byte i. */
static inline __m256i x86_expand_high_bits(uint32_t qh)
{
    const __m256i shuf = _mm256_setr_epi64x(0, 0x0101010101010101LL, 0x0202020202020202LL,
                                            0x0303030303030303LL);
    const __m256i bits = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), shuf);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bits), bits);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

static void x86_dequantize_q4_0(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    for (int64_t b = 0; b < n / QREF_QK; b++, x += 18, dst += QREF_QK) {
        const __m256 d = _mm256_set1_ps(x86_half_at(x)), off = _mm256_set1_ps(8.0f);
        __m256 f[4];
        x86_codes_to_f32(x86_unpack_nibbles(x + 2), f);
        for (int k = 0; k < 4; k++) /* (code - 8) is exact in float */
            _mm256_storeu_ps(dst + 8 * k, _mm256_mul_ps(_mm256_sub_ps(f[k], off), d));
    }
}

static void x86_dequantize_q5_0(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    for (int64_t b = 0; b < n / QREF_QK; b++, x += 22, dst += QREF_QK) {
        const __m256 d = _mm256_set1_ps(x86_half_at(x)), off = _mm256_set1_ps(16.0f);
        uint32_t qh;
        memcpy(&qh, x + 2, 4);
        __m256 f[4];
        x86_codes_to_f32(_mm256_or_si256(x86_unpack_nibbles(x + 6), x86_expand_high_bits(qh)), f);
        for (int k = 0; k < 4; k++)
            _mm256_storeu_ps(dst + 8 * k, _mm256_mul_ps(_mm256_sub_ps(f[k], off), d));
    }
}

/* ---- Q4_1 / Q5_1 ------------------------------------------------------------ */

static inline __m256i x86_affine_block(const float *restrict x, const __m256 v[4], int nmax,
                                       float *d_out, float *min_out)
{
    __m256 lo = _mm256_min_ps(_mm256_min_ps(v[0], v[1]), _mm256_min_ps(v[2], v[3]));
    __m256 hi = _mm256_max_ps(_mm256_max_ps(v[0], v[1]), _mm256_max_ps(v[2], v[3]));
    /* The first element equal to the extreme, so ±0 keep the reference's sign. */
    const float min = x[__builtin_ctz(x86_eq_mask(v, x86_hmin(lo)))];
    const float max = x[__builtin_ctz(x86_eq_mask(v, x86_hmax(hi)))];
    const float d = (max - min) / (float)nmax;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const __m256 mv = _mm256_set1_ps(min), idv = _mm256_set1_ps(id), half = _mm256_set1_ps(0.5f);
    const __m256 top = _mm256_set1_ps((float)nmax);
    __m256i c[4];
    for (int k = 0; k < 4; k++)
        c[k] = x86_trunc_code(_mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(v[k], mv), idv), half), top);
    *d_out = d;
    *min_out = min;
    return x86_pack_i8(c[0], c[1], c[2], c[3]);
}

static void x86_quantize_q4_1(const float *restrict src, void *restrict dst, int64_t n)
{
    uint8_t *y = dst;
    for (int64_t b = 0; b < n / QREF_QK; b++, src += QREF_QK, y += 20) {
        __m256 v[4], a[4];
        float amax;
        if (!x86_load_block(src, v, a, &amax)) {
            qref_quantize_q4_1(src, y, QREF_QK);
            continue;
        }
        float d, min;
        const __m256i codes = x86_affine_block(src, v, 15, &d, &min);
        x86_put16(y, x86_f16(d));
        x86_put16(y + 2, x86_f16(min));
        _mm_storeu_si128((__m128i *)(y + 4), x86_pack_nibbles(codes));
    }
}

static void x86_quantize_q5_1(const float *restrict src, void *restrict dst, int64_t n)
{
    uint8_t *y = dst;
    for (int64_t b = 0; b < n / QREF_QK; b++, src += QREF_QK, y += 24) {
        __m256 v[4], a[4];
        float amax;
        if (!x86_load_block(src, v, a, &amax)) {
            qref_quantize_q5_1(src, y, QREF_QK);
            continue;
        }
        float d, min;
        const __m256i codes = x86_affine_block(src, v, 31, &d, &min);
        x86_put16(y, x86_f16(d));
        x86_put16(y + 2, x86_f16(min));
        x86_put32(y + 4, x86_high_bits(codes));
        _mm_storeu_si128((__m128i *)(y + 8), x86_pack_nibbles(codes));
    }
}

static void x86_dequantize_q4_1(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    for (int64_t b = 0; b < n / QREF_QK; b++, x += 20, dst += QREF_QK) {
        const __m256 d = _mm256_set1_ps(x86_half_at(x)), m = _mm256_set1_ps(x86_half_at(x + 2));
        __m256 f[4];
        x86_codes_to_f32(x86_unpack_nibbles(x + 4), f);
        for (int k = 0; k < 4; k++)
            _mm256_storeu_ps(dst + 8 * k, _mm256_add_ps(_mm256_mul_ps(f[k], d), m));
    }
}

static void x86_dequantize_q5_1(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    for (int64_t b = 0; b < n / QREF_QK; b++, x += 24, dst += QREF_QK) {
        const __m256 d = _mm256_set1_ps(x86_half_at(x)), m = _mm256_set1_ps(x86_half_at(x + 2));
        uint32_t qh;
        memcpy(&qh, x + 4, 4);
        __m256 f[4];
        x86_codes_to_f32(_mm256_or_si256(x86_unpack_nibbles(x + 8), x86_expand_high_bits(qh)), f);
        for (int k = 0; k < 4; k++)
            _mm256_storeu_ps(dst + 8 * k, _mm256_add_ps(_mm256_mul_ps(f[k], d), m));
    }
}

/* ---- IQ4_NL dequantization -------------------------------------------------- */

static void x86_dequantize_iq4_nl(const void *restrict src, float *restrict dst, int64_t n)
{
    static const int8_t values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                      1,    13,   25,  38,  53,  69,  89,  113};
    const __m128i tbl = _mm_loadu_si128((const __m128i *)values);
    const uint8_t *x = src;
    for (int64_t b = 0; b < n / QREF_QK; b++, x += 18, dst += QREF_QK) {
        const __m256 d = _mm256_set1_ps(x86_half_at(x));
        const __m256i idx = x86_unpack_nibbles(x + 2);
        const __m128i lo = _mm_shuffle_epi8(tbl, _mm256_castsi256_si128(idx));
        const __m128i hi = _mm_shuffle_epi8(tbl, _mm256_extracti128_si256(idx, 1));
        const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
        for (int k = 0; k < 4; k++) /* d * value, in this order */
            _mm256_storeu_ps(dst + 8 * k,
                             _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(parts[k]))));
    }
}

/* ---- K-quant dequantization ------------------------------------------------ */

/* dst[i] = dl * q[i] - ml for n (multiple of 8) codes. */
static inline void x86_deq_affine(const uint8_t *restrict q, int n, float dl, float ml,
                                  float *restrict dst)
{
    const __m256 d = _mm256_set1_ps(dl), m = _mm256_set1_ps(ml);
    for (int i = 0; i < n; i += 8) {
        const __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(q + i))));
        _mm256_storeu_ps(dst + i, _mm256_sub_ps(_mm256_mul_ps(d, f), m));
    }
}

/* dst[i] = dl * q[i] for n (multiple of 8) signed codes. */
static inline void x86_deq_symmetric(const int8_t *restrict q, int n, float dl, float *restrict dst)
{
    const __m256 d = _mm256_set1_ps(dl);
    for (int i = 0; i < n; i += 8) {
        const __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(q + i))));
        _mm256_storeu_ps(dst + i, _mm256_mul_ps(d, f));
    }
}

/* 32 bytes of 2-bit fields (4 per byte) -> 128 codes: element 32k + l is
 * bits 2k..2k+1 of byte l. */
static inline void x86_unpack_2bit(const uint8_t *restrict qs, uint8_t *restrict out)
{
    const __m256i b = _mm256_loadu_si256((const __m256i *)qs), m = _mm256_set1_epi8(3);
    for (int k = 0; k < 4; k++)
        _mm256_storeu_si256((__m256i *)(out + 32 * k), _mm256_and_si256(_mm256_srli_epi16(b, 2 * k), m));
}

static void x86_dequantize_q2_k(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    uint8_t L[QREF_QK_K];
    for (int64_t b = 0; b < n / QREF_QK_K; b++, x += 84, dst += QREF_QK_K) {
        const float d = x86_half_at(x + 80), dmin = x86_half_at(x + 82);
        x86_unpack_2bit(x + 16, L);
        x86_unpack_2bit(x + 48, L + 128);
        for (int j = 0; j < 16; j++) {
            const float dl = d * (float)(x[j] & 0xF), ml = dmin * (float)(x[j] >> 4);
            x86_deq_affine(L + 16 * j, 16, dl, ml, dst + 16 * j);
        }
    }
}

static void x86_dequantize_q3_k(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    uint8_t L[QREF_QK_K];
    for (int64_t b = 0; b < n / QREF_QK_K; b++, x += 110, dst += QREF_QK_K) {
        const float d = x86_half_at(x + 108);
        x86_unpack_2bit(x + 32, L);
        x86_unpack_2bit(x + 64, L + 128);
        /* q = low2 - (hmask bit ? 0 : 4); element e: hmask byte e%32, bit e/32 */
        const __m256i hm = _mm256_loadu_si256((const __m256i *)x), four = _mm256_set1_epi8(4);
        for (int k = 0; k < 8; k++) {
            const __m256i bit = _mm256_and_si256(hm, _mm256_set1_epi8((char)(1 << k)));
            const __m256i sub = _mm256_andnot_si256(_mm256_cmpeq_epi8(bit, _mm256_set1_epi8((char)(1 << k))), four);
            const __m256i l = _mm256_loadu_si256((const __m256i *)(L + 32 * k));
            _mm256_storeu_si256((__m256i *)(L + 32 * k), _mm256_sub_epi8(l, sub));
        }
        const uint8_t *s = x + 96;
        for (int j = 0; j < 16; j++) {
            const int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
            const int sc = lo | ((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4;
            x86_deq_symmetric((const int8_t *)L + 16 * j, 16, d * (float)(sc - 32), dst + 16 * j);
        }
    }
}

static inline void x86_scale_min_k4(const uint8_t *restrict s, int j, int *sc, int *m)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0xF) | (s[j - 4] >> 6) << 4;
        *m = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
    }
}

static void x86_dequantize_q4_k(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    uint8_t L[64];
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < n / QREF_QK_K; b++, x += 144, dst += QREF_QK_K) {
        const float d = x86_half_at(x), dmin = x86_half_at(x + 2);
        for (int c = 0; c < 4; c++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(x + 16 + 32 * c));
            _mm256_storeu_si256((__m256i *)L, _mm256_and_si256(q, m4));
            _mm256_storeu_si256((__m256i *)(L + 32), _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
            for (int h = 0; h < 2; h++) {
                int sc, m;
                x86_scale_min_k4(x + 4, 2 * c + h, &sc, &m);
                x86_deq_affine(L + 32 * h, 32, d * (float)sc, dmin * (float)m, dst + 64 * c + 32 * h);
            }
        }
    }
}

static void x86_dequantize_q5_k(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    uint8_t L[64];
    const __m256i m4 = _mm256_set1_epi8(0x0F), m16 = _mm256_set1_epi8(0x10);
    for (int64_t b = 0; b < n / QREF_QK_K; b++, x += 176, dst += QREF_QK_K) {
        const float d = x86_half_at(x), dmin = x86_half_at(x + 2);
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(x + 16));
        for (int c = 0; c < 4; c++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(x + 48 + 32 * c));
            /* bit 2c of qh[l] -> 0x10: shift right by 2c, then left by 4 */
            const __m256i h0 = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, 2 * c), 4), m16);
            const __m256i h1 = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, 2 * c + 1), 4), m16);
            _mm256_storeu_si256((__m256i *)L, _mm256_or_si256(_mm256_and_si256(q, m4), h0));
            _mm256_storeu_si256((__m256i *)(L + 32),
                                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), h1));
            for (int h = 0; h < 2; h++) {
                int sc, m;
                x86_scale_min_k4(x + 4, 2 * c + h, &sc, &m);
                x86_deq_affine(L + 32 * h, 32, d * (float)sc, dmin * (float)m, dst + 64 * c + 32 * h);
            }
        }
    }
}

static void x86_dequantize_q6_k(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    int8_t L[128];
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3), off = _mm256_set1_epi8(32);
    for (int64_t b = 0; b < n / QREF_QK_K; b++, x += 210, dst += QREF_QK_K) {
        const float d = x86_half_at(x + 208);
        for (int h = 0; h < 2; h++) {
            const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(x + 64 * h));
            const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(x + 64 * h + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(x + 128 + 32 * h));
            const __m256i lo[4] = {_mm256_and_si256(ql0, m4), _mm256_and_si256(ql1, m4),
                                   _mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                                   _mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4)};
            for (int k = 0; k < 4; k++) {
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), m3);
                const __m256i q = _mm256_or_si256(lo[k], _mm256_slli_epi16(hi, 4));
                _mm256_storeu_si256((__m256i *)(L + 32 * k), _mm256_sub_epi8(q, off));
            }
            for (int j = 0; j < 8; j++) {
                const float dl = d * (float)(int8_t)x[192 + 8 * h + j];
                x86_deq_symmetric(L + 16 * j, 16, dl, dst + 128 * h + 16 * j);
            }
        }
    }
}

/* ---- Error sums ------------------------------------------------------------ */

/* As qref_err_sums, with four double lanes per sum: the sums differ from the
 * reference only by the order of the additions (a relative difference of a
 * few ulps of the total, see tests/unit/test_simd.c); n, nonfinite and
 * max_abs are exact. */
static void x86_err_sums(const float *restrict x, const float *restrict y, int64_t n,
                         struct qcore_err_sums *acc)
{
    __m256d sx2[2], sy2[2], sxy[2], se2[2], mx[2];
    for (int k = 0; k < 2; k++)
        sx2[k] = sy2[k] = sxy[k] = se2[k] = mx[k] = _mm256_setzero_pd();
    const __m256 lim = _mm256_set1_ps(FLT_MAX);
    const __m256d absd = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffffLL));
    uint64_t finite = 0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 xv = _mm256_loadu_ps(x + i), yv = _mm256_loadu_ps(y + i);
        const __m256 ok = _mm256_and_ps(_mm256_cmp_ps(x86_abs(xv), lim, _CMP_LE_OQ),
                                        _mm256_cmp_ps(x86_abs(yv), lim, _CMP_LE_OQ));
        const int bits = _mm256_movemask_ps(ok);
        finite += (uint64_t)__builtin_popcount((unsigned)bits);
        /* Non-finite pairs become 0 - 0, which adds nothing. */
        const __m256 xz = _mm256_and_ps(xv, ok), yz = _mm256_and_ps(yv, ok);
        for (int k = 0; k < 2; k++) {
            const __m128 xs = k ? _mm256_extractf128_ps(xz, 1) : _mm256_castps256_ps128(xz);
            const __m128 ys = k ? _mm256_extractf128_ps(yz, 1) : _mm256_castps256_ps128(yz);
            const __m256d a = _mm256_cvtps_pd(xs), b = _mm256_cvtps_pd(ys);
            const __m256d e = _mm256_sub_pd(a, b);
            sx2[k] = _mm256_add_pd(sx2[k], _mm256_mul_pd(a, a));
            sy2[k] = _mm256_add_pd(sy2[k], _mm256_mul_pd(b, b));
            sxy[k] = _mm256_add_pd(sxy[k], _mm256_mul_pd(a, b));
            se2[k] = _mm256_add_pd(se2[k], _mm256_mul_pd(e, e));
            mx[k] = _mm256_max_pd(mx[k], _mm256_and_pd(e, absd));
        }
    }
    double out[5][4];
    _mm256_storeu_pd(out[0], _mm256_add_pd(sx2[0], sx2[1]));
    _mm256_storeu_pd(out[1], _mm256_add_pd(sy2[0], sy2[1]));
    _mm256_storeu_pd(out[2], _mm256_add_pd(sxy[0], sxy[1]));
    _mm256_storeu_pd(out[3], _mm256_add_pd(se2[0], se2[1]));
    _mm256_storeu_pd(out[4], _mm256_max_pd(mx[0], mx[1]));
    acc->sum_x2 += (out[0][0] + out[0][1]) + (out[0][2] + out[0][3]);
    acc->sum_y2 += (out[1][0] + out[1][1]) + (out[1][2] + out[1][3]);
    acc->sum_xy += (out[2][0] + out[2][1]) + (out[2][2] + out[2][3]);
    acc->sum_e2 += (out[3][0] + out[3][1]) + (out[3][2] + out[3][3]);
    for (int l = 0; l < 4; l++)
        if (out[4][l] > acc->max_abs)
            acc->max_abs = out[4][l];
    acc->n += finite;
    acc->nonfinite += (uint64_t)i - finite;
    if (i < n)
        qref_err_sums(x + i, y + i, n - i, acc);
}

/* NaN or ±Inf: the exponent bits all ones. */
static uint64_t x86_count_nonfinite(const float *restrict x, int64_t n)
{
    const __m256i m = _mm256_set1_epi32(0x7f800000);
    __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
    int64_t i = 0;
    /* lanes count down by 1 per hit (compare gives -1); 2^31 - 1 elements per
     * lane cannot be reached by one row of a chunk, but flush every 2^30 anyway */
    uint64_t k = 0;
    while (i + 16 <= n) {
        const int64_t stop = n - i > ((int64_t)1 << 30) ? i + ((int64_t)1 << 30) : n;
        for (; i + 16 <= stop; i += 16) {
            const __m256i a = _mm256_loadu_si256((const __m256i *)(x + i));
            const __m256i b = _mm256_loadu_si256((const __m256i *)(x + i + 8));
            acc0 = _mm256_add_epi32(acc0, _mm256_cmpeq_epi32(_mm256_and_si256(a, m), m));
            acc1 = _mm256_add_epi32(acc1, _mm256_cmpeq_epi32(_mm256_and_si256(b, m), m));
        }
        int32_t l[8];
        _mm256_storeu_si256((__m256i *)l, _mm256_add_epi32(acc0, acc1));
        for (int j = 0; j < 8; j++)
            k += (uint64_t)(-(int64_t)l[j]);
        acc0 = acc1 = _mm256_setzero_si256();
    }
    return k + qref_count_nonfinite(x + i, n - i);
}

/* ---- Compressed-tensors rows (core/ctq.c) --------------------------------
 *
 * Element-wise the same float operations as the reference: x / s (plus the
 * zero point for the asymmetric schemes), round to nearest even, clamp,
 * (q - z) · s. The order of rint and clamp is swapped, which gives the same
 * integer because rint is monotone and the bounds are integers; NaN is
 * masked to the reference's value. The group reductions are max and min,
 * which do not depend on the order (NaN never wins, as in the reference's
 * `>`/`<` chain; vmaxps/vminps return the second operand, the accumulator,
 * for NaN and for ±0 pairs). Scales, zero points and the FP8 scale are the
 * reference's scalar code on the reduced values. */

#include "core/ctq.h"

static inline float x86_ct_absmax(const float *restrict x, int64_t n)
{
    __m256 m0 = _mm256_setzero_ps(), m1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        m0 = _mm256_max_ps(x86_abs(_mm256_loadu_ps(x + i)), m0);
        m1 = _mm256_max_ps(x86_abs(_mm256_loadu_ps(x + i + 8)), m1);
    }
    for (; i + 8 <= n; i += 8)
        m0 = _mm256_max_ps(x86_abs(_mm256_loadu_ps(x + i)), m0);
    float amax = x86_hmax(_mm256_max_ps(m0, m1));
    for (; i < n; i++)
        if (fabsf(x[i]) > amax)
            amax = fabsf(x[i]);
    return amax;
}

/* min(x, 0) and max(x, 0) over n, NaN ignored. */
static inline void x86_ct_range(const float *restrict x, int64_t n, float *lo_out, float *hi_out)
{
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        lo = _mm256_min_ps(v, lo);
        hi = _mm256_max_ps(v, hi);
    }
    float l = x86_hmin(lo), h = x86_hmax(hi);
    for (; i < n; i++) {
        if (x[i] < l)
            l = x[i];
        if (x[i] > h)
            h = x[i];
    }
    *lo_out = l;
    *hi_out = h;
}

/* Codes of one group: u = qcore_ct_round_clamp(x / s + z, qmin, qmax, z) (z = 0 and
 * no addition for the symmetric schemes); y = (u - z) · s when wanted. */
static inline void x86_ct_group_codes(const float *restrict x, int64_t n, float s, int z, bool sym,
                                      int qmin, int qmax, int32_t *restrict u, float *restrict y)
{
    const __m256 S = _mm256_set1_ps(s), Zf = _mm256_set1_ps((float)z);
    const __m256 LO = _mm256_set1_ps((float)qmin), HI = _mm256_set1_ps((float)qmax);
    const __m256i Zi = _mm256_set1_epi32(z);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_div_ps(_mm256_loadu_ps(x + i), S);
        if (!sym)
            v = _mm256_add_ps(v, Zf);
        const __m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
        v = _mm256_min_ps(_mm256_max_ps(v, LO), HI);
        v = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m256i q = _mm256_cvtps_epi32(v);
        q = _mm256_blendv_epi8(q, Zi, _mm256_castps_si256(nan));
        _mm256_storeu_si256((__m256i *)(u + i), q);
        if (y)
            _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(q, Zi)), S));
    }
    for (; i < n; i++) {
        const float v = sym ? x[i] / s : x[i] / s + (float)z;
        u[i] = qcore_ct_round_clamp(v, qmin, qmax, z);
        if (y)
            y[i] = (float)(u[i] - z) * s;
    }
}

/* 8 int32 values in 0..255 -> 8 bytes. */
static inline __m128i x86_ct_bytes8(__m256i q)
{
    const __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
    return _mm_packus_epi16(w, w);
}

/* One packed row as qcore_ct_pack_row writes it: each value offset by
 * 2^(bits-1), element i at bit i·bits of the little-endian word stream, so
 * byte-wise: INT8 byte i = q_i + 128; INT4 byte k = (q_2k + 8) | (q_2k+1 + 8) << 4.
 * The last word is padded with zero bits. */
static inline void x86_ct_pack_row(const int32_t *restrict q, int64_t n, unsigned bits,
                                   uint8_t *restrict dst, uint64_t row_bytes)
{
    const __m256i off = _mm256_set1_epi32(1 << (bits - 1));
    int64_t i = 0;
    uint64_t o = 0;
    if (bits == 8) {
        for (; i + 8 <= n; i += 8, o += 8)
            _mm_storel_epi64((__m128i *)(dst + o),
                             x86_ct_bytes8(_mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(q + i)), off)));
        for (; i < n; i++, o++)
            dst[o] = (uint8_t)(q[i] + 128);
    } else {
        for (; i + 8 <= n; i += 8, o += 4) {
            const __m128i b =
                x86_ct_bytes8(_mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(q + i)), off));
            /* 16-bit lane k holds q_2k | q_2k+1 << 8 (each < 16) */
            const __m128i t = _mm_and_si128(_mm_or_si128(b, _mm_srli_epi16(b, 4)), _mm_set1_epi16(0xFF));
            const uint32_t w = (uint32_t)_mm_cvtsi128_si32(_mm_packus_epi16(t, t));
            memcpy(dst + o, &w, 4);
        }
        for (; i + 1 < n; i += 2, o++)
            dst[o] = (uint8_t)((q[i] + 8) | (q[i + 1] + 8) << 4);
        if (i < n)
            dst[o++] = (uint8_t)(q[i] + 8);
    }
    for (; o < row_bytes; o++)
        dst[o] = 0;
}

/* FP8: v = x / s (NaN -> 0), E4M3 bytes as qcore_f32_to_e4m3 (normal values
 * rounded to 3 mantissa bits on the bits, RNE; below 2^-6 rint(|v|·512);
 * |v| >= 448 -> 0x7E), and y = e4m3(v) · s decoded on the bits. */
static inline void x86_ct_fp8_group(const float *restrict x, int64_t n, float s,
                                    uint8_t *restrict w, float *restrict y)
{
    const __m256 S = _mm256_set1_ps(s);
    const __m256i sign_bit = _mm256_set1_epi32((int)0x80000000u);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_div_ps(_mm256_loadu_ps(x + i), S);
        v = _mm256_andnot_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q), v); /* NaN -> +0 */
        const __m256i bits = _mm256_castps_si256(v);
        const __m256i sgn = _mm256_and_si256(bits, sign_bit);
        const __m256 a = x86_abs(v);
        const __m256i ab = _mm256_castps_si256(a);
        /* normal: RNE at bit 20, then rebias the exponent (127 -> 7) */
        const __m256i rnd = _mm256_add_epi32(
            ab, _mm256_add_epi32(_mm256_set1_epi32(0x7FFFF),
                                 _mm256_and_si256(_mm256_srli_epi32(ab, 20), _mm256_set1_epi32(1))));
        const __m256i normal = _mm256_sub_epi32(_mm256_srli_epi32(rnd, 20), _mm256_set1_epi32(120 << 3));
        const __m256i subn = _mm256_cvtps_epi32(_mm256_round_ps(
            _mm256_mul_ps(a, _mm256_set1_ps(512.0f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        __m256i mag = _mm256_blendv_epi8(normal, subn,
                                         _mm256_castps_si256(_mm256_cmp_ps(a, _mm256_set1_ps(0.015625f), _CMP_LT_OQ)));
        mag = _mm256_blendv_epi8(mag, _mm256_set1_epi32(0x7E),
                                 _mm256_castps_si256(_mm256_cmp_ps(a, _mm256_set1_ps(448.0f), _CMP_GE_OQ)));
        const __m256i code = _mm256_or_si256(mag, _mm256_srli_epi32(sgn, 24));
        _mm_storel_epi64((__m128i *)(w + i), x86_ct_bytes8(code));
        if (y) {
            const __m256i e = _mm256_srli_epi32(mag, 3), m = _mm256_and_si256(mag, _mm256_set1_epi32(7));
            const __m256 dn = _mm256_castsi256_ps(_mm256_or_si256(
                _mm256_slli_epi32(_mm256_add_epi32(e, _mm256_set1_epi32(120)), 23), _mm256_slli_epi32(m, 20)));
            const __m256 ds = _mm256_mul_ps(_mm256_cvtepi32_ps(m), _mm256_set1_ps(0.001953125f));
            const __m256 d = _mm256_blendv_ps(dn, ds, _mm256_castsi256_ps(_mm256_cmpeq_epi32(e, _mm256_setzero_si256())));
            const __m256 dv = _mm256_or_ps(d, _mm256_castsi256_ps(sgn));
            _mm256_storeu_ps(y + i, _mm256_mul_ps(dv, S));
        }
    }
    for (; i < n; i++) {
        const float v = x[i] / s;
        const uint8_t b = qcore_f32_to_e4m3(isnan(v) ? 0.0f : v);
        w[i] = b;
        if (y)
            y[i] = qcore_e4m3_to_f32(b) * s;
    }
}

static void x86_ct_quantize_rows(const struct qcore_ct_params *p, const float *restrict x,
                                 int64_t n_rows, const struct qcore_ct_out *out)
{
    const int64_t G = qcore_ct_groups(p), cols = p->cols, gs = p->group;
    if (qcore_ct_scheme_is_fp8(p->scheme)) {
        for (int64_t r = 0; r < n_rows; r++) {
            for (int64_t g = 0; g < G; g++) {
                const int64_t o = r * cols + g * gs;
                float s = x86_ct_absmax(x + o, gs) / 448.0f;
                if (s == 0.0f)
                    s = qcore_ct_scale_eps(QCORE_TYPE_F32);
                s = qcore_ct_store_scale(QCORE_TYPE_F32, s, out->scale + (size_t)(r * G + g) * 4);
                x86_ct_fp8_group(x + o, gs, s, out->weights + o, out->y ? out->y + o : NULL);
            }
        }
        return;
    }
    const unsigned bits = qcore_ct_scheme_bits(p->scheme), per_word = 32u / bits;
    const int offset = 1 << (bits - 1), qmin = -offset, qmax = offset - 1;
    const bool sym = qcore_ct_scheme_symmetric(p->scheme);
    const size_t ss = p->scale_type == QCORE_TYPE_F32 ? 4 : 2;
    const uint64_t rb = qcore_ct_row_bytes(p);
    const float eps = qcore_ct_scale_eps(p->scale_type);
    int32_t *u = out->scratch;
    if (!sym)
        memset(out->zero, 0, (size_t)((n_rows + per_word - 1) / per_word * (uint64_t)G * 4));
    for (int64_t r = 0; r < n_rows; r++) {
        const float *xr = x + r * cols;
        for (int64_t g = 0; g < G; g++) {
            const int64_t o = g * gs;
            uint8_t *sd = out->scale + (size_t)(r * G + g) * ss;
            int z = 0;
            float s;
            if (sym) {
                s = x86_ct_absmax(xr + o, gs) / ((float)(qmax - qmin) / 2.0f);
                if (s == 0.0f)
                    s = eps;
                s = qcore_ct_store_scale(p->scale_type, s, sd);
            } else {
                float lo, hi;
                x86_ct_range(xr + o, gs, &lo, &hi);
                s = (hi - lo) / (float)(qmax - qmin);
                if (s == 0.0f)
                    s = eps;
                s = qcore_ct_store_scale(p->scale_type, s, sd);
                z = qcore_ct_round_clamp(qmin - rintf(lo / s), qmin, qmax, 0);
                uint8_t *w = out->zero + 4 * ((r / per_word) * G + g);
                const uint32_t add = (uint32_t)(z + offset) << ((unsigned)(r % per_word) * bits);
                uint32_t v = (uint32_t)w[0] | (uint32_t)w[1] << 8 | (uint32_t)w[2] << 16 |
                             (uint32_t)w[3] << 24;
                v |= add;
                x86_put32(w, v);
            }
            x86_ct_group_codes(xr + o, gs, s, z, sym, qmin, qmax, u + o,
                               out->y ? out->y + r * cols + o : NULL);
        }
        x86_ct_pack_row(u, cols, bits, out->weights + r * rb, rb);
    }
}

#endif


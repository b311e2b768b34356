/* core/kernels/neon.c — the AArch64 NEON kernel table.
 *
 * NEON (Advanced SIMD) is baseline on AArch64, so no extra flags beyond
 * -ffp-contract=off (no fused multiply-add may change a byte, FORMATS.md
 * §3.9). Vectorised: F16/BF16 conversions both ways, Q8_0, Q4_0 and Q5_0
 * quantization, the dequantizers of the 32-element types, and the
 * searching quantizers (K-quants, IQ4_NL) with one sub-block per lane
 * (kq_lanes.h, 4 lanes), Q4_1/Q5_1 quantization, the K-quant dequantizers
 * and the error sums. The compressed-tensors rows (ct_quantize_rows) are
 * the reference's.
 *
 * Bit-exactness notes: FRINTA is C's roundf (ties away from zero), so Q8_0
 * needs no emulation; FCVTN/FCVTL (F32<->F16) round to nearest even under the
 * default FPCR, but keep or quiet NaN payloads differently from the
 * reference, so a group with a NaN takes the scalar path; blocks with a
 * non-finite value, or whose 1/d overflows, take the reference block path.
 * Tested under qemu-aarch64 by tests/simd/neon-check.sh.
 */
#include "core/kernels/simd.h"

#if defined(__aarch64__)

#include <arm_neon.h>
#include <float.h>
#include <math.h>

#include "core/ctq.h"
#include "core/kernels/ref_internal.h"

/* ---- F16 / BF16 ------------------------------------------------------------ */

static void neon_quantize_f16(const float *restrict src, void *restrict dst, int64_t n)
{
    uint8_t *y = dst;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t v = vld1q_f32(src + i);
        if (vminvq_u32(vceqq_f32(v, v)) == 0) { /* a NaN: 0x7E00|sign as the reference */
            for (int j = 0; j < 4; j++)
                qref_put_le16(y + 2 * (i + j), qref_f32_to_f16(src[i + j]));
            continue;
        }
        vst1_u16((uint16_t *)(void *)(y + 2 * i), vreinterpret_u16_f16(vcvt_f16_f32(v)));
    }
    for (; i < n; i++)
        qref_put_le16(y + 2 * i, qref_f32_to_f16(src[i]));
}

static void neon_quantize_bf16(const float *restrict src, void *restrict dst, int64_t n)
{
    uint8_t *y = dst;
    int64_t i = 0;
    const uint32x4_t one = vdupq_n_u32(1), r = vdupq_n_u32(0x7fff), quiet = vdupq_n_u32(0x40);
    for (; i + 4 <= n; i += 4) {
        const float32x4_t v = vld1q_f32(src + i);
        const uint32x4_t u = vreinterpretq_u32_f32(v);
        const uint32x4_t lsb = vandq_u32(vshrq_n_u32(u, 16), one);
        const uint32x4_t rounded = vshrq_n_u32(vaddq_u32(vaddq_u32(u, r), lsb), 16);
        const uint32x4_t nan = vorrq_u32(vshrq_n_u32(u, 16), quiet);
        const uint32x4_t out = vbslq_u32(vceqq_f32(v, v), rounded, nan);
        vst1_u16((uint16_t *)(void *)(y + 2 * i), vmovn_u32(out));
    }
    for (; i < n; i++)
        qref_put_le16(y + 2 * i, qcore_f32_to_bf16(src[i]));
}

static void neon_f16_row_to_f32(const uint16_t *restrict src, float *restrict dst, int64_t n)
{
    int64_t i = 0;
    const uint16x4_t mag = vdup_n_u16(0x7fff), inf = vdup_n_u16(0x7c00);
    for (; i + 4 <= n; i += 4) {
        const uint16x4_t h = vld1_u16(src + i);
        if (vmaxv_u16(vcgt_u16(vand_u16(h, mag), inf)) != 0) { /* NaN payloads: scalar */
            for (int j = 0; j < 4; j++)
                dst[i + j] = qref_f16_to_f32(src[i + j]);
            continue;
        }
        vst1q_f32(dst + i, vcvt_f32_f16(vreinterpret_f16_u16(h)));
    }
    for (; i < n; i++)
        dst[i] = qref_f16_to_f32(src[i]);
}

static void neon_bf16_row_to_f32(const uint16_t *restrict src, float *restrict dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(dst + i, vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(src + i), 16)));
    for (; i < n; i++)
        dst[i] = qcore_bf16_to_f32(src[i]);
}

static void neon_dequantize_f16(const void *restrict src, float *restrict dst, int64_t n)
{
    if (((uintptr_t)src & 1u) == 0) {
        neon_f16_row_to_f32(src, dst, n); /* little-endian host */
        return;
    }
    qref_dequantize_f16(src, dst, n);
}

static void neon_dequantize_bf16(const void *restrict src, float *restrict dst, int64_t n)
{
    if (((uintptr_t)src & 1u) == 0) {
        neon_bf16_row_to_f32(src, dst, n);
        return;
    }
    qref_dequantize_bf16(src, dst, n);
}

/* ---- 32-element blocks ------------------------------------------------------- */

/* Loads a block; *amax = largest |x| (on the bits, so NaN/Inf sort above all
 * finite values); returns whether all are finite. */
static inline int neon_load_block(const float *restrict x, float32x4_t v[8], float32x4_t a[8],
                                  float *amax)
{
    uint32x4_t m = vdupq_n_u32(0);
    for (int k = 0; k < 8; k++) {
        v[k] = vld1q_f32(x + 4 * k);
        const uint32x4_t ai = vandq_u32(vreinterpretq_u32_f32(v[k]), vdupq_n_u32(0x7fffffff));
        a[k] = vreinterpretq_f32_u32(ai);
        m = vmaxq_u32(m, ai);
    }
    const uint32_t bits = vmaxvq_u32(m);
    memcpy(amax, &bits, sizeof *amax);
    return bits < 0x7f800000u;
}

/* 8 vectors of 4 int32 (in [-128, 255] as bytes) -> 32 bytes in order. */
static inline uint8x16x2_t neon_narrow(const int32x4_t c[8])
{
    uint8x16x2_t r;
    for (int h = 0; h < 2; h++) {
        const int16x8_t lo = vcombine_s16(vmovn_s32(c[4 * h]), vmovn_s32(c[4 * h + 1]));
        const int16x8_t hi = vcombine_s16(vmovn_s32(c[4 * h + 2]), vmovn_s32(c[4 * h + 3]));
        r.val[h] = vreinterpretq_u8_s8(vcombine_s8(vmovn_s16(lo), vmovn_s16(hi)));
    }
    return r;
}

static void neon_quantize_q8_0(const float *restrict src, void *restrict dst, int64_t n)
{
    uint8_t *y = dst;
    for (int64_t b = 0; b < n / QREF_QK; b++, src += QREF_QK, y += 34) {
        float32x4_t v[8], a[8];
        float amax;
        const int finite = neon_load_block(src, v, a, &amax);
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        if (!finite || id > FLT_MAX) {
            qref_quantize_q8_0(src, y, QREF_QK);
            continue;
        }
        qref_put_le16(y, qref_f32_to_f16(d));
        int32x4_t c[8];
        for (int k = 0; k < 8; k++) /* FRINTA = roundf; |x·id| <= 127 + ε */
            c[k] = vcvtq_s32_f32(vrndaq_f32(vmulq_n_f32(v[k], id)));
        const uint8x16x2_t q = neon_narrow(c);
        vst1q_u8(y + 2, q.val[0]);
        vst1q_u8(y + 18, q.val[1]);
    }
}

/* Q4_0/Q5_0 codes; returns d, or NaN when the block needs the reference. */
static inline float neon_symmetric_block(const float *restrict x, const float32x4_t v[8],
                                         const float32x4_t a[8], float amax, int offset,
                                         uint8_t codes[32])
{
    float mx = 0.0f;
    if (amax > 0.0f) { /* the first element with the largest |x| */
        const float32x4_t s = vdupq_n_f32(amax);
        for (int k = 0; k < 8; k++) {
            if (vmaxvq_u32(vceqq_f32(a[k], s)) != 0) {
                for (int j = 0; j < 4; j++)
                    if (fabsf(x[4 * k + j]) == amax) {
                        mx = x[4 * k + j];
                        break;
                    }
                break;
            }
        }
    }
    const float d = mx / (float)-offset;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    if (fabsf(id) > FLT_MAX)
        return NAN;
    const float32x4_t bias = vdupq_n_f32((float)offset + 0.5f);
    const float32x4_t hi = vdupq_n_f32((float)(2 * offset - 1));
    int32x4_t c[8];
    for (int k = 0; k < 8; k++) { /* v >= 0.5 - ε: trunc_code is min(trunc(v), hi) */
        const float32x4_t t = vaddq_f32(vmulq_n_f32(v[k], id), bias);
        c[k] = vcvtq_s32_f32(vminq_f32(t, hi));
    }
    const uint8x16x2_t q = neon_narrow(c);
    vst1q_u8(codes, q.val[0]);
    vst1q_u8(codes + 16, q.val[1]);
    return d;
}

static inline void neon_pack_nibbles(const uint8_t codes[32], uint8_t *qs)
{
    const uint8x16_t lo = vld1q_u8(codes), hi = vld1q_u8(codes + 16);
    vst1q_u8(qs, vorrq_u8(lo, vshlq_n_u8(hi, 4)));
}

static void neon_quantize_q4_0(const float *restrict src, void *restrict dst, int64_t n)
{
    uint8_t *y = dst;
    uint8_t codes[32];
    for (int64_t b = 0; b < n / QREF_QK; b++, src += QREF_QK, y += 18) {
        float32x4_t v[8], a[8];
        float amax, d;
        if (!neon_load_block(src, v, a, &amax) ||
            isnan(d = neon_symmetric_block(src, v, a, amax, 8, codes))) {
            qref_quantize_q4_0(src, y, QREF_QK);
            continue;
        }
        qref_put_le16(y, qref_f32_to_f16(d));
        neon_pack_nibbles(codes, y + 2);
    }
}

static void neon_quantize_q5_0(const float *restrict src, void *restrict dst, int64_t n)
{
    uint8_t *y = dst;
    uint8_t codes[32];
    for (int64_t b = 0; b < n / QREF_QK; b++, src += QREF_QK, y += 22) {
        float32x4_t v[8], a[8];
        float amax, d;
        if (!neon_load_block(src, v, a, &amax) ||
            isnan(d = neon_symmetric_block(src, v, a, amax, 16, codes))) {
            qref_quantize_q5_0(src, y, QREF_QK);
            continue;
        }
        qref_put_le16(y, qref_f32_to_f16(d));
        uint32_t qh = 0;
        for (int j = 0; j < 32; j++)
            qh |= (uint32_t)((codes[j] >> 4) & 1u) << j;
        qref_put_le32(y + 2, qh);
        const uint8x16_t m = vdupq_n_u8(0x0F);
        vst1q_u8(y + 6, vorrq_u8(vandq_u8(vld1q_u8(codes), m),
                                 vshlq_n_u8(vandq_u8(vld1q_u8(codes + 16), m), 4)));
    }
}

/* 32 unsigned byte codes -> floats, then out = code·d + m or (code − off)·d. */
static inline void neon_codes_to_f32(const uint8_t codes[32], float32x4_t f[8])
{
    for (int h = 0; h < 2; h++) {
        const uint8x16_t c = vld1q_u8(codes + 16 * h);
        const uint16x8_t lo = vmovl_u8(vget_low_u8(c)), hi = vmovl_u8(vget_high_u8(c));
        f[4 * h + 0] = vcvtq_f32_u32(vmovl_u16(vget_low_u16(lo)));
        f[4 * h + 1] = vcvtq_f32_u32(vmovl_u16(vget_high_u16(lo)));
        f[4 * h + 2] = vcvtq_f32_u32(vmovl_u16(vget_low_u16(hi)));
        f[4 * h + 3] = vcvtq_f32_u32(vmovl_u16(vget_high_u16(hi)));
    }
}

static inline void neon_unpack_nibbles(const uint8_t *qs, uint8_t codes[32])
{
    const uint8x16_t b = vld1q_u8(qs);
    vst1q_u8(codes, vandq_u8(b, vdupq_n_u8(0x0F)));
    vst1q_u8(codes + 16, vshrq_n_u8(b, 4));
}

static inline void neon_add_high_bits(uint32_t qh, uint8_t codes[32])
{
    for (int j = 0; j < 32; j++)
        codes[j] |= (uint8_t)(((qh >> j) & 1u) << 4);
}

static void neon_dequantize_q8_0(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    for (int64_t b = 0; b < n / QREF_QK; b++, x += 34, dst += QREF_QK) {
        const float d = qref_f16_to_f32(qref_get_le16(x));
        for (int h = 0; h < 2; h++) {
            const int8x16_t q = vld1q_s8((const int8_t *)(x + 2 + 16 * h));
            const int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_s8(vget_high_s8(q));
            const int32x4_t w[4] = {vmovl_s16(vget_low_s16(lo)), vmovl_s16(vget_high_s16(lo)),
                                    vmovl_s16(vget_low_s16(hi)), vmovl_s16(vget_high_s16(hi))};
            for (int k = 0; k < 4; k++)
                vst1q_f32(dst + 16 * h + 4 * k, vmulq_n_f32(vcvtq_f32_s32(w[k]), d));
        }
    }
}

static inline void neon_deq_offset(const uint8_t codes[32], float off, float d, float *dst)
{
    float32x4_t f[8];
    neon_codes_to_f32(codes, f);
    for (int k = 0; k < 8; k++) /* (code − off) is exact */
        vst1q_f32(dst + 4 * k, vmulq_n_f32(vsubq_f32(f[k], vdupq_n_f32(off)), d));
}

static inline void neon_deq_affine(const uint8_t codes[32], float d, float m, float *dst)
{
    float32x4_t f[8];
    neon_codes_to_f32(codes, f);
    for (int k = 0; k < 8; k++) /* code·d, then + m: two roundings, as the reference */
        vst1q_f32(dst + 4 * k, vaddq_f32(vmulq_n_f32(f[k], d), vdupq_n_f32(m)));
}

static void neon_dequantize_q4_0(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    uint8_t codes[32];
    for (int64_t b = 0; b < n / QREF_QK; b++, x += 18, dst += QREF_QK) {
        neon_unpack_nibbles(x + 2, codes);
        neon_deq_offset(codes, 8.0f, qref_f16_to_f32(qref_get_le16(x)), dst);
    }
}

static void neon_dequantize_q5_0(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    uint8_t codes[32];
    for (int64_t b = 0; b < n / QREF_QK; b++, x += 22, dst += QREF_QK) {
        neon_unpack_nibbles(x + 6, codes);
        neon_add_high_bits(qref_get_le32(x + 2), codes);
        neon_deq_offset(codes, 16.0f, qref_f16_to_f32(qref_get_le16(x)), dst);
    }
}

static void neon_dequantize_q4_1(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    uint8_t codes[32];
    for (int64_t b = 0; b < n / QREF_QK; b++, x += 20, dst += QREF_QK) {
        neon_unpack_nibbles(x + 4, codes);
        neon_deq_affine(codes, qref_f16_to_f32(qref_get_le16(x)),
                        qref_f16_to_f32(qref_get_le16(x + 2)), dst);
    }
}

static void neon_dequantize_q5_1(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    uint8_t codes[32];
    for (int64_t b = 0; b < n / QREF_QK; b++, x += 24, dst += QREF_QK) {
        neon_unpack_nibbles(x + 8, codes);
        neon_add_high_bits(qref_get_le32(x + 4), codes);
        neon_deq_affine(codes, qref_f16_to_f32(qref_get_le16(x)),
                        qref_f16_to_f32(qref_get_le16(x + 2)), dst);
    }
}

static void neon_dequantize_iq4_nl(const void *restrict src, float *restrict dst, int64_t n)
{
    static const int8_t values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                      1,    13,   25,  38,  53,  69,  89,  113};
    const int8x16_t tbl = vld1q_s8(values);
    const uint8_t *x = src;
    uint8_t codes[32];
    for (int64_t b = 0; b < n / QREF_QK; b++, x += 18, dst += QREF_QK) {
        const float d = qref_f16_to_f32(qref_get_le16(x));
        neon_unpack_nibbles(x + 2, codes);
        for (int h = 0; h < 2; h++) {
            const int8x16_t q = vqtbl1q_s8(tbl, vld1q_u8(codes + 16 * h));
            const int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_s8(vget_high_s8(q));
            const int32x4_t w[4] = {vmovl_s16(vget_low_s16(lo)), vmovl_s16(vget_high_s16(lo)),
                                    vmovl_s16(vget_low_s16(hi)), vmovl_s16(vget_high_s16(hi))};
            for (int k = 0; k < 4; k++) /* d · value */
                vst1q_f32(dst + 16 * h + 4 * k, vmulq_f32(vdupq_n_f32(d), vcvtq_f32_s32(w[k])));
        }
    }
}

/* ---- Q4_1 / Q5_1 quantization ------------------------------------------------ */

/* trunc_code(): NaN and v <= 0 give 0, v >= hi gives hi, else (int)v. */
static inline int32x4_t neon_trunc_code(float32x4_t v, float32x4_t hi)
{
    const float32x4_t pos =
        vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(v), vcgtq_f32(v, vdupq_n_f32(0.0f))));
    return vcvtq_s32_f32(vminq_f32(pos, hi));
}

/* The reference's quantize_affine_block on a finite block: min and max are
 * the first elements equal to the reduced extremes (so ±0 keep the
 * reference's sign), codes trunc_code((x − min)·id + 0.5). */
static inline void neon_affine_block(const float *restrict x, const float32x4_t v[8], int nmax,
                                     float *d_out, float *min_out, uint8_t codes[32])
{
    float32x4_t lo = v[0], hi = v[0];
    for (int k = 1; k < 8; k++) {
        lo = vminq_f32(lo, v[k]);
        hi = vmaxq_f32(hi, v[k]);
    }
    const float mn = vminvq_f32(lo), mx = vmaxvq_f32(hi);
    float min = mn, max = mx;
    for (int j = 0; j < QREF_QK; j++)
        if (x[j] == mn) {
            min = x[j];
            break;
        }
    for (int j = 0; j < QREF_QK; j++)
        if (x[j] == mx) {
            max = x[j];
            break;
        }
    const float d = (max - min) / (float)nmax;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const float32x4_t top = vdupq_n_f32((float)nmax), half = vdupq_n_f32(0.5f);
    int32x4_t c[8];
    for (int k = 0; k < 8; k++)
        c[k] = neon_trunc_code(
            vaddq_f32(vmulq_n_f32(vsubq_f32(v[k], vdupq_n_f32(min)), id), half), top);
    const uint8x16x2_t q = neon_narrow(c);
    vst1q_u8(codes, q.val[0]);
    vst1q_u8(codes + 16, q.val[1]);
    *d_out = d;
    *min_out = min;
}

static void neon_quantize_q4_1(const float *restrict src, void *restrict dst, int64_t n)
{
    uint8_t *y = dst;
    uint8_t codes[32];
    for (int64_t b = 0; b < n / QREF_QK; b++, src += QREF_QK, y += 20) {
        float32x4_t v[8], a[8];
        float amax, d, min;
        if (!neon_load_block(src, v, a, &amax)) {
            qref_quantize_q4_1(src, y, QREF_QK);
            continue;
        }
        neon_affine_block(src, v, 15, &d, &min, codes);
        qref_put_le16(y, qref_f32_to_f16(d));
        qref_put_le16(y + 2, qref_f32_to_f16(min));
        neon_pack_nibbles(codes, y + 4);
    }
}

static void neon_quantize_q5_1(const float *restrict src, void *restrict dst, int64_t n)
{
    uint8_t *y = dst;
    uint8_t codes[32];
    for (int64_t b = 0; b < n / QREF_QK; b++, src += QREF_QK, y += 24) {
        float32x4_t v[8], a[8];
        float amax, d, min;
        if (!neon_load_block(src, v, a, &amax)) {
            qref_quantize_q5_1(src, y, QREF_QK);
            continue;
        }
        neon_affine_block(src, v, 31, &d, &min, codes);
        qref_put_le16(y, qref_f32_to_f16(d));
        qref_put_le16(y + 2, qref_f32_to_f16(min));
        uint32_t qh = 0;
        for (int j = 0; j < 32; j++)
            qh |= (uint32_t)((codes[j] >> 4) & 1u) << j;
        qref_put_le32(y + 4, qh);
        const uint8x16_t m = vdupq_n_u8(0x0F);
        vst1q_u8(y + 8, vorrq_u8(vandq_u8(vld1q_u8(codes), m),
                                 vshlq_n_u8(vandq_u8(vld1q_u8(codes + 16), m), 4)));
    }
}

/* ---- Error sums ------------------------------------------------------------------ */

/* As qref_err_sums, in double, four partial sums per quantity (another order
 * of the additions, within the tolerance the callers allow); the counts and
 * the maximum are exact. */
static void neon_err_sums(const float *restrict x, const float *restrict y, int64_t n,
                          struct qcore_err_sums *acc)
{
    float64x2_t sx2[2], sy2[2], sxy[2], se2[2], mx[2];
    for (int k = 0; k < 2; k++)
        sx2[k] = sy2[k] = sxy[k] = se2[k] = mx[k] = vdupq_n_f64(0.0);
    const float32x4_t lim = vdupq_n_f32(FLT_MAX);
    uint64_t finite = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t xv = vld1q_f32(x + i), yv = vld1q_f32(y + i);
        const uint32x4_t ok = vandq_u32(vcleq_f32(vabsq_f32(xv), lim), vcleq_f32(vabsq_f32(yv), lim));
        finite += vaddvq_u32(vshrq_n_u32(ok, 31));
        /* Non-finite pairs become 0 - 0, which adds nothing. */
        const float32x4_t xz = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(xv), ok));
        const float32x4_t yz = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(yv), ok));
        for (int k = 0; k < 2; k++) {
            const float64x2_t a = k ? vcvt_high_f64_f32(xz) : vcvt_f64_f32(vget_low_f32(xz));
            const float64x2_t b = k ? vcvt_high_f64_f32(yz) : vcvt_f64_f32(vget_low_f32(yz));
            const float64x2_t e = vsubq_f64(a, b);
            sx2[k] = vaddq_f64(sx2[k], vmulq_f64(a, a));
            sy2[k] = vaddq_f64(sy2[k], vmulq_f64(b, b));
            sxy[k] = vaddq_f64(sxy[k], vmulq_f64(a, b));
            se2[k] = vaddq_f64(se2[k], vmulq_f64(e, e));
            mx[k] = vmaxq_f64(mx[k], vabsq_f64(e));
        }
    }
    acc->sum_x2 += vaddvq_f64(vaddq_f64(sx2[0], sx2[1]));
    acc->sum_y2 += vaddvq_f64(vaddq_f64(sy2[0], sy2[1]));
    acc->sum_xy += vaddvq_f64(vaddq_f64(sxy[0], sxy[1]));
    acc->sum_e2 += vaddvq_f64(vaddq_f64(se2[0], se2[1]));
    const double m = vmaxvq_f64(vmaxq_f64(mx[0], mx[1]));
    if (m > acc->max_abs)
        acc->max_abs = m;
    acc->n += finite;
    acc->nonfinite += (uint64_t)i - finite;
    if (i < n)
        qref_err_sums(x + i, y + i, n - i, acc);
}

/* ---- K-quant dequantizers ------------------------------------------------------ */

/* 16 unsigned codes -> dst = dl·code − ml (two roundings, as the reference). */
static inline void neon_deq16_affine(uint8x16_t c, float dl, float ml, float *dst)
{
    const uint16x8_t lo = vmovl_u8(vget_low_u8(c)), hi = vmovl_u8(vget_high_u8(c));
    const uint32x4_t w[4] = {vmovl_u16(vget_low_u16(lo)), vmovl_u16(vget_high_u16(lo)),
                             vmovl_u16(vget_low_u16(hi)), vmovl_u16(vget_high_u16(hi))};
    const float32x4_t m = vdupq_n_f32(ml);
    for (int k = 0; k < 4; k++)
        vst1q_f32(dst + 4 * k, vsubq_f32(vmulq_n_f32(vcvtq_f32_u32(w[k]), dl), m));
}

/* 16 signed codes -> dst = dl·code. */
static inline void neon_deq16_signed(int8x16_t c, float dl, float *dst)
{
    const int16x8_t lo = vmovl_s8(vget_low_s8(c)), hi = vmovl_s8(vget_high_s8(c));
    const int32x4_t w[4] = {vmovl_s16(vget_low_s16(lo)), vmovl_s16(vget_high_s16(lo)),
                            vmovl_s16(vget_low_s16(hi)), vmovl_s16(vget_high_s16(hi))};
    for (int k = 0; k < 4; k++)
        vst1q_f32(dst + 4 * k, vmulq_f32(vdupq_n_f32(dl), vcvtq_f32_s32(w[k])));
}

static inline uint8x16_t neon_shr_u8(uint8x16_t v, int n)
{
    return vshlq_u8(v, vdupq_n_s8((int8_t)-n));
}

static void neon_dequantize_q2_k(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    const uint8x16_t three = vdupq_n_u8(3);
    for (int64_t b = 0; b < n / QREF_QK_K; b++, x += 84, dst += QREF_QK_K) {
        const float d = qref_f16_to_f32(qref_get_le16(x + 80));
        const float dmin = qref_f16_to_f32(qref_get_le16(x + 82));
        /* element 128h + 32k + l: bits 2k of qs[32h + l] */
        for (int h = 0; h < 2; h++) {
            for (int k = 0; k < 4; k++) {
                for (int half = 0; half < 2; half++) {
                    const int e = 128 * h + 32 * k + 16 * half;
                    const uint8_t sc = x[e / 16];
                    const uint8x16_t q = vandq_u8(neon_shr_u8(vld1q_u8(x + 16 + 32 * h + 16 * half), 2 * k), three);
                    neon_deq16_affine(q, d * (float)(sc & 0xF), dmin * (float)(sc >> 4), dst + e);
                }
            }
        }
    }
}

static inline int neon_scale_q3(const uint8_t *restrict s, int j)
{
    const int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
    return lo | ((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4;
}

static void neon_dequantize_q3_k(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    const uint8x16_t three = vdupq_n_u8(3), one = vdupq_n_u8(1);
    for (int64_t b = 0; b < n / QREF_QK_K; b++, x += 110, dst += QREF_QK_K) {
        const float d = qref_f16_to_f32(qref_get_le16(x + 108));
        for (int h = 0; h < 2; h++) {
            for (int k = 0; k < 4; k++) {
                for (int half = 0; half < 2; half++) {
                    const int e = 128 * h + 32 * k + 16 * half;
                    const uint8x16_t lo2 = vandq_u8(neon_shr_u8(vld1q_u8(x + 32 + 32 * h + 16 * half), 2 * k), three);
                    /* hmask: element e -> byte e % 32, bit e / 32 */
                    const uint8x16_t hb = vandq_u8(neon_shr_u8(vld1q_u8(x + 16 * half), 4 * h + k), one);
                    /* q = low2 − (hi ? 0 : 4) = low2 + 4·hi − 4 */
                    const int8x16_t q = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo2, vshlq_n_u8(hb, 2))),
                                                 vdupq_n_s8(4));
                    neon_deq16_signed(q, d * (float)(neon_scale_q3(x + 96, e / 16) - 32), dst + e);
                }
            }
        }
    }
}

static inline void neon_scale_min_k4(const uint8_t *restrict s, int j, int *sc, int *m)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0xF) | (s[j - 4] >> 6) << 4;
        *m = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
    }
}

static void neon_dequantize_q4_k(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    for (int64_t b = 0; b < n / QREF_QK_K; b++, x += 144, dst += QREF_QK_K) {
        const float d = qref_f16_to_f32(qref_get_le16(x));
        const float dmin = qref_f16_to_f32(qref_get_le16(x + 2));
        for (int j = 0; j < 8; j++) {
            int s, m;
            neon_scale_min_k4(x + 4, j, &s, &m);
            const float dl = d * (float)s, ml = dmin * (float)m;
            for (int half = 0; half < 2; half++) {
                const uint8x16_t q = vld1q_u8(x + 16 + 32 * (j / 2) + 16 * half);
                const uint8x16_t c = (j % 2) ? vshrq_n_u8(q, 4) : vandq_u8(q, vdupq_n_u8(0xF));
                neon_deq16_affine(c, dl, ml, dst + 32 * j + 16 * half);
            }
        }
    }
}

static void neon_dequantize_q5_k(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    for (int64_t b = 0; b < n / QREF_QK_K; b++, x += 176, dst += QREF_QK_K) {
        const float d = qref_f16_to_f32(qref_get_le16(x));
        const float dmin = qref_f16_to_f32(qref_get_le16(x + 2));
        for (int j = 0; j < 8; j++) {
            int s, m;
            neon_scale_min_k4(x + 4, j, &s, &m);
            const float dl = d * (float)s, ml = dmin * (float)m;
            for (int half = 0; half < 2; half++) {
                const uint8x16_t q = vld1q_u8(x + 48 + 32 * (j / 2) + 16 * half);
                const uint8x16_t lo = (j % 2) ? vshrq_n_u8(q, 4) : vandq_u8(q, vdupq_n_u8(0xF));
                const uint8x16_t hb =
                    vandq_u8(neon_shr_u8(vld1q_u8(x + 16 + 16 * half), j), vdupq_n_u8(1));
                neon_deq16_affine(vorrq_u8(lo, vshlq_n_u8(hb, 4)), dl, ml, dst + 32 * j + 16 * half);
            }
        }
    }
}

static void neon_dequantize_q6_k(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    for (int64_t b = 0; b < n / QREF_QK_K; b++, x += 210, dst += QREF_QK_K) {
        const float d = qref_f16_to_f32(qref_get_le16(x + 208));
        /* element 128h + 32k + l: low nibble of ql[64h + 32(k&1) + l]
         * (high nibble for k >= 2), 2 high bits at 2k of qh[32h + l] */
        for (int h = 0; h < 2; h++) {
            for (int k = 0; k < 4; k++) {
                for (int half = 0; half < 2; half++) {
                    const int e = 128 * h + 32 * k + 16 * half;
                    const uint8x16_t lb = vld1q_u8(x + 64 * h + 32 * (k & 1) + 16 * half);
                    const uint8x16_t lo = k < 2 ? vandq_u8(lb, vdupq_n_u8(0xF)) : vshrq_n_u8(lb, 4);
                    const uint8x16_t hi = vandq_u8(
                        neon_shr_u8(vld1q_u8(x + 128 + 32 * h + 16 * half), 2 * k), vdupq_n_u8(3));
                    const int8x16_t q = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo, vshlq_n_u8(hi, 4))),
                                                 vdupq_n_s8(32));
                    neon_deq16_signed(q, d * (float)qref_as_i8(x[192 + e / 16]), dst + e);
                }
            }
        }
    }
}

/* ---- The lane primitives of kq_lanes.h, 4 x float32 ------------------------ */

#define KQ_VW 4
typedef float32x4_t vf;
typedef int32x4_t vi;
typedef uint32x4_t vm;

static inline vf vf_set(float a) { return vdupq_n_f32(a); }
static inline vf vf_ld(const float *p) { return vld1q_f32(p); }
static inline void vf_st(float *p, vf a) { vst1q_f32(p, a); }
static inline vf vf_add(vf a, vf b) { return vaddq_f32(a, b); }
static inline vf vf_sub(vf a, vf b) { return vsubq_f32(a, b); }
static inline vf vf_mul(vf a, vf b) { return vmulq_f32(a, b); }
static inline vf vf_div(vf a, vf b) { return vdivq_f32(a, b); }
static inline vf vf_sqrt(vf a) { return vsqrtq_f32(a); }
static inline vf vf_abs(vf a) { return vabsq_f32(a); }
static inline vf vf_neg(vf a) { return vnegq_f32(a); }
static inline vm vm_lt(vf a, vf b) { return vcltq_f32(a, b); }
static inline vm vm_gt(vf a, vf b) { return vcgtq_f32(a, b); }
static inline vm vm_le(vf a, vf b) { return vcleq_f32(a, b); }
static inline vm vm_ge(vf a, vf b) { return vcgeq_f32(a, b); }
static inline vm vm_eq(vf a, vf b) { return vceqq_f32(a, b); }
static inline vm vm_nlt(vf a, vf b) { return vmvnq_u32(vcltq_f32(a, b)); }
static inline vm vm_true(void) { return vdupq_n_u32(0xffffffffu); }
static inline vm vm_and(vm a, vm b) { return vandq_u32(a, b); }
static inline vm vm_or(vm a, vm b) { return vorrq_u32(a, b); }
static inline vm vm_not(vm a) { return vmvnq_u32(a); }
static inline int vm_any(vm a) { return vmaxvq_u32(a) != 0; }
static inline vf vf_sel(vm m, vf a, vf b) { return vbslq_f32(m, a, b); }
static inline vi vi_sel(vm m, vi a, vi b) { return vbslq_s32(m, a, b); }
static inline vi vi_set(int a) { return vdupq_n_s32(a); }
static inline vi vi_add(vi a, vi b) { return vaddq_s32(a, b); }
static inline void vi_st(int32_t *p, vi a) { vst1q_s32(p, a); }
static inline vi vi_ld(const int32_t *p) { return vld1q_s32(p); }
static inline vf vi_tof(vi a) { return vcvtq_f32_s32(a); }
static inline vm vi_eq(vi a, vi b) { return vceqq_s32(a, b); }
static inline vi vi_clamp(vi v, int lo, int hi)
{
    return vminq_s32(vmaxq_s32(v, vdupq_n_s32(lo)), vdupq_n_s32(hi));
}
/* qref_nearest_int: the integer lands in the low mantissa bits of v + 1.5·2^23. */
static inline vi vf_rne(vf v)
{
    const vi t = vreinterpretq_s32_f32(vaddq_f32(v, vdupq_n_f32(12582912.0f)));
    return vsubq_s32(vandq_s32(t, vdupq_n_s32(0x007fffff)), vdupq_n_s32(0x00400000));
}

#include "core/kernels/kq_lanes.h"

#define KQ_ROW(name, kind)                                                             \
    static void name(const float *restrict src, void *restrict dst, int64_t n)       \
    {                                                                                  \
        kq_quantize(kind, src, dst, n);                                                \
    }
KQ_ROW(neon_quantize_q2_k, KQ_Q2_K)
KQ_ROW(neon_quantize_q3_k, KQ_Q3_K)
KQ_ROW(neon_quantize_q4_k, KQ_Q4_K)
KQ_ROW(neon_quantize_q5_k, KQ_Q5_K)
KQ_ROW(neon_quantize_q6_k, KQ_Q6_K)

static void neon_quantize_iq4_nl(const float *restrict src, void *restrict dst, int64_t n)
{
    kq_quantize_iq4_nl(src, dst, n);
}

static const struct qcore_kernels neon_table = {
    .isa = "neon",
    .quantize = {
        [QCORE_TYPE_F32] = qref_quantize_f32,
        [QCORE_TYPE_F16] = neon_quantize_f16,
        [QCORE_TYPE_BF16] = neon_quantize_bf16,
        [QCORE_TYPE_Q8_0] = neon_quantize_q8_0,
        [QCORE_TYPE_Q4_0] = neon_quantize_q4_0,
        [QCORE_TYPE_Q4_1] = neon_quantize_q4_1,
        [QCORE_TYPE_Q5_0] = neon_quantize_q5_0,
        [QCORE_TYPE_Q5_1] = neon_quantize_q5_1,
        [QCORE_TYPE_Q2_K] = neon_quantize_q2_k,
        [QCORE_TYPE_Q3_K] = neon_quantize_q3_k,
        [QCORE_TYPE_Q4_K] = neon_quantize_q4_k,
        [QCORE_TYPE_Q5_K] = neon_quantize_q5_k,
        [QCORE_TYPE_Q6_K] = neon_quantize_q6_k,
        [QCORE_TYPE_IQ4_NL] = neon_quantize_iq4_nl,
    },
    .dequantize = {
        [QCORE_TYPE_F32] = qref_dequantize_f32,
        [QCORE_TYPE_F16] = neon_dequantize_f16,
        [QCORE_TYPE_BF16] = neon_dequantize_bf16,
        [QCORE_TYPE_Q8_0] = neon_dequantize_q8_0,
        [QCORE_TYPE_Q4_0] = neon_dequantize_q4_0,
        [QCORE_TYPE_Q4_1] = neon_dequantize_q4_1,
        [QCORE_TYPE_Q5_0] = neon_dequantize_q5_0,
        [QCORE_TYPE_Q5_1] = neon_dequantize_q5_1,
        [QCORE_TYPE_Q2_K] = neon_dequantize_q2_k,
        [QCORE_TYPE_Q3_K] = neon_dequantize_q3_k,
        [QCORE_TYPE_Q4_K] = neon_dequantize_q4_k,
        [QCORE_TYPE_Q5_K] = neon_dequantize_q5_k,
        [QCORE_TYPE_Q6_K] = neon_dequantize_q6_k,
        [QCORE_TYPE_IQ4_NL] = neon_dequantize_iq4_nl,
    },
    .err_sums = neon_err_sums,
    .f16_to_f32 = neon_f16_row_to_f32,
    .ct_quantize_rows = qcore_ct_quantize_rows,
    .count_nonfinite = qref_count_nonfinite,
    .bf16_to_f32 = neon_bf16_row_to_f32,
};

const struct qcore_kernels *qcore_kernels_neon(void)
{
    return &neon_table;
}

#endif

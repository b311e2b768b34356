/* core/kernels/avx512.c — the AVX-512 (F/BW/VL, +F16C) kernel table.
 *
 * Built with -mavx512f -mavx512bw -mavx512vl -mavx2 -mfma -mf16c
 * -ffp-contract=off (core/CMakeLists.txt). The searching quantizers
 * (K-quants, IQ4_NL) get 16 lanes, one sub-block each (kq_lanes.h), which is
 * where the width pays; the 32-element types, conversions and dequantizers
 * are the 256-bit code of simd_x86.h (EVEX-encoded here), since one 32-float
 * block is two 512-bit vectors and those kernels run at memory speed.
 * Quantized bytes are identical to the reference table (tests/unit/test_simd.c).
 */
#include "core/kernels/simd.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BW__) && \
    defined(__AVX512VL__) && defined(__F16C__)

#include "core/kernels/simd_x86.h"

/* ---- The lane primitives of kq_lanes.h, 16 x float32 ----------------------- */

/* Two independent 16-lane vectors per value: the searches are chains of
 * dependent float additions (the reference's order), so two chains in
 * flight keep the vector units busy where one would wait on latency. */
#define KQ_VW 32
typedef struct { __m512 a, b; } vf;
typedef struct { __m512i a, b; } vi;
typedef __mmask32 vm;

#define VF2(expr_a, expr_b) ((vf){(expr_a), (expr_b)})
#define VI2(expr_a, expr_b) ((vi){(expr_a), (expr_b)})
#define MLO(m) ((__mmask16)((m) & 0xFFFFu))
#define MHI(m) ((__mmask16)((m) >> 16))
#define VM2(ma, mb) ((vm)((uint32_t)(ma) | (uint32_t)(mb) << 16))

static inline vf vf_set(float x) { return VF2(_mm512_set1_ps(x), _mm512_set1_ps(x)); }
static inline vf vf_ld(const float *p) { return VF2(_mm512_loadu_ps(p), _mm512_loadu_ps(p + 16)); }
static inline void vf_st(float *p, vf x)
{
    _mm512_storeu_ps(p, x.a);
    _mm512_storeu_ps(p + 16, x.b);
}
static inline vf vf_add(vf x, vf y) { return VF2(_mm512_add_ps(x.a, y.a), _mm512_add_ps(x.b, y.b)); }
static inline vf vf_sub(vf x, vf y) { return VF2(_mm512_sub_ps(x.a, y.a), _mm512_sub_ps(x.b, y.b)); }
static inline vf vf_mul(vf x, vf y) { return VF2(_mm512_mul_ps(x.a, y.a), _mm512_mul_ps(x.b, y.b)); }
static inline vf vf_div(vf x, vf y) { return VF2(_mm512_div_ps(x.a, y.a), _mm512_div_ps(x.b, y.b)); }
static inline vf vf_sqrt(vf x) { return VF2(_mm512_sqrt_ps(x.a), _mm512_sqrt_ps(x.b)); }
static inline vf vf_abs(vf x) { return VF2(_mm512_abs_ps(x.a), _mm512_abs_ps(x.b)); }
static inline __m512 neg1(__m512 x)
{
    return _mm512_castsi512_ps(
        _mm512_xor_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u)));
}
static inline vf vf_neg(vf x) { return VF2(neg1(x.a), neg1(x.b)); }
#define VM_CMP(name, pred)                                                             \
    static inline vm name(vf x, vf y)                                                  \
    {                                                                                  \
        return VM2(_mm512_cmp_ps_mask(x.a, y.a, pred), _mm512_cmp_ps_mask(x.b, y.b, pred)); \
    }
VM_CMP(vm_lt, _CMP_LT_OQ)
VM_CMP(vm_gt, _CMP_GT_OQ)
VM_CMP(vm_le, _CMP_LE_OQ)
VM_CMP(vm_ge, _CMP_GE_OQ)
VM_CMP(vm_eq, _CMP_EQ_OQ)
VM_CMP(vm_nlt, _CMP_NLT_UQ)
static inline vm vm_true(void) { return (vm)0xFFFFFFFFu; }
static inline vm vm_and(vm x, vm y) { return (vm)(x & y); }
static inline vm vm_or(vm x, vm y) { return (vm)(x | y); }
static inline vm vm_not(vm x) { return (vm)~x; }
static inline int vm_any(vm x) { return x != 0; }
static inline vf vf_sel(vm m, vf x, vf y)
{
    return VF2(_mm512_mask_blend_ps(MLO(m), y.a, x.a), _mm512_mask_blend_ps(MHI(m), y.b, x.b));
}
static inline vi vi_sel(vm m, vi x, vi y)
{
    return VI2(_mm512_mask_blend_epi32(MLO(m), y.a, x.a), _mm512_mask_blend_epi32(MHI(m), y.b, x.b));
}
static inline vi vi_set(int x) { return VI2(_mm512_set1_epi32(x), _mm512_set1_epi32(x)); }
static inline vi vi_add(vi x, vi y) { return VI2(_mm512_add_epi32(x.a, y.a), _mm512_add_epi32(x.b, y.b)); }
static inline void vi_st(int32_t *p, vi x)
{
    _mm512_storeu_si512(p, x.a);
    _mm512_storeu_si512(p + 16, x.b);
}
static inline vi vi_ld(const int32_t *p)
{
    return VI2(_mm512_loadu_si512(p), _mm512_loadu_si512(p + 16));
}
static inline vf vi_tof(vi x) { return VF2(_mm512_cvtepi32_ps(x.a), _mm512_cvtepi32_ps(x.b)); }
static inline vm vi_eq(vi x, vi y)
{
    return VM2(_mm512_cmpeq_epi32_mask(x.a, y.a), _mm512_cmpeq_epi32_mask(x.b, y.b));
}
static inline __m512i clamp1(__m512i v, int lo, int hi)
{
    return _mm512_min_epi32(_mm512_max_epi32(v, _mm512_set1_epi32(lo)), _mm512_set1_epi32(hi));
}
static inline vi vi_clamp(vi v, int lo, int hi) { return VI2(clamp1(v.a, lo, hi), clamp1(v.b, lo, hi)); }
/* qref_nearest_int: the integer lands in the low mantissa bits of v + 1.5·2^23. */
static inline __m512i rne1(__m512 v)
{
    const __m512i t = _mm512_castps_si512(_mm512_add_ps(v, _mm512_set1_ps(12582912.0f)));
    return _mm512_sub_epi32(_mm512_and_si512(t, _mm512_set1_epi32(0x007fffff)),
                            _mm512_set1_epi32(0x00400000));
}
static inline vi vf_rne(vf v) { return VI2(rne1(v.a), rne1(v.b)); }

#define KQ_HAVE_GATHER
static inline vf vf_gather(const float *p, int stride)
{
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i idx = _mm512_mullo_epi32(lane, _mm512_set1_epi32(stride));
    return VF2(_mm512_i32gather_ps(idx, p, 4), _mm512_i32gather_ps(idx, p + 16 * stride, 4));
}

#include "core/kernels/kq_lanes.h"

#define KQ_ROW(name, kind)                                                             \
    static void name(const float *restrict src, void *restrict dst, int64_t n)       \
    {                                                                                  \
        kq_quantize(kind, src, dst, n);                                                \
    }
KQ_ROW(avx512_quantize_q2_k, KQ_Q2_K)
KQ_ROW(avx512_quantize_q3_k, KQ_Q3_K)
KQ_ROW(avx512_quantize_q4_k, KQ_Q4_K)
KQ_ROW(avx512_quantize_q5_k, KQ_Q5_K)
KQ_ROW(avx512_quantize_q6_k, KQ_Q6_K)

static void avx512_quantize_iq4_nl(const float *restrict src, void *restrict dst, int64_t n)
{
    kq_quantize_iq4_nl(src, dst, n);
}

/* The error sums with 512-bit doubles: 16 floats per step, two partial
 * sums per quantity (another order than the reference's, within the
 * callers' tolerance; counts and the maximum are exact). Non-finite pairs
 * are masked to 0 - 0. */
static void avx512_err_sums(const float *restrict x, const float *restrict y, int64_t n,
                            struct qcore_err_sums *acc)
{
    __m512d sx2[2], sy2[2], sxy[2], se2[2], mx[2];
    for (int k = 0; k < 2; k++)
        sx2[k] = sy2[k] = sxy[k] = se2[k] = mx[k] = _mm512_setzero_pd();
    const __m512 lim = _mm512_set1_ps(FLT_MAX);
    uint64_t finite = 0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 xv = _mm512_loadu_ps(x + i), yv = _mm512_loadu_ps(y + i);
        const __mmask16 ok = _mm512_cmp_ps_mask(_mm512_abs_ps(xv), lim, _CMP_LE_OQ) &
                             _mm512_cmp_ps_mask(_mm512_abs_ps(yv), lim, _CMP_LE_OQ);
        finite += (uint64_t)__builtin_popcount((unsigned)ok);
        const __m512 xz = _mm512_maskz_mov_ps(ok, xv), yz = _mm512_maskz_mov_ps(ok, yv);
        for (int k = 0; k < 2; k++) {
            const __m256 xs = k ? _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(xz), 1)) : _mm512_castps512_ps256(xz);
            const __m256 ys = k ? _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(yz), 1)) : _mm512_castps512_ps256(yz);
            const __m512d a = _mm512_cvtps_pd(xs), b = _mm512_cvtps_pd(ys);
            const __m512d e = _mm512_sub_pd(a, b);
            sx2[k] = _mm512_add_pd(sx2[k], _mm512_mul_pd(a, a));
            sy2[k] = _mm512_add_pd(sy2[k], _mm512_mul_pd(b, b));
            sxy[k] = _mm512_add_pd(sxy[k], _mm512_mul_pd(a, b));
            se2[k] = _mm512_add_pd(se2[k], _mm512_mul_pd(e, e));
            mx[k] = _mm512_max_pd(mx[k], _mm512_abs_pd(e));
        }
    }
    acc->sum_x2 += _mm512_reduce_add_pd(_mm512_add_pd(sx2[0], sx2[1]));
    acc->sum_y2 += _mm512_reduce_add_pd(_mm512_add_pd(sy2[0], sy2[1]));
    acc->sum_xy += _mm512_reduce_add_pd(_mm512_add_pd(sxy[0], sxy[1]));
    acc->sum_e2 += _mm512_reduce_add_pd(_mm512_add_pd(se2[0], se2[1]));
    const double m = _mm512_reduce_max_pd(_mm512_max_pd(mx[0], mx[1]));
    if (m > acc->max_abs)
        acc->max_abs = m;
    acc->n += finite;
    acc->nonfinite += (uint64_t)i - finite;
    if (i < n)
        x86_err_sums(x + i, y + i, n - i, acc);
}

static const struct qcore_kernels avx512_table = {
    .isa = "avx512",
    .quantize = {
        [QCORE_TYPE_F32] = qref_quantize_f32,
        [QCORE_TYPE_F16] = x86_quantize_f16,
        [QCORE_TYPE_BF16] = x86_quantize_bf16,
        [QCORE_TYPE_Q8_0] = x86_quantize_q8_0,
        [QCORE_TYPE_Q4_0] = x86_quantize_q4_0,
        [QCORE_TYPE_Q4_1] = x86_quantize_q4_1,
        [QCORE_TYPE_Q5_0] = x86_quantize_q5_0,
        [QCORE_TYPE_Q5_1] = x86_quantize_q5_1,
        [QCORE_TYPE_Q2_K] = avx512_quantize_q2_k,
        [QCORE_TYPE_Q3_K] = avx512_quantize_q3_k,
        [QCORE_TYPE_Q4_K] = avx512_quantize_q4_k,
        [QCORE_TYPE_Q5_K] = avx512_quantize_q5_k,
        [QCORE_TYPE_Q6_K] = avx512_quantize_q6_k,
        [QCORE_TYPE_IQ4_NL] = avx512_quantize_iq4_nl,
    },
    .dequantize = {
        [QCORE_TYPE_F32] = qref_dequantize_f32,
        [QCORE_TYPE_F16] = x86_dequantize_f16,
        [QCORE_TYPE_BF16] = x86_dequantize_bf16,
        [QCORE_TYPE_Q8_0] = x86_dequantize_q8_0,
        [QCORE_TYPE_Q4_0] = x86_dequantize_q4_0,
        [QCORE_TYPE_Q4_1] = x86_dequantize_q4_1,
        [QCORE_TYPE_Q5_0] = x86_dequantize_q5_0,
        [QCORE_TYPE_Q5_1] = x86_dequantize_q5_1,
        [QCORE_TYPE_Q2_K] = x86_dequantize_q2_k,
        [QCORE_TYPE_Q3_K] = x86_dequantize_q3_k,
        [QCORE_TYPE_Q4_K] = x86_dequantize_q4_k,
        [QCORE_TYPE_Q5_K] = x86_dequantize_q5_k,
        [QCORE_TYPE_Q6_K] = x86_dequantize_q6_k,
        [QCORE_TYPE_IQ4_NL] = x86_dequantize_iq4_nl,
    },
    .err_sums = avx512_err_sums,
    .f16_to_f32 = x86_f16_row_to_f32,
    .bf16_to_f32 = x86_bf16_row_to_f32,
    .ct_quantize_rows = x86_ct_quantize_rows,
    .count_nonfinite = x86_count_nonfinite,
};

const struct qcore_kernels *qcore_kernels_avx512(void)
{
    return &avx512_table;
}

#endif

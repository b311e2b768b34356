/* core/kernels/avx2.c — the AVX2 (+F16C) kernel table.
 *
 * Built with -mavx2 -mfma -mf16c -ffp-contract=off (core/CMakeLists.txt);
 * FMA is allowed in the instruction set but never produced, since a fused
 * multiply-add changes bytes (FORMATS.md §3.9). The 32-element types,
 * conversions, dequantizers and error sums are simd_x86.h; the searching
 * quantizers (K-quants, IQ4_NL) run one sub-block per lane (kq_lanes.h).
 * Quantized bytes are identical to the reference table (tests/unit/test_simd.c).
 */
#include "core/kernels/simd.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__F16C__)

#include "core/kernels/simd_x86.h"

/* ---- The lane primitives of kq_lanes.h, 8 x float32 ------------------------ */

#define KQ_VW 8
typedef __m256 vf;
typedef __m256i vi;
typedef __m256 vm;

static inline vf vf_set(float a) { return _mm256_set1_ps(a); }
static inline vf vf_ld(const float *p) { return _mm256_loadu_ps(p); }
static inline void vf_st(float *p, vf a) { _mm256_storeu_ps(p, a); }
static inline vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf vf_div(vf a, vf b) { return _mm256_div_ps(a, b); }
static inline vf vf_sqrt(vf a) { return _mm256_sqrt_ps(a); }
static inline vf vf_abs(vf a) { return x86_abs(a); }
static inline vf vf_neg(vf a) { return _mm256_xor_ps(a, _mm256_set1_ps(-0.0f)); }
static inline vm vm_lt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
static inline vm vm_gt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
static inline vm vm_le(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LE_OQ); }
static inline vm vm_ge(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
static inline vm vm_eq(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
static inline vm vm_nlt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_NLT_UQ); }
static inline vm vm_true(void) { return _mm256_castsi256_ps(_mm256_set1_epi32(-1)); }
static inline vm vm_and(vm a, vm b) { return _mm256_and_ps(a, b); }
static inline vm vm_or(vm a, vm b) { return _mm256_or_ps(a, b); }
static inline vm vm_not(vm a) { return _mm256_xor_ps(a, vm_true()); }
static inline int vm_any(vm a) { return _mm256_movemask_ps(a) != 0; }
static inline vf vf_sel(vm m, vf a, vf b) { return _mm256_blendv_ps(b, a, m); }
static inline vi vi_sel(vm m, vi a, vi b)
{
    return _mm256_blendv_epi8(b, a, _mm256_castps_si256(m));
}
static inline vi vi_set(int a) { return _mm256_set1_epi32(a); }
static inline vi vi_add(vi a, vi b) { return _mm256_add_epi32(a, b); }
static inline void vi_st(int32_t *p, vi a) { _mm256_storeu_si256((__m256i *)p, a); }
static inline vi vi_ld(const int32_t *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline vf vi_tof(vi a) { return _mm256_cvtepi32_ps(a); }
static inline vm vi_eq(vi a, vi b) { return _mm256_castsi256_ps(_mm256_cmpeq_epi32(a, b)); }
static inline vi vi_clamp(vi v, int lo, int hi)
{
    return _mm256_min_epi32(_mm256_max_epi32(v, _mm256_set1_epi32(lo)), _mm256_set1_epi32(hi));
}
/* qref_nearest_int: the integer lands in the low mantissa bits of v + 1.5·2^23. */
static inline vi vf_rne(vf v)
{
    const vi t = _mm256_castps_si256(_mm256_add_ps(v, _mm256_set1_ps(12582912.0f)));
    return _mm256_sub_epi32(_mm256_and_si256(t, _mm256_set1_epi32(0x007fffff)),
                            _mm256_set1_epi32(0x00400000));
}

#define KQ_HAVE_GATHER
static inline vf vf_gather(const float *p, int stride)
{
    const __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                           _mm256_set1_epi32(stride));
    return _mm256_i32gather_ps(p, idx, 4);
}

#include "core/kernels/kq_lanes.h"

#define KQ_ROW(name, kind)                                                             \
    static void name(const float *restrict src, void *restrict dst, int64_t n)       \
    {                                                                                  \
        kq_quantize(kind, src, dst, n);                                                \
    }
KQ_ROW(avx2_quantize_q2_k, KQ_Q2_K)
KQ_ROW(avx2_quantize_q3_k, KQ_Q3_K)
KQ_ROW(avx2_quantize_q4_k, KQ_Q4_K)
KQ_ROW(avx2_quantize_q5_k, KQ_Q5_K)
KQ_ROW(avx2_quantize_q6_k, KQ_Q6_K)

static void avx2_quantize_iq4_nl(const float *restrict src, void *restrict dst, int64_t n)
{
    kq_quantize_iq4_nl(src, dst, n);
}

static const struct qcore_kernels avx2_table = {
    .isa = "avx2",
    .quantize = {
        [QCORE_TYPE_F32] = qref_quantize_f32,
        [QCORE_TYPE_F16] = x86_quantize_f16,
        [QCORE_TYPE_BF16] = x86_quantize_bf16,
        [QCORE_TYPE_Q8_0] = x86_quantize_q8_0,
        [QCORE_TYPE_Q4_0] = x86_quantize_q4_0,
        [QCORE_TYPE_Q4_1] = x86_quantize_q4_1,
        [QCORE_TYPE_Q5_0] = x86_quantize_q5_0,
        [QCORE_TYPE_Q5_1] = x86_quantize_q5_1,
        [QCORE_TYPE_Q2_K] = avx2_quantize_q2_k,
        [QCORE_TYPE_Q3_K] = avx2_quantize_q3_k,
        [QCORE_TYPE_Q4_K] = avx2_quantize_q4_k,
        [QCORE_TYPE_Q5_K] = avx2_quantize_q5_k,
        [QCORE_TYPE_Q6_K] = avx2_quantize_q6_k,
        [QCORE_TYPE_IQ4_NL] = avx2_quantize_iq4_nl,
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
    .err_sums = x86_err_sums,
    .f16_to_f32 = x86_f16_row_to_f32,
    .bf16_to_f32 = x86_bf16_row_to_f32,
    .ct_quantize_rows = x86_ct_quantize_rows,
    .count_nonfinite = x86_count_nonfinite,
};

const struct qcore_kernels *qcore_kernels_avx2(void)
{
    return &avx2_table;
}

#endif

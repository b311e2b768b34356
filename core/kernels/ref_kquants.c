/* core/kernels/ref_kquants.c — scalar reference for the K-quants
 * Q2_K, Q3_K, Q4_K, Q5_K and Q6_K (super-blocks of 256).
 *
 * Bit-exact with llama.cpp's quantize_row_qX_K_ref (no importance matrix), as
 * described in FORMATS.md section 3.7. The shape of every type is the same:
 *   (a) per sub-block, a small search for a float scale (and a min);
 *   (b) sub-block scales quantized against the super-block maximum, the
 *       super-block factors stored as halves;
 *   (c) every element re-quantized with the *effective* scale rebuilt from
 *       the stored half and the stored sub-scale — except that a sub-block
 *       whose effective scale is exactly 0 keeps the codes of (a);
 *   (d) bit packing.
 * The searches sum floats sequentially in element order; any other order (or
 * an FMA) changes the chosen scale on some blocks. Integer rounding is
 * round-half-even through qref_nearest_int.
 */
#include <math.h>
#include <stdbool.h>

#include "core/kernels/ref_internal.h"

enum {
    Q2_K_BYTES = 84,
    Q3_K_BYTES = 110,
    Q4_K_BYTES = 144,
    Q5_K_BYTES = 176,
    Q6_K_BYTES = 210,
};

/* ---- Sub-block searches -------------------------------------------------- */

/* Σw·x·l and Σw·l² (w = x²) for l = clamp(rne(iscale·x), -nmax, nmax-1);
 * when `codes` is not NULL also stores l + nmax. */
static void symmetric_sums(const float *restrict x, int n, int nmax, float iscale,
                           uint8_t *restrict codes, float *restrict sumlx, float *restrict suml2)
{
    float slx = 0.0f, sl2 = 0.0f;
    for (int i = 0; i < n; i++) {
        const int l = qref_clamp(qref_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        if (codes)
            codes[i] = (uint8_t)(l + nmax);
        const float w = x[i] * x[i];
        slx += w * x[i] * (float)l;
        sl2 += w * (float)l * (float)l;
    }
    *sumlx = slx;
    *suml2 = sl2;
}

/* Symmetric scale search (ggml's make_qx_quants, weights x²): inverse scales
 * -(nmax + 0.1k)/mx for k = 0, then k = -9..9, keeping the least-squares
 * scale with the largest (Σwxl)²/Σwl². Codes are l + nmax. Returns the signed
 * scale, 0 (codes 0) for an all-zero group. */
static float search_symmetric(const float *restrict x, int n, int nmax, uint8_t *restrict codes)
{
    float amax = 0.0f, mx = 0.0f;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            mx = x[i];
        }
    }
    if (amax < QREF_GROUP_MAX_EPS) {
        memset(codes, 0, (size_t)n);
        return 0.0f;
    }
    float sumlx, suml2;
    symmetric_sums(x, n, nmax, (float)-nmax / mx, codes, &sumlx, &suml2);
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int k = -9; k <= 9; k++) {
        if (k == 0)
            continue;
        const float iscale = -((float)nmax + 0.1f * (float)k) / mx;
        symmetric_sums(x, n, nmax, iscale, NULL, &sumlx, &suml2);
        /* a²/b > best, compared without the division */
        if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
            symmetric_sums(x, n, nmax, iscale, codes, &sumlx, &suml2);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Q3_K's symmetric search (ggml's make_q3_quants, nmax 4, weights x²): start
 * from is = -4/mx, then up to 5 passes of coordinate descent, each element
 * trying the code the other elements' sums suggest. Codes are l + 4 (0..7);
 * an all-zero group returns 0 with codes 0. */
static float search_q3(const float *restrict x, uint8_t *restrict codes)
{
    enum { N = 16, NMAX = 4 };
    float amax = 0.0f, mx = 0.0f;
    for (int i = 0; i < N; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            mx = x[i];
        }
    }
    if (amax < QREF_GROUP_MAX_EPS) {
        memset(codes, 0, N);
        return 0.0f;
    }
    const float iscale = (float)-NMAX / mx;
    int L[N];
    float sumlx = 0.0f, suml2 = 0.0f;
    for (int i = 0; i < N; i++) {
        L[i] = qref_clamp(qref_nearest_int(iscale * x[i]), -NMAX, NMAX - 1);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * (float)L[i];
        suml2 += w * (float)L[i] * (float)L[i];
    }
    for (int pass = 0; pass < 5; pass++) {
        int changed = 0;
        for (int i = 0; i < N; i++) {
            const float w = x[i] * x[i];
            /* sums without element i */
            float slx = sumlx - w * x[i] * (float)L[i];
            if (!(slx > 0.0f))
                continue;
            float sl2 = suml2 - w * (float)L[i] * (float)L[i];
            const int nl = qref_clamp(qref_nearest_int(x[i] * sl2 / slx), -NMAX, NMAX - 1);
            if (nl == L[i])
                continue;
            slx += w * x[i] * (float)nl;
            sl2 += w * (float)nl * (float)nl;
            /* accept when slx²/sl2 > sumlx²/suml2 */
            if (sl2 > 0.0f && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = nl;
                sumlx = slx;
                suml2 = sl2;
                changed++;
            }
        }
        if (!changed)
            break;
    }
    for (int i = 0; i < N; i++)
        codes[i] = (uint8_t)(L[i] + NMAX);
    return sumlx / suml2;
}

/* Parameters of the affine search, per type. */
struct affine_params {
    int n;       /* group size */
    int nmax;    /* largest code */
    float rmin;  /* first inverse-scale offset */
    float rdelta;
    int nstep;
    bool mad;    /* absolute error (Q2_K) instead of squared */
};

/* Weighted error Σ w·err(scale·L + min − x). */
static float affine_error(const struct affine_params *p, const float *restrict x,
                          const float *restrict w, const uint8_t *restrict L, float scale, float min)
{
    float err = 0.0f;
    for (int i = 0; i < p->n; i++) {
        float diff = scale * (float)L[i] + min - x[i];
        diff = p->mad ? fabsf(diff) : diff * diff;
        err += w[i] * diff;
    }
    return err;
}

/* Affine scale+min search (ggml's make_qkx2_quants): min = min(x) clamped to
 * <= 0; start from the plain (max-min)/nmax grid, then for each of nstep+1
 * inverse scales re-pick codes, solve weighted least squares for (scale, min)
 * and keep strict improvements. Returns the scale; *neg_min = -min >= 0. */
static float search_affine(const struct affine_params *p, const float *restrict x,
                           const float *restrict w, uint8_t *restrict L, float *restrict neg_min)
{
    uint8_t Laux[32];
    float min = x[0], max = x[0];
    float sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < p->n; i++) {
        if (x[i] < min)
            min = x[i];
        if (x[i] > max)
            max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0.0f)
        min = 0.0f;
    if (max == min) {
        memset(L, 0, (size_t)p->n);
        *neg_min = -min;
        return 0.0f;
    }
    float iscale = (float)p->nmax / (max - min);
    float scale = 1.0f / iscale;
    for (int i = 0; i < p->n; i++)
        L[i] = (uint8_t)qref_clamp(qref_nearest_int(iscale * (x[i] - min)), 0, p->nmax);
    float best_err = affine_error(p, x, w, L, scale, min);

    for (int s = 0; s <= p->nstep; s++) {
        iscale = (p->rmin + p->rdelta * (float)s + (float)p->nmax) / (max - min);
        float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
        for (int i = 0; i < p->n; i++) {
            const int l = qref_clamp(qref_nearest_int(iscale * (x[i] - min)), 0, p->nmax);
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * (float)l;
            sum_l2 += w[i] * (float)l * (float)l;
            sum_xl += w[i] * (float)l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0.0f))
            continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0.0f) {
            this_min = 0.0f;
            this_scale = sum_xl / sum_l2;
        }
        const float err = affine_error(p, x, w, Laux, this_scale, this_min);
        if (err < best_err) {
            memcpy(L, Laux, (size_t)p->n);
            best_err = err;
            scale = this_scale;
            min = this_min;
        }
    }
    *neg_min = -min;
    return scale;
}

/* ---- Shared packing ------------------------------------------------------ */

/* 2-bit fields of Q2_K and the low bits of Q3_K: per 128-element half h,
 * byte 32h+l holds elements 128h+l, +32, +64, +96 in bit pairs 0-1 ... 6-7. */
/* Eight bytes at once (SWAR): every mask is applied before a left shift
 * and after a right shift, so no bit crosses into a neighbouring byte and
 * the result is the byte-wise one whatever the host's byte order. */
static inline uint64_t swar_ld(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void swar_st(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, sizeof v);
}

#define SWAR_03 0x0303030303030303ull
#define SWAR_0F 0x0F0F0F0F0F0F0F0Full

static void pack_2bit(const uint8_t *restrict L, uint8_t *restrict qs)
{
    for (int h = 0; h < 2; h++) {
        const uint8_t *e = L + 128 * h;
        for (int l = 0; l < 32; l += 8)
            swar_st(qs + 32 * h + l, (swar_ld(e + l) & SWAR_03) | (swar_ld(e + l + 32) & SWAR_03) << 2 |
                                         (swar_ld(e + l + 64) & SWAR_03) << 4 |
                                         (swar_ld(e + l + 96) & SWAR_03) << 6);
    }
}

static int get_2bit(const uint8_t *restrict qs, int e)
{
    return (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
}

/* Q4_K/Q5_K 6-bit scale sc_j and min m_j in 12 bytes (FORMATS.md section 2).
 * Values are taken modulo 256 as ggml's uint8_t stores do, so even an
 * out-of-range value packs exactly as there. */
static void put_scale_min_k4(uint8_t *restrict s, int j, int sc, int m)
{
    const unsigned a = (unsigned)sc & 0xFFu, b = (unsigned)m & 0xFFu;
    if (j < 4) {
        s[j] = (uint8_t)a;
        s[j + 4] = (uint8_t)b;
    } else {
        s[j + 4] = (uint8_t)((a & 0xF) | (b & 0xF) << 4);
        s[j - 4] |= (uint8_t)((a >> 4) << 6);
        s[j] |= (uint8_t)((b >> 4) << 6);
    }
}

static void get_scale_min_k4(const uint8_t *restrict s, int j, int *restrict sc, int *restrict m)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0xF) | (s[j - 4] >> 6) << 4;
        *m = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
    }
}

/* Q3_K 6-bit scales s_j (stored +32): low nibble in byte j (j < 8) or the
 * high nibble of byte j-8, top 2 bits in byte 8 + j%4 at bit 2·(j/4). */
static void put_scale_q3(uint8_t *restrict s, int j, unsigned v)
{
    if (j < 8)
        s[j] |= (uint8_t)(v & 0xF);
    else
        s[j - 8] |= (uint8_t)((v & 0xF) << 4);
    s[8 + j % 4] |= (uint8_t)((v >> 4) << (2 * (j / 4)));
}

static int get_scale_q3(const uint8_t *restrict s, int j)
{
    const int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
    return lo | ((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4;
}

/* Step (c): every sub-block j (of `sub` elements) whose effective scale d[j]
 * is not 0 gets codes clamp(rne(x / d[j]), lo, hi) - lo (symmetric types,
 * dm NULL) or clamp(rne((x + dm[j]) / d[j]), lo, hi) - lo (affine types,
 * lo = 0); a zero d keeps the search codes. One division per element, as in
 * the reference; a SIMD table does the same operations lane by lane. */
void qref_requant(const float *restrict x, int nsub, int sub, const float *restrict d,
                  const float *restrict dm, int lo, int hi, uint8_t *restrict L)
{
    for (int j = 0; j < nsub; j++) {
        if (d[j] == 0.0f)
            continue;
        const float *xs = x + sub * j;
        uint8_t *Ls = L + sub * j;
        for (int i = 0; i < sub; i++) {
            const float v = dm ? (xs[i] + dm[j]) / d[j] : xs[i] / d[j];
            Ls[i] = (uint8_t)(qref_clamp(qref_nearest_int(v), lo, hi) - lo);
        }
    }
}

/* ---- Q2_K ---------------------------------------------------------------- */

/* Step (b) of Q2_K: the 16 scale/min nibbles and the two halves from the
 * sub-block scales and mins; d/dm get the effective scales. */
int qref_scales_q2_k(const float *restrict scales, const float *restrict mins,
                     uint8_t *restrict y, float *restrict d, float *restrict dm)
{
    float max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < 16; j++) {
        if (scales[j] > max_scale)
            max_scale = scales[j];
        if (mins[j] > max_min)
            max_min = mins[j];
    }

    /* scales[16] @0 (low nibble scale, high nibble min), qs @16, d @80, dmin @82 */
    memset(y, 0, Q2_K_BYTES);
    if (max_scale > 0.0f) {
        const float iscale = 15.0f / max_scale;
        for (int j = 0; j < 16; j++)
            y[j] = (uint8_t)((unsigned)qref_nearest_int(iscale * scales[j]) & 0xFFu);
        qref_put_le16(y + 80, qref_f32_to_f16(max_scale / 15.0f));
    }
    if (max_min > 0.0f) {
        const float iscale = 15.0f / max_min;
        for (int j = 0; j < 16; j++)
            y[j] |= (uint8_t)(((unsigned)qref_nearest_int(iscale * mins[j]) << 4) & 0xFFu);
        qref_put_le16(y + 82, qref_f32_to_f16(max_min / 15.0f));
    }

    const float dh = qref_f16_to_f32(qref_get_le16(y + 80));
    const float mh = qref_f16_to_f32(qref_get_le16(y + 82));
    for (int j = 0; j < 16; j++) {
        d[j] = dh * (float)(y[j] & 0xF);
        dm[j] = mh * (float)(y[j] >> 4);
    }
    return 1;
}

void qref_pack_q2_k(uint8_t *restrict L, uint8_t *restrict y)
{
    pack_2bit(L, y + 16);
}

/* Steps (b)-(d) of Q2_K from the 16 sub-block scales, mins and search codes. */
void qref_finish_q2_k(const float *restrict x, const float *restrict scales,
                      const float *restrict mins, uint8_t *restrict L, uint8_t *restrict y)
{
    float d[16], dm[16];
    qref_scales_q2_k(scales, mins, y, d, dm);
    qref_requant(x, 16, 16, d, dm, 0, 3, L);
    qref_pack_q2_k(L, y);
}

static void quantize_block_q2_k(const float *restrict x, uint8_t *restrict y)
{
    static const struct affine_params params = {16, 3, -0.5f, 0.1f, 15, true};
    uint8_t L[QREF_QK_K];
    float scales[16], mins[16], w[16];
    for (int j = 0; j < 16; j++) {
        for (int l = 0; l < 16; l++)
            w[l] = fabsf(x[16 * j + l]);
        scales[j] = search_affine(&params, x + 16 * j, w, L + 16 * j, &mins[j]);
    }
    qref_finish_q2_k(x, scales, mins, L, y);
}

void qref_quantize_q2_k(const float *restrict src, void *restrict dst, int64_t n)
{
    uint8_t *y = dst;
    for (int64_t b = 0; b < n / QREF_QK_K; b++)
        quantize_block_q2_k(src + b * QREF_QK_K, y + b * Q2_K_BYTES);
}

void qref_dequantize_q2_k(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    for (int64_t b = 0; b < n / QREF_QK_K; b++, x += Q2_K_BYTES, dst += QREF_QK_K) {
        const float d = qref_f16_to_f32(qref_get_le16(x + 80));
        const float dmin = qref_f16_to_f32(qref_get_le16(x + 82));
        for (int e = 0; e < QREF_QK_K; e++) {
            const uint8_t sc = x[e / 16];
            const float dl = d * (float)(sc & 0xF);
            const float ml = dmin * (float)(sc >> 4);
            dst[e] = dl * (float)get_2bit(x + 16, e) - ml;
        }
    }
}

/* ---- Q3_K ---------------------------------------------------------------- */

/* Step (b) of Q3_K: the 16 6-bit scales and d; d_eff gets the effective
 * scales. */
int qref_scales_q3_k(const float *restrict scales, uint8_t *restrict y, float *restrict d_eff)
{
    float max_scale = 0.0f, amax = 0.0f;
    for (int j = 0; j < 16; j++) {
        if (fabsf(scales[j]) > amax) {
            amax = fabsf(scales[j]);
            max_scale = scales[j];
        }
    }

    /* hmask[32] @0, qs[64] @32, scales[12] @96, d @108 */
    memset(y, 0, Q3_K_BYTES);
    uint8_t *sc = y + 96;
    int ls[16] = {0}; /* the stored 6-bit scales (what get_scale_q3 reads back) */
    if (max_scale != 0.0f) {
        const float iscale = -32.0f / max_scale;
        for (int j = 0; j < 16; j++) {
            ls[j] = qref_clamp(qref_nearest_int(iscale * scales[j]), -32, 31) + 32;
            put_scale_q3(sc, j, (unsigned)ls[j]);
        }
        qref_put_le16(y + 108, qref_f32_to_f16(1.0f / iscale));
    }

    const float dh = qref_f16_to_f32(qref_get_le16(y + 108));
    for (int j = 0; j < 16; j++)
        d_eff[j] = dh * (float)(ls[j] - 32);
    return 1;
}

/* Step (d) of Q3_K (L is modified). */
void qref_pack_q3_k(uint8_t *restrict L, uint8_t *restrict y)
{
    /* Bit 2 of each 3-bit code goes to hmask: element e -> byte e%32, bit
     * e/32 (branch-free: codes are 0..7, so "> 3, then - 4" is bit 2, then
     * & 3). */
    for (int k = 0; k < 8; k++) {
        for (int l = 0; l < 32; l++) {
            const int e = 32 * k + l;
            y[l] |= (uint8_t)((L[e] >> 2) << k);
            L[e] &= 3;
        }
    }
    pack_2bit(L, y + 32);
}

/* Steps (b)-(d) of Q3_K from the 16 sub-block scales and search codes. */
void qref_finish_q3_k(const float *restrict x, const float *restrict scales,
                      uint8_t *restrict L, uint8_t *restrict y)
{
    float d[16];
    qref_scales_q3_k(scales, y, d);
    qref_requant(x, 16, 16, d, NULL, -4, 3, L);
    qref_pack_q3_k(L, y);
}

static void quantize_block_q3_k(const float *restrict x, uint8_t *restrict y)
{
    uint8_t L[QREF_QK_K];
    float scales[16];
    for (int j = 0; j < 16; j++)
        scales[j] = search_q3(x + 16 * j, L + 16 * j);
    qref_finish_q3_k(x, scales, L, y);
}

void qref_quantize_q3_k(const float *restrict src, void *restrict dst, int64_t n)
{
    uint8_t *y = dst;
    for (int64_t b = 0; b < n / QREF_QK_K; b++)
        quantize_block_q3_k(src + b * QREF_QK_K, y + b * Q3_K_BYTES);
}

void qref_dequantize_q3_k(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    for (int64_t b = 0; b < n / QREF_QK_K; b++, x += Q3_K_BYTES, dst += QREF_QK_K) {
        const float d = qref_f16_to_f32(qref_get_le16(x + 108));
        for (int e = 0; e < QREF_QK_K; e++) {
            const float dl = d * (float)(get_scale_q3(x + 96, e / 16) - 32);
            const int hi = (x[e % 32] >> (e / 32)) & 1;
            const int q = get_2bit(x + 32, e) - (hi ? 0 : 4);
            dst[e] = dl * (float)q;
        }
    }
}

/* ---- Q4_K / Q5_K ---------------------------------------------------------- */

/* Step (b) shared by Q4_K and Q5_K: writes d, dmin and the 12 scale bytes
 * at y[0..15] from the 8 sub-block scales and mins; d_eff/dm_eff get the
 * effective scales and mins. */
int qref_scales_k4(const float *restrict scales, const float *restrict mins,
                   uint8_t *restrict y, float *restrict d_eff, float *restrict dm_eff)
{
    float max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < 8; j++) {
        if (scales[j] > max_scale)
            max_scale = scales[j];
        if (mins[j] > max_min)
            max_min = mins[j];
    }

    const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
    uint8_t *sc = y + 4;
    memset(sc, 0, 12);
    for (int j = 0; j < 8; j++) {
        int ls = qref_nearest_int(inv_scale * scales[j]);
        int lm = qref_nearest_int(inv_min * mins[j]);
        put_scale_min_k4(sc, j, ls < 63 ? ls : 63, lm < 63 ? lm : 63);
    }
    qref_put_le16(y, qref_f32_to_f16(max_scale / 63.0f));
    qref_put_le16(y + 2, qref_f32_to_f16(max_min / 63.0f));

    const float dh = qref_f16_to_f32(qref_get_le16(y));
    const float mh = qref_f16_to_f32(qref_get_le16(y + 2));
    for (int j = 0; j < 8; j++) {
        int s, m;
        get_scale_min_k4(sc, j, &s, &m);
        d_eff[j] = dh * (float)s;
        dm_eff[j] = mh * (float)m;
    }
    return 1;
}

/* Step (a) of Q4_K/Q5_K. Sub-block weights are sqrt(mean x²) + |x_i|. */
static void search_k4(const float *restrict x, const struct affine_params *p,
                      float *restrict scales, float *restrict mins, uint8_t *restrict L)
{
    float w[32];
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        float sum_x2 = 0.0f;
        for (int l = 0; l < 32; l++)
            sum_x2 += xs[l] * xs[l];
        const float av_x = sqrtf(sum_x2 / 32.0f);
        for (int l = 0; l < 32; l++)
            w[l] = av_x + fabsf(xs[l]);
        scales[j] = search_affine(p, xs, w, L + 32 * j, &mins[j]);
    }
}

/* Step (d) of Q4_K. */
void qref_pack_q4_k(uint8_t *restrict L, uint8_t *restrict y)
{
    /* qs @16: per 64-element chunk c, byte l = element 64c+l | element 64c+32+l << 4 */
    uint8_t *qs = y + 16;
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++)
            qs[32 * c + l] = (uint8_t)(L[64 * c + l] | L[64 * c + 32 + l] << 4);
}

/* Steps (b)-(d) of Q4_K from the 8 sub-block scales, mins and search codes. */
void qref_finish_q4_k(const float *restrict x, const float *restrict scales,
                      const float *restrict mins, uint8_t *restrict L, uint8_t *restrict y)
{
    float d[8], dm[8];
    qref_scales_k4(scales, mins, y, d, dm);
    qref_requant(x, 8, 32, d, dm, 0, 15, L);
    qref_pack_q4_k(L, y);
}

static void quantize_block_q4_k(const float *restrict x, uint8_t *restrict y)
{
    static const struct affine_params params = {32, 15, -1.0f, 0.1f, 20, false};
    uint8_t L[QREF_QK_K];
    float scales[8], mins[8];
    search_k4(x, &params, scales, mins, L);
    qref_finish_q4_k(x, scales, mins, L, y);
}

void qref_quantize_q4_k(const float *restrict src, void *restrict dst, int64_t n)
{
    uint8_t *y = dst;
    for (int64_t b = 0; b < n / QREF_QK_K; b++)
        quantize_block_q4_k(src + b * QREF_QK_K, y + b * Q4_K_BYTES);
}

void qref_dequantize_q4_k(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    for (int64_t b = 0; b < n / QREF_QK_K; b++, x += Q4_K_BYTES, dst += QREF_QK_K) {
        const float d = qref_f16_to_f32(qref_get_le16(x));
        const float dmin = qref_f16_to_f32(qref_get_le16(x + 2));
        for (int j = 0; j < 8; j++) {
            int s, m;
            get_scale_min_k4(x + 4, j, &s, &m);
            const float dl = d * (float)s, ml = dmin * (float)m;
            const uint8_t *q = x + 16 + 32 * (j / 2);
            const int shift = 4 * (j % 2);
            for (int l = 0; l < 32; l++)
                dst[32 * j + l] = dl * (float)((q[l] >> shift) & 0xF) - ml;
        }
    }
}

/* Step (d) of Q5_K. */
void qref_pack_q5_k(uint8_t *restrict L, uint8_t *restrict y)
{
    /* qh[32] @16: element 64c+l -> bit 2c of qh[l], 64c+32+l -> bit 2c+1;
     * ql[128] @48 laid out like Q4_K's qs. */
    uint8_t *qh = y + 16, *ql = y + 48;
    memset(qh, 0, 32);
    for (int c = 0; c < 4; c++) {
        for (int l = 0; l < 32; l++) {
            const uint8_t lo = L[64 * c + l], hi = L[64 * c + 32 + l];
            qh[l] |= (uint8_t)((lo >> 4) << (2 * c) | (hi >> 4) << (2 * c + 1));
            ql[32 * c + l] = (uint8_t)((lo & 0xF) | (hi & 0xF) << 4);
        }
    }
}

/* Steps (b)-(d) of Q5_K from the 8 sub-block scales, mins and search codes. */
void qref_finish_q5_k(const float *restrict x, const float *restrict scales,
                      const float *restrict mins, uint8_t *restrict L, uint8_t *restrict y)
{
    float d[8], dm[8];
    qref_scales_k4(scales, mins, y, d, dm);
    qref_requant(x, 8, 32, d, dm, 0, 31, L);
    qref_pack_q5_k(L, y);
}

static void quantize_block_q5_k(const float *restrict x, uint8_t *restrict y)
{
    static const struct affine_params params = {32, 31, -0.5f, 0.1f, 15, false};
    uint8_t L[QREF_QK_K];
    float scales[8], mins[8];
    search_k4(x, &params, scales, mins, L);
    qref_finish_q5_k(x, scales, mins, L, y);
}

void qref_quantize_q5_k(const float *restrict src, void *restrict dst, int64_t n)
{
    uint8_t *y = dst;
    for (int64_t b = 0; b < n / QREF_QK_K; b++)
        quantize_block_q5_k(src + b * QREF_QK_K, y + b * Q5_K_BYTES);
}

void qref_dequantize_q5_k(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    for (int64_t b = 0; b < n / QREF_QK_K; b++, x += Q5_K_BYTES, dst += QREF_QK_K) {
        const float d = qref_f16_to_f32(qref_get_le16(x));
        const float dmin = qref_f16_to_f32(qref_get_le16(x + 2));
        const uint8_t *qh = x + 16;
        for (int j = 0; j < 8; j++) {
            int s, m;
            get_scale_min_k4(x + 4, j, &s, &m);
            const float dl = d * (float)s, ml = dmin * (float)m;
            const uint8_t *ql = x + 48 + 32 * (j / 2);
            const int shift = 4 * (j % 2);
            for (int l = 0; l < 32; l++) {
                const int q = ((ql[l] >> shift) & 0xF) | ((qh[l] >> j) & 1) << 4;
                dst[32 * j + l] = dl * (float)q - ml;
            }
        }
    }
}

/* ---- Q6_K ---------------------------------------------------------------- */

/* Step (b) of Q6_K: the 16 int8 scales and d; d_eff gets the effective
 * scales. Returns 0 when the whole block is zero (y is then complete). */
int qref_scales_q6_k(const float *restrict scales, uint8_t *restrict y, float *restrict d_eff)
{
    float max_scale = 0.0f, max_abs = 0.0f;
    for (int j = 0; j < 16; j++) {
        if (fabsf(scales[j]) > max_abs) {
            max_abs = fabsf(scales[j]);
            max_scale = scales[j];
        }
    }

    /* ql[128] @0, qh[64] @128, scales[16] int8 @192, d @208 */
    memset(y, 0, Q6_K_BYTES);
    if (max_abs < QREF_GROUP_MAX_EPS)
        return 0; /* the whole block is zero, d included */

    const float iscale = -128.0f / max_scale;
    qref_put_le16(y + 208, qref_f32_to_f16(1.0f / iscale));
    for (int j = 0; j < 16; j++) {
        /* iscale·scale_j lies in [-128, 128]; only +128 needs the clamp. */
        const int l = qref_clamp(qref_nearest_int(iscale * scales[j]), -128, 127);
        y[192 + j] = (uint8_t)((unsigned)l & 0xFFu);
    }

    const float dh = qref_f16_to_f32(qref_get_le16(y + 208));
    for (int j = 0; j < 16; j++)
        d_eff[j] = dh * (float)qref_as_i8(y[192 + j]);
    return 1;
}

/* Step (d) of Q6_K. */
void qref_pack_q6_k(uint8_t *restrict L, uint8_t *restrict y)
{
    /* Per 128-element half h, element 128h + 32k + l (k = 0..3): low nibble in
     * ql[64h + 32(k&1) + l] (low half for k < 2, high half for k >= 2), high
     * 2 bits in qh[32h + l] at bit 2k. */
    for (int h = 0; h < 2; h++) {
        uint8_t *ql = y + 64 * h, *qh = y + 128 + 32 * h;
        const uint8_t *e = L + 128 * h;
        for (int l = 0; l < 32; l += 8) { /* codes are 0..63: e >> 4 is 0..3 */
            const uint64_t a = swar_ld(e + l), b = swar_ld(e + l + 32), c = swar_ld(e + l + 64),
                           d = swar_ld(e + l + 96);
            swar_st(ql + l, (a & SWAR_0F) | (c & SWAR_0F) << 4);
            swar_st(ql + l + 32, (b & SWAR_0F) | (d & SWAR_0F) << 4);
            swar_st(qh + l, (a >> 4 & SWAR_03) | (b >> 4 & SWAR_03) << 2 | (c >> 4 & SWAR_03) << 4 |
                                (d >> 4 & SWAR_03) << 6);
        }
    }
}

/* Steps (b)-(d) of Q6_K from the 16 sub-block scales and search codes. */
void qref_finish_q6_k(const float *restrict x, const float *restrict scales,
                      uint8_t *restrict L, uint8_t *restrict y)
{
    float d[16];
    if (!qref_scales_q6_k(scales, y, d))
        return;
    qref_requant(x, 16, 16, d, NULL, -32, 31, L);
    qref_pack_q6_k(L, y);
}

static void quantize_block_q6_k(const float *restrict x, uint8_t *restrict y)
{
    uint8_t L[QREF_QK_K];
    float scales[16];
    for (int j = 0; j < 16; j++)
        scales[j] = search_symmetric(x + 16 * j, 16, 32, L + 16 * j);
    qref_finish_q6_k(x, scales, L, y);
}

void qref_quantize_q6_k(const float *restrict src, void *restrict dst, int64_t n)
{
    uint8_t *y = dst;
    for (int64_t b = 0; b < n / QREF_QK_K; b++)
        quantize_block_q6_k(src + b * QREF_QK_K, y + b * Q6_K_BYTES);
}

void qref_dequantize_q6_k(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    for (int64_t b = 0; b < n / QREF_QK_K; b++, x += Q6_K_BYTES, dst += QREF_QK_K) {
        const float d = qref_f16_to_f32(qref_get_le16(x + 208));
        for (int e = 0; e < QREF_QK_K; e++) {
            const int h = e / 128, k = (e % 128) / 32, l = e % 32;
            const uint8_t lowb = x[64 * h + 32 * (k & 1) + l];
            const int lo = (k < 2 ? lowb : lowb >> 4) & 0xF;
            const int hi = (x[128 + 32 * h + l] >> (2 * k)) & 3;
            const float dl = d * (float)qref_as_i8(x[192 + e / 16]);
            dst[e] = dl * (float)((lo | hi << 4) - 32);
        }
    }
}

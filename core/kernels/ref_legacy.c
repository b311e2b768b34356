/* core/kernels/ref_legacy.c — scalar reference for the 32-element block types:
 * Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and IQ4_NL.
 *
 * Bit-exact with llama.cpp's ggml_quantize_chunk (no importance matrix); the
 * algorithms are those of FORMATS.md section 3. Each type has its own rounding
 * rule and they are not interchangeable:
 *   Q8_0          roundf (half away from zero)
 *   Q4_0 ... Q5_1 truncation of a non-negative value + 0.5 (half up)
 *   IQ4_NL        nearest table entry, exact ties to the upper entry
 *
 * Non-finite input never reaches an undefined float->int conversion: codes
 * are clamped in float first, so NaN/Inf give deterministic bytes (not
 * meaningful ones; callers reject such tensors).
 */
#include <math.h>

#include "core/kernels/ref_internal.h"

enum {
    Q8_0_BYTES = 34,
    Q4_0_BYTES = 18,
    Q4_1_BYTES = 20,
    Q5_0_BYTES = 22,
    Q5_1_BYTES = 24,
    IQ4_NL_BYTES = 18,
};

/* trunc(v) limited to [0, hi], NaN -> 0. For the values the legacy
 * quantizers produce from finite input (v >= 0.5) this equals ggml's
 * MIN(hi, (int8_t)v) / (int)v. */
static int trunc_code(float v, int hi)
{
    if (!(v > 0.0f))
        return 0;
    if (v >= (float)hi)
        return hi;
    return (int)v;
}

/* The element with the largest |x|, sign kept; the first one wins ties and
 * NaN never wins (comparison is false). */
static float signed_extreme(const float *restrict x, int n)
{
    float amax = 0.0f, mx = 0.0f;
    for (int j = 0; j < n; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            mx = x[j];
        }
    }
    return mx;
}

/* Nibble packing shared by Q4_0, Q4_1, Q5_x low bits and IQ4_NL: byte j holds
 * element j (low nibble) and element j+16 (high nibble). */
static void pack_nibbles(const uint8_t *restrict codes, uint8_t *restrict qs)
{
    for (int j = 0; j < QREF_QK / 2; j++)
        qs[j] = (uint8_t)((codes[j] & 0xF) | (codes[j + 16] & 0xF) << 4);
}

/* Bit 4 of each 5-bit code, element i at bit i. */
static uint32_t high_bits(const uint8_t *restrict codes)
{
    uint32_t qh = 0;
    for (int j = 0; j < QREF_QK; j++)
        qh |= (uint32_t)((codes[j] >> 4) & 1u) << j;
    return qh;
}

static void unpack_nibbles(const uint8_t *restrict qs, uint8_t *restrict codes)
{
    for (int j = 0; j < QREF_QK / 2; j++) {
        codes[j] = qs[j] & 0xF;
        codes[j + 16] = qs[j] >> 4;
    }
}

/* ---- Q8_0 ---------------------------------------------------------------- */

void qref_quantize_q8_0(const float *restrict src, void *restrict dst, int64_t n)
{
    uint8_t *y = dst;
    for (int64_t b = 0; b < n / QREF_QK; b++, src += QREF_QK, y += Q8_0_BYTES) {
        /* MAX(amax, |x|) as ggml writes it: a NaN element propagates. */
        float amax = 0.0f;
        for (int j = 0; j < QREF_QK; j++) {
            float a = fabsf(src[j]);
            amax = amax > a ? amax : a;
        }
        /* id comes from the float32 d, not the rounded half. */
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        qref_put_le16(y, qref_f32_to_f16(d));
        for (int j = 0; j < QREF_QK; j++) {
            float r = roundf(src[j] * id);
            int q = r != r ? 0 : (r > 127.0f ? 127 : (r < -127.0f ? -127 : (int)r));
            y[2 + j] = (uint8_t)q;
        }
    }
}

void qref_dequantize_q8_0(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    for (int64_t b = 0; b < n / QREF_QK; b++, x += Q8_0_BYTES, dst += QREF_QK) {
        const float d = qref_f16_to_f32(qref_get_le16(x));
        for (int j = 0; j < QREF_QK; j++)
            dst[j] = (float)qref_as_i8(x[2 + j]) * d;
    }
}

/* ---- Q4_0 / Q5_0: symmetric, the signed extreme maps to the lowest code --- */

/* codes_j = min(hi, trunc(x_j·id + offset + 0.5)), d = mx / -offset. */
static float quantize_symmetric_block(const float *restrict x, int offset, uint8_t *restrict codes)
{
    const float mx = signed_extreme(x, QREF_QK);
    const float d = mx / (float)-offset;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const float bias = (float)offset + 0.5f;
    for (int j = 0; j < QREF_QK; j++)
        codes[j] = (uint8_t)trunc_code(x[j] * id + bias, 2 * offset - 1);
    return d;
}

void qref_quantize_q4_0(const float *restrict src, void *restrict dst, int64_t n)
{
    uint8_t *y = dst;
    uint8_t codes[QREF_QK];
    for (int64_t b = 0; b < n / QREF_QK; b++, src += QREF_QK, y += Q4_0_BYTES) {
        const float d = quantize_symmetric_block(src, 8, codes);
        qref_put_le16(y, qref_f32_to_f16(d));
        pack_nibbles(codes, y + 2);
    }
}

void qref_dequantize_q4_0(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    uint8_t codes[QREF_QK];
    for (int64_t b = 0; b < n / QREF_QK; b++, x += Q4_0_BYTES, dst += QREF_QK) {
        const float d = qref_f16_to_f32(qref_get_le16(x));
        unpack_nibbles(x + 2, codes);
        for (int j = 0; j < QREF_QK; j++)
            dst[j] = (float)(codes[j] - 8) * d;
    }
}

void qref_quantize_q5_0(const float *restrict src, void *restrict dst, int64_t n)
{
    uint8_t *y = dst;
    uint8_t codes[QREF_QK];
    for (int64_t b = 0; b < n / QREF_QK; b++, src += QREF_QK, y += Q5_0_BYTES) {
        const float d = quantize_symmetric_block(src, 16, codes);
        qref_put_le16(y, qref_f32_to_f16(d));
        qref_put_le32(y + 2, high_bits(codes));
        pack_nibbles(codes, y + 6);
    }
}

void qref_dequantize_q5_0(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    uint8_t codes[QREF_QK];
    for (int64_t b = 0; b < n / QREF_QK; b++, x += Q5_0_BYTES, dst += QREF_QK) {
        const float d = qref_f16_to_f32(qref_get_le16(x));
        const uint32_t qh = qref_get_le32(x + 2);
        unpack_nibbles(x + 6, codes);
        for (int j = 0; j < QREF_QK; j++) {
            int q = codes[j] | (int)((qh >> j) & 1u) << 4;
            dst[j] = (float)(q - 16) * d;
        }
    }
}

/* ---- Q4_1 / Q5_1: affine, min to max over 2^bits - 1 steps --------------- */

/* The float32 min (not its rounded half) is the offset for the codes. */
static void quantize_affine_block(const float *restrict x, int nmax, uint8_t *restrict codes,
                                  float *restrict d_out, float *restrict min_out)
{
    float min = 3.40282347e38f, max = -3.40282347e38f;
    for (int j = 0; j < QREF_QK; j++) {
        if (x[j] < min)
            min = x[j];
        if (x[j] > max)
            max = x[j];
    }
    const float d = (max - min) / (float)nmax;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < QREF_QK; j++)
        codes[j] = (uint8_t)trunc_code((x[j] - min) * id + 0.5f, nmax);
    *d_out = d;
    *min_out = min;
}

void qref_quantize_q4_1(const float *restrict src, void *restrict dst, int64_t n)
{
    uint8_t *y = dst;
    uint8_t codes[QREF_QK];
    for (int64_t b = 0; b < n / QREF_QK; b++, src += QREF_QK, y += Q4_1_BYTES) {
        float d, min;
        quantize_affine_block(src, 15, codes, &d, &min);
        qref_put_le16(y, qref_f32_to_f16(d));
        qref_put_le16(y + 2, qref_f32_to_f16(min));
        pack_nibbles(codes, y + 4);
    }
}

void qref_dequantize_q4_1(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    uint8_t codes[QREF_QK];
    for (int64_t b = 0; b < n / QREF_QK; b++, x += Q4_1_BYTES, dst += QREF_QK) {
        const float d = qref_f16_to_f32(qref_get_le16(x));
        const float m = qref_f16_to_f32(qref_get_le16(x + 2));
        unpack_nibbles(x + 4, codes);
        for (int j = 0; j < QREF_QK; j++)
            dst[j] = (float)codes[j] * d + m;
    }
}

void qref_quantize_q5_1(const float *restrict src, void *restrict dst, int64_t n)
{
    uint8_t *y = dst;
    uint8_t codes[QREF_QK];
    for (int64_t b = 0; b < n / QREF_QK; b++, src += QREF_QK, y += Q5_1_BYTES) {
        float d, min;
        /* ggml does not clamp Q5_1 codes; the largest value reaches 31.5 at
         * most, so the clamp at 31 in trunc_code never changes a result. */
        quantize_affine_block(src, 31, codes, &d, &min);
        qref_put_le16(y, qref_f32_to_f16(d));
        qref_put_le16(y + 2, qref_f32_to_f16(min));
        qref_put_le32(y + 4, high_bits(codes));
        pack_nibbles(codes, y + 8);
    }
}

void qref_dequantize_q5_1(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    uint8_t codes[QREF_QK];
    for (int64_t b = 0; b < n / QREF_QK; b++, x += Q5_1_BYTES, dst += QREF_QK) {
        const float d = qref_f16_to_f32(qref_get_le16(x));
        const float m = qref_f16_to_f32(qref_get_le16(x + 2));
        const uint32_t qh = qref_get_le32(x + 4);
        unpack_nibbles(x + 8, codes);
        for (int j = 0; j < QREF_QK; j++) {
            int q = codes[j] | (int)((qh >> j) & 1u) << 4;
            dst[j] = (float)q * d + m;
        }
    }
}

/* ---- IQ4_NL: 16 non-uniform levels, one half scale per 32 ----------------- */

static const int8_t iq4nl_values[16] = {
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
};

/* Index of the table entry nearest to v (binary search; an exact tie goes to
 * the upper entry; NaN ends at the top entry). */
static int iq4nl_index(float v)
{
    if (v <= (float)iq4nl_values[0])
        return 0;
    if (v >= (float)iq4nl_values[15])
        return 15;
    int lo = 0, hi = 15;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (v < (float)iq4nl_values[mid])
            hi = mid;
        else
            lo = mid;
    }
    return v - (float)iq4nl_values[hi - 1] < (float)iq4nl_values[hi] - v ? hi - 1 : hi;
}

/* Weighted sums Σw·q·x and Σw·q² (w = x²) for the codes that inverse scale
 * `id` selects, accumulated sequentially in element order. */
static void iq4nl_sums(const float *restrict x, const float *restrict w, float id,
                       float *restrict sumqx, float *restrict sumq2)
{
    float sqx = 0.0f, sq2 = 0.0f;
    for (int j = 0; j < QREF_QK; j++) {
        const float q = (float)iq4nl_values[iq4nl_index(id * x[j])];
        sqx += w[j] * q * x[j];
        sq2 += w[j] * q * q;
    }
    *sumqx = sqx;
    *sumq2 = sq2;
}

/* The block scale: least squares on the codes of d = mx/127, then the 15
 * inverse scales (t - 127)/mx, t = -7..7 (llama-quantize's ntry = 7 path),
 * keeping the best (Σwqx)²/Σwq². */
static float iq4nl_scale(const float *restrict x)
{
    float w[QREF_QK];
    float amax = 0.0f, mx = 0.0f;
    for (int j = 0; j < QREF_QK; j++) {
        w[j] = x[j] * x[j];
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            mx = x[j];
        }
    }
    if (amax < QREF_GROUP_MAX_EPS)
        return 0.0f;

    const float v0 = (float)iq4nl_values[0];
    float sumqx, sumq2;
    iq4nl_sums(x, w, 1.0f / (-mx / v0), &sumqx, &sumq2);
    float d = sumqx / sumq2;
    float best = d * sumqx;
    for (int t = -7; t <= 7; t++) {
        iq4nl_sums(x, w, (float)(t + iq4nl_values[0]) / mx, &sumqx, &sumq2);
        if (sumq2 > 0.0f && sumqx * sumqx > best * sumq2) {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    return d;
}

/* Stores the block scale d and the 32 table indices of one block. */
void qref_finish_iq4_nl(const float *restrict x, float d, uint8_t *restrict y)
{
    uint8_t codes[QREF_QK];
    qref_put_le16(y, qref_f32_to_f16(d));
    /* Codes use 1/d of the float32 scale, not of the rounded half. A zero
     * scale maps everything to 0, whose nearest entry is +1 (index 8). */
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < QREF_QK; j++)
        codes[j] = (uint8_t)iq4nl_index(id * x[j]);
    pack_nibbles(codes, y + 2);
}

void qref_quantize_iq4_nl(const float *restrict src, void *restrict dst, int64_t n)
{
    uint8_t *y = dst;
    for (int64_t b = 0; b < n / QREF_QK; b++, src += QREF_QK, y += IQ4_NL_BYTES) {
        qref_finish_iq4_nl(src, iq4nl_scale(src), y);
    }
}

void qref_dequantize_iq4_nl(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *x = src;
    uint8_t codes[QREF_QK];
    for (int64_t b = 0; b < n / QREF_QK; b++, x += IQ4_NL_BYTES, dst += QREF_QK) {
        const float d = qref_f16_to_f32(qref_get_le16(x));
        unpack_nibbles(x + 2, codes);
        for (int j = 0; j < QREF_QK; j++)
            dst[j] = d * (float)iq4nl_values[codes[j]];
    }
}

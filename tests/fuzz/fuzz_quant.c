/* tests/fuzz/fuzz_quant.c — every quantizer and dequantizer on arbitrary bytes.
 *
 * The input is read twice: as float32 values (NaN, Inf, subnormals and huge
 * values included) that every quantizer of the reference table quantizes,
 * and as raw blocks of every type that the dequantizers decode. Invariants
 * (those that really hold; see each check):
 *  - quantizing is deterministic and every kernel table (the dispatched ISA)
 *    gives the reference's bytes; dequantizing too;
 *  - no UB on any input (UBSan: no float->int overflow, no shifts out of range);
 *  - a block whose stored half-precision scales are finite dequantizes to
 *    finite values, whatever its other bytes (codes are bounded, so
 *    |x^| <= 65504 * 63 * 63 at most);
 *  - for finite input whose stored scales are finite, the error of each
 *    element is bounded by the block's absmax times a per-type factor
 *    (legacy types: half a step, or a whole step where the code range clamps,
 *    plus the rounding of the scale to half; K-quants: a loose "stays in
 *    range" bound, as their sub-block scales are themselves quantized);
 *  - IQ4_NL has no such per-element bound (its scale is a weighted least
 *    squares fit, which may clamp the largest element by 15% or more when
 *    the rest of the block pulls the other way); instead, every code is the
 *    table entry nearest to x/d, and the weighted error is no larger than that
 *    of the first candidate scale, absmax/127 (see check_iq4_nl);
 *  - F16/BF16: round to nearest, Inf and NaN kept.
 */
#include <math.h>

#include "core/kernels/kernels.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FLOATS 256 /* one super-block: K-quant searches are slow under ASan */

/* Byte offsets of the half-precision scales in one block (-1 ends). */
struct qinfo {
    int type;
    int half[3];
    double rel;   /* error bound factor of the block absmax, finite input */
    double abs;   /* plus this: a subnormal half scale is off by up to 2^-25,
                     times the largest code (127 for Q8_0, 63 x 63 for K) */
};

#define LEGACY_EPS (256.0 / (1 << 25))
#define K_EPS (2.0 * 64 * 64 / (1 << 25))

static const struct qinfo QTYPES[] = {
    {QCORE_TYPE_Q8_0, {0, -1}, 0.5 / 127 + 1.0 / 1024, LEGACY_EPS},
    {QCORE_TYPE_Q4_0, {0, -1}, 1.0 / 8 + 1.0 / 512, LEGACY_EPS},
    {QCORE_TYPE_Q5_0, {0, -1}, 1.0 / 16 + 1.0 / 512, LEGACY_EPS},
    {QCORE_TYPE_Q4_1, {0, 2, -1}, 1.0 / 15 + 1.0 / 512, LEGACY_EPS},
    {QCORE_TYPE_Q5_1, {0, 2, -1}, 1.0 / 31 + 1.0 / 512, LEGACY_EPS},
    {QCORE_TYPE_IQ4_NL, {0, -1}, -1.0, LEGACY_EPS}, /* rel < 0: see check_iq4_nl */
    {QCORE_TYPE_Q2_K, {80, 82, -1}, 4.0, K_EPS},
    {QCORE_TYPE_Q3_K, {108, -1}, 4.0, K_EPS},
    {QCORE_TYPE_Q4_K, {0, 2, -1}, 4.0, K_EPS},
    {QCORE_TYPE_Q5_K, {0, 2, -1}, 4.0, K_EPS},
    {QCORE_TYPE_Q6_K, {208, -1}, 4.0, K_EPS},
};
#define N_QTYPES (sizeof QTYPES / sizeof QTYPES[0])


static bool halves_finite(const struct qinfo *qi, const uint8_t *blk)
{
    for (int k = 0; k < 3 && qi->half[k] >= 0; k++) {
        uint16_t h = (uint16_t)(blk[qi->half[k]] | blk[qi->half[k] + 1] << 8);
        if ((h & 0x7C00) == 0x7C00)
            return false;
    }
    return true;
}

static const int IQ4NL_VALUES[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                     1,    13,   25,  38,  53,  69,  89,  113};

/* One IQ4_NL block of finite input whose stored half scale is finite.
 * The quantizer picks its codes with the float32 scale d and stores d rounded
 * to half (relative error <= 2^-11 when normal, absolute <= 2^-25 when
 * subnormal); `slack` below covers that difference and nothing more.
 *  1. Each code is the table entry nearest to x/d: no other entry is closer
 *     to x by more than the rounding of d can explain.
 *  2. The first candidate scale is d0 = absmax/127: its nearest codes leave
 *     each element within 14*d0 (half the widest gap, 24/2 = 12, or the clamp
 *     from 127 down to 113) of x. Least squares on those codes, the search that
 *     only keeps a better fit, and the final nearest codes can only lower the
 *     weighted error E = sum x^2 (x - x^)^2, so E <= (14/127 absmax)^2 sum x^2
 *     (1% for float32 sums). */
/* IEEE half to double, written from the format (not the code under test). */
static double half_value(uint16_t h)
{
    const int e = (h >> 10) & 31, m = h & 1023;
    const double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return h & 0x8000 ? -v : v;
}

static void check_iq4_nl(const float *xb, const uint8_t *blk, const float *yb, double amax,
                         long long b)
{
    const double dh = half_value((uint16_t)(blk[0] | blk[1] << 8));
    const double unit = fabs(dh) * 0x1p-10 + 0x1p-24; /* rounding of d to half, doubled */
    double e_w = 0, sx2 = 0;
    for (int j = 0; j < 32; j++) {
        const double x = xb[j], y = yb[j];
        const int code = (blk[2 + j % 16] >> (j < 16 ? 0 : 4)) & 15;
        const double err = fabs(x - y), slack = unit * (fabs(x) / (fabs(dh) + 0x1p-24) + 127);
        for (int k = 0; k < 16; k++)
            FUZZ_CHECK(err <= fabs(x - dh * IQ4NL_VALUES[k]) + 2 * slack,
                       "IQ4_NL block %lld element %d: code %d (x^=%.9g) but entry %d gives "
                       "%.9g for x=%.9g (d=%.9g)",
                       b, j, code, y, k, dh * IQ4NL_VALUES[k], x, dh);
        const double e = fmax(0.0, err - slack);
        e_w += x * x * e * e;
        sx2 += x * x;
    }
    const double lim = (14.0 / 127 * amax) * (14.0 / 127 * amax) * sx2 * 1.01;
    FUZZ_CHECK(e_w <= lim, "IQ4_NL block %lld: weighted error %.9g above %.9g (absmax %.9g)", b,
               e_w, lim, amax);
}

static void check_quant(const struct qinfo *qi, const float *x, int64_t n)
{
    const struct qcore_kernels *ref = qcore_kernels_ref(), *isa = qcore_kernels_get();
    const struct qcore_type_traits *tr = qcore_type_traits(qi->type);
    FUZZ_CHECK(ref->quantize[qi->type] && ref->dequantize[qi->type], "%s missing", tr->name);
    size_t qbytes = (size_t)(n / tr->block_size) * tr->type_size;
    uint8_t *q1 = malloc(qbytes), *q2 = malloc(qbytes);
    float *y1 = malloc((size_t)n * sizeof *y1), *y2 = malloc((size_t)n * sizeof *y2);
    FUZZ_CHECK(q1 && q2 && y1 && y2, "oom");
    ref->quantize[qi->type](x, q1, n);
    ref->quantize[qi->type](x, q2, n);
    FUZZ_CHECK(memcmp(q1, q2, qbytes) == 0, "%s: quantizing twice differs", tr->name);
    if (isa->quantize[qi->type]) {
        isa->quantize[qi->type](x, q2, n);
        FUZZ_CHECK(memcmp(q1, q2, qbytes) == 0, "%s: %s bytes differ from scalar", tr->name,
                   isa->isa);
    }
    ref->dequantize[qi->type](q1, y1, n);
    if (isa->dequantize[qi->type]) {
        isa->dequantize[qi->type](q1, y2, n);
        FUZZ_CHECK(memcmp(y1, y2, (size_t)n * sizeof *y1) == 0, "%s: %s dequantizer differs",
                   tr->name, isa->isa);
    }
    for (int64_t b = 0; b < n / tr->block_size; b++) {
        const uint8_t *blk = q1 + (size_t)b * tr->type_size;
        const float *xb = x + b * tr->block_size, *yb = y1 + b * tr->block_size;
        bool hf = halves_finite(qi, blk), xf = true;
        double amax = 0;
        for (uint32_t j = 0; j < tr->block_size; j++) {
            xf = xf && isfinite(xb[j]);
            amax = fmax(amax, fabs((double)xb[j]));
            if (hf)
                FUZZ_CHECK(isfinite(yb[j]), "%s block %lld: finite scales, element %u is %g",
                           tr->name, (long long)b, j, (double)yb[j]);
        }
        if (!hf || !xf)
            continue;
        if (qi->rel < 0) {
            check_iq4_nl(xb, blk, yb, amax, (long long)b);
            continue;
        }
        double bound = amax * qi->rel + qi->abs;
        for (uint32_t j = 0; j < tr->block_size; j++)
            FUZZ_CHECK(fabs((double)xb[j] - (double)yb[j]) <= bound,
                       "%s block %lld element %u: x=%.9g x^=%.9g absmax=%.9g bound=%.9g", tr->name,
                       (long long)b, j, (double)xb[j], (double)yb[j], amax, bound);
    }
    free(q1);
    free(q2);
    free(y1);
    free(y2);
}

/* F16 and BF16: the "quantizer" is a rounding conversion. */
static void check_half(int type, const float *x, int64_t n)
{
    const struct qcore_kernels *ref = qcore_kernels_ref();
    uint16_t *h = malloc((size_t)n * 2);
    float *y = malloc((size_t)n * sizeof *y);
    FUZZ_CHECK(h && y, "oom");
    ref->quantize[type](x, h, n);
    ref->dequantize[type](h, y, n);
    /* the largest finite values that still round down, and the precisions */
    const double lim = type == QCORE_TYPE_F16 ? 65520.0 : 3.3961775292304e38;
    const double rel = type == QCORE_TYPE_F16 ? 1.0 / 2048 : 1.0 / 256;
    const double abs_eps = type == QCORE_TYPE_F16 ? 1.0 / (1 << 25) : 1e-38;
    for (int64_t i = 0; i < n; i++) {
        double xv = x[i], yv = y[i];
        if (isnan(x[i])) {
            FUZZ_CHECK(isnan(y[i]), "type %d: NaN became %g", type, yv);
        } else if (isinf(x[i]) || fabs(xv) >= lim) {
            FUZZ_CHECK(isinf(y[i]) && signbit(x[i]) == signbit(y[i]), "type %d: %g became %g",
                       type, xv, yv);
        } else {
            FUZZ_CHECK(isfinite(y[i]) && fabs(xv - yv) <= fabs(xv) * rel + abs_eps,
                       "type %d: %.9g became %.9g", type, xv, yv);
        }
    }
    free(h);
    free(y);
}

/* Arbitrary bytes as blocks: defined output, finite where scales are. */
static void check_dequant_raw(const struct qinfo *qi, const uint8_t *data, size_t size)
{
    const struct qcore_type_traits *tr = qcore_type_traits(qi->type);
    size_t nb = size / tr->type_size;
    if (nb == 0)
        return;
    uint8_t *blk = malloc(nb * tr->type_size); /* exact size: ASan sees overreads */
    float *y = malloc(nb * tr->block_size * sizeof *y);
    FUZZ_CHECK(blk && y, "oom");
    memcpy(blk, data, nb * tr->type_size);
    qcore_kernels_ref()->dequantize[qi->type](blk, y, (int64_t)(nb * tr->block_size));
    for (size_t b = 0; b < nb; b++) {
        if (!halves_finite(qi, blk + b * tr->type_size))
            continue;
        for (uint32_t j = 0; j < tr->block_size; j++)
            FUZZ_CHECK(isfinite(y[b * tr->block_size + j]), "%s raw block %zu element %u: %g",
                       tr->name, b, j, (double)y[b * tr->block_size + j]);
    }
    free(blk);
    free(y);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The first byte picks one quantizer (or, one time in 13, all of them
     * and the half conversions): the K-quant searches are slow under
     * coverage instrumentation, and one type per input fuzzes ~10x faster. */
    if (size < 1)
        return 0;
    size_t pick = data[0] % (N_QTYPES + 2);
    data++;
    size--;
    size_t nf = size / 4;
    if (nf > MAX_FLOATS)
        nf = MAX_FLOATS;
    /* whole super-blocks, zero padded; exact-size buffer for ASan */
    int64_t n = (int64_t)((nf + 255) / 256 * 256);
    if (n == 0)
        n = 256;
    float *x = calloc((size_t)n, sizeof *x);
    FUZZ_CHECK(x, "oom");
    memcpy(x, data, nf * 4);
    for (size_t i = 0; i < N_QTYPES; i++)
        if (pick == i || pick >= N_QTYPES)
            check_quant(&QTYPES[i], x, n);
    if (pick >= N_QTYPES) {
        check_half(QCORE_TYPE_F16, x, n);
        check_half(QCORE_TYPE_BF16, x, n);
    }
    free(x);
    for (size_t i = 0; i < N_QTYPES; i++)
        if (pick == i || pick >= N_QTYPES)
            check_dequant_raw(&QTYPES[i], data, size);
    return 0;
}

/* tests/unit/test_simd.c — every ISA table against the scalar reference.
 *
 * For each ISA table this CPU runs (avx2, avx512, neon; qcore_kernels_by_isa
 * returns NULL for the others, which are reported as skipped):
 *   - randomized and adversarial rows (exact .5 ties after scaling, ±0,
 *     subnormals, ±huge, NaN/Inf, single outliers, constant blocks, first-max
 *     ties, values at the 1e-15 group threshold, wide dynamic range) of
 *     several lengths: quantized bytes must equal the reference's (memcmp),
 *     dequantizing the reference's bytes must give the same float bits, and
 *     the error sums must agree: n, nonfinite and max_abs exactly, the four
 *     sums within ERR_REL_TOL relative (they are added in another order);
 *   - the golden files (tests/data/golden/CASE.f32 -> CASE.type.q, llama.cpp's
 *     bytes) quantized by the ISA table: byte-identical. Quantizing a whole
 *     file as one row gives the bytes of quantizing it row by row, since every
 *     case has whole blocks per row;
 *   - the F16/BF16 row converters on every 16-bit pattern;
 *   - ct_quantize_rows (compressed-tensors INT8/INT4/FP8, core/ctq.h) for
 *     every scheme, group sizes 32/64/128 and per channel (odd widths too),
 *     F32/F16/BF16 scales, the same data patterns plus exact .5 ties: packed
 *     words, scales, zero points and dequantized floats identical.
 * The seed comes from QD_SEED when set, else from the clock; it is printed so
 * a failure can be replayed. A plain program (no cmocka, no jansson), so that
 * tests/simd/neon-check.sh can cross-build it with the kernels alone.
 */
#include <dirent.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ctq.h"
#include "core/kernels/kernels.h"
#include "core/types.h"

#ifndef QD_TEST_DATA
#define QD_TEST_DATA "tests/data"
#endif

/* The error sums of an ISA table may be added in another order than the
 * reference's sequential double sums. Every term is non-negative for three
 * of them, and the rows are at most a few thousand elements, so the relative
 * difference stays within a few ulps of double; 1e-9 leaves a wide margin
 * and still catches a dropped or doubled term. */
#define ERR_REL_TOL 1e-9

static const int types[] = {
    QCORE_TYPE_F16,  QCORE_TYPE_BF16, QCORE_TYPE_Q8_0, QCORE_TYPE_Q4_0, QCORE_TYPE_Q4_1,
    QCORE_TYPE_Q5_0, QCORE_TYPE_Q5_1, QCORE_TYPE_IQ4_NL, QCORE_TYPE_Q2_K, QCORE_TYPE_Q3_K,
    QCORE_TYPE_Q4_K, QCORE_TYPE_Q5_K, QCORE_TYPE_Q6_K,
};
enum { N_TYPES = sizeof types / sizeof types[0] };

static int passed, failed;

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#include <stdarg.h>
static void check(int ok, const char *fmt, ...)
{
    if (ok) {
        passed++;
        return;
    }
    failed++;
    if (failed > 40)
        return; /* enough to go on */
    va_list ap;
    va_start(ap, fmt);
    fputs("FAIL: ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
}

/* ---- Random numbers (xorshift64*, reproducible from the seed) ------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static float unit(void) /* [0, 1) */
{
    return (float)(rnd() >> 40) * (1.0f / 16777216.0f);
}

static float gauss(void)
{
    return (unit() + unit() + unit() + unit() - 2.0f) * 1.7f;
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---- Data patterns -------------------------------------------------------- */

enum { N_PATTERNS = 16 };

static const char *const pattern_names[N_PATTERNS] = {
    "gaussian", "weights+outliers", "half-ties-q8", "half-ties-small", "zeros+signed-zeros",
    "subnormals", "huge", "nan-inf", "single-outlier", "constant-blocks", "first-max-ties",
    "group-eps", "small-integers", "positive", "wide-range", "mixed",
};

static void fill(float *x, int n, int pattern)
{
    switch (pattern) {
    case 0:
        for (int i = 0; i < n; i++)
            x[i] = gauss();
        break;
    case 1:
        for (int i = 0; i < n; i++)
            x[i] = gauss() * 0.02f * ((rnd() % 500) == 0 ? 30.0f : 1.0f);
        break;
    case 2: /* Q8_0: one element at ±127 per block makes id = 1: x.5 is an exact tie */
        for (int i = 0; i < n; i++) {
            x[i] = (float)((int)(rnd() % 254) - 127) + ((rnd() & 1) ? 0.5f : 0.0f);
            if (i % 32 == (int)(rnd() % 32))
                x[i] = (rnd() & 1) ? 127.0f : -127.0f;
        }
        for (int i = 0; i < n; i += 32)
            x[i + 31] = 127.0f;
        break;
    case 3: /* halves in [-8, 8] with the extreme -8 or +8: ties for the 4/5-bit types */
        for (int i = 0; i < n; i++)
            x[i] = (float)((int)(rnd() % 33) - 16) * 0.5f;
        for (int i = 0; i < n; i += 32)
            x[i + (int)(rnd() % 32)] = (rnd() & 1) ? 8.0f : -8.0f;
        break;
    case 4:
        for (int i = 0; i < n; i++)
            x[i] = (rnd() % 3) ? 0.0f : -0.0f;
        if (rnd() & 1)
            for (int i = 0; i < n; i += 64)
                x[i] = gauss(); /* some blocks non-zero */
        break;
    case 5:
        for (int i = 0; i < n; i++)
            x[i] = from_bits((uint32_t)(rnd() & 0x007fffffu) | ((rnd() & 1) ? 0x80000000u : 0u));
        if (rnd() & 1)
            for (int i = 0; i < n; i += 37)
                x[i] = FLT_MIN * (float)(1 + rnd() % 4);
        break;
    case 6:
        for (int i = 0; i < n; i++) {
            const float big[] = {FLT_MAX, 3e38f, 1e38f, 6.5e4f, 65520.0f, 1e30f};
            x[i] = big[rnd() % 6] * ((rnd() & 1) ? 1.0f : -1.0f) * ((rnd() % 4) ? 1.0f : 0.5f);
        }
        break;
    case 7:
        for (int i = 0; i < n; i++) {
            const uint64_t r = rnd() % 16;
            x[i] = r == 0 ? NAN : r == 1 ? -NAN : r == 2 ? INFINITY : r == 3 ? -INFINITY : gauss();
        }
        break;
    case 8: /* one outlier per 32 (and so per sub-block) */
        for (int i = 0; i < n; i++)
            x[i] = gauss() * 0.01f;
        for (int i = 0; i < n; i += 32)
            x[i + (int)(rnd() % 32)] = gauss() * 1000.0f;
        break;
    case 9:
        for (int i = 0; i < n; i += 16) {
            const float v = (rnd() % 4) == 0 ? 0.0f : gauss() * 10.0f;
            for (int j = 0; j < 16; j++)
                x[i + j] = v;
        }
        break;
    case 10: /* |x| maxima shared by +v and -v: the first one must win */
        for (int i = 0; i < n; i++)
            x[i] = gauss();
        for (int i = 0; i < n; i += 16) {
            const float v = 4.0f + unit();
            x[i + (int)(rnd() % 8)] = (rnd() & 1) ? v : -v;
            x[i + 8 + (int)(rnd() % 8)] = (rnd() & 1) ? -v : v;
        }
        break;
    case 11:
        for (int i = 0; i < n; i++)
            x[i] = gauss() * ((rnd() & 1) ? 1e-15f : 1.1e-15f);
        break;
    case 12:
        for (int i = 0; i < n; i++)
            x[i] = (float)((int)(rnd() % 9) - 4);
        break;
    case 13:
        for (int i = 0; i < n; i++)
            x[i] = unit() * 3.0f + 0.25f;
        break;
    case 14:
        for (int i = 0; i < n; i++)
            x[i] = ldexpf(gauss(), (int)(rnd() % 60) - 30);
        break;
    default: /* a bit of everything, block by block */
        for (int i = 0; i < n; i += 32)
            fill(x + i, 32, (int)(rnd() % (N_PATTERNS - 1)));
        break;
    }
}

/* ---- One row through both tables ------------------------------------------ */

static int close_rel(double a, double b)
{
    if (a == b)
        return 1;
    const double m = fmax(fabs(a), fabs(b));
    return fabs(a - b) <= ERR_REL_TOL * m || fabs(a - b) < 1e-300;
}

static void compare_row(const struct qcore_kernels *ref, const struct qcore_kernels *k,
                        const float *x, int n, const char *what)
{
    uint8_t *qa = malloc((size_t)n * 4 + 64), *qb = malloc((size_t)n * 4 + 64);
    float *ya = malloc((size_t)n * sizeof(float)), *yb = malloc((size_t)n * sizeof(float));
    if (!qa || !qb || !ya || !yb) {
        check(0, "out of memory");
        goto out;
    }
    for (int t = 0; t < N_TYPES; t++) {
        const int type = types[t];
        const char *tn = qcore_type_traits(type)->name;
        uint64_t nbytes;
        if (!qcore_type_nbytes(type, (uint64_t)n, &nbytes) || k->quantize[type] == NULL) {
            check(0, "[%s] %s: no quantizer or bad size", k->isa, tn);
            continue;
        }
        /* Different poison: a byte the ISA table does not write shows. */
        memset(qa, 0xA5, nbytes);
        memset(qb, 0x5A, nbytes);
        ref->quantize[type](x, qa, n);
        k->quantize[type](x, qb, n);
        size_t first = nbytes;
        for (size_t i = 0; i < nbytes; i++)
            if (qa[i] != qb[i]) {
                first = i;
                break;
            }
        check(first == nbytes, "[%s] %s %s n=%d: quantized bytes differ first at %zu (0x%02x, want 0x%02x)",
              k->isa, tn, what, n, first, first < nbytes ? qb[first] : 0, first < nbytes ? qa[first] : 0);

        ref->dequantize[type](qa, ya, n);
        k->dequantize[type](qa, yb, n);
        check(memcmp(ya, yb, (size_t)n * sizeof(float)) == 0,
              "[%s] %s %s n=%d: dequantized floats differ", k->isa, tn, what, n);

        if (t == 0)
            check(ref->count_nonfinite(x, n) == k->count_nonfinite(x, n) &&
                      ref->count_nonfinite(x + 1, n - 3) == k->count_nonfinite(x + 1, n - 3),
                  "[%s] %s n=%d: count_nonfinite differs", k->isa, what, n);
        struct qcore_err_sums ea = {0}, eb = {0};
        ref->err_sums(x, ya, n, &ea);
        k->err_sums(x, ya, n, &eb);
        check(ea.n == eb.n && ea.nonfinite == eb.nonfinite && ea.max_abs == eb.max_abs &&
                  close_rel(ea.sum_x2, eb.sum_x2) && close_rel(ea.sum_y2, eb.sum_y2) &&
                  close_rel(ea.sum_xy, eb.sum_xy) && close_rel(ea.sum_e2, eb.sum_e2),
              "[%s] %s %s n=%d: err_sums differ (n %" PRIu64 "/%" PRIu64 ", e2 %.17g/%.17g, max %.17g/%.17g)",
              k->isa, tn, what, n, ea.n, eb.n, ea.sum_e2, eb.sum_e2, ea.max_abs, eb.max_abs);
    }
out:
    free(qa);
    free(qb);
    free(ya);
    free(yb);
}

static void random_rows(const struct qcore_kernels *ref, const struct qcore_kernels *k, int rounds)
{
    static const int lengths[] = {256, 512, 768, 1024, 4096, 256 * 17};
    float *x = malloc(256 * 17 * sizeof(float));
    if (x == NULL) {
        check(0, "out of memory");
        return;
    }
    for (int r = 0; r < rounds; r++) {
        for (int p = 0; p < N_PATTERNS; p++) {
            const int n = lengths[rnd() % (sizeof lengths / sizeof lengths[0])];
            fill(x, n, p);
            compare_row(ref, k, x, n, pattern_names[p]);
        }
    }
    free(x);
}

/* The 32-element types on rows of 1..19 blocks: the x86 kernels take 8
 * blocks per step and pad the last 1..7, so every remainder and a
 * destination exactly as long as the row must give the reference's bytes
 * (K-quant rows are whole super-blocks, i.e. multiples of 8 blocks). */
static void legacy_tails(const struct qcore_kernels *ref, const struct qcore_kernels *k)
{
    static const int legacy[] = {QCORE_TYPE_Q8_0, QCORE_TYPE_Q4_0, QCORE_TYPE_Q4_1,
                                 QCORE_TYPE_Q5_0, QCORE_TYPE_Q5_1, QCORE_TYPE_IQ4_NL};
    enum { MAXB = 19 };
    float x[32 * MAXB];
    uint8_t qa[34 * MAXB], qb[34 * MAXB + 64];
    for (int p = 0; p < N_PATTERNS; p++) {
        for (int nb = 1; nb <= MAXB; nb++) {
            fill(x, 32 * nb, p);
            for (size_t t = 0; t < sizeof legacy / sizeof legacy[0]; t++) {
                uint64_t bytes;
                qcore_type_nbytes(legacy[t], (uint64_t)(32 * nb), &bytes);
                memset(qa, 0xA5, sizeof qa);
                memset(qb, 0x5A, sizeof qb);
                ref->quantize[legacy[t]](x, qa, 32 * nb);
                k->quantize[legacy[t]](x, qb, 32 * nb);
                check(memcmp(qa, qb, bytes) == 0 && qb[bytes] == 0x5A,
                      "[%s] %s %s, %d blocks: bytes differ or written past the row", k->isa,
                      qcore_type_traits(legacy[t])->name, pattern_names[p], nb);
            }
        }
    }
}

/* Every 16-bit pattern through the row converters (NaN payloads included). */
static void converters(const struct qcore_kernels *ref, const struct qcore_kernels *k)
{
    enum { N = 65536 };
    uint16_t *h = malloc(N * sizeof *h);
    float *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    if (!h || !a || !b) {
        check(0, "out of memory");
        goto out;
    }
    for (int i = 0; i < N; i++)
        h[i] = (uint16_t)i;
    ref->f16_to_f32(h, a, N);
    k->f16_to_f32(h, b, N);
    check(memcmp(a, b, N * sizeof *a) == 0, "[%s] f16_to_f32 differs", k->isa);
    ref->bf16_to_f32(h, a, N);
    k->bf16_to_f32(h, b, N);
    check(memcmp(a, b, N * sizeof *a) == 0, "[%s] bf16_to_f32 differs", k->isa);
    /* Odd lengths and offsets (the tails). */
    ref->f16_to_f32(h + 3, a, 1001);
    k->f16_to_f32(h + 3, b, 1001);
    check(memcmp(a, b, 1001 * sizeof *a) == 0, "[%s] f16_to_f32 tail differs", k->isa);
out:
    free(h);
    free(a);
    free(b);
}

/* ---- Compressed-tensors rows (ct_quantize_rows) -------------------------- */

/* Exact ties for the symmetric schemes: s0 a power of two, the group's |x|
 * maximum half_range·s0 (so the scale is s0 in every scale type), every
 * other element an odd multiple of s0/2: x / s lands on .5. */
static void fill_ct_ties(float *x, int64_t rows, int64_t cols, int64_t group, float half_range)
{
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t g = 0; g < cols / group; g++) {
            float *xg = x + r * cols + g * group;
            const float s0 = ldexpf(1.0f, (int)(rnd() % 20) - 10);
            const int span = (int)(2.0f * half_range);
            for (int64_t i = 0; i < group; i++)
                xg[i] = ((float)((int)(rnd() % (unsigned)span) - span / 2) + 0.5f) * s0;
            xg[rnd() % (uint64_t)group] = ((rnd() & 1) ? half_range : -half_range) * s0;
        }
    }
}

static void compare_ct_one(const struct qcore_kernels *ref, const struct qcore_kernels *k,
                           const struct qcore_ct_params *p, const float *x, const char *what)
{
    const int64_t rows = p->rows, cols = p->cols, G = qcore_ct_groups(p);
    const size_t wl = (size_t)(rows * (int64_t)qcore_ct_row_bytes(p));
    const size_t sl = (size_t)(rows * G) * (p->scale_type == QCORE_TYPE_F32 ? 4 : 2);
    const size_t pw = qcore_ct_per_word(p);
    const size_t zl = qcore_ct_scheme_symmetric(p->scheme) ? 0 : ((size_t)rows + pw - 1) / pw * (size_t)G * 4;
    const size_t n = (size_t)(rows * cols);
    uint8_t *buf[2][3];
    float *y[2];
    int32_t *t[2];
    for (int side = 0; side < 2; side++) {
        buf[side][0] = malloc(wl + 1);
        buf[side][1] = malloc(sl + 1);
        buf[side][2] = malloc(zl + 1);
        y[side] = malloc(n * sizeof(float));
        t[side] = malloc((size_t)cols * sizeof(int32_t));
        const uint8_t poison = side ? 0x5A : 0xA5;
        if (buf[side][0]) memset(buf[side][0], poison, wl + 1);
        if (buf[side][1]) memset(buf[side][1], poison, sl + 1);
        if (buf[side][2]) memset(buf[side][2], poison, zl + 1);
        if (y[side]) memset(y[side], poison, n * sizeof(float));
    }
    if (!buf[0][0] || !buf[0][1] || !buf[0][2] || !buf[1][0] || !buf[1][1] || !buf[1][2] ||
        !y[0] || !y[1] || !t[0] || !t[1]) {
        check(0, "out of memory");
        goto out;
    }
    for (int side = 0; side < 2; side++) {
        const struct qcore_ct_out o = {buf[side][0], buf[side][1], zl ? buf[side][2] : NULL,
                                       y[side], t[side]};
        (side ? k : ref)->ct_quantize_rows(p, x, rows, &o);
    }
    const char *sn = qcore_ct_scheme_name(p->scheme);
    const char *tn = qcore_type_traits(p->scale_type)->name;
    check(memcmp(buf[0][0], buf[1][0], wl) == 0, "[%s] ct %s %s scale %s %lldx%lld g%lld: weights differ",
          k->isa, sn, what, tn, (long long)rows, (long long)cols, (long long)p->group);
    check(memcmp(buf[0][1], buf[1][1], sl) == 0, "[%s] ct %s %s scale %s %lldx%lld g%lld: scales differ",
          k->isa, sn, what, tn, (long long)rows, (long long)cols, (long long)p->group);
    check(memcmp(buf[0][2], buf[1][2], zl) == 0, "[%s] ct %s %s scale %s %lldx%lld g%lld: zero points differ",
          k->isa, sn, what, tn, (long long)rows, (long long)cols, (long long)p->group);
    check(memcmp(y[0], y[1], n * sizeof(float)) == 0,
          "[%s] ct %s %s scale %s %lldx%lld g%lld: dequantized values differ", k->isa, sn, what, tn,
          (long long)rows, (long long)cols, (long long)p->group);
out:
    for (int side = 0; side < 2; side++) {
        for (int b = 0; b < 3; b++)
            free(buf[side][b]);
        free(y[side]);
        free(t[side]);
    }
}

/* Every scheme, group sizes 32/64/128 and per channel (odd widths too), F32,
 * F16 and BF16 scales (FP8: F32), all data patterns plus exact ties. */
static void ct_rows(const struct qcore_kernels *ref, const struct qcore_kernels *k, int rounds)
{
    static const enum qcore_ct_scheme schemes[] = {QCORE_CT_INT8, QCORE_CT_INT4, QCORE_CT_INT8_ASYM,
                                                   QCORE_CT_INT4_ASYM, QCORE_CT_FP8};
    static const int64_t groups[] = {32, 64, 128, 0};
    static const int64_t channel_cols[] = {1, 3, 9, 27, 100, 255, 256, 1000, 4096};
    static const int scale_types[] = {QCORE_TYPE_F32, QCORE_TYPE_F16, QCORE_TYPE_BF16};
    if (k->ct_quantize_rows == NULL) {
        check(0, "[%s] no ct_quantize_rows", k->isa);
        return;
    }
    enum { MAX_N = 9 * 4096 + 64 };
    float *x = malloc(MAX_N * sizeof(float));
    if (x == NULL) {
        check(0, "out of memory");
        return;
    }
    for (int r = 0; r < rounds; r++) {
        for (size_t si = 0; si < sizeof schemes / sizeof schemes[0]; si++) {
            for (size_t gi = 0; gi < sizeof groups / sizeof groups[0]; gi++) {
                for (size_t ti = 0; ti < 3; ti++) {
                    if (schemes[si] == QCORE_CT_FP8 && ti > 0)
                        continue;
                    struct qcore_ct_params p = {.scheme = schemes[si], .scale_type = scale_types[ti]};
                    p.rows = 1 + (int64_t)(rnd() % 9);
                    if (groups[gi]) {
                        p.group = groups[gi];
                        p.cols = groups[gi] * (1 + (int64_t)(rnd() % 4));
                    } else {
                        p.cols = channel_cols[rnd() % (sizeof channel_cols / sizeof channel_cols[0])];
                        p.group = p.cols;
                    }
                    const int64_t n = p.rows * p.cols, padded = (n + 31) / 32 * 32;
                    for (int pat = 0; pat <= N_PATTERNS; pat++) {
                        if (pat == N_PATTERNS) {
                            if (!qcore_ct_scheme_symmetric(p.scheme) || qcore_ct_scheme_is_fp8(p.scheme))
                                continue;
                            fill_ct_ties(x, p.rows, p.cols, p.group,
                                         qcore_ct_scheme_bits(p.scheme) == 8 ? 127.5f : 7.5f);
                            compare_ct_one(ref, k, &p, x, "exact-ties");
                        } else {
                            fill(x, (int)padded, pat);
                            compare_ct_one(ref, k, &p, x, pattern_names[pat]);
                        }
                    }
                }
            }
        }
    }
    free(x);
}

/* ---- Golden files ------------------------------------------------------- */

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 1 << 16;
            uint8_t *nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        const size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    *len = n;
    return buf;
}

static int golden(const struct qcore_kernels *k)
{
    const char *dir = QD_TEST_DATA "/golden";
    DIR *d = opendir(dir);
    if (d == NULL) {
        printf("golden: %s not found, skipped\n", dir);
        return 0;
    }
    int cases = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".f32") != 0)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t nb = 0;
        uint8_t *raw = slurp(path, &nb);
        if (raw == NULL || nb % (256 * sizeof(float)) != 0) {
            check(0, "golden %s: unreadable or not whole super-blocks", e->d_name);
            free(raw);
            continue;
        }
        const int n = (int)(nb / sizeof(float));
        float *x = malloc(nb);
        uint8_t *q = malloc(nb + 64);
        memcpy(x, raw, nb); /* little-endian files, little-endian hosts */
        for (int t = 0; t < N_TYPES; t++) {
            char lower[16], qpath[1024];
            const char *tn = qcore_type_traits(types[t])->name;
            size_t i = 0;
            for (; tn[i] && i + 1 < sizeof lower; i++)
                lower[i] = (char)(tn[i] >= 'A' && tn[i] <= 'Z' ? tn[i] - 'A' + 'a' : tn[i]);
            lower[i] = '\0';
            snprintf(qpath, sizeof qpath, "%s/%.*s.%s.q", dir, (int)(len - 4), e->d_name, lower);
            size_t wl = 0;
            uint8_t *want = slurp(qpath, &wl);
            uint64_t qbytes;
            qcore_type_nbytes(types[t], (uint64_t)n, &qbytes);
            if (want == NULL || wl != qbytes) {
                check(0, "golden %s: %s missing or of the wrong size", e->d_name, qpath);
                free(want);
                continue;
            }
            memset(q, 0xA5, qbytes);
            k->quantize[types[t]](x, q, n);
            check(memcmp(q, want, qbytes) == 0, "[%s] golden %s %s: bytes differ from llama.cpp's",
                  k->isa, e->d_name, tn);
            free(want);
        }
        free(x);
        free(q);
        free(raw);
        cases++;
    }
    closedir(d);
    return cases;
}

int main(void)
{
    const char *env = getenv("QD_SEED");
    uint64_t seed = env && *env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)clock();
    if (seed == 0)
        seed = 1;
    const char *rounds_env = getenv("QD_SIMD_ROUNDS");
    const int rounds = rounds_env && *rounds_env ? atoi(rounds_env) : 6;
    printf("test_simd: seed %" PRIu64 " (replay with QD_SEED=%" PRIu64 "), %d rounds\n", seed, seed,
           rounds);

    const struct qcore_kernels *ref = qcore_kernels_ref();
    static const char *const isas[] = {"avx2", "avx512", "neon"};
    int tested = 0;
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
        const struct qcore_kernels *k = qcore_kernels_by_isa(isas[i]);
        if (k == NULL) {
            printf("%s: not supported by this build or CPU, skipped\n", isas[i]);
            continue;
        }
        rng_state = seed;
        const int before = failed;
        converters(ref, k);
        random_rows(ref, k, rounds);
        legacy_tails(ref, k);
        ct_rows(ref, k, rounds);
        const int cases = golden(k);
        printf("%s: %d golden cases, %s\n", k->isa, cases, failed == before ? "identical" : "DIFFERENT");
        tested++;
    }
    /* The reference itself on the golden files, so the check is not vacuous
     * on a machine without any SIMD table. */
    golden(ref);
    printf("%d ISA tables compared with the reference\n", tested);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}

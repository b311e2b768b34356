/* core/ctq.c — the scalar reference INT8/INT4/FP8 quantizers and packers
 * (formulas and a worked example in docs/int-schemes.md).
 *
 * Rounding is to nearest, ties to even (rintf in the default rounding mode),
 * which is torch.round's rule and so compressed-tensors' own. All arithmetic
 * is float32 evaluated as written (the build uses -ffp-contract=off).
 */
#include "core/ctq.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#include "core/kernels/kernels.h"
#include "core/types.h"

static const struct {
    const char *name;
    enum qcore_ct_scheme s;
} scheme_names[] = {
    {"int8", QCORE_CT_INT8},           {"W8A16", QCORE_CT_INT8},
    {"int4", QCORE_CT_INT4},           {"W4A16", QCORE_CT_INT4},
    {"int8-asym", QCORE_CT_INT8_ASYM}, {"int4-asym", QCORE_CT_INT4_ASYM},
    {"fp8", QCORE_CT_FP8},
};

int qcore_ct_scheme_from_name(const char *name, enum qcore_ct_scheme *out)
{
    for (size_t i = 0; name && i < sizeof scheme_names / sizeof scheme_names[0]; i++) {
        if (strcasecmp(name, scheme_names[i].name) == 0) {
            *out = scheme_names[i].s;
            return 0;
        }
    }
    return -1;
}

const char *qcore_ct_scheme_name(enum qcore_ct_scheme s)
{
    switch (s) {
    case QCORE_CT_INT8: return "int8";
    case QCORE_CT_INT4: return "int4";
    case QCORE_CT_INT8_ASYM: return "int8-asym";
    case QCORE_CT_INT4_ASYM: return "int4-asym";
    case QCORE_CT_FP8: return "fp8";
    default: return NULL;
    }
}

const char *const *qcore_ct_scheme_names(void)
{
    static const char *const names[] = {"int8", "int4", "int8-asym", "int4-asym", "fp8",
                                        "W8A16", "W4A16", NULL};
    return names;
}

unsigned qcore_ct_scheme_bits(enum qcore_ct_scheme s)
{
    return s == QCORE_CT_INT4 || s == QCORE_CT_INT4_ASYM ? 4u : 8u;
}

bool qcore_ct_scheme_symmetric(enum qcore_ct_scheme s)
{
    return s != QCORE_CT_INT8_ASYM && s != QCORE_CT_INT4_ASYM;
}

bool qcore_ct_scheme_is_fp8(enum qcore_ct_scheme s)
{
    return s == QCORE_CT_FP8;
}

int64_t qcore_ct_scheme_default_group(enum qcore_ct_scheme s)
{
    return s == QCORE_CT_INT4 || s == QCORE_CT_INT4_ASYM ? 128 : 0;
}

unsigned qcore_ct_per_word(const struct qcore_ct_params *p)
{
    return 32u / qcore_ct_scheme_bits(p->scheme);
}

int64_t qcore_ct_groups(const struct qcore_ct_params *p)
{
    return p->cols / p->group;
}

uint64_t qcore_ct_row_bytes(const struct qcore_ct_params *p)
{
    if (qcore_ct_scheme_is_fp8(p->scheme))
        return (uint64_t)p->cols;
    uint64_t per = qcore_ct_per_word(p);
    return ((uint64_t)p->cols + per - 1) / per * 4;
}

/* ---- scales ----------------------------------------------------------- */

static void put_le32(uint8_t *d, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        d[i] = (uint8_t)(v >> (8 * i));
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* torch.finfo(dtype).eps: what compressed-tensors puts in place of a zero
 * scale. */
static float scale_eps(int type)
{
    switch (type) {
    case QCORE_TYPE_F16: return 0.0009765625f;  /* 2^-10 */
    case QCORE_TYPE_BF16: return 0.0078125f;    /* 2^-7 */
    default: return 1.1920928955078125e-07f;    /* 2^-23 */
    }
}

float qcore_ct_scale_eps(int type)
{
    return scale_eps(type);
}

float qcore_ct_store_scale(int type, float s, uint8_t *dst)
{
    uint16_t h;
    float v;
    switch (type) {
    case QCORE_TYPE_F16:
        h = qcore_f32_to_f16(s);
        v = qcore_f16_to_f32(h);
        /* positive finite halves are ordered like their bit patterns:
         * one step up is the next larger value (0x7BFF + 1 is +inf) */
        if (v < s && h < 0x7C00) {
            h++;
            v = qcore_f16_to_f32(h);
        }
        break;
    case QCORE_TYPE_BF16:
        h = qcore_f32_to_bf16(s);
        v = qcore_bf16_to_f32(h);
        if (v < s && h < 0x7F80) {
            h++;
            v = qcore_bf16_to_f32(h);
        }
        break;
    default:
        put_le32(dst, f32_bits(s));
        return s;
    }
    dst[0] = (uint8_t)h;
    dst[1] = (uint8_t)(h >> 8);
    return v;
}

static size_t scale_size(int type)
{
    return type == QCORE_TYPE_F32 ? 4 : 2;
}

/* ---- integer quantization --------------------------------------------- */

struct int_ctx {
    const struct qcore_ct_params *p;
    unsigned bits, per_word;
    int qmin, qmax, offset;  /* offset = 2^(bits-1) */
};

/* One group, symmetric: scale = absmax / ((qmax - qmin) / 2). Writes the
 * integers q to u. Returns the stored scale. */
static float group_sym(const struct int_ctx *c, const float *x, int64_t n, uint8_t *sdst,
                       int32_t *u)
{
    float amax = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (a > amax) /* NaN never compares greater */
            amax = a;
    }
    float s = amax / ((float)(c->qmax - c->qmin) / 2.0f);
    if (s == 0.0f)
        s = scale_eps(c->p->scale_type);
    s = qcore_ct_store_scale(c->p->scale_type, s, sdst);
    for (int64_t i = 0; i < n; i++)
        u[i] = qcore_ct_round_clamp(x[i] / s, c->qmin, c->qmax, 0);
    return s;
}

/* One group, asymmetric: the range [min(x, 0), max(x, 0)] over 2^bits - 1
 * steps, zero point qmin - round(min / scale). Returns the stored scale and
 * the zero point (signed) in *zp. */
static float group_asym(const struct int_ctx *c, const float *x, int64_t n, uint8_t *sdst,
                        int32_t *u, int *zp)
{
    float lo = 0.0f, hi = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        if (x[i] < lo)
            lo = x[i];
        if (x[i] > hi)
            hi = x[i];
    }
    float s = (hi - lo) / (float)(c->qmax - c->qmin);
    if (s == 0.0f)
        s = scale_eps(c->p->scale_type);
    s = qcore_ct_store_scale(c->p->scale_type, s, sdst);
    int z = qcore_ct_round_clamp(c->qmin - rintf(lo / s), c->qmin, c->qmax, 0);
    for (int64_t i = 0; i < n; i++)
        u[i] = qcore_ct_round_clamp(x[i] / s + (float)z, c->qmin, c->qmax, z);
    *zp = z;
    return s;
}

void qcore_ct_pack_row(const int32_t *q, int64_t n, unsigned bits, uint8_t *dst)
{
    const unsigned per = 32u / bits;
    const int32_t offset = 1 << (bits - 1);
    int64_t n_words = (n + per - 1) / per;
    for (int64_t w = 0; w < n_words; w++) {
        uint32_t word = 0;
        for (unsigned k = 0; k < per; k++) {
            int64_t i = w * per + k;
            if (i < n)
                word |= (uint32_t)(q[i] + offset) << (k * bits);
        }
        put_le32(dst + 4 * w, word);
    }
}

/* Zero point of (row r, group g), r relative to the run's first row:
 * packed along dim 0, word (r / per_word, g), shift (r % per_word)*bits.
 * The buffer starts zeroed, so pad fields stay zero. */
static void put_zero(const struct int_ctx *c, uint8_t *zero, int64_t r, int64_t g, int64_t G,
                     int zp)
{
    uint8_t *w = zero + 4 * ((r / c->per_word) * G + g);
    uint32_t v = (uint32_t)w[0] | (uint32_t)w[1] << 8 | (uint32_t)w[2] << 16 |
                 (uint32_t)w[3] << 24;
    v |= (uint32_t)(zp + c->offset) << ((unsigned)(r % c->per_word) * c->bits);
    put_le32(w, v);
}

static void quantize_int(const struct qcore_ct_params *p, const float *restrict x,
                         int64_t n_rows, const struct qcore_ct_out *out, int32_t *u)
{
    struct int_ctx c = {.p = p, .bits = qcore_ct_scheme_bits(p->scheme)};
    c.per_word = 32u / c.bits;
    c.offset = 1 << (c.bits - 1);
    c.qmin = -c.offset;
    c.qmax = c.offset - 1;
    const bool sym = qcore_ct_scheme_symmetric(p->scheme);
    const int64_t G = qcore_ct_groups(p);
    const size_t ss = scale_size(p->scale_type);
    const uint64_t rb = qcore_ct_row_bytes(p);

    if (!sym)
        memset(out->zero, 0, (size_t)((n_rows + c.per_word - 1) / c.per_word * G * 4));
    for (int64_t r = 0; r < n_rows; r++) {
        const float *xr = x + r * p->cols;
        for (int64_t g = 0; g < G; g++) {
            const int64_t o = g * p->group;
            uint8_t *sd = out->scale + (size_t)(r * G + g) * ss;
            int zp = 0;
            float s = sym ? group_sym(&c, xr + o, p->group, sd, u + o)
                          : group_asym(&c, xr + o, p->group, sd, u + o, &zp);
            if (!sym)
                put_zero(&c, out->zero, r, g, G, zp);
            for (int64_t i = 0; out->y && i < p->group; i++)
                out->y[r * p->cols + o + i] = (float)(u[o + i] - zp) * s;
        }
        qcore_ct_pack_row(u, p->cols, c.bits, out->weights + r * rb);
    }
}

/* ---- fp8 -------------------------------------------------------------- */

uint8_t qcore_f32_to_e4m3(float f)
{
    uint8_t sign = (f32_bits(f) >> 31) ? 0x80 : 0x00;
    float a = fabsf(f);
    if (isnan(f))
        return 0x7F;
    if (a >= 448.0f)
        return sign | 0x7E;
    if (a < 0.015625f) /* below 2^-6: subnormal, steps of 2^-9 (8 rounds up to 0x08) */
        return sign | (uint8_t)rintf(a * 512.0f);
    int e;
    frexpf(a, &e);            /* a = f * 2^e, f in [0.5, 1) */
    int E = e - 1;            /* a in [2^E, 2^(E+1)), -6 <= E <= 8 */
    float m = rintf((ldexpf(a, -E) - 1.0f) * 8.0f); /* exact scaling, RNE */
    if (m >= 8.0f) {
        m = 0.0f;
        E++;
    }
    /* a < 448 keeps E <= 8 and (E, m) below (8, 7), the NaN code */
    return sign | (uint8_t)((E + 7) << 3) | (uint8_t)m;
}

float qcore_e4m3_to_f32(uint8_t b)
{
    int e = (b >> 3) & 0xF, m = b & 7;
    float v;
    if (e == 0xF && m == 7)
        return bits_f32(0x7FC00000u);
    v = e == 0 ? ldexpf((float)m, -9) : ldexpf(1.0f + (float)m / 8.0f, e - 7);
    return (b & 0x80) ? -v : v;
}

/* Per channel: scale = absmax / 448 (F32), w = e4m3(clamp(x / scale)). */
static void quantize_fp8(const struct qcore_ct_params *p, const float *restrict x,
                         int64_t n_rows, const struct qcore_ct_out *out)
{
    const int64_t G = qcore_ct_groups(p);
    for (int64_t r = 0; r < n_rows; r++) {
        for (int64_t g = 0; g < G; g++) {
            const int64_t o = r * p->cols + g * p->group;
            float amax = 0.0f;
            for (int64_t i = 0; i < p->group; i++)
                if (fabsf(x[o + i]) > amax)
                    amax = fabsf(x[o + i]);
            float s = amax / 448.0f;
            if (s == 0.0f)
                s = scale_eps(QCORE_TYPE_F32);
            s = qcore_ct_store_scale(QCORE_TYPE_F32, s, out->scale + (size_t)(r * G + g) * 4);
            for (int64_t i = 0; i < p->group; i++) {
                float v = x[o + i] / s;
                uint8_t b = qcore_f32_to_e4m3(isnan(v) ? 0.0f : v);
                out->weights[o + i] = b;
                if (out->y)
                    out->y[o + i] = qcore_e4m3_to_f32(b) * s;
            }
        }
    }
}

void qcore_ct_quantize_rows(const struct qcore_ct_params *p, const float *restrict x,
                            int64_t n_rows, const struct qcore_ct_out *out)
{
    if (qcore_ct_scheme_is_fp8(p->scheme))
        quantize_fp8(p, x, n_rows, out);
    else
        quantize_int(p, x, n_rows, out, out->scratch);
}

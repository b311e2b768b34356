/* tests/unit/test_ctq.c — INT8/INT4/FP8 in the compressed-tensors layouts:
 * hand vectors (compressed-tensors' own packing tests), the formulas, and
 * whole files decoded by an independent reader (ct_reader.h) and checked
 * element by element against the source: |x - x̂| <= scale/2 and exact zero
 * points; real networks (a CNN, an LSTM) quantized end to end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "core/ctq.h"
#include "core/formats/safetensors.h"
#include "core/job.h"
#include "core/kernels/kernels.h"
#include "core/plan.h"
#include "core/report.h"
#include "ct_reader.h"
#include "testutil.h"

#define NETS QD_TEST_DATA "/nets"

/* The bound scale/2 is exact for the real scale absmax/127.5; the float32
 * scale is off by up to half an ulp, which the extreme code (127.5 steps
 * away) multiplies: 127.5 * 2^-24 < 2^-16 relative. */
#define BOUND_SLACK (1.0 + 1.0 / (1 << 16))

/* ---- the packing, by hand --------------------------------------------- */

static uint32_t quantize_one_row(enum qcore_ct_scheme s, const float *x, int64_t cols,
                                 uint8_t *w, float *scale, uint8_t *zero)
{
    struct qcore_ct_params p = {s, 1, cols, cols, QCORE_TYPE_F32};
    uint8_t sc[4];
    int32_t scratch[64];
    struct qcore_ct_out o = {w, sc, zero, NULL, scratch};
    qcore_ct_quantize_rows(&p, x, 1, &o);
    uint32_t u = ctr_le32(sc);
    memcpy(scale, &u, 4);
    return ctr_le32(w);
}

/* compressed-tensors tests/test_compressors/.../test_pack_quant.py:
 * pack_to_int32([1,2,3,4], 4) == 52137, [-8..-1] -> 1985229328, and with 8
 * bits [1,2,3,4] -> 0x84838281. The rows are chosen so that the scale is 1
 * (or 16/15) and q equals those integers. */
static void packing_matches_compressed_tensors(void **st)
{
    (void)st;
    uint8_t w[8];
    float s;
    const float a[5] = {1, 2, 3, 4, -7.5f}; /* absmax 7.5: scale 1; -7.5 -> -8, field 0 */
    assert_int_equal(quantize_one_row(QCORE_CT_INT4, a, 5, w, &s, NULL), 52137u);
    assert_true(s == 1.0f);
    const float c[5] = {1, 2, 3, 4, -127.5f}; /* scale 1; -127.5 -> -128, field 0 */
    assert_int_equal(quantize_one_row(QCORE_CT_INT8, c, 5, w, &s, NULL), 0x84838281u);
    assert_int_equal((int32_t)0x84838281u, -2071756159);
    assert_int_equal(ctr_le32(w + 4), 0u); /* the padding word: zero bits */
    /* the packer alone, on the integers of those tests */
    const int32_t q1[4] = {1, 2, 3, 4}, q2[8] = {-8, -7, -6, -5, -4, -3, -2, -1};
    qcore_ct_pack_row(q1, 4, 4, w);
    assert_int_equal(ctr_le32(w), 52137u);
    qcore_ct_pack_row(q2, 8, 4, w);
    assert_int_equal(ctr_le32(w), 1985229328u);
    qcore_ct_pack_row(q1, 4, 8, w);
    assert_int_equal(ctr_le32(w), 0x84838281u);
    /* 9 four-bit values: two words, the second padded with zero bits */
    const int32_t q3[9] = {7, 7, 7, 7, 7, 7, 7, 7, -1};
    qcore_ct_pack_row(q3, 9, 4, w);
    assert_int_equal(ctr_le32(w), 0xFFFFFFFFu);
    assert_int_equal(ctr_le32(w + 4), 7u);
}

/* Asymmetric int4 by hand: x = [-1, 0, 0.5, 2]: range [-1, 2], scale 3/15 =
 * 0.2, zero point -8 - round(-1/0.2) = -3; q = round(x/0.2) - 3 =
 * [-8, -3, -0.5 -> -0 (ties to even), 7]; fields +8 = [0, 5, 8, 15] ->
 * 0 | 5<<4 | 8<<8 | 15<<12 = 63568; stored zero point -3 + 8 = 5. */
static void asymmetric_hand_vector(void **st)
{
    (void)st;
    const float x[4] = {-1, 0, 0.5f, 2};
    uint8_t w[4], zero[4];
    float y[4], s;
    struct qcore_ct_params p = {QCORE_CT_INT4_ASYM, 1, 4, 4, QCORE_TYPE_F32};
    uint8_t sc[4];
    int32_t scratch[4];
    struct qcore_ct_out o = {w, sc, zero, y, scratch};
    qcore_ct_quantize_rows(&p, x, 1, &o);
    uint32_t u = ctr_le32(sc);
    memcpy(&s, &u, 4);
    assert_true(s == 0.2f);
    assert_int_equal(ctr_le32(w), 63568u);
    assert_int_equal(ctr_le32(zero), 5u);
    const float want[4] = {-1.0f, 0.0f, 0.6f, 2.0f};
    for (int i = 0; i < 4; i++)
        assert_float_equal(y[i], want[i], 1e-6);
}

/* E4M3FN: hand values, ties to even, saturation, and every code. */
static void fp8_e4m3_codes(void **st)
{
    (void)st;
    assert_int_equal(qcore_f32_to_e4m3(1.0f), 0x38);
    assert_int_equal(qcore_f32_to_e4m3(-2.0f), 0xC0);
    assert_int_equal(qcore_f32_to_e4m3(448.0f), 0x7E);
    assert_int_equal(qcore_f32_to_e4m3(1e9f), 0x7E);
    assert_int_equal(qcore_f32_to_e4m3(-INFINITY), 0xFE);
    assert_int_equal(qcore_f32_to_e4m3(NAN), 0x7F);
    assert_int_equal(qcore_f32_to_e4m3(0x1p-9f), 0x01);       /* smallest subnormal */
    assert_int_equal(qcore_f32_to_e4m3(0x1p-10f), 0x00);      /* tie -> even (0) */
    assert_int_equal(qcore_f32_to_e4m3(0x3p-10f), 0x02);      /* 1.5 steps -> 2 */
    assert_int_equal(qcore_f32_to_e4m3(7.5f * 0x1p-9f), 0x08); /* rounds up into the normals */
    assert_int_equal(qcore_f32_to_e4m3(1.0625f), 0x38);       /* 1 + 1/16: tie -> m = 0 */
    assert_int_equal(qcore_f32_to_e4m3(1.1875f), 0x3A);       /* 1 + 3/16: tie -> m = 2 */
    for (int b = 0; b < 256; b++) {
        float v = ctr_e4m3((uint8_t)b);
        if (isnan(v)) {
            assert_true(isnan(qcore_e4m3_to_f32((uint8_t)b)));
            continue;
        }
        assert_true(qcore_e4m3_to_f32((uint8_t)b) == v);
        assert_int_equal(qcore_f32_to_e4m3(v), b);
    }
}

/* A scale stored as F16/BF16 is never below the computed one. */
static void scales_never_round_down(void **st)
{
    (void)st;
    uint32_t seed = 12345;
    for (int i = 0; i < 20000; i++) {
        seed = seed * 1664525u + 1013904223u;
        float s = ldexpf(1.0f + (float)(seed >> 8) / 16777216.0f, (int)(seed % 40) - 30);
        uint8_t b[4];
        float v = qcore_ct_store_scale(QCORE_TYPE_F16, s, b);
        assert_true(v >= s || s > 65504.0f);
        assert_true(v == ctr_half((uint16_t)(b[0] | b[1] << 8)));
        v = qcore_ct_store_scale(QCORE_TYPE_BF16, s, b);
        assert_true(v >= s);
        assert_true(v == ctr_bf16((uint16_t)(b[0] | b[1] << 8)));
    }
}

/* NaN and Inf inputs: defined fields, no undefined behaviour (UBSan). */
static void nonfinite_inputs_are_defined(void **st)
{
    (void)st;
    float x[8] = {1, NAN, INFINITY, -INFINITY, 0.5f, -0.25f, 0, 2};
    uint8_t w[8], sc[4], z[4];
    int32_t scratch[8];
    float y[8];
    for (int s = QCORE_CT_INT8; s < QCORE_CT_SCHEME_COUNT; s++) {
        struct qcore_ct_params p = {(enum qcore_ct_scheme)s, 1, 8, 8, QCORE_TYPE_F32};
        struct qcore_ct_out o = {w, sc, z, y, scratch};
        qcore_ct_quantize_rows(&p, x, 1, &o);
    }
    x[2] = 3;
    x[3] = -3;
    struct qcore_ct_params p = {QCORE_CT_INT4, 1, 8, 8, QCORE_TYPE_F32};
    struct qcore_ct_out o = {w, sc, NULL, y, scratch};
    qcore_ct_quantize_rows(&p, x, 1, &o);
    assert_int_equal(ctr_field(&(struct ctr_tensor){.data = w, .shape = {1, 1}}, 0, 1, 4), 8);
}

/* ---- whole files ------------------------------------------------------ */

struct src_tensor {
    const char *name;
    int type;
    uint32_t n_dims;
    int64_t ne[4]; /* ggml order */
};

static uint32_t rng = 1;

static float gauss(void)
{
    float u = 0;
    for (int k = 0; k < 4; k++) {
        rng = rng * 1664525u + 1013904223u;
        u += (float)(rng >> 8) / 16777216.0f;
    }
    return (u - 2.0f) * 1.7f;
}

/* Write a safetensors file of the given tensors, gaussian values with a few
 * outliers, converted to each tensor's dtype. */
static void write_input(const char *path, const struct src_tensor *t, size_t n)
{
    struct qcore_st_out_tensor ot[16];
    struct qcore_st_layout lay;
    struct qcore_error err = {0};
    for (size_t i = 0; i < n; i++)
        ot[i] = (struct qcore_st_out_tensor){t[i].name, t[i].n_dims, t[i].ne, t[i].type};
    assert_int_equal(qcore_st_layout_build(NULL, ot, n, &lay, &err), 0);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(qcore_pwrite_full(fd, lay.header, lay.header_len, 0, NULL), 0);
    for (size_t i = 0; i < n; i++) {
        uint8_t *buf = malloc(lay.nbytes[i] + 1);
        size_t es = qcore_type_traits(t[i].type)->type_size;
        for (size_t k = 0; k < lay.nbytes[i] / es; k++) {
            float v = gauss() * 0.02f;
            if (k % 97 == 5)
                v *= 12.0f;
            if (t[i].type == QCORE_TYPE_F32)
                memcpy(buf + 4 * k, &v, 4);
            else if (t[i].type == QCORE_TYPE_F16 || t[i].type == QCORE_TYPE_BF16) {
                uint16_t h = t[i].type == QCORE_TYPE_F16 ? qcore_f32_to_f16(v) : qcore_f32_to_bf16(v);
                buf[2 * k] = (uint8_t)h;
                buf[2 * k + 1] = (uint8_t)(h >> 8);
            } else {
                buf[k * es] = (uint8_t)k;
                memset(buf + k * es + 1, 0, es - 1);
            }
        }
        assert_int_equal(qcore_pwrite_full(fd, buf, lay.nbytes[i], lay.offsets[i], NULL), 0);
        free(buf);
    }
    close(fd);
    qcore_st_layout_cleanup(&lay);
}

/* Plan + job + report; returns the report (caller decrefs). */
static json_t *quantize(const char *in, const char *out, const struct qcore_plan_opts *o,
                        size_t chunk)
{
    struct qcore_model *m = NULL;
    struct qcore_plan *p = NULL;
    struct qcore_job *job = NULL;
    struct qcore_error err = {0};
    assert_int_equal(qcore_model_open(in, &m, &err), 0);
    int rc = qcore_plan_build(m, o, &p, &err);
    if (rc)
        fprintf(stderr, "plan: %s\n", err.msg);
    assert_int_equal(rc, 0);
    int fd = open(out, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    struct qcore_job_opts jo = {.chunk_bytes = chunk, .metrics = true};
    assert_int_equal(qcore_job_create(p, fd, &jo, &job, &err), 0);
    assert_int_equal(qcore_exec_run(job, 3, NULL, NULL, &err), 0);
    json_t *rep = qcore_report_json(job, NULL, NULL);
    assert_non_null(rep);
    close(fd);
    qcore_job_destroy(job);
    qcore_plan_destroy(p);
    qcore_model_close(m);
    return rep;
}

struct expect {
    enum qcore_ct_scheme scheme;
    double sum_x2, sum_e2;    /* over the quantized tensors, from the decoded values */
    int n_quantized, n_kept;
};

/* Check an int-scheme tensor: layout, every element within scale/2, zero
 * points exact, padding zero. Accumulates the error sums. */
static void check_int_tensor(const struct ctr_file *out, const struct ctr_tensor *src,
                             struct expect *ex)
{
    char nm[300];
    const unsigned bits = qcore_ct_scheme_bits(ex->scheme), per = 32 / bits;
    const int off = 1 << (bits - 1), qmin = -off, qmax = off - 1;
    const bool sym = qcore_ct_scheme_symmetric(ex->scheme);
    snprintf(nm, sizeof nm, "%s_packed", src->name);
    const struct ctr_tensor *pk = ctr_find(out, nm);
    snprintf(nm, sizeof nm, "%s_scale", src->name);
    const struct ctr_tensor *sc = ctr_find(out, nm);
    snprintf(nm, sizeof nm, "%s_shape", src->name);
    const struct ctr_tensor *sh = ctr_find(out, nm);
    snprintf(nm, sizeof nm, "%s_zero_point", src->name);
    const struct ctr_tensor *zp = ctr_find(out, nm);
    assert_non_null(pk);
    assert_non_null(sc);
    assert_non_null(sh);
    assert_true(sym ? zp == NULL : zp != NULL);
    const int64_t rows = src->shape[0], cols = src->numel / rows;
    assert_string_equal(pk->dtype, "I32");
    assert_string_equal(sh->dtype, "I64");
    assert_string_equal(sc->dtype, src->dtype);
    assert_int_equal(sh->numel, 2);
    assert_int_equal(ctr_i64(sh, 0), rows);
    assert_int_equal(ctr_i64(sh, 1), cols);
    assert_int_equal(pk->shape[0], rows);
    assert_int_equal(pk->shape[1], (cols * bits + 31) / 32);
    assert_int_equal(sc->shape[0], rows);
    const int64_t G = sc->shape[1], g = cols / G;
    assert_int_equal(G * g, cols);
    if (zp) {
        assert_int_equal(zp->shape[0], (rows + per - 1) / per);
        assert_int_equal(zp->shape[1], G);
    }
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t j = 0; j < G; j++) {
            const float s = ctr_float(sc, r * G + j);
            assert_true(s > 0);
            int z = off;
            if (zp) {
                struct ctr_tensor zrow = *zp; /* the zero points: packed along dim 0 */
                uint32_t wz = ctr_le32(zrow.data + 4 * (size_t)((r / per) * G + j));
                z = (int)((wz >> ((r % per) * bits)) & ((1u << bits) - 1));
                float lo = 0;
                for (int64_t i = 0; i < g; i++)
                    lo = fminf(lo, ctr_float(src, r * cols + j * g + i));
                float zexp = (float)qmin - rintf(lo / s);
                zexp = fminf(fmaxf(zexp, (float)qmin), (float)qmax);
                assert_int_equal(z - off, (int)zexp);
            }
            for (int64_t i = 0; i < g; i++) {
                const int64_t e = j * g + i;
                const double x = ctr_float(src, r * cols + e);
                const double xh = (double)((int)ctr_field(pk, r, e, bits) - z) * (double)s;
                if (fabs(x - xh) > (double)s / 2 * BOUND_SLACK)
                    fail_msg("%s[%lld,%lld]: x=%.9g x^=%.9g scale %.9g", src->name,
                             (long long)r, (long long)e, x, xh, (double)s);
                ex->sum_x2 += x * x;
                ex->sum_e2 += (x - xh) * (x - xh);
            }
        }
        for (int64_t e = cols; e < pk->shape[1] * (int64_t)per; e++)
            assert_int_equal(ctr_field(pk, r, e, bits), 0);
    }
    for (int64_t r = rows; zp && r < zp->shape[0] * (int64_t)per; r++)
        for (int64_t j = 0; j < G; j++)
            assert_int_equal((ctr_le32(zp->data + 4 * (size_t)((r / per) * G + j)) >>
                              ((r % per) * bits)) & ((1u << bits) - 1), 0);
}

static void check_fp8_tensor(const struct ctr_file *out, const struct ctr_tensor *src,
                             struct expect *ex)
{
    char nm[300];
    const struct ctr_tensor *w = ctr_find(out, src->name);
    snprintf(nm, sizeof nm, "%s_scale", src->name);
    const struct ctr_tensor *sc = ctr_find(out, nm);
    assert_non_null(w);
    assert_non_null(sc);
    assert_string_equal(w->dtype, "F8_E4M3");
    assert_string_equal(sc->dtype, "F32");
    assert_int_equal(w->nd, src->nd);
    const int64_t rows = src->shape[0], cols = src->numel / rows;
    assert_int_equal(sc->numel, rows);
    for (int64_t r = 0; r < rows; r++) {
        const double s = ctr_float(sc, r);
        for (int64_t i = 0; i < cols; i++) {
            const double x = ctr_float(src, r * cols + i);
            const double xh = (double)ctr_e4m3(w->data[r * cols + i]) * s;
            const double half_ulp = fmax(fabs(x) / 16.0, s / 1024.0) * BOUND_SLACK;
            if (fabs(x - xh) > half_ulp)
                fail_msg("%s[%lld]: x=%.9g x^=%.9g", src->name, (long long)(r * cols + i), x, xh);
            ex->sum_x2 += x * x;
            ex->sum_e2 += (x - xh) * (x - xh);
        }
    }
}

/* Every source tensor is in the output: unchanged, or as its companions. */
static void check_file(const char *in, const char *out, struct expect *ex)
{
    struct ctr_file fi, fo;
    assert_int_equal(ctr_load(in, &fi), 0);
    assert_int_equal(ctr_load(out, &fo), 0);
    size_t outputs = 0;
    for (size_t i = 0; i < fi.n; i++) {
        const struct ctr_tensor *src = &fi.t[i], *same = ctr_find(&fo, src->name);
        char nm[300];
        snprintf(nm, sizeof nm, "%s_scale", src->name);
        if (!ctr_find(&fo, nm)) {
            assert_non_null(same);
            assert_string_equal(same->dtype, src->dtype);
            assert_int_equal(same->nbytes, src->nbytes);
            assert_memory_equal(same->data, src->data, src->nbytes);
            ex->n_kept++;
            outputs++;
            continue;
        }
        ex->n_quantized++;
        if (qcore_ct_scheme_is_fp8(ex->scheme)) {
            check_fp8_tensor(&fo, src, ex);
            outputs += 2;
        } else {
            assert_null(same);
            check_int_tensor(&fo, src, ex);
            outputs += qcore_ct_scheme_symmetric(ex->scheme) ? 3 : 4;
        }
    }
    assert_int_equal(fo.n, outputs); /* nothing else in the file */
    /* __metadata__: "format": "pt" and the config as a JSON string */
    assert_non_null(fo.meta);
    assert_string_equal(json_string_value(json_object_get(fo.meta, "format")), "pt");
    json_t *qc = json_loads(json_string_value(json_object_get(fo.meta, "quantization_config")), 0, NULL);
    assert_non_null(qc);
    assert_string_equal(json_string_value(json_object_get(qc, "quant_method")), "compressed-tensors");
    assert_string_equal(json_string_value(json_object_get(qc, "quantization_status")), "compressed");
    assert_string_equal(json_string_value(json_object_get(qc, "format")),
                        qcore_ct_scheme_is_fp8(ex->scheme) ? "float-quantized" : "pack-quantized");
    json_t *w0 = json_object_get(json_object_get(json_object_get(qc, "config_groups"), "group_0"), "weights");
    assert_int_equal(json_integer_value(json_object_get(w0, "num_bits")), qcore_ct_scheme_bits(ex->scheme));
    assert_int_equal(json_is_true(json_object_get(w0, "symmetric")), qcore_ct_scheme_symmetric(ex->scheme));
    json_decref(qc);
    ctr_free(&fi);
    ctr_free(&fo);
}

static const struct src_tensor synth[] = {
    {"model.embed_tokens.weight", QCORE_TYPE_F32, 2, {64, 10}},
    {"model.layers.0.mlp.up_proj.weight", QCORE_TYPE_F32, 2, {256, 13}},  /* 13 rows: zp padding */
    {"model.layers.0.self_attn.o_proj.weight", QCORE_TYPE_F32, 2, {96, 16}}, /* 96: g32 fallback */
    {"conv.weight", QCORE_TYPE_F32, 4, {3, 3, 3, 8}},                      /* 27: per channel */
    {"model.layers.0.mlp.up_proj.bias", QCORE_TYPE_F32, 1, {13}},
    {"counts", QCORE_TYPE_I64, 1, {4}},
    {"lm_head.weight", QCORE_TYPE_F32, 2, {256, 10}},
};

/* Every scheme x source dtype, small chunks (several per tensor, split rows)
 * and one big chunk giving identical bytes. */
static void synthetic_files_all_schemes(void **st)
{
    (void)st;
    const int dtypes[3] = {QCORE_TYPE_F32, QCORE_TYPE_F16, QCORE_TYPE_BF16};
    for (int d = 0; d < 3; d++) {
        struct src_tensor t[7];
        memcpy(t, synth, sizeof t);
        for (int i = 0; i < 7; i++)
            if (t[i].type == QCORE_TYPE_F32)
                t[i].type = dtypes[d];
        char in[256], a[256], b[256];
        tu_temp_path(in, sizeof in, ".safetensors");
        tu_temp_path(a, sizeof a, ".safetensors");
        tu_temp_path(b, sizeof b, ".safetensors");
        write_input(in, t, 7);
        for (int s = QCORE_CT_INT8; s < QCORE_CT_SCHEME_COUNT; s++) {
            struct qcore_plan_opts o;
            qcore_plan_opts_init(&o);
            o.out_format = QCORE_FORMAT_SAFETENSORS;
            o.ct_scheme = (enum qcore_ct_scheme)s;
            json_t *ra = quantize(in, a, &o, 4096);
            json_t *rb = quantize(in, b, &o, 0);
            size_t la, lb;
            uint8_t *fa = tu_read_file(a, &la), *fb = tu_read_file(b, &lb);
            assert_int_equal(la, lb);
            assert_memory_equal(fa, fb, la);
            free(fa);
            free(fb);
            struct expect ex = {.scheme = (enum qcore_ct_scheme)s};
            check_file(in, a, &ex);
            assert_int_equal(ex.n_quantized, 3);
            assert_int_equal(ex.n_kept, 4); /* embeddings, lm_head, bias, counts */
            /* the report's SQNR is the decoded one */
            double sq = 10.0 * log10(ex.sum_x2 / ex.sum_e2);
            json_t *to = json_object_get(ra, "totals");
            assert_float_equal(json_real_value(json_object_get(to, "sqnr_db")), sq, 1e-3);
            assert_int_equal(json_integer_value(json_object_get(to, "tensors_quantized")), 3);
            json_decref(ra);
            json_decref(rb);
        }
        unlink(in);
        unlink(a);
        unlink(b);
    }
}

static struct qcore_plan *plan_of(const struct qcore_model *m, const struct qcore_plan_opts *o,
                                  int want_rc)
{
    struct qcore_plan *p = NULL;
    struct qcore_error err = {0};
    int rc = qcore_plan_build(m, o, &p, &err);
    if (rc != want_rc)
        fprintf(stderr, "plan: %s\n", err.msg);
    assert_int_equal(rc, want_rc);
    return p;
}

static const struct qcore_plan_tensor *pt_of(const struct qcore_plan *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->t[i].name, name))
            return &p->t[i];
    fail_msg("no tensor %s", name);
    return NULL;
}

/* Group sizes, fallbacks, overrides, ignore, the config groups, and the
 * option errors. */
static void groups_overrides_and_config(void **st)
{
    (void)st;
    char in[256];
    tu_temp_path(in, sizeof in, ".safetensors");
    write_input(in, synth, 7);
    struct qcore_model *m = NULL;
    assert_int_equal(qcore_model_open(in, &m, NULL), 0);
    struct qcore_plan_opts o;
    qcore_plan_opts_init(&o);
    o.out_format = QCORE_FORMAT_SAFETENSORS;
    o.ct_scheme = QCORE_CT_INT4;
    struct qcore_plan *p = plan_of(m, &o, 0);
    assert_int_equal(pt_of(p, "model.layers.0.mlp.up_proj.weight")->ct->prm.group, 128);
    const struct qcore_plan_tensor *op = pt_of(p, "model.layers.0.self_attn.o_proj.weight");
    assert_int_equal(op->ct->prm.group, 32);
    assert_true(op->fallback);
    assert_non_null(strstr(op->note, "group size 32"));
    assert_int_equal(pt_of(p, "conv.weight")->ct->strategy_group, 0);
    assert_int_equal(p->n_fallbacks, 2);
    assert_int_equal(pt_of(p, "lm_head.weight")->op, QCORE_OP_COPY);
    json_t *qc = json_loads(p->quant_config, 0, NULL);
    json_t *groups = json_object_get(qc, "config_groups");
    assert_int_equal(json_object_size(groups), 3); /* g128; g32 (o_proj); channel (conv) */
    json_t *g0 = json_object_get(groups, "group_0");
    assert_string_equal(json_string_value(json_array_get(json_object_get(g0, "targets"), 0)), "Linear");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(g0, "weights"), "group_size")), 128);
    json_t *g1 = json_object_get(groups, "group_1");
    assert_string_equal(json_string_value(json_array_get(json_object_get(g1, "targets"), 0)),
                        "re:^model\\.layers\\.0\\.self_attn\\.o_proj$");
    /* the Linear-like weights left out are ignored by name */
    json_t *ig = json_object_get(qc, "ignore");
    assert_int_equal(json_array_size(ig), 2);
    assert_string_equal(json_string_value(json_array_get(ig, 0)), "model.embed_tokens");
    assert_string_equal(json_string_value(json_array_get(ig, 1)), "lm_head");
    json_decref(qc);
    qcore_plan_destroy(p);

    /* --group-size 64 and per channel; int8 with a group */
    o.group_size = 64;
    p = plan_of(m, &o, 0);
    assert_int_equal(pt_of(p, "model.layers.0.mlp.up_proj.weight")->ct->prm.group, 64);
    qcore_plan_destroy(p);
    o.group_size = QCORE_GROUP_CHANNEL;
    p = plan_of(m, &o, 0);
    assert_int_equal(pt_of(p, "model.layers.0.mlp.up_proj.weight")->ct->prm.group, 256);
    assert_int_equal(p->n_fallbacks, 0);
    qcore_plan_destroy(p);
    o.ct_scheme = QCORE_CT_INT8;
    o.group_size = 128;
    p = plan_of(m, &o, 0);
    assert_string_equal(pt_of(p, "model.layers.0.mlp.up_proj.weight")->ct->label, "int8-g128");
    qcore_plan_destroy(p);

    /* overrides: a scheme, a plain type; an explicit empty ignore list */
    struct qcore_override ov[3] = {{"o_proj", QCORE_OVERRIDE_CT(QCORE_CT_INT8_ASYM)},
                                   {"up_proj\\.weight", QCORE_TYPE_F16},
                                   {"up_proj", QCORE_OVERRIDE_CT(QCORE_CT_INT8)}};
    o.ct_scheme = QCORE_CT_INT4;
    o.group_size = QCORE_GROUP_DEFAULT;
    o.overrides = ov;
    o.n_overrides = 3;
    const char *none[1] = {NULL};
    o.ignore = none;
    o.n_ignore = 0;
    p = plan_of(m, &o, 0);
    assert_string_equal(pt_of(p, "model.layers.0.self_attn.o_proj.weight")->ct->label, "int8-asym-channel");
    assert_int_equal(pt_of(p, "model.layers.0.mlp.up_proj.weight")->op, QCORE_OP_QUANTIZE);
    assert_int_equal(pt_of(p, "model.layers.0.mlp.up_proj.weight")->dst_type, QCORE_TYPE_F16);
    assert_int_equal(pt_of(p, "lm_head.weight")->op, QCORE_OP_QUANTIZE_CT);
    /* a scheme override that catches a bias leaves it alone, and says so */
    assert_int_equal(pt_of(p, "model.layers.0.mlp.up_proj.bias")->op, QCORE_OP_COPY);
    assert_non_null(strstr(pt_of(p, "model.layers.0.mlp.up_proj.bias")->note, "does not apply"));
    qcore_plan_destroy(p);

    /* errors */
    struct qcore_override fp8ov = {"conv", QCORE_OVERRIDE_CT(QCORE_CT_FP8)};
    o.overrides = &fp8ov;
    o.n_overrides = 1;
    plan_of(m, &o, QCORE_EINVAL);                    /* fp8 and int in one file */
    o.n_overrides = 0;
    o.out_format = QCORE_FORMAT_GGUF;
    plan_of(m, &o, QCORE_EINVAL);                    /* int4 into GGUF */
    o.out_format = QCORE_FORMAT_SAFETENSORS;
    o.group_size = -5;
    plan_of(m, &o, QCORE_EINVAL);
    o.group_size = QCORE_GROUP_DEFAULT;
    const char *bad[1] = {"(unclosed"};
    o.ignore = bad;
    o.n_ignore = 1;
    plan_of(m, &o, QCORE_EINVAL);
    qcore_plan_opts_init(&o);
    o.overrides = &fp8ov;
    o.n_overrides = 1;
    plan_of(m, &o, QCORE_EINVAL);                    /* a scheme override in a GGUF plan */
    qcore_model_close(m);
    unlink(in);
}

/* ---- real networks ---------------------------------------------------- */

static double net_sqnr(const char *net, enum qcore_ct_scheme s)
{
    char in[256], out[256];
    snprintf(in, sizeof in, NETS "/%s.safetensors", net);
    tu_temp_path(out, sizeof out, ".safetensors");
    struct qcore_plan_opts o;
    qcore_plan_opts_init(&o);
    o.out_format = QCORE_FORMAT_SAFETENSORS;
    o.ct_scheme = s;
    json_t *rep = quantize(in, out, &o, 0);
    struct expect ex = {.scheme = s};
    check_file(in, out, &ex);
    json_t *to = json_object_get(rep, "totals");
    double sq = 10.0 * log10(ex.sum_x2 / ex.sum_e2);
    assert_float_equal(json_real_value(json_object_get(to, "sqnr_db")), sq, 1e-3);
    assert_int_equal(json_integer_value(json_object_get(to, "tensors")), ex.n_quantized + ex.n_kept);
    /* every weight of 2+ dims but the embedding is quantized */
    assert_int_equal(ex.n_quantized, !strcmp(net, "cnn") ? 6 : 5);
    printf("  %-4s %-9s SQNR %6.2f dB, %d quantized, %d kept\n", net, qcore_ct_scheme_name(s), sq,
           ex.n_quantized, ex.n_kept);
    json_decref(rep);
    unlink(out);
    return sq;
}

static void real_networks(void **st)
{
    (void)st;
    const char *nets[2] = {"cnn", "lstm"};
    for (int i = 0; i < 2; i++) {
        double s8 = net_sqnr(nets[i], QCORE_CT_INT8), s4 = net_sqnr(nets[i], QCORE_CT_INT4);
        double a8 = net_sqnr(nets[i], QCORE_CT_INT8_ASYM), a4 = net_sqnr(nets[i], QCORE_CT_INT4_ASYM);
        double f8 = net_sqnr(nets[i], QCORE_CT_FP8);
        /* ~6 dB per bit: 4 more bits is ~24 dB; per-channel INT8 well above INT4 */
        assert_true(s8 > s4 + 18.0);
        assert_true(a8 > a4 + 18.0);
        assert_true(s4 > 15.0 && s8 > 38.0);
        assert_true(f8 > 28.0 && f8 < s8);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(packing_matches_compressed_tensors),
        cmocka_unit_test(asymmetric_hand_vector),
        cmocka_unit_test(fp8_e4m3_codes),
        cmocka_unit_test(scales_never_round_down),
        cmocka_unit_test(nonfinite_inputs_are_defined),
        cmocka_unit_test(synthetic_files_all_schemes),
        cmocka_unit_test(groups_overrides_and_config),
        cmocka_unit_test(real_networks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

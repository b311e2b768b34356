/* tests/unit/test_kernels.c — the reference kernels against llama.cpp's
 * golden files, plus the conversions, the error sums and non-finite input.
 *
 * Golden check (tests/data/golden/manifest.json): for every case and every
 * type, CASE.f32 quantized row by row must equal CASE.TYPE.q byte for byte,
 * and dequantizing CASE.TYPE.q must hash (SHA-256 of the floats) to the
 * manifest's deq_sha256. The table qcore_kernels_get() picks is checked the
 * same way when it is not the reference.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <stdbool.h>
#include <jansson.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kernels/kernels.h"
#include "core/types.h"

#define GOLDEN QD_TEST_DATA "/golden"

/* The 13 quantized/converted types the golden files cover. */
static const int golden_types[] = {
    QCORE_TYPE_Q8_0, QCORE_TYPE_Q4_0, QCORE_TYPE_Q4_1, QCORE_TYPE_Q5_0, QCORE_TYPE_Q5_1,
    QCORE_TYPE_Q2_K, QCORE_TYPE_Q3_K, QCORE_TYPE_Q4_K, QCORE_TYPE_Q5_K, QCORE_TYPE_Q6_K,
    QCORE_TYPE_IQ4_NL, QCORE_TYPE_F16, QCORE_TYPE_BF16,
};
enum { N_GOLDEN_TYPES = sizeof golden_types / sizeof golden_types[0] };

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 1u << 16;
            uint8_t *nb = realloc(buf, ncap);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static void sha256_hex(const void *d, size_t n, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    assert_int_equal(EVP_Digest(d, n, md, &len, EVP_sha256(), NULL), 1);
    assert_int_equal(len, 32);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static json_t *load_manifest(void)
{
    json_error_t jerr;
    json_t *m = json_load_file(GOLDEN "/manifest.json", 0, &jerr);
    if (m == NULL)
        fail_msg("manifest.json: %s (line %d)", jerr.text, jerr.line);
    assert_true(json_is_array(json_object_get(m, "cases")));
    return m;
}

/* The tables under test: the reference, and the dispatched one if different. */
static size_t tables_under_test(const struct qcore_kernels *out[2])
{
    out[0] = qcore_kernels_ref();
    out[1] = qcore_kernels_get();
    return out[1] == out[0] ? 1 : 2;
}

/* One case x type: returns the number of failures (0 or 1), printed. */
static int check_golden_type(const struct qcore_kernels *k, const char *cname, json_t *entry,
                             int type, const float *src, size_t rows, size_t cols)
{
    const char *qname = json_string_value(json_object_get(entry, "q"));
    const char *deq_sha = json_string_value(json_object_get(entry, "deq_sha256"));
    const char *tname = qcore_type_traits(type)->name;
    assert_non_null(qname);
    assert_non_null(deq_sha);
    assert_int_equal(json_integer_value(json_object_get(entry, "ggml_type_id")), type);

    uint64_t row_bytes;
    assert_true(qcore_type_nbytes(type, cols, &row_bytes));
    char path[512];
    snprintf(path, sizeof path, GOLDEN "/%s", qname);
    size_t want_len = 0;
    uint8_t *want = read_file(path, &want_len);
    assert_non_null(want);
    assert_int_equal(want_len, rows * row_bytes);

    int failures = 0;
    /* Poisoned output: every byte must be written by the kernel. */
    uint8_t *got = malloc(want_len);
    assert_non_null(got);
    memset(got, 0xA5, want_len);
    for (size_t r = 0; r < rows; r++)
        k->quantize[type](src + r * cols, got + r * row_bytes, (int64_t)cols);
    for (size_t i = 0; i < want_len; i++) {
        if (got[i] != want[i]) {
            print_error("[%s] %s %s: quantized bytes differ first at offset %zu "
                        "(row %zu, got 0x%02x want 0x%02x)\n",
                        k->isa, cname, tname, i, (size_t)(i / row_bytes), got[i], want[i]);
            failures++;
            break;
        }
    }

    float *deq = malloc(rows * cols * sizeof(float));
    assert_non_null(deq);
    for (size_t r = 0; r < rows; r++)
        k->dequantize[type](want + r * row_bytes, deq + r * cols, (int64_t)cols);
    char hex[65];
    sha256_hex(deq, rows * cols * sizeof(float), hex);
    if (strcmp(hex, deq_sha) != 0) {
        print_error("[%s] %s %s: dequantized sha256 %s, want %s\n", k->isa, cname, tname, hex,
                    deq_sha);
        failures++;
    }
    free(deq);
    free(got);
    free(want);
    return failures;
}

static void golden_bit_exact(void **state)
{
    (void)state;
    json_t *m = load_manifest();
    json_t *cases = json_object_get(m, "cases");
    const struct qcore_kernels *tables[2];
    size_t ntables = tables_under_test(tables);
    int failures = 0, checked = 0;

    for (size_t c = 0; c < json_array_size(cases); c++) {
        json_t *cs = json_array_get(cases, c);
        const char *cname = json_string_value(json_object_get(cs, "case"));
        size_t rows = (size_t)json_integer_value(json_object_get(cs, "rows"));
        size_t cols = (size_t)json_integer_value(json_object_get(cs, "cols"));
        json_t *input = json_object_get(cs, "input");
        json_t *files = json_object_get(cs, "files");
        assert_non_null(cname);
        assert_true(rows > 0 && cols > 0);

        char path[512];
        snprintf(path, sizeof path, GOLDEN "/%s",
                 json_string_value(json_object_get(input, "name")));
        size_t len = 0;
        uint8_t *raw = read_file(path, &len);
        assert_non_null(raw);
        assert_int_equal(len, rows * cols * sizeof(float));
        char hex[65];
        sha256_hex(raw, len, hex);
        assert_string_equal(hex, json_string_value(json_object_get(input, "sha256")));
        /* The files are little-endian, as is every host we build for. */
        float *src = malloc(len);
        assert_non_null(src);
        memcpy(src, raw, len);

        /* Every type must be present in every case. */
        assert_int_equal(json_object_size(files), N_GOLDEN_TYPES);
        for (size_t t = 0; t < N_GOLDEN_TYPES; t++) {
            char key[16];
            const char *tn = qcore_type_traits(golden_types[t])->name;
            size_t i = 0;
            for (; tn[i] && i + 1 < sizeof key; i++)
                key[i] = (char)(tn[i] >= 'A' && tn[i] <= 'Z' ? tn[i] - 'A' + 'a' : tn[i]);
            key[i] = '\0';
            json_t *entry = json_object_get(files, key);
            if (entry == NULL)
                fail_msg("%s: no entry for %s in the manifest", cname, key);
            for (size_t k = 0; k < ntables; k++) {
                failures += check_golden_type(tables[k], cname, entry, golden_types[t], src,
                                              rows, cols);
                checked++;
            }
        }
        free(src);
        free(raw);
    }
    print_message("golden: %d case x type checks, %d failures\n", checked, failures);
    assert_int_equal(json_array_size(cases), 15);
    assert_int_equal(checked, (int)(15 * N_GOLDEN_TYPES * ntables));
    assert_int_equal(failures, 0);
    json_decref(m);
}

/* ---- Conversions ---------------------------------------------------------- */

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static void f16_edge_cases(void **state)
{
    (void)state;
    assert_int_equal(qcore_f32_to_f16(0.0f), 0x0000);
    assert_int_equal(qcore_f32_to_f16(-0.0f), 0x8000);
    assert_int_equal(qcore_f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(qcore_f32_to_f16(-2.0f), 0xc000);
    /* Largest finite half and the overflow threshold (the tie at 65520). */
    assert_int_equal(qcore_f32_to_f16(65504.0f), 0x7bff);
    assert_int_equal(qcore_f32_to_f16(65519.996f), 0x7bff);
    assert_int_equal(qcore_f32_to_f16(65520.0f), 0x7c00);
    assert_int_equal(qcore_f32_to_f16(-65520.0f), 0xfc00);
    assert_int_equal(qcore_f32_to_f16(1e10f), 0x7c00);
    assert_int_equal(qcore_f32_to_f16(INFINITY), 0x7c00);
    assert_int_equal(qcore_f32_to_f16(-INFINITY), 0xfc00);
    /* NaN: 0x7E00 with the input's sign, whatever the payload. */
    assert_int_equal(qcore_f32_to_f16(from_bits(0x7fc00000u)), 0x7e00);
    assert_int_equal(qcore_f32_to_f16(from_bits(0xffc00000u)), 0xfe00);
    assert_int_equal(qcore_f32_to_f16(from_bits(0x7f800001u)), 0x7e00);
    assert_int_equal(qcore_f32_to_f16(from_bits(0xff812345u)), 0xfe00);
    /* Subnormals: 2^-24 is the smallest; 2^-25 is a tie that goes to even 0;
     * 1.5·2^-24 a tie that goes to even 2·2^-24. */
    assert_int_equal(qcore_f32_to_f16(ldexpf(1.0f, -24)), 0x0001);
    assert_int_equal(qcore_f32_to_f16(ldexpf(1.0f, -25)), 0x0000);
    assert_int_equal(qcore_f32_to_f16(ldexpf(1.0f, -25) * 1.0001f), 0x0001);
    assert_int_equal(qcore_f32_to_f16(-ldexpf(1.0f, -25)), 0x8000);
    assert_int_equal(qcore_f32_to_f16(ldexpf(3.0f, -25)), 0x0002);
    assert_int_equal(qcore_f32_to_f16(ldexpf(5.0f, -25)), 0x0002);
    assert_int_equal(qcore_f32_to_f16(ldexpf(1023.0f, -24)), 0x03ff);
    assert_int_equal(qcore_f32_to_f16(ldexpf(1023.5f, -24)), 0x0400); /* carries to normal */
    assert_int_equal(qcore_f32_to_f16(ldexpf(1.0f, -14)), 0x0400);
    assert_int_equal(qcore_f32_to_f16(FLT_MIN), 0x0000);
    assert_int_equal(qcore_f32_to_f16(from_bits(1)), 0x0000);
    /* Normal ties: 1 + 2^-11 is halfway between 1 and 1 + 2^-10 -> even (1). */
    assert_int_equal(qcore_f32_to_f16(1.0f + ldexpf(1.0f, -11)), 0x3c00);
    assert_int_equal(qcore_f32_to_f16(1.0f + 3.0f * ldexpf(1.0f, -11)), 0x3c02);

    assert_true(qcore_f16_to_f32(0x0001) == ldexpf(1.0f, -24));
    assert_true(qcore_f16_to_f32(0x8001) == -ldexpf(1.0f, -24));
    assert_true(qcore_f16_to_f32(0x03ff) == ldexpf(1023.0f, -24));
    assert_true(qcore_f16_to_f32(0x7bff) == 65504.0f);
    assert_true(isinf(qcore_f16_to_f32(0xfc00)) && qcore_f16_to_f32(0xfc00) < 0);
    assert_true(isnan(qcore_f16_to_f32(0x7e00)));
    assert_int_equal(to_bits(qcore_f16_to_f32(0x8000)), 0x80000000u);

    /* Exhaustive: every non-NaN half widens exactly and narrows back. */
    for (uint32_t h = 0; h <= 0xffff; h++) {
        float f = qcore_f16_to_f32((uint16_t)h);
        if ((h & 0x7c00) == 0x7c00 && (h & 0x03ff))
            assert_true(isnan(f));
        else
            assert_int_equal(qcore_f32_to_f16(f), h);
    }
}

static void bf16_rounding_and_nan(void **state)
{
    (void)state;
    assert_int_equal(qcore_f32_to_bf16(1.0f), 0x3f80);
    /* Round to nearest even on the 16 dropped bits. */
    assert_int_equal(qcore_f32_to_bf16(from_bits(0x3f807fffu)), 0x3f80);
    assert_int_equal(qcore_f32_to_bf16(from_bits(0x3f808000u)), 0x3f80); /* tie, even */
    assert_int_equal(qcore_f32_to_bf16(from_bits(0x3f818000u)), 0x3f82); /* tie, odd up */
    assert_int_equal(qcore_f32_to_bf16(from_bits(0x3f808001u)), 0x3f81);
    assert_int_equal(qcore_f32_to_bf16(from_bits(0xbf818000u)), 0xbf82);
    /* Overflow rounds to inf by itself; inf stays inf. */
    assert_int_equal(qcore_f32_to_bf16(FLT_MAX), 0x7f80);
    assert_int_equal(qcore_f32_to_bf16(-FLT_MAX), 0xff80);
    assert_int_equal(qcore_f32_to_bf16(INFINITY), 0x7f80);
    /* Subnormals are not flushed. */
    assert_int_equal(qcore_f32_to_bf16(from_bits(0x00010000u)), 0x0001);
    assert_int_equal(qcore_f32_to_bf16(from_bits(0x00008000u)), 0x0000);
    assert_int_equal(qcore_f32_to_bf16(from_bits(0x00018000u)), 0x0002);
    /* NaN is quieted (bit 6 set), sign and top payload kept; never inf. */
    assert_int_equal(qcore_f32_to_bf16(from_bits(0x7f800001u)), 0x7fc0);
    assert_int_equal(qcore_f32_to_bf16(from_bits(0xff800001u)), 0xffc0);
    assert_int_equal(qcore_f32_to_bf16(from_bits(0x7fc00000u)), 0x7fc0);
    assert_int_equal(qcore_f32_to_bf16(from_bits(0x7fa50000u)), 0x7fe5);
    assert_int_equal(qcore_f32_to_bf16(from_bits(0x7fffffffu)), 0x7fff);

    assert_int_equal(to_bits(qcore_bf16_to_f32(0x3f82)), 0x3f820000u);
    assert_int_equal(to_bits(qcore_bf16_to_f32(0x8001)), 0x80010000u);
}

static void row_conversions(void **state)
{
    (void)state;
    const struct qcore_kernels *k = qcore_kernels_ref();
    const uint16_t h[4] = {0x3c00, 0xc000, 0x0001, 0x7bff};
    const uint16_t b[4] = {0x3f80, 0xc000, 0x0001, 0x7f80};
    const float f[4] = {1.5f, -2.25f, 0.0f, 1e-3f};
    float out[5];

    qcore_to_f32(k, QCORE_TYPE_F16, h, out, 4);
    assert_true(out[0] == 1.0f && out[1] == -2.0f && out[2] == ldexpf(1.0f, -24) &&
                out[3] == 65504.0f);
    qcore_to_f32(k, QCORE_TYPE_BF16, b, out, 4);
    assert_true(out[0] == 1.0f && out[1] == -2.0f && isinf(out[3]));
    assert_int_equal(to_bits(out[2]), 0x00010000u);
    qcore_to_f32(k, QCORE_TYPE_F32, f, out, 4);
    assert_memory_equal(out, f, sizeof f);

    /* A misaligned F16 source (odd address) reads the same values. */
    uint8_t bytes[9] = {0, 0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0xff, 0x7b};
    qcore_to_f32(k, QCORE_TYPE_F16, bytes + 1, out, 4);
    assert_true(out[0] == 1.0f && out[1] == -2.0f && out[3] == 65504.0f);

    /* F32 "quantization" is a copy; F16/BF16 rows round per element. */
    uint8_t q[16];
    k->quantize[QCORE_TYPE_F32](f, q, 4);
    assert_memory_equal(q, f, sizeof f);
    k->quantize[QCORE_TYPE_F16](f, q, 4);
    assert_int_equal(q[0] | q[1] << 8, qcore_f32_to_f16(1.5f));
    assert_int_equal(q[6] | q[7] << 8, qcore_f32_to_f16(1e-3f));
    k->quantize[QCORE_TYPE_BF16](f, q, 4);
    assert_int_equal(q[2] | q[3] << 8, qcore_f32_to_bf16(-2.25f));
}

/* Rules the golden data do not pin down by themselves. */
static void legacy_tie_rules(void **state)
{
    (void)state;
    const struct qcore_kernels *k = qcore_kernels_ref();
    float x[32] = {0};
    uint8_t q[34];

    /* Q4_0/Q5_0: of two extremes with equal |x| the first wins, sign kept:
     * mx = -1 gives d = -1/-8 = +0.125 (half 0x3000), and -1 -> code 0. */
    x[3] = -1.0f;
    x[20] = 1.0f;
    k->quantize[QCORE_TYPE_Q4_0](x, q, 32);
    assert_int_equal(q[0] | q[1] << 8, 0x3000);
    assert_int_equal(q[2 + 3] & 0xF, 0);
    assert_int_equal(q[2 + 4] >> 4, 15); /* +1 -> +8 clamps to code 15 */
    k->quantize[QCORE_TYPE_Q5_0](x, q, 32);
    assert_int_equal(q[0] | q[1] << 8, qcore_f32_to_f16(1.0f / 16.0f));
    x[3] = 1.0f;
    x[20] = -1.0f;
    k->quantize[QCORE_TYPE_Q4_0](x, q, 32);
    assert_int_equal(q[0] | q[1] << 8, 0xb000);

    /* Q8_0: the extreme maps to ±127, never -128. */
    x[3] = -3.0f;
    k->quantize[QCORE_TYPE_Q8_0](x, q, 32);
    assert_int_equal(q[2 + 3], 0x81);
    assert_int_equal((int8_t)q[2 + 20], -42); /* -1·127/3 = -42.33 */
}

/* ---- Error sums ----------------------------------------------------------- */

static void err_sums_hand_computed(void **state)
{
    (void)state;
    const struct qcore_kernels *k = qcore_kernels_ref();
    const float x[6] = {1.0f, 2.0f, -3.0f, 4.0f, NAN, 0.5f};
    const float y[6] = {1.5f, 2.0f, -2.0f, INFINITY, 0.0f, -0.25f};
    struct qcore_err_sums acc = {0};

    /* Finite pairs: (1, 1.5), (2, 2), (-3, -2), (0.5, -0.25). */
    k->err_sums(x, y, 6, &acc);
    assert_int_equal(acc.n, 4);
    assert_int_equal(acc.nonfinite, 2);
    assert_true(acc.sum_x2 == 1.0 + 4.0 + 9.0 + 0.25);
    assert_true(acc.sum_y2 == 2.25 + 4.0 + 4.0 + 0.0625);
    assert_true(acc.sum_xy == 1.5 + 4.0 + 6.0 - 0.125);
    assert_true(acc.sum_e2 == 0.25 + 0.0 + 1.0 + 0.5625);
    assert_true(acc.max_abs == 1.0);

    /* It accumulates: a second call adds to the first. */
    k->err_sums(x, y, 2, &acc);
    assert_int_equal(acc.n, 6);
    assert_true(acc.sum_e2 == 1.8125 + 0.25);

    /* The dispatched table agrees (sums may differ only within tolerance). */
    struct qcore_err_sums g = {0};
    qcore_kernels_get()->err_sums(x, y, 6, &g);
    assert_int_equal(g.n, 4);
    assert_int_equal(g.nonfinite, 2);
    assert_true(fabs(g.sum_e2 - 1.8125) < 1e-12);
}

/* ---- Non-finite input ----------------------------------------------------- */

enum { NF_N = 512 }; /* two super-blocks, sixteen legacy blocks */

static void fill_nonfinite(float *x, int pattern)
{
    for (int i = 0; i < NF_N; i++)
        x[i] = sinf((float)i * 0.37f) * (float)(1 + i % 7);
    switch (pattern) {
    case 0: /* all NaN */
        for (int i = 0; i < NF_N; i++)
            x[i] = NAN;
        break;
    case 1: /* scattered NaN, first element of blocks included */
        for (int i = 0; i < NF_N; i += 29)
            x[i] = NAN;
        x[256] = -NAN;
        break;
    case 2: /* +Inf and -Inf */
        for (int i = 3; i < NF_N; i += 41)
            x[i] = (i & 1) ? INFINITY : -INFINITY;
        break;
    case 3: /* all +Inf, then all -Inf */
        for (int i = 0; i < NF_N; i++)
            x[i] = i < NF_N / 2 ? INFINITY : -INFINITY;
        break;
    case 4: /* NaN and Inf in the same blocks */
        for (int i = 0; i < NF_N; i += 5)
            x[i] = (i % 10) ? NAN : INFINITY;
        break;
    case 5: /* ±FLT_MAX: max - min overflows to inf */
        for (int i = 0; i < NF_N; i++)
            x[i] = (i & 1) ? FLT_MAX : -FLT_MAX;
        break;
    default: /* float subnormals and the smallest normals */
        for (int i = 0; i < NF_N; i++)
            x[i] = from_bits((uint32_t)(i * 2654435761u) & 0x007fffffu) * ((i & 2) ? -1.0f : 1.0f);
        x[7] = FLT_MIN;
        break;
    }
}

static void nonfinite_input_is_deterministic(void **state)
{
    (void)state;
    const struct qcore_kernels *tables[2];
    size_t ntables = tables_under_test(tables);
    float x[NF_N], deq[NF_N];
    const int types[] = {
        QCORE_TYPE_Q8_0, QCORE_TYPE_Q4_0, QCORE_TYPE_Q4_1, QCORE_TYPE_Q5_0, QCORE_TYPE_Q5_1,
        QCORE_TYPE_Q2_K, QCORE_TYPE_Q3_K, QCORE_TYPE_Q4_K, QCORE_TYPE_Q5_K, QCORE_TYPE_Q6_K,
        QCORE_TYPE_IQ4_NL, QCORE_TYPE_F16, QCORE_TYPE_BF16, QCORE_TYPE_F32,
    };
    enum { MAX_BYTES = NF_N * 4 };
    uint8_t a[MAX_BYTES], b[MAX_BYTES], first[MAX_BYTES];

    for (int pattern = 0; pattern < 7; pattern++) {
        fill_nonfinite(x, pattern);
        for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
            uint64_t nbytes;
            assert_true(qcore_type_nbytes(types[t], NF_N, &nbytes));
            for (size_t k = 0; k < ntables; k++) {
                /* Different poison each run: unwritten bytes would show. */
                memset(a, 0x00, sizeof a);
                memset(b, 0xFF, sizeof b);
                tables[k]->quantize[types[t]](x, a, NF_N);
                tables[k]->quantize[types[t]](x, b, NF_N);
                if (memcmp(a, b, nbytes) != 0)
                    fail_msg("%s pattern %d: two runs differ", qcore_type_traits(types[t])->name,
                             pattern);
                /* Every table gives the same bytes. */
                if (k == 0)
                    memcpy(first, a, nbytes);
                else
                    assert_memory_equal(first, a, nbytes);
                tables[k]->dequantize[types[t]](a, deq, NF_N);
            }
        }
    }
}

/* ---- Dispatch and the table ----------------------------------------------- */

static void dispatch_picks_once(void **state)
{
    (void)state;
    /* Runs first: an unknown QUANTD_ISA is warned about and means the best
     * table this CPU runs, as if it were unset. */
    setenv("QUANTD_ISA", "no-such-isa", 1);
    const struct qcore_kernels *k = qcore_kernels_get();
    assert_non_null(k);
    const struct qcore_kernels *best = NULL;
    static const char *const order[] = {"avx512", "avx2", "neon", "scalar"};
    for (size_t i = 0; best == NULL && i < sizeof order / sizeof order[0]; i++)
        best = qcore_kernels_by_isa(order[i]);
    assert_ptr_equal(k, best);
    assert_ptr_equal(qcore_kernels_by_isa("scalar"), qcore_kernels_ref());
    assert_null(qcore_kernels_by_isa("no-such-isa"));
    /* Chosen once: a later change of the variable does not matter. */
    setenv("QUANTD_ISA", "auto", 1);
    assert_ptr_equal(qcore_kernels_get(), k);
    unsetenv("QUANTD_ISA");
}

static void table_covers_the_quantizers(void **state)
{
    (void)state;
    const struct qcore_kernels *k = qcore_kernels_ref();
    assert_string_equal(k->isa, "scalar");
    assert_non_null(k->err_sums);
    assert_non_null(k->f16_to_f32);
    assert_non_null(k->bf16_to_f32);
    /* Exactly the types the type table marks as producible from F32. */
    for (int t = 0; t < QCORE_GGML_TYPE_COUNT; t++) {
        const struct qcore_type_traits *tr = qcore_type_traits(t);
        bool want = tr != NULL && tr->quantizer;
        assert_int_equal(k->quantize[t] != NULL, want);
        assert_int_equal(k->dequantize[t] != NULL, want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dispatch_picks_once),
        cmocka_unit_test(table_covers_the_quantizers),
        cmocka_unit_test(f16_edge_cases),
        cmocka_unit_test(bf16_rounding_and_nan),
        cmocka_unit_test(row_conversions),
        cmocka_unit_test(legacy_tie_rules),
        cmocka_unit_test(err_sums_hand_computed),
        cmocka_unit_test(nonfinite_input_is_deterministic),
        cmocka_unit_test(golden_bit_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* tests/unit/test_safetensors.c — the safetensors reader and header writer.
 *
 * Files are built in memory (8-byte length + JSON + data), written to an
 * unlinked temp file and opened through qcore_model_open_fd().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/formats/model.h"
#include "core/formats/safetensors.h"

/* ---- building and opening files ----------------------------------------- */

/* 8-byte length `hlen` (the JSON's own length when UINT64_MAX), the JSON
 * text, then `data_len` bytes of data. */
static uint8_t *st_bytes(const char *json, uint64_t hlen, size_t data_len, size_t *n)
{
    size_t jl = strlen(json);
    *n = 8 + jl + data_len;
    uint8_t *p = malloc(*n);
    assert_non_null(p);
    if (hlen == UINT64_MAX)
        hlen = jl;
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(hlen >> (8 * i));
    memcpy(p + 8, json, jl);
    for (size_t i = 0; i < data_len; i++)
        p[8 + jl + i] = (uint8_t)(i * 7 + 1);
    return p;
}

static int temp_fd(const void *p, size_t n, uint64_t size)
{
    char path[256];
    const char *dir = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/qd-test-st-XXXXXX", dir ? dir : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(qcore_pwrite_full(fd, p, n, 0, NULL), 0);
    if (size > n)
        assert_int_equal(ftruncate(fd, (off_t)size), 0);
    return fd;
}

static void expect_fail_bytes(const uint8_t *p, size_t n, uint64_t size, int code)
{
    static struct qcore_model sentinel;
    struct qcore_model *m = &sentinel;
    struct qcore_error err = {0};
    int rc = qcore_model_open_fd(temp_fd(p, n, size), &m, &err);
    if (rc != code)
        print_error("expected %d, got %d: %s\n", code, rc, err.msg);
    if (getenv("QD_TEST_VERBOSE"))
        print_message("%s\n", err.msg);
    assert_int_equal(rc, code);
    assert_null(m);
    assert_int_equal(err.code, code);
    assert_true(strlen(err.msg) > 0);
    assert_null(strchr(err.msg, '\n'));
}

/* The JSON as header, `data_len` data bytes; expect `code`. */
static void expect_fail(const char *json, size_t data_len, int code)
{
    size_t n;
    uint8_t *p = st_bytes(json, UINT64_MAX, data_len, &n);
    expect_fail_bytes(p, n, n, code);
    free(p);
}

static struct qcore_model *open_ok_bytes(const uint8_t *p, size_t n)
{
    struct qcore_model *m = NULL;
    struct qcore_error err = {0};
    int rc = qcore_model_open_fd(temp_fd(p, n, n), &m, &err);
    if (rc)
        print_error("open failed: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_non_null(m);
    assert_int_equal(m->format, QCORE_FORMAT_SAFETENSORS);
    return m;
}

static struct qcore_model *open_ok(const char *json, size_t data_len)
{
    size_t n;
    uint8_t *p = st_bytes(json, UINT64_MAX, data_len, &n);
    struct qcore_model *m = open_ok_bytes(p, n);
    free(p);
    return m;
}

/* Whether `needle` occurs in the first `n` bytes of `p` (not NUL-terminated). */
static bool contains(const uint8_t *p, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(p + i, needle, k) == 0)
            return true;
    return false;
}

#define ENTRY(dt, shape, b, e)                                                                     \
    "{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

/* ---- positive ------------------------------------------------------------- */

static void reads_in_file_order(void **state)
{
    (void)state;
    /* data order differs from header order, which is kept */
    struct qcore_model *m =
        open_ok("{\"z.weight\":" ENTRY("F32", "[2,3]", 8, 32) ",\"a.bias\":" ENTRY(
                    "F16", "[4]", 0, 8) ",\"__metadata__\":{\"format\":\"pt\"}}   ",
                32);
    assert_int_equal(m->n_tensors, 2);
    assert_int_equal(m->n_kv, 0);
    const struct qcore_tensor *t = &m->tensors[0];
    assert_string_equal(t->name, "z.weight");
    assert_int_equal(t->type, QCORE_TYPE_F32);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->ne[0], 3); /* ggml order: innermost first */
    assert_int_equal(t->ne[1], 2);
    assert_int_equal(t->ne[2], 1);
    assert_int_equal(t->numel, 6);
    assert_int_equal(t->nbytes, 24);
    assert_int_equal(t->offset, m->data_offset + 8);
    assert_int_equal(m->tensors[1].offset, m->data_offset);
    assert_string_equal(m->tensors[1].name, "a.bias");
    assert_int_equal(m->data_offset + 32, m->file_size);
    assert_string_equal(m->st_metadata, "{\"format\":\"pt\"}");
    assert_ptr_equal(qcore_model_tensor(m, "a.bias"), &m->tensors[1]);
    assert_null(qcore_model_kv(m, "format"));
    qcore_model_close(m);
}

static void empty_and_scalar_tensors(void **state)
{
    (void)state;
    struct qcore_model *m = open_ok("{}", 0);
    assert_int_equal(m->n_tensors, 0);
    assert_null(m->st_metadata);
    qcore_model_close(m);

    m = open_ok("{\"e\":" ENTRY("U8", "[0,5]", 8, 8) ",\"s\":" ENTRY(
                    "I64", "[]", 0, 8) ",\"f\":" ENTRY("BOOL", "[0]", 8, 8) "}",
                8);
    assert_int_equal(m->tensors[0].numel, 0);
    assert_int_equal(m->tensors[0].nbytes, 0);
    assert_int_equal(m->tensors[0].n_dims, 2);
    assert_int_equal(m->tensors[1].n_dims, 0);
    assert_int_equal(m->tensors[1].numel, 1);
    assert_int_equal(m->tensors[1].type, QCORE_TYPE_I64);
    assert_int_equal(m->tensors[2].type, QCORE_TYPE_BOOL);
    qcore_model_close(m);
}

/* ggml order -> safetensors shape and back, metadata, several dtypes. */
static void layout_round_trip(void **state)
{
    (void)state;
    static const int64_t ne_w[] = {3, 2}, ne_b[] = {4}, ne_e[] = {0}, ne_f8[] = {2, 2, 2};
    static const int64_t ne_u16[] = {3}, ne_8d[] = {1, 2, 1, 2, 1, 2, 1, 2};
    const struct qcore_st_out_tensor t[] = {
        {"model.w", 2, ne_w, QCORE_TYPE_F32},
        {"model.b", 1, ne_b, QCORE_TYPE_BF16},
        {"step", 0, NULL, QCORE_TYPE_I64},
        {"empty", 1, ne_e, QCORE_TYPE_U8},
        {"fp8", 3, ne_f8, QCORE_TYPE_F8_E4M3},
        {"mask", 1, ne_u16, QCORE_TYPE_BOOL},
        {"ids", 1, ne_u16, QCORE_TYPE_U16},
        {"deep", 8, ne_8d, QCORE_TYPE_F16},
        {"\xc3\xa9t\xc3\xa9", 1, ne_b, QCORE_TYPE_I8},
    };
    const size_t n_t = sizeof t / sizeof t[0];
    static const uint64_t want_bytes[] = {24, 8, 8, 0, 8, 3, 6, 32, 4};
    const char *meta = "{\"format\":\"pt\",\"note\":\"h\\u00e9llo\"}";
    struct qcore_st_layout l;
    struct qcore_error err = {0};
    int rc = qcore_st_layout_build(meta, t, n_t, &l, &err);
    if (rc)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(l.header_len % 8, 0);
    uint64_t sum = 0;
    for (size_t i = 0; i < n_t; i++) {
        assert_int_equal(l.nbytes[i], want_bytes[i]);
        assert_int_equal(l.offsets[i], l.header_len + sum); /* dense, in order */
        sum += want_bytes[i];
    }
    assert_int_equal(l.file_size, l.header_len + sum);
    assert_true(contains(l.header, l.header_len, "\"shape\":[2,3]"));

    /* write it with distinct bytes per tensor and read it back */
    uint8_t *file = malloc((size_t)l.file_size);
    assert_non_null(file);
    memcpy(file, l.header, l.header_len);
    for (size_t i = l.header_len; i < l.file_size; i++)
        file[i] = (uint8_t)(i * 13);
    struct qcore_model *m = open_ok_bytes(file, (size_t)l.file_size);
    assert_int_equal(m->n_tensors, n_t);
    assert_string_equal(m->st_metadata, "{\"format\":\"pt\",\"note\":\"h\xc3\xa9llo\"}");
    for (size_t i = 0; i < n_t; i++) {
        const struct qcore_tensor *mt = &m->tensors[i];
        assert_string_equal(mt->name, t[i].name);
        assert_int_equal(mt->n_dims, t[i].n_dims);
        assert_int_equal(mt->type, t[i].type);
        for (uint32_t d = 0; d < t[i].n_dims; d++)
            assert_int_equal(mt->ne[d], t[i].ne[d]);
        assert_int_equal(mt->offset, l.offsets[i]);
        assert_int_equal(mt->nbytes, l.nbytes[i]);
    }
    uint8_t got[24];
    assert_int_equal(qcore_pread_full(m->fd, got, 24, m->tensors[0].offset, NULL), 0);
    assert_memory_equal(got, file + l.offsets[0], 24);

    /* the opened model builds the very same header */
    struct qcore_st_out_tensor *t2 = calloc(m->n_tensors, sizeof *t2);
    assert_non_null(t2);
    for (size_t i = 0; i < m->n_tensors; i++)
        t2[i] = (struct qcore_st_out_tensor){m->tensors[i].name, m->tensors[i].n_dims,
                                             m->tensors[i].ne, m->tensors[i].type};
    struct qcore_st_layout l2;
    assert_int_equal(qcore_st_layout_build(m->st_metadata, t2, m->n_tensors, &l2, &err), 0);
    assert_int_equal(l2.header_len, l.header_len);
    assert_memory_equal(l2.header, l.header, l.header_len);
    qcore_st_layout_cleanup(&l2);
    free(t2);
    qcore_model_close(m);
    free(file);
    qcore_st_layout_cleanup(&l);
    qcore_st_layout_cleanup(&l); /* idempotent */

    /* no metadata at all */
    assert_int_equal(qcore_st_layout_build(NULL, t, 1, &l, &err), 0);
    assert_false(contains(l.header, l.header_len, "__metadata__"));
    qcore_st_layout_cleanup(&l);
}

static void layout_rejects_bad_tensors(void **state)
{
    (void)state;
    static const int64_t ne[] = {4}, ne9[] = {1, 1, 1, 1, 1, 1, 1, 1, 1}, neg[] = {-4};
    struct qcore_st_layout l;
    struct qcore_error err;
    const struct qcore_st_out_tensor dup[] = {{"a", 1, ne, QCORE_TYPE_F32},
                                              {"a", 1, ne, QCORE_TYPE_F32}};
    const struct qcore_st_out_tensor cases[] = {
        {"q", 1, ne, QCORE_TYPE_Q4_K},   {"__metadata__", 1, ne, QCORE_TYPE_F32},
        {"", 1, ne, QCORE_TYPE_F32},     {"nine", 9, ne9, QCORE_TYPE_F32},
        {"neg", 1, neg, QCORE_TYPE_F32}, {"bad\xff", 1, ne, QCORE_TYPE_F32},
    };
    static const int want[] = {QCORE_EUNSUPPORTED, QCORE_EINVAL, QCORE_EINVAL,
                               QCORE_ELIMIT,       QCORE_EINVAL, QCORE_EINVAL};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(qcore_st_layout_build(NULL, &cases[i], 1, &l, &err), want[i]);
        assert_true(strlen(err.msg) > 0);
        assert_null(l.header);
    }
    assert_int_equal(qcore_st_layout_build(NULL, dup, 2, &l, &err), QCORE_EINVAL);
    assert_int_equal(qcore_st_layout_build("[1]", dup, 1, &l, &err), QCORE_EINVAL);
    assert_int_equal(qcore_st_layout_build("{\"a\":1}", dup, 1, &l, &err), QCORE_EINVAL);
    assert_int_equal(qcore_st_layout_build("{\"a\":", dup, 1, &l, &err), QCORE_EINVAL);
}

/* ---- broken files --------------------------------------------------------- */

static void truncation_at_every_length(void **state)
{
    (void)state;
    size_t n;
    uint8_t *p =
        st_bytes("{\"a\":" ENTRY("F32", "[2]", 0, 8) ",\"b\":" ENTRY("I8", "[3]", 8, 11) "}",
                 UINT64_MAX, 11, &n);
    qcore_model_close(open_ok_bytes(p, n));
    for (size_t k = 0; k < n; k++)
        expect_fail_bytes(p, k, k, k < 9 ? QCORE_EFORMAT : QCORE_EMALFORMED);
    free(p);
}

static void header_too_large(void **state)
{
    (void)state;
    /* a (sparse) file that does hold a header just over the limit */
    uint64_t hlen = (uint64_t)QCORE_ST_MAX_HEADER + 1;
    size_t n;
    uint8_t *p = st_bytes("{", hlen, 0, &n);
    expect_fail_bytes(p, n, 8 + hlen, QCORE_ELIMIT);
    free(p);
}

static void header_longer_than_file(void **state)
{
    (void)state;
    size_t n;
    uint8_t *p = st_bytes("{}", 3, 0, &n);
    expect_fail_bytes(p, n, n, QCORE_EMALFORMED);
    free(p);
    p = st_bytes("{}", UINT64_MAX - 4, 0, &n);
    expect_fail_bytes(p, n, n, QCORE_EMALFORMED);
    free(p);
    p = st_bytes("{}", 1, 0, &n); /* too short for any object */
    expect_fail_bytes(p, n, n, QCORE_EMALFORMED);
    free(p);
}

static void invalid_json(void **state)
{
    (void)state;
    expect_fail("{\"a\":", 0, QCORE_EMALFORMED);
    expect_fail("{\"a\":1,}", 0, QCORE_EMALFORMED);
    expect_fail("{} x", 0, QCORE_EMALFORMED);
    expect_fail("{'a':1}", 0, QCORE_EMALFORMED);
    expect_fail("{\"a\":" ENTRY("F32", "[99999999999999999999]", 0, 4) "}", 4, QCORE_EMALFORMED);
    expect_fail("{\"a\\u0000b\":" ENTRY("F32", "[1]", 0, 4) "}", 4, QCORE_EMALFORMED);
    /* a header the JSON ends inside of: the length covers the data too */
    size_t n;
    uint8_t *p = st_bytes("{}", 6, 4, &n);
    expect_fail_bytes(p, n, n, QCORE_EMALFORMED);
    free(p);
}

static void invalid_utf8(void **state)
{
    (void)state;
    expect_fail("{\"a\xff\":" ENTRY("F32", "[1]", 0, 4) "}", 4, QCORE_EMALFORMED);
    expect_fail("{\"__metadata__\":{\"k\":\"\xc0\xaf\"}}", 0, QCORE_EMALFORMED);
    expect_fail("{\"__metadata__\":{\"k\":\"\xed\xa0\x80\"}}", 0, QCORE_EMALFORMED); /* surrogate */
}

static void not_an_object(void **state)
{
    (void)state;
    expect_fail("[1]", 0, QCORE_EFORMAT); /* not even detected */
    expect_fail("{\"a\":[1,2]}", 0, QCORE_EMALFORMED);
    expect_fail("{\"a\":\"F32\"}", 0, QCORE_EMALFORMED);
    expect_fail("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, QCORE_EMALFORMED);
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, QCORE_EMALFORMED);
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, QCORE_EMALFORMED);
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4,
                QCORE_EMALFORMED);
    expect_fail("{\"\":" ENTRY("F32", "[1]", 0, 4) "}", 4, QCORE_EMALFORMED);
}

static void duplicate_keys(void **state)
{
    (void)state;
    expect_fail("{\"a\":" ENTRY("F32", "[1]", 0, 4) ",\"a\":" ENTRY("F32", "[1]", 4, 8) "}", 8,
                QCORE_EMALFORMED);
    expect_fail(
        "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
        QCORE_EMALFORMED);
    expect_fail("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, QCORE_EMALFORMED);
}

static void unknown_dtype(void **state)
{
    (void)state;
    expect_fail("{\"a\":" ENTRY("Q4", "[1]", 0, 1) "}", 1, QCORE_EUNSUPPORTED);
    expect_fail("{\"a\":" ENTRY("f32", "[1]", 0, 4) "}", 4, QCORE_EUNSUPPORTED);
    expect_fail("{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, QCORE_EMALFORMED);
}

static void shape_size_mismatch(void **state)
{
    (void)state;
    expect_fail("{\"a\":" ENTRY("F32", "[2,3]", 0, 20) "}", 20, QCORE_EMALFORMED);
    expect_fail("{\"a\":" ENTRY("BF16", "[2,3]", 0, 24) "}", 24, QCORE_EMALFORMED);
    expect_fail("{\"a\":" ENTRY("F32", "[]", 0, 0) "}", 0, QCORE_EMALFORMED);
}

static void negative_dim(void **state)
{
    (void)state;
    expect_fail("{\"a\":" ENTRY("F32", "[-1,2]", 0, 8) "}", 8, QCORE_EMALFORMED);
    expect_fail("{\"a\":" ENTRY("F32", "[2.0]", 0, 8) "}", 8, QCORE_EMALFORMED);
    expect_fail("{\"a\":" ENTRY("F32", "[\"2\"]", 0, 8) "}", 8, QCORE_EMALFORMED);
    /* element count overflow; more dims than QCORE_MAX_DIMS */
    expect_fail("{\"a\":" ENTRY("F32", "[4294967296,4294967296]", 0, 8) "}", 8, QCORE_EMALFORMED);
    expect_fail("{\"a\":" ENTRY("F32", "[3037000500,3037000500]", 0, 8) "}", 8, QCORE_EMALFORMED);
    expect_fail("{\"a\":" ENTRY("F32", "[1,1,1,1,1,1,1,1,2]", 0, 8) "}", 8, QCORE_ELIMIT);
}

static void offsets_out_of_bounds(void **state)
{
    (void)state;
    expect_fail("{\"a\":" ENTRY("F32", "[2]", 0, 8) "}", 4, QCORE_EMALFORMED);
    expect_fail("{\"a\":" ENTRY("F32", "[2]", 9223372036854775800, 9223372036854775807) "}", 8,
                QCORE_EMALFORMED);
    expect_fail("{\"a\":" ENTRY("F32", "[0]", 8, 0) "}", 8, QCORE_EMALFORMED);
    expect_fail("{\"a\":" ENTRY("F32", "[2]", -8, 0) "}", 8, QCORE_EMALFORMED);
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]}}", 8,
                QCORE_EMALFORMED);
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8,
                QCORE_EMALFORMED);
}

static void gap(void **state)
{
    (void)state;
    expect_fail("{\"a\":" ENTRY("F32", "[2]", 0, 8) ",\"b\":" ENTRY("F32", "[2]", 16, 24) "}", 24,
                QCORE_EMALFORMED);
    /* the first tensor does not start at 0 */
    expect_fail("{\"a\":" ENTRY("F32", "[2]", 4, 12) "}", 12, QCORE_EMALFORMED);
}

static void overlap(void **state)
{
    (void)state;
    expect_fail("{\"a\":" ENTRY("F32", "[2]", 0, 8) ",\"b\":" ENTRY("F32", "[2]", 4, 12) "}", 12,
                QCORE_EMALFORMED);
    expect_fail("{\"a\":" ENTRY("F32", "[2]", 0, 8) ",\"b\":" ENTRY("F32", "[2]", 0, 8) "}", 8,
                QCORE_EMALFORMED);
}

static void trailing_bytes(void **state)
{
    (void)state;
    expect_fail("{\"a\":" ENTRY("F32", "[2]", 0, 8) "}", 12, QCORE_EMALFORMED);
    expect_fail("{}", 1, QCORE_EMALFORMED);
}

static void metadata_not_strings(void **state)
{
    (void)state;
    expect_fail("{\"__metadata__\":{\"k\":1}}", 0, QCORE_EMALFORMED);
    expect_fail("{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", 0, QCORE_EMALFORMED);
    expect_fail("{\"__metadata__\":{\"k\":null}}", 0, QCORE_EMALFORMED);
    expect_fail("{\"__metadata__\":[\"k\"]}", 0, QCORE_EMALFORMED);
    expect_fail("{\"__metadata__\":\"k\"}", 0, QCORE_EMALFORMED);
}

/* A header of many tiny JSON values is refused before jansson parses it
 * (it would cost ~100 bytes of memory per value). Commas inside strings
 * do not count. */
static void too_many_json_values(void **state)
{
    (void)state;
    size_t n = 2100000 * 2 + 64;
    char *json = malloc(n);
    assert_non_null(json);
    size_t k = (size_t)sprintf(json, "{\"__metadata__\":{\"k\":\"");
    for (int i = 0; i < 100; i++)
        json[k++] = ','; /* inside a string: not values */
    k += (size_t)sprintf(json + k, "\"},\"a\":{\"dtype\":\"F32\",\"shape\":[");
    for (int i = 0; i < 2000000; i++) {
        json[k++] = '1';
        json[k++] = ',';
    }
    k += (size_t)sprintf(json + k, "1],\"data_offsets\":[0,0]}}");
    expect_fail(json, 0, QCORE_ELIMIT);
    free(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_in_file_order),
        cmocka_unit_test(empty_and_scalar_tensors),
        cmocka_unit_test(layout_round_trip),
        cmocka_unit_test(layout_rejects_bad_tensors),
        cmocka_unit_test(truncation_at_every_length),
        cmocka_unit_test(header_too_large),
        cmocka_unit_test(header_longer_than_file),
        cmocka_unit_test(invalid_json),
        cmocka_unit_test(invalid_utf8),
        cmocka_unit_test(not_an_object),
        cmocka_unit_test(duplicate_keys),
        cmocka_unit_test(unknown_dtype),
        cmocka_unit_test(shape_size_mismatch),
        cmocka_unit_test(negative_dim),
        cmocka_unit_test(offsets_out_of_bounds),
        cmocka_unit_test(gap),
        cmocka_unit_test(overlap),
        cmocka_unit_test(trailing_bytes),
        cmocka_unit_test(metadata_not_strings),
        cmocka_unit_test(too_many_json_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

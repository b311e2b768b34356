/* tests/unit/test_gguf.c — the GGUF reader, the header writer, the KV helpers
 * and the I/O primitives they use.
 *
 * Broken files are built byte by byte in memory (struct tfile below), written
 * to an unlinked temp file and opened; each must fail with the right code and
 * a one-line message, and never crash (run under ASan+UBSan in CI).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/formats/gguf.h"
#include "core/formats/model.h"

#define TINY_LLAMA QD_TEST_DATA "/models/tiny-llama-f32.gguf"
#define AUTO UINT64_MAX

/* ---- byte buffer ---------------------------------------------------------- */

struct buf {
    uint8_t *p;
    size_t n, cap;
    size_t kv_off[16]; /* where each KV / tensor info starts */
    size_t ti_off[16];
};

static void b_bytes(struct buf *b, const void *s, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    if (n)
        memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void b_le(struct buf *b, uint64_t v, int n)
{
    uint8_t t[8];
    for (int i = 0; i < n; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    b_bytes(b, t, (size_t)n);
}

static void b_u32(struct buf *b, uint32_t v)
{
    b_le(b, v, 4);
}
static void b_u64(struct buf *b, uint64_t v)
{
    b_le(b, v, 8);
}

static void b_strn(struct buf *b, const char *s, size_t n)
{
    b_u64(b, n);
    b_bytes(b, s, n);
}

static void b_free(struct buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

static void patch_u64(struct buf *b, size_t at, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b->p[at + (size_t)i] = (uint8_t)(v >> (8 * i));
}

static void patch_u32(struct buf *b, size_t at, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b->p[at + (size_t)i] = (uint8_t)(v >> (8 * i));
}

/* ---- a GGUF file from a description ------------------------------------- */

struct tkv {
    const char *key;
    uint32_t vtype;
    const void *raw; /* value encoding after the type */
    size_t raw_len;
    size_t key_len; /* 0: strlen(key) */
};

struct tinfo {
    const char *name;
    uint32_t n_dims;
    int64_t ne[5];
    uint32_t type;
    uint64_t offset; /* AUTO: the dense layout */
    size_t name_len; /* 0: strlen(name) */
};

struct tfile {
    uint32_t version;
    const struct tkv *kv;
    size_t n_kv;
    const struct tinfo *t;
    size_t n_t;
    uint32_t alignment; /* what the header says, for the padding */
    int64_t data_delta; /* added to the dense data length */
};

static uint64_t align_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) / a * a;
}

static uint64_t tinfo_nbytes(const struct tinfo *t)
{
    /* only sizes the data section; absurd tensors get none */
    const struct qcore_type_traits *tr = qcore_type_traits((int)t->type);
    uint64_t n = 1;
    for (uint32_t d = 0; d < t->n_dims && d < 5; d++) {
        if (t->ne[d] < 0 || t->ne[d] > (1 << 20))
            return 0;
        n *= (uint64_t)t->ne[d];
    }
    if (!tr || n > (1 << 20))
        return 0;
    return n / tr->block_size * tr->type_size;
}

static void build(const struct tfile *f, struct buf *b)
{
    uint32_t align = f->alignment ? f->alignment : 32;
    memset(b, 0, sizeof *b);
    b_bytes(b, "GGUF", 4);
    b_u32(b, f->version ? f->version : 3);
    b_u64(b, f->n_t);
    b_u64(b, f->n_kv);
    for (size_t i = 0; i < f->n_kv; i++) {
        const struct tkv *kv = &f->kv[i];
        b->kv_off[i < 16 ? i : 15] = b->n;
        b_strn(b, kv->key, kv->key_len ? kv->key_len : strlen(kv->key));
        b_u32(b, kv->vtype);
        b_bytes(b, kv->raw, kv->raw_len);
    }
    uint64_t dense = 0;
    for (size_t i = 0; i < f->n_t; i++) {
        const struct tinfo *t = &f->t[i];
        b->ti_off[i < 16 ? i : 15] = b->n;
        b_strn(b, t->name, t->name_len ? t->name_len : strlen(t->name));
        b_u32(b, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims && d < 5; d++)
            b_u64(b, (uint64_t)t->ne[d]);
        b_u32(b, t->type);
        b_u64(b, t->offset == AUTO ? dense : t->offset);
        dense = align_up(dense + tinfo_nbytes(t), align);
    }
    size_t data_start = (size_t)align_up(b->n, align);
    size_t end = data_start + (size_t)((int64_t)dense + f->data_delta);
    if (end < b->n)
        b->n = end; /* a negative delta can cut into the header */
    while (b->n < end) {
        uint8_t z = (uint8_t)(b->n >= data_start ? 0x11 : 0);
        b_bytes(b, &z, 1);
    }
}

/* Raw encodings used by the tests. */
static const uint8_t RAW_U32_7[] = {7, 0, 0, 0};
static const uint8_t RAW_I8_M3[] = {0xFD};
static const uint8_t RAW_BOOL_1[] = {1};
static const uint8_t RAW_STR_LLAMA[] = {5, 0, 0, 0, 0, 0, 0, 0, 'l', 'l', 'a', 'm', 'a'};
static const uint8_t RAW_STRARR[] = {8, 0, 0, 0, 2, 0, 0, 0, 0,   0, 0, 0, /* STRING x 2 */
                                     1, 0, 0, 0, 0, 0, 0, 0, 'a', 2, 0, 0, 0, 0, 0, 0, 0, 'b', 'c'};
static const uint8_t RAW_F32ARR[] = {6, 0, 0, 0, 2, 0,    0, 0, 0,    0,
                                     0, 0, 0, 0, 0, 0x3f, 0, 0, 0x80, 0x3f};

static const struct tkv base_kv[] = {
    {"general.architecture", QCORE_GGUF_STRING, RAW_STR_LLAMA, sizeof RAW_STR_LLAMA, 0},
    {"test.u32", QCORE_GGUF_U32, RAW_U32_7, sizeof RAW_U32_7, 0},
    {"test.i8", QCORE_GGUF_I8, RAW_I8_M3, sizeof RAW_I8_M3, 0},
    {"test.bool", QCORE_GGUF_BOOL, RAW_BOOL_1, sizeof RAW_BOOL_1, 0},
    {"tokenizer.ggml.tokens", QCORE_GGUF_ARRAY, RAW_STRARR, sizeof RAW_STRARR, 0},
    {"tokenizer.ggml.scores", QCORE_GGUF_ARRAY, RAW_F32ARR, sizeof RAW_F32ARR, 0},
};
#define N_BASE_KV (sizeof base_kv / sizeof base_kv[0])

static const struct tinfo base_t[] = {
    {"a.weight", 2, {8, 2}, QCORE_TYPE_F32, AUTO, 0},   /* 64 bytes */
    {"b.weight", 2, {32, 2}, QCORE_TYPE_Q8_0, AUTO, 0}, /* 68 -> 96 */
    {"c.bias", 1, {3}, QCORE_TYPE_F16, AUTO, 0},        /* 6 -> 32 */
};
#define N_BASE_T (sizeof base_t / sizeof base_t[0])

static void build_base(struct buf *b)
{
    struct tfile f = {.kv = base_kv, .n_kv = N_BASE_KV, .t = base_t, .n_t = N_BASE_T};
    build(&f, b);
}

/* ---- opening bytes ---------------------------------------------------------- */

/* An unlinked temp file holding `n` bytes, extended (sparse) to `size`. */
static int temp_fd(const void *p, size_t n, uint64_t size)
{
    char path[256];
    const char *dir = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/qd-test-gguf-XXXXXX", dir ? dir : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(qcore_pwrite_full(fd, p, n, 0, NULL), 0);
    if (size > n)
        assert_int_equal(ftruncate(fd, (off_t)size), 0);
    return fd;
}

static int open_bytes_sized(const void *p, size_t n, uint64_t size, struct qcore_model **m,
                            struct qcore_error *err)
{
    memset(err, 0, sizeof *err);
    return qcore_model_open_fd(temp_fd(p, n, size), m, err);
}

static void expect_fail_sized(const void *p, size_t n, uint64_t size, int code)
{
    static struct qcore_model sentinel;
    struct qcore_model *m = &sentinel; /* must be reset to NULL */
    struct qcore_error err;
    int rc = open_bytes_sized(p, n, size, &m, &err);
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

static void expect_fail(const struct buf *b, int code)
{
    expect_fail_sized(b->p, b->n, b->n, code);
}

static struct qcore_model *open_ok(const struct buf *b)
{
    struct qcore_model *m = NULL;
    struct qcore_error err;
    int rc = open_bytes_sized(b->p, b->n, b->n, &m, &err);
    if (rc)
        print_error("open failed: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_non_null(m);
    return m;
}

/* A base file with one KV replaced (or appended when idx == N_BASE_KV). */
static void expect_kv_fail(const struct tkv *kv, size_t idx, int code)
{
    struct tkv kvs[N_BASE_KV + 1];
    memcpy(kvs, base_kv, sizeof base_kv);
    kvs[idx] = *kv;
    struct tfile f = {.kv = kvs,
                      .n_kv = idx == N_BASE_KV ? N_BASE_KV + 1 : N_BASE_KV,
                      .t = base_t,
                      .n_t = N_BASE_T};
    struct buf b;
    build(&f, &b);
    expect_fail(&b, code);
    b_free(&b);
}

/* A base file with one tensor info replaced. */
static void expect_tensor_fail(const struct tinfo *t, size_t idx, int code)
{
    struct tinfo ts[N_BASE_T];
    memcpy(ts, base_t, sizeof base_t);
    ts[idx] = *t;
    struct tfile f = {.kv = base_kv, .n_kv = N_BASE_KV, .t = ts, .n_t = N_BASE_T};
    struct buf b;
    build(&f, &b);
    expect_fail(&b, code);
    b_free(&b);
}

/* ---- positive ----------------------------------------------------------------- */

static void small_file_reads(void **state)
{
    (void)state;
    struct buf b;
    build_base(&b);
    struct qcore_model *m = open_ok(&b);
    assert_int_equal(m->format, QCORE_FORMAT_GGUF);
    assert_int_equal(m->version, 3);
    assert_int_equal(m->alignment, 32);
    assert_int_equal(m->n_kv, N_BASE_KV);
    assert_int_equal(m->n_tensors, N_BASE_T);
    assert_int_equal(m->data_offset % 32, 0);
    assert_int_equal(m->file_size, b.n);

    const char *s;
    size_t len;
    int64_t v;
    assert_int_equal(qcore_kv_get_str(qcore_model_kv(m, "general.architecture"), &s, &len), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(s, "llama", 5);
    assert_int_equal(qcore_kv_get_int(qcore_model_kv(m, "test.u32"), &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(qcore_kv_get_int(qcore_model_kv(m, "test.i8"), &v), 0);
    assert_int_equal(v, -3);
    assert_int_equal(qcore_kv_get_int(qcore_model_kv(m, "test.bool"), &v), -1);
    assert_int_equal(qcore_kv_get_str(qcore_model_kv(m, "test.u32"), &s, &len), -1);
    const struct qcore_kv *tok = qcore_model_kv(m, "tokenizer.ggml.tokens");
    assert_non_null(tok);
    assert_int_equal(tok->vtype, QCORE_GGUF_ARRAY);
    assert_int_equal(tok->arr_type, QCORE_GGUF_STRING);
    assert_int_equal(tok->arr_len, 2);
    assert_int_equal(tok->raw_len, sizeof RAW_STRARR);
    assert_memory_equal(tok->raw, RAW_STRARR, sizeof RAW_STRARR);
    assert_null(qcore_model_kv(m, "nope"));

    const struct qcore_tensor *t = qcore_model_tensor(m, "b.weight");
    assert_non_null(t);
    assert_int_equal(t->type, QCORE_TYPE_Q8_0);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->ne[0], 32);
    assert_int_equal(t->ne[1], 2);
    assert_int_equal(t->ne[2], 1);
    assert_int_equal(t->numel, 64);
    assert_int_equal(t->nbytes, 68);
    assert_int_equal(t->offset, m->data_offset + 64);
    t = qcore_model_tensor(m, "c.bias");
    assert_int_equal(t->offset, m->data_offset + 160);
    assert_int_equal(t->offset + 32, m->file_size);
    assert_null(qcore_model_tensor(m, "d"));
    qcore_model_close(m);

    /* v2 is accepted */
    patch_u32(&b, 4, 2);
    m = open_ok(&b);
    assert_int_equal(m->version, 2);
    qcore_model_close(m);
    b_free(&b);
    qcore_model_close(NULL);
}

static void custom_alignment_and_empty_model(void **state)
{
    (void)state;
    static const uint8_t a64[] = {64, 0, 0, 0};
    static const struct tkv kv[] = {{"general.alignment", QCORE_GGUF_U32, a64, 4, 0}};
    struct tfile f = {.kv = kv, .n_kv = 1, .t = base_t, .n_t = N_BASE_T, .alignment = 64};
    struct buf b;
    build(&f, &b);
    struct qcore_model *m = open_ok(&b);
    assert_int_equal(m->alignment, 64);
    assert_int_equal(m->data_offset % 64, 0);
    assert_int_equal(m->tensors[1].offset, m->data_offset + 64);
    assert_int_equal(m->tensors[2].offset, m->data_offset + 192); /* 68 bytes pad to 128 */
    qcore_model_close(m);
    b_free(&b);

    /* no KVs, no tensors: just the 24-byte preamble */
    struct tfile e = {0};
    build(&e, &b);
    assert_int_equal(b.n, 32); /* padded like ggml's writer */
    b.n = 24;                  /* ggml's reader does not need the padding */
    m = open_ok(&b);
    assert_int_equal(m->n_kv, 0);
    assert_int_equal(m->n_tensors, 0);
    qcore_model_close(m);
    b_free(&b);
}

static void tiny_llama_reads(void **state)
{
    (void)state;
    struct qcore_model *m = NULL;
    struct qcore_error err = {0};
    int rc = qcore_model_open(TINY_LLAMA, &m, &err);
    if (rc)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(m->format, QCORE_FORMAT_GGUF);
    assert_int_equal(m->version, 3);
    assert_int_equal(m->n_tensors, 39);
    assert_int_equal(m->n_kv, 23);
    assert_int_equal(m->file_size, 21070656);
    assert_int_equal(m->data_offset, 89920);

    const char *s;
    size_t len;
    int64_t v;
    assert_int_equal(qcore_kv_get_str(qcore_model_kv(m, "general.architecture"), &s, &len), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(s, "llama", 5);
    assert_int_equal(qcore_kv_get_int(qcore_model_kv(m, "llama.block_count"), &v), 0);
    assert_int_equal(v, 4);
    const struct qcore_kv *tok = qcore_model_kv(m, "tokenizer.ggml.tokens");
    assert_non_null(tok);
    assert_int_equal(tok->arr_type, QCORE_GGUF_STRING);
    assert_int_equal(tok->arr_len, 4096);

    assert_string_equal(m->tensors[0].name, "token_embd.weight");
    const struct qcore_tensor *t = qcore_model_tensor(m, "token_embd.weight");
    assert_int_equal(t->type, QCORE_TYPE_F32);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->ne[0], 256);
    assert_int_equal(t->ne[1], 4096);
    assert_int_equal(t->offset, 89920);
    assert_int_equal(t->nbytes, 4194304);
    t = qcore_model_tensor(m, "blk.0.ffn_down.weight");
    assert_non_null(t);
    assert_int_equal(t->ne[0], 768);
    assert_int_equal(t->ne[1], 256);
    assert_int_equal(t->offset, 89920 + 6555648);
    t = qcore_model_tensor(m, "blk.3.attn_norm.weight");
    assert_non_null(t);
    assert_int_equal(t->n_dims, 1);
    assert_int_equal(t->numel, 256);
    assert_non_null(qcore_model_tensor(m, "output.weight"));
    qcore_model_close(m);
}

/* Copies [from, from + n) of one fd to `to` of another. */
static void copy_range(int in, uint64_t from, int out, uint64_t to, uint64_t n)
{
    static uint8_t chunk[1 << 16];
    while (n > 0) {
        size_t k = n < sizeof chunk ? (size_t)n : sizeof chunk;
        assert_int_equal(qcore_pread_full(in, chunk, k, from, NULL), 0);
        assert_int_equal(qcore_pwrite_full(out, chunk, k, to, NULL), 0);
        from += k;
        to += k;
        n -= k;
    }
}

static void tiny_llama_layout_round_trip(void **state)
{
    (void)state;
    struct qcore_model *m = NULL, *m2 = NULL;
    struct qcore_error err = {0};
    assert_int_equal(qcore_model_open(TINY_LLAMA, &m, &err), 0);
    struct qcore_gguf_out_tensor *ot = calloc(m->n_tensors, sizeof *ot);
    assert_non_null(ot);
    for (size_t i = 0; i < m->n_tensors; i++)
        ot[i] = (struct qcore_gguf_out_tensor){m->tensors[i].name, m->tensors[i].n_dims,
                                               m->tensors[i].ne, m->tensors[i].type};
    struct qcore_gguf_layout l;
    int rc = qcore_gguf_layout_build(m->kv, m->n_kv, ot, m->n_tensors, m->alignment, &l, &err);
    if (rc)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
    /* the same bytes ggml's writer produced */
    assert_int_equal(l.header_len, m->data_offset);
    assert_int_equal(l.file_size, m->file_size);
    uint8_t *orig = malloc(l.header_len);
    assert_non_null(orig);
    assert_int_equal(qcore_pread_full(m->fd, orig, l.header_len, 0, NULL), 0);
    assert_memory_equal(orig, l.header, l.header_len);
    free(orig);
    for (size_t i = 0; i < m->n_tensors; i++) {
        assert_int_equal(l.offsets[i], m->tensors[i].offset);
        assert_int_equal(l.nbytes[i], m->tensors[i].nbytes);
    }

    /* write header + data to a new file and read it back */
    int fd = temp_fd(l.header, l.header_len, l.header_len);
    for (size_t i = 0; i < m->n_tensors; i++)
        copy_range(m->fd, m->tensors[i].offset, fd, l.offsets[i], l.nbytes[i]);
    assert_int_equal(ftruncate(fd, (off_t)l.file_size), 0);
    rc = qcore_model_open_fd(fd, &m2, &err);
    if (rc)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(m2->n_kv, m->n_kv);
    assert_int_equal(m2->n_tensors, m->n_tensors);
    for (size_t i = 0; i < m->n_kv; i++) {
        assert_string_equal(m2->kv[i].key, m->kv[i].key);
        assert_int_equal(m2->kv[i].vtype, m->kv[i].vtype);
        assert_int_equal(m2->kv[i].arr_type, m->kv[i].arr_type);
        assert_int_equal(m2->kv[i].arr_len, m->kv[i].arr_len);
        assert_int_equal(m2->kv[i].raw_len, m->kv[i].raw_len);
        assert_memory_equal(m2->kv[i].raw, m->kv[i].raw, m->kv[i].raw_len);
    }
    for (size_t i = 0; i < m->n_tensors; i++) {
        const struct qcore_tensor *a = &m->tensors[i], *c = &m2->tensors[i];
        assert_string_equal(c->name, a->name);
        assert_int_equal(c->n_dims, a->n_dims);
        assert_memory_equal(c->ne, a->ne, sizeof a->ne);
        assert_int_equal(c->type, a->type);
        assert_int_equal(c->offset, a->offset);
        assert_int_equal(c->nbytes, a->nbytes);
    }
    /* spot-check data: last 64 bytes of the last tensor */
    const struct qcore_tensor *last = &m->tensors[m->n_tensors - 1];
    uint8_t x[64], y[64];
    assert_int_equal(qcore_pread_full(m->fd, x, 64, last->offset + last->nbytes - 64, NULL), 0);
    assert_int_equal(qcore_pread_full(m2->fd, y, 64, last->offset + last->nbytes - 64, NULL), 0);
    assert_memory_equal(x, y, 64);
    qcore_model_close(m2);
    qcore_gguf_layout_cleanup(&l);
    qcore_gguf_layout_cleanup(&l); /* idempotent */
    free(ot);
    qcore_model_close(m);
}

static void layout_pads_and_validates(void **state)
{
    (void)state;
    struct qcore_error err;
    struct qcore_gguf_layout l;
    struct qcore_kv kv[2];
    static const int64_t ne_a[] = {3}, ne_b[] = {64, 2}, ne_5[] = {1, 1, 1, 1, 1};
    static const int64_t ne_bad[] = {33, 2}, ne_neg[] = {-1};
    assert_int_equal(qcore_kv_make_str(&kv[0], "general.architecture", "llama"), 0);
    assert_int_equal(qcore_kv_make_u32(&kv[1], "general.alignment", 64), 0);
    struct qcore_gguf_out_tensor t[] = {
        {"a", 1, ne_a, QCORE_TYPE_F32},
        {"b", 2, ne_b, QCORE_TYPE_Q4_0},
    };
    assert_int_equal(qcore_gguf_layout_build(kv, 2, t, 2, 64, &l, &err), 0);
    assert_int_equal(l.header_len % 64, 0);
    assert_int_equal(l.offsets[0], l.header_len);
    assert_int_equal(l.nbytes[0], 12);
    assert_int_equal(l.offsets[1], l.header_len + 64);
    assert_int_equal(l.nbytes[1], 72);
    assert_int_equal(l.file_size, l.header_len + 64 + 128);
    /* the header reads back (data section all zeros) */
    uint8_t *file = calloc(1, (size_t)l.file_size);
    memcpy(file, l.header, l.header_len);
    struct qcore_model *m = NULL;
    assert_int_equal(open_bytes_sized(file, (size_t)l.file_size, l.file_size, &m, &err), 0);
    assert_int_equal(m->alignment, 64);
    assert_int_equal(m->tensors[1].offset, l.offsets[1]);
    qcore_model_close(m);
    free(file);
    qcore_gguf_layout_cleanup(&l);

    /* alignment must match general.alignment, and 32 when it is absent */
    assert_int_equal(qcore_gguf_layout_build(kv, 2, t, 2, 32, &l, &err), QCORE_EINVAL);
    assert_int_equal(qcore_gguf_layout_build(kv, 1, t, 2, 64, &l, &err), QCORE_EINVAL);
    assert_int_equal(qcore_gguf_layout_build(kv, 1, t, 2, 24, &l, &err), QCORE_EINVAL);
    assert_null(l.header);

    char long_name[80];
    memset(long_name, 'x', 64);
    long_name[64] = '\0';
    struct qcore_gguf_out_tensor bad[] = {
        {long_name, 1, ne_a, QCORE_TYPE_F32}, {"five", 5, ne_5, QCORE_TYPE_F32},
        {"zero", 0, ne_a, QCORE_TYPE_F32},    {"blk", 2, ne_bad, QCORE_TYPE_Q8_0},
        {"u8", 1, ne_a, QCORE_TYPE_U8},       {"neg", 1, ne_neg, QCORE_TYPE_F32},
        {"", 1, ne_a, QCORE_TYPE_F32},
    };
    static const int want[] = {QCORE_EUNSUPPORTED, QCORE_EUNSUPPORTED, QCORE_EUNSUPPORTED,
                               QCORE_EUNSUPPORTED, QCORE_EUNSUPPORTED, QCORE_EINVAL,
                               QCORE_EINVAL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(qcore_gguf_layout_build(kv, 1, &bad[i], 1, 32, &l, &err), want[i]);
        assert_true(strlen(err.msg) > 0);
    }
    /* 63 bytes is fine */
    long_name[63] = '\0';
    assert_int_equal(qcore_gguf_layout_build(kv, 1, bad, 1, 32, &l, &err), 0);
    qcore_gguf_layout_cleanup(&l);
    /* duplicate names and keys */
    struct qcore_gguf_out_tensor dup[] = {{"a", 1, ne_a, QCORE_TYPE_F32},
                                          {"a", 1, ne_a, QCORE_TYPE_F32}};
    assert_int_equal(qcore_gguf_layout_build(kv, 1, dup, 2, 32, &l, &err), QCORE_EINVAL);
    struct qcore_kv kv2[2] = {kv[0], kv[0]};
    assert_int_equal(qcore_gguf_layout_build(kv2, 2, t, 2, 32, &l, &err), QCORE_EINVAL);
    qcore_kv_cleanup(&kv[0]);
    qcore_kv_cleanup(&kv[1]);
}

static void kv_helpers(void **state)
{
    (void)state;
    struct qcore_kv a, b;
    const char *s;
    size_t len;
    int64_t v;
    assert_int_equal(qcore_kv_make_u32(&a, "k.u32", 0xFFFFFFFFu), 0);
    assert_string_equal(a.key, "k.u32");
    assert_int_equal(a.vtype, QCORE_GGUF_U32);
    assert_int_equal(qcore_kv_get_int(&a, &v), 0);
    assert_int_equal(v, 4294967295LL);
    assert_int_equal(qcore_kv_copy(&b, &a), 0);
    assert_int_equal(b.raw_len, 4);
    assert_memory_equal(b.raw, a.raw, 4);
    assert_ptr_not_equal(b.raw, a.raw);
    qcore_kv_cleanup(&a);
    qcore_kv_cleanup(&b);
    qcore_kv_cleanup(&b); /* cleanup is idempotent */
    qcore_kv_cleanup(NULL);

    assert_int_equal(qcore_kv_make_str(&a, "k.s", "hello"), 0);
    assert_int_equal(qcore_kv_get_str(&a, &s, &len), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(s, "hello", 5);
    assert_int_equal(qcore_kv_get_int(&a, &v), -1);
    qcore_kv_cleanup(&a);
    assert_int_equal(qcore_kv_get_int(NULL, &v), -1);
}

static void format_detection(void **state)
{
    (void)state;
    static const uint8_t gguf[] = "GGUF\3\0\0\0";
    static const uint8_t st[] = {2, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    static const uint8_t junk[] = "PK\3\4zipfile";
    assert_int_equal(qcore_format_detect(gguf, 8), QCORE_FORMAT_GGUF);
    assert_int_equal(qcore_format_detect(st, sizeof st), QCORE_FORMAT_SAFETENSORS);
    assert_int_equal(qcore_format_detect(st, 8), QCORE_FORMAT_UNKNOWN);
    assert_int_equal(qcore_format_detect(junk, sizeof junk), QCORE_FORMAT_UNKNOWN);
    assert_int_equal(qcore_format_detect(gguf, 3), QCORE_FORMAT_UNKNOWN);

    struct qcore_model *m = NULL;
    struct qcore_error err = {0};
    assert_int_equal(qcore_model_open("/nonexistent/x.gguf", &m, &err), QCORE_EIO);
    assert_int_equal(err.sys_errno, ENOENT);
    assert_null(m);
}

static void io_short_reads(void **state)
{
    (void)state;
    uint8_t data[100], back[100];
    for (int i = 0; i < 100; i++)
        data[i] = (uint8_t)i;
    int fd = temp_fd(data, sizeof data, sizeof data);
    struct qcore_error err = {0};
    assert_int_equal(qcore_pread_full(fd, back, 50, 50, &err), 0);
    assert_memory_equal(back, data + 50, 50);
    assert_int_equal(qcore_pread_full(fd, back, 51, 50, &err), QCORE_EMALFORMED);
    assert_int_equal(qcore_pread_full(fd, back, 10, UINT64_MAX - 4, &err), QCORE_EINVAL);
    assert_int_equal(qcore_pwrite_full(fd, data, 100, 1000, &err), 0);
    assert_int_equal(qcore_pread_full(fd, back, 100, 1000, &err), 0);
    assert_memory_equal(back, data, 100);
    close(fd);
    assert_int_equal(qcore_pread_full(fd, back, 1, 0, &err), QCORE_EIO);
    assert_int_equal(err.sys_errno, EBADF);
    assert_int_equal(qcore_pwrite_full(fd, back, 1, 0, &err), QCORE_EIO);
}

/* ---- broken files ------------------------------------------------------------- */

static void truncation_at_every_length(void **state)
{
    (void)state;
    struct buf b;
    build_base(&b);
    struct qcore_model *m = open_ok(&b);
    qcore_model_close(m);
    for (size_t n = 0; n < b.n; n++)
        expect_fail_sized(b.p, n, n, n < 4 ? QCORE_EFORMAT : QCORE_EMALFORMED);
    b_free(&b);
}

static void bad_magic(void **state)
{
    (void)state;
    struct buf b;
    build_base(&b);
    b.p[3] = 'X';
    expect_fail(&b, QCORE_EFORMAT);
    b_free(&b);
}

static void bad_version(void **state)
{
    (void)state;
    struct buf b;
    build_base(&b);
    patch_u32(&b, 4, 0);
    expect_fail(&b, QCORE_EMALFORMED);
    patch_u32(&b, 4, 1);
    expect_fail(&b, QCORE_EUNSUPPORTED);
    patch_u32(&b, 4, 4);
    expect_fail(&b, QCORE_EUNSUPPORTED);
    patch_u32(&b, 4, 0xFFFFFFFFu);
    expect_fail(&b, QCORE_EUNSUPPORTED);
    b_free(&b);
}

static void byte_swapped_version(void **state)
{
    (void)state;
    struct buf b;
    build_base(&b);
    patch_u32(&b, 4, 0x03000000u);
    expect_fail(&b, QCORE_EUNSUPPORTED);
    b_free(&b);
}

static void counts_larger_than_file(void **state)
{
    (void)state;
    struct buf b;
    build_base(&b);
    patch_u64(&b, 16, 1000000); /* KVs */
    expect_fail(&b, QCORE_EMALFORMED);
    patch_u64(&b, 16, UINT64_MAX);
    expect_fail(&b, QCORE_EMALFORMED);
    patch_u64(&b, 16, N_BASE_KV);
    patch_u64(&b, 8, 1u << 20); /* tensors */
    expect_fail(&b, QCORE_EMALFORMED);
    patch_u64(&b, 8, (uint64_t)1 << 63);
    expect_fail(&b, QCORE_EMALFORMED);
    patch_u64(&b, 8, N_BASE_T + 1); /* one more than there is */
    expect_fail(&b, QCORE_EMALFORMED);
    b_free(&b);

    /* counts that fit a (sparse) file but exceed limits.h */
    struct tfile e = {0};
    build(&e, &b);
    patch_u64(&b, 16, QCORE_MAX_KV + 1);
    expect_fail_sized(b.p, b.n, 24 + (uint64_t)(QCORE_MAX_KV + 1) * 14 + 64, QCORE_ELIMIT);
    patch_u64(&b, 16, 0);
    patch_u64(&b, 8, QCORE_MAX_TENSORS + 1);
    expect_fail_sized(b.p, b.n, 24 + (uint64_t)(QCORE_MAX_TENSORS + 1) * 33 + 64, QCORE_ELIMIT);
    b_free(&b);
}

static void string_lengths_larger_than_file(void **state)
{
    (void)state;
    struct buf b;
    build_base(&b);
    patch_u64(&b, b.kv_off[1], (uint64_t)1 << 40); /* a key */
    expect_fail(&b, QCORE_EMALFORMED);
    patch_u64(&b, b.kv_off[1], UINT64_MAX);
    expect_fail(&b, QCORE_EMALFORMED);
    b_free(&b);

    build_base(&b);
    patch_u64(&b, b.ti_off[2], b.n); /* a tensor name */
    expect_fail(&b, QCORE_EMALFORMED);
    b_free(&b);

    /* a string value; then an array element */
    static const uint8_t huge_str[] = {0, 0, 0, 0, 0, 1, 0, 0, 'x'};
    struct tkv kv = {"test.s", QCORE_GGUF_STRING, huge_str, sizeof huge_str, 0};
    expect_kv_fail(&kv, 1, QCORE_EMALFORMED);
    static const uint8_t huge_elem[] = {8, 0,    0,    0,    1,    0, 0, 0, 0, 0,  0,
                                        0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 'x'};
    kv = (struct tkv){"test.a", QCORE_GGUF_ARRAY, huge_elem, sizeof huge_elem, 0};
    expect_kv_fail(&kv, 1, QCORE_EMALFORMED);

    /* a string the file holds but longer than QCORE_MAX_STRING_LEN (sparse) */
    uint8_t lim_str[8];
    uint64_t n = (uint64_t)QCORE_MAX_STRING_LEN + 1;
    for (int i = 0; i < 8; i++)
        lim_str[i] = (uint8_t)(n >> (8 * i));
    struct tfile f = {.kv = &(struct tkv){"test.s", QCORE_GGUF_STRING, lim_str, 8, 0}, .n_kv = 1};
    build(&f, &b);
    expect_fail_sized(b.p, b.n, b.n + n + 64, QCORE_ELIMIT);
    b_free(&b);
}

static void huge_array_count(void **state)
{
    (void)state;
    static const uint8_t u32s[] = {4, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0};
    struct tkv kv = {"test.a", QCORE_GGUF_ARRAY, u32s, sizeof u32s, 0};
    expect_kv_fail(&kv, 1, QCORE_EMALFORMED);
    /* count * element size overflows 64 bits */
    static const uint8_t u64s[] = {10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 1, 0, 0, 0, 0, 0, 0, 0};
    kv = (struct tkv){"test.a", QCORE_GGUF_ARRAY, u64s, sizeof u64s, 0};
    expect_kv_fail(&kv, 1, QCORE_EMALFORMED);
    static const uint8_t strs[] = {8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40};
    kv = (struct tkv){"test.a", QCORE_GGUF_ARRAY, strs, sizeof strs, 0};
    expect_kv_fail(&kv, 1, QCORE_EMALFORMED);

    /* a count the (sparse) file could hold but above QCORE_MAX_ARRAY_LEN */
    uint8_t lim[12] = {QCORE_GGUF_U8};
    uint64_t n = (uint64_t)QCORE_MAX_ARRAY_LEN + 1;
    for (int i = 0; i < 8; i++)
        lim[4 + i] = (uint8_t)(n >> (8 * i));
    struct buf b;
    struct tfile f = {.kv = &(struct tkv){"test.a", QCORE_GGUF_ARRAY, lim, 12, 0}, .n_kv = 1};
    build(&f, &b);
    expect_fail_sized(b.p, b.n, b.n + n + 64, QCORE_ELIMIT);
    b_free(&b);
}

static void array_of_arrays(void **state)
{
    (void)state;
    static const uint8_t raw[] = {9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 4, 0,
                                  0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0};
    struct tkv kv = {"test.aa", QCORE_GGUF_ARRAY, raw, sizeof raw, 0};
    expect_kv_fail(&kv, N_BASE_KV, QCORE_EMALFORMED);
}

static void unknown_value_type(void **state)
{
    (void)state;
    struct tkv kv = {"test.x", 13, RAW_U32_7, sizeof RAW_U32_7, 0};
    expect_kv_fail(&kv, 1, QCORE_EMALFORMED);
    kv.vtype = 0xFFFFFFFFu;
    expect_kv_fail(&kv, 1, QCORE_EMALFORMED);
    static const uint8_t arr[] = {13, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1};
    kv = (struct tkv){"test.x", QCORE_GGUF_ARRAY, arr, sizeof arr, 0};
    expect_kv_fail(&kv, 1, QCORE_EMALFORMED);
}

static void empty_key(void **state)
{
    (void)state;
    struct tkv kv = {"", QCORE_GGUF_U32, RAW_U32_7, sizeof RAW_U32_7, 0};
    expect_kv_fail(&kv, 1, QCORE_EMALFORMED);
}

static void bad_key_bytes(void **state)
{
    (void)state;
    struct tkv kv = {"a\0b", QCORE_GGUF_U32, RAW_U32_7, sizeof RAW_U32_7, 3};
    expect_kv_fail(&kv, 1, QCORE_EMALFORMED);
    kv = (struct tkv){"bad\xff\xfe", QCORE_GGUF_U32, RAW_U32_7, sizeof RAW_U32_7, 0};
    expect_kv_fail(&kv, 1, QCORE_EMALFORMED);
    kv = (struct tkv){"overlong\xc0\xaf", QCORE_GGUF_U32, RAW_U32_7, sizeof RAW_U32_7, 0};
    expect_kv_fail(&kv, 1, QCORE_EMALFORMED);
    kv = (struct tkv){"utf8.\xc3\xa9t\xc3\xa9", QCORE_GGUF_U32, RAW_U32_7, sizeof RAW_U32_7, 0};
    struct tkv kvs[N_BASE_KV + 1];
    memcpy(kvs, base_kv, sizeof base_kv);
    kvs[N_BASE_KV] = kv;
    struct tfile f = {.kv = kvs, .n_kv = N_BASE_KV + 1, .t = base_t, .n_t = N_BASE_T};
    struct buf b;
    build(&f, &b);
    qcore_model_close(open_ok(&b)); /* valid UTF-8 is fine */
    b_free(&b);
}

static void duplicate_key(void **state)
{
    (void)state;
    expect_kv_fail(&base_kv[0], 4, QCORE_EMALFORMED);
}

static void bad_bool(void **state)
{
    (void)state;
    static const uint8_t two[] = {2};
    struct tkv kv = {"test.bool", QCORE_GGUF_BOOL, two, 1, 0};
    expect_kv_fail(&kv, 3, QCORE_EMALFORMED);
    static const uint8_t arr[] = {7, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x80};
    kv = (struct tkv){"test.bools", QCORE_GGUF_ARRAY, arr, sizeof arr, 0};
    expect_kv_fail(&kv, 3, QCORE_EMALFORMED);
}

static void bad_alignment(void **state)
{
    (void)state;
    static const uint8_t u64_32[] = {32, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t zero[] = {0, 0, 0, 0}, forty_eight[] = {48, 0, 0, 0};
    struct tkv kv = {"general.alignment", QCORE_GGUF_U64, u64_32, sizeof u64_32, 0};
    expect_kv_fail(&kv, N_BASE_KV, QCORE_EMALFORMED);
    kv = (struct tkv){"general.alignment", QCORE_GGUF_I32, zero, 4, 0};
    expect_kv_fail(&kv, N_BASE_KV, QCORE_EMALFORMED);
    kv = (struct tkv){"general.alignment", QCORE_GGUF_U32, zero, 4, 0};
    expect_kv_fail(&kv, N_BASE_KV, QCORE_EMALFORMED);
    kv = (struct tkv){"general.alignment", QCORE_GGUF_U32, forty_eight, 4, 0};
    expect_kv_fail(&kv, N_BASE_KV, QCORE_EMALFORMED);
}

static void tensor_name_rules(void **state)
{
    (void)state;
    char name[65];
    memset(name, 'n', 64);
    name[64] = '\0';
    struct tinfo t = base_t[1];
    t.name = name; /* 64 bytes: too long for ggml */
    expect_tensor_fail(&t, 1, QCORE_EMALFORMED);
    t.name = "";
    expect_tensor_fail(&t, 1, QCORE_EMALFORMED);
    t.name = "a.weight"; /* duplicate of tensor 0 */
    expect_tensor_fail(&t, 1, QCORE_EMALFORMED);
    t.name = "nul\0name";
    t.name_len = 8;
    expect_tensor_fail(&t, 1, QCORE_EMALFORMED);

    /* 63 bytes is the longest allowed */
    name[63] = '\0';
    struct tinfo ts[N_BASE_T];
    memcpy(ts, base_t, sizeof base_t);
    ts[1].name = name;
    struct tfile f = {.kv = base_kv, .n_kv = N_BASE_KV, .t = ts, .n_t = N_BASE_T};
    struct buf b;
    build(&f, &b);
    struct qcore_model *m = open_ok(&b);
    assert_string_equal(m->tensors[1].name, name);
    qcore_model_close(m);
    b_free(&b);
}

static void too_many_dims(void **state)
{
    (void)state;
    struct tinfo t = {"x", 5, {4, 1, 1, 1, 1}, QCORE_TYPE_F32, AUTO, 0};
    expect_tensor_fail(&t, 2, QCORE_EMALFORMED);
    t = (struct tinfo){"x", 0, {0}, QCORE_TYPE_F32, AUTO, 0};
    expect_tensor_fail(&t, 2, QCORE_EMALFORMED);
    t = (struct tinfo){"x", 0xFFFFFFFFu, {0}, QCORE_TYPE_F32, AUTO, 0};
    expect_tensor_fail(&t, 2, QCORE_EMALFORMED);
}

static void negative_dim(void **state)
{
    (void)state;
    struct tinfo t = {"x", 2, {8, -2}, QCORE_TYPE_F32, AUTO, 0};
    expect_tensor_fail(&t, 2, QCORE_EMALFORMED);
}

static void element_count_overflow(void **state)
{
    (void)state;
    struct tinfo t = {"x", 2, {(int64_t)1 << 32, (int64_t)1 << 32}, QCORE_TYPE_F32, AUTO, 0};
    expect_tensor_fail(&t, 2, QCORE_EMALFORMED);
    /* fits int64, but the byte size does not */
    t = (struct tinfo){"x", 2, {(int64_t)1 << 31, (int64_t)1 << 31}, QCORE_TYPE_F64, AUTO, 0};
    expect_tensor_fail(&t, 2, QCORE_EMALFORMED);
}

static void unknown_type_id(void **state)
{
    (void)state;
    struct tinfo t = {"x", 1, {32}, 43, AUTO, 0};
    expect_tensor_fail(&t, 2, QCORE_EMALFORMED);
    t.type = 0x7FFFFFFF;
    expect_tensor_fail(&t, 2, QCORE_EMALFORMED);
    t.type = 0xFFFFFFFFu;
    expect_tensor_fail(&t, 2, QCORE_EMALFORMED);
    t.type = QCORE_TYPE_U8; /* a safetensors-only id */
    expect_tensor_fail(&t, 2, QCORE_EMALFORMED);
}

static void removed_type_id(void **state)
{
    (void)state;
    static const uint32_t removed[] = {4, 5, 31, 32, 33, 36, 37, 38};
    for (size_t i = 0; i < sizeof removed / sizeof removed[0]; i++) {
        struct tinfo t = {"x", 1, {32}, removed[i], AUTO, 0};
        expect_tensor_fail(&t, 2, QCORE_EMALFORMED);
    }
}

static void ne0_not_multiple_of_block(void **state)
{
    (void)state;
    struct tinfo t = {"x", 2, {33, 2}, QCORE_TYPE_Q8_0, AUTO, 0};
    expect_tensor_fail(&t, 1, QCORE_EMALFORMED);
    t = (struct tinfo){"x", 1, {128}, QCORE_TYPE_Q4_K, AUTO, 0};
    expect_tensor_fail(&t, 1, QCORE_EMALFORMED);
}

static void misaligned_offset(void **state)
{
    (void)state;
    struct tinfo t = base_t[1];
    t.offset = 68; /* right after tensor 0's 64 bytes + 4 */
    expect_tensor_fail(&t, 1, QCORE_EMALFORMED);
    t.offset = 65;
    expect_tensor_fail(&t, 1, QCORE_EMALFORMED);
}

static void out_of_range_offset(void **state)
{
    (void)state;
    struct tinfo t = base_t[2];
    t.offset = (uint64_t)1 << 40;
    expect_tensor_fail(&t, 2, QCORE_EMALFORMED);
    t.offset = UINT64_MAX - 31;
    expect_tensor_fail(&t, 2, QCORE_EMALFORMED);
}

static void overlapping_and_out_of_order_offsets(void **state)
{
    (void)state;
    struct tinfo t = base_t[1];
    t.offset = 32; /* overlaps tensor 0 [0, 64) */
    expect_tensor_fail(&t, 1, QCORE_EMALFORMED);
    t.offset = 0; /* same start */
    expect_tensor_fail(&t, 1, QCORE_EMALFORMED);

    /* all three in bounds and disjoint, but not in info order */
    struct tinfo ts[N_BASE_T];
    memcpy(ts, base_t, sizeof base_t);
    ts[0].offset = 128; /* a: 64 bytes */
    ts[1].offset = 0;   /* b: 68 -> 96 */
    ts[2].offset = 96;  /* c: 6 -> 32 */
    struct tfile f = {.kv = base_kv, .n_kv = N_BASE_KV, .t = ts, .n_t = N_BASE_T};
    struct buf b;
    build(&f, &b);
    expect_fail(&b, QCORE_EMALFORMED);
    b_free(&b);

    /* a gap: ggml's loader needs the dense layout */
    t = base_t[2];
    t.offset = 192;
    expect_tensor_fail(&t, 2, QCORE_EMALFORMED);
}

static void data_past_eof(void **state)
{
    (void)state;
    struct tfile f = {.kv = base_kv, .n_kv = N_BASE_KV, .t = base_t, .n_t = N_BASE_T};
    struct buf b;
    f.data_delta = -26; /* the last tensor's padding is missing: ggml needs it */
    build(&f, &b);
    expect_fail(&b, QCORE_EMALFORMED);
    b_free(&b);
    f.data_delta = -27; /* and its last byte */
    build(&f, &b);
    expect_fail(&b, QCORE_EMALFORMED);
    b_free(&b);
    f.data_delta = -192; /* no data at all */
    build(&f, &b);
    expect_fail(&b, QCORE_EMALFORMED);
    b_free(&b);
    f.data_delta = 100; /* extra bytes after the data are allowed, as in ggml */
    build(&f, &b);
    qcore_model_close(open_ok(&b));
    b_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(small_file_reads),
        cmocka_unit_test(custom_alignment_and_empty_model),
        cmocka_unit_test(tiny_llama_reads),
        cmocka_unit_test(tiny_llama_layout_round_trip),
        cmocka_unit_test(layout_pads_and_validates),
        cmocka_unit_test(kv_helpers),
        cmocka_unit_test(format_detection),
        cmocka_unit_test(io_short_reads),
        cmocka_unit_test(truncation_at_every_length),
        cmocka_unit_test(bad_magic),
        cmocka_unit_test(bad_version),
        cmocka_unit_test(byte_swapped_version),
        cmocka_unit_test(counts_larger_than_file),
        cmocka_unit_test(string_lengths_larger_than_file),
        cmocka_unit_test(huge_array_count),
        cmocka_unit_test(array_of_arrays),
        cmocka_unit_test(unknown_value_type),
        cmocka_unit_test(empty_key),
        cmocka_unit_test(bad_key_bytes),
        cmocka_unit_test(duplicate_key),
        cmocka_unit_test(bad_bool),
        cmocka_unit_test(bad_alignment),
        cmocka_unit_test(tensor_name_rules),
        cmocka_unit_test(too_many_dims),
        cmocka_unit_test(negative_dim),
        cmocka_unit_test(element_count_overflow),
        cmocka_unit_test(unknown_type_id),
        cmocka_unit_test(removed_type_id),
        cmocka_unit_test(ne0_not_multiple_of_block),
        cmocka_unit_test(misaligned_offset),
        cmocka_unit_test(out_of_range_offset),
        cmocka_unit_test(overlapping_and_out_of_order_offsets),
        cmocka_unit_test(data_past_eof),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

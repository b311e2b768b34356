/* core/formats/gguf.c — GGUF v2/v3 header reader and v3 header writer.
 *
 * Reader: the header is consumed through a small buffered reader (struct rd)
 * that pread()s the file in RD_BUF_SIZE pieces; the file is never read whole.
 * Every count and length is checked against the bytes left in the file, then
 * against core/limits.h, before anything is sized by it. A KV value is first
 * walked without reading it ("measured"), which validates its structure and
 * gives its exact encoded size; only then is its raw copy allocated and read.
 *
 * The checks follow ggml's gguf reader (see FORMATS.md section 1) and are a
 * little stricter where ggml is lenient: keys and tensor names must be UTF-8
 * without NUL bytes, and BOOL values must be 0 or 1.
 */
#include "core/formats/internal.h"
#include "core/formats/gguf.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_MAGIC "GGUF"
#define GGUF_WRITE_VERSION 3u
#define GGUF_DEFAULT_ALIGNMENT 32u
#define GGUF_ALIGNMENT_KEY "general.alignment"
#define RD_BUF_SIZE ((size_t)64 << 10)

/* Smallest possible encodings, used to reject counts that cannot fit:
 * a KV is key length (8) + one key byte + value type (4) + one value byte;
 * a tensor info is name length (8) + one name byte + n_dims (4) + one dim (8)
 * + type (4) + offset (8). */
#define MIN_KV_BYTES 14u
#define MIN_TINFO_BYTES 33u

/* Encoded size of each scalar value type; 0 for STRING and ARRAY. */
static const uint8_t vtype_size[QCORE_GGUF_VTYPE_COUNT] = {
    [QCORE_GGUF_U8] = 1,  [QCORE_GGUF_I8] = 1,  [QCORE_GGUF_U16] = 2, [QCORE_GGUF_I16] = 2,
    [QCORE_GGUF_U32] = 4, [QCORE_GGUF_I32] = 4, [QCORE_GGUF_F32] = 4, [QCORE_GGUF_BOOL] = 1,
    [QCORE_GGUF_U64] = 8, [QCORE_GGUF_I64] = 8, [QCORE_GGUF_F64] = 8,
};

/* ---- small helpers ---------------------------------------------------- */

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
    return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static bool is_pow2(uint64_t v)
{
    return v != 0 && (v & (v - 1)) == 0;
}

/* Rounds up to a power-of-two alignment; callers keep x far below UINT64_MAX. */
static uint64_t align_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) & ~(a - 1);
}

/* A name and the file offset it was read from, for duplicate detection by
 * sorting (O(n log n) whatever the names; a hash table could be flooded). */
struct name_ref {
    const char *name;
    uint64_t off;
};

static int name_ref_cmp(const void *a, const void *b)
{
    const struct name_ref *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return (x->off > y->off) - (x->off < y->off);
}

/* Sorts refs; returns the later of the first duplicate pair found, or NULL. */
static const struct name_ref *find_duplicate(struct name_ref *refs, size_t n)
{
    if (n < 2)
        return NULL;
    qsort(refs, n, sizeof *refs, name_ref_cmp);
    for (size_t i = 1; i < n; i++)
        if (strcmp(refs[i - 1].name, refs[i].name) == 0)
            return &refs[i];
    return NULL;
}

/* ---- the bounded reader ----------------------------------------------- */

struct rd {
    int fd;
    uint64_t size;    /* file size */
    uint64_t pos;     /* absolute offset of the next byte; pos <= size */
    uint64_t buf_off; /* file offset of buf[0] */
    size_t buf_len;   /* valid bytes in buf */
    uint8_t *buf;
    char ctx[96]; /* what is being parsed, prefixed to error messages */
    struct qcore_error *err;
};

static uint64_t rd_left(const struct rd *r)
{
    return r->size - r->pos;
}

/* Every parse error goes through here: "<context>: <problem> (offset N)". */
static int bad(struct rd *r, int code, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad(struct rd *r, int code, uint64_t off, const char *fmt, ...)
{
    char detail[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return qcore_error_set(r->err, code, off, "gguf: %s%s%s (offset %" PRIu64 ")", r->ctx,
                           r->ctx[0] ? ": " : "", detail, off);
}

static void rd_context(struct rd *r, const char *what, const char *name, size_t len)
{
    char pn[72];
    if (name)
        snprintf(r->ctx, sizeof r->ctx, "%s '%s'", what, qcore_printable(pn, sizeof pn, name, len));
    else
        snprintf(r->ctx, sizeof r->ctx, "%s", what);
}

static int rd_short(struct rd *r, uint64_t n, const char *what)
{
    return bad(r, QCORE_EMALFORMED, r->pos,
               "truncated: %s needs %" PRIu64 " bytes, the file has %" PRIu64 " left", what, n,
               rd_left(r));
}

static int rd_take(struct rd *r, void *dst, size_t n, const char *what)
{
    uint8_t *p = dst;
    if ((uint64_t)n > rd_left(r))
        return rd_short(r, n, what);
    while (n > 0) {
        if (r->pos >= r->buf_off && r->pos - r->buf_off < r->buf_len) {
            size_t at = (size_t)(r->pos - r->buf_off);
            size_t k = r->buf_len - at < n ? r->buf_len - at : n;
            memcpy(p, r->buf + at, k);
            p += k;
            n -= k;
            r->pos += k;
            continue;
        }
        if (n >= RD_BUF_SIZE) { /* large value: read it in place */
            int rc = qcore_pread_full(r->fd, p, n, r->pos, r->err);
            if (rc)
                return rc;
            r->pos += n;
            return 0;
        }
        size_t want = rd_left(r) < RD_BUF_SIZE ? (size_t)rd_left(r) : RD_BUF_SIZE;
        r->buf_len = 0;
        int rc = qcore_pread_full(r->fd, r->buf, want, r->pos, r->err);
        if (rc)
            return rc;
        r->buf_off = r->pos;
        r->buf_len = want;
    }
    return 0;
}

static int rd_skip(struct rd *r, uint64_t n, const char *what)
{
    if (n > rd_left(r))
        return rd_short(r, n, what);
    r->pos += n;
    return 0;
}

static int rd_u32(struct rd *r, uint32_t *v, const char *what)
{
    uint8_t b[4] = {0};
    int rc = rd_take(r, b, sizeof b, what);
    if (rc == 0)
        *v = get_le32(b);
    return rc;
}

static int rd_u64(struct rd *r, uint64_t *v, const char *what)
{
    uint8_t b[8] = {0};
    int rc = rd_take(r, b, sizeof b, what);
    if (rc == 0)
        *v = get_le64(b);
    return rc;
}

/* Reads a gguf string's u64 length and checks it against the bytes left in
 * the file (EMALFORMED), then against `max` (failing with `max_code`). */
static int rd_strlen(struct rd *r, uint64_t *len, uint64_t max, int max_code, const char *what)
{
    uint64_t off = r->pos;
    int rc = rd_u64(r, len, what);
    if (rc)
        return rc;
    if (*len > rd_left(r))
        return bad(r, QCORE_EMALFORMED, off,
                   "%s length %" PRIu64 " exceeds the %" PRIu64 " bytes left in the file", what,
                   *len, rd_left(r));
    if (*len > max)
        return bad(r, max_code, off, "%s is %" PRIu64 " bytes, more than the %" PRIu64 " allowed",
                   what, *len, max);
    return 0;
}

/* Reads a key or tensor name into a new NUL-terminated string, rejecting
 * empty names, NUL bytes and invalid UTF-8. */
static int rd_name(struct rd *r, char **out, uint64_t max, int max_code, const char *what)
{
    uint64_t off = r->pos, len;
    int rc = rd_strlen(r, &len, max, max_code, what);
    if (rc)
        return rc;
    if (len == 0)
        return bad(r, QCORE_EMALFORMED, off, "empty %s", what);
    char *s = malloc((size_t)len + 1);
    if (!s)
        return qcore_error_set(r->err, QCORE_ENOMEM, off, "out of memory for a %s", what);
    *out = s;
    rc = rd_take(r, s, (size_t)len, what);
    if (rc)
        return rc;
    s[len] = '\0';
    if (memchr(s, '\0', (size_t)len))
        return bad(r, QCORE_EMALFORMED, off + 8, "%s contains a NUL byte", what);
    if (!qcore_utf8_valid((const uint8_t *)s, (size_t)len))
        return bad(r, QCORE_EMALFORMED, off + 8, "%s is not valid UTF-8", what);
    return 0;
}

/* ---- KV pairs --------------------------------------------------------- */

struct gguf_state {
    struct rd r;
    uint32_t alignment;
    uint64_t meta_bytes;   /* keys + raw values kept, capped by QCORE_MAX_META_BYTES */
    uint64_t expect;       /* next dense tensor offset, relative to the data section */
    struct name_ref *refs; /* for duplicate keys, then duplicate tensor names */
};

static int measure_string(struct rd *r, const char *what)
{
    uint64_t len;
    int rc = rd_strlen(r, &len, QCORE_MAX_STRING_LEN, QCORE_ELIMIT, what);
    return rc ? rc : rd_skip(r, len, what);
}

/* Walks an array value without keeping it; fills its element type and count. */
static int measure_array(struct rd *r, uint32_t *arr_type, uint64_t *arr_len)
{
    uint64_t off = r->pos, n;
    uint32_t et;
    int rc = rd_u32(r, &et, "array element type");
    if (rc == 0)
        rc = rd_u64(r, &n, "array length");
    if (rc)
        return rc;
    if (et == QCORE_GGUF_ARRAY)
        return bad(r, QCORE_EMALFORMED, off, "arrays of arrays are not allowed");
    if (et >= QCORE_GGUF_VTYPE_COUNT)
        return bad(r, QCORE_EMALFORMED, off, "unknown array element type %" PRId32, (int32_t)et);
    /* a string element takes at least its 8-byte length */
    uint64_t min_size = et == QCORE_GGUF_STRING ? 8 : vtype_size[et];
    if (n > rd_left(r) / min_size)
        return bad(r, QCORE_EMALFORMED, off + 4,
                   "array of %" PRIu64 " elements cannot fit in the %" PRIu64
                   " bytes left in the file",
                   n, rd_left(r));
    if (n > QCORE_MAX_ARRAY_LEN)
        return bad(r, QCORE_ELIMIT, off + 4,
                   "array of %" PRIu64 " elements, more than the %u allowed", n,
                   QCORE_MAX_ARRAY_LEN);
    *arr_type = et;
    *arr_len = n;
    if (et != QCORE_GGUF_STRING)
        return rd_skip(r, n * min_size, "array elements");
    for (uint64_t i = 0; i < n; i++) {
        rc = measure_string(r, "array string");
        if (rc)
            return rc;
    }
    return 0;
}

static int measure_value(struct rd *r, struct qcore_kv *kv)
{
    if (kv->vtype == QCORE_GGUF_STRING)
        return measure_string(r, "string value");
    if (kv->vtype == QCORE_GGUF_ARRAY)
        return measure_array(r, &kv->arr_type, &kv->arr_len);
    return rd_skip(r, vtype_size[kv->vtype], "value");
}

/* BOOL is one byte; ggml treats any nonzero byte as true, we require 0 or 1. */
static int check_bools(struct rd *r, const struct qcore_kv *kv, uint64_t val_off)
{
    size_t start;
    if (kv->vtype == QCORE_GGUF_BOOL)
        start = 0;
    else if (kv->vtype == QCORE_GGUF_ARRAY && kv->arr_type == QCORE_GGUF_BOOL)
        start = 12;
    else
        return 0;
    for (size_t i = start; i < kv->raw_len; i++)
        if (kv->raw[i] > 1)
            return bad(r, QCORE_EMALFORMED, val_off + i, "BOOL value %u is not 0 or 1", kv->raw[i]);
    return 0;
}

static int check_alignment_kv(struct gguf_state *st, const struct qcore_kv *kv, uint64_t val_off)
{
    if (kv->vtype != QCORE_GGUF_U32)
        return bad(&st->r, QCORE_EMALFORMED, val_off - 4, "must be UINT32, is value type %" PRIu32,
                   kv->vtype);
    uint32_t a = get_le32(kv->raw);
    if (!is_pow2(a))
        return bad(&st->r, QCORE_EMALFORMED, val_off, "alignment %" PRIu32 " is not a power of two",
                   a);
    if (a > QCORE_GGUF_MAX_ALIGNMENT)
        return bad(&st->r, QCORE_ELIMIT, val_off,
                   "alignment %" PRIu32 " is more than the %u allowed", a,
                   QCORE_GGUF_MAX_ALIGNMENT);
    st->alignment = a;
    return 0;
}

static int read_kv(struct gguf_state *st, struct qcore_kv *kv, size_t i)
{
    struct rd *r = &st->r;
    uint64_t key_off = r->pos;
    char what[40];
    snprintf(what, sizeof what, "KV #%zu", i);
    rd_context(r, what, NULL, 0);
    int rc = rd_name(r, &kv->key, QCORE_MAX_KEY_LEN, QCORE_ELIMIT, "key");
    if (rc)
        return rc;
    size_t key_len = strlen(kv->key);
    rd_context(r, "key", kv->key, key_len);
    st->refs[i] = (struct name_ref){kv->key, key_off};

    uint64_t type_off = r->pos;
    rc = rd_u32(r, &kv->vtype, "value type");
    if (rc)
        return rc;
    if (kv->vtype >= QCORE_GGUF_VTYPE_COUNT)
        return bad(r, QCORE_EMALFORMED, type_off, "unknown value type %" PRId32,
                   (int32_t)kv->vtype);

    uint64_t val_off = r->pos;
    rc = measure_value(r, kv);
    if (rc)
        return rc;
    uint64_t raw_len = r->pos - val_off;
    st->meta_bytes += raw_len + key_len;
    if (st->meta_bytes > QCORE_MAX_META_BYTES)
        return bad(r, QCORE_ELIMIT, val_off, "metadata exceeds the %u-byte limit",
                   QCORE_MAX_META_BYTES);
    kv->raw = malloc(raw_len ? (size_t)raw_len : 1);
    if (!kv->raw)
        return qcore_error_set(r->err, QCORE_ENOMEM, val_off, "out of memory for metadata");
    r->pos = val_off; /* measured: now read it for real */
    rc = rd_take(r, kv->raw, (size_t)raw_len, "value");
    if (rc)
        return rc;
    kv->raw_len = (size_t)raw_len;
    rc = check_bools(r, kv, val_off);
    if (rc == 0 && strcmp(kv->key, GGUF_ALIGNMENT_KEY) == 0)
        rc = check_alignment_kv(st, kv, val_off);
    return rc;
}

/* ---- tensor infos ----------------------------------------------------- */

static int read_dims(struct rd *r, struct qcore_tensor *t)
{
    uint64_t off = r->pos;
    int rc = rd_u32(r, &t->n_dims, "n_dims");
    if (rc)
        return rc;
    if (t->n_dims < 1 || t->n_dims > QCORE_GGUF_MAX_DIMS)
        return bad(r, QCORE_EMALFORMED, off, "%" PRIu32 " dimensions (1..%d allowed)", t->n_dims,
                   QCORE_GGUF_MAX_DIMS);
    int64_t numel = 1;
    for (uint32_t d = 0; d < QCORE_MAX_DIMS; d++)
        t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        uint64_t v;
        off = r->pos;
        rc = rd_u64(r, &v, "dimension");
        if (rc)
            return rc;
        if (v > (uint64_t)INT64_MAX)
            return bad(r, QCORE_EMALFORMED, off, "dimension %" PRIu32 " is negative (%" PRId64 ")",
                       d, (int64_t)v);
        t->ne[d] = (int64_t)v;
        if (t->ne[d] != 0 && numel > INT64_MAX / t->ne[d])
            return bad(r, QCORE_EMALFORMED, off, "element count overflows int64");
        numel *= t->ne[d];
    }
    t->numel = numel;
    return 0;
}

static int read_type(struct rd *r, struct qcore_tensor *t)
{
    uint64_t off = r->pos;
    uint32_t v;
    int rc = rd_u32(r, &v, "type");
    if (rc)
        return rc;
    t->type = (int32_t)v;
    if (!qcore_type_valid_gguf(t->type))
        return bad(r, QCORE_EMALFORMED, off, "unknown or removed ggml type id %d", t->type);
    const struct qcore_type_traits *tr = qcore_type_traits(t->type);
    if (t->ne[0] % tr->block_size != 0)
        return bad(r, QCORE_EMALFORMED, off,
                   "row length ne0=%" PRId64 " is not a multiple of the %s block size %" PRIu32,
                   t->ne[0], tr->name, tr->block_size);
    if (!qcore_type_nbytes(t->type, (uint64_t)t->numel, &t->nbytes))
        return bad(r, QCORE_EMALFORMED, off, "byte size overflows");
    return 0;
}

/* The offset is relative to the data section here; made absolute later. */
static int read_offset(struct gguf_state *st, struct qcore_tensor *t)
{
    struct rd *r = &st->r;
    uint64_t off = r->pos;
    int rc = rd_u64(r, &t->offset, "offset");
    if (rc)
        return rc;
    if (t->offset % st->alignment != 0)
        return bad(r, QCORE_EMALFORMED, off,
                   "data offset %" PRIu64 " is not a multiple of the alignment %" PRIu32, t->offset,
                   st->alignment);
    if (t->nbytes > r->size || t->offset > r->size - t->nbytes)
        return bad(r, QCORE_EMALFORMED, off,
                   "data offset %" PRIu64 " + %" PRIu64 " bytes lies beyond the end of the %" PRIu64
                   "-byte file",
                   t->offset, t->nbytes, r->size);
    /* ggml's loader requires the dense layout its writer produces */
    if (t->offset != st->expect)
        return bad(r, QCORE_EMALFORMED, off,
                   "data offset %" PRIu64 ", but ggml requires %" PRIu64
                   " (tensors in info order, each padded to %" PRIu32 " bytes)",
                   t->offset, st->expect, st->alignment);
    st->expect = align_up(t->offset + t->nbytes, st->alignment);
    return 0;
}

static int read_tensor_info(struct gguf_state *st, struct qcore_tensor *t, size_t i)
{
    struct rd *r = &st->r;
    uint64_t name_off = r->pos;
    char what[40];
    snprintf(what, sizeof what, "tensor #%zu", i);
    rd_context(r, what, NULL, 0);
    /* GGML_MAX_NAME is a format rule, so a long name is malformed */
    int rc = rd_name(r, &t->name, QCORE_GGUF_MAX_NAME, QCORE_EMALFORMED, "name");
    if (rc)
        return rc;
    rd_context(r, "tensor", t->name, strlen(t->name));
    st->refs[i] = (struct name_ref){t->name, name_off};
    rc = read_dims(r, t);
    if (rc == 0)
        rc = read_type(r, t);
    if (rc == 0)
        rc = read_offset(st, t);
    return rc;
}

/* ---- the header ------------------------------------------------------- */

static int read_preamble(struct rd *r, struct qcore_model *m, uint64_t *n_t, uint64_t *n_kv)
{
    uint8_t magic[4];
    uint32_t v;
    int rc = rd_take(r, magic, sizeof magic, "magic");
    if (rc)
        return rc;
    if (memcmp(magic, GGUF_MAGIC, 4) != 0)
        return bad(r, QCORE_EFORMAT, 0, "bad magic, not a GGUF file");
    rc = rd_u32(r, &v, "version");
    if (rc)
        return rc;
    if (v == 0)
        return bad(r, QCORE_EMALFORMED, 4, "version 0 is invalid");
    if ((v & 0xFFFF) == 0)
        return bad(r, QCORE_EUNSUPPORTED, 4,
                   "version field 0x%08" PRIx32
                   " looks byte-swapped; big-endian GGUF is not supported",
                   v);
    if (v == 1 || v > 3)
        return bad(r, QCORE_EUNSUPPORTED, 4, "GGUF version %" PRIu32 " is not supported (2 or 3)",
                   v);
    m->version = v;
    rc = rd_u64(r, n_t, "tensor count");
    if (rc == 0)
        rc = rd_u64(r, n_kv, "KV count");
    if (rc)
        return rc;
    uint64_t left = rd_left(r);
    if (*n_kv > left / MIN_KV_BYTES)
        return bad(r, QCORE_EMALFORMED, 16,
                   "KV count %" PRIu64 " cannot fit in the %" PRIu64 " bytes left in the file",
                   *n_kv, left);
    if (*n_t > left / MIN_TINFO_BYTES || *n_t * MIN_TINFO_BYTES > left - *n_kv * MIN_KV_BYTES)
        return bad(r, QCORE_EMALFORMED, 8,
                   "tensor count %" PRIu64 " cannot fit in the %" PRIu64 " bytes left in the file",
                   *n_t, left);
    if (*n_kv > QCORE_MAX_KV)
        return bad(r, QCORE_ELIMIT, 16, "KV count %" PRIu64 " is more than the %u allowed", *n_kv,
                   QCORE_MAX_KV);
    if (*n_t > QCORE_MAX_TENSORS)
        return bad(r, QCORE_ELIMIT, 8, "tensor count %" PRIu64 " is more than the %u allowed", *n_t,
                   QCORE_MAX_TENSORS);
    return 0;
}

static int read_all_kv(struct gguf_state *st, struct qcore_model *m)
{
    for (size_t i = 0; i < m->n_kv; i++) {
        int rc = read_kv(st, &m->kv[i], i);
        if (rc)
            return rc;
    }
    st->r.ctx[0] = '\0';
    const struct name_ref *dup = find_duplicate(st->refs, m->n_kv);
    if (dup)
        return bad(&st->r, QCORE_EMALFORMED, dup->off, "duplicate key '%.64s'", dup->name);
    return 0;
}

static int read_all_tensors(struct gguf_state *st, struct qcore_model *m)
{
    for (size_t i = 0; i < m->n_tensors; i++) {
        int rc = read_tensor_info(st, &m->tensors[i], i);
        if (rc)
            return rc;
    }
    st->r.ctx[0] = '\0';
    const struct name_ref *dup = find_duplicate(st->refs, m->n_tensors);
    if (dup)
        return bad(&st->r, QCORE_EMALFORMED, dup->off, "duplicate tensor name '%s'", dup->name);
    return 0;
}

/* After the infos: make offsets absolute and check the data section. ggml
 * reads the data section padded to the alignment, so the file must reach the
 * padded end of the last tensor. */
static int finish_layout(struct gguf_state *st, struct qcore_model *m)
{
    struct rd *r = &st->r;
    m->data_offset = align_up(r->pos, st->alignment);
    for (size_t i = 0; i < m->n_tensors; i++) {
        struct qcore_tensor *t = &m->tensors[i];
        t->offset += m->data_offset;
        if (t->offset > m->file_size || t->nbytes > m->file_size - t->offset) {
            rd_context(r, "tensor", t->name, strlen(t->name));
            return bad(r, QCORE_EMALFORMED, t->offset,
                       "data [%" PRIu64 ", %" PRIu64 ") lies beyond the end of the %" PRIu64
                       "-byte file",
                       t->offset, t->offset + t->nbytes, m->file_size);
        }
    }
    if (m->n_tensors > 0 && m->data_offset + st->expect > m->file_size)
        return bad(r, QCORE_EMALFORMED, m->file_size,
                   "the file ends %" PRIu64 " bytes before the padded end of the last tensor",
                   m->data_offset + st->expect - m->file_size);
    return 0;
}

int qcore_gguf_read(struct qcore_model *m, struct qcore_error *err)
{
    struct gguf_state st = {
        .r = {.fd = m->fd, .size = m->file_size, .err = err},
        .alignment = GGUF_DEFAULT_ALIGNMENT,
    };
    uint64_t n_t = 0, n_kv = 0;
    int rc;
    st.r.buf = malloc(RD_BUF_SIZE);
    if (!st.r.buf)
        return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    rc = read_preamble(&st.r, m, &n_t, &n_kv);
    if (rc)
        goto out;
    /* both counts were bounded by the file size and limits.h above */
    m->kv = calloc(n_kv ? (size_t)n_kv : 1, sizeof *m->kv);
    m->tensors = calloc(n_t ? (size_t)n_t : 1, sizeof *m->tensors);
    st.refs = calloc(n_kv > n_t ? (size_t)n_kv : n_t ? (size_t)n_t : 1, sizeof *st.refs);
    if (!m->kv || !m->tensors || !st.refs) {
        rc = qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory for the header");
        goto out;
    }
    m->n_kv = (size_t)n_kv;
    m->n_tensors = (size_t)n_t;
    rc = read_all_kv(&st, m);
    if (rc)
        goto out;
    m->alignment = st.alignment;
    rc = read_all_tensors(&st, m);
    if (rc)
        goto out;
    rc = finish_layout(&st, m);
out:
    free(st.refs);
    free(st.r.buf);
    return rc;
}

/* ---- the writer ------------------------------------------------------- */

/* Adds to a size_t running total; false on overflow. */
static bool add_size(size_t *total, uint64_t x)
{
    if (x > SIZE_MAX - *total)
        return false;
    *total += (size_t)x;
    return true;
}

/* Validates one KV to write; general.alignment must agree with `alignment`. */
static int check_out_kv(const struct qcore_kv *kv, size_t i, uint32_t alignment,
                        struct qcore_error *err)
{
    size_t len = kv->key ? strlen(kv->key) : 0;
    if (len == 0 || len > QCORE_MAX_KEY_LEN || kv->vtype >= QCORE_GGUF_VTYPE_COUNT ||
        (kv->raw_len && !kv->raw))
        return qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET,
                               "gguf writer: KV #%zu has a bad key, type or value", i);
    if (strcmp(kv->key, GGUF_ALIGNMENT_KEY) == 0 &&
        (kv->vtype != QCORE_GGUF_U32 || kv->raw_len != 4 || get_le32(kv->raw) != alignment))
        return qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET,
                               "gguf writer: general.alignment must be the UINT32 %" PRIu32,
                               alignment);
    return 0;
}

static int check_out_kvs(const struct qcore_kv *kv, size_t n_kv, uint32_t alignment, size_t *bytes,
                         struct qcore_error *err)
{
    struct name_ref *refs = calloc(n_kv ? n_kv : 1, sizeof *refs);
    bool have_alignment = false;
    int rc = 0;
    if (!refs)
        return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    for (size_t i = 0; i < n_kv && rc == 0; i++) {
        rc = check_out_kv(&kv[i], i, alignment, err);
        if (rc)
            break;
        have_alignment |= strcmp(kv[i].key, GGUF_ALIGNMENT_KEY) == 0;
        if (!add_size(bytes, 8 + (uint64_t)strlen(kv[i].key) + 4) ||
            !add_size(bytes, kv[i].raw_len))
            rc = qcore_error_set(err, QCORE_ELIMIT, QCORE_NO_OFFSET,
                                 "gguf writer: header too large");
        refs[i] = (struct name_ref){kv[i].key, i};
    }
    /* readers assume 32 when the key is absent */
    if (rc == 0 && !have_alignment && alignment != GGUF_DEFAULT_ALIGNMENT)
        rc = qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET,
                             "gguf writer: alignment %" PRIu32 " needs a general.alignment KV",
                             alignment);
    const struct name_ref *dup = rc == 0 ? find_duplicate(refs, n_kv) : NULL;
    if (dup)
        rc = qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET,
                             "gguf writer: duplicate key '%.64s'", dup->name);
    free(refs);
    return rc;
}

/* Validates one output tensor as the reader would and returns its bytes. */
static int check_out_tensor(const struct qcore_gguf_out_tensor *t, uint64_t *nbytes,
                            struct qcore_error *err)
{
    char pn[72];
    size_t len = t->name ? strlen(t->name) : 0;
    const char *name = t->name ? qcore_printable(pn, sizeof pn, t->name, len) : "(null)";
    if (len == 0 || !qcore_utf8_valid((const uint8_t *)t->name, len))
        return qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET,
                               "gguf writer: tensor name '%s' is empty or not UTF-8", name);
    if (len > QCORE_GGUF_MAX_NAME)
        return qcore_error_set(err, QCORE_EUNSUPPORTED, QCORE_NO_OFFSET,
                               "tensor '%s': name is %zu bytes, GGUF allows %d", name, len,
                               QCORE_GGUF_MAX_NAME);
    if (t->n_dims < 1 || t->n_dims > QCORE_GGUF_MAX_DIMS || !t->ne)
        return qcore_error_set(err, QCORE_EUNSUPPORTED, QCORE_NO_OFFSET,
                               "tensor '%s': %" PRIu32 " dimensions, GGUF allows 1..%d", name,
                               t->n_dims, QCORE_GGUF_MAX_DIMS);
    const struct qcore_type_traits *tr = qcore_type_traits(t->type);
    if (!qcore_type_valid_gguf(t->type))
        return qcore_error_set(err, QCORE_EUNSUPPORTED, QCORE_NO_OFFSET,
                               "tensor '%s': type %s cannot be stored in GGUF", name,
                               tr ? tr->name : "(unknown)");
    int64_t numel = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        if (t->ne[d] < 0 || (t->ne[d] != 0 && numel > INT64_MAX / t->ne[d]))
            return qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET,
                                   "tensor '%s': bad dimensions", name);
        numel *= t->ne[d];
    }
    if (t->ne[0] % tr->block_size != 0)
        return qcore_error_set(err, QCORE_EUNSUPPORTED, QCORE_NO_OFFSET,
                               "tensor '%s': row length %" PRId64
                               " is not a multiple of the %s block size %" PRIu32,
                               name, t->ne[0], tr->name, tr->block_size);
    if (!qcore_type_nbytes(t->type, (uint64_t)numel, nbytes) || *nbytes > (uint64_t)INT64_MAX)
        return qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET,
                               "tensor '%s': byte size overflows", name);
    return 0;
}

static int check_out_tensors(const struct qcore_gguf_out_tensor *t, size_t n_t,
                             struct qcore_gguf_layout *l, size_t *bytes, struct qcore_error *err)
{
    struct name_ref *refs = calloc(n_t ? n_t : 1, sizeof *refs);
    int rc = 0;
    if (!refs)
        return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    for (size_t i = 0; i < n_t && rc == 0; i++) {
        rc = check_out_tensor(&t[i], &l->nbytes[i], err);
        if (rc == 0 && !add_size(bytes, 8 + (uint64_t)strlen(t[i].name) + 4 +
                                            8 * (uint64_t)t[i].n_dims + 4 + 8))
            rc = qcore_error_set(err, QCORE_ELIMIT, QCORE_NO_OFFSET,
                                 "gguf writer: header too large");
        refs[i] = (struct name_ref){t[i].name, i};
    }
    const struct name_ref *dup = rc == 0 ? find_duplicate(refs, n_t) : NULL;
    if (dup)
        rc = qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET,
                             "gguf writer: duplicate tensor name '%s'", dup->name);
    free(refs);
    return rc;
}

/* Serialises into a zeroed buffer of the computed size, so the padding is 0. */
static void serialise(uint8_t *p, const struct qcore_kv *kv, size_t n_kv,
                      const struct qcore_gguf_out_tensor *t, size_t n_t, const uint64_t *rel)
{
    memcpy(p, GGUF_MAGIC, 4);
    put_le32(p + 4, GGUF_WRITE_VERSION);
    put_le64(p + 8, n_t);
    put_le64(p + 16, n_kv);
    p += 24;
    for (size_t i = 0; i < n_kv; i++) {
        size_t len = strlen(kv[i].key);
        put_le64(p, len);
        memcpy(p + 8, kv[i].key, len);
        put_le32(p + 8 + len, kv[i].vtype);
        p += 12 + len;
        if (kv[i].raw_len)
            memcpy(p, kv[i].raw, kv[i].raw_len);
        p += kv[i].raw_len;
    }
    for (size_t i = 0; i < n_t; i++) {
        size_t len = strlen(t[i].name);
        put_le64(p, len);
        memcpy(p + 8, t[i].name, len);
        p += 8 + len;
        put_le32(p, t[i].n_dims);
        p += 4;
        for (uint32_t d = 0; d < t[i].n_dims; d++, p += 8)
            put_le64(p, (uint64_t)t[i].ne[d]);
        put_le32(p, (uint32_t)t[i].type);
        put_le64(p + 4, rel[i]);
        p += 12;
    }
}

int qcore_gguf_layout_build(const struct qcore_kv *kv, size_t n_kv,
                            const struct qcore_gguf_out_tensor *t, size_t n_t, uint32_t alignment,
                            struct qcore_gguf_layout *out, struct qcore_error *err)
{
    struct qcore_gguf_layout l = {0};
    size_t bytes = 24;
    int rc;
    memset(out, 0, sizeof *out);
    if (!is_pow2(alignment))
        return qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET,
                               "gguf writer: alignment %" PRIu32 " is not a power of two",
                               alignment);
    if (n_t > QCORE_MAX_TENSORS || n_kv > QCORE_MAX_KV)
        return qcore_error_set(err, QCORE_ELIMIT, QCORE_NO_OFFSET,
                               "gguf writer: too many tensors or KVs");
    l.offsets = calloc(n_t ? n_t : 1, sizeof *l.offsets);
    l.nbytes = calloc(n_t ? n_t : 1, sizeof *l.nbytes);
    if (!l.offsets || !l.nbytes) {
        rc = qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
        goto fail;
    }
    rc = check_out_kvs(kv, n_kv, alignment, &bytes, err);
    if (rc == 0)
        rc = check_out_tensors(t, n_t, &l, &bytes, err);
    if (rc)
        goto fail;
    if (bytes > (uint64_t)INT64_MAX / 2) {
        rc = qcore_error_set(err, QCORE_ELIMIT, QCORE_NO_OFFSET, "gguf writer: header too large");
        goto fail;
    }
    l.header_len = (size_t)align_up(bytes, alignment);
    /* tensor data, each padded to the alignment; offsets[] holds the
     * relative offsets until the header is serialised */
    uint64_t rel = 0, room = (uint64_t)INT64_MAX - alignment - l.header_len;
    for (size_t i = 0; i < n_t; i++) {
        l.offsets[i] = rel;
        if (rel > room || l.nbytes[i] > room - rel) {
            rc = qcore_error_set(err, QCORE_ELIMIT, QCORE_NO_OFFSET, "gguf writer: file too large");
            goto fail;
        }
        rel = align_up(rel + l.nbytes[i], alignment);
    }
    l.header = calloc(1, l.header_len);
    if (!l.header) {
        rc = qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory for the header");
        goto fail;
    }
    serialise(l.header, kv, n_kv, t, n_t, l.offsets);
    for (size_t i = 0; i < n_t; i++)
        l.offsets[i] += l.header_len;
    l.file_size = l.header_len + rel;
    *out = l;
    return 0;
fail:
    qcore_gguf_layout_cleanup(&l);
    return rc;
}

void qcore_gguf_layout_cleanup(struct qcore_gguf_layout *l)
{
    if (!l)
        return;
    free(l->header);
    free(l->offsets);
    free(l->nbytes);
    memset(l, 0, sizeof *l);
}

/* ---- KV helpers ------------------------------------------------------- */

static int kv_make(struct qcore_kv *kv, const char *key, uint32_t vtype, size_t raw_len)
{
    memset(kv, 0, sizeof *kv);
    size_t len = strlen(key);
    kv->key = malloc(len + 1);
    kv->raw = malloc(raw_len ? raw_len : 1);
    if (!kv->key || !kv->raw) {
        qcore_kv_cleanup(kv);
        return QCORE_ENOMEM;
    }
    memcpy(kv->key, key, len + 1);
    kv->vtype = vtype;
    kv->raw_len = raw_len;
    return 0;
}

int qcore_kv_make_u32(struct qcore_kv *kv, const char *key, uint32_t v)
{
    int rc = kv_make(kv, key, QCORE_GGUF_U32, 4);
    if (rc == 0)
        put_le32(kv->raw, v);
    return rc;
}

int qcore_kv_make_str(struct qcore_kv *kv, const char *key, const char *s)
{
    size_t len = strlen(s);
    if (len > SIZE_MAX - 8)
        return QCORE_EINVAL;
    int rc = kv_make(kv, key, QCORE_GGUF_STRING, 8 + len);
    if (rc == 0) {
        put_le64(kv->raw, len);
        memcpy(kv->raw + 8, s, len);
    }
    return rc;
}

int qcore_kv_copy(struct qcore_kv *dst, const struct qcore_kv *src)
{
    int rc = kv_make(dst, src->key, src->vtype, src->raw_len);
    if (rc == 0) {
        dst->arr_type = src->arr_type;
        dst->arr_len = src->arr_len;
        if (src->raw_len)
            memcpy(dst->raw, src->raw, src->raw_len);
    }
    return rc;
}

void qcore_kv_cleanup(struct qcore_kv *kv)
{
    if (!kv)
        return;
    free(kv->key);
    free(kv->raw);
    memset(kv, 0, sizeof *kv);
}

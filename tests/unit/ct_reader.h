/* tests/unit/ct_reader.h — an independent reader of safetensors files in the
 * compressed-tensors layouts, written from FORMATS.md §6 alone (it calls
 * nothing of core/ but jansson for the JSON header), so that the tests
 * check the writer against the format rather than against itself.
 * Header-only; tests only. */
#ifndef QD_CT_READER_H
#define QD_CT_READER_H

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ctr_tensor {
    const char *name;        /* points into the header */
    const char *dtype;
    int nd;
    int64_t shape[8];        /* outermost first */
    int64_t numel;
    const uint8_t *data;
    size_t nbytes;
};

struct ctr_file {
    json_t *header;
    json_t *meta;            /* __metadata__ or NULL (borrowed from header) */
    size_t n;
    struct ctr_tensor *t;    /* in data order */
    uint8_t *buf;
    size_t len;
};

static inline size_t ctr_dtype_size(const char *d)
{
    if (!strcmp(d, "F32") || !strcmp(d, "I32") || !strcmp(d, "U32"))
        return 4;
    if (!strcmp(d, "F16") || !strcmp(d, "BF16") || !strcmp(d, "I16"))
        return 2;
    if (!strcmp(d, "I64") || !strcmp(d, "F64"))
        return 8;
    return 1;
}

static inline int ctr_cmp_off(const void *a, const void *b)
{
    const struct ctr_tensor *x = a, *y = b;
    return x->data < y->data ? -1 : x->data > y->data;
}

/* Load a whole file; 0 or -1. Checks that the tensors tile the data. */
static inline int ctr_load(const char *path, struct ctr_file *f)
{
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return -1;
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    f->buf = malloc((size_t)len + 1);
    if (!f->buf || fread(f->buf, 1, (size_t)len, fp) != (size_t)len) {
        fclose(fp);
        return -1;
    }
    fclose(fp);
    f->len = (size_t)len;
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | f->buf[i];
    if (hl + 8 > f->len || hl % 8 != 0)
        return -1;
    f->header = json_loadb((const char *)f->buf + 8, (size_t)hl, 0, NULL);
    if (!json_is_object(f->header))
        return -1;
    f->meta = json_object_get(f->header, "__metadata__");
    f->t = calloc(json_object_size(f->header) + 1, sizeof *f->t);
    const char *k;
    json_t *v;
    const uint8_t *base = f->buf + 8 + hl;
    json_object_foreach(f->header, k, v) {
        if (!strcmp(k, "__metadata__"))
            continue;
        struct ctr_tensor *t = &f->t[f->n++];
        t->name = k;
        t->dtype = json_string_value(json_object_get(v, "dtype"));
        json_t *sh = json_object_get(v, "shape");
        t->nd = (int)json_array_size(sh);
        t->numel = 1;
        for (int d = 0; d < t->nd; d++) {
            t->shape[d] = json_integer_value(json_array_get(sh, (size_t)d));
            t->numel *= t->shape[d];
        }
        json_t *off = json_object_get(v, "data_offsets");
        int64_t b = json_integer_value(json_array_get(off, 0)), e = json_integer_value(json_array_get(off, 1));
        t->data = base + b;
        t->nbytes = (size_t)(e - b);
        if (!t->dtype || (size_t)t->numel * ctr_dtype_size(t->dtype) != t->nbytes ||
            base + e > f->buf + f->len)
            return -1;
    }
    /* dense: sorted by offset, each starts where the previous ended */
    struct ctr_tensor *s = calloc(f->n + 1, sizeof *s);
    memcpy(s, f->t, f->n * sizeof *s);
    qsort(s, f->n, sizeof *s, ctr_cmp_off);
    const uint8_t *at = base;
    for (size_t i = 0; i < f->n; i++) {
        if (s[i].data != at) {
            free(s);
            return -1;
        }
        at += s[i].nbytes;
    }
    free(s);
    return at == f->buf + f->len ? 0 : -1;
}

static inline void ctr_free(struct ctr_file *f)
{
    json_decref(f->header);
    free(f->t);
    free(f->buf);
    memset(f, 0, sizeof *f);
}

static inline const struct ctr_tensor *ctr_find(const struct ctr_file *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name))
            return &f->t[i];
    return NULL;
}

static inline uint32_t ctr_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* IEEE half / bfloat16 to float, from their definitions. */
static inline float ctr_half(uint16_t h)
{
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    float v = e == 0 ? ldexpf((float)m, -24)
            : e == 31 ? (m ? NAN : INFINITY)
                      : ldexpf((float)(m + 1024), e - 25);
    return s ? -v : v;
}

static inline float ctr_bf16(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Element i of a float tensor (F32, F16, BF16) as float. */
static inline float ctr_float(const struct ctr_tensor *t, int64_t i)
{
    const uint8_t *p = t->data + (size_t)i * ctr_dtype_size(t->dtype);
    if (!strcmp(t->dtype, "F32")) {
        uint32_t u = ctr_le32(p);
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    uint16_t h = (uint16_t)(p[0] | p[1] << 8);
    return !strcmp(t->dtype, "F16") ? ctr_half(h) : ctr_bf16(h);
}

static inline int64_t ctr_i64(const struct ctr_tensor *t, int64_t i)
{
    uint64_t v = 0;
    for (int k = 7; k >= 0; k--)
        v = v << 8 | t->data[i * 8 + k];
    return (int64_t)v;
}

/* The unsigned field at bit position i*bits of the bit stream of `row` of a
 * packed I32 tensor [rows, words]: word i / (32/bits), shift (i % (32/bits))*bits. */
static inline unsigned ctr_field(const struct ctr_tensor *packed, int64_t row, int64_t i,
                                 unsigned bits)
{
    int64_t per = 32 / bits, words = packed->shape[1];
    uint32_t w = ctr_le32(packed->data + 4 * (size_t)(row * words + i / per));
    return (w >> ((i % per) * bits)) & ((1u << bits) - 1);
}

/* E4M3FN to float from its definition. */
static inline float ctr_e4m3(uint8_t b)
{
    int e = (b >> 3) & 15, m = b & 7;
    if (e == 15 && m == 7)
        return NAN;
    float v = e == 0 ? ldexpf((float)m, -9) : ldexpf((float)(8 + m), e - 10);
    return (b & 0x80) ? -v : v;
}

#endif

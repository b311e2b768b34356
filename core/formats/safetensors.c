/* core/formats/safetensors.c — safetensors header reader and writer.
 *
 * The rules follow the reference implementation (huggingface/safetensors):
 * header length at most 100 MiB, a JSON object that starts with '{', no
 * duplicate keys, and a data buffer covered exactly by the tensors: sorted by
 * their begin offset, each starts where the previous one ended, the first at
 * 0, the last ends at the end of the file. Unknown fields inside a tensor
 * entry are ignored, as the reference does.
 *
 * Order: jansson (>= 2.8) keeps object keys in insertion order, so iterating
 * the parsed header gives the tensors in file order; JSON_PRESERVE_ORDER is
 * an encoder flag and is passed when dumping.
 */
#include "core/formats/internal.h"
#include "core/formats/safetensors.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(JANSSON_VERSION_HEX) && JANSSON_VERSION_HEX < 0x020800
#error "jansson >= 2.8 is needed: older versions do not keep object key order"
#endif

#define ST_METADATA_KEY "__metadata__"
#define ST_HEADER_ALIGN 8u

/* ---- helpers ------------------------------------------------------------ */

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}


/* Every reader error: "safetensors: [tensor 'x': ]problem (offset N)". */
static int bad(struct qcore_error *err, int code, uint64_t off, const char *tensor,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int bad(struct qcore_error *err, int code, uint64_t off, const char *tensor,
               const char *fmt, ...)
{
    char detail[224], pn[72];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (tensor)
        return qcore_error_set(err, code, off, "safetensors: tensor '%s': %s (offset %" PRIu64 ")",
                               qcore_printable(pn, sizeof pn, tensor, strlen(tensor)), detail, off);
    return qcore_error_set(err, code, off, "safetensors: %s (offset %" PRIu64 ")", detail, off);
}

/* A JSON integer in [0, INT64_MAX]. */
static bool json_nonneg_int(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

/* ---- the reader ----------------------------------------------------------- */

struct st_ctx {
    struct qcore_model *m;
    struct qcore_error *err;
    uint64_t data_off; /* absolute start of the data buffer */
    uint64_t data_len;
};

/* Reads and checks the 8-byte length; returns the JSON text (not
 * NUL-terminated) in *out, *len bytes. */
static int read_header_text(struct st_ctx *c, char **out, size_t *len)
{
    uint8_t b[8];
    uint64_t size = c->m->file_size;
    if (size < 8)
        return bad(c->err, QCORE_EMALFORMED, 0, NULL,
                   "file of %" PRIu64 " bytes is too small for the 8-byte header length", size);
    int rc = qcore_pread_full(c->m->fd, b, 8, 0, c->err);
    if (rc)
        return rc;
    uint64_t n = get_le64(b);
    if (n > size - 8)
        return bad(c->err, QCORE_EMALFORMED, 0, NULL,
                   "header length %" PRIu64 " exceeds the %" PRIu64 " bytes after it", n, size - 8);
    if (n > QCORE_ST_MAX_HEADER)
        return bad(c->err, QCORE_ELIMIT, 0, NULL,
                   "header length %" PRIu64 " is more than the %u bytes allowed", n,
                   QCORE_ST_MAX_HEADER);
    if (n < 2)
        return bad(c->err, QCORE_EMALFORMED, 0, NULL, "header length %" PRIu64 " is too small", n);
    char *text = malloc((size_t)n);
    if (!text)
        return qcore_error_set(c->err, QCORE_ENOMEM, 8, "out of memory for the header");
    rc = qcore_pread_full(c->m->fd, text, (size_t)n, 8, c->err);
    if (rc == 0 && text[0] != '{')
        rc = bad(c->err, QCORE_EMALFORMED, 8, NULL, "the header does not start with '{'");
    if (rc) {
        free(text);
        return rc;
    }
    c->data_off = 8 + n;
    c->data_len = size - c->data_off;
    *out = text;
    *len = (size_t)n;
    return 0;
}

static int parse_metadata(struct st_ctx *c, json_t *md)
{
    const char *k;
    json_t *v;
    if (!json_is_object(md))
        return bad(c->err, QCORE_EMALFORMED, 8, NULL, "__metadata__ is not an object");
    json_object_foreach(md, k, v)
    {
        if (!json_is_string(v)) {
            char pn[72];
            return bad(c->err, QCORE_EMALFORMED, 8, NULL,
                       "__metadata__ value of '%s' is not a string",
                       qcore_printable(pn, sizeof pn, k, strlen(k)));
        }
    }
    c->m->st_metadata = json_dumps(md, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!c->m->st_metadata)
        return qcore_error_set(c->err, QCORE_ENOMEM, 8, "out of memory for __metadata__");
    return 0;
}

/* "shape": array of non-negative integers, stored reversed (ggml order). */
static int parse_shape(struct st_ctx *c, const char *name, const json_t *shape,
                       struct qcore_tensor *t)
{
    if (!json_is_array(shape))
        return bad(c->err, QCORE_EMALFORMED, 8, name, "\"shape\" is missing or not an array");
    size_t nd = json_array_size(shape);
    if (nd > QCORE_MAX_DIMS)
        return bad(c->err, QCORE_ELIMIT, 8, name, "%zu dimensions, more than the %d allowed", nd,
                   QCORE_MAX_DIMS);
    int64_t numel = 1;
    for (size_t d = 0; d < QCORE_MAX_DIMS; d++)
        t->ne[d] = 1;
    for (size_t d = 0; d < nd; d++) {
        uint64_t v;
        if (!json_nonneg_int(json_array_get(shape, d), &v))
            return bad(c->err, QCORE_EMALFORMED, 8, name,
                       "shape[%zu] is not a non-negative integer", d);
        if (v != 0 && (uint64_t)numel > (uint64_t)INT64_MAX / v)
            return bad(c->err, QCORE_EMALFORMED, 8, name, "element count overflows int64");
        numel *= (int64_t)v;
        t->ne[nd - 1 - d] = (int64_t)v;
    }
    t->n_dims = (uint32_t)nd;
    t->numel = numel;
    return 0;
}

/* "data_offsets": [begin, end] within the data buffer, end - begin bytes. */
static int parse_offsets(struct st_ctx *c, const char *name, const json_t *offs,
                         struct qcore_tensor *t)
{
    uint64_t begin, end;
    if (!json_is_array(offs) || json_array_size(offs) != 2 ||
        !json_nonneg_int(json_array_get(offs, 0), &begin) ||
        !json_nonneg_int(json_array_get(offs, 1), &end))
        return bad(c->err, QCORE_EMALFORMED, 8, name,
                   "\"data_offsets\" is not a pair of non-negative integers");
    if (begin > end || end > c->data_len)
        return bad(c->err, QCORE_EMALFORMED, c->data_off, name,
                   "data_offsets [%" PRIu64 ", %" PRIu64 "] out of bounds of the %" PRIu64
                   "-byte data buffer",
                   begin, end, c->data_len);
    if (end - begin != t->nbytes)
        return bad(c->err, QCORE_EMALFORMED, c->data_off + begin, name,
                   "shape and dtype make %" PRIu64 " bytes, data_offsets span %" PRIu64, t->nbytes,
                   end - begin);
    t->offset = begin; /* relative until the layout check */
    return 0;
}

static int parse_tensor(struct st_ctx *c, const char *name, const json_t *e, struct qcore_tensor *t)
{
    size_t len = strlen(name); /* jansson rejects NUL bytes in keys */
    if (len == 0)
        return bad(c->err, QCORE_EMALFORMED, 8, NULL, "empty tensor name");
    if (len > QCORE_MAX_KEY_LEN)
        return bad(c->err, QCORE_ELIMIT, 8, name, "name is %zu bytes, more than the %d allowed",
                   len, QCORE_MAX_KEY_LEN);
    if (!json_is_object(e))
        return bad(c->err, QCORE_EMALFORMED, 8, name, "entry is not an object");
    const json_t *dt = json_object_get(e, "dtype");
    enum qcore_type type;
    if (!json_is_string(dt))
        return bad(c->err, QCORE_EMALFORMED, 8, name, "\"dtype\" is missing or not a string");
    if (qcore_type_from_st_dtype(json_string_value(dt), &type) != 0) {
        char pd[40];
        return bad(c->err, QCORE_EUNSUPPORTED, 8, name, "unknown dtype '%s'",
                   qcore_printable(pd, sizeof pd, json_string_value(dt), strlen(json_string_value(dt))));
    }
    t->type = type;
    int rc = parse_shape(c, name, json_object_get(e, "shape"), t);
    if (rc)
        return rc;
    if (!qcore_type_nbytes(t->type, (uint64_t)t->numel, &t->nbytes))
        return bad(c->err, QCORE_EMALFORMED, 8, name, "byte size overflows");
    rc = parse_offsets(c, name, json_object_get(e, "data_offsets"), t);
    if (rc)
        return rc;
    t->name = malloc(len + 1);
    if (!t->name)
        return qcore_error_set(c->err, QCORE_ENOMEM, 8, "out of memory");
    memcpy(t->name, name, len + 1);
    return 0;
}

struct span {
    uint64_t begin, end;
    size_t idx;
};

static int span_cmp(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* Sorted by begin, the tensors must tile [0, data_len) exactly. */
static int check_layout(struct st_ctx *c)
{
    struct qcore_model *m = c->m;
    struct span *s = calloc(m->n_tensors ? m->n_tensors : 1, sizeof *s);
    uint64_t expect = 0;
    int rc = 0;
    if (!s)
        return qcore_error_set(c->err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    for (size_t i = 0; i < m->n_tensors; i++)
        s[i] = (struct span){m->tensors[i].offset, m->tensors[i].offset + m->tensors[i].nbytes, i};
    qsort(s, m->n_tensors, sizeof *s, span_cmp);
    for (size_t i = 0; i < m->n_tensors && rc == 0; i++) {
        const char *name = m->tensors[s[i].idx].name;
        if (s[i].begin < expect)
            rc = bad(c->err, QCORE_EMALFORMED, c->data_off + s[i].begin, name,
                     "data [%" PRIu64 ", %" PRIu64
                     ") overlaps the previous tensor, which ends at %" PRIu64,
                     s[i].begin, s[i].end, expect);
        else if (s[i].begin > expect)
            rc = bad(c->err, QCORE_EMALFORMED, c->data_off + expect, name,
                     "gap of %" PRIu64 " bytes before its data at %" PRIu64, s[i].begin - expect,
                     s[i].begin);
        expect = s[i].end;
    }
    if (rc == 0 && expect != c->data_len)
        rc = bad(c->err, QCORE_EMALFORMED, c->data_off + expect, NULL,
                 "%" PRIu64 " trailing bytes after the last tensor", c->data_len - expect);
    free(s);
    return rc;
}

static int parse_root(struct st_ctx *c, json_t *root)
{
    struct qcore_model *m = c->m;
    const char *key;
    json_t *v;
    if (!json_is_object(root))
        return bad(c->err, QCORE_EMALFORMED, 8, NULL, "the header is not a JSON object");
    size_t n = json_object_size(root);
    if (json_object_get(root, ST_METADATA_KEY))
        n--;
    if (n > QCORE_MAX_TENSORS)
        return bad(c->err, QCORE_ELIMIT, 8, NULL, "%zu tensors, more than the %u allowed", n,
                   QCORE_MAX_TENSORS);
    m->tensors = calloc(n ? n : 1, sizeof *m->tensors);
    if (!m->tensors)
        return qcore_error_set(c->err, QCORE_ENOMEM, 8, "out of memory for %zu tensors", n);
    json_object_foreach(root, key, v)
    {
        int rc;
        if (strcmp(key, ST_METADATA_KEY) == 0) {
            rc = parse_metadata(c, v);
        } else {
            rc = parse_tensor(c, key, v, &m->tensors[m->n_tensors]);
            m->n_tensors++; /* counted even on failure so that close frees the name */
        }
        if (rc)
            return rc;
    }
    return check_layout(c);
}

/* Upper bound on the JSON values in `text`: one per '{', '[' and ',' outside
 * strings (plus one). jansson spends about a hundred bytes per value, so a
 * 100 MiB header of tiny values would cost gigabytes; this cheap pass lets
 * the reader refuse such a header before parsing it. */
static uint64_t count_json_values(const char *text, size_t len)
{
    uint64_t n = 1;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char ch = text[i];
        if (in_str) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                in_str = false;
        } else if (ch == '"') {
            in_str = true;
        } else {
            n += ch == '{' || ch == '[' || ch == ',';
        }
    }
    return n;
}

int qcore_st_read(struct qcore_model *m, struct qcore_error *err)
{
    struct st_ctx c = {.m = m, .err = err};
    char *text = NULL;
    size_t len = 0;
    json_error_t jerr;
    int rc = read_header_text(&c, &text, &len);
    if (rc)
        return rc;
    uint64_t values = count_json_values(text, len);
    if (values > QCORE_ST_MAX_JSON_VALUES) {
        free(text);
        return bad(err, QCORE_ELIMIT, 8, NULL,
                   "header holds about %" PRIu64 " JSON values (at most %u are read)", values,
                   QCORE_ST_MAX_JSON_VALUES);
    }
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    /* jansson names every syntax error; it fails without a word only when
     * an allocation failed */
    if (!root && (!jerr.text[0] || json_error_code(&jerr) == json_error_out_of_memory))
        return qcore_error_set(err, QCORE_ENOMEM, 8, "out of memory for the header");
    if (!root) {
        char pt[120];
        uint64_t pos = jerr.position > 0 ? (uint64_t)jerr.position : 0;
        return bad(err, QCORE_EMALFORMED, 8 + pos, NULL, "invalid JSON header: %s",
                   qcore_printable(pt, sizeof pt, jerr.text, strlen(jerr.text)));
    }
    m->alignment = 1;
    m->data_offset = c.data_off;
    rc = parse_root(&c, root);
    json_decref(root);
    if (rc)
        return rc;
    for (size_t i = 0; i < m->n_tensors; i++)
        m->tensors[i].offset += c.data_off;
    return 0;
}

/* ---- the writer ----------------------------------------------------------- */

/* Parses __metadata__ text: a JSON object of string values. */
static int load_metadata(const char *text, json_t **out, struct qcore_error *err)
{
    json_error_t jerr;
    const char *k;
    json_t *v, *md = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    *out = NULL;
    if (!md && (!jerr.text[0] || json_error_code(&jerr) == json_error_out_of_memory))
        return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    if (!md)
        return qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET,
                               "safetensors writer: metadata is not valid JSON: %s", jerr.text);
    if (!json_is_object(md)) {
        json_decref(md);
        return qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET,
                               "safetensors writer: metadata is not a JSON object");
    }
    json_object_foreach(md, k, v)
    {
        if (!json_is_string(v)) {
            json_decref(md);
            return qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET,
                                   "safetensors writer: metadata values must be strings");
        }
    }
    *out = md;
    return 0;
}

/* Validates one output tensor as the reader would and returns its bytes. */
static int check_entry(const struct qcore_st_out_tensor *t, const json_t *root, uint64_t *nbytes,
                       struct qcore_error *err)
{
    char pn[72];
    const char *name = t->name ? qcore_printable(pn, sizeof pn, t->name, strlen(t->name)) : "(null)";
    const struct qcore_type_traits *tr = qcore_type_traits(t->type);
    if (!t->name || !t->name[0] || strlen(t->name) > QCORE_MAX_KEY_LEN ||
        strcmp(t->name, ST_METADATA_KEY) == 0 || json_object_get(root, t->name))
        return qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET,
                               "safetensors writer: tensor name '%s' is empty, too long, reserved "
                               "or a duplicate",
                               name);
    if (!qcore_utf8_valid((const uint8_t *)t->name, strlen(t->name)))
        return qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET,
                               "safetensors writer: tensor name '%s' is not valid UTF-8", name);
    if (!tr || !tr->st_dtype)
        return qcore_error_set(err, QCORE_EUNSUPPORTED, QCORE_NO_OFFSET,
                               "tensor '%s': type %s has no safetensors dtype", name,
                               tr ? tr->name : "(unknown)");
    if (t->n_dims > QCORE_MAX_DIMS || (t->n_dims && !t->ne))
        return qcore_error_set(err, QCORE_ELIMIT, QCORE_NO_OFFSET,
                               "tensor '%s': %" PRIu32 " dimensions, at most %d", name, t->n_dims,
                               QCORE_MAX_DIMS);
    int64_t numel = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        if (t->ne[d] < 0 || (t->ne[d] != 0 && numel > INT64_MAX / t->ne[d]))
            return qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET,
                                   "tensor '%s': bad dimensions", name);
        numel *= t->ne[d];
    }
    if (!qcore_type_nbytes(t->type, (uint64_t)numel, nbytes) || *nbytes > (uint64_t)INT64_MAX)
        return qcore_error_set(err, QCORE_ELIMIT, QCORE_NO_OFFSET, "tensor '%s': too large", name);
    return 0;
}

/* The shape as safetensors writes it: outermost dimension first. */
static json_t *shape_json(const struct qcore_st_out_tensor *t)
{
    json_t *a = json_array();
    for (uint32_t d = t->n_dims; a && d-- > 0;) {
        if (json_array_append_new(a, json_integer(t->ne[d])) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* Adds the entry of one tensor at relative offset `begin` to root. */
static int add_entry(const struct qcore_st_out_tensor *t, uint64_t begin, json_t *root,
                     uint64_t *nbytes, struct qcore_error *err)
{
    int rc = check_entry(t, root, nbytes, err);
    if (rc)
        return rc;
    if (*nbytes > (uint64_t)INT64_MAX - begin)
        return qcore_error_set(err, QCORE_ELIMIT, QCORE_NO_OFFSET,
                               "safetensors writer: data too large");
    /* key order in the entry follows the format string */
    json_t *e =
        json_pack("{s:s, s:o, s:[I,I]}", "dtype", qcore_type_traits(t->type)->st_dtype, "shape",
                  shape_json(t), "data_offsets", (json_int_t)begin, (json_int_t)(begin + *nbytes));
    if (!e || json_object_set_new(root, t->name, e) != 0)
        return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    return 0;
}

/* The header: u64 length, the JSON text, spaces up to a multiple of 8 so
 * that the data buffer starts aligned. */
static int frame_header(const char *json, struct qcore_st_layout *l, struct qcore_error *err)
{
    size_t jlen = strlen(json);
    size_t padded = (jlen + 8 + ST_HEADER_ALIGN - 1) / ST_HEADER_ALIGN * ST_HEADER_ALIGN - 8;
    if (padded > QCORE_ST_MAX_HEADER)
        return qcore_error_set(err, QCORE_ELIMIT, QCORE_NO_OFFSET,
                               "safetensors writer: header of %zu bytes exceeds the %u-byte limit",
                               padded, QCORE_ST_MAX_HEADER);
    l->header_len = 8 + padded;
    l->header = malloc(l->header_len);
    if (!l->header)
        return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    put_le64(l->header, padded);
    memcpy(l->header + 8, json, jlen);
    memset(l->header + 8 + jlen, ' ', padded - jlen);
    return 0;
}

int qcore_st_layout_build(const char *metadata_json, const struct qcore_st_out_tensor *t,
                          size_t n_t, struct qcore_st_layout *out, struct qcore_error *err)
{
    struct qcore_st_layout l = {0};
    json_t *root = NULL, *md = NULL;
    char *json = NULL;
    uint64_t rel = 0;
    int rc;
    memset(out, 0, sizeof *out);
    if (n_t > QCORE_MAX_TENSORS)
        return qcore_error_set(err, QCORE_ELIMIT, QCORE_NO_OFFSET,
                               "safetensors writer: %zu tensors, more than the %u allowed", n_t,
                               QCORE_MAX_TENSORS);
    root = json_object();
    l.offsets = calloc(n_t ? n_t : 1, sizeof *l.offsets);
    l.nbytes = calloc(n_t ? n_t : 1, sizeof *l.nbytes);
    if (!root || !l.offsets || !l.nbytes) {
        rc = qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
        goto out;
    }
    if (metadata_json) {
        rc = load_metadata(metadata_json, &md, err);
        if (rc)
            goto out;
        if (json_object_set_new(root, ST_METADATA_KEY, md) != 0) {
            rc = qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
            goto out;
        }
    }
    for (size_t i = 0; i < n_t; i++) {
        rc = add_entry(&t[i], rel, root, &l.nbytes[i], err);
        if (rc)
            goto out;
        l.offsets[i] = rel;
        rel += l.nbytes[i];
    }
    json = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    rc = json ? frame_header(json, &l, err)
              : qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    if (rc == 0 && rel > (uint64_t)INT64_MAX - l.header_len)
        rc = qcore_error_set(err, QCORE_ELIMIT, QCORE_NO_OFFSET,
                             "safetensors writer: file too large");
    if (rc == 0) {
        for (size_t i = 0; i < n_t; i++)
            l.offsets[i] += l.header_len;
        l.file_size = l.header_len + rel;
        *out = l;
    }
out:
    free(json);
    json_decref(root);
    if (rc)
        qcore_st_layout_cleanup(&l);
    return rc;
}

void qcore_st_layout_cleanup(struct qcore_st_layout *l)
{
    if (!l)
        return;
    free(l->header);
    free(l->offsets);
    free(l->nbytes);
    memset(l, 0, sizeof *l);
}

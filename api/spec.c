/* api/spec.c — job request parsing and validation. */
#include "api/spec.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/route.h"
#include "core/ctq.h"
#include "core/formats/model.h"
#include "core/plan.h"
#include "core/types.h"

void qd_spec_init(struct qd_spec *s)
{
    memset(s, 0, sizeof *s);
    s->ftype = QCORE_FTYPE_Q4_K_M;
    snprintf(s->scheme, sizeof s->scheme, "%s", "Q4_K_M");
    s->out_format = QCORE_FORMAT_GGUF;
    s->wait_s = -1;
}

void qd_spec_cleanup(struct qd_spec *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_overrides; i++)
        free(s->overrides[i].pattern);
    free(s->overrides);
    for (size_t i = 0; i < s->n_ignore; i++)
        free(s->ignore[i]);
    free(s->ignore);
    s->overrides = NULL;
    s->ignore = NULL;
    s->n_overrides = s->n_ignore = 0;
}

static enum qd_problem set_scheme(struct qd_spec *s, const char *name, char *d, size_t dl)
{
    enum qcore_ftype ft;
    enum qcore_ct_scheme cs;
    if (name && qcore_ct_scheme_from_name(name, &cs) == 0 && qcore_ct_scheme_name(cs)) {
        /* As the CLI: a compressed-tensors scheme first (int8, W4A16...). */
        s->ct_scheme = (int)cs;
        snprintf(s->scheme, sizeof s->scheme, "%s", qcore_ct_scheme_name(cs));
        return QD_P_NONE;
    }
    s->ct_scheme = QCORE_CT_NONE;
    if (!name || qcore_ftype_from_name(name, &ft) != 0 || !qcore_ftype_name(ft)) {
        snprintf(d, dl, "unknown scheme '%.64s' (see GET /v1/capabilities)", name ? name : "");
        return QD_P_UNKNOWN_SCHEME;
    }
    s->ftype = (int)ft;
    snprintf(s->scheme, sizeof s->scheme, "%s", qcore_ftype_name(ft));
    return QD_P_NONE;
}

static enum qd_problem set_format(struct qd_spec *s, const char *f, char *d, size_t dl)
{
    if (strcasecmp(f, "gguf") == 0) {
        s->out_format = QCORE_FORMAT_GGUF;
    } else if (strcasecmp(f, "safetensors") == 0) {
        s->out_format = QCORE_FORMAT_SAFETENSORS;
    } else {
        snprintf(d, dl, "output format '%.32s' is not gguf or safetensors", f);
        return QD_P_INVALID_SPEC;
    }
    s->format_set = true;
    return QD_P_NONE;
}

/* group_size: "channel" or 1..QCORE_CT_MAX_GROUP (as --group-size). */
static enum qd_problem set_group_text(struct qd_spec *s, const char *v, char *d, size_t dl)
{
    if (strcasecmp(v, "channel") == 0) {
        s->group_size = QCORE_GROUP_CHANNEL;
        return QD_P_NONE;
    }
    errno = 0;
    char *end = NULL;
    long long g = strtoll(v, &end, 10);
    if (errno || end == v || *end != '\0' || g < 1 || g > QCORE_CT_MAX_GROUP) {
        snprintf(d, dl, "group_size must be 1..%d or \"channel\"", QCORE_CT_MAX_GROUP);
        return QD_P_INVALID_SPEC;
    }
    s->group_size = (int64_t)g;
    return QD_P_NONE;
}

/* Rules across fields, checked once everything is parsed (the same as the
 * CLI's): int schemes write safetensors; group_size and overrides to an int
 * scheme need one. */
static enum qd_problem finalize(struct qd_spec *s, char *d, size_t dl)
{
    if (s->ct_scheme != QCORE_CT_NONE) {
        if (s->format_set && s->out_format != QCORE_FORMAT_SAFETENSORS) {
            snprintf(d, dl, "scheme %s writes safetensors (the compressed-tensors layout), "
                            "not gguf", s->scheme);
            return QD_P_INVALID_SPEC;
        }
        s->out_format = QCORE_FORMAT_SAFETENSORS;
        return QD_P_NONE;
    }
    if (s->group_size != QCORE_GROUP_DEFAULT) {
        snprintf(d, dl, "group_size applies to the int8, int4, int8-asym, int4-asym and fp8 "
                        "schemes");
        return QD_P_INVALID_SPEC;
    }
    for (size_t i = 0; i < s->n_overrides; i++) {
        if (s->overrides[i].type >= QCORE_OVERRIDE_CT_BASE) {
            snprintf(d, dl, "overrides[%zu]: a compressed-tensors type needs an int or fp8 "
                            "scheme", i);
            return QD_P_INVALID_SPEC;
        }
    }
    return QD_P_NONE;
}

static int parse_bool(const char *v, bool *out)
{
    if (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || v[0] == '\0') {
        *out = true;
        return 0;
    }
    if (strcmp(v, "0") == 0 || strcasecmp(v, "false") == 0) {
        *out = false;
        return 0;
    }
    return -1;
}

enum qd_problem qd_spec_from_query(struct qd_spec *s, qd_query_get_fn get, void *ud,
                                   int64_t max_wait, char *d, size_t dl)
{
    const char *scheme = get(ud, "scheme");
    if (!scheme)
        scheme = get(ud, "type");
    if (!scheme) {
        snprintf(d, dl, "missing query parameter 'scheme' (e.g. ?scheme=Q4_K_M)");
        return QD_P_INVALID_SPEC;
    }
    enum qd_problem p = set_scheme(s, scheme, d, dl);
    if (p)
        return p;
    const char *f = get(ud, "format");
    if (f && (p = set_format(s, f, d, dl)) != QD_P_NONE)
        return p;
    const char *g = get(ud, "group_size");
    if (g && (p = set_group_text(s, g, d, dl)) != QD_P_NONE)
        return p;
    const char *w = get(ud, "wait");
    if (w) {
        errno = 0;
        char *end = NULL;
        long long v = strtoll(w, &end, 10);
        if (errno || end == w || *end != '\0' || v < 0) {
            snprintf(d, dl, "wait must be a number of seconds >= 0");
            return QD_P_INVALID_SPEC;
        }
        s->wait_s = v > max_wait ? max_wait : v;
    }
    const char *dr = get(ud, "dry_run");
    if (dr && parse_bool(dr, &s->dry_run) != 0) {
        snprintf(d, dl, "dry_run must be true or false");
        return QD_P_INVALID_SPEC;
    }
    const char *pu = get(ud, "pure");
    if (pu && parse_bool(pu, &s->pure) != 0) {
        snprintf(d, dl, "pure must be true or false");
        return QD_P_INVALID_SPEC;
    }
    return finalize(s, d, dl);
}

static int regex_ok(const char *pat, char *d, size_t dl)
{
    if (strlen(pat) > QD_MAX_PATTERN_LEN) {
        snprintf(d, dl, "pattern longer than %d bytes", QD_MAX_PATTERN_LEN);
        return -1;
    }
    struct qcore_error e = {0};
    if (qcore_pattern_check(pat, &e) != 0) {
        snprintf(d, dl, "%s", e.msg);
        return -1;
    }
    regex_t re;
    int rc = regcomp(&re, pat, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char why[128];
        regerror(rc, &re, why, sizeof why);
        snprintf(d, dl, "bad regex '%.64s': %s", pat, why);
        return -1;
    }
    regfree(&re);
    return 0;
}

static enum qd_problem parse_overrides(struct qd_spec *s, json_t *arr, char *d, size_t dl)
{
    if (!json_is_array(arr) || json_array_size(arr) > QD_MAX_OVERRIDES) {
        snprintf(d, dl, "overrides must be an array of at most %d {match, type}",
                 QD_MAX_OVERRIDES);
        return QD_P_INVALID_SPEC;
    }
    size_t n = json_array_size(arr);
    s->overrides = calloc(n ? n : 1, sizeof *s->overrides);
    if (!s->overrides)
        return QD_P_INTERNAL;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        const char *m = json_string_value(json_object_get(o, "match"));
        const char *t = json_string_value(json_object_get(o, "type"));
        enum qcore_type ty;
        enum qcore_ct_scheme cs;
        if (!m || !t) {
            snprintf(d, dl, "overrides[%zu] needs string 'match' and 'type'", i);
            return QD_P_INVALID_SPEC;
        }
        int type;
        if (qcore_ct_scheme_from_name(t, &cs) == 0) {
            type = QCORE_OVERRIDE_CT(cs);
        } else if (qcore_type_from_name(t, &ty) == 0) {
            type = (int)ty;
        } else {
            snprintf(d, dl, "overrides[%zu]: unknown type '%.32s'", i, t);
            return QD_P_UNKNOWN_SCHEME;
        }
        if (regex_ok(m, d, dl) != 0)
            return QD_P_INVALID_SPEC;
        s->overrides[i].pattern = strdup(m);
        s->overrides[i].type = type;
        s->n_overrides = i + 1;
        if (!s->overrides[i].pattern)
            return QD_P_INTERNAL;
    }
    return QD_P_NONE;
}

static enum qd_problem parse_ignore(struct qd_spec *s, json_t *arr, char *d, size_t dl)
{
    if (!json_is_array(arr) || json_array_size(arr) > QD_MAX_OVERRIDES) {
        snprintf(d, dl, "ignore must be an array of at most %d regex strings",
                 QD_MAX_OVERRIDES);
        return QD_P_INVALID_SPEC;
    }
    size_t n = json_array_size(arr);
    s->ignore = calloc(n ? n : 1, sizeof *s->ignore);
    if (!s->ignore)
        return QD_P_INTERNAL;
    for (size_t i = 0; i < n; i++) {
        const char *m = json_string_value(json_array_get(arr, i));
        if (!m) {
            snprintf(d, dl, "ignore[%zu] must be a string", i);
            return QD_P_INVALID_SPEC;
        }
        if (regex_ok(m, d, dl) != 0)
            return QD_P_INVALID_SPEC;
        s->ignore[i] = strdup(m);
        s->n_ignore = i + 1;
        if (!s->ignore[i])
            return QD_P_INTERNAL;
    }
    return QD_P_NONE;
}

static const char *const known_keys[] = {"model", "scheme", "type", "group_size", "overrides",
                                         "ignore", "output", "dry_run", "pure", NULL};

static enum qd_problem check_keys(json_t *root, char *d, size_t dl)
{
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        bool ok = false;
        for (size_t i = 0; known_keys[i]; i++)
            ok = ok || strcmp(key, known_keys[i]) == 0;
        if (!ok) {
            snprintf(d, dl, "unknown field '%.64s'", key);
            return QD_P_INVALID_SPEC;
        }
    }
    return QD_P_NONE;
}

static enum qd_problem spec_fields(struct qd_spec *s, json_t *root, bool need_model, char *d,
                                   size_t dl)
{
    enum qd_problem p = check_keys(root, d, dl);
    if (p)
        return p;
    json_t *m = json_object_get(root, "model");
    if (m && !json_is_null(m)) {
        const char *name = json_string_value(m);
        if (!name || !qd_name_valid(name)) {
            snprintf(d, dl, "model must be an uploaded model's name ([A-Za-z0-9._-]+)");
            return QD_P_INVALID_SPEC;
        }
        snprintf(s->model, sizeof s->model, "%s", name);
    } else if (need_model) {
        snprintf(d, dl, "missing field 'model' (upload with PUT /v1/models/{name} first)");
        return QD_P_INVALID_SPEC;
    }
    json_t *sc = json_object_get(root, "scheme");
    if (!sc)
        sc = json_object_get(root, "type");
    if (!json_is_string(sc)) {
        snprintf(d, dl, "missing string field 'scheme'");
        return QD_P_INVALID_SPEC;
    }
    if ((p = set_scheme(s, json_string_value(sc), d, dl)) != QD_P_NONE)
        return p;
    json_t *gs = json_object_get(root, "group_size");
    if (json_is_integer(gs)) {
        char num[32];
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(gs));
        if ((p = set_group_text(s, num, d, dl)) != QD_P_NONE)
            return p;
    } else if (json_is_string(gs)) {
        if ((p = set_group_text(s, json_string_value(gs), d, dl)) != QD_P_NONE)
            return p;
    } else if (gs && !json_is_null(gs)) {
        snprintf(d, dl, "group_size must be a number or \"channel\"");
        return QD_P_INVALID_SPEC;
    }
    json_t *ov = json_object_get(root, "overrides");
    if (ov && (p = parse_overrides(s, ov, d, dl)) != QD_P_NONE)
        return p;
    json_t *ig = json_object_get(root, "ignore");
    if (ig && !json_is_null(ig) && (p = parse_ignore(s, ig, d, dl)) != QD_P_NONE)
        return p;
    json_t *out = json_object_get(root, "output");
    if (out) {
        json_t *f = json_object_get(out, "format");
        if (!json_is_object(out) || (f && !json_is_string(f))) {
            snprintf(d, dl, "output must be {\"format\": \"gguf\"|\"safetensors\"}");
            return QD_P_INVALID_SPEC;
        }
        if (f && (p = set_format(s, json_string_value(f), d, dl)) != QD_P_NONE)
            return p;
    }
    json_t *dr = json_object_get(root, "dry_run");
    json_t *pu = json_object_get(root, "pure");
    if ((dr && !json_is_boolean(dr)) || (pu && !json_is_boolean(pu))) {
        snprintf(d, dl, "dry_run and pure must be booleans");
        return QD_P_INVALID_SPEC;
    }
    s->dry_run = dr && json_is_true(dr);
    s->pure = pu && json_is_true(pu);
    return finalize(s, d, dl);
}

enum qd_problem qd_spec_from_json(struct qd_spec *s, const char *body, size_t len,
                                  bool need_model, char *d, size_t dl)
{
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(d, dl, "invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
        return QD_P_INVALID_SPEC;
    }
    enum qd_problem p = QD_P_INVALID_SPEC;
    if (!json_is_object(root)) {
        snprintf(d, dl, "the body must be a JSON object");
        goto out;
    }
    p = spec_fields(s, root, need_model, d, dl);
out:
    json_decref(root);
    return p;
}

json_t *qd_spec_to_json(const struct qd_spec *s)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "model", s->model[0] ? json_string(s->model) : json_null());
    json_object_set_new(o, "scheme", json_string(s->scheme));
    json_object_set_new(o, "group_size",
                        s->group_size == QCORE_GROUP_CHANNEL ? json_string("channel")
                        : s->group_size > 0 ? json_integer((json_int_t)s->group_size)
                                            : json_null());
    json_t *ov = json_array();
    for (size_t i = 0; i < s->n_overrides; i++) {
        int ty = s->overrides[i].type;
        const char *tn;
        if (ty >= QCORE_OVERRIDE_CT_BASE) {
            tn = qcore_ct_scheme_name((enum qcore_ct_scheme)(ty - QCORE_OVERRIDE_CT_BASE));
        } else {
            const struct qcore_type_traits *t = qcore_type_traits(ty);
            tn = t ? t->name : NULL;
        }
        json_array_append_new(ov, json_pack("{s:s, s:s}", "match", s->overrides[i].pattern,
                                             "type", tn ? tn : "?"));
    }
    json_object_set_new(o, "overrides", ov);
    json_t *ig = s->ignore ? json_array() : json_null();
    for (size_t i = 0; s->ignore && i < s->n_ignore; i++)
        json_array_append_new(ig, json_string(s->ignore[i]));
    json_object_set_new(o, "ignore", ig);
    json_object_set_new(o, "output", json_pack("{s:s}", "format", qd_spec_format_ext(s->out_format)));
    json_object_set_new(o, "dry_run", json_boolean(s->dry_run));
    json_object_set_new(o, "pure", json_boolean(s->pure));
    return o;
}

const char *qd_spec_format_ext(int out_format)
{
    return out_format == QCORE_FORMAT_SAFETENSORS ? "safetensors" : "gguf";
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int qd_spec_parse_digest(const char *hdr, unsigned char out[32])
{
    /* Structured-field dictionary: find "sha-256=:...:" (case-insensitive key). */
    const char *p = hdr;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (strncasecmp(p, "sha-256=:", 9) == 0) {
            p += 9;
            const char *e = strchr(p, ':');
            if (!e || e - p != 44 || p[43] != '=')
                return -1;
            uint32_t acc = 0;
            int bits = 0;
            size_t k = 0;
            for (const char *q = p; q < p + 43; q++) {
                int v = b64val(*q);
                if (v < 0)
                    return -1;
                acc = (acc << 6) | (uint32_t)v;
                bits += 6;
                if (bits >= 8) {
                    bits -= 8;
                    if (k < 32)
                        out[k++] = (unsigned char)(acc >> bits);
                    acc &= (1u << bits) - 1;
                }
            }
            return k == 32 ? 0 : -1;
        }
        const char *c = strchr(p, ',');
        if (!c)
            break;
        p = c;
    }
    return -1;
}

/* api/spec.h — a job request, validated: from the query of an upload
 * (POST /v1/jobs?scheme=...) or from a JSON body. The persisted form of a
 * job's request is the JSON body shape, so recovery re-parses it with
 * qd_spec_from_json. Not thread-safe per object; no global state.
 */
#ifndef QD_API_SPEC_H
#define QD_API_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/problem.h"
#include "config/limits.h"

struct qd_spec_override {
    char *pattern;   /* POSIX ERE, compiled and checked at parse time */
    int type;        /* enum qcore_type, or QCORE_OVERRIDE_CT(scheme) */
};

struct qd_spec {
    char model[QD_MAX_NAME_LEN + 1]; /* "" for upload-and-submit */
    char scheme[32];                 /* canonical name ("Q4_K_M", "int4") */
    int ftype;                       /* enum qcore_ftype (GGUF-style schemes) */
    int ct_scheme;                   /* enum qcore_ct_scheme; QCORE_CT_NONE for ftypes */
    int64_t group_size;              /* QCORE_GROUP_DEFAULT (0), _CHANNEL (-1), or N */
    int out_format;                  /* enum qcore_format (GGUF or SAFETENSORS) */
    bool format_set;                 /* the request named the output format */
    bool dry_run;
    bool pure;
    int64_t wait_s;                  /* -1: do not wait */
    size_t n_overrides;
    struct qd_spec_override *overrides;
    size_t n_ignore;
    char **ignore;                   /* tensor-name regexes kept as they are; NULL when
                                      * the request has none (int schemes: the default
                                      * list; non-NULL with n_ignore 0: ignore nothing) */
};

/* A lookup of a query argument (NULL when absent). */
typedef const char *(*qd_query_get_fn)(void *ud, const char *key);

void qd_spec_init(struct qd_spec *s);
void qd_spec_cleanup(struct qd_spec *s);

/* From the query of an upload: scheme (alias type), group_size, format,
 * wait, pure, dry_run. `max_wait` caps wait. On failure returns the problem and writes
 * a reason into detail. */
enum qd_problem qd_spec_from_query(struct qd_spec *s, qd_query_get_fn get, void *ud,
                                   int64_t max_wait, char *detail, size_t dlen);

/* From a JSON body {"model", "scheme"|"type", "group_size", "overrides":
 * [{"match","type"}], "ignore":[...], "output":{"format"}, "dry_run", "pure"}.
 * The compressed-tensors schemes (int8, int4, int8-asym, int4-asym, fp8 and
 * the W8A16/W4A16 aliases) write safetensors; an override's type may be one
 * of them too, as in `quantd quantize --tensor-type RE=int8`. `need_model`
 * requires "model". */
enum qd_problem qd_spec_from_json(struct qd_spec *s, const char *body, size_t len,
                                  bool need_model, char *detail, size_t dlen);

/* The request as JSON (the shape qd_spec_from_json reads). */
json_t *qd_spec_to_json(const struct qd_spec *s);

/* The file extension of an output format ("gguf", "safetensors"). */
const char *qd_spec_format_ext(int out_format);

/* Parse "Content-Digest: sha-256=:BASE64:" into 32 bytes. 0, or -1 when the
 * header has no sha-256 member or it is malformed. */
int qd_spec_parse_digest(const char *hdr, unsigned char out[32]);

#endif

/* api/view.c — JSON shapes of the API. */
#include "api/view.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/limits.h"
#include "core/ctq.h"
#include "core/formats/model.h"
#include "core/plan.h"
#include "core/types.h"

static json_t *time_or_null(double t)
{
    if (t <= 0)
        return json_null();
    time_t s = (time_t)t;
    struct tm tm;
    gmtime_r(&s, &tm);
    char buf[40];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

static json_t *progress(const struct qd_job_view *v)
{
    return json_pack("{s:I, s:I, s:I, s:I}", "tensors_done", (json_int_t)v->tensors_done,
                     "tensors_total", (json_int_t)v->tensors_total, "bytes_done",
                     (json_int_t)v->bytes_done, "bytes_total", (json_int_t)v->bytes_total);
}

json_t *qd_view_job_progress(const struct qd_job_view *v)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "id", json_string(v->id));
    json_object_set_new(o, "state", json_string(v->state));
    json_object_set_new(o, "progress", progress(v));
    if (v->error_type)
        json_object_set_new(o, "error", json_pack("{s:s, s:s}", "type", v->error_type,
                                                  "detail", v->error_detail ? v->error_detail : ""));
    return o;
}

json_t *qd_view_job(const struct qd_job_view *v)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    char base[64];
    snprintf(base, sizeof base, "/v1/jobs/%s", v->id);
    json_object_set_new(o, "id", json_string(v->id));
    json_object_set_new(o, "state", json_string(v->state));
    json_object_set_new(o, "created_at", time_or_null(v->created));
    json_object_set_new(o, "started_at", time_or_null(v->started));
    json_object_set_new(o, "finished_at", time_or_null(v->finished));
    json_object_set_new(o, "progress", progress(v));
    json_object_set_new(o, "request", v->request ? json_deep_copy(v->request) : json_null());
    if (v->input_sha256)
        json_object_set_new(o, "input", json_pack("{s:s, s:I}", "sha256", v->input_sha256,
                                                  "size", (json_int_t)v->input_size));
    json_object_set_new(o, "report", v->summary ? json_deep_copy(v->summary) : json_null());
    json_t *arts = json_array();
    for (size_t i = 0; i < v->n_artifacts; i++) {
        const struct qd_artifact *a = &v->artifacts[i];
        char url[256];
        snprintf(url, sizeof url, "%s/artifacts/%s", base, a->name);
        json_array_append_new(arts, json_pack("{s:s, s:I, s:s, s:s}", "name", a->name, "size",
                                              (json_int_t)a->size, "sha256", a->sha256, "url",
                                              url));
    }
    json_object_set_new(o, "artifacts", arts);
    json_object_set_new(o, "error", v->error_type
                                        ? json_pack("{s:s, s:s}", "type", v->error_type, "detail",
                                                    v->error_detail ? v->error_detail : "")
                                        : json_null());
    char ev[96], rep[96];
    snprintf(ev, sizeof ev, "%s/events", base);
    snprintf(rep, sizeof rep, "%s/report", base);
    json_object_set_new(o, "links",
                        json_pack("{s:s, s:s, s:s}", "self", base, "events", ev, "report", rep));
    return o;
}

/* The compressed-tensors schemes (safetensors output): names, aliases,
 * default group sizes, the default ignore list. */
static json_t *ct_capabilities(void)
{
    json_t *names = json_array(), *aliases = json_object(), *groups = json_object();
    json_t *ignore = json_array();
    for (const char *const *n = qcore_ct_scheme_names(); n && *n; n++) {
        enum qcore_ct_scheme cs;
        if (qcore_ct_scheme_from_name(*n, &cs) != 0)
            continue;
        const char *canon = qcore_ct_scheme_name(cs);
        if (strcmp(canon, *n) != 0) {
            json_object_set_new(aliases, *n, json_string(canon));
            continue;
        }
        json_array_append_new(names, json_string(canon));
        int64_t g = qcore_ct_scheme_default_group(cs);
        json_object_set_new(groups, canon, g > 0 ? json_integer((json_int_t)g)
                                                 : json_string("channel"));
    }
    for (const char *const *p = qcore_plan_default_ignore(); p && *p; p++)
        json_array_append_new(ignore, json_string(*p));
    return json_pack("{s:o, s:o, s:s, s:s, s:o, s:I, s:o}", "schemes", names, "aliases", aliases,
                     "output_format", "safetensors", "layout", "compressed-tensors",
                     "default_group_size", groups, "max_group_size",
                     (json_int_t)QCORE_CT_MAX_GROUP, "default_ignore", ignore);
}

json_t *qd_view_capabilities(const struct qd_caps_view *c)
{
    json_t *schemes = json_array();
    for (const char *const *n = qcore_ftype_names(); n && *n; n++)
        json_array_append_new(schemes, json_string(*n));
    json_t *ct = ct_capabilities();
    json_t *cts = json_object_get(ct, "schemes");
    for (size_t i = 0; i < json_array_size(cts); i++)
        json_array_append(schemes, json_array_get(cts, i));
    json_t *types = json_array();
    for (int t = 0; t < QCORE_GGML_TYPE_COUNT; t++) {
        const struct qcore_type_traits *tr = qcore_type_traits(t);
        if (tr && tr->quantizer)
            json_array_append_new(types, json_string(tr->name));
    }
    return json_pack(
        "{s:s, s:s, s:{s:[s,s,s], s:[s,s,s]}, s:o, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I, "
        "s:I, s:I, s:I}, s:b}",
        "version", c->version, "isa", c->isa ? c->isa : "unknown", "formats", "input", "gguf",
        "safetensors", "hf-folder", "output", "gguf", "safetensors", "hf-folder", "schemes",
        schemes, "compressed_tensors", ct, "tensor_types", types, "limits", "max_upload_bytes",
        (json_int_t)c->max_upload_bytes, "max_queued_jobs", (json_int_t)c->max_queued_jobs,
        "max_running_jobs", (json_int_t)c->max_running_jobs, "threads", (json_int_t)c->threads,
        "max_wait_s", (json_int_t)c->max_wait_s, "chunk_bytes", (json_int_t)c->chunk_bytes,
        "max_json_body", (json_int_t)QD_MAX_JSON_BODY, "max_folder_files",
        (json_int_t)QD_MAX_SHARDS, "max_name_len", (json_int_t)QD_MAX_NAME_LEN, "auth", c->auth);
}

static int parse_u64(const char *s, const char **end, uint64_t *out)
{
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *e = NULL;
    unsigned long long v = strtoull(s, &e, 10);
    if (errno)
        return -1;
    *out = v;
    *end = e;
    return 0;
}

int qd_view_parse_range(const char *hdr, uint64_t size, uint64_t *start, uint64_t *len)
{
    if (!hdr || strncmp(hdr, "bytes=", 6) != 0)
        return 0;
    const char *p = hdr + 6;
    if (strchr(p, ','))
        return 0; /* several ranges: send it all (allowed by RFC 9110) */
    uint64_t a = 0, b = 0;
    const char *e = p;
    if (*p == '-') { /* suffix: the last N bytes */
        if (parse_u64(p + 1, &e, &b) != 0 || *e != '\0')
            return 0;
        if (b == 0 || size == 0)
            return -1;
        if (b > size)
            b = size;
        *start = size - b;
        *len = b;
        return 1;
    }
    if (parse_u64(p, &e, &a) != 0 || *e != '-')
        return 0;
    p = e + 1;
    if (*p == '\0') {
        b = size ? size - 1 : 0;
    } else if (parse_u64(p, &e, &b) != 0 || *e != '\0' || b < a) {
        return 0;
    }
    if (a >= size)
        return -1;
    if (b >= size)
        b = size - 1;
    *start = a;
    *len = b - a + 1;
    return 1;
}

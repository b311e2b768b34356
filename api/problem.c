/* api/problem.c — the error table: status, type, title. */
#include "api/problem.h"

#include "core/error.h"

struct row {
    int status;
    const char *type;
    const char *title;
};

static const struct row table[QD_P_COUNT] = {
    [QD_P_NONE] = {200, "about:blank", "OK"},
    [QD_P_INVALID_SPEC] = {400, "invalid-spec", "Invalid job specification"},
    [QD_P_UNKNOWN_SCHEME] = {400, "unknown-scheme", "Unknown quantization scheme"},
    [QD_P_UNSUPPORTED_FORMAT] = {415, "unsupported-format", "Unsupported model format"},
    [QD_P_UNSUPPORTED_MODEL] = {422, "unsupported-model", "Model not supported"},
    [QD_P_MALFORMED_MODEL] = {422, "malformed-model", "Malformed model"},
    [QD_P_UPLOAD_TOO_LARGE] = {413, "upload-too-large", "Upload too large"},
    [QD_P_DIGEST_MISMATCH] = {400, "digest-mismatch", "Content-Digest mismatch"},
    [QD_P_QUEUE_FULL] = {429, "queue-full", "Job queue full"},
    [QD_P_JOB_NOT_FOUND] = {404, "job-not-found", "Job not found"},
    [QD_P_MODEL_NOT_FOUND] = {404, "model-not-found", "Model not found"},
    [QD_P_JOB_NOT_DONE] = {409, "job-not-done", "Job not done"},
    [QD_P_UNAUTHORIZED] = {401, "unauthorized", "Unauthorized"},
    [QD_P_INSUFFICIENT_STORAGE] = {507, "insufficient-storage", "Insufficient storage"},
    [QD_P_DRAINING] = {503, "draining", "Server draining"},
    [QD_P_NOT_FOUND] = {404, "not-found", "Not found"},
    [QD_P_METHOD_NOT_ALLOWED] = {405, "method-not-allowed", "Method not allowed"},
    [QD_P_BAD_REQUEST] = {400, "bad-request", "Bad request"},
    [QD_P_RANGE_NOT_SATISFIABLE] = {416, "range-not-satisfiable", "Range not satisfiable"},
    [QD_P_INTERNAL] = {500, "internal", "Internal error"},
};

static const struct row *row_of(enum qd_problem p)
{
    if ((int)p < 0 || p >= QD_P_COUNT)
        return &table[QD_P_INTERNAL];
    return &table[p];
}

int qd_problem_status(enum qd_problem p)
{
    return row_of(p)->status;
}

const char *qd_problem_type(enum qd_problem p)
{
    return row_of(p)->type;
}

const char *qd_problem_title(enum qd_problem p)
{
    return row_of(p)->title;
}

json_t *qd_problem_json(enum qd_problem p, const char *detail, const char *instance)
{
    const struct row *r = row_of(p);
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "type", json_string(r->type));
    json_object_set_new(o, "title", json_string(r->title));
    json_object_set_new(o, "status", json_integer(r->status));
    if (detail)
        json_object_set_new(o, "detail", json_string(detail));
    if (instance)
        json_object_set_new(o, "instance", json_string(instance));
    return o;
}

enum qd_problem qd_problem_from_qcore(int code)
{
    switch (code) {
    case QCORE_EINVAL: return QD_P_INVALID_SPEC;
    case QCORE_EFORMAT: return QD_P_UNSUPPORTED_FORMAT;
    case QCORE_EMALFORMED: return QD_P_MALFORMED_MODEL;
    case QCORE_ELIMIT: return QD_P_MALFORMED_MODEL;
    case QCORE_EUNSUPPORTED: return QD_P_UNSUPPORTED_MODEL;
    case QCORE_EDATA: return QD_P_UNSUPPORTED_MODEL;
    case QCORE_ENOSPC: return QD_P_INSUFFICIENT_STORAGE;
    default: return QD_P_INTERNAL;
    }
}

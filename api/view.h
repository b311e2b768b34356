/* api/view.h — the JSON shapes of jobs, job lists, capabilities, and the
 * Range header parser. The server fills plain structs; these functions
 * turn them into jansson values owned by the caller. No global state.
 */
#ifndef QD_API_VIEW_H
#define QD_API_VIEW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/limits.h"

/* One downloadable file of a job (a folder job has several). */
struct qd_artifact {
    char name[QD_MAX_NAME_LEN + 1];
    uint64_t size;
    char sha256[65];
};

struct qd_job_view {
    const char *id;
    const char *state;          /* queued, running, succeeded, failed, canceled */
    double created, started, finished; /* unix seconds; 0 = not yet */
    uint64_t tensors_done, tensors_total, bytes_done, bytes_total;
    const json_t *request;      /* borrowed: the spec as JSON */
    const json_t *summary;      /* borrowed: report summary, or NULL */
    const struct qd_artifact *artifacts; /* borrowed; n_artifacts of them */
    size_t n_artifacts;
    const char *error_type;     /* problem type, or NULL */
    const char *error_detail;
    const char *input_sha256;   /* of the model the job read, or NULL */
    uint64_t input_size;
};

/* The job object of GET /v1/jobs/{id}. */
json_t *qd_view_job(const struct qd_job_view *v);

/* The SSE payload: {"id","state","progress"} only. */
json_t *qd_view_job_progress(const struct qd_job_view *v);

struct qd_caps_view {
    const char *version;
    const char *isa;
    uint64_t max_upload_bytes;
    int64_t max_queued_jobs, max_running_jobs, threads, max_wait_s;
    uint64_t chunk_bytes;
    bool auth;
};

/* GET /v1/capabilities. */
json_t *qd_view_capabilities(const struct qd_caps_view *c);

/* Parse a Range header for a resource of `size` bytes. Returns 0 when the
 * whole resource should be sent (no header, or a form we ignore such as
 * several ranges), 1 for one satisfiable range [*start, *start + *len), or
 * -1 when it cannot be satisfied (416). */
int qd_view_parse_range(const char *hdr, uint64_t size, uint64_t *start, uint64_t *len);

#endif

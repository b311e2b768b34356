/* api/route.h — the URL table of API v1: which path is which route, which
 * methods it allows, whether it needs a token and takes a body.
 * Pure functions on strings; thread-safe.
 */
#ifndef QD_API_ROUTE_H
#define QD_API_ROUTE_H

#include <stdbool.h>

#include "config/limits.h"

enum qd_route_id {
    QD_R_NONE = 0,
    QD_R_LIVEZ,
    QD_R_READYZ,
    QD_R_METRICS,
    QD_R_CAPABILITIES,
    QD_R_JOBS,          /* /v1/jobs */
    QD_R_JOB,           /* /v1/jobs/{id} */
    QD_R_JOB_EVENTS,    /* /v1/jobs/{id}/events */
    QD_R_JOB_REPORT,    /* /v1/jobs/{id}/report */
    QD_R_JOB_ARTIFACT,  /* /v1/jobs/{id}/artifacts/{name} */
    QD_R_MODEL,         /* /v1/models/{name} */
    QD_R_MODEL_FILE,    /* /v1/models/{name}/{file} (a shard of a folder) */
    QD_R_COUNT
};

enum qd_method {
    QD_M_GET = 1 << 0,
    QD_M_HEAD = 1 << 1,
    QD_M_POST = 1 << 2,
    QD_M_PUT = 1 << 3,
    QD_M_DELETE = 1 << 4,
    QD_M_OTHER = 1 << 5,
};

struct qd_route {
    enum qd_route_id id;
    char job[QD_JOB_ID_LEN + 1];        /* job id, when the path has one */
    char name[QD_MAX_NAME_LEN + 1];     /* model or artifact name */
    char file[QD_MAX_NAME_LEN + 1];     /* shard file name */
    bool bad_name;  /* id NONE: a /v1/models/... path whose name is not valid */
};

/* Method name -> enum (QD_M_OTHER when unknown). */
enum qd_method qd_route_method(const char *m);

/* Match a path (without query). Returns 0 and fills r, or -1 (r->id NONE)
 * when no route has this shape or an id/name is not well formed. */
int qd_route_match(const char *path, struct qd_route *r);

/* Methods allowed on a route (bitmask of enum qd_method). */
unsigned qd_route_methods(enum qd_route_id id);

/* The Allow header value for a route ("GET, HEAD"). */
const char *qd_route_allow(enum qd_route_id id);

/* A low-cardinality label for metrics ("/v1/jobs/{id}"). */
const char *qd_route_label(enum qd_route_id id);

/* True for /livez, /readyz, /metrics (never need a token). */
bool qd_route_public(enum qd_route_id id);

/* True when the request streams a model body (POST /v1/jobs raw, PUT model). */
bool qd_route_streams_body(enum qd_route_id id, enum qd_method m, bool json_body);

/* A model/artifact/shard name: 1..QD_MAX_NAME_LEN of [A-Za-z0-9._-],
 * not starting with '.', no "..": never a path, never a hidden or temp
 * file of the spool. */
bool qd_name_valid(const char *s);

/* A job id as made by the daemon: 'j' + 16 lower-case hex digits. */
bool qd_job_id_valid(const char *s);

#endif

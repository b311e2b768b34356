/* server/server.h — the daemon's shared state, private to server/.
 * Everything here is owned and touched by the loop thread only. */
#ifndef QD_SERVER_H
#define QD_SERVER_H

#include <stdbool.h>
#include <uv.h>

#include "config/config.h"
#include "server/http.h"
#include "server/jobs.h"
#include "server/metrics.h"
#include "server/spool.h"
#include "server/upload.h"

/* A request parked until a job changes (wait= and SSE). */
struct qd_watcher {
    struct qd_watcher *prev, *next;
    struct qd_req *r;
    char job_id[QD_JOB_ID_LEN + 1];
};

struct qd_server {
    struct qd_config cfg;
    uv_loop_t *loop;
    struct qd_spool spool;
    struct qd_jobs *jobs;
    struct qd_http *http;
    struct qd_metrics *metrics;
    unsigned char (*tokens)[32]; /* SHA-256 of each bearer token */
    size_t n_tokens;
    struct qd_watcher watchers;  /* list head */
    struct qd_upipe_hub uploads; /* the upload writer threads */
    size_t validations;          /* uploads being finished by their writer */
    bool draining;
    bool closing;                /* MHD stops next: uploads may not park */
    const char *isa;
};

/* The request handlers (server/handlers.c). */
extern const struct qd_http_handlers qd_handlers;

/* Resume every parked request of a job (on_change of the job manager). */
void qd_handlers_job_changed(const char *job_id, void *ud);

/* Resume every parked request (keepalive tick and shutdown). */
void qd_handlers_wake_all(struct qd_server *s, bool final);

/* Load the token file: 0 or -1 with a message. */
int qd_auth_load(struct qd_server *s, const char *path, char *err, size_t errlen);

/* Remove uploaded models older than the retention that no job needs. */
size_t qd_handlers_expire_models(struct qd_server *s, double now);

#endif

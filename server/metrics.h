/* server/metrics.h — counters and histograms, rendered in the Prometheus
 * text exposition format (version 0.0.4) for GET /metrics.
 *
 * Names follow Prometheus conventions (quantd_ prefix, _total counters,
 * _seconds and _bytes base units); see docs/api.md for the list.
 * Not thread-safe: the loop thread records and renders.
 */
#ifndef QD_METRICS_H
#define QD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "api/route.h"

struct qd_metrics;

struct qd_metrics *qd_metrics_create(const char *version, const char *isa);
void qd_metrics_destroy(struct qd_metrics *m);

/* One finished HTTP request. */
void qd_metrics_request(struct qd_metrics *m, enum qd_route_id route, int status, double seconds,
                        uint64_t bytes_in, uint64_t bytes_out);

/* A job accepted into the queue. */
void qd_metrics_job_submitted(struct qd_metrics *m, const char *scheme);

/* A job reached a final state after `run_seconds` of running. */
void qd_metrics_job_finished(struct qd_metrics *m, const char *scheme, const char *state,
                             double run_seconds);

/* Point-in-time values supplied at render time. */
struct qd_metrics_gauges {
    uint64_t queued, running, succeeded, failed, canceled;
    uint64_t disk_free_bytes;
    uint64_t connections;
    int draining;
    uint64_t chunks_in_flight;
};

/* The exposition text (malloc'ed, caller frees), or NULL. */
char *qd_metrics_render(const struct qd_metrics *m, const struct qd_metrics_gauges *g,
                        size_t *len);

#endif

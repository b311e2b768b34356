/* server/metrics.c — fixed-size tables, no allocation per request. */
#include "server/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const double req_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                     0.25,  0.5,    1,     2.5,  5,     10,   60};
#define N_REQ_BUCKETS (sizeof req_buckets / sizeof req_buckets[0])
static const double job_buckets[] = {0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 14400};
#define N_JOB_BUCKETS (sizeof job_buckets / sizeof job_buckets[0])

#define MAX_CODES 16  /* distinct status codes tracked per route */
#define MAX_SCHEMES 64 /* (scheme, state) pairs; more fold into "other" */

struct code_count {
    int code;
    uint64_t n;
};

struct hist {
    uint64_t bucket[N_REQ_BUCKETS > N_JOB_BUCKETS ? N_REQ_BUCKETS : N_JOB_BUCKETS];
    uint64_t count;
    double sum;
};

struct scheme_count {
    char scheme[24];
    char state[12];
    uint64_t n;
};

struct qd_metrics {
    char version[32], isa[32];
    double start_time;
    struct code_count codes[QD_R_COUNT][MAX_CODES];
    struct hist req_hist[QD_R_COUNT];
    uint64_t bytes_in, bytes_out;
    struct scheme_count submitted[MAX_SCHEMES];
    struct scheme_count finished[MAX_SCHEMES];
    struct hist job_hist;
};

struct qd_metrics *qd_metrics_create(const char *version, const char *isa)
{
    struct qd_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    snprintf(m->version, sizeof m->version, "%s", version);
    snprintf(m->isa, sizeof m->isa, "%s", isa ? isa : "unknown");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    m->start_time = (double)ts.tv_sec + ts.tv_nsec / 1e9;
    return m;
}

void qd_metrics_destroy(struct qd_metrics *m)
{
    free(m);
}

static void hist_add(struct hist *h, const double *bounds, size_t n, double v)
{
    for (size_t i = 0; i < n; i++)
        if (v <= bounds[i])
            h->bucket[i]++;
    h->count++;
    h->sum += v;
}

void qd_metrics_request(struct qd_metrics *m, enum qd_route_id route, int status, double seconds,
                        uint64_t bytes_in, uint64_t bytes_out)
{
    if (!m || route >= QD_R_COUNT)
        return;
    struct code_count *c = m->codes[route];
    for (size_t i = 0; i < MAX_CODES; i++) {
        if (c[i].code == status || c[i].code == 0) {
            c[i].code = status;
            c[i].n++;
            break;
        }
    }
    hist_add(&m->req_hist[route], req_buckets, N_REQ_BUCKETS, seconds);
    m->bytes_in += bytes_in;
    m->bytes_out += bytes_out;
}

static void scheme_add(struct scheme_count *t, const char *scheme, const char *state)
{
    for (size_t i = 0; i < MAX_SCHEMES; i++) {
        if (t[i].n == 0) {
            snprintf(t[i].scheme, sizeof t[i].scheme, "%s", i == MAX_SCHEMES - 1 ? "other" : scheme);
            snprintf(t[i].state, sizeof t[i].state, "%s", state);
        }
        if ((strcmp(t[i].scheme, scheme) == 0 && strcmp(t[i].state, state) == 0) ||
            i == MAX_SCHEMES - 1) {
            t[i].n++;
            return;
        }
    }
}

void qd_metrics_job_submitted(struct qd_metrics *m, const char *scheme)
{
    if (m)
        scheme_add(m->submitted, scheme, "");
}

void qd_metrics_job_finished(struct qd_metrics *m, const char *scheme, const char *state,
                             double run_seconds)
{
    if (!m)
        return;
    scheme_add(m->finished, scheme, state);
    hist_add(&m->job_hist, job_buckets, N_JOB_BUCKETS, run_seconds);
}

struct buf {
    char *p;
    size_t len, cap;
    int failed;
};

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(struct buf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = b->cap * 2 + (size_t)n;
        char *np = realloc(b->p, ncap);
        if (!np) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
}

static void hist_render(struct buf *b, const char *name, const char *labels,
                        const struct hist *h, const double *bounds, size_t n)
{
    const char *sep = labels[0] ? "," : "";
    for (size_t i = 0; i < n; i++)
        bprintf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, bounds[i],
                (unsigned long long)h->bucket[i]);
    bprintf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
            (unsigned long long)h->count);
    if (labels[0]) {
        bprintf(b, "%s_sum{%s} %.6f\n", name, labels, h->sum);
        bprintf(b, "%s_count{%s} %llu\n", name, labels, (unsigned long long)h->count);
    } else {
        bprintf(b, "%s_sum %.6f\n", name, h->sum);
        bprintf(b, "%s_count %llu\n", name, (unsigned long long)h->count);
    }
}

static void render_http(struct buf *b, const struct qd_metrics *m)
{
    bprintf(b, "# HELP quantd_http_requests_total HTTP requests answered, by route and status "
               "code.\n# TYPE quantd_http_requests_total counter\n");
    for (int r = 0; r < QD_R_COUNT; r++)
        for (size_t i = 0; i < MAX_CODES && m->codes[r][i].code; i++)
            bprintf(b, "quantd_http_requests_total{route=\"%s\",code=\"%d\"} %llu\n",
                    qd_route_label((enum qd_route_id)r), m->codes[r][i].code,
                    (unsigned long long)m->codes[r][i].n);
    bprintf(b, "# HELP quantd_http_request_duration_seconds Time from the first byte of a "
               "request to its completion.\n"
               "# TYPE quantd_http_request_duration_seconds histogram\n");
    for (int r = 0; r < QD_R_COUNT; r++) {
        if (m->req_hist[r].count == 0)
            continue;
        char labels[96];
        snprintf(labels, sizeof labels, "route=\"%s\"", qd_route_label((enum qd_route_id)r));
        hist_render(b, "quantd_http_request_duration_seconds", labels, &m->req_hist[r],
                    req_buckets, N_REQ_BUCKETS);
    }
    bprintf(b, "# HELP quantd_http_received_bytes_total Request body bytes received.\n"
               "# TYPE quantd_http_received_bytes_total counter\n"
               "quantd_http_received_bytes_total %llu\n",
            (unsigned long long)m->bytes_in);
    bprintf(b, "# HELP quantd_http_sent_bytes_total Response body bytes sent.\n"
               "# TYPE quantd_http_sent_bytes_total counter\n"
               "quantd_http_sent_bytes_total %llu\n",
            (unsigned long long)m->bytes_out);
}

static void render_jobs(struct buf *b, const struct qd_metrics *m, const struct qd_metrics_gauges *g)
{
    bprintf(b, "# HELP quantd_jobs Jobs known to the daemon, by state.\n# TYPE quantd_jobs gauge\n");
    const char *st[] = {"queued", "running", "succeeded", "failed", "canceled"};
    uint64_t v[] = {g->queued, g->running, g->succeeded, g->failed, g->canceled};
    for (size_t i = 0; i < 5; i++)
        bprintf(b, "quantd_jobs{state=\"%s\"} %llu\n", st[i], (unsigned long long)v[i]);
    bprintf(b, "# HELP quantd_job_queue_depth Jobs waiting for a worker.\n"
               "# TYPE quantd_job_queue_depth gauge\nquantd_job_queue_depth %llu\n",
            (unsigned long long)g->queued);
    bprintf(b, "# HELP quantd_job_chunks_in_flight Work items queued or running on the pool.\n"
               "# TYPE quantd_job_chunks_in_flight gauge\nquantd_job_chunks_in_flight %llu\n",
            (unsigned long long)g->chunks_in_flight);
    bprintf(b, "# HELP quantd_jobs_submitted_total Jobs accepted, by scheme.\n"
               "# TYPE quantd_jobs_submitted_total counter\n");
    for (size_t i = 0; i < MAX_SCHEMES && m->submitted[i].n; i++)
        bprintf(b, "quantd_jobs_submitted_total{scheme=\"%s\"} %llu\n", m->submitted[i].scheme,
                (unsigned long long)m->submitted[i].n);
    bprintf(b, "# HELP quantd_jobs_finished_total Jobs that reached a final state, by scheme "
               "and state.\n# TYPE quantd_jobs_finished_total counter\n");
    for (size_t i = 0; i < MAX_SCHEMES && m->finished[i].n; i++)
        bprintf(b, "quantd_jobs_finished_total{scheme=\"%s\",state=\"%s\"} %llu\n",
                m->finished[i].scheme, m->finished[i].state,
                (unsigned long long)m->finished[i].n);
    bprintf(b, "# HELP quantd_job_duration_seconds Run time of finished jobs.\n"
               "# TYPE quantd_job_duration_seconds histogram\n");
    hist_render(b, "quantd_job_duration_seconds", "", &m->job_hist, job_buckets, N_JOB_BUCKETS);
}

char *qd_metrics_render(const struct qd_metrics *m, const struct qd_metrics_gauges *g,
                        size_t *len)
{
    struct buf b = {.p = malloc(8192), .cap = 8192};
    if (!b.p)
        return NULL;
    b.p[0] = '\0';
    bprintf(&b, "# HELP quantd_build_info Version and SIMD level of this build.\n"
                "# TYPE quantd_build_info gauge\nquantd_build_info{version=\"%s\",isa=\"%s\"} 1\n",
            m->version, m->isa);
    bprintf(&b, "# HELP quantd_start_time_seconds Start time of the daemon since the epoch.\n"
                "# TYPE quantd_start_time_seconds gauge\nquantd_start_time_seconds %.3f\n",
            m->start_time);
    render_http(&b, m);
    render_jobs(&b, m, g);
    bprintf(&b, "# HELP quantd_disk_free_bytes Free space in the state directory.\n"
                "# TYPE quantd_disk_free_bytes gauge\nquantd_disk_free_bytes %llu\n",
            (unsigned long long)g->disk_free_bytes);
    bprintf(&b, "# HELP quantd_http_connections Open HTTP connections.\n"
                "# TYPE quantd_http_connections gauge\nquantd_http_connections %llu\n",
            (unsigned long long)g->connections);
    bprintf(&b, "# HELP quantd_draining 1 while the daemon drains after SIGTERM.\n"
                "# TYPE quantd_draining gauge\nquantd_draining %d\n",
            g->draining);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

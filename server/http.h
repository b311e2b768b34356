/* server/http.h — the HTTP transport: libmicrohttpd in external epoll mode,
 * driven by libuv on the loop thread (uv_poll on MHD's epoll fd, a
 * uv_timer for MHD's timeouts). No MHD thread, no lock: every callback
 * runs on the loop thread.
 *
 * A request goes through the handlers below: begin (headers known, body
 * not read: may answer at once, e.g. 401/413 before the body), body (each
 * piece of a streamed body), end (body complete: answer now, or suspend and
 * answer later from any loop callback with qd_http_reply*), done (the
 * connection finished the request: free handler state).
 *
 * The transport itself rejects duplicate Content-Length and
 * Transfer-Encoding + Content-Length with 400 before reading any body,
 * keeps or makes an X-Request-Id, logs one line per request and feeds the
 * request metrics.
 */
#ifndef QD_HTTP_H
#define QD_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "api/problem.h"
#include "api/route.h"
#include "config/limits.h"
#include "server/metrics.h"

struct qd_http;

struct qd_req {
    struct qd_http *http;
    void *conn;                   /* struct MHD_Connection */
    char id[QD_MAX_REQUEST_ID + 1];
    const char *method_str;
    enum qd_method method;
    const char *path;             /* without the query */
    struct qd_route route;
    int status;                   /* of the answer, 0 before */
    uint64_t bytes_in, bytes_out;
    uint64_t t0_ns;
    void *hstate;                 /* the handlers' per-request state */
    /* transport-private */
    void *pending;                /* struct MHD_Response waiting for resume */
    int pending_status;
    bool begun, replied, suspended, in_cb;
    bool bad_uri;                 /* %00 or %2F in the raw path */
};

struct qd_http_handlers {
    void (*begin)(struct qd_req *r, void *ud);
    /* 0 to go on; -1 to stop reading (after qd_http_reply*, or to drop).
     * `*len` is the size of the piece on entry and what the handler took
     * on return: taking less is flow control, the handler suspends the
     * request and MHD hands the rest again after qd_http_resume. */
    int (*body)(struct qd_req *r, const char *data, size_t *len, void *ud);
    void (*end)(struct qd_req *r, void *ud);
    void (*done)(struct qd_req *r, void *ud);
};

struct qd_http_opts {
    uv_loop_t *loop;
    const char *host;
    uint16_t port;                /* 0: ephemeral, see qd_http_port */
    bool inherited;               /* listen on listen_fd (socket activation), */
    int listen_fd;                /* not on host:port */
    unsigned conn_limit;
    unsigned conn_timeout_s;
    const struct qd_http_handlers *h;
    void *ud;
    struct qd_metrics *metrics;   /* may be NULL */
};

int qd_http_start(const struct qd_http_opts *o, struct qd_http **out, char *err, size_t errlen);
/* Stop listening and close every connection. Suspended requests must have
 * been resumed (answered) before. */
void qd_http_stop(struct qd_http *h);
uint16_t qd_http_port(const struct qd_http *h);
/* The host listened on: opts.host, or the inherited socket's address. */
const char *qd_http_host(const struct qd_http *h);
unsigned qd_http_connections(const struct qd_http *h);

/* Request accessors (valid during the request). */
const char *qd_http_header(struct qd_req *r, const char *name);
const char *qd_http_query(struct qd_req *r, const char *key);

/* Answers. `headers` is a NULL-terminated list of name, value pairs (may be
 * NULL). Each takes ownership of its body. Only one answer per request. */
void qd_http_reply(struct qd_req *r, int status, const char *ctype, char *body, size_t len,
                   const char *const *headers);
void qd_http_reply_json(struct qd_req *r, int status, json_t *body, const char *const *headers);
void qd_http_reply_problem(struct qd_req *r, enum qd_problem p, const char *detail,
                           const char *const *headers);
/* Send [off, off + len) of fd (closed by the transport), sendfile. */
void qd_http_reply_fd(struct qd_req *r, int status, int fd, uint64_t off, uint64_t len,
                      const char *ctype, const char *const *headers);
/* A stream of unknown length (server-sent events). `reader` follows
 * MHD_ContentReaderCallback; it may call qd_http_suspend and return 0 when
 * it has nothing yet. `free_cb` runs when the stream ends. */
#define QD_HTTP_END_OF_STREAM ((ssize_t)-1)  /* = MHD_CONTENT_READER_END_OF_STREAM */
#define QD_HTTP_END_WITH_ERROR ((ssize_t)-2) /* = MHD_CONTENT_READER_END_WITH_ERROR */
typedef ssize_t (*qd_http_reader_fn)(void *cls, uint64_t pos, char *buf, size_t max);
void qd_http_reply_stream(struct qd_req *r, int status, const char *ctype, qd_http_reader_fn reader,
                          void *cls, void (*free_cb)(void *cls), const char *const *headers);

/* Park a request until qd_http_resume (wait=, SSE). */
void qd_http_suspend(struct qd_req *r);
void qd_http_resume(struct qd_req *r);

#endif

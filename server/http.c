/* server/http.c — libmicrohttpd on the libuv loop. */
#include <sys/types.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <microhttpd.h>

#include "server/http.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "server/log.h"

/* Slow clients. MHD's connection timeout is an idle timeout: a client that
 * trickles a byte now and then (slowloris) would hold a connection forever.
 * So a request's headers must be complete within conn_timeout_s of the
 * connection's start (or of the end of its previous request), and a body
 * must keep QD_MIN_BODY_RATE on average after a grace of conn_timeout_s.
 * A late connection is shut down; MHD sees the socket fail and frees it.
 * Requests being answered (suspended for wait=, SSE, validation, or
 * sending a response) have no deadline here. */
enum conn_phase { CP_HEADERS, CP_BODY, CP_ANSWER };

struct conn_track {
    struct conn_track *prev, *next;
    struct MHD_Connection *c;
    enum conn_phase phase;
    uint64_t t0_ns;
    uint64_t body_bytes;
    bool shut;
};

struct qd_http {
    struct qd_http_opts o;
    struct conn_track tracks; /* list head of open connections */
    uv_timer_t reaper;        /* enforces the deadlines above, every second */
    struct MHD_Daemon *d;
    uv_poll_t poll;
    uv_timer_t timer;
    uv_timer_t kick; /* runs MHD on the next loop turn after a resume */
    uint16_t port;
    char host[64];   /* numeric address listened on (inherited socket) */
    unsigned connections;
    bool running;
    int closing; /* handles whose close callback is pending */
};

static void run_mhd(struct qd_http *h);

static struct conn_track *track_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void track_phase(struct MHD_Connection *c, enum conn_phase p)
{
    struct conn_track *t = track_of(c);
    if (t && t->phase != p) {
        t->phase = p;
        t->t0_ns = uv_hrtime();
        t->body_bytes = 0;
    }
}

static void on_reap(uv_timer_t *tm)
{
    struct qd_http *h = tm->data;
    uint64_t now = uv_hrtime(), grace = (uint64_t)h->o.conn_timeout_s * 1000000000u;
    for (struct conn_track *t = h->tracks.next; t != &h->tracks; t = t->next) {
        if (t->shut || t->phase == CP_ANSWER)
            continue;
        uint64_t allow = grace;
        if (t->phase == CP_BODY)
            allow += t->body_bytes / QD_MIN_BODY_RATE * 1000000000u;
        if (now - t->t0_ns <= allow)
            continue;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(t->c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci)
            shutdown(ci->connect_fd, SHUT_RDWR);
        t->shut = true;
        QD_LOGF(QD_LOG_WARN, "closing a slow connection (%s too slow)",
                t->phase == CP_HEADERS ? "headers" : "body");
    }
}

static void on_timer(uv_timer_t *t)
{
    run_mhd(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    run_mhd(p->data);
}

/* Run MHD and re-arm its timer: MHD_get_timeout says when it must run even
 * without socket activity (timeouts, data already buffered). */
static void run_mhd(struct qd_http *h)
{
    if (!h->running)
        return;
    MHD_run(h->d);
    MHD_UNSIGNED_LONG_LONG to = 0;
    if (MHD_get_timeout(h->d, &to) == MHD_YES)
        uv_timer_start(&h->timer, on_timer, to, 0);
    else
        uv_timer_stop(&h->timer);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    if (!QD_LOG_ON(QD_LOG_DEBUG))
        return;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    qd_log_json(QD_LOG_DEBUG, msg, json_pack("{s:s}", "src", "microhttpd"));
}

static bool req_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > QD_MAX_REQUEST_ID)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

static void make_id(char *out, size_t len)
{
    unsigned char r[8] = {0};
    if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        uint64_t t = uv_hrtime();
        memcpy(r, &t, sizeof r);
    }
    static const char hex[] = "0123456789abcdef";
    size_t k = 0;
    for (size_t i = 0; i < sizeof r && k + 2 < len; i++) {
        out[k++] = hex[r[i] >> 4];
        out[k++] = hex[r[i] & 15];
    }
    out[k] = '\0';
}

/* MHD calls this first for every request: allocate our state early so the
 * completion callback always has it. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct qd_http *h = cls;
    struct qd_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->http = h;
    r->conn = c;
    r->t0_ns = uv_hrtime();
    /* MHD decodes the path before routing: an encoded NUL would cut it
     * short and an encoded slash would split a name. Refused in begin. */
    for (const char *p = uri; p && (p = strchr(p, '%')) != NULL; p++)
        if (p[1] == '0' && p[2] == '0')
            r->bad_uri = true;
        else if (p[1] == '2' && (p[2] == 'f' || p[2] == 'F'))
            r->bad_uri = true;
    return r;
}

struct header_scan {
    int content_length;
    int transfer_encoding;
    size_t headers, bytes;
};

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    struct header_scan *s = cls;
    s->headers++;
    s->bytes += strlen(key) + (value ? strlen(value) : 0) + 4; /* ": " CRLF */
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        s->content_length++;
    else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
        s->transfer_encoding++;
    return MHD_YES;
}

static void add_headers(struct MHD_Response *resp, struct qd_req *r, const char *const *headers)
{
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    for (const char *const *p = headers; p && p[0] && p[1]; p += 2)
        MHD_add_response_header(resp, p[0], p[1]);
}

/* Queue now when MHD allows it, else keep it until the request is resumed. */
static void deliver(struct qd_req *r, struct MHD_Response *resp, int status)
{
    if (!resp) {
        QD_LOGF(QD_LOG_ERROR, "request %s: cannot build a response", r->id);
        return;
    }
    if (r->replied || r->pending) {
        MHD_destroy_response(resp);
        return;
    }
    r->status = status;
    if (r->in_cb && !r->suspended) {
        if (MHD_queue_response(r->conn, (unsigned)status, resp) == MHD_YES) {
            r->replied = true;
            MHD_destroy_response(resp);
            return;
        }
    }
    r->pending = resp;
    r->pending_status = status;
    if (r->suspended)
        qd_http_resume(r);
}

void qd_http_reply(struct qd_req *r, int status, const char *ctype, char *body, size_t len,
                   const char *const *headers)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, body ? body : (char *)"", body ? MHD_RESPMEM_MUST_FREE
                                                                            : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(body);
        return;
    }
    if (ctype)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    add_headers(resp, r, headers);
    r->bytes_out = len;
    deliver(r, resp, status);
}

void qd_http_reply_json(struct qd_req *r, int status, json_t *body, const char *const *headers)
{
    char *text = body ? json_dumps(body, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(body);
    if (!text) {
        qd_http_reply(r, 500, "text/plain", NULL, 0, headers);
        return;
    }
    size_t n = strlen(text);
    char *withnl = realloc(text, n + 2);
    if (withnl) {
        withnl[n] = '\n';
        withnl[n + 1] = '\0';
        text = withnl;
        n++;
    }
    qd_http_reply(r, status, "application/json", text, n, headers);
}

void qd_http_reply_problem(struct qd_req *r, enum qd_problem p, const char *detail,
                           const char *const *headers)
{
    json_t *o = qd_problem_json(p, detail, r->path);
    if (o)
        json_object_set_new(o, "request_id", json_string(r->id));
    char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    size_t n = text ? strlen(text) : 0;
    qd_http_reply(r, qd_problem_status(p), "application/problem+json", text, n, headers);
}

void qd_http_reply_fd(struct qd_req *r, int status, int fd, uint64_t off, uint64_t len,
                      const char *ctype, const char *const *headers)
{
    struct MHD_Response *resp = MHD_create_response_from_fd_at_offset64(len, fd, off);
    if (!resp) {
        close(fd);
        qd_http_reply_problem(r, QD_P_INTERNAL, "cannot send the file", NULL);
        return;
    }
    if (ctype)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    add_headers(resp, r, headers);
    r->bytes_out = r->method == QD_M_HEAD ? 0 : len;
    deliver(r, resp, status);
}

void qd_http_reply_stream(struct qd_req *r, int status, const char *ctype, qd_http_reader_fn reader,
                          void *cls, void (*free_cb)(void *cls), const char *const *headers)
{
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, reader,
                                                                  cls, free_cb);
    if (!resp) {
        if (free_cb)
            free_cb(cls);
        qd_http_reply_problem(r, QD_P_INTERNAL, "cannot start the stream", NULL);
        return;
    }
    if (ctype)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    add_headers(resp, r, headers);
    deliver(r, resp, status);
}

void qd_http_suspend(struct qd_req *r)
{
    if (!r->suspended) {
        MHD_suspend_connection(r->conn);
        r->suspended = true;
    }
}

void qd_http_resume(struct qd_req *r)
{
    if (r->suspended) {
        r->suspended = false;
        MHD_resume_connection(r->conn);
        /* MHD's own wake-up pipe is watched by its internal thread only:
         * in external mode the application must run MHD after a resume. */
        uv_timer_start(&r->http->kick, on_timer, 0, 0);
    }
}

const char *qd_http_header(struct qd_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *qd_http_query(struct qd_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* First call: headers are in, no body byte has been read. */
static void begin(struct qd_http *h, struct qd_req *r, const char *url, const char *method)
{
    r->begun = true;
    r->method_str = method;
    r->method = qd_route_method(method);
    r->path = url;
    const char *rid = qd_http_header(r, "X-Request-Id");
    if (rid && req_id_ok(rid))
        snprintf(r->id, sizeof r->id, "%s", rid);
    else
        make_id(r->id, sizeof r->id);
    track_phase(r->conn, CP_BODY);
    if (r->bad_uri) {
        qd_http_reply_problem(r, QD_P_BAD_REQUEST, "encoded NUL or slash in the path", NULL);
        return;
    }
    struct header_scan s = {0};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, scan_header, &s);
    /* MHD's pool is large for the sake of body reads (QD_CONN_MEMORY):
     * the header block keeps its own, smaller bound. */
    if (s.headers > QD_MAX_HEADERS || s.bytes + strlen(url) > QD_MAX_HEADER_BYTES) {
        qd_http_reply_problem(r, QD_P_BAD_REQUEST, "the request's header block is too large",
                              NULL);
        return;
    }
    if (s.content_length > 1) {
        qd_http_reply_problem(r, QD_P_BAD_REQUEST, "more than one Content-Length header", NULL);
        return;
    }
    if (s.content_length && s.transfer_encoding) {
        qd_http_reply_problem(r, QD_P_BAD_REQUEST,
                              "Transfer-Encoding together with Content-Length", NULL);
        return;
    }
    qd_route_match(url, &r->route);
    h->o.h->begin(r, h->o.ud);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *data,
                                 size_t *data_size, void **con_cls)
{
    (void)version;
    struct qd_http *h = cls;
    struct qd_req *r = *con_cls;
    if (!r)
        return MHD_NO; /* allocation failed in on_uri */
    r->conn = c;
    r->in_cb = true;
    enum MHD_Result ret = MHD_YES;
    if (!r->begun) {
        begin(h, r, url, method);
        goto out;
    }
    if (r->pending) {
        struct MHD_Response *resp = r->pending;
        r->pending = NULL;
        if (MHD_queue_response(c, (unsigned)r->pending_status, resp) == MHD_YES)
            r->replied = true;
        else
            ret = MHD_NO;
        MHD_destroy_response(resp);
        goto out;
    }
    if (*data_size > 0) {
        size_t n = *data_size;
        *data_size = 0;
        if (r->replied)
            goto out; /* an early answer was queued: MHD discards the rest */
        size_t took = n;
        int brc = h->o.h->body(r, data, &took, h->o.ud);
        if (brc == 0 && took < n)
            *data_size = n - took; /* MHD keeps the rest for after the resume */
        r->bytes_in += took;
        struct conn_track *t = track_of(c);
        if (t)
            t->body_bytes += took;
        if (brc != 0) {
            /* MHD 0.9.75 cannot answer in the middle of a body: close. */
            if (r->pending && !r->replied) {
                struct MHD_Response *resp = r->pending;
                r->pending = NULL;
                if (MHD_queue_response(c, (unsigned)r->pending_status, resp) == MHD_YES)
                    r->replied = true;
                MHD_destroy_response(resp);
            }
            if (!r->replied)
                ret = MHD_NO;
        }
        goto out;
    }
    track_phase(c, CP_ANSWER); /* the body is complete */
    if (!r->replied && !r->suspended)
        h->o.h->end(r, h->o.ud);
out:
    r->in_cb = false;
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct qd_http *h = cls;
    struct qd_req *r = *con_cls;
    if (!r)
        return;
    *con_cls = NULL;
    track_phase(c, CP_HEADERS); /* the next request on this connection */
    h->o.h->done(r, h->o.ud);
    if (r->pending)
        MHD_destroy_response(r->pending);
    double secs = (double)(uv_hrtime() - r->t0_ns) / 1e9;
    if (r->begun) {
        int status = r->status ? r->status : 499; /* closed before an answer */
        if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && r->status == 0)
            status = 499;
        qd_metrics_request(h->o.metrics, r->route.id, status, secs, r->bytes_in, r->bytes_out);
        if (QD_LOG_ON(QD_LOG_INFO))
            qd_log_json(QD_LOG_INFO, "request",
                        json_pack("{s:s, s:s, s:s, s:i, s:I, s:I, s:f, s:b}", "req_id", r->id,
                                  "method", r->method_str ? r->method_str : "", "path",
                                  r->path ? r->path : "", "status", status, "bytes_in",
                                  (json_int_t)r->bytes_in, "bytes_out", (json_int_t)r->bytes_out,
                                  "dur_ms", secs * 1000.0, "completed",
                                  toe == MHD_REQUEST_TERMINATED_COMPLETED_OK));
    }
    free(r);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct qd_http *h = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        h->connections++;
        struct conn_track *t = calloc(1, sizeof *t);
        if (t) {
            t->c = c;
            t->phase = CP_HEADERS;
            t->t0_ns = uv_hrtime();
            t->next = h->tracks.next;
            t->prev = &h->tracks;
            h->tracks.next->prev = t;
            h->tracks.next = t;
        }
        *socket_context = t;
        return;
    }
    if (h->connections > 0)
        h->connections--;
    /* At the connection limit MHD takes the listening socket out of its
     * epoll set and puts it back at the start of a later MHD_run; nothing
     * would call it (the connections waiting in the backlog make no event):
     * run MHD again on the next loop turn. */
    if (h->running)
        uv_timer_start(&h->kick, on_timer, 0, 0);
    struct conn_track *t = *socket_context;
    if (t) {
        t->prev->next = t->next;
        t->next->prev = t->prev;
        free(t);
        *socket_context = NULL;
    }
}

static int resolve(const char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len,
                   char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    char ps[8];
    snprintf(ps, sizeof ps, "%u", (unsigned)port);
    int rc = getaddrinfo(host, ps, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "cannot resolve listen host '%s': %s", host, gai_strerror(rc));
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* An inherited socket must be a listening TCP socket; MHD wants it
 * non-blocking. Its address goes into `ss`. */
static int check_inherited(int fd, struct sockaddr_storage *ss, char *err, size_t errlen)
{
    int type = 0, acc = 0;
    socklen_t l = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) != 0 || type != SOCK_STREAM) {
        snprintf(err, errlen, "inherited descriptor %d is not a stream socket", fd);
        return -1;
    }
    l = sizeof acc;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l) != 0 || !acc) {
        snprintf(err, errlen, "inherited socket %d is not listening", fd);
        return -1;
    }
    socklen_t sl = sizeof *ss;
    if (getsockname(fd, (struct sockaddr *)ss, &sl) != 0 ||
        (ss->ss_family != AF_INET && ss->ss_family != AF_INET6)) {
        snprintf(err, errlen, "inherited socket %d is not an IPv4 or IPv6 socket", fd);
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
        snprintf(err, errlen, "inherited socket %d: %s", fd, strerror(errno));
        return -1;
    }
    return 0;
}

static uint16_t port_of(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

int qd_http_start(const struct qd_http_opts *o, struct qd_http **out, char *err, size_t errlen)
{
    *out = NULL;
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    memset(&ss, 0, sizeof ss);
    if (o->inherited ? check_inherited(o->listen_fd, &ss, err, errlen) != 0
                     : resolve(o->host, o->port, &ss, &sl, err, errlen) != 0)
        return -1;
    struct qd_http *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    h->o = *o;
    h->tracks.next = h->tracks.prev = &h->tracks;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* Either MHD binds host:port or it takes the inherited socket. */
    struct MHD_OptionItem where[] = {
        o->inherited ? (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, o->listen_fd, NULL}
                     : (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss},
        {MHD_OPTION_END, 0, NULL}};
    h->d = MHD_start_daemon(
        flags, o->inherited ? 0 : o->port, NULL, NULL, on_access, h, MHD_OPTION_EXTERNAL_LOGGER,
        mhd_logger, h, MHD_OPTION_ARRAY, where, MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->conn_limit, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)o->conn_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)QD_CONN_MEMORY,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        h, MHD_OPTION_URI_LOG_CALLBACK, on_uri, h, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1, MHD_OPTION_END);
    if (!h->d) {
        if (o->inherited)
            snprintf(err, errlen, "cannot serve on inherited socket %d: %s", o->listen_fd,
                     strerror(errno));
        else
            snprintf(err, errlen, "cannot listen on %s:%u: %s", o->host, (unsigned)o->port,
                     strerror(errno));
        free(h);
        return -1;
    }
    const union MHD_DaemonInfo *pi = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = o->inherited ? port_of(&ss) : pi ? pi->port : o->port;
    if (!o->inherited || getnameinfo((struct sockaddr *)&ss, sizeof ss, h->host, sizeof h->host,
                                     NULL, 0, NI_NUMERICHOST) != 0)
        snprintf(h->host, sizeof h->host, "%s", o->inherited ? "?" : o->host);
    const union MHD_DaemonInfo *ei = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
    if (!ei || ei->epoll_fd < 0 || uv_poll_init(o->loop, &h->poll, ei->epoll_fd) != 0 ||
        uv_timer_init(o->loop, &h->timer) != 0 || uv_timer_init(o->loop, &h->kick) != 0 ||
        uv_timer_init(o->loop, &h->reaper) != 0) {
        snprintf(err, errlen, "cannot watch the MHD epoll fd");
        MHD_stop_daemon(h->d);
        free(h);
        return -1;
    }
    h->poll.data = h;
    h->timer.data = h;
    h->kick.data = h;
    h->reaper.data = h;
    h->running = true;
    uv_poll_start(&h->poll, UV_READABLE, on_poll);
    uv_timer_start(&h->reaper, on_reap, 1000, 1000);
    run_mhd(h);
    *out = h;
    return 0;
}

uint16_t qd_http_port(const struct qd_http *h)
{
    return h->port;
}

const char *qd_http_host(const struct qd_http *h)
{
    return h->host;
}

unsigned qd_http_connections(const struct qd_http *h)
{
    return h->connections;
}

static void on_closed(uv_handle_t *hd)
{
    struct qd_http *h = hd->data;
    if (--h->closing == 0)
        free(h);
}

void qd_http_stop(struct qd_http *h)
{
    if (!h)
        return;
    h->running = false;
    /* Stop watching the epoll fd before MHD closes it. */
    uv_poll_stop(&h->poll);
    uv_timer_stop(&h->timer);
    uv_timer_stop(&h->kick);
    uv_timer_stop(&h->reaper);
    h->closing = 4;
    uv_close((uv_handle_t *)&h->poll, on_closed);
    uv_close((uv_handle_t *)&h->timer, on_closed);
    uv_close((uv_handle_t *)&h->kick, on_closed);
    uv_close((uv_handle_t *)&h->reaper, on_closed);
    MHD_stop_daemon(h->d);
    h->d = NULL;
}

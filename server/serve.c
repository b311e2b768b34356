/* server/serve.c — `quantd serve` and `quantd health`: start-up, signals,
 * drain, systemd notification, the periodic chores. */
#include "server/serve.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/kernels/kernels.h"
#include "server/log.h"
#include "server/notify.h"
#include "server/server.h"

extern char **environ;

#define TICK_MS 100          /* drain progress check */
#define KEEPALIVE_MS 15000   /* SSE keepalive comments */
#define CHORE_MS 60000       /* retention (shorter for a short retention) */
#define STATUS_MIN_MS 1000   /* sd_notify STATUS= on job changes, at most this often */

struct serve {
    struct qd_server s;
    uv_signal_t sigterm, sigint;
    uv_timer_t tick, keepalive, chores, drain_deadline;
    bool stopping, stopped;
    int signals;
    bool notify;                  /* NOTIFY_SOCKET set: send STATUS= */
    int listen_fd;                /* socket activation: the passed socket, or -1 */
    uint64_t status_ms;           /* loop time of the last STATUS= */
    uint64_t status_queued, status_running;
};

static void notify_log(int rc)
{
    if (rc < 0)
        QD_LOGF(QD_LOG_WARN, "sd_notify: %s", strerror(-rc));
}

/* STATUS= with the queue figures, when they changed or `force`. */
static void notify_queue(struct serve *sv, bool force)
{
    if (!sv->notify || !sv->s.jobs)
        return;
    struct qd_metrics_gauges g = {0};
    qd_jobs_gauges(sv->s.jobs, &g);
    sv->status_ms = uv_now(sv->s.loop);
    if (!force && g.queued == sv->status_queued && g.running == sv->status_running)
        return;
    sv->status_queued = g.queued;
    sv->status_running = g.running;
    notify_log(qd_notify_status("%llu queued, %llu running%s", (unsigned long long)g.queued,
                                (unsigned long long)g.running,
                                sv->s.draining ? ", draining" : ""));
}

/* The job manager's on_change: wake the parked requests, then tell the
 * service manager (throttled; the keepalive timer catches up). */
static void on_job_changed(const char *job_id, void *ud)
{
    qd_handlers_job_changed(job_id, ud);
    struct serve *sv = (struct serve *)ud; /* ud is &sv->s, the first member */
    if (sv->notify && uv_now(sv->s.loop) - sv->status_ms >= STATUS_MIN_MS)
        notify_queue(sv, false);
}

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, close_cb);
}

static void stop_all(struct serve *sv)
{
    if (sv->stopped)
        return;
    sv->stopped = true;
    qd_http_stop(sv->s.http); /* cancels the uploads still streaming */
    sv->s.http = NULL;
    qd_upipe_hub_close(&sv->s.uploads); /* before its handle is closed below */
    uv_walk(sv->s.loop, close_walk, NULL);
    QD_LOGF(QD_LOG_INFO, "stopped");
}

static void on_tick(uv_timer_t *t)
{
    struct serve *sv = t->data;
    if (!sv->s.draining || !qd_jobs_idle(sv->s.jobs) || sv->s.validations > 0)
        return;
    if (!sv->stopping) {
        /* Answer the parked requests (SSE ends, wait= gets 202), let MHD
         * send them on the next iterations, then stop. */
        sv->stopping = true;
        qd_handlers_wake_all(&sv->s, true);
        return;
    }
    stop_all(sv);
}

static void on_drain_deadline(uv_timer_t *t)
{
    struct serve *sv = t->data;
    QD_LOGF(QD_LOG_WARN, "drain deadline reached: checkpointing running jobs");
    qd_jobs_checkpoint(sv->s.jobs);
}

static void start_drain(struct serve *sv)
{
    if (sv->s.draining)
        return;
    sv->s.draining = true;
    qd_jobs_drain(sv->s.jobs);
    notify_log(qd_notify_stopping());
    notify_queue(sv, true);
    QD_LOGF(QD_LOG_INFO, "draining: no new work, %llds for running jobs",
            (long long)sv->s.cfg.drain_timeout_s);
    uv_timer_start(&sv->drain_deadline, on_drain_deadline,
                   (uint64_t)sv->s.cfg.drain_timeout_s * 1000, 0);
    uv_timer_start(&sv->tick, on_tick, TICK_MS, TICK_MS);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct serve *sv = h->data;
    sv->signals++;
    QD_LOGF(QD_LOG_INFO, "signal %d received", signum);
    if (sv->signals > 1)
        qd_jobs_checkpoint(sv->s.jobs); /* a second signal: do not wait */
    start_drain(sv);
}

static void on_keepalive(uv_timer_t *t)
{
    struct serve *sv = t->data;
    qd_handlers_wake_all(&sv->s, false);
    notify_queue(sv, false);
}

static void on_chores(uv_timer_t *t)
{
    struct serve *sv = t->data;
    double now = qd_now();
    size_t nj = qd_jobs_expire(sv->s.jobs, now, sv->s.cfg.retention_s);
    size_t nm = qd_handlers_expire_models(&sv->s, now);
    if (nj || nm)
        QD_LOGF(QD_LOG_INFO, "retention: removed %zu jobs and %zu models", nj, nm);
}

static int write_port(struct qd_server *s)
{
    char text[16];
    int n = snprintf(text, sizeof text, "%u\n", (unsigned)qd_http_port(s->http));
    return qd_spool_write_atomic(s->spool.root, "port", text, (size_t)n);
}

static int setup(struct serve *sv, char *err, size_t errlen)
{
    struct qd_server *s = &sv->s;
    int rc = qd_spool_open(&s->spool, s->cfg.state_dir);
    if (rc != 0) {
        snprintf(err, errlen, "state_dir %.300s: %s", s->cfg.state_dir, strerror(-rc));
        return -1;
    }
    if (s->cfg.token_file[0] && qd_auth_load(s, s->cfg.token_file, err, errlen) != 0)
        return -1;
    const struct qcore_kernels *k = qcore_kernels_get();
    s->isa = k && k->isa ? k->isa : "unknown";
    s->metrics = qd_metrics_create(QD_VERSION, s->isa);
    struct qd_jobs_opts jo = {
        .loop = s->loop, .spool = &s->spool, .max_queued = s->cfg.max_queued_jobs,
        .max_running = s->cfg.max_running_jobs, .threads = s->cfg.threads,
        .chunk_bytes = s->cfg.chunk_bytes, .metrics = s->metrics,
        .on_change = on_job_changed, .ud = s};
    if (!s->metrics || qd_jobs_create(&jo, &s->jobs) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rc = qd_jobs_recover(s->jobs);
    if (rc < 0) {
        snprintf(err, errlen, "recovery: %s", strerror(-rc));
        return -1;
    }
    struct qd_http_opts ho = {
        .loop = s->loop, .host = s->cfg.listen_host, .port = s->cfg.listen_port,
        .inherited = sv->listen_fd >= 0, .listen_fd = sv->listen_fd,
        .conn_limit = (unsigned)s->cfg.max_connections,
        .conn_timeout_s = (unsigned)s->cfg.connection_timeout_s, .h = &qd_handlers, .ud = s,
        .metrics = s->metrics};
    if (qd_http_start(&ho, &s->http, err, errlen) != 0)
        return -1;
    if (write_port(s) != 0) {
        snprintf(err, errlen, "cannot write %.400s/port", s->spool.root);
        return -1;
    }
    return 0;
}

static void start_timers(struct serve *sv)
{
    uv_loop_t *l = sv->s.loop;
    uv_timer_t *ts[] = {&sv->tick, &sv->keepalive, &sv->chores, &sv->drain_deadline};
    for (size_t i = 0; i < 4; i++) {
        uv_timer_init(l, ts[i]);
        ts[i]->data = sv;
    }
    uv_timer_start(&sv->keepalive, on_keepalive, KEEPALIVE_MS, KEEPALIVE_MS);
    /* retention checks: every minute, or four times per retention period
     * when that is shorter (a test's "2s"), at least once a second */
    uint64_t chore_ms = CHORE_MS;
    if (sv->s.cfg.retention_s > 0 && (uint64_t)sv->s.cfg.retention_s * 250 < chore_ms)
        chore_ms = (uint64_t)sv->s.cfg.retention_s * 250;
    if (chore_ms < 1000)
        chore_ms = 1000;
    uv_timer_start(&sv->chores, on_chores, 1000, chore_ms);
    uv_signal_init(l, &sv->sigterm);
    uv_signal_init(l, &sv->sigint);
    sv->sigterm.data = sv->sigint.data = sv;
    uv_signal_start(&sv->sigterm, on_signal, SIGTERM);
    uv_signal_start(&sv->sigint, on_signal, SIGINT);
}

int qd_serve_main(int argc, char **argv)
{
    static struct serve sv; /* large (config paths); one per process */
    memset(&sv, 0, sizeof sv);
    struct qd_server *s = &sv.s;
    char err[QD_CONFIG_ERR_MAX];
    if (qd_config_load(&s->cfg, argc, argv, environ, err, sizeof err) != 0) {
        fprintf(stderr, "quantd serve: %s\n", err);
        return 2;
    }
    if (s->cfg.help) {
        qd_config_usage(stdout);
        return 0;
    }
    if (s->cfg.check_only) {
        qd_config_dump(&s->cfg, stdout);
        if (s->cfg.token_file[0] && qd_auth_load(s, s->cfg.token_file, err, sizeof err) != 0) {
            fprintf(stderr, "quantd serve: %s\n", err);
            free(s->tokens);
            return 2;
        }
        free(s->tokens);
        puts("configuration OK");
        return 0;
    }
    qd_log_set_level((int)s->cfg.log_level);
    /* socket activation (quantd.socket): one listening socket replaces
     * the `listen` setting */
    int nfd = qd_listen_fds();
    if (nfd < 0 || nfd > 1) {
        fprintf(stderr, "quantd serve: socket activation: %s\n",
                nfd == -EBADF  ? "a passed descriptor is not open"
                : nfd < 0      ? "malformed LISTEN_PID or LISTEN_FDS"
                               : "more than one socket passed (quantd listens on one)");
        return 2;
    }
    sv.listen_fd = nfd == 1 ? QD_LISTEN_FDS_START : -1;
    signal(SIGPIPE, SIG_IGN);
    sv.notify = getenv("NOTIFY_SOCKET") != NULL;
    char tp[16];
    snprintf(tp, sizeof tp, "%lld", (long long)s->cfg.threads);
    setenv("UV_THREADPOOL_SIZE", tp, 1); /* read by libuv at the first uv_queue_work */
    s->watchers.next = s->watchers.prev = &s->watchers;
    s->loop = uv_default_loop();
    int status = 0;
    if (qd_upipe_hub_init(&s->uploads, s->loop) != 0) {
        fprintf(stderr, "quantd serve: cannot set up the upload writers\n");
        uv_loop_close(s->loop);
        return 1;
    }
    if (setup(&sv, err, sizeof err) != 0) {
        qd_log_json(QD_LOG_ERROR, "start-up failed", json_pack("{s:s}", "error", err));
        notify_log(qd_notify_status("start-up failed: %s", err));
        status = 1;
        if (s->http)
            qd_http_stop(s->http);
        s->http = NULL;
        qd_upipe_hub_close(&s->uploads);
        uv_walk(s->loop, close_walk, NULL);
        uv_run(s->loop, UV_RUN_DEFAULT);
        goto out;
    }
    start_timers(&sv);
    qd_log_json(QD_LOG_INFO, "listening",
                json_pack("{s:s, s:i, s:b, s:s, s:I, s:s, s:s}", "host", qd_http_host(s->http),
                          "port", (int)qd_http_port(s->http), "socket_activation",
                          sv.listen_fd >= 0, "state_dir", s->spool.root, "threads",
                          (json_int_t)s->cfg.threads, "isa", s->isa, "version", QD_VERSION));
    notify_log(qd_notify_ready());
    notify_queue(&sv, true);
    uv_run(s->loop, UV_RUN_DEFAULT);
out:
    qd_upipe_hub_join_all(&s->uploads); /* writers cancelled at the stop */
    qd_jobs_destroy(s->jobs);
    qd_metrics_destroy(s->metrics);
    free(s->tokens);
    uv_loop_close(s->loop);
    return status;
}

/* ---- quantd health --------------------------------------------------- */

static int parse_url(const char *url, char *host, size_t hl, char *port, size_t pl, char *path,
                     size_t ppl)
{
    if (strncmp(url, "http://", 7) != 0)
        return -1;
    const char *p = url + 7;
    const char *slash = strchr(p, '/');
    size_t authlen = slash ? (size_t)(slash - p) : strlen(p);
    char auth[300];
    if (authlen == 0 || authlen >= sizeof auth)
        return -1;
    memcpy(auth, p, authlen);
    auth[authlen] = '\0';
    uint16_t pn = 80;
    if (strchr(auth, ':')) {
        if (qd_config_parse_listen(auth, host, hl, &pn) != 0)
            return -1;
    } else {
        if (authlen >= hl)
            return -1;
        memcpy(host, auth, authlen + 1);
    }
    snprintf(port, pl, "%u", (unsigned)pn);
    snprintf(path, ppl, "%s", slash ? slash : "/livez");
    return 0;
}

static int http_get_status(const char *host, const char *port, const char *path, int timeout_ms)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0 || !res)
        return -1;
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int status = -1;
    if (fd < 0)
        goto out;
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, res->ai_addr, res->ai_addrlen) != 0)
        goto out;
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: quantd-health\r\n\r\n",
                     path, host);
    if (n < 0 || (size_t)n >= sizeof req || send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        goto out;
    char buf[64] = {0};
    size_t got = 0;
    while (got < 12) {
        ssize_t r = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (r <= 0)
            goto out;
        got += (size_t)r;
    }
    if (strncmp(buf, "HTTP/1.", 7) == 0 && buf[8] == ' ')
        status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
out:
    if (fd >= 0)
        close(fd);
    freeaddrinfo(res);
    return status;
}

int qd_health_main(int argc, char **argv)
{
    char url[512] = "";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--url") == 0 && i + 1 < argc)
            snprintf(url, sizeof url, "%s", argv[++i]);
        else if (strncmp(argv[i], "--url=", 6) == 0)
            snprintf(url, sizeof url, "%s", argv[i] + 6);
        else {
            fprintf(stderr, "usage: quantd health [--url http://HOST:PORT/livez]\n");
            return 2;
        }
    }
    if (!url[0]) {
        const char *l = getenv("QUANTD_LISTEN");
        char host[256] = "127.0.0.1";
        uint16_t port = 8080;
        if (l && qd_config_parse_listen(l, host, sizeof host, &port) != 0) {
            fprintf(stderr, "quantd health: bad QUANTD_LISTEN '%s'\n", l);
            return 2;
        }
        if (strcmp(host, "0.0.0.0") == 0)
            snprintf(host, sizeof host, "127.0.0.1");
        else if (strcmp(host, "::") == 0)
            snprintf(host, sizeof host, "::1");
        bool v6 = strchr(host, ':') != NULL;
        snprintf(url, sizeof url, "http://%s%s%s:%u/livez", v6 ? "[" : "", host, v6 ? "]" : "",
                 (unsigned)port);
    }
    char host[256], port[8], path[256];
    if (parse_url(url, host, sizeof host, port, sizeof port, path, sizeof path) != 0) {
        fprintf(stderr, "quantd health: bad URL '%s' (http://HOST:PORT/PATH)\n", url);
        return 2;
    }
    int st = http_get_status(host, port, path, 5000);
    if (st == 200) {
        printf("ok\n");
        return 0;
    }
    fprintf(stderr, "quantd health: %s -> %s%d\n", url, st < 0 ? "no answer " : "status ", st);
    return 1;
}

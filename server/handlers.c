/* server/handlers.c — what each route does: validation through api/, work
 * through the spool and the job manager, answers through the transport. */
#include "server/server.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/spec.h"
#include "api/view.h"
#include "core/formats/model.h"
#include "server/log.h"
#include "server/upload.h"

#define SSE_KEEPALIVE "event: keepalive\ndata: {}\n\n"

enum hkind { HK_NONE = 0, HK_UPLOAD_JOB, HK_UPLOAD_MODEL, HK_JSON, HK_SSE };

struct hstate {
    struct qd_server *s;
    struct qd_req *req;
    enum hkind kind;
    /* streamed upload: the writer thread owns the file until joined */
    struct qd_upload up;
    struct qd_upipe *pipe;
    bool up_open;
    uint64_t pushed;            /* body bytes handed to the writer */
    uint64_t limit;
    bool has_digest;
    unsigned char want_digest[32];
    /* JSON body */
    char *json;
    size_t json_len;
    /* the job request */
    struct qd_spec spec;
    char job_id[QD_JOB_ID_LEN + 1];
    /* the end of the upload (fsync, digest, header) on the writer thread */
    int phase;                  /* 0 reading, 1 validating, 2 validated */
    int vrc;
    struct qcore_error verr;
    int v_format;
    size_t v_tensors;
    /* parked on a job */
    struct qd_watcher w;
    bool watching;
    uv_timer_t *timer;          /* wait= deadline; freed by its close callback */
    bool wait_over;
    uint64_t sent_version;
    bool sse_first_sent, sse_end, keepalive;
};

/* ---- small helpers ---------------------------------------------------- */

static struct hstate *hs_of(struct qd_req *r, struct qd_server *s)
{
    if (!r->hstate) {
        struct hstate *h = calloc(1, sizeof *h);
        if (!h)
            return NULL;
        h->s = s;
        h->req = r;
        h->up.fd = -1;
        qd_spec_init(&h->spec);
        r->hstate = h;
    }
    return r->hstate;
}

static void watch(struct qd_server *s, struct qd_req *r, struct hstate *h, const char *job_id)
{
    if (h->watching)
        return;
    h->w.r = r;
    snprintf(h->w.job_id, sizeof h->w.job_id, "%s", job_id);
    h->w.next = s->watchers.next;
    h->w.prev = &s->watchers;
    s->watchers.next->prev = &h->w;
    s->watchers.next = &h->w;
    h->watching = true;
}

static void unwatch(struct hstate *h)
{
    if (!h->watching)
        return;
    h->w.prev->next = h->w.next;
    h->w.next->prev = h->w.prev;
    h->watching = false;
}

void qd_handlers_job_changed(const char *job_id, void *ud)
{
    struct qd_server *s = ud;
    for (struct qd_watcher *w = s->watchers.next; w != &s->watchers; w = w->next)
        if (strcmp(w->job_id, job_id) == 0)
            qd_http_resume(w->r);
}

void qd_handlers_wake_all(struct qd_server *s, bool final)
{
    if (final) {
        /* the last call before MHD stops: an upload parked on a full ring
         * must not stay suspended (MHD_stop_daemon would abort) */
        s->closing = true;
        qd_upipe_hub_wake_all(&s->uploads);
    }
    for (struct qd_watcher *w = s->watchers.next; w != &s->watchers; w = w->next) {
        struct hstate *h = w->r->hstate;
        if (h) {
            h->keepalive = true;
            if (final) {
                h->wait_over = true;
                h->sse_end = true;
            }
        }
        qd_http_resume(w->r);
    }
}

static void reply_job(struct qd_req *r, int status, struct qd_job *j, const char *const *hdrs)
{
    struct qd_job_view v;
    qd_job_view(j, &v);
    qd_http_reply_json(r, status, qd_view_job(&v), hdrs);
}

/* ---- auth ------------------------------------------------------------- */

int qd_auth_load(struct qd_server *s, const char *path, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int rc = qd_spool_read_small(path, (size_t)QD_MAX_TOKENS * (QD_MAX_TOKEN_LEN + 2), &text, &len);
    if (rc != 0) {
        snprintf(err, errlen, "token_file %s: %s", path, strerror(-rc));
        return -1;
    }
    s->tokens = calloc(QD_MAX_TOKENS, sizeof *s->tokens);
    if (!s->tokens) {
        free(text);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
            line[--n] = '\0';
        while (*line == ' ' || *line == '\t')
            line++, n--;
        if (n == 0 || line[0] == '#')
            continue;
        if (s->n_tokens == QD_MAX_TOKENS || n > QD_MAX_TOKEN_LEN) {
            snprintf(err, errlen, "token_file %s: more than %d tokens or one longer than %d",
                     path, QD_MAX_TOKENS, QD_MAX_TOKEN_LEN);
            free(text);
            return -1;
        }
        EVP_Digest(line, n, s->tokens[s->n_tokens++], NULL, EVP_sha256(), NULL);
    }
    OPENSSL_cleanse(text, len);
    free(text);
    if (s->n_tokens == 0) {
        snprintf(err, errlen, "token_file %s: no token in it", path);
        return -1;
    }
    return 0;
}

/* Compare digests of the presented and known tokens: constant time in the
 * token's content, and every known token is always compared. */
static bool auth_ok(struct qd_server *s, struct qd_req *r)
{
    if (s->n_tokens == 0 || qd_route_public(r->route.id))
        return true;
    const char *a = qd_http_header(r, "Authorization");
    if (!a || strncasecmp(a, "Bearer ", 7) != 0)
        return false;
    const char *tok = a + 7;
    unsigned char d[32];
    if (EVP_Digest(tok, strlen(tok), d, NULL, EVP_sha256(), NULL) != 1)
        return false;
    int match = 0;
    for (size_t i = 0; i < s->n_tokens; i++)
        match |= CRYPTO_memcmp(d, s->tokens[i], 32) == 0;
    return match != 0;
}

/* ---- begin: everything decided before the body ------------------------ */

static const char *query_get(void *ud, const char *key)
{
    return qd_http_query(ud, key);
}

static bool is_json(struct qd_req *r)
{
    const char *ct = qd_http_header(r, "Content-Type");
    return ct && strncasecmp(ct, "application/json", 16) == 0;
}

static int parse_content_length(struct qd_req *r, uint64_t *out)
{
    const char *cl = qd_http_header(r, "Content-Length");
    if (!cl)
        return 0;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(cl, &end, 10);
    if (errno || end == cl || *end != '\0')
        return -1;
    *out = v;
    return 1;
}

static bool disk_low(struct qd_server *s)
{
    return s->cfg.min_free_disk && qd_spool_free_bytes(&s->spool) < s->cfg.min_free_disk;
}

static bool shard_needs_check(const char *file);

/* The writer thread has room again, failed or finished (loop thread). */
static void upload_wake(void *ud)
{
    struct hstate *h = ud;
    qd_http_resume(h->req);
}

static void begin_upload(struct qd_server *s, struct qd_req *r, struct hstate *h, bool job)
{
    char detail[256];
    uint64_t cl = 0;
    int has_cl = parse_content_length(r, &cl);
    if (s->draining) {
        qd_http_reply_problem(r, QD_P_DRAINING, "the server is shutting down", NULL);
        return;
    }
    if (has_cl > 0 && cl > s->cfg.max_upload_bytes) {
        snprintf(detail, sizeof detail, "Content-Length %llu exceeds max_upload_bytes %llu",
                 (unsigned long long)cl, (unsigned long long)s->cfg.max_upload_bytes);
        qd_http_reply_problem(r, QD_P_UPLOAD_TOO_LARGE, detail, NULL);
        return;
    }
    if (job) {
        enum qd_problem p = qd_spec_from_query(&h->spec, query_get, r, s->cfg.max_wait_s, detail,
                                               sizeof detail);
        if (p) {
            qd_http_reply_problem(r, p, detail, NULL);
            return;
        }
        if (qd_jobs_queue_full(s->jobs)) {
            char ra[16];
            snprintf(ra, sizeof ra, "%d", qd_jobs_retry_after(s->jobs));
            const char *hdr[] = {"Retry-After", ra, NULL};
            qd_http_reply_problem(r, QD_P_QUEUE_FULL, "the job queue is full", hdr);
            return;
        }
    } else if (qd_jobs_uses_model(s->jobs, r->route.name)) {
        /* a running job reads these files: replacing one under it would mix
         * two versions of the model in one output */
        qd_http_reply_problem(r, QD_P_JOB_NOT_DONE, "a queued or running job reads this model",
                              NULL);
        return;
    }
    const char *dg = qd_http_header(r, "Content-Digest");
    if (dg) {
        if (qd_spec_parse_digest(dg, h->want_digest) != 0) {
            qd_http_reply_problem(r, QD_P_DIGEST_MISMATCH,
                                  "Content-Digest needs a sha-256=:BASE64: member", NULL);
            return;
        }
        h->has_digest = true;
    }
    if (disk_low(s) || (has_cl > 0 && cl > qd_spool_free_bytes(&s->spool))) {
        qd_http_reply_problem(r, QD_P_INSUFFICIENT_STORAGE, "not enough free disk space", NULL);
        return;
    }
    if (s->uploads.running >= (size_t)s->cfg.max_uploads) {
        snprintf(detail, sizeof detail, "%zu uploads are in progress (max_uploads)",
                 s->uploads.running);
        const char *hdr[] = {"Retry-After", QD_UPLOAD_RETRY_AFTER, NULL};
        qd_http_reply_problem(r, QD_P_QUEUE_FULL, detail, hdr);
        return;
    }
    int rc = qd_spool_upload_begin(&s->spool, &h->up);
    if (rc != 0) {
        qd_http_reply_problem(r, rc == -ENOSPC ? QD_P_INSUFFICIENT_STORAGE : QD_P_INTERNAL,
                              "cannot create the upload file", NULL);
        return;
    }
    /* config.json, the index...: stored as they are, hashed only */
    bool check = !(r->route.id == QD_R_MODEL_FILE && !shard_needs_check(r->route.file));
    rc = qd_upipe_start(&s->uploads, &h->up, check, upload_wake, h, &h->pipe);
    if (rc != 0) {
        qd_spool_upload_abort(&h->up);
        if (rc == UV_EAGAIN) { /* out of threads (TasksMax, RLIMIT_NPROC): later */
            const char *hdr[] = {"Retry-After", QD_UPLOAD_RETRY_AFTER, NULL};
            qd_http_reply_problem(r, QD_P_QUEUE_FULL, "no thread for another upload now", hdr);
        } else {
            qd_http_reply_problem(r, QD_P_INTERNAL, "cannot start the upload writer", NULL);
        }
        return;
    }
    h->up_open = true;
    h->limit = s->cfg.max_upload_bytes;
    h->kind = job ? HK_UPLOAD_JOB : HK_UPLOAD_MODEL;
}

static void on_begin(struct qd_req *r, void *ud)
{
    struct qd_server *s = ud;
    struct hstate *h = hs_of(r, s);
    if (!h) {
        qd_http_reply_problem(r, QD_P_INTERNAL, "out of memory", NULL);
        return;
    }
    if (r->route.id == QD_R_NONE && r->route.bad_name) {
        qd_http_reply_problem(r, QD_P_INVALID_SPEC,
                              "model and file names are 1 to 128 characters of A-Z a-z 0-9 . _ -, "
                              "not starting with '.' and without '..'",
                              NULL);
        return;
    }
    if (r->route.id == QD_R_NONE) {
        qd_http_reply_problem(r, QD_P_NOT_FOUND, "no such resource", NULL);
        return;
    }
    if (!(qd_route_methods(r->route.id) & r->method)) {
        const char *hdr[] = {"Allow", qd_route_allow(r->route.id), NULL};
        qd_http_reply_problem(r, QD_P_METHOD_NOT_ALLOWED, "method not allowed here", hdr);
        return;
    }
    if (!auth_ok(s, r)) {
        const char *hdr[] = {"WWW-Authenticate", "Bearer realm=\"quantd\"", NULL};
        qd_http_reply_problem(r, QD_P_UNAUTHORIZED, "a valid bearer token is required", hdr);
        return;
    }
    bool json = is_json(r);
    if (qd_route_streams_body(r->route.id, r->method, json)) {
        begin_upload(s, r, h, r->route.id == QD_R_JOBS);
        return;
    }
    if (r->route.id == QD_R_JOBS && r->method == QD_M_POST) {
        uint64_t cl = 0;
        if (parse_content_length(r, &cl) > 0 && cl > QD_MAX_JSON_BODY) {
            qd_http_reply_problem(r, QD_P_UPLOAD_TOO_LARGE, "a JSON job spec is at most 1 MiB",
                                  NULL);
            return;
        }
        h->kind = HK_JSON;
    }
}

/* ---- body ------------------------------------------------------------- */

/* Removing a large file takes long (its page cache is dropped and its
 * blocks freed at the last close: ~0.6 s for 1 GiB on ext4), so the loop
 * thread removes the names at once, as before, and a pool item does the
 * last close of the large files. */
#define CLOSER_MAX 64

struct closer {
    uv_work_t work;
    size_t n;
    int fds[CLOSER_MAX];
};

static void closer_work(uv_work_t *w)
{
    struct closer *c = w->data;
    for (size_t i = 0; i < c->n; i++)
        close(c->fds[i]);
}

static void closer_done(uv_work_t *w, int status)
{
    (void)status;
    free(w->data);
}

static void close_async(struct qd_server *s, struct closer *c)
{
    c->work.data = c;
    if (c->n > 0 && uv_queue_work(s->loop, &c->work, closer_work, closer_done) == 0)
        return;
    closer_work(&c->work);
    free(c);
}

/* qd_spool_remove with the last close of large files on the pool. */
static void remove_async(struct qd_server *s, const char *path)
{
    struct closer *c = calloc(1, sizeof *c);
    if (!c) {
        qd_spool_remove(path);
        return;
    }
    qd_spool_remove_keep(path, c->fds, CLOSER_MAX, &c->n);
    close_async(s, c);
}

/* Close the upload the loop thread holds (after the writer was joined):
 * its temp file, if still there, is unlinked now and closed on the pool. */
static void release_upload(struct hstate *h)
{
    if (h->up.tmp_path[0])
        unlink(h->up.tmp_path);
    h->up.tmp_path[0] = '\0';
    struct closer *c = h->up.fd >= 0 ? calloc(1, sizeof *c) : NULL;
    if (c) {
        c->fds[c->n++] = h->up.fd;
        h->up.fd = -1;
        close_async(h->s, c);
    }
    qd_spool_upload_abort(&h->up);
}

/* Stop an upload: cancel the writer (it removes the temp file) or release
 * what the loop thread holds. */
static void drop_upload(struct hstate *h)
{
    if (h->pipe) {
        qd_upipe_cancel(h->pipe);
        h->pipe = NULL;
        if (h->phase == 1)
            h->s->validations--;
    }
    release_upload(h);
    h->up_open = false;
}

static void reply_write_error(struct qd_req *r, int rc)
{
    qd_http_reply_problem(r, rc == -ENOSPC ? QD_P_INSUFFICIENT_STORAGE : QD_P_INTERNAL,
                          rc == -ENOSPC ? "disk full" : "cannot write the upload", NULL);
}

static int on_body(struct qd_req *r, const char *data, size_t *lenp, void *ud)
{
    struct qd_server *s = ud;
    struct hstate *h = r->hstate;
    size_t len = *lenp;
    if (!h)
        return -1;
    if (h->kind == HK_JSON) {
        if (h->json_len + len > QD_MAX_JSON_BODY) {
            qd_http_reply_problem(r, QD_P_UPLOAD_TOO_LARGE, "a JSON job spec is at most 1 MiB",
                                  NULL);
            return -1;
        }
        char *p = realloc(h->json, h->json_len + len + 1);
        if (!p)
            return -1;
        memcpy(p + h->json_len, data, len);
        h->json = p;
        h->json_len += len;
        h->json[h->json_len] = '\0';
        return 0;
    }
    if (!h->up_open)
        return 0; /* a body we do not want (e.g. on GET): ignore it */
    if (h->pushed + len > h->limit) {
        drop_upload(h);
        qd_http_reply_problem(r, QD_P_UPLOAD_TOO_LARGE, "the body exceeds max_upload_bytes", NULL);
        QD_LOGF(QD_LOG_WARN, "request %s: upload over the limit, stopped", r->id);
        return -1;
    }
    if (s->closing) { /* MHD stops next: do not park */
        drop_upload(h);
        qd_http_reply_problem(r, QD_P_DRAINING, "the server is shutting down", NULL);
        return -1;
    }
    ssize_t took = qd_upipe_push(h->pipe, data, len);
    if (took < 0) {
        drop_upload(h);
        reply_write_error(r, (int)took);
        return -1;
    }
    h->pushed += (uint64_t)took;
    if ((size_t)took < len) {
        /* the ring is full: MHD keeps the rest, the writer wakes us */
        *lenp = (size_t)took;
        qd_http_suspend(r);
    }
    return 0;
}

/* ---- the end of an upload, on its writer thread ---------------------- */

static void finish_request(struct qd_req *r);
static void check_validation(struct qd_server *s, struct qd_req *r, struct hstate *h);

static bool shard_needs_check(const char *file)
{
    size_t n = strlen(file);
    return n > 12 && strcmp(file + n - 12, ".safetensors") == 0;
}

/* The body is in: the writer drains the ring, fsyncs, finalises the
 * digest and checks the header (upload.h); the request waits suspended. */
static void start_validation(struct qd_server *s, struct qd_req *r, struct hstate *h)
{
    if (s->closing) { /* MHD stops next: a suspended request would abort it */
        drop_upload(h);
        qd_http_reply_problem(r, QD_P_DRAINING, "the server is shutting down", NULL);
        return;
    }
    h->phase = 1;
    s->validations++;
    qd_upipe_end(h->pipe);
    check_validation(s, r, h);
}

/* Woken (or called from start_validation): finish when the writer did. */
static void check_validation(struct qd_server *s, struct qd_req *r, struct hstate *h)
{
    if (!qd_upipe_done(h->pipe)) {
        qd_http_suspend(r); /* upload_wake resumes it */
        return;
    }
    struct qd_upipe_result res;
    int rc = qd_upipe_join(h->pipe, &h->up, &res);
    h->pipe = NULL;
    s->validations--;
    h->phase = 2;
    if (res.write_rc != 0) {
        release_upload(h); /* the writer removed the file */
        h->up_open = false;
        reply_write_error(r, res.write_rc);
        return;
    }
    if (rc != 0) {
        qcore_error_set(&h->verr, rc == -ENOSPC ? QCORE_ENOSPC : QCORE_EIO, QCORE_NO_OFFSET,
                        "cannot store the upload: %s", strerror(-rc));
        h->vrc = h->verr.code;
    } else {
        h->vrc = res.check_rc;
        h->verr = res.err;
        h->v_format = res.format;
        h->v_tensors = res.tensors;
    }
    finish_request(r);
}

/* ---- submitting -------------------------------------------------------- */

static const char *format_name(int f)
{
    return f == QCORE_FORMAT_GGUF ? "gguf" : f == QCORE_FORMAT_SAFETENSORS ? "safetensors" : "other";
}

static void wait_timeout(uv_timer_t *t);

static void answer_submitted(struct qd_server *s, struct qd_req *r, struct hstate *h,
                             struct qd_job *j)
{
    char loc[64];
    snprintf(loc, sizeof loc, "/v1/jobs/%s", qd_job_id(j));
    const char *hdr[] = {"Location", loc, NULL};
    if (h->spec.wait_s > 0 && !qd_job_done(j)) {
        snprintf(h->job_id, sizeof h->job_id, "%s", qd_job_id(j));
        h->w.r = r;
        watch(s, r, h, h->job_id);
        h->timer = calloc(1, sizeof *h->timer);
        if (h->timer && uv_timer_init(s->loop, h->timer) == 0) {
            h->timer->data = r;
            uv_timer_start(h->timer, wait_timeout, (uint64_t)h->spec.wait_s * 1000, 0);
        } else {
            free(h->timer);
            h->timer = NULL;
            unwatch(h);
            reply_job(r, 202, j, hdr);
            return;
        }
        qd_http_suspend(r);
        return;
    }
    reply_job(r, qd_job_done(j) ? 200 : 202, j, hdr);
}

static void wait_timeout(uv_timer_t *t)
{
    struct qd_req *r = t->data;
    struct hstate *h = r->hstate;
    h->wait_over = true;
    qd_http_resume(r);
}

/* End of a wait=: the job ended, the time ran out, or the job was deleted. */
static void wait_reply(struct qd_server *s, struct qd_req *r, struct hstate *h)
{
    struct qd_job *j = qd_jobs_find(s->jobs, h->job_id);
    if (!j) {
        unwatch(h);
        qd_http_reply_problem(r, QD_P_JOB_NOT_FOUND, "the job was deleted", NULL);
        return;
    }
    if (!qd_job_done(j) && !h->wait_over) {
        qd_http_suspend(r); /* woken by progress: keep waiting */
        return;
    }
    unwatch(h);
    char loc[64];
    snprintf(loc, sizeof loc, "/v1/jobs/%s", qd_job_id(j));
    const char *hdr[] = {"Location", loc, NULL};
    reply_job(r, qd_job_done(j) ? 200 : 202, j, hdr);
}

static void submit_upload_job(struct qd_server *s, struct qd_req *r, struct hstate *h)
{
    char id[QD_JOB_ID_LEN + 1], dir[QD_PATH_MAX], dst[QD_PATH_MAX], detail[256];
    if (qd_jobs_new_id(id) != 0 ||
        qd_spool_path(dir, sizeof dir, "%s/jobs/%s", s->spool.root, id) != 0 ||
        qd_spool_path(dst, sizeof dst, "%s/input", dir) != 0 || mkdir(dir, 0750) != 0) {
        qd_http_reply_problem(r, QD_P_INTERNAL, "cannot create the job directory", NULL);
        return;
    }
    int rc = qd_spool_upload_commit(&h->up, dst);
    if (rc != 0) {
        remove_async(s, dir);
        qd_http_reply_problem(r, QD_P_INTERNAL, "cannot store the upload", NULL);
        return;
    }
    struct qd_job_input in = {.size = h->up.bytes, .owned = true};
    snprintf(in.rel_path, sizeof in.rel_path, "jobs/%s/input", id);
    memcpy(in.sha256, h->up.sha256_hex, sizeof in.sha256);
    int64_t wait_s = h->spec.wait_s;
    struct qd_job *j = NULL;
    enum qd_problem p =
        qd_jobs_submit(s->jobs, id, &h->spec, &in, "model", &j, detail, sizeof detail);
    h->spec.wait_s = wait_s;
    if (p) {
        remove_async(s, dir); /* holds the upload */
        char ra[16];
        snprintf(ra, sizeof ra, "%d", qd_jobs_retry_after(s->jobs));
        const char *hdr[] = {"Retry-After", ra, NULL};
        qd_http_reply_problem(r, p, detail, p == QD_P_QUEUE_FULL ? hdr : NULL);
        return;
    }
    answer_submitted(s, r, h, j);
}

static int model_paths(struct qd_server *s, const char *name, char *dir, char *file, size_t len)
{
    if (qd_spool_path(dir, len, "%s/models/%s", s->spool.root, name) != 0)
        return -1;
    return qd_spool_path(file, len, "%s/model", dir);
}

static size_t count_files(const char *dir)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void store_model(struct qd_server *s, struct qd_req *r, struct hstate *h)
{
    char dir[QD_PATH_MAX], file[QD_PATH_MAX];
    bool shard = r->route.id == QD_R_MODEL_FILE;
    if (model_paths(s, r->route.name, dir, file, sizeof dir) != 0) {
        qd_http_reply_problem(r, QD_P_INVALID_SPEC, "name too long", NULL);
        return;
    }
    if (qd_jobs_uses_model(s->jobs, r->route.name)) {
        qd_http_reply_problem(r, QD_P_JOB_NOT_DONE, "a queued or running job reads this model",
                              NULL);
        return;
    }
    if (!shard)
        remove_async(s, dir); /* PUT replaces */
    mkdir(dir, 0750);
    if (shard) {
        qd_spool_path(file, sizeof file, "%s/files", dir);
        mkdir(file, 0750);
        size_t n_files = count_files(file);
        qd_spool_path(file, sizeof file, "%s/files/%s", dir, r->route.file);
        struct stat st;
        if (n_files >= QD_MAX_SHARDS && stat(file, &st) != 0) {
            char detail[96];
            snprintf(detail, sizeof detail, "a model folder holds at most %d files",
                     QD_MAX_SHARDS);
            qd_http_reply_problem(r, QD_P_UPLOAD_TOO_LARGE, detail, NULL);
            return;
        }
    }
    if (qd_spool_upload_commit(&h->up, file) != 0) {
        qd_http_reply_problem(r, QD_P_INTERNAL, "cannot store the model", NULL);
        return;
    }
    json_t *meta = json_pack("{s:s, s:I, s:s, s:s, s:I, s:f, s:s}", "name", r->route.name, "size",
                             (json_int_t)h->up.bytes, "sha256", h->up.sha256_hex, "format",
                             format_name(h->v_format), "tensors", (json_int_t)h->v_tensors,
                             "created", qd_now(), "kind", shard ? "folder" : "file");
    if (shard)
        json_object_set_new(meta, "file", json_string(r->route.file));
    char *text = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
    char metaname[QD_MAX_NAME_LEN + 16];
    snprintf(metaname, sizeof metaname, "%s%s", shard ? "meta-" : "meta.json",
             shard ? r->route.file : "");
    int rc = text ? qd_spool_write_atomic(dir, shard ? metaname : "meta.json", text, strlen(text))
                  : -ENOMEM;
    free(text);
    if (rc != 0) {
        json_decref(meta);
        qd_http_reply_problem(r, QD_P_INSUFFICIENT_STORAGE, "cannot record the model", NULL);
        return;
    }
    char loc[QD_PATH_MAX];
    snprintf(loc, sizeof loc, "/v1/models/%s", r->route.name);
    const char *hdr[] = {"Location", loc, NULL};
    qd_http_reply_json(r, 201, meta, hdr);
}

static void finish_request(struct qd_req *r)
{
    struct hstate *h = r->hstate;
    struct qd_server *s = h->s;
    if (h->vrc != 0) {
        enum qd_problem p = qd_problem_from_qcore(h->vrc);
        release_upload(h);
        h->up_open = false;
        qd_http_reply_problem(r, p, h->verr.msg[0] ? h->verr.msg : qcore_strerror(h->vrc), NULL);
        return;
    }
    if (h->has_digest && memcmp(h->want_digest, h->up.digest, 32) != 0) {
        release_upload(h);
        h->up_open = false;
        qd_http_reply_problem(r, QD_P_DIGEST_MISMATCH,
                              "the body's SHA-256 differs from Content-Digest", NULL);
        return;
    }
    if (h->kind == HK_UPLOAD_JOB)
        submit_upload_job(s, r, h);
    else
        store_model(s, r, h);
    release_upload(h); /* closes the fd; the file was renamed (or is removed) */
    h->up_open = false;
}

static void submit_json_job(struct qd_server *s, struct qd_req *r, struct hstate *h)
{
    char detail[512];
    if (s->draining) {
        qd_http_reply_problem(r, QD_P_DRAINING, "the server is shutting down", NULL);
        return;
    }
    enum qd_problem p = qd_spec_from_json(&h->spec, h->json ? h->json : "", h->json_len, true,
                                          detail, sizeof detail);
    if (p) {
        qd_http_reply_problem(r, p, detail, NULL);
        return;
    }
    const char *w = qd_http_query(r, "wait");
    if (w) {
        errno = 0;
        char *end = NULL;
        long long v = strtoll(w, &end, 10);
        if (errno || end == w || *end || v < 0) {
            qd_http_reply_problem(r, QD_P_INVALID_SPEC, "wait must be seconds >= 0", NULL);
            return;
        }
        h->spec.wait_s = v > s->cfg.max_wait_s ? s->cfg.max_wait_s : v;
    }
    char dir[QD_PATH_MAX], file[QD_PATH_MAX], meta[QD_PATH_MAX];
    model_paths(s, h->spec.model, dir, file, sizeof dir);
    qd_spool_path(meta, sizeof meta, "%s/meta.json", dir);
    struct qd_job_input in = {0};
    struct stat st;
    if (stat(file, &st) == 0) {
        snprintf(in.rel_path, sizeof in.rel_path, "models/%s/model", h->spec.model);
        char *text = NULL;
        size_t len = 0;
        if (qd_spool_read_small(meta, 1 << 20, &text, &len) == 0) {
            json_t *m = json_loadb(text, len, 0, NULL);
            const char *sha = json_string_value(json_object_get(m, "sha256"));
            snprintf(in.sha256, sizeof in.sha256, "%s", sha ? sha : "");
            json_decref(m);
            free(text);
        }
        in.size = (uint64_t)st.st_size;
    } else {
        qd_spool_path(file, sizeof file, "%s/files", dir);
        if (stat(file, &st) != 0) {
            snprintf(detail, sizeof detail, "no model named '%s' (PUT /v1/models/%s first)",
                     h->spec.model, h->spec.model);
            qd_http_reply_problem(r, QD_P_MODEL_NOT_FOUND, detail, NULL);
            return;
        }
        snprintf(in.rel_path, sizeof in.rel_path, "models/%s/files", h->spec.model);
        in.folder = true;
        if (h->spec.format_set && h->spec.out_format != QCORE_FORMAT_SAFETENSORS) {
            qd_http_reply_problem(r, QD_P_INVALID_SPEC,
                                  "a model folder is quantized into a folder of safetensors "
                                  "shards: output.format must be safetensors",
                                  NULL);
            return;
        }
        h->spec.out_format = QCORE_FORMAT_SAFETENSORS;
    }
    char id[QD_JOB_ID_LEN + 1], jdir[QD_PATH_MAX];
    if (qd_jobs_new_id(id) != 0 ||
        qd_spool_path(jdir, sizeof jdir, "%s/jobs/%s", s->spool.root, id) != 0 ||
        mkdir(jdir, 0750) != 0) {
        qd_http_reply_problem(r, QD_P_INTERNAL, "cannot create the job directory", NULL);
        return;
    }
    char base[QD_MAX_NAME_LEN + 1];
    snprintf(base, sizeof base, "%s", h->spec.model);
    char *dot = strrchr(base, '.');
    if (dot && dot != base)
        *dot = '\0';
    int64_t wait_s = h->spec.wait_s;
    struct qd_job *j = NULL;
    p = qd_jobs_submit(s->jobs, id, &h->spec, &in, base, &j, detail, sizeof detail);
    h->spec.wait_s = wait_s;
    if (p) {
        qd_spool_remove(jdir);
        char ra[16];
        snprintf(ra, sizeof ra, "%d", qd_jobs_retry_after(s->jobs));
        const char *hdr[] = {"Retry-After", ra, NULL};
        qd_http_reply_problem(r, p, detail, p == QD_P_QUEUE_FULL ? hdr : NULL);
        return;
    }
    answer_submitted(s, r, h, j);
}

/* ---- reads ------------------------------------------------------------- */

static void get_readyz(struct qd_server *s, struct qd_req *r)
{
    json_t *reasons = json_array();
    if (s->draining)
        json_array_append_new(reasons, json_string("draining"));
    if (disk_low(s))
        json_array_append_new(reasons, json_string("disk-low"));
    if (qd_jobs_queue_full(s->jobs))
        json_array_append_new(reasons, json_string("queue-full"));
    bool ok = json_array_size(reasons) == 0;
    qd_http_reply_json(r, ok ? 200 : 503,
                       json_pack("{s:s, s:o}", "status", ok ? "ready" : "not-ready", "reasons",
                                 reasons),
                       NULL);
}

static void get_metrics(struct qd_server *s, struct qd_req *r)
{
    struct qd_metrics_gauges g = {0};
    qd_jobs_gauges(s->jobs, &g);
    g.disk_free_bytes = qd_spool_free_bytes(&s->spool);
    g.connections = qd_http_connections(s->http);
    g.draining = s->draining;
    size_t len = 0;
    char *text = qd_metrics_render(s->metrics, &g, &len);
    if (!text) {
        qd_http_reply_problem(r, QD_P_INTERNAL, "cannot render metrics", NULL);
        return;
    }
    qd_http_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, NULL);
}

static void get_capabilities(struct qd_server *s, struct qd_req *r)
{
    struct qd_caps_view c = {
        .version = QD_VERSION, .isa = s->isa, .max_upload_bytes = s->cfg.max_upload_bytes,
        .max_queued_jobs = s->cfg.max_queued_jobs, .max_running_jobs = s->cfg.max_running_jobs,
        .threads = s->cfg.threads, .max_wait_s = s->cfg.max_wait_s,
        .chunk_bytes = s->cfg.chunk_bytes, .auth = s->n_tokens > 0};
    qd_http_reply_json(r, 200, qd_view_capabilities(&c), NULL);
}

static int64_t query_int(struct qd_req *r, const char *key, int64_t def, int64_t lo, int64_t hi)
{
    const char *v = qd_http_query(r, key);
    if (!v)
        return def;
    errno = 0;
    char *end = NULL;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        return -1;
    return x;
}

static void list_jobs(struct qd_server *s, struct qd_req *r)
{
    int64_t limit = query_int(r, "limit", QD_LIST_DEFAULT, 1, QD_LIST_MAX);
    int64_t offset = query_int(r, "offset", 0, 0, INT64_MAX / 2);
    if (limit < 0 || offset < 0) {
        qd_http_reply_problem(r, QD_P_INVALID_SPEC,
                              "limit must be 1..1000 and offset >= 0", NULL);
        return;
    }
    json_t *arr = json_array();
    size_t total = qd_jobs_count(s->jobs);
    for (size_t i = (size_t)offset; i < total && i < (size_t)(offset + limit); i++) {
        struct qd_job_view v;
        qd_job_view(qd_jobs_nth_newest(s->jobs, i), &v);
        json_array_append_new(arr, qd_view_job(&v));
    }
    json_t *next = json_null();
    if ((size_t)(offset + limit) < total) {
        char buf[96];
        snprintf(buf, sizeof buf, "/v1/jobs?offset=%lld&limit=%lld", (long long)(offset + limit),
                 (long long)limit);
        next = json_string(buf);
    }
    qd_http_reply_json(r, 200,
                       json_pack("{s:o, s:I, s:I, s:I, s:o}", "jobs", arr, "total",
                                 (json_int_t)total, "offset", (json_int_t)offset, "limit",
                                 (json_int_t)limit, "next", next),
                       NULL);
}

static struct qd_job *job_or_404(struct qd_server *s, struct qd_req *r)
{
    struct qd_job *j = qd_jobs_find(s->jobs, r->route.job);
    if (!j)
        qd_http_reply_problem(r, QD_P_JOB_NOT_FOUND, "no such job", NULL);
    return j;
}

/* A job's results exist only once it succeeded: 409 job-not-done otherwise. */
static bool succeeded_or_409(struct qd_req *r, struct qd_job *j, const char *what)
{
    char detail[96];
    if (qd_job_state(j) == QD_JOB_SUCCEEDED)
        return true;
    if (qd_job_done(j))
        snprintf(detail, sizeof detail, "the job did not succeed: no %s", what);
    else
        snprintf(detail, sizeof detail, "the job has not finished yet");
    qd_http_reply_problem(r, QD_P_JOB_NOT_DONE, detail, NULL);
    return false;
}

static void get_report(struct qd_server *s, struct qd_req *r)
{
    struct qd_job *j = job_or_404(s, r);
    if (!j)
        return;
    if (!succeeded_or_409(r, j, "report"))
        return;
    char path[QD_PATH_MAX];
    qd_job_report_path(j, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        qd_http_reply_problem(r, QD_P_INTERNAL, "the report is missing", NULL);
        return;
    }
    qd_http_reply_fd(r, 200, fd, 0, (uint64_t)st.st_size, "application/json", NULL);
}

static void get_artifact(struct qd_server *s, struct qd_req *r)
{
    struct qd_job *j = job_or_404(s, r);
    if (!j)
        return;
    if (!succeeded_or_409(r, j, "artifact"))
        return;
    char path[QD_PATH_MAX];
    const struct qd_artifact *art = qd_job_artifact(j, r->route.name, path, sizeof path);
    if (!art) {
        qd_http_reply_problem(r, QD_P_NOT_FOUND, "no artifact of this name", NULL);
        return;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        qd_http_reply_problem(r, QD_P_INTERNAL, "the artifact is missing", NULL);
        return;
    }
    uint64_t size = (uint64_t)st.st_size;
    char etag[72], disp[QD_MAX_NAME_LEN + 40], crange[96];
    snprintf(etag, sizeof etag, "\"%s\"", art->sha256);
    snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", r->route.name);
    const char *inm = qd_http_header(r, "If-None-Match");
    if (inm && strcmp(inm, etag) == 0) {
        close(fd);
        const char *hdr[] = {"ETag", etag, NULL};
        qd_http_reply(r, 304, NULL, NULL, 0, hdr);
        return;
    }
    uint64_t start = 0, len = size;
    const char *range = qd_http_header(r, "Range");
    const char *ifr = qd_http_header(r, "If-Range");
    int rr = (ifr && strcmp(ifr, etag) != 0) ? 0 : qd_view_parse_range(range, size, &start, &len);
    if (rr < 0) {
        close(fd);
        snprintf(crange, sizeof crange, "bytes */%llu", (unsigned long long)size);
        const char *hdr[] = {"Content-Range", crange, NULL};
        qd_http_reply_problem(r, QD_P_RANGE_NOT_SATISFIABLE, "the range is outside the file", hdr);
        return;
    }
    if (rr > 0) {
        snprintf(crange, sizeof crange, "bytes %llu-%llu/%llu", (unsigned long long)start,
                 (unsigned long long)(start + len - 1), (unsigned long long)size);
        const char *hdr[] = {"ETag", etag, "Accept-Ranges", "bytes", "Content-Disposition", disp,
                             "Content-Range", crange, NULL};
        qd_http_reply_fd(r, 206, fd, start, len, "application/octet-stream", hdr);
        return;
    }
    const char *hdr[] = {"ETag", etag, "Accept-Ranges", "bytes", "Content-Disposition", disp, NULL};
    qd_http_reply_fd(r, 200, fd, 0, size, "application/octet-stream", hdr);
}

/* A folder model: its files, from the meta-<file> records, sorted. */
static int cmp_file(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "file"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "file"));
    return strcmp(x ? x : "", y ? y : "");
}

static json_t *folder_json(const char *name, const char *dir)
{
    json_t *files = json_array();
    uint64_t total = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        if (strncmp(e->d_name, "meta-", 5) != 0)
            continue;
        char path[QD_PATH_MAX], *text = NULL;
        size_t len = 0;
        if (qd_spool_path(path, sizeof path, "%s/%s", dir, e->d_name) != 0 ||
            qd_spool_read_small(path, 1 << 20, &text, &len) != 0)
            continue;
        json_t *m = json_loadb(text, len, 0, NULL);
        free(text);
        const char *f = json_string_value(json_object_get(m, "file"));
        char fp[QD_PATH_MAX];
        struct stat st;
        if (!f || qd_spool_path(fp, sizeof fp, "%s/files/%s", dir, f) != 0 || stat(fp, &st) != 0) {
            json_decref(m);
            continue;
        }
        total += (uint64_t)json_integer_value(json_object_get(m, "size"));
        json_object_del(m, "name");
        json_object_del(m, "kind");
        json_array_append_new(files, m);
    }
    if (d)
        closedir(d);
    size_t n = json_array_size(files);
    json_t **v = n ? calloc(n, sizeof *v) : NULL;
    if (v) {
        for (size_t i = 0; i < n; i++)
            v[i] = json_incref(json_array_get(files, i));
        qsort(v, n, sizeof *v, cmp_file);
        json_array_clear(files);
        for (size_t i = 0; i < n; i++)
            json_array_append_new(files, v[i]);
        free(v);
    }
    return json_pack("{s:s, s:s, s:I, s:o}", "name", name, "kind", "folder", "size",
                     (json_int_t)total, "files", files);
}

static void get_model(struct qd_server *s, struct qd_req *r)
{
    char dir[QD_PATH_MAX], file[QD_PATH_MAX], meta[QD_PATH_MAX];
    model_paths(s, r->route.name, dir, file, sizeof dir);
    qd_spool_path(meta, sizeof meta, "%s/meta.json", dir);
    char *text = NULL;
    size_t len = 0;
    if (qd_spool_read_small(meta, 1 << 20, &text, &len) != 0) {
        struct stat st;
        qd_spool_path(file, sizeof file, "%s/files", dir);
        if (stat(file, &st) == 0) {
            qd_http_reply_json(r, 200, folder_json(r->route.name, dir), NULL);
            return;
        }
        qd_http_reply_problem(r, QD_P_MODEL_NOT_FOUND, "no such model", NULL);
        return;
    }
    qd_http_reply(r, 200, "application/json", text, len, NULL);
}

static void delete_model(struct qd_server *s, struct qd_req *r)
{
    char dir[QD_PATH_MAX], file[QD_PATH_MAX];
    model_paths(s, r->route.name, dir, file, sizeof dir);
    struct stat st;
    if (stat(dir, &st) != 0) {
        qd_http_reply_problem(r, QD_P_MODEL_NOT_FOUND, "no such model", NULL);
        return;
    }
    if (qd_jobs_uses_model(s->jobs, r->route.name)) {
        qd_http_reply_problem(r, QD_P_JOB_NOT_DONE, "a queued or running job reads this model",
                              NULL);
        return;
    }
    remove_async(s, dir);
    qd_http_reply(r, 204, NULL, NULL, 0, NULL);
}

/* ---- server-sent events ------------------------------------------------ */

static ssize_t sse_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct qd_req *r = cls;
    struct hstate *h = r->hstate;
    struct qd_server *s = h->s;
    if (h->sse_end)
        return QD_HTTP_END_OF_STREAM;
    struct qd_job *j = qd_jobs_find(s->jobs, h->job_id);
    int n = 0;
    if (!j) {
        n = snprintf(buf, max, "event: deleted\ndata: {\"id\":\"%s\"}\n\n", h->job_id);
        h->sse_end = true;
    } else if (!h->sse_first_sent || qd_job_version(j) != h->sent_version) {
        struct qd_job_view v;
        qd_job_view(j, &v);
        json_t *o = qd_view_job_progress(&v);
        char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        bool done = qd_job_done(j);
        n = snprintf(buf, max, "event: %s\nid: %llu\ndata: %s\n\n", done ? v.state : "progress",
                     (unsigned long long)qd_job_version(j), text ? text : "{}");
        free(text);
        h->sent_version = qd_job_version(j);
        h->sse_first_sent = true;
        h->sse_end = done;
    } else if (h->keepalive) {
        h->keepalive = false;
        n = snprintf(buf, max, ": keepalive\n\n");
    } else {
        qd_http_suspend(r); /* resumed by the job manager or the keepalive tick */
        return 0;
    }
    if (n < 0 || (size_t)n >= max)
        return QD_HTTP_END_WITH_ERROR;
    r->bytes_out += (uint64_t)n;
    return n;
}

static void get_events(struct qd_server *s, struct qd_req *r, struct hstate *h)
{
    struct qd_job *j = job_or_404(s, r);
    if (!j)
        return;
    h->kind = HK_SSE;
    snprintf(h->job_id, sizeof h->job_id, "%s", qd_job_id(j));
    watch(s, r, h, h->job_id);
    const char *hdr[] = {"Cache-Control", "no-cache", "X-Accel-Buffering", "no", NULL};
    qd_http_reply_stream(r, 200, "text/event-stream", sse_reader, r, NULL, hdr);
}

/* ---- end: the body is in --------------------------------------------- */

static void on_end(struct qd_req *r, void *ud)
{
    struct qd_server *s = ud;
    struct hstate *h = r->hstate;
    if (!h)
        return;
    if (h->watching && h->kind != HK_SSE) {
        wait_reply(s, r, h);
        return;
    }
    if (h->kind == HK_UPLOAD_JOB || h->kind == HK_UPLOAD_MODEL) {
        if (h->phase == 0 && h->up_open)
            start_validation(s, r, h);
        else if (h->phase == 1)
            check_validation(s, r, h);
        return;
    }
    if (h->kind == HK_JSON) {
        submit_json_job(s, r, h);
        return;
    }
    switch (r->route.id) {
    case QD_R_LIVEZ:
        qd_http_reply_json(r, 200, json_pack("{s:s}", "status", "ok"), NULL);
        return;
    case QD_R_READYZ: get_readyz(s, r); return;
    case QD_R_METRICS: get_metrics(s, r); return;
    case QD_R_CAPABILITIES: get_capabilities(s, r); return;
    case QD_R_JOBS: list_jobs(s, r); return;
    case QD_R_JOB: {
        struct qd_job *j = job_or_404(s, r);
        if (!j)
            return;
        if (r->method == QD_M_DELETE) {
            qd_jobs_delete(s->jobs, j);
            qd_http_reply(r, 204, NULL, NULL, 0, NULL);
        } else {
            reply_job(r, 200, j, NULL);
        }
        return;
    }
    case QD_R_JOB_EVENTS: get_events(s, r, h); return;
    case QD_R_JOB_REPORT: get_report(s, r); return;
    case QD_R_JOB_ARTIFACT: get_artifact(s, r); return;
    case QD_R_MODEL:
        if (r->method == QD_M_DELETE)
            delete_model(s, r);
        else
            get_model(s, r);
        return;
    default:
        qd_http_reply_problem(r, QD_P_NOT_FOUND, "no such resource", NULL);
    }
}

static void timer_closed(uv_handle_t *t)
{
    free(t);
}

static void on_done(struct qd_req *r, void *ud)
{
    (void)ud;
    struct hstate *h = r->hstate;
    if (!h)
        return;
    unwatch(h);
    if (h->timer) {
        uv_timer_stop(h->timer);
        uv_close((uv_handle_t *)h->timer, timer_closed);
    }
    drop_upload(h); /* client gone mid-upload, or shutting down */
    qd_spec_cleanup(&h->spec);
    free(h->json);
    free(h);
    r->hstate = NULL;
}

size_t qd_handlers_expire_models(struct qd_server *s, double now)
{
    if (s->cfg.retention_s <= 0)
        return 0;
    char root[QD_PATH_MAX];
    qd_spool_path(root, sizeof root, "%s/models", s->spool.root);
    DIR *d = opendir(root);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char dir[QD_PATH_MAX];
        struct stat st;
        if (qd_spool_path(dir, sizeof dir, "%s/%s", root, e->d_name) != 0 || stat(dir, &st) != 0)
            continue;
        if (now - (double)st.st_mtime > (double)s->cfg.retention_s &&
            !qd_jobs_uses_model(s->jobs, e->d_name)) {
            remove_async(s, dir);
            n++;
        }
    }
    closedir(d);
    return n;
}

const struct qd_http_handlers qd_handlers = {
    .begin = on_begin,
    .body = on_body,
    .end = on_end,
    .done = on_done,
};

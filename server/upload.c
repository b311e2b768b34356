/* server/upload.c — an upload's writer thread and its ring (upload.h). */
#define _GNU_SOURCE /* sync_file_range */
#include "server/upload.h"

#include <fcntl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config/limits.h"
#include "core/formats/model.h"

enum wstate { W_RUNNING, W_DONE };

struct qd_upipe {
    struct qd_upipe *next;   /* hub list, loop thread */
    struct qd_upipe_hub *hub;
    uv_thread_t thread;
    bool check_model;
    void (*wake)(void *ud);  /* loop thread; NULL once cancelled */
    void *ud;
    char *buf;               /* the ring, QD_UPLOAD_RING bytes */
    size_t head;             /* next byte the loop thread writes (loop only) */
    /* --- under mu --- */
    uv_mutex_t mu;
    uv_cond_t cond;          /* the writer waits for bytes, the end or cancel */
    size_t tail, used;       /* the writer reads [tail, tail + used) */
    bool eof, cancel;
    bool unlinked;           /* the temp file's name is removed */
    bool want_room;          /* the loop thread waits for room */
    bool notify;             /* the loop thread has something to look at */
    enum wstate state;
    int err;                 /* a write error (negative errno) */
    /* --- the writer's, read by the loop thread after W_DONE --- */
    struct qd_upload up;
    uint64_t flushed;        /* bytes whose write-back was started */
    struct qd_upipe_result res;
};

static void hub_send(struct qd_upipe_hub *hub)
{
    uint64_t one = 1;
    ssize_t n;
    do
        n = write(hub->efd, &one, sizeof one); /* EAGAIN: a wake-up is pending anyway */
    while (n < 0 && errno == EINTR);
}

/* ---- the writer thread ------------------------------------------------- */

static void writer_finish(struct qd_upipe *p)
{
    struct qd_upipe_result *res = &p->res;
    res->rc = qd_spool_upload_finish(&p->up); /* fsync, digest */
    if (res->rc != 0 || !p->check_model)
        return;
    struct qcore_model *m = NULL;
    res->check_rc = qcore_model_open(p->up.tmp_path, &m, &res->err);
    if (res->check_rc == 0) {
        res->format = m->format;
        res->tensors = m->n_tensors;
    }
    qcore_model_close(m);
}

static void writer_main(void *arg)
{
    struct qd_upipe *p = arg;
    const size_t cap = QD_UPLOAD_RING, seg_max = QD_UPLOAD_RING / 4;
    int e = errno;
    if (QD_UPLOAD_NICE != 0)
        (void)setpriority(PRIO_PROCESS, 0, QD_UPLOAD_NICE); /* this thread only (Linux) */
    errno = e;
    bool finish = false;
    uv_mutex_lock(&p->mu);
    for (;;) {
        while (p->used == 0 && !p->eof && !p->cancel)
            uv_cond_wait(&p->cond, &p->mu);
        if (p->cancel)
            break;
        if (p->used == 0) { /* eof, everything written */
            finish = true;
            break;
        }
        size_t n = p->used;
        if (n > cap - p->tail)
            n = cap - p->tail;
        if (n > seg_max)
            n = seg_max;
        const char *src = p->buf + p->tail;
        uv_mutex_unlock(&p->mu);
        /* [tail, tail + n) is the writer's until `used` shrinks */
        int rc = qd_spool_upload_write(&p->up, src, n);
        if (rc == 0 && p->up.bytes - p->flushed >= QD_UPLOAD_FLUSH) {
            /* start the write-back of what is written (no wait): the
             * fsync at the end then has little left to do */
            (void)sync_file_range(p->up.fd, (off_t)p->flushed, (off_t)(p->up.bytes - p->flushed),
                                  SYNC_FILE_RANGE_WRITE);
            p->flushed = p->up.bytes;
        }
        uv_mutex_lock(&p->mu);
        if (rc != 0) {
            p->err = rc;
            break;
        }
        p->tail = (p->tail + n) % cap;
        p->used -= n;
        if (p->want_room && p->used <= cap / 2) {
            p->want_room = false;
            p->notify = true;
            uv_mutex_unlock(&p->mu);
            hub_send(p->hub);
            uv_mutex_lock(&p->mu);
        }
    }
    bool drop = p->cancel || p->err != 0;
    uv_mutex_unlock(&p->mu);
    if (finish && !drop)
        writer_finish(p);
    uv_mutex_lock(&p->mu);
    if (p->cancel || p->err != 0) {
        /* the upload is lost: the last close (which drops the pages of a
         * large file, slow) is done here, not on the loop thread */
        if (!p->unlinked && p->up.tmp_path[0])
            unlink(p->up.tmp_path); /* cheap: the file is still open */
        p->unlinked = true;
        int fd = p->up.fd;
        p->up.fd = -1;
        uv_mutex_unlock(&p->mu);
        if (fd >= 0)
            close(fd);
        uv_mutex_lock(&p->mu);
    }
    p->state = W_DONE;
    p->notify = true;
    uv_mutex_unlock(&p->mu);
    hub_send(p->hub);
}

/* ---- the loop thread --------------------------------------------------- */

static void hub_unlink(struct qd_upipe_hub *hub, struct qd_upipe *p)
{
    for (struct qd_upipe **pp = &hub->list; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
}

static void pipe_free(struct qd_upipe *p)
{
    if (p->unlinked)
        p->up.tmp_path[0] = '\0'; /* the name may belong to a new upload now */
    qd_spool_upload_abort(&p->up); /* the hash; the file is gone or handed back */
    uv_cond_destroy(&p->cond);
    uv_mutex_destroy(&p->mu);
    free(p->buf);
    free(p);
}

/* Something to look at: reap cancelled writers that returned, tell the
 * requests whose writer has room again, failed or finished. */
static void on_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    struct qd_upipe_hub *hub = h->data;
    uint64_t v;
    while (read(hub->efd, &v, sizeof v) < 0 && errno == EINTR)
        ;
    struct qd_upipe *p = hub->list;
    while (p) {
        struct qd_upipe *next = p->next;
        uv_mutex_lock(&p->mu);
        bool notify = p->notify, done = p->state == W_DONE;
        p->notify = false;
        uv_mutex_unlock(&p->mu);
        if (!p->wake && done) { /* cancelled: nobody waits for it */
            uv_thread_join(&p->thread);
            hub->running--;
            hub_unlink(hub, p);
            pipe_free(p);
        } else if (notify && p->wake) {
            p->wake(p->ud);
        }
        p = next;
    }
}

void qd_upipe_hub_wake_all(struct qd_upipe_hub *hub)
{
    for (struct qd_upipe *p = hub->list; p; p = p->next)
        if (p->wake)
            p->wake(p->ud);
}

int qd_upipe_hub_init(struct qd_upipe_hub *hub, uv_loop_t *loop)
{
    memset(hub, 0, sizeof *hub);
    hub->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (hub->efd < 0)
        return -errno;
    int rc = uv_poll_init(loop, &hub->poll, hub->efd);
    if (rc == 0)
        rc = uv_poll_start(&hub->poll, UV_READABLE, on_poll);
    if (rc != 0) {
        close(hub->efd);
        hub->efd = -1;
        return rc;
    }
    hub->poll.data = hub;
    hub->polling = true;
    return 0;
}

static void hub_closed(uv_handle_t *h)
{
    (void)h;
}

void qd_upipe_hub_close(struct qd_upipe_hub *hub)
{
    if (hub->polling && !uv_is_closing((uv_handle_t *)&hub->poll)) {
        uv_poll_stop(&hub->poll);
        uv_close((uv_handle_t *)&hub->poll, hub_closed);
    }
    hub->polling = false;
}

void qd_upipe_hub_join_all(struct qd_upipe_hub *hub)
{
    while (hub->list) {
        struct qd_upipe *p = hub->list;
        if (p->wake)
            qd_upipe_cancel(p);
        uv_thread_join(&p->thread);
        hub->running--;
        hub->list = p->next;
        pipe_free(p);
    }
    if (hub->efd >= 0)
        close(hub->efd);
    hub->efd = -1;
}

int qd_upipe_start(struct qd_upipe_hub *hub, struct qd_upload *u, bool check_model,
                   void (*wake)(void *ud), void *ud, struct qd_upipe **out)
{
    *out = NULL;
    struct qd_upipe *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->buf = malloc(QD_UPLOAD_RING);
    if (!p->buf) {
        free(p);
        return -ENOMEM;
    }
    if (uv_mutex_init(&p->mu) != 0) {
        free(p->buf);
        free(p);
        return -ENOMEM;
    }
    if (uv_cond_init(&p->cond) != 0) {
        uv_mutex_destroy(&p->mu);
        free(p->buf);
        free(p);
        return -ENOMEM;
    }
    p->hub = hub;
    p->check_model = check_model;
    p->wake = wake;
    p->ud = ud;
    p->state = W_RUNNING;
    p->res.format = QCORE_FORMAT_UNKNOWN;
    p->up = *u;
    int rc = uv_thread_create(&p->thread, writer_main, p);
    if (rc != 0) {
        p->up.fd = -1; /* still the caller's */
        p->up.md = NULL;
        p->up.tmp_path[0] = '\0';
        pipe_free(p);
        return rc;
    }
    /* the upload is the writer's now */
    u->fd = -1;
    u->tmp_path[0] = '\0';
    u->md = NULL;
    p->next = hub->list;
    hub->list = p;
    hub->running++;
    *out = p;
    return 0;
}

ssize_t qd_upipe_push(struct qd_upipe *p, const void *data, size_t len)
{
    const size_t cap = QD_UPLOAD_RING;
    const char *src = data;
    size_t taken = 0;
    while (taken < len) {
        uv_mutex_lock(&p->mu);
        if (p->err != 0) {
            int e = p->err;
            uv_mutex_unlock(&p->mu);
            return e;
        }
        size_t room = cap - p->used;
        if (room == 0)
            p->want_room = true; /* the writer has bytes to write: it will wake us */
        uv_mutex_unlock(&p->mu);
        if (room == 0)
            break;
        /* [head, head + room) is the loop thread's until `used` grows */
        size_t n = len - taken < room ? len - taken : room;
        size_t first = n < cap - p->head ? n : cap - p->head;
        memcpy(p->buf + p->head, src + taken, first);
        if (n > first)
            memcpy(p->buf, src + taken + first, n - first);
        p->head = (p->head + n) % cap;
        taken += n;
        uv_mutex_lock(&p->mu);
        bool was_empty = p->used == 0;
        p->used += n;
        if (was_empty)
            uv_cond_signal(&p->cond);
        uv_mutex_unlock(&p->mu);
    }
    return (ssize_t)taken;
}

void qd_upipe_end(struct qd_upipe *p)
{
    uv_mutex_lock(&p->mu);
    p->eof = true;
    uv_cond_signal(&p->cond);
    uv_mutex_unlock(&p->mu);
}

bool qd_upipe_done(struct qd_upipe *p)
{
    uv_mutex_lock(&p->mu);
    bool done = p->state == W_DONE;
    uv_mutex_unlock(&p->mu);
    return done;
}

int qd_upipe_join(struct qd_upipe *p, struct qd_upload *u, struct qd_upipe_result *res)
{
    struct qd_upipe_hub *hub = p->hub;
    uv_thread_join(&p->thread);
    hub->running--;
    hub_unlink(hub, p);
    *u = p->up;
    if (p->unlinked)
        u->tmp_path[0] = '\0'; /* the name may belong to a new upload now */
    *res = p->res;
    res->write_rc = p->err;
    p->up.fd = -1; /* handed back */
    p->up.md = NULL;
    p->up.tmp_path[0] = '\0';
    pipe_free(p);
    return res->rc;
}

void qd_upipe_cancel(struct qd_upipe *p)
{
    uv_mutex_lock(&p->mu);
    /* the name goes now, as before the writer thread existed (cheap: the
     * writer still holds the file open); once, whoever comes first */
    if (!p->unlinked && p->up.tmp_path[0])
        unlink(p->up.tmp_path);
    p->unlinked = true;
    p->cancel = true;
    uv_cond_signal(&p->cond);
    bool done = p->state == W_DONE;
    uv_mutex_unlock(&p->mu);
    p->wake = NULL;
    p->ud = NULL;
    if (done) /* reap on the next loop turn */
        hub_send(p->hub);
}

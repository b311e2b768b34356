/* server/upload.h — an upload's writer thread: the loop thread copies each
 * body piece into a bounded ring; one thread per upload writes the ring to
 * the temp file and hashes it (SHA-256) in order, then, at the end of the
 * body, fsyncs the file, finalises the digest and checks the model header.
 *
 * The loop thread keeps the connection, the request and every decision;
 * the writer thread only ever touches its `struct qd_upload` (moved in at
 * start, handed back at join) and the ring. They meet under one mutex.
 * When the ring is full the loop thread stops taking bytes (the caller
 * suspends the connection); the writer wakes it through the hub's eventfd
 * when half the ring is free again, when it failed, and when it finished.
 * Why a thread and not the libuv pool: docs/threads.md.
 */
#ifndef QD_UPLOAD_H
#define QD_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <uv.h>

#include "core/error.h"
#include "server/spool.h"

struct qd_upipe;

/* One per server, loop thread: the wake-up eventfd and the list of writer
 * threads (running, or cancelled and not yet joined). An eventfd watched
 * by a uv_poll_t rather than a uv_async_t: uv_async_send has the loop
 * thread spin (sched_yield) while a sender is between its two steps, and a
 * writer is a low-priority thread that can be preempted right there; a
 * write(2) to an eventfd is one atomic step. */
struct qd_upipe_hub {
    int efd;               /* open until qd_upipe_hub_join_all */
    uv_poll_t poll;
    bool polling;
    struct qd_upipe *list; /* loop thread only */
    size_t running;        /* writer threads alive (loop thread only) */
};

int qd_upipe_hub_init(struct qd_upipe_hub *hub, uv_loop_t *loop);
/* Stop watching the eventfd (loop thread, before the loop ends). */
void qd_upipe_hub_close(struct qd_upipe_hub *hub);
/* Call every running upload's wake (shutdown: nothing may stay parked). */
void qd_upipe_hub_wake_all(struct qd_upipe_hub *hub);
/* After the loop ended: cancel and join every writer left, free them. */
void qd_upipe_hub_join_all(struct qd_upipe_hub *hub);

/* What the writer found at the end. */
struct qd_upipe_result {
    int write_rc;         /* 0, or the negative errno of a write (body lost) */
    int rc;               /* 0, or the negative errno of the fsync */
    int check_rc;         /* 0 or a QCORE_E* of the header check */
    struct qcore_error err;
    int format;           /* QCORE_FORMAT_* (UNKNOWN when not checked) */
    size_t tensors;
};

/* Start a writer for `u` (moved into the pipe: `u` is left closed and
 * empty). `check_model`: open the model header at the end. `wake(ud)` runs
 * on the loop thread when the writer has room again, failed or finished.
 * 0 or a negative errno (then `u` is untouched). */
int qd_upipe_start(struct qd_upipe_hub *hub, struct qd_upload *u, bool check_model,
                   void (*wake)(void *ud), void *ud, struct qd_upipe **out);

/* Copy up to `len` bytes into the ring: the number taken (less than `len`
 * when the ring is full: stop reading until wake), or the writer's error
 * (negative errno: -ENOSPC for a full disk; the writer has removed the
 * temp file then). */
ssize_t qd_upipe_push(struct qd_upipe *p, const void *data, size_t len);

/* The body is complete: the writer drains the ring, fsyncs, finalises the
 * digest, checks the header, then wakes the loop. */
void qd_upipe_end(struct qd_upipe *p);

/* The writer returned (finished or failed): qd_upipe_join will not block
 * for long. */
bool qd_upipe_done(struct qd_upipe *p);

/* Join a done writer, hand the upload back into `u` (its fd, temp path,
 * digest) and free the pipe. Returns res->rc (the fsync). */
int qd_upipe_join(struct qd_upipe *p, struct qd_upload *u, struct qd_upipe_result *res);

/* Drop the upload: the writer stops after the piece it is writing,
 * removes the temp file (its unlink and close can take long: not on the
 * loop thread) and is joined later by the hub. The pipe must not be used
 * afterwards. */
void qd_upipe_cancel(struct qd_upipe *p);

#endif

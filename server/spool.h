/* server/spool.h — the state directory on disk.
 *
 * Layout under the state dir:
 *   tmp/                 uploads and reports being written (removed at start)
 *   models/<name>/       one uploaded model: `model` (a file) or shard files,
 *                        and meta.json
 *   jobs/<id>/           job.json (state), input (upload-and-submit jobs),
 *                        .artifact.tmp while running, the artifact, report.json
 *   port                 the bound TCP port, for tests and scripts
 * Every state file is written to a temp file, fsynced, renamed, and the
 * directory fsynced: a crash leaves the old or the new file, never half.
 * Functions return 0 or a negative errno. Blocking I/O: the daemon calls
 * the slow ones (fsync of large files) from the libuv pool only.
 */
#ifndef QD_SPOOL_H
#define QD_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QD_PATH_MAX 4096

struct qd_spool {
    char root[QD_PATH_MAX];
};

/* Create the layout under `root` (made if missing) and remove leftovers
 * of a crash: everything in tmp/, and ".NAME.tmp" files in model dirs. */
int qd_spool_open(struct qd_spool *s, const char *root);

/* A streamed upload: a temp file in tmp/ and a running SHA-256. */
struct qd_upload {
    int fd;
    char tmp_path[QD_PATH_MAX];
    void *md;             /* EVP_MD_CTX */
    uint64_t bytes;
    unsigned char digest[32];
    char sha256_hex[65];
};

/* Start an upload (fd -1 on failure). */
int qd_spool_upload_begin(const struct qd_spool *s, struct qd_upload *u);
/* Append bytes and hash them. -ENOSPC when the disk is full. */
int qd_spool_upload_write(struct qd_upload *u, const void *data, size_t len);
/* fsync and finalize the digest (pool thread: fsync may take a while). */
int qd_spool_upload_finish(struct qd_upload *u);
/* Rename the temp file to `dest` (its directory must exist) and fsync the
 * directory; the upload no longer owns a file afterwards. */
int qd_spool_upload_commit(struct qd_upload *u, const char *dest);
/* Close and remove the temp file, free the hash. Accepts a zeroed or
 * already committed upload. */
void qd_spool_upload_abort(struct qd_upload *u);

/* Write `len` bytes to dir/name through dir/.name.tmp, fsync, rename,
 * fsync dir. */
int qd_spool_write_atomic(const char *dir, const char *name, const void *data, size_t len);

/* Read a whole small file (NUL-terminated, at most max bytes). */
int qd_spool_read_small(const char *path, size_t max, char **out, size_t *len);

/* SHA-256 of a file as 64 hex digits. */
int qd_spool_sha256_file(const char *path, char hex[65], uint64_t *size);

/* qd_spool_remove, but the files of QD_KEEP_OPEN_MIN bytes or more (up
 * to `max` of them) are opened before their unlink and their descriptors
 * returned in fds[0..*n): the names are gone at once, while the slow part
 * of removing a large file (dropping its page cache, freeing its blocks:
 * ~0.6 s for 1 GiB on ext4) happens at the last close, which the caller
 * does on another thread. */
#define QD_KEEP_OPEN_MIN (1u << 20)
int qd_spool_remove_keep(const char *path, int *fds, size_t max, size_t *n);

/* Remove a file or a directory tree (depth <= 3). Missing is not an error. */
int qd_spool_remove(const char *path);

/* fsync a directory. */
int qd_spool_fsync_dir(const char *dir);

/* Bytes available to an unprivileged user in the state dir (or 0). */
uint64_t qd_spool_free_bytes(const struct qd_spool *s);

/* snprintf into a path buffer; -ENAMETOOLONG when it does not fit. */
int qd_spool_path(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif

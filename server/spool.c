/* server/spool.c — temp files, atomic renames, hashing. */
#include "server/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

int qd_spool_path(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

static int mkdir_p(const char *path)
{
    char tmp[QD_PATH_MAX];
    if (qd_spool_path(tmp, sizeof tmp, "%s", path) != 0)
        return -ENAMETOOLONG;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int qd_spool_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

/* Remove path (a file, or a directory tree at most `depth` deep), keeping
 * up to `max` of its large files open in fds[] (their pages stay until the
 * last close, which the caller does elsewhere: it is the slow part). */
static int remove_keep(const char *path, int depth, int *fds, size_t max, size_t *n)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode)) {
        if (S_ISREG(st.st_mode) && st.st_size >= QD_KEEP_OPEN_MIN && *n < max) {
            int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
            if (fd >= 0)
                fds[(*n)++] = fd;
        }
        return unlink(path) == 0 || errno == ENOENT ? 0 : -errno;
    }
    if (depth <= 0)
        return -ELOOP;
    DIR *d = opendir(path);
    if (!d)
        return -errno;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char sub[QD_PATH_MAX];
        if (qd_spool_path(sub, sizeof sub, "%s/%s", path, e->d_name) != 0)
            continue;
        int r = remove_keep(sub, depth - 1, fds, max, n);
        if (r != 0 && rc == 0)
            rc = r;
    }
    closedir(d);
    if (rmdir(path) != 0 && errno != ENOENT && rc == 0)
        rc = -errno;
    return rc;
}

int qd_spool_remove(const char *path)
{
    size_t n = 0;
    return remove_keep(path, 3, NULL, 0, &n);
}

int qd_spool_remove_keep(const char *path, int *fds, size_t max, size_t *n)
{
    *n = 0;
    return remove_keep(path, 3, fds, max, n);
}

/* Temp files of atomic writes (".NAME.tmp") that a crash left in a model
 * dir: models/<name>/.meta.json.tmp and the like. */
static void remove_model_temps(const char *root)
{
    char models[QD_PATH_MAX];
    if (qd_spool_path(models, sizeof models, "%s/models", root) != 0)
        return;
    DIR *d = opendir(models);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        char dir[QD_PATH_MAX];
        if (e->d_name[0] == '.' ||
            qd_spool_path(dir, sizeof dir, "%s/%s", models, e->d_name) != 0)
            continue;
        DIR *md = opendir(dir);
        if (!md)
            continue;
        for (struct dirent *f; (f = readdir(md)) != NULL;) {
            size_t n = strlen(f->d_name);
            char path[QD_PATH_MAX];
            if (f->d_name[0] == '.' && n > 5 && strcmp(f->d_name + n - 4, ".tmp") == 0 &&
                qd_spool_path(path, sizeof path, "%s/%s", dir, f->d_name) == 0)
                unlink(path);
        }
        closedir(md);
    }
    closedir(d);
}

int qd_spool_open(struct qd_spool *s, const char *root)
{
    if (qd_spool_path(s->root, sizeof s->root, "%s", root) != 0)
        return -ENAMETOOLONG;
    const char *subs[] = {"", "/tmp", "/models", "/jobs"};
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        char p[QD_PATH_MAX];
        if (qd_spool_path(p, sizeof p, "%s%s", root, subs[i]) != 0)
            return -ENAMETOOLONG;
        int rc = mkdir_p(p);
        if (rc != 0)
            return rc;
    }
    char tmp[QD_PATH_MAX];
    qd_spool_path(tmp, sizeof tmp, "%s/tmp", root);
    int rc = qd_spool_remove(tmp); /* leftovers of a crash */
    if (rc != 0)
        return rc;
    remove_model_temps(root);
    return mkdir_p(tmp);
}

int qd_spool_upload_begin(const struct qd_spool *s, struct qd_upload *u)
{
    memset(u, 0, sizeof *u);
    u->fd = -1;
    if (qd_spool_path(u->tmp_path, sizeof u->tmp_path, "%s/tmp/upload-XXXXXX", s->root) != 0)
        return -ENAMETOOLONG;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md)
        return -ENOMEM;
    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return -EIO;
    }
    int fd = mkstemp(u->tmp_path);
    if (fd < 0) {
        int e = errno;
        EVP_MD_CTX_free(md);
        u->tmp_path[0] = '\0';
        return -e;
    }
    u->fd = fd;
    u->md = md;
    return 0;
}

int qd_spool_upload_write(struct qd_upload *u, const void *data, size_t len)
{
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(u->fd, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return (errno == ENOSPC || errno == EDQUOT) ? -ENOSPC : -errno;
        }
        p += n;
        left -= (size_t)n;
    }
    if (EVP_DigestUpdate(u->md, data, len) != 1)
        return -EIO;
    u->bytes += len;
    return 0;
}

static void to_hex(const unsigned char *d, size_t n, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[2 * n] = '\0';
}

int qd_spool_upload_finish(struct qd_upload *u)
{
    if (fsync(u->fd) != 0)
        return (errno == ENOSPC || errno == EDQUOT) ? -ENOSPC : -errno;
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(u->md, u->digest, &n) != 1 || n != 32)
        return -EIO;
    to_hex(u->digest, 32, u->sha256_hex);
    return 0;
}

int qd_spool_upload_commit(struct qd_upload *u, const char *dest)
{
    if (rename(u->tmp_path, dest) != 0)
        return -errno;
    u->tmp_path[0] = '\0';
    char dir[QD_PATH_MAX];
    qd_spool_path(dir, sizeof dir, "%s", dest);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    return qd_spool_fsync_dir(dir);
}

void qd_spool_upload_abort(struct qd_upload *u)
{
    if (!u)
        return;
    if (u->fd >= 0)
        close(u->fd);
    u->fd = -1;
    if (u->tmp_path[0])
        unlink(u->tmp_path);
    u->tmp_path[0] = '\0';
    EVP_MD_CTX_free(u->md);
    u->md = NULL;
}

int qd_spool_write_atomic(const char *dir, const char *name, const void *data, size_t len)
{
    char tmp[QD_PATH_MAX], dst[QD_PATH_MAX];
    if (qd_spool_path(tmp, sizeof tmp, "%s/.%s.tmp", dir, name) != 0 ||
        qd_spool_path(dst, sizeof dst, "%s/%s", dir, name) != 0)
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    int rc = 0;
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = (errno == ENOSPC || errno == EDQUOT) ? -ENOSPC : -errno;
            goto out;
        }
        p += n;
        left -= (size_t)n;
    }
    if (fsync(fd) != 0) {
        rc = -errno;
        goto out;
    }
out:
    close(fd);
    if (rc == 0 && rename(tmp, dst) != 0)
        rc = -errno;
    if (rc != 0) {
        unlink(tmp);
        return rc;
    }
    return qd_spool_fsync_dir(dir);
}

int qd_spool_read_small(const char *path, size_t max, char **out, size_t *len)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = 0;
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        goto out;
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > max) {
        rc = -EFBIG;
        goto out;
    }
    size_t n = (size_t)st.st_size, got = 0;
    buf = malloc(n + 1);
    if (!buf) {
        rc = -ENOMEM;
        goto out;
    }
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = r < 0 ? -errno : -EIO;
            goto out;
        }
        got += (size_t)r;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return rc;
}

int qd_spool_sha256_file(const char *path, char hex[65], uint64_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char *buf = malloc(1u << 20);
    uint64_t total = 0;
    if (!md || !buf || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        rc = -ENOMEM;
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf, 1u << 20);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            goto out;
        }
        if (n == 0)
            break;
        EVP_DigestUpdate(md, buf, (size_t)n);
        total += (uint64_t)n;
    }
    unsigned char d[32];
    unsigned int dl = 0;
    if (EVP_DigestFinal_ex(md, d, &dl) != 1) {
        rc = -EIO;
        goto out;
    }
    to_hex(d, 32, hex);
    if (size)
        *size = total;
out:
    free(buf);
    EVP_MD_CTX_free(md);
    close(fd);
    return rc;
}

uint64_t qd_spool_free_bytes(const struct qd_spool *s)
{
    struct statvfs v;
    if (statvfs(s->root, &v) != 0)
        return 0;
    return (uint64_t)v.f_bavail * (uint64_t)v.f_frsize;
}

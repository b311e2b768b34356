/* tests/robust/faultshim.c — an LD_PRELOAD shim that makes write, pwrite,
 * fsync, fdatasync or rename fail, for the fault tests (test_faults.py).
 *
 * Environment (read once, at the first intercepted call):
 *   QD_FAULT_OP     write | pwrite | fsync | rename   (fsync covers fdatasync)
 *   QD_FAULT_MATCH  substring of the file's path (the fd's /proc/self/fd link,
 *                   or rename's source path); empty or unset: every file
 *   QD_FAULT_KIND   file | dir: only regular files or only directories
 *   QD_FAULT_AFTER  matching calls that succeed before the first failure (0)
 *   QD_FAULT_COUNT  failures to inject, then succeed again (default: all)
 *   QD_FAULT_ERRNO  EIO (default), ENOSPC, EDQUOT, EROFS or a number
 * Each failure is logged to stderr as "faultshim: OP PATH -> ERR". Calls on
 * sockets, pipes and terminals are never failed. Thread-safe: one atomic
 * counter. Not part of the product; built only with the tests.
 */
#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

enum op { OP_NONE, OP_WRITE, OP_PWRITE, OP_FSYNC, OP_RENAME };

static struct {
    atomic_int ready; /* 0 unread, 1 reading, 2 read */
    enum op op;
    char match[256];
    int kind; /* 0 any, S_IFREG, S_IFDIR */
    long after, count;
    int err;
} cfg;
static atomic_long seen;

static void load(void)
{
    int expect = 0;
    if (atomic_compare_exchange_strong(&cfg.ready, &expect, 1)) {
        const char *op = getenv("QD_FAULT_OP");
        cfg.op = !op ? OP_NONE
                 : strcmp(op, "write") == 0  ? OP_WRITE
                 : strcmp(op, "pwrite") == 0 ? OP_PWRITE
                 : strcmp(op, "fsync") == 0  ? OP_FSYNC
                 : strcmp(op, "rename") == 0 ? OP_RENAME
                                             : OP_NONE;
        const char *m = getenv("QD_FAULT_MATCH");
        snprintf(cfg.match, sizeof cfg.match, "%s", m ? m : "");
        const char *k = getenv("QD_FAULT_KIND");
        cfg.kind = !k ? 0 : strcmp(k, "dir") == 0 ? S_IFDIR : strcmp(k, "file") == 0 ? S_IFREG : 0;
        const char *a = getenv("QD_FAULT_AFTER"), *c = getenv("QD_FAULT_COUNT");
        cfg.after = a ? strtol(a, NULL, 10) : 0;
        cfg.count = c ? strtol(c, NULL, 10) : -1;
        const char *e = getenv("QD_FAULT_ERRNO");
        cfg.err = !e ? EIO
                  : strcmp(e, "ENOSPC") == 0 ? ENOSPC
                  : strcmp(e, "EDQUOT") == 0 ? EDQUOT
                  : strcmp(e, "EROFS") == 0  ? EROFS
                  : strcmp(e, "EIO") == 0    ? EIO
                                             : (int)strtol(e, NULL, 10);
        if (cfg.err <= 0)
            cfg.err = EIO;
        atomic_store(&cfg.ready, 2);
    }
    while (atomic_load(&cfg.ready) != 2)
        ;
}

static void say(const char *what, const char *path)
{
    char line[600];
    int n = snprintf(line, sizeof line, "faultshim: %s %s -> %s\n", what, path,
                     strerrorname_np(cfg.err) ? strerrorname_np(cfg.err) : "?");
    if (n > 0)
        syscall(SYS_write, 2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* Decide for one call on `path` (NULL: not a file we may fail). */
static int fire(enum op op, const char *what, const char *path, mode_t mode)
{
    load();
    if (cfg.op != op || !path)
        return 0;
    if (cfg.kind && (mode & S_IFMT) != (mode_t)cfg.kind)
        return 0;
    if (cfg.match[0] && !strstr(path, cfg.match))
        return 0;
    long n = atomic_fetch_add(&seen, 1);
    if (n < cfg.after || (cfg.count >= 0 && n >= cfg.after + cfg.count))
        return 0;
    say(what, path);
    errno = cfg.err;
    return 1;
}

/* The path behind an fd when it is a regular file or a directory. */
static const char *fd_path(int fd, char *buf, size_t len, mode_t *mode)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
        return NULL;
    *mode = st.st_mode;
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, buf, len - 1);
    if (n < 0)
        return NULL;
    buf[n] = '\0';
    return buf;
}

static int fd_fires(enum op op, const char *what, int fd)
{
    load();
    if (cfg.op != op)
        return 0;
    char path[4096];
    mode_t mode = 0;
    const char *p = fd_path(fd, path, sizeof path, &mode); /* sets mode */
    return fire(op, what, p, mode);
}

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

ssize_t write(int fd, const void *buf, size_t n)
{
    if (fd > 2 && fd_fires(OP_WRITE, "write", fd))
        return -1;
    return REAL(write)(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (fd_fires(OP_PWRITE, "pwrite", fd))
        return -1;
    return REAL(pwrite)(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
    if (fd_fires(OP_PWRITE, "pwrite", fd))
        return -1;
    return REAL(pwrite64)(fd, buf, n, off);
}

int fsync(int fd)
{
    if (fd_fires(OP_FSYNC, "fsync", fd))
        return -1;
    return REAL(fsync)(fd);
}

int fdatasync(int fd)
{
    if (fd_fires(OP_FSYNC, "fdatasync", fd))
        return -1;
    return REAL(fdatasync)(fd);
}

int rename(const char *from, const char *to)
{
    struct stat st;
    if (lstat(from, &st) == 0 && fire(OP_RENAME, "rename", from, st.st_mode))
        return -1;
    return REAL(rename)(from, to);
}

/* server/notify.c — the sd_notify datagram protocol and socket activation
 * (see notify.h). */
#include "server/notify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Fill `sa` from $NOTIFY_SOCKET. Returns the address length, 0 when the
 * variable is unset or empty, or -EINVAL. An abstract name ('@' first) has
 * no terminating NUL in its length: the kernel compares all the bytes. */
static int notify_addr(struct sockaddr_un *sa)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !path[0])
        return 0;
    size_t n = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || n < 2 || n >= sizeof sa->sun_path)
        return -EINVAL;
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path, n);
    if (sa->sun_path[0] == '@')
        sa->sun_path[0] = '\0';
    return (int)(offsetof(struct sockaddr_un, sun_path) + n);
}

int qd_notify_send(const char *msg)
{
    struct sockaddr_un sa;
    int len = notify_addr(&sa);
    if (len <= 0)
        return len;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = 0;
    size_t n = strlen(msg);
    /* A datagram socket sends all or nothing; MSG_NOSIGNAL for symmetry
     * with the rest of the daemon (SIGPIPE is ignored there anyway). */
    if (sendto(fd, msg, n, MSG_NOSIGNAL, (const struct sockaddr *)&sa, (socklen_t)len) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

static int parse_uint(const char *s, unsigned long *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end = NULL;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

int qd_listen_fds(void)
{
    const char *pid_s = getenv("LISTEN_PID"), *n_s = getenv("LISTEN_FDS");
    int rc = 0;
    unsigned long pid = 0, n = 0;
    if (!pid_s || !n_s)
        goto out;
    if (parse_uint(pid_s, &pid) != 0 || parse_uint(n_s, &n) != 0 || n > 1024) {
        rc = -EINVAL;
        goto out;
    }
    if (pid != (unsigned long)getpid())
        goto out; /* meant for another process (our parent, say) */
    for (unsigned long i = 0; i < n; i++) {
        int fd = QD_LISTEN_FDS_START + (int)i;
        int fl = fcntl(fd, F_GETFD);
        if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0) {
            rc = -EBADF;
            goto out;
        }
    }
    rc = (int)n;
out:
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return rc;
}

int qd_notify_ready(void)
{
    return qd_notify_send("READY=1");
}

int qd_notify_stopping(void)
{
    return qd_notify_send("STOPPING=1");
}

int qd_notify_status(const char *fmt, ...)
{
    if (!getenv("NOTIFY_SOCKET"))
        return 0; /* skip the formatting when nobody listens */
    char msg[QD_NOTIFY_MSG_MAX];
    static const char key[] = "STATUS=";
    memcpy(msg, key, sizeof key);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg + sizeof key - 1, sizeof msg - (sizeof key - 1), fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    /* STATUS= is one line: a newline would start another assignment. */
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return qd_notify_send(msg);
}

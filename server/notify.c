/* server/notify.c — the sd_notify datagram protocol (see notify.h). */
#include "server/notify.h"

#include <errno.h>
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

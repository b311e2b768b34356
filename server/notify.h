/* server/notify.h — systemd integration without libsystemd: socket
 * activation (below), and readiness and status notifications to the service
 * manager, written from systemd's sd_notify(3) protocol rather than linked
 * against libsystemd: one datagram per message to the AF_UNIX socket named
 * by $NOTIFY_SOCKET (a path, or an abstract name written with a leading
 * '@'). Messages are newline-separated "KEY=VALUE" assignments.
 *
 * Every function is a no-op returning 0 when NOTIFY_SOCKET is unset or
 * empty, so the daemon calls them unconditionally. Failures are returned,
 * never fatal: the caller may log them. The environment is read on every
 * call (it is not cached), so the functions are safe to call from any one
 * thread at a time; the daemon calls them from the loop thread only.
 */
#ifndef QD_NOTIFY_H
#define QD_NOTIFY_H

/* Longest message sent (bytes): STATUS= lines are truncated to fit. */
#define QD_NOTIFY_MSG_MAX 512

/* Send `msg` ("READY=1", "STATUS=...", several lines allowed) as-is.
 * Returns 0 (sent, or no NOTIFY_SOCKET), or a negative errno: -EINVAL for
 * a NOTIFY_SOCKET that is neither an absolute path nor '@'-abstract or too
 * long for sockaddr_un, or the error of socket()/sendto(). */
int qd_notify_send(const char *msg);

/* READY=1: the listener is up and the daemon accepts work. */
int qd_notify_ready(void);

/* STOPPING=1: draining started (no new work; running jobs finish). */
int qd_notify_stopping(void);

/* STATUS=<formatted text>: a one-line human-readable status shown by
 * `systemctl status`. Newlines in the result are replaced with spaces. */
int qd_notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Socket activation (systemd's sd_listen_fds(3) protocol): the number of
 * listening sockets the service manager passed, starting at descriptor
 * QD_LISTEN_FDS_START, when $LISTEN_PID is this process; 0 otherwise, or
 * -EINVAL when the variables are malformed. LISTEN_PID, LISTEN_FDS and
 * LISTEN_FDNAMES are removed from the environment (children must not take
 * the sockets for theirs), and the passed descriptors are made
 * close-on-exec. Call once, before starting threads. */
#define QD_LISTEN_FDS_START 3
int qd_listen_fds(void);

#endif

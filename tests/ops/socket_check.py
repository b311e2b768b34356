"""tests/ops/socket_check.py QUANTD MODEL DIR — socket activation.

This test plays the service manager of quantd.socket: it owns a listening
TCP socket on an ephemeral loopback port and starts `QUANTD serve` with the
socket as descriptor 3, LISTEN_FDS=1 and LISTEN_PID set to the daemon's pid
(sd_listen_fds(3)). It checks that:
  - a client that connected before the daemon started (waiting in the
    backlog, as with systemd's on-demand start) is answered;
  - the daemon serves on that socket, not on its --listen setting, writes
    that port to STATE_DIR/port and logs socket_activation: true;
  - an upload job runs to the end through it;
  - after SIGTERM (exit 0) the socket stays with its owner: a client that
    connects while no daemon runs is answered by the next one;
  - LISTEN_PID of another process is ignored (the daemon binds --listen);
  - two sockets, malformed variables or a socket that does not listen are
    refused with a message and a non-zero exit.
Standard library only; every wait has a deadline.
"""
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time

DEADLINE_S = 20


def fail(msg):
    print("socket_check: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def start(quantd, state, log, fds, listen_pid="$$", n=None):
    """quantd serve with `fds` as descriptors 3, 4, ...: the child moves them
    there (through free descriptors above 100, so none overwrites another)
    before sh sets LISTEN_PID to its own pid and execs the daemon."""
    n = len(fds) if n is None else n

    def place():
        tmp = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds]
        for i, fd in enumerate(tmp):
            os.dup2(fd, 3 + i)

    script = 'export LISTEN_PID=%s LISTEN_FDS=%s; exec "$@"' % (listen_pid, n)
    return subprocess.Popen(["sh", "-c", script, "sh", quantd, "serve", "--listen", "127.0.0.1:0",
                             "--state-dir", state, "--min-free-disk", "0", "--threads", "2"],
                            preexec_fn=place, pass_fds=[3 + i for i in range(len(fds))],
                            stderr=log)


def http(port, method, path, body=None, headers=(), timeout=30, sock=None):
    """One request on a fresh (or given) connection; (status, body bytes)."""
    s = sock or socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.settimeout(timeout)
    head = "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" % (method, path)
    for k, v in headers:
        head += "%s: %s\r\n" % (k, v)
    if body is not None:
        head += "Content-Length: %d\r\n" % len(body)
    s.sendall(head.encode() + b"\r\n" + (body or b""))
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    s.close()
    status = int(out.split(b" ", 2)[1]) if out.startswith(b"HTTP/1.") else None
    return status, out.partition(b"\r\n\r\n")[2]


def wait_exit(p, what):
    try:
        return p.wait(DEADLINE_S)
    except subprocess.TimeoutExpired:
        p.kill()
        fail("%s: still running after %ds" % (what, DEADLINE_S))


def read_port(state):
    path = os.path.join(state, "port")
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        try:
            with open(path) as f:
                return int(f.read())
        except (OSError, ValueError):
            time.sleep(0.05)
    fail("no %s after %ds" % (path, DEADLINE_S))


def main():
    quantd, model, work = sys.argv[1], sys.argv[2], sys.argv[3]
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind(("127.0.0.1", 0))
    lst.listen(64)
    port = lst.getsockname()[1]
    state = os.path.join(work, "state")
    logpath = os.path.join(work, "daemon.log")
    log = open(logpath, "wb")

    # 1. a client waits in the backlog before the daemon exists
    early = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S)
    p = start(quantd, state, log, [lst.fileno()])
    try:
        st, _ = http(port, "GET", "/livez", sock=early)
        if st != 200:
            fail("the client queued before start got %s" % st)
        if read_port(state) != port:
            fail("STATE_DIR/port says %d, the socket is %d" % (read_port(state), port))
        with open(logpath, "rb") as f:
            lines = [json.loads(l) for l in f.read().splitlines() if l.startswith(b"{")]
        up = [l for l in lines if l.get("msg") == "listening"]
        if not up or up[0].get("socket_activation") is not True or up[0].get("port") != port:
            fail("no 'listening' line with socket_activation and port %d: %r" % (port, up))
        # 2. a real job through the inherited socket
        with open(model, "rb") as f:
            body = f.read()
        st, ans = http(port, "POST", "/v1/jobs?scheme=Q8_0&wait=60", body,
                       [("Content-Type", "application/octet-stream")], timeout=90)
        if st != 200 or json.loads(ans).get("state") != "succeeded":
            fail("upload job through the socket: %s %s" % (st, ans[:300]))
        # 3. SIGTERM: exit 0, the socket stays ours
        p.send_signal(signal.SIGTERM)
        rc = wait_exit(p, "after SIGTERM")
        if rc != 0:
            fail("exit status %d after SIGTERM" % rc)
    finally:
        if p.poll() is None:
            p.kill()
    between = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S)
    os.unlink(os.path.join(state, "port"))
    p = start(quantd, state, log, [lst.fileno()])
    try:
        st, _ = http(port, "GET", "/v1/capabilities", sock=between)
        if st != 200:
            fail("a client that connected between two daemons got %s" % st)
        p.send_signal(signal.SIGTERM)
        if wait_exit(p, "second daemon") != 0:
            fail("second daemon: non-zero exit")
    finally:
        if p.poll() is None:
            p.kill()
    print("socket_check: backlog client answered, job done, socket kept across a restart")

    # 4. LISTEN_PID of another process: not ours, bind --listen as usual
    os.unlink(os.path.join(state, "port"))
    p = start(quantd, state, log, [lst.fileno()], listen_pid="1")
    try:
        other = read_port(state)
        if other == port:
            fail("LISTEN_PID=1 but the daemon took the socket")
        st, _ = http(other, "GET", "/livez")
        if st != 200:
            fail("LISTEN_PID=1: /livez on the --listen port got %s" % st)
        p.send_signal(signal.SIGTERM)
        wait_exit(p, "LISTEN_PID=1 daemon")
    finally:
        if p.poll() is None:
            p.kill()

    # 5. refused set-ups
    idle = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # bound to nothing, not listening
    cases = [("two sockets", [lst.fileno(), idle.fileno()], None, 2),
             ("malformed LISTEN_FDS", [lst.fileno()], "x", 2),
             ("a socket that does not listen", [idle.fileno()], None, 1)]
    for what, fds, n, want in cases:
        p = start(quantd, state, log, fds, n=n)
        rc = wait_exit(p, what)
        if rc != want:
            fail("%s: exit status %d, want %d" % (what, rc, want))
    print("socket_check: foreign LISTEN_PID ignored; two sockets, bad variables and a "
          "non-listening socket refused")
    idle.close()
    lst.close()


if __name__ == "__main__":
    main()

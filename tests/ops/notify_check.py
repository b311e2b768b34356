"""tests/ops/notify_check.py KIND QUANTD DIR — one run of the notify test.

Binds an AF_UNIX datagram socket (KIND "path": DIR/notify; "abstract": an
'@' name), starts `QUANTD serve` with NOTIFY_SOCKET set to it and checks
the messages systemd would get: READY=1 only once the listener answers,
STATUS= lines, STOPPING=1 after SIGTERM, and exit status 0. Standard
library only; every wait has a deadline.
"""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

DEADLINE_S = 20


def fail(msg):
    print("notify_check: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def recv_until(sock, want, got):
    """Collect datagrams into `got` until one has the assignment `want`."""
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        sock.settimeout(max(0.1, end - time.monotonic()))
        try:
            data = sock.recv(4096)
        except socket.timeout:
            break
        lines = data.decode("utf-8", "replace").split("\n")
        got.extend(lines)
        if want in lines:
            return True
    return False


def main():
    kind, quantd, work = sys.argv[1], sys.argv[2], sys.argv[3]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if kind == "abstract":
        name = "quantd-notify-test-%d" % os.getpid()
        sock.bind("\0" + name)
        notify = "@" + name
    else:
        notify = os.path.join(work, "notify")
        sock.bind(notify)
    state = os.path.join(work, "state")
    os.makedirs(state, exist_ok=True)
    env = dict(os.environ, NOTIFY_SOCKET=notify)
    log = open(os.path.join(work, "daemon.log"), "wb")
    p = subprocess.Popen([quantd, "serve", "--listen", "127.0.0.1:0", "--state-dir", state,
                          "--min-free-disk", "0", "--threads", "2"], env=env, stderr=log)
    try:
        got = []
        if not recv_until(sock, "READY=1", got):
            fail("no READY=1 within %ds (got %r)" % (DEADLINE_S, got))
        # READY=1 promises a listener: /livez must answer right away.
        port = open(os.path.join(state, "port")).read().strip()
        with urllib.request.urlopen("http://127.0.0.1:%s/livez" % port, timeout=5) as r:
            if r.status != 200:
                fail("/livez %d right after READY=1" % r.status)
        p.send_signal(signal.SIGTERM)
        if not recv_until(sock, "STOPPING=1", got):
            fail("no STOPPING=1 within %ds of SIGTERM (got %r)" % (DEADLINE_S, got))
        rc = p.wait(timeout=DEADLINE_S)
        if rc != 0:
            fail("exit status %d after SIGTERM" % rc)
        status = [m for m in got if m.startswith("STATUS=")]
        if not status or "queued" not in status[0]:
            fail("no STATUS= with the queue figures (got %r)" % got)
        print("notify_check: %s socket: %s" % (kind, " | ".join(m for m in got if m)))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        sock.close()
        if kind == "path":
            os.unlink(notify)


if __name__ == "__main__":
    main()

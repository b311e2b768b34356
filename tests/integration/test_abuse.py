#!/usr/bin/env python3
"""tests/integration/test_abuse.py — abusive clients against the real daemon.

    test_abuse.py QUANTD TEST_DATA_DIR

Slow headers and bodies (slowloris), more connections and uploads than allowed, a body
shorter than its Content-Length, a client gone mid-upload, framing attacks,
huge headers, path traversal in job ids and model names. After each case the
daemon must still serve others; at the end it holds no more descriptors than
before and no temp file, and exits 0 on SIGTERM.
"""
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qd import Check, Daemon, status_of, wait_until  # noqa: E402

QUANTD, DATA = sys.argv[1], sys.argv[2]
MODEL = os.path.join(DATA, "models", "tiny-llama-f32.gguf")
TIMEOUT_S = 2      # --connection-timeout
MAX_CONN = 24      # --max-connections
MAX_UPLOADS = 3    # --max-uploads
ok = Check("test_abuse")


def livez_ms(d):
    t = time.monotonic()
    st = d.request("GET", "/livez", timeout=5)[0]
    return st, (time.monotonic() - t) * 1000


def sock(d, timeout=10):
    return socket.create_connection(("127.0.0.1", d.port), timeout=timeout)


def closed_by_peer(s, wait):
    """True when the peer closes s within `wait` seconds (EOF or reset)."""
    s.settimeout(wait)
    try:
        while True:
            b = s.recv(65536)
            if not b:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def jobs_total(d):
    st, j = d.json("GET", "/v1/jobs?limit=1")
    return j["total"] if st == 200 else -1


def slow_headers(d):
    """Five clients send a header byte every 0.3 s; others are served meanwhile."""
    socks = []
    for _ in range(5):
        s = sock(d)
        s.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        socks.append(s)
    t0 = time.monotonic()
    closed = [False] * len(socks)
    worst = 0.0
    while time.monotonic() - t0 < TIMEOUT_S + 4 and not all(closed):
        for i, s in enumerate(socks):
            if closed[i]:
                continue
            try:
                s.sendall(b"a")
            except OSError:
                closed[i] = True
                continue
            s.setblocking(False)
            try:
                if s.recv(4096) == b"":
                    closed[i] = True
            except BlockingIOError:
                pass
            except OSError:
                closed[i] = True
            s.setblocking(True)
        st, ms = livez_ms(d)
        ok(st == 200, "slow headers: /livez answered %s" % st)
        worst = max(worst, ms)
        time.sleep(0.3)
    took = time.monotonic() - t0
    ok(all(closed), "slow headers: %d of 5 trickling connections closed within %.1f s"
       % (sum(closed), took))
    ok(worst < 1000, "slow headers: others served meanwhile (worst /livez %.0f ms)" % worst)
    for s in socks:
        s.close()
    print("slow headers: 5 closed after %.1f s, /livez worst %.0f ms" % (took, worst))


def slow_body(d):
    """An upload that trickles after 1 KiB is cut off; a normal upload at the same time works."""
    size = os.path.getsize(MODEL)
    s = sock(d)
    s.sendall(b"POST /v1/jobs?scheme=Q8_0 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
              b"Content-Type: application/octet-stream\r\n\r\n" % size)
    with open(MODEL, "rb") as f:
        s.sendall(f.read(1024))
        result = {}

        def normal():
            result["st"] = d.upload("/v1/jobs?scheme=Q8_0&wait=60", MODEL)[0]

        th = threading.Thread(target=normal)
        th.start()
        t0 = time.monotonic()
        cut = False
        while time.monotonic() - t0 < TIMEOUT_S + 8:
            try:
                s.sendall(f.read(8))
            except OSError:
                cut = True
                break
            s.setblocking(False)
            try:
                if s.recv(4096) == b"":
                    cut = True
                    break
            except BlockingIOError:
                pass
            except OSError:
                cut = True
                break
            s.setblocking(True)
            time.sleep(0.25)
        took = time.monotonic() - t0
        th.join()
    s.close()
    ok(cut, "slow body: a 32 B/s upload was cut off (after %.1f s)" % took)
    ok(result.get("st") == 200, "slow body: a normal upload meanwhile got %s" % result.get("st"))
    ok(wait_until(lambda: not d.temp_files(), 3), "slow body: temp files left %s" % d.temp_files())
    print("slow body: cut after %.1f s, concurrent upload %s" % (took, result.get("st")))


def too_many_connections(d):
    """Hold more connections than allowed: the extra ones are refused or wait; after they
    go, others are served."""
    held, refused = [], 0
    for _ in range(MAX_CONN + 8):
        try:
            held.append(sock(d, timeout=2))
        except OSError:
            refused += 1
    time.sleep(0.3)
    dropped = 0
    for s in held:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                dropped += 1
        except BlockingIOError:
            pass
        except OSError:
            dropped += 1
        s.setblocking(True)
    # one more client while they are held: refused, or queued until a slot frees
    extra = {}

    def one_more():
        try:
            extra["st"] = d.request("GET", "/livez", timeout=10)[0]
        except Exception as e:  # noqa: BLE001 - refused or reset
            extra["st"] = type(e).__name__
        extra["t"] = time.monotonic()

    th = threading.Thread(target=one_more)
    th.start()
    time.sleep(0.5)
    waited = th.is_alive()
    t_close = time.monotonic()
    for s in held:
        s.close()
    th.join()
    # the queued client must be served once the others go (MHD had stopped
    # accepting at the limit and never looked at its backlog again)
    ok(extra.get("st") == 200 or (not waited and extra.get("st") != 200),
       "too many connections: the client queued behind the limit got %s" % extra.get("st"))
    ok(wait_until(lambda: livez_ms(d)[0] == 200, 5), "too many connections: served after")
    print("too many connections: %d opened, %d refused at connect, %d closed at once; one more "
          "client %s, answered %s %.2f s after the others closed"
          % (MAX_CONN + 8, refused, dropped, "queued" if waited else "not queued",
             extra.get("st"), extra.get("t", t_close) - t_close))


def short_body(d):
    """A body shorter than its Content-Length, then the client half-closes."""
    before = jobs_total(d)
    with open(MODEL, "rb") as f:
        head = f.read(5000)
    ans = d.raw(b"POST /v1/jobs?scheme=Q8_0 HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
                b"Content-Type: application/octet-stream\r\n\r\n" + head, timeout=TIMEOUT_S + 4,
                shut_wr=True)
    st = status_of(ans)
    ok(st is None or 400 <= st < 500, "short body: answered %s" % st)
    ok(wait_until(lambda: not d.temp_files(), 3), "short body: temp files left %s"
       % d.temp_files())
    ok(jobs_total(d) == before, "short body: no job created")
    print("short body: answer %s, no temp file, no job" % st)


def gone_mid_upload(d):
    """The client resets the connection after 2 MiB of a 20 MiB upload."""
    before = jobs_total(d)
    size = os.path.getsize(MODEL)
    s = sock(d)
    s.sendall(b"PUT /v1/models/gone HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
    with open(MODEL, "rb") as f:
        s.sendall(f.read(2 << 20))
    ok(wait_until(lambda: len(d.temp_files()) == 1, 3), "gone: the upload is in tmp/")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()  # RST
    ok(wait_until(lambda: not d.temp_files(), 3), "gone: temp files left %s" % d.temp_files())
    ok(d.request("GET", "/v1/models/gone")[0] == 404, "gone: no model stored")
    ok(jobs_total(d) == before, "gone: no job created")
    print("client gone mid-upload: temp file removed, nothing stored")


def too_many_uploads(d):
    """More uploads in progress than max_uploads: 429 + Retry-After, then room again."""
    size = os.path.getsize(MODEL)

    def hold(i):
        """An upload that has started and then waits for its body. The writer
        of an upload cancelled by an earlier case counts until it has exited
        (it holds its thread and ring till then), so a 429 here is retried."""
        end = time.monotonic() + 5
        while time.monotonic() < end:
            s = sock(d)
            s.sendall(b"PUT /v1/models/held%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                      % (i, size))
            s.settimeout(0.3)
            try:
                ans = s.recv(4096)
            except socket.timeout:
                s.settimeout(10)
                s.sendall(b"\0" * 1024)  # started: no answer before the body
                return s
            s.close()
            ok(status_of(ans) == 429, "uploads: held upload %d answered %s" % (i, status_of(ans)))
            time.sleep(0.05)
        ok(False, "uploads: no room for upload %d within 5 s" % i)
        return None

    held = [s for s in (hold(i) for i in range(MAX_UPLOADS)) if s]
    ok(wait_until(lambda: len(d.temp_files()) == MAX_UPLOADS, 3),
       "uploads: %d in tmp/" % len(d.temp_files()))
    ans = d.raw(b"POST /v1/jobs?scheme=Q8_0 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                b"Content-Type: application/octet-stream\r\n\r\n" % size, timeout=5)
    head, _, body = ans.partition(b"\r\n\r\n")
    ok(status_of(ans) == 429, "uploads: one more than max_uploads got %s" % status_of(ans))
    ok(b"\r\nretry-after: " in head.lower(), "uploads: 429 without Retry-After")
    try:
        ok(json.loads(body).get("type", "").endswith("queue-full"), "uploads: type %r" % body)
    except ValueError:
        ok(False, "uploads: the 429 body is not JSON: %r" % body[:200])
    ok(len(d.temp_files()) == MAX_UPLOADS, "uploads: the refused one left a temp file")
    for s in held:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()  # RST: the writers stop and remove their files
    ok(wait_until(lambda: not d.temp_files(), 3), "uploads: temp files left %s" % d.temp_files())
    st = 0
    for _ in range(40):  # a cancelled writer is reaped on a later loop turn
        st = d.upload("/v1/jobs?scheme=Q8_0&wait=60", MODEL)[0]
        if st != 429:
            break
        time.sleep(0.05)
    ok(st == 200, "uploads: after the others ended, an upload got %s" % st)
    print("max_uploads=%d: one more got 429 queue-full with Retry-After; room again after" %
          MAX_UPLOADS)


def framing(d):
    """Duplicate Content-Length, and Transfer-Encoding with Content-Length: 400 before
    the body (the body is never sent here, so an answer proves it)."""
    for name, req in [
        ("duplicate Content-Length",
         b"POST /v1/jobs?scheme=Q8_0 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
         b"Content-Length: 5\r\n\r\n"),
        ("differing Content-Length",
         b"POST /v1/jobs?scheme=Q8_0 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
         b"Content-Length: 7\r\n\r\n"),
        ("Transfer-Encoding with Content-Length",
         b"POST /v1/jobs?scheme=Q8_0 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n"),
        ("Content-Length not a number",
         b"POST /v1/jobs?scheme=Q8_0 HTTP/1.1\r\nHost: x\r\nContent-Length: 5x\r\n\r\n"),
    ]:
        ans = d.raw(req, timeout=TIMEOUT_S + 2)
        st = status_of(ans)
        ok(st == 400, "%s: got %s" % (name, st))
        print("%s: %s" % (name, st))


def huge_headers(d):
    for name, req in [
        ("one 100 KiB header", b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 +
         b"\r\n\r\n"),
        ("4000 small headers", b"GET /livez HTTP/1.1\r\nHost: x\r\n" +
         b"".join(b"X-H%d: v\r\n" % i for i in range(4000)) + b"\r\n"),
        ("a 100 KiB URL", b"GET /v1/jobs/" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    ]:
        try:
            ans = d.raw(req, timeout=TIMEOUT_S + 2)
        except OSError:
            ans = b""
        st = status_of(ans)
        ok(st is None or 400 <= st < 500, "%s: got %s" % (name, st))
        ok(livez_ms(d)[0] == 200, "%s: still serving" % name)
        print("%s: %s" % (name, st if st else "closed"))


def traversal(d):
    """Job ids and model names that try to leave the state dir: 4xx, no file outside."""
    top = os.path.dirname(d.dir)
    outside = sorted(os.listdir(top))
    body = b"not a model, just bytes that would land somewhere"
    cases = [
        ("GET", "/v1/jobs/.."), ("GET", "/v1/jobs/../port"), ("GET", "/v1/jobs/%2e%2e/port"),
        ("GET", "/v1/jobs/..%2f..%2fport"), ("GET", "/v1/jobs/j0123456789abcde%00"),
        ("GET", "/v1/jobs/j0123456789abcdef/artifacts/..%2fjob.json"),
        ("GET", "/v1/jobs/j0123456789abcdef/artifacts/%2e%2e"),
        ("GET", "/v1/jobs/j0123456789abcdef/artifacts/../job.json"),
        ("DELETE", "/v1/jobs/..%2fjobs"), ("DELETE", "/v1/models/.."),
        ("DELETE", "/v1/models/%2e%2e"), ("GET", "/v1/models/..%2fport"),
        ("PUT", "/v1/models/.."), ("PUT", "/v1/models/%2e%2e"), ("PUT", "/v1/models/.hidden"),
        ("PUT", "/v1/models/..%2f..%2fescaped"), ("PUT", "/v1/models/%2e%2e%2fescaped"),
        ("PUT", "/v1/models/a%2fb"), ("PUT", "/v1/models/evil%00.gguf"),
        ("PUT", "/v1/models/m/..%2f..%2f..%2fescaped"), ("PUT", "/v1/models/m/%2e%2e"),
        ("PUT", "/v1/models/m/.."), ("PUT", "/v1/models/../escaped"),
        ("PUT", "/v1/models/m/x%00.json"), ("PUT", "/v1/models/%c0%ae%c0%ae"),
        ("PUT", "/v1/models/" + "a" * 200),
    ]
    for method, path in cases:
        req = ("%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
               % (method, path, len(body))).encode() + body
        st = status_of(d.raw(req))
        ok(st is not None and 400 <= st < 500, "traversal %s %s: got %s" % (method, path, st))
    specs = ["../../etc/passwd", "..", "a/b", "x\u0000y", "%2e%2e", ".hidden", "/abs", ""]
    for name in specs:
        st, _ = d.submit_json({"model": name, "scheme": "Q8_0"})
        ok(400 <= st < 500, "traversal JSON model %r: got %s" % (name, st))
    ok(sorted(os.listdir(top)) == outside, "traversal: files appeared next to the state dir: %s"
       % sorted(set(os.listdir(top)) - set(outside)))
    for root, _dirs, files in os.walk(d.dir):
        for f in files:
            ok("escaped" not in f and not f.startswith(".."), "traversal: %s/%s" % (root, f))
    print("path traversal: %d URL cases and %d JSON names, all 4xx, nothing outside"
          % (len(cases), len(specs)))


def main():
    d = Daemon(QUANTD, args=["--connection-timeout", "%ds" % TIMEOUT_S, "--max-connections",
                             str(MAX_CONN), "--max-uploads", str(MAX_UPLOADS), "--threads", "2",
                             "--log-level", "warn"])
    try:
        d.start()
        ok(d.upload("/v1/jobs?scheme=Q8_0&wait=60", MODEL)[0] == 200, "warm-up upload")
        ok(livez_ms(d)[0] == 200, "warm-up")
        base_fds = d.fds()
        for case in (slow_headers, slow_body, too_many_connections, short_body, gone_mid_upload,
                     too_many_uploads, framing, huge_headers, traversal):
            case(d)
            ok(d.alive(), "%s: the daemon is alive" % case.__name__)
        # everything freed: descriptors back to the start (idle connections time out)
        ok(wait_until(lambda: d.fds() <= base_fds, TIMEOUT_S + 5),
           "fds: %d at start, %d at the end" % (base_fds, d.fds()))
        ok(not d.temp_files(), "temp files left: %s" % d.temp_files())
        print("fds: %d at start, %d at the end" % (base_fds, d.fds()))
        ok(d.stop() == 0, "clean exit on SIGTERM")
    finally:
        if d.alive():
            d.kill()
        if not ok.failed:
            d.cleanup()
        else:
            print("state and log kept in", d.dir)
    return ok.done()


if __name__ == "__main__":
    sys.exit(main())

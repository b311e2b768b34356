"""tests/integration/qd.py — the Python side of the integration harness
(harness.c is the C side): start the real `quantd serve` on 127.0.0.1 with an
ephemeral port and a state dir, wait for /readyz by polling, talk to it with
http.client (with timeouts) or raw sockets, and look at what it holds
(/proc/PID/fd, the spool's temp files). Standard library only.
"""
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time


def golden(data_dir):
    """name -> sha256 of tests/data/models/manifest.json."""
    with open(os.path.join(data_dir, "models", "manifest.json")) as f:
        m = json.load(f)
    return {e["name"]: e["sha256"] for e in m["files"]}


class Daemon:
    def __init__(self, binary, state_dir=None, args=(), env=None):
        self.binary = binary
        self.args = list(args)
        self.env = env
        self.proc = None
        self.port = None
        if state_dir is None:
            self.top = tempfile.mkdtemp(prefix="quantd-py-")
            state_dir = os.path.join(self.top, "state")
        else:
            self.top = None
        self.dir = state_dir
        self.log = state_dir + ".log"

    # -- life cycle ------------------------------------------------------
    def start(self, timeout=30, extra_env=None):
        os.makedirs(self.dir, exist_ok=True)
        portfile = os.path.join(self.dir, "port")
        if os.path.exists(portfile):
            os.unlink(portfile)
        env = dict(os.environ if self.env is None else self.env)
        env.update(extra_env or {})
        cmd = [self.binary, "serve", "--listen", "127.0.0.1:0", "--state-dir", self.dir,
               "--min-free-disk", "0"] + self.args
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("quantd exited with %d; log %s" % (self.proc.returncode,
                                                                      self.log))
            try:
                with open(portfile) as f:
                    self.port = int(f.read().strip())
                if self.request("GET", "/readyz", timeout=2)[0] in (200, 503):
                    return self
            except (OSError, ValueError, http.client.HTTPException):
                pass
            time.sleep(0.01)
        raise RuntimeError("quantd not ready within %d s" % timeout)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=60):
        """SIGTERM; returns the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return -1

    def kill(self):
        self.proc.kill()  # SIGKILL
        self.proc.wait()

    def cleanup(self):
        if self.proc is not None and self.alive():
            self.kill()
        if self.top:
            shutil.rmtree(self.top, ignore_errors=True)

    # -- what the process holds -------------------------------------------
    def fds(self):
        return len(os.listdir("/proc/%d/fd" % self.pid))

    def temp_files(self):
        """Files in tmp/ and any dot-temp file (.x.tmp, .artifact.tmp) anywhere."""
        out = []
        for root, _dirs, files in os.walk(self.dir):
            rel = os.path.relpath(root, self.dir)
            for f in files:
                if rel == "tmp" or rel.startswith("tmp/") or f.endswith(".tmp"):
                    out.append(os.path.join(rel, f))
        return sorted(out)

    # -- HTTP --------------------------------------------------------------
    def conn(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=30):
        """(status, {lower-case header: value}, body bytes)."""
        c = self.conn(timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()

    def json(self, method, path, body=None, headers=None, timeout=30):
        st, h, data = self.request(method, path, body, headers, timeout)
        try:
            return st, json.loads(data) if data else None
        except ValueError:
            return st, None

    def upload(self, path, file_path, timeout=60):
        """Stream a file as the body (like curl -T)."""
        with open(file_path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            return self.json("POST" if path.startswith("/v1/jobs") else "PUT", path, f,
                             {"Content-Length": str(size),
                              "Content-Type": "application/octet-stream"}, timeout)

    def submit_json(self, spec, query=""):
        body = json.dumps(spec).encode()
        return self.json("POST", "/v1/jobs" + query, body, {"Content-Type": "application/json"})

    def wait_job(self, job_id, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st, j = self.json("GET", "/v1/jobs/" + job_id)
            if st != 200:
                return st, j
            if j["state"] in ("succeeded", "failed", "canceled"):
                return st, j
            time.sleep(0.05)
        raise RuntimeError("job %s did not end within %d s" % (job_id, timeout))

    def download_sha(self, url, timeout=60):
        """GET url and hash it; (status, sha256 hex, ETag, Content-Length, bytes read)."""
        c = self.conn(timeout)
        try:
            c.request("GET", url)
            r = c.getresponse()
            h = hashlib.sha256()
            n = 0
            while True:
                b = r.read(1 << 20)
                if not b:
                    break
                h.update(b)
                n += len(b)
            cl = r.getheader("Content-Length")
            return r.status, h.hexdigest(), r.getheader("ETag"), int(cl) if cl else None, n
        finally:
            c.close()

    def raw(self, data, timeout=5, shut_wr=False):
        """Send raw bytes, read until close or timeout; returns the bytes."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        try:
            s.sendall(data)
            if shut_wr:
                s.shutdown(socket.SHUT_WR)
            out = b""
            while True:
                try:
                    b = s.recv(65536)
                except (socket.timeout, ConnectionResetError):
                    break
                if not b:
                    break
                out += b
            return out
        finally:
            s.close()


def wait_until(pred, timeout):
    """Poll pred every 50 ms until it is true or `timeout` seconds passed;
    its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def status_of(raw_answer):
    """Status code of a raw HTTP answer, or None when there is none."""
    if not raw_answer.startswith(b"HTTP/1."):
        return None
    try:
        return int(raw_answer.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


class Check:
    """Counts checks; prints failures and keeps going so a run reports all of them."""

    def __init__(self, name):
        self.name = name
        self.n = 0
        self.failed = []

    def __call__(self, cond, what):
        self.n += 1
        if not cond:
            self.failed.append(what)
            print("FAIL: %s" % what, flush=True)
        return cond

    def done(self):
        print("%s: %d checks, %d failed" % (self.name, self.n, len(self.failed)), flush=True)
        return 1 if self.failed else 0

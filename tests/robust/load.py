#!/usr/bin/env python3
"""tests/robust/load.py — the driver behind tests/robust/load.sh (see there)."""
import argparse
import json
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from qd import Daemon, golden  # noqa: E402

SCHEMES = ["Q8_0", "Q4_0", "Q4_K_M"]


def wrk(url, secs, conns, threads):
    """requests/s, p50 and p99 in ms, non-2xx count, of `wrk --latency`."""
    out = subprocess.run(["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % secs, "--latency",
                          "--timeout", "5s", url], capture_output=True, text=True,
                         timeout=secs + 30).stdout

    def ms(tag):
        m = re.search(r"^\s*%s\s+([\d.]+)(us|ms|s)\s*$" % re.escape(tag), out, re.M)
        if not m:
            return None
        v = float(m.group(1))
        return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errs = re.search(r"Socket errors:(.*)", out)
    return {"rps": float(rps.group(1)) if rps else 0.0, "p50": ms("50%"), "p99": ms("99%"),
            "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "errors": errs.group(1).strip() if errs else "none"}


def upload_raw(port, path, model):
    """POST a file, watching for an answer before the body is all sent (429/503
    come right after the headers; http.client would only see a broken pipe).
    Returns (status, parsed JSON body or None)."""
    size = os.path.getsize(model)
    s = socket.create_connection(("127.0.0.1", port), timeout=120)
    try:
        s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nContent-Type: "
                   "application/octet-stream\r\nConnection: close\r\n\r\n" % (path, size))
                  .encode())
        with open(model, "rb") as f:
            while True:
                r, _w, _x = select.select([s], [], [], 0)
                if r:
                    break  # an answer before the end of the body
                chunk = f.read(256 << 10)
                if not chunk:
                    break
                try:
                    s.sendall(chunk)
                except OSError:
                    break
        data = b""
        while True:
            try:
                b = s.recv(65536)
            except OSError:
                break
            if not b:
                break
            data += b
        head, _, body = data.partition(b"\r\n\r\n")
        try:
            st = int(head.split(b" ", 2)[1])
        except (IndexError, ValueError):
            return "error", None
        try:
            return st, json.loads(body)
        except ValueError:
            return st, None
    finally:
        s.close()


class Load:
    """N clients that keep uploading and submitting until told to stop."""

    def __init__(self, d, model, n):
        self.d, self.model, self.n = d, model, n
        self.lock = threading.Lock()
        self.accepted = {}     # id -> (scheme, artifact name base)
        self.codes = {}
        self.inflight = 0
        self.max_inflight_ok = 0  # uploads in flight when one was accepted
        self.stop = threading.Event()

    def _count(self, code):
        with self.lock:
            self.codes[code] = self.codes.get(code, 0) + 1

    def client(self, i):
        k = 0
        while not self.stop.is_set():
            scheme = SCHEMES[(i + k) % 3]
            k += 1
            if k % 2:
                with self.lock:
                    self.inflight += 1
                try:
                    st, j = upload_raw(self.d.port, "/v1/jobs?scheme=%s" % scheme, self.model)
                except OSError:
                    st, j = "error", None
                with self.lock:
                    if st == 202 or st == 200:
                        self.max_inflight_ok = max(self.max_inflight_ok, self.inflight)
                    self.inflight -= 1
                base = "model"
            else:
                try:
                    st, j = self.d.submit_json({"model": "base", "scheme": scheme})
                except OSError:
                    st, j = "error", None
                base = "base"
            self._count(st)
            if st in (200, 202):
                with self.lock:
                    self.accepted[j["id"]] = (scheme, base)
            elif st in (429, 503):
                time.sleep(0.2)  # a polite client honours Retry-After (shortened here)

    def run(self):
        self.threads = [threading.Thread(target=self.client, args=(i,)) for i in range(self.n)]
        for t in self.threads:
            t.start()

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join()


def burst(d, model, m):
    """m uploads at once on an idle queue: how many are held before 429/503."""
    res = []
    lock = threading.Lock()
    gate = threading.Barrier(m)

    def one():
        gate.wait()
        try:
            st, j = upload_raw(d.port, "/v1/jobs?scheme=Q8_0", model)
        except OSError:
            st, j = "error", None
        with lock:
            res.append((st, j["id"] if st in (200, 202) else None))

    ts = [threading.Thread(target=one) for _ in range(m)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("quantd")
    ap.add_argument("data")
    ap.add_argument("--clients", type=int, default=8, help="concurrent uploading clients")
    ap.add_argument("--seconds", type=int, default=20, help="length of the loaded phase")
    ap.add_argument("--burst", type=int, default=48, help="simultaneous uploads in the burst")
    ap.add_argument("--max-queued", type=int, default=16)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    model = os.path.join(a.data, "models", "tiny-llama-f32.gguf")
    gold = golden(a.data)
    d = Daemon(a.quantd, args=["--threads", str(a.threads), "--max-queued-jobs",
                               str(a.max_queued), "--max-running-jobs", "2",
                               "--max-connections", "256", "--log-level", "warn"])
    t0 = time.monotonic()
    try:
        d.start()
        assert d.upload("/v1/models/base", model)[0] == 201
        st, j = d.submit_json({"model": "base", "scheme": "Q8_0"}, "?wait=60")
        job_path = "/v1/jobs/" + j["id"]
        fds0 = d.fds()
        print("quantd load: %d clients, %d s, burst %d, max_queued_jobs %d, %d threads, %d cores"
              % (a.clients, a.seconds, a.burst, a.max_queued, a.threads, os.cpu_count()))

        # 1. status endpoints, idle and under upload/job load
        base = "http://127.0.0.1:%d" % d.port
        idle = {p: wrk(base + p, 5, 32, 2) for p in (job_path, "/livez")}
        load = Load(d, model, a.clients)
        load.run()
        time.sleep(1)
        busy = {}
        per = max(a.seconds // 3, 3)
        for p in (job_path, "/v1/jobs?limit=50", "/metrics"):
            busy[p] = wrk(base + p, per, 32, 2)
        load.join()

        # 2. a burst of simultaneous uploads on a drained queue
        for jid in list(load.accepted):
            d.wait_job(jid, 600)
        res = burst(d, model, a.burst)
        held = sum(1 for st, _ in res if st in (200, 202))
        refused = {}
        for st, _ in res:
            if st not in (200, 202):
                refused[st] = refused.get(st, 0) + 1
        for st, jid in res:
            if jid:
                load.accepted[jid] = ("Q8_0", "model")

        # 3. nothing lost: every accepted job succeeds with the reference bytes
        lost = bad = 0
        states = {}
        for jid, (scheme, b) in load.accepted.items():
            st, j = d.wait_job(jid, 600)
            s = j["state"] if st == 200 else "missing(%s)" % st
            states[s] = states.get(s, 0) + 1
            if s != "succeeded":
                lost += 1
                continue
            r = d.download_sha("/v1/jobs/%s/artifacts/%s-%s.gguf" % (jid, b, scheme))
            if r[1] != gold["tiny-llama-%s.gguf" % scheme]:
                bad += 1
        time.sleep(1)
        fds1 = d.fds()
        rc = d.stop()

        print("\nstatus endpoints (wrk -c32 -t2, HTTP/1.1 keep-alive):")
        for name, tbl in (("idle", idle), ("under load", busy)):
            for p, r in tbl.items():
                print("  %-10s GET %-24s %8.0f req/s  p50 %6.2f ms  p99 %7.2f ms  non-2xx %d"
                      "  socket errors %s" % (name, p if len(p) < 24 else p[:21] + "...", r["rps"],
                                              r["p50"] or -1, r["p99"] or -1, r["non2xx"],
                                              r["errors"]))
        print("\nloaded phase: %d clients, answers %s, most uploads in flight when one was "
              "accepted: %d" % (a.clients, load.codes, load.max_inflight_ok))
        print("burst: %d simultaneous uploads -> %d accepted (202), refused %s"
              % (a.burst, held, refused))
        print("jobs: %d accepted, end states %s, lost %d, wrong artifacts %d"
              % (len(load.accepted), states, lost, bad))
        print("fds %d before, %d after; temp files %s; exit status %d; %.0f s"
              % (fds0, fds1, d.temp_files(), rc, time.monotonic() - t0))
        return 0 if lost == 0 and bad == 0 and rc == 0 else 1
    finally:
        if d.alive():
            d.kill()
        d.cleanup()


if __name__ == "__main__":
    sys.exit(main())

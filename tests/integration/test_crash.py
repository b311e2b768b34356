#!/usr/bin/env python3
"""tests/integration/test_crash.py — SIGKILL the daemon at random points during
uploads and jobs, restart it on the same state dir, check the invariants.

    test_crash.py QUANTD TEST_DATA_DIR
    QD_CRASH_ROUNDS=N (default 30)   QD_CRASH_SEED=S (default: random, printed)

Each round runs, at once: an upload-and-submit job, JSON jobs on a stored model,
a model upload, a poller and a downloader that fetches and hashes finished
artifacts while the daemon works; then SIGKILL at a random moment and a restart
on the same state dir. Invariants:
  * a job reported succeeded is still succeeded after every later restart, with
    the same artifact sha256, and its artifact is byte-identical to llama.cpp's
    (the sha256 in tests/data/models/manifest.json);
  * an artifact is never served half-written: every complete download hashes to
    the reference; a job not done answers 409;
  * a job that was accepted is never lost: after a restart it is queued or
    running again, or failed with a reason, and a re-run one ends with the
    reference bytes;
  * after the restart tmp/ is empty, and once the jobs are done no temp file is
    left anywhere in the state dir.
"""
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qd import Check, Daemon, golden  # noqa: E402

QUANTD, DATA = sys.argv[1], sys.argv[2]
MODEL = os.path.join(DATA, "models", "tiny-llama-f32.gguf")
GOLD = golden(DATA)
SCHEMES = ["Q8_0", "Q4_0", "Q4_K_M"]
ROUNDS = int(os.environ.get("QD_CRASH_ROUNDS", "30"))
SEED = int(os.environ.get("QD_CRASH_SEED", str(random.SystemRandom().randrange(1 << 31))))
# wait for every job to end (and tidy up) every this many rounds
SETTLE_EVERY = 5
ARGS = ["--threads", "2", "--chunk-bytes", "256K", "--max-running-jobs", "2",
        "--max-queued-jobs", "64", "--log-level", "warn"]
ok = Check("test_crash")
rng = random.Random(SEED)
lock = threading.Lock()


def gold_of(scheme):
    return GOLD["tiny-llama-%s.gguf" % scheme]


class World:
    """What the clients were told, and so what must hold after a crash."""

    def __init__(self):
        self.accepted = {}   # id -> scheme
        self.art = {}        # id -> artifact URL path
        self.succeeded = {}  # id -> artifact sha256 as reported
        self.stats = dict(kills_in_upload=0, kills_in_job=0, requeued=0, failed_reason=0,
                          downloads=0, not_done_409=0, torn_downloads=0, temp_after_kill=0,
                          reruns_ok=0, unacknowledged=0)
        self.requeued = set()
        self.rerun_ok = set()

    def note_job(self, j, where):
        """Record a job view; check a success at once."""
        if not j or "id" not in j:
            return
        jid = j["id"]
        if j.get("state") == "succeeded":
            arts = j.get("artifacts") or []
            sha = arts[0].get("sha256") if arts else None
            with lock:
                prev = self.succeeded.get(jid)
                scheme = self.accepted.get(jid)
            ok(sha == gold_of(scheme) if scheme else sha is not None,
               "%s: job %s succeeded with sha %s, want %s" % (where, jid, sha,
                                                              scheme and gold_of(scheme)))
            ok(prev is None or prev == sha, "%s: job %s sha changed %s -> %s"
               % (where, jid, prev, sha))
            with lock:
                self.succeeded[jid] = sha


W = World()


def art_url(jid, scheme):
    with lock:
        return W.art[jid]


def accept(j, scheme, base):
    with lock:
        W.accepted[j["id"]] = scheme
        W.art[j["id"]] = "/v1/jobs/%s/artifacts/%s-%s.gguf" % (j["id"], base, scheme)


def safe(fn, *a):
    try:
        return fn(*a)
    except Exception:  # noqa: BLE001 - the daemon is killed under our feet
        return None


def uploader(d, busy, stop):
    scheme = rng.choice(SCHEMES)
    busy["upload"] = True
    try:
        r = safe(d.upload, "/v1/jobs?scheme=%s" % scheme, MODEL)
    finally:
        busy["upload"] = False
    if r and r[0] in (200, 202):
        accept(r[1], scheme, "model")
        W.note_job(r[1], "upload answer")


def json_jobs(d, n, stop):
    for _ in range(n):
        if stop.is_set():
            return
        scheme = rng.choice(SCHEMES)
        r = safe(d.submit_json, {"model": "base", "scheme": scheme})
        if r and r[0] in (200, 202):
            accept(r[1], scheme, "base")
            W.note_job(r[1], "submit answer")


def model_put(d, busy, stop):
    busy["put"] = True
    try:
        safe(d.upload, "/v1/models/scratch", MODEL)
    finally:
        busy["put"] = False


def poller(d, seen_running, stop):
    while not stop.is_set():
        with lock:
            ids = list(W.accepted.items())
        for jid, scheme in ids:
            if stop.is_set():
                return
            r = safe(d.json, "GET", "/v1/jobs/" + jid)
            if not r or r[0] != 200:
                continue
            j = r[1]
            if j["state"] == "running":
                seen_running.add(jid)
            W.note_job(j, "poll")
            if j["state"] in ("queued", "running"):
                # 409 while it runs; 200 only if it just ended, then whole and right
                a = safe(d.download_sha, art_url(jid, scheme))
                if a and a[0] == 200 and a[4] == a[3]:
                    ok(a[1] == gold_of(scheme), "artifact of %s just done: %s" % (jid, a[1]))
                elif a:
                    ok(a[0] in (409, 200), "artifact of unfinished job %s answered %s"
                       % (jid, a[0]))
                    with lock:
                        W.stats["not_done_409"] += a[0] == 409
        time.sleep(0.02)


def downloader(d, stop):
    while not stop.is_set():
        with lock:
            done = [(jid, W.accepted[jid]) for jid in W.succeeded if jid in W.accepted]
        if not done:
            time.sleep(0.02)
            continue
        jid, scheme = rng.choice(done)
        r = safe(d.download_sha, art_url(jid, scheme))
        if not r or r[0] != 200:
            continue
        st, sha, etag, cl, n = r
        if cl is not None and n == cl:
            ok(sha == gold_of(scheme), "download of %s while running: sha %s" % (jid, sha))
            ok(etag == '"%s"' % gold_of(scheme), "ETag of %s: %s" % (jid, etag))
            with lock:
                W.stats["downloads"] += 1
        else:
            with lock:
                W.stats["torn_downloads"] += 1  # cut by the kill: the length tells


def check_after_restart(d, rnd):
    tmp = os.listdir(os.path.join(d.dir, "tmp"))
    ok(not tmp, "round %d: tmp/ not empty after restart: %s" % (rnd, tmp))
    mt = [f for _r, _d, fs in os.walk(os.path.join(d.dir, "models")) for f in fs
          if f.endswith(".tmp")]
    ok(not mt, "round %d: temp files in models/ after restart: %s" % (rnd, mt))
    with lock:
        acc = dict(W.accepted)
        good = dict(W.succeeded)
    for jid, scheme in acc.items():
        st, j = d.json("GET", "/v1/jobs/" + jid)
        if not ok(st == 200, "round %d: accepted job %s lost (%s)" % (rnd, jid, st)):
            continue
        if jid in good:
            arts = j.get("artifacts") or []
            ok(j["state"] == "succeeded" and arts and arts[0].get("sha256") == good[jid],
               "round %d: succeeded job %s now %s %s" % (rnd, jid, j["state"], arts))
        elif j["state"] in ("failed", "canceled"):
            ok(bool((j.get("error") or {}).get("detail")),
               "round %d: job %s %s without a reason" % (rnd, jid, j["state"]))
        elif j["state"] in ("queued", "running") and jid not in W.requeued:
            W.requeued.add(jid)
            W.stats["requeued"] += 1
        W.note_job(j, "after restart")
    # every success survives with the reference bytes
    for jid in good:
        st, sha, etag, cl, n = d.download_sha(art_url(jid, acc[jid]))
        ok(st == 200 and sha == gold_of(acc[jid]) and n == cl,
           "round %d: artifact of %s after restart: %s %s" % (rnd, jid, st, sha))


def settle(d, rnd, keep):
    """Wait for every job to end; check them and the spool; keep a few successes."""
    with lock:
        acc = dict(W.accepted)
    for jid, scheme in acc.items():
        st, j = d.wait_job(jid, 120)
        if st != 200:
            continue
        W.note_job(j, "settle")
        if j["state"] == "succeeded":
            s, sha, *_ = d.download_sha(art_url(jid, scheme))
            ok(sha == gold_of(scheme), "round %d: re-run %s artifact %s" % (rnd, jid, sha))
            if jid in W.requeued and jid not in W.rerun_ok:
                W.rerun_ok.add(jid)
                W.stats["reruns_ok"] += 1
        else:
            ok(bool((j.get("error") or {}).get("detail")), "round %d: %s %s without a reason"
               % (rnd, jid, j["state"]))
            with lock:
                W.stats["failed_reason"] += 1
    # Jobs the daemon recorded (job.json is written before the 202) whose
    # answer the kill cut off: no client knows them, yet they run after the
    # restart like any other, and may be running still. They must end like
    # the others; then they are deleted.
    st, lst = d.json("GET", "/v1/jobs?limit=1000")
    ok(st == 200, "round %d: job list %s" % (rnd, st))
    unacked = [j for j in (lst or {}).get("jobs", []) if j["id"] not in acc]
    for view in unacked:
        jid = view["id"]
        st, j = d.wait_job(jid, 120)
        if st != 200:
            continue
        if j["state"] == "succeeded":
            arts = j.get("artifacts") or []
            scheme = (j.get("request") or {}).get("scheme")
            ok(arts and arts[0].get("sha256") == gold_of(scheme),
               "round %d: unacknowledged job %s: %s" % (rnd, jid, arts))
        else:
            ok(bool((j.get("error") or {}).get("detail")), "round %d: %s %s without a reason"
               % (rnd, jid, j["state"]))
        ok(d.request("DELETE", "/v1/jobs/" + jid)[0] in (204, 404), "delete %s" % jid)
        with lock:
            W.stats["unacknowledged"] += 1
    left = d.temp_files()
    ok(not left, "round %d: temp files after recovery: %s" % (rnd, left))
    # bound the disk: forget all but `keep` successes (they are re-checked every round)
    with lock:
        keep_ids = [j for j in W.succeeded if j in W.accepted][-keep:]
        drop = [j for j in W.accepted if j not in keep_ids]
    for jid in drop:
        st = d.request("DELETE", "/v1/jobs/" + jid)[0]
        ok(st in (204, 404), "delete %s: %s" % (jid, st))
        with lock:
            W.accepted.pop(jid, None)
            W.succeeded.pop(jid, None)
            W.art.pop(jid, None)


def one_round(d, rnd):
    stop = threading.Event()
    busy = {"upload": False, "put": False}
    seen_running = set()
    threads = [threading.Thread(target=uploader, args=(d, busy, stop)),
               threading.Thread(target=json_jobs, args=(d, rng.randint(1, 2), stop)),
               threading.Thread(target=poller, args=(d, seen_running, stop)),
               threading.Thread(target=downloader, args=(d, stop))]
    if rng.random() < 0.3:
        threads.append(threading.Thread(target=model_put, args=(d, busy, stop)))
    for t in threads:
        t.start()
    time.sleep(rng.uniform(0.02, 1.2))
    with lock:
        in_upload = busy["upload"] or busy["put"]
    d.kill()
    stop.set()
    for t in threads:
        t.join()
    with lock:
        W.stats["kills_in_upload"] += in_upload
        W.stats["kills_in_job"] += bool(seen_running - set(W.succeeded))
    left = []
    for root, _dirs, files in os.walk(d.dir):
        left += [f for f in files if f.endswith(".tmp") or root.endswith("/tmp")]
    W.stats["temp_after_kill"] += bool(left)
    if rnd == 0:
        # what a kill inside store_model's atomic meta.json write leaves
        with open(os.path.join(d.dir, "models", "base", ".meta.json.tmp"), "w") as f:
            f.write("{\"name\": \"ba")
    d.start()
    ok(d.request("GET", "/livez")[0] == 200, "round %d: not serving after restart" % rnd)
    check_after_restart(d, rnd)
    if rnd % SETTLE_EVERY == SETTLE_EVERY - 1 or rnd == ROUNDS - 1:
        settle(d, rnd, keep=4)


def main():
    print("test_crash: %d rounds, seed %d (QD_CRASH_SEED=%d to replay)" % (ROUNDS, SEED, SEED),
          flush=True)
    d = Daemon(QUANTD, args=ARGS)
    t0 = time.monotonic()
    try:
        d.start()
        st, _ = d.upload("/v1/models/base", MODEL)
        ok(st == 201, "storing the base model: %s" % st)
        for rnd in range(ROUNDS):
            one_round(d, rnd)
            if ok.failed:
                break
        ok(d.stop() == 0, "clean exit at the end")
        print("test_crash: %d rounds survived in %.0f s; %s"
              % (rnd + 1, time.monotonic() - t0,
                 ", ".join("%s %d" % kv for kv in W.stats.items())), flush=True)
    finally:
        if ok.failed:
            if d.alive():
                d.kill()
            print("state and log kept in", d.dir)
        else:
            d.cleanup()
    return ok.done()


if __name__ == "__main__":
    sys.exit(main())

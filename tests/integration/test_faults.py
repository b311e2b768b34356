#!/usr/bin/env python3
"""tests/integration/test_faults.py — I/O errors inside the daemon.

    test_faults.py QUANTD TEST_DATA_DIR FAULTSHIM.so

Each case starts the daemon with tests/robust/faultshim.c preloaded, set to
fail one kind of call (write, pwrite, fsync, rename) on one kind of file
(the artifact being written, the report, job.json, an upload, a directory).
The job or upload must fail cleanly: a problem type and detail, never
`succeeded`, no artifact served, no temp file left, the daemon still serving.
After a restart without the shim the failed job stays failed with its reason
(or, when its state could not be recorded, it runs again and succeeds with the
reference artifact); nothing reported succeeded is ever lost or wrong.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qd import Check, Daemon, golden, wait_until  # noqa: E402

QUANTD, DATA, SHIM = sys.argv[1], sys.argv[2], sys.argv[3]
MODEL = os.path.join(DATA, "models", "tiny-llama-f32.gguf")
GOLD = golden(DATA)
ok = Check("test_faults")
ARGS = ["--threads", "2", "--chunk-bytes", "256K", "--log-level", "warn"]


def shim_env(op, match, after=0, count=None, err="EIO", kind=None):
    env = {"LD_PRELOAD": SHIM, "QD_FAULT_OP": op, "QD_FAULT_MATCH": match,
           "QD_FAULT_AFTER": str(after), "QD_FAULT_ERRNO": err}
    if count is not None:
        env["QD_FAULT_COUNT"] = str(count)
    if kind:
        env["QD_FAULT_KIND"] = kind
    # a sanitizer runtime must come first in the library list; the shim only
    # wraps libc calls, so let it go first
    for k in ("ASAN_OPTIONS", "TSAN_OPTIONS"):
        env[k] = (os.environ.get(k, "") + ":verify_asan_link_order=0").lstrip(":")
    return env


def fired(d, mark):
    """Faults the shim reported in the log since `mark` (a byte offset)."""
    with open(d.log, "rb") as f:
        f.seek(mark)
        return f.read().count(b"faultshim:")


def log_mark(d):
    return os.path.getsize(d.log) if os.path.exists(d.log) else 0


def job_case(name, env, expect_type=None, scheme="Q4_K_M"):
    """A job whose output hits the fault. Returns True when the fault fired."""
    d = Daemon(QUANTD, args=ARGS)
    mark = 0
    try:
        d.start(extra_env=env)
        st, j = d.upload("/v1/jobs?scheme=%s&wait=60" % scheme, MODEL)
        ok(st in (200, 202), "%s: submit answered %s" % (name, st))
        jid = j["id"]
        st, j = d.wait_job(jid, 60)
        n = fired(d, mark)
        ok(n > 0, "%s: the fault never fired" % name)
        ok(j["state"] == "failed", "%s: state %s (error %s)" % (name, j["state"], j.get("error")))
        err = j.get("error") or {}
        ok(bool(err.get("type")) and bool(err.get("detail")), "%s: no reason given: %s"
           % (name, err))
        if expect_type:
            ok(err.get("type") == expect_type, "%s: error type %s, want %s"
               % (name, err.get("type"), expect_type))
        ok(not j.get("artifacts"), "%s: artifacts listed for a failed job" % name)
        art = "/v1/jobs/%s/artifacts/model-%s.gguf" % (jid, scheme)
        ok(d.request("GET", art)[0] == 409, "%s: artifact not 409" % name)
        ok(d.request("GET", "/v1/jobs/%s/report" % jid)[0] == 409, "%s: report not 409" % name)
        ok(not d.temp_files(), "%s: temp files left %s" % (name, d.temp_files()))
        ok(d.request("GET", "/livez")[0] == 200, "%s: not serving" % name)
        # the daemon still works for the next job once the fault is spent
        print("%s: %d fault(s) -> %s (%s: %s)" % (name, n, j["state"], err.get("type"),
                                                 err.get("detail")))
        ok(d.stop() == 0, "%s: exit status" % name)
        # restart without the shim: still failed, or run again to the right bytes
        d.start()
        st, j2 = d.wait_job(jid, 60)
        if j2["state"] == "succeeded":
            s, sha, *_ = d.download_sha(art)
            ok(sha == GOLD["tiny-llama-%s.gguf" % scheme], "%s: rerun artifact differs" % name)
            print("%s: after restart: ran again, artifact correct" % name)
        else:
            ok(j2["state"] == "failed" and (j2.get("error") or {}).get("type"),
               "%s: after restart %s" % (name, j2["state"]))
        ok(not d.temp_files(), "%s: temp files after restart %s" % (name, d.temp_files()))
        ok(d.stop() == 0, "%s: exit status after restart" % name)
        return n > 0
    finally:
        d.cleanup() if not ok.failed else (d.alive() and d.kill())


def upload_case(name, env, path, want_status, mid_body=False):
    d = Daemon(QUANTD, args=ARGS)
    try:
        d.start(extra_env=env)
        try:
            st, body = d.upload(path, MODEL)
        except OSError:
            # MHD 0.9.75 cannot answer in the middle of a body: it closes
            st, body = "closed", None
        n = fired(d, 0)
        ok(n > 0, "%s: the fault never fired" % name)
        ok(st == want_status or (st == "closed" and mid_body),
           "%s: answered %s, want %s (%s)" % (name, st, want_status, body))
        ok(st == "closed" or (body is not None and body.get("type")),
           "%s: no problem+json" % name)
        ok(wait_until(lambda: not d.temp_files(), 3), "%s: temp files left %s"
           % (name, d.temp_files()))
        lst_st, lst = d.json("GET", "/v1/jobs")
        ok(lst_st == 200 and lst["total"] == 0, "%s: a job was created" % name)
        jobs = os.listdir(os.path.join(d.dir, "jobs"))
        ok(not jobs, "%s: job dirs left %s" % (name, jobs))
        # the next upload works (the fault is spent)
        st2, j = d.upload("/v1/jobs?scheme=Q8_0&wait=60", MODEL)
        ok(st2 == 200 and j["state"] == "succeeded", "%s: next upload %s" % (name, st2))
        print("%s: %d fault(s) -> %s %s" % (name, n, st,
                                           body.get("type") if body else "(mid-body close)"))
        ok(d.stop() == 0, "%s: exit status" % name)
    finally:
        d.cleanup() if not ok.failed else (d.alive() and d.kill())


def main():
    art = "/.artifact.tmp"
    job_case("pwrite EIO on the artifact", shim_env("pwrite", art, after=3, count=1))
    job_case("pwrite ENOSPC on the artifact",
             shim_env("pwrite", art, after=5, count=1, err="ENOSPC"), "insufficient-storage")
    job_case("fsync EIO on the artifact", shim_env("fsync", art, count=1))
    job_case("rename EIO of the artifact", shim_env("rename", art, count=1))
    job_case("write EIO on the report", shim_env("write", "/.report.json.tmp", count=1))
    job_case("fsync EIO on the job directory",
             shim_env("fsync", "/jobs/j", kind="dir", after=3, count=1))
    # job.json: written at submit (1), start (2), end (3): fail the end
    job_case("rename EIO of job.json at the end",
             shim_env("rename", "/.job.json.tmp", after=2, count=1))
    job_case("fsync EIO of job.json at the end",
             shim_env("fsync", "/.job.json.tmp", after=2, count=1))
    upload_case("write EIO on an upload", shim_env("write", "/tmp/upload-", count=1),
                "/v1/jobs?scheme=Q8_0", 500, mid_body=True)
    upload_case("write ENOSPC on an upload",
                shim_env("write", "/tmp/upload-", count=1, err="ENOSPC"),
                "/v1/jobs?scheme=Q8_0", 507, mid_body=True)
    upload_case("fsync EIO on an upload", shim_env("fsync", "/tmp/upload-", count=1),
                "/v1/jobs?scheme=Q8_0", 500)
    upload_case("rename EIO of an upload", shim_env("rename", "/tmp/upload-", count=1),
                "/v1/jobs?scheme=Q8_0", 500)
    upload_case("rename EIO of a model upload", shim_env("rename", "/tmp/upload-", count=1),
                "/v1/models/m", 500)
    return ok.done()


if __name__ == "__main__":
    sys.exit(main())

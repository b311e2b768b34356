/* tests/integration/test_daemon.c — the real daemon, driven over HTTP. */
#define _GNU_SOURCE 1
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <dirent.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define MODEL QD_TEST_DATA "/models/tiny-llama-f32.gguf"
#define MANIFEST QD_TEST_DATA "/models/manifest.json"

static struct daemon D; /* shared by the tests that need no special flags */

static int setup_shared(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_ALL);
    const char *extra[] = {"--threads", "2", NULL};
    return daemon_start(&D, NULL, extra);
}

static int teardown_shared(void **state)
{
    (void)state;
    return daemon_teardown(&D);
}

static void url_of(char *buf, size_t len, const struct daemon *d, const char *path)
{
    snprintf(buf, len, "%s%s", d->base, path);
}

static const char *golden_sha(const char *name)
{
    static char out[65];
    json_t *m = json_load_file(MANIFEST, 0, NULL);
    assert_non_null(m);
    json_t *files = json_object_get(m, "files");
    out[0] = '\0';
    for (size_t i = 0; i < json_array_size(files); i++) {
        json_t *f = json_array_get(files, i);
        if (strcmp(json_string_value(json_object_get(f, "name")), name) == 0)
            snprintf(out, sizeof out, "%s", json_string_value(json_object_get(f, "sha256")));
    }
    json_decref(m);
    assert_int_equal(strlen(out), 64);
    return out;
}

/* Upload-and-submit; returns the job id in id (and checks 202/200). */
static long submit_upload(struct daemon *d, const char *query, char id[32], json_t **job)
{
    char url[256];
    snprintf(url, sizeof url, "%s/v1/jobs?%s", d->base, query);
    struct resp r;
    http(&r, "POST", url, MODEL, NULL, 0, NULL);
    long st = r.status;
    if (st == 200 || st == 202) {
        json_t *o = body_json(&r);
        snprintf(id, 32, "%s", json_string_value(json_object_get(o, "id")));
        char loc[128], want[128];
        assert_non_null(resp_header(&r, "Location", loc, sizeof loc));
        snprintf(want, sizeof want, "/v1/jobs/%s", id);
        assert_string_equal(loc, want);
        if (job)
            *job = o;
        else
            json_decref(o);
    }
    resp_free(&r);
    return st;
}

static void test_health_and_routing(void **state)
{
    (void)state;
    char url[256];
    struct resp r;
    url_of(url, sizeof url, &D, "/livez");
    http(&r, "GET", url, NULL, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    char rid[80];
    assert_non_null(resp_header(&r, "X-Request-Id", rid, sizeof rid));
    resp_free(&r);

    const char *h[] = {"X-Request-Id: my-req-42", NULL};
    http(&r, "GET", url, NULL, NULL, 0, h);
    assert_string_equal(resp_header(&r, "X-Request-Id", rid, sizeof rid), "my-req-42");
    resp_free(&r);

    url_of(url, sizeof url, &D, "/v1/nothing-here");
    http(&r, "GET", url, NULL, NULL, 0, NULL);
    assert_problem(&r, 404, "not-found");
    resp_free(&r);

    url_of(url, sizeof url, &D, "/v1/jobs");
    http(&r, "PATCH", url, NULL, NULL, 0, NULL);
    assert_problem(&r, 405, "method-not-allowed");
    char allow[64];
    assert_string_equal(resp_header(&r, "Allow", allow, sizeof allow), "GET, HEAD, POST");
    resp_free(&r);

    url_of(url, sizeof url, &D, "/v1/jobs/j0123456789abcdef");
    http(&r, "GET", url, NULL, NULL, 0, NULL);
    assert_problem(&r, 404, "job-not-found");
    resp_free(&r);

    url_of(url, sizeof url, &D, "/v1/capabilities");
    http(&r, "GET", url, NULL, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    json_t *o = body_json(&r);
    assert_true(json_array_size(json_object_get(o, "schemes")) > 5);
    assert_non_null(json_string_value(json_object_get(o, "isa")));
    json_decref(o);
    resp_free(&r);
}

static void check_artifact(struct daemon *d, const char *id, const char *golden)
{
    char url[256];
    snprintf(url, sizeof url, "%s/v1/jobs/%s", d->base, id);
    struct resp r;
    http(&r, "GET", url, NULL, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    json_t *o = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "succeeded");
    json_t *art = json_array_get(json_object_get(o, "artifacts"), 0);
    char aurl[300];
    snprintf(aurl, sizeof aurl, "%s%s", d->base, json_string_value(json_object_get(art, "url")));
    json_decref(o);
    resp_free(&r);

    http(&r, "GET", aurl, NULL, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    char hex[65], etag[80], want[80];
    sha256_hex(r.body, r.len, hex);
    assert_string_equal(hex, golden);
    snprintf(want, sizeof want, "\"%s\"", golden);
    assert_string_equal(resp_header(&r, "ETag", etag, sizeof etag), want);
    size_t full = r.len;
    char *copy = malloc(full);
    memcpy(copy, r.body, full);
    resp_free(&r);

    const char *rh[] = {"Range: bytes=100-199", NULL};
    http(&r, "GET", aurl, NULL, NULL, 0, rh);
    assert_int_equal(r.status, 206);
    assert_int_equal(r.len, 100);
    assert_memory_equal(r.body, copy + 100, 100);
    char cr[80], cr_want[80];
    snprintf(cr_want, sizeof cr_want, "bytes 100-199/%zu", full);
    assert_string_equal(resp_header(&r, "Content-Range", cr, sizeof cr), cr_want);
    resp_free(&r);

    const char *bad[] = {"Range: bytes=999999999-", NULL};
    http(&r, "GET", aurl, NULL, NULL, 0, bad);
    assert_int_equal(r.status, 416);
    resp_free(&r);

    http(&r, "HEAD", aurl, NULL, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
    char cl[32];
    assert_non_null(resp_header(&r, "Content-Length", cl, sizeof cl));
    assert_int_equal(strtoull(cl, NULL, 10), full);
    resp_free(&r);
    free(copy);

    snprintf(url, sizeof url, "%s/v1/jobs/%s/report", d->base, id);
    http(&r, "GET", url, NULL, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    o = body_json(&r);
    assert_int_equal(json_array_size(json_object_get(o, "tensors")), 39);
    json_decref(o);
    resp_free(&r);
}

static void test_upload_submit_matches_golden(void **state)
{
    (void)state;
    const char *schemes[][2] = {{"Q8_0", "tiny-llama-Q8_0.gguf"},
                                {"Q4_0", "tiny-llama-Q4_0.gguf"},
                                {"Q4_K_M", "tiny-llama-Q4_K_M.gguf"}};
    for (size_t i = 0; i < 3; i++) {
        char q[64], id[32];
        snprintf(q, sizeof q, "scheme=%s&wait=60", schemes[i][0]);
        json_t *job = NULL;
        assert_int_equal(submit_upload(&D, q, id, &job), 200);
        assert_string_equal(json_string_value(json_object_get(job, "state")), "succeeded");
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(job, "input"), "sha256")),
            golden_sha("tiny-llama-f32.gguf"));
        json_decref(job);
        check_artifact(&D, id, golden_sha(schemes[i][1]));
    }
}

static void test_models_and_json_jobs(void **state)
{
    (void)state;
    char url[256], st[32];
    struct resp r;
    url_of(url, sizeof url, &D, "/v1/models/tiny.gguf");
    const char *digest[] = {"Content-Digest: sha-256=:O8Phmrod94l4BuTDNIB5KEUlDf/9YzukeLIkv86qAS4=:",
                            NULL};
    http(&r, "PUT", url, MODEL, NULL, 0, digest);
    assert_int_equal(r.status, 201);
    json_t *o = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(o, "format")), "gguf");
    assert_int_equal(json_integer_value(json_object_get(o, "tensors")), 39);
    json_decref(o);
    resp_free(&r);

    const char *wrong[] = {"Content-Digest: sha-256=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:",
                           NULL};
    url_of(url, sizeof url, &D, "/v1/models/other");
    http(&r, "PUT", url, MODEL, NULL, 0, wrong);
    assert_problem(&r, 400, "digest-mismatch");
    resp_free(&r);

    const char *js[] = {"Content-Type: application/json", NULL};
    url_of(url, sizeof url, &D, "/v1/jobs");
    const char *spec = "{\"model\":\"tiny.gguf\",\"scheme\":\"Q4_0\",\"output\":{\"format\":\"gguf\"}}";
    http(&r, "POST", url, NULL, spec, strlen(spec), js);
    assert_int_equal(r.status, 202);
    o = body_json(&r);
    char id[32];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(o, "id")));
    json_decref(o);
    resp_free(&r);
    assert_string_equal(wait_job(&D, id, 60, st, sizeof st), "succeeded");
    check_artifact(&D, id, golden_sha("tiny-llama-Q4_0.gguf"));

    const char *bad_specs[][2] = {
        {"{\"model\":\"tiny.gguf\",\"scheme\":\"Q9_X\"}", "unknown-scheme"},
        {"{\"model\":\"tiny.gguf\"", "invalid-spec"},
        {"{\"model\":\"tiny.gguf\",\"scheme\":\"Q4_0\",\"bogus\":1}", "invalid-spec"},
        {"{\"model\":\"tiny.gguf\",\"scheme\":\"Q4_0\",\"overrides\":[{\"match\":\"(\",\"type\":\"Q8_0\"}]}",
         "invalid-spec"},
    };
    for (size_t i = 0; i < 4; i++) {
        http(&r, "POST", url, NULL, bad_specs[i][0], strlen(bad_specs[i][0]), js);
        assert_problem(&r, 400, bad_specs[i][1]);
        resp_free(&r);
    }
    const char *nomodel = "{\"model\":\"absent\",\"scheme\":\"Q4_0\"}";
    http(&r, "POST", url, NULL, nomodel, strlen(nomodel), js);
    assert_problem(&r, 404, "model-not-found");
    resp_free(&r);

    /* dry run: a plan, no artifact */
    const char *dry = "{\"model\":\"tiny.gguf\",\"scheme\":\"Q4_K_M\",\"dry_run\":true}";
    snprintf(url, sizeof url, "%s/v1/jobs?wait=30", D.base);
    http(&r, "POST", url, NULL, dry, strlen(dry), js);
    assert_int_equal(r.status, 200);
    o = body_json(&r);
    assert_int_equal(json_array_size(json_object_get(o, "artifacts")), 0);
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(o, "id")));
    json_decref(o);
    resp_free(&r);

    /* list, newest first, paged */
    url_of(url, sizeof url, &D, "/v1/jobs?limit=1");
    http(&r, "GET", url, NULL, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    o = body_json(&r);
    assert_int_equal(json_array_size(json_object_get(o, "jobs")), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(o, "jobs"), 0), "id")), id);
    assert_true(json_is_string(json_object_get(o, "next")));
    json_decref(o);
    resp_free(&r);

    /* delete */
    snprintf(url, sizeof url, "%s/v1/jobs/%s", D.base, id);
    http(&r, "DELETE", url, NULL, NULL, 0, NULL);
    assert_int_equal(r.status, 204);
    resp_free(&r);
    http(&r, "GET", url, NULL, NULL, 0, NULL);
    assert_problem(&r, 404, "job-not-found");
    resp_free(&r);
}

static void test_upload_errors(void **state)
{
    (void)state;
    char url[256];
    struct resp r;
    snprintf(url, sizeof url, "%s/v1/jobs?scheme=NOPE", D.base);
    http(&r, "POST", url, MODEL, NULL, 0, NULL);
    assert_problem(&r, 400, "unknown-scheme");
    resp_free(&r);

    snprintf(url, sizeof url, "%s/v1/jobs?scheme=Q8_0", D.base);
    const char *junk = "this is certainly not a model file, not even close";
    const char *oct[] = {"Content-Type: application/octet-stream", NULL};
    http(&r, "POST", url, NULL, junk, strlen(junk), oct);
    assert_problem(&r, 415, "unsupported-format");
    resp_free(&r);

    /* a GGUF magic with a broken header */
    unsigned char bad[64] = {'G', 'G', 'U', 'F', 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    http(&r, "POST", url, NULL, (const char *)bad, sizeof bad, oct);
    assert_problem(&r, 422, "malformed-model");
    resp_free(&r);

    /* 413 before the body: Content-Length alone is enough */
    char buf[4096];
    const char *big = "POST /v1/jobs?scheme=Q8_0 HTTP/1.1\r\nHost: x\r\n"
                      "Content-Length: 99999999999999\r\n\r\n";
    assert_int_equal(raw_request(D.port, big, strlen(big), buf, sizeof buf), 413);
    assert_non_null(strstr(buf, "upload-too-large"));

    /* framing attacks: 400 before the body */
    const char *dup = "POST /v1/jobs?scheme=Q8_0 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                      "Content-Length: 5\r\n\r\nhello";
    assert_int_equal(raw_request(D.port, dup, strlen(dup), buf, sizeof buf), 400);
    const char *tecl = "POST /v1/jobs?scheme=Q8_0 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    assert_int_equal(raw_request(D.port, tecl, strlen(tecl), buf, sizeof buf), 400);
    assert_true(daemon_alive(&D));
}

static void test_chunked_over_limit(void **state)
{
    (void)state;
    struct daemon d;
    const char *extra[] = {"--max-upload-bytes", "1M", NULL};
    assert_int_equal(daemon_start(&d, NULL, extra), 0);
    char url[256];
    snprintf(url, sizeof url, "%s/v1/jobs?scheme=Q8_0", d.base);
    struct resp r;
    const char *chunked[] = {"Transfer-Encoding: chunked", NULL};
    http(&r, "POST", url, MODEL, NULL, 0, chunked); /* 21 MB, chunked, no length */
    /* 413 when MHD lets us answer mid-body, else the connection is closed */
    assert_true(r.status == 413 || r.curl_rc != 0);
    resp_free(&r);
    /* with a length, the same upload is refused before the body */
    http(&r, "POST", url, MODEL, NULL, 0, NULL);
    assert_problem(&r, 413, "upload-too-large");
    resp_free(&r);
    assert_true(daemon_alive(&d));
    /* nothing half-written is left */
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s/tmp", d.dir);
    DIR *dir = opendir(tmp);
    assert_non_null(dir);
    int files = 0;
    for (struct dirent *e; (e = readdir(dir));)
        files += e->d_name[0] != '.';
    closedir(dir);
    assert_int_equal(files, 0);
    assert_int_equal(daemon_stop(&d), 0);
    daemon_cleanup(&d);
}

static void test_queue_full_and_not_done(void **state)
{
    (void)state;
    struct daemon d;
    const char *extra[] = {"--max-queued-jobs", "1", "--max-running-jobs", "1", "--threads", "1",
                           "--chunk-bytes", "64K", NULL};
    assert_int_equal(daemon_start(&d, NULL, extra), 0);
    char url[256];
    struct resp r;
    snprintf(url, sizeof url, "%s/v1/models/m", d.base);
    http(&r, "PUT", url, MODEL, NULL, 0, NULL);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    const char *js[] = {"Content-Type: application/json", NULL};
    const char *spec = "{\"model\":\"m\",\"scheme\":\"Q4_K_M\"}";
    snprintf(url, sizeof url, "%s/v1/jobs", d.base);
    char ids[2][32];
    for (int i = 0; i < 2; i++) {
        http(&r, "POST", url, NULL, spec, strlen(spec), js);
        assert_int_equal(r.status, 202);
        json_t *o = body_json(&r);
        snprintf(ids[i], sizeof ids[i], "%s", json_string_value(json_object_get(o, "id")));
        json_decref(o);
        resp_free(&r);
    }
    http(&r, "POST", url, NULL, spec, strlen(spec), js);
    assert_problem(&r, 429, "queue-full");
    char ra[16];
    assert_non_null(resp_header(&r, "Retry-After", ra, sizeof ra));
    assert_true(strtol(ra, NULL, 10) >= 1);
    resp_free(&r);
    snprintf(url, sizeof url, "%s/readyz", d.base);
    http(&r, "GET", url, NULL, NULL, 0, NULL);
    assert_int_equal(r.status, 503);
    resp_free(&r);
    snprintf(url, sizeof url, "%s/v1/jobs/%s/report", d.base, ids[1]);
    http(&r, "GET", url, NULL, NULL, 0, NULL);
    assert_problem(&r, 409, "job-not-done");
    resp_free(&r);
    /* cancel the running one */
    snprintf(url, sizeof url, "%s/v1/jobs/%s", d.base, ids[0]);
    http(&r, "DELETE", url, NULL, NULL, 0, NULL);
    assert_int_equal(r.status, 204);
    resp_free(&r);
    char st[32];
    assert_string_equal(wait_job(&d, ids[1], 60, st, sizeof st), "succeeded");
    assert_int_equal(daemon_stop(&d), 0);
    daemon_cleanup(&d);
}

struct sse {
    char buf[65536];
    size_t len;
};

static size_t sse_write(char *p, size_t sz, size_t n, void *ud)
{
    struct sse *s = ud;
    size_t add = sz * n;
    if (s->len + add >= sizeof s->buf)
        add = sizeof s->buf - 1 - s->len;
    memcpy(s->buf + s->len, p, add);
    s->len += add;
    s->buf[s->len] = '\0';
    return sz * n;
}

static void test_sse_events(void **state)
{
    (void)state;
    char id[32];
    assert_int_equal(submit_upload(&D, "scheme=Q4_K_M", id, NULL), 202);
    char url[256];
    snprintf(url, sizeof url, "%s/v1/jobs/%s/events", D.base, id);
    static struct sse s;
    memset(&s, 0, sizeof s);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sse_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    CURLcode rc = curl_easy_perform(c); /* returns when the stream ends */
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    assert_int_equal(rc, CURLE_OK);
    assert_int_equal(status, 200);
    assert_string_equal(ct, "text/event-stream");
    curl_easy_cleanup(c);
    assert_non_null(strstr(s.buf, "event: succeeded\n"));
    assert_non_null(strstr(s.buf, "\"tensors_total\":39"));
}

static void test_auth(void **state)
{
    (void)state;
    char tokfile[] = "/tmp/quantd-tok-XXXXXX";
    int fd = mkstemp(tokfile);
    assert_true(fd >= 0);
    const char *toks = "# tokens\nsecret-one\n  secret-two  \n";
    assert_int_equal(write(fd, toks, strlen(toks)), (ssize_t)strlen(toks));
    close(fd);
    struct daemon d;
    const char *extra[] = {"--token-file", tokfile, NULL};
    assert_int_equal(daemon_start(&d, NULL, extra), 0);
    char url[256];
    struct resp r;
    snprintf(url, sizeof url, "%s/v1/jobs", d.base);
    http(&r, "GET", url, NULL, NULL, 0, NULL);
    assert_problem(&r, 401, "unauthorized");
    char wa[64];
    assert_non_null(resp_header(&r, "WWW-Authenticate", wa, sizeof wa));
    resp_free(&r);
    const char *wrong[] = {"Authorization: Bearer secret-three", NULL};
    http(&r, "GET", url, NULL, NULL, 0, wrong);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    const char *right[] = {"Authorization: Bearer secret-two", NULL};
    http(&r, "GET", url, NULL, NULL, 0, right);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    snprintf(url, sizeof url, "%s/livez", d.base);
    http(&r, "GET", url, NULL, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    /* 401 before the body: the body is never sent */
    char buf[4096];
    const char *up = "POST /v1/jobs?scheme=Q8_0 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n";
    assert_int_equal(raw_request(d.port, up, strlen(up), buf, sizeof buf), 401);
    assert_int_equal(daemon_stop(&d), 0);
    daemon_cleanup(&d);
    unlink(tokfile);
}

static void test_metrics(void **state)
{
    (void)state;
    char url[256];
    struct resp r;
    url_of(url, sizeof url, &D, "/metrics");
    http(&r, "GET", url, NULL, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "# TYPE quantd_http_requests_total counter"));
    assert_non_null(strstr(r.body, "quantd_http_requests_total{route=\"/livez\",code=\"200\"}"));
    assert_non_null(strstr(r.body, "quantd_http_request_duration_seconds_bucket{route=\"/livez\",le=\"+Inf\"}"));
    assert_non_null(strstr(r.body, "quantd_build_info{"));
    assert_non_null(strstr(r.body, "quantd_job_queue_depth"));
    resp_free(&r);
}

static void test_restart_recovery(void **state)
{
    (void)state;
    struct daemon d;
    const char *extra[] = {"--threads", "1", "--chunk-bytes", "64K", NULL};
    assert_int_equal(daemon_start(&d, NULL, extra), 0);
    char done_id[32], mid_id[32], st[32];
    assert_int_equal(submit_upload(&d, "scheme=Q8_0&wait=60", done_id, NULL), 200);
    assert_int_equal(submit_upload(&d, "scheme=Q4_K_M", mid_id, NULL), 202);
    daemon_kill(&d); /* SIGKILL: mid-job, or just queued */
    char dir[256];
    snprintf(dir, sizeof dir, "%s", d.dir);
    assert_int_equal(daemon_start(&d, dir, extra), 0);
    assert_string_equal(wait_job(&d, mid_id, 60, st, sizeof st), "succeeded");
    check_artifact(&d, mid_id, golden_sha("tiny-llama-Q4_K_M.gguf"));
    check_artifact(&d, done_id, golden_sha("tiny-llama-Q8_0.gguf"));
    assert_int_equal(daemon_stop(&d), 0);
    daemon_cleanup(&d);
}

static void test_sigterm_drain(void **state)
{
    (void)state;
    struct daemon d;
    const char *extra[] = {"--threads", "1", NULL};
    assert_int_equal(daemon_start(&d, NULL, extra), 0);
    char id[32];
    assert_int_equal(submit_upload(&d, "scheme=Q4_K_M", id, NULL), 202);
    assert_int_equal(daemon_stop(&d), 0); /* drains, exits 0 */
    /* the job either finished or was checkpointed: a restart completes it */
    char dir[256], st[32];
    snprintf(dir, sizeof dir, "%s", d.dir);
    assert_int_equal(daemon_start(&d, dir, extra), 0);
    assert_string_equal(wait_job(&d, id, 60, st, sizeof st), "succeeded");
    assert_int_equal(daemon_stop(&d), 0);
    daemon_cleanup(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_and_routing),
        cmocka_unit_test(test_upload_submit_matches_golden),
        cmocka_unit_test(test_models_and_json_jobs),
        cmocka_unit_test(test_upload_errors),
        cmocka_unit_test(test_chunked_over_limit),
        cmocka_unit_test(test_queue_full_and_not_done),
        cmocka_unit_test(test_sse_events),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_restart_recovery),
        cmocka_unit_test(test_sigterm_drain),
    };
    return cmocka_run_group_tests(tests, setup_shared, teardown_shared);
}

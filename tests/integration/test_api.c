/* tests/integration/test_api.c — api/ and config/ without a socket: routes,
 * the problem table, specs, Range, Content-Digest, the settings parsers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api/problem.h"
#include "api/route.h"
#include "api/spec.h"
#include "api/view.h"
#include "config/config.h"

static void test_routes(void **state)
{
    (void)state;
    struct qd_route r;
    assert_int_equal(qd_route_match("/v1/jobs", &r), 0);
    assert_int_equal(r.id, QD_R_JOBS);
    assert_int_equal(qd_route_match("/v1/jobs/j0123456789abcdef/artifacts/m-Q4_0.gguf", &r), 0);
    assert_int_equal(r.id, QD_R_JOB_ARTIFACT);
    assert_string_equal(r.job, "j0123456789abcdef");
    assert_string_equal(r.name, "m-Q4_0.gguf");
    assert_int_equal(qd_route_match("/v1/jobs/../etc", &r), -1);
    assert_int_equal(qd_route_match("/v1/models/..", &r), -1);
    assert_int_equal(qd_route_match("/v1/models/a%2Fb", &r), -1);
    assert_int_equal(qd_route_match("/v1/jobs/J0123456789abcdef", &r), -1);
    assert_int_equal(qd_route_match("//v1", &r), -1);
    assert_int_equal(qd_route_match("", &r), -1);
    assert_int_equal(qd_route_match("/livez", &r), 0);
    assert_true(qd_route_public(r.id));
    assert_string_equal(qd_route_allow(QD_R_JOB), "GET, HEAD, DELETE");
    assert_false(qd_route_methods(QD_R_JOB_REPORT) & QD_M_POST);
}

static void test_problems(void **state)
{
    (void)state;
    assert_int_equal(qd_problem_status(QD_P_QUEUE_FULL), 429);
    assert_string_equal(qd_problem_type(QD_P_QUEUE_FULL), "queue-full");
    assert_int_equal(qd_problem_status(QD_P_UPLOAD_TOO_LARGE), 413);
    assert_int_equal(qd_problem_status(QD_P_INSUFFICIENT_STORAGE), 507);
    assert_int_equal(qd_problem_status((enum qd_problem)999), 500);
    for (int p = 1; p < QD_P_COUNT; p++) {
        assert_non_null(qd_problem_type((enum qd_problem)p));
        assert_true(qd_problem_status((enum qd_problem)p) >= 400);
    }
}

static const char *q_get(void *ud, const char *key)
{
    const char *const *kv = ud;
    for (; kv[0]; kv += 2)
        if (strcmp(kv[0], key) == 0)
            return kv[1];
    return NULL;
}

static void test_spec(void **state)
{
    (void)state;
    char d[256];
    struct qd_spec s;
    qd_spec_init(&s);
    const char *q1[] = {"type", "q4_k_m", "wait", "9999", NULL};
    assert_int_equal(qd_spec_from_query(&s, q_get, q1, 600, d, sizeof d), QD_P_NONE);
    assert_string_equal(s.scheme, "Q4_K_M");
    assert_int_equal(s.wait_s, 600);
    qd_spec_cleanup(&s);
    qd_spec_init(&s);
    const char *q2[] = {"scheme", "Q4_0", "wait", "-1", NULL};
    assert_int_equal(qd_spec_from_query(&s, q_get, q2, 600, d, sizeof d), QD_P_INVALID_SPEC);
    const char *q3[] = {NULL};
    assert_int_equal(qd_spec_from_query(&s, q_get, q3, 600, d, sizeof d), QD_P_INVALID_SPEC);
    const char *js = "{\"model\":\"m\",\"scheme\":\"Q5_K_M\",\"overrides\":[{\"match\":\"attn_v\","
                     "\"type\":\"Q8_0\"}],\"ignore\":[\"norm\"],\"output\":{\"format\":\"gguf\"}}";
    assert_int_equal(qd_spec_from_json(&s, js, strlen(js), true, d, sizeof d), QD_P_NONE);
    assert_int_equal(s.n_overrides, 1);
    assert_int_equal(s.n_ignore, 1);
    json_t *back = qd_spec_to_json(&s);
    char *text = json_dumps(back, JSON_COMPACT);
    struct qd_spec s2;
    qd_spec_init(&s2);
    assert_int_equal(qd_spec_from_json(&s2, text, strlen(text), true, d, sizeof d), QD_P_NONE);
    assert_string_equal(s2.scheme, "Q5_K_M");
    free(text);
    json_decref(back);
    qd_spec_cleanup(&s2);
    qd_spec_cleanup(&s);
    qd_spec_init(&s);
    const char *dup = "{\"scheme\":\"Q4_0\",\"scheme\":\"Q8_0\",\"model\":\"m\"}";
    assert_int_equal(qd_spec_from_json(&s, dup, strlen(dup), true, d, sizeof d), QD_P_INVALID_SPEC);
    const char *nomodel = "{\"scheme\":\"Q4_0\"}";
    assert_int_equal(qd_spec_from_json(&s, nomodel, strlen(nomodel), true, d, sizeof d),
                     QD_P_INVALID_SPEC);
    qd_spec_cleanup(&s);
}

static void test_range_and_digest(void **state)
{
    (void)state;
    uint64_t a = 0, n = 0;
    assert_int_equal(qd_view_parse_range(NULL, 100, &a, &n), 0);
    assert_int_equal(qd_view_parse_range("bytes=10-19", 100, &a, &n), 1);
    assert_true(a == 10 && n == 10);
    assert_int_equal(qd_view_parse_range("bytes=90-", 100, &a, &n), 1);
    assert_true(a == 90 && n == 10);
    assert_int_equal(qd_view_parse_range("bytes=-5", 100, &a, &n), 1);
    assert_true(a == 95 && n == 5);
    assert_int_equal(qd_view_parse_range("bytes=100-", 100, &a, &n), -1);
    assert_int_equal(qd_view_parse_range("bytes=5-1", 100, &a, &n), 0);
    assert_int_equal(qd_view_parse_range("bytes=0-1,5-6", 100, &a, &n), 0);
    assert_int_equal(qd_view_parse_range("bytes=x", 100, &a, &n), 0);
    unsigned char dg[32];
    assert_int_equal(qd_spec_parse_digest("sha-256=:O8Phmrod94l4BuTDNIB5KEUlDf/9YzukeLIkv86qAS4=:", dg), 0);
    assert_int_equal(dg[0], 0x3b);
    assert_int_equal(dg[31], 0x2e);
    assert_int_equal(qd_spec_parse_digest("sha-512=:abc=:", dg), -1);
    assert_int_equal(qd_spec_parse_digest("sha-256=:short=:", dg), -1);
}

static void test_config(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(qd_config_parse_size("64G", &v), 0);
    assert_true(v == (64ull << 30));
    assert_int_equal(qd_config_parse_size("12", &v), 0);
    assert_int_equal(qd_config_parse_size("1X", &v), -1);
    assert_int_equal(qd_config_parse_size("-1", &v), -1);
    assert_int_equal(qd_config_parse_size("99999999999999999999", &v), -1);
    int64_t s;
    assert_int_equal(qd_config_parse_duration("7d", &s), 0);
    assert_int_equal(s, 7 * 86400);
    char host[64];
    uint16_t port;
    assert_int_equal(qd_config_parse_listen("[::1]:80", host, sizeof host, &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(qd_config_parse_listen("h:70000", host, sizeof host, &port), -1);

    /* precedence: flags > env > file > defaults; unknown keys stop with file:line */
    char path[] = "/tmp/quantd-conf-XXXXXX";
    int fd = mkstemp(path);
    const char *conf = "[quantd]\nthreads = 3\nmax_queued_jobs = 5\nlog_level = warn\n";
    assert_int_equal(write(fd, conf, strlen(conf)), (ssize_t)strlen(conf));
    close(fd);
    struct qd_config c;
    char err[512];
    char *argv[] = {"serve", "--config", path, "--threads", "4", NULL};
    char *envp[] = {"QUANTD_THREADS=2", "QUANTD_MAX_QUEUED_JOBS=6", NULL};
    assert_int_equal(qd_config_load(&c, 5, argv, envp, err, sizeof err), 0);
    assert_int_equal(c.threads, 4);
    assert_int_equal(c.max_queued_jobs, 6);
    assert_int_equal(c.log_level, QD_LOG_WARN);
    FILE *f = fopen(path, "w");
    fputs("threads = 3\nno_such_key = 1\n", f);
    fclose(f);
    char *argv2[] = {"serve", "--config", path, NULL};
    assert_int_equal(qd_config_load(&c, 3, argv2, NULL, err, sizeof err), -1);
    char want[600];
    snprintf(want, sizeof want, "%s:2:", path);
    assert_non_null(strstr(err, want));
    assert_non_null(strstr(err, "no_such_key"));
    char *argv3[] = {"serve", "--max-upload-bytes", "12Q", NULL};
    assert_int_equal(qd_config_load(&c, 3, argv3, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "--max-upload-bytes"));
    char *envbad[] = {"QUANTD_THREADS=lots", NULL};
    char *argv4[] = {"serve", NULL};
    assert_int_equal(qd_config_load(&c, 1, argv4, envbad, err, sizeof err), -1);
    assert_non_null(strstr(err, "QUANTD_THREADS"));
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),       cmocka_unit_test(test_problems),
        cmocka_unit_test(test_spec),         cmocka_unit_test(test_range_and_digest),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

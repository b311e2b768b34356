/* tests/fuzz/fuzz_request.c — the daemon's request policy on arbitrary input.
 *
 * api/ has pure functions for everything the daemon decides from a request
 * before touching a model: routing (paths, job ids, model names), the upload
 * query, the JSON job spec, Content-Digest and Range. The first input byte
 * picks the function, the rest is its input. Invariants:
 *  - a matched route's job id and names pass the validators, and a name can
 *    never be "." / ".." or contain '/', so it cannot escape the spool;
 *  - a spec that parses serialises (qd_spec_to_json) to a body that parses
 *    again to the same JSON (what recovery relies on); failures name a problem
 *    type with a 4xx status and a non-empty detail;
 *  - a satisfiable Range lies inside the resource.
 */
#include <jansson.h>

#include "api/problem.h"
#include "api/route.h"
#include "api/spec.h"
#include "api/view.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(const char *s, bool allow_empty)
{
    if (allow_empty && s[0] == '\0')
        return;
    FUZZ_CHECK(qd_name_valid(s), "route name '%s' does not validate", s);
    FUZZ_CHECK(strchr(s, '/') == NULL && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 &&
                   s[0] != '.',
                   "unsafe name '%s'", s);
}

static void fuzz_route(const char *path)
{
    struct qd_route r;
    if (qd_route_match(path, &r) != 0) {
        FUZZ_CHECK(r.id == QD_R_NONE, "failed match leaves a route");
        return;
    }
    FUZZ_CHECK(r.id > QD_R_NONE && r.id < QD_R_COUNT, "route id %d", (int)r.id);
    if (r.id == QD_R_JOB || r.id == QD_R_JOB_EVENTS || r.id == QD_R_JOB_REPORT ||
        r.id == QD_R_JOB_ARTIFACT)
        FUZZ_CHECK(qd_job_id_valid(r.job), "job id '%s'", r.job);
    if (r.id == QD_R_JOB_ARTIFACT || r.id == QD_R_MODEL || r.id == QD_R_MODEL_FILE)
        check_name(r.name, false);
    if (r.id == QD_R_MODEL_FILE)
        check_name(r.file, false);
    FUZZ_CHECK(qd_route_label(r.id) != NULL && qd_route_allow(r.id) != NULL, "route tables");
    (void)qd_route_methods(r.id);
    (void)qd_route_public(r.id);
}

/* "k=v&k=v" without percent-decoding (the transport decodes). */
struct query {
    char *buf;
};

static const char *query_get(void *ud, const char *key)
{
    struct query *q = ud;
    size_t klen = strlen(key);
    for (char *p = q->buf; p && *p;) {
        char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            /* values are returned NUL-terminated in a scratch copy */
            static char val[4096];
            size_t vl = len - klen - 1 < sizeof val - 1 ? len - klen - 1 : sizeof val - 1;
            memcpy(val, p + klen + 1, vl);
            val[vl] = '\0';
            return val;
        }
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

static void check_problem(enum qd_problem p, const char *detail)
{
    FUZZ_CHECK(p > QD_P_NONE && p < QD_P_COUNT, "problem %d", (int)p);
    int st = qd_problem_status(p);
    FUZZ_CHECK(st >= 400 && st < 500, "a request problem must be 4xx, is %d (%s)", st,
               qd_problem_type(p));
    FUZZ_CHECK(detail[0] != '\0', "problem %s without detail", qd_problem_type(p));
}

static void fuzz_query(char *s)
{
    struct qd_spec spec;
    struct query q = {s};
    char detail[256] = "";
    qd_spec_init(&spec);
    enum qd_problem p = qd_spec_from_query(&spec, query_get, &q, 600, detail, sizeof detail);
    if (p != QD_P_NONE)
        check_problem(p, detail);
    else
        FUZZ_CHECK(spec.wait_s <= 600 && spec.scheme[0], "wait %lld", (long long)spec.wait_s);
    qd_spec_cleanup(&spec);
}

static void fuzz_json(const uint8_t *data, size_t size, bool need_model)
{
    struct qd_spec a, b;
    char detail[256] = "";
    qd_spec_init(&a);
    qd_spec_init(&b);
    enum qd_problem p = qd_spec_from_json(&a, (const char *)data, size, need_model, detail,
                                          sizeof detail);
    if (p != QD_P_NONE) {
        check_problem(p, detail);
    } else {
        if (a.model[0])
            check_name(a.model, false);
        json_t *j = qd_spec_to_json(&a);
        FUZZ_CHECK(j, "to_json");
        char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        FUZZ_CHECK(text, "dumps");
        p = qd_spec_from_json(&b, text, strlen(text), need_model, detail, sizeof detail);
        FUZZ_CHECK(p == QD_P_NONE, "persisted spec does not parse again: %s: %s", detail, text);
        json_t *j2 = qd_spec_to_json(&b);
        FUZZ_CHECK(j2 && json_equal(j, j2), "spec changes on a round trip: %s", text);
        json_decref(j2);
        free(text);
        json_decref(j);
    }
    qd_spec_cleanup(&a);
    qd_spec_cleanup(&b);
}

static void fuzz_range(const uint8_t *data, size_t size)
{
    uint64_t res = 0, start = 0, len = 0;
    if (size < 8)
        return;
    memcpy(&res, data, 8);
    res >>= (data[0] & 63); /* small sizes as often as large ones */
    char *hdr = fuzz_strndup(data + 8, size - 8);
    int rc = qd_view_parse_range(hdr, res, &start, &len);
    FUZZ_CHECK(rc >= -1 && rc <= 1, "rc %d", rc);
    if (rc == 1)
        FUZZ_CHECK(len > 0 && start < res && len <= res - start,
                   "range [%llu, +%llu) outside %llu bytes for '%s'", (unsigned long long)start,
                   (unsigned long long)len, (unsigned long long)res, hdr);
    free(hdr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (64u << 10))
        return 0;
    uint8_t sel = data[0];
    data++;
    size--;
    char *s = fuzz_strndup(data, size);
    unsigned char digest[32];
    switch (sel % 7) {
    case 0:
        fuzz_route(s);
        break;
    case 1:
        fuzz_query(s);
        break;
    case 2:
        fuzz_json(data, size, false);
        break;
    case 3:
        fuzz_json(data, size, true);
        break;
    case 4:
        (void)qd_spec_parse_digest(s, digest);
        break;
    case 5:
        fuzz_range(data, size);
        break;
    case 6:
        if (qd_job_id_valid(s))
            FUZZ_CHECK(strlen(s) == QD_JOB_ID_LEN && s[0] == 'j', "job id '%s'", s);
        if (qd_name_valid(s))
            check_name(s, false);
        (void)qd_route_method(s);
        break;
    }
    free(s);
    return 0;
}

/* api/route.c — path matching for API v1. */
#include "api/route.h"

#include <string.h>

enum qd_method qd_route_method(const char *m)
{
    if (strcmp(m, "GET") == 0) return QD_M_GET;
    if (strcmp(m, "HEAD") == 0) return QD_M_HEAD;
    if (strcmp(m, "POST") == 0) return QD_M_POST;
    if (strcmp(m, "PUT") == 0) return QD_M_PUT;
    if (strcmp(m, "DELETE") == 0) return QD_M_DELETE;
    return QD_M_OTHER;
}

bool qd_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > QD_MAX_NAME_LEN || s[0] == '.' || strstr(s, ".."))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

bool qd_job_id_valid(const char *s)
{
    if (strlen(s) != QD_JOB_ID_LEN || s[0] != 'j')
        return false;
    for (size_t i = 1; i < QD_JOB_ID_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* Split path into at most `max` segments (copied, NUL-terminated); returns
 * the count or -1 when a segment is empty or too long. */
#define SEG_MAX 6
static int split(const char *path, char seg[SEG_MAX][QD_MAX_NAME_LEN + 1])
{
    if (path[0] != '/')
        return -1;
    int n = 0;
    const char *p = path + 1;
    if (*p == '\0')
        return 0;
    for (;;) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0 || len > QD_MAX_NAME_LEN || n == SEG_MAX)
            return -1;
        memcpy(seg[n], p, len);
        seg[n][len] = '\0';
        n++;
        if (!e)
            break;
        p = e + 1;
    }
    return n;
}

static int set_job(struct qd_route *r, const char *id, enum qd_route_id rid)
{
    if (!qd_job_id_valid(id))
        return -1;
    memcpy(r->job, id, QD_JOB_ID_LEN + 1);
    r->id = rid;
    return 0;
}

static int match_v1(int n, char seg[SEG_MAX][QD_MAX_NAME_LEN + 1], struct qd_route *r)
{
    if (n == 2 && strcmp(seg[1], "capabilities") == 0) {
        r->id = QD_R_CAPABILITIES;
        return 0;
    }
    if (strcmp(seg[1], "jobs") == 0) {
        if (n == 2) {
            r->id = QD_R_JOBS;
            return 0;
        }
        if (n == 3)
            return set_job(r, seg[2], QD_R_JOB);
        if (n == 4 && strcmp(seg[3], "events") == 0)
            return set_job(r, seg[2], QD_R_JOB_EVENTS);
        if (n == 4 && strcmp(seg[3], "report") == 0)
            return set_job(r, seg[2], QD_R_JOB_REPORT);
        if (n == 5 && strcmp(seg[3], "artifacts") == 0 && qd_name_valid(seg[4])) {
            memcpy(r->name, seg[4], strlen(seg[4]) + 1);
            return set_job(r, seg[2], QD_R_JOB_ARTIFACT);
        }
        return -1;
    }
    if (strcmp(seg[1], "models") == 0 && (n == 3 || n == 4) &&
        (!qd_name_valid(seg[2]) || (n == 4 && !qd_name_valid(seg[3])))) {
        r->bad_name = true; /* answered with 400 rather than 404 */
        return -1;
    }
    if (strcmp(seg[1], "models") == 0 && (n == 3 || n == 4) && qd_name_valid(seg[2])) {
        memcpy(r->name, seg[2], strlen(seg[2]) + 1);
        if (n == 3) {
            r->id = QD_R_MODEL;
            return 0;
        }
        if (!qd_name_valid(seg[3]))
            return -1;
        memcpy(r->file, seg[3], strlen(seg[3]) + 1);
        r->id = QD_R_MODEL_FILE;
        return 0;
    }
    return -1;
}

int qd_route_match(const char *path, struct qd_route *r)
{
    memset(r, 0, sizeof *r);
    if (strlen(path) > QD_MAX_PATH_LEN)
        return -1;
    char seg[SEG_MAX][QD_MAX_NAME_LEN + 1];
    int n = split(path, seg);
    if (n <= 0) {
        /* e.g. a name longer than QD_MAX_NAME_LEN */
        r->bad_name = n < 0 && strncmp(path, "/v1/models/", 11) == 0;
        return -1;
    }
    if (n == 1) {
        if (strcmp(seg[0], "livez") == 0) r->id = QD_R_LIVEZ;
        else if (strcmp(seg[0], "readyz") == 0) r->id = QD_R_READYZ;
        else if (strcmp(seg[0], "metrics") == 0) r->id = QD_R_METRICS;
        return r->id == QD_R_NONE ? -1 : 0;
    }
    if (strcmp(seg[0], "v1") != 0 || match_v1(n, seg, r) != 0) {
        bool bad = r->bad_name;
        memset(r, 0, sizeof *r);
        r->bad_name = bad;
        return -1;
    }
    return 0;
}

struct route_info {
    unsigned methods;
    const char *allow;
    const char *label;
};

#define GH (QD_M_GET | QD_M_HEAD)
static const struct route_info info[QD_R_COUNT] = {
    [QD_R_NONE] = {0, "", "other"},
    [QD_R_LIVEZ] = {GH, "GET, HEAD", "/livez"},
    [QD_R_READYZ] = {GH, "GET, HEAD", "/readyz"},
    [QD_R_METRICS] = {GH, "GET, HEAD", "/metrics"},
    [QD_R_CAPABILITIES] = {GH, "GET, HEAD", "/v1/capabilities"},
    [QD_R_JOBS] = {GH | QD_M_POST, "GET, HEAD, POST", "/v1/jobs"},
    [QD_R_JOB] = {GH | QD_M_DELETE, "GET, HEAD, DELETE", "/v1/jobs/{id}"},
    [QD_R_JOB_EVENTS] = {QD_M_GET, "GET", "/v1/jobs/{id}/events"},
    [QD_R_JOB_REPORT] = {GH, "GET, HEAD", "/v1/jobs/{id}/report"},
    [QD_R_JOB_ARTIFACT] = {GH, "GET, HEAD", "/v1/jobs/{id}/artifacts/{name}"},
    [QD_R_MODEL] = {GH | QD_M_PUT | QD_M_DELETE, "GET, HEAD, PUT, DELETE", "/v1/models/{name}"},
    [QD_R_MODEL_FILE] = {QD_M_PUT, "PUT", "/v1/models/{name}/{file}"},
};

unsigned qd_route_methods(enum qd_route_id id)
{
    return id < QD_R_COUNT ? info[id].methods : 0;
}

const char *qd_route_allow(enum qd_route_id id)
{
    return id < QD_R_COUNT ? info[id].allow : "";
}

const char *qd_route_label(enum qd_route_id id)
{
    return id < QD_R_COUNT ? info[id].label : "other";
}

bool qd_route_public(enum qd_route_id id)
{
    return id == QD_R_LIVEZ || id == QD_R_READYZ || id == QD_R_METRICS;
}

bool qd_route_streams_body(enum qd_route_id id, enum qd_method m, bool json_body)
{
    if (id == QD_R_JOBS && m == QD_M_POST)
        return !json_body;
    return (id == QD_R_MODEL || id == QD_R_MODEL_FILE) && m == QD_M_PUT;
}

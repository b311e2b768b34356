/* tests/integration/harness.c — see harness.h. */
#define _GNU_SOURCE 1
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int read_port(const char *dir)
{
    char path[300];
    snprintf(path, sizeof path, "%s/port", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char buf[16] = {0};
    int port = -1;
    if (fgets(buf, sizeof buf, f)) {
        char *end = NULL;
        long v = strtol(buf, &end, 10);
        if (end != buf && v > 0 && v < 65536)
            port = (int)v;
    }
    fclose(f);
    return port;
}

int daemon_start(struct daemon *d, const char *dir, const char *const *extra)
{
    memset(d, 0, sizeof *d);
    if (dir) {
        snprintf(d->dir, sizeof d->dir, "%s", dir);
    } else {
        snprintf(d->dir, sizeof d->dir, "/tmp/quantd-it-XXXXXX");
        if (!mkdtemp(d->dir))
            return -1;
    }
    char portfile[300], logfile[300];
    snprintf(portfile, sizeof portfile, "%s/port", d->dir);
    snprintf(logfile, sizeof logfile, "%s.log", d->dir);
    unlink(portfile);
    const char *argv[64];
    int n = 0;
    argv[n++] = QD_BINARY;
    argv[n++] = "serve";
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--state-dir";
    argv[n++] = d->dir;
    argv[n++] = "--min-free-disk";
    argv[n++] = "0";
    for (const char *const *e = extra; e && *e && n < 62; e++)
        argv[n++] = *e;
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        /* stdout too: a daemon left behind by a failed test must not hold
         * the test runner's output pipe open */
        int fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(QD_BINARY, (char *const *)argv);
        _exit(127);
    }
    d->pid = pid;
    for (int i = 0; i < 1500; i++) { /* 15 s */
        if (!daemon_alive(d))
            return -1;
        int port = read_port(d->dir);
        if (port > 0) {
            d->port = port;
            snprintf(d->base, sizeof d->base, "http://127.0.0.1:%d", port);
            struct resp r;
            char url[128];
            snprintf(url, sizeof url, "%s/readyz", d->base);
            http(&r, "GET", url, NULL, NULL, 0, NULL);
            long st = r.status;
            resp_free(&r);
            if (st == 200)
                return 0;
        }
        nap_ms(10);
    }
    return -1;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void rm_tree(const char *dir)
{
    if (dir && dir[0])
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void daemon_cleanup(struct daemon *d)
{
    char log[300];
    snprintf(log, sizeof log, "%s.log", d->dir);
    rm_tree(d->dir);
    unlink(log);
}

int run_quantd(const char *const *args)
{
    const char *argv[64];
    int n = 0;
    argv[n++] = QD_BINARY;
    for (const char *const *a = args; *a && n < 63; a++)
        argv[n++] = *a;
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(QD_BINARY, (char *const *)argv);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

bool daemon_alive(struct daemon *d)
{
    if (d->pid <= 0)
        return false;
    int st;
    pid_t r = waitpid(d->pid, &st, WNOHANG);
    if (r == d->pid) {
        d->pid = 0;
        return false;
    }
    return true;
}

int daemon_stop(struct daemon *d)
{
    if (d->pid <= 0)
        return -1;
    kill(d->pid, SIGTERM);
    for (int i = 0; i < 3000; i++) { /* 30 s */
        int st;
        pid_t r = waitpid(d->pid, &st, WNOHANG);
        if (r == d->pid) {
            d->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        nap_ms(10);
    }
    daemon_kill(d);
    return -1;
}

void daemon_kill(struct daemon *d)
{
    if (d->pid <= 0)
        return;
    kill(d->pid, SIGKILL);
    int st;
    waitpid(d->pid, &st, 0);
    d->pid = 0;
}

struct sink {
    char *p;
    size_t len;
};

static size_t sink_write(char *data, size_t sz, size_t n, void *ud)
{
    struct sink *s = ud;
    size_t add = sz * n;
    char *np = realloc(s->p, s->len + add + 1);
    if (!np)
        return 0;
    memcpy(np + s->len, data, add);
    s->p = np;
    s->len += add;
    s->p[s->len] = '\0';
    return add;
}

int http(struct resp *r, const char *method, const char *url, const char *body_path,
         const char *body, size_t body_len, const char *const *headers)
{
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    struct sink b = {0}, h = {0};
    struct curl_slist *hl = NULL;
    for (const char *const *p = headers; p && *p; p++)
        hl = curl_slist_append(hl, *p);
    FILE *f = NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, sink_write);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    if (body_path) {
        f = fopen(body_path, "rb");
        struct stat st;
        if (!f || fstat(fileno(f), &st) != 0)
            goto out;
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READDATA, f);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
    } else if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    r->curl_rc = (int)curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
out:
    if (f)
        fclose(f);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    r->body = b.p ? b.p : strdup("");
    r->len = b.len;
    r->headers = h.p ? h.p : strdup("");
    return r->curl_rc;
}

void resp_free(struct resp *r)
{
    free(r->body);
    free(r->headers);
    r->body = r->headers = NULL;
}

const char *resp_header(const struct resp *r, const char *name, char *buf, size_t len)
{
    size_t nl = strlen(name);
    for (const char *p = r->headers; p && *p;) {
        const char *e = strstr(p, "\r\n");
        size_t ll = e ? (size_t)(e - p) : strlen(p);
        if (ll > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = ll - (size_t)(v - p);
            if (vl >= len)
                vl = len - 1;
            memcpy(buf, v, vl);
            buf[vl] = '\0';
            return buf;
        }
        if (!e)
            break;
        p = e + 2;
    }
    return NULL;
}

int raw_request(int port, const char *req, size_t len, char *out, size_t outlen)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int status = -1;
    size_t got = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        goto out;
    if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len)
        goto out;
    while (got + 1 < outlen) {
        ssize_t n = recv(fd, out + got, outlen - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        out[got] = '\0';
        if (strstr(out, "\r\n\r\n"))
            break; /* the status line and headers are enough */
    }
    out[got] = '\0';
    if (got > 12 && strncmp(out, "HTTP/1.", 7) == 0)
        status = (int)strtol(out + 9, NULL, 10);
out:
    close(fd);
    return status;
}

void sha256_hex(const void *p, size_t n, char hex[65])
{
    unsigned char d[32];
    unsigned int dl = 0;
    EVP_Digest(p, n, d, &dl, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

const char *wait_job(struct daemon *d, const char *id, int timeout_s, char *buf, size_t len)
{
    char url[256];
    snprintf(url, sizeof url, "%s/v1/jobs/%s", d->base, id);
    for (int i = 0; i < timeout_s * 50; i++) {
        struct resp r;
        http(&r, "GET", url, NULL, NULL, 0, NULL);
        json_t *o = json_loads(r.body, 0, NULL);
        const char *st = json_string_value(json_object_get(o, "state"));
        snprintf(buf, len, "%s", st ? st : (r.status == 404 ? "gone" : "?"));
        json_decref(o);
        resp_free(&r);
        if (strcmp(buf, "succeeded") == 0 || strcmp(buf, "failed") == 0 ||
            strcmp(buf, "canceled") == 0 || strcmp(buf, "gone") == 0)
            return buf;
        nap_ms(20);
    }
    return buf;
}

json_t *body_json(const struct resp *r)
{
    json_t *o = json_loadb(r->body, r->len, 0, NULL);
    assert_non_null(o);
    return o;
}

void assert_problem(const struct resp *r, long status, const char *type)
{
    assert_int_equal(r->status, status);
    char ct[128];
    assert_non_null(resp_header(r, "Content-Type", ct, sizeof ct));
    assert_string_equal(ct, "application/problem+json");
    json_t *o = body_json(r);
    assert_string_equal(json_string_value(json_object_get(o, "type")), type);
    assert_int_equal(json_integer_value(json_object_get(o, "status")), status);
    json_decref(o);
}

int daemon_teardown(struct daemon *d)
{
    int rc = daemon_stop(d);
    if (rc == 0)
        daemon_cleanup(d);
    curl_global_cleanup();
    return rc == 0 ? 0 : -1;
}

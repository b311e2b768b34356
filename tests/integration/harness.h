/* tests/integration/harness.h — start the real `quantd serve` on 127.0.0.1
 * with an ephemeral port and a temp state dir, wait for /readyz by polling
 * (no fixed sleeps), and talk to it with libcurl (with timeouts) or raw
 * sockets (for framing the client library would not send). */
#ifndef QD_TEST_HARNESS_H
#define QD_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct daemon {
    pid_t pid;
    int port;
    char dir[256];      /* state dir */
    char base[64];      /* http://127.0.0.1:PORT */
};

struct resp {
    long status;
    char *body;
    size_t len;
    char *headers;      /* raw header block */
    int curl_rc;
};

/* Start with extra flags (NULL-terminated). dir: reuse a state dir, or NULL
 * for a fresh one. Returns 0 when /readyz answered 200 within 15 s. */
int daemon_start(struct daemon *d, const char *dir, const char *const *extra);
/* SIGTERM and wait; returns the exit status (or -1). */
int daemon_stop(struct daemon *d);
/* SIGKILL and reap. */
void daemon_kill(struct daemon *d);
bool daemon_alive(struct daemon *d);
/* Remove the state dir and its log (a test calls it when it passed: a
 * failing test leaves them for a look). */
void daemon_cleanup(struct daemon *d);
/* Remove a directory tree. */
void rm_tree(const char *dir);
/* Run `quantd ARGS...` (NULL-terminated), stdout/stderr to /dev/null;
 * returns its exit status. */
int run_quantd(const char *const *args);

/* One request. body_path: a file streamed as the body (curl -T style);
 * body/body_len: an in-memory body; headers: NULL-terminated "K: V". */
int http(struct resp *r, const char *method, const char *url, const char *body_path,
         const char *body, size_t body_len, const char *const *headers);
void resp_free(struct resp *r);
/* Header value (case-insensitive name) copied into buf, or NULL. */
const char *resp_header(const struct resp *r, const char *name, char *buf, size_t len);

/* Send raw bytes, read the answer until close or timeout; returns the
 * status code of the first line (or -1). */
int raw_request(int port, const char *req, size_t len, char *out, size_t outlen);

/* SHA-256 of a buffer or a file, hex. */
void sha256_hex(const void *p, size_t n, char hex[65]);

/* Poll GET /v1/jobs/ID until its state is final (<= timeout_s); returns
 * the state name in buf. */
const char *wait_job(struct daemon *d, const char *id, int timeout_s, char *buf, size_t len);

/* For the cmocka tests (harness.c's asserts fail the running test): */
/* The body parsed as JSON (asserted). */
struct json_t;
struct json_t *body_json(const struct resp *r);
/* A problem+json answer of this status and type. */
void assert_problem(const struct resp *r, long status, const char *type);
/* Stop the shared daemon (exit 0 expected), remove its state when it did,
 * and end libcurl: a group teardown. */
int daemon_teardown(struct daemon *d);

#endif

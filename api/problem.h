/* api/problem.h — RFC 9457 problem details: the one table that maps each
 * error to its HTTP status and its stable `type` name (DESIGN.md §4).
 *
 * The `type` member is the bare stable name ("queue-full"), a relative URI
 * reference as RFC 9457 allows; clients switch on it. Thread-safe (constant
 * data); returned JSON values are owned by the caller.
 */
#ifndef QD_API_PROBLEM_H
#define QD_API_PROBLEM_H

#include <jansson.h>

enum qd_problem {
    QD_P_NONE = 0,              /* not an error */
    QD_P_INVALID_SPEC,          /* 400 bad query, JSON or field */
    QD_P_UNKNOWN_SCHEME,        /* 400 scheme/type name not known */
    QD_P_UNSUPPORTED_FORMAT,    /* 415 not GGUF or safetensors (by magic) */
    QD_P_UNSUPPORTED_MODEL,     /* 422 valid model we cannot process */
    QD_P_MALFORMED_MODEL,       /* 422 broken header (the core's message) */
    QD_P_UPLOAD_TOO_LARGE,      /* 413 */
    QD_P_DIGEST_MISMATCH,       /* 400 Content-Digest differs from the body */
    QD_P_QUEUE_FULL,            /* 429 + Retry-After */
    QD_P_JOB_NOT_FOUND,         /* 404 */
    QD_P_MODEL_NOT_FOUND,       /* 404 */
    QD_P_JOB_NOT_DONE,          /* 409 */
    QD_P_UNAUTHORIZED,          /* 401 + WWW-Authenticate */
    QD_P_INSUFFICIENT_STORAGE,  /* 507 */
    QD_P_DRAINING,              /* 503 */
    QD_P_NOT_FOUND,             /* 404 no such route or artifact */
    QD_P_METHOD_NOT_ALLOWED,    /* 405 + Allow */
    QD_P_BAD_REQUEST,           /* 400 HTTP framing (duplicate Content-Length...) */
    QD_P_RANGE_NOT_SATISFIABLE, /* 416 */
    QD_P_INTERNAL,              /* 500 */
    QD_P_COUNT
};

/* HTTP status of a problem (500 for an unknown value). */
int qd_problem_status(enum qd_problem p);

/* Stable type name ("queue-full"). */
const char *qd_problem_type(enum qd_problem p);

/* Short human title ("Queue full"). */
const char *qd_problem_title(enum qd_problem p);

/* {"type","title","status","detail","instance"}; detail/instance may be
 * NULL (omitted). NULL on allocation failure. */
json_t *qd_problem_json(enum qd_problem p, const char *detail, const char *instance);

/* The problem for a core error code (QCORE_E*). */
enum qd_problem qd_problem_from_qcore(int code);

#endif

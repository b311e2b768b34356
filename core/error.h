/* core/error.h — the one error vocabulary of the core library.
 *
 * Functions that can fail return 0 or a negative QCORE_E* code and, when the
 * caller passes one, fill a struct qcore_error with a one-line message that
 * names the problem (and the file offset where it applies).
 */
#ifndef QCORE_ERROR_H
#define QCORE_ERROR_H

#include <stdint.h>

enum qcore_errcode {
    QCORE_OK = 0,
    QCORE_EINVAL = -1,      /* bad argument or option (caller's fault) */
    QCORE_ENOMEM = -2,      /* allocation failed */
    QCORE_EIO = -3,         /* read/write/fsync failed (errno kept) */
    QCORE_EFORMAT = -4,     /* input is not a known model format */
    QCORE_EMALFORMED = -5,  /* input looks like a known format but is broken */
    QCORE_EUNSUPPORTED = -6,/* valid input we cannot handle (type, dims...) */
    QCORE_ELIMIT = -7,      /* a resource ceiling of limits.h was exceeded */
    QCORE_ENOSPC = -8,      /* disk full while writing */
    QCORE_ECANCELED = -9,   /* the job was canceled */
    QCORE_EDATA = -10,      /* tensor data unusable (e.g. quantized to inf) */
};

#define QCORE_ERRMSG_MAX 320
#define QCORE_NO_OFFSET UINT64_MAX

struct qcore_error {
    int code;              /* enum qcore_errcode */
    int sys_errno;         /* errno for QCORE_EIO/ENOSPC, else 0 */
    uint64_t offset;       /* file offset the message refers to, or QCORE_NO_OFFSET */
    char msg[QCORE_ERRMSG_MAX];
};

/* Fill `err` (may be NULL) and return `code`. printf-style. */
int qcore_error_set(struct qcore_error *err, int code, uint64_t offset,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Stable short name of a code: "malformed", "unsupported", ... */
const char *qcore_strerror(int code);

#endif

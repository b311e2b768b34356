/* core/error.c — error messages. */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>

int qcore_error_set(struct qcore_error *err, int code, uint64_t offset, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        err->sys_errno = 0;
        err->offset = offset;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *qcore_strerror(int code)
{
    switch (code) {
    case QCORE_OK: return "ok";
    case QCORE_EINVAL: return "invalid-argument";
    case QCORE_ENOMEM: return "out-of-memory";
    case QCORE_EIO: return "io-error";
    case QCORE_EFORMAT: return "unsupported-format";
    case QCORE_EMALFORMED: return "malformed-model";
    case QCORE_EUNSUPPORTED: return "unsupported";
    case QCORE_ELIMIT: return "limit-exceeded";
    case QCORE_ENOSPC: return "insufficient-storage";
    case QCORE_ECANCELED: return "canceled";
    case QCORE_EDATA: return "invalid-data";
    default: return "unknown-error";
    }
}

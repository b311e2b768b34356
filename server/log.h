/* server/log.h — structured logs: one JSON object per line on stderr.
 *
 * Every line has "ts" (RFC 3339 UTC with milliseconds), "level" and "msg";
 * request lines add "req_id", "method", "path", "status", "bytes_in",
 * "bytes_out", "dur_ms"; job lines add "job". Fields are documented in
 * docs/api.md. The macros test the level before evaluating their arguments.
 * Thread-safe (one fputs per line), but the daemon logs from the loop
 * thread only.
 */
#ifndef QD_LOG_H
#define QD_LOG_H

#include <jansson.h>

#include "config/config.h"

/* Set the lowest level written (enum qd_log_level). */
void qd_log_set_level(int level);
int qd_log_level(void);

/* A message, printf-style. */
void qd_logf(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A message with extra fields; `fields` (an object, may be NULL) is consumed. */
void qd_log_json(int level, const char *msg, json_t *fields);

#define QD_LOG_ON(level) ((level) >= qd_log_level())
#define QD_LOGF(level, ...)                                                                   \
    do {                                                                                      \
        if (QD_LOG_ON(level))                                                                 \
            qd_logf((level), __VA_ARGS__);                                                    \
    } while (0)

#endif

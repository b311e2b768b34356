/* config/config.h — the daemon's settings: one table, three sources.
 *
 * Every setting has a name, a type, a default, bounds and a help line in
 * the table of config.c. The config file (INI, parsed with libinih; keys at
 * top level or in a [quantd] section), QUANTD_<NAME> environment variables
 * and --<name-with-dashes> flags all go through the same parser, applied in
 * the order defaults < file < environment < flags. The first unknown key or
 * bad value stops loading with a message naming its source (file:line,
 * environment variable or flag) and the reason.
 *
 * Not thread-safe; load once at start-up, then treat as read-only.
 */
#ifndef QD_CONFIG_H
#define QD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define QD_CONFIG_PATH_MAX 1024
#define QD_CONFIG_ERR_MAX 512

enum qd_log_level { QD_LOG_DEBUG = 0, QD_LOG_INFO, QD_LOG_WARN, QD_LOG_ERROR };

struct qd_config {
    char listen_host[256];
    uint16_t listen_port;          /* 0: an ephemeral port */
    char state_dir[QD_CONFIG_PATH_MAX];
    char config_file[QD_CONFIG_PATH_MAX]; /* the file that was read, or "" */
    char token_file[QD_CONFIG_PATH_MAX];  /* "" = no authentication */
    uint64_t max_upload_bytes;
    uint64_t chunk_bytes;
    uint64_t min_free_disk;        /* readiness and uploads need this much free */
    int64_t max_queued_jobs;
    int64_t max_running_jobs;
    int64_t threads;               /* resolved: never 0 after load */
    int64_t max_connections;
    int64_t max_uploads;           /* uploads in progress (writer threads) */
    int64_t connection_timeout_s;
    int64_t max_wait_s;            /* ceiling of ?wait= */
    int64_t drain_timeout_s;
    int64_t retention_s;           /* 0: keep forever */
    int64_t log_level;             /* enum qd_log_level */
    bool check_only;               /* --check-config */
    bool help;                     /* --help */
};

/* Load the configuration from defaults, the config file (--config,
 * QUANTD_CONFIG, or /etc/quantd/quantd.conf when it exists), the
 * environment `envp` (NULL-terminated "K=V" strings; NULL: none) and the
 * flags argv[1..]. Returns 0, or -1 with a message in `err`. */
int qd_config_load(struct qd_config *c, int argc, char **argv, char *const *envp,
                   char *err, size_t errlen);

/* Print the settings table as --help text. */
void qd_config_usage(FILE *f);

/* Print the effective configuration as "name = value" lines. */
void qd_config_dump(const struct qd_config *c, FILE *f);

/* Parse "12", "64K", "3M", "64G", "1T" (powers of 1024) into *out.
 * Returns 0 or -1 (syntax, overflow). Exposed for tests. */
int qd_config_parse_size(const char *s, uint64_t *out);

/* Parse "30", "30s", "5m", "2h", "7d" into seconds. 0 or -1. */
int qd_config_parse_duration(const char *s, int64_t *out);

/* Split "HOST:PORT" or "[V6]:PORT". 0 or -1. */
int qd_config_parse_listen(const char *s, char *host, size_t hostlen, uint16_t *port);

#endif

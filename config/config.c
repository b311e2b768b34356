/* config/config.c — the settings table and its three sources. */
#include "config/config.h"

#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config/limits.h"

enum qd_ctype { QD_CT_PATH, QD_CT_LISTEN, QD_CT_SIZE, QD_CT_INT, QD_CT_DURATION, QD_CT_LEVEL };

struct qd_setting {
    const char *name;     /* file key; flag = --name with '-' for '_'; env = QUANTD_NAME */
    enum qd_ctype type;
    size_t off;           /* offset of the field in struct qd_config */
    const char *def;      /* default, parsed like any other value */
    int64_t min, max;     /* bounds for numbers (sizes: bytes, durations: seconds) */
    const char *help;
};

#define OFF(f) offsetof(struct qd_config, f)
#define GIB (INT64_C(1) << 30)
#define TIB (INT64_C(1) << 40)

/* The one table. Bounds say what is sane, not what is tuned. */
static const struct qd_setting settings[] = {
    {"listen", QD_CT_LISTEN, 0, "127.0.0.1:8080", 0, 0,
     "address and port to listen on, HOST:PORT (port 0: any free port, written to STATE_DIR/port)"},
    {"state_dir", QD_CT_PATH, OFF(state_dir), "./var", 0, 0,
     "state directory: uploads, jobs, artifacts, reports"},
    {"max_upload_bytes", QD_CT_SIZE, OFF(max_upload_bytes), "64G", 1024, 16 * TIB,
     "largest accepted upload (suffixes K, M, G, T)"},
    {"max_queued_jobs", QD_CT_INT, OFF(max_queued_jobs), "64", 1, 100000,
     "queued jobs before new submissions get 429"},
    {"max_running_jobs", QD_CT_INT, OFF(max_running_jobs), "2", 1, 256,
     "jobs running at once (they share the worker threads fairly)"},
    {"threads", QD_CT_INT, OFF(threads), "0", 0, QD_MAX_THREADS,
     "worker threads of the libuv pool (0: number of CPUs)"},
    {"chunk_bytes", QD_CT_SIZE, OFF(chunk_bytes), "4M", 64 << 10, 1 * GIB,
     "F32 input bytes per work item"},
    {"max_connections", QD_CT_INT, OFF(max_connections), "256", 1, 65536,
     "simultaneous HTTP connections"},
    {"max_uploads", QD_CT_INT, OFF(max_uploads), "64", 1, 4096,
     "uploads in progress at once (each has a writer thread and a 4 MiB buffer); more get 429"},
    {"connection_timeout", QD_CT_DURATION, OFF(connection_timeout_s), "60s", 1, 86400,
     "idle time before a connection is closed (suffixes s, m, h, d)"},
    {"max_wait", QD_CT_DURATION, OFF(max_wait_s), "600s", 0, QD_MAX_WAIT_S,
     "longest ?wait= a client may ask for"},
    {"drain_timeout", QD_CT_DURATION, OFF(drain_timeout_s), "30s", 0, 86400,
     "on SIGTERM, time given to running jobs before they are checkpointed for a restart"},
    {"token_file", QD_CT_PATH, OFF(token_file), "", 0, 0,
     "file of bearer tokens, one per line (empty: no authentication)"},
    {"retention", QD_CT_DURATION, OFF(retention_s), "7d", 0, 3650 * 86400LL,
     "finished jobs and uploads older than this are removed (0: keep forever)"},
    {"min_free_disk", QD_CT_SIZE, OFF(min_free_disk), "1G", 0, 16 * TIB,
     "free space the state directory needs to accept work and be ready"},
    {"log_level", QD_CT_LEVEL, OFF(log_level), "info", 0, 3, "debug, info, warn or error"},
};
#define N_SETTINGS (sizeof settings / sizeof settings[0])

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int qd_config_parse_size(const char *s, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    unsigned shift = 0;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    default: return -1;
    }
    if (*end == 'i' || *end == 'B') /* accept "64GiB", "64GB" */
        end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
    if (*end != '\0')
        return -1;
    if (shift && v > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

int qd_config_parse_duration(const char *s, int64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || v < 0)
        return -1;
    int64_t mul = 1;
    switch (*end) {
    case '\0': break;
    case 's': mul = 1; end++; break;
    case 'm': mul = 60; end++; break;
    case 'h': mul = 3600; end++; break;
    case 'd': mul = 86400; end++; break;
    default: return -1;
    }
    if (*end != '\0' || v > INT64_MAX / mul)
        return -1;
    *out = (int64_t)v * mul;
    return 0;
}

int qd_config_parse_listen(const char *s, char *host, size_t hostlen, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return -1;
    const char *h = s;
    size_t hl = (size_t)(colon - s);
    if (h[0] == '[') { /* [::1]:8080 */
        if (hl < 3 || h[hl - 1] != ']')
            return -1;
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= hostlen)
        return -1;
    const char *p = colon + 1;
    if (*p < '0' || *p > '9')
        return -1;
    errno = 0;
    char *end = NULL;
    unsigned long v = strtoul(p, &end, 10);
    if (errno || *end != '\0' || v > 65535)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (uint16_t)v;
    return 0;
}

static const struct qd_setting *find_setting(const char *name)
{
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (strcmp(settings[i].name, name) == 0)
            return &settings[i];
    return NULL;
}

/* Parse `value` into the setting's field. On failure writes the reason
 * (without the source) into err. */
static int setting_apply(struct qd_config *c, const struct qd_setting *s, const char *value,
                         char *err, size_t errlen)
{
    char *base = (char *)c;
    switch (s->type) {
    case QD_CT_PATH: {
        size_t n = strlen(value);
        if (n >= QD_CONFIG_PATH_MAX) {
            snprintf(err, errlen, "path longer than %d bytes", QD_CONFIG_PATH_MAX - 1);
            return -1;
        }
        memcpy(base + s->off, value, n + 1);
        return 0;
    }
    case QD_CT_LISTEN:
        if (qd_config_parse_listen(value, c->listen_host, sizeof c->listen_host,
                                   &c->listen_port) != 0) {
            snprintf(err, errlen, "'%s' is not HOST:PORT (port 0-65535)", value);
            return -1;
        }
        return 0;
    case QD_CT_SIZE: {
        uint64_t v = 0;
        if (qd_config_parse_size(value, &v) != 0) {
            snprintf(err, errlen, "'%s' is not a size (a number with K, M, G or T)", value);
            return -1;
        }
        if (v < (uint64_t)s->min || v > (uint64_t)s->max) {
            snprintf(err, errlen, "%s is out of range [%lld, %lld] bytes", value,
                     (long long)s->min, (long long)s->max);
            return -1;
        }
        memcpy(base + s->off, &v, sizeof v);
        return 0;
    }
    case QD_CT_INT:
    case QD_CT_DURATION: {
        int64_t v = 0;
        int rc;
        if (s->type == QD_CT_INT) {
            errno = 0;
            char *end = NULL;
            long long ll = strtoll(value, &end, 10);
            rc = (errno || end == value || *end != '\0') ? -1 : 0;
            v = ll;
        } else {
            rc = qd_config_parse_duration(value, &v);
        }
        if (rc != 0) {
            snprintf(err, errlen, "'%s' is not %s", value,
                     s->type == QD_CT_INT ? "an integer" : "a duration (30s, 5m, 2h, 7d)");
            return -1;
        }
        if (v < s->min || v > s->max) {
            snprintf(err, errlen, "%s is out of range [%lld, %lld]", value, (long long)s->min,
                     (long long)s->max);
            return -1;
        }
        memcpy(base + s->off, &v, sizeof v);
        return 0;
    }
    case QD_CT_LEVEL:
        for (int64_t i = 0; i < 4; i++) {
            if (strcasecmp(value, level_names[i]) == 0) {
                memcpy(base + s->off, &i, sizeof i);
                return 0;
            }
        }
        snprintf(err, errlen, "'%s' is not one of debug, info, warn, error", value);
        return -1;
    }
    snprintf(err, errlen, "internal: bad setting type");
    return -1;
}

struct ini_ctx {
    struct qd_config *c;
    char msg[QD_CONFIG_ERR_MAX];
};

/* libinih calls this per key; returning 0 makes ini_parse report the line. */
static int ini_cb(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *x = user;
    if (x->msg[0])
        return 1; /* keep only the first error */
    if (section[0] != '\0' && strcmp(section, "quantd") != 0) {
        snprintf(x->msg, sizeof x->msg, "unknown section [%s] (use [quantd] or none)", section);
        return 0;
    }
    const struct qd_setting *s = find_setting(name);
    if (!s) {
        snprintf(x->msg, sizeof x->msg, "unknown key '%s'", name);
        return 0;
    }
    char why[QD_CONFIG_ERR_MAX - 64];
    if (setting_apply(x->c, s, value, why, sizeof why) != 0) {
        snprintf(x->msg, sizeof x->msg, "%s: %s", name, why);
        return 0;
    }
    return 1;
}

static int load_file(struct qd_config *c, const char *path, char *err, size_t errlen)
{
    struct ini_ctx x = {.c = c};
    int line = ini_parse(path, ini_cb, &x);
    if (line == -1) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (line != 0) {
        snprintf(err, errlen, "%s:%d: %s", path, line, x.msg[0] ? x.msg : "syntax error");
        return -1;
    }
    size_t n = strlen(path);
    if (n < sizeof c->config_file)
        memcpy(c->config_file, path, n + 1);
    return 0;
}

static int load_env(struct qd_config *c, char *const *envp, char *err, size_t errlen)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        char key[96] = "QUANTD_";
        size_t k = strlen(key);
        for (const char *p = settings[i].name; *p && k + 1 < sizeof key; p++)
            key[k++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
        key[k] = '\0';
        for (char *const *e = envp; e && *e; e++) {
            if (strncmp(*e, key, k) != 0 || (*e)[k] != '=')
                continue;
            char why[QD_CONFIG_ERR_MAX - 128];
            if (setting_apply(c, &settings[i], *e + k + 1, why, sizeof why) != 0) {
                snprintf(err, errlen, "environment %s: %s", key, why);
                return -1;
            }
        }
    }
    return 0;
}

static const char *env_get(char *const *envp, const char *key)
{
    size_t k = strlen(key);
    for (char *const *e = envp; e && *e; e++)
        if (strncmp(*e, key, k) == 0 && (*e)[k] == '=')
            return *e + k + 1;
    return NULL;
}

/* The --config value, scanned before the others so flags still win. */
static const char *flag_config(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            return argv[i + 1];
        if (strncmp(argv[i], "--config=", 9) == 0)
            return argv[i] + 9;
    }
    return NULL;
}

enum { OPT_CONFIG = 1000, OPT_CHECK, OPT_HELP };

static int load_flags(struct qd_config *c, int argc, char **argv, char *err, size_t errlen)
{
    struct option opts[N_SETTINGS + 4];
    char names[N_SETTINGS][64];
    for (size_t i = 0; i < N_SETTINGS; i++) {
        size_t n = 0;
        for (const char *p = settings[i].name; *p && n + 1 < sizeof names[i]; p++)
            names[i][n++] = *p == '_' ? '-' : *p;
        names[i][n] = '\0';
        opts[i] = (struct option){names[i], required_argument, NULL, (int)i};
    }
    opts[N_SETTINGS] = (struct option){"config", required_argument, NULL, OPT_CONFIG};
    opts[N_SETTINGS + 1] = (struct option){"check-config", no_argument, NULL, OPT_CHECK};
    opts[N_SETTINGS + 2] = (struct option){"help", no_argument, NULL, OPT_HELP};
    opts[N_SETTINGS + 3] = (struct option){NULL, 0, NULL, 0};

    optind = 0; /* glibc: full re-initialisation, so loading twice works */
    opterr = 0;
    int ch, idx = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
        if (ch == OPT_CONFIG)
            continue;
        if (ch == OPT_CHECK) {
            c->check_only = true;
            continue;
        }
        if (ch == OPT_HELP || ch == 'h') {
            c->help = true;
            continue;
        }
        if (ch == '?' || ch == ':') {
            const char *bad = (optind > 0 && optind <= argc) ? argv[optind - 1] : "?";
            snprintf(err, errlen, "flag %s: unknown flag or missing value (see --help)", bad);
            return -1;
        }
        const struct qd_setting *s = &settings[ch];
        char why[QD_CONFIG_ERR_MAX - 128];
        if (setting_apply(c, s, optarg, why, sizeof why) != 0) {
            snprintf(err, errlen, "flag --%s: %s", names[ch], why);
            return -1;
        }
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
        return -1;
    }
    return 0;
}

int qd_config_load(struct qd_config *c, int argc, char **argv, char *const *envp, char *err,
                   size_t errlen)
{
    memset(c, 0, sizeof *c);
    err[0] = '\0';
    for (size_t i = 0; i < N_SETTINGS; i++) {
        char why[256];
        if (setting_apply(c, &settings[i], settings[i].def, why, sizeof why) != 0) {
            snprintf(err, errlen, "internal: default of %s: %s", settings[i].name, why);
            return -1;
        }
    }
    const char *file = flag_config(argc, argv);
    if (!file)
        file = env_get(envp, "QUANTD_CONFIG");
    if (!file && access("/etc/quantd/quantd.conf", R_OK) == 0)
        file = "/etc/quantd/quantd.conf";
    if (file && file[0] && load_file(c, file, err, errlen) != 0)
        return -1;
    if (load_env(c, envp, err, errlen) != 0)
        return -1;
    if (load_flags(c, argc, argv, err, errlen) != 0)
        return -1;
    if (c->threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->threads = n < 1 ? 1 : (n > QD_MAX_THREADS ? QD_MAX_THREADS : n);
    }
    if (c->state_dir[0] == '\0') {
        snprintf(err, errlen, "state_dir: must not be empty");
        return -1;
    }
    return 0;
}

void qd_config_usage(FILE *f)
{
    fputs("usage: quantd serve [options]\n\n"
          "Every option is also a config-file key (name with '_') and an environment\n"
          "variable QUANTD_NAME. Precedence: flags > environment > config file > defaults.\n\n"
          "  --config FILE        config file (QUANTD_CONFIG; default /etc/quantd/quantd.conf"
          " if present)\n"
          "  --check-config       validate the configuration, print it and exit\n",
          f);
    for (size_t i = 0; i < N_SETTINGS; i++) {
        char flag[64];
        size_t n = 0;
        for (const char *p = settings[i].name; *p && n + 1 < sizeof flag; p++)
            flag[n++] = *p == '_' ? '-' : *p;
        flag[n] = '\0';
        fprintf(f, "  --%-19s %s (default: %s)\n", flag, settings[i].help,
                settings[i].def[0] ? settings[i].def : "none");
    }
}

void qd_config_dump(const struct qd_config *c, FILE *f)
{
    fprintf(f, "config_file = %s\n", c->config_file[0] ? c->config_file : "(none)");
    fprintf(f, "listen = %s:%u\n", c->listen_host, (unsigned)c->listen_port);
    fprintf(f, "state_dir = %s\n", c->state_dir);
    fprintf(f, "max_upload_bytes = %llu\n", (unsigned long long)c->max_upload_bytes);
    fprintf(f, "max_queued_jobs = %lld\n", (long long)c->max_queued_jobs);
    fprintf(f, "max_running_jobs = %lld\n", (long long)c->max_running_jobs);
    fprintf(f, "threads = %lld\n", (long long)c->threads);
    fprintf(f, "chunk_bytes = %llu\n", (unsigned long long)c->chunk_bytes);
    fprintf(f, "max_connections = %lld\n", (long long)c->max_connections);
    fprintf(f, "connection_timeout = %llds\n", (long long)c->connection_timeout_s);
    fprintf(f, "max_wait = %llds\n", (long long)c->max_wait_s);
    fprintf(f, "drain_timeout = %llds\n", (long long)c->drain_timeout_s);
    fprintf(f, "token_file = %s\n", c->token_file);
    fprintf(f, "retention = %llds\n", (long long)c->retention_s);
    fprintf(f, "min_free_disk = %llu\n", (unsigned long long)c->min_free_disk);
    fprintf(f, "log_level = %s\n", level_names[c->log_level & 3]);
}

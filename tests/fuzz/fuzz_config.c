/* tests/fuzz/fuzz_config.c — the config loader on arbitrary file, environment
 * and flags.
 *
 * The input is cut at the first two NUL bytes into a config file (written
 * to a memfd, read through /proc/self/fd), environment lines and flag lines
 * (one per '\n'). qd_config_load must return 0 with settings inside their
 * documented bounds, or -1 with a one-line, NUL-terminated message; never
 * crash or leak. Note: libinih reads lines into a fixed buffer, so a long
 * line is cut, not overflowed.
 */
#include "config/config.h"
#include "config/limits.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LINES 32

/* Split s at '\n' into out (at most MAX_LINES), after `first` if given. */
static int split_lines(char *s, char **out, int n)
{
    for (char *p = s; p && *p && n < MAX_LINES;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        out[n++] = p;
        p = nl ? nl + 1 : NULL;
    }
    out[n] = NULL;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (16u << 10))
        return 0;
    const uint8_t *z1 = memchr(data, 0, size);
    size_t file_len = z1 ? (size_t)(z1 - data) : size;
    int fd = fuzz_memfd(data, file_len);
    if (fd < 0)
        return 0;
    char *rest = fuzz_strndup(z1 ? z1 + 1 : data + size, z1 ? size - file_len - 1 : 0);
    char *flags = strchr(rest, '\0'); /* rest holds "env\0flags" up to its first NUL */
    size_t rlen = z1 ? size - file_len - 1 : 0;
    char *fl = NULL;
    if (flags < rest + rlen)
        fl = flags + 1;
    char cfg_arg[64];
    snprintf(cfg_arg, sizeof cfg_arg, "--config=/proc/self/fd/%d", fd);
    char *argv[MAX_LINES + 3] = {"quantd", cfg_arg};
    char *envp[MAX_LINES + 1];
    split_lines(rest, envp, 0);
    int argc = fl ? split_lines(fl, argv + 2, 0) + 2 : 2;
    argv[argc] = NULL;

    struct qd_config c;
    char err[QD_CONFIG_ERR_MAX];
    int rc = qd_config_load(&c, argc, argv, envp, err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == -1, "rc %d", rc);
    if (rc == 0) {
        FUZZ_CHECK(c.threads >= 1 && c.threads <= QD_MAX_THREADS, "threads %lld",
                   (long long)c.threads);
        FUZZ_CHECK(memchr(c.listen_host, '\0', sizeof c.listen_host) &&
                       memchr(c.state_dir, '\0', sizeof c.state_dir) &&
                       memchr(c.token_file, '\0', sizeof c.token_file),
                   "unterminated string setting");
        FUZZ_CHECK(c.max_wait_s >= 0 && c.max_queued_jobs >= 0 && c.max_running_jobs >= 0,
                   "negative setting");
    } else {
        FUZZ_CHECK(memchr(err, '\0', sizeof err) && err[0], "no error message");
    }
    free(rest);
    close(fd);
    return 0;
}

/* tests/unit/test_cli.c — `quantd quantize` / `inspect` argument handling,
 * exit statuses, and what they leave on disk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "server/cli.h"
#include "testutil.h"

#define TINY QD_TEST_DATA "/models/tiny-llama-f32.gguf"

static char dir[256];

/* Run a subcommand with its output sent to files; returns the status. */
static int run(int (*fn)(int, char **), const char *const *args, size_t n)
{
    char *argv[32];
    assert_true(n < 32);
    for (size_t i = 0; i < n; i++)
        argv[i] = (char *)args[i];
    argv[n] = NULL;
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    char p[300];
    snprintf(p, sizeof p, "%s/stdout", dir);
    FILE *o = freopen(p, "w", stdout);
    snprintf(p, sizeof p, "%s/stderr", dir);
    FILE *e = freopen(p, "w", stderr);
    assert_non_null(o);
    assert_non_null(e);
    int rc = fn((int)n, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    return rc;
}

static char *captured(const char *which)
{
    char p[300];
    size_t len = 0;
    snprintf(p, sizeof p, "%s/%s", dir, which);
    uint8_t *b = tu_read_file(p, &len);
    assert_non_null(b);
    char *s = realloc(b, len + 1);
    s[len] = '\0';
    return s;
}

/* Files in the temp dir other than the captured output: none may be a temp file. */
static int count_leftovers(const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

static int setup(void **s)
{
    (void)s;
    snprintf(dir, sizeof dir, "/tmp/qdcli-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static void usage_errors_exit_2(void **s)
{
    (void)s;
    const char *a1[] = {"quantize"};
    assert_int_equal(run(qd_cli_quantize, a1, 1), 2);
    const char *a2[] = {"quantize", "--type", "q9_9", TINY, "/tmp/x.gguf"};
    assert_int_equal(run(qd_cli_quantize, a2, 5), 2);
    char *err = captured("stderr");
    assert_non_null(strstr(err, "unknown scheme 'q9_9'"));
    free(err);
    const char *a3[] = {"quantize", TINY, "/tmp/x.bin"};
    assert_int_equal(run(qd_cli_quantize, a3, 3), 2);
    const char *a4[] = {"quantize", "--tensor-type", "noequals", TINY, "/tmp/x.gguf"};
    assert_int_equal(run(qd_cli_quantize, a4, 5), 2);
    const char *a5[] = {"quantize", "--threads", "0", TINY, "/tmp/x.gguf"};
    assert_int_equal(run(qd_cli_quantize, a5, 5), 2);
    const char *a6[] = {"quantize", "--help"};
    assert_int_equal(run(qd_cli_quantize, a6, 2), 0);
    char *out = captured("stdout");
    assert_non_null(strstr(out, "--tensor-type"));
    free(out);
}

static void quantize_writes_output_and_report(void **s)
{
    (void)s;
    char out[300], rep[300];
    snprintf(out, sizeof out, "%s/out.gguf", dir);
    snprintf(rep, sizeof rep, "%s/report.json", dir);
    const char *a[] = {"quantize", "-t", "Q8_0", "-j", "2", "--report", rep, TINY, out};
    assert_int_equal(run(qd_cli_quantize, a, 9), 0);
    struct stat st;
    assert_int_equal(stat(out, &st), 0);
    assert_int_equal(st.st_size, 5669728); /* llama-quantize's Q8_0 file size */
    json_t *r = json_load_file(rep, 0, NULL);
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(r, "scheme")), "Q8_0");
    json_t *to = json_object_get(r, "totals");
    assert_int_equal(json_integer_value(json_object_get(to, "tensors")), 39);
    assert_int_equal(json_integer_value(json_object_get(to, "file_bytes_out")), 5669728);
    assert_true(json_real_value(json_object_get(to, "sqnr_db")) > 30.0);
    assert_int_equal(json_array_size(json_object_get(r, "worst")), 5);
    json_decref(r);
    char *summary = captured("stdout");
    assert_non_null(strstr(summary, "worst SQNR"));
    free(summary);
    assert_int_equal(count_leftovers("out.gguf.tmp"), 0);
    unlink(out);
    unlink(rep);
}

/* The sha256 of a file, in hex. */
static void file_sha256(const char *path, char hex[65])
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    assert_non_null(c);
    assert_int_equal(EVP_DigestInit_ex(c, EVP_sha256(), NULL), 1);
    unsigned char buf[1 << 16], md[32];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        assert_int_equal(EVP_DigestUpdate(c, buf, n), 1);
    fclose(f);
    unsigned int mdlen = 0;
    assert_int_equal(EVP_DigestFinal_ex(c, md, &mdlen), 1);
    EVP_MD_CTX_free(c);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* --no-sync skips the fsync only: llama-quantize's Q8_0 bytes all the same
 * (sha256 from tests/data/models/manifest.json), nothing left behind. */
static void no_sync_writes_the_same_bytes(void **s)
{
    (void)s;
    char out[300], hex[65];
    snprintf(out, sizeof out, "%s/nosync.gguf", dir);
    const char *a[] = {"quantize", "-q", "--no-sync", "-t", "Q8_0", "-j", "2", TINY, out};
    assert_int_equal(run(qd_cli_quantize, a, 9), 0);
    file_sha256(out, hex);
    assert_string_equal(hex, "d642c2d7c8373fc49f46adc2f34f06146aee214b49cf7bac9d21c48fe59adb57");
    assert_int_equal(count_leftovers("nosync.gguf.tmp"), 0);
    unlink(out);
}

static void dry_run_writes_nothing(void **s)
{
    (void)s;
    char out[300];
    snprintf(out, sizeof out, "%s/dry.gguf", dir);
    const char *a[] = {"quantize", "--dry-run", "--type", "q4_k_m", TINY, out};
    assert_int_equal(run(qd_cli_quantize, a, 6), 0);
    struct stat st;
    assert_int_not_equal(stat(out, &st), 0);
    char *plan = captured("stdout");
    assert_non_null(strstr(plan, "blk.3.attn_v.weight"));
    assert_non_null(strstr(plan, "Q6_K"));
    assert_non_null(strstr(plan, "total: 39 tensors"));
    free(plan);
}

static void malformed_input_exits_2_and_leaves_nothing(void **s)
{
    (void)s;
    char in[300], out[300];
    snprintf(in, sizeof in, "%s/bad.gguf", dir);
    snprintf(out, sizeof out, "%s/badout.gguf", dir);
    /* GGUF magic, version 3, then a tensor count larger than the file */
    static const uint8_t bad[] = {'G', 'G', 'U', 'F', 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(tu_write_file(in, bad, sizeof bad), 0);
    const char *a[] = {"quantize", in, out};
    assert_int_equal(run(qd_cli_quantize, a, 3), 2);
    char *err = captured("stderr");
    assert_non_null(strstr(err, "offset"));
    assert_null(strchr(strchr(err, '\n') + 1, '\n')); /* one line */
    free(err);
    struct stat st;
    assert_int_not_equal(stat(out, &st), 0);
    assert_int_equal(count_leftovers("badout"), 0);
    const char *b[] = {"inspect", in};
    assert_int_equal(run(qd_cli_inspect, b, 2), 2);
    unlink(in);
}

static void same_file_is_refused(void **s)
{
    (void)s;
    char p[300];
    snprintf(p, sizeof p, "%s/self.gguf", dir);
    size_t len = 0;
    uint8_t *b = tu_read_file(TINY, &len);
    tu_write_file(p, b, len);
    free(b);
    const char *a[] = {"quantize", "-t", "q8_0", p, p};
    assert_int_equal(run(qd_cli_quantize, a, 5), 2);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal((size_t)st.st_size, len); /* untouched */
    unlink(p);
}

/* NaN/Inf sources: quantized, counted in the report, exit 0. */
static void nonfinite_input_is_flagged(void **s)
{
    (void)s;
    float x[2 * 64];
    for (int i = 0; i < 128; i++)
        x[i] = (float)i / 64.0f - 1.0f;
    x[5] = NAN;
    x[70] = INFINITY;
    char in[300], out[300], rep[300];
    snprintf(in, sizeof in, "%s/nan.safetensors", dir);
    snprintf(out, sizeof out, "%s/nan.gguf", dir);
    snprintf(rep, sizeof rep, "%s/nan.json", dir);
    assert_int_equal(tu_write_st_f32(in, "w", 2, 64, x), 0);
    const char *a[] = {"quantize", "-t", "q8_0", "--report", rep, in, out};
    assert_int_equal(run(qd_cli_quantize, a, 7), 0);
    json_t *r = json_load_file(rep, 0, NULL);
    assert_non_null(r);
    json_t *t0 = json_array_get(json_object_get(r, "tensors"), 0);
    assert_int_equal(json_integer_value(json_object_get(t0, "nonfinite_src")), 2);
    assert_true(json_integer_value(json_object_get(json_object_get(r, "totals"), "nonfinite_values")) >= 2);
    json_decref(r);
    unlink(in);
    unlink(out);
    unlink(rep);
}

static void inspect_lists_tensors(void **s)
{
    (void)s;
    const char *a[] = {"inspect", TINY};
    assert_int_equal(run(qd_cli_inspect, a, 2), 0);
    char *out = captured("stdout");
    assert_non_null(strstr(out, "format: GGUF v3"));
    assert_non_null(strstr(out, "general.architecture"));
    assert_non_null(strstr(out, "blk.0.ffn_down.weight"));
    free(out);
}

static int teardown(void **s)
{
    (void)s;
    char p[300];
    snprintf(p, sizeof p, "%s/stdout", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/stderr", dir);
    unlink(p);
    return rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(usage_errors_exit_2),
        cmocka_unit_test(quantize_writes_output_and_report),
        cmocka_unit_test(no_sync_writes_the_same_bytes),
        cmocka_unit_test(dry_run_writes_nothing),
        cmocka_unit_test(malformed_input_exits_2_and_leaves_nothing),
        cmocka_unit_test(same_file_is_refused),
        cmocka_unit_test(nonfinite_input_is_flagged),
        cmocka_unit_test(inspect_lists_tensors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

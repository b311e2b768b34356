/* tests/unit/test_job.c — the chunk executor end to end: whole files
 * byte-identical to llama-quantize's, golden tensors through the
 * safetensors -> GGUF path, chunking and thread independence, cancel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <math.h>
#include <string.h>

#include "core/formats/model.h"
#include "core/job.h"
#include "core/plan.h"
#include "core/report.h"
#include "testutil.h"

#define TINY QD_TEST_DATA "/models/tiny-llama-f32.gguf"

static void sha256_hex(const uint8_t *d, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned int len = 0;
    EVP_Digest(d, n, md, &len, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Quantize `in` with opts to a temp file; returns its bytes. */
static uint8_t *quantize_file(const char *in, struct qcore_plan_opts *o, int threads,
                              size_t chunk, size_t *len, json_t **report)
{
    struct qcore_model *m = NULL;
    struct qcore_plan *p = NULL;
    struct qcore_job *job = NULL;
    struct qcore_error err = {0};
    char out[256];
    tu_temp_path(out, sizeof out, ".out");
    assert_int_equal(qcore_model_open(in, &m, &err), 0);
    if (qcore_plan_build(m, o, &p, &err) != 0)
        fail_msg("plan: %s", err.msg);
    int fd = open(out, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    struct qcore_job_opts jo = {.chunk_bytes = chunk, .metrics = true};
    assert_int_equal(qcore_job_create(p, fd, &jo, &job, &err), 0);
    if (qcore_exec_run(job, threads, NULL, NULL, &err) != 0)
        fail_msg("run: %s", err.msg);
    if (report)
        *report = qcore_report_json(job, NULL, NULL);
    close(fd);
    qcore_job_destroy(job);
    qcore_plan_destroy(p);
    qcore_model_close(m);
    uint8_t *bytes = tu_read_file(out, len);
    unlink(out);
    assert_non_null(bytes);
    return bytes;
}

static const char *manifest_sha(const char *name)
{
    static char sha[65];
    json_t *man = json_load_file(QD_TEST_DATA "/models/manifest.json", 0, NULL);
    size_t i;
    json_t *f;
    sha[0] = '\0';
    json_array_foreach(json_object_get(man, "files"), i, f) {
        if (strcmp(json_string_value(json_object_get(f, "name")), name) == 0)
            snprintf(sha, sizeof sha, "%s", json_string_value(json_object_get(f, "sha256")));
    }
    json_decref(man);
    return sha;
}

static void tiny_model_matches(const char *ref, enum qcore_ftype ft, int threads, size_t chunk)
{
    struct qcore_plan_opts o;
    qcore_plan_opts_init(&o);
    o.ftype = ft;
    size_t len;
    uint8_t *out = quantize_file(TINY, &o, threads, chunk, &len, NULL);
    char got[65];
    sha256_hex(out, len, got);
    assert_string_equal(got, manifest_sha(ref));
    free(out);
}

static void tiny_q8_0_file_identical(void **s) { (void)s; tiny_model_matches("tiny-llama-Q8_0.gguf", QCORE_FTYPE_Q8_0, 2, 0); }
static void tiny_q4_0_file_identical(void **s) { (void)s; tiny_model_matches("tiny-llama-Q4_0.gguf", QCORE_FTYPE_Q4_0, 1, 0); }
static void tiny_q4_k_m_file_identical(void **s) { (void)s; tiny_model_matches("tiny-llama-Q4_K_M.gguf", QCORE_FTYPE_Q4_K_M, 2, 0); }
/* Tiny chunks (1 KiB of F32 = 256 elements) and 3 threads: same bytes. */
static void tiny_chunks_do_not_change_bytes(void **s) { (void)s; tiny_model_matches("tiny-llama-Q4_K_M.gguf", QCORE_FTYPE_Q4_K_M, 3, 1024); }

/* Every golden case and type through safetensors -> plan -> GGUF: the
 * tensor's bytes in the output equal the reference .q file. */
static void golden_through_safetensors(void **s)
{
    (void)s;
    static const char *const types[] = {"q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k",
                                        "q4_k", "q5_k", "q6_k", "iq4_nl", "f16", "bf16"};
    json_t *man = json_load_file(QD_TEST_DATA "/golden/manifest.json", 0, NULL);
    assert_non_null(man);
    size_t ci;
    json_t *c;
    int checked = 0;
    json_array_foreach(json_object_get(man, "cases"), ci, c) {
        const char *cname = json_string_value(json_object_get(c, "case"));
        int rows = (int)json_integer_value(json_object_get(c, "rows"));
        int cols = (int)json_integer_value(json_object_get(c, "cols"));
        char path[512], st[256];
        size_t in_len = 0, ref_len = 0, out_len = 0;
        snprintf(path, sizeof path, QD_TEST_DATA "/golden/%s.f32", cname);
        uint8_t *in = tu_read_file(path, &in_len);
        assert_non_null(in);
        tu_temp_path(st, sizeof st, ".safetensors");
        char tname[128];
        snprintf(tname, sizeof tname, "%s.weight", cname);
        assert_int_equal(tu_write_st_f32(st, tname, rows, cols, (const float *)in), 0);
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            snprintf(path, sizeof path, QD_TEST_DATA "/golden/%s.%s.q", cname, types[ti]);
            uint8_t *ref = tu_read_file(path, &ref_len);
            assert_non_null(ref);
            struct qcore_plan_opts o;
            qcore_plan_opts_init(&o);
            o.pure = true;
            assert_int_equal(qcore_ftype_from_name(types[ti], &o.ftype), 0);
            uint8_t *out = quantize_file(st, &o, 2, 4096, &out_len, NULL);
            /* one tensor: its data start at the (aligned) end of the header */
            struct qcore_model *m = NULL;
            char outp[256];
            tu_temp_path(outp, sizeof outp, ".gguf");
            tu_write_file(outp, out, out_len);
            assert_int_equal(qcore_model_open(outp, &m, NULL), 0);
            assert_int_equal(m->n_tensors, 1);
            assert_int_equal(m->tensors[0].ne[0], cols);
            assert_int_equal(m->tensors[0].ne[1], rows);
            assert_int_equal(m->tensors[0].nbytes, ref_len);
            if (memcmp(out + m->tensors[0].offset, ref, ref_len) != 0)
                fail_msg("%s %s: bytes differ", cname, types[ti]);
            qcore_model_close(m);
            unlink(outp);
            free(out);
            free(ref);
            checked++;
        }
        unlink(st);
        free(in);
    }
    assert_int_equal(checked, 15 * 13);
    json_decref(man);
}

/* The report's metrics agree with the reference's own error figures. */
static void report_metrics_match_reference_errors(void **s)
{
    (void)s;
    json_t *man = json_load_file(QD_TEST_DATA "/golden/manifest.json", 0, NULL);
    json_t *c = json_array_get(json_object_get(man, "cases"), 0); /* gaussian_4x256 */
    const char *cname = json_string_value(json_object_get(c, "case"));
    char path[512], st[256];
    size_t in_len, out_len;
    snprintf(path, sizeof path, QD_TEST_DATA "/golden/%s.f32", cname);
    uint8_t *in = tu_read_file(path, &in_len);
    tu_temp_path(st, sizeof st, ".safetensors");
    assert_int_equal(tu_write_st_f32(st, "w", 4, 256, (const float *)in), 0);
    struct qcore_plan_opts o;
    qcore_plan_opts_init(&o);
    o.ftype = QCORE_FTYPE_Q4_0;
    json_t *rep = NULL;
    free(quantize_file(st, &o, 1, 0, &out_len, &rep));
    json_t *t0 = json_array_get(json_object_get(rep, "tensors"), 0);
    double rmse = json_real_value(json_object_get(t0, "rmse"));
    double want = json_real_value(json_object_get(json_object_get(json_object_get(c, "files"), "q4_0"), "rmse"));
    assert_true(fabs(rmse - want) <= 1e-6 * want);
    double maxe = json_real_value(json_object_get(t0, "max_abs_err"));
    double wmax = json_real_value(json_object_get(json_object_get(json_object_get(c, "files"), "q4_0"), "max_abs_err"));
    assert_true(fabs(maxe - wmax) <= 1e-6 * wmax);
    double cos = json_real_value(json_object_get(t0, "cosine"));
    assert_true(cos > 0.99 && cos <= 1.0);
    assert_string_equal(json_string_value(json_object_get(t0, "dst_type")), "Q4_0");
    json_decref(rep);
    unlink(st);
    free(in);
    json_decref(man);
}

static void cancel_stops_chunks(void **s)
{
    (void)s;
    struct qcore_model *m = NULL;
    struct qcore_plan *p = NULL;
    struct qcore_job *job = NULL;
    struct qcore_error err = {0};
    char out[256];
    tu_temp_path(out, sizeof out, ".out");
    assert_int_equal(qcore_model_open(TINY, &m, NULL), 0);
    struct qcore_plan_opts o;
    qcore_plan_opts_init(&o);
    assert_int_equal(qcore_plan_build(m, &o, &p, &err), 0);
    int fd = open(out, O_RDWR | O_CREAT | O_TRUNC, 0600);
    struct qcore_job_opts jo = {0};
    assert_int_equal(qcore_job_create(p, fd, &jo, &job, &err), 0);
    assert_true(qcore_job_n_chunks(job) > 1);
    assert_int_equal(qcore_job_run_chunk(job, 0, &err), 0);
    qcore_job_cancel(job);
    assert_true(qcore_job_canceled(job));
    assert_int_equal(qcore_job_run_chunk(job, 1, &err), QCORE_ECANCELED);
    struct qcore_progress pr;
    qcore_job_progress(job, &pr);
    assert_int_equal(pr.chunks_done, 1);
    close(fd);
    unlink(out);
    qcore_job_destroy(job);
    qcore_plan_destroy(p);
    qcore_model_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tiny_q8_0_file_identical),
        cmocka_unit_test(tiny_q4_0_file_identical),
        cmocka_unit_test(tiny_q4_k_m_file_identical),
        cmocka_unit_test(tiny_chunks_do_not_change_bytes),
        cmocka_unit_test(golden_through_safetensors),
        cmocka_unit_test(report_metrics_match_reference_errors),
        cmocka_unit_test(cancel_stops_chunks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

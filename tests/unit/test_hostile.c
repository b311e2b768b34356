/* tests/unit/test_hostile.c — the core against the hostile-input corpus.
 *
 * Opens every file of tests/data/hostile/ (made by tests/hostile/make-corpus.py)
 * with qcore_model_open and checks the code its manifest names: "ok" files
 * open and keep model.h's promises, every other file is rejected with exactly
 * that QCORE_E* code and a one-line message, without a crash (this test runs
 * under ASan+UBSan too). The manifest's HTTP status and problem type must be
 * the ones the daemon derives from that code: the table below mirrors
 * qd_problem_from_qcore (api/problem.c) for the codes a model open returns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/formats/model.h"

#define CORPUS QD_TEST_DATA "/hostile"

static const struct {
    const char *name;
    int code;
    int status;
    const char *type; /* NULL: accepted */
} CODES[] = {
    {"ok", 0, 202, NULL},
    {"EFORMAT", QCORE_EFORMAT, 415, "unsupported-format"},
    {"EMALFORMED", QCORE_EMALFORMED, 422, "malformed-model"},
    {"ELIMIT", QCORE_ELIMIT, 422, "malformed-model"},
    {"EUNSUPPORTED", QCORE_EUNSUPPORTED, 422, "unsupported-model"},
};

static json_t *load_manifest(void)
{
    json_error_t je;
    json_t *m = json_load_file(CORPUS "/manifest.json", 0, &je);
    if (!m)
        fail_msg("manifest: %s (run tests/hostile/make-corpus.py)", je.text);
    return m;
}

static int code_row(const char *name)
{
    for (size_t i = 0; i < sizeof CODES / sizeof CODES[0]; i++)
        if (strcmp(CODES[i].name, name) == 0)
            return (int)i;
    fail_msg("manifest: unknown core code %s", name);
    return -1;
}

static void check_accepted(const struct qcore_model *m, const char *file)
{
    for (size_t i = 0; i < m->n_tensors; i++) {
        const struct qcore_tensor *t = &m->tensors[i];
        if (t->offset > m->file_size || t->nbytes > m->file_size - t->offset)
            fail_msg("%s: tensor %s outside the file", file, t->name);
    }
}

/* Every file: the core answers what the manifest says. */
static void test_corpus(void **state)
{
    (void)state;
    json_t *man = load_manifest();
    json_t *cases = json_object_get(man, "cases"), *c;
    size_t i, n_gguf = 0, n_st = 0, n_up = 0, failures = 0;
    assert_true(json_array_size(cases) >= 60);
    json_array_foreach(cases, i, c)
    {
        const char *file = json_string_value(json_object_get(c, "file"));
        const char *kind = json_string_value(json_object_get(c, "kind"));
        const char *core = json_string_value(json_object_get(c, "core"));
        assert_non_null(file);
        assert_non_null(kind);
        assert_non_null(core);
        n_gguf += strcmp(kind, "gguf") == 0;
        n_st += strcmp(kind, "safetensors") == 0;
        n_up += strcmp(kind, "upload") == 0;
        int row = code_row(core);
        /* the manifest's HTTP answer follows from the code (413 is the
         * transport's: the file itself is valid) */
        int status = (int)json_integer_value(json_object_get(c, "status"));
        const char *type = json_string_value(json_object_get(c, "type"));
        if (status != 413 && (status != CODES[row].status ||
                              (type == NULL) != (CODES[row].type == NULL) ||
                              (type && strcmp(type, CODES[row].type) != 0)))
            fail_msg("%s: manifest answer %d %s does not follow from %s", file, status,
                     type ? type : "-", core);

        char path[512];
        snprintf(path, sizeof path, "%s/%s", CORPUS, file);
        struct qcore_model *m = NULL;
        struct qcore_error err;
        memset(&err, 0, sizeof err);
        int rc = qcore_model_open(path, &m, &err);
        if (rc != CODES[row].code) {
            print_error("%s: expected %s, got %d (%s): %s\n", file, core, rc, qcore_strerror(rc),
                        err.msg);
            failures++;
        } else if (rc != 0 && (err.msg[0] == '\0' || strchr(err.msg, '\n'))) {
            print_error("%s: message not one line: '%s'\n", file, err.msg);
            failures++;
        }
        if (rc == 0)
            check_accepted(m, file);
        else
            assert_null(m);
        qcore_model_close(m);
    }
    json_decref(man);
    assert_true(n_gguf >= 30);
    assert_true(n_st >= 25);
    assert_true(n_up >= 5);
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

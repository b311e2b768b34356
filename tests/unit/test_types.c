/* tests/unit/test_types.c — the type table and scheme names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/types.h"

static void block_layouts_match_ggml(void **state)
{
    (void)state;
    static const struct { int t; uint32_t blk, size; } want[] = {
        {QCORE_TYPE_Q4_0, 32, 18}, {QCORE_TYPE_Q4_1, 32, 20}, {QCORE_TYPE_Q5_0, 32, 22},
        {QCORE_TYPE_Q5_1, 32, 24}, {QCORE_TYPE_Q8_0, 32, 34}, {QCORE_TYPE_Q2_K, 256, 84},
        {QCORE_TYPE_Q3_K, 256, 110}, {QCORE_TYPE_Q4_K, 256, 144}, {QCORE_TYPE_Q5_K, 256, 176},
        {QCORE_TYPE_Q6_K, 256, 210}, {QCORE_TYPE_IQ4_NL, 32, 18}, {QCORE_TYPE_F16, 1, 2},
        {QCORE_TYPE_BF16, 1, 2}, {QCORE_TYPE_F32, 1, 4},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const struct qcore_type_traits *t = qcore_type_traits(want[i].t);
        assert_non_null(t);
        assert_int_equal(t->block_size, want[i].blk);
        assert_int_equal(t->type_size, want[i].size);
    }
    /* removed ids and out-of-range ids are unknown */
    assert_null(qcore_type_traits(4));
    assert_null(qcore_type_traits(31));
    assert_null(qcore_type_traits(43));
    assert_null(qcore_type_traits(-1));
    assert_false(qcore_type_valid_gguf(QCORE_TYPE_U8));
}

static void names_are_case_insensitive(void **state)
{
    (void)state;
    enum qcore_type t;
    enum qcore_ftype f;
    assert_int_equal(qcore_type_from_name("q4_k", &t), 0);
    assert_int_equal(t, QCORE_TYPE_Q4_K);
    assert_int_equal(qcore_ftype_from_name("q4_k_m", &f), 0);
    assert_int_equal(f, QCORE_FTYPE_Q4_K_M);
    assert_int_equal(qcore_ftype_from_name("Q4_K", &f), 0);
    assert_int_equal(f, QCORE_FTYPE_Q4_K_M);
    assert_int_equal(qcore_ftype_from_name("bf16", &f), 0);
    assert_int_equal(f, QCORE_FTYPE_BF16);
    assert_int_equal(qcore_ftype_from_name("q9_9", &f), -1);
    assert_string_equal(qcore_ftype_name(QCORE_FTYPE_Q5_K_M), "Q5_K_M");
    assert_int_equal(qcore_ftype_default_type(QCORE_FTYPE_Q3_K_L), QCORE_TYPE_Q3_K);
}

static void nbytes_checks_blocks_and_overflow(void **state)
{
    (void)state;
    uint64_t n;
    assert_true(qcore_type_nbytes(QCORE_TYPE_Q4_K, 512, &n));
    assert_int_equal(n, 288);
    assert_false(qcore_type_nbytes(QCORE_TYPE_Q4_K, 100, &n));
    assert_false(qcore_type_nbytes(QCORE_TYPE_F64, UINT64_MAX / 4, &n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(block_layouts_match_ggml),
        cmocka_unit_test(names_are_case_insensitive),
        cmocka_unit_test(nbytes_checks_blocks_and_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

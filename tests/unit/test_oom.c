/* tests/unit/test_oom.c — allocation failures on the core's main paths.
 *
 * Each scenario is run once as a reference, then again and again with the
 * N-th allocation failing, for N = 0, 1, 2, ... until a run no longer
 * reaches N. A run with a failed allocation must either fail with
 * QCORE_ENOMEM (err filled, no temp file left in the output folder) or, if
 * the failure was tolerated, write exactly the reference output. No run may
 * leave a file descriptor open; leaks are LeakSanitizer's job (ASan build).
 *
 * Two phases per scenario, so that the run time stays small: phase 1 is
 * open + plan + job (+ the folder's index, config and copies), where every
 * allocation point costs at most one quantization; phase 2 builds the
 * plan JSON and the report from one finished run, which must come back NULL
 * or equal to the reference (report.h: "NULL on allocation failure").
 *
 * What is covered: the calls to malloc, calloc, realloc and strdup made by
 * libqcore's objects (the core uses no other allocator), which are linked
 * statically into this program with ld's --wrap (tests/unit/CMakeLists.txt),
 * and the allocations jansson makes on the core's behalf, through
 * json_set_alloc_funcs (json_object, json_pack, json_deep_copy...); a
 * jansson parse or dump counts as one point (see json_alloc below). Not
 * covered: the allocations libc makes inside itself (regcomp, opendir,
 * fopen's buffer, pthread_create's stack), and runs on more than one thread.
 *
 * QD_OOM_VERBOSE=1 prints every point; QD_OOM_ONLY=N runs point N alone;
 * QD_OOM_TRACE=1 prints the stack of each failed allocation (addr2line).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/formats/model.h"
#include "core/formats/safetensors.h"
#include "core/hf.h"
#include "core/job.h"
#include "core/plan.h"
#include "core/report.h"
#include "testutil.h"

#define TINY QD_TEST_DATA "/models/tiny-llama-f32.gguf"
#define CNN QD_TEST_DATA "/nets/cnn.safetensors"
#define LSTM QD_TEST_DATA "/nets/lstm.safetensors"

/* ---- the allocator -------------------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);

static atomic_bool armed;      /* count (and fail) allocations */
static atomic_long n_allocs;   /* allocations seen since armed */
static long fail_at = -1;      /* the one that fails */
static atomic_bool injected;   /* it was reached */
static bool trace;             /* QD_OOM_TRACE: print the failing call's stack */

/* Worker threads allocate too (the job's scratch buffers): atomics. With one
 * worker the allocation order is the same from run to run. */
static bool fail_now(void)
{
    if (!atomic_load(&armed) || atomic_fetch_add(&n_allocs, 1) != fail_at)
        return false;
    atomic_store(&injected, true);
    if (trace) {
        void *bt[16];
        backtrace_symbols_fd(bt, backtrace(bt, 16), 2);
    }
    errno = ENOMEM;
    return true;
}

void *__wrap_malloc(size_t n)
{
    return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return fail_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return fail_now() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    return fail_now() ? NULL : __real_strdup(s);
}

/* jansson's parser and encoder are not safe against a failed allocation in
 * the middle of their work: when the token buffer of the parser cannot grow
 * it drops the byte and goes on, changing a string or a number silently or
 * walking past the buffer when the byte was a closing quote (jansson issue
 * #362); the encoder ignores a failure while it writes an object key
 * (dump.c: "dump_string(key, ...);" unchecked), so json_dumps can return
 * text with part of a key missing. Neither is the core's to fix. So each
 * call of these five counts as one allocation point here: when it is the
 * one to fail, the first allocation inside the call fails (where jansson
 * does fail cleanly: NULL, or -1), and nothing fails inside otherwise. */
static _Thread_local bool in_jansson_call, fail_first_inside;

static void *json_alloc(size_t n)
{
    if (in_jansson_call) {
        bool fail = fail_first_inside;
        fail_first_inside = false;
        return fail ? NULL : __real_malloc(n);
    }
    return fail_now() ? NULL : __real_malloc(n);
}

static void jansson_call_begin(void)
{
    fail_first_inside = fail_now();
    in_jansson_call = true;
}

static void jansson_call_end(void)
{
    in_jansson_call = false;
    fail_first_inside = false;
}

json_t *__real_json_loads(const char *s, size_t flags, json_error_t *e);
json_t *__real_json_loadb(const char *b, size_t len, size_t flags, json_error_t *e);
json_t *__real_json_load_file(const char *path, size_t flags, json_error_t *e);
char *__real_json_dumps(const json_t *j, size_t flags);
int __real_json_dump_file(const json_t *j, const char *path, size_t flags);
json_t *__wrap_json_loads(const char *s, size_t flags, json_error_t *e);
json_t *__wrap_json_loadb(const char *b, size_t len, size_t flags, json_error_t *e);
json_t *__wrap_json_load_file(const char *path, size_t flags, json_error_t *e);
char *__wrap_json_dumps(const json_t *j, size_t flags);
int __wrap_json_dump_file(const json_t *j, const char *path, size_t flags);

json_t *__wrap_json_loads(const char *s, size_t flags, json_error_t *e)
{
    jansson_call_begin();
    json_t *j = __real_json_loads(s, flags, e);
    jansson_call_end();
    return j;
}

json_t *__wrap_json_loadb(const char *b, size_t len, size_t flags, json_error_t *e)
{
    jansson_call_begin();
    json_t *j = __real_json_loadb(b, len, flags, e);
    jansson_call_end();
    return j;
}

json_t *__wrap_json_load_file(const char *path, size_t flags, json_error_t *e)
{
    jansson_call_begin();
    json_t *j = __real_json_load_file(path, flags, e);
    jansson_call_end();
    return j;
}

char *__wrap_json_dumps(const json_t *j, size_t flags)
{
    jansson_call_begin();
    char *s = __real_json_dumps(j, flags);
    jansson_call_end();
    return s;
}

int __wrap_json_dump_file(const json_t *j, const char *path, size_t flags)
{
    jansson_call_begin();
    int rc = __real_json_dump_file(j, path, flags);
    jansson_call_end();
    return rc;
}

static void arm(long n)
{
    fail_at = n;
    atomic_store(&n_allocs, 0);
    atomic_store(&injected, false);
    atomic_store(&armed, true);
}

static void disarm(void)
{
    atomic_store(&armed, false);
}

/* ---- files ----------------------------------------------------------------- */

static char work[256]; /* the test's temp folder */

/* dir/name into p (the paths here stay far shorter than the buffers). */
static const char *path_in(char *p, size_t cap, const char *dir, const char *name)
{
    assert_true(snprintf(p, cap, "%s/%s", dir, name) < (int)cap);
    return p;
}

static bool is_dot(const char *name)
{
    return name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2]));
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        n += !is_dot(e->d_name);
    closedir(d);
    return n - 1; /* the DIR's own */
}

/* Empty and remove a folder (the work folder also holds folders left by
 * a failed scenario). */
static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d)) != NULL) {
        struct stat st;
        if (is_dot(e->d_name))
            continue;
        path_in(p, sizeof p, dir, e->d_name);
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            rm_dir(p);
        else
            unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* {file name: SHA-256} of a flat folder. */
static json_t *snapshot(const char *dir)
{
    json_t *s = json_object();
    DIR *d = opendir(dir);
    struct dirent *e;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        char p[512], hex[65];
        unsigned char md[32];
        unsigned int mdlen = 0;
        size_t len = 0;
        if (is_dot(e->d_name))
            continue;
        path_in(p, sizeof p, dir, e->d_name);
        uint8_t *b = tu_read_file(p, &len);
        assert_non_null(b);
        EVP_Digest(b, len, md, &mdlen, EVP_sha256(), NULL);
        free(b);
        for (int i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", md[i]);
        json_object_set_new(s, e->d_name, json_string(hex));
    }
    closedir(d);
    return s;
}

/* A failed run may leave partial outputs (the caller removes them) but no
 * ".quantd.*.tmp" of the folder writer. */
static bool temp_left(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    bool found = false;
    while (d && (e = readdir(d)) != NULL)
        found |= strncmp(e->d_name, ".quantd", 7) == 0;
    if (d)
        closedir(d);
    return found;
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char p[512];
    path_in(p, sizeof p, dir, name);
    assert_int_equal(tu_write_file(p, text, strlen(text)), 0);
}

/* A 2-shard Hugging Face folder of small BF16 tensors: embeddings and
 * lm_head (ignored by default), norms (1-D, copied), a projection that
 * takes int4's group of 128 and one that falls back to 32 (a second config
 * group); index, config.json, a tokenizer and a README copied along, a .bin
 * left out. */
static const struct tu_shard shards[2] = {
    {"model-00001-of-00002.safetensors",
     {"model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
      "model.layers.0.input_layernorm.weight"},
     {{64, 32}, {128, 64}, {64, 1}}},
    {"model-00002-of-00002.safetensors",
     {"model.layers.0.mlp.down_proj.weight", "model.norm.weight", "lm_head.weight"},
     {{96, 64}, {64, 1}, {64, 32}}},
};

static void write_shard(const char *dir, const struct tu_shard *sd, uint32_t seed)
{
    char p[512];
    assert_int_equal(tu_write_bf16_shard(path_in(p, sizeof p, dir, sd->file), sd, seed), 0);
}

static void make_folder(const char *dir)
{
    char p[512];
    json_t *wm = json_object();
    assert_int_equal(mkdir(dir, 0755), 0);
    for (int s = 0; s < 2; s++) {
        write_shard(dir, &shards[s], 100u + (uint32_t)s);
        for (int i = 0; i < 3; i++)
            json_object_set_new(wm, shards[s].names[i], json_string(shards[s].file));
    }
    json_t *idx = json_pack("{s:{s:I}, s:o}", "metadata", "total_size", (json_int_t)40000,
                            "weight_map", wm);
    path_in(p, sizeof p, dir, "model.safetensors.index.json");
    assert_int_equal(json_dump_file(idx, p, JSON_INDENT(2)), 0);
    json_decref(idx);
    write_text(dir, "config.json", "{\"model_type\": \"llama\", \"torch_dtype\": \"bfloat16\"}");
    write_text(dir, "tokenizer.json", "{\"version\": \"1.0\"}");
    write_text(dir, "README.md", "# a model\n");
    write_text(dir, "pytorch_model.bin", "not copied");
}

/* ---- the scenarios ---------------------------------------------------------- */

struct scenario {
    const char *name;
    const char *in;      /* a file, or a folder (folder = true) */
    bool folder;
    struct qcore_plan_opts o;
    size_t chunk_bytes;
};

/* What a successful phase 1 leaves for phase 2. */
struct run {
    struct qcore_hf_folder *f;
    struct qcore_model *m;
    struct qcore_plan **plans;
    struct qcore_plan *plan; /* file runs: plans = &plan */
    struct qcore_job *jobs[4];
    size_t n;
};

static void run_release(struct run *r)
{
    for (size_t i = 0; i < 4; i++)
        qcore_job_destroy(r->jobs[i]);
    if (r->f)
        qcore_hf_plans_destroy(r->plans, r->f->n_shards);
    else
        qcore_plan_destroy(r->plan);
    qcore_hf_close(r->f);
    qcore_model_close(r->m);
    memset(r, 0, sizeof *r);
}

/* Quantize plan i into out_dir/name: create, run on one thread, close. */
static int run_job(const struct scenario *sc, struct run *r, size_t i, const char *out_dir,
                   const char *name, struct qcore_error *err)
{
    char p[512];
    path_in(p, sizeof p, out_dir, name);
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    struct qcore_job_opts jo = {.chunk_bytes = sc->chunk_bytes, .metrics = true};
    int rc = qcore_job_create(r->plans[i], fd, &jo, &r->jobs[i], err);
    if (rc != 0)
        assert_null(r->jobs[i]);
    else
        rc = qcore_exec_run(r->jobs[i], 1, NULL, NULL, err);
    close(fd);
    return rc;
}

/* Phase 1: open, plan, quantize into out_dir (and the folder's other files). */
static int produce(const struct scenario *sc, const char *out_dir, struct run *r,
                   struct qcore_error *err)
{
    int rc;
    memset(r, 0, sizeof *r);
    if (!sc->folder) {
        rc = qcore_model_open(sc->in, &r->m, err);
        if (rc != 0) {
            assert_null(r->m);
            return rc;
        }
        rc = qcore_plan_build(r->m, &sc->o, &r->plan, err);
        if (rc != 0) {
            assert_null(r->plan);
            return rc;
        }
        r->plans = &r->plan;
        r->n = 1;
        return run_job(sc, r, 0, out_dir, "out", err);
    }
    rc = qcore_hf_open(sc->in, &r->f, err);
    if (rc != 0) {
        assert_null(r->f);
        return rc;
    }
    assert_true(r->f->n_shards <= 4);
    rc = qcore_hf_plan(r->f, &sc->o, &r->plans, err);
    if (rc != 0) {
        assert_null(r->plans);
        return rc;
    }
    r->n = r->f->n_shards;
    for (size_t i = 0; rc == 0 && i < r->n; i++)
        rc = run_job(sc, r, i, out_dir, r->f->shard[i], err);
    if (rc == 0)
        rc = qcore_hf_write_meta(r->f, r->plans, out_dir, err);
    return rc;
}

/* Phase 2, JSON k of a finished run: the plan JSON of plan k (k < n), or
 * the report (k == n). */
static json_t *describe(const struct run *r, size_t k)
{
    if (k < r->n)
        return qcore_plan_json(r->plans[k], NULL);
    if (r->f)
        return qcore_report_files_json((const struct qcore_job *const *)r->jobs,
                                       (const char *const *)r->f->shard, r->n, NULL, NULL);
    return qcore_report_json(r->jobs[0], NULL, NULL);
}

static long only_point(void)
{
    const char *s = getenv("QD_OOM_ONLY");
    return s && *s ? strtol(s, NULL, 10) : -1;
}

static bool verbose(void)
{
    const char *s = getenv("QD_OOM_VERBOSE");
    return s && *s && strcmp(s, "0") != 0;
}

struct tally {
    long points, failed, tolerated;
};

/* Every wrong point is listed, then the scenario fails. */
static long n_bad;

static void bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bad(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    n_bad++;
}

/* The error of a run whose allocation N failed. */
static void check_failure(const struct scenario *sc, long n, int rc, const struct qcore_error *err,
                          const char *out_dir)
{
    if (rc != QCORE_ENOMEM || err->code != rc || !err->msg[0])
        bad("%s: allocation %ld failed: rc %d (%s), err.code %d: '%s' (want %d, "
            "out-of-memory)",
            sc->name, n, rc, qcore_strerror(rc), err->code, err->msg, QCORE_ENOMEM);
    if (temp_left(out_dir))
        bad("%s: allocation %ld failed: a temp file is left in the output", sc->name, n);
}

/* Phase 1 for every allocation point; returns the finished reference run. */
static void phase1(const struct scenario *sc, struct run *ref, json_t **ref_snap,
                   struct tally *t)
{
    char out[512];
    struct qcore_error err = {0};
    snprintf(out, sizeof out, "%s/%s-ref", work, sc->name);
    assert_int_equal(mkdir(out, 0755), 0);
    if (produce(sc, out, ref, &err) != 0)
        fail_msg("%s: reference run: %s", sc->name, err.msg);
    *ref_snap = snapshot(out);
    rm_dir(out);

    const long only = only_point();
    for (long n = only >= 0 ? only : 0;; n++) {
        struct run r;
        snprintf(out, sizeof out, "%s/%s-%ld", work, sc->name, n);
        assert_int_equal(mkdir(out, 0755), 0);
        memset(&err, 0, sizeof err);
        const int fds = count_fds();
        arm(n);
        int rc = produce(sc, out, &r, &err);
        disarm();
        const bool hit = atomic_load(&injected);
        run_release(&r);
        if (verbose())
            fprintf(stderr, "%s: point %ld%s: rc %d %s\n", sc->name, n, hit ? "" : " (not reached)",
                    rc, rc ? err.msg : "");
        if (count_fds() != fds)
            bad("%s: allocation %ld failed: %d fds leaked", sc->name, n, count_fds() - fds);
        if (hit && rc != 0) {
            check_failure(sc, n, rc, &err, out);
            t->failed++;
        } else {
            if (rc != 0)
                bad("%s: run %ld without a failed allocation: %s", sc->name, n, err.msg);
            json_t *snap = snapshot(out);
            if (rc == 0 && !json_equal(snap, *ref_snap)) {
                char *a = json_dumps(snap, 0), *b = json_dumps(*ref_snap, 0);
                bad("%s: allocation %ld failed, the run succeeded with other output:\n%s\n"
                    "reference:\n%s",
                    sc->name, n, a, b);
                free(a);
                free(b);
            }
            json_decref(snap);
            t->tolerated += hit;
        }
        rm_dir(out);
        if (!hit || only >= 0)
            break;
        t->points++;
    }
}

/* Phase 2 for every allocation point, on the reference run: each JSON on
 * its own (a point of the report does not rebuild the plan JSONs first). */
static void phase2(const struct scenario *sc, const struct run *ref, struct tally *t)
{
    const long only = only_point();
    for (size_t k = 0; k <= ref->n; k++) {
        json_t *want = describe(ref, k);
        assert_non_null(want);
        for (long n = only >= 0 ? only : 0;; n++) {
            arm(n);
            json_t *got = describe(ref, k);
            disarm();
            const bool hit = atomic_load(&injected);
            if (verbose())
                fprintf(stderr, "%s: JSON %zu point %ld%s: %s\n", sc->name, k, n,
                        hit ? "" : " (not reached)", got ? "built" : "NULL");
            if (!hit && !got)
                bad("%s: JSON %zu is NULL without a failed allocation", sc->name, k);
            if (got && !json_equal(got, want))
                bad("%s: allocation %ld failed, JSON %zu came back incomplete", sc->name, n, k);
            t->failed += hit && !got;
            t->tolerated += hit && got;
            json_decref(got);
            if (!hit || only >= 0)
                break;
            t->points++;
        }
        json_decref(want);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void run_scenario(const struct scenario *sc)
{
    const double t0 = now_s();
    n_bad = 0;
    struct run ref;
    json_t *ref_snap = NULL;
    struct tally t1 = {0}, t2 = {0};
    phase1(sc, &ref, &ref_snap, &t1);
    const double t1_s = now_s() - t0;
    phase2(sc, &ref, &t2);
    run_release(&ref);
    json_decref(ref_snap);
    print_message("%s: %ld allocation points in open/plan/job (%ld failed, %ld tolerated), "
                  "%ld in plan JSON/report (%ld NULL, %ld tolerated); %.1f s + %.1f s\n",
                  sc->name, t1.points, t1.failed, t1.tolerated, t2.points, t2.failed, t2.tolerated,
                  t1_s, now_s() - t0 - t1_s);
    if (n_bad)
        fail_msg("%s: %ld wrong results (listed above)", sc->name, n_bad);
}

/* ---- the tests ------------------------------------------------------------- */

static void gguf_to_gguf(void **state)
{
    (void)state;
    /* Q8_0: the k-quant mixes allocate nothing, and Q4_K_M's kernels would
     * double the time under ASan */
    struct scenario sc = {.name = "gguf-q8_0", .in = TINY, .chunk_bytes = 32 << 10};
    qcore_plan_opts_init(&sc.o);
    sc.o.ftype = QCORE_FTYPE_Q8_0;
    run_scenario(&sc);
}

static void safetensors_to_safetensors(void **state)
{
    (void)state;
    struct scenario sc = {.name = "st-f16", .in = LSTM, .chunk_bytes = 8 << 10};
    qcore_plan_opts_init(&sc.o);
    sc.o.out_format = QCORE_FORMAT_SAFETENSORS;
    sc.o.ftype = QCORE_FTYPE_F16;
    run_scenario(&sc);
}

static void safetensors_to_gguf(void **state)
{
    (void)state;
    static const struct qcore_override ov[] = {{"^fc\\.", QCORE_TYPE_Q8_0}};
    struct scenario sc = {.name = "st-gguf-q4_0", .in = CNN, .chunk_bytes = 8 << 10};
    qcore_plan_opts_init(&sc.o);
    sc.o.ftype = QCORE_FTYPE_Q4_0;
    sc.o.overrides = ov;
    sc.o.n_overrides = 1;
    run_scenario(&sc);
}

/* int4-asym with an int8-asym override, a plain-type override and the
 * default ignore list; fp8 with a given ignore list. */
static void compressed_tensors(void **state)
{
    (void)state;
    static const struct qcore_override ov[] = {
        {"^fc\\.", QCORE_OVERRIDE_CT(QCORE_CT_INT8_ASYM)},
        {"^head\\.weight$", QCORE_TYPE_F16},
    };
    struct scenario sc = {.name = "ct-int4-asym", .in = CNN, .chunk_bytes = 8 << 10};
    qcore_plan_opts_init(&sc.o);
    sc.o.out_format = QCORE_FORMAT_SAFETENSORS;
    sc.o.ct_scheme = QCORE_CT_INT4_ASYM;
    sc.o.overrides = ov;
    sc.o.n_overrides = 2;
    run_scenario(&sc);

    static const char *const ignore[] = {"^embed\\.", "decoder"};
    struct scenario fp8 = {.name = "ct-fp8", .in = LSTM, .chunk_bytes = 8 << 10};
    qcore_plan_opts_init(&fp8.o);
    fp8.o.out_format = QCORE_FORMAT_SAFETENSORS;
    fp8.o.ct_scheme = QCORE_CT_FP8;
    fp8.o.ignore = ignore;
    fp8.o.n_ignore = 2;
    run_scenario(&fp8);
}

static void hf_folder(void **state)
{
    (void)state;
    char in[512];
    snprintf(in, sizeof in, "%s/folder", work);
    make_folder(in);
    struct scenario sc = {.name = "hf-int4", .in = in, .folder = true, .chunk_bytes = 8 << 10};
    qcore_plan_opts_init(&sc.o);
    sc.o.out_format = QCORE_FORMAT_SAFETENSORS;
    sc.o.ct_scheme = QCORE_CT_INT4;
    run_scenario(&sc);
    rm_dir(in);
}

static int setup(void **state)
{
    (void)state;
    /* jansson's allocations go through the counter too (set before any
     * jansson value exists: they are freed with free()) */
    json_set_alloc_funcs(json_alloc, free);
    trace = getenv("QD_OOM_TRACE") != NULL;
    /* in memory when there is a tmpfs: each finished run fsyncs its
     * outputs, which on a busy disk takes longer than all the rest */
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(work, sizeof work, "%s/qdtest-oom-%d", dir ? dir : "/tmp", (int)getpid());
    return mkdir(work, 0755);
}

static int teardown(void **state)
{
    (void)state;
    rm_dir(work);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gguf_to_gguf),
        cmocka_unit_test(safetensors_to_safetensors),
        cmocka_unit_test(safetensors_to_gguf),
        cmocka_unit_test(compressed_tensors),
        cmocka_unit_test(hf_folder),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

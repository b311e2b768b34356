/* tests/bench/llama_quantize_driver.c — run llama.cpp's own quantizer
 * (llama_model_quantize from libllama.so) on a file, for the benchmark.
 *
 *   llama_quantize_driver LIBLLAMA.so IN.gguf OUT.gguf FTYPE NTHREADS [OPTION...]
 *
 * FTYPE is llama.cpp's llama_ftype number (Q4_0 2, Q8_0 7, Q4_K_M 15,
 * Q6_K 18). The library is dlopen()ed, so nothing of llama.cpp is needed to
 * build this. Its parameter struct is declared here from llama.h: only the
 * leading fields, which have been stable across releases (nthread, ftype),
 * are set; the rest keeps llama_model_quantize_default_params()'s values,
 * and the declared struct has room to spare should the library's be longer.
 * Prints the wall time of the call in seconds.
 *
 * OPTIONs (llama-quantize's, for tests/models/refresh-shapes.sh; TYPE is a
 * ggml_type number: F16 1, Q4_0 2, Q5_0 6, Q5_1 7, Q8_0 8, Q4_K 12, Q6_K 14):
 *   --pure  --leave-output-tensor  --output-tensor-type TYPE
 *   --token-embedding-type TYPE  --tensor-type REGEX=TYPE (repeatable)
 * --tensor-type needs a libllama whose params hold the typed tt_overrides
 * array (llama.cpp from early 2026 on; older ones had a C++ vector there).
 */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct llama_tensor_override {
    const char *pattern;          /* NULL ends the array */
    int32_t type;                 /* enum ggml_type */
};

struct llama_quantize_params_prefix {
    int32_t nthread;
    int32_t ftype;                /* enum llama_ftype */
    int32_t output_tensor_type;   /* enum ggml_type */
    int32_t token_embedding_type; /* enum ggml_type */
    bool allow_requantize, quantize_output_tensor, only_copy, pure, keep_split, dry_run;
    void *imatrix, *kv_overrides;
    const struct llama_tensor_override *tt_overrides;
    void *prune_layers;
    unsigned char spare[512];     /* fields added by later releases */
};

typedef struct llama_quantize_params_prefix (*default_params_fn)(void);
typedef uint32_t (*quantize_fn)(const char *, const char *, const struct llama_quantize_params_prefix *);
typedef void (*backend_init_fn)(void);
typedef void (*log_cb)(int level, const char *text, void *user);
typedef void (*log_set_fn)(log_cb cb, void *user);

static void quiet(int level, const char *text, void *user)
{
    (void)level, (void)text, (void)user;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: %s LIBLLAMA.so IN.gguf OUT.gguf FTYPE NTHREADS [OPTION...]\n",
                argv[0]);
        return 2;
    }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    default_params_fn defaults;
    quantize_fn quantize;
    backend_init_fn init;
    log_set_fn log_set;
    *(void **)&defaults = dlsym(lib, "llama_model_quantize_default_params");
    *(void **)&quantize = dlsym(lib, "llama_model_quantize");
    *(void **)&init = dlsym(lib, "llama_backend_init");
    *(void **)&log_set = dlsym(lib, "llama_log_set");
    if (defaults == NULL || quantize == NULL || init == NULL) {
        fprintf(stderr, "libllama lacks llama_model_quantize*/llama_backend_init\n");
        return 1;
    }
    if (log_set != NULL && getenv("LLAMA_DRIVER_VERBOSE") == NULL)
        log_set(quiet, NULL);
    init();
    struct llama_quantize_params_prefix p = defaults();
    p.ftype = atoi(argv[4]);
    p.nthread = atoi(argv[5]);
    static struct llama_tensor_override tt[33];
    int n_tt = 0;
    for (int i = 6; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--pure") == 0) {
            p.pure = true;
        } else if (strcmp(a, "--leave-output-tensor") == 0) {
            p.quantize_output_tensor = false;
        } else if (strcmp(a, "--output-tensor-type") == 0 && v) {
            p.output_tensor_type = atoi(v), i++;
        } else if (strcmp(a, "--token-embedding-type") == 0 && v) {
            p.token_embedding_type = atoi(v), i++;
        } else if (strcmp(a, "--tensor-type") == 0 && v && strchr(v, '=') && n_tt < 32) {
            char *eq = strrchr(argv[++i], '=');
            *eq = '\0';
            tt[n_tt++] = (struct llama_tensor_override){argv[i], atoi(eq + 1)};
            p.tt_overrides = tt;
        } else {
            fprintf(stderr, "unknown or incomplete option %s\n", a);
            return 2;
        }
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const uint32_t rc = quantize(argv[2], argv[3], &p);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc != 0) {
        fprintf(stderr, "llama_model_quantize failed (%u)\n", rc);
        return 1;
    }
    printf("%.3f\n", (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    return 0;
}

/* core/report.c — the report JSON (schema in docs/report.md).
 *
 * A report is built whole or not at all (report.h: NULL on allocation
 * failure): every value goes in through set() or append(), which remember
 * a failed insert (a NULL value, or no memory for the slot) in *ok, and each
 * builder returns its object through done(), NULL when anything failed.
 * jansson takes NULL containers and values in set/append and frees the
 * value on failure, so a builder goes on to the end without checks of its own.
 */
#include "core/report.h"

#include <math.h>
#include <stdlib.h>

static void set(json_t *o, const char *key, json_t *v, bool *ok)
{
    if (json_object_set_new(o, key, v) != 0)
        *ok = false;
}

static void append(json_t *a, json_t *v, bool *ok)
{
    if (json_array_append_new(a, v) != 0)
        *ok = false;
}

/* o, or NULL (o freed) when something failed. */
static json_t *done(json_t *o, bool ok)
{
    if (ok)
        return o;
    json_decref(o);
    return NULL;
}

/* NaN/Inf are not JSON: they become null. */
static json_t *jnum(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *shape_json(const struct qcore_plan_tensor *pt)
{
    bool ok = true;
    json_t *a = json_array();
    for (int d = (int)pt->n_dims - 1; d >= 0; d--)
        append(a, json_integer(pt->ne[d]), &ok);
    return done(a, ok);
}

static double bpw(uint64_t bytes, int64_t numel)
{
    return numel > 0 ? (double)bytes * 8.0 / (double)numel : 0.0;
}

/* The type shown for a tensor: a ggml/safetensors type name, or for a
 * compressed-tensors tensor its scheme label ("int4-g128"). */
static const char *dst_label(const struct qcore_plan_tensor *pt)
{
    return pt->ct ? pt->ct->label : qcore_type_traits(pt->dst_type)->name;
}

/* The companions of a compressed-tensors tensor: [{name, dtype, shape}]. */
static json_t *outputs_json(const struct qcore_plan_ct *ct)
{
    bool ok = true;
    json_t *a = json_array();
    for (int r = 0; r < QCORE_CT_ROLES; r++) {
        if (!ct->present[r])
            continue;
        json_t *sh = json_array();
        for (int d = (int)ct->n_dims[r] - 1; d >= 0; d--)
            append(sh, json_integer(ct->ne[r][d]), &ok);
        /* json_pack takes sh (frees it on failure), and fails on NULL */
        append(a, json_pack("{s:s, s:s, s:o, s:I}", "name", ct->name[r], "dtype",
                            qcore_type_traits(ct->type[r])->st_dtype, "shape", sh, "bytes",
                            (json_int_t)ct->nbytes[r]),
               &ok);
    }
    return done(a, ok);
}

static json_t *plan_tensor_json(const struct qcore_plan_tensor *pt)
{
    bool ok = true;
    json_t *o = json_object();
    set(o, "name", json_string(pt->name), &ok);
    set(o, "shape", shape_json(pt), &ok);
    set(o, "op", json_string(pt->op == QCORE_OP_COPY ? "copy" : "quantize"), &ok);
    set(o, "src_type", json_string(qcore_type_traits(pt->src_type)->name), &ok);
    set(o, "dst_type", json_string(dst_label(pt)), &ok);
    if (pt->ct)
        set(o, "outputs", outputs_json(pt->ct), &ok);
    set(o, "src_bytes", json_integer((json_int_t)pt->src_bytes), &ok);
    set(o, "dst_bytes", json_integer((json_int_t)pt->dst_bytes), &ok);
    set(o, "bpw", json_real(bpw(pt->dst_bytes, pt->numel)), &ok);
    if (pt->note[0])
        set(o, "note", json_string(pt->note), &ok);
    if (pt->fallback)
        set(o, "fallback", json_true(), &ok);
    return done(o, ok);
}

static json_t *tensor_json(const struct qcore_job *job, size_t i)
{
    const struct qcore_plan_tensor *pt = &qcore_job_plan(job)->t[i];
    const struct qcore_tensor_metrics *m = qcore_job_metrics(job, i);
    bool ok = true;
    json_t *o = plan_tensor_json(pt);
    if (m->has_error_metrics) {
        set(o, "mse", jnum(m->mse), &ok);
        set(o, "rmse", jnum(m->rmse), &ok);
        set(o, "max_abs_err", jnum(m->max_abs_err), &ok);
        set(o, "sqnr_db", jnum(m->sqnr_db), &ok);
        set(o, "cosine", jnum(m->cosine), &ok);
        if (m->sums.nonfinite || m->nonfinite_src) {
            set(o, "nonfinite_src", json_integer((json_int_t)m->nonfinite_src), &ok);
            set(o, "nonfinite_pairs", json_integer((json_int_t)m->sums.nonfinite), &ok);
        }
    }
    return done(o, ok);
}

static const char *scheme_name(const struct qcore_plan *p)
{
    return p->opts.ct_scheme != QCORE_CT_NONE ? qcore_ct_scheme_name(p->opts.ct_scheme)
                                              : qcore_ftype_name(p->opts.ftype);
}

/* "quantization_config": the block stored in the output's __metadata__. */
static void add_quant_config(json_t *root, const struct qcore_plan *p, bool *ok)
{
    if (p->quant_config)
        set(root, "quantization_config", json_loads(p->quant_config, 0, NULL), ok);
}

struct worst { size_t job, i; double sqnr; };

static int cmp_worst(const void *a, const void *b)
{
    const struct worst *x = a, *y = b;
    if (x->sqnr != y->sqnr)
        return x->sqnr < y->sqnr ? -1 : 1;
    if (x->job != y->job)
        return x->job < y->job ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

struct worst_list {
    struct worst *w;
    size_t n;
};

/* Sums over the jobs (one per file: several for a sharded folder). */
struct totals {
    struct qcore_err_sums err;
    int64_t params, qparams;
    uint64_t nonfinite, n, n_quantized, n_fallbacks;
    uint64_t file_in, file_out, src_bytes, dst_bytes;
};

static void add_job_totals(const struct qcore_job *job, size_t j, struct totals *t,
                           struct worst_list *wl)
{
    const struct qcore_plan *p = qcore_job_plan(job);
    t->n += p->n;
    t->n_quantized += p->n_quantized;
    t->n_fallbacks += p->n_fallbacks;
    t->file_in += p->model->file_size;
    t->file_out += p->out_size;
    t->src_bytes += p->src_bytes;
    t->dst_bytes += p->dst_bytes;
    for (size_t i = 0; i < p->n; i++) {
        const struct qcore_tensor_metrics *m = qcore_job_metrics(job, i);
        t->params += p->t[i].numel;
        if (!m->has_error_metrics)
            continue;
        t->qparams += p->t[i].numel;
        t->err.sum_x2 += m->sums.sum_x2;
        t->err.sum_e2 += m->sums.sum_e2;
        t->err.n += m->sums.n;
        if (m->sums.max_abs > t->err.max_abs)
            t->err.max_abs = m->sums.max_abs;
        t->nonfinite += m->sums.nonfinite + m->nonfinite_src;
        if (!isnan(m->sqnr_db)) {
            wl->w[wl->n].job = j;
            wl->w[wl->n].i = i;
            wl->w[wl->n].sqnr = m->sqnr_db;
            wl->n++;
        }
    }
}

static json_t *totals_json(const struct totals *t)
{
    const struct qcore_err_sums *e = &t->err;
    bool ok = true;
    json_t *to = json_object();
    set(to, "tensors", json_integer((json_int_t)t->n), &ok);
    set(to, "tensors_quantized", json_integer((json_int_t)t->n_quantized), &ok);
    set(to, "fallbacks", json_integer((json_int_t)t->n_fallbacks), &ok);
    set(to, "params", json_integer(t->params), &ok);
    set(to, "params_quantized", json_integer(t->qparams), &ok);
    set(to, "file_bytes_in", json_integer((json_int_t)t->file_in), &ok);
    set(to, "file_bytes_out", json_integer((json_int_t)t->file_out), &ok);
    set(to, "tensor_bytes_in", json_integer((json_int_t)t->src_bytes), &ok);
    set(to, "tensor_bytes_out", json_integer((json_int_t)t->dst_bytes), &ok);
    set(to, "compression_ratio",
        jnum(t->dst_bytes ? (double)t->src_bytes / (double)t->dst_bytes : NAN), &ok);
    set(to, "bpw", json_real(bpw(t->dst_bytes, t->params)), &ok);
    set(to, "mse", jnum(e->n ? e->sum_e2 / (double)e->n : NAN), &ok);
    set(to, "max_abs_err", jnum(e->n ? e->max_abs : NAN), &ok);
    set(to, "sqnr_db", jnum(e->sum_e2 > 0 ? 10.0 * log10(e->sum_x2 / e->sum_e2) : NAN), &ok);
    set(to, "nonfinite_values", json_integer((json_int_t)t->nonfinite), &ok);
    return done(to, ok);
}

static json_t *summary_parts(const struct qcore_job *const *jobs, size_t n_jobs,
                             const char *scheme, const struct qcore_report_times *t, json_t *root)
{
    const struct qcore_plan *p0 = qcore_job_plan(jobs[0]);
    struct totals tot = {0};
    size_t cap = 0;
    for (size_t j = 0; j < n_jobs; j++)
        cap += qcore_job_plan(jobs[j])->n;
    struct worst_list wl = {calloc(cap ? cap : 1, sizeof *wl.w), 0};
    bool ok = true;
    if (!wl.w)
        return NULL;
    for (size_t j = 0; j < n_jobs; j++)
        add_job_totals(jobs[j], j, &tot, &wl);
    qsort(wl.w, wl.n, sizeof *wl.w, cmp_worst);

    set(root, "format", json_string(p0->out_format == QCORE_FORMAT_GGUF ? "gguf" : "safetensors"),
        &ok);
    set(root, "scheme", json_string(scheme ? scheme : scheme_name(p0)), &ok);
    set(root, "isa", json_string(qcore_kernels_get()->isa), &ok);
    add_quant_config(root, p0, &ok);
    set(root, "totals", totals_json(&tot), &ok);

    json_t *wa = json_array();
    for (size_t k = 0; k < wl.n && k < 5; k++) {
        const struct qcore_plan_tensor *pt = &qcore_job_plan(jobs[wl.w[k].job])->t[wl.w[k].i];
        json_t *e = json_object();
        set(e, "name", json_string(pt->name), &ok);
        set(e, "dst_type", json_string(dst_label(pt)), &ok);
        set(e, "sqnr_db", jnum(wl.w[k].sqnr), &ok);
        append(wa, e, &ok);
    }
    set(root, "worst", wa, &ok);
    free(wl.w);

    json_t *ti = json_object();
    double run = t ? t->run_s : 0.0;
    set(ti, "queued_s", json_real(t ? t->queued_s : 0.0), &ok);
    set(ti, "run_s", json_real(run), &ok);
    set(ti, "throughput_mb_s", jnum(run > 0 ? (double)tot.src_bytes / 1e6 / run : NAN), &ok);
    set(root, "timings", ti, &ok);
    return ok ? root : NULL;
}

json_t *qcore_report_summary_json(const struct qcore_job *job, const char *scheme,
                                  const struct qcore_report_times *t)
{
    json_t *root = json_object();
    if (!root || !summary_parts(&job, 1, scheme, t, root)) {
        json_decref(root);
        return NULL;
    }
    return root;
}

json_t *qcore_report_json(const struct qcore_job *job, const char *scheme,
                          const struct qcore_report_times *t)
{
    json_t *root = qcore_report_summary_json(job, scheme, t);
    bool ok = root != NULL;
    json_t *ta = ok ? json_array() : NULL;
    for (size_t i = 0; ok && i < qcore_job_plan(job)->n; i++)
        append(ta, tensor_json(job, i), &ok);
    set(root, "tensors", ta, &ok);
    return done(root, ok);
}

json_t *qcore_report_files_json(const struct qcore_job *const *jobs, const char *const *files,
                                size_t n, const char *scheme, const struct qcore_report_times *t)
{
    json_t *root = n ? json_object() : NULL;
    if (!root || !summary_parts(jobs, n, scheme, t, root)) {
        json_decref(root);
        return NULL;
    }
    bool ok = true;
    json_t *fa = json_array(), *ta = json_array();
    for (size_t j = 0; ok && j < n; j++) {
        const struct qcore_plan *p = qcore_job_plan(jobs[j]);
        append(fa, json_pack("{s:s, s:I, s:I, s:I}", "name", files[j], "tensors",
                             (json_int_t)p->n, "outputs", (json_int_t)p->n_out, "bytes",
                             (json_int_t)p->out_size),
               &ok);
        for (size_t i = 0; ok && i < p->n; i++) {
            json_t *e = tensor_json(jobs[j], i);
            set(e, "file", json_string(files[j]), &ok);
            append(ta, e, &ok);
        }
    }
    set(root, "files", fa, &ok);
    set(root, "tensors", ta, &ok);
    return done(root, ok);
}

json_t *qcore_plan_json(const struct qcore_plan *p, const char *scheme)
{
    bool ok = true;
    json_t *root = json_object();
    set(root, "format", json_string(p->out_format == QCORE_FORMAT_GGUF ? "gguf" : "safetensors"),
        &ok);
    set(root, "scheme", json_string(scheme ? scheme : scheme_name(p)), &ok);
    set(root, "dry_run", json_true(), &ok);
    add_quant_config(root, p, &ok);
    json_t *to = json_object();
    set(to, "tensors", json_integer((json_int_t)p->n), &ok);
    set(to, "tensors_quantized", json_integer((json_int_t)p->n_quantized), &ok);
    set(to, "fallbacks", json_integer((json_int_t)p->n_fallbacks), &ok);
    set(to, "file_bytes_in", json_integer((json_int_t)p->model->file_size), &ok);
    set(to, "file_bytes_out", json_integer((json_int_t)p->out_size), &ok);
    set(to, "tensor_bytes_in", json_integer((json_int_t)p->src_bytes), &ok);
    set(to, "tensor_bytes_out", json_integer((json_int_t)p->dst_bytes), &ok);
    set(root, "totals", to, &ok);
    json_t *ta = json_array();
    for (size_t i = 0; ok && i < p->n; i++)
        append(ta, plan_tensor_json(&p->t[i]), &ok);
    set(root, "tensors", ta, &ok);
    return done(root, ok);
}

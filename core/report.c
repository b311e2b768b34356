/* core/report.c — the report JSON (schema in docs/report.md). */
#include "core/report.h"

#include <math.h>
#include <stdlib.h>

/* NaN/Inf are not JSON: they become null. */
static json_t *jnum(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *shape_json(const struct qcore_plan_tensor *pt)
{
    json_t *a = json_array();
    for (int d = (int)pt->n_dims - 1; d >= 0; d--)
        json_array_append_new(a, json_integer(pt->ne[d]));
    return a;
}

static double bpw(uint64_t bytes, int64_t numel)
{
    return numel > 0 ? (double)bytes * 8.0 / (double)numel : 0.0;
}

static json_t *plan_tensor_json(const struct qcore_plan_tensor *pt)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(pt->name));
    json_object_set_new(o, "shape", shape_json(pt));
    json_object_set_new(o, "op", json_string(pt->op == QCORE_OP_QUANTIZE ? "quantize" : "copy"));
    json_object_set_new(o, "src_type", json_string(qcore_type_traits(pt->src_type)->name));
    json_object_set_new(o, "dst_type", json_string(qcore_type_traits(pt->dst_type)->name));
    json_object_set_new(o, "src_bytes", json_integer((json_int_t)pt->src_bytes));
    json_object_set_new(o, "dst_bytes", json_integer((json_int_t)pt->dst_bytes));
    json_object_set_new(o, "bpw", json_real(bpw(pt->dst_bytes, pt->numel)));
    if (pt->note[0])
        json_object_set_new(o, "note", json_string(pt->note));
    if (pt->fallback)
        json_object_set_new(o, "fallback", json_true());
    return o;
}

static json_t *tensor_json(const struct qcore_job *job, size_t i)
{
    const struct qcore_plan_tensor *pt = &qcore_job_plan(job)->t[i];
    const struct qcore_tensor_metrics *m = qcore_job_metrics(job, i);
    json_t *o = plan_tensor_json(pt);
    if (m->has_error_metrics) {
        json_object_set_new(o, "mse", jnum(m->mse));
        json_object_set_new(o, "rmse", jnum(m->rmse));
        json_object_set_new(o, "max_abs_err", jnum(m->max_abs_err));
        json_object_set_new(o, "sqnr_db", jnum(m->sqnr_db));
        json_object_set_new(o, "cosine", jnum(m->cosine));
        if (m->sums.nonfinite || m->nonfinite_src) {
            json_object_set_new(o, "nonfinite_src", json_integer((json_int_t)m->nonfinite_src));
            json_object_set_new(o, "nonfinite_pairs", json_integer((json_int_t)m->sums.nonfinite));
        }
    }
    return o;
}

struct worst { size_t i; double sqnr; };

static int cmp_worst(const void *a, const void *b)
{
    const struct worst *x = a, *y = b;
    return x->sqnr < y->sqnr ? -1 : x->sqnr > y->sqnr ? 1 : (x->i < y->i ? -1 : 1);
}

static json_t *summary_parts(const struct qcore_job *job, const char *scheme,
                             const struct qcore_report_times *t, json_t *root)
{
    const struct qcore_plan *p = qcore_job_plan(job);
    struct qcore_err_sums tot = {0};
    int64_t params = 0, qparams = 0;
    uint64_t nonfinite = 0;
    struct worst *w = calloc(p->n ? p->n : 1, sizeof *w);
    size_t nw = 0;
    if (!w)
        return NULL;
    for (size_t i = 0; i < p->n; i++) {
        const struct qcore_tensor_metrics *m = qcore_job_metrics(job, i);
        params += p->t[i].numel;
        if (!m->has_error_metrics)
            continue;
        qparams += p->t[i].numel;
        tot.sum_x2 += m->sums.sum_x2;
        tot.sum_e2 += m->sums.sum_e2;
        tot.n += m->sums.n;
        if (m->sums.max_abs > tot.max_abs)
            tot.max_abs = m->sums.max_abs;
        nonfinite += m->sums.nonfinite + m->nonfinite_src;
        if (!isnan(m->sqnr_db)) {
            w[nw].i = i;
            w[nw].sqnr = m->sqnr_db;
            nw++;
        }
    }
    qsort(w, nw, sizeof *w, cmp_worst);

    json_object_set_new(root, "format", json_string(p->out_format == QCORE_FORMAT_GGUF ? "gguf" : "safetensors"));
    json_object_set_new(root, "scheme", json_string(scheme ? scheme : qcore_ftype_name(p->opts.ftype)));
    json_object_set_new(root, "isa", json_string(qcore_kernels_get()->isa));

    json_t *to = json_object();
    json_object_set_new(to, "tensors", json_integer((json_int_t)p->n));
    json_object_set_new(to, "tensors_quantized", json_integer((json_int_t)p->n_quantized));
    json_object_set_new(to, "fallbacks", json_integer((json_int_t)p->n_fallbacks));
    json_object_set_new(to, "params", json_integer(params));
    json_object_set_new(to, "params_quantized", json_integer(qparams));
    json_object_set_new(to, "file_bytes_in", json_integer((json_int_t)p->model->file_size));
    json_object_set_new(to, "file_bytes_out", json_integer((json_int_t)p->out_size));
    json_object_set_new(to, "tensor_bytes_in", json_integer((json_int_t)p->src_bytes));
    json_object_set_new(to, "tensor_bytes_out", json_integer((json_int_t)p->dst_bytes));
    json_object_set_new(to, "compression_ratio",
                        jnum(p->dst_bytes ? (double)p->src_bytes / (double)p->dst_bytes : NAN));
    json_object_set_new(to, "bpw", json_real(bpw(p->dst_bytes, params)));
    json_object_set_new(to, "mse", jnum(tot.n ? tot.sum_e2 / (double)tot.n : NAN));
    json_object_set_new(to, "max_abs_err", jnum(tot.n ? tot.max_abs : NAN));
    json_object_set_new(to, "sqnr_db", jnum(tot.sum_e2 > 0 ? 10.0 * log10(tot.sum_x2 / tot.sum_e2) : NAN));
    json_object_set_new(to, "nonfinite_values", json_integer((json_int_t)nonfinite));
    json_object_set_new(root, "totals", to);

    json_t *wa = json_array();
    for (size_t k = 0; k < nw && k < 5; k++) {
        json_t *e = json_object();
        json_object_set_new(e, "name", json_string(p->t[w[k].i].name));
        json_object_set_new(e, "dst_type", json_string(qcore_type_traits(p->t[w[k].i].dst_type)->name));
        json_object_set_new(e, "sqnr_db", jnum(w[k].sqnr));
        json_array_append_new(wa, e);
    }
    json_object_set_new(root, "worst", wa);
    free(w);

    json_t *ti = json_object();
    double run = t ? t->run_s : 0.0;
    json_object_set_new(ti, "queued_s", json_real(t ? t->queued_s : 0.0));
    json_object_set_new(ti, "run_s", json_real(run));
    json_object_set_new(ti, "throughput_mb_s", jnum(run > 0 ? (double)p->src_bytes / 1e6 / run : NAN));
    json_object_set_new(root, "timings", ti);
    return root;
}

json_t *qcore_report_summary_json(const struct qcore_job *job, const char *scheme,
                                  const struct qcore_report_times *t)
{
    json_t *root = json_object();
    if (!root || !summary_parts(job, scheme, t, root)) {
        json_decref(root);
        return NULL;
    }
    return root;
}

json_t *qcore_report_json(const struct qcore_job *job, const char *scheme,
                          const struct qcore_report_times *t)
{
    json_t *root = qcore_report_summary_json(job, scheme, t);
    if (!root)
        return NULL;
    json_t *ta = json_array();
    for (size_t i = 0; i < qcore_job_plan(job)->n; i++)
        json_array_append_new(ta, tensor_json(job, i));
    json_object_set_new(root, "tensors", ta);
    return root;
}

json_t *qcore_plan_json(const struct qcore_plan *p, const char *scheme)
{
    json_t *root = json_object();
    json_object_set_new(root, "format", json_string(p->out_format == QCORE_FORMAT_GGUF ? "gguf" : "safetensors"));
    json_object_set_new(root, "scheme", json_string(scheme ? scheme : qcore_ftype_name(p->opts.ftype)));
    json_object_set_new(root, "dry_run", json_true());
    json_t *to = json_object();
    json_object_set_new(to, "tensors", json_integer((json_int_t)p->n));
    json_object_set_new(to, "tensors_quantized", json_integer((json_int_t)p->n_quantized));
    json_object_set_new(to, "fallbacks", json_integer((json_int_t)p->n_fallbacks));
    json_object_set_new(to, "file_bytes_in", json_integer((json_int_t)p->model->file_size));
    json_object_set_new(to, "file_bytes_out", json_integer((json_int_t)p->out_size));
    json_object_set_new(to, "tensor_bytes_in", json_integer((json_int_t)p->src_bytes));
    json_object_set_new(to, "tensor_bytes_out", json_integer((json_int_t)p->dst_bytes));
    json_object_set_new(root, "totals", to);
    json_t *ta = json_array();
    for (size_t i = 0; i < p->n; i++)
        json_array_append_new(ta, plan_tensor_json(&p->t[i]));
    json_object_set_new(root, "tensors", ta);
    return root;
}

/* core/report.h — the job report as JSON (schema: docs/report.md).
 *
 * Built from a finished job: per-tensor sizes, types, bpw and error metrics,
 * totals, the five worst tensors by SQNR, and timings. The returned jansson
 * value is owned by the caller (json_decref) and must not be shared across
 * threads.
 */
#ifndef QCORE_REPORT_H
#define QCORE_REPORT_H

#include <jansson.h>

#include "core/job.h"

struct qcore_report_times {
    double queued_s;   /* time spent waiting before running (0 for the CLI) */
    double run_s;      /* wall time of the run */
};

/* Full report: {"format", "scheme", "totals": {...}, "worst": [...],
 * "tensors": [...], "timings": {...}}. NULL on allocation failure. */
json_t *qcore_report_json(const struct qcore_job *job, const char *scheme,
                          const struct qcore_report_times *t);

/* The report of a job over several files (the shards of a Hugging Face
 * folder, files[j] the name of jobs[j]'s output): totals and worst over all
 * of them, "files": [{name, tensors, outputs, bytes}], and "tensors" with a
 * "file" field each. NULL on allocation failure or n == 0. */
json_t *qcore_report_files_json(const struct qcore_job *const *jobs, const char *const *files,
                                size_t n, const char *scheme, const struct qcore_report_times *t);

/* The summary object alone (totals + worst + timings), for job listings. */
json_t *qcore_report_summary_json(const struct qcore_job *job, const char *scheme,
                                  const struct qcore_report_times *t);

/* A dry-run plan as JSON (tensors with types and sizes, totals). */
json_t *qcore_plan_json(const struct qcore_plan *plan, const char *scheme);

#endif

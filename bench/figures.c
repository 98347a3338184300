/*
 * figures.c -- the figures the tables and targets are made of: one
 * accessor per JSON field, medians over runs, and the best peer.
 *
 * Invariants:
 *   1. A run whose figure is NAN ("not applicable", or a failed run that
 *      never produced it) does not count towards a median.  W5's space
 *      that never came back is +inf, not NAN: it counts.
 *   2. Medians of an even number of runs average the two middle values.
 *   3. The best peer is chosen by median, among engines other than mrlog
 *      that have at least one figure for the workload.
 */
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Field accessors.
 * --------------------------------------------------------------------- */

double
report_f_rec_per_s(const struct bench_result *r)
{
  return r->rec_per_s;
}

double
report_f_mb_per_s(const struct bench_result *r)
{
  return r->mb_per_s;
}

double
report_f_p99(const struct bench_result *r)
{
  return r->p99_us;
}

double
report_f_p999(const struct bench_result *r)
{
  return r->p999_us;
}

double
report_f_sync_p50(const struct bench_result *r)
{
  return r->sync_p50_us;
}

double
report_f_sync_p999(const struct bench_result *r)
{
  return r->sync_p999_us;
}

/* Records per device sync: what one group commit carried on average. */
double
report_f_recs_per_sync(const struct bench_result *r)
{
  return r->syncs_timed > 0 ? (double)r->records / (double)r->syncs_timed
                            : (double)NAN;
}

/* The busiest thread's share of its window: near 1, that thread (a
 * serial stage) bounds the run. */
double
report_f_busiest_share(const struct bench_result *r)
{
  return r->busiest_window_s > 0 ? r->busiest_cpu_s / r->busiest_window_s
                                 : (double)NAN;
}

/* The share of the window the busiest thread waited runnable for a core. */
double
report_f_busiest_wait_share(const struct bench_result *r)
{
  return r->busiest_window_s > 0 ? r->busiest_wait_s / r->busiest_window_s
                                 : (double)NAN;
}

/* The busiest thread's CPU per record, in ns. */
double
report_f_busiest_ns_per_rec(const struct bench_result *r)
{
  return r->records > 0 ? r->busiest_cpu_s * 1e9 / (double)r->records
                        : (double)NAN;
}

double
report_f_cpu_s(const struct bench_result *r)
{
  return r->cpu_s;
}

double
report_f_seconds(const struct bench_result *r)
{
  return r->seconds;
}

double
report_f_space_back_ms(const struct bench_result *r)
{
  /* A W5 run whose space did not come back in time counts as "never"
   * (+inf), so that it pulls the median instead of being left out. */
  if (isnan(r->space_back_ms) && !isnan(r->durable_ms))
    return INFINITY;
  return r->space_back_ms;
}

double
report_f_durable_ms(const struct bench_result *r)
{
  return r->durable_ms;
}

double
report_f_disk_overhead(const struct bench_result *r)
{
  return r->disk_overhead_per_rec;
}

double
report_f_ram_per_rec(const struct bench_result *r)
{
  return r->ram_bytes_per_rec;
}

double
report_f_retained(const struct bench_result *r)
{
  return r->retained_bytes;
}

double
report_f_space_after_durable_ms(const struct bench_result *r)
{
  return report_f_space_back_ms(r) - r->durable_ms;
}

double
report_f_peak_rss(const struct bench_result *r)
{
  return r->peak_rss_bytes ? (double)r->peak_rss_bytes : NAN;
}

/* ------------------------------------------------------------------------
 * Medians.
 * --------------------------------------------------------------------- */

const char *
report_busiest_name(const struct report *rep, const char *engine,
                    const char *workload)
{
  size_t i;

  for (i = 0; i < rep->n_runs; i++) {
    const struct bench_result *r = &rep->runs[i];
    if (strcmp(r->engine, engine) == 0 &&
        strcmp(r->workload, workload) == 0 && r->busiest_thread[0] != '\0')
      return r->busiest_thread;
  }
  return NULL;
}

int
report_median(const struct report *rep, const char *engine,
              const char *workload, report_field field, double *median,
              double *min, double *max)
{
  double *v = malloc((rep->n_runs + 1) * sizeof(*v)), x;
  size_t i;
  int n = 0;

  *median = *min = *max = NAN;
  if (v == NULL)
    return 0;
  for (i = 0; i < rep->n_runs; i++) {
    const struct bench_result *r = &rep->runs[i];
    if (strcmp(r->engine, engine) != 0 || strcmp(r->workload, workload) != 0)
      continue;
    x = field(r);
    if (!isnan(x))
      v[n++] = x;
  }
  if (n > 0) {
    bench_sort(v, (size_t)n);
    *min = v[0];
    *max = v[n - 1];
    *median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  }
  free(v);
  return n;
}

size_t
report_engines(const struct report *rep, const char *workload,
           const char **names, size_t max)
{
  size_t i, j, n = 0;

  for (i = 0; i < rep->n_runs; i++) {
    if (strcmp(rep->runs[i].workload, workload) != 0)
      continue;
    for (j = 0; j < n && strcmp(names[j], rep->runs[i].engine) != 0; j++)
      ;
    if (j == n && n < max)
      names[n++] = rep->runs[i].engine;
  }
  return n;
}

const char *
report_best_peer(const struct report *rep, const char *workload,
                 report_field field, int higher_better, double *best)
{
  const char *names[16], *who = NULL;
  double m, lo, hi;
  size_t i, n = report_engines(rep, workload, names, 16);

  *best = NAN;
  for (i = 0; i < n; i++) {
    if (report_is_mrlog(names[i]))
      continue;
    if (report_median(rep, names[i], workload, field, &m, &lo, &hi) == 0)
      continue;
    if (who == NULL || (higher_better ? m > *best : m < *best)) {
      who = names[i];
      *best = m;
    }
  }
  return who;
}

bool
report_is_mrlog(const char *engine)
{
  return strcmp(engine, "mrlog") == 0 || strncmp(engine, "mrlog-", 6) == 0;
}

size_t
report_all_engines(const struct report *rep, const char **names, size_t max)
{
  size_t i, j, n = 0;

  for (i = 0; i < rep->n_runs; i++) {
    const char *e = rep->runs[i].engine;
    for (j = 0; j < n && strcmp(names[j], e) != 0; j++)
      ;
    if (j == n && n < max && strcmp(e, "device") != 0)
      names[n++] = e;
  }
  return n;
}

/*
 * report.h -- output of mrlog-bench: one JSON line per run, then the
 * per-workload tables and the targets section (bench/json.c, report.c,
 * targets.c).
 */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include "harness.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>

/* What the tables need to know about the whole invocation. */
struct report_config {
  double scale;            /* record-count multiplier */
  int runs;                /* runs per workload */
  uint64_t w1_records;     /* W1/W1b/W4/W5 records */
  uint64_t w3_records;     /* W3 records */
  double w2_seconds;       /* W2 duration */
  unsigned w2_threads;     /* W2 writer threads */
  uint64_t segment_bytes;  /* mrlog segment size (W1-W4) */
  uint64_t w5_segment_bytes; /* mrlog segment size of W5's own log */
  double w5_timeout_s;     /* W5 space-back timeout */
  const char *dir;         /* where the logs lived */
  int tmpfs;               /* dir is on tmpfs */
  const char *not_built;   /* comma-separated engines compiled out, or "" */
  unsigned cores;          /* online CPUs (sysconf), for the limit notes */
};

/* All results of the invocation; device is NULL with --no-device. */
struct report {
  const struct report_config *config;
  const struct bench_result *device;
  const struct bench_result *runs; /* every engine x workload x run */
  size_t n_runs;
};

/* One JSON object on one line (NAN/-1 "not applicable" as null). */
void report_json_config(FILE *out, const struct report_config *c);
void report_json(FILE *out, const struct bench_result *r);

/* The readable tables: device limits, one table per workload present. */
void report_tables(FILE *out, const struct report *rep);
/* The targets section: each target with MET / NOT MET and its ratio. */
void report_targets(FILE *out, const struct report *rep);

/*
 * Figures (bench/figures.c), shared by report.c and targets.c.  report_median fills the
 * median, min and max of field (an accessor) over the runs of
 * (engine, workload) that have a value; returns how many had one.
 */
typedef double (*report_field)(const struct bench_result *r);
int report_median(const struct report *rep, const char *engine,
                  const char *workload, report_field field, double *median,
                  double *min, double *max);
/* The distinct engines that ran workload, in first-seen order (at most
 * max); returns how many. */
size_t report_engines(const struct report *rep, const char *workload,
                      const char **names, size_t max);
/* The distinct engines of every run ("device" aside), first-seen order. */
size_t report_all_engines(const struct report *rep, const char **names,
                          size_t max);
/* True for "mrlog" and its variants ("mrlog-<store>"): never peers. */
bool report_is_mrlog(const char *engine);
/* The peer (not report_is_mrlog) with the best median of field for the
 * workload: the highest if higher_better, else the lowest.  NULL if none. */
const char *report_best_peer(const struct report *rep, const char *workload,
                             report_field field, int higher_better,
                             double *best);

double report_f_rec_per_s(const struct bench_result *r);
double report_f_mb_per_s(const struct bench_result *r);
double report_f_p99(const struct bench_result *r);
double report_f_p999(const struct bench_result *r);
double report_f_sync_p50(const struct bench_result *r);  /* device syncs */
double report_f_sync_p999(const struct bench_result *r);
double report_f_recs_per_sync(const struct bench_result *r);
double report_f_busiest_share(const struct bench_result *r);
double report_f_busiest_wait_share(const struct bench_result *r);
double report_f_busiest_ns_per_rec(const struct bench_result *r);
/* The busiest thread's name in the first run of (engine, workload) that
 * has one, or NULL. */
const char *report_busiest_name(const struct report *rep, const char *engine,
                                const char *workload);
double report_f_cpu_s(const struct bench_result *r);     /* whole child */
double report_f_seconds(const struct bench_result *r);   /* timed part */
double report_f_space_back_ms(const struct bench_result *r);
double report_f_durable_ms(const struct bench_result *r);
double report_f_space_after_durable_ms(const struct bench_result *r);
double report_f_disk_overhead(const struct bench_result *r);
double report_f_ram_per_rec(const struct bench_result *r);
double report_f_peak_rss(const struct bench_result *r);
double report_f_retained(const struct bench_result *r);

/* A counter as a figure: -1 ("not applicable") becomes NAN. */
static inline double
report_i64(int64_t v)
{
  return v < 0 ? (double)NAN : (double)v;
}

#endif /* BENCH_REPORT_H */

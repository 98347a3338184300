/*
 * report.c -- the readable per-workload tables (JSON lines: json.c,
 * targets: targets.c).
 *
 * Invariants:
 *   1. Every figure in a table is the median over the runs that produced
 *      it (min-max beside the main figure); nothing is computed that the
 *      JSON lines do not also carry, so the tables can be re-derived.
 *   2. "Not applicable" is NAN for doubles and -1 for counters; it prints
 *      as "-" in tables and null in JSON.
 *   3. Ratios "mrlog / best peer" use each engine's median; for figures
 *      where lower is better (latency, ms) the best peer is the lowest.
 */
#include "report.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Table-only fields.
 * --------------------------------------------------------------------- */

static double
f_p50(const struct bench_result *r)
{
  return r->p50_us;
}

static double
f_p999(const struct bench_result *r)
{
  return r->p999_us;
}

static double
f_disk(const struct bench_result *r)
{
  return r->disk_bytes_per_rec;
}

static double
f_rss_per_rec(const struct bench_result *r)
{
  return r->ram_rss_bytes_per_rec;
}

static double
f_fsyncs(const struct bench_result *r)
{
  return report_i64(r->fsyncs);
}

static double
f_cpu(const struct bench_result *r)
{
  return r->cpu_s;
}

static double
f_seconds(const struct bench_result *r)
{
  return r->seconds;
}

static double
f_disk_mb(const struct bench_result *r)
{
  return r->disk_bytes;
}

static double
f_freed(const struct bench_result *r)
{
  return r->space_freed_bytes;
}

/* ------------------------------------------------------------------------
 * Tables.
 * --------------------------------------------------------------------- */

enum kind { RATE, MBS, US, MS, BYTES, MBYTES, COUNT, SECS };

struct column {
  const char *head;
  report_field f;
  enum kind kind;
  int range; /* print (min-max) too */
};

static void
fmt(char *buf, size_t size, enum kind kind, double v)
{
  if (isnan(v)) {
    snprintf(buf, size, "-");
    return;
  }
  switch (kind) {
  case RATE:
    if (v >= 1e6)
      snprintf(buf, size, "%.2fM", v / 1e6);
    else if (v >= 1e3)
      snprintf(buf, size, "%.1fk", v / 1e3);
    else
      snprintf(buf, size, "%.0f", v);
    break;
  case MBS:
  case BYTES:
    snprintf(buf, size, "%.1f", v);
    break;
  case US:
  case COUNT:
    snprintf(buf, size, "%.0f", v);
    break;
  case MS:
    snprintf(buf, size, "%.2f", v);
    break;
  case MBYTES:
    snprintf(buf, size, "%.1f", v / BENCH_MB);
    break;
  case SECS:
    snprintf(buf, size, "%.2f", v);
    break;
  }
}

static const struct column cols_write[] = {
  { "rec/s", report_f_rec_per_s, RATE, 1 },
  { "MB/s", report_f_mb_per_s, MBS, 0 },
  { "disk B/rec", f_disk, BYTES, 0 },
  { "ovh B/rec", report_f_disk_overhead, BYTES, 0 },
  { "RAM B/rec", report_f_ram_per_rec, BYTES, 0 },
  { "RSS B/rec", f_rss_per_rec, BYTES, 0 },
  { "peak RSS MB", report_f_peak_rss, MBYTES, 0 },
  { "fsyncs", f_fsyncs, COUNT, 0 },
  { "CPU s", f_cpu, SECS, 0 },
  { NULL, NULL, RATE, 0 },
};

static const struct column cols_w3[] = {
  { "MB/s", report_f_mb_per_s, MBS, 1 },
  { "rec/s", report_f_rec_per_s, RATE, 0 },
  { "ovh B/rec", report_f_disk_overhead, BYTES, 0 },
  { "RAM B/rec", report_f_ram_per_rec, BYTES, 0 },
  { "RSS B/rec", f_rss_per_rec, BYTES, 0 },
  { "peak RSS MB", report_f_peak_rss, MBYTES, 0 },
  { "fsyncs", f_fsyncs, COUNT, 0 },
  { "CPU s", f_cpu, SECS, 0 },
  { NULL, NULL, RATE, 0 },
};

static const struct column cols_w2[] = {
  { "rec/s", report_f_rec_per_s, RATE, 1 },
  { "p50 us", f_p50, US, 0 },
  { "p99 us", report_f_p99, US, 0 },
  { "p99.9 us", f_p999, US, 0 },
  { "fsyncs", f_fsyncs, COUNT, 0 },
  { "rec/sync", report_f_recs_per_sync, BYTES, 0 },
  { "sync p50 us", report_f_sync_p50, US, 0 },
  { "sync p99.9 us", report_f_sync_p999, US, 0 },
  { "peak RSS MB", report_f_peak_rss, MBYTES, 0 },
  { "CPU s", f_cpu, SECS, 0 },
  { NULL, NULL, RATE, 0 },
};

static const struct column cols_w4[] = {
  { "MB/s", report_f_mb_per_s, MBS, 1 },
  { "rec/s", report_f_rec_per_s, RATE, 0 },
  { "seconds", f_seconds, SECS, 0 },
  { "peak RSS MB", report_f_peak_rss, MBYTES, 0 },
  { "CPU s", f_cpu, SECS, 0 },
  { NULL, NULL, RATE, 0 },
};

static double
f_dir_back(const struct bench_result *r)
{
  return r->dir_back_ms;
}

static const struct column cols_w5[] = {
  { "space back ms", report_f_space_back_ms, MS, 1 },
  { "durable ms", report_f_durable_ms, MS, 1 },
  { "out of dir ms", f_dir_back, MS, 0 },
  { "freed MB", f_freed, MBYTES, 0 },
  { "disk after MB", f_disk_mb, MBYTES, 0 },
  { "CPU s", f_cpu, SECS, 0 },
  { NULL, NULL, RATE, 0 },
};

struct table {
  const char *workload;
  const struct column *cols;
  int higher_better; /* for the main (first) column */
  const char *main_name;
};

static const struct table tables[] = {
  { "W1", cols_write, 1, "records/s" },
  { "W1b", cols_write, 1, "records/s" },
  { "W2", cols_w2, 1, "records/s" },
  { "W3", cols_w3, 1, "MB/s" },
  { "W4cold", cols_w4, 1, "MB/s" },
  { "W4warm", cols_w4, 1, "MB/s" },
  { "W5", cols_w5, 0, "space-back ms" },
};

/* "128 MiB" or "64 KiB". */
static void
size_text(char *buf, size_t size, uint64_t bytes)
{
  if (bytes % (1u << 20) == 0)
    snprintf(buf, size, "%llu MiB", (unsigned long long)(bytes >> 20));
  else
    snprintf(buf, size, "%llu KiB", (unsigned long long)(bytes >> 10));
}

static void
describe(FILE *out, const struct report_config *c, const char *w)
{
  char seg[32], w5seg[32];

  size_text(seg, sizeof(seg), c->segment_bytes);
  size_text(w5seg, sizeof(w5seg), c->w5_segment_bytes);
  if (strcmp(w, "W1") == 0 || strcmp(w, "W1b") == 0)
    fprintf(out, "%s: %llu x 100 B records, 16 queues, 4 producers, %s, "
            "acknowledged on write, fsync every 10 ms "
            "(mrlog segment_bytes %s)\n", w,
            (unsigned long long)c->w1_records,
            w[2] ? "batches of 100 records per call"
                 : "one append call per record",
            seg);
  else if (strcmp(w, "W2") == 0)
    fprintf(out, "W2: %u threads, append one 100 B record and wait until it "
            "is durable (group commit), %.1f s\n", c->w2_threads,
            c->w2_seconds);
  else if (strcmp(w, "W3") == 0)
    fprintf(out, "W3: %llu x 4 KiB records, W1's policy and shape\n",
            (unsigned long long)c->w3_records);
  else if (strcmp(w, "W4cold") == 0)
    fprintf(out, "W4cold: reopen W1's log and read every record; "
            "time = open + read; page cache dropped first\n");
  else if (strcmp(w, "W4warm") == 0)
    fprintf(out, "W4warm: the same with every file read once first\n");
  else
    fprintf(out, "W5: W1's records written anew (mrlog segment_bytes %s, "
            "so whole segments can be freed), reopened, every queue "
            "truncated to its midpoint (durable); ms until durable and "
            "until 40%% of the payload is free on disk (timeout %g s); no "
            "compaction\n", w5seg, c->w5_timeout_s);
}

/* W5's space column: runs whose space never came back count as +inf in
 * the median; say how many there were instead of printing "inf". */
static void
space_cell(const struct report *rep, const char *engine, char *cell,
           size_t size)
{
  size_t i, n = 0, never = 0, len;
  double m, lo, hi;
  char a[32], b[32];

  for (i = 0; i < rep->n_runs; i++)
    if (strcmp(rep->runs[i].engine, engine) == 0 &&
        strcmp(rep->runs[i].workload, "W5") == 0) {
      n++;
      never += isinf(report_f_space_back_ms(&rep->runs[i])) != 0;
    }
  if (never == 0)
    return;
  report_median(rep, engine, "W5", report_f_space_back_ms, &m, &lo, &hi);
  if (never == n) {
    snprintf(cell, size, "not back within %g s", rep->config->w5_timeout_s);
  } else if (isinf(m)) {
    fmt(a, sizeof(a), MS, lo);
    snprintf(cell, size, "never in %zu/%zu (best %s)", never, n, a);
  } else {
    fmt(a, sizeof(a), MS, m);
    fmt(b, sizeof(b), MS, lo);
    snprintf(cell, size, "%s (%s-never)", a, b);
    if ((len = strlen(cell)) < size)
      snprintf(cell + len, size - len, ", %zu/%zu not back", never, n);
  }
}

static void
print_row(FILE *out, const struct report *rep, const char *engine,
          const struct table *t)
{
  const struct column *c;
  char a[32], b[32], d[32], cell[128];
  double m, lo, hi;
  int64_t errors = 0;
  size_t i;

  fprintf(out, "  %-12s", engine);
  for (c = t->cols; c->head != NULL; c++) {
    report_median(rep, engine, t->workload, c->f, &m, &lo, &hi);
    fmt(a, sizeof(a), c->kind, m);
    if (c->range && !isnan(lo) && lo != hi) {
      fmt(b, sizeof(b), c->kind, lo);
      fmt(d, sizeof(d), c->kind, hi);
      snprintf(cell, sizeof(cell), "%s (%s-%s)", a, b, d);
    } else {
      snprintf(cell, sizeof(cell), "%s", a);
    }
    if (c->f == report_f_space_back_ms)
      space_cell(rep, engine, cell, sizeof(cell));
    fprintf(out, " %*s", c->range ? 24 : (int)strlen(c->head) + 1, cell);
  }
  for (i = 0; i < rep->n_runs; i++)
    if (strcmp(rep->runs[i].engine, engine) == 0 &&
        strcmp(rep->runs[i].workload, t->workload) == 0)
      errors += rep->runs[i].errors;
  fprintf(out, " %6lld\n", (long long)errors);
}

/* Prints "ratio me / best peer" for column f. */
static void
print_me_vs_peer(FILE *out, const struct report *rep, const char *me,
                 const char *workload, report_field f, int higher_better,
                 const char *name)
{
  double m, lo, hi, best;
  const char *peer =
      report_best_peer(rep, workload, f, higher_better, &best);

  if (report_median(rep, me, workload, f, &m, &lo, &hi) == 0)
    fprintf(out, "  %s / best peer, %s: n/a (no %s figure)\n", me, name, me);
  else if (peer == NULL || isinf(best))
    fprintf(out, "  %s / best peer, %s: n/a (no peer figure)\n", me, name);
  else if (isinf(m))
    fprintf(out, "  %s / best peer (%s), %s: n/a (%s: never)\n", me, peer,
            name, me);
  else
    fprintf(out, "  %s / best peer (%s), %s: %.2fx%s\n", me, peer, name,
            m / best, higher_better ? "" : " (lower is better)");
}

/* The same for mrlog and each of its variants that ran the workload
 * (plain "mrlog" even when it did not, so the line says why). */
static void
print_vs_peer(FILE *out, const struct report *rep, const char *workload,
              report_field f, int higher_better, const char *name)
{
  const char *names[16];
  size_t n = report_engines(rep, workload, names, 16), i;
  bool plain = false;

  for (i = 0; i < n; i++) {
    if (report_is_mrlog(names[i])) {
      print_me_vs_peer(out, rep, names[i], workload, f, higher_better, name);
      plain = plain || strcmp(names[i], "mrlog") == 0;
    }
  }
  if (!plain)
    print_me_vs_peer(out, rep, "mrlog", workload, f, higher_better, name);
}

/* mrlog's figure against the device, for W2, W3 and W5. */
static void
print_vs_hardware(FILE *out, const struct report *rep, const char *w)
{
  const struct bench_result *d = rep->device;
  double m, lo, hi, p99;

  if (d == NULL)
    return;
  if (strcmp(w, "W3") == 0 &&
      report_median(rep, "mrlog", "W3", report_f_mb_per_s, &m, &lo, &hi)) {
    fprintf(out, "  mrlog / sequential write bandwidth: %.2f incl. final "
            "fdatasync (%.1f MB/s), %.2f buffered only (%.1f MB/s)\n",
            m / (d->seq_sync_gib_s * BENCH_GIB / BENCH_MB),
            d->seq_sync_gib_s * BENCH_GIB / BENCH_MB,
            m / (d->seq_gib_s * BENCH_GIB / BENCH_MB),
            d->seq_gib_s * BENCH_GIB / BENCH_MB);
  }
  if (strcmp(w, "W5") == 0 && !isnan(d->unlink_free_ms)) {
    const char *names[16];
    size_t i, n = report_engines(rep, "W5", names, 16);

    for (i = 0; i < n; i++) {
      if (!report_is_mrlog(names[i]) ||
          !report_median(rep, names[i], "W5", report_f_space_after_durable_ms,
                         &m, &lo, &hi))
        continue;
      fprintf(out, "  %s space back minus durable / the device's own unlink "
              "of %.1f MB: %.2fx (%.2f of %.2f ms)\n", names[i],
              d->unlink_freed_bytes / BENCH_MB, m / d->unlink_free_ms, m,
              d->unlink_free_ms);
    }
  }
  if (strcmp(w, "W2") == 0 &&
      report_median(rep, "mrlog", "W2", report_f_rec_per_s, &m, &lo, &hi)) {
    report_median(rep, "mrlog", "W2", report_f_p99, &p99, &lo, &hi);
    fprintf(out, "  mrlog records/s / fdatasync rate: %.1fx appending "
            "(%.0f/s), %.1fx overwriting (%.0f/s)\n",
            m / d->sync_append_ops, d->sync_append_ops,
            m / d->sync_over_ops, d->sync_over_ops);
    fprintf(out, "  mrlog p99 / fdatasync p99: %.2fx appending (%.0f us), "
            "%.2fx overwriting (%.0f us)\n",
            p99 / d->sync_append_p99_us, d->sync_append_p99_us,
            p99 / d->sync_over_p99_us, d->sync_over_p99_us);
  }
}

static void
print_device(FILE *out, const struct bench_result *d)
{
  fprintf(out, "DEVICE LIMITS (in the benchmark directory)%s\n",
          d->errors ? " -- ERRORS" : "");
  fprintf(out, "  sequential write, %.0f MiB in 1 MiB pwrites: %.2f GiB/s "
          "buffered, %.2f GiB/s including the final fdatasync\n",
          d->seq_bytes / BENCH_MIB, d->seq_gib_s, d->seq_sync_gib_s);
  fprintf(out, "  4 KiB pwrite + fdatasync, appending:   %8.0f ops/s, "
          "p50 %6.0f us, p99 %6.0f us\n", d->sync_append_ops,
          d->sync_append_p50_us, d->sync_append_p99_us);
  fprintf(out, "  4 KiB pwrite + fdatasync, overwriting: %8.0f ops/s, "
          "p50 %6.0f us, p99 %6.0f us\n", d->sync_over_ops,
          d->sync_over_p50_us, d->sync_over_p99_us);
  if (!isnan(d->unlink_calls_ms))
    fprintf(out, "  unlink of %.0f synced files of %.0f KiB, one after "
            "another: %.2f ms in the calls, %.1f MB free again (statvfs) "
            "after %.2f ms\n", d->unlink_files,
            d->unlink_file_bytes / 1024, d->unlink_calls_ms,
            d->unlink_freed_bytes / BENCH_MB, d->unlink_free_ms);
  if (d->errors)
    fprintf(out, "  error: %s\n", d->error);
  fputc('\n', out);
}

void
report_tables(FILE *out, const struct report *rep)
{
  const struct column *c;
  const char *names[16];
  size_t i, j, n;
  int any_drop = -1;

  fprintf(out, "\nRESULTS: medians over %d run(s), (min-max) beside the "
          "main figure; MB = 1e6 B; dir %s%s\n\n", rep->config->runs,
          rep->config->dir, rep->config->tmpfs ? " (tmpfs!)" : "");
  if (rep->device)
    print_device(out, rep->device);
  for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
    const struct table *t = &tables[i];
    n = report_engines(rep, t->workload, names, 16);
    if (n == 0)
      continue;
    describe(out, rep->config, t->workload);
    fprintf(out, "  %-12s", "engine");
    for (c = t->cols; c->head != NULL; c++)
      fprintf(out, " %*s", c->range ? 24 : (int)strlen(c->head) + 1,
              c->head);
    fprintf(out, " %6s\n", "errors");
    for (j = 0; j < n; j++)
      print_row(out, rep, names[j], t);
    if (rep->config->not_built[0])
      fprintf(out, "  not built: %s\n", rep->config->not_built);
    print_vs_peer(out, rep, t->workload, t->cols[0].f, t->higher_better,
                  t->main_name);
    if (strcmp(t->workload, "W5") == 0)
      print_vs_peer(out, rep, "W5", report_f_durable_ms, 0, "durable ms");
    print_vs_hardware(out, rep, t->workload);
    if (strcmp(t->workload, "W4cold") == 0) {
      for (j = 0; j < rep->n_runs; j++)
        if (strcmp(rep->runs[j].workload, "W4cold") == 0 &&
            rep->runs[j].drop_caches >= 0)
          any_drop = rep->runs[j].drop_caches;
      fprintf(out, "  /proc/sys/vm/drop_caches: %s\n",
              any_drop == 1 ? "written (permitted)"
              : any_drop == 0 ? "not permitted (fadvise DONTNEED only)"
                              : "-");
    }
    for (j = 0; j < rep->n_runs; j++)
      if (strcmp(rep->runs[j].workload, t->workload) == 0 &&
          rep->runs[j].errors)
        fprintf(out, "  ERROR %s run %d: %s\n", rep->runs[j].engine,
                rep->runs[j].run, rep->runs[j].error);
    fputc('\n', out);
  }
}

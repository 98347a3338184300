/*
 * targets.c -- the targets section: each of mrlog's performance targets,
 * MET / NOT MET, with the measured value next to the target.
 *
 * Invariants:
 *   1. Every comparison uses medians over the runs (report_median).
 *   2. Targets against a peer print the measured ratio mrlog / peer (the
 *      peer with the best median records/s); absolute targets print the
 *      measured value and, as "ratio", measured / target -- so a ratio
 *      >= 1 meets an "at least" target and <= 1 an "at most" one.
 *   3. A target whose inputs were not measured (workload or engine not
 *      run, device skipped) prints "n/a", never MET.
 */
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum cmp { AT_LEAST, AT_MOST };

/* Three significant digits, without exponents for large values. */
static void
num(char *buf, size_t size, double v)
{
  if (fabs(v) >= 1000)
    snprintf(buf, size, "%.0f", v);
  else
    snprintf(buf, size, "%.3g", v);
}

/* One target line.  measured and target are in the same unit (unit, e.g.
 * "x" or " MB/s"); detail says where the figures come from. */
static void
line(FILE *out, const char *what, double measured, double target,
     enum cmp cmp, const char *unit, int show_ratio, const char *detail)
{
  char m[48], t[48], ratio[32] = "";
  int met;

  if (isnan(measured) || isnan(target)) {
    fprintf(out, "  %-54s n/a      %s\n", what,
            detail ? detail : "not measured");
    return;
  }
  met = cmp == AT_LEAST ? measured >= target : measured <= target;
  if (isinf(measured))
    snprintf(m, sizeof(m), "never");
  else
    num(m, sizeof(m), measured);
  num(t, sizeof(t), target);
  if (show_ratio && target != 0 && !isinf(measured))
    snprintf(ratio, sizeof(ratio), ", ratio %.2f", measured / target);
  fprintf(out, "  %-54s %-8s measured %s%s (target %s %s%s%s)%s%s\n", what,
          met ? "MET" : "NOT MET", m, isinf(measured) ? "" : unit,
          cmp == AT_LEAST ? ">=" : "<=", t, unit, ratio, detail ? "  " : "",
          detail ? detail : "");
}

static double
median(const struct report *rep, const char *engine, const char *w,
       report_field f)
{
  double m, lo, hi;

  report_median(rep, engine, w, f, &m, &lo, &hi);
  return m;
}

/* mrlog's records/s against factor x the best peer's. */
static void
vs_peer(FILE *out, const struct report *rep, const char *me, const char *w,
        double factor, const char *what)
{
  char detail[160];
  double m = median(rep, me, w, report_f_rec_per_s), best;
  const char *peer = report_best_peer(rep, w, report_f_rec_per_s, 1, &best);

  if (peer == NULL) {
    line(out, what, NAN, factor, AT_LEAST, "x", 0, "no peer figure");
    return;
  }
  snprintf(detail, sizeof(detail), "%s %.0f rec/s, %s %.0f rec/s", me, m,
           peer, best);
  line(out, what, m / best, factor, AT_LEAST, "x", 0, detail);
}

/* An absolute target on mrlog's median of f, shown in unit/div. */
static void
absolute(FILE *out, const struct report *rep, const char *me, const char *w,
         report_field f, enum cmp cmp, double target, double div,
         const char *unit, const char *what)
{
  line(out, what, median(rep, me, w, f) / div, target / div, cmp, unit, 1,
       NULL);
}

static void
w2_latency(FILE *out, const struct report *rep, const char *me)
{
  char detail[160];
  double p99 = median(rep, me, "W2", report_f_p99), best, peer_p99;
  const char *peer = report_best_peer(rep, "W2", report_f_rec_per_s, 1, &best);

  if (peer == NULL) {
    line(out, "W2 p99 <= best peer's p99", NAN, NAN, AT_MOST, " us", 1,
         "no peer figure");
    return;
  }
  peer_p99 = median(rep, peer, "W2", report_f_p99);
  snprintf(detail, sizeof(detail), "%s's p99", peer);
  line(out, "W2 p99 <= best peer's p99", p99, peer_p99, AT_MOST, " us", 1,
       detail);
}

static void
w3_bandwidth(FILE *out, const struct report *rep, const char *me)
{
  const struct bench_result *d = rep->device;
  char detail[160];
  double m = median(rep, me, "W3", report_f_mb_per_s), bw;

  if (d == NULL) {
    line(out, "W3 >= 90% of seq. write bandwidth (incl. fdatasync)", NAN,
         NAN, AT_LEAST, "", 0, "device limits not measured");
    return;
  }
  bw = d->seq_sync_gib_s * BENCH_GIB / BENCH_MB;
  snprintf(detail, sizeof(detail), "%.0f of %.0f MB/s; the bandwidth "
           "includes the final fdatasync", m, bw);
  line(out, "W3 >= 90% of seq. write bandwidth (incl. fdatasync)", m / bw,
       0.9, AT_LEAST, "", 0, detail);
}

static void
w5_space(FILE *out, const struct report *rep, const char *me)
{
  const char *what = "W5 space back within 10 ms of durable truncation";
  double m = median(rep, me, "W5", report_f_space_after_durable_ms);
  const struct bench_result *d = rep->device;
  char detail[160];

  if (isinf(m)) {
    snprintf(detail, sizeof(detail), "not back within the %g s timeout "
             "(median run)", rep->config->w5_timeout_s);
    line(out, what, INFINITY, 10, AT_MOST, " ms", 0, detail);
  } else {
    if (d != NULL && !isnan(d->unlink_free_ms))
      snprintf(detail, sizeof(detail), "space-back minus durable; the "
               "device alone frees %.1f MB by unlink in %.2f ms",
               d->unlink_freed_bytes / BENCH_MB, d->unlink_free_ms);
    else
      snprintf(detail, sizeof(detail), "space-back minus durable");
    line(out, what, m, 10, AT_MOST, " ms", 1, isnan(m) ? NULL : detail);
  }
}

static void
w1_rss(FILE *out, const struct report *rep, const char *me)
{
  char detail[120];
  double rss = median(rep, me, "W1", report_f_peak_rss);
  double retained = median(rep, me, "W1", report_f_retained);
  double limit = 1.15 * retained + 32 * BENCH_MB;

  snprintf(detail, sizeof(detail), "retained payload %.1f MB",
           retained / BENCH_MB);
  line(out, "W1 peak RSS <= 1.15 x retained payload + 32 MB", rss / BENCH_MB,
       limit / BENCH_MB, AT_MOST, " MB", 1, isnan(rss) ? NULL : detail);
}

/* The targets for one of mrlog's engines (me: "mrlog" or a variant). */
static void
targets_for(FILE *out, const struct report *rep, const char *me)
{
  fprintf(out, "TARGETS for %s (medians over the runs; MB = 1e6 B, "
          "GB = 1e9 B)\n", me);
  vs_peer(out, rep, me, "W1", 1.5, "W1 per-record >= 1.5x best peer");
  absolute(out, rep, me, "W1", report_f_rec_per_s, AT_LEAST, 6e6, 1e6,
           " M rec/s", "W1 per-record >= 6 M rec/s");
  absolute(out, rep, me, "W1b", report_f_rec_per_s, AT_LEAST, 20e6, 1e6,
           " M rec/s", "W1b >= 20 M rec/s");
  vs_peer(out, rep, me, "W2", 2.0, "W2 >= 2x best peer's records/s");
  w2_latency(out, rep, me);
  w3_bandwidth(out, rep, me);
  absolute(out, rep, me, "W4warm", report_f_mb_per_s, AT_LEAST, 2000, 1000,
           " GB/s", "W4warm >= 2 GB/s payload");
  w5_space(out, rep, me);
  absolute(out, rep, me, "W1", report_f_disk_overhead, AT_MOST, 2, 1,
           " B/rec", "W1 disk overhead <= 2 B/record");
  absolute(out, rep, me, "W1b", report_f_disk_overhead, AT_MOST, 2, 1,
           " B/rec", "W1b disk overhead <= 2 B/record");
  absolute(out, rep, me, "W1", report_f_ram_per_rec, AT_MOST, 12, 1,
           " B/rec", "W1 RAM <= 12 B/retained record beyond payload");
  w1_rss(out, rep, me);
  fputc('\n', out);
}

void
report_targets(FILE *out, const struct report *rep)
{
  const char *names[16];
  size_t n = report_all_engines(rep, names, 16), i, shown = 0;

  for (i = 0; i < n; i++) {
    if (report_is_mrlog(names[i])) {
      targets_for(out, rep, names[i]);
      shown++;
    }
  }
  if (shown == 0)
    targets_for(out, rep, "mrlog"); /* every line n/a: not measured */
}

/*
 * targets.c -- the targets section: each of mrlog's performance targets,
 * MET / NOT MET, with the measured value next to the target.
 *
 * Invariants:
 *   1. Every comparison uses medians over the runs (report_median).
 *   2. Targets against a peer print the measured ratio mrlog / peer (the
 *      peer the target names, else the one with the best median of the
 *      figure compared; W2's latencies use the peer with the best median
 *      records/s, the one a user would pick); absolute targets print the
 *      measured value and, as "ratio", measured / target -- so a ratio
 *      >= 1 meets an "at least" target and <= 1 an "at most" one.
 *   3. A target whose inputs were not measured (workload or engine not
 *      run, device skipped) prints "n/a", never MET.
 *   4. A throughput target that is not met says what bounded the run: the
 *      cores it kept busy (the child's CPU seconds over the timed seconds,
 *      so setup counts too) and its CPU per record beside the peer's.
 */
#include "report.h"

#include <math.h>
#include <stdbool.h>
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

/* What bounded a throughput run, for a target that is not met: how many
 * of the machine's cores the run kept busy (CPU seconds of the whole run
 * over its timed seconds) and its CPU per record beside the peer's. */
static void
limit_note(char *buf, size_t size, const struct report *rep, const char *me,
           const char *peer, const char *w)
{
  double cpu = median(rep, me, w, report_f_cpu_s);
  double secs = median(rep, me, w, report_f_seconds);
  double recs = median(rep, me, w, report_f_rec_per_s) * secs;
  double pcpu = peer ? median(rep, peer, w, report_f_cpu_s) : NAN;
  double precs = peer ? median(rep, peer, w, report_f_rec_per_s) *
                        median(rep, peer, w, report_f_seconds) : NAN;
  const char *busiest = report_busiest_name(rep, me, w);
  size_t n;

  if (isnan(cpu) || isnan(secs) || secs <= 0 || recs <= 0) {
    snprintf(buf, size, "limit: not measured");
    return;
  }
  n = (size_t)snprintf(buf, size, "limit: %.2f of %u cores busy, %.0f ns "
                       "CPU/record", cpu / secs, rep->config->cores,
                       cpu / recs * 1e9);
  if (peer != NULL && !isnan(pcpu) && precs > 0 && n < size)
    n += (size_t)snprintf(buf + n, size - n, " (%s %.0f ns)", peer,
                          pcpu / precs * 1e9);
  /* The serial stage: the thread that ran most, and how much of the run. */
  if (busiest != NULL && n < size)
    n += (size_t)snprintf(buf + n, size - n, "; busiest thread %s: on a "
                          "core %.0f%% of the run, waiting for one %.0f%%, "
                          "%.0f ns/record", busiest,
                          100 * median(rep, me, w, report_f_busiest_share),
                          100 * median(rep, me, w,
                                       report_f_busiest_wait_share),
                          median(rep, me, w, report_f_busiest_ns_per_rec));
  /* A durable workload's rate is records per sync times syncs per second. */
  if (strcmp(w, "W2") == 0 && n < size)
    n += (size_t)snprintf(buf + n, size - n, "; %.1f records per device "
                          "sync, sync p50 %.0f us",
                          median(rep, me, w, report_f_recs_per_sync),
                          median(rep, me, w, report_f_sync_p50));
  if (strcmp(w, "W2") == 0 && peer != NULL && n < size)
    snprintf(buf + n, size - n, " (%s %.1f, %.0f us)", peer,
             median(rep, peer, w, report_f_recs_per_sync),
             median(rep, peer, w, report_f_sync_p50));
}

/* mrlog's median of f against factor x one peer's (peer NULL: the best
 * peer's by f).  When not met, the detail says what bounded the run. */
static void
vs_peer_f(FILE *out, const struct report *rep, const char *me, const char *w,
          const char *peer, report_field f, const char *unit, double factor,
          const char *what)
{
  char detail[480], note[320];
  double m = median(rep, me, w, f), theirs;
  size_t n;

  if (peer == NULL)
    peer = report_best_peer(rep, w, f, 1, &theirs);
  else
    theirs = median(rep, peer, w, f);
  if (peer == NULL || isnan(theirs) || theirs <= 0) {
    line(out, what, NAN, factor, AT_LEAST, "x", 0, "no peer figure");
    return;
  }
  n = (size_t)snprintf(detail, sizeof(detail), "%s %.0f %s, %s %.0f %s", me,
                       m, unit, peer, theirs, unit);
  if (m / theirs < factor && n < sizeof(detail)) {
    limit_note(note, sizeof(note), rep, me, peer, w);
    snprintf(detail + n, sizeof(detail) - n, "; %s", note);
  }
  line(out, what, m / theirs, factor, AT_LEAST, "x", 0, detail);
}

/* An absolute target on mrlog's median of f, shown in unit/div. */
static void
absolute(FILE *out, const struct report *rep, const char *me, const char *w,
         report_field f, enum cmp cmp, double target, double div,
         const char *unit, const char *what)
{
  char note[320];
  double m = median(rep, me, w, f);
  int met = cmp == AT_LEAST ? m >= target : m <= target;

  bool throughput = f == report_f_mb_per_s || f == report_f_rec_per_s;

  if (throughput && !isnan(m) && !met)
    limit_note(note, sizeof(note), rep, me, NULL, w);
  line(out, what, m / div, target / div, cmp, unit, 1,
       throughput && !isnan(m) && !met ? note : NULL);
}

/* W2 latency percentile f of mrlog against the best peer's (by records/s:
 * the peer a user would pick for this workload). */
static void
w2_latency(FILE *out, const struct report *rep, const char *me,
           report_field f, const char *what)
{
  char detail[240];
  double mine = median(rep, me, "W2", f), best, theirs;
  const char *peer = report_best_peer(rep, "W2", report_f_rec_per_s, 1, &best);

  if (peer == NULL) {
    line(out, what, NAN, NAN, AT_MOST, " us", 1, "no peer figure");
    return;
  }
  theirs = median(rep, peer, "W2", f);
  snprintf(detail, sizeof(detail), "%s's; device syncs p50 / p99.9: %s "
           "%.0f / %.0f us, %s %.0f / %.0f us", peer, me,
           median(rep, me, "W2", report_f_sync_p50),
           median(rep, me, "W2", report_f_sync_p999), peer,
           median(rep, peer, "W2", report_f_sync_p50),
           median(rep, peer, "W2", report_f_sync_p999));
  line(out, what, mine, theirs, AT_MOST, " us", 1, detail);
}

/* W3's MB/s against the device's sequential write rate including the
 * final fdatasync (what a durable stream of writes can reach); the
 * buffered-only rate is shown beside it. */
static void
w3_bandwidth(FILE *out, const struct report *rep, const char *me)
{
  const char *what = "W3 >= 70% of the device's sequential write";
  const struct bench_result *d = rep->device;
  char detail[200];
  double m = median(rep, me, "W3", report_f_mb_per_s), bw, buffered;

  if (d == NULL) {
    line(out, what, NAN, NAN, AT_LEAST, "", 0, "device limits not measured");
    return;
  }
  bw = d->seq_sync_gib_s * BENCH_GIB / BENCH_MB;
  buffered = d->seq_gib_s * BENCH_GIB / BENCH_MB;
  snprintf(detail, sizeof(detail), "%.0f of %.0f MB/s (1 MiB pwrites and "
           "the final fdatasync; %.2f of the %.0f MB/s buffered only)", m, bw,
           m / buffered, buffered);
  line(out, what, m / bw, 0.7, AT_LEAST, "", 0, detail);
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

/* Peak resident memory of a run against factor x its retained payload. */
static void
rss_vs_payload(FILE *out, const struct report *rep, const char *me,
               const char *w, double factor, const char *what)
{
  char detail[120];
  double rss = median(rep, me, w, report_f_peak_rss);
  double retained = median(rep, me, w, report_f_retained);

  snprintf(detail, sizeof(detail), "retained payload %.1f MB",
           retained / BENCH_MB);
  line(out, what, rss / BENCH_MB, factor * retained / BENCH_MB, AT_MOST,
       " MB", 1, isnan(rss) || isnan(retained) ? NULL : detail);
}

/* The targets for one of mrlog's engines (me: "mrlog", the default policy,
 * or a variant "mrlog-<store>"). */
static void
targets_for(FILE *out, const struct report *rep, const char *me)
{
  fprintf(out, "TARGETS for %s%s (medians over the runs; MB = 1e6 B, "
          "GB = 1e9 B)\n", me,
          strcmp(me, "mrlog") == 0 ? ", the default policy" : "");
  vs_peer_f(out, rep, me, "W1", "lmdb", report_f_rec_per_s, "rec/s", 2.5,
            "W1 (100 B, 4 producers) >= 2.5x LMDB");
  vs_peer_f(out, rep, me, "W1b", "lmdb", report_f_rec_per_s, "rec/s", 3.0,
            "W1b (batches of 100) >= 3x LMDB's W1b");
  vs_peer_f(out, rep, me, "W3", "lmdb", report_f_mb_per_s, "MB/s", 3.0,
            "W3 (4 KiB) >= 3x LMDB");
  w3_bandwidth(out, rep, me);
  vs_peer_f(out, rep, me, "W2", NULL, report_f_rec_per_s, "rec/s", 2.0,
            "W2 (durable, 64 writers) >= 2x best peer's rec/s");
  w2_latency(out, rep, me, report_f_p99, "W2 p99 <= best peer's p99");
  w2_latency(out, rep, me, report_f_p999, "W2 p99.9 <= best peer's p99.9");
  absolute(out, rep, me, "W4warm", report_f_mb_per_s, AT_LEAST, 2000, 1000,
           " GB/s", "W4warm (reopen + full read) >= 2 GB/s payload");
  rss_vs_payload(out, rep, me, "W3", 1.2,
                 "W3 peak RSS <= 1.2 x retained payload");
  fprintf(out, " further targets:\n");
  w5_space(out, rep, me);
  absolute(out, rep, me, "W1", report_f_disk_overhead, AT_MOST, 2, 1,
           " B/rec", "W1 disk overhead <= 2 B/record");
  absolute(out, rep, me, "W1b", report_f_disk_overhead, AT_MOST, 2, 1,
           " B/rec", "W1b disk overhead <= 2 B/record");
  absolute(out, rep, me, "W1", report_f_ram_per_rec, AT_MOST, 12, 1,
           " B/rec", "W1 RAM <= 12 B/retained record beyond payload");
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

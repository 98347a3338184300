/*
 * watch_bench.c -- appends/s to a few busy queues with and without
 * 100,000 idle watches on other queues (mrlog_watch): a watch must cost
 * no work until its own queue changes.
 *
 *   bench/mrlog-watch-bench [DIR] [APPENDS] [RUNS]
 *
 * Opens a log in DIR (default or "": a new directory under $TMPDIR or /tmp,
 * removed at the end) with fsync_interval_ms 1000, so the figure is the
 * library's work rather than the device's.  Creates IDLE_QUEUES idle
 * queues and BUSY_QUEUES busy ones; then, RUNS times, measures APPENDS
 * appends of RECORD_BYTES bytes round-robin over the busy queues
 * (submitted without waiting, then one mrlog_sync) once without watches
 * and once with one pending watch on each idle queue (all cancelled
 * after the run), in alternating order.  Prints each run and the medians
 * (RUNS defaults to 7, APPENDS to 500,000).
 */
#define _GNU_SOURCE 1
#include "mrlog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define IDLE_QUEUES 100000
#define BUSY_QUEUES 8
#define RECORD_BYTES 64

static double
now_s(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what, int rc)
{
  fprintf(stderr, "watch_bench: %s: %s\n", what, mrlog_strerror(rc));
  exit(1);
}

/* CPU seconds (user + system) the process has used, all threads. */
static double
cpu_s(void)
{
  struct rusage ru;

  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Appends/s; OUT: *cpu_ns, CPU nanoseconds per append (all threads). */
static double
measure(mrlog *log, long appends, double *cpu_ns)
{
  char rec[RECORD_BYTES], name[32];
  double t0 = now_s(), c0 = cpu_s();
  long i;
  int rc;

  memset(rec, 'x', sizeof(rec));
  for (i = 0; i < appends; i++) {
    snprintf(name, sizeof(name), "busy%ld", i % BUSY_QUEUES);
    mrlog_forget(mrlog_append(log, name, NULL, rec, sizeof(rec), NULL, NULL));
  }
  if ((rc = mrlog_wait(mrlog_sync(log, NULL, NULL), NULL)) != 0)
    die("mrlog_sync", rc);
  *cpu_ns = (cpu_s() - c0) * 1e9 / (double)appends;
  return (double)appends / (now_s() - t0);
}

static int
cmp(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;

  return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
  qsort(v, (size_t)n, sizeof(*v), cmp);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int
main(int argc, char **argv)
{
  char tmpl[256], name[32];
  const char *dir;
  long appends = argc > 2 ? atol(argv[2]) : 500000;
  int runs = argc > 3 ? atoi(argv[3]) : 7, r, rc;
  long i;
  mrlog_policy p;
  mrlog *log;
  mrlog_future **watches = calloc(IDLE_QUEUES, sizeof(*watches));
  double *without = calloc((size_t)runs, sizeof(double));
  double *with = calloc((size_t)runs, sizeof(double));
  double *cpu_without = calloc((size_t)runs, sizeof(double));
  double *cpu_with = calloc((size_t)runs, sizeof(double));
  double warm;

  if (watches == NULL || without == NULL || with == NULL ||
      cpu_without == NULL || cpu_with == NULL || runs < 1)
    return 1;
  if (argc > 1 && argv[1][0] != '\0') {
    dir = argv[1];
  } else {
    snprintf(tmpl, sizeof(tmpl), "%s/mrlog-watch-bench.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if ((dir = mkdtemp(tmpl)) == NULL)
      return 1;
  }
  mrlog_policy_init(&p);
  p.fsync_interval_ms = 1000;
  if ((rc = mrlog_open(dir, &p, &log)) != 0)
    die("mrlog_open", rc);
  for (i = 0; i < IDLE_QUEUES; i++) {
    snprintf(name, sizeof(name), "idle%ld", i);
    mrlog_forget(mrlog_create_queue(log, name, NULL, NULL));
  }
  for (i = 0; i < BUSY_QUEUES; i++) {
    snprintf(name, sizeof(name), "busy%ld", i);
    mrlog_forget(mrlog_create_queue(log, name, NULL, NULL));
  }
  if ((rc = mrlog_wait(mrlog_sync(log, NULL, NULL), NULL)) != 0)
    die("mrlog_sync", rc);
  measure(log, appends / 4, &warm); /* warm-up */
  for (r = 0; r < runs; r++) {
    /* Odd runs measure with watches first: no order favours either. */
    if (r % 2 == 0)
      without[r] = measure(log, appends, &cpu_without[r]);
    for (i = 0; i < IDLE_QUEUES; i++) {
      snprintf(name, sizeof(name), "idle%ld", i);
      watches[i] = mrlog_watch(log, name, 0, NULL, NULL);
    }
    with[r] = measure(log, appends, &cpu_with[r]);
    for (i = 0; i < IDLE_QUEUES; i++) {
      if ((rc = mrlog_cancel(watches[i])) != 0)
        die("mrlog_cancel (a watch completed)", rc);
      if ((rc = mrlog_wait(watches[i], NULL)) != MRLOG_ECANCELED)
        die("mrlog_wait", rc);
    }
    if (r % 2 == 1)
      without[r] = measure(log, appends, &cpu_without[r]);
    printf("run %d: without watches %.0f appends/s (%.0f ns CPU each), "
           "with %d idle watches %.0f appends/s (%.0f ns)\n", r + 1,
           without[r], cpu_without[r], IDLE_QUEUES, with[r], cpu_with[r]);
  }
  {
    double a = median(without, runs), b = median(with, runs);
    double ca = median(cpu_without, runs), cb = median(cpu_with, runs);

    printf("median of %d runs (%ld appends of %d bytes to %d queues): "
           "without watches %.0f appends/s, %.0f ns CPU per append; with "
           "%d idle watches %.0f appends/s (%+.1f%%), %.0f ns (%+.1f%%)\n",
           runs, appends, RECORD_BYTES, BUSY_QUEUES, a, ca, IDLE_QUEUES, b,
           100.0 * (b / a - 1.0), cb, 100.0 * (cb / ca - 1.0));
  }
  if ((rc = mrlog_close(log)) != 0)
    die("mrlog_close", rc);
  if (dir == tmpl) {
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
      fprintf(stderr, "watch_bench: could not remove %s\n", dir);
  }
  free(watches);
  free(without);
  free(with);
  free(cpu_without);
  free(cpu_with);
  return 0;
}

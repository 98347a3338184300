/*
 * cursor_bench.c -- records per second read through a cursor
 * (mrlog_cursor_next) against mrlog_range over the same queue, for both
 * record stores.  `make bench-cursor` runs it.
 *
 * One log in a fresh temporary directory per store; one queue of RECORDS
 * records of --bytes bytes, written in batches and synced before any
 * read.  Each run reads the whole queue once each way -- mrlog_range,
 * mrlog_range_time (which, like a cursor, gives each record's time) and a
 * cursor -- in an order that rotates from run to run; every way touches
 * each record alike (its length and first byte go into a checksum, which
 * must agree).  Prints the median of the runs of each, in millions of
 * records per second of the reading thread's CPU time, and the cursor's
 * ratio to each.
 *
 * With --drop-cache it measures instead what a read costs once the kernel
 * has dropped its page cache (memory pressure, or a log larger than RAM):
 * each run writes the queue into a fresh log, syncs, drops the page cache
 * (writes 3 to /proc/sys/vm/drop_caches: needs root), then reads the
 * whole queue with mrlog_range twice, timed by the wall clock (the cold
 * read waits for the disk, which CPU time does not count), and counts the
 * major faults of the cold read.  The copy store reads its own anonymous
 * memory, which the drop leaves in place; the mapped store reads the
 * page cache, so its cold read faults every page back in from the disk.
 * Prints the medians of the runs, in MB/s of payload.
 *
 * Options: --records N (default 2,000,000), --bytes N (default 100),
 * --runs N (default 9), --store copy|mapped|both (default both),
 * --drop-cache (no value).  Exit status: 0, or 1 on any error or a
 * checksum that differs.
 */
#define _GNU_SOURCE
#include <mrlog.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define BATCH 1000
#define MAX_RUNS 51

struct sum {
  uint64_t records;
  uint64_t check;
};

/* The reading thread's CPU time: all three ways read on the calling
 * thread, and on a shared machine wall time mostly measures the others. */
static double now_s(void) {
  struct timespec ts;

  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int visit(void *arg, uint64_t position, const void *data, size_t len) {
  struct sum *s = arg;

  (void)position;
  s->records++;
  s->check += len + (len ? *(const unsigned char *)data : 0);
  return 0;
}

static int visit_time(void *arg, uint64_t position, uint64_t unix_ms,
                      const void *data, size_t len) {
  struct sum *s = arg;

  (void)position;
  s->records++;
  (void)unix_ms;
  s->check += len + (len ? *(const unsigned char *)data : 0);
  return 0;
}

/* Wall-clock time, for reads that wait for the disk. */
static double wall_s(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Major page faults of the process so far. */
static long major_faults(void) {
  struct rusage ru;

  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_majflt;
}

static int by_range(mrlog *log, struct sum *s) {
  return mrlog_range(log, "q", 0, UINT64_MAX, visit, s);
}

static int by_range_time(mrlog *log, struct sum *s) {
  return mrlog_range_time(log, "q", 0, UINT64_MAX, visit_time, s);
}

static int by_cursor(mrlog *log, struct sum *s) {
  struct mrlog_record r;
  mrlog_cursor *cur;
  int rc = mrlog_cursor_open(log, "q", 0, &cur);

  if (rc != 0)
    return rc;
  while ((rc = mrlog_cursor_next(cur, &r)) == 0) {
    s->records++;
    s->check += r.len + (r.len ? *(const unsigned char *)r.data : 0);
  }
  mrlog_cursor_close(cur);
  return rc == MRLOG_ENODATA ? 0 : rc;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;

  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof(*v), cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int fill(mrlog *log, long records, size_t bytes) {
  struct iovec iov[BATCH];
  unsigned char *buf = malloc(bytes * BATCH + 1);
  long i, done = 0;
  int rc;

  if (buf == NULL)
    return MRLOG_ENOMEM;
  for (i = 0; i < BATCH; i++) {
    memset(buf + i * bytes, (int)(i & 0xff), bytes);
    iov[i].iov_base = buf + i * bytes;
    iov[i].iov_len = bytes;
  }
  rc = mrlog_wait(mrlog_create_queue(log, "q", NULL, NULL), NULL);
  while (rc == 0 && done < records) {
    size_t n = records - done < BATCH ? (size_t)(records - done) : BATCH;
    mrlog_forget(mrlog_append_batch(log, "q", NULL, iov, n, NULL, NULL));
    done += (long)n;
  }
  if (rc == 0)
    rc = mrlog_wait(mrlog_sync(log, NULL, NULL), NULL);
  free(buf);
  return rc;
}

#define WAYS 3
static const char *const way_names[WAYS] = { "mrlog_range",
                                             "mrlog_range_time", "cursor" };
static int (*const ways[WAYS])(mrlog *, struct sum *) = {
  by_range, by_range_time, by_cursor
};

static int run_store(const char *name, int store, long records, size_t bytes,
                     int runs) {
  char dir[] = "/tmp/mrlog-cursor-bench-XXXXXX";
  double t[WAYS][MAX_RUNS], m[WAYS];
  mrlog_policy p;
  mrlog *log = NULL;
  int i, w, rc;

  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  mrlog_policy_init(&p);
  p.record_store = store;
  p.memory_limit = 8ull << 30;
  rc = mrlog_open(dir, &p, &log);
  if (rc == 0)
    rc = fill(log, records, bytes);
  for (i = 0; rc == 0 && i < runs; i++) {
    struct sum s[WAYS];
    int k;

    for (k = 0; rc == 0 && k < WAYS; k++) {
      double t0;

      w = (i + k) % WAYS; /* the order rotates */
      s[w].records = s[w].check = 0;
      t0 = now_s();
      rc = ways[w](log, &s[w]);
      t[w][i] = now_s() - t0;
    }
    for (w = 0; rc == 0 && w < WAYS; w++) {
      if (s[w].records != (uint64_t)records || s[w].check != s[0].check) {
        fprintf(stderr, "%s: %s read %ju records (checksum %ju), %s %ju "
                "(%ju)\n", name, way_names[w], (uintmax_t)s[w].records,
                (uintmax_t)s[w].check, way_names[0],
                (uintmax_t)s[0].records, (uintmax_t)s[0].check);
        rc = 1;
      }
    }
  }
  if (log != NULL && rc == 0)
    rc = mrlog_close(log);
  else if (log != NULL)
    mrlog_close(log);
  {
    char cmd[sizeof(dir) + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
      fprintf(stderr, "could not remove %s\n", dir);
  }
  if (rc != 0) {
    fprintf(stderr, "%s: %s\n", name, rc > 0 ? "mismatch" : mrlog_strerror(rc));
    return 1;
  }
  for (w = 0; w < WAYS; w++)
    m[w] = records / median(t[w], runs) / 1e6;
  printf("%-6s %ld records of %zu B, M records/s (medians of %d runs): "
         "mrlog_range %.1f, mrlog_range_time %.1f, cursor %.1f; "
         "cursor/range %.2f, cursor/range_time %.2f\n",
         name, records, bytes, runs, m[0], m[1], m[2], m[2] / m[0],
         m[2] / m[1]);
  return 0;
}

/* Writes 3 to drop_caches after a sync: clean page cache that no process
 * has mapped is dropped (pages a mapping has faulted in stay, which is why
 * each run reads a fresh log). */
static int drop_page_cache(void) {
  FILE *f;

  sync();
  f = fopen("/proc/sys/vm/drop_caches", "w");
  if (f == NULL || fputs("3\n", f) == EOF || fclose(f) != 0) {
    perror("/proc/sys/vm/drop_caches (needs root)");
    return 1;
  }
  return 0;
}

/* One run of --drop-cache: a fresh log, filled, the cache dropped, one
 * cold and one warm read.  OUT: cold and warm seconds, cold major
 * faults. */
static int drop_cache_run(int store, long records, size_t bytes,
                          double *cold, double *warm, long *faults) {
  char dir[] = "/tmp/mrlog-cursor-bench-XXXXXX";
  char cmd[sizeof(dir) + 16];
  struct sum s = { 0, 0 };
  mrlog_policy p;
  mrlog *log = NULL;
  double t0;
  long f0 = 0;
  int rc;

  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  mrlog_policy_init(&p);
  p.record_store = store;
  p.memory_limit = 8ull << 30;
  rc = mrlog_open(dir, &p, &log);
  if (rc == 0)
    rc = fill(log, records, bytes);
  if (rc == 0)
    rc = drop_page_cache();
  if (rc == 0) {
    f0 = major_faults();
    t0 = wall_s();
    rc = by_range(log, &s);
    *cold = wall_s() - t0;
    *faults = major_faults() - f0;
  }
  if (rc == 0 && s.records != (uint64_t)records)
    rc = 1;
  if (rc == 0) {
    s.records = 0;
    t0 = wall_s();
    rc = by_range(log, &s);
    *warm = wall_s() - t0;
  }
  if (rc == 0 && s.records != (uint64_t)records)
    rc = 1;
  if (log != NULL && mrlog_close(log) != 0 && rc == 0)
    rc = 1;
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
  if (rc < 0)
    fprintf(stderr, "%s\n", mrlog_strerror(rc));
  return rc != 0;
}

static int run_drop_cache(const char *name, int store, long records,
                          size_t bytes, int runs) {
  double cold[MAX_RUNS], warm[MAX_RUNS], faults[MAX_RUNS];
  double mb = (double)records * (double)bytes / 1e6;
  int i;

  for (i = 0; i < runs; i++) {
    long f = 0;

    if (drop_cache_run(store, records, bytes, &cold[i], &warm[i], &f) != 0)
      return 1;
    faults[i] = (double)f;
  }
  printf("%-6s %ld records of %zu B after drop_caches, MB/s (medians of %d "
         "runs): cold read %.0f (%.0f major faults), warm read %.0f\n",
         name, records, bytes, runs, mb / median(cold, runs),
         median(faults, runs), mb / median(warm, runs));
  return 0;
}

int main(int argc, char **argv) {
  long records = 2000000;
  size_t bytes = 100;
  const char *store = "both";
  int i, runs = 9, drop = 0;

  for (i = 1; i < argc; i++) {
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;

    if (strcmp(argv[i], "--drop-cache") == 0)
      drop = 1;
    else if (val != NULL && strcmp(argv[i], "--records") == 0)
      records = atol(argv[++i]);
    else if (val != NULL && strcmp(argv[i], "--bytes") == 0)
      bytes = (size_t)atol(argv[++i]);
    else if (val != NULL && strcmp(argv[i], "--runs") == 0)
      runs = atoi(argv[++i]);
    else if (val != NULL && strcmp(argv[i], "--store") == 0)
      store = argv[++i];
    else
      break;
  }
  if (i < argc || records < 1 || bytes < 1 || bytes > 65536 || runs < 1 ||
      runs > MAX_RUNS || (strcmp(store, "copy") != 0 &&
                          strcmp(store, "mapped") != 0 &&
                          strcmp(store, "both") != 0)) {
    fprintf(stderr, "usage: %s [--records N] [--bytes 1..65536] "
            "[--runs 1..%d] [--store copy|mapped|both] [--drop-cache]\n",
            argv[0], MAX_RUNS);
    return 1;
  }
  if (drop) {
    if (strcmp(store, "mapped") != 0 &&
        run_drop_cache("copy", MRLOG_STORE_COPY, records, bytes, runs) != 0)
      return 1;
    if (strcmp(store, "copy") != 0 &&
        run_drop_cache("mapped", MRLOG_STORE_MAPPED, records, bytes,
                       runs) != 0)
      return 1;
    return 0;
  }
  if (strcmp(store, "mapped") != 0 &&
      run_store("copy", MRLOG_STORE_COPY, records, bytes, runs) != 0)
    return 1;
  if (strcmp(store, "copy") != 0 &&
      run_store("mapped", MRLOG_STORE_MAPPED, records, bytes, runs) != 0)
    return 1;
  return 0;
}

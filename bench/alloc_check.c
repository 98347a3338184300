/*
 * alloc_check.c -- checks that mrlog_append allocates nothing in steady
 * state, one of the benchmark's targets: the append fast path is free of
 * locks, system calls and allocations in steady state (DESIGN.md section
 * 13, PERFORMANCE.md section 9).
 *
 * bench/malloc_interpose.c replaces malloc and its kin with versions that
 * count their calls; this program is linked with it (and with
 * -export-dynamic, so libmrlog binds to them).  It runs W1's shape
 * (4 producer threads, 16 queues, 100 B records, one mrlog_append with a
 * callback per record, fsync every 10 ms) twice: a warm-up, in which the
 * future pool, the staging batches and the RAM chunks grow, and a measured
 * phase of the same size.  Chunks of 64 KiB or more are mmap'd, not
 * malloc'd.  What the measured phase counts (34 calls here, none of them
 * on a producer's call) is what grows with the retained records, not with
 * each append: every queue's run list and time marks doubling once (16
 * each), and the segment and mapping of a rotation (2).
 *
 * Exit status: 0 if the measured phase made at most one allocation per
 * 10,000 appends (a queue's run list may still double once), 1 otherwise,
 * 2 on a setup error.
 *
 * Invariants:
 *   1. `malloc_counting` is set only while the measured phase runs, after the
 *      warm-up's callbacks have all run; allocations of other phases (open,
 *      close, thread creation) are not counted.
 *   2. The counters are relaxed atomics read after the threads are joined.
 */
#include <mrlog.h>

#include "malloc_interpose.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PRODUCERS 4
#define QUEUES 16
#define RECORD 100
#define PHASE 400000L

static mrlog *log_;
static char names[QUEUES][16];
static unsigned char payload[RECORD];
static atomic_long completed;
static atomic_int failures;

static void
on_done(void *arg, int status, uint64_t position)
{
  (void)arg;
  (void)position;
  if (status < 0)
    atomic_fetch_add(&failures, 1);
  atomic_fetch_add_explicit(&completed, 1, memory_order_release);
}

static void *
producer(void *arg)
{
  long t = (long)arg, i;

  for (i = 0; i < PHASE / PRODUCERS; i++)
    mrlog_forget(mrlog_append(log_, names[(i + t) % QUEUES], NULL, payload,
                              RECORD, on_done, NULL));
  return NULL;
}

/* Appends PHASE records from PRODUCERS threads and waits for every
 * callback. */
static void
phase(void)
{
  pthread_t th[PRODUCERS];
  long target = atomic_load(&completed) + PHASE, t;
  struct timespec nap = { 0, 200 * 1000 };

  for (t = 0; t < PRODUCERS; t++)
    pthread_create(&th[t], NULL, producer, (void *)t);
  for (t = 0; t < PRODUCERS; t++)
    pthread_join(th[t], NULL);
  while (atomic_load_explicit(&completed, memory_order_acquire) < target)
    nanosleep(&nap, NULL);
}

int
main(int argc, char **argv)
{
  char dir[] = "/tmp/mrlog-alloc-check.XXXXXX";
  const char *base = argc > 1 ? argv[1] : NULL;
  char path[4096];
  mrlog_policy policy;
  long measured;
  int i, rc;

  if (base == NULL && mkdtemp(dir) == NULL) {
    perror("alloc-check: mkdtemp");
    return 2;
  }
  snprintf(path, sizeof(path), "%s/log", base ? base : dir);
  memset(payload, 0xa5, sizeof(payload));
  mrlog_policy_init(&policy);
  policy.fsync_interval_ms = 10;
  /* The default (mapped) store sizes a queue's index chunk for a segment
   * from its records in the segment before; in a queue's first segment
   * there is none, and its chunks start small (malloc'd) and grow by an
   * eighth at a time.  Segments of 32 MiB put the first rotation in the
   * warm-up (about 43 MB), so the measured phase sees the steady state:
   * one chunk per queue per segment, large enough to be mmap'd. */
  policy.segment_bytes = (uint64_t)32 << 20;
  rc = mrlog_open(path, &policy, &log_);
  if (rc != 0) {
    fprintf(stderr, "alloc-check: mrlog_open %s: %s\n", path,
            mrlog_strerror(rc));
    return 2;
  }
  for (i = 0; i < QUEUES; i++) {
    snprintf(names[i], sizeof(names[i]), "q%d", i);
    rc = mrlog_wait(mrlog_create_queue(log_, names[i], NULL, NULL), NULL);
    if (rc != 0) {
      fprintf(stderr, "alloc-check: create %s: %s\n", names[i],
              mrlog_strerror(rc));
      return 2;
    }
  }
  phase(); /* warm-up: pools and chunks grow */
  atomic_store(&malloc_counting, 1);
  phase();
  atomic_store(&malloc_counting, 0);
  measured = atomic_load(&malloc_calls);
  rc = mrlog_close(log_);
  printf("alloc-check: %ld appends from %d threads in steady state made %ld "
         "allocation calls (%.5f per append); %d failed; close: %s\n",
         PHASE, PRODUCERS, measured, (double)measured / PHASE,
         atomic_load(&failures), mrlog_strerror(rc));
  if (base == NULL) {
    snprintf(path, sizeof(path), "rm -rf '%s'", dir);
    if (system(path) != 0)
      fprintf(stderr, "alloc-check: could not remove %s\n", dir);
  }
  if (rc != 0 || atomic_load(&failures) != 0)
    return 2;
  return measured * 10000 <= PHASE ? 0 : 1;
}

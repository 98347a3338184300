/*
 * workloads.h -- the workloads, written once against struct engine.
 *
 * Each wl_* function is one run: it runs in a forked child (main.c), opens
 * the engine in p->dir, does the work, closes, and fills *r.  Derived
 * figures that need the child's peak RSS are finished by the parent
 * (wl_finish).
 *
 *   W1   wl_append: records x record_bytes, per-record appends with a
 *        callback, producers threads round-robin over the queues, interval
 *        sync (10 ms).  Time: start of producers .. last callback.
 *   W1b  wl_append with batch = 100.
 *   W3   wl_append with 4 KiB records.
 *   W2   wl_durable: w2_threads threads, append one record and wait for its
 *        durable acknowledgement, for w2_seconds.
 *   W4   wl_read: reopen W1's log and read every record; time = open + read.
 *   W5   wl_truncate: reopen W1's log (durable policy), truncate every
 *        queue to its midpoint; time until durable and until space is back.
 */
#ifndef BENCH_WORKLOADS_H
#define BENCH_WORKLOADS_H

#include "engine.h"
#include "harness.h"

struct wl_params {
  const struct engine *engine;
  const char *dir;           /* the log's directory (exists) */
  int run;                   /* run index */
  uint64_t records;          /* records to append (W4/W5: W1's count) */
  size_t record_bytes;       /* payload bytes per record */
  unsigned queues;           /* queues (16) */
  unsigned producers;        /* producer threads (4) */
  unsigned batch;            /* records per append call (1 or 100) */
  unsigned sync_interval_ms; /* interval policy period (10) */
  uint64_t segment_bytes;    /* mrlog segment size; 0: its default */
  double w2_seconds;         /* W2 duration */
  unsigned w2_threads;       /* W2 writer threads (64) */
  double w5_timeout_s;       /* W5 space-back timeout (10) */
  double w5_fraction;        /* W5: space back = this share of W1 payload */
  int cold;                  /* W4: 1 cold cache, 0 warm */
};

void wl_append(const struct wl_params *p, struct bench_result *r);
void wl_durable(const struct wl_params *p, struct bench_result *r);
void wl_read(const struct wl_params *p, struct bench_result *r);
void wl_truncate(const struct wl_params *p, struct bench_result *r);

/* Records per queue that wl_append with p's shape leaves (counts has
 * p->queues entries); W4 and W5 rely on it. */
void wl_queue_counts(const struct wl_params *p, uint64_t *counts);

/*
 * Shared frame of a run (wl_common.c).  wl_open records the RSS before
 * opening and the fsync counter; wl_close takes the engine's stats, closes
 * it and measures the directory.  records: what the figures are per;
 * retained: payload bytes the engine should hold at close.
 */
struct wl_run {
  struct eng *e;     /* the open engine */
  int64_t fsync0;    /* interposed sync calls before open */
  struct bench_thread_cpu cpu0; /* threads' CPU once the engine is open */
};
int wl_open(const struct wl_params *p, enum eng_durability durability,
            struct wl_run *run, struct bench_result *r);
/* The timed part is over: fills r's busiest thread.  Call before joining
 * the workload's own threads (thread_cpu.c invariant 2). */
void wl_timed_end(struct wl_run *run, struct bench_result *r);
void wl_close(const struct wl_params *p, struct wl_run *run,
              uint64_t records, uint64_t retained, struct bench_result *r);

/* Parent side: fills the figures that need peak_rss_bytes. */
void wl_finish(struct bench_result *r);

#endif /* BENCH_WORKLOADS_H */

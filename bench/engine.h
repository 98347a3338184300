/*
 * engine.h -- the interface every benchmarked engine implements, so the
 * workloads (bench/workloads_*.c) drive mrlog and its peers with the same
 * code.
 *
 * A log is a set of queues numbered 0 .. queues-1.  Each queue holds
 * records at positions 0, 1, 2, ... in append order (the engine assigns
 * them).  Positions are the keys the peers store (big-endian u64).
 *
 * THREADS.  append and append_wait may be called from any number of
 * threads at once.  read_queue, truncate, stats and close are called by the
 * workload's main thread once no append is outstanding.  Completion
 * callbacks run on an engine thread, exactly once per append call.
 *
 * OWNERSHIP.  Record bytes are borrowed for the duration of the call only
 * (the engine copies them, as mrlog does), which is also what an
 * application-level group commit must do.
 */
#ifndef BENCH_ENGINE_H
#define BENCH_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* How appends are acknowledged. */
enum eng_durability {
  /* Acknowledged once written to the OS; the engine syncs every
   * sync_interval_ms (W1, W1b, W3, and the reopen for W4). */
  ENG_INTERVAL = 0,
  /* Acknowledged only once durable; group commit (W2, W5). */
  ENG_DURABLE = 1
};

struct eng_config {
  unsigned queues;                /* queues to create (or expect, reopening) */
  enum eng_durability durability; /* see above */
  unsigned sync_interval_ms;      /* ENG_INTERVAL: sync period (10) */
  uint64_t segment_bytes;         /* mrlog's segment_bytes; peers ignore it */
};

/* Figures an engine can report about itself; -1 where it cannot. */
struct eng_stats {
  int64_t memory_bytes;     /* RAM held for retained records (mrlog) */
  int64_t retained_records; /* records retained */
  int64_t retained_bytes;   /* their payload bytes */
  int64_t fsyncs;           /* syncs since open, as the engine counts them */
};

/* Completion of one append call: status 0 or negative, position of the
 * (last) record.  Same shape as mrlog_done_fn, so mrlog passes it through. */
typedef void (*eng_done_fn)(void *arg, int status, uint64_t position);

/* Visitor for reads: return non-zero to stop. */
typedef int (*eng_visit_fn)(void *arg, uint64_t position, const void *data,
                            size_t len);

struct eng;

struct engine {
  const char *name;
  /* Opens (creating if needed) the log in dir, which exists.  0 or < 0;
   * on failure a message is written to err (size 200). */
  int (*open)(const char *dir, const struct eng_config *config,
              struct eng **out, char *err);
  /* Appends count >= 1 records to queue q as one call (atomic together);
   * done runs once when acknowledged (or failed).  Returns 0, or < 0 if
   * the call was refused -- done still runs. */
  int (*append)(struct eng *e, unsigned q, const struct iovec *records,
                size_t count, eng_done_fn done, void *arg);
  /* Appends one record and blocks until it is acknowledged; 0 or < 0. */
  int (*append_wait)(struct eng *e, unsigned q, const void *data, size_t len);
  /* Visits every record of queue q in position order; 0 or < 0. */
  int (*read_queue)(struct eng *e, unsigned q, eng_visit_fn visit, void *arg);
  /* Removes, for every queue q, the records at positions < below[q], and
   * returns once that is durable (mrlog: truncate callbacks under the
   * durable policy; peers: one durable transaction).  No compaction. */
  int (*truncate)(struct eng *e, const uint64_t *below);
  /* Fills *st; 0 or < 0. */
  int (*stats)(struct eng *e, struct eng_stats *st);
  /* Completes everything, closes and frees; 0 or < 0 (frees in any case). */
  int (*close)(struct eng *e);
  /* Message for a status returned by an engine call: the engine's first
   * recorded error when e is not NULL (valid until the next call), else a
   * generic one (so it may be used after close). */
  const char *(*strerror)(struct eng *e, int status);
};

/* The engines compiled in (see main.c for the list and "not built"). */
extern const struct engine bench_engine_mrlog;
extern const struct engine bench_engine_mrlog_copy;
#ifdef HAVE_ROCKSDB
extern const struct engine bench_engine_rocksdb;
#endif
#ifdef HAVE_LMDB
extern const struct engine bench_engine_lmdb;
#endif
#ifdef HAVE_SQLITE
extern const struct engine bench_engine_sqlite;
#endif

#endif /* BENCH_ENGINE_H */

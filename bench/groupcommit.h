/*
 * groupcommit.h -- application-level group commit for the single-writer
 * peers (RocksDB, LMDB, SQLite): producers hand records to one writer
 * thread, which applies each drained batch as one transaction.
 *
 * THREADS.  gc_submit and gc_submit_wait may be called from any number of
 * threads.  ops->apply and the completion callbacks run on the writer
 * thread ("gc-writer"); ops->sync runs on the ticker thread ("gc-ticker")
 * when sync_every_ms > 0, concurrently with apply (both peers that use it,
 * RocksDB's FlushWAL and LMDB's mdb_env_sync, allow that).
 *
 * OWNERSHIP.  Record bytes are copied into the batch before gc_submit
 * returns; a batch passed to ops->apply is owned by the writer until apply
 * returns.
 */
#ifndef BENCH_GROUPCOMMIT_H
#define BENCH_GROUPCOMMIT_H

#include "engine.h"

#include <stddef.h>
#include <stdint.h>

/* One record of a batch: its bytes are arena[off .. off+len). */
struct gc_rec {
  size_t off;               /* offset in the batch's arena */
  size_t len;               /* bytes */
};

struct gc_waiter;

/* One submit call: count records for one queue, completed together. */
struct gc_entry {
  unsigned queue;           /* queue index */
  size_t first;             /* index of its first record in recs */
  size_t count;             /* records, >= 1 */
  eng_done_fn done;         /* callback, or NULL when waiter is set */
  void *arg;                /* its argument */
  struct gc_waiter *waiter; /* gc_submit_wait's waiter, or NULL */
  uint64_t position;        /* OUT of apply: the last record's position */
};

struct gc_batch {
  struct gc_entry *entries; /* entries[0 .. n_entries) */
  size_t n_entries;         /* entries in use */
  size_t cap_entries;       /* entries allocated */
  struct gc_rec *recs;      /* recs[0 .. n_recs) */
  size_t n_recs;            /* records in use */
  size_t cap_recs;          /* records allocated */
  unsigned char *arena;     /* record bytes */
  size_t arena_len;         /* bytes in use (the byte cap counts these) */
  size_t arena_cap;         /* bytes allocated */
};

struct gc_ops {
  /* Writes every record of the batch as one transaction (durably when the
   * engine is in durable mode), filling each entry's position.  0 or < 0;
   * a failure fails every entry of the batch. */
  int (*apply)(void *ctx, struct gc_batch *batch);
  /* Makes everything applied so far durable (interval mode); may be NULL
   * when sync_every_ms is 0. */
  int (*sync)(void *ctx);
};

struct gc_config {
  unsigned sync_every_ms;     /* > 0: ticker calls ops->sync this often */
  unsigned min_commit_gap_ms; /* > 0: at most one apply per this period */
  size_t max_batch_bytes;     /* producers wait while the filling batch
                                 holds this many payload bytes */
};

struct gc;

/* Starts the writer (and the ticker).  0 or < 0 (errno-style). */
int gc_start(struct gc **out, const struct gc_ops *ops, void *ctx,
             const struct gc_config *config);
/* Queues count records for queue q; done(arg, status, position) runs on
 * the writer thread once they are applied.  Always returns 0. */
int gc_submit(struct gc *gc, unsigned q, const struct iovec *records,
              size_t count, eng_done_fn done, void *arg);
/* Queues one record and blocks until its batch is applied; the status. */
int gc_submit_wait(struct gc *gc, unsigned q, const void *data, size_t len);
/* Blocks until everything submitted so far is applied.  The status of the
 * first failed apply since start, or 0. */
int gc_drain(struct gc *gc);
/* Drains, stops and joins the threads, frees gc.  The first sync or apply
 * failure, or 0. */
int gc_stop(struct gc *gc);

#endif /* BENCH_GROUPCOMMIT_H */

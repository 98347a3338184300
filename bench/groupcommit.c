/*
 * groupcommit.c -- the peers' application-level group commit.
 *
 * DESIGN.  Messages: gc_submit / gc_submit_wait append an entry (and copy
 * its records) to the filling batch.  The writer thread owns the other
 * batch: it swaps the two (double buffering), applies the drained one as
 * one transaction through ops->apply, then completes its entries in
 * submission order (callbacks first, then it wakes the waiters).  The
 * ticker thread, when configured, calls ops->sync every sync_every_ms.
 * Shutdown: gc_stop sets stop; the writer exits once the filling batch is
 * empty, so everything submitted before gc_stop is applied.
 *
 * Invariants:
 *   1. mutex guards fill, stop, submitted, applied, first_error and every
 *      waiter's done flag.  The writer's batch (drain) is touched only by
 *      the writer, without the mutex.
 *   2. One actor loop shape: lock, wait on a predicate in a while, swap,
 *      unlock, apply, re-lock, publish, signal.
 *   3. applied <= submitted; both count entries.  gc_drain waits for
 *      applied == submitted as observed at its start.
 *   4. With min_commit_gap_ms, two applies start at least that far apart
 *      (SQLite with synchronous=FULL syncs at every commit, so this is its
 *      "sync every 10 ms").
 *   5. Producers wait while the filling batch holds max_batch_bytes, so
 *      memory stays bounded (two batches) when the engine is slower.
 *
 * Lock order: only gc->mutex; callbacks and ops run without it.
 */
#include "groupcommit.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

struct gc_waiter {
  int done;   /* set by the writer under gc->mutex */
  int status; /* the batch's apply status */
};

struct gc {
  pthread_mutex_t mutex;    /* guards everything below but drain, ops, ctx */
  pthread_cond_t work_cv;   /* writer waits: fill non-empty or stop */
  pthread_cond_t space_cv;  /* producers wait: fill below the byte cap */
  pthread_cond_t acked_cv;  /* waiters and gc_drain wait: applied moved */
  pthread_cond_t tick_cv;   /* ticker waits: period elapsed or stop */
  struct gc_batch batches[2];
  struct gc_batch *fill;    /* [mutex] the batch producers append to */
  struct gc_batch *drain;   /* [writer] the batch being applied */
  uint64_t submitted;       /* [mutex] entries submitted */
  uint64_t applied;         /* [mutex] entries completed */
  int first_error;          /* [mutex] first apply/sync failure, 0 if none */
  bool stop;                /* [mutex] gc_stop was called */
  const struct gc_ops *ops; /* read-only */
  void *ctx;                /* read-only */
  struct gc_config config;  /* read-only */
  pthread_t writer;          /* runs writer_main */
  pthread_t ticker;          /* runs ticker_main, if have_ticker */
  bool have_ticker;          /* sync_every_ms > 0 and ops->sync set */
};

/* Grows *p (of elements of size sz, capacity *cap) to hold need. */
static int
grow(void **p, size_t *cap, size_t need, size_t sz)
{
  size_t n = *cap ? *cap : 64;
  void *q;

  if (need <= *cap)
    return 0;
  while (n < need)
    n *= 2;
  q = realloc(*p, n * sz);
  if (q == NULL)
    return -ENOMEM;
  *p = q;
  *cap = n;
  return 0;
}

/* Appends one entry and copies its records into b.  Caller holds mutex. */
static int
batch_add(struct gc_batch *b, unsigned q, const struct iovec *records,
          size_t count, eng_done_fn done, void *arg, struct gc_waiter *waiter)
{
  size_t bytes = 0, i;
  struct gc_entry *e;

  for (i = 0; i < count; i++)
    bytes += records[i].iov_len;
  if (grow((void **)&b->entries, &b->cap_entries, b->n_entries + 1,
           sizeof(*b->entries)) != 0 ||
      grow((void **)&b->recs, &b->cap_recs, b->n_recs + count,
           sizeof(*b->recs)) != 0 ||
      grow((void **)&b->arena, &b->arena_cap, b->arena_len + bytes, 1) != 0)
    return -ENOMEM;
  e = &b->entries[b->n_entries++];
  e->queue = q;
  e->first = b->n_recs;
  e->count = count;
  e->done = done;
  e->arg = arg;
  e->waiter = waiter;
  e->position = 0;
  for (i = 0; i < count; i++) {
    b->recs[b->n_recs].off = b->arena_len;
    b->recs[b->n_recs].len = records[i].iov_len;
    b->n_recs++;
    memcpy(b->arena + b->arena_len, records[i].iov_base, records[i].iov_len);
    b->arena_len += records[i].iov_len;
  }
  return 0;
}

static void
batch_reset(struct gc_batch *b)
{
  b->n_entries = b->n_recs = b->arena_len = 0;
}

static void
batch_free(struct gc_batch *b)
{
  free(b->entries);
  free(b->recs);
  free(b->arena);
}

static struct timespec
abs_after_ns(uint64_t ns)
{
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  ns += (uint64_t)ts.tv_nsec;
  ts.tv_sec += (time_t)(ns / 1000000000u);
  ts.tv_nsec = (long)(ns % 1000000000u);
  return ts;
}

/* Waits under the mutex until the commit gap since last has passed. */
static void
wait_commit_gap(struct gc *gc, uint64_t last_ns)
{
  uint64_t gap = (uint64_t)gc->config.min_commit_gap_ms * 1000000u, now;
  struct timespec ts;

  while (!gc->stop && (now = bench_now_ns()) < last_ns + gap) {
    ts = abs_after_ns(last_ns + gap - now);
    pthread_cond_timedwait(&gc->work_cv, &gc->mutex, &ts);
  }
}

static void *
writer_main(void *arg)
{
  struct gc *gc = arg;
  struct gc_batch *b;
  uint64_t last_ns = 0;
  size_t i;
  int rc;

  pthread_setname_np(pthread_self(), "gc-writer");
  pthread_mutex_lock(&gc->mutex);
  for (;;) {
    while (!gc->stop && gc->fill->n_entries == 0)
      pthread_cond_wait(&gc->work_cv, &gc->mutex);
    if (gc->fill->n_entries == 0)
      break; /* stop, and nothing left */
    if (gc->config.min_commit_gap_ms > 0)
      wait_commit_gap(gc, last_ns);
    b = gc->fill;
    gc->fill = gc->drain;
    gc->drain = b;
    pthread_cond_broadcast(&gc->space_cv);
    pthread_mutex_unlock(&gc->mutex);

    last_ns = bench_now_ns();
    rc = gc->ops->apply(gc->ctx, b);
    for (i = 0; i < b->n_entries; i++)
      if (b->entries[i].done != NULL)
        b->entries[i].done(b->entries[i].arg, rc, b->entries[i].position);

    pthread_mutex_lock(&gc->mutex);
    for (i = 0; i < b->n_entries; i++)
      if (b->entries[i].waiter != NULL) {
        b->entries[i].waiter->status = rc;
        b->entries[i].waiter->done = 1;
      }
    if (rc != 0 && gc->first_error == 0)
      gc->first_error = rc;
    gc->applied += b->n_entries;
    batch_reset(b);
    pthread_cond_broadcast(&gc->acked_cv);
  }
  pthread_mutex_unlock(&gc->mutex);
  return NULL;
}

static void *
ticker_main(void *arg)
{
  struct gc *gc = arg;
  uint64_t period = (uint64_t)gc->config.sync_every_ms * 1000000u;
  uint64_t next = bench_now_ns() + period, now;
  struct timespec ts;
  int rc;

  pthread_setname_np(pthread_self(), "gc-ticker");
  pthread_mutex_lock(&gc->mutex);
  while (!gc->stop) {
    now = bench_now_ns();
    if (now < next) {
      ts = abs_after_ns(next - now);
      pthread_cond_timedwait(&gc->tick_cv, &gc->mutex, &ts);
      continue;
    }
    next += period;
    if (next < now)
      next = now + period; /* a slow sync: do not try to catch up */
    pthread_mutex_unlock(&gc->mutex);
    rc = gc->ops->sync(gc->ctx);
    pthread_mutex_lock(&gc->mutex);
    if (rc != 0 && gc->first_error == 0)
      gc->first_error = rc;
  }
  pthread_mutex_unlock(&gc->mutex);
  return NULL;
}

int
gc_start(struct gc **out, const struct gc_ops *ops, void *ctx,
         const struct gc_config *config)
{
  struct gc *gc = calloc(1, sizeof(*gc));

  *out = NULL;
  if (gc == NULL)
    return -ENOMEM;
  pthread_mutex_init(&gc->mutex, NULL);
  pthread_cond_init(&gc->work_cv, NULL);
  pthread_cond_init(&gc->space_cv, NULL);
  pthread_cond_init(&gc->acked_cv, NULL);
  pthread_cond_init(&gc->tick_cv, NULL);
  gc->fill = &gc->batches[0];
  gc->drain = &gc->batches[1];
  gc->ops = ops;
  gc->ctx = ctx;
  gc->config = *config;
  if (pthread_create(&gc->writer, NULL, writer_main, gc) != 0) {
    free(gc);
    return -EAGAIN;
  }
  pthread_setname_np(gc->writer, "gc-writer");
  if (config->sync_every_ms > 0 && ops->sync != NULL) {
    if (pthread_create(&gc->ticker, NULL, ticker_main, gc) != 0) {
      gc_stop(gc);
      return -EAGAIN;
    }
    pthread_setname_np(gc->ticker, "gc-ticker");
    gc->have_ticker = true;
  }
  *out = gc;
  return 0;
}

/* Waits for room in the filling batch, then adds.  Caller holds mutex. */
static int
submit_locked(struct gc *gc, unsigned q, const struct iovec *records,
              size_t count, eng_done_fn done, void *arg,
              struct gc_waiter *waiter)
{
  int rc;

  while (gc->fill->arena_len >= gc->config.max_batch_bytes)
    pthread_cond_wait(&gc->space_cv, &gc->mutex);
  rc = batch_add(gc->fill, q, records, count, done, arg, waiter);
  if (rc == 0) {
    gc->submitted++;
    if (gc->fill->n_entries == 1)
      pthread_cond_signal(&gc->work_cv);
  }
  return rc;
}

int
gc_submit(struct gc *gc, unsigned q, const struct iovec *records,
          size_t count, eng_done_fn done, void *arg)
{
  int rc;

  pthread_mutex_lock(&gc->mutex);
  rc = submit_locked(gc, q, records, count, done, arg, NULL);
  pthread_mutex_unlock(&gc->mutex);
  if (rc != 0)
    done(arg, rc, 0); /* every call completes exactly once */
  return 0;
}

int
gc_submit_wait(struct gc *gc, unsigned q, const void *data, size_t len)
{
  struct gc_waiter w = { 0, 0 };
  struct iovec iov = { (void *)data, len };
  int rc;

  pthread_mutex_lock(&gc->mutex);
  rc = submit_locked(gc, q, &iov, 1, NULL, NULL, &w);
  while (rc == 0 && !w.done)
    pthread_cond_wait(&gc->acked_cv, &gc->mutex);
  pthread_mutex_unlock(&gc->mutex);
  return rc != 0 ? rc : w.status;
}

int
gc_drain(struct gc *gc)
{
  uint64_t target;
  int rc;

  pthread_mutex_lock(&gc->mutex);
  target = gc->submitted;
  while (gc->applied < target)
    pthread_cond_wait(&gc->acked_cv, &gc->mutex);
  rc = gc->first_error;
  pthread_mutex_unlock(&gc->mutex);
  return rc;
}

int
gc_stop(struct gc *gc)
{
  int rc;

  pthread_mutex_lock(&gc->mutex);
  gc->stop = true;
  pthread_cond_broadcast(&gc->work_cv);
  pthread_cond_broadcast(&gc->tick_cv);
  pthread_mutex_unlock(&gc->mutex);
  pthread_join(gc->writer, NULL);
  if (gc->have_ticker)
    pthread_join(gc->ticker, NULL);
  rc = gc->first_error;
  batch_free(&gc->batches[0]);
  batch_free(&gc->batches[1]);
  pthread_mutex_destroy(&gc->mutex);
  pthread_cond_destroy(&gc->work_cv);
  pthread_cond_destroy(&gc->space_cv);
  pthread_cond_destroy(&gc->acked_cv);
  pthread_cond_destroy(&gc->tick_cv);
  free(gc);
  return rc;
}

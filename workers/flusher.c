/*
 * flusher.c -- the flusher thread: applies the fsync policy and completes
 * requests (it runs every callback of a mutation).
 *
 * DESIGN
 *   Messages: lists of written requests from the writer (each carrying
 *   the LSN that ends its frame), and single requests whose status was
 *   settled at submit time (the early list).
 *   Owns: nothing on disk; it borrows the hot fd, which the writer swaps
 *   only while no sync of it is running (flusher_switch_fd waits).  It
 *   holds the hot fd's sync token, which the writer takes too for its
 *   sync at rotation (flusher_sync_hot).
 *   Policy:
 *     fsync_interval_ms == 0 (durable): a request completes only once
 *       durable_lsn >= its LSN.  One fdatasync covers every request handed
 *       over before it started (group commit); the writer keeps writing
 *       while it runs.
 *     fsync_interval_ms > 0 (written): requests complete as soon as they
 *       are handed over; an fdatasync runs every fsync_interval_ms while
 *       bytes are unsynced, or once fsync_bytes bytes or fsync_writes
 *       appended records are unsynced.
 *     In both, a SYNC request forces an fdatasync before it completes, and
 *     the stop sentinel forces a last one.
 *   Ordering: requests complete in the order the writer handed them over;
 *   early requests are completed as they come.
 *   Failure: a failed fdatasync is never retried; it fails the log, and
 *   every request not covered by durable_lsn completes with the failure.
 *
 * Sync errors (docs/DURABILITY.md): Linux reports a writeback error once
 * per open file description -- the first fdatasync to look after pages
 * failed to write back returns EIO, a later or concurrent one returns 0,
 * and the pages' data is gone.  So an fdatasync that returns 0 proves
 * durability only if no other sync of the same description could have
 * taken the error, and the error must stop every durable mark.
 *
 * Invariants:
 *  1. At most one fdatasync of the hot fd is in flight: its caller holds
 *     the sync token (`syncing`), the flusher for a group commit or the
 *     writer at rotation (flusher_sync_hot).  The holder settles its
 *     result under `mutex` before it gives the token back: an error fails
 *     the log (mrlog__fail_mark) first.  No sync starts on a failed log.
 *  2. durable_lsn only grows, only under `mutex`, only while the log has
 *     not failed, and only to a mark covered by a sync that returned 0 as
 *     the one sync in flight on its fd (invariant 1), or by the writer's
 *     sync of a new segment before it is handed over (flusher_switch_fd).
 *     So once a sync fails no durable mark rises, and a request completes
 *     with 0 only if durable_lsn covered it before the failure.
 *  3. No lock is held while a callback runs, while fdatasync runs, or
 *     while it wakes waiters.
 *  4. Its completions defer their waiters' wakes (future.c invariant 6):
 *     after each list it wakes FLUSHER_WAKES of them, and each waiter
 *     woken wakes more, while the flusher goes on to its next pass; it
 *     wakes whatever is still queued once that pass's sync (if any)
 *     returns, before it sleeps, and before it exits.  So a wake waits at
 *     most one pass: one sync, if the pass syncs.
 *
 * Append path (docs/DESIGN.md): caller -> submit.c -> stage.c ->
 * admit.c -> ring.c -> writer.c -> writer_frame.c (the file) ->
 * flusher.c -> req.c -> future.c (the callback).  This file makes
 * written requests durable and finishes them (req.c), which runs their
 * callbacks (future.c).
 */
#include "internal.h"
#include "cleaner.h"
#include "flusher.h"
#include "future.h"
#include "memory.h"
#include "metrics.h"
#include "req.h"
#include "segment.h"
#include "watch.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* Deferred wakes the flusher makes itself after each list: the root of
 * the tree the woken waiters continue.  A futex wake of a sleeping thread
 * costs the waker 4-8 us here, and W2's group commits complete about 30
 * waiters each: woken one by one, they held back the next sync. */
#define FLUSHER_WAKES 2u

struct mrlog__flusher {
  pthread_t thread;
  bool started;
  pthread_mutex_t mutex;        /* guards every field below */
  pthread_cond_t cond;          /* work arrived (CLOCK_MONOTONIC) */
  pthread_cond_t idle_cond;     /* the sync token was given back */
  struct mrlog__req *first;     /* written requests, oldest first */
  struct mrlog__req *last;
  bool barrier;                 /* the list first..last holds a SYNC or
                                   STOP request */
  struct mrlog__req *early_first; /* settled at submit time */
  struct mrlog__req *early_last;
  int fd;                       /* hot segment fd (the writer's) */
  uint64_t written_lsn;         /* end of the last handed-over frame */
  uint64_t unsynced_mark;       /* writer's byte count at the last sync */
  uint64_t unsynced;            /* writer's byte count now */
  uint64_t unsynced_recs_mark;  /* writer's record count at the last sync */
  uint64_t unsynced_recs;       /* writer's record count now */
  bool syncing;                 /* the sync token: an fdatasync of fd is
                                   running (invariant 1) */
  bool stopped;                 /* the stop sentinel was completed */
};

int
mrlog__datasync(struct mrlog *log, int fd)
{
  uint64_t start = mrlog__metrics_now();
  int rc;

  do
    rc = log->io->fdatasync(log->io->ctx, fd);
  while (rc != 0 && errno == EINTR);
  atomic_fetch_add_explicit(&log->stat_fsyncs, 1, memory_order_relaxed);
  mrlog__metrics_fsync(log, start);
  return rc == 0 ? 0 : mrlog__status_from_errno(errno);
}

int
mrlog__flusher_init(struct mrlog *log)
{
  struct mrlog__flusher *f = calloc(1, sizeof(*f));
  pthread_condattr_t attr;

  if (f == NULL)
    return MRLOG_ENOMEM;
  pthread_mutex_init(&f->mutex, NULL);
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&f->cond, &attr);
  pthread_cond_init(&f->idle_cond, &attr);
  pthread_condattr_destroy(&attr);
  f->fd = -1;
  log->flusher = f;
  return 0;
}

void
mrlog__flusher_free(struct mrlog *log)
{
  struct mrlog__flusher *f = log->flusher;

  if (f == NULL)
    return;
  pthread_mutex_destroy(&f->mutex);
  pthread_cond_destroy(&f->cond);
  pthread_cond_destroy(&f->idle_cond);
  free(f);
  log->flusher = NULL;
}

void
mrlog__flusher_submit(struct mrlog *log, struct mrlog__req *first,
                      struct mrlog__req *last, bool barrier,
                      uint64_t written_lsn, uint64_t unsynced_bytes,
                      uint64_t unsynced_records)
{
  struct mrlog__flusher *f = log->flusher;

  pthread_mutex_lock(&f->mutex);
  f->barrier |= barrier;
  if (f->last)
    f->last->next = first;
  else
    f->first = first;
  f->last = last;
  last->next = NULL;
  if (f->written_lsn < written_lsn)
    f->written_lsn = written_lsn;
  f->unsynced = unsynced_bytes;
  f->unsynced_recs = unsynced_records;
  pthread_cond_signal(&f->cond);
  pthread_mutex_unlock(&f->mutex);
}

/* Raises durable_lsn to lsn unless the log has failed (invariant 2).
 * Caller holds f->mutex. */
static void
raise_durable(struct mrlog *log, uint64_t lsn)
{
  if (atomic_load_explicit(&log->failed, memory_order_acquire))
    return;
  if (atomic_load_explicit(&log->durable_lsn, memory_order_relaxed) < lsn)
    atomic_store_explicit(&log->durable_lsn, lsn, memory_order_release);
}

/* Settles the result of a sync of the hot fd that covered everything up
 * to target, and gives back the token (invariant 1): an error fails the
 * log before any other sync may start or any durable mark may rise.
 * Caller holds f->mutex and the token.  Returns true if this call failed
 * the log: the caller reports it (mrlog__fail_report) with no lock held. */
static bool
settle_sync(struct mrlog *log, struct mrlog__flusher *f, int rc,
            uint64_t target)
{
  bool first = false;

  if (rc != 0)
    first = mrlog__fail_mark(log, rc);
  else
    raise_durable(log, target);
  f->syncing = false;
  pthread_cond_broadcast(&f->idle_cond);
  return first;
}

int
mrlog__flusher_sync_hot(struct mrlog *log, uint64_t end_lsn)
{
  struct mrlog__flusher *f = log->flusher;
  int rc, err, fd;
  bool first;

  pthread_mutex_lock(&f->mutex);
  while (f->syncing)
    pthread_cond_wait(&f->idle_cond, &f->mutex);
  rc = atomic_load_explicit(&log->failed, memory_order_acquire);
  if (rc != 0) {
    pthread_mutex_unlock(&f->mutex);
    return rc; /* a sync failed: its error may have been this one's */
  }
  f->syncing = true;
  fd = f->fd;
  pthread_mutex_unlock(&f->mutex);

  rc = mrlog__datasync(log, fd);
  err = errno;
  pthread_mutex_lock(&f->mutex);
  first = settle_sync(log, f, rc, end_lsn);
  /* The flusher may have requests this sync covered: let it look. */
  pthread_cond_signal(&f->cond);
  pthread_mutex_unlock(&f->mutex);
  if (first)
    mrlog__fail_report(log, rc, "fdatasync of a full segment", err);
  return rc;
}

int
mrlog__flusher_switch_fd(struct mrlog *log, int fd, uint64_t durable)
{
  struct mrlog__flusher *f = log->flusher;
  int old;

  pthread_mutex_lock(&f->mutex);
  while (f->syncing)
    pthread_cond_wait(&f->idle_cond, &f->mutex);
  old = f->fd;
  f->fd = fd;
  if (f->written_lsn < durable)
    f->written_lsn = durable;
  f->unsynced = f->unsynced_mark = 0;
  f->unsynced_recs = f->unsynced_recs_mark = 0;
  raise_durable(log, durable); /* invariant 2 */
  pthread_cond_signal(&f->cond);
  pthread_mutex_unlock(&f->mutex);
  return old;
}

static void *
deliver_detached(void *arg)
{
  struct mrlog__req *req = arg;

  mrlog__complete(req->future, req->done, req->arg, req->status,
                  req->position);
  mrlog__req_free(NULL, req);
  return NULL;
}

void
mrlog__flusher_early(struct mrlog *log, struct mrlog__req *req)
{
  struct mrlog__flusher *f = log->flusher;

  req->next = NULL;
  pthread_mutex_lock(&f->mutex);
  if (f->stopped) {
    pthread_mutex_unlock(&f->mutex);
    if (mrlog__poll_mode(&log->poll) && mrlog__on_library_thread()) {
      /* A callback run by mrlog_close's drain called in: the drain runs
       * this completion too (completion.c invariant 5). */
      mrlog__req_finish(log, req);
      return;
    }
    /* Only reachable through misuse (a call racing close); still keep
     * the completion rule. */
    if (req->reserved)
      mrlog__mem_release(log, req->reserved);
    if (mrlog__spawn_detached("mrlog-late", deliver_detached, req) != 0)
      deliver_detached(req);
    return;
  }
  if (f->early_last)
    f->early_last->next = req;
  else
    f->early_first = req;
  f->early_last = req;
  pthread_cond_signal(&f->cond);
  pthread_mutex_unlock(&f->mutex);
}

static void
complete_list(struct mrlog *log, struct mrlog__req *r, bool *saw_stop)
{
  /* Read once: this list's sync (if any) has already settled both. */
  int failed = atomic_load_explicit(&log->failed, memory_order_acquire);
  uint64_t durable = atomic_load_explicit(&log->durable_lsn,
                                          memory_order_acquire);
  struct mrlog__req *next;

  mrlog__metrics_append_list(log, r);
  for (; r != NULL; r = next) {
    next = r->next;
    if (r->type == MRLOG_REQ_STOP) {
      *saw_stop = true;
      free(r);
      continue;
    }
    if (failed && r->status >= 0 && r->lsn > durable)
      r->status = failed;
    mrlog__req_finish(log, r);
  }
}

/*
 * Written mode: requests up to the first SYNC or STOP are acknowledged now,
 * before any fdatasync, so a long sync does not hold back their callbacks
 * (nor the batches and memory they free).  Returns the rest of the list.
 */
static struct mrlog__req *
complete_written(struct mrlog *log, struct mrlog__req *list, bool barrier)
{
  struct mrlog__req *r, *cut = NULL, *rest;
  bool unused = false;

  if (!barrier) {
    complete_list(log, list, &unused);
    return NULL;
  }
  for (r = list; r != NULL; r = r->next) {
    if (r->type == MRLOG_REQ_SYNC || r->type == MRLOG_REQ_STOP)
      break;
    cut = r;
  }
  if (cut == NULL)
    return list;
  rest = cut->next;
  cut->next = NULL;
  complete_list(log, list, &unused);
  return rest;
}

static bool
needs_sync(struct mrlog *log, struct mrlog__flusher *f, struct mrlog__req *list,
           bool barrier, bool timer_due)
{
  uint64_t durable = atomic_load_explicit(&log->durable_lsn,
                                          memory_order_acquire);

  if (f->written_lsn <= durable || f->fd < 0 ||
      atomic_load_explicit(&log->failed, memory_order_acquire))
    return false;
  if (log->policy.fsync_interval_ms == 0)
    return list != NULL;
  if (timer_due)
    return true;
  if (log->policy.fsync_bytes > 0 &&
      f->unsynced - f->unsynced_mark >= log->policy.fsync_bytes)
    return true;
  if (log->policy.fsync_writes > 0 &&
      f->unsynced_recs - f->unsynced_recs_mark >= log->policy.fsync_writes)
    return true;
  return barrier;
}

static bool
passed(const struct timespec *t)
{
  struct timespec now;

  clock_gettime(CLOCK_MONOTONIC, &now);
  return now.tv_sec > t->tv_sec ||
         (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

static void *
flusher_main(void *arg)
{
  struct mrlog *log = arg;
  struct mrlog__flusher *f = log->flusher;
  unsigned interval = log->policy.fsync_interval_ms;
  struct mrlog__req *list, *early;
  struct timespec next_sync;
  bool stop = false, sync, timer_due, first, barrier;
  uint64_t target, unsynced, unsynced_recs;
  int fd, rc, err;

  mrlog__mark_library_thread("mrlog-flusher");
  mrlog__wake_defer(true); /* see FLUSHER_WAKES */
  mrlog__deadline_ms(&next_sync, interval ? interval : 1000);
  pthread_mutex_lock(&f->mutex);
  for (;;) {
    timer_due = false;
    while (f->first == NULL && f->early_first == NULL && !stop &&
           !mrlog__watch_due(log)) {
      if (interval > 0 &&
          f->written_lsn > atomic_load(&log->durable_lsn)) {
        if (passed(&next_sync)) {
          timer_due = true;
          break;
        }
        pthread_cond_timedwait(&f->cond, &f->mutex, &next_sync);
      } else {
        pthread_cond_wait(&f->cond, &f->mutex);
      }
    }
    if (interval > 0 && passed(&next_sync))
      timer_due = true;
    list = f->first;
    early = f->early_first;
    barrier = f->barrier;
    f->first = f->last = NULL;
    f->barrier = false;
    f->early_first = f->early_last = NULL;
    sync = needs_sync(log, f, list, barrier, timer_due);
    if (sync && f->syncing) {
      /* The writer holds the sync token for a rotation (invariant 1).
       * What needs no sync is delivered meanwhile; then the decision is
       * made again once its sync is settled: it may have covered this
       * list, or failed. */
      pthread_mutex_unlock(&f->mutex);
      complete_list(log, early, &stop);
      early = NULL;
      if (interval > 0)
        list = complete_written(log, list, barrier);
      pthread_mutex_lock(&f->mutex);
      while (f->syncing)
        pthread_cond_wait(&f->idle_cond, &f->mutex);
      sync = needs_sync(log, f, list, barrier, timer_due);
    }
    target = f->written_lsn;
    unsynced = f->unsynced;
    unsynced_recs = f->unsynced_recs;
    fd = f->fd;
    /* Take the token only to sync: with no sync to run, f->syncing may be
     * the writer's (a rotation's sync in flight), and clearing it would
     * let this loop's next sync overlap that one (invariant 1). */
    if (sync)
      f->syncing = true;
    pthread_mutex_unlock(&f->mutex);

    /* Early requests: their status is settled; no lock held. */
    complete_list(log, early, &stop);
    if (interval > 0)
      list = complete_written(log, list, barrier);
    if (sync) {
      rc = mrlog__datasync(log, fd);
      err = errno;
      pthread_mutex_lock(&f->mutex);
      if (rc == 0) {
        mrlog__metrics_group(log, unsynced_recs, f->unsynced_recs_mark);
        f->unsynced_mark = unsynced;
        f->unsynced_recs_mark = unsynced_recs;
      }
      first = settle_sync(log, f, rc, target);
      pthread_mutex_unlock(&f->mutex);
      if (first)
        mrlog__fail_report(log, rc, "fdatasync", err);
      else if (rc == 0 &&
               atomic_load_explicit(&log->cleaner_due, memory_order_acquire))
        mrlog__cleaner_wake(log);
      if (interval > 0)
        mrlog__deadline_ms(&next_sync, interval);
    } else if (timer_due) {
      mrlog__deadline_ms(&next_sync, interval);
    }
    /* Wakes of the previous list the woken waiters did not pass on
     * during this pass's sync (or at once, with no sync to overlap):
     * invariant 4. */
    mrlog__wake_help(UINT_MAX);
    complete_list(log, list, &stop);
    mrlog__wake_help(FLUSHER_WAKES);
    /* Watches whose queue this pass's sync (or writes) made visible: they
     * go to the early list, which the next pass completes. */
    mrlog__watch_run(log);

    pthread_mutex_lock(&f->mutex);
    if (stop && f->first == NULL && f->early_first == NULL) {
      f->stopped = true;
      break;
    }
    if (f->first == NULL && f->early_first == NULL) {
      /* About to sleep, with nobody bound to wake what is queued. */
      pthread_mutex_unlock(&f->mutex);
      mrlog__wake_help(UINT_MAX);
      pthread_mutex_lock(&f->mutex);
    }
  }
  pthread_mutex_unlock(&f->mutex);
  mrlog__wake_help(UINT_MAX);
  return NULL;
}

int
mrlog__flusher_start(struct mrlog *log)
{
  if (pthread_create(&log->flusher->thread, NULL, flusher_main, log) != 0)
    return MRLOG_ENOMEM;
  log->flusher->started = true;
  return 0;
}

void
mrlog__flusher_join(struct mrlog *log)
{
  if (log->flusher != NULL && log->flusher->started) {
    pthread_join(log->flusher->thread, NULL);
    log->flusher->started = false;
  }
}

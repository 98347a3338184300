/*
 * admit.c -- admission of a request into the ring: reserve its bytes
 * against policy.memory_limit (waiting, when the call may, within its
 * block_timeout_ms), then push it.  Runs on the producer's thread.
 *
 * Append path (docs/DESIGN.md): caller -> submit.c -> stage.c ->
 * admit.c -> ring.c -> writer.c -> writer_frame.c (the file) ->
 * flusher.c -> req.c -> future.c (the callback).  This file admits
 * what submit.c and stage.c send; it calls only ring.c downstream, and
 * block.c for its waits.
 *
 * Invariants:
 *  1. A producer increments `submitting` before it reads `closing` and
 *     decrements it after its enqueue; close sets `closing` before it waits
 *     for `submitting` to drain, so no request can follow the stop sentinel
 *     (submit.c invariant 3).
 *  2. An idle log (nothing in flight, no record retained) admits any one
 *     request, so a record larger than memory_limit cannot wait forever.
 *  3. On error the request is not in the ring and req->reserved says what
 *     the caller releases.
 */
#include "internal.h"
#include "admit.h"
#include "future.h"
#include "req.h"
#include "ring.h"

#include <time.h>

/* True when nothing is in flight and no record is retained: what is
 * charged then (queues, the index, their marks) cannot shrink by waiting,
 * so one request is admitted whatever its size. */
static bool
mem_idle(struct mrlog *log, uint64_t cur)
{
  return cur == atomic_load_explicit(&log->mem_held, memory_order_relaxed) &&
         atomic_load_explicit(&log->stat_records, memory_order_relaxed) == 0;
}

static int
mem_reserve(struct mrlog *log, uint64_t charge, bool may_wait,
            struct mrlog__block *blk)
{
  uint64_t limit = log->policy.memory_limit;
  uint64_t cur = atomic_load_explicit(&log->mem_reserved, memory_order_relaxed);
  struct timespec ts;
  bool waited = false;
  unsigned slice;
  int rc;

  for (;;) {
    /* An idle log admits any one request, so a record larger than the
     * limit cannot wait forever. */
    if ((cur <= limit && charge <= limit - cur) || mem_idle(log, cur)) {
      if (atomic_compare_exchange_weak(&log->mem_reserved, &cur,
                                       cur + charge)) {
        if (waited)
          mrlog__block_end(log, blk);
        return 0;
      }
      continue;
    }
    if (!may_wait)
      return MRLOG_EFULL;
    if (atomic_load(&log->closing))
      return MRLOG_ECLOSED;
    if (atomic_load(&log->failed))
      return atomic_load(&log->failed); /* nothing will free memory now */
    slice = 50;
    rc = mrlog__block_check(log, blk, &slice, "memory is at memory_limit");
    if (rc != 0)
      return rc;
    waited = true;
    pthread_mutex_lock(&log->mem_mutex);
    atomic_fetch_add(&log->mem_waiters, 1);
    cur = atomic_load(&log->mem_reserved);
    if (!((cur <= limit && charge <= limit - cur) || mem_idle(log, cur)) &&
        !atomic_load(&log->closing)) {
      mrlog__deadline_ms(&ts, slice);
      pthread_cond_timedwait(&log->mem_cond, &log->mem_mutex, &ts);
    }
    atomic_fetch_sub(&log->mem_waiters, 1);
    pthread_mutex_unlock(&log->mem_mutex);
    cur = atomic_load(&log->mem_reserved);
  }
}

int
mrlog__admit(struct mrlog *log, struct mrlog__req *req, uint64_t want,
             uint64_t need, struct mrlog__block *blk)
{
  bool may_wait;
  int rc;

  req->reserved = 0;
  /* Invariant 1. */
  atomic_fetch_add(&log->submitting, 1);
  if (atomic_load(&log->closing)) {
    atomic_fetch_sub(&log->submitting, 1);
    return MRLOG_ECLOSED;
  }
  may_wait = !log->policy.nonblocking && !mrlog__on_library_thread();
  if (want > 0) {
    rc = MRLOG_EFULL;
    if (want > need)
      rc = mem_reserve(log, want, false, blk);
    if (rc == 0) {
      req->reserved = want;
    } else {
      rc = mem_reserve(log, need, may_wait, blk);
      if (rc != 0) {
        atomic_fetch_sub(&log->submitting, 1);
        return rc;
      }
      req->reserved = need;
    }
  }
  rc = mrlog__ring_push_within(log, req, may_wait, blk);
  atomic_fetch_sub(&log->submitting, 1);
  return rc;
}

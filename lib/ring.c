/*
 * ring.c -- the MPSC request ring (concurrencykit ck_ring) and the
 * writer's wake-up.
 *
 * Invariants:
 *  1. Any number of producers push (ck_ring's mpsc reserve, then the
 *     commit of invariant 5); only the writer pops (ck_ring_dequeue_mpsc).
 *     The ring holds ring_slots - 1 requests.
 *  2. The fast path of a push is one enqueue and one load of
 *     writer_sleeping: no lock, no syscall.  The writer is signalled only
 *     when it has announced that it sleeps.
 *  3. No lost wake-up (a Dekker pair under seq_cst): the producer
 *     publishes its request, then fences, then reads writer_sleeping; the
 *     writer sets writer_sleeping, fences, then checks the ring, with
 *     wake_mutex held, and waits on wake_cond.  Either the writer sees the
 *     request or the producer sees the flag and signals under wake_mutex,
 *     which it cannot take before the writer is waiting.
 *  4. Producers that wait for space sleep on space_cond; the writer, after
 *     popping, signals them only if ring_waiters is non-zero (same pattern).
 *     A wait is bounded by policy.block_timeout_ms (block.c); the sentinel
 *     of close waits without bound.
 *  5. Commit without waiting.  ck's MPSC commit makes each producer wait,
 *     spinning, until every producer that reserved a slot before it has
 *     committed.  With more producers than cores, a producer preempted
 *     between reserve and commit then stalls all the later ones: in W2
 *     (64 threads on 2 cores) 6-16% of the pushes waited past a short
 *     spin, and the yields while waiting came to 1.6-4.4 per push.  So a
 *     producer reserves with ck (ck_ring_enqueue_reserve_mpsc), writes its
 *     slot, and *publishes* it: ring_seq[ticket & mask] = ticket + 1
 *     (release).  Then it helps: while the slot at p_tail is published
 *     (ring_seq of it == p_tail + 1), it CASes p_tail one further.  It
 *     never waits: an unpublished slot at p_tail is left to its own
 *     producer, which advances p_tail over it and every published slot
 *     after it.  No slot is left behind (a Dekker pair under seq_cst):
 *     a publisher stores ring_seq, fences, then loads p_tail; an advancer
 *     CASes p_tail (seq_cst), fences, then loads ring_seq.  So whoever
 *     moves p_tail onto a slot either sees it published or its publisher
 *     sees p_tail on it and advances itself.  p_tail keeps ck's meaning
 *     (every slot below it is written), so the writer pops with
 *     ck_ring_dequeue_mpsc unchanged.  ring_seq never needs clearing: a
 *     slot's old value is position - ring_slots + 1, never position + 1,
 *     and a slot is reserved again only after the writer has taken it.
 *
 * Append path (docs/DESIGN.md): caller -> submit.c -> stage.c ->
 * admit.c -> ring.c -> writer.c -> writer_frame.c (the file) ->
 * flusher.c -> req.c -> future.c (the callback).  This file carries
 * requests from the producers (admit.c) to the writer, which pops them;
 * it calls nothing downstream.
 */
#include "internal.h"
#include "req.h"
#include "ring.h"

#include <stdlib.h>
#include <time.h>

/*
 * ck_ring orders its slots with ck_pr fences written in inline assembly,
 * which ThreadSanitizer cannot see.  Under TSan we state the hand-off it
 * provides: everything a producer did to a request before pushing it
 * happens before the writer pops it.  (The ring's own slot accesses are
 * suppressed in tests/tsan.supp.)
 */
#if defined(__SANITIZE_THREAD__)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define HANDOFF_RELEASE(p) __tsan_release(p)
#define HANDOFF_ACQUIRE(p) __tsan_acquire(p)
#else
#define HANDOFF_RELEASE(p) ((void)(p))
#define HANDOFF_ACQUIRE(p) ((void)(p))
#endif

int
mrlog__ring_init(struct mrlog *log)
{
  unsigned i;

  log->ring_buf = calloc(log->ring_slots, sizeof(*log->ring_buf));
  log->ring_seq = malloc(log->ring_slots * sizeof(*log->ring_seq));
  if (log->ring_buf == NULL || log->ring_seq == NULL) {
    free(log->ring_buf);
    free(log->ring_seq);
    log->ring_buf = NULL;
    log->ring_seq = NULL;
    return MRLOG_ENOMEM;
  }
  /* Position p is published when ring_seq[p & mask] == p + 1: 0 matches
   * no position of the first lap. */
  for (i = 0; i < log->ring_slots; i++)
    atomic_init(&log->ring_seq[i], 0);
  ck_ring_init(&log->ring, log->ring_slots);
  atomic_init(&log->writer_sleeping, 0);
  atomic_init(&log->ring_waiters, 0);
  return 0;
}

void
mrlog__ring_free(struct mrlog *log)
{
  free(log->ring_buf);
  free(log->ring_seq);
  log->ring_buf = NULL;
  log->ring_seq = NULL;
}

/* Enqueues req; false if the ring is full (invariant 5). */
static bool
ring_enqueue_slot(struct mrlog *log, struct mrlog__req *req)
{
  const unsigned mask = log->ring.mask;
  unsigned ticket, tail;
  void **slot = ck_ring_enqueue_reserve_mpsc(&log->ring, log->ring_buf,
                                             &ticket);

  if (slot == NULL)
    return false;
  *slot = req;
  /* Publish (the release orders the slot write before it), then help
   * p_tail over every published slot (invariant 5). */
  atomic_store_explicit(&log->ring_seq[ticket & mask], ticket + 1,
                        memory_order_release);
  atomic_thread_fence(memory_order_seq_cst);
  for (;;) {
    tail = ck_pr_load_uint(&log->ring.p_tail);
    if (atomic_load_explicit(&log->ring_seq[tail & mask],
                             memory_order_acquire) != tail + 1)
      break;
    /* As ck's own commit does: the slot (written by whoever published
     * it, which our acquire load synchronized with) before the new
     * p_tail the writer loads.  Losing the CAS means another producer
     * moved p_tail: look again. */
    ck_pr_fence_store();
    ck_pr_cas_uint(&log->ring.p_tail, tail, tail + 1);
    atomic_thread_fence(memory_order_seq_cst);
  }
  return true;
}

static void
wake_writer(struct mrlog *log)
{
  /* Orders our enqueue before the load of writer_sleeping (invariant 3). */
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(&log->writer_sleeping, memory_order_relaxed)) {
    pthread_mutex_lock(&log->wake_mutex);
    pthread_cond_signal(&log->wake_cond);
    pthread_mutex_unlock(&log->wake_mutex);
  }
}

int
mrlog__ring_push(struct mrlog *log, struct mrlog__req *req, bool may_wait)
{
  return mrlog__ring_push_within(log, req, may_wait, NULL);
}

int
mrlog__ring_push_within(struct mrlog *log, struct mrlog__req *req,
                        bool may_wait, struct mrlog__block *blk)
{
  uint64_t start;
  int rc = 0;

  HANDOFF_RELEASE(req);
  if (ring_enqueue_slot(log, req)) {
    wake_writer(log);
    return 0;
  }
  if (!may_wait)
    return MRLOG_EFULL;
  start = mrlog__metrics_now();
  pthread_mutex_lock(&log->wake_mutex);
  atomic_fetch_add_explicit(&log->ring_waiters, 1, memory_order_seq_cst);
  while (!ring_enqueue_slot(log, req)) {
    struct timespec ts;
    unsigned slice = 10;

    /* block_timeout_ms (block.c); the report it may make runs log_fn,
     * which must not run under our lock.  The writer may have made room
     * (and broadcast) meanwhile: look again before waiting. */
    pthread_mutex_unlock(&log->wake_mutex);
    rc = mrlog__block_check(log, blk, &slice, "the request ring is full");
    pthread_mutex_lock(&log->wake_mutex);
    if (rc != 0 || ring_enqueue_slot(log, req))
      break;
    /* The writer may be asleep on the same mutex's other condition with a
     * full ring only if it has not seen our requests: wake it. */
    pthread_cond_signal(&log->wake_cond);
    mrlog__deadline_ms(&ts, slice);
    pthread_cond_timedwait(&log->space_cond, &log->wake_mutex, &ts);
  }
  atomic_fetch_sub_explicit(&log->ring_waiters, 1, memory_order_seq_cst);
  pthread_mutex_unlock(&log->wake_mutex);
  mrlog__metrics_ring_wait(log, start);
  if (rc != 0)
    return rc;
  mrlog__block_end(log, blk);
  wake_writer(log);
  return 0;
}

unsigned
mrlog__ring_pop(struct mrlog *log, struct mrlog__req **out, unsigned max)
{
  unsigned n = 0;

  while (n < max && ck_ring_dequeue_mpsc(&log->ring, log->ring_buf, &out[n])) {
    HANDOFF_ACQUIRE(out[n]);
    n++;
  }
  if (n > 0) {
    /* Orders the dequeues before the load of ring_waiters (invariant 4). */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&log->ring_waiters, memory_order_relaxed)) {
      pthread_mutex_lock(&log->wake_mutex);
      pthread_cond_broadcast(&log->space_cond);
      pthread_mutex_unlock(&log->wake_mutex);
    }
  }
  return n;
}

void
mrlog__ring_wait(struct mrlog *log, unsigned timeout_ms)
{
  struct timespec ts;

  pthread_mutex_lock(&log->wake_mutex);
  atomic_store_explicit(&log->writer_sleeping, 1, memory_order_relaxed);
  /* Orders the flag before the emptiness check (invariant 3). */
  atomic_thread_fence(memory_order_seq_cst);
  /* Nor while the cleaner's poke (workers/quota.c) waits to be seen. */
  if (ck_ring_size(&log->ring) == 0 &&
      !atomic_load_explicit(&log->quota_poke, memory_order_relaxed)) {
    mrlog__deadline_ms(&ts, timeout_ms);
    pthread_cond_timedwait(&log->wake_cond, &log->wake_mutex, &ts);
  }
  atomic_store_explicit(&log->writer_sleeping, 0, memory_order_relaxed);
  pthread_mutex_unlock(&log->wake_mutex);
}

/*
 * queue_drop.c -- dropping a queue's oldest records (truncation, retention,
 * truncate-on-commit, deletion) and its first retained position.  Writer
 * thread (or the opener during recovery), state_lock held for writing to
 * drop; for reading to ask the first position.
 *
 * Invariants (with queue.c's):
 *  1. Records leave from the head only: whole chunks are unlinked and
 *     unreferenced (readers holding a reference keep them alive), and a
 *     partial drop only advances head_index.
 *  2. What the dropped records were charged comes back in the same call:
 *     the chunks' charges, and the mapped payload: to the queue's
 *     memory_bytes always, to memory_limit where it was pinned (the copy
 *     store, mrlog__mem_charges_payload).
 *  3. Every drop bumps log->drop_epoch, so cursors holding dropped records
 *     look again (cursor.c invariant 2).
 */
#include "internal.h"
#include "memory.h"
#include "queue.h"
#include "queue_charge.h"

#include <stdatomic.h>
#include <stdint.h>

/* The first index in [lo, hi) of c whose position is > position (hi if
 * none): binary search, positions increase within a chunk. */
static uint32_t
upper_bound(const struct mrlog__chunk *c, uint32_t lo, uint32_t hi,
            uint64_t position)
{
  uint64_t rel;

  if (position < c->base)
    return lo;
  rel = position - c->base;
  if (rel >= UINT32_MAX)
    return hi;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (c->pos[mid] <= rel)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* Payload bytes of records [lo, hi) of c, lo being the queue's head_index
 * when c is its head.  A mapped chunk keeps its running total (queue.h)
 * and walks only a partial drop's records. */
static uint64_t
chunk_bytes(struct mrlog__chunk *c, uint32_t lo, uint32_t hi)
{
  uint64_t sum = 0;
  size_t len;
  uint32_t i;

  if (c->map == NULL)
    return c->ends[hi - 1] - (lo ? c->ends[lo - 1] : 0);
  if (hi == c->count)
    return c->bytes - c->dropped_bytes;
  for (i = lo; i < hi; i++) {
    (void)mrlog__chunk_record(c, i, &len);
    sum += len;
  }
  c->dropped_bytes += sum;
  return sum;
}

uint64_t
mrlog__queue_drop_upto(struct mrlog *log, struct mrlog__queue *q,
                       uint64_t position, uint64_t lsn)
{
  uint64_t dropped = 0, bytes = 0, mapped = 0;
  struct mrlog__chunk *c;

  while ((c = q->head) != NULL) {
    uint32_t lo = q->head_index;
    uint32_t hi = upper_bound(c, lo, c->count, position);

    if (hi > lo) {
      uint64_t b = chunk_bytes(c, lo, hi);
      dropped += hi - lo;
      bytes += b;
      if (c->map != NULL)
        mapped += b;
    }
    if (hi < c->count) {
      q->head_index = hi;
      break;
    }
    q->head = c->next;
    q->head_index = 0;
    if (q->head == NULL)
      q->tail = NULL;
    mrlog__qcharge_sub(log, q, c->charged);
    mrlog__chunk_unref(log, c);
  }
  if (dropped == 0)
    return 0;
  /* Cursors holding dropped records look again (cursor.c invariant 2). */
  atomic_fetch_add_explicit(&log->drop_epoch, 1, memory_order_relaxed);
  mrlog__runs_pop(log, q, dropped, lsn);
  q->records -= dropped;
  q->bytes -= bytes;
  mrlog__marks_drop(log, q);
  atomic_fetch_sub_explicit(&log->stat_records, dropped, memory_order_relaxed);
  if (mapped > 0) {
    if (mrlog__mem_charges_payload(log))
      mrlog__mem_unpin(log, mapped);
    mrlog__qcharge_sub(log, q, mapped);
  }
  return dropped;
}

uint64_t
mrlog__queue_first(const struct mrlog__queue *q)
{
  if (q->records == 0 || q->head == NULL)
    return q->next;
  return q->head->base + q->head->pos[q->head_index];
}

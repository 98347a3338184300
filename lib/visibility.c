/*
 * visibility.c -- which records reads show: mrlog_range, mrlog_range_time,
 * mrlog_seek_time and watches stop at a queue's visible next position.
 *
 * policy.visibility picks it: WRITTEN shows what the writer has applied
 * (q->next); DURABLE shows only what an fdatasync covers; ACKNOWLEDGED is
 * DURABLE under fsync_interval_ms 0 (an append is acknowledged once
 * durable) and WRITTEN otherwise (an append is acknowledged once written;
 * it is applied right after its write, just before the acknowledgement).
 *
 * Invariants:
 *  1. q->vis holds, oldest first, one entry per writer pass that stored
 *     records in q and may not be durable yet: the first position the pass
 *     stored and the LSN ending its frame.  Positions and LSNs both
 *     strictly increase along the ring.  Every record of q at a position
 *     below the oldest entry's pos whose entry was pruned is durable.
 *  2. So the durable next position is the pos of the first entry whose
 *     lsn is above durable_lsn, or q->next if none is: durable_lsn only
 *     grows (flusher.c invariant 2), so a position once durable stays so.
 *  3. The writer prunes the entries durable_lsn covers each time it adds
 *     one (mrlog__vis_note); readers never write the ring, they skip the
 *     covered entries.  A full ring (4 entries) merges its two newest:
 *     the merged entry keeps the older pos and takes the newer lsn, so
 *     its records become visible with the newer pass's sync (later,
 *     never earlier).  The ring lives in the queue: no allocation, and a
 *     pass costs two stores.
 *  4. A truncation drops the entries whose records all lie below the new
 *     floor (their positions hold no record any more) and raises a
 *     straddling entry's pos to the floor.
 *  5. Records recovered at open are durable: recovery fdatasyncs the
 *     newest segment before the log opens (recovery.c invariant 6; each
 *     older one was synced before the next was made), and durable_lsn
 *     starts at its end.  A read-only open syncs nothing; it treats what
 *     it reads as durable (its queues never hold an entry).
 *  6. [state]: the ring is written by the writer under state_lock held for
 *     writing and read under it held for reading.
 */
#include "internal.h"
#include "queue.h"
#include "visibility.h"

#define VIS_SLOTS 4u

_Static_assert(sizeof(((struct mrlog__queue *)0)->vis) /
                       sizeof(((struct mrlog__queue *)0)->vis[0]) ==
                   VIS_SLOTS,
               "the ring in struct mrlog__queue holds VIS_SLOTS entries");

static inline uint32_t
slot(const struct mrlog__queue *q, uint32_t i)
{
  return (q->vis_first + i) & (VIS_SLOTS - 1);
}

bool
mrlog__vis_waits_sync(const struct mrlog *log)
{
  return log->policy.visibility == MRLOG_VISIBLE_DURABLE ||
         (log->policy.visibility == MRLOG_VISIBLE_ACKNOWLEDGED &&
          log->policy.fsync_interval_ms == 0);
}

/* Index in the ring of the first entry durable_lsn does not cover
 * (vis_len if none). */
static uint32_t
first_pending(const struct mrlog *log, const struct mrlog__queue *q)
{
  uint64_t durable = atomic_load_explicit(
      &((struct mrlog *)log)->durable_lsn, memory_order_acquire);
  uint32_t i;

  for (i = 0; i < q->vis_len; i++)
    if (q->vis[slot(q, i)].lsn > durable)
      break;
  return i;
}

uint64_t
mrlog__durable_next(const struct mrlog *log, const struct mrlog__queue *q)
{
  uint32_t i = first_pending(log, q);

  return i < q->vis_len ? q->vis[slot(q, i)].pos : q->next;
}

uint64_t
mrlog__visible_next(const struct mrlog *log, const struct mrlog__queue *q)
{
  if (!mrlog__vis_waits_sync(log))
    return q->next;
  return mrlog__durable_next(log, q);
}

uint64_t
mrlog__vis_wait_lsn(const struct mrlog *log, const struct mrlog__queue *q)
{
  uint32_t i;

  if (!mrlog__vis_waits_sync(log))
    return 0;
  i = first_pending(log, q);
  return i < q->vis_len ? q->vis[slot(q, i)].lsn : 0;
}

void
mrlog__vis_note(struct mrlog *log, struct mrlog__queue *q, uint64_t pos,
                uint64_t lsn)
{
  uint64_t durable =
      atomic_load_explicit(&log->durable_lsn, memory_order_acquire);

  if (q->vis_len > 0 && q->vis[slot(q, q->vis_len - 1)].lsn == lsn)
    return; /* the pass already has its entry (a later run of it) */
  while (q->vis_len > 0 && q->vis[q->vis_first].lsn <= durable) {
    q->vis_first = (uint8_t)slot(q, 1);
    q->vis_len--;
  }
  if (q->vis_len == VIS_SLOTS) {
    /* Invariant 3: merge into the newest entry. */
    q->vis[slot(q, VIS_SLOTS - 1)].lsn = lsn;
    return;
  }
  q->vis[slot(q, q->vis_len)].pos = pos;
  q->vis[slot(q, q->vis_len)].lsn = lsn;
  q->vis_len++;
}

void
mrlog__vis_truncated(struct mrlog__queue *q)
{
  /* Entry i covers [pos_i, pos_i+1), the newest [pos, q->next). */
  while (q->vis_len > 0) {
    uint64_t end = q->vis_len > 1 ? q->vis[slot(q, 1)].pos : q->next;

    if (end > q->floor)
      break;
    q->vis_first = (uint8_t)slot(q, 1);
    q->vis_len--;
  }
  if (q->vis_len > 0 && q->vis[q->vis_first].pos < q->floor)
    q->vis[q->vis_first].pos = q->floor;
}

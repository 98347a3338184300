/*
 * queue_runs.c -- a queue's runs ring: how many of its retained records
 * each segment holds, so that dropping records lowers the right
 * segments' live counts (and the cleaner can delete a segment once its
 * count reaches zero).  Writer (or the opener during recovery), under
 * state_lock held for writing.
 *
 * Invariants:
 *  1. The ring lists, oldest first, one run per segment the queue's
 *     records lie in; the sum of counts equals the queue's `records`.
 *  2. Dropping k records pops k from the front and lowers the segments'
 *     live counts by the same amounts (mrlog__segment_drop_live).
 *  3. The ring's room follows what it holds (runs_fit): none once empty,
 *     else at most four times its runs (at least 8), charged as it is
 *     allocated (memory.c), to the log and to the queue's memory_bytes
 *     (queue_charge.h).
 */
#include "internal.h"
#include "memory.h"
#include "queue.h"
#include "queue_charge.h"
#include "segment.h"

/* Moves q's runs ring into a new one of cap entries (a power of two that
 * holds them), its first run at index 0.  MRLOG_ENOMEM leaves q as it
 * was. */
static int
runs_resize(struct mrlog *log, struct mrlog__queue *q, uint32_t cap)
{
  struct mrlog__run *r = mrlog__mem_malloc(log, cap * sizeof(*r));
  uint32_t i;

  if (r == NULL)
    return MRLOG_ENOMEM;
  for (i = 0; i < q->runs_len; i++)
    r[i] = q->runs[(q->runs_first + i) & (q->runs_cap - 1)];
  mrlog__qcharge_add(q, mrlog__heap_size(r));
  mrlog__qcharge_sub(log, q, mrlog__heap_size(q->runs));
  mrlog__mem_free(log, q->runs);
  q->runs = r;
  q->runs_cap = cap;
  q->runs_first = 0;
  return 0;
}

int
mrlog__runs_push(struct mrlog *log, struct mrlog__queue *q,
                 struct mrlog__segment *seg, uint64_t n)
{
  struct mrlog__run *last;

  if (q->runs_len > 0) {
    last = &q->runs[(q->runs_first + q->runs_len - 1) & (q->runs_cap - 1)];
    if (last->seg == seg) {
      last->count += n;
      return 0;
    }
  }
  if (q->runs_len == q->runs_cap &&
      runs_resize(log, q, q->runs_cap ? q->runs_cap * 2 : 1) != 0)
    return MRLOG_ENOMEM;
  q->runs[(q->runs_first + q->runs_len) & (q->runs_cap - 1)] =
      (struct mrlog__run){ seg, n };
  q->runs_len++;
  return 0;
}

/* Gives back the room of a ring that emptied or shrank to a quarter:
 * none is kept once the queue has no runs, else the ring is cut to the
 * smallest power of two, at least 8, that holds twice its runs.  So what
 * a queue is charged for its runs depends only on what it holds now, not
 * on how many segments it once spanned.  On ENOMEM it keeps the ring. */
static void
runs_fit(struct mrlog *log, struct mrlog__queue *q)
{
  uint32_t cap = q->runs_cap;

  if (q->runs_len == 0) {
    mrlog__qcharge_sub(log, q, mrlog__heap_size(q->runs));
    mrlog__mem_free(log, q->runs);
    q->runs = NULL;
    q->runs_cap = q->runs_first = 0;
    return;
  }
  while (cap > 8 && q->runs_len <= cap / 4)
    cap /= 2;
  if (cap != q->runs_cap)
    (void)runs_resize(log, q, cap); /* on ENOMEM the ring stays */
}

void
mrlog__runs_pop(struct mrlog *log, struct mrlog__queue *q, uint64_t n,
                uint64_t lsn)
{
  while (n > 0 && q->runs_len > 0) {
    struct mrlog__run *r = &q->runs[q->runs_first];
    uint64_t take = n < r->count ? n : r->count;

    r->count -= take;
    n -= take;
    mrlog__segment_drop_live(log, r->seg, take, lsn);
    if (r->count == 0) {
      q->runs_first = (q->runs_first + 1) & (q->runs_cap - 1);
      q->runs_len--;
    }
  }
  runs_fit(log, q);
}

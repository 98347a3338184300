/*
 * queue_time.c -- when a queue's retained records were framed: its ring of
 * time marks, and the searches mrlog_seek_time and mrlog_range_time make.
 *
 * Times are stored per run of records framed at the same millisecond, not
 * per record: the writer frames many records at once, so a mark (16 bytes)
 * usually covers a whole frame's records of the queue.
 *
 * Invariants (queue.c invariant 5 refers here):
 *  1. Marks are in position order and in time order, both strictly
 *     increasing: a mark is added only when a record is stored with a
 *     time other than the newest mark's, and stores take the log's
 *     apply_ms, which never decreases (clock.c).
 *  2. A record at position p was framed at the time of the last mark whose
 *     pos <= p.  The first mark's pos is at or below the first retained
 *     record's position; a queue without records has no marks.
 *  3. Every mark's pos is the position of a record that was stored, so a
 *     mark above the first retained position names a retained record
 *     (records are only ever dropped from the front).
 *  4. The ring is charged as it is allocated (memory.c), to the log and
 *     to the queue's memory_bytes (queue_charge.h); it grows by
 *     doubling, is cut to the smallest power of two (at least 8) that
 *     holds twice its marks once a quarter of it is in use, and is freed
 *     when the queue holds no record: so what a queue is charged for its
 *     marks depends on what it holds, not on its history (a queue that
 *     once held many runs of times does not keep their room).
 *  5. [state]: written by the writer (or the opener during recovery) under
 *     state_lock held for writing; read under it held for reading.
 */
#include "internal.h"
#include "memory.h"
#include "queue.h"
#include "queue_charge.h"

#include <stdlib.h>

static struct mrlog__time_mark *
mark(const struct mrlog__queue *q, uint32_t i)
{
  return &q->marks[(q->marks_first + i) & (q->marks_cap - 1)];
}

/* Moves the marks into a ring of cap entries (>= marks_len).  On
 * MRLOG_ENOMEM the old ring stays. */
static int
marks_resize(struct mrlog *log, struct mrlog__queue *q, uint32_t cap)
{
  struct mrlog__time_mark *m = mrlog__mem_malloc(log, cap * sizeof(*m));
  uint32_t i;

  if (m == NULL)
    return MRLOG_ENOMEM;
  for (i = 0; i < q->marks_len; i++)
    m[i] = *mark(q, i);
  mrlog__qcharge_add(q, mrlog__heap_size(m));
  mrlog__qcharge_sub(log, q, mrlog__heap_size(q->marks));
  mrlog__mem_free(log, q->marks);
  q->marks = m;
  q->marks_cap = cap;
  q->marks_first = 0;
  return 0;
}

int
mrlog__marks_note(struct mrlog *log, struct mrlog__queue *q, uint64_t pos,
                  uint64_t ms)
{
  if (q->marks_len > 0 && mark(q, q->marks_len - 1)->ms >= ms)
    return 0; /* same run (a clamped clock never gives less) */
  if (q->marks_len == q->marks_cap &&
      marks_resize(log, q, q->marks_cap ? q->marks_cap * 2 : 1) != 0)
    return MRLOG_ENOMEM;
  *mark(q, q->marks_len) = (struct mrlog__time_mark){ pos, ms };
  q->marks_len++;
  return 0;
}

void
mrlog__marks_drop(struct mrlog *log, struct mrlog__queue *q)
{
  uint64_t first;

  if (q->records == 0) {
    mrlog__marks_free(log, q); /* invariant 4: no room kept */
    return;
  }
  first = mrlog__queue_first(q);
  /* Keep the mark that covers the first retained record (invariant 2). */
  while (q->marks_len >= 2 && mark(q, 1)->pos <= first) {
    q->marks_first = (q->marks_first + 1) & (q->marks_cap - 1);
    q->marks_len--;
  }
  /* Invariant 4. */
  if (q->marks_cap > 8 && q->marks_len <= q->marks_cap / 4) {
    uint32_t cap = q->marks_cap / 2;

    while (cap > 8 && q->marks_len <= cap / 4)
      cap /= 2;
    (void)marks_resize(log, q, cap); /* on ENOMEM the ring stays */
  }
}

void
mrlog__marks_free(struct mrlog *log, struct mrlog__queue *q)
{
  mrlog__qcharge_sub(log, q, mrlog__heap_size(q->marks));
  mrlog__mem_free(log, q->marks);
  q->marks = NULL;
  q->marks_len = q->marks_cap = q->marks_first = 0;
}

uint32_t
mrlog__marks_seek(const struct mrlog__queue *q, uint64_t ms)
{
  uint32_t lo = 0, hi = q->marks_len;

  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (mark(q, mid)->ms < ms)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

uint32_t
mrlog__marks_find(const struct mrlog__queue *q, uint64_t pos)
{
  uint32_t lo = 0, hi = q->marks_len;

  /* The first mark with pos > position, minus one. */
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (mark(q, mid)->pos <= pos)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo > 0 ? lo - 1 : 0;
}

const struct mrlog__time_mark *
mrlog__marks_at(const struct mrlog__queue *q, uint32_t i)
{
  return mark(q, i);
}

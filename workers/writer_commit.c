/*
 * writer_commit.c -- the writer's side of a consumer's commit or removal
 * (MRLOG_REQ_COMMIT, MRLOG_REQ_UNCOMMIT): deciding it against the applied
 * state and framing it.  Writer thread only; writer.c's invariants hold.
 *
 * Invariants:
 *  1. The pass's pending frame is written and applied first, so the
 *     consumer table, floor and next the decision reads are the writer's
 *     whole view (commits are rare next to appends: a frame of their own
 *     costs a write, not a sync).
 *  2. A commit at or below the consumer's committed position changes
 *     nothing and completes with MRLOG_DUPLICATE (position reported: the
 *     committed one).  A commit that adds a consumer whose name would take
 *     the checkpoint past its bound (format.h MRLOG_CHECKPOINT_MAX) is
 *     refused with MRLOG_EINVAL, like a create.
 *  3. Under truncate_on_commit, when the operation raises the smallest
 *     committed position of the queue's consumers above its floor, a
 *     TRUNCATE to just below that position follows the COMMIT or UNCOMMIT
 *     in the same frame: one checksum covers both, so recovery finds both
 *     or neither, and never a truncation whose commit was lost.  A queue
 *     without consumers is never truncated this way: removing the last
 *     consumer truncates nothing.
 */
#include "writer.h"
#include "consumer.h"

#include <string.h>

/* The smallest committed position once the operation is applied: with
 * `self` at `position` (COMMIT) or without it (UNCOMMIT: remove).  false
 * if no consumer would remain. */
static bool
min_after(const struct mrlog__queue *q, const struct mrlog__consumer *self,
          bool remove, uint64_t position, uint64_t *min)
{
  bool any = false;
  uint32_t i;

  if (!remove) {
    *min = position;
    any = true;
  }
  for (i = 0; i < q->n_consumers; i++) {
    const struct mrlog__consumer *c = &q->consumers[i];

    if (c == self)
      continue;
    if (!any || c->position < *min)
      *min = c->position;
    any = true;
  }
  return any;
}

void
mrlog__writer_commit(struct mrlog *log, struct mrlog__req *req)
{
  struct mrlog__writer *w = log->writer;
  bool remove = req->type == MRLOG_REQ_UNCOMMIT, trunc;
  const char *name = (const char *)req->payload;
  size_t len = req->lens[0] - 1; /* the NUL rides along (consumer.h) */
  struct mrlog__queue *q;
  struct mrlog__consumer *c;
  uint64_t min = 0;

  mrlog__writer_flush(log); /* invariant 1 */
  mrlog__writer_add_done(w, req);
  q = mrlog__index_by_name(&log->index, req->name, req->name_len,
                           req->name_hash);
  if (q == NULL) {
    req->status = MRLOG_ENOQUEUE;
    req->position = 0;
    return;
  }
  c = mrlog__consumer_find(q, name, len);
  if (remove && c == NULL) {
    req->status = MRLOG_ENODATA;
    req->position = 0;
    return;
  }
  if (remove) {
    req->position = c->position;
  } else if (c != NULL && req->position <= c->position) {
    req->status = MRLOG_DUPLICATE; /* invariant 2 */
    req->position = c->position;
    return;
  } else if (c == NULL &&
             !mrlog__index_checkpoint_fits_consumer(&log->index, len)) {
    req->status = MRLOG_EINVAL;
    return;
  }
  trunc = log->policy.truncate_on_commit &&
          min_after(q, c, remove, req->position, &min) && min > q->w_floor;
  if (mrlog__buf_reserve(&w->frame, 4 + 6 * MRLOG_VARINT_MAX + len) != 0 ||
      mrlog__writer_push_op(w, OP_RAW) == NULL) {
    req->status = MRLOG_ENOMEM;
    return;
  }
  mrlog__buf_put_u8(&w->frame, remove ? MRLOG_OP_UNCOMMIT : MRLOG_OP_COMMIT);
  mrlog__buf_put_varint(&w->frame, q->id);
  mrlog__buf_put_varint(&w->frame, len);
  memcpy(w->frame.data + w->frame.len, name, len);
  w->frame.len += len;
  if (!remove)
    mrlog__buf_put_varint(&w->frame, req->position);
  if (trunc) { /* invariant 3 */
    mrlog__buf_put_u8(&w->frame, MRLOG_OP_TRUNCATE);
    mrlog__buf_put_varint(&w->frame, q->id);
    mrlog__buf_put_varint(&w->frame, min - 1);
  }
  /* The frame holds these operations alone, applied through apply.c. */
  w->ops[0].off = MRLOG_FRAME_HEADER_SIZE;
  w->ops[0].len = w->frame.len - MRLOG_FRAME_HEADER_SIZE;
  mrlog__writer_flush(log);
}

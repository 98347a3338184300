/*
 * apply.c -- applies the operations of one frame body to the in-memory
 * state.  Recovery and the writer share this code, so what a reopened log
 * holds is, by construction, what the running log held.
 *
 * Invariants:
 *  1. Every operation is checked against the body's bounds and against the
 *     state before it changes anything; a frame whose checksum matched but
 *     whose content is inconsistent is MRLOG_ECORRUPT (a hostile file or a
 *     bug), never a crash.
 *  2. Positions only move forward: an APPEND below a queue's next is
 *     corrupt; TRUNCATE and CHECKPOINT raise floor and next, never lower
 *     them.  Queue ids are never reused: next_queue_id only grows.
 *  3. A CHECKPOINT is the whole set of live queues at its point: queues it
 *     does not list are deleted, listed ones are created or truncated to
 *     their floor.  It is valid only as the first operation of a segment.
 *  4. Record lengths are validated before any record is stored, so an
 *     APPEND is applied whole or not at all.
 *  5. A TIME op (format version 2 on) sets log->apply_ms, the time the
 *     records stored after it are stamped with; a time older than
 *     apply_ms is clamped to it, so stamps never go backwards.
 *  6. After recovery dropped damaged data (log->skip_watch), positions
 *     that an APPEND skips over, or that a CHECKPOINT lists below a
 *     queue's next and at or above its floor without the queue holding
 *     them, are reported as lost (mrlog__note_gap).  A SEAL op (type 7)
 *     is not applied here: recovery recognises it before (a SEAL reaching
 *     this code is inconsistent).
 *  7. Format version 4: a CHECKPOINT entry ends with the queue's consumer
 *     list, and COMMIT and UNCOMMIT ops change one consumer
 *     (consumer_apply.c); in an older segment either op is inconsistent.
 */
#include "internal.h"
#include "apply.h"
#include "consumer.h"
#include "queue.h"
#include "recovery.h"
#include "segment.h"
#include "visibility.h"
#include "watch.h"

#include <string.h>

struct cursor {
  const uint8_t *p;   /* next byte */
  const uint8_t *end; /* end of the body */
};

static bool
get(struct cursor *c, uint64_t *v)
{
  return mrlog__get_varint_fast(&c->p, c->end, v);
}

/* Reads a name: length then bytes.  Valid names have no NUL. */
static bool
get_name(struct cursor *c, const char **name, size_t *len)
{
  uint64_t n;

  if (!get(c, &n) || n == 0 || n > MRLOG_QUEUE_NAME_MAX ||
      n > (uint64_t)(c->end - c->p))
    return false;
  if (memchr(c->p, '\0', (size_t)n) != NULL)
    return false;
  *name = (const char *)c->p;
  *len = (size_t)n;
  c->p += n;
  return true;
}

static uint64_t
sat_inc(uint64_t v)
{
  return v == UINT64_MAX ? UINT64_MAX : v + 1;
}

static int
create_queue(struct mrlog *log, uint64_t id, const char *name, size_t len)
{
  struct mrlog__queue *q;

  if (mrlog__index_by_id(&log->index, id) != NULL ||
      mrlog__index_by_name(&log->index, name, len,
                           mrlog__name_hash(name, len)) != NULL)
    return MRLOG_ECORRUPT;
  q = mrlog__queue_new(log, name, len, id);
  if (q == NULL)
    return MRLOG_ENOMEM;
  if (mrlog__index_insert(&log->index, q) != 0) {
    mrlog__queue_free(log, q, 0);
    return MRLOG_ENOMEM;
  }
  if (id >= log->next_queue_id)
    log->next_queue_id = id + 1;
  return 0;
}

static void
delete_queue(struct mrlog *log, struct mrlog__queue *q, uint64_t lsn)
{
  if (atomic_load_explicit(&q->watchers, memory_order_relaxed))
    mrlog__watch_gone(log, q);
  mrlog__index_remove(&log->index, q);
  mrlog__queue_free(log, q, lsn);
}

uint64_t
mrlog__apply_truncate(struct mrlog *log, struct mrlog__queue *q,
                      uint64_t position, uint64_t lsn)
{
  uint64_t bound = sat_inc(position);
  uint64_t dropped = mrlog__queue_drop_upto(log, q, position, lsn);

  if (q->floor < bound)
    q->floor = bound;
  if (q->next < bound)
    q->next = bound;
  if (q->w_next < q->next)
    q->w_next = q->next;
  if (q->w_floor < q->floor)
    q->w_floor = q->floor;
  mrlog__vis_truncated(q);
  if (atomic_load_explicit(&q->watchers, memory_order_relaxed))
    mrlog__watch_dirty(log, q, 0);
  return dropped;
}

static int
apply_append(struct mrlog *log, struct mrlog__segment *seg, struct cursor *c)
{
  uint64_t id, first, count, i, len;
  const uint8_t *recs;
  struct mrlog__queue *q;
  int rc;

  if (!get(c, &id) || !get(c, &first) || !get(c, &count) || count == 0)
    return MRLOG_ECORRUPT;
  q = mrlog__index_by_id(&log->index, id);
  if (q == NULL || first < q->next || first > MRLOG_POSITION_MAX ||
      count - 1 > MRLOG_POSITION_MAX - first)
    return MRLOG_ECORRUPT;
  recs = c->p;
  for (i = 0; i < count; i++) {
    if (!get(c, &len) || len > MRLOG_RECORD_MAX ||
        len > (uint64_t)(c->end - c->p))
      return MRLOG_ECORRUPT;
    c->p += len;
  }
  if (log->skip_watch && first > q->next)
    mrlog__note_gap(log, q, q->next, first); /* invariant 6 */
  rc = mrlog__queue_store(log, q, seg, first, count, recs,
                          (size_t)(c->p - recs));
  if (rc != 0)
    return rc;
  q->lost_bound = 0; /* its next is known again (recovery.c inv. 13) */
  if (q->w_next < q->next)
    q->w_next = q->next;
  return 0;
}

/* Applies a checkpoint: two passes over its entries, see invariant 3. */
static int
apply_checkpoint(struct mrlog *log, struct cursor *c, uint64_t lsn)
{
  struct cursor start;
  uint64_t next_id, n, i, id, floor, next;
  const char *name;
  size_t len, b;
  struct mrlog__queue *q, *qnext;
  bool v4 = log->apply_version >= MRLOG_FORMAT_VERSION_CONSUMERS;
  int rc;

  if (!get(c, &next_id) || !get(c, &n))
    return MRLOG_ECORRUPT;
  start = *c;
  /* Pass 1: validate, and mark the listed queues that exist with in_pass
   * (free outside a writer pass: checkpoints are applied only at open). */
  for (b = 0; b < log->index.nbuckets; b++)
    for (q = log->index.by_id[b]; q; q = q->by_id_next)
      q->in_pass = false;
  for (i = 0; i < n; i++) {
    if (!get(c, &id) || !get_name(c, &name, &len) || !get(c, &floor) ||
        !get(c, &next) || floor > next || id >= next_id)
      return MRLOG_ECORRUPT;
    if (v4 && mrlog__checkpoint_consumers(log, NULL, &c->p, c->end) != 0)
      return MRLOG_ECORRUPT;
    q = mrlog__index_by_id(&log->index, id);
    if (q != NULL) {
      if (q->name_len != len || memcmp(q->name, name, len) != 0)
        return MRLOG_ECORRUPT;
      q->in_pass = true;
    }
  }
  /* Delete queues the checkpoint does not list. */
  for (b = 0; b < log->index.nbuckets; b++) {
    for (q = log->index.by_id[b]; q; q = qnext) {
      qnext = q->by_id_next;
      if (!q->in_pass)
        delete_queue(log, q, lsn);
    }
  }
  /* Pass 2: create the missing ones, truncate and advance the rest. */
  *c = start;
  for (i = 0; i < n; i++) {
    get(c, &id);
    get_name(c, &name, &len);
    get(c, &floor);
    get(c, &next);
    q = mrlog__index_by_id(&log->index, id);
    if (q == NULL) {
      rc = create_queue(log, id, name, len);
      if (rc != 0)
        return rc;
      q = mrlog__index_by_id(&log->index, id);
    }
    q->in_pass = false;
    q->lost_bound = 0;
    if (log->skip_watch && next > (q->next > floor ? q->next : floor))
      mrlog__note_gap(log, q, q->next > floor ? q->next : floor, next);
    if (floor > 0)
      mrlog__apply_truncate(log, q, floor - 1, lsn);
    if (q->next < next)
      q->next = next;
    if (q->w_next < q->next)
      q->w_next = q->next;
    /* Its consumers (version 4), checked in pass 1. */
    if (v4 && (rc = mrlog__checkpoint_consumers(log, q, &c->p, c->end)) != 0)
      return rc;
  }
  if (log->next_queue_id < next_id)
    log->next_queue_id = next_id;
  return 0;
}

int
mrlog__apply_frame(struct mrlog *log, struct mrlog__segment *seg,
                   const uint8_t *body, size_t len, uint64_t lsn,
                   bool first_frame)
{
  struct cursor c = { body, body + len };
  bool first_op = true;
  uint64_t id, position;
  const char *name;
  size_t name_len;
  struct mrlog__queue *q;
  int rc;

  while (c.p < c.end) {
    uint8_t type = *c.p++;

    if (first_frame && first_op && type != MRLOG_OP_CHECKPOINT)
      return MRLOG_ECORRUPT;
    switch (type) {
    case MRLOG_OP_CREATE:
      if (!get(&c, &id) || !get_name(&c, &name, &name_len) ||
          id < log->next_queue_id)
        return MRLOG_ECORRUPT;
      rc = create_queue(log, id, name, name_len);
      break;
    case MRLOG_OP_DELETE:
      if (!get(&c, &id) || (q = mrlog__index_by_id(&log->index, id)) == NULL)
        return MRLOG_ECORRUPT;
      delete_queue(log, q, lsn);
      rc = 0;
      break;
    case MRLOG_OP_TRUNCATE:
      if (!get(&c, &id) || !get(&c, &position) ||
          (q = mrlog__index_by_id(&log->index, id)) == NULL)
        return MRLOG_ECORRUPT;
      mrlog__apply_truncate(log, q, position, lsn);
      rc = 0;
      break;
    case MRLOG_OP_APPEND:
      rc = apply_append(log, seg, &c);
      break;
    case MRLOG_OP_CHECKPOINT:
      if (!(first_frame && first_op))
        return MRLOG_ECORRUPT;
      rc = apply_checkpoint(log, &c, lsn);
      break;
    case MRLOG_OP_TIME:
      if (log->apply_version < 2 || !get(&c, &position))
        return MRLOG_ECORRUPT;
      if (position > log->apply_ms)
        log->apply_ms = position;
      rc = 0;
      break;
    case MRLOG_OP_COMMIT:
    case MRLOG_OP_UNCOMMIT:
      /* Version 4 (consumer_apply.c). */
      if (log->apply_version < MRLOG_FORMAT_VERSION_CONSUMERS)
        return MRLOG_ECORRUPT;
      rc = type == MRLOG_OP_COMMIT ? mrlog__apply_commit(log, &c.p, c.end)
                                   : mrlog__apply_uncommit(log, &c.p, c.end);
      break;
    default:
      return MRLOG_ECORRUPT;
    }
    if (rc != 0)
      return rc;
    first_op = false;
  }
  return 0;
}

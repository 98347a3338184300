/*
 * writer.c -- the writer thread: sole consumer of the request ring, sole
 * mutator of the queue state and of the hot segment file.
 *
 * DESIGN
 *   Messages: every request type (enum mrlog__req_type).  It pops up to
 *   PASS_MAX requests at a time, checks each against its own view of the
 *   queues (w_next, w_floor), and encodes the effective ones into one frame:
 *   appends are regrouped by queue (only per-queue order matters), so a pass
 *   of single-record appends to a few queues costs one APPEND operation per
 *   queue and about one byte per record.  A truncate first emits its queue's
 *   pending appends; a create or delete first writes the whole pending frame
 *   and then goes out in a frame of its own, since later requests look the
 *   queue up by name.  An append a quota does not admit is handed to
 *   workers/quota.c (refused, or parked until room comes back); after each
 *   pass and each wake-up the loop takes back from it, in order, the
 *   parked ones that fit now (quota_pass).
 *   Owns: the hot segment fd and its write offset, the frame buffer, the
 *   [writer] fields of every queue.
 *   Ordering: requests are completed in the order popped; a frame is
 *   written, then applied to RAM (the same code as recovery), then its
 *   requests go to the flusher, so a record is readable before it is
 *   acknowledged.
 *   Completion: by handing requests to the flusher with the frame's LSN.
 *
 * Invariants:
 *  1. Nothing is written after a failure: a partly written frame may sit
 *     at the tail, and a valid frame after it would turn a healable tail
 *     into corruption.
 *  2. Before the first frame of segment n+1 is written, segment n is
 *     fdatasynced, and n+1 (header and checkpoint) is fdatasynced and its
 *     directory entry fsynced.  So only the last segment can have a torn
 *     tail, and every segment's metadata is restated by its successor.
 *     Segment n's sync is the only one in flight on its fd (the flusher's
 *     sync token, flusher.c invariant 1); segment n+1 is synced before
 *     the flusher gets its fd.  If any of these syncs fails, or the log
 *     has failed, rotation stops: n+1 is never used and durable_lsn does
 *     not rise.
 *  3. A frame's `synced` field never exceeds the bytes of the file the
 *     flusher has actually made durable.
 *  4. A segment the writer leaves (rotation) or closes ends with its seal
 *     (seal.c), written once everything before it is durable and synced
 *     before the next segment exists or close returns.  At close it is
 *     written after the flusher has stopped (mrlog__writer_seal), so no
 *     other thread's fdatasync can consume a writeback error first.
 *
 * Append path (docs/DESIGN.md): caller -> submit.c -> stage.c ->
 * admit.c -> ring.c -> writer.c -> writer_frame.c (the file) ->
 * flusher.c -> req.c -> future.c (the callback).  This file pops the ring
 * and decides each request; writer_frame.c writes and applies, then hands
 * the requests to the flusher.  Staged batches are closed and walked
 * through batch.c.
 */
#include "internal.h"
#include "filemap.h"
#include "future.h"
#include "memory.h"
#include "queue.h"
#include "quota.h"
#include "req.h"
#include "ring.h"
#include "segment.h"
#include "stage.h"
#include "writer.h"
#include "crc32c.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
mrlog__writer_init(struct mrlog *log)
{
  struct mrlog__writer *w = calloc(1, sizeof(*w));

  if (w == NULL)
    return MRLOG_ENOMEM;
  w->fd = -1;
  if (mrlog__buf_reserve(&w->frame, 1 << 16) != 0) {
    free(w);
    return MRLOG_ENOMEM;
  }
  w->frame.len = MRLOG_FRAME_HEADER_SIZE;
  if (mrlog__quota_init(log, &w->quota) != 0) {
    mrlog__buf_free(&w->frame);
    free(w);
    return MRLOG_ENOMEM;
  }
  log->writer = w;
  return 0;
}

void
mrlog__writer_free(struct mrlog *log)
{
  struct mrlog__writer *w = log->writer;

  if (w == NULL)
    return;
  if (w->fd >= 0)
    log->io->close(log->io->ctx, w->fd);
  if (w->map != NULL)
    mrlog__filemap_unref(log, w->map); /* chunks may keep it mapped */
  if (w->buf_charged != 0)
    mrlog__mem_sub(log, w->buf_charged);
  mrlog__buf_free(&w->frame);
  free(w->ops);
  free(w->ext);
  free(w->iov);
  free(w->subs);
  free(w->zeros);
  mrlog__quota_free(w->quota);
  free(w);
  log->writer = NULL;
}

static struct mrlog__queue *
lookup(struct mrlog *log, const struct mrlog__req *req)
{
  return mrlog__index_by_name(&log->index, req->name, req->name_len,
                              req->name_hash);
}

static uint64_t
sat_inc(uint64_t v)
{
  return v == UINT64_MAX ? UINT64_MAX : v + 1;
}

/* A create or a delete: written in a frame of its own. */
static void
handle_structural(struct mrlog *log, struct mrlog__req *req)
{
  struct mrlog__writer *w = log->writer;
  struct mrlog__queue *q;

  mrlog__writer_flush(log);
  q = lookup(log, req);
  if (req->type == MRLOG_REQ_DELETE && q != NULL)
    mrlog__quota_forget_queue(log, q); /* its held-back appends go first */
  mrlog__writer_add_done(w, req);
  if (req->type == MRLOG_REQ_CREATE) {
    req->position = 0;
    if (q != NULL) {
      req->status = MRLOG_EEXIST;
      return;
    }
    if (!mrlog__index_checkpoint_fits(&log->index, req->name_len)) {
      /* Its checkpoint could outgrow 32-bit offsets (format.h). */
      req->status = MRLOG_EINVAL;
      return;
    }
    if (mrlog__buf_reserve(&w->frame, 1 + 2 * MRLOG_VARINT_MAX +
                                          req->name_len) != 0) {
      req->status = MRLOG_ENOMEM;
      return;
    }
    if (mrlog__writer_push_op(w, OP_RAW) == NULL) {
      req->status = MRLOG_ENOMEM;
      return;
    }
    mrlog__buf_put_u8(&w->frame, MRLOG_OP_CREATE);
    mrlog__buf_put_varint(&w->frame, log->next_queue_id);
    mrlog__buf_put_varint(&w->frame, req->name_len);
    memcpy(w->frame.data + w->frame.len, req->name, req->name_len);
    w->frame.len += req->name_len;
  } else {
    req->position = 0;
    if (q == NULL) {
      req->status = MRLOG_ENOQUEUE;
      return;
    }
    if (mrlog__buf_reserve(&w->frame, 1 + MRLOG_VARINT_MAX) != 0) {
      req->status = MRLOG_ENOMEM;
      return;
    }
    if (mrlog__writer_push_op(w, OP_RAW) == NULL) {
      req->status = MRLOG_ENOMEM;
      return;
    }
    mrlog__buf_put_u8(&w->frame, MRLOG_OP_DELETE);
    mrlog__buf_put_varint(&w->frame, q->id);
  }
  /* The frame holds this one operation. */
  w->ops[0].off = MRLOG_FRAME_HEADER_SIZE;
  w->ops[0].len = w->frame.len - MRLOG_FRAME_HEADER_SIZE;
  mrlog__writer_flush(log);
}

static void
handle_truncate(struct mrlog *log, struct mrlog__req *req)
{
  struct mrlog__writer *w = log->writer;
  struct mrlog__queue *q = lookup(log, req);
  uint64_t bound = sat_inc(req->position);
  struct apply_op *op;

  mrlog__writer_add_done(w, req);
  if (q == NULL || (req->by_retention && q->id != req->first)) {
    req->status = MRLOG_ENOQUEUE; /* (retention: deleted and recreated) */
    return;
  }
  if (bound <= q->w_floor)
    return; /* nothing at or below position is left, next is past it */
  if (q->pass_first != NULL && mrlog__writer_emit_runs(log, w, q) != 0) {
    req->status = MRLOG_ENOMEM;
    return;
  }
  if (mrlog__buf_reserve(&w->frame, 1 + 2 * MRLOG_VARINT_MAX) != 0) {
    req->status = MRLOG_ENOMEM;
    return;
  }
  op = mrlog__writer_push_op(w, OP_TRUNCATE);
  if (op == NULL) {
    req->status = MRLOG_ENOMEM;
    return;
  }
  op->q = q;
  op->a = req->position;
  op->r = req;
  mrlog__buf_put_u8(&w->frame, MRLOG_OP_TRUNCATE);
  mrlog__buf_put_varint(&w->frame, q->id);
  mrlog__buf_put_varint(&w->frame, req->position);
  q->w_floor = bound;
  if (q->w_next < bound)
    q->w_next = bound;
}

/* Decides an append to q, its queue, that no quota holds back. */
static void
decide_append(struct mrlog *log, struct mrlog__queue *q,
              struct mrlog__req *req)
{
  struct mrlog__writer *w = log->writer;
  uint64_t first;

  mrlog__writer_add_done(w, req);
  first = req->has_position ? req->position : q->w_next;
  /* Checked before the duplicate rule: a batch whose end would pass the
   * last position is refused, not reported at a wrapped position. */
  if (first > MRLOG_POSITION_MAX ||
      req->count - 1 > MRLOG_POSITION_MAX - first) {
    req->status = MRLOG_EINVAL; /* position space exhausted */
    req->position = 0;
    return;
  }
  if (req->has_position && first < q->w_next) {
    req->status = MRLOG_DUPLICATE;
    req->position = first + req->count - 1;
    return;
  }
  req->first = first;
  req->position = first + req->count - 1;
  q->w_next = first + req->count;
  req->run_next = NULL;
  if (q->pass_last)
    q->pass_last->run_next = req;
  else
    q->pass_first = req;
  q->pass_last = req;
  if (!q->in_pass) {
    q->in_pass = true;
    q->pass_next = w->touched;
    w->touched = q;
    w->pending_bytes += PASS_OP_BYTES;
  }
  w->pending_bytes += req->payload_len + req->count;
}

static void
handle_append(struct mrlog *log, struct mrlog__req *req)
{
  struct mrlog__queue *q = lookup(log, req);

  if (q == NULL) {
    mrlog__writer_add_done(log->writer, req);
    req->status = MRLOG_ENOQUEUE;
    return;
  }
  if (log->writer->quota != NULL && mrlog__quota_hold(log, q, req))
    return; /* held back or refused by a quota (quota.c) */
  decide_append(log, q, req);
}

/* The cleaner asks for a rotation by age (expiry.c): the hot segment is
 * rotated if it is still segment_max_age_ms old and holds frames besides
 * its checkpoint (an empty one would only be replaced by another). */
static void
handle_rotate(struct mrlog *log, struct mrlog__req *req)
{
  struct mrlog__writer *w = log->writer;
  uint64_t max_age = log->policy.segment_max_age_ms, now;

  mrlog__writer_flush(log);
  req->position = 0;
  mrlog__writer_add_done(w, req);
  atomic_store_explicit(&log->rotate_pending, false, memory_order_release);
  now = mrlog__now_ms(log);
  if (max_age == 0 || w->off <= w->checkpoint_end ||
      now < w->seg->created_ms || now - w->seg->created_ms < max_age ||
      atomic_load_explicit(&log->failed, memory_order_acquire))
    return;
  mrlog__logf(log, MRLOG_LOG_INFO, "segment %016llx is %llu ms old: rotating",
              (unsigned long long)w->seg->segno,
              (unsigned long long)(now - w->seg->created_ms));
  if (mrlog__writer_rotate(log) == 0)
    atomic_fetch_add_explicit(&log->stat_age_rotations, 1,
                              memory_order_relaxed);
}

static bool handle(struct mrlog *log, struct mrlog__req *req);

/* The bytes at which the pass being built is cut into a frame:
 * FRAME_TARGET, or the room left before segment_bytes if that is less, so
 * a segment smaller than a frame ends near its size (overshooting by at
 * most the last request) instead of by a whole frame.  Past segment_bytes
 * (rotation waits for the checkpoint rule of flush_frame) FRAME_TARGET. */
static uint64_t
frame_cut(const struct mrlog *log, const struct mrlog__writer *w)
{
  uint64_t seg = log->policy.segment_bytes;

  if ((uint64_t)w->off < seg && seg - w->off < FRAME_TARGET)
    return seg - w->off;
  return FRAME_TARGET;
}

/* Writes the pass out once it has grown to a frame's size. */
static void
maybe_cut(struct mrlog *log)
{
  struct mrlog__writer *w = log->writer;

  /* Pending appends become sub-frames, each with a header, a TIME op
   * and an APPEND op of its own. */
  if (w->frame.len + w->ext_bytes + w->pending_bytes +
          (w->pending_bytes / SUBFRAME_TARGET + 1) * SUBFRAME_OVERHEAD >=
      frame_cut(log, w))
    mrlog__writer_flush(log);
}

/* A staged batch: closed here (no entry can join it afterwards), then each
 * entry is an append like any other.  The batch head itself is never
 * completed; its last entry takes the batch back to its pool. */
static void
handle_batch(struct mrlog *log, struct mrlog__batch *b)
{
  struct mrlog__req *e, *next = NULL;
  unsigned n = mrlog__batch_close(b, &e), i;
  uint64_t charged = 0;

  /* One walk: each entry's charge is read before handle() can hand it on;
   * the last one takes the batch back to its pool once complete, so the
   * batch is settled before that entry is handled. */
  for (i = 0; i < n; i++, e = next) {
    charged += e->reserved;
    if (i + 1 < n) {
      next = mrlog__batch_next(e);
    } else {
      e->batch_last = true;
      mrlog__batch_release_credit(log, b, charged);
    }
    handle(log, e);
  }
}

/* Returns true for the stop sentinel. */
static bool
handle(struct mrlog *log, struct mrlog__req *req)
{
  struct mrlog__writer *w = log->writer;
  int failed = atomic_load_explicit(&log->failed, memory_order_acquire);

  if (req->type == MRLOG_REQ_BATCH) {
    handle_batch(log, (struct mrlog__batch *)req);
    return false;
  }
  req->status = 0;
  if (failed && req->type != MRLOG_REQ_STOP) {
    req->status = failed;
    mrlog__writer_add_done(w, req);
    return false;
  }
  switch (req->type) {
  case MRLOG_REQ_CREATE:
  case MRLOG_REQ_DELETE:
    handle_structural(log, req);
    break;
  case MRLOG_REQ_TRUNCATE:
    handle_truncate(log, req);
    break;
  case MRLOG_REQ_APPEND:
    handle_append(log, req);
    break;
  case MRLOG_REQ_SYNC:
    req->position = 0;
    mrlog__writer_add_done(w, req);
    break;
  case MRLOG_REQ_ROTATE:
    handle_rotate(log, req);
    break;
  case MRLOG_REQ_COMMIT:
  case MRLOG_REQ_UNCOMMIT:
    mrlog__writer_commit(log, req);
    break;
  case MRLOG_REQ_STOP:
    mrlog__quota_drain(log); /* held-back appends complete first */
    mrlog__writer_add_done(w, req);
    return true;
  default:
    req->status = MRLOG_EINVAL;
    mrlog__writer_add_done(w, req);
  }
  maybe_cut(log);
  return false;
}

/* Re-decides, when due, the appends a quota holds back (quota.c): the
 * ones that fit now come back here in order, and are decided like any
 * other; the pass is then written. */
static void
quota_pass(struct mrlog *log)
{
  struct mrlog__queue *q;
  struct mrlog__req *req;

  if (log->writer->quota == NULL || !mrlog__quota_due(log))
    return;
  while ((req = mrlog__quota_next(log, &q)) != NULL) {
    decide_append(log, q, req);
    maybe_cut(log);
  }
  mrlog__writer_flush(log);
}

static void *
writer_main(void *arg)
{
  struct mrlog *log = arg;
  struct mrlog__writer *w = log->writer;
  bool stop = false;
  unsigned n, i, idle = 0;

  mrlog__mark_library_thread("mrlog-writer");
  while (!stop) {
    n = mrlog__ring_pop(log, w->batch, PASS_MAX);
    if (n == 0 && idle < IDLE_YIELDS) {
      /* Give runnable producers the CPU before sleeping: in a burst the
       * next request usually comes within a time slice, and finding it
       * here costs a yield instead of a futex wake and two context
       * switches.  With nothing runnable, sched_yield returns at once. */
      idle++;
      sched_yield();
      continue;
    }
    if (n == 0) {
      mrlog__ring_wait(log, mrlog__quota_sleep_ms(log, 1000));
      idle = 0;
      quota_pass(log); /* room or a deadline may have come */
      continue;
    }
    idle = 0;
    for (i = 0; i < n; i++) {
      /* STOP is pushed only after every producer is done (see close). */
      if (handle(log, w->batch[i]))
        stop = true;
    }
    mrlog__writer_flush(log);
    quota_pass(log); /* what the pass freed */
  }
  if (!atomic_load(&log->failed))
    mrlog__writer_cut_zeros(log, w);
  return NULL;
}

int
mrlog__writer_start(struct mrlog *log)
{
  int rc = pthread_create(&log->writer->thread, NULL, writer_main, log);

  if (rc != 0)
    return MRLOG_ENOMEM;
  log->writer->started = true;
  return 0;
}

void
mrlog__writer_join(struct mrlog *log)
{
  if (log->writer != NULL && log->writer->started) {
    pthread_join(log->writer->thread, NULL);
    log->writer->started = false;
  }
}

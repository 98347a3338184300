/*
 * quota.c -- the quotas: policy.queue_memory_limit (what one queue's
 * retained records are charged, struct mrlog__queue.memory_bytes, kept by
 * lib/queue_charge.h: their payload under either record store, so the
 * quota bounds the volume a queue retains, even where memory_limit does
 * not charge that payload) and policy.disk_limit (bytes of segment
 * files), decided by the writer.
 *
 * DESIGN
 *   Producers do not look queues up, so a quota cannot be checked at
 *   submission: the writer checks it as it decides an append
 *   (mrlog__quota_hold, from writer.c handle_append).  An append that fits
 *   goes on at once.  One that does not
 *    - completes with MRLOG_EFULL under policy.nonblocking;
 *    - otherwise is parked here until room comes back (a truncation, a
 *      deletion of its queue's records or of a segment file) or until
 *      block_timeout_ms has passed since it was parked (then MRLOG_EFULL).
 *   The writer itself never waits on a quota: other queues keep flowing.
 *   Messages: appends only.  Truncations, deletions, syncs and every other
 *   request are never parked: they are how room comes back.
 *   Owns: the parked list (an array, oldest first) and every queue's
 *   w_parked count.  Writer thread only, except mrlog__quota_disk_freed
 *   (the cleaner).
 *   Ordering: per queue, appends are admitted in ring order: once one of a
 *   queue's appends is parked, every later one of that queue is parked
 *   behind it; once one is parked by disk_limit, every later append is;
 *   the last entry of a staged batch (lib/stage.c) is parked when an
 *   earlier entry of the batch is, whatever its queue: its completion
 *   hands the batch, which holds the earlier entries, back to its
 *   thread.  A parked append takes its position when it is admitted, so
 *   requests made after it that are not parked (appends to other queues,
 *   truncations, syncs) may take effect before it.
 *   Completion: an admitted append is decided by writer.c as usual (a
 *   parked one when writer.c takes it back from mrlog__quota_next); a
 *   refused one joins the pass's done list with MRLOG_EFULL, so it
 *   completes through the flusher in order like any other request.
 *
 * Invariants:
 *  1. An admitted append fits by estimate.  queue_memory_limit: the
 *     queue's memory_bytes, plus the estimates of its appends decided in
 *     the pass and not yet applied (w_quota_pending), plus its own (its
 *     payload and 8 bytes a record: the chunk's ends/pos or at/pos slots)
 *     is at most the quota.  disk_limit: the bytes of the segment files
 *     once the pass and the append are written -- the hot one counted at
 *     least up to the end of its frames and the room the durable policy
 *     zero-fills ahead of them, and a rotation when the frames reach
 *     segment_bytes -- are at most the quota.
 *  2. An append larger than a quota on its own (its estimate exceeds
 *     queue_memory_limit, or its frame bytes and a rotation exceed
 *     disk_limit less the hot segment's header and checkpoint) can never
 *     fit: it completes with MRLOG_EFULL at once.  So does one parked
 *     when its queue is deleted or the log closes.
 *  3. q->w_parked is the number of q's parked appends, and disk_block is
 *     true when a parked append is held by disk_limit (or behind one
 *     that is), between any two calls.
 *  4. Parked appends are re-decided, oldest first, only when room may have
 *     come back -- a queue's charge fell (log->quota_released moved), a
 *     segment file was deleted (log->quota_poke), a queue was deleted --
 *     or a deadline passed; never more than once per pass of the writer.
 *  5. A parked request is in no other list: its queue pointer stays valid
 *     because a delete first refuses the queue's parked appends
 *     (mrlog__quota_forget_queue).
 */
#include "internal.h"
#include "queue.h"
#include "quota.h"
#include "req.h"
#include "segment.h"
#include "writer.h"

#include <stdlib.h>
#include <time.h>

struct parked {
  struct mrlog__req *req;
  struct mrlog__queue *q;      /* its queue (invariant 5) */
  uint64_t deadline;           /* CLOCK_MONOTONIC ms; 0: none */
  bool disk;                   /* held by disk_limit, or behind such one */
};

struct mrlog__quota {
  uint64_t mem_limit;          /* policy.queue_memory_limit; 0: none */
  uint64_t disk_limit;         /* policy.disk_limit; 0: none */
  struct parked *v;            /* parked appends, oldest first */
  size_t n, cap;
  bool disk_block;             /* invariant 3 */
  bool redo;                   /* a queue was deleted: re-decide */
  struct mrlog__batch *held_batch; /* the staged batch an entry of which
                                      was parked in this pass (a batch is
                                      decided within one pass) */
  uint64_t released_seen;      /* log->quota_released when the list was
                                  last decided */
  uint64_t next_deadline;      /* earliest deadline in v; 0: none */
  /* The segment files other than the hot one, summed under seg_mutex
   * again once the hot segment changes or the cleaner deletes. */
  struct mrlog__segment *cold_hot; /* hot segment when cold was summed */
  uint64_t cold_deleted;       /* stat_segments_deleted then */
  uint64_t cold;               /* their bytes */
  /* The re-decision in progress (mrlog__quota_next): entries before
   * walk_i are decided, and the kept ones are v[0 .. walk_keep). */
  bool walking;
  size_t walk_i, walk_keep;
  struct mrlog__batch *walk_held; /* batch of the last kept entry */
  bool walk_disk;              /* a kept entry is held by disk_limit */
  uint64_t walk_now;           /* CLOCK_MONOTONIC ms at its start */
};

enum { FITS, WAIT_MEM, WAIT_DISK, NEVER };

static uint64_t
mono_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int
mrlog__quota_init(struct mrlog *log, struct mrlog__quota **out)
{
  struct mrlog__quota *qs;

  *out = NULL;
  if (log->policy.queue_memory_limit == 0 && log->policy.disk_limit == 0)
    return 0;
  qs = calloc(1, sizeof(*qs));
  if (qs == NULL)
    return MRLOG_ENOMEM;
  qs->mem_limit = log->policy.queue_memory_limit;
  qs->disk_limit = log->policy.disk_limit;
  *out = qs;
  return 0;
}

void
mrlog__quota_free(struct mrlog__quota *qs)
{
  if (qs == NULL)
    return;
  free(qs->v);
  free(qs);
}

/* Bytes of the LEB128 varint of v. */
static uint64_t
varint_len(uint64_t v)
{
  uint64_t n = 1;

  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

/* What req adds to the segment files at most: its records with their
 * length varints, an APPEND op's header and a sub-frame's overhead. */
static uint64_t
frame_bytes(const struct mrlog__req *req)
{
  uint64_t n = req->payload_len + PASS_OP_BYTES + SUBFRAME_OVERHEAD;
  uint32_t i;

  for (i = 0; i < req->count; i++)
    n += varint_len(req->lens[i]);
  return n;
}

/* What a rotation adds to the segment files: the old segment's pad and
 * seal, and the new one's header and checkpoint (about the old one's). */
static uint64_t
rotation_bytes(const struct mrlog__writer *w)
{
  return MRLOG_PAD_FRAME_MAX + MRLOG_SEAL_FRAME_MAX + w->checkpoint_end;
}

/* What the durable policy zero-fills ahead of the frames it writes, at
 * most (writer_frame.c prezero: a step, and a quarter of one beyond the
 * frame). */
static uint64_t
prezero_bytes(const struct mrlog *log)
{
  uint64_t step = log->policy.segment_bytes / 4;

  if (log->policy.fsync_interval_ms != 0)
    return 0;
  if (step > PREZERO_STEP)
    step = PREZERO_STEP;
  return step + step / 4;
}

/* The bytes of the segment files once the pass and `add` more bytes of
 * frames are written: those besides the hot one; the hot one's size, or
 * the end of its frames with the room zero-filled ahead of them,
 * whichever is more; and a rotation if the frames reach segment_bytes. */
static uint64_t
disk_after(struct mrlog *log, struct mrlog__quota *qs, uint64_t add)
{
  struct mrlog__writer *w = log->writer;
  uint64_t deleted = atomic_load_explicit(&log->stat_segments_deleted,
                                          memory_order_acquire);
  uint64_t hot, size;
  struct mrlog__segment *s;

  if (qs->cold_hot != w->seg || qs->cold_deleted != deleted) {
    qs->cold = 0;
    pthread_mutex_lock(&log->seg_mutex);
    for (s = log->segs; s != NULL; s = s->next) {
      if (s != w->seg)
        qs->cold += atomic_load_explicit(&s->size, memory_order_relaxed);
    }
    pthread_mutex_unlock(&log->seg_mutex);
    qs->cold_hot = w->seg;
    qs->cold_deleted = deleted;
  }
  hot = (uint64_t)w->off + w->frame.len + w->ext_bytes + w->pending_bytes +
        add;
  size = atomic_load_explicit(&w->seg->size, memory_order_relaxed);
  if (size < hot + prezero_bytes(log))
    size = hot + prezero_bytes(log);
  return qs->cold + size +
         (hot >= log->policy.segment_bytes ? rotation_bytes(w) : 0);
}

/* Invariants 1 and 2 for req, an append to q; *est: what it adds to q's
 * pending estimate if admitted. */
static int
check(struct mrlog *log, struct mrlog__quota *qs, struct mrlog__queue *q,
      const struct mrlog__req *req, uint64_t *est)
{
  uint64_t mem = 0, disk = 0;

  if (qs->mem_limit != 0) {
    mem = req->payload_len + (uint64_t)req->count * 2 * sizeof(uint32_t);
    if (mem > qs->mem_limit)
      return NEVER;
  }
  if (qs->disk_limit != 0) {
    disk = frame_bytes(req) + rotation_bytes(log->writer);
    if (disk > qs->disk_limit ||
        qs->disk_limit - disk < log->writer->checkpoint_end)
      return NEVER;
    disk = frame_bytes(req);
  }
  if (qs->mem_limit != 0 &&
      q->memory_bytes + q->w_quota_pending > qs->mem_limit - mem)
    return WAIT_MEM;
  if (qs->disk_limit != 0 && disk_after(log, qs, disk) > qs->disk_limit)
    return WAIT_DISK;
  *est = mem;
  return FITS;
}

/* True for an append the writer will refuse without writing anything (a
 * duplicate, or past the last position): no quota holds it back.  Only
 * meaningful when none of q's appends is parked (w_next is final). */
static bool
writes_nothing(const struct mrlog__queue *q, const struct mrlog__req *req)
{
  uint64_t first = req->has_position ? req->position : q->w_next;

  if (first > MRLOG_POSITION_MAX ||
      req->count - 1 > MRLOG_POSITION_MAX - first)
    return true;
  return req->has_position && first < q->w_next;
}

/* Completes req with status, in the pass's order. */
static void
refuse(struct mrlog *log, struct mrlog__req *req, int status)
{
  req->status = status;
  req->position = 0;
  mrlog__writer_add_done(log->writer, req);
}

static void
note_deadline(struct mrlog__quota *qs, uint64_t deadline)
{
  if (deadline != 0 && (qs->next_deadline == 0 || deadline < qs->next_deadline))
    qs->next_deadline = deadline;
}

/* Parks req (an append to q) at the end of the list.  Always true. */
static bool
park(struct mrlog *log, struct mrlog__quota *qs, struct mrlog__queue *q,
     struct mrlog__req *req, bool disk)
{
  unsigned timeout = log->policy.block_timeout_ms;
  struct parked *p;

  if (qs->n == qs->cap) {
    size_t cap = qs->cap ? qs->cap * 2 : 16;

    p = realloc(qs->v, cap * sizeof(*p));
    if (p == NULL) {
      refuse(log, req, MRLOG_ENOMEM);
      return true;
    }
    qs->v = p;
    qs->cap = cap;
  }
  if (qs->n == 0)
    qs->released_seen = log->quota_released; /* decided on what is now */
  p = &qs->v[qs->n++];
  p->req = req;
  p->q = q;
  p->deadline = timeout != 0 ? mono_ms() + timeout : 0;
  p->disk = disk;
  note_deadline(qs, p->deadline);
  q->w_parked++;
  if (disk)
    qs->disk_block = true;
  if (req->batch != NULL)
    qs->held_batch = req->batch;
  return true;
}

bool
mrlog__quota_hold(struct mrlog *log, struct mrlog__queue *q,
                  struct mrlog__req *req)
{
  struct mrlog__quota *qs = log->writer->quota;
  uint64_t est = 0;
  int why;

  if (q->w_parked > 0 || qs->disk_block ||
      (req->batch_last && req->batch == qs->held_batch))
    return park(log, qs, q, req, qs->disk_block);
  why = check(log, qs, q, req, &est);
  if (why == FITS) {
    q->w_quota_pending += est;
    return false;
  }
  if (writes_nothing(q, req))
    return false;
  if (why == NEVER || log->policy.nonblocking) {
    refuse(log, req, MRLOG_EFULL);
    return true;
  }
  return park(log, qs, q, req, why == WAIT_DISK);
}

/* Starts re-deciding the parked appends, oldest first (invariant 4). */
static void
walk_begin(struct mrlog__quota *qs, uint64_t now)
{
  size_t i;

  for (i = 0; i < qs->n; i++)
    qs->v[i].q->w_parked = 0; /* counted again as they are kept */
  qs->cold_hot = NULL;        /* sum the segment files again */
  qs->next_deadline = 0;
  qs->walk_i = qs->walk_keep = 0;
  qs->walk_held = NULL;
  qs->walk_disk = false;
  qs->walk_now = now;
  qs->walking = true;
}

struct mrlog__req *
mrlog__quota_next(struct mrlog *log, struct mrlog__queue **q)
{
  struct mrlog__quota *qs = log->writer->quota;

  if (qs == NULL || !qs->walking)
    return NULL;
  /* walk_keep <= walk_i: kept entries move down over ones already read. */
  while (qs->walk_i < qs->n) {
    struct parked p = qs->v[qs->walk_i++];
    bool behind = qs->walk_disk || p.q->w_parked > 0 ||
                  (p.req->batch_last && p.req->batch == qs->walk_held);
    uint64_t est = 0;

    if (!behind) {
      int why = check(log, qs, p.q, p.req, &est);

      if (why == FITS || writes_nothing(p.q, p.req)) {
        p.q->w_quota_pending += est;
        *q = p.q;
        return p.req; /* the writer decides it, then asks again */
      }
      if (why == NEVER) {
        refuse(log, p.req, MRLOG_EFULL);
        continue;
      }
      p.disk = why == WAIT_DISK;
    } else {
      p.disk = qs->walk_disk;
    }
    if (p.deadline != 0 && qs->walk_now >= p.deadline) {
      refuse(log, p.req, MRLOG_EFULL); /* block_timeout_ms */
      continue;
    }
    qs->v[qs->walk_keep++] = p;
    p.q->w_parked++;
    qs->walk_disk = qs->walk_disk || p.disk;
    if (p.req->batch != NULL)
      qs->walk_held = p.req->batch;
    note_deadline(qs, p.deadline);
  }
  qs->n = qs->walk_keep;
  qs->disk_block = qs->walk_disk;
  qs->walking = false;
  return NULL;
}

/* Completes every parked append with status. */
static void
refuse_all(struct mrlog *log, struct mrlog__quota *qs, int status)
{
  size_t i;

  for (i = 0; i < qs->n; i++) {
    qs->v[i].q->w_parked = 0;
    refuse(log, qs->v[i].req, status);
  }
  qs->n = 0;
  qs->disk_block = false;
  qs->next_deadline = 0;
}

void
mrlog__quota_forget_queue(struct mrlog *log, struct mrlog__queue *q)
{
  struct mrlog__quota *qs = log->writer->quota;
  size_t i, keep = 0;

  if (qs == NULL || q->w_parked == 0)
    return;
  for (i = 0; i < qs->n; i++) {
    if (qs->v[i].q == q)
      refuse(log, qs->v[i].req, MRLOG_EFULL);
    else
      qs->v[keep++] = qs->v[i];
  }
  qs->n = keep;
  q->w_parked = 0;
  qs->redo = true; /* what was behind them may go on */
}

bool
mrlog__quota_due(struct mrlog *log)
{
  struct mrlog__quota *qs = log->writer->quota;
  bool poked = false;
  uint64_t now;
  int failed;

  if (qs == NULL)
    return false;
  qs->held_batch = NULL;
  if (atomic_load_explicit(&log->quota_poke, memory_order_relaxed))
    poked = atomic_exchange_explicit(&log->quota_poke, false,
                                     memory_order_acq_rel);
  if (qs->n == 0)
    return false;
  failed = atomic_load_explicit(&log->failed, memory_order_acquire);
  if (failed) {
    refuse_all(log, qs, failed);
    return true; /* the refusals go out with the writer's flush */
  }
  now = mono_ms();
  if (!poked && !qs->redo && qs->released_seen == log->quota_released &&
      (qs->next_deadline == 0 || now < qs->next_deadline))
    return false;
  qs->redo = false;
  qs->released_seen = log->quota_released;
  walk_begin(qs, now);
  return true;
}

unsigned
mrlog__quota_sleep_ms(struct mrlog *log, unsigned max)
{
  struct mrlog__quota *qs = log->writer->quota;
  uint64_t now;

  if (qs == NULL || qs->n == 0 || qs->next_deadline == 0)
    return max;
  now = mono_ms();
  if (now >= qs->next_deadline)
    return 1;
  return qs->next_deadline - now < max ? (unsigned)(qs->next_deadline - now)
                                       : max;
}

void
mrlog__quota_drain(struct mrlog *log)
{
  struct mrlog__quota *qs = log->writer->quota;
  int failed;

  if (qs == NULL || qs->n == 0)
    return;
  failed = atomic_load_explicit(&log->failed, memory_order_acquire);
  refuse_all(log, qs, failed ? failed : MRLOG_EFULL);
}

void
mrlog__quota_disk_freed(struct mrlog *log)
{
  if (log->policy.disk_limit == 0)
    return;
  /* A Dekker pair with mrlog__ring_wait (ring.c invariant 3): the poke,
   * then the load of writer_sleeping; the writer sets writer_sleeping,
   * then loads the poke before it waits. */
  atomic_store_explicit(&log->quota_poke, true, memory_order_seq_cst);
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(&log->writer_sleeping, memory_order_relaxed)) {
    pthread_mutex_lock(&log->wake_mutex);
    pthread_cond_signal(&log->wake_cond);
    pthread_mutex_unlock(&log->wake_mutex);
  }
}

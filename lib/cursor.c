/*
 * cursor.c -- cursors: one queue read forward a record per call
 * (mrlog_cursor_*), on the caller's thread, against the in-memory state.
 *
 * A cursor keeps a batch: a reference on one chunk of its queue and the
 * records [idx, hi) of that chunk it may return, found under state_lock
 * (held for reading) together with the time marks that cover them.  next
 * returns the batch's records with no lock and takes the lock again only
 * to fill the next batch: once per chunk (or per TIME_MARKS runs of
 * records framed at different times), not once per record.
 *
 * Invariants:
 *  1. pos is the position next looks at: every visible record below it
 *     was returned or skipped (by open's from, a seek, or a truncation
 *     that passed it).  The batch's records [idx, hi) are the records at
 *     and after pos in its chunk that were retained and visible when the
 *     batch was filled; idx == hi is an empty batch.
 *  2. A batch is returned from only while log->drop_epoch equals `epoch`,
 *     read when the batch was filled.  Every drop of records (truncation,
 *     retention, deletion) bumps it under the write lock before its
 *     callback runs, so a next that begins after a truncation or deletion
 *     has completed sees the bump and looks again under the lock: it
 *     never returns a record its caller knows was dropped, and reports
 *     MRLOG_ENOQUEUE for a queue it knows was deleted.  Records never
 *     change once stored (internal.h, struct mrlog__chunk), so reading
 *     them with no lock is safe while the reference is held.
 *  3. A cursor holds at most one chunk reference, `chunk`: the batch's,
 *     which also holds the record returned last (its data stays valid
 *     until the next next, seek or close).  A mapped chunk's reference
 *     keeps its filemap, so the mapping, alive.  An idle cursor may keep
 *     its chunk after the chunk left the queue; the next fill lets go of
 *     it, always after releasing state_lock.
 *  4. Every open cursor is on `registry` (registry_mutex).  mrlog_close,
 *     before it frees the queues, unlinks its log's cursors, drops their
 *     references and marks them detached (mrlog__cursor_detach_all); a
 *     detached cursor never reads its log again (its calls return
 *     MRLOG_ECLOSED), so mrlog_cursor_close may free it after the log's
 *     struct was reused.  The chunk references are dropped under
 *     registry_mutex, so a mrlog_cursor_close on another thread never
 *     drops one while mrlog_close frees the log's parts.  Lock order:
 *     registry_mutex -> mem_mutex (a chunk's last unref releases memory);
 *     it is never taken with state_lock held.
 *  5. A cursor is bound to its queue's id, which is never reused in a log:
 *     a queue created again under the same name is another queue.
 *  6. A mapped record is touched (one byte a page) before it is returned,
 *     and while its mapping has lost no page (filemap.c invariant 3) the
 *     fast path checks nothing more.  Once it has, next goes the slow
 *     way: it returns MRLOG_EIO, once, if the record it returned last
 *     (`handed`) lost bytes after it was returned (its caller read zeros
 *     there), and MRLOG_EIO without moving if the record at the position
 *     lost bytes; a seek moves past it.
 */
#include "internal.h"
#include "chunk_find.h"
#include "cursor.h"
#include "filemap.h"
#include "future.h"
#include "mapfault.h"
#include "queue.h"
#include "visibility.h"

#include <stdlib.h>
#include <string.h>

/* Time marks a batch copies; a batch stops before the first record the
 * copied marks do not cover. */
#define TIME_MARKS 64
/* Records ahead of the one returned whose first line next prefetches in a
 * mapped chunk (as read.c: mapped records lie in runs across the file). */
#define PREFETCH_AHEAD 32

struct mrlog_cursor {
  struct mrlog *log;          /* immutable; never read once detached */
  uint64_t queue_id;          /* immutable: the queue it is bound to */
  uint64_t pos;               /* the position next looks at */
  struct mrlog__chunk *chunk; /* the batch's, referenced, or NULL */
  uint32_t idx;               /* the batch's next record in chunk */
  uint32_t hi;                /* one past its last */
  uint32_t handed;            /* 1 + index in chunk of the mapped record
                                 returned last, or 0 (invariant 6) */
  uint64_t epoch;             /* log->drop_epoch when it was filled */
  uint32_t marks_n;           /* marks copied for the batch */
  uint32_t mark;              /* the one covering the record at idx */
  uint64_t mark_until;        /* the next mark's pos (UINT64_MAX: none) */
  uint64_t ms;                /* the time of mark `mark` (0: no marks) */
  struct mrlog__time_mark marks[TIME_MARKS]; /* oldest first */
  atomic_bool detached;       /* mrlog_close let go (invariant 4) */
  struct mrlog_cursor *reg_prev; /* registry links; registry_mutex */
  struct mrlog_cursor *reg_next;
};

/* Invariant 4: every open cursor of every log in the process. */
static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct mrlog_cursor *registry;

static void
registry_unlink(struct mrlog_cursor *cur)
{
  if (cur->reg_prev != NULL)
    cur->reg_prev->reg_next = cur->reg_next;
  else
    registry = cur->reg_next;
  if (cur->reg_next != NULL)
    cur->reg_next->reg_prev = cur->reg_prev;
  cur->reg_prev = cur->reg_next = NULL;
}

/* Copies the marks covering q's records from position p on, up to
 * TIME_MARKS; returns the first position they do not cover (read lock). */
static uint64_t
copy_marks(struct mrlog_cursor *cur, const struct mrlog__queue *q, uint64_t p)
{
  uint32_t g = mrlog__marks_find(q, p), n = 0;

  while (n < TIME_MARKS && g + n < q->marks_len) {
    cur->marks[n] = *mrlog__marks_at(q, g + n);
    n++;
  }
  cur->marks_n = n;
  cur->mark = 0;
  cur->mark_until = n > 1 ? cur->marks[1].pos : UINT64_MAX;
  cur->ms = n > 0 ? cur->marks[0].ms : 0;
  return g + n < q->marks_len ? mrlog__marks_at(q, g + n)->pos : UINT64_MAX;
}

/* Fills a new batch at pos (invariant 1).  0: the batch holds at least one
 * record; MRLOG_ENODATA: no visible record at or after pos;
 * MRLOG_ENOQUEUE: the queue is gone.  Takes state_lock for reading. */
static int
fill(struct mrlog_cursor *cur)
{
  struct mrlog *log = cur->log;
  struct mrlog__chunk *old = cur->chunk, *c = NULL;
  struct mrlog__queue *q;
  int rc = MRLOG_ENODATA;

  cur->idx = cur->hi = 0;
  cur->marks_n = cur->mark = 0;
  cur->mark_until = UINT64_MAX;
  pthread_rwlock_rdlock(&log->state_lock);
  /* Drops happen under the write lock: this value holds for as long as
   * we hold the read lock (invariant 2). */
  cur->epoch = atomic_load_explicit(&log->drop_epoch, memory_order_relaxed);
  q = mrlog__index_by_id(&log->index, cur->queue_id);
  if (q == NULL) {
    rc = MRLOG_ENOQUEUE;
  } else {
    uint64_t first = mrlog__queue_first(q);
    uint64_t vis = mrlog__visible_next(log, q);

    if (cur->pos < first)
      cur->pos = first; /* truncation passed the cursor */
    c = mrlog__chunk_find(q, old, cur->pos);
    if (c != NULL) {
      uint32_t lo = mrlog__chunk_lower_bound(
          c, mrlog__chunk_live_start(q, c), c->count, cur->pos);
      uint32_t hi = mrlog__chunk_lower_bound(c, lo, c->count, vis);

      if (lo < hi) {
        uint64_t until = copy_marks(cur, q, c->base + c->pos[lo]);
        /* until is past record lo (marks_find: the next mark's pos is
         * above it), so the batch keeps at least that record. */
        cur->idx = lo;
        cur->hi = mrlog__chunk_lower_bound(c, lo, hi, until);
        rc = 0;
      }
    } else {
      c = q->tail; /* where the records next looked for will be */
    }
    if (c != NULL && c != old)
      atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
  }
  pthread_rwlock_unlock(&log->state_lock);
  cur->chunk = c;
  if (old != NULL && old != c)
    mrlog__chunk_unref(log, old); /* invariant 3: with no lock held */
  return rc;
}

int
mrlog_cursor_open(mrlog *log, const char *queue, uint64_t from,
                  mrlog_cursor **out)
{
  struct mrlog_cursor *cur;
  struct mrlog__queue *q;
  size_t len;

  if (out == NULL)
    return MRLOG_EINVAL;
  *out = NULL;
  if (!mrlog__log_live(log) || !mrlog__name_ok(queue, &len))
    return MRLOG_EINVAL;
  cur = calloc(1, sizeof(*cur));
  if (cur == NULL)
    return MRLOG_ENOMEM;
  cur->log = log;
  cur->pos = from;
  atomic_init(&cur->detached, false);
  pthread_rwlock_rdlock(&log->state_lock);
  q = mrlog__index_by_name(&log->index, queue, len,
                           mrlog__name_hash(queue, len));
  if (q != NULL)
    cur->queue_id = q->id;
  pthread_rwlock_unlock(&log->state_lock);
  if (q == NULL) {
    free(cur);
    return MRLOG_ENOQUEUE;
  }
  pthread_mutex_lock(&registry_mutex);
  cur->reg_next = registry;
  if (registry != NULL)
    registry->reg_prev = cur;
  registry = cur;
  pthread_mutex_unlock(&registry_mutex);
  *out = cur;
  return 0;
}

/* Moves to the mark covering position p (>= mark_until). */
static void
next_mark(struct mrlog_cursor *cur, uint64_t p)
{
  while (cur->mark + 1 < cur->marks_n && cur->marks[cur->mark + 1].pos <= p)
    cur->mark++;
  cur->mark_until = cur->mark + 1 < cur->marks_n
                        ? cur->marks[cur->mark + 1].pos
                        : UINT64_MAX;
  cur->ms = cur->marks[cur->mark].ms;
}

/* True if the batch has a record to return (invariant 2).  A detached
 * cursor's batch is empty (mrlog__cursor_detach_all), so this never reads
 * its log (invariant 4). */
static inline bool
batch_ready(const struct mrlog_cursor *cur)
{
  return cur->idx < cur->hi &&
         atomic_load_explicit(&cur->log->drop_epoch, memory_order_relaxed) ==
             cur->epoch;
}

/* Invariant 6: MRLOG_EIO if bytes of mapped record i of chunk c, from its
 * length varint to its end, were lost; else 0. */
static int
mapped_lost(struct mrlog_cursor *cur, const struct mrlog__chunk *c,
            uint32_t i)
{
  const uint8_t *v;
  size_t len;

  if (!mrlog__mapfault_any(c->map->slot))
    return 0;
  v = mrlog__chunk_record(c, i, &len);
  return mrlog__filemap_check(cur->log, c->map, c->at[i],
                              (size_t)(v - c->data) - c->at[i] + len);
}

/* next's every case: fills a batch if needed, then returns its next record
 * and moves past it.  Out of line, so that mrlog_cursor_next's common
 * case, which ends in a tail call here for the others, saves no
 * register. */
static __attribute__((noinline)) int
next_slow(struct mrlog_cursor *cur, struct mrlog_record *record)
{
  struct mrlog__chunk *c;
  uint32_t i, handed = cur->handed;
  uint64_t p;

  cur->handed = 0;
  if (handed != 0 && !atomic_load_explicit(&cur->detached,
                                           memory_order_relaxed) &&
      mapped_lost(cur, cur->chunk, handed - 1) != 0)
    return MRLOG_EIO;
  if (!batch_ready(cur)) {
    int rc;
    if (atomic_load_explicit(&cur->detached, memory_order_relaxed))
      return MRLOG_ECLOSED;
    if ((rc = fill(cur)) != 0)
      return rc;
  }
  c = cur->chunk;
  i = cur->idx;
  if (c->map != NULL && i + PREFETCH_AHEAD < cur->hi)
    __builtin_prefetch(c->data + c->at[i + PREFETCH_AHEAD]);
  record->data = mrlog__chunk_record(c, i, &record->len);
  if (c->map != NULL) {
    int rc;

    mrlog__mapfault_probe(record->data, record->len);
    if ((rc = mapped_lost(cur, c, i)) != 0)
      return rc;
    cur->handed = i + 1;
  }
  cur->idx = i + 1;
  p = c->base + c->pos[i];
  if (p >= cur->mark_until)
    next_mark(cur, p);
  record->position = p;
  record->unix_ms = cur->ms;
  cur->pos = p + 1; /* <= UINT64_MAX: POSITION_MAX */
  return 0;
}

int
mrlog_cursor_next(mrlog_cursor *cur, struct mrlog_record *record)
{
  if (cur == NULL || record == NULL)
    return MRLOG_EINVAL;
  /* The common case inline: a record of the batch, under the same time
   * mark as the last one, whose length (if mapped) takes at most four
   * bytes (below 256 MiB). */
  if (__builtin_expect(batch_ready(cur), 1)) {
    const struct mrlog__chunk *c = cur->chunk;
    uint32_t i = cur->idx;
    uint64_t p = c->base + c->pos[i];

    if (p < cur->mark_until) {
      if (c->map == NULL) {
        uint32_t start = i ? c->ends[i - 1] : 0;
        record->len = c->ends[i] - start;
        record->data = c->data + start;
      } else {
        const uint8_t *v;
        size_t len;

        /* Mapped records lie in short runs across the file: fetch a few
         * ahead, the hardware cannot guess where (as read.c). */
        if (i + PREFETCH_AHEAD < cur->hi)
          __builtin_prefetch(c->data + c->at[i + PREFETCH_AHEAD]);
        v = c->data + c->at[i];
        len = *v++;
        /* The length's varint (FORMAT.md 5), checked when stored. */
        if (len >= 0x80) {
          unsigned shift = 7;
          len &= 0x7f;
          for (;;) {
            len |= (size_t)(*v & 0x7f) << shift;
            if (*v++ < 0x80)
              break;
            if ((shift += 7) > 21)
              return next_slow(cur, record); /* five bytes or more */
          }
        }
        /* Invariant 6: touch every page the caller will read, and go
         * the slow way once the mapping has lost a page. */
        if (((uintptr_t)v ^ ((uintptr_t)v + len)) >= 4096)
          mrlog__mapfault_probe_pages(v, len);
        if (__builtin_expect(mrlog__mapfault_any(c->map->slot), 0))
          return next_slow(cur, record);
        cur->handed = i + 1;
        record->len = len;
        record->data = v;
      }
      cur->idx = i + 1;
      record->position = p;
      record->unix_ms = cur->ms;
      cur->pos = p + 1; /* <= UINT64_MAX: POSITION_MAX */
      return 0;
    }
  }
  return next_slow(cur, record);
}

int
mrlog_cursor_seek(mrlog_cursor *cur, uint64_t position)
{
  if (cur == NULL)
    return MRLOG_EINVAL;
  if (atomic_load_explicit(&cur->detached, memory_order_relaxed))
    return MRLOG_ECLOSED;
  /* The chunk stays referenced: the next fill starts from it when it can
   * (find_chunk), and lets go of it otherwise. */
  cur->pos = position;
  cur->idx = cur->hi = 0;
  cur->handed = 0;
  cur->marks_n = cur->mark = 0;
  cur->mark_until = UINT64_MAX;
  return 0;
}

uint64_t
mrlog_cursor_position(const mrlog_cursor *cur)
{
  return cur != NULL ? cur->pos : 0;
}

/* A wait whose result is known without a watch, delivered on a library
 * thread like every completion (mrlog.h, THE COMPLETION RULE). */
struct early {
  mrlog_future *future;
  mrlog_done_fn done;
  void *arg;
  int status;
};

static void *
deliver(void *arg)
{
  struct early *e = arg;

  mrlog__complete(e->future, e->done, e->arg, e->status, 0);
  free(e);
  return NULL;
}

/* Completes a wait with status: a cursor whose log closed (its log's
 * struct may name another log by now: invariant 4) or whose queue is
 * gone (mrlog_watch would look the name up, and may find a queue created
 * again under it: invariant 5). */
static mrlog_future *
settle(int status, mrlog_done_fn done, void *arg)
{
  mrlog_future *future = mrlog__future_new();
  mrlog_future *handle = mrlog__future_handle(future);
  struct early *e = malloc(sizeof(*e));

  if (e == NULL) {
    /* No block to hand on: deliver here (as submit.c does). */
    if (future != NULL || done != NULL)
      mrlog__complete(future, done, arg, MRLOG_ENOMEM, 0);
    return handle;
  }
  *e = (struct early){ future, done, arg, status };
  if (mrlog__spawn_detached("mrlog-errand", deliver, e) != 0)
    deliver(e); /* no thread to be had: the rule yields */
  return handle;
}

mrlog_future *
mrlog_cursor_wait(mrlog_cursor *cur, mrlog_done_fn done, void *arg)
{
  char name[MRLOG_QUEUE_NAME_MAX + 1];
  struct mrlog__queue *q;
  struct mrlog *log;

  if (cur == NULL)
    return mrlog_watch(NULL, NULL, 0, done, arg); /* MRLOG_EINVAL */
  if (atomic_load_explicit(&cur->detached, memory_order_relaxed))
    return settle(MRLOG_ECLOSED, done, arg);
  log = cur->log;
  pthread_rwlock_rdlock(&log->state_lock);
  q = mrlog__index_by_id(&log->index, cur->queue_id);
  if (q != NULL)
    memcpy(name, q->name, q->name_len + 1);
  pthread_rwlock_unlock(&log->state_lock);
  if (q == NULL)
    return settle(MRLOG_ENOQUEUE, done, arg);
  /* The queue by its name: if it is deleted and created again between
   * the lookup above and the watch's, the watch waits on the new queue
   * (and the next mrlog_cursor_next still says MRLOG_ENOQUEUE). */
  return mrlog_watch(log, name, cur->pos, done, arg);
}

void
mrlog_cursor_close(mrlog_cursor *cur)
{
  if (cur == NULL)
    return;
  /* Invariant 4: a cursor not yet detached still holds its reference,
   * and the log's parts exist until mrlog_close takes this mutex. */
  pthread_mutex_lock(&registry_mutex);
  if (!atomic_load_explicit(&cur->detached, memory_order_relaxed)) {
    registry_unlink(cur);
    if (cur->chunk != NULL)
      mrlog__chunk_unref(cur->log, cur->chunk);
  }
  pthread_mutex_unlock(&registry_mutex);
  free(cur);
}

void
mrlog__cursor_detach_all(struct mrlog *log)
{
  struct mrlog_cursor *cur, *next;

  pthread_mutex_lock(&registry_mutex);
  for (cur = registry; cur != NULL; cur = next) {
    next = cur->reg_next;
    if (cur->log != log)
      continue;
    registry_unlink(cur);
    if (cur->chunk != NULL)
      mrlog__chunk_unref(log, cur->chunk);
    cur->chunk = NULL;
    cur->idx = cur->hi = 0;
    atomic_store_explicit(&cur->detached, true, memory_order_relaxed);
  }
  pthread_mutex_unlock(&registry_mutex);
}

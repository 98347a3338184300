/*
 * read.c -- the synchronous read calls: ranges, queue lookups, info and
 * stats.  They run on the caller's thread against the in-memory state.
 *
 * Invariants:
 *  1. state_lock is held (for reading) only to look things up and to take
 *     chunk references; visitors always run with no lock held, so they may
 *     call any mrlog function.
 *  2. A range read proceeds in batches of at most BATCH chunks; between
 *     batches it looks the queue up again and resumes after the last
 *     position it visited, so positions visited strictly increase.
 *  3. Between batches a range read keeps a reference on the last chunk it
 *     visited (`hint`), with the id of the queue it belongs to, and the
 *     next batch resumes from it (chunk_find.h) when the queue looked up
 *     again has that id: a read walks each chunk once, not the list from
 *     its head on every batch.  A hint that left the list (truncation) is
 *     detected under the read lock, and the batch starts from the head as
 *     before, so what a batch sees does not depend on the hint.  The
 *     reference is dropped with no lock held, as every chunk reference.
 *  4. A mapped record whose bytes were lost (an I/O error or a file
 *     truncated by another process: filemap.c invariant 3) ends the read
 *     with MRLOG_EIO, before its visitor is called if the loss is seen
 *     when the record is touched first, or right after the visitor
 *     returns if it happened while the visitor read it (the visitor then
 *     read zeros).  Records visited before it were whole.
 */
#include "internal.h"
#include "chunk_find.h"
#include "filemap.h"
#include "mapfault.h"
#include "queue.h"
#include "segment.h"
#include "visibility.h"

/* Records ahead of the one visited whose first line range() prefetches. */
#define PREFETCH_AHEAD 32

#include <stdlib.h>
#include <string.h>

#define BATCH 16

struct span {
  struct mrlog__chunk *chunk; /* referenced */
  uint32_t lo;                /* first record index to visit */
  uint32_t hi;                /* one past the last */
};

static struct mrlog__queue *
lookup(mrlog *log, const char *name, size_t len)
{
  return mrlog__index_by_name(&log->index, name, len,
                              mrlog__name_hash(name, len));
}

/* Takes references on up to BATCH spans covering [from, to), starting
 * from hint (a chunk of q, or NULL: invariant 3).  Returns the number
 * taken; *more says whether the batch was cut short.  Read lock. */
static int
collect(const struct mrlog__queue *q, struct mrlog__chunk *hint,
        uint64_t from, uint64_t to, struct span *spans, bool *more)
{
  struct mrlog__chunk *c;
  int n = 0;

  *more = false;
  for (c = mrlog__chunk_find(q, hint, from); c != NULL; c = c->next) {
    uint32_t lo = mrlog__chunk_live_start(q, c);
    uint32_t hi = c->count;

    if (lo >= hi)
      continue;
    if (c->base + c->pos[hi - 1] < from)
      continue;
    if (c->base + c->pos[lo] >= to)
      break;
    if (n == BATCH) {
      *more = true;
      break;
    }
    lo = mrlog__chunk_lower_bound(c, lo, hi, from);
    hi = mrlog__chunk_lower_bound(c, lo, hi, to);
    if (lo >= hi)
      continue;
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    spans[n++] = (struct span){ c, lo, hi };
  }
  return n;
}

/* Time marks copied under the read lock for one batch of a timed range
 * read: the mark covering the batch's first position and those after it,
 * up to TIME_BATCH; records at or past `until` need marks not copied, so
 * the batch is collected only up to it and the next one copies more. */
#define TIME_BATCH 64
struct batch_times {
  struct mrlog__time_mark m[TIME_BATCH];
  uint32_t n;     /* marks copied */
  uint32_t j;     /* the one covering the record being visited */
  uint64_t until; /* first position the copied marks do not cover */
};

static void
copy_times(const struct mrlog__queue *q, uint64_t from, struct batch_times *t)
{
  uint32_t g = mrlog__marks_find(q, from);

  t->n = 0;
  t->j = 0;
  while (t->n < TIME_BATCH && g + t->n < q->marks_len) {
    t->m[t->n] = *mrlog__marks_at(q, g + t->n);
    t->n++;
  }
  t->until = g + t->n < q->marks_len ? mrlog__marks_at(q, g + t->n)->pos
                                     : UINT64_MAX;
}

/* The time of the record at pos (positions visited increase). */
static uint64_t
time_of(struct batch_times *t, uint64_t pos)
{
  while (t->j + 1 < t->n && t->m[t->j + 1].pos <= pos)
    t->j++;
  return t->n > 0 ? t->m[t->j].ms : 0;
}

/* Touches mapped record rec of chunk c, so that a lost page is replaced
 * now (mapfault.c), then returns MRLOG_EIO if any of its bytes (its length
 * varint included) were lost, else 0. */
static inline int
mapped_check(struct mrlog *log, const struct mrlog__chunk *c, uint32_t i,
             const uint8_t *rec, size_t len)
{
  size_t at = c->at[i]; /* its varint's offset in the mapping */

  mrlog__mapfault_probe(rec, len);
  if (!mrlog__mapfault_any(c->map->slot))
    return 0;
  return mrlog__filemap_check(log, c->map, at,
                              (size_t)(rec - c->data) - at + len);
}

/* mrlog_range and mrlog_range_time: exactly one of visit, visit_time. */
static int
range(mrlog *log, const char *queue, uint64_t from, uint64_t to,
      mrlog_visit_fn visit, mrlog_visit_time_fn visit_time, void *arg)
{
  struct span spans[BATCH];
  struct batch_times times;
  struct mrlog__queue *q;
  struct mrlog__chunk *hint = NULL, *stale = NULL;
  uint64_t bound, vis, hint_queue = 0;
  size_t len;
  bool more, first_batch = true;
  int n, i, rc = 0;

  if (!mrlog__log_live(log) || !mrlog__name_ok(queue, &len))
    return MRLOG_EINVAL;
  times.n = times.j = 0;
  times.until = UINT64_MAX;
  for (;;) {
    pthread_rwlock_rdlock(&log->state_lock);
    q = lookup(log, queue, len);
    if (q == NULL || from >= to) {
      pthread_rwlock_unlock(&log->state_lock);
      rc = q == NULL && first_batch ? MRLOG_ENOQUEUE : 0;
      break;
    }
    /* Only visible records (visibility.c); a timed batch ends where its
     * copied marks end (until > from). */
    bound = to;
    vis = mrlog__visible_next(log, q);
    if (vis < bound)
      bound = vis;
    if (from >= bound) {
      pthread_rwlock_unlock(&log->state_lock);
      break;
    }
    if (visit_time != NULL) {
      copy_times(q, from, &times);
      if (times.until < bound)
        bound = times.until;
    }
    if (hint != NULL && hint_queue != q->id) {
      stale = hint; /* of a deleted queue of the same name */
      hint = NULL;
    }
    hint_queue = q->id;
    n = collect(q, hint, from, bound, spans, &more);
    pthread_rwlock_unlock(&log->state_lock);
    if (stale != NULL) {
      mrlog__chunk_unref(log, stale);
      stale = NULL;
    }
    first_batch = false;

    for (i = 0; i < n && rc == 0; i++) {
      struct mrlog__chunk *c = spans[i].chunk;
      uint32_t r;
      for (r = spans[i].lo; r < spans[i].hi && rc == 0; r++) {
        size_t rlen;
        const uint8_t *rec;

        /* Mapped records of a queue lie in short runs across the file:
         * fetch a few ahead, the hardware cannot guess where. */
        if (c->map != NULL && r + PREFETCH_AHEAD < spans[i].hi)
          __builtin_prefetch(c->data + c->at[r + PREFETCH_AHEAD]);
        rec = mrlog__chunk_record(c, r, &rlen);
        uint64_t pos = c->base + c->pos[r];
        /* A mapped record is touched and checked before the visitor sees
         * it, and checked again after (invariant 4). */
        if (c->map != NULL && (rc = mapped_check(log, c, r, rec, rlen)) != 0)
          break;
        if (visit_time == NULL)
          rc = visit(arg, pos, rec, rlen);
        else
          rc = visit_time(arg, pos, time_of(&times, pos), rec, rlen);
        if (c->map != NULL && rc == 0 &&
            mrlog__mapfault_any(c->map->slot))
          rc = mrlog__filemap_check(log, c->map,
                                    (size_t)(rec - c->map->base), rlen);
        from = pos + 1;
      }
    }
    /* The last span's reference becomes the hint (invariant 3). */
    if (n > 0) {
      stale = hint;
      hint = spans[--n].chunk;
    }
    for (i = 0; i < n; i++)
      mrlog__chunk_unref(log, spans[i].chunk);
    if (stale != NULL) {
      mrlog__chunk_unref(log, stale);
      stale = NULL;
    }
    if (rc != 0)
      break;
    if (!more) {
      if (bound == to || bound == vis)
        break;
      from = bound; /* everything below the marks' end was visited */
    } else if (from == 0) {
      break; /* visited UINT64_MAX */
    }
  }
  if (hint != NULL)
    mrlog__chunk_unref(log, hint);
  return rc;
}

int
mrlog_range(mrlog *log, const char *queue, uint64_t from, uint64_t to,
            mrlog_visit_fn visit, void *arg)
{
  if (visit == NULL)
    return MRLOG_EINVAL;
  return range(log, queue, from, to, visit, NULL, arg);
}

int
mrlog_range_time(mrlog *log, const char *queue, uint64_t from, uint64_t to,
                 mrlog_visit_time_fn visit, void *arg)
{
  if (visit == NULL)
    return MRLOG_EINVAL;
  return range(log, queue, from, to, NULL, visit, arg);
}

int
mrlog_seek_time(mrlog *log, const char *queue, uint64_t unix_ms,
                uint64_t *position)
{
  struct mrlog__queue *q;
  uint32_t i;
  size_t len;
  int rc = 0;

  if (!mrlog__log_live(log) || position == NULL || !mrlog__name_ok(queue, &len))
    return MRLOG_EINVAL;
  pthread_rwlock_rdlock(&log->state_lock);
  q = lookup(log, queue, len);
  if (q == NULL) {
    rc = MRLOG_ENOQUEUE;
  } else if ((i = mrlog__marks_seek(q, unix_ms)) == q->marks_len) {
    rc = MRLOG_ENODATA; /* every record is older, or there is none */
  } else {
    /* Records from mark i on were framed at or after unix_ms, those before
     * it earlier; the mark names a retained record unless it is the one
     * covering the first (queue_time.c invariants 2 and 3).  A record not
     * visible yet is not found (visibility.c). */
    uint64_t first = mrlog__queue_first(q), p = mrlog__marks_at(q, i)->pos;
    p = p > first ? p : first;
    if (p >= mrlog__visible_next(log, q))
      rc = MRLOG_ENODATA;
    else
      *position = p;
  }
  pthread_rwlock_unlock(&log->state_lock);
  return rc;
}

bool
mrlog_queue_exists(mrlog *log, const char *queue)
{
  size_t len;
  bool found;

  if (!mrlog__log_live(log) || !mrlog__name_ok(queue, &len))
    return false;
  pthread_rwlock_rdlock(&log->state_lock);
  found = lookup(log, queue, len) != NULL;
  pthread_rwlock_unlock(&log->state_lock);
  return found;
}

/* The size of struct mrlog_queue_info in headers older than 0.6.0. */
#define LEGACY_INFO_SIZE 64u

int
mrlog_queue_info_size(mrlog *log, const char *queue,
                      struct mrlog_queue_info *out, size_t size)
{
  struct mrlog_queue_info info;
  struct mrlog__queue *q;
  size_t len;

  if (!mrlog__log_live(log) || out == NULL || size < LEGACY_INFO_SIZE ||
      !mrlog__name_ok(queue, &len))
    return MRLOG_EINVAL;
  memset(&info, 0, sizeof(info));
  pthread_rwlock_rdlock(&log->state_lock);
  q = lookup(log, queue, len);
  if (q != NULL) {
    info.first_position = mrlog__queue_first(q);
    info.next_position = q->next;
    info.records = q->records;
    info.bytes = q->bytes;
    info.durable_position = mrlog__durable_next(log, q);
    info.memory_bytes = q->memory_bytes;
    if (q->marks_len > 0) {
      info.first_time_ms = mrlog__marks_at(q, 0)->ms;
      info.last_time_ms = mrlog__marks_at(q, q->marks_len - 1)->ms;
    }
  }
  pthread_rwlock_unlock(&log->state_lock);
  if (q == NULL)
    return MRLOG_ENOQUEUE;
  if (size > sizeof(info)) {
    /* A newer header's struct: what this library does not know is 0. */
    memset((char *)out + sizeof(info), 0, size - sizeof(info));
    size = sizeof(info);
  }
  memcpy(out, &info, size);
  return 0;
}

/* Programs built against a header older than 0.6.0 call this one. */
int (mrlog_queue_info)(mrlog *log, const char *queue,
                       struct mrlog_queue_info *info)
{
  return mrlog_queue_info_size(log, queue, info, LEGACY_INFO_SIZE);
}

int
mrlog_list_queues(mrlog *log, mrlog_queue_visit_fn visit, void *arg)
{
  char **names;
  size_t n = 0, i, cap;
  struct mrlog__queue *q;
  int rc = 0;

  if (!mrlog__log_live(log) || visit == NULL)
    return MRLOG_EINVAL;
  /* Copy the names so the visitor runs with no lock held. */
  pthread_rwlock_rdlock(&log->state_lock);
  cap = log->index.count;
  names = malloc((cap ? cap : 1) * sizeof(*names));
  if (names == NULL) {
    pthread_rwlock_unlock(&log->state_lock);
    return MRLOG_ENOMEM;
  }
  for (i = 0; i < log->index.nbuckets && rc == 0; i++) {
    for (q = log->index.by_name[i]; q != NULL; q = q->by_name_next) {
      names[n] = strdup(q->name);
      if (names[n] == NULL) {
        rc = MRLOG_ENOMEM;
        break;
      }
      n++;
    }
  }
  pthread_rwlock_unlock(&log->state_lock);
  for (i = 0; i < n && rc == 0; i++)
    rc = visit(arg, names[i]);
  for (i = 0; i < n; i++)
    free(names[i]);
  free(names);
  return rc;
}

int
mrlog_stats(mrlog *log, struct mrlog_stats *st)
{
  struct mrlog__segment *s;

  if (!mrlog__log_live(log) || st == NULL)
    return MRLOG_EINVAL;
  memset(st, 0, sizeof(*st));
  pthread_mutex_lock(&log->seg_mutex);
  for (s = log->segs; s != NULL; s = s->next) {
    st->segment_files++;
    st->disk_bytes += atomic_load_explicit(&s->size, memory_order_relaxed);
  }
  pthread_mutex_unlock(&log->seg_mutex);
  pthread_rwlock_rdlock(&log->state_lock);
  st->queues = log->index.count;
  pthread_rwlock_unlock(&log->state_lock);
#define LOAD(x) atomic_load_explicit(&log->x, memory_order_relaxed)
  st->memory_bytes = LOAD(stat_memory);
  st->records = LOAD(stat_records);
  st->appends = LOAD(stat_appends);
  st->fsyncs = LOAD(stat_fsyncs);
  st->discarded_tail_bytes = LOAD(stat_discarded);
  st->segments_deleted = LOAD(stat_segments_deleted);
  st->failed = LOAD(failed);
  st->retention_truncations = LOAD(stat_retention_truncations);
  st->retention_records = LOAD(stat_retention_records);
  st->age_rotations = LOAD(stat_age_rotations);
  st->memory_charged = LOAD(mem_reserved);
#undef LOAD
  st->skipped_bytes = log->skipped_bytes; /* fixed since open */
  st->skipped_ranges = log->skipped_ranges;
  st->skipped_records_at_least = log->skipped_records;
  st->ring_depth = ck_ring_size(&log->ring);
  st->record_store = log->policy.record_store; /* resolved at open */
  return 0;
}

/*
 * expiry.c -- the cleaner's time-driven work: rotating a hot segment that
 * has grown old (policy.segment_max_age_ms), and truncating the records
 * that have outlived policy.retention_ms.
 *
 * DESIGN
 *   Runs on the cleaner thread, before each of its passes (every
 *   cleaner_interval_ms at most, or when woken).  It decides from the
 *   state under the read lock and then asks the writer, through the ring,
 *   like any caller: a ROTATE request, or one TRUNCATE request per queue.
 *   So a retention truncation is written, made durable and applied exactly
 *   like an application's, and races with appends and other truncations
 *   are settled by the writer's order.  The cleaner never waits for ring
 *   space (it is a library thread): a request that does not fit is tried
 *   again on the next pass.
 *
 * Invariants:
 *  1. A retention truncation only drops records framed before the cutoff:
 *     it truncates up to the last record older than the cutoff, found by
 *     the queue's time marks (queue_time.c); records appended later get
 *     newer times and positions above it.
 *  2. It names the queue by id as well as by name (req->by_retention), so
 *     a queue deleted and recreated in between is not touched.
 *  3. At most one ROTATE request is in flight (log->rotate_pending); the
 *     writer rechecks the age when it takes it.
 */
#include "internal.h"
#include "cleaner.h"
#include "queue.h"
#include "req.h"
#include "segment.h"
#include "submit.h"

#include <stdlib.h>
#include <string.h>

/* One retention truncation, from the cleaner's decision to its
 * completion callback, which reports it and frees it. */
struct expiring {
  struct expiring *next;
  struct mrlog *log;
  uint64_t id;
  uint64_t position; /* truncate up to here */
  uint64_t cutoff;   /* records framed before this (unix ms) */
  size_t name_len;
  char name[];
};

static void
retention_done(void *arg, int status, uint64_t position)
{
  struct expiring *e = arg;

  if (status == 0)
    mrlog__logf(e->log, MRLOG_LOG_INFO,
                "retention: queue '%s' truncated up to position %llu "
                "(records framed before %llu ms)",
                e->name, (unsigned long long)position,
                (unsigned long long)e->cutoff);
  else if (status != MRLOG_ENOQUEUE)
    mrlog__logf(e->log, MRLOG_LOG_WARN,
                "retention: truncating queue '%s' up to position %llu: %s",
                e->name, (unsigned long long)position,
                mrlog_strerror(status));
  free(e);
}

/* The position of q's last retained record.  q has records. */
static uint64_t
last_position(const struct mrlog__queue *q)
{
  const struct mrlog__chunk *c = q->tail;

  return c->base + c->pos[c->count - 1];
}

/* What to truncate in every queue for a cutoff: a list, newest first. */
static struct expiring *
decide_retention(struct mrlog *log, uint64_t cutoff)
{
  struct expiring *list = NULL, *e;
  struct mrlog__queue *q;
  size_t b;

  pthread_rwlock_rdlock(&log->state_lock);
  for (b = 0; b < log->index.nbuckets; b++) {
    for (q = log->index.by_id[b]; q != NULL; q = q->by_id_next) {
      uint32_t i;

      if (q->records == 0 || q->marks_len == 0)
        continue;
      i = mrlog__marks_seek(q, cutoff);
      if (i == 0)
        continue; /* the first retained record is not older */
      e = malloc(sizeof(*e) + q->name_len + 1);
      if (e == NULL)
        break; /* try again next pass */
      e->log = log;
      e->id = q->id;
      e->cutoff = cutoff;
      /* Mark i is the first framed at or after the cutoff (invariant 1);
       * its pos is above the first retained position (queue_time.c
       * invariant 2), so pos - 1 does not underflow. */
      e->position = i < q->marks_len ? mrlog__marks_at(q, i)->pos - 1
                                     : last_position(q);
      e->name_len = q->name_len;
      memcpy(e->name, q->name, q->name_len + 1);
      e->next = list;
      list = e;
    }
  }
  pthread_rwlock_unlock(&log->state_lock);
  return list;
}

static void
apply_retention(struct mrlog *log, uint64_t now)
{
  uint64_t keep = log->policy.retention_ms;
  struct expiring *e, *next;
  int rc = 0;

  if (now <= keep)
    return;
  for (e = decide_retention(log, now - keep); e != NULL; e = next) {
    next = e->next;
    if (rc == 0)
      rc = mrlog__submit_internal(log, MRLOG_REQ_TRUNCATE, e->name,
                                  e->name_len, e->position, e->id,
                                  retention_done, e);
    if (rc != 0)
      free(e); /* not queued: the next pass decides again */
  }
}

/* The hot segment, if it is older than the policy allows and holds frames
 * besides its checkpoint. */
static bool
hot_is_old(struct mrlog *log, uint64_t now)
{
  uint64_t max_age = log->policy.segment_max_age_ms;
  struct mrlog__segment *s;
  bool old = false;

  pthread_mutex_lock(&log->seg_mutex);
  for (s = log->segs; s != NULL; s = s->next) {
    if (atomic_load_explicit(&s->hot, memory_order_acquire)) {
      old = s->created_ms > 0 && now >= s->created_ms &&
            now - s->created_ms >= max_age &&
            atomic_load_explicit(&s->size, memory_order_relaxed) >
                s->checkpoint_end;
      break;
    }
  }
  pthread_mutex_unlock(&log->seg_mutex);
  return old;
}

static void
rotate_if_old(struct mrlog *log, uint64_t now)
{
  bool idle = false;

  if (!hot_is_old(log, now) ||
      !atomic_compare_exchange_strong(&log->rotate_pending, &idle, true))
    return;
  if (mrlog__submit_internal(log, MRLOG_REQ_ROTATE, NULL, 0, 0, 0, NULL,
                             NULL) != 0)
    atomic_store(&log->rotate_pending, false); /* next pass */
}

void
mrlog__expiry_pass(struct mrlog *log)
{
  uint64_t now;

  if (log->policy.segment_max_age_ms == 0 && log->policy.retention_ms == 0)
    return;
  if (atomic_load_explicit(&log->failed, memory_order_acquire))
    return;
  now = mrlog__now_ms(log);
  if (log->policy.segment_max_age_ms > 0)
    rotate_if_old(log, now);
  if (log->policy.retention_ms > 0)
    apply_retention(log, now);
}

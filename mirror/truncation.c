/*
 * truncation.c -- the mirror's truncate markers (docs/FORMAT.md 15.6): a
 * replica drops what the source truncated, except what only the mirror's
 * own commits truncated under truncate_on_commit.
 *
 * Invariants (all on the mirror's thread):
 *   1. A queue's target is where its replicas' copy starts: the source's
 *      first retained position, or, when the log truncates on commit,
 *      at most the smallest committed position of the queue's other
 *      consumers (none: 0).  So a log whose only consumer is the mirror
 *      (the cluster holds what it drops) never truncates its replicas,
 *      and one whose readers commit truncates them as far as they read.
 *   2. A target is taken only once it is durable in the source: it is
 *      read (trunc_pending) before an mrlog_sync that succeeds, which
 *      covers every truncation and commit applied before it was made.  A
 *      source that crashes never holds records its replicas dropped.  The
 *      sync is not waited for (a log in poll mode completes it only when
 *      its poller runs): its callback wakes the thread, which then takes
 *      the pending targets (mrlog__mirror_trunc_poll).  One is in flight
 *      at a time (m->trunc_sync); mrlog_mirror_stop waits for it, on its
 *      caller's thread, before it frees the mirror, so the callback never
 *      outlives the mirror (and a poller that stops the mirror runs it
 *      itself instead of waiting for itself).  A stop drains the markers
 *      of the targets taken; in poll mode it does not wait for a sync in
 *      flight (its poller may be the thread that stops the mirror), and
 *      the next mirror run publishes that truncation.
 *   3. Targets only grow within an incarnation (trunc_target), and a
 *      marker is published when the target passes the last one published
 *      (trunc_sent), after the incarnation's delete marker is confirmed:
 *      on the one channel it follows every record message published
 *      before it, so it drops them at every replica, and it touches no
 *      record at or above its position.  A rewind publishes it again
 *      unless it was confirmed; a new incarnation (ship.c, invariant 5)
 *      starts from 0, and a mirror start publishes the current target
 *      again (applying one twice changes nothing).
 */
#include <string.h>
#include <unistd.h>

#include "mirror.h"

struct others {
  const char *mirror; /* the mirror's consumer name */
  uint64_t min;       /* smallest committed position of the others */
  int any;            /* another consumer was seen */
};

static int visit_consumer(void *arg, const char *consumer,
                          uint64_t position) {
  struct others *o = arg;

  if (strcmp(consumer, o->mirror) == 0) return 0;
  o->any = 1;
  if (position < o->min) o->min = position;
  return 0;
}

/* Invariant 1: the queue's target now, or mq->trunc_target when it
 * cannot be read. */
static uint64_t target_now(struct mrlog_mirror *m, struct mrlog__mq *mq) {
  struct mrlog_queue_info info;
  struct others o = {m->consumer, UINT64_MAX, 0};
  uint64_t t;

  if (mrlog_queue_info(m->log, mq->name, &info) != 0)
    return mq->trunc_target;
  t = info.first_position;
  if (m->truncate_on_commit) {
    if (mrlog_list_consumers(m->log, mq->name, visit_consumer, &o) != 0)
      return mq->trunc_target;
    if (!o.any) t = 0;
    else if (o.min < t) t = o.min;
  }
  return t;
}

/* The sync's callback, on a library thread (or the log's poller): only
 * records the outcome and wakes the mirror's thread. */
static void synced(void *arg, int status, uint64_t position) {
  struct mrlog_mirror *m = arg;
  uint64_t one = 1;
  ssize_t n;

  (void)position;
  atomic_store_explicit(&m->trunc_sync_status, status, memory_order_relaxed);
  atomic_store_explicit(&m->trunc_sync_done, 1, memory_order_release);
  n = write(m->wake_fd, &one, sizeof(one));
  (void)n;
}

/* The targets read before a sync that succeeded are durable: take them. */
static void take_pending(struct mrlog_mirror *m) {
  for (size_t i = 0; i < m->nmqs; i++)
    if (m->mqs[i]->trunc_pending > m->mqs[i]->trunc_target)
      m->mqs[i]->trunc_target = m->mqs[i]->trunc_pending;
}

void mrlog__mirror_trunc_poll(struct mrlog_mirror *m) {
  if (m->trunc_sync == NULL ||
      !atomic_load_explicit(&m->trunc_sync_done, memory_order_acquire))
    return;
  mrlog_wait(m->trunc_sync, NULL); /* ready once its callback returns */
  m->trunc_sync = NULL;
  if (atomic_load_explicit(&m->trunc_sync_status, memory_order_relaxed) ==
      0)
    take_pending(m);
}

void mrlog__mirror_trunc_refresh(struct mrlog_mirror *m) {
  int rising = 0;

  mrlog__mirror_trunc_poll(m);
  if (m->trunc_sync != NULL) return; /* one sync at a time */
  for (size_t i = 0; i < m->nmqs; i++) {
    struct mrlog__mq *mq = m->mqs[i];

    mq->trunc_pending = mq->trunc_target;
    if (mq->cursor == NULL) continue; /* no incarnation to follow */
    mq->trunc_pending = target_now(m, mq);
    if (mq->trunc_pending > mq->trunc_target) rising = 1;
  }
  if (!rising) return;
  if (m->read_only) {
    take_pending(m); /* a read-only log changes nothing: all on disk */
    return;
  }
  atomic_store_explicit(&m->trunc_sync_done, 0, memory_order_relaxed);
  m->trunc_sync = mrlog_sync(m->log, synced, m);
}

void mrlog__mirror_trunc_end(struct mrlog_mirror *m) {
  if (m->trunc_sync != NULL) mrlog_wait(m->trunc_sync, NULL);
  m->trunc_sync = NULL;
}

int mrlog__mirror_trunc_due(const struct mrlog__mq *mq) {
  return mq->cursor != NULL && !mq->marker &&
         mq->trunc_target > mq->trunc_sent;
}

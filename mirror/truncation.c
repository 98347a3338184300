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
 *      read before an mrlog_sync that succeeds, which covers every
 *      truncation and commit applied before it was made.  A source that
 *      crashes never holds records its replicas dropped.
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
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void mrlog__mirror_trunc_refresh(struct mrlog_mirror *m) {
  int rising = 0, rc;

  for (size_t i = 0; i < m->nmqs; i++) {
    struct mrlog__mq *mq = m->mqs[i];

    mq->trunc_seen = mq->trunc_target;
    if (mq->cursor == NULL) continue; /* no incarnation to follow */
    mq->trunc_seen = target_now(m, mq);
    if (mq->trunc_seen > mq->trunc_target) rising = 1;
  }
  if (!rising) return;
  /* Invariant 2.  A read-only log changes nothing: what it holds is on
   * disk already. */
  if (!m->read_only) {
    rc = mrlog_wait(mrlog_sync(m->log, NULL, NULL), NULL);
    if (rc != 0) return; /* the log failed: the targets stay */
  }
  for (size_t i = 0; i < m->nmqs; i++)
    if (m->mqs[i]->trunc_seen > m->mqs[i]->trunc_target)
      m->mqs[i]->trunc_target = m->mqs[i]->trunc_seen;
}

int mrlog__mirror_trunc_due(const struct mrlog__mq *mq) {
  return mq->cursor != NULL && !mq->marker &&
         mq->trunc_target > mq->trunc_sent;
}

int mrlog__mirror_publish_truncate(struct mrlog_mirror *m,
                                   struct mrlog__mq *mq) {
  char id[1100];
  struct mrlog__flight *f = calloc(1, sizeof(*f));
  uint64_t at = mq->trunc_target;
  int rc;

  if (f == NULL) return MRLOG_ENOMEM;
  if (mrlog__body_truncate(&m->body, mq->name, strlen(mq->name), at) != 0) {
    free(f);
    return MRLOG_ENOMEM;
  }
  snprintf(id, sizeof(id), "%s:truncate-%" PRIu64, mq->name, at);
  rc = mrlog__link_publish_truncate(&m->link, m->exchange, mq->name, id, at,
                                    mrlog__mirror_now_ms(), m->body.buf,
                                    m->body.len, &f->tag);
  if (rc != 0) {
    free(f);
    return rc;
  }
  f->mq = mq;
  f->truncate = 1;
  f->last = at;
  mrlog__mirror_track(m, mq, f);
  mq->trunc_sent = at;
  return 0;
}

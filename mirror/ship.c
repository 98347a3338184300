/*
 * ship.c -- the mirror thread's work on the log and the broker: finding
 * queues, publishing durable records, applying confirms.
 *
 * Invariants (all on the mirror's thread):
 *   1. For every shipped queue, mq->confirmed <= positions of every
 *      in-flight message's records < mq->sent, and every record retained
 *      below mq->confirmed has been confirmed by the broker and committed
 *      under the mirror's consumer name.
 *   2. Only records below the queue's durable_position are published.
 *   3. A queue's messages are confirmed in its FIFO's order: a confirm
 *      for a later message waits (flight->acked) until the earlier ones
 *      are confirmed too, so the committed position never passes a record
 *      the broker has not confirmed.
 *   4. A nack or a return rewinds the queue: its in-flight messages are
 *      forgotten (later confirms for their tags are ignored) and it
 *      publishes again from mq->confirmed (and its delete and truncate
 *      markers again if they were not confirmed: truncation.c), but not
 *      before a hold: backoff_min_ms,
 *      doubling with each nack or return up to backoff_max_ms, back to
 *      nothing at the next confirm.  A queue whose leader is being
 *      elected nacks everything: without the hold it would be sent again
 *      and again as fast as the broker can refuse it.
 *   5. An mq follows one incarnation of its queue, the one its cursor is
 *      bound to.  MRLOG_ENOQUEUE from the cursor or its wait, a failed
 *      identity probe at a refresh, or the name missing from the queue
 *      list ends it (end_incarnation): the in-flight messages are
 *      forgotten and mq->marker is set.  While mq->marker is set, the
 *      first message published for the queue is a delete marker
 *      (docs/FORMAT.md 15.5); on the one channel the broker keeps publish
 *      order, so every consumer gets it after each record of the old
 *      incarnation and before each record of the next one, whatever is
 *      resent.  A queue taken up with no committed position for the
 *      consumer (new, re-created while no mirror ran, or a new consumer
 *      name) starts with a marker too.  A confirmed marker is recorded
 *      by a commit on the current incarnation (at its confirmed position,
 *      0 if nothing else), so a restart does not send it again.
 *   6. A commit names the queue, not its incarnation: advance commits only
 *      after a probe finds the cursor's queue alive.  A delete and
 *      re-create landing between that probe and the commit's turn in the
 *      log (microseconds) would commit on the new queue; the re-created
 *      queue is still shipped from 0, since a queue taken up again after
 *      end_incarnation ignores its committed position.
 *   7. Every record message carries mrlog-from: one past the last record
 *      of the message published before it in this incarnation's stream
 *      (sent_end; after a rewind, of the last confirmed one).  A nack or
 *      a lost link can leave a later message in the RabbitMQ queue ahead
 *      of the resent earlier one; a replica whose next position is below
 *      mrlog-from drops such a message, whose records always come again
 *      after the resent ones (docs/FORMAT.md 15.1).
 */
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mirror.h"

static void watch_done(void *arg, int status, uint64_t position) {
  struct mrlog_mirror *m = arg;
  uint64_t one = 1;
  ssize_t n;

  (void)status;
  (void)position;
  /* Runs on a library thread: only wake the mirror's. */
  n = write(m->wake_fd, &one, sizeof(one));
  (void)n;
}

void mrlog__mirror_mq_free(struct mrlog__mq *mq) {
  struct mrlog__flight *f = mq->head, *next;

  for (; f != NULL; f = next) {
    next = f->next;
    free(f);
  }
  if (mq->watch != NULL) {
    mrlog_cancel(mq->watch);
    mrlog_wait(mq->watch, NULL);
  }
  mrlog_cursor_close(mq->cursor);
  free(mq->name);
  free(mq->rq_name);
  free(mq);
}

static void untag(struct mrlog_mirror *m, struct mrlog__flight *f) {
  if (f->tag_prev) f->tag_prev->tag_next = f->tag_next;
  else if (m->tags_head == f) m->tags_head = f->tag_next;
  else return; /* not linked */
  if (f->tag_next) f->tag_next->tag_prev = f->tag_prev;
  else m->tags_tail = f->tag_prev;
  f->tag_next = f->tag_prev = NULL;
  m->inflight--;
}

void mrlog__mirror_rewind(struct mrlog_mirror *m, struct mrlog__mq *mq) {
  struct mrlog__flight *f = mq->head, *next;

  for (; f != NULL; f = next) {
    next = f->next;
    if (!f->acked) untag(m, f);
    free(f);
  }
  mq->head = mq->tail = NULL;
  mq->sent = mq->confirmed;
  mq->sent_end = mq->confirmed_end;
  mq->marker_sent = 0;
  mq->trunc_sent = mq->trunc_confirmed;
}

/* Rewinds mq after a nack or a return, and holds it (invariant 4). */
static void rewind_and_hold(struct mrlog_mirror *m, struct mrlog__mq *mq) {
  unsigned hold = mq->hold_ms == 0 ? m->backoff_min_ms : 2 * mq->hold_ms;

  if (hold > m->backoff_max_ms) hold = m->backoff_max_ms;
  mrlog__mirror_rewind(m, mq);
  mq->hold_ms = hold;
  mq->hold_until_ms = mrlog__mirror_now_ms() + hold;
}

/* True unless the cursor's queue is gone (invariant 5): reads one record
 * and seeks back. */
static int alive(struct mrlog__mq *mq) {
  struct mrlog_record rec;
  uint64_t at = mrlog_cursor_position(mq->cursor);
  int rc = mrlog_cursor_next(mq->cursor, &rec);

  mrlog_cursor_seek(mq->cursor, at);
  return rc != MRLOG_ENOQUEUE;
}

/* Starts mq's stream again from position 0 (a new incarnation). */
static void reset_positions(struct mrlog_mirror *m, struct mrlog__mq *mq) {
  pthread_mutex_lock(&m->stats_lock);
  mq->confirmed = mq->sent = 0;
  mq->durable = 0;
  pthread_mutex_unlock(&m->stats_lock);
  mq->sent_end = mq->confirmed_end = 0;
  mq->trunc_target = mq->trunc_pending = 0;
  mq->trunc_sent = mq->trunc_confirmed = 0;
}

/* Takes up the queue's current incarnation from position 0 (invariant
 * 6), if the name exists now. */
static void attach(struct mrlog_mirror *m, struct mrlog__mq *mq) {
  if (mq->cursor != NULL || !mrlog_queue_exists(m->log, mq->name)) return;
  if (mrlog_cursor_open(m->log, mq->name, 0, &mq->cursor) != 0) {
    mq->cursor = NULL;
    return;
  }
  reset_positions(m, mq);
}

/* Cancels a watch and keeps its future until it is ready: waiting for it
 * here could wait for a log's poller that is waiting for this thread (in
 * mrlog_mirror_stop).  mrlog__mirror_reap and mirror_free take them. */
static void retire_watch(struct mrlog_mirror *m, mrlog_future *watch) {
  mrlog_future **grown;

  mrlog_cancel(watch);
  if (mrlog_ready(watch)) {
    mrlog_wait(watch, NULL);
    return;
  }
  grown = realloc(m->retired, (m->nretired + 1) * sizeof(*grown));
  if (grown == NULL) {
    mrlog_wait(watch, NULL); /* no memory: wait here, as a last resort */
    return;
  }
  m->retired = grown;
  m->retired[m->nretired++] = watch;
}

void mrlog__mirror_reap(struct mrlog_mirror *m) {
  for (size_t i = 0; i < m->nretired;) {
    if (!mrlog_ready(m->retired[i])) {
      i++;
      continue;
    }
    mrlog_wait(m->retired[i], NULL);
    m->retired[i] = m->retired[--m->nretired];
  }
}

/* The incarnation the cursor followed is gone (invariant 5). */
static void end_incarnation(struct mrlog_mirror *m, struct mrlog__mq *mq) {
  mrlog__mirror_rewind(m, mq);
  if (mq->watch != NULL) {
    retire_watch(m, mq->watch);
    mq->watch = NULL;
  }
  mrlog_cursor_close(mq->cursor);
  mq->cursor = NULL;
  mq->marker = 1;
  mq->wait_durable = 0;
  reset_positions(m, mq);
  mrlog__mirror_say(m, MRLOG_LOG_INFO,
                    "mirror: queue %s was deleted; a delete marker follows "
                    "its records", mq->name);
  attach(m, mq);
}

static struct mrlog__mq *mq_new(struct mrlog_mirror *m, const char *name) {
  struct mrlog__mq *mq = calloc(1, sizeof(*mq));
  uint64_t committed = 0;
  int rc;

  if (mq == NULL) return NULL;
  mq->name = strdup(name);
  mq->rq_name = malloc(strlen(m->prefix) + strlen(name) + 1);
  if (mq->name == NULL || mq->rq_name == NULL) goto bad;
  strcpy(mq->rq_name, m->prefix);
  strcat(mq->rq_name, name);
  rc = mrlog_committed(m->log, name, m->consumer, &committed);
  if (rc != 0 && rc != MRLOG_ENODATA) goto bad;
  mq->marker = rc == MRLOG_ENODATA; /* invariant 5 */
  mq->confirmed = mq->sent = committed;
  mq->confirmed_end = mq->sent_end = committed;
  if (mrlog_cursor_open(m->log, name, committed, &mq->cursor) != 0) goto bad;
  return mq;
bad:
  mrlog_cursor_close(mq->cursor);
  free(mq->name);
  free(mq->rq_name);
  free(mq);
  return NULL;
}

static int seen_queue(void *arg, const char *queue) {
  struct mrlog_mirror *m = arg;
  struct mrlog__mq *mq, **grown;

  if (fnmatch(m->glob, queue, 0) != 0) return 0;
  for (size_t i = 0; i < m->nmqs; i++) {
    if (strcmp(m->mqs[i]->name, queue) == 0) {
      m->mqs[i]->seen = 1;
      return 0;
    }
  }
  mq = mq_new(m, queue);
  if (mq == NULL) return 0; /* deleted meanwhile, or no memory: retried */
  mq->seen = 1;
  pthread_mutex_lock(&m->stats_lock);
  grown = realloc(m->mqs, (m->nmqs + 1) * sizeof(*m->mqs));
  if (grown != NULL) {
    m->mqs = grown;
    m->mqs[m->nmqs++] = mq;
    m->stats.queues = m->nmqs;
  }
  pthread_mutex_unlock(&m->stats_lock);
  if (grown == NULL) mrlog__mirror_mq_free(mq);
  return 0;
}

/* Reads the log's queue list: adds new matching queues, ends the
 * incarnations that are gone (invariant 5), takes up re-created ones, and
 * drops a deleted queue once its delete marker is confirmed. */
int mrlog__mirror_refresh(struct mrlog_mirror *m) {
  int rc;

  for (size_t i = 0; i < m->nmqs; i++) m->mqs[i]->seen = 0;
  rc = mrlog_list_queues(m->log, seen_queue, m);
  if (rc != 0) return rc;
  for (size_t i = 0; i < m->nmqs;) {
    struct mrlog__mq *mq = m->mqs[i];
    if (mq->cursor != NULL && (!mq->seen || !alive(mq)))
      end_incarnation(m, mq);
    else if (mq->cursor == NULL && mq->seen)
      attach(m, mq);
    if (mq->cursor != NULL || mq->marker || mq->head != NULL) {
      i++;
      continue;
    }
    mrlog__mirror_rewind(m, mq);
    pthread_mutex_lock(&m->stats_lock);
    m->mqs[i] = m->mqs[--m->nmqs];
    m->stats.queues = m->nmqs;
    pthread_mutex_unlock(&m->stats_lock);
    mrlog__mirror_mq_free(mq);
  }
  mrlog__mirror_trunc_refresh(m);
  return 0;
}

/* Arms a watch (on the cursor: it fails once the incarnation is gone)
 * that wakes the thread once records at or after mq->sent are visible; a
 * queue whose visible records are not yet durable is polled instead
 * (mq->wait_durable), since a watch would fire at once.  Returns 1 when a
 * delete marker is to be published now, else 0. */
int mrlog__mirror_arm(struct mrlog_mirror *m, struct mrlog__mq *mq) {
  struct mrlog_queue_info info;

  if (mq->watch != NULL) {
    if (!mrlog_ready(mq->watch)) return 0;
    if (mrlog_wait(mq->watch, NULL) == MRLOG_ENOQUEUE) {
      mq->watch = NULL;
      end_incarnation(m, mq);
      return 1;
    }
    mq->watch = NULL;
  }
  mq->wait_durable = 0;
  /* A marker to publish is work now, unless the queue is held (the loop
   * then sleeps until the hold ends). */
  if (mq->marker && !mq->marker_sent)
    return mrlog__mirror_now_ms() >= mq->hold_until_ms;
  attach(m, mq); /* re-created since its incarnation ended? */
  if (mq->cursor == NULL) return 0;
  if (mrlog_queue_info(m->log, mq->name, &info) != 0) return 0;
  if (info.durable_position > mq->sent) return 0; /* work to do now */
  if (info.next_position > info.durable_position &&
      info.next_position > mq->sent) {
    mq->wait_durable = 1;
    return 0;
  }
  if (mrlog_cursor_position(mq->cursor) != mq->sent)
    mrlog_cursor_seek(mq->cursor, mq->sent);
  mq->watch = mrlog_cursor_wait(mq->cursor, watch_done, m);
  return 0;
}

/* Links a published message into mq's FIFO and the tag list. */
static void track(struct mrlog_mirror *m, struct mrlog__mq *mq,
                  struct mrlog__flight *f) {
  if (mq->tail) mq->tail->next = f;
  else mq->head = f;
  mq->tail = f;
  f->tag_prev = m->tags_tail;
  if (m->tags_tail) m->tags_tail->tag_next = f;
  else m->tags_head = f;
  m->tags_tail = f;
  m->inflight++;
}

/* Publishes mq's delete marker (invariant 5), or its truncate marker at
 * trunc_target (truncation.c).  0 or a negative code. */
static int publish_marker(struct mrlog_mirror *m, struct mrlog__mq *mq,
                          int truncate) {
  char id[1100];
  struct mrlog__flight *f = calloc(1, sizeof(*f));
  const char *name = mq->name;
  uint64_t at = mq->trunc_target, now = mrlog__mirror_now_ms();
  int rc;

  if (f == NULL) return MRLOG_ENOMEM;
  rc = truncate ? mrlog__body_truncate(&m->body, name, strlen(name), at)
                : mrlog__body_delete(&m->body, name, strlen(name));
  if (rc != 0) {
    free(f);
    return MRLOG_ENOMEM;
  }
  if (truncate) {
    snprintf(id, sizeof(id), "%s:truncate-%" PRIu64, name, at);
    rc = mrlog__link_publish_truncate(&m->link, m->exchange, name, id, at,
                                      now, m->body.buf, m->body.len, &f->tag);
  } else {
    snprintf(id, sizeof(id), "%s:delete", name);
    rc = mrlog__link_publish_delete(&m->link, m->exchange, name, id, now,
                                    m->body.buf, m->body.len, &f->tag);
  }
  if (rc != 0) {
    free(f);
    return rc;
  }
  f->mq = mq;
  f->marker = !truncate;
  f->truncate = truncate;
  f->last = truncate ? at : 0;
  track(m, mq, f);
  if (truncate) mq->trunc_sent = at;
  else mq->marker_sent = 1;
  return 0;
}

static int publish(struct mrlog_mirror *m, struct mrlog__mq *mq) {
  char id[1100];
  uint64_t tag;
  struct mrlog__flight *f;
  int rc;

  f = calloc(1, sizeof(*f));
  if (f == NULL) return MRLOG_ENOMEM;
  mrlog__body_finish(&m->body);
  snprintf(id, sizeof(id), "%s:%" PRIu64 "-%" PRIu64, mq->name,
           m->body.first, m->body.last);
  rc = mrlog__link_publish(&m->link, m->exchange, mq->name, id,
                           mq->sent_end, m->body.first, m->body.count,
                           mrlog__mirror_now_ms(), m->body.buf, m->body.len,
                           &tag);
  if (rc != 0) {
    free(f);
    return rc;
  }
  f->mq = mq;
  f->tag = tag;
  f->last = m->body.last;
  f->count = m->body.count;
  track(m, mq, f);
  mq->sent = mq->sent_end = f->last + 1;
  pthread_mutex_lock(&m->stats_lock);
  m->stats.messages_published++;
  m->stats.records_published += f->count;
  pthread_mutex_unlock(&m->stats_lock);
  return 0;
}

/* Publishes one message of mq's durable records from mq->sent.  Returns 1
 * if it published, 0 if there was nothing to publish, or a negative code
 * (the link failed). */
int mrlog__mirror_ship(struct mrlog_mirror *m, struct mrlog__mq *mq) {
  struct mrlog_queue_info info;
  struct mrlog_record rec;
  int rc;

  if (mq->hold_until_ms != 0) {
    if (mrlog__mirror_now_ms() < mq->hold_until_ms) return 0;
    mq->hold_until_ms = 0;
  }
  if (mq->marker && !mq->marker_sent) {
    rc = publish_marker(m, mq, 0);
    return rc == 0 ? 1 : rc;
  }
  if (mrlog__mirror_trunc_due(mq)) {
    rc = publish_marker(m, mq, 1);
    return rc == 0 ? 1 : rc;
  }
  if (mq->cursor == NULL) return 0;
  if (mq->sent >= mq->durable) {
    if (mrlog_queue_info(m->log, mq->name, &info) != 0) return 0;
    pthread_mutex_lock(&m->stats_lock);
    mq->durable = info.durable_position;
    pthread_mutex_unlock(&m->stats_lock);
    if (mq->sent >= mq->durable) return 0;
  }
  if (mrlog_cursor_position(mq->cursor) != mq->sent &&
      mrlog_cursor_seek(mq->cursor, mq->sent) != 0)
    return 0;
  if (mrlog__body_begin(&m->body, mq->name, strlen(mq->name)) != 0)
    return MRLOG_ENOMEM;
  while (m->body.count < m->records_per_message) {
    rc = mrlog_cursor_next(mq->cursor, &rec);
    if (rc == MRLOG_ENOQUEUE && m->body.count == 0) {
      end_incarnation(m, mq);
      return 1;
    }
    if (rc != 0) break; /* ENODATA: the visible end; ENOQUEUE: next call */
    if (rec.position >= mq->durable) {
      mrlog_cursor_seek(mq->cursor, rec.position);
      break;
    }
    if (m->body.count > 0 &&
        m->body.len + MRLOG_BODY_RECORD_HEADER + rec.len > m->message_bytes) {
      mrlog_cursor_seek(mq->cursor, rec.position);
      break;
    }
    if (mrlog__body_add(&m->body, rec.position, rec.unix_ms, rec.data,
                        (uint32_t)rec.len) != 0)
      return MRLOG_ENOMEM;
  }
  if (m->body.count == 0) {
    /* Everything in [sent, durable) was truncated away. */
    uint64_t skip = mrlog_cursor_position(mq->cursor);
    if (skip < mq->durable) skip = mq->durable;
    mq->sent = skip;
    if (mq->head == NULL) {
      pthread_mutex_lock(&m->stats_lock);
      mq->confirmed = skip;
      pthread_mutex_unlock(&m->stats_lock);
    }
    return 0;
  }
  rc = publish(m, mq);
  return rc == 0 ? 1 : rc;
}

/* Pops mq's confirmed messages off its FIFO's head and commits. */
static void advance(struct mrlog_mirror *m, struct mrlog__mq *mq) {
  struct mrlog__flight *f;
  uint64_t to = mq->confirmed, msgs = 0, recs = 0, truncs = 0;
  mrlog_future *fut;
  int marker = 0;

  while ((f = mq->head) != NULL && f->acked) {
    mq->head = f->next;
    if (mq->head == NULL) mq->tail = NULL;
    if (f->marker) {
      marker = 1;
    } else if (f->truncate) {
      if (f->last > mq->trunc_confirmed) mq->trunc_confirmed = f->last;
      truncs++;
    } else {
      to = mq->confirmed_end = f->last + 1;
      msgs++;
      recs += f->count;
    }
    free(f);
  }
  if (msgs == 0 && !marker && truncs == 0) return;
  mq->hold_ms = 0; /* the queue takes messages again (invariant 4) */
  /* With nothing in flight, [to, sent) is what mrlog__mirror_ship found
   * truncated away while messages were in flight: nothing to wait for. */
  if (mq->head == NULL && mq->sent > to) to = mq->sent;
  if (truncs > 0) {
    pthread_mutex_lock(&m->stats_lock);
    m->stats.truncations += truncs;
    pthread_mutex_unlock(&m->stats_lock);
    if (msgs == 0 && !marker && to == mq->confirmed) return;
  }
  if (marker) {
    mq->marker = mq->marker_sent = 0;
    pthread_mutex_lock(&m->stats_lock);
    m->stats.deletes++;
    pthread_mutex_unlock(&m->stats_lock);
  }
  /* Invariant 6: only on the incarnation the records came from. */
  if (mq->cursor != NULL && alive(mq)) {
    fut = mrlog_commit(m->log, mq->name, m->consumer, to, NULL, NULL);
    mrlog_forget(fut);
  }
  pthread_mutex_lock(&m->stats_lock);
  mq->confirmed = to;
  m->stats.messages_confirmed += msgs;
  m->stats.records_confirmed += recs;
  pthread_mutex_unlock(&m->stats_lock);
}

static struct mrlog__mq *find_mq(struct mrlog_mirror *m, const char *name) {
  for (size_t i = 0; i < m->nmqs; i++)
    if (strcmp(m->mqs[i]->name, name) == 0) return m->mqs[i];
  return NULL;
}

/* Applies one broker event.  Returns 0. */
int mrlog__mirror_event(struct mrlog_mirror *m,
                        const struct mrlog__link_event *ev) {
  struct mrlog__flight *f, *next;
  struct mrlog__mq *mq;

  if (ev->kind == MRLOG_LINK_RETURN) {
    mq = find_mq(m, ev->routing_key);
    pthread_mutex_lock(&m->stats_lock);
    m->stats.returns++;
    pthread_mutex_unlock(&m->stats_lock);
    mrlog__mirror_say(m, MRLOG_LOG_WARN,
                      "message of queue %s returned as unroutable; "
                      "declaring its RabbitMQ queue again",
                      ev->routing_key);
    if (mq != NULL) {
      rewind_and_hold(m, mq);
      mq->declared = 0;
    }
    return 0;
  }
  for (f = m->tags_head; f != NULL && f->tag <= ev->tag; f = next) {
    next = f->tag_next;
    if (!ev->multiple && f->tag != ev->tag) continue;
    mq = f->mq;
    if (ev->kind == MRLOG_LINK_NACK) {
      pthread_mutex_lock(&m->stats_lock);
      m->stats.nacks++;
      pthread_mutex_unlock(&m->stats_lock);
      /* The rewind frees the queue's flights: restart the walk. */
      rewind_and_hold(m, mq);
      next = m->tags_head;
      continue;
    }
    untag(m, f);
    f->acked = 1;
    advance(m, mq);
  }
  return 0;
}

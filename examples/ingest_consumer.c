/*
 * ingest_consumer.c -- the consumer thread of ingest_consumer.h.
 *
 * THE LOOP.  Each round the thread notes the wake-up count, then:
 *   1. lists the queues and opens a cursor on each new one, at the
 *      position committed under INGEST_CONSUMER (0 if none yet: the
 *      cursor skips what truncation dropped);
 *   2. for each queue whose wait has fired (or that has none yet), reaps
 *      the wait, reads every visible record through the cursor, commits
 *      the cursor's position if it moved (with truncate_on_commit the
 *      log drops the records it covers) and starts a new wait at the
 *      cursor's position (mrlog_cursor_wait);
 *   3. sleeps on the condition variable until the wake-up count moves.
 * A wait's callback (on mrlog's flusher) only sets its queue's flag and
 * bumps the count, so it never blocks the flusher.
 *
 * INVARIANTS.  A queue entry is freed only once every wait started on it
 * has run its callback (callbacks counts them down, as the callback's
 * last touch of the entry), so no callback ever points at freed memory.  A
 * queue whose cursor reports MRLOG_ENOQUEUE (deleted) is dropped.  Commits
 * are made by this thread alone, in increasing order per queue.
 */
#include "ingest_consumer.h"

#include "ingest_protocol.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct ingest_consumed_queue {
  struct ingest_consumed_queue *next;
  struct ingest_consumer *consumer;
  char name[INGEST_ID_MAX + 1];
  mrlog_cursor *cursor;
  /* The pending (or fired, not yet reaped) wait, or NULL. */
  mrlog_future *wait;
  /* Set by the wait's callback, cleared when the wait is reaped. */
  atomic_int fired;
  /* Waits started whose callback has not finished with the entry. */
  atomic_int callbacks;
  /* The last position committed (0: none). */
  uint64_t committed;
  /* 1 once the queue is gone: dropped at the end of the round. */
  int gone;
};

static void
wake(struct ingest_consumer *consumer)
{
  pthread_mutex_lock(&consumer->mutex);
  consumer->wakeups++;
  pthread_cond_broadcast(&consumer->wake);
  pthread_mutex_unlock(&consumer->mutex);
}

/* A wait's callback: on mrlog's flusher; just flags the queue. */
static void
on_wait(void *arg, int status, uint64_t position)
{
  struct ingest_consumed_queue *q = arg;
  struct ingest_consumer *consumer = q->consumer;

  (void)status;
  (void)position;
  atomic_store(&q->fired, 1);
  atomic_fetch_sub(&q->callbacks, 1); /* the last touch of q */
  wake(consumer);
}

static struct ingest_consumed_queue *
find_queue(struct ingest_consumer *consumer, const char *name)
{
  struct ingest_consumed_queue *q;

  for (q = consumer->queues; q != NULL; q = q->next)
    if (strcmp(q->name, name) == 0)
      return q;
  return NULL;
}

/* mrlog_list_queues visitor: opens a cursor on each new queue. */
static int
add_queue(void *arg, const char *name)
{
  struct ingest_consumer *consumer = arg;
  struct ingest_consumed_queue *q;
  uint64_t from = 0;

  if (strlen(name) > INGEST_ID_MAX || find_queue(consumer, name) != NULL)
    return 0;
  if ((q = calloc(1, sizeof(*q))) == NULL)
    return 1; /* out of memory: try again next round */
  strcpy(q->name, name);
  q->consumer = consumer;
  atomic_init(&q->fired, 0);
  atomic_init(&q->callbacks, 0);
  if (mrlog_committed(consumer->log, name, INGEST_CONSUMER, &from) != 0)
    from = 0;
  q->committed = from;
  if (mrlog_cursor_open(consumer->log, name, from, &q->cursor) != 0) {
    free(q); /* deleted meanwhile, or out of memory */
    return 0;
  }
  q->next = consumer->queues;
  consumer->queues = q;
  return 0;
}

/* Reads everything visible, commits it and waits for more.  Returns 0,
 * or MRLOG_ECLOSED once the log is closing. */
static int
consume(struct ingest_consumer *consumer, struct ingest_consumed_queue *q)
{
  struct mrlog_record record;
  uint64_t position;
  int rc;

  if (q->wait != NULL) {
    if (!atomic_load(&q->fired))
      return 0;
    /* The callback has run; the future is ready at once or very soon. */
    rc = mrlog_wait(q->wait, NULL);
    q->wait = NULL;
    atomic_store(&q->fired, 0);
    if (rc == MRLOG_ENOQUEUE) {
      q->gone = 1;
      return 0;
    }
    if (rc == MRLOG_ECLOSED)
      return rc;
  }
  while ((rc = mrlog_cursor_next(q->cursor, &record)) == 0)
    consumer->processed++; /* the "processing" */
  if (rc == MRLOG_ENOQUEUE) {
    q->gone = 1;
    return 0;
  }
  if (rc == MRLOG_ECLOSED)
    return rc;
  position = mrlog_cursor_position(q->cursor);
  if (position > q->committed) {
    /* Everything below position is processed.  Fire and forget: a
     * failed commit is retried by the next one, which covers it. */
    mrlog_forget(mrlog_commit(consumer->log, q->name, INGEST_CONSUMER,
                              position, NULL, NULL));
    q->committed = position;
  }
  atomic_fetch_add(&q->callbacks, 1);
  q->wait = mrlog_cursor_wait(q->cursor, on_wait, q);
  return 0;
}

/* True while a callback may still touch one of the queues. */
static int
callbacks_pending(const struct ingest_consumer *consumer)
{
  const struct ingest_consumed_queue *q;

  for (q = consumer->queues; q != NULL; q = q->next)
    if (atomic_load(&q->callbacks) != 0)
      return 1;
  return 0;
}

/* Frees the queues marked gone (their waits have completed). */
static void
drop_gone(struct ingest_consumer *consumer)
{
  struct ingest_consumed_queue **link = &consumer->queues, *q;

  while ((q = *link) != NULL) {
    if (q->gone && q->wait == NULL && atomic_load(&q->callbacks) == 0) {
      *link = q->next;
      mrlog_cursor_close(q->cursor);
      free(q);
    } else {
      link = &q->next;
    }
  }
}

static void *
consumer_main(void *arg)
{
  struct ingest_consumer *consumer = arg;
  struct ingest_consumed_queue *q;
  uint64_t seen;
  int closed = 0;

  for (;;) {
    pthread_mutex_lock(&consumer->mutex);
    seen = consumer->wakeups;
    pthread_mutex_unlock(&consumer->mutex);
    mrlog_list_queues(consumer->log, add_queue, consumer);
    for (q = consumer->queues; q != NULL && !closed; q = q->next)
      if (!q->gone && consume(consumer, q) == MRLOG_ECLOSED)
        closed = 1;
    drop_gone(consumer);
    pthread_mutex_lock(&consumer->mutex);
    while (consumer->wakeups == seen && !consumer->stopping && !closed)
      pthread_cond_wait(&consumer->wake, &consumer->mutex);
    if (consumer->stopping || closed) {
      pthread_mutex_unlock(&consumer->mutex);
      break;
    }
    pthread_mutex_unlock(&consumer->mutex);
  }
  /* Cancel every wait and let its callback finish with the entry (it
   * decrements, then wakes us under the mutex: no lost wake-up). */
  for (q = consumer->queues; q != NULL; q = q->next)
    if (q->wait != NULL) {
      mrlog_cancel(q->wait);
      mrlog_forget(q->wait);
      q->wait = NULL;
    }
  pthread_mutex_lock(&consumer->mutex);
  while (callbacks_pending(consumer))
    pthread_cond_wait(&consumer->wake, &consumer->mutex);
  pthread_mutex_unlock(&consumer->mutex);
  while ((q = consumer->queues) != NULL) {
    consumer->queues = q->next;
    mrlog_cursor_close(q->cursor);
    free(q);
  }
  return NULL;
}

int
ingest_consumer_start(struct ingest_consumer *consumer, mrlog *log)
{
  int rc;

  memset(consumer, 0, sizeof(*consumer));
  consumer->log = log;
  if (pthread_mutex_init(&consumer->mutex, NULL) != 0)
    return -1;
  if (pthread_cond_init(&consumer->wake, NULL) != 0) {
    pthread_mutex_destroy(&consumer->mutex);
    return -1;
  }
  rc = pthread_create(&consumer->thread, NULL, consumer_main, consumer);
  if (rc != 0) {
    pthread_cond_destroy(&consumer->wake);
    pthread_mutex_destroy(&consumer->mutex);
    errno = rc;
    return -1;
  }
  return 0;
}

void
ingest_consumer_poke(struct ingest_consumer *consumer)
{
  if (consumer != NULL)
    wake(consumer);
}

uint64_t
ingest_consumer_stop(struct ingest_consumer *consumer)
{
  pthread_mutex_lock(&consumer->mutex);
  consumer->stopping = 1;
  pthread_cond_broadcast(&consumer->wake);
  pthread_mutex_unlock(&consumer->mutex);
  pthread_join(consumer->thread, NULL);
  pthread_cond_destroy(&consumer->wake);
  pthread_mutex_destroy(&consumer->mutex);
  return consumer->processed;
}

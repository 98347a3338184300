/*
 * consumer.c -- named consumers of a queue: the in-memory table of their
 * committed positions and the public calls on it.
 *
 * Invariants:
 *  1. A queue's consumers live in an array owned by the queue ([state]:
 *     changed by the writer, or the opener during recovery, with
 *     state_lock held for writing; read under the read lock).  Names are
 *     unique within a queue; there is no set order.  Lookups are linear:
 *     a queue is expected to have a few consumers, not thousands.
 *  2. A committed position only moves forward while its consumer lives.
 *     The writer refuses a commit at or below the current one
 *     (MRLOG_DUPLICATE) before it is framed, and replay refuses such an
 *     operation as corrupt.  A consumer removed and committed again starts
 *     afresh, at any position.
 *  3. Every consumer counts in the checkpoint bound: log->index.consumers
 *     and consumer_name_bytes follow each add and removal, so
 *     mrlog__index_checkpoint_fits(_consumer) stays exact.
 *  4. Deleting a queue frees its consumers with it (queue.c calls
 *     mrlog__consumers_free).
 *  5. The reads copy what they need under the read lock and call the
 *     visitor with no lock held, like mrlog_list_queues.
 */
#include "internal.h"
#include "consumer.h"
#include "memory.h"
#include "queue.h"
#include "req.h"

#include <stdlib.h>
#include <string.h>

struct mrlog__consumer *
mrlog__consumer_find(const struct mrlog__queue *q, const char *name,
                     size_t len)
{
  uint32_t i;

  for (i = 0; i < q->n_consumers; i++) {
    struct mrlog__consumer *c = &q->consumers[i];
    if (c->name_len == len && memcmp(c->name, name, len) == 0)
      return c;
  }
  return NULL;
}

int
mrlog__consumer_add(struct mrlog *log, struct mrlog__queue *q,
                    const char *name, size_t len, uint64_t position)
{
  struct mrlog__consumer *c;
  char *copy;

  if (q->n_consumers == q->cap_consumers) {
    uint32_t cap = q->cap_consumers ? 2 * q->cap_consumers : 4;
    struct mrlog__consumer *v;

    if (cap < q->cap_consumers)
      return MRLOG_ENOMEM;
    v = mrlog__mem_malloc(log, cap * sizeof(*v));
    if (v == NULL)
      return MRLOG_ENOMEM;
    if (q->n_consumers > 0)
      memcpy(v, q->consumers, q->n_consumers * sizeof(*v));
    mrlog__mem_free(log, q->consumers);
    q->consumers = v;
    q->cap_consumers = cap;
  }
  copy = mrlog__mem_malloc(log, len + 1);
  if (copy == NULL)
    return MRLOG_ENOMEM;
  memcpy(copy, name, len);
  copy[len] = '\0';
  c = &q->consumers[q->n_consumers++];
  c->name = copy;
  c->name_len = (uint32_t)len;
  c->listed = false;
  c->position = position;
  log->index.consumers++;
  log->index.consumer_name_bytes += len;
  return 0;
}

void
mrlog__consumer_remove(struct mrlog *log, struct mrlog__queue *q,
                       struct mrlog__consumer *c)
{
  log->index.consumers--;
  log->index.consumer_name_bytes -= c->name_len;
  mrlog__mem_free(log, c->name);
  *c = q->consumers[--q->n_consumers];
  if (q->n_consumers == 0) {
    mrlog__mem_free(log, q->consumers);
    q->consumers = NULL;
    q->cap_consumers = 0;
  }
}

void
mrlog__consumers_free(struct mrlog *log, struct mrlog__queue *q)
{
  while (q->n_consumers > 0)
    mrlog__consumer_remove(log, q, &q->consumers[q->n_consumers - 1]);
}

bool
mrlog__consumers_min(const struct mrlog__queue *q, uint64_t *min)
{
  uint32_t i;

  if (q->n_consumers == 0)
    return false;
  *min = q->consumers[0].position;
  for (i = 1; i < q->n_consumers; i++)
    if (q->consumers[i].position < *min)
      *min = q->consumers[i].position;
  return true;
}

/* ---- public calls --------------------------------------------------- */

mrlog_future *
mrlog_commit(mrlog *log, const char *queue, const char *consumer,
             uint64_t position, mrlog_done_fn done, void *arg)
{
  return mrlog__submit_consumer(log, MRLOG_REQ_COMMIT, queue, consumer,
                                position, done, arg);
}

mrlog_future *
mrlog_remove_consumer(mrlog *log, const char *queue, const char *consumer,
                      mrlog_done_fn done, void *arg)
{
  return mrlog__submit_consumer(log, MRLOG_REQ_UNCOMMIT, queue, consumer, 0,
                                done, arg);
}

static struct mrlog__queue *
queue_of(struct mrlog *log, const char *queue, size_t len)
{
  return mrlog__index_by_name(&log->index, queue, len,
                              mrlog__name_hash(queue, len));
}

int
mrlog_committed(mrlog *log, const char *queue, const char *consumer,
                uint64_t *position)
{
  struct mrlog__queue *q;
  struct mrlog__consumer *c;
  size_t qlen, clen;
  int rc = 0;

  if (!mrlog__log_live(log) || !mrlog__name_ok(queue, &qlen) ||
      !mrlog__name_ok(consumer, &clen) || position == NULL)
    return MRLOG_EINVAL;
  pthread_rwlock_rdlock(&log->state_lock);
  q = queue_of(log, queue, qlen);
  if (q == NULL)
    rc = MRLOG_ENOQUEUE;
  else if ((c = mrlog__consumer_find(q, consumer, clen)) == NULL)
    rc = MRLOG_ENODATA;
  else
    *position = c->position;
  pthread_rwlock_unlock(&log->state_lock);
  return rc;
}

int
mrlog_list_consumers(mrlog *log, const char *queue,
                     int (*visit)(void *arg, const char *consumer,
                                  uint64_t position),
                     void *arg)
{
  struct mrlog__queue *q;
  char **names = NULL;
  uint64_t *pos = NULL;
  size_t qlen, n = 0, i;
  int rc = 0;

  if (!mrlog__log_live(log) || !mrlog__name_ok(queue, &qlen) || visit == NULL)
    return MRLOG_EINVAL;
  /* Invariant 5: copy, then visit with no lock held. */
  pthread_rwlock_rdlock(&log->state_lock);
  q = queue_of(log, queue, qlen);
  if (q == NULL) {
    rc = MRLOG_ENOQUEUE;
  } else if (q->n_consumers > 0) {
    names = calloc(q->n_consumers, sizeof(*names));
    pos = malloc(q->n_consumers * sizeof(*pos));
    if (names == NULL || pos == NULL)
      rc = MRLOG_ENOMEM;
    for (i = 0; rc == 0 && i < q->n_consumers; i++, n++) {
      names[i] = strdup(q->consumers[i].name);
      pos[i] = q->consumers[i].position;
      if (names[i] == NULL)
        rc = MRLOG_ENOMEM;
    }
  }
  pthread_rwlock_unlock(&log->state_lock);
  for (i = 0; i < n && rc == 0; i++)
    rc = visit(arg, names[i], pos[i]);
  for (i = 0; i < n; i++)
    free(names[i]);
  free(names);
  free(pos);
  return rc;
}

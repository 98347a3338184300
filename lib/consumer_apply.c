/*
 * consumer_apply.c -- the consumer operations of format version 4
 * (FORMAT.md 7.10 COMMIT, 7.11 UNCOMMIT) and the consumer list that ends
 * every version 4 CHECKPOINT entry (7.7): decoding, checking, applying,
 * and the checkpoint's encoding.  Recovery and the writer apply them
 * through apply.c, so a reopened log holds the consumers the running log
 * held.
 *
 * Invariants:
 *  1. Every field is checked against the body's end and the state before
 *     anything changes: an operation is applied whole or not at all, and
 *     a bad one is MRLOG_ECORRUPT, never a crash.
 *  2. A COMMIT raises a position or adds a consumer; one at or below the
 *     consumer's position is inconsistent (the writer never frames one:
 *     consumer.c invariant 2).  An UNCOMMIT of a consumer the queue does
 *     not have is inconsistent, like a DELETE of a queue that does not
 *     exist.
 *  3. A CHECKPOINT's list is the queue's whole set of consumers at its
 *     point: the ones it does not name are removed, the named ones take
 *     the listed position, even one below what replay holds.  Older
 *     segments replayed before it may hold a later commit of a consumer
 *     that a deleted segment then removed and committed again lower:
 *     unlike a queue, a consumer has no id telling the two apart, so the
 *     checkpoint's position is the truth, not a maximum.  A name listed
 *     twice is inconsistent, found when the second is applied (after the
 *     first; FORMAT.md 7.7 notes the same for queues).
 *  4. Commits never truncate by themselves: with truncate_on_commit the
 *     writer frames a TRUNCATE right after the COMMIT or UNCOMMIT that
 *     allows it, in the same frame, so replay repeats exactly what the
 *     writer did and a crash never keeps the truncation without the
 *     commit.
 */
#include "internal.h"
#include "consumer.h"
#include "memory.h"
#include "queue.h"

#include <string.h>

static bool
get(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
  return mrlog__get_varint_fast(p, end, v);
}

/* A name: length then 1..MRLOG_QUEUE_NAME_MAX bytes without NUL. */
static bool
get_name(const uint8_t **p, const uint8_t *end, const char **name,
         size_t *len)
{
  uint64_t n;

  if (!get(p, end, &n) || n == 0 || n > MRLOG_QUEUE_NAME_MAX ||
      n > (uint64_t)(end - *p))
    return false;
  if (memchr(*p, '\0', (size_t)n) != NULL)
    return false;
  *name = (const char *)*p;
  *len = (size_t)n;
  *p += n;
  return true;
}

int
mrlog__apply_commit(struct mrlog *log, const uint8_t **p, const uint8_t *end)
{
  uint64_t id, position;
  const char *name;
  size_t len;
  struct mrlog__queue *q;
  struct mrlog__consumer *c;

  if (!get(p, end, &id) || !get_name(p, end, &name, &len) ||
      !get(p, end, &position) ||
      (q = mrlog__index_by_id(&log->index, id)) == NULL)
    return MRLOG_ECORRUPT;
  c = mrlog__consumer_find(q, name, len);
  if (c == NULL)
    return mrlog__consumer_add(log, q, name, len, position);
  if (position <= c->position)
    return MRLOG_ECORRUPT; /* invariant 2 */
  c->position = position;
  return 0;
}

int
mrlog__apply_uncommit(struct mrlog *log, const uint8_t **p,
                      const uint8_t *end)
{
  uint64_t id;
  const char *name;
  size_t len;
  struct mrlog__queue *q;
  struct mrlog__consumer *c;

  if (!get(p, end, &id) || !get_name(p, end, &name, &len) ||
      (q = mrlog__index_by_id(&log->index, id)) == NULL ||
      (c = mrlog__consumer_find(q, name, len)) == NULL)
    return MRLOG_ECORRUPT;
  mrlog__consumer_remove(log, q, c);
  return 0;
}

int
mrlog__checkpoint_consumers(struct mrlog *log, struct mrlog__queue *q,
                            const uint8_t **p, const uint8_t *end)
{
  uint64_t m, i, position;
  const char *name;
  size_t len;
  struct mrlog__consumer *c;
  uint32_t k;
  int rc;

  if (!get(p, end, &m) || m > (uint64_t)(end - *p) / 3)
    return MRLOG_ECORRUPT; /* each consumer takes 3 bytes at least */
  if (q != NULL)
    for (k = 0; k < q->n_consumers; k++)
      q->consumers[k].listed = false;
  for (i = 0; i < m; i++) {
    if (!get_name(p, end, &name, &len) || !get(p, end, &position))
      return MRLOG_ECORRUPT;
    if (q == NULL)
      continue;
    c = mrlog__consumer_find(q, name, len);
    if (c == NULL) {
      rc = mrlog__consumer_add(log, q, name, len, position);
      if (rc != 0)
        return rc;
      c = &q->consumers[q->n_consumers - 1];
    } else if (c->listed) {
      return MRLOG_ECORRUPT; /* listed twice (invariant 3) */
    } else {
      c->position = position; /* the listed one, even if lower */
    }
    c->listed = true;
  }
  if (q == NULL)
    return 0;
  /* The ones not listed go (invariant 3); removal moves the last entry
   * into the freed slot, so look at the same index again. */
  for (k = 0; k < q->n_consumers;) {
    if (!q->consumers[k].listed)
      mrlog__consumer_remove(log, q, &q->consumers[k]);
    else
      q->consumers[k++].listed = false;
  }
  return 0;
}

size_t
mrlog__consumers_encoded_max(const struct mrlog__queue *q)
{
  size_t n = MRLOG_VARINT_MAX;
  uint32_t k;

  for (k = 0; k < q->n_consumers; k++)
    n += 2 * MRLOG_VARINT_MAX + q->consumers[k].name_len;
  return n;
}

void
mrlog__consumers_encode(struct mrlog__buf *b, const struct mrlog__queue *q)
{
  uint32_t k;

  mrlog__buf_put_varint(b, q->n_consumers);
  for (k = 0; k < q->n_consumers; k++) {
    const struct mrlog__consumer *c = &q->consumers[k];

    mrlog__buf_put_varint(b, c->name_len);
    memcpy(b->data + b->len, c->name, c->name_len);
    b->len += c->name_len;
    mrlog__buf_put_varint(b, c->position);
  }
}

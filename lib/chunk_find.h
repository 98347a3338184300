/*
 * chunk_find.h -- finding a position in a queue's chunk list, shared by
 * the readers that resume from a chunk they hold a reference on
 * (lib/read.c ranges, lib/cursor.c cursors).  The search within a chunk
 * is mrlog__chunk_lower_bound (queue.h).
 *
 * All of these run under state_lock held for reading (or by the writer),
 * on the queue the chunks belong to; a chunk passed as a hint may have
 * left the list since, which they detect (still_listed).
 */
#ifndef MRLOG_CHUNK_FIND_H
#define MRLOG_CHUNK_FIND_H

#include "queue.h"

/* The first of c's records still in q's list. */
static inline uint32_t
mrlog__chunk_live_start(const struct mrlog__queue *q,
                        const struct mrlog__chunk *c)
{
  return c == q->head ? q->head_index : 0;
}

/* True if c, a chunk that was in q's list, still is.  Chunks leave the
 * list only from its front, once all their records are dropped, and
 * positions increase along it (queue.c invariant 1): so c is in it
 * exactly when its last record is at or after the first retained one.
 * c must have been a chunk of this very queue (same id): a chunk of a
 * deleted queue of the same name says nothing about this one. */
static inline bool
mrlog__chunk_still_listed(const struct mrlog__queue *q,
                          const struct mrlog__chunk *c)
{
  return q->records > 0 && c->count > 0 &&
         c->base + c->pos[c->count - 1] >= mrlog__queue_first(q);
}

/* The chunk holding q's first retained record at or after pos, or NULL.
 * Starts from hint (a chunk of q, or NULL) when it is still listed and no
 * record before its first live one can be at or after pos, so a reader
 * moving forward walks each chunk once, not the list from its head on
 * every step. */
static inline struct mrlog__chunk *
mrlog__chunk_find(const struct mrlog__queue *q, struct mrlog__chunk *hint,
                  uint64_t pos)
{
  struct mrlog__chunk *c = q->head;

  if (hint != NULL && mrlog__chunk_still_listed(q, hint) &&
      mrlog__chunk_live_start(q, hint) < hint->count &&
      pos >= hint->base + hint->pos[mrlog__chunk_live_start(q, hint)])
    c = hint;
  for (; c != NULL; c = c->next) {
    uint32_t start = mrlog__chunk_live_start(q, c);
    if (start < c->count && c->base + c->pos[c->count - 1] >= pos)
      return c;
  }
  return NULL;
}

#endif /* MRLOG_CHUNK_FIND_H */

/*
 * ring.h -- the request ring (lib/ring.c): many producers, one consumer
 * (the writer), and the writer's wake-up.  A request pushed belongs to
 * the writer from the moment it is popped; producers wait for space only
 * when they may (submit.c invariant 4).
 */
#ifndef MRLOG_RING_H
#define MRLOG_RING_H

#include "base.h"

struct mrlog;
struct mrlog__req;
struct mrlog__block;

/* Ring (lib/ring.c). */
int mrlog__ring_init(struct mrlog *log);
void mrlog__ring_free(struct mrlog *log);
/* Pushes req; MRLOG_EFULL when full and waiting is not allowed. */
int mrlog__ring_push(struct mrlog *log, struct mrlog__req *req, bool may_wait);
/* As mrlog__ring_push; a wait is bounded by blk (block.c; NULL: none). */
int mrlog__ring_push_within(struct mrlog *log, struct mrlog__req *req,
                            bool may_wait, struct mrlog__block *blk);
/* Pops up to max requests (writer only). */
unsigned mrlog__ring_pop(struct mrlog *log, struct mrlog__req **out,
                         unsigned max);
/* Writer only: sleeps until the ring is non-empty or timeout_ms passes. */
void mrlog__ring_wait(struct mrlog *log, unsigned timeout_ms);

#endif /* MRLOG_RING_H */

/*
 * apply.h -- applying a frame's operations to the in-memory queues
 * (lib/apply.c), the one definition of what a frame does that recovery
 * and the writer share.
 */
#ifndef MRLOG_APPLY_H
#define MRLOG_APPLY_H

#include "base.h"

#include <stddef.h>

struct mrlog;
struct mrlog__queue;
struct mrlog__segment;

/*
 * Applies every operation of one frame body to the in-memory state, as
 * recovery and the writer both do.  seg is the segment holding the frame,
 * lsn its end.  Returns 0, or MRLOG_ECORRUPT at the first operation that
 * is malformed or inconsistent with the state (the ones before it stay
 * applied), or MRLOG_ENOMEM.  Caller holds state_lock for writing.
 */
int mrlog__apply_frame(struct mrlog *log, struct mrlog__segment *seg,
                       const uint8_t *body, size_t len, uint64_t lsn,
                       bool first_frame);
/* TRUNCATE's effect on q, for the writer's direct apply (apply.c).
 * Returns the records dropped. */
uint64_t mrlog__apply_truncate(struct mrlog *log, struct mrlog__queue *q,
                               uint64_t position, uint64_t lsn);

#endif /* MRLOG_APPLY_H */

/*
 * queue_charge.h -- what one queue's retained records are charged
 * (struct mrlog__queue.memory_bytes, mrlog_queue_info.memory_bytes, the
 * figure policy.queue_memory_limit bounds).
 *
 * The per-queue figure follows the same charges memory.c makes, at the
 * same sizes, for the allocations that belong to the queue's records:
 *  - a chunk's `charged`, from the moment it is linked into the queue to
 *    the moment the queue drops its reference (a reader that still holds
 *    the chunk keeps it alive, and in stats.memory_bytes, a little
 *    longer: the queue is no longer charged for it);
 *  - the heap size of its runs ring and of its time-mark ring;
 *  - the payload of its mapped records (MRLOG_STORE_MAPPED, or records
 *    recovered from a mapped file), under either store: the quota bounds
 *    the volume a queue retains.  memory.c charges that payload against
 *    memory_limit only under the copy store (mrlog__mem_charges_payload).
 * The queue's own struct and name are not its records' and are not
 * counted.  So with nothing in flight, the sum over all queues (less
 * their mapped payload under MRLOG_STORE_MAPPED) is what
 * stats.memory_charged holds beyond the queues' structs and names, the
 * index's buckets and the writer's buffers.
 *
 * Both calls run where the charge is made: on the writer (or the opener
 * during recovery) with state_lock held for writing; the figure is
 * [state].  A fall bumps log->quota_released, which tells the writer that
 * appends held back by queue_memory_limit may fit now (workers/quota.c).
 */
#ifndef MRLOG_QUEUE_CHARGE_H
#define MRLOG_QUEUE_CHARGE_H

#include "internal.h"
#include "queue.h"

static inline void
mrlog__qcharge_add(struct mrlog__queue *q, uint64_t bytes)
{
  q->memory_bytes += bytes;
}

static inline void
mrlog__qcharge_sub(struct mrlog *log, struct mrlog__queue *q, uint64_t bytes)
{
  q->memory_bytes -= bytes;
  if (bytes != 0)
    log->quota_released++;
}

#endif

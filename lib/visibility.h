/*
 * visibility.h -- which records reads show (policy.visibility): the
 * passes of each queue not yet durable (lib/visibility.c).
 */
#ifndef MRLOG_VISIBILITY_H
#define MRLOG_VISIBILITY_H

#include <stdbool.h>
#include <stdint.h>

struct mrlog;
struct mrlog__queue;

/* The first position of q that reads do not show under the log's
 * visibility: positions >= it are not visible, every retained record
 * below it is.  Caller holds state_lock for reading (or the writer). */
uint64_t mrlog__visible_next(const struct mrlog *log,
                             const struct mrlog__queue *q);
/* The same under MRLOG_VISIBLE_DURABLE whatever the policy: every record
 * of q below it is covered by an fdatasync (queue info's
 * durable_position).  State_lock held for reading. */
uint64_t mrlog__durable_next(const struct mrlog *log,
                             const struct mrlog__queue *q);
/* The LSN that durable_lsn must reach for q's visible next position to
 * advance, or 0 if nothing of q waits for a sync.  State_lock held. */
uint64_t mrlog__vis_wait_lsn(const struct mrlog *log,
                             const struct mrlog__queue *q);
/* True if the log's visibility waits for fdatasyncs (DURABLE, or
 * ACKNOWLEDGED under fsync_interval_ms 0). */
bool mrlog__vis_waits_sync(const struct mrlog *log);
/* Writer, state_lock held for writing: records from pos on were stored by
 * the frame ending at lsn.  Never fails (a full ring merges its two newest
 * passes: they become visible together, with the newer). */
void mrlog__vis_note(struct mrlog *log, struct mrlog__queue *q, uint64_t pos,
                     uint64_t lsn);
/* After a truncation raised q's floor: forgets the passes whose records
 * all lie below it.  State_lock held for writing. */
void mrlog__vis_truncated(struct mrlog__queue *q);

#endif /* MRLOG_VISIBILITY_H */

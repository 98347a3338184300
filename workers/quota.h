/*
 * quota.h -- policy.queue_memory_limit and policy.disk_limit, decided by
 * the writer (workers/quota.c): what writer.c, writer_frame.c and the
 * cleaner call.
 */
#ifndef MRLOG_WORKERS_QUOTA_H
#define MRLOG_WORKERS_QUOTA_H

#include "internal.h"

struct mrlog__quota;

/* Writer init/free: the quota state, or NULL when the policy sets no
 * quota (then every hook below costs one test of w->quota).  init
 * returns 0 or MRLOG_ENOMEM. */
int mrlog__quota_init(struct mrlog *log, struct mrlog__quota **out);
void mrlog__quota_free(struct mrlog__quota *qs);

/* Writer, deciding an append to q (q found): false when the append goes
 * on now (the writer decides it as usual); true when quota.c took it:
 * held back (parked) until room comes, or completed with MRLOG_EFULL. */
bool mrlog__quota_hold(struct mrlog *log, struct mrlog__queue *q,
                       struct mrlog__req *req);
/* Writer, before it decides the deletion of q: q's held-back appends
 * complete with MRLOG_EFULL, ahead of the delete. */
void mrlog__quota_forget_queue(struct mrlog *log, struct mrlog__queue *q);
/* Writer, after each pass and each wake-up: true when the held-back
 * appends are to be re-decided -- room may have come back (a queue's
 * charge fell, a segment file was deleted) or a deadline passed -- and
 * then the writer calls next until it returns NULL, deciding each append
 * it returns (an append to *q that fits now, in order), and flushes.
 * Once the log has failed, due completes them all with its status (and
 * next returns NULL at once). */
bool mrlog__quota_due(struct mrlog *log);
struct mrlog__req *mrlog__quota_next(struct mrlog *log,
                                     struct mrlog__queue **q);
/* Writer: how long it may sleep, in ms (at most max): until the earliest
 * deadline of a held-back append. */
unsigned mrlog__quota_sleep_ms(struct mrlog *log, unsigned max);
/* Writer, at the stop sentinel: every held-back append completes (with
 * MRLOG_EFULL, or the log's failure), ahead of the sentinel. */
void mrlog__quota_drain(struct mrlog *log);

/* Cleaner, after deleting segment files: with a disk_limit, wakes the
 * writer to re-decide what the quota holds back.  Any thread. */
void mrlog__quota_disk_freed(struct mrlog *log);

#endif

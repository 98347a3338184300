/*
 * watch.h -- waiting for records (mrlog_watch, mrlog_cancel;
 * lib/watch.c).  What the writer, the flusher and close call.
 */
#ifndef MRLOG_WATCH_H
#define MRLOG_WATCH_H

#include <stdbool.h>
#include <stdint.h>

struct mrlog;
struct mrlog__queue;

/* Writer, state_lock held for writing: q's visible next position may
 * advance once durable_lsn reaches lsn (0: at once; also a deletion).
 * Call only when q->watchers is not 0. */
void mrlog__watch_dirty(struct mrlog *log, const struct mrlog__queue *q,
                        uint64_t lsn);
/* Writer, state_lock held for writing, before q is freed: q is being
 * deleted; its watches complete with MRLOG_ENOQUEUE.  Call only when
 * q->watchers is not 0. */
void mrlog__watch_gone(struct mrlog *log, const struct mrlog__queue *q);
/* Flusher, any lock or none: true if mrlog__watch_run has work (a
 * watched queue's visible position may have advanced, or the log failed
 * with watches pending).  Lock-free. */
bool mrlog__watch_due(struct mrlog *log);
/* Flusher, no lock held: completes the watches that are satisfied (or
 * whose queue is gone, or all of them if the log failed). */
void mrlog__watch_run(struct mrlog *log);
/* Close, once no producer is between its check and its enqueue (log.c):
 * completes every pending watch with MRLOG_ECLOSED; later watches are
 * refused.  The flusher is still running. */
void mrlog__watch_close(struct mrlog *log);
/* Frees what the log holds for watches (none is pending). */
void mrlog__watch_free(struct mrlog *log);

#endif /* MRLOG_WATCH_H */

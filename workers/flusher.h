/*
 * flusher.h -- the flusher thread (workers/flusher.c): applies the fsync
 * policy to what the writer wrote and completes requests (runs their
 * callbacks).  Each worker has init (allocate, no thread), start
 * (thread), join (after its stop condition) and free.
 */
#ifndef MRLOG_WORKERS_FLUSHER_H
#define MRLOG_WORKERS_FLUSHER_H

#include "base.h"

struct mrlog;
struct mrlog__req;

int mrlog__flusher_init(struct mrlog *log);
int mrlog__flusher_start(struct mrlog *log);
void mrlog__flusher_free(struct mrlog *log);
/* Writer: hands written requests (a list, oldest first) to the flusher.
 * barrier: the list holds a SYNC or STOP request (the flusher then does
 * not look for one). */
void mrlog__flusher_submit(struct mrlog *log, struct mrlog__req *first,
                           struct mrlog__req *last, bool barrier,
                           uint64_t written_lsn, uint64_t unsynced_bytes,
                           uint64_t unsynced_records);
/* Writer, at rotation: fdatasyncs the hot fd, which holds everything
 * written up to end_lsn, as the one sync in flight on it (flusher.c
 * invariant 1).  On success durable_lsn rises to end_lsn; on failure the
 * log has failed before this returns.  0 or a status (also the log's
 * status if it had already failed: then nothing is synced). */
int mrlog__flusher_sync_hot(struct mrlog *log, uint64_t end_lsn);
/* Writer, at rotation: makes fd the file to sync, after waiting out a sync
 * of the old one, and raises durable_lsn to `durable` unless the log has
 * failed.  Returns the old fd for the writer to close. */
int mrlog__flusher_switch_fd(struct mrlog *log, int fd, uint64_t durable);
/* Any thread: queues a request for completion with its status already set
 * (errors found at submit time). */
void mrlog__flusher_early(struct mrlog *log, struct mrlog__req *req);
void mrlog__flusher_join(struct mrlog *log);

/* fdatasync with EINTR retry; counts stats.fsyncs.  0 or a status. */
int mrlog__datasync(struct mrlog *log, int fd);

#endif /* MRLOG_WORKERS_FLUSHER_H */

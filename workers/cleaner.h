/*
 * cleaner.h -- the cleaner thread (workers/cleaner.c): deletes segment
 * files whose records are all truncated once that is durable, and runs
 * the time-driven work of workers/expiry.c.
 */
#ifndef MRLOG_WORKERS_CLEANER_H
#define MRLOG_WORKERS_CLEANER_H

#include "base.h"

struct mrlog;

int mrlog__cleaner_init(struct mrlog *log);
int mrlog__cleaner_start(struct mrlog *log);
void mrlog__cleaner_free(struct mrlog *log);
void mrlog__cleaner_wake(struct mrlog *log);
/* Deletes every deletable segment now; returns how many. */
unsigned mrlog__cleaner_pass(struct mrlog *log);
/* Stops the cleaner after one last pass and joins it. */
void mrlog__cleaner_join(struct mrlog *log);

/* The cleaner's time-driven work (workers/expiry.c): asks the writer to
 * rotate a hot segment older than segment_max_age_ms, and truncates the
 * records older than retention_ms.  Cleaner thread. */
void mrlog__expiry_pass(struct mrlog *log);

#endif /* MRLOG_WORKERS_CLEANER_H */

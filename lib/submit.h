/*
 * submit.h -- requests the library makes itself (lib/submit.c), for the
 * cleaner's time-driven work.
 */
#ifndef MRLOG_SUBMIT_H
#define MRLOG_SUBMIT_H

#include "base.h"

#include <stddef.h>

struct mrlog;

/* A request the library makes itself (the cleaner: retention truncations
 * and rotation by age): no future; never waits.  0 once queued (done runs
 * on completion, like any callback), or a status, and then nothing was
 * queued and done will not run. */
int mrlog__submit_internal(struct mrlog *log, int type, const char *name,
                           size_t name_len, uint64_t position,
                           uint64_t queue_id, mrlog_done_fn done, void *arg);

#endif /* MRLOG_SUBMIT_H */

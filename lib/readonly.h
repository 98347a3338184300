/*
 * readonly.h -- the read-only open (lib/readonly.c): the opener's thread,
 * and then the flusher, the one thread a read-only log runs.
 */
#ifndef MRLOG_READONLY_H
#define MRLOG_READONLY_H

#include "base.h"

struct mrlog;

/* Read-only open (lib/readonly.c).  open_dir opens the directory without
 * making it or locking it and sets up the file layer; skip returns true,
 * after logging that the change described by fmt is not applied, when the
 * log is read-only (false otherwise: the caller makes the change); retry
 * tells whether an open that failed with rc at attempt (from 0) is made
 * again; start starts the flusher, the one thread a read-only log has
 * (mrlog_close hands it the stop sentinel). */
int mrlog__ro_open_dir(struct mrlog *log, const char *dir);
bool mrlog__ro_skip(struct mrlog *log, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
bool mrlog__ro_retry(const mrlog_policy *policy, int rc, int attempt);
int mrlog__ro_start(struct mrlog *log);

#endif /* MRLOG_READONLY_H */

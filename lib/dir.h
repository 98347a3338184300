/*
 * dir.h -- the log's directory at open (lib/dir.c): creating it, opening
 * it through the file layer and reporting why that failed.  The opener's
 * thread only.
 */
#ifndef MRLOG_DIR_H
#define MRLOG_DIR_H

#include "base.h"

struct mrlog;

/* The status for an errno met while opening (dir.c invariant 2). */
int mrlog__dir_status(int err);
/* Reports "call path: strerror(err)" through log_fn; returns the status. */
int mrlog__dir_fail(struct mrlog *log, const char *call, const char *path,
                    int err);
/* Reports "mrlog_open dir: what: message (NAME)" through log_fn. */
void mrlog__open_report(struct mrlog *log, const char *dir, const char *what,
                        int status);
/* Creates the log's directory (with policy.create_parents, its missing
 * parents too) and makes each new entry durable; 0 if it exists. */
int mrlog__dir_create(struct mrlog *log, const char *dir);
/* Opens a directory by path through the seam; -1 and errno on failure. */
int mrlog__dir_open(struct mrlog *log, const char *path);

#endif /* MRLOG_DIR_H */

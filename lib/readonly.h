/*
 * readonly.h -- the read-only open (lib/readonly.c): the opener's thread,
 * and then the flusher, the one thread a read-only log runs.
 */
#ifndef MRLOG_READONLY_H
#define MRLOG_READONLY_H

#include "base.h"

struct mrlog;

/* The attempts of one read-only open (readonly.c invariant 4). */
struct mrlog__ro_tries {
  int failures;       /* failed attempts that met an unchanged directory */
  int races;          /* failed attempts that met a changed one */
  uint64_t listing;   /* the segments' names and sizes when last looked */
};

/* Read-only open (lib/readonly.c).  open_dir opens the directory without
 * making it or locking it and sets up the file layer; skip returns true,
 * after logging that the change described by fmt is not applied, when the
 * log is read-only (false otherwise: the caller makes the change);
 * tries_init starts *t before the first attempt, and retry tells whether
 * an open of dir that failed with rc is made again; start starts the
 * flusher, the one thread a read-only log has (mrlog_close hands it the
 * stop sentinel). */
int mrlog__ro_open_dir(struct mrlog *log, const char *dir);
bool mrlog__ro_skip(struct mrlog *log, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void mrlog__ro_tries_init(struct mrlog__ro_tries *t,
                          const mrlog_policy *policy, const char *dir);
bool mrlog__ro_retry(struct mrlog__ro_tries *t, const mrlog_policy *policy,
                     const char *dir, int rc);
int mrlog__ro_start(struct mrlog *log);

#endif /* MRLOG_READONLY_H */

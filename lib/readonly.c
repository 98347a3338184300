/*
 * readonly.c -- the read-only open (policy.read_only): a log opened to be
 * looked at, which changes nothing in its directory.
 *
 * Invariants:
 *  1. Nothing in the directory changes.  The directory is opened, never
 *     made (a missing one is MRLOG_ENOENT); the LOCK file is neither made
 *     nor locked; no file is opened for writing, written, cut, renamed,
 *     removed or synced.  What recovery decides to change on disk (cut a
 *     torn tail, set a segment aside, sync the newest segment, seal it)
 *     is reported through log_fn (MRLOG_LOG_INFO, "not applied") and
 *     applied in memory only (mrlog__ro_skip): records past a cut are not
 *     in the view, and a segment that would be set aside is not read.
 *  2. No lock is taken, so a read-only open neither waits for nor blocks
 *     anyone: a writer may open the directory while read-only opens are
 *     live, and a read-only open succeeds beside a running writer.
 *  3. Recovery reads each segment into a buffer, never through a mapping
 *     (the file layer is the caller's with map removed): without the lock
 *     a writer's open may cut a file, and a page of a mapping past the new
 *     end would raise SIGBUS when read.
 *  4. Beside a running writer the view is a consistent prefix of the log:
 *     each file is read as it is at that moment, and a frame the writer
 *     has not finished writing ends the view like a torn tail (nothing is
 *     cut).  Two races with that writer look like damage: its cleaner may
 *     remove a segment between the listing and the read (ENOENT, so
 *     MRLOG_EIO), and a
 *     frame may be read before the writer wrote it while a later frame
 *     that witnesses it is read after (ECORRUPT).  An open that fails so
 *     is made again from the start.  An attempt that failed while the
 *     directory changed (a segment came or went, or changed size: the
 *     listing of names and sizes differs from the one before the attempt)
 *     met a writer, and up to RO_RACES of those are made again; failures
 *     in an unchanged directory are real damage unless a retry clears
 *     them, and end the open after RO_ATTEMPTS of them.  (A loaded
 *     machine can deschedule an attempt for longer than the writer takes
 *     to rotate and clean a segment, many times in a row.)
 *  5. No writer and no cleaner thread run.  The flusher runs alone, only
 *     to complete mutating calls, which fail at submit (submit.c) with
 *     MRLOG_EINVAL and complete on it (THE COMPLETION RULE); close (log.c)
 *     hands the stop sentinel straight to it.
 */
#include "internal.h"
#include "dir.h"
#include "flusher.h"
#include "readonly.h"
#include "segment.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Failed attempts of a read-only open in an unchanged directory, and in a
 * changing one (invariant 4). */
#define RO_ATTEMPTS 8
#define RO_RACES 1000

int
mrlog__ro_open_dir(struct mrlog *log, const char *dir)
{
  log->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (log->dir_fd < 0) /* named with the OS error; ENOENT: MRLOG_ENOENT */
    return mrlog__dir_fail(log, "open", dir, errno);
  /* Invariant 3. */
  log->ro_io = *log->io;
  log->ro_io.map = NULL;
  log->ro_io.unmap = NULL;
  log->io = &log->ro_io;
  return 0;
}

bool
mrlog__ro_skip(struct mrlog *log, const char *fmt, ...)
{
  char what[256];
  va_list ap;

  if (!log->policy.read_only)
    return false;
  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  mrlog__logf(log, MRLOG_LOG_INFO, "read-only open: %s: not applied", what);
  return true;
}

/* A hash of the segments' names and sizes in dir, 0 if it cannot be
 * read (invariant 4).  Reads the directory and stats; changes nothing. */
static uint64_t
listing(const char *dir)
{
  uint64_t h = 1469598103934665603ULL, *segnos;
  char name[MRLOG_SEGMENT_NAME_LEN + 1];
  size_t n, i;
  struct stat st;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd < 0)
    return 0;
  if (mrlog__segment_list(fd, &segnos, &n) != 0) {
    close(fd);
    return 0;
  }
  for (i = 0; i < n; i++) {
    mrlog__segment_name(name, segnos[i]);
    h = (h ^ segnos[i]) * 1099511628211ULL;
    if (fstatat(fd, name, &st, 0) == 0)
      h = (h ^ (uint64_t)st.st_size) * 1099511628211ULL;
  }
  free(segnos);
  close(fd);
  return h;
}

void
mrlog__ro_tries_init(struct mrlog__ro_tries *t, const mrlog_policy *policy,
                     const char *dir)
{
  t->failures = 0;
  t->races = 0;
  t->listing = policy != NULL && policy->read_only ? listing(dir) : 0;
}

bool
mrlog__ro_retry(struct mrlog__ro_tries *t, const mrlog_policy *policy,
                const char *dir, int rc)
{
  uint64_t now;

  if (policy == NULL || !policy->read_only)
    return false;
  /* A segment removed under us reads as MRLOG_EIO (ENOENT). */
  if (rc != MRLOG_ECORRUPT && rc != MRLOG_EIO)
    return false;
  now = listing(dir);
  if (now != t->listing) {
    t->listing = now;
    if (++t->races >= RO_RACES)
      return false;
  } else if (++t->failures >= RO_ATTEMPTS) {
    return false;
  }
  /* Let the writer finish what it was writing. */
  sched_yield();
  return true;
}

int
mrlog__ro_start(struct mrlog *log)
{
  int rc = mrlog__flusher_init(log);

  if (rc == 0)
    rc = mrlog__flusher_start(log);
  return rc;
}

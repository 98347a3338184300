/*
 * cleaner.c -- the cleaner thread: deletes segment files whose records
 * are all truncated, once that truncation is durable.
 *
 * DESIGN
 *   Messages: wake-ups (from the writer after a rotation, from the flusher
 *   after a sync) and its own timer (cleaner_interval_ms).  Stops on its
 *   stop flag after one last pass.  Before each pass it also does the
 *   time-driven work of workers/expiry.c (rotation by age, retention).
 *   Owns: the unlinking of segment files and the removal of their
 *   entries from the segment list.
 *   Rule: a segment is deleted when it is not the hot one, it holds no
 *   retained record (live == 0), and the frame that emptied it is durable
 *   (emptied_lsn <= durable_lsn).  Its queue metadata is restated by the
 *   checkpoint at the head of the next segment, which was synced before
 *   anything was written after it, so deleting it loses nothing.
 *   Completion: the directory is fsynced after each pass that deleted;
 *   a failed directory fsync fails the log (segment.c mrlog__fsync_dir).
 *
 * Invariants:
 *  1. Only this thread (or open/close, with no thread running) removes
 *     entries from the segment list; the writer only appends.
 *  2. A segment shown with live == 0 and not hot never gains records
 *     again, so the decision cannot be invalidated after it is made.
 */
#include "internal.h"
#include "cleaner.h"
#include "future.h"
#include "quota.h"
#include "segment.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct mrlog__cleaner {
  pthread_t thread;
  bool started;
  pthread_mutex_t mutex; /* guards wake and stop */
  pthread_cond_t cond;   /* CLOCK_MONOTONIC */
  bool wake;             /* a pass was asked for */
  bool stop;             /* close asked the thread to end */
};

int
mrlog__cleaner_init(struct mrlog *log)
{
  struct mrlog__cleaner *c = calloc(1, sizeof(*c));
  pthread_condattr_t attr;

  if (c == NULL)
    return MRLOG_ENOMEM;
  pthread_mutex_init(&c->mutex, NULL);
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&c->cond, &attr);
  pthread_condattr_destroy(&attr);
  log->cleaner = c;
  return 0;
}

void
mrlog__cleaner_free(struct mrlog *log)
{
  struct mrlog__cleaner *c = log->cleaner;

  if (c == NULL)
    return;
  pthread_mutex_destroy(&c->mutex);
  pthread_cond_destroy(&c->cond);
  free(c);
  log->cleaner = NULL;
}

void
mrlog__cleaner_wake(struct mrlog *log)
{
  struct mrlog__cleaner *c = log->cleaner;

  if (c == NULL)
    return;
  pthread_mutex_lock(&c->mutex);
  c->wake = true;
  pthread_cond_signal(&c->cond);
  pthread_mutex_unlock(&c->mutex);
}

unsigned
mrlog__cleaner_pass(struct mrlog *log)
{
  uint64_t durable = atomic_load_explicit(&log->durable_lsn,
                                          memory_order_acquire);
  struct mrlog__segment **pp, *s, *doomed = NULL;
  char name[MRLOG_SEGMENT_NAME_LEN + 1];
  unsigned deleted = 0;
  bool waiting = false;

  atomic_store_explicit(&log->cleaner_due, 0, memory_order_relaxed);
  pthread_mutex_lock(&log->seg_mutex);
  for (pp = &log->segs; (s = *pp) != NULL;) {
    /* live first (acquire), then emptied_lsn: see segment.c inv. 3. */
    if (!s->pinned && !atomic_load_explicit(&s->hot, memory_order_acquire) &&
        atomic_load_explicit(&s->live, memory_order_acquire) == 0) {
      if (atomic_load_explicit(&s->emptied_lsn, memory_order_relaxed) <=
          durable) {
        *pp = s->next;
        s->next = doomed;
        doomed = s;
        continue;
      }
      waiting = true; /* deletable once a sync covers emptied_lsn */
    }
    pp = &s->next;
  }
  pthread_mutex_unlock(&log->seg_mutex);
  if (waiting)
    atomic_store_explicit(&log->cleaner_due, 1, memory_order_release);

  while ((s = doomed) != NULL) {
    doomed = s->next;
    mrlog__segment_name(name, s->segno);
    if (log->io->unlinkat(log->io->ctx, log->dir_fd, name) != 0 &&
        errno != ENOENT) {
      mrlog__logf(log, MRLOG_LOG_WARN, "deleting segment %s: %s", name,
                  strerror(errno));
      mrlog__segment_add(log, s); /* try again next pass */
      continue;
    }
    mrlog__logf(log, MRLOG_LOG_INFO, "deleted segment %s", name);
    free(s);
    deleted++;
  }
  if (deleted > 0) {
    atomic_fetch_add_explicit(&log->stat_segments_deleted, deleted,
                              memory_order_relaxed);
    /* A failure fails the log (segment.c): the fsync that failed may
     * have taken the error of a new segment's entry. */
    (void)mrlog__fsync_dir(log);
    mrlog__quota_disk_freed(log); /* room for appends disk_limit holds */
  }
  return deleted;
}

static void *
cleaner_main(void *arg)
{
  struct mrlog *log = arg;
  struct mrlog__cleaner *c = log->cleaner;
  unsigned interval = log->policy.cleaner_interval_ms;
  struct timespec ts;
  bool stop;

  mrlog__mark_library_thread("mrlog-cleaner");
  for (;;) {
    pthread_mutex_lock(&c->mutex);
    mrlog__deadline_ms(&ts, interval);
    while (!c->wake && !c->stop) {
      if (pthread_cond_timedwait(&c->cond, &c->mutex, &ts) == ETIMEDOUT)
        break;
    }
    c->wake = false;
    stop = c->stop;
    pthread_mutex_unlock(&c->mutex);
    if (!stop)
      mrlog__expiry_pass(log); /* rotation by age, retention */
    mrlog__cleaner_pass(log);
    if (stop)
      break;
  }
  return NULL;
}

int
mrlog__cleaner_start(struct mrlog *log)
{
  if (pthread_create(&log->cleaner->thread, NULL, cleaner_main, log) != 0)
    return MRLOG_ENOMEM;
  log->cleaner->started = true;
  return 0;
}

void
mrlog__cleaner_join(struct mrlog *log)
{
  struct mrlog__cleaner *c = log->cleaner;

  if (c == NULL || !c->started)
    return;
  pthread_mutex_lock(&c->mutex);
  c->stop = true;
  pthread_cond_signal(&c->cond);
  pthread_mutex_unlock(&c->mutex);
  pthread_join(c->thread, NULL);
  c->started = false;
}

/*
 * log.c -- mrlog_open, mrlog_close, and the helpers every
 * file shares (failure, diagnostics, memory release, detached threads).
 *
 * Open order: directory and lock, recovery (no thread yet), a fresh hot
 * segment carrying a checkpoint, then the flusher, the writer and the
 * cleaner.  Close order (the reverse, by sentinel, never by cancel):
 *   1. set `closing`, so new calls complete with MRLOG_ECLOSED, and wake
 *      producers waiting for memory;
 *   2. wait until no producer is between its closing check and its
 *      enqueue (`submitting` == 0): nothing can enter the ring after
 *   3. the stop sentinel, which the writer hands to the flusher after its
 *      last frame; the flusher syncs, completes everything, drains the
 *      early list (callbacks may still call in: they get ECLOSED) and ends;
 *   4. the cleaner makes a last pass and ends; the log's cursors let go
 *      of their chunks (cursor.c invariant 4);
 *   5. in poll mode, the closing thread runs the completions still queued
 *      (lib/completion.c invariant 5); everything is freed.
 * A read-only log (policy.read_only, readonly.c) opens its directory
 * without making or locking it, recovers without changing any file and
 * starts the flusher alone; its close hands the sentinel to the flusher.
 *
 * Invariants:
 *  1. A struct mrlog is never returned to malloc: close frees its parts,
 *     clears `magic` and keeps the struct in a pool that later opens reuse.
 *     So a closed log's handle stays readable memory, and the public calls
 *     check `magic` first (mrlog__log_live): mutations complete with
 *     MRLOG_ECLOSED, the others return MRLOG_EINVAL.  What this does not
 *     catch: a handle whose struct a later mrlog_open has reused (it names
 *     that new log), a pointer that never was a log (only mrlog_close,
 *     which looks it up, refuses it), and calls racing with close.
 *  2. mrlog_close closes only a log it finds in stage.c's registry, and
 *     only once (mrlog__stage_claim_close): a second close, concurrent or
 *     later, and a pointer that is not an open log get MRLOG_EINVAL
 *     without being read.
 *  3. mrlog_open and mrlog_close refuse library threads (MRLOG_EINVAL): a
 *     close there would join the thread it runs on.
 */
#include "internal.h"
#include "cleaner.h"
#include "cursor.h"
#include "dir.h"
#include "flusher.h"
#include "future.h"
#include "memory.h"
#include "policy.h"
#include "prefault.h"
#include "queue.h"
#include "readonly.h"
#include "recovery.h"
#include "req.h"
#include "ring.h"
#include "segment.h"
#include "stage.h"
#include "watch.h"
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

void
mrlog__logf(struct mrlog *log, int level, const char *fmt, ...)
{
  char msg[512];
  va_list ap;

  if (log == NULL || log->policy.log_fn == NULL)
    return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  log->policy.log_fn(log->policy.log_arg, level, msg);
}

/* Wakes producers waiting for memory: memory was released, or the log
 * failed or is closing, which they must see. */
static void
wake_mem_waiters(struct mrlog *log)
{
  pthread_mutex_lock(&log->mem_mutex);
  pthread_cond_broadcast(&log->mem_cond);
  pthread_mutex_unlock(&log->mem_mutex);
}

bool
mrlog__fail_mark(struct mrlog *log, int status)
{
  int expected = 0;

  return atomic_compare_exchange_strong(&log->failed, &expected, status);
}

void
mrlog__fail_report(struct mrlog *log, int status, const char *what, int err)
{
  /* A log that never opened is never called failed (mrlog_open only
   * fails). */
  bool opened = atomic_load_explicit(&log->magic, memory_order_acquire) ==
                MRLOG__LOG_MAGIC;

  if (opened)
    mrlog__logf(log, MRLOG_LOG_ERROR,
                "%s failed (%s%s%s): the log is now read-only", what,
                mrlog_strerror(status), err ? ", " : "",
                err ? strerror(err) : "");
  else
    mrlog__logf(log, MRLOG_LOG_ERROR, "mrlog_open %s: %s: %s%s%s", log->dir,
                what, mrlog_strerror(status), err ? ", " : "",
                err ? strerror(err) : "");
  /* Producers waiting for memory would wait forever now: let them see
   * the failure. */
  wake_mem_waiters(log);
}

void
mrlog__fail(struct mrlog *log, int status, const char *what, int err)
{
  if (mrlog__fail_mark(log, status))
    mrlog__fail_report(log, status, what, err);
}

void
mrlog__mem_release(struct mrlog *log, uint64_t bytes)
{
  if (bytes == 0)
    return;
  atomic_fetch_sub_explicit(&log->mem_reserved, bytes, memory_order_seq_cst);
  /* Pairs with the waiter's increment of mem_waiters before it rechecks
   * mem_reserved under mem_mutex. */
  if (atomic_load_explicit(&log->mem_waiters, memory_order_seq_cst)) {
    wake_mem_waiters(log);
  }
}

void
mrlog__deadline_ms(struct timespec *ts, unsigned ms)
{
  clock_gettime(CLOCK_MONOTONIC, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

struct detached {
  void *(*fn)(void *);
  void *arg;
  const char *name;
};

static void *
detached_main(void *p)
{
  struct detached d = *(struct detached *)p;

  free(p);
  mrlog__mark_library_thread(d.name);
  return d.fn(d.arg);
}

int
mrlog__spawn_detached(const char *name, void *(*fn)(void *), void *arg)
{
  pthread_attr_t attr;
  pthread_t t;
  struct detached *d = malloc(sizeof(*d));
  int rc;

  if (d == NULL)
    return MRLOG_ENOMEM;
  *d = (struct detached){ fn, arg, name };
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  rc = pthread_create(&t, &attr, detached_main, d);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    free(d);
    return MRLOG_ENOMEM;
  }
  return 0;
}

static int
init_sync(struct mrlog *log)
{
  pthread_condattr_t cattr;
  pthread_rwlockattr_t rwattr;

  pthread_condattr_init(&cattr);
  pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
  pthread_mutex_init(&log->wake_mutex, NULL);
  pthread_cond_init(&log->wake_cond, &cattr);
  pthread_cond_init(&log->space_cond, &cattr);
  pthread_mutex_init(&log->mem_mutex, NULL);
  pthread_cond_init(&log->mem_cond, &cattr);
  pthread_condattr_destroy(&cattr);
  pthread_rwlockattr_init(&rwattr);
  /* A steady stream of readers must not starve the writer's apply. */
  pthread_rwlockattr_setkind_np(&rwattr,
                                PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&log->state_lock, &rwattr);
  pthread_rwlockattr_destroy(&rwattr);
  pthread_mutex_init(&log->seg_mutex, NULL);
  pthread_mutex_init(&log->dir_sync_mutex, NULL);
  pthread_mutex_init(&log->producers_mutex, NULL);
  mrlog__poll_init(log);
  mrlog__stage_register(log);
  return 0;
}

/* Invariant 1: closed logs' structs, kept for reuse. */
static pthread_mutex_t log_pool_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct mrlog *log_pool;

/* A zeroed struct mrlog: a pooled one, or a new one; NULL on ENOMEM. */
static struct mrlog *
log_alloc(void)
{
  struct mrlog *log;

  pthread_mutex_lock(&log_pool_mutex);
  log = log_pool;
  if (log != NULL)
    log_pool = log->pool_next;
  pthread_mutex_unlock(&log_pool_mutex);
  if (log == NULL)
    return calloc(1, sizeof(*log));
  memset(log, 0, sizeof(*log));
  return log;
}

static void
destroy(struct mrlog *log)
{
  struct mrlog__segment *s, *sn;
  struct mrlog__queue *q, *qn;
  size_t b;

  atomic_store_explicit(&log->magic, 0, memory_order_relaxed);
  mrlog__cursor_detach_all(log); /* before the queues go (cursor.c) */
  mrlog__stage_free(log);
  mrlog__prefault_stop(log); /* every thread that takes from it is gone */
  mrlog__writer_free(log);
  mrlog__flusher_free(log);
  mrlog__cleaner_free(log);
  mrlog__watch_free(log);
  if (log->index.by_id != NULL) {
    for (b = 0; b < log->index.nbuckets; b++) {
      for (q = log->index.by_id[b]; q != NULL; q = qn) {
        qn = q->by_id_next;
        mrlog__queue_free(log, q, 0);
      }
    }
    mrlog__index_free(&log->index);
  }
  for (s = log->segs; s != NULL; s = sn) {
    sn = s->next;
    free(s);
  }
  mrlog__ring_free(log);
  if (log->lock_fd >= 0)
    close(log->lock_fd); /* releases the flock */
  if (log->dir_fd >= 0)
    close(log->dir_fd);
  pthread_mutex_destroy(&log->wake_mutex);
  pthread_cond_destroy(&log->wake_cond);
  pthread_cond_destroy(&log->space_cond);
  pthread_mutex_destroy(&log->mem_mutex);
  pthread_cond_destroy(&log->mem_cond);
  pthread_rwlock_destroy(&log->state_lock);
  pthread_mutex_destroy(&log->seg_mutex);
  pthread_mutex_destroy(&log->dir_sync_mutex);
  pthread_mutex_destroy(&log->producers_mutex);
  mrlog__poll_free(log);
  free(log->dir);
  log->dir = NULL;
  pthread_mutex_lock(&log_pool_mutex);
  log->pool_next = log_pool;
  log_pool = log;
  pthread_mutex_unlock(&log_pool_mutex);
}

/* "dir/LOCK" in buf, for reports. */
static const char *
lock_path(const struct mrlog *log, char *buf, size_t size)
{
  snprintf(buf, size, "%s/LOCK", log->dir);
  return buf;
}

/* Creates (dir.c) and opens the log's directory and takes its lock.
 * Every failure is reported through log_fn with its path and OS error. */
static int
open_dir(struct mrlog *log, const char *dir)
{
  char path[4096 + 8];
  int rc, err;

  if ((rc = mrlog__dir_create(log, dir)) != 0)
    return rc;
  log->dir_fd = mrlog__dir_open(log, dir);
  if (log->dir_fd < 0)
    return mrlog__dir_fail(log, "open", dir, errno);
  log->lock_fd = openat(log->dir_fd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC,
                        log->policy.file_mode);
  if (log->lock_fd < 0)
    return mrlog__dir_fail(log, "open", lock_path(log, path, sizeof(path)),
                           errno);
  /* flock conflicts between open file descriptions, so a second opener in
   * this process is refused as well as one in another process. */
  if (flock(log->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    err = errno;
    if (err != EWOULDBLOCK)
      return mrlog__dir_fail(log, "flock", lock_path(log, path, sizeof(path)),
                             err);
    mrlog__open_report(log, dir, "LOCK is held by another opener",
                       MRLOG_ELOCKED);
    return MRLOG_ELOCKED;
  }
  return 0;
}

int
mrlog_open(const char *dir, const mrlog_policy *policy, mrlog **out)
{
  return mrlog__open_with_io(dir, policy, &mrlog__posix_io, out);
}

/* One attempt at opening (mrlog__open_with_io has checked the
 * arguments).  A read-only log (readonly.c) opens its directory without
 * making or locking it and runs the flusher alone. */
static int
open_once(const char *dir, const mrlog_policy *policy,
          const struct mrlog__io *io, mrlog **out)
{
  struct mrlog *log;
  bool flusher_up = false, writer_up = false, dir_reported = false;
  int rc;

  log = log_alloc();
  if (log == NULL)
    return MRLOG_ENOMEM;
  log->dir_fd = log->lock_fd = -1;
  log->io = io;
  rc = mrlog__policy_copy(&log->policy, policy);
  init_sync(log);
  if (rc == 0)
    rc = mrlog__policy_normalize(&log->policy);
  log->ring_slots = log->policy.ring_slots;
  log->dir = strdup(dir);
  if (rc == 0 && log->dir == NULL)
    rc = MRLOG_ENOMEM;
  if (rc == 0)
    rc = mrlog__index_init(&log->index, log);
  if (rc == 0)
    rc = mrlog__ring_init(log);
  if (rc == 0)
    rc = mrlog__poll_open(log);
  if (rc == 0) {
    rc = log->policy.read_only ? mrlog__ro_open_dir(log, dir)
                               : open_dir(log, dir);
    dir_reported = rc != 0 && rc != MRLOG_ENOMEM && !log->policy.read_only;
  }
  if (rc == 0)
    rc = mrlog__recover(log);
  if (rc == 0 && log->policy.read_only) {
    if ((rc = mrlog__ro_start(log)) != 0) {
      destroy(log);
      return rc;
    }
    goto opened;
  }
  if (rc == 0)
    rc = mrlog__flusher_init(log);
  if (rc == 0)
    rc = mrlog__cleaner_init(log);
  if (rc == 0)
    rc = mrlog__writer_init(log);
  if (rc == 0)
    rc = mrlog__writer_open_segment(log);
  if (rc == 0)
    mrlog__cleaner_pass(log); /* empty recovered segments go at once */
  if (rc == 0 && (rc = mrlog__flusher_start(log)) == 0) {
    flusher_up = true;
    if ((rc = mrlog__writer_start(log)) == 0) {
      writer_up = true;
      rc = mrlog__cleaner_start(log);
    }
  }
  if (rc != 0) {
    /* Every open failure reaches log_fn; open_dir's say which call. */
    if (!dir_reported)
      mrlog__open_report(log, dir, "cannot open the log", rc);
    /* Stop whatever started through the normal sentinel path. */
    struct mrlog__req *stop = writer_up || flusher_up ? calloc(1, sizeof(*stop))
                                                      : NULL;
    if (stop != NULL) {
      stop->type = MRLOG_REQ_STOP;
      if (writer_up) {
        mrlog__ring_push(log, stop, true);
        mrlog__writer_join(log);
      } else {
        mrlog__flusher_submit(log, stop, stop, true, 0, 0, 0);
      }
      mrlog__flusher_join(log);
    }
    destroy(log);
    return rc;
  }
opened:
  atomic_store_explicit(&log->magic, MRLOG__LOG_MAGIC, memory_order_release);
  *out = log;
  return 0;
}

int
mrlog__open_with_io(const char *dir, const mrlog_policy *policy,
                    const struct mrlog__io *io, mrlog **out)
{
  struct mrlog__ro_tries tries;
  int rc;

  if (out != NULL)
    *out = NULL;
  if (dir == NULL || dir[0] == '\0' || out == NULL ||
      mrlog__on_library_thread()) {
    if (policy != NULL && policy->log_fn != NULL) {
      char msg[256];

      snprintf(msg, sizeof(msg), "mrlog_open %.200s: %s", dir ? dir : "NULL",
               mrlog__on_library_thread() ? "called on a library thread"
                                          : "invalid argument (EINVAL)");
      policy->log_fn(policy->log_arg, MRLOG_LOG_ERROR, msg);
    }
    return MRLOG_EINVAL;
  }
  /* A read-only open that met a running writer's changes is made again
   * (readonly.c invariant 4). */
  mrlog__ro_tries_init(&tries, policy, dir);
  while ((rc = open_once(dir, policy, io, out)) != 0 &&
         mrlog__ro_retry(&tries, policy, dir, rc))
    ;
  return rc;
}

int
mrlog_close(mrlog *log)
{
  struct mrlog__req *stop;
  int status;

  /* Invariants 2 and 3. */
  if (log == NULL || mrlog__on_library_thread() ||
      !mrlog__stage_claim_close(log))
    return MRLOG_EINVAL;
  atomic_store(&log->closing, 1);
  mrlog__poll_close_begin(log);
  wake_mem_waiters(log);
  /* Step 2 (see top): seq_cst pairs with the producers' increment. */
  while (atomic_load(&log->submitting) > 0)
    sched_yield();
  mrlog__watch_close(log); /* watch.c invariant 5 */
  stop = calloc(1, sizeof(*stop));
  while (stop == NULL) {
    sched_yield();
    stop = calloc(1, sizeof(*stop));
  }
  stop->type = MRLOG_REQ_STOP;
  if (log->policy.read_only) {
    /* The flusher is its only thread (readonly.c invariant 5). */
    mrlog__flusher_submit(log, stop, stop, true, 0, 0, 0);
    mrlog__flusher_join(log);
  } else {
    mrlog__ring_push(log, stop, true);
    mrlog__writer_join(log);
    mrlog__flusher_join(log);
    mrlog__writer_seal(log); /* alone now: see writer.c invariant 4 */
    mrlog__cleaner_join(log);
  }
  /* Poll mode: what the flusher queued runs here (completion.c invariant 5). */
  mrlog__poll_drain(log);
  status = atomic_load(&log->failed);
  destroy(log);
  return status;
}

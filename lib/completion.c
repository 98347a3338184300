/*
 * completion.c -- completions on the caller's thread (policy.completion_mode
 * MRLOG_COMPLETE_ON_POLL): mrlog_completion_fd, mrlog_run_completions,
 * and the queue between the flusher and the polling thread.
 *
 * Invariants:
 *  1. The queue is the futures themselves.  Where the flusher would run a
 *     callback (mrlog__req_finish), it stores the callback, its argument,
 *     status and position in the request's future and links the future
 *     through poll_next (its pool link, unused while the future is live).
 *     The request, its memory reservation and its staging batch are
 *     released as in the other mode, so a queued completion holds nothing
 *     but the future the call returned, and nobody waits for the poller to
 *     free memory.  A call whose future could not be allocated gets a
 *     future-sized node of its own (owner NULL), freed once run; only if
 *     that allocation fails too does its callback run on the flusher.
 *  2. Order: entries are queued in the order the flusher completes
 *     requests, and run in queue order, one at a time: a thread runs
 *     callbacks only while it holds the run token (`running`), taken and
 *     given back under `mutex`.  A callback runs after the previous one
 *     returned, whatever thread ran that one; then the future becomes
 *     ready (mrlog__complete), as in the other mode.
 *  3. Level: every change of `pending` happens under `mutex`, and with it
 *     the eventfd's counter: the push that makes pending 1 writes 1 and
 *     the pop that makes it 0 reads the counter back to 0.  So, seen from
 *     outside the lock, the fd is readable exactly while pending > 0: no
 *     entry queued while a run drains is missed (its push comes after the
 *     pop that reset the counter, or before the pop that finds it).
 *  4. A callback runs with no lock held, on a thread that counts as a
 *     library thread for its duration (mrlog__library_scope): there, as on
 *     the flusher, mrlog_close, mrlog_open, mrlog_run_completions and a
 *     wait on a future that is not ready return MRLOG_EINVAL, and a
 *     mutation that would block completes with MRLOG_EFULL.
 *  5. The poller is the thread that last called mrlog_completion_fd or
 *     mrlog_run_completions, or that waited on a future while the log had
 *     none.  mrlog_wait on the poller runs completions while it waits (no
 *     one else would); on another thread it sleeps on the future until the
 *     poller has run it.  mrlog_close makes the closing thread the poller
 *     and drains the queue there after the flusher stopped: no completion
 *     is lost, none runs after close returns.  Callbacks that call in
 *     while it drains complete with MRLOG_ECLOSED through the same queue
 *     (flusher.c mrlog__flusher_early), which it drains until empty.
 */
#include "internal.h"
#include "completion.h"
#include "future.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

static inline uintptr_t
self_id(void)
{
  return (uintptr_t)pthread_self();
}

void
mrlog__poll_init(struct mrlog *log)
{
  struct mrlog__poll *p = &log->poll;
  pthread_condattr_t attr;

  pthread_mutex_init(&p->mutex, NULL);
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&p->cond, &attr);
  pthread_condattr_destroy(&attr);
  p->fd = -1;
  p->first = p->last = NULL;
  p->pending = 0;
  p->running = p->closing = false;
  p->sleepers = 0;
  atomic_store_explicit(&p->poller, 0, memory_order_relaxed);
}

int
mrlog__poll_open(struct mrlog *log)
{
  if (log->policy.completion_mode != MRLOG_COMPLETE_ON_POLL)
    return 0;
  log->poll.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (log->poll.fd < 0)
    return errno == ENOMEM ? MRLOG_ENOMEM : MRLOG_EIO; /* EMFILE, ENFILE */
  return 0;
}

void
mrlog__poll_free(struct mrlog *log)
{
  struct mrlog__poll *p = &log->poll;

  if (p->fd >= 0)
    close(p->fd);
  p->fd = -1;
  pthread_mutex_destroy(&p->mutex);
  pthread_cond_destroy(&p->cond);
}

/* Invariant 3: the counter follows pending.  Caller holds p->mutex. */
static void
signal_level(struct mrlog__poll *p, bool readable)
{
  uint64_t v = 1;
  ssize_t n;

  do
    n = readable ? write(p->fd, &v, sizeof(v)) : read(p->fd, &v, sizeof(v));
  while (n < 0 && errno == EINTR);
  /* Nothing else can fail: the counter is 0 or 1 (EAGAIN on the read
   * means the application read the fd itself, which leaves it at 0). */
}

bool
mrlog__poll_push(struct mrlog *log, mrlog_future *f, mrlog_done_fn done,
                 void *arg, int status, uint64_t position)
{
  struct mrlog__poll *p = &log->poll;

  if (!mrlog__poll_mode(p))
    return false;
  if (f == NULL) {
    if (done == NULL)
      return true; /* nothing to run, nothing to make ready */
    /* Invariant 1: a node of its own. */
    f = aligned_alloc(_Alignof(mrlog_future), sizeof(*f));
    if (f == NULL) {
      /* The rule yields to not losing the call. */
      done(arg, status, position);
      return true;
    }
    memset(f, 0, sizeof(*f));
  }
  f->done = done;
  f->done_arg = arg;
  f->status = status;
  f->position = position;
  f->poll_next = NULL;
  pthread_mutex_lock(&p->mutex);
  if (p->last != NULL)
    p->last->poll_next = f;
  else
    p->first = f;
  p->last = f;
  if (p->pending++ == 0)
    signal_level(p, true);
  if (p->sleepers > 0)
    pthread_cond_broadcast(&p->cond);
  pthread_mutex_unlock(&p->mutex);
  return true;
}

/* Runs one popped entry (invariants 2 and 4).  No lock held. */
static void
run_entry(mrlog_future *f)
{
  mrlog_done_fn done = f->done;
  void *arg = f->done_arg;
  int status = f->status;
  uint64_t position = f->position;
  const char *outer = mrlog__library_scope("mrlog-poll");

  if (f->owner == NULL) {
    done(arg, status, position);
    free(f);
  } else {
    mrlog__complete(f, done, arg, status, position);
  }
  mrlog__library_scope(outer);
}

/*
 * Runs up to max queued completions in order (invariant 2), stopping
 * early once ready(ctx) holds (ready may be NULL).  Caller holds
 * p->mutex, which is released while each callback runs and held again on
 * return.  Returns how many ran.
 */
static unsigned
run_locked(struct mrlog__poll *p, unsigned max, bool (*ready)(void *),
           void *ctx)
{
  mrlog_future *f;
  unsigned n = 0;

  while (p->running)
    pthread_cond_wait(&p->cond, &p->mutex);
  p->running = true;
  while (n < max && p->first != NULL && !(ready != NULL && ready(ctx))) {
    f = p->first;
    p->first = f->poll_next;
    if (p->first == NULL)
      p->last = NULL;
    if (--p->pending == 0)
      signal_level(p, false);
    pthread_mutex_unlock(&p->mutex);
    run_entry(f);
    n++;
    pthread_mutex_lock(&p->mutex);
  }
  p->running = false;
  pthread_cond_broadcast(&p->cond);
  return n;
}

/* Checks a log for the two public calls: live, in poll mode, and not
 * called from a callback (invariant 4). */
static struct mrlog__poll *
poll_of(mrlog *log)
{
  if (!mrlog__log_live(log) || !mrlog__poll_mode(&log->poll) ||
      mrlog__on_library_thread())
    return NULL;
  return &log->poll;
}

int
mrlog_completion_fd(mrlog *log)
{
  struct mrlog__poll *p = poll_of(log);

  if (p == NULL)
    return MRLOG_EINVAL;
  atomic_store_explicit(&p->poller, self_id(), memory_order_relaxed);
  return p->fd;
}

int
mrlog_run_completions(mrlog *log, unsigned max)
{
  struct mrlog__poll *p = poll_of(log);
  unsigned n;

  if (p == NULL)
    return MRLOG_EINVAL;
  if (max > INT_MAX)
    max = INT_MAX;
  atomic_store_explicit(&p->poller, self_id(), memory_order_relaxed);
  pthread_mutex_lock(&p->mutex);
  n = run_locked(p, max, NULL, NULL);
  pthread_mutex_unlock(&p->mutex);
  return (int)n;
}

int
mrlog__poll_wait(struct mrlog *log, const struct timespec *deadline,
                 bool (*ready)(void *ctx), void *ctx)
{
  struct mrlog__poll *p = &log->poll;
  uintptr_t me = self_id(), poller;
  int rc = 0;

  pthread_mutex_lock(&p->mutex);
  if (ready(ctx)) {
    pthread_mutex_unlock(&p->mutex);
    return 0;
  }
  /* Invariant 5: the poller, or a thread taking over a log that has
   * none (never once close has begun: the closing thread is the poller
   * then). */
  poller = atomic_load_explicit(&p->poller, memory_order_relaxed);
  if (poller != me) {
    if (poller != 0 || p->closing) {
      pthread_mutex_unlock(&p->mutex);
      return MRLOG__POLL_NOT_POLLER;
    }
    atomic_store_explicit(&p->poller, me, memory_order_relaxed);
  }
  if (p->first != NULL) {
    run_locked(p, UINT_MAX, ready, ctx);
  } else {
    /* Nothing queued: the future is still with the writer or the
     * flusher, whose push broadcasts. */
    p->sleepers++;
    if (deadline == NULL)
      pthread_cond_wait(&p->cond, &p->mutex);
    else if (pthread_cond_timedwait(&p->cond, &p->mutex, deadline) ==
             ETIMEDOUT)
      rc = MRLOG_ETIMEDOUT;
    p->sleepers--;
    if (p->closing)
      pthread_cond_broadcast(&p->cond); /* mrlog__poll_drain waits */
  }
  pthread_mutex_unlock(&p->mutex);
  return rc;
}

void
mrlog__poll_close_begin(struct mrlog *log)
{
  struct mrlog__poll *p = &log->poll;

  if (!mrlog__poll_mode(p))
    return;
  pthread_mutex_lock(&p->mutex);
  p->closing = true;
  atomic_store_explicit(&p->poller, self_id(), memory_order_relaxed);
  pthread_cond_broadcast(&p->cond);
  pthread_mutex_unlock(&p->mutex);
}

void
mrlog__poll_drain(struct mrlog *log)
{
  struct mrlog__poll *p = &log->poll;

  if (!mrlog__poll_mode(p))
    return;
  pthread_mutex_lock(&p->mutex);
  /* Callbacks may queue more (ECLOSED): run until nothing is left. */
  while (p->first != NULL)
    run_locked(p, UINT_MAX, NULL, NULL);
  /* A poller asleep in mrlog__poll_wait (its future is ready now) must
   * leave before the log is torn down. */
  while (p->sleepers > 0 || p->running) {
    pthread_cond_broadcast(&p->cond);
    pthread_cond_wait(&p->cond, &p->mutex);
  }
  pthread_mutex_unlock(&p->mutex);
}

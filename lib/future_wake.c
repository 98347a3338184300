/*
 * future_wake.c -- deferred wakes of waiters (future.c invariant 6) and
 * the marks that tell a library thread from a caller's.
 *
 * Invariants:
 *  1. Every address queued by mrlog__wake_defer_push is woken exactly
 *     once, by whoever pops it (mrlog__wake_help); wake_mutex guards the
 *     queue and is a leaf: no call is made while it is held, and the
 *     futex wakes happen after it is released.
 *  2. defer_wakes and library_thread_name are thread-locals: each thread
 *     sets and reads only its own.
 */
#include "base.h"
#include "future.h"
#include "futex.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

/* The wake queue (future.c invariant 6): a FIFO ring of state-word addresses, so
 * the waiters woken first are those completed first.  Process-wide, since
 * a future does not know its log; wake_mutex guards every field. */
#define WAKE_QUEUE_CAP 1024u
static pthread_mutex_t wake_mutex = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint *wake_queue[WAKE_QUEUE_CAP];
static unsigned wake_head;             /* next to pop */
static unsigned wake_count;            /* queued */
/* wake_count as of the last change, read without the lock to skip an
 * empty queue (a stale zero only leaves the pop to the deferring thread's
 * drain). */
static atomic_uint wake_queued;
static MRLOG_TLS bool defer_wakes;  /* this thread defers (flusher) */

static MRLOG_TLS const char *library_thread_name;

void
mrlog__wake_defer(bool on)
{
  defer_wakes = on;
}

bool
mrlog__wake_defer_push(atomic_uint *word)
{
  bool ok;

  if (!defer_wakes)
    return false;
  pthread_mutex_lock(&wake_mutex);
  ok = wake_count < WAKE_QUEUE_CAP;
  if (ok) {
    wake_queue[(wake_head + wake_count) % WAKE_QUEUE_CAP] = word;
    wake_count++;
    atomic_store_explicit(&wake_queued, wake_count, memory_order_relaxed);
  }
  pthread_mutex_unlock(&wake_mutex);
  return ok;
}

void
mrlog__wake_help(unsigned n)
{
  atomic_uint *words[MRLOG__WAKE_FANOUT];
  unsigned k, got;

  while (n > 0 &&
         atomic_load_explicit(&wake_queued, memory_order_relaxed) > 0) {
    pthread_mutex_lock(&wake_mutex);
    got = wake_count < MRLOG__WAKE_FANOUT ? wake_count : MRLOG__WAKE_FANOUT;
    if (got > n)
      got = n;
    for (k = 0; k < got; k++) {
      words[k] = wake_queue[wake_head];
      wake_head = (wake_head + 1) % WAKE_QUEUE_CAP;
    }
    wake_count -= got;
    atomic_store_explicit(&wake_queued, wake_count, memory_order_relaxed);
    pthread_mutex_unlock(&wake_mutex);
    if (got == 0)
      return;
    /* No lock held: a wake is a system call. */
    for (k = 0; k < got; k++)
      mrlog__futex_wake(words[k], INT_MAX);
    n -= got;
  }
}

bool
mrlog__on_library_thread(void)
{
  return library_thread_name != NULL;
}

bool
mrlog_on_library_thread(void)
{
  return library_thread_name != NULL;
}

const char *
mrlog__library_scope(const char *name)
{
  const char *outer = library_thread_name;

  library_thread_name = name;
  return outer;
}

void
mrlog__mark_library_thread(const char *name)
{
  library_thread_name = name;
  pthread_setname_np(pthread_self(), name);
}

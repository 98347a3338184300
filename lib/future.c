/*
 * future.c -- futures and the completion rule.
 *
 * Invariants:
 *  1. A future's state word only gains bits: WAITING (a waiter may sleep),
 *     FORGOTTEN (the owner gave it up), DONE (the callback returned and
 *     status/position are final).  Each bit is set by an atomic fetch_or,
 *     so exactly one party sees the second of {DONE, FORGOTTEN} arrive and
 *     frees the future.
 *  2. The completer touches the future only before its fetch_or(DONE);
 *     afterwards the owner may free it at any moment.  Waking a sleeper
 *     is a futex wake on the state word's address, which reads no memory,
 *     and pooled futures are never unmapped: futures outlive their log, and
 *     a stray wake of a reused future only makes its waiter look again.
 *  3. A waiter sets WAITING (fetch_or), then sleeps in FUTEX_WAIT only
 *     while the word still equals what it last read (no DONE); the
 *     completer's fetch_or(DONE) either comes first (the waiter sees DONE,
 *     or its FUTEX_WAIT fails on the changed word) or returns WAITING and
 *     wakes the word, so no wake-up is lost.
 *  4. Library threads never sleep on a future (that could be the future
 *     only they would complete): mrlog_wait returns MRLOG_EFULL there.
 *  5. Futures are pooled per thread and never returned to malloc, so
 *     mrlog_append allocates nothing in steady state; "freed" below means
 *     returned to the pool of the thread that allocated it.
 *  6. Wakes may be deferred.  On a thread that enabled it (the flusher),
 *     a completer that finds WAITING queues the state word's address in
 *     the wake queue instead of waking it.  Every queued address is woken
 *     exactly once, by whoever pops it: a waiter that was just woken pops
 *     and wakes WAKE_FANOUT more before it returns (so a group commit's
 *     wakes spread over the woken threads, in a tree, instead of being a
 *     serial loop on the flusher while the next sync waits), and the
 *     deferring thread pops WAKE_FANOUT after each list and drains the
 *     queue before it sleeps or exits and after each sync.  A queued wake
 *     may thus land on a future that was since reused: harmless, as for
 *     any wake (invariant 2).  When the queue is full the completer wakes
 *     at once.
 */
#include "internal.h"
#include "futex.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define FUTURE_DONE 1u
#define FUTURE_FORGOTTEN 2u
#define FUTURE_WAITING 4u
#define FUTURE_SLAB 64 /* futures per allocation (4 KiB) */

static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

/* The wake queue (invariant 6): a FIFO ring of state-word addresses, so
 * the waiters woken first are those completed first.  Process-wide, since
 * a future does not know its log; wake_mutex guards every field. */
#define WAKE_QUEUE_CAP 1024u
#define WAKE_FANOUT 2u
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

/*
 * The future pool (invariant 5).  A cache belongs to one thread at a time;
 * futures it allocated come back to it from any thread through `returned`
 * (a lock-free stack many threads push onto and only the owner empties,
 * by exchange, so there is no ABA).  Caches are never freed: a thread that
 * exits leaves its cache for the next new thread to adopt, so a future
 * freed late always has a live cache to go back to.
 */
struct future_cache {
  mrlog_future *local;                 /* owner thread only */
  _Atomic(mrlog_future *) returned;    /* any thread pushes */
  atomic_bool adoptable;               /* its thread has exited */
  struct future_cache *next;           /* caches; caches_mutex */
};

static pthread_mutex_t caches_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct future_cache *caches;
static pthread_key_t cache_key;
static MRLOG_TLS struct future_cache *my_cache;

static void
cache_release(void *cache)
{
  atomic_store_explicit(&((struct future_cache *)cache)->adoptable, true,
                        memory_order_release);
}

static void
pool_init(void)
{
  pthread_key_create(&cache_key, cache_release);
}

/* The calling thread's cache, adopted or made on first use; NULL on
 * ENOMEM. */
static struct future_cache *
cache_get(void)
{
  struct future_cache *c;

  if (my_cache != NULL)
    return my_cache;
  pthread_mutex_lock(&caches_mutex);
  for (c = caches; c != NULL; c = c->next) {
    bool expected = true;
    if (atomic_compare_exchange_strong(&c->adoptable, &expected, false))
      break;
  }
  if (c == NULL && (c = calloc(1, sizeof(*c))) != NULL) {
    atomic_init(&c->returned, NULL);
    atomic_init(&c->adoptable, false);
    c->next = caches;
    caches = c;
  }
  pthread_mutex_unlock(&caches_mutex);
  if (c != NULL) {
    pthread_setspecific(cache_key, c);
    my_cache = c;
  }
  return c;
}

/* Returns f to the cache that allocated it (any thread). */
static void
future_free(mrlog_future *f)
{
  struct future_cache *c = f->owner;
  mrlog_future *head = atomic_load_explicit(&c->returned, memory_order_relaxed);

  do
    f->pool_next = head;
  while (!atomic_compare_exchange_weak_explicit(
      &c->returned, &head, f, memory_order_release, memory_order_relaxed));
}

/* A new slab of FUTURE_SLAB futures for cache c, whose local list is
 * empty: returns one, the rest become c->local.  One future per cache
 * line (the struct is aligned to 64): 32-byte futures shared lines, and
 * the flusher completing and freeing one made the owner's next atomic on
 * its neighbour miss (perf of W1: mrlog_forget's one fetch_or was 11% of
 * all samples, 2% once apart).  Slabs are never freed (invariant 5). */
static mrlog_future *
future_slab(struct future_cache *c)
{
  mrlog_future *slab = aligned_alloc(_Alignof(mrlog_future),
                                     FUTURE_SLAB * sizeof(mrlog_future));
  size_t i;

  _Static_assert(sizeof(mrlog_future) == 64, "one future per cache line");
  _Static_assert(FUTURE_SLAB >= 2, "a slab refills the pool");
  if (slab == NULL)
    return NULL;
  for (i = 0; i < FUTURE_SLAB; i++) {
    slab[i].owner = c;
    slab[i].pool_next = i + 1 < FUTURE_SLAB ? &slab[i + 1] : NULL;
  }
  c->local = &slab[1];
  return &slab[0];
}

void
mrlog__wake_defer(bool on)
{
  defer_wakes = on;
}

/* Queues word for a deferred wake; false if the queue is full. */
static bool
wake_push(atomic_uint *word)
{
  bool ok;

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
  atomic_uint *words[WAKE_FANOUT];
  unsigned k, got;

  while (n > 0 &&
         atomic_load_explicit(&wake_queued, memory_order_relaxed) > 0) {
    pthread_mutex_lock(&wake_mutex);
    got = wake_count < WAKE_FANOUT ? wake_count : WAKE_FANOUT;
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

void
mrlog__mark_library_thread(const char *name)
{
  library_thread_name = name;
  pthread_setname_np(pthread_self(), name);
}

mrlog_future *
mrlog__future_new(void)
{
  mrlog_future *f;

  struct future_cache *c;

  pthread_once(&pool_once, pool_init);
  c = cache_get();
  if (c == NULL)
    return NULL;
  f = c->local;
  if (f == NULL)
    f = atomic_exchange_explicit(&c->returned, NULL, memory_order_acquire);
  if (f != NULL) {
    c->local = f->pool_next;
    /* The next future's line was last written by the thread that freed
     * it (often the flusher, a moment ago).  Fetching it for writing now
     * overlaps that transfer with this call's work, instead of stalling
     * the next call's first atomic on it. */
    if (c->local != NULL)
      __builtin_prefetch(c->local, 1);
  } else {
    f = future_slab(c);
    if (f == NULL)
      return NULL;
  }
  atomic_init(&f->state, 0);
  f->status = 0;
  f->position = 0;
  return f;
}

void
mrlog__complete(mrlog_future *f, mrlog_done_fn done, void *arg, int status,
                uint64_t position)
{
  unsigned old;

  if (done != NULL)
    done(arg, status, position);
  if (f == NULL)
    return;
  f->status = status;
  f->position = position;
  /* Release: status and position become visible with DONE. */
  old = atomic_fetch_or_explicit(&f->state, FUTURE_DONE, memory_order_acq_rel);
  if (old & FUTURE_FORGOTTEN) {
    future_free(f);
    return;
  }
  /* The owner may take the result and reuse the future at once: the
   * wake touches only the address (pooled futures are never unmapped), and
   * a waiter on a reused future just rechecks its state. */
  if ((old & FUTURE_WAITING) && !(defer_wakes && wake_push(&f->state)))
    mrlog__futex_wake(&f->state, INT_MAX);
}

static int
take_result(mrlog_future *f, uint64_t *position)
{
  int status = f->status;

  if (position != NULL)
    *position = f->position;
  future_free(f);
  return status;
}

/* Waits until DONE or the deadline (CLOCK_MONOTONIC; NULL: none).  Returns
 * true if DONE. */
static bool
wait_done(mrlog_future *f, const struct timespec *deadline)
{
  unsigned st;
  int spins;

  for (spins = 0; spins < 100; spins++) {
    if (atomic_load_explicit(&f->state, memory_order_acquire) & FUTURE_DONE)
      return true;
  }
  /* Invariant 3: WAITING is set before the last look at DONE; the
   * completer wakes the word if its fetch_or(DONE) saw WAITING. */
  st = atomic_fetch_or_explicit(&f->state, FUTURE_WAITING,
                                memory_order_acq_rel) |
       FUTURE_WAITING;
  while (!(st & FUTURE_DONE)) {
    if (mrlog__futex_wait(&f->state, st, deadline) != 0 &&
        errno == ETIMEDOUT)
      break;
    st = atomic_load_explicit(&f->state, memory_order_acquire);
  }
  /* Woken (or timed out): pass deferred wakes on (invariant 6). */
  mrlog__wake_help(WAKE_FANOUT);
  return (atomic_load_explicit(&f->state, memory_order_acquire) &
          FUTURE_DONE) != 0;
}

int
mrlog_wait(mrlog_future *f, uint64_t *position)
{
  if (f == NULL)
    return MRLOG_EINVAL;
  if (atomic_load_explicit(&f->state, memory_order_acquire) & FUTURE_DONE)
    return take_result(f, position);
  if (mrlog__on_library_thread())
    return MRLOG_EFULL;
  wait_done(f, NULL);
  return take_result(f, position);
}

int
mrlog_wait_timeout(mrlog_future *f, unsigned timeout_ms, uint64_t *position)
{
  struct timespec deadline;

  if (f == NULL)
    return MRLOG_EINVAL;
  if (atomic_load_explicit(&f->state, memory_order_acquire) & FUTURE_DONE)
    return take_result(f, position);
  if (mrlog__on_library_thread())
    return MRLOG_EFULL;
  mrlog__deadline_ms(&deadline, timeout_ms);
  if (!wait_done(f, &deadline))
    return MRLOG_ETIMEDOUT;
  return take_result(f, position);
}

bool
mrlog_ready(const mrlog_future *f)
{
  if (f == NULL)
    return false;
  return (atomic_load_explicit(&((mrlog_future *)f)->state,
                               memory_order_acquire) &
          FUTURE_DONE) != 0;
}

void
mrlog_forget(mrlog_future *f)
{
  unsigned old;

  if (f == NULL)
    return;
  old = atomic_fetch_or_explicit(&f->state, FUTURE_FORGOTTEN,
                                 memory_order_acq_rel);
  if (old & FUTURE_DONE)
    future_free(f);
}

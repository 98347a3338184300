/*
 * future.c -- futures and the completion rule.
 *
 * Invariants:
 *  1. A future's state word is its generation (the high bits) and three
 *     flags: WAITING (a waiter may sleep), FORGOTTEN (the owner gave it
 *     up), DONE (the callback returned and status/position are final).
 *     While a generation lasts its flags only gain bits.  Exactly one party
 *     frees the future, and freeing starts a new generation with no flags
 *     (one atomic write that also claims it): the completer, whose
 *     fetch_or(DONE) finds FORGOTTEN; mrlog_forget, whose CAS finds DONE;
 *     or the waiter whose CAS takes a DONE, unforgotten future.
 *  2. The completer touches the future only before its fetch_or(DONE)
 *     (unless that finds FORGOTTEN: then it is the one that frees it);
 *     afterwards the owner may free it at any moment.  Waking a sleeper
 *     is a futex wake on the state word's address, which reads no memory,
 *     and pooled futures are never unmapped: futures outlive their log, and
 *     a stray wake of a reused future only makes its waiter look again.
 *  3. A waiter sets WAITING (a CAS that expects its generation, not
 *     forgotten), then sleeps in FUTEX_WAIT only while the word still
 *     equals what it last read (no DONE); the completer's fetch_or(DONE)
 *     either comes first (the waiter sees DONE, or its FUTEX_WAIT fails on
 *     the changed word) or returns WAITING and wakes the word, so no
 *     wake-up is lost.  A forget or free that finds WAITING wakes the
 *     word too, so a waiter sees its handle turn stale.
 *  4. Library threads never sleep on a future (that could be the future
 *     only they would complete): mrlog_wait returns MRLOG_EINVAL there.
 *  5. Futures are pooled per thread and never returned to malloc, so
 *     mrlog_append allocates nothing in steady state; "freed" below means
 *     returned to the pool of the thread that allocated it.
 *  6. Wakes may be deferred.  On a thread that enabled it (the flusher),
 *     a completer that finds WAITING queues the state word's address in
 *     the wake queue instead of waking it.  Every queued address is woken
 *     exactly once, by whoever pops it: a waiter that was just woken pops
 *     and wakes MRLOG__WAKE_FANOUT more before it returns (so a group commit's
 *     wakes spread over the woken threads, in a tree, instead of being a
 *     serial loop on the flusher while the next sync waits), and the
 *     deferring thread pops MRLOG__WAKE_FANOUT after each list and drains the
 *     queue before it sleeps or exits and after each sync.  A queued wake
 *     may thus land on a future that was since reused: harmless, as for
 *     any wake (invariant 2).  When the queue is full the completer wakes
 *     at once.  The queue and the library-thread marks live in
 *     future_wake.c.
 *  7. Handles.  The caller never holds a future's address: the public
 *     mrlog_future * is an opaque value made of a magic tag, the future's
 *     index in the process-wide slab table and the generation it was
 *     issued in (mrlog__future_handle).  Every public call decodes it
 *     (future_of), reads the state word (safe: futures are never unmapped,
 *     invariant 5) and acts only if the generation still matches, with
 *     CAS, so a handle that was waited, forgotten and freed, or whose
 *     future now serves a newer call, gets MRLOG_EINVAL (ready: false;
 *     forget: ignored) and touches nothing.  Generations wrap after
 *     2^HANDLE_GEN_BITS reuses of one future; a handle kept stale that long
 *     could alias a new call.  The completer holds the real address (in
 *     its request), never a handle.
 *  8. Poll mode (lib/completion.c).  A future issued by a log whose
 *     completions are queued for the poller carries that log (poll_log).
 *     Waiting on it when it is not ready: the log's polling thread runs
 *     completions, in queue order, until it is (nobody else would run
 *     them); any other thread sleeps as in invariant 3 until the poller
 *     has run its callback.  poll_log is only read while the future is
 *     not done, and the log is open until every one of its futures is.
 *
 * Append path (docs/DESIGN.md): caller -> submit.c -> stage.c ->
 * admit.c -> ring.c -> writer.c -> writer_frame.c (the file) ->
 * flusher.c -> req.c -> future.c (the callback); in poll mode req.c ->
 * completion.c, whose mrlog_run_completions on the poller calls
 * mrlog__complete.  This file is the last step: mrlog__complete runs the
 * callback and makes the future ready; it calls nothing on the path (a
 * wait on the poller calls back into completion.c to run completions:
 * invariant 8).
 */
#include "base.h"
#include "internal.h"
#include "future.h"
#include "futex.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define FUTURE_DONE 1u
#define FUTURE_FORGOTTEN 2u
#define FUTURE_WAITING 4u
#define FUTURE_FLAGS 7u
#define FUTURE_GEN_SHIFT 3
#define FUTURE_SLAB 64 /* futures per allocation (4 KiB) */

/* Handles (invariant 7).  64-bit: magic 8 bits | index + 1 (27) |
 * generation (29).  32-bit: index + 1 (20) | generation (12).  Index + 1,
 * so no handle is NULL. */
#if UINTPTR_MAX > 0xffffffffu
#define HANDLE_GEN_BITS 29
#define HANDLE_INDEX_BITS 27
#define HANDLE_MAGIC ((uintptr_t)0x6d << 56)
#define HANDLE_MAGIC_MASK ((uintptr_t)0xff << 56)
#else
#define HANDLE_GEN_BITS 12
#define HANDLE_INDEX_BITS 20
#define HANDLE_MAGIC ((uintptr_t)0)
#define HANDLE_MAGIC_MASK ((uintptr_t)0)
#endif
#define HANDLE_GEN_MASK ((1u << HANDLE_GEN_BITS) - 1u)
#define HANDLE_INDEX_MASK ((1u << HANDLE_INDEX_BITS) - 1u)
/* The slab table: SLAB_CHUNK slab addresses per chunk, chunks made on
 * demand (caches_mutex), never freed; entries are written once, before
 * slab_count (release) covers them. */
#define SLAB_CHUNK 4096u
#define SLABS_MAX (((size_t)HANDLE_INDEX_MASK) / FUTURE_SLAB)
#define SLAB_CHUNKS ((SLABS_MAX + SLAB_CHUNK - 1) / SLAB_CHUNK)
static _Atomic(mrlog_future **) slab_table[SLAB_CHUNKS];
static atomic_size_t slab_count;

static inline unsigned
gen_of(unsigned state)
{
  return (state >> FUTURE_GEN_SHIFT) & HANDLE_GEN_MASK;
}

/* The state word of a new generation after state's, with no flags. */
static inline unsigned
next_generation(unsigned state)
{
  return ((gen_of(state) + 1u) & HANDLE_GEN_MASK) << FUTURE_GEN_SHIFT;
}

static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

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
  mrlog_future **chunk;
  size_t i, n;

  _Static_assert(sizeof(mrlog_future) == 64, "one future per cache line");
  _Static_assert(FUTURE_SLAB >= 2, "a slab refills the pool");
  if (slab == NULL)
    return NULL;
  /* A number in the slab table (invariant 7), once per slab. */
  pthread_mutex_lock(&caches_mutex);
  n = atomic_load_explicit(&slab_count, memory_order_relaxed);
  chunk = n < SLABS_MAX ? atomic_load_explicit(&slab_table[n / SLAB_CHUNK],
                                               memory_order_relaxed)
                        : NULL;
  if (n < SLABS_MAX && chunk == NULL) {
    chunk = calloc(SLAB_CHUNK, sizeof(*chunk));
    if (chunk != NULL)
      atomic_store_explicit(&slab_table[n / SLAB_CHUNK], chunk,
                            memory_order_release);
  }
  if (chunk == NULL) {
    pthread_mutex_unlock(&caches_mutex);
    free(slab);
    return NULL;
  }
  chunk[n % SLAB_CHUNK] = slab;
  for (i = 0; i < FUTURE_SLAB; i++) {
    atomic_init(&slab[i].state, 0);
    slab[i].index = (uint32_t)(n * FUTURE_SLAB + i);
    slab[i].owner = c;
    slab[i].pool_next = i + 1 < FUTURE_SLAB ? &slab[i + 1] : NULL;
  }
  atomic_store_explicit(&slab_count, n + 1, memory_order_release);
  pthread_mutex_unlock(&caches_mutex);
  c->local = &slab[1];
  return &slab[0];
}

mrlog_future *
mrlog__future_handle(mrlog_future *f)
{
  unsigned st;

  if (f == NULL)
    return NULL;
  /* The generation cannot change before the caller has the handle: only
   * its owner frees a future that is not forgotten. */
  st = atomic_load_explicit(&f->state, memory_order_relaxed);
  return (mrlog_future *)(HANDLE_MAGIC |
                          ((uintptr_t)(f->index + 1u) << HANDLE_GEN_BITS) |
                          (uintptr_t)gen_of(st));
}

/* The future a handle names and the generation it was issued in; NULL if
 * it names none (not a handle, or NULL). */
static inline __attribute__((always_inline)) mrlog_future *
future_of(const mrlog_future *handle, unsigned *gen)
{
  uintptr_t h = (uintptr_t)handle;
  size_t index, slab;
  mrlog_future **chunk;

  if (h == 0 || (h & HANDLE_MAGIC_MASK) != HANDLE_MAGIC)
    return NULL;
  index = (size_t)((h >> HANDLE_GEN_BITS) & HANDLE_INDEX_MASK);
  if (index == 0)
    return NULL;
  index--;
  slab = index / FUTURE_SLAB;
  if (slab >= atomic_load_explicit(&slab_count, memory_order_acquire))
    return NULL;
  chunk = atomic_load_explicit(&slab_table[slab / SLAB_CHUNK],
                               memory_order_acquire);
  *gen = (unsigned)(h & HANDLE_GEN_MASK);
  return &chunk[slab % SLAB_CHUNK][index % FUTURE_SLAB];
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
  /* The state word is left as its last owner freed it: a new generation
   * with no flags (invariant 1).  Not a poll-mode future unless the
   * submitter says so. */
  f->poll_log = NULL;
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
    /* Ours alone now: every other party checks FORGOTTEN or the
     * generation before it writes.  A waiter that was asleep before the
     * forget (a misuse: another thread's wait) must see the generation
     * move on, so it is woken. */
    atomic_store_explicit(&f->state, next_generation(old),
                          memory_order_release);
    if (old & FUTURE_WAITING)
      mrlog__futex_wake(&f->state, INT_MAX);
    future_free(f);
    return;
  }
  /* The owner may take the result and reuse the future at once: the
   * wake touches only the address (pooled futures are never unmapped), and
   * a waiter on a reused future just rechecks its state. */
  if ((old & FUTURE_WAITING) && !mrlog__wake_defer_push(&f->state))
    mrlog__futex_wake(&f->state, INT_MAX);
}

/* Claims a DONE future of generation gen that was not forgotten and
 * takes its result: 0 and the status in *status, or MRLOG_EINVAL if the
 * handle is stale (another party claimed or forgot it first). */
static int
take_result(mrlog_future *f, unsigned gen, uint64_t *position, int *status)
{
  unsigned st = atomic_load_explicit(&f->state, memory_order_acquire);

  for (;;) {
    if (gen_of(st) != gen || (st & FUTURE_FORGOTTEN))
      return MRLOG_EINVAL;
    /* The caller saw DONE in this generation, and flags only gain bits. */
    if (atomic_compare_exchange_weak_explicit(&f->state, &st,
                                              next_generation(st),
                                              memory_order_acq_rel,
                                              memory_order_acquire))
      break;
  }
  *status = f->status;
  if (position != NULL)
    *position = f->position;
  future_free(f);
  return 0;
}

/* The state word if the handle's generation is live and not forgotten,
 * else 0 with *stale set. */
static unsigned
live_state(mrlog_future *f, unsigned gen, bool *stale)
{
  unsigned st = atomic_load_explicit(&f->state, memory_order_acquire);

  *stale = gen_of(st) != gen || (st & FUTURE_FORGOTTEN);
  return *stale ? 0 : st;
}

/* Waits until DONE or the deadline (CLOCK_MONOTONIC; NULL: none), or
 * until the handle turns stale.  Returns 0 if DONE, MRLOG_ETIMEDOUT or
 * MRLOG_EINVAL (stale). */
static int
wait_done(mrlog_future *f, unsigned gen, const struct timespec *deadline)
{
  unsigned st = 0;
  bool stale = false;
  int spins, rc = 0;

  for (spins = 0; spins < 100; spins++) {
    st = live_state(f, gen, &stale);
    if (stale)
      return MRLOG_EINVAL;
    if (st & FUTURE_DONE)
      return 0;
  }
  /* Invariant 3: WAITING is set before the last look at DONE; the
   * completer wakes the word if its fetch_or(DONE) saw WAITING.  A CAS,
   * so a stale waiter never marks a newer generation. */
  while (!(st & (FUTURE_DONE | FUTURE_WAITING))) {
    if (atomic_compare_exchange_weak_explicit(&f->state, &st,
                                              st | FUTURE_WAITING,
                                              memory_order_acq_rel,
                                              memory_order_acquire)) {
      st |= FUTURE_WAITING;
      break;
    }
    if (gen_of(st) != gen || (st & FUTURE_FORGOTTEN))
      return MRLOG_EINVAL;
  }
  while (!(st & FUTURE_DONE)) {
    if (mrlog__futex_wait(&f->state, st, deadline) != 0 &&
        errno == ETIMEDOUT) {
      rc = MRLOG_ETIMEDOUT;
      break;
    }
    st = live_state(f, gen, &stale);
    if (stale) {
      rc = MRLOG_EINVAL;
      break;
    }
  }
  /* Woken (or timed out): pass deferred wakes on (invariant 6). */
  mrlog__wake_help(MRLOG__WAKE_FANOUT);
  if (rc == MRLOG_ETIMEDOUT) {
    /* Done in the meantime after all? */
    st = live_state(f, gen, &stale);
    if (stale)
      return MRLOG_EINVAL;
    if (st & FUTURE_DONE)
      return 0;
  }
  return rc;
}

struct poll_wait {
  mrlog_future *f;
  unsigned gen;
};

/* Whether a poll-mode future waited on is done (or its handle stale). */
static bool
poll_ready(void *ctx)
{
  struct poll_wait *w = ctx;
  bool stale;
  unsigned st = live_state(w->f, w->gen, &stale);

  return stale || (st & FUTURE_DONE) != 0;
}

/* wait_done for a future of a poll-mode log (invariant 8): the poller
 * runs completions until it is done; another thread sleeps on it. */
static int
wait_polled(mrlog_future *f, unsigned gen, const struct timespec *deadline)
{
  struct poll_wait w = { f, gen };
  struct mrlog *log = f->poll_log;
  unsigned st;
  bool stale;
  int rc;

  for (;;) {
    st = live_state(f, gen, &stale);
    if (stale)
      return MRLOG_EINVAL;
    if (st & FUTURE_DONE)
      return 0;
    rc = mrlog__poll_wait(log, deadline, poll_ready, &w);
    if (rc == MRLOG__POLL_NOT_POLLER)
      return wait_done(f, gen, deadline);
    if (rc == MRLOG_ETIMEDOUT) {
      st = live_state(f, gen, &stale);
      if (stale)
        return MRLOG_EINVAL;
      return (st & FUTURE_DONE) ? 0 : MRLOG_ETIMEDOUT;
    }
  }
}

/* mrlog_wait and mrlog_wait_timeout (deadline NULL: no timeout). */
static int
wait_for(mrlog_future *handle, const unsigned *timeout_ms, uint64_t *position)
{
  struct timespec deadline;
  mrlog_future *f;
  unsigned gen = 0, st;
  bool stale;
  int rc, status;

  f = future_of(handle, &gen);
  if (f == NULL)
    return MRLOG_EINVAL;
  st = live_state(f, gen, &stale);
  if (stale)
    return MRLOG_EINVAL;
  if (!(st & FUTURE_DONE)) {
    /* Invariant 4. */
    if (mrlog__on_library_thread())
      return MRLOG_EINVAL;
    if (timeout_ms != NULL)
      mrlog__deadline_ms(&deadline, *timeout_ms);
    if (f->poll_log != NULL)
      rc = wait_polled(f, gen, timeout_ms != NULL ? &deadline : NULL);
    else
      rc = wait_done(f, gen, timeout_ms != NULL ? &deadline : NULL);
    if (rc != 0)
      return rc;
  }
  rc = take_result(f, gen, position, &status);
  return rc != 0 ? rc : status;
}

int
mrlog_wait(mrlog_future *handle, uint64_t *position)
{
  return wait_for(handle, NULL, position);
}

int
mrlog_wait_timeout(mrlog_future *handle, unsigned timeout_ms,
                   uint64_t *position)
{
  return wait_for(handle, &timeout_ms, position);
}

bool
mrlog_ready(const mrlog_future *handle)
{
  mrlog_future *f;
  unsigned gen = 0, st;
  bool stale;

  f = future_of(handle, &gen);
  if (f == NULL)
    return false;
  st = live_state(f, gen, &stale);
  return !stale && (st & FUTURE_DONE) != 0;
}

void
mrlog_forget(mrlog_future *handle)
{
  mrlog_future *f;
  unsigned gen = 0, st;

  f = future_of(handle, &gen);
  if (f == NULL)
    return;
  st = atomic_load_explicit(&f->state, memory_order_acquire);
  for (;;) {
    if (gen_of(st) != gen || (st & FUTURE_FORGOTTEN))
      return; /* stale, or forgotten already: ignored */
    if (st & FUTURE_DONE) {
      /* Complete: free it now (invariant 1). */
      if (atomic_compare_exchange_weak_explicit(&f->state, &st,
                                                next_generation(st),
                                                memory_order_acq_rel,
                                                memory_order_acquire)) {
        future_free(f);
        return;
      }
    } else if (atomic_compare_exchange_weak_explicit(
                   &f->state, &st, st | FUTURE_FORGOTTEN,
                   memory_order_acq_rel, memory_order_acquire)) {
      /* The completer frees it.  A waiter asleep on it (another thread's
       * wait racing this forget) looks again and gets MRLOG_EINVAL. */
      if (st & FUTURE_WAITING)
        mrlog__futex_wake(&f->state, INT_MAX);
      return;
    }
  }
}

/*
 * stage.c -- per-thread staging of small appends: the fast path that keeps
 * the request ring from carrying one record at a time.
 *
 * DESIGN
 *   Each (log, thread) pair has a producer.  A producer owns at most one
 *   open batch: a block that is already in the ring and that the thread
 *   keeps filling with append entries (each entry a struct mrlog__req with
 *   its lens, name and payload behind it) until the writer pops the batch
 *   and closes it.  So a writer that keeps up sees batches of one entry,
 *   and a busy writer finds whole runs of entries behind one ring slot:
 *   the batch size adapts to the writer's speed with no timer.
 *   Memory: a batch carries a credit reserved against memory_limit when it
 *   is opened; entries consume it; the writer releases what is left when
 *   it closes the batch.  Batches return to their producer's pool once the
 *   flusher has completed their last entry; in steady state appending
 *   allocates nothing and takes no lock.
 *
 * Invariants:
 *  1. state = committed entries | MRLOG__BATCH_CLOSED.  Only the owner thread
 *     adds entries (write the entry, then CAS count -> count + 1, release);
 *     the writer closes with fetch_or (acquire) and processes exactly the
 *     count it got.  An entry whose CAS lost to the close was never part of
 *     the batch; its thread opens a new batch and writes it again.
 *  2. A thread opens a new batch only after its previous one is closed
 *     (by the writer, or by itself: full, or before it pushes any other
 *     request).  Batches enter the ring when opened, so one thread's calls
 *     keep their order.
 *  3. Only the owner thread reads or writes `cur`, `used`, `free_local`
 *     and the data of an open batch; completers (the flusher, or the
 *     thread that settles a refused entry) only push finished batches onto
 *     `returned`, which only the owner empties, by exchange: no ABA.
 *  4. A producer outlives every thread that used it: at thread exit it is
 *     sealed and marked orphaned (under registry_mutex, which close also
 *     takes), and a later thread may adopt it.  Producers and their batches
 *     are freed by close, after the threads are joined.
 *  5. Log ids are never reused, so a thread's cached (id, producer) pair
 *     for a closed log can never match again; stale pairs are checked
 *     against the registry before their producer is touched.
 *  6. A producer with every batch in flight sleeps instead of spinning
 *     (spinning took the CPU the writer needed to catch up): it sets
 *     `waiting`, fences, looks at `returned` once more and sleeps on
 *     `waiting` while it is 1; a recycler pushes onto `returned`, fences,
 *     and if it sees `waiting` clears it and wakes it.  Either the owner
 *     sees the batch or the recycler sees the flag (a Dekker pair).  The
 *     sleep is bounded (10 ms) so a failing or closing log is noticed.
 *
 * Append path (docs/DESIGN.md): caller -> submit.c -> stage.c ->
 * admit.c -> ring.c -> writer.c -> writer_frame.c (the file) ->
 * flusher.c -> req.c -> future.c (the callback).  This file is the
 * producer's side of staging: it fills the thread's open batch and opens
 * new ones through admit.c; the batch's way downstream is batch.c.
 */
#include "base.h"
#include "internal.h"
#include "admit.h"
#include "future.h"
#include "memory.h"
#include "req.h"
#include "stage.h"
#include "futex.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MRLOG__BATCH_CLOSED 0x80000000u
#define MRLOG__BATCH_COUNT_MASK 0x7fffffffu
#define BATCH_DATA_BYTES (64u * 1024u)
#define TLS_SLOTS 4
/* Batches a producer may have in flight before it waits for one to come
 * back (or, if it may not wait, gets MRLOG_EFULL).  A small memory_limit
 * makes batches small (their credit is limit/64), and 16 of them then
 * refused nonblocking appends well before the memory limit
 * (test_nonblocking_memory_limit under TSan): such producers get 64.
 * With full-size credits (memory_limit >= 64 x BATCH_DATA_BYTES, as the
 * default is) 16 batches, 1 MiB, are enough: they ran W1 as fast as 64
 * and hold about 12 MB less of its peak RSS (batches_max). */
#define BATCHES_MAX 64
#define BATCHES_MAX_FULL 16

/* The registry of open logs, for threads exiting after a close, and for
 * mrlog_close, which closes only a log it finds here (once). */
static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct mrlog *registry;    /* linked by registry_next */
static uint64_t registry_next_id = 1;

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
struct tls_slot {
  uint64_t log_id;                /* 0: unused */
  struct mrlog__producer *p;
};
static MRLOG_TLS struct tls_slot tls_slots[TLS_SLOTS];
static MRLOG_TLS unsigned tls_evict;

static bool
log_alive(uint64_t id)
{
  struct mrlog *l;

  for (l = registry; l != NULL; l = l->registry_next)
    if (l->id == id)
      return true;
  return false;
}

/* Closes the producer's open batch (owner thread). */
static void
seal(struct mrlog__producer *p)
{
  if (p->cur != NULL) {
    atomic_fetch_or_explicit(&p->cur->state, MRLOG__BATCH_CLOSED,
                             memory_order_acq_rel);
    p->cur = NULL;
  }
}

/* Gives up slot s: seals and orphans its producer if its log is open. */
static void
release_slot(struct tls_slot *s)
{
  if (s->log_id == 0)
    return;
  pthread_mutex_lock(&registry_mutex);
  if (log_alive(s->log_id)) {
    seal(s->p);
    atomic_store_explicit(&s->p->orphaned, true, memory_order_release);
  }
  pthread_mutex_unlock(&registry_mutex);
  s->log_id = 0;
  s->p = NULL;
}

static void
thread_exit(void *unused)
{
  unsigned i;

  (void)unused;
  for (i = 0; i < TLS_SLOTS; i++)
    release_slot(&tls_slots[i]);
}

static void
tls_init(void)
{
  pthread_key_create(&tls_key, thread_exit);
}

void
mrlog__stage_register(struct mrlog *log)
{
  pthread_mutex_lock(&registry_mutex);
  log->id = registry_next_id++;
  log->registry_next = registry;
  registry = log;
  pthread_mutex_unlock(&registry_mutex);
}

bool
mrlog__stage_claim_close(struct mrlog *log)
{
  struct mrlog *l;
  bool claimed = false;

  pthread_mutex_lock(&registry_mutex);
  for (l = registry; l != NULL; l = l->registry_next) {
    if (l == log) {
      claimed = !l->close_claimed;
      l->close_claimed = true;
      break;
    }
  }
  pthread_mutex_unlock(&registry_mutex);
  return claimed;
}

void
mrlog__stage_free(struct mrlog *log)
{
  struct mrlog **pp;
  struct mrlog__producer *p, *pn;
  struct mrlog__batch *b, *bn;

  pthread_mutex_lock(&registry_mutex);
  for (pp = &registry; *pp != NULL; pp = &(*pp)->registry_next) {
    if (*pp == log) {
      *pp = log->registry_next;
      break;
    }
  }
  pthread_mutex_unlock(&registry_mutex);
  for (p = log->producers; p != NULL; p = pn) {
    pn = p->next;
    for (b = p->all; b != NULL; b = bn) {
      bn = b->all_next;
      free(b);
    }
    free(p);
  }
  log->producers = NULL;
}

/* The calling thread's producer for log; NULL if it has none and create
 * is false (or on ENOMEM). */
static struct mrlog__producer *
producer_of(struct mrlog *log, bool create)
{
  struct mrlog__producer *p;
  struct tls_slot *s;
  unsigned i;

  for (i = 0; i < TLS_SLOTS; i++)
    if (tls_slots[i].log_id == log->id)
      return tls_slots[i].p;
  if (!create)
    return NULL;
  pthread_once(&tls_once, tls_init);
  pthread_setspecific(tls_key, tls_slots); /* any non-NULL value */
  s = NULL;
  for (i = 0; i < TLS_SLOTS && s == NULL; i++)
    if (tls_slots[i].log_id == 0)
      s = &tls_slots[i];
  if (s == NULL) {
    s = &tls_slots[tls_evict++ % TLS_SLOTS];
    release_slot(s);
  }
  /* Adopt an orphan, or make a new producer. */
  pthread_mutex_lock(&log->producers_mutex);
  for (p = log->producers; p != NULL; p = p->next) {
    bool expected = true;
    if (atomic_compare_exchange_strong(&p->orphaned, &expected, false))
      break;
  }
  if (p == NULL && (p = calloc(1, sizeof(*p))) != NULL) {
    p->log = log;
    atomic_init(&p->returned, NULL);
    atomic_init(&p->orphaned, false);
    atomic_init(&p->waiting, 0);
    p->next = log->producers;
    log->producers = p;
  }
  pthread_mutex_unlock(&log->producers_mutex);
  if (p == NULL)
    return NULL;
  s->log_id = log->id;
  s->p = p;
  return p;
}

void
mrlog__stage_seal_mine(struct mrlog *log)
{
  struct mrlog__producer *p = producer_of(log, false);

  if (p != NULL)
    seal(p);
}

/* What a batch's entries may be charged in all: an entry is charged its
 * bytes in the batch and the chunk bytes its records will take
 * (mrlog__append_charge), at most twice its bytes plus 8 per record. */
#define BATCH_CHARGE_MAX (2 * BATCH_DATA_BYTES + BATCH_DATA_BYTES / 8)

/* The credit a new batch asks for: memory_limit / 64, at most what a full
 * batch is charged (the entry being staged may need more: the caller sees
 * to it). */
static uint64_t
batch_credit(const struct mrlog *log)
{
  uint64_t credit = log->policy.memory_limit / 64;

  return credit > BATCH_CHARGE_MAX ? BATCH_CHARGE_MAX : credit;
}

/* How many batches a producer may have: BATCHES_MAX_FULL when every batch
 * carries a full credit, else BATCHES_MAX, so that small credits (a small
 * memory_limit) still let a producer use its share of the limit. */
static unsigned
batches_max(const struct mrlog *log)
{
  _Static_assert(BATCHES_MAX_FULL <= BATCHES_MAX, "a bound, not a floor");
  return batch_credit(log) == BATCH_CHARGE_MAX ? BATCHES_MAX_FULL
                                               : BATCHES_MAX;
}

/* A batch from the pool, or a new one while fewer than batches_max()
 * exist.  Past that a blocking application thread waits for the flusher
 * to return one; anyone else gets MRLOG_EFULL (like a full ring), so the
 * batches of a producer never grow without bound.  NULL: *rc says why. */
static struct mrlog__batch *
batch_get(struct mrlog *log, struct mrlog__producer *p,
          struct mrlog__block *blk, int *rc)
{
  struct mrlog__batch *b = p->free_local;
  unsigned spins = 0;
  int failed;

  while (b == NULL) {
    b = atomic_exchange_explicit(&p->returned, NULL, memory_order_acquire);
    if (b != NULL)
      break;
    if (p->nbatches < batches_max(log)) {
      b = malloc(sizeof(*b) + BATCH_DATA_BYTES);
      if (b == NULL) {
        *rc = MRLOG_ENOMEM;
        return NULL;
      }
      b->owner = p;
      b->pool_next = NULL;
      b->all_next = p->all;
      p->all = b;
      p->nbatches++;
      break;
    }
    failed = atomic_load_explicit(&log->failed, memory_order_relaxed);
    if (log->policy.nonblocking || mrlog__on_library_thread() || failed ||
        atomic_load_explicit(&log->closing, memory_order_relaxed)) {
      *rc = failed ? failed
                   : atomic_load_explicit(&log->closing, memory_order_relaxed)
                         ? MRLOG_ECLOSED
                         : MRLOG_EFULL;
      return NULL;
    }
    /* Every batch is in flight: the writer and flusher are behind, so
     * this is backpressure, like a full ring (invariant 6), and bounded
     * by block_timeout_ms like it. */
    if (++spins < 4) {
      sched_yield();
    } else {
      struct timespec deadline;
      unsigned slice = 10;

      *rc = mrlog__block_check(log, blk, &slice,
                               "its thread's appends are all in flight");
      if (*rc != 0)
        return NULL;
      mrlog__deadline_ms(&deadline, slice);
      atomic_store_explicit(&p->waiting, 1, memory_order_relaxed);
      atomic_thread_fence(memory_order_seq_cst);
      if (atomic_load_explicit(&p->returned, memory_order_relaxed) == NULL)
        mrlog__futex_wait(&p->waiting, 1, &deadline);
      atomic_store_explicit(&p->waiting, 0, memory_order_relaxed);
    }
  }
  if (spins >= 4)
    mrlog__block_end(log, blk);
  p->free_local = b->pool_next;
  memset(&b->head, 0, sizeof(b->head));
  b->head.type = MRLOG_REQ_BATCH;
  atomic_store_explicit(&b->state, 0, memory_order_relaxed);
  b->used = 0;
  b->charged = 0;
  b->completed = 0;
  return b;
}

bool
mrlog__stage_fits(size_t name_len, size_t count, uint64_t payload)
{
  return payload <= BATCH_DATA_BYTES / 4 &&
         mrlog__batch_entry_size(name_len, count, payload) <=
             BATCH_DATA_BYTES / 2;
}

/* Lays out an append entry at e: a request block (mrlog__req_layout)
 * inside the batch. */
static void
entry_write(struct mrlog__req *e, struct mrlog__batch *b, const char *name,
            size_t name_len, uint32_t name_hash, const struct iovec *recs,
            size_t count, uint64_t total, uint64_t charge,
            const struct mrlog__stage_args *a)
{
  /* Every field the writer and flusher read is set here (no memset: this
   * is the per-record path). */
  e->next = NULL;
  e->run_next = NULL;
  e->type = MRLOG_REQ_APPEND;
  e->batch_last = false;
  e->status = 0;
  e->first = 0;
  e->lsn = 0;
  e->batch = b;
  e->future = a->future;
  e->done = a->done;
  e->arg = a->arg;
  e->has_position = a->has_position;
  e->position = a->position;
  e->reserved = charge;
  mrlog__req_layout(e, name, name_len, name_hash, recs, count, total);
}

int
mrlog__stage_append(struct mrlog *log, const char *name, size_t name_len,
                    uint32_t name_hash, const struct iovec *recs,
                    size_t count, uint64_t total,
                    const struct mrlog__stage_args *a,
                    struct mrlog__req **failed)
{
  struct mrlog__producer *p = producer_of(log, true);
  size_t size = mrlog__batch_entry_size(name_len, count, total);
  uint64_t charge = mrlog__append_charge(size, count, total,
                                         mrlog__mem_charges_payload(log));
  struct mrlog__batch *b;
  struct mrlog__req *e;
  uint64_t credit;
  uint32_t st;
  int rc;

  *failed = NULL;
  if (p == NULL)
    return MRLOG_ENOMEM;
  b = p->cur;
  if (b != NULL) {
    st = atomic_load_explicit(&b->state, memory_order_relaxed);
    if (!(st & MRLOG__BATCH_CLOSED) && b->used + size <= BATCH_DATA_BYTES &&
        b->charged + charge <= b->head.reserved) {
      e = (struct mrlog__req *)(b->data + b->used);
      entry_write(e, b, name, name_len, name_hash, recs, count, total, charge,
                  a);
      /* Invariant 1: publish the entry, unless the writer closed first. */
      if (atomic_compare_exchange_strong_explicit(&b->state, &st, st + 1,
                                                  memory_order_release,
                                                  memory_order_relaxed)) {
        b->used += (uint32_t)size;
        b->charged += charge;
        return 0;
      }
    }
    seal(p);
  }

  /* Open a new batch: the slow path, once per batch. */
  b = batch_get(log, p, a->block, &rc);
  if (b == NULL)
    return rc;
  credit = batch_credit(log);
  if (credit < charge)
    credit = charge;
  e = (struct mrlog__req *)b->data;
  entry_write(e, b, name, name_len, name_hash, recs, count, total, charge,
                  a);
  b->used = (uint32_t)size;
  b->charged = charge;
  atomic_store_explicit(&b->state, 1, memory_order_relaxed);
  rc = mrlog__admit(log, &b->head, credit, charge, a->block);
  if (rc != 0) {
    /* Not in the ring: the entry completes alone and takes the batch
     * (and whatever credit it got) back with it. */
    e->reserved = b->head.reserved;
    e->batch_last = true;
    *failed = e;
    return rc;
  }
  /* From here on the writer may close b at any moment. */
  p->cur = b;
  return 0;
}


/*
 * prefault.c -- a helper thread maps and prefaults the memory of the big
 * RAM chunks ahead of whoever stores records: the opener's replay during
 * recovery, then the writer (MRLOG_STORE_COPY keeps every record in such
 * chunks; under MRLOG_STORE_MAPPED only a queue's position index is, and
 * only a queue holding many records needs chunks that big).
 *
 * Storing a record copies it into fresh anonymous memory, and the kernel
 * zeroing and mapping those pages was three quarters of the time of a warm
 * reopen, and a quarter of the writer's time with 4 KiB records (perf of
 * W3: clear_page and the page-fault path under mmap(MAP_POPULATE)).  This
 * thread, on the other core, prepares up to `slots` regions of
 * MRLOG_PREFAULT_REGION bytes with mmap(MAP_POPULATE), and chunk_alloc
 * (queue.c) takes one whenever it needs a chunk about that size.
 *
 * Invariants:
 *  1. Two lifetimes, never overlapping.  Recovery: started and stopped by
 *     the opener's thread inside mrlog__recover, before any library thread
 *     starts.  Live: started by the first big chunk the writer stores,
 *     stopped by close after every library thread is joined.  Each keeps
 *     `slots` regions ready (mrlog__prefault_slots).  In both, chunk_alloc
 *     is called by one thread at a time (the opener; then the writer, with
 *     state_lock held for writing), which makes start's check-then-set
 *     safe.
 *  2. Regions are handed over under `mutex` (a take per 260 KiB chunk: not
 *     a hot path).  Regions left at stop are unmapped.
 *  3. It is an optimisation only: if the thread cannot be started or a
 *     mapping fails, chunk_alloc maps its own memory as before, and a live
 *     helper that could not start is not tried again (prefault_off).
 *  4. Untaken regions (at most `slots`: about 4 MiB, and live no more than
 *     max(1 MiB, memory_limit / 64)) are not charged to memory_limit or
 *     memory_bytes.  A chunk that takes one unmaps the tail it does not
 *     need at once, so it is charged, and holds, exactly what a chunk
 *     mapped on its own would.
 */
#include "internal.h"
#include "future.h"
#include "prefault.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

/* Regions kept ready: PREFAULT_SLOTS (about 4 MiB) while replaying, and
 * live as many, unless memory_limit / 64 (the step of a staging credit)
 * holds fewer -- but never fewer than PREFAULT_LIVE_MIN (1 MiB).  Live, 4
 * were too few for the default limit: W1's writer takes one every ~0.5 ms,
 * in bursts, and the helper, sharing its core with the producers, filled
 * 136-179 of a run's 384 takes (the writer mapped the rest itself); with
 * 16 it fills 368, all but the first 16.  Interleaved W1 A/B, copy store,
 * medians: +12% and +10% in sets of 20 and 15 pairs, +4% and -4% in sets
 * of 6 and 5. */
#define PREFAULT_SLOTS 16
#define PREFAULT_LIVE_MIN 4
_Static_assert(PREFAULT_LIVE_MIN <= PREFAULT_SLOTS,
               "the stack holds every ready region");

struct mrlog__prefault {
  pthread_t thread;
  pthread_mutex_t mutex;
  pthread_cond_t cond;          /* room in the ring, or stop */
  void *slot[PREFAULT_SLOTS];   /* ready regions, a stack */
  unsigned count;
  unsigned slots;               /* regions to keep ready (<= the stack) */
  bool stop;
  bool failed;                  /* a mapping failed: stop making more */
};

static void *
prefault_main(void *arg)
{
  struct mrlog__prefault *pf = arg;
  void *m;

  mrlog__mark_library_thread("mrlog-prefault");
  pthread_mutex_lock(&pf->mutex);
  while (!pf->stop && !pf->failed) {
    if (pf->count >= pf->slots) {
      pthread_cond_wait(&pf->cond, &pf->mutex);
      continue;
    }
    pthread_mutex_unlock(&pf->mutex);
    m = mmap(NULL, MRLOG_PREFAULT_REGION, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    pthread_mutex_lock(&pf->mutex);
    if (m == MAP_FAILED)
      pf->failed = true;
    else
      pf->slot[pf->count++] = m;
  }
  pthread_mutex_unlock(&pf->mutex);
  return NULL;
}

unsigned
mrlog__prefault_slots(uint64_t memory_limit, bool recovering)
{
  uint64_t fit = memory_limit / 64 / MRLOG_PREFAULT_REGION;

  if (recovering || fit >= PREFAULT_SLOTS)
    return PREFAULT_SLOTS;
  return fit > PREFAULT_LIVE_MIN ? (unsigned)fit : PREFAULT_LIVE_MIN;
}

void
mrlog__prefault_start(struct mrlog *log)
{
  struct mrlog__prefault *pf;

  if (log->prefault != NULL || log->prefault_off)
    return;
  pf = calloc(1, sizeof(*pf));
  if (pf == NULL)
    goto off;
  pf->slots = mrlog__prefault_slots(log->policy.memory_limit,
                                    log->recovering);
  pthread_mutex_init(&pf->mutex, NULL);
  pthread_cond_init(&pf->cond, NULL);
  if (pthread_create(&pf->thread, NULL, prefault_main, pf) != 0) {
    pthread_mutex_destroy(&pf->mutex);
    pthread_cond_destroy(&pf->cond);
    free(pf);
    goto off;
  }
  log->prefault = pf;
  return;
off:
  /* Recovery maps its own memory; live, do not try on every chunk. */
  if (!log->recovering)
    log->prefault_off = true;
}

void *
mrlog__prefault_take(struct mrlog *log)
{
  struct mrlog__prefault *pf = log->prefault;
  void *m = NULL;

  if (pf == NULL)
    return NULL;
  pthread_mutex_lock(&pf->mutex);
  if (pf->count > 0) {
    m = pf->slot[--pf->count];
    pthread_cond_signal(&pf->cond);
  }
  pthread_mutex_unlock(&pf->mutex);
  return m;
}

void
mrlog__prefault_stop(struct mrlog *log)
{
  struct mrlog__prefault *pf = log->prefault;

  if (pf == NULL)
    return;
  pthread_mutex_lock(&pf->mutex);
  pf->stop = true;
  pthread_cond_signal(&pf->cond);
  pthread_mutex_unlock(&pf->mutex);
  pthread_join(pf->thread, NULL);
  while (pf->count > 0)
    munmap(pf->slot[--pf->count], MRLOG_PREFAULT_REGION);
  pthread_mutex_destroy(&pf->mutex);
  pthread_cond_destroy(&pf->cond);
  free(pf);
  log->prefault = NULL;
}

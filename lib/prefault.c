/*
 * prefault.c -- during recovery only, a helper thread maps and prefaults
 * the memory of the big RAM chunks ahead of the replay.
 *
 * Replaying a log copies every retained record into fresh anonymous
 * memory, and the kernel zeroing and mapping those pages was three
 * quarters of the time of a warm reopen.  The opener's thread replays; this
 * thread, on the other core, prepares PREFAULT_SLOTS regions of
 * MRLOG_PREFAULT_REGION bytes with mmap(MAP_POPULATE), and chunk_new
 * (queue.c) takes one whenever it needs a chunk that size.
 *
 * Invariants:
 *  1. It exists only between mrlog__prefault_start and
 *     mrlog__prefault_stop, both called by the opener's thread from
 *     mrlog__recover, before any library thread starts; the opener is the
 *     only consumer.
 *  2. Regions are handed over under `mutex` (a take per 260 KiB chunk: not
 *     a hot path).  Regions left at stop are unmapped.
 *  3. It is an optimisation only: if the thread cannot be started or a
 *     mapping fails, chunk_new maps its own memory as before.
 */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#define PREFAULT_SLOTS 16

struct mrlog__prefault {
  pthread_t thread;
  pthread_mutex_t mutex;
  pthread_cond_t cond;          /* room in the ring, or stop */
  void *slot[PREFAULT_SLOTS];   /* ready regions, a stack */
  unsigned count;
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
    if (pf->count == PREFAULT_SLOTS) {
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

void
mrlog__prefault_start(struct mrlog *log)
{
  struct mrlog__prefault *pf;

  if (log->prefault != NULL)
    return;
  pf = calloc(1, sizeof(*pf));
  if (pf == NULL)
    return;
  pthread_mutex_init(&pf->mutex, NULL);
  pthread_cond_init(&pf->cond, NULL);
  if (pthread_create(&pf->thread, NULL, prefault_main, pf) != 0) {
    pthread_mutex_destroy(&pf->mutex);
    pthread_cond_destroy(&pf->cond);
    free(pf);
    return;
  }
  log->prefault = pf;
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

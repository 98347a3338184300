/*
 * block.c -- how long a producer may wait for room, and the report of a
 * long wait (policy.block_timeout_ms).
 *
 * A producer waits, when it may (not nonblocking, not a library thread),
 * at three places: a full ring (ring.c), memory at memory_limit
 * (admit.c) and every staging batch of its thread in flight (stage.c).
 * Each wait sleeps in short slices and calls mrlog__block_check before
 * every slice, with the one struct mrlog__block its call carries, so:
 *  1. a call waits at most block_timeout_ms in all (0: no limit), counted
 *     from the first check of its first wait, and then completes with
 *     MRLOG_EFULL;
 *  2. a wait past a second is reported through log_fn at MRLOG_LOG_WARN
 *     once per episode: the first producer past a second sets
 *     log->block_warned and reports; a producer that waited and then got
 *     room (mrlog__block_end) clears it, ending the episode.
 * None of this runs on the fast path: only a call that has to wait reads
 * the clock.
 *
 * Append path (docs/DESIGN.md): caller -> submit.c -> stage.c ->
 * admit.c -> ring.c -> writer.c -> writer_frame.c (the file) ->
 * flusher.c -> req.c -> future.c (the callback).  A helper of the
 * producer's steps (stage.c, admit.c, ring.c): it bounds their waits and
 * calls nothing on the path.
 */
#include "internal.h"
#include "req.h"

#include <time.h>

#define BLOCK_REPORT_MS 1000u

static uint64_t
ms_between(const struct timespec *a, const struct timespec *b)
{
  int64_t ms = (int64_t)(b->tv_sec - a->tv_sec) * 1000 +
               (b->tv_nsec - a->tv_nsec) / 1000000;

  return ms > 0 ? (uint64_t)ms : 0;
}

int
mrlog__block_check(struct mrlog *log, struct mrlog__block *b,
                   unsigned *slice_ms, const char *what)
{
  unsigned limit = log->policy.block_timeout_ms;
  struct timespec now;
  uint64_t waited;

  if (b == NULL)
    return 0;
  clock_gettime(CLOCK_MONOTONIC, &now);
  if (!b->started) {
    b->started = true;
    b->start = now;
    waited = 0;
  } else {
    waited = ms_between(&b->start, &now);
  }
  if (limit != 0 && waited >= limit)
    return MRLOG_EFULL;
  if (waited >= BLOCK_REPORT_MS && !b->reported) {
    b->reported = true;
    if (!atomic_exchange_explicit(&log->block_warned, 1,
                                  memory_order_relaxed))
      mrlog__logf(log, MRLOG_LOG_WARN,
                  "a producer has been blocked for %llu ms (%s); "
                  "the writer or the disk is behind",
                  (unsigned long long)waited, what);
  }
  if (limit != 0 && *slice_ms > limit - waited)
    *slice_ms = (unsigned)(limit - waited);
  if (*slice_ms == 0)
    *slice_ms = 1;
  return 0;
}

void
mrlog__block_end(struct mrlog *log, struct mrlog__block *b)
{
  if (b != NULL && b->started &&
      atomic_load_explicit(&log->block_warned, memory_order_relaxed))
    atomic_store_explicit(&log->block_warned, 0, memory_order_relaxed);
}

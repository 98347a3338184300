/*
 * clock.c -- the log's wall clock: policy.now_ms or CLOCK_REALTIME, in
 * milliseconds since the Unix epoch, and the frame time, which never goes
 * backwards.
 *
 * Invariant: log->last_ms only grows.  Recovery raises it to the newest
 * time it replayed; the writer raises it to every frame time it gives out.
 * A clock that steps back therefore stamps frames with the last time given
 * out (clamping) until it catches up, so the times of a queue's records
 * never decrease, across reopens too.
 */
#include "internal.h"

#include <time.h>

uint64_t
mrlog__now_ms(const struct mrlog *log)
{
  struct timespec ts;

  if (log->policy.now_ms != NULL)
    return log->policy.now_ms(log->policy.now_arg);
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t
mrlog__frame_ms(struct mrlog *log)
{
  uint64_t ms = mrlog__now_ms(log);

  if (ms < log->last_ms)
    ms = log->last_ms; /* the clock stepped back: clamp */
  log->last_ms = ms;
  return ms;
}

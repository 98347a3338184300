/*
 * progress.c -- verify's progress bar: bytes done of the total, rate and
 * time left, on one line of stderr.
 *
 * Invariants:
 *  1. Drawn only when stderr is a terminal, and only once a run has taken
 *     more than PROGRESS_DELAY: a small log never shows a bar, and output
 *     to a file or a pipe never contains one.
 *  2. Redrawn at most every PROGRESS_EVERY (10 times a second), however
 *     often it is updated; the clock is the monotonic one.
 *  3. tool_progress_finish erases the line, so the result that follows
 *     starts on a clean line.
 */
#include "tool.h"

#include <time.h>
#include <unistd.h>

#define PROGRESS_DELAY 0.3 /* seconds before the first draw */
#define PROGRESS_EVERY 0.1 /* seconds between draws */

static double
now(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
human(char *buf, size_t n, double bytes)
{
  static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
  unsigned u = 0;

  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    u++;
  }
  snprintf(buf, n, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
}

void
tool_progress_init(struct tool_progress *p, uint64_t total)
{
  p->enabled = isatty(STDERR_FILENO) == 1;
  p->drawn = false;
  p->total = total;
  p->done = 0;
  p->start = p->last = now();
}

void
tool_progress_update(struct tool_progress *p, uint64_t done)
{
  char d[32], t[32], r[32];
  double at, rate, eta;

  p->done = done;
  if (!p->enabled)
    return;
  at = now();
  if (at - p->start < PROGRESS_DELAY || at - p->last < PROGRESS_EVERY)
    return;
  p->last = at;
  rate = (double)done / (at - p->start);
  eta = rate > 0 && p->total > done ? (double)(p->total - done) / rate : 0;
  human(d, sizeof(d), (double)done);
  human(t, sizeof(t), (double)p->total);
  human(r, sizeof(r), rate);
  fprintf(stderr, "\r\033[Kverify: %s / %s (%.0f%%)  %s/s  ETA %u:%02u:%02u",
          d, t, p->total ? 100.0 * (double)done / (double)p->total : 100.0,
          r, (unsigned)(eta / 3600), (unsigned)(eta / 60) % 60,
          (unsigned)eta % 60);
  p->drawn = true;
}

void
tool_progress_finish(struct tool_progress *p)
{
  if (p->drawn)
    fputs("\r\033[K", stderr);
  p->drawn = false;
}

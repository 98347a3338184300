/*
 * wl_reopen.c -- W4 (read back) and W5 (truncate, space back) on the log
 * W1 left in p->dir.
 *
 * Invariants:
 *   1. W4cold: every file is fsynced and posix_fadvise(DONTNEED)ed, then 3
 *      is written to /proc/sys/vm/drop_caches if permitted (recorded in
 *      drop_caches); W4warm reads every file once first.  Neither step is
 *      timed.  The time is open + reading every queue to its end.
 *   2. The reader touches every payload byte (a word sum) and checks that
 *      each queue holds exactly positions 0 .. count-1 of W1's shape, so a
 *      lost, extra or reordered record is an error, not a faster read.
 *   3. W5 opens with the durable policy, truncates every queue below its
 *      midpoint (count / 2 records go), and times: durable_ms = until the
 *      engine says the truncation is durable; space_back_ms = until the
 *      directory's allocated bytes have dropped by w5_fraction of W1's
 *      payload *and* the file system's free bytes (statvfs) have risen by
 *      as much, polled every 0.5 ms, NAN after w5_timeout_s.  The second
 *      condition matters: a file leaves the directory as its unlink
 *      begins, but its blocks are free only once the unlink has freed
 *      them (on a file system mounted with discard, after the discard),
 *      so the directory alone showed space back up to one unlink early.
 *      dir_back_ms is when the directory alone showed it (reported too:
 *      another writer on the same file system can hold the free count
 *      down, and then only this figure is there).  All are measured from
 *      the start of the truncation;
 *      space_freed_bytes is the largest drop of the directory's bytes
 *      seen meanwhile.  No compaction is asked of anyone.
 */
#include "workloads.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct reader {
  uint64_t expect;  /* next position expected in this queue */
  uint64_t records; /* records seen, all queues */
  uint64_t bytes;   /* payload bytes seen */
  uint64_t sum;     /* word sum of every byte (keeps the reads real) */
  uint64_t bad;     /* records out of place */
};

static int
visit(void *arg, uint64_t position, const void *data, size_t len)
{
  struct reader *rd = arg;
  const unsigned char *b = data;
  uint64_t s = 0, w;
  size_t i;

  for (i = 0; i + 8 <= len; i += 8) {
    memcpy(&w, b + i, 8);
    s += w;
  }
  for (; i < len; i++)
    s += b[i];
  rd->sum += s;
  if (position != rd->expect)
    rd->bad++;
  rd->expect = position + 1;
  rd->records++;
  rd->bytes += len;
  return 0;
}

void
wl_read(const struct wl_params *p, struct bench_result *r)
{
  uint64_t *counts = calloc(p->queues, sizeof(*counts)), t0, want = 0;
  struct reader rd;
  struct wl_run wr;
  unsigned q;
  int rc;

  memset(&rd, 0, sizeof(rd));
  if (counts == NULL) {
    bench_result_fail(r, "out of memory");
    return;
  }
  wl_queue_counts(p, counts);
  if (p->cold) {
    rc = bench_cache_drop(p->dir);
    if (rc < 0)
      bench_result_fail(r, "dropping the page cache of %s failed", p->dir);
    r->drop_caches = rc == 1;
  } else if (bench_cache_warm(p->dir) != 0) {
    bench_result_fail(r, "reading %s to warm the cache failed", p->dir);
  }
  t0 = bench_now_ns();
  if (wl_open(p, ENG_INTERVAL, &wr, r) != 0) {
    free(counts);
    return;
  }
  for (q = 0; q < p->queues; q++) {
    rd.expect = 0;
    rc = p->engine->read_queue(wr.e, q, visit, &rd);
    if (rc != 0)
      bench_result_fail(r, "read q%u: %s", q, p->engine->strerror(wr.e, rc));
    if (rd.expect != counts[q])
      bench_result_fail(r, "q%u ends at %llu, expected %llu", q,
                        (unsigned long long)rd.expect,
                        (unsigned long long)counts[q]);
    want += counts[q];
  }
  r->seconds = (double)(bench_now_ns() - t0) / 1e9;
  if (rd.bad > 0)
    bench_result_fail(r, "%llu records out of place",
                      (unsigned long long)rd.bad);
  if (rd.records != want)
    bench_result_fail(r, "read %llu records, expected %llu",
                      (unsigned long long)rd.records,
                      (unsigned long long)want);
  r->records = rd.records;
  r->payload_bytes = rd.bytes;
  r->rec_per_s = (double)rd.records / r->seconds;
  r->mb_per_s = (double)rd.bytes / BENCH_MB / r->seconds;
  /* The word sum only has to be computed; keep the compiler from
   * dropping it without printing it. */
  __asm__ volatile("" : : "r"(rd.sum));
  wl_close(p, &wr, rd.records, rd.bytes, r);
  free(counts);
}

void
wl_truncate(const struct wl_params *p, struct bench_result *r)
{
  uint64_t *below = calloc(p->queues, sizeof(*below)), t0, t, gone = 0;
  uint64_t deadline, need, records = 0;
  int64_t base, now, free0, fs_now;
  struct wl_run wr;
  unsigned q;
  int rc;

  if (below == NULL) {
    bench_result_fail(r, "out of memory");
    return;
  }
  wl_queue_counts(p, below);
  for (q = 0; q < p->queues; q++) {
    records += below[q];
    below[q] /= 2;
    gone += below[q];
  }
  if (wl_open(p, ENG_DURABLE, &wr, r) != 0) {
    free(below);
    return;
  }
  need = (uint64_t)(p->w5_fraction * (double)(p->records * p->record_bytes));
  base = bench_dir_allocated(p->dir);
  free0 = bench_fs_free(p->dir);
  t0 = bench_now_ns();
  rc = p->engine->truncate(wr.e, below);
  t = bench_now_ns();
  r->durable_ms = (double)(t - t0) / 1e6;
  if (rc != 0)
    bench_result_fail(r, "truncate: %s", p->engine->strerror(wr.e, rc));
  deadline = t0 + (uint64_t)(p->w5_timeout_s * 1e9);
  r->space_freed_bytes = 0;
  for (;;) {
    now = bench_dir_allocated(p->dir);
    fs_now = bench_fs_free(p->dir);
    t = bench_now_ns();
    if (now >= 0 && (double)(base - now) > r->space_freed_bytes)
      r->space_freed_bytes = (double)(base - now);
    /* statvfs failing (it does not on a real disk) leaves the directory
     * as the only criterion. */
    if (now >= 0 && base - now >= (int64_t)need && isnan(r->dir_back_ms))
      r->dir_back_ms = (double)(t - t0) / 1e6;
    if (!isnan(r->dir_back_ms) &&
        (free0 < 0 || fs_now < 0 || fs_now - free0 >= (int64_t)need)) {
      r->space_back_ms = (double)(t - t0) / 1e6;
      break;
    }
    if (t >= deadline)
      break; /* space_back_ms stays NAN: not back in time */
    bench_sleep_ns(500000);
  }
  r->records = gone;
  r->payload_bytes = gone * p->record_bytes;
  r->seconds = (double)(t - t0) / 1e9;
  wl_close(p, &wr, records - gone, (records - gone) * p->record_bytes, r);
  free(below);
}

/*
 * metrics.c -- recording the log-wide histograms and the per-queue
 * counters, and mrlog_metrics, which summarizes the histograms.  The text
 * exposition is lib/metrics_text.c.
 *
 * Invariants:
 *  1. Recording takes no lock and makes no system call: a CLOCK_MONOTONIC
 *     read (the vDSO's) and relaxed atomic adds.  Nothing orders the
 *     buckets against each other; a reader may see a sample's bucket
 *     before or after its sum and max.
 *  2. A histogram's count is the sum of the buckets a reader loaded, and
 *     each percentile is the upper bound of the bucket holding its rank
 *     (ceil(q * count)), capped at the max read: so p50 <= p90 <= p99 <=
 *     p999 <= max always, and for the samples counted a percentile is at
 *     least the exact one and at most 1/16 above it (metrics.h buckets).
 *     max is raised to the lower bound of the highest bucket seen, so a
 *     sample whose bucket was loaded but whose max was not yet stored
 *     still keeps the order.
 *  3. An append's latency sample is taken in mrlog__req_finish before its
 *     callback runs and its future becomes ready, so a caller that has
 *     seen N appends complete sees at least N samples.
 *  4. The per-queue counters are [state] fields: the writer adds to them
 *     with state_lock held for writing (never during recovery: they count
 *     what happened since open), readers load them under the read lock.
 *  5. MRLOG_METRICS_OFF=1 in the environment when the library is loaded
 *     turns the histograms off (mrlog__metrics_now returns 0 and every
 *     record call returns at once): a switch for benchmarks, read once.
 */
#include "internal.h"
#include "metrics.h"
#include "req.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

bool mrlog__metrics_off;

__attribute__((constructor)) static void
metrics_env(void)
{
  const char *v = getenv("MRLOG_METRICS_OFF");

  mrlog__metrics_off = v != NULL && strcmp(v, "1") == 0;
}

uint64_t
mrlog__metrics_now(void)
{
  struct timespec ts;
  uint64_t ns;

  if (mrlog__metrics_off)
    return 0;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
  return ns != 0 ? ns : 1;
}

/* Nanoseconds since start (a stamp from mrlog__metrics_now). */
static uint64_t
since(uint64_t start)
{
  uint64_t now = mrlog__metrics_now();

  return now > start ? now - start : 0;
}

unsigned
mrlog__hist_bucket(uint64_t v)
{
  unsigned e;

  if (v < MRLOG__HIST_SUB)
    return (unsigned)v;
  e = 63u - (unsigned)__builtin_clzll(v); /* e >= SUB_BITS */
  return (e - MRLOG__HIST_SUB_BITS + 1) * MRLOG__HIST_SUB +
         (unsigned)((v >> (e - MRLOG__HIST_SUB_BITS)) & (MRLOG__HIST_SUB - 1));
}

/* The smallest value of bucket i. */
static uint64_t
hist_lower(unsigned i)
{
  unsigned e, sub;

  if (i < MRLOG__HIST_SUB)
    return i;
  e = i / MRLOG__HIST_SUB + MRLOG__HIST_SUB_BITS - 1;
  sub = i % MRLOG__HIST_SUB;
  return (uint64_t)(MRLOG__HIST_SUB + sub) << (e - MRLOG__HIST_SUB_BITS);
}

uint64_t
mrlog__hist_upper(unsigned i)
{
  unsigned e;

  if (i < MRLOG__HIST_SUB)
    return i;
  e = i / MRLOG__HIST_SUB + MRLOG__HIST_SUB_BITS - 1;
  return hist_lower(i) + ((uint64_t)1 << (e - MRLOG__HIST_SUB_BITS)) - 1;
}

void
mrlog__hist_record(struct mrlog__hist *h, uint64_t v)
{
  uint64_t max = atomic_load_explicit(&h->max, memory_order_relaxed);

  atomic_fetch_add_explicit(&h->buckets[mrlog__hist_bucket(v)], 1,
                            memory_order_relaxed);
  atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
  /* A new max is rare: the CAS runs only then. */
  while (v > max &&
         !atomic_compare_exchange_weak_explicit(&h->max, &max, v,
                                                memory_order_relaxed,
                                                memory_order_relaxed))
    ;
}

void
mrlog__metrics_append_done(struct mrlog *log, const struct mrlog__req *req)
{
  if (log == NULL || req->type != MRLOG_REQ_APPEND || req->submit_ns == 0)
    return;
  mrlog__hist_record(&log->metrics.latency, since(req->submit_ns));
}

void
mrlog__metrics_fsync(struct mrlog *log, uint64_t start)
{
  if (start != 0)
    mrlog__hist_record(&log->metrics.fsync, since(start));
}

void
mrlog__metrics_group(struct mrlog *log, uint64_t records)
{
  if (!mrlog__metrics_off)
    mrlog__hist_record(&log->metrics.group, records);
}

void
mrlog__metrics_ring_wait(struct mrlog *log, uint64_t start)
{
  if (start != 0)
    mrlog__hist_record(&log->metrics.ring_wait, since(start));
}

void
mrlog__metrics_stored(struct mrlog__queue *q, uint64_t records,
                      uint64_t bytes)
{
  q->counts.appended_records += records;
  q->counts.appended_bytes += bytes;
}

void
mrlog__metrics_truncated(struct mrlog__queue *q, uint64_t records,
                         uint64_t bytes)
{
  q->counts.truncated_records += records;
  q->counts.truncated_bytes += bytes;
}

/* The rank-th smallest sample's bucket upper bound (rank >= 1), over the
 * loaded counts b[], capped at max (invariant 2). */
static uint64_t
rank_value(const uint64_t *b, uint64_t rank, uint64_t max)
{
  uint64_t seen = 0;
  unsigned i;

  for (i = 0; i < MRLOG__HIST_BUCKETS; i++) {
    seen += b[i];
    if (seen >= rank)
      return mrlog__hist_upper(i) < max ? mrlog__hist_upper(i) : max;
  }
  return max; /* not reached: rank <= the sum of b */
}

static uint64_t
rank_of(uint64_t count, unsigned per_mille)
{
  /* ceil(count * q), q = per_mille / 1000, without overflow for any
   * count a histogram can reach. */
  uint64_t r = count / 1000 * per_mille +
               (count % 1000 * per_mille + 999) / 1000;

  return r < 1 ? 1 : r;
}

static void
summarize(struct mrlog__hist *h, struct mrlog_histogram_summary *out)
{
  uint64_t b[MRLOG__HIST_BUCKETS]; /* 7.8 KB: a snapshot of the buckets */
  uint64_t count = 0, max;
  unsigned i, top = 0;

  memset(out, 0, sizeof(*out));
  max = atomic_load_explicit(&h->max, memory_order_relaxed);
  out->sum = atomic_load_explicit(&h->sum, memory_order_relaxed);
  for (i = 0; i < MRLOG__HIST_BUCKETS; i++) {
    b[i] = atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
    count += b[i];
    if (b[i] != 0)
      top = i;
  }
  out->count = count;
  if (count == 0)
    return;
  if (max < hist_lower(top))
    max = hist_lower(top);
  out->max = max;
  out->p50 = rank_value(b, rank_of(count, 500), max);
  out->p90 = rank_value(b, rank_of(count, 900), max);
  out->p99 = rank_value(b, rank_of(count, 990), max);
  out->p999 = rank_value(b, rank_of(count, 999), max);
}

int
mrlog_metrics(mrlog *log, struct mrlog_metrics *out)
{
  if (!mrlog__log_live(log) || out == NULL)
    return MRLOG_EINVAL;
  memset(out, 0, sizeof(*out));
  summarize(&log->metrics.latency, &out->append_latency_ns);
  summarize(&log->metrics.fsync, &out->fsync_ns);
  summarize(&log->metrics.group, &out->group_commit_records);
  summarize(&log->metrics.ring_wait, &out->ring_wait_ns);
  return 0;
}

/*
 * metrics.c -- recording the log-wide histograms and the per-queue
 * counters, and mrlog_metrics, which summarizes the histograms.  The text
 * exposition is lib/metrics_text.c.
 *
 * Invariants:
 *  1. Recording takes no lock and makes no system call: a stamp (rdtsc,
 *     or the vDSO's CLOCK_MONOTONIC: invariant 6) and atomic adds.  A
 *     sample's sum is added first, then its bucket and max with release;
 *     a reader loads max and the buckets with acquire, then the sum, so
 *     a sample whose bucket or max it saw is in the sum it reads (sum >=
 *     max).  Nothing orders the buckets against each other.
 *  2. A histogram's count is the sum of the buckets a reader loaded, and
 *     each percentile is the upper bound of the bucket holding its rank
 *     (ceil(q * count)), capped at the max read: so p50 <= p90 <= p99 <=
 *     p999 <= max always, and for the samples counted a percentile is at
 *     least the exact one and at most 1/16 above it (metrics.h buckets).
 *     max is raised to the lower bound of the highest bucket seen, so a
 *     sample whose bucket was loaded but whose max was not yet stored
 *     still keeps the order.
 *  3. An append's latency sample is taken before its callback runs and
 *     its future becomes ready, so a caller that has seen N appends
 *     complete sees at least N samples: by the flusher for a whole
 *     completion list before the list's first callback (one clock read:
 *     a request's acknowledgement is the moment its list is taken up),
 *     else in mrlog__req_finish.  The list's walk zeroes the stamps it
 *     took, so mrlog__req_finish takes none of them again.
 *  4. The per-queue counters are [state] fields: the writer adds to them
 *     with state_lock held for writing (never during recovery: they count
 *     what happened since open), readers load them under the read lock.
 *  5. MRLOG_METRICS_OFF=1 in the environment when the library is loaded
 *     turns the histograms off (mrlog__metrics_now returns 0 and every
 *     record call returns at once): a switch for benchmarks, read once.
 *  6. The duration histograms hold stamp units: TSC ticks when the CPU
 *     has an invariant TSC, else nanoseconds.  A summary converts its
 *     sum, percentiles and max to nanoseconds at one rate, so their order
 *     holds, and a relative bucket error stays relative (plus rounding
 *     down by less than a nanosecond).
 */
#include "internal.h"
#include "metrics.h"
#include "req.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The public structs' sizes are their ABI: fields come out of reserved. */
_Static_assert(sizeof(struct mrlog_histogram_summary) == 64, "ABI size");
_Static_assert(sizeof(struct mrlog_metrics) == 512, "ABI size");

bool mrlog__metrics_off;

/* The clock (invariant 6).  With an invariant TSC, stamps are TSC ticks:
 * rdtsc costs a third to a half of a vDSO clock_gettime (kvm-clock here:
 * 32-43 ns against 71 ns).  Ticks become nanoseconds when read, at the
 * rate measured from the load (tsc_base, ns_base) to the read: its error
 * is about a clock read over the time since the load.  Without one, the
 * stamps are CLOCK_MONOTONIC nanoseconds. */
static bool use_tsc;
static uint64_t tsc_base;
static uint64_t ns_base;

static uint64_t
mono_ns(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <x86intrin.h>

static bool
tsc_invariant(void)
{
  unsigned a, b, c, d;

  /* CPUID 0x80000007 EDX bit 8: the TSC runs at a constant rate in every
   * state (Intel SDM vol. 3 17.17.1; AMD: "TscInvariant").  The maximum
   * leaf is unsigned in gcc's cpuid.h and int in clang's. */
  if ((unsigned)__get_cpuid_max(0x80000000u, NULL) < 0x80000007u)
    return false;
  __cpuid(0x80000007u, a, b, c, d);
  (void)a, (void)b, (void)c;
  return (d & (1u << 8)) != 0;
}
#define read_tsc() ((uint64_t)__rdtsc())
#else
static bool
tsc_invariant(void)
{
  return false;
}
#define read_tsc() ((uint64_t)0)
#endif

__attribute__((constructor)) static void
metrics_init(void)
{
  const char *v = getenv("MRLOG_METRICS_OFF");

  mrlog__metrics_off = v != NULL && strcmp(v, "1") == 0;
  use_tsc = tsc_invariant();
  if (use_tsc) {
    ns_base = mono_ns();
    tsc_base = read_tsc();
  }
}

uint64_t
mrlog__metrics_now(void)
{
  uint64_t t;

  if (mrlog__metrics_off)
    return 0;
  t = use_tsc ? read_tsc() : mono_ns();
  return t != 0 ? t : 1;
}

/* Nanoseconds per stamp unit, as a fraction num / den (invariant 6). */
static void
stamp_rate(uint64_t *num, uint64_t *den)
{
  uint64_t ns, tsc;

  *num = *den = 1;
  if (!use_tsc)
    return;
  ns = mono_ns();
  tsc = read_tsc();
  if (tsc > tsc_base && ns > ns_base) {
    *num = ns - ns_base;
    *den = tsc - tsc_base;
  }
}

static uint64_t
to_ns(uint64_t v, uint64_t num, uint64_t den)
{
  unsigned __int128 x = (unsigned __int128)v * num / den;

  return x > UINT64_MAX ? UINT64_MAX : (uint64_t)x;
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

  /* Invariant 1: the sum first. */
  atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->buckets[mrlog__hist_bucket(v)], 1,
                            memory_order_release);
  /* A new max is rare: the CAS runs only then. */
  while (v > max &&
         !atomic_compare_exchange_weak_explicit(&h->max, &max, v,
                                                memory_order_release,
                                                memory_order_relaxed))
    ;
}

void
mrlog__metrics_append_done(struct mrlog *log, const struct mrlog__req *req)
{
  if (log == NULL || req->type != MRLOG_REQ_APPEND || req->submit_stamp == 0)
    return;
  mrlog__hist_record(&log->metrics.latency, since(req->submit_stamp));
}

/* Adds run samples of one bucket whose total is sum (invariant 1: the
 * sum first). */
static void
add_run(struct mrlog__hist *h, unsigned bucket, uint64_t run, uint64_t sum)
{
  atomic_fetch_add_explicit(&h->sum, sum, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->buckets[bucket], run, memory_order_release);
}

/* A clock read costs 50 to 60 ns in the virtual machines measured, and a
 * locked add about 20: with one append per request, a read and two adds
 * per request were a tenth of W1's CPU.  Requests of a list were
 * submitted in about the order they complete, so neighbours mostly share
 * a bucket: a run of them costs two adds. */
void
mrlog__metrics_append_list(struct mrlog *log, struct mrlog__req *list)
{
  struct mrlog__hist *h = &log->metrics.latency;
  uint64_t now = 0, v, sum = 0, max = 0, run = 0;
  unsigned bucket = 0, b;
  struct mrlog__req *r;

  if (mrlog__metrics_off)
    return;
  /* Invariant 1: each run's sum goes in before its bucket. */
  for (r = list; r != NULL; r = r->next) {
    if (r->type != MRLOG_REQ_APPEND || r->submit_stamp == 0)
      continue;
    if (now == 0)
      now = mrlog__metrics_now();
    v = now > r->submit_stamp ? now - r->submit_stamp : 0;
    r->submit_stamp = 0;
    b = mrlog__hist_bucket(v);
    if (run > 0 && b != bucket) {
      add_run(h, bucket, run, sum);
      run = sum = 0;
    }
    bucket = b;
    run++;
    sum += v;
    if (v > max)
      max = v;
  }
  if (run == 0)
    return;
  add_run(h, bucket, run, sum);
  v = atomic_load_explicit(&h->max, memory_order_relaxed);
  while (max > v &&
         !atomic_compare_exchange_weak_explicit(&h->max, &v, max,
                                                memory_order_release,
                                                memory_order_relaxed))
    ;
}

void
mrlog__metrics_fsync(struct mrlog *log, uint64_t start)
{
  if (start != 0)
    mrlog__hist_record(&log->metrics.fsync, since(start));
}

void
mrlog__metrics_group(struct mrlog *log, uint64_t written, uint64_t mark)
{
  if (!mrlog__metrics_off)
    mrlog__hist_record(&log->metrics.group, written > mark ? written - mark
                                                           : 0);
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
summarize(struct mrlog__hist *h, struct mrlog_histogram_summary *out,
          bool duration)
{
  uint64_t b[MRLOG__HIST_BUCKETS]; /* 7.8 KB: a snapshot of the buckets */
  uint64_t count = 0, max;
  unsigned i, top = 0;

  memset(out, 0, sizeof(*out));
  /* Invariant 1: max and the buckets before the sum. */
  max = atomic_load_explicit(&h->max, memory_order_acquire);
  for (i = 0; i < MRLOG__HIST_BUCKETS; i++) {
    b[i] = atomic_load_explicit(&h->buckets[i], memory_order_acquire);
    count += b[i];
    if (b[i] != 0)
      top = i;
  }
  out->sum = atomic_load_explicit(&h->sum, memory_order_relaxed);
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
  if (duration) {
    uint64_t num, den;

    stamp_rate(&num, &den);
    out->sum = to_ns(out->sum, num, den);
    out->p50 = to_ns(out->p50, num, den);
    out->p90 = to_ns(out->p90, num, den);
    out->p99 = to_ns(out->p99, num, den);
    out->p999 = to_ns(out->p999, num, den);
    out->max = to_ns(out->max, num, den);
  }
}

int
mrlog_metrics(mrlog *log, struct mrlog_metrics *out)
{
  if (!mrlog__log_live(log) || out == NULL)
    return MRLOG_EINVAL;
  memset(out, 0, sizeof(*out));
  summarize(&log->metrics.latency, &out->append_latency_ns, true);
  summarize(&log->metrics.fsync, &out->fsync_ns, true);
  summarize(&log->metrics.group, &out->group_commit_records, false);
  summarize(&log->metrics.ring_wait, &out->ring_wait_ns, true);
  return 0;
}

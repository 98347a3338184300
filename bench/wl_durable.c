/*
 * wl_durable.c -- W2: durable acknowledgement under contention.
 *
 * w2_threads writer threads (64); thread i appends one record to queue
 * i % queues, waits until it is durable (mrlog: mrlog_wait under the
 * default group-commit policy; peers: their group commit with a synced
 * commit), records the latency, and loops until w2_seconds have passed.
 *
 * Invariants:
 *   1. Each thread keeps its own latency array; they are merged and sorted
 *      only after every thread is joined.
 *   2. records/s = completed appends / (start .. last thread finished), so
 *      appends still in flight at the deadline are counted and timed.
 *   3. A failed append counts as an error and its latency is not kept.
 */
#include "workloads.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct writer {
  const struct wl_params *p;
  struct eng *e;
  unsigned index;        /* thread number */
  atomic_int *stop;      /* set by the main thread at the deadline */
  pthread_barrier_t *start;
  double *lat_us;        /* latencies of successful appends, in µs */
  size_t n;              /* entries used in lat_us */
  size_t cap;            /* entries allocated */
  uint64_t failed;       /* failed appends */
  int first_error;       /* first failure status */
  pthread_t thread;      /* runs writer_main */
};

static int
keep(struct writer *w, double us)
{
  double *v;
  size_t cap;

  if (w->n == w->cap) {
    cap = w->cap ? w->cap * 2 : 4096;
    v = realloc(w->lat_us, cap * sizeof(*v));
    if (v == NULL)
      return -1;
    w->lat_us = v;
    w->cap = cap;
  }
  w->lat_us[w->n++] = us;
  return 0;
}

static void *
writer_main(void *arg)
{
  struct writer *w = arg;
  const struct wl_params *p = w->p;
  unsigned q = w->index % p->queues;
  uint64_t rec = 0, t;
  int rc;

  pthread_barrier_wait(w->start);
  while (!atomic_load_explicit(w->stop, memory_order_relaxed)) {
    t = bench_now_ns();
    rc = p->engine->append_wait(
        w->e, q,
        bench_payload_stream(w->index, p->w2_threads, rec, p->record_bytes),
        p->record_bytes);
    t = bench_now_ns() - t;
    rec++;
    if (rc < 0) {
      if (w->failed++ == 0)
        w->first_error = rc;
    } else if (keep(w, (double)t / 1e3) != 0) {
      w->failed++;
      w->first_error = -12;
      break;
    }
  }
  return NULL;
}

void
wl_durable(const struct wl_params *p, struct bench_result *r)
{
  struct writer *ws = calloc(p->w2_threads, sizeof(*ws));
  pthread_barrier_t start;
  atomic_int stop;
  struct wl_run wr;
  double *all = NULL;
  uint64_t t0, t1, failed = 0, n = 0;
  unsigned i;
  int first_error = 0;

  atomic_init(&stop, 0);
  pthread_barrier_init(&start, NULL, p->w2_threads + 1);
  if (ws == NULL) {
    bench_result_fail(r, "out of memory");
    goto out;
  }
  if (wl_open(p, ENG_DURABLE, &wr, r) != 0)
    goto out;
  for (i = 0; i < p->w2_threads; i++) {
    ws[i].p = p;
    ws[i].e = wr.e;
    ws[i].index = i;
    ws[i].stop = &stop;
    ws[i].start = &start;
    bench_thread_start(&ws[i].thread, writer_main, &ws[i]);
  }
  t0 = bench_now_ns();
  pthread_barrier_wait(&start);
  bench_sleep_ns((uint64_t)(p->w2_seconds * 1e9));
  atomic_store(&stop, 1);
  wl_timed_end(&wr, r);
  for (i = 0; i < p->w2_threads; i++) {
    pthread_join(ws[i].thread, NULL);
    n += ws[i].n;
    failed += ws[i].failed;
    if (first_error == 0)
      first_error = ws[i].first_error;
  }
  t1 = bench_now_ns();

  all = malloc((n ? n : 1) * sizeof(*all));
  if (all != NULL) {
    for (n = 0, i = 0; i < p->w2_threads; i++) {
      memcpy(all + n, ws[i].lat_us, ws[i].n * sizeof(*all));
      n += ws[i].n;
    }
    bench_sort(all, n);
    r->p50_us = bench_percentile(all, n, 50);
    r->p99_us = bench_percentile(all, n, 99);
    r->p999_us = bench_percentile(all, n, 99.9);
  }
  r->records = n;
  r->payload_bytes = n * p->record_bytes;
  r->seconds = (double)(t1 - t0) / 1e9;
  r->rec_per_s = (double)n / r->seconds;
  r->mb_per_s = (double)r->payload_bytes / BENCH_MB / r->seconds;
  if (failed > 0) {
    r->errors = (int64_t)failed - 1;
    bench_result_fail(r, "append_wait: %s",
                      p->engine->strerror(wr.e, first_error));
  }
  wl_close(p, &wr, n, r->payload_bytes, r);
out:
  for (i = 0; ws != NULL && i < p->w2_threads; i++)
    free(ws[i].lat_us);
  free(ws);
  free(all);
  pthread_barrier_destroy(&start);
}

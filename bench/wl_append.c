/*
 * wl_append.c -- W1, W1b and W3: producers append with completion
 * callbacks under the interval policy (acknowledged once written, synced
 * every sync_interval_ms); time = start of producers .. last callback.
 *
 * Invariants:
 *   1. Producer t appends its share of the records in calls of p->batch
 *      records; call j goes to queue (t + j) % queues, so every producer
 *      cycles over every queue (wl_queue_counts replays this).
 *   2. Every call completes exactly once (engine contract); the callback
 *      counts calls with an atomic, keeps the first error, and the one that
 *      completes the last call stamps the end time and wakes the main
 *      thread.  So the time includes every callback, none of the wake-up.
 *   3. Producers start together behind a barrier; t0 is taken just before
 *      the main thread releases it.
 */
#include "workloads.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct append_run {
  const struct wl_params *p;
  struct eng *e;
  uint64_t total_calls;      /* calls all producers make */
  atomic_uint_fast64_t done; /* calls completed (callbacks run) */
  atomic_int_fast64_t failed;/* calls completed with an error */
  atomic_int first_error;    /* first error status, 0 if none */
  uint64_t end_ns;           /* [mutex] when the last call completed */
  int finished;              /* [mutex] every call completed */
  pthread_mutex_t mutex;
  pthread_cond_t cond;
  pthread_barrier_t start;
};

struct producer {
  struct append_run *run;
  unsigned index;            /* producer number */
  struct iovec *iov;         /* p->batch entries, this producer's */
  pthread_t thread;          /* runs producer_main */
};

/* Records producer t appends. */
static uint64_t
share(const struct wl_params *p, unsigned t)
{
  return p->records / p->producers + (t < p->records % p->producers);
}

void
wl_queue_counts(const struct wl_params *p, uint64_t *counts)
{
  uint64_t left, n, j;
  unsigned t;

  memset(counts, 0, p->queues * sizeof(*counts));
  for (t = 0; t < p->producers; t++)
    for (left = share(p, t), j = 0; left > 0; left -= n, j++) {
      n = left < p->batch ? left : p->batch;
      counts[(t + j) % p->queues] += n;
    }
}

static uint64_t
calls_of(const struct wl_params *p)
{
  uint64_t calls = 0;
  unsigned t;

  for (t = 0; t < p->producers; t++)
    calls += (share(p, t) + p->batch - 1) / p->batch;
  return calls;
}

static void
on_done(void *arg, int status, uint64_t position)
{
  struct append_run *run = arg;
  int zero = 0;

  (void)position;
  if (status < 0) {
    atomic_fetch_add(&run->failed, 1);
    atomic_compare_exchange_strong(&run->first_error, &zero, status);
  }
  /* acq_rel: the last completer sees every other callback's effects. */
  if (atomic_fetch_add_explicit(&run->done, 1, memory_order_acq_rel) + 1 ==
      run->total_calls) {
    uint64_t now = bench_now_ns();
    pthread_mutex_lock(&run->mutex);
    run->end_ns = now;
    run->finished = 1;
    pthread_cond_signal(&run->cond);
    pthread_mutex_unlock(&run->mutex);
  }
}

static void *
producer_main(void *arg)
{
  struct producer *pr = arg;
  struct append_run *run = pr->run;
  const struct wl_params *p = run->p;
  struct iovec *iov = pr->iov;
  uint64_t left = share(p, pr->index), n, j, k;
  /* The producer's own payload stream, read forward (harness.c). */
  uint64_t rec = 0;
  unsigned q;

  pthread_barrier_wait(&run->start);
  for (j = 0; left > 0; left -= n, j++) {
    n = left < p->batch ? left : p->batch;
    for (k = 0; k < n; k++, rec++) {
      iov[k].iov_base = (void *)bench_payload_stream(
          pr->index, p->producers, rec, p->record_bytes);
      iov[k].iov_len = p->record_bytes;
    }
    q = (unsigned)((pr->index + j) % p->queues);
    p->engine->append(run->e, q, iov, (size_t)n, on_done, run);
  }
  return NULL;
}

void
wl_append(const struct wl_params *p, struct bench_result *r)
{
  struct append_run run;
  struct producer *prs = calloc(p->producers, sizeof(*prs));
  struct wl_run wr;
  uint64_t t0;
  unsigned t;
  int err;

  memset(&run, 0, sizeof(run));
  run.p = p;
  run.total_calls = calls_of(p);
  pthread_mutex_init(&run.mutex, NULL);
  pthread_cond_init(&run.cond, NULL);
  pthread_barrier_init(&run.start, NULL, p->producers + 1);
  if (prs == NULL) {
    bench_result_fail(r, "out of memory");
    goto out;
  }
  for (t = 0; t < p->producers; t++) {
    prs[t].run = &run;
    prs[t].index = t;
    prs[t].iov = calloc(p->batch, sizeof(*prs[t].iov));
    if (prs[t].iov == NULL) {
      bench_result_fail(r, "out of memory");
      goto out;
    }
  }
  if (wl_open(p, ENG_INTERVAL, &wr, r) != 0)
    goto out;
  run.e = wr.e;
  for (t = 0; t < p->producers; t++)
    bench_thread_start(&prs[t].thread, producer_main, &prs[t]);
  t0 = bench_now_ns();
  pthread_barrier_wait(&run.start);
  pthread_mutex_lock(&run.mutex);
  while (!run.finished)
    pthread_cond_wait(&run.cond, &run.mutex);
  pthread_mutex_unlock(&run.mutex);
  wl_timed_end(&wr, r);
  for (t = 0; t < p->producers; t++)
    pthread_join(prs[t].thread, NULL);

  r->records = p->records;
  r->payload_bytes = p->records * p->record_bytes;
  r->seconds = (double)(run.end_ns - t0) / 1e9;
  r->rec_per_s = (double)r->records / r->seconds;
  r->mb_per_s = (double)r->payload_bytes / BENCH_MB / r->seconds;
  err = atomic_load(&run.first_error);
  if (err != 0) {
    r->errors = atomic_load(&run.failed) - 1;
    bench_result_fail(r, "append: %s", p->engine->strerror(wr.e, err));
  }
  wl_close(p, &wr, r->records, r->payload_bytes, r);
out:
  pthread_barrier_destroy(&run.start);
  pthread_cond_destroy(&run.cond);
  pthread_mutex_destroy(&run.mutex);
  for (t = 0; prs != NULL && t < p->producers; t++)
    free(prs[t].iov);
  free(prs);
}

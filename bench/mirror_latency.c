/*
 * mirror_latency.c -- the latency case of bench/mirror-bench
 * (mirror_bench.h; the other cases and the helpers are in
 * mirror_cases.c, whose invariants hold here too).
 *
 * The same start as the live case (a mirror on empty queues, one record
 * per queue shipped first); then one record appended every 1 / lat_rate
 * s, round robin over the queues, for lat_seconds.  Each record's latency
 * runs from its append's completion callback (the record is durable: the
 * log acknowledges after the fdatasync) to the first poll of
 * mrlog_mirror_queue, every LAT_POLL_US on a thread of its own, that
 * shows next_confirmed past it (confirmed by the broker and committed).
 * Then the broker alone: the benchmark's own connection publishes as many
 * messages of a one-record body's size at the same pace, round robin over
 * the same queues, without waiting for confirms, and times each publish
 * to its confirm (mirror_admin.h).
 */
#include <mrlog.h>
#include <mrlog_mirror.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mirror_bench.h"

#define LAT_POLL_US 100
/* A one-record message's body beyond the record: header, record header,
 * the queue name "b0" (docs/FORMAT.md 15.2). */
#define LAT_BODY_EXTRA (28 + 20 + 2)

/* The latency case's shared state: t_done is written by the log's
 * completion thread, t_conf by the poller, both read after the join. */
struct lat {
  struct mb_env *env;
  mrlog_mirror *m;
  uint64_t samples;
  _Atomic int64_t *t_done;  /* [samples]: append completed (durable) */
  int64_t *t_conf;          /* [samples]: first poll past it */
  atomic_int stop;          /* set by the main thread on a timeout */
  int error;                /* poller: a call failed */
};

static void appended(void *arg, int status, uint64_t position) {
  (void)position;
  /* A failed append leaves 0: the case reports it. */
  if (status == 0) atomic_store((_Atomic int64_t *)arg, mb_now_ns());
}

/* Sample i is queue i % Q at position 1 + i / Q (position 0 is the
 * warm-up's record). */
static void *poller(void *arg) {
  struct lat *l = arg;
  unsigned Q = l->env->queues;
  uint64_t seen[MB_MAX_QUEUES], done = 0;

  for (unsigned q = 0; q < Q; q++) seen[q] = 1;
  while (done < l->samples && !atomic_load(&l->stop)) {
    mb_sleep_us(LAT_POLL_US);
    for (unsigned q = 0; q < Q; q++) {
      uint64_t next;
      int64_t t;
      if (mrlog_mirror_queue(l->m, l->env->names[q], &next, NULL) != 0) {
        l->error = 1;
        return NULL;
      }
      if (next <= seen[q]) continue;
      t = mb_now_ns();
      for (uint64_t p = seen[q]; p < next; p++) {
        uint64_t i = (p - 1) * Q + q;
        if (i < l->samples) {
          l->t_conf[i] = t;
          done++;
        }
      }
      seen[q] = next;
    }
  }
  return NULL;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

  return x < y ? -1 : x > y;
}

int mb_latency(struct mb_env *env, unsigned bytes, unsigned rpm,
               struct mb_result *out) {
  struct lat l;
  pthread_t th;
  mrlog_mirror *m = NULL;
  mrlog *log = NULL;
  char dir[4096];
  unsigned char *buf = malloc(bytes);
  int64_t period = 1000000000 / (env->lat_rate ? env->lat_rate : 1), t0;
  int64_t *lat = NULL;
  uint64_t early = 0;
  int rc = -1, started = 0;

  memset(out, 0, sizeof(*out));
  memset(&l, 0, sizeof(l));
  dir[0] = '\0';
  l.env = env;
  l.samples = (uint64_t)(env->lat_rate * env->lat_seconds);
  l.t_done = calloc(l.samples, sizeof(*l.t_done));
  l.t_conf = calloc(l.samples, sizeof(*l.t_conf));
  lat = calloc(l.samples, sizeof(*lat));
  if (buf == NULL || l.samples == 0 || l.t_done == NULL ||
      l.t_conf == NULL || lat == NULL)
    goto out;
  if (mb_warm_start(env, bytes, rpm, dir, sizeof(dir), &log, &m) != 0) goto out;
  l.m = m;
  if (pthread_create(&th, NULL, poller, &l) != 0) goto out;
  started = 1;
  t0 = mb_now_ns();
  for (uint64_t i = 0; i < l.samples; i++) {
    int64_t at = t0 + (int64_t)i * period;
    struct timespec ts = {at / 1000000000, at % 1000000000};
    unsigned q = (unsigned)(i % env->queues);
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    mb_payload(q, 1 + i / env->queues, buf, bytes);
    mrlog_forget(mrlog_append(log, env->names[q], NULL, buf, bytes, appended,
                              (void *)&l.t_done[i]));
  }
  while (mb_now_ns() - t0 < (int64_t)env->timeout_s * 1000000000) {
    int left = 0;
    for (uint64_t i = 0; i < l.samples && !left; i++)
      left = l.t_conf[i] == 0;
    if (!left || l.error) break;
    mb_sleep_us(10 * MB_POLL_US);
  }
  atomic_store(&l.stop, 1);
  pthread_join(th, NULL);
  started = 0;
  for (uint64_t i = 0; i < l.samples; i++) {
    int64_t d = atomic_load(&l.t_done[i]);
    if (d == 0 || l.t_conf[i] == 0) {
      fprintf(stderr, "mirror-bench: latency: record %ju %s\n",
              (uintmax_t)i, d == 0 ? "not appended" : "not confirmed");
      goto out;
    }
    /* The completion callback may run after the poll saw the record
     * confirmed (it is durable before its callback runs): count it as
     * 0 and report how many. */
    lat[i] = l.t_conf[i] - d;
    if (lat[i] < 0) {
      lat[i] = 0;
      early++;
    }
  }
  qsort(lat, l.samples, sizeof(*lat), cmp_i64);
  out->samples = l.samples;
  out->p50_ms = lat[l.samples / 2] / 1e6;
  out->p99_ms = lat[l.samples * 99 / 100] / 1e6;
  out->max_ms = lat[l.samples - 1] / 1e6;
  if (early)
    fprintf(stderr, "  latency: %ju of %ju confirms seen before the "
            "append's callback ran (counted as 0)\n", (uintmax_t)early,
            (uintmax_t)l.samples);
  rc = mb_stop(m, "latency");
  m = NULL;
  /* The broker alone, with a body of the mirror's size for one record. */
  if (rc == 0)
    rc = admin_confirm_latency(env->admin, MB_EXCHANGE, env->names,
                               env->queues, bytes + LAT_BODY_EXTRA,
                               (unsigned)l.samples, period,
                               &out->floor_p50_ms,
                               &out->floor_p99_ms);
out:
  if (started) {
    atomic_store(&l.stop, 1);
    pthread_join(th, NULL);
  }
  if (m != NULL) mrlog_mirror_stop(m, 0);
  if (dir[0] != '\0') mb_close_log(log, dir);
  free(buf);
  free(l.t_done);
  free(l.t_conf);
  free(lat);
  return rc;
}

/*
 * mirror_bench.h -- what bench/mirror_bench.c (options, runs, report)
 * and bench/mirror_cases.c (the measured cases) share.
 */
#ifndef MRLOG_BENCH_MIRROR_BENCH_H
#define MRLOG_BENCH_MIRROR_BENCH_H

#include <mrlog.h>
#include <mrlog_mirror.h>
#include <stddef.h>
#include <stdint.h>

#include "mirror_admin.h"

/* The RabbitMQ names every case ships to: log queue "bN" goes to quorum
 * queue MB_PREFIX "bN" through exchange MB_EXCHANGE. */
#define MB_EXCHANGE "mrlog-bench"
#define MB_PREFIX "mrlog-bench."
#define MB_CATALOG "mrlog-bench-catalog"
#define MB_MAX_QUEUES 256

/* One case's setting and environment, shared by every run. */
struct mb_env {
  const char *uris;        /* the cluster (MRLOG_AMQP_URIS) */
  const char *dir;         /* where the logs' temporary directories go */
  struct admin *admin;     /* the benchmark's own AMQP connection */
  char *names[MB_MAX_QUEUES]; /* log queue names "b0", "b1", ... */
  unsigned queues;         /* how many of them are used */
  unsigned timeout_s;      /* a case still waiting after this fails */
  unsigned lat_rate;       /* latency case: records appended per second */
  double lat_seconds;      /* latency case: for this long */
  unsigned in_flight;      /* messages_in_flight; 0: the default (64) */
};

/* What one run of one case measured. */
struct mb_result {
  double rate;          /* records/s over the measured span */
  double seconds;       /* the measured span */
  double setup_ms;      /* backlog, e2e: from the mirror's start call
                           to its first published message */
  double total_s;       /* from the first start call to the end */
  double append_rate;   /* live: records/s appended and durable */
  double cpu_s;         /* the process's CPU time (all its threads: the
                           log's, the mirror's, the replica's) */
  uint64_t messages;    /* messages the mirror published */
  uint64_t samples;     /* latency: records timed */
  double p50_ms, p99_ms, max_ms; /* latency */
  double floor_p50_ms, floor_p99_ms; /* latency: the broker's own, one
                                        message at a time (mirror_admin.h) */
};

/* The stats are polled this often (microseconds) while a case waits. */
#define MB_POLL_US 1000

/* The cases (mirror_cases.c; mb_latency: mirror_latency.c).  Each purges the queues first, works in a
 * fresh log directory that it removes, and returns 0, or -1 after
 * printing what failed (a timeout, a verification that failed, an API
 * error). */
int mb_backlog(struct mb_env *env, unsigned bytes, unsigned rpm,
               uint64_t records, struct mb_result *out);
int mb_e2e(struct mb_env *env, unsigned bytes, unsigned rpm,
           uint64_t records, struct mb_result *out);
int mb_live(struct mb_env *env, unsigned bytes, unsigned rpm,
            uint64_t records, struct mb_result *out);
int mb_latency(struct mb_env *env, unsigned bytes, unsigned rpm,
               struct mb_result *out);

/* Helpers of mirror_cases.c that mirror_latency.c shares. */
int64_t mb_now_ns(void);                  /* CLOCK_MONOTONIC */
void mb_sleep_us(unsigned us);
/* The payload of queue q's record at pos (deterministic). */
void mb_payload(unsigned q, uint64_t pos, unsigned char *buf, size_t len);
/* Closes log (if not NULL) and removes its directory. */
void mb_close_log(mrlog *log, const char *dir);
/* Stops a mirror that must have drained.  0 or -1. */
int mb_stop(mrlog_mirror *m, const char *what);
/* Purges the queues, opens a fresh log in dir (OUT, size bytes) with one
 * record per queue, starts a mirror and waits until those are confirmed.
 * 0 or -1; *log and *m (OUT) are set as far as it got. */
int mb_warm_start(struct mb_env *env, unsigned bytes, unsigned rpm,
                  char *dir, size_t size, mrlog **log, mrlog_mirror **m);

#endif

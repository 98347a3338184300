/*
 * mirror_cases.c -- the cases of bench/mirror-bench, each one run against
 * the cluster (mirror_bench.h).
 *
 *   backlog  a log already holding N durable records over the queues; a
 *            mirror started on it; measured from its first published
 *            message to the first stats poll that shows records_confirmed
 *            == N and lag == 0.  Then the messages in the quorum queues
 *            are counted: they must be the messages published.
 *   e2e      a replica (a second, empty log fed by mrlog_replica_start)
 *            and a mirror warmed up with one record per queue (shipped
 *            and applied, so the replica consumes every queue); the
 *            mirror stopped, N records appended and made durable, a
 *            mirror started again (it resumes from the committed
 *            positions); measured from its first published message to
 *            the first poll that shows the replica's records_applied ==
 *            N + the warm-up's.  Then both logs are compared record by
 *            record: same positions, same bytes.
 *   live     a mirror on a log with empty queues (one record per queue
 *            shipped first, so the link is up and the queues declared);
 *            then N records appended as fast as the log takes them while
 *            the mirror ships; measured from the first append to the poll
 *            that shows them all confirmed.
 *   latency  in mirror_latency.c.
 *
 * Invariants:
 *   1. Every log is opened with the default policy (group commit: an
 *      append completes once an fdatasync covers it) in a fresh directory
 *      under env->dir, removed when the case ends, failed or not.
 *   2. Record k of queue q holds mb_payload(q, position) (deterministic), so
 *      any two logs of the same case compare byte for byte.
 *   3. The stats are polled every MB_POLL_US (1 ms): each measured span is
 *      late by at most that at either end.
 */
#include <mrlog.h>
#include <mrlog_mirror.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "mirror_bench.h"

#define BATCH 64
#define STOP_MS 30000

int64_t mb_now_ns(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double cpu_s(void) {
  struct rusage ru;

  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

void mb_sleep_us(unsigned us) {
  struct timespec ts = {us / 1000000, (long)(us % 1000000) * 1000};

  nanosleep(&ts, NULL);
}

/* Invariant 2: xorshift64 from a seed of (queue, position). */
void mb_payload(unsigned q, uint64_t pos, unsigned char *buf,
                    size_t len) {
  uint64_t x = ((uint64_t)q << 48) ^ (pos * 0x9e3779b97f4a7c15ull) ^ 1;
  size_t i;

  for (i = 0; i + 8 <= len; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    memcpy(buf + i, &x, 8);
  }
  for (; i < len; i++) buf[i] = (unsigned char)(x >> (8 * (i & 7)));
}

static void say(void *arg, int level, const char *msg) {
  (void)arg;
  if (level <= MRLOG_LOG_WARN) fprintf(stderr, "  [mirror] %s\n", msg);
}

static int rm_one(const char *path, const struct stat *sb, int flag,
                  struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

/* A log in a fresh directory (invariant 1) with the env's queues. */
static int open_log(struct mb_env *env, char *dir, size_t size, mrlog **out) {
  mrlog_policy p;
  int rc;

  snprintf(dir, size, "%s/mrlog-mirror-bench.XXXXXX", env->dir);
  if (mkdtemp(dir) == NULL) {
    perror("mirror-bench: mkdtemp");
    return -1;
  }
  mrlog_policy_init(&p);
  rc = mrlog_open(dir, &p, out);
  for (unsigned q = 0; rc == 0 && q < env->queues; q++)
    rc = mrlog_wait(mrlog_create_queue(*out, env->names[q], NULL, NULL),
                    NULL);
  if (rc != 0) {
    fprintf(stderr, "mirror-bench: open %s: %s\n", dir, mrlog_strerror(rc));
    return -1;
  }
  return 0;
}

void mb_close_log(mrlog *log, const char *dir) {
  if (log != NULL) mrlog_close(log);
  nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Appends positions [from, from + per) of every queue, round robin in
 * batches of BATCH, and waits until all are durable. */
static int fill(struct mb_env *env, mrlog *log, unsigned bytes, uint64_t from,
                uint64_t per) {
  struct iovec iov[BATCH];
  unsigned char *buf = malloc((size_t)bytes * BATCH);
  int rc = 0;

  if (buf == NULL) return -1;
  for (uint64_t at = from; rc == 0 && at < from + per; at += BATCH) {
    size_t n = from + per - at < BATCH ? (size_t)(from + per - at) : BATCH;
    for (unsigned q = 0; q < env->queues; q++) {
      for (size_t i = 0; i < n; i++) {
        mb_payload(q, at + i, buf + i * bytes, bytes);
        iov[i].iov_base = buf + i * bytes;
        iov[i].iov_len = bytes;
      }
      /* The batch is copied at submission: buf is free again. */
      mrlog_forget(mrlog_append_batch(log, env->names[q], &at, iov, n, NULL,
                                      NULL));
    }
  }
  rc = mrlog_wait(mrlog_sync(log, NULL, NULL), NULL);
  free(buf);
  if (rc != 0) fprintf(stderr, "mirror-bench: fill: %s\n", mrlog_strerror(rc));
  return rc == 0 ? 0 : -1;
}

static void config(struct mrlog_mirror_config *c, struct mb_env *env,
                   unsigned rpm) {
  mrlog_mirror_config_init(c);
  c->uris = env->uris;
  c->exchange = MB_EXCHANGE;
  c->queue_prefix = MB_PREFIX;
  c->records_per_message = rpm;
  if (env->in_flight != 0) c->messages_in_flight = env->in_flight;
  c->log_fn = say;
}

static int purge(struct mb_env *env) {
  return admin_purge(env->admin, MB_PREFIX, MB_CATALOG, env->names,
                     env->queues);
}

static int timed_out(struct mb_env *env, int64_t since, const char *what,
                     const struct mrlog_mirror_stats *st) {
  if (mb_now_ns() - since < (int64_t)env->timeout_s * 1000000000) return 0;
  fprintf(stderr, "mirror-bench: %s: not done after %u s (published %ju, "
          "confirmed %ju, applied %ju, lag %ju, last error %s)\n", what,
          env->timeout_s, (uintmax_t)st->records_published,
          (uintmax_t)st->records_confirmed, (uintmax_t)st->records_applied,
          (uintmax_t)st->lag, st->last_error_text);
  return 1;
}

/* The figures of a case timed from the mirror's first publish (t_first)
 * to the end (t_end), after a start at t0. */
static void timed_from_first_publish(struct mb_result *out, uint64_t records,
                                     int64_t t0, int64_t t_first,
                                     int64_t t_end, uint64_t messages) {
  out->seconds = (t_end - t_first) / 1e9;
  out->rate = records / out->seconds;
  out->setup_ms = (t_first - t0) / 1e6;
  out->total_s = (t_end - t0) / 1e9;
  out->messages = messages;
}

/* Stops the mirror; it must have drained (everything confirmed). */
int mb_stop(mrlog_mirror *m, const char *what) {
  int rc = mrlog_mirror_stop(m, STOP_MS);

  if (rc != 0)
    fprintf(stderr, "mirror-bench: %s: mrlog_mirror_stop: %s\n", what,
            mrlog_strerror(rc));
  return rc == 0 ? 0 : -1;
}

int mb_backlog(struct mb_env *env, unsigned bytes, unsigned rpm,
               uint64_t records, struct mb_result *out) {
  struct mrlog_mirror_config c;
  struct mrlog_mirror_stats st;
  mrlog_mirror *m = NULL;
  mrlog *log = NULL;
  char dir[4096];
  int64_t t0, t_first = 0, t_end;
  double cpu0;
  uint64_t in_queues = 0;
  int rc = -1;

  memset(out, 0, sizeof(*out));
  dir[0] = '\0';
  if (purge(env) != 0 || open_log(env, dir, sizeof(dir), &log) != 0 ||
      fill(env, log, bytes, 0, records / env->queues) != 0)
    goto out;
  config(&c, env, rpm);
  cpu0 = cpu_s();
  t0 = mb_now_ns();
  if (mrlog_mirror_start(log, &c, &m) != 0) goto out;
  for (;;) {
    mrlog_mirror_stats(m, &st);
    if (t_first == 0 && st.messages_published > 0) t_first = mb_now_ns();
    if (st.records_confirmed >= records && st.lag == 0) break;
    if (timed_out(env, t0, "backlog", &st)) goto out;
    mb_sleep_us(MB_POLL_US);
  }
  t_end = mb_now_ns();
  out->cpu_s = cpu_s() - cpu0;
  rc = mb_stop(m, "backlog");
  m = NULL;
  if (rc != 0) goto out;
  rc = -1;
  if (admin_count(env->admin, MB_PREFIX, env->names, env->queues,
                  &in_queues) != 0)
    goto out;
  /* At least once: a resend (after a nack, a return or a lost link) adds
   * messages; without one, the queues hold exactly what was published:
   * the record messages, and the delete marker that starts each queue the
   * mirror's consumer has no committed position in (st.deletes, counted
   * apart from messages_published). */
  if (in_queues < st.messages_confirmed + st.deletes ||
      (st.nacks + st.returns + st.reconnects == 0 &&
       in_queues != st.messages_published + st.deletes)) {
    fprintf(stderr, "mirror-bench: backlog: the quorum queues hold %ju "
            "messages, the mirror published %ju and %ju delete markers\n",
            (uintmax_t)in_queues, (uintmax_t)st.messages_published,
            (uintmax_t)st.deletes);
    goto out;
  }
  timed_from_first_publish(out, records, t0, t_first, t_end,
                           st.messages_published);
  rc = 0;
out:
  if (m != NULL) mrlog_mirror_stop(m, 0);
  if (dir[0] != '\0') mb_close_log(log, dir);
  return rc;
}

/* Both logs hold the same records at the same positions (invariant 2). */
static int compare(struct mb_env *env, mrlog *src, mrlog *rep,
                   uint64_t per) {
  for (unsigned q = 0; q < env->queues; q++) {
    mrlog_cursor *a = NULL, *b = NULL;
    struct mrlog_record ra, rb;
    uint64_t n = 0;
    int ea = 0, eb = 0, bad = 0;

    if (mrlog_cursor_open(src, env->names[q], 0, &a) != 0 ||
        mrlog_cursor_open(rep, env->names[q], 0, &b) != 0) {
      fprintf(stderr, "mirror-bench: e2e: replica lacks queue %s\n",
              env->names[q]);
      mrlog_cursor_close(a);
      return -1;
    }
    for (;;) {
      ea = mrlog_cursor_next(a, &ra);
      eb = mrlog_cursor_next(b, &rb);
      if (ea != 0 || eb != 0) break;
      if (ra.position != rb.position || ra.len != rb.len ||
          memcmp(ra.data, rb.data, ra.len) != 0) {
        fprintf(stderr, "mirror-bench: e2e: %s@%ju differs\n",
                env->names[q], (uintmax_t)ra.position);
        bad = 1;
        break;
      }
      n++;
    }
    mrlog_cursor_close(a);
    mrlog_cursor_close(b);
    if (bad) return -1;
    if (ea != MRLOG_ENODATA || eb != MRLOG_ENODATA || n != per) {
      fprintf(stderr, "mirror-bench: e2e: %s: %ju records compared of %ju "
              "(%s, %s)\n", env->names[q], (uintmax_t)n, (uintmax_t)per,
              mrlog_err_name(ea), mrlog_err_name(eb));
      return -1;
    }
  }
  return 0;
}

/* Waits until the replica has applied want records. */
static int applied(struct mb_env *env, mrlog_mirror *r, uint64_t want,
                   int64_t since, const char *what) {
  struct mrlog_mirror_stats st;

  for (;;) {
    mrlog_mirror_stats(r, &st);
    if (st.records_applied >= want) return 0;
    if (timed_out(env, since, what, &st)) return -1;
    mb_sleep_us(MB_POLL_US);
  }
}

int mb_e2e(struct mb_env *env, unsigned bytes, unsigned rpm,
           uint64_t records, struct mb_result *out) {
  struct mrlog_mirror_config c;
  struct mrlog_mirror_stats st, rst;
  mrlog_mirror *m = NULL, *r = NULL;
  mrlog *src = NULL, *rep = NULL;
  char dir[4096], rdir[4096];
  uint64_t per = records / env->queues;
  int64_t t0, t_first = 0, t_end;
  double cpu0;
  int rc = -1;

  memset(out, 0, sizeof(*out));
  dir[0] = rdir[0] = '\0';
  /* The warm-up: one record per queue shipped and applied, so the
   * replica consumes every queue before anything is measured. */
  if (purge(env) != 0 || open_log(env, dir, sizeof(dir), &src) != 0 ||
      fill(env, src, bytes, 0, 1) != 0)
    goto out;
  /* The replica's log starts without queues: it creates them. */
  snprintf(rdir, sizeof(rdir), "%s/mrlog-mirror-bench.XXXXXX", env->dir);
  if (mkdtemp(rdir) == NULL || mrlog_open(rdir, NULL, &rep) != 0) {
    fprintf(stderr, "mirror-bench: e2e: cannot open the replica's log\n");
    goto out;
  }
  config(&c, env, rpm);
  t0 = mb_now_ns();
  if (mrlog_mirror_start(src, &c, &m) != 0 ||
      mrlog_replica_start(rep, &c, &r) != 0 ||
      applied(env, r, env->queues, t0, "e2e (warm-up)") != 0 ||
      mb_stop(m, "e2e (warm-up)") != 0)
    goto out;
  m = NULL;
  /* The backlog, then a mirror that resumes from the committed
   * positions. */
  if (fill(env, src, bytes, 1, per) != 0) goto out;
  cpu0 = cpu_s();
  t0 = mb_now_ns();
  if (mrlog_mirror_start(src, &c, &m) != 0) goto out;
  for (;;) {
    mrlog_mirror_stats(m, &st);
    mrlog_mirror_stats(r, &rst);
    if (t_first == 0 && st.messages_published > 0) t_first = mb_now_ns();
    if (rst.records_applied >= env->queues + records) break;
    if (timed_out(env, t0, "e2e", &rst)) goto out;
    mb_sleep_us(MB_POLL_US);
  }
  t_end = mb_now_ns();
  out->cpu_s = cpu_s() - cpu0;
  rc = mb_stop(m, "e2e");
  m = NULL;
  mrlog_mirror_stats(r, &rst);
  mrlog_mirror_stop(r, STOP_MS);
  r = NULL;
  if (rc != 0) goto out;
  rc = -1;
  if (rst.records_duplicate != 0 || rst.rejected != 0)
    fprintf(stderr, "mirror-bench: e2e: %ju duplicates, %ju rejected\n",
            (uintmax_t)rst.records_duplicate, (uintmax_t)rst.rejected);
  if (compare(env, src, rep, per + 1) != 0) goto out;
  timed_from_first_publish(out, records, t0, t_first, t_end,
                           st.messages_published);
  rc = 0;
out:
  if (m != NULL) mrlog_mirror_stop(m, 0);
  if (r != NULL) mrlog_mirror_stop(r, 0);
  if (dir[0] != '\0') mb_close_log(src, dir);
  if (rdir[0] != '\0') mb_close_log(rep, rdir);
  return rc;
}

/* Starts a mirror on a fresh log and ships one record per queue, so the
 * link is up and every queue declared before anything is measured. */
int mb_warm_start(struct mb_env *env, unsigned bytes, unsigned rpm,
                  char *dir, size_t size, mrlog **log, mrlog_mirror **m) {
  struct mrlog_mirror_config c;
  struct mrlog_mirror_stats st;
  int64_t t0 = mb_now_ns();

  if (purge(env) != 0 || open_log(env, dir, size, log) != 0 ||
      fill(env, *log, bytes, 0, 1) != 0)
    return -1;
  config(&c, env, rpm);
  if (mrlog_mirror_start(*log, &c, m) != 0) return -1;
  do {
    mrlog_mirror_stats(*m, &st);
    if (timed_out(env, t0, "warm-up", &st)) return -1;
    mb_sleep_us(MB_POLL_US);
  } while (st.records_confirmed < env->queues || st.lag != 0);
  return 0;
}

int mb_live(struct mb_env *env, unsigned bytes, unsigned rpm,
            uint64_t records, struct mb_result *out) {
  struct mrlog_mirror_stats st;
  mrlog_mirror *m = NULL;
  mrlog *log = NULL;
  char dir[4096];
  uint64_t per = records / env->queues;
  int64_t t0, t_durable, t_end;
  double cpu0;
  int rc = -1;

  memset(out, 0, sizeof(*out));
  dir[0] = '\0';
  if (mb_warm_start(env, bytes, rpm, dir, sizeof(dir), &log, &m) != 0) goto out;
  cpu0 = cpu_s();
  t0 = mb_now_ns();
  if (fill(env, log, bytes, 1, per) != 0) goto out;
  t_durable = mb_now_ns();
  for (;;) {
    mrlog_mirror_stats(m, &st);
    if (st.records_confirmed >= env->queues + records && st.lag == 0) break;
    if (timed_out(env, t0, "live", &st)) goto out;
    mb_sleep_us(MB_POLL_US);
  }
  t_end = mb_now_ns();
  out->cpu_s = cpu_s() - cpu0;
  rc = mb_stop(m, "live");
  m = NULL;
  out->seconds = (t_end - t0) / 1e9;
  out->rate = records / out->seconds;
  out->append_rate = records / ((t_durable - t0) / 1e9);
  out->total_s = out->seconds;
  out->messages = st.messages_published;
out:
  if (m != NULL) mrlog_mirror_stop(m, 0);
  if (dir[0] != '\0') mb_close_log(log, dir);
  return rc;
}

/*
 * mirror_truncate.c -- the "truncate" case of tests/mirror_test: a
 * replica drops what its source truncated (docs/REPLICATION.md,
 * "Truncations"), except what only the mirror's own commits truncated.
 *
 *   1. A log without truncate_on_commit: queue trA (100 records) shipped,
 *      then truncated below 40; queue trB created, given 10 records and
 *      truncated past its next position (to 150) before any mirror saw
 *      it.  A second mirror run ships the truncations; the replica then
 *      holds trA's 60 records 40..99 and nothing below, and trB empty
 *      with next position 150, as the source does.
 *   2. A log with truncate_on_commit: queue tcA has a reader "app" (from
 *      position 0), queue tcB no consumer but the mirror.  Both are
 *      shipped; the mirror's commits empty tcB at the source.  Then "app"
 *      commits 30 and the mirror runs again: the source holds tcA from 30
 *      and tcB empty; the replica holds tcA from 30 and all of tcB (the
 *      cluster holds what tcB's source dropped).
 *   3. A log in poll mode whose poller (this thread) runs the mirror's
 *      sync: tpA, truncated below 20, is shipped with its marker.  Then
 *      tpA is truncated below 30 and the poller stops the mirror at once:
 *      the stop drains without the sync it cannot run while it waits, and
 *      the next mirror run ships that truncation; the replica holds tpA
 *      from 30.
 * And the "pollstop" case: a log in poll mode whose poller deletes a
 * queue the mirror watches and, without polling again, stops the mirror:
 * the watch's completion waits in the poller's queue, and the stop
 * returns (drained) instead of the mirror's thread and the poller waiting
 * for each other (an alarm fails the run if they do).
 *
 * Each log's queues go through an exchange (and RabbitMQ queues) of their
 * own, named after the process, so runs on one cluster never meet.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "mirror_test.h"
#include "mrlog.h"
#include "mrlog_mirror.h"

#define TR_RECORDS 100

static void quiet(void *arg, int level, const char *msg) {
  (void)arg;
  if (getenv("MIRROR_TEST_VERBOSE")) printf("  [log %d] %s\n", level, msg);
}

static void nap_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

/* Record pos of queue name: 20 to 59 bytes that depend on both. */
static size_t tr_fill(const char *name, uint64_t pos, unsigned char *buf) {
  size_t len = 20 + (size_t)((pos * 7 + (unsigned char)name[2]) % 40);

  for (size_t i = 0; i < len; i++)
    buf[i] = (unsigned char)(pos * 31 + i * 3 + (unsigned char)name[2]);
  return len;
}

static int fill(mrlog *log, const char *name, uint64_t n) {
  unsigned char buf[64];

  CHECK(mrlog_wait(mrlog_create_queue(log, name, NULL, NULL), NULL) == 0,
        "create %s", name);
  for (uint64_t pos = 0; pos < n; pos++) {
    size_t len = tr_fill(name, pos, buf);
    CHECK(mrlog_wait(mrlog_append(log, name, &pos, buf, len, NULL, NULL),
                     NULL) == 0,
          "append %s", name);
  }
  return 0;
}

static void config(struct mrlog_mirror_config *cfg, const char *uris,
                   const char *name) {
  static char exchange[64], prefix[72];

  snprintf(exchange, sizeof(exchange), "%s-%ld", name, (long)getpid());
  snprintf(prefix, sizeof(prefix), "%s.", exchange);
  mrlog_mirror_config_init(cfg);
  cfg->uris = uris;
  cfg->exchange = exchange;
  cfg->queue_prefix = prefix;
  cfg->refresh_ms = 200;
  cfg->log_fn = quiet;
}

/* A mirror of log runs until everything durable, truncations included,
 * is confirmed. */
static int ship(const char *uris, mrlog *log, const char *exchange) {
  struct mrlog_mirror_config cfg;
  mrlog_mirror *mir;

  config(&cfg, uris, exchange);
  CHECK(mrlog_mirror_start(log, &cfg, &mir) == 0, "mirror_start");
  CHECK(mrlog_mirror_stop(mir, 60000) == 0, "mirror did not drain");
  return 0;
}

/* Queue name of log holds exactly the records first .. last (inclusive;
 * none when first > last), byte for byte, and its next position is next.
 * 1 when it does, 0 when not yet (or never), with *why. */
static int holds(mrlog *log, const char *name, uint64_t first, uint64_t last,
                 uint64_t next, const char **why) {
  unsigned char want[64];
  struct mrlog_queue_info info;
  struct mrlog_record rec;
  mrlog_cursor *c;
  uint64_t expect = first;
  int ok = 1;

  if (mrlog_queue_info(log, name, &info) != 0) {
    *why = "no such queue";
    return 0;
  }
  if (info.next_position != next) {
    *why = "next position differs";
    return 0;
  }
  if (mrlog_cursor_open(log, name, 0, &c) != 0) {
    *why = "cursor";
    return 0;
  }
  while (ok && mrlog_cursor_next(c, &rec) == 0) {
    size_t len = tr_fill(name, rec.position, want);
    if (rec.position != expect || expect > last) {
      *why = rec.position < first ? "a record below the first one kept"
                                  : "records differ in their positions";
      ok = 0;
    } else if (rec.len != len || memcmp(rec.data, want, len) != 0) {
      *why = "bytes differ";
      ok = 0;
    }
    expect++;
  }
  mrlog_cursor_close(c);
  if (ok && first <= last && expect != last + 1) {
    *why = "records missing at the end";
    ok = 0;
  }
  return ok;
}

struct want {
  const char *name;
  uint64_t first, last, next;
};

/* Runs a replica of exchange's queues into dst until each queue holds
 * what w says (60 s at most); checks that it applied at least
 * want_truncations truncate markers. */
static int replicate(const char *uris, mrlog *dst, const char *exchange,
                     const struct want *w, int n,
                     uint64_t want_truncations) {
  struct mrlog_mirror_config cfg;
  struct mrlog_mirror_stats st;
  mrlog_mirror *rep;
  const char *why = "";
  int reached = 0;

  config(&cfg, uris, exchange);
  CHECK(mrlog_replica_start(dst, &cfg, &rep) == 0, "replica_start");
  for (int i = 0; i < 600 && !reached; i++) {
    reached = 1;
    for (int k = 0; k < n && reached; k++)
      reached = holds(dst, w[k].name, w[k].first, w[k].last, w[k].next,
                      &why);
    if (!reached) nap_ms(100);
  }
  nap_ms(300); /* nothing more may come */
  mrlog_mirror_stats(rep, &st);
  CHECK(mrlog_mirror_stop(rep, 1000) == 0, "replica stop");
  printf("  replica (%s): %" PRIu64 " applied, %" PRIu64 " truncations, "
         "%" PRIu64 " deletes\n",
         exchange, st.records_applied, st.truncations, st.deletes);
  for (int k = 0; k < n; k++)
    CHECK(holds(dst, w[k].name, w[k].first, w[k].last, w[k].next, &why),
          "replica's %s: %s", w[k].name, why);
  /* A marker nacked and published again is applied twice: at least. */
  CHECK(st.truncations >= want_truncations, "%" PRIu64 " truncations",
        st.truncations);
  CHECK(st.rejected == 0, "rejected %" PRIu64, st.rejected);
  return 0;
}

/* Case 1: truncations made by the application reach the replica. */
static int explicit_truncations(const char *uris) {
  char src_dir[] = "/tmp/mrlog-mirror-src.XXXXXX";
  char dst_dir[] = "/tmp/mrlog-mirror-dst.XXXXXX";
  const struct want w[2] = {{"trA", 40, TR_RECORDS - 1, TR_RECORDS},
                            {"trB", 1, 0, 150}};
  const char *why = "";
  mrlog *src, *dst;

  CHECK(mkdtemp(src_dir) != NULL && mkdtemp(dst_dir) != NULL, "mkdtemp");
  CHECK(mrlog_open(src_dir, NULL, &src) == 0, "open source");
  CHECK(mrlog_open(dst_dir, NULL, &dst) == 0, "open replica");
  if (fill(src, "trA", TR_RECORDS) != 0) return 1;
  if (ship(uris, src, "mrlogtr") != 0) return 1;
  CHECK(mrlog_wait(mrlog_truncate(src, "trA", 39, NULL, NULL), NULL) == 0,
        "truncate trA");
  if (fill(src, "trB", 10) != 0) return 1;
  CHECK(mrlog_wait(mrlog_truncate(src, "trB", 149, NULL, NULL), NULL) == 0,
        "truncate trB");
  for (int k = 0; k < 2; k++)
    CHECK(holds(src, w[k].name, w[k].first, w[k].last, w[k].next, &why),
          "source's %s: %s", w[k].name, why);
  if (ship(uris, src, "mrlogtr") != 0) return 1;
  if (replicate(uris, dst, "mrlogtr", w, 2, 2) != 0) return 1;
  CHECK(mrlog_close(src) == 0 && mrlog_close(dst) == 0, "close");
  mirror_test_rm_rf(src_dir);
  mirror_test_rm_rf(dst_dir);
  return 0;
}

/* Case 2: under truncate_on_commit, what a reader committed reaches the
 * replica, what only the mirror committed does not. */
static int commit_truncations(const char *uris) {
  char src_dir[] = "/tmp/mrlog-mirror-src.XXXXXX";
  char dst_dir[] = "/tmp/mrlog-mirror-dst.XXXXXX";
  const struct want src_w[2] = {{"tcA", 30, TR_RECORDS - 1, TR_RECORDS},
                                {"tcB", 1, 0, TR_RECORDS}};
  const struct want dst_w[2] = {{"tcA", 30, TR_RECORDS - 1, TR_RECORDS},
                                {"tcB", 0, TR_RECORDS - 1, TR_RECORDS}};
  const char *why = "";
  mrlog_policy policy;
  mrlog *src, *dst;

  CHECK(mkdtemp(src_dir) != NULL && mkdtemp(dst_dir) != NULL, "mkdtemp");
  mrlog_policy_init(&policy);
  policy.truncate_on_commit = 1;
  CHECK(mrlog_open(src_dir, &policy, &src) == 0, "open source");
  CHECK(mrlog_open(dst_dir, NULL, &dst) == 0, "open replica");
  if (fill(src, "tcA", TR_RECORDS) != 0) return 1;
  if (fill(src, "tcB", TR_RECORDS) != 0) return 1;
  CHECK(mrlog_wait(mrlog_commit(src, "tcA", "app", 0, NULL, NULL), NULL) ==
            0,
        "consumer app");
  if (ship(uris, src, "mrlogtc") != 0) return 1;
  CHECK(mrlog_wait(mrlog_commit(src, "tcA", "app", 30, NULL, NULL), NULL) ==
            0,
        "commit app");
  if (ship(uris, src, "mrlogtc") != 0) return 1;
  for (int k = 0; k < 2; k++)
    CHECK(holds(src, src_w[k].name, src_w[k].first, src_w[k].last,
                src_w[k].next, &why),
          "source's %s: %s", src_w[k].name, why);
  if (replicate(uris, dst, "mrlogtc", dst_w, 2, 1) != 0)
    return 1;
  CHECK(mrlog_close(src) == 0 && mrlog_close(dst) == 0, "close");
  mirror_test_rm_rf(src_dir);
  mirror_test_rm_rf(dst_dir);
  return 0;
}

/* Polls src's completions until mir has confirmed records records and
 * truncs truncate markers (60 s at most). */
static int poll_until(mrlog *src, mrlog_mirror *mir, uint64_t records,
                      uint64_t truncs) {
  struct mrlog_mirror_stats st;

  for (int i = 0; i < 6000; i++) {
    mrlog_run_completions(src, 1000);
    mrlog_mirror_stats(mir, &st);
    if (st.records_confirmed >= records && st.truncations >= truncs)
      return 0;
    nap_ms(10);
  }
  CHECK(0, "%" PRIu64 " records and %" PRIu64 " truncations confirmed",
        st.records_confirmed, st.truncations);
  return 1;
}

/* Case 3: poll mode; the poller stops the mirror. */
static int poll_mode(const char *uris) {
  char src_dir[] = "/tmp/mrlog-mirror-src.XXXXXX";
  char dst_dir[] = "/tmp/mrlog-mirror-dst.XXXXXX";
  const struct want w[1] = {{"tpA", 30, 49, 50}};
  struct mrlog_mirror_config cfg;
  mrlog_policy policy;
  mrlog_mirror *mir;
  mrlog *src, *dst;

  CHECK(mkdtemp(src_dir) != NULL && mkdtemp(dst_dir) != NULL, "mkdtemp");
  mrlog_policy_init(&policy);
  policy.completion_mode = MRLOG_COMPLETE_ON_POLL;
  CHECK(mrlog_open(src_dir, &policy, &src) == 0, "open source");
  CHECK(mrlog_open(dst_dir, NULL, &dst) == 0, "open replica");
  CHECK(mrlog_completion_fd(src) >= 0, "poller");
  if (fill(src, "tpA", 50) != 0) return 1;
  CHECK(mrlog_wait(mrlog_truncate(src, "tpA", 19, NULL, NULL), NULL) == 0,
        "truncate tpA");
  config(&cfg, uris, "mrlogtp");
  CHECK(mrlog_mirror_start(src, &cfg, &mir) == 0, "mirror_start");
  if (poll_until(src, mir, 30, 1) != 0) return 1;
  CHECK(mrlog_wait(mrlog_truncate(src, "tpA", 29, NULL, NULL), NULL) == 0,
        "truncate tpA again");
  CHECK(mrlog_mirror_stop(mir, 60000) == 0, "the poller's stop did not drain");
  CHECK(mrlog_mirror_start(src, &cfg, &mir) == 0, "mirror_start again");
  if (poll_until(src, mir, 0, 1) != 0) return 1;
  CHECK(mrlog_mirror_stop(mir, 60000) == 0, "mirror did not drain");
  if (replicate(uris, dst, "mrlogtp", w, 1, 2) != 0) return 1;
  CHECK(mrlog_close(src) == 0 && mrlog_close(dst) == 0, "close");
  mirror_test_rm_rf(src_dir);
  mirror_test_rm_rf(dst_dir);
  return 0;
}

int mirror_test_poll_stop(const char *uris) {
  char src_dir[] = "/tmp/mrlog-mirror-src.XXXXXX";
  struct mrlog_mirror_config cfg;
  mrlog_policy policy;
  mrlog_mirror *mir;
  mrlog *src;
  int rc;

  CHECK(mkdtemp(src_dir) != NULL, "mkdtemp");
  mrlog_policy_init(&policy);
  policy.completion_mode = MRLOG_COMPLETE_ON_POLL;
  CHECK(mrlog_open(src_dir, &policy, &src) == 0, "open source");
  CHECK(mrlog_completion_fd(src) >= 0, "poller");
  if (fill(src, "pdA", 10) != 0) return 1;
  config(&cfg, uris, "mrlogpd");
  CHECK(mrlog_mirror_start(src, &cfg, &mir) == 0, "mirror_start");
  if (poll_until(src, mir, 10, 0) != 0) return 1;
  for (int i = 0; i < 50; i++) { /* the idle mirror arms its watch */
    mrlog_run_completions(src, 1000);
    nap_ms(10);
  }
  mrlog_forget(mrlog_delete_queue(src, "pdA", NULL, NULL));
  for (int i = 0; i < 3000 && mrlog_queue_exists(src, "pdA"); i++)
    nap_ms(10); /* applied; its completion and the watch's wait for us */
  CHECK(!mrlog_queue_exists(src, "pdA"), "the delete was not applied");
  nap_ms(300); /* the mirror's refresh finds the queue gone */
  alarm(120); /* a stop that never returns ends the run */
  rc = mrlog_mirror_stop(mir, 60000);
  alarm(0);
  CHECK(rc == 0, "stop: %s", mrlog_err_name(rc));
  CHECK(mrlog_close(src) == 0, "close");
  mirror_test_rm_rf(src_dir);
  return 0;
}

int mirror_test_truncations(const char *uris) {
  if (explicit_truncations(uris) != 0) return 1;
  if (commit_truncations(uris) != 0) return 1;
  return poll_mode(uris);
}

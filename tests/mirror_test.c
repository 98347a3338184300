/*
 * mirror_test.c -- libmrlog_mirror against a real RabbitMQ cluster (run by
 * tests/mirror_test.sh, which starts one and passes its URIs in
 * MRLOG_AMQP_URIS).  Cases, each printing PASS or FAIL:
 *
 *   ship      4 queues x 5,000 records (0 to 299 bytes, with gaps of 5
 *             positions from explicit-position appends) appended while the
 *             mirror runs on a log with truncate_on_commit; the stop drains
 *             (0); every queue is committed under "mirror" up to its next
 *             position and truncated to empty; consuming the quorum queues
 *             gives every record, byte for byte at its position, with no
 *             other record, in messages whose id and headers match.
 *   badauth   a wrong password: stats report MRLOG_EACCES with the broker's
 *             ACCESS_REFUSED, the mirror retries with backoff (a bounded
 *             number of attempts), nothing is committed.
 *   novhost   a missing vhost: MRLOG_EACCES.
 *   clash     the RabbitMQ queue exists as a classic queue: MRLOG_EEXIST
 *             with the broker's "inequivalent arg" text.
 *   replica   2 queues x 2,000 records (with gaps) shipped, then applied by
 *             mrlog_replica_start to another log, which must hold exactly
 *             the source's records at the same positions, byte for byte;
 *             a foreign message in a mirrored queue is rejected (counted,
 *             never applied); everything shipped again under another
 *             consumer name (a delete marker first, then the records)
 *             leaves the replica the same.
 *   truncate  truncations of the source reach the replica, except what
 *             only the mirror's commits truncated (tests/mirror_truncate.c).
 *   pollstop  the poller of a poll-mode log deletes a watched queue and
 *             stops the mirror without polling again: the stop returns.
 *   failover  (with MIRROR_TEST_KILL, a command that kills node 1) 2
 *             queues x 5,000 records; node 1, which the mirror ships
 *             through, is killed with SIGKILL halfway; the mirror moves to
 *             another node and drains, and every record is in RabbitMQ.
 *
 * Ends with the line "N passed, N failed"; exits 1 if any failed.
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "amqp_connect.h"
#include "body.h"
#include "mirror_test.h"
#include "mrlog.h"
#include "mrlog_mirror.h"

#define QUEUES 4
#define RECORDS 5000
#define BATCH 100

static int passed, failed;
static char uri1[512];

static void report(const char *name, int bad) {
  printf("%s %s\n", bad ? "FAIL" : "PASS", name);
  fflush(stdout);
  if (bad) failed++;
  else passed++;
}

static void sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The most connection attempts a mirror can make in `ms` ms from its
 * start: the first at once, then one after each backoff (min, doubling up
 * to max), attempts themselves taking no time. */
static uint64_t attempts_within(uint64_t ms, uint64_t min, uint64_t max) {
  uint64_t n = 0, t = 0, b = min;

  while (t <= ms) {
    n++;
    t += b;
    b = b * 2 > max ? max : b * 2;
  }
  return n;
}

static size_t rec_len(int q, uint64_t pos) {
  return (size_t)((pos * 37 + (uint64_t)q * 11) % 300);
}

static void rec_fill(int q, uint64_t pos, unsigned char *buf) {
  size_t len = rec_len(q, pos);
  for (size_t j = 0; j < len; j++)
    buf[j] = (unsigned char)(pos * 131 + j * 7 + (uint64_t)q);
}

static int rm_one(const char *path, const struct stat *sb, int flag,
                  struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

void mirror_test_rm_rf(const char *dir) {
  nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void quiet(void *arg, int level, const char *msg) {
  (void)arg;
  if (getenv("MIRROR_TEST_VERBOSE")) printf("  [log %d] %s\n", level, msg);
}

static amqp_connection_state_t connect_plain(void) {
  return test_amqp_connect(uri1);
}

static int header_i64(const amqp_table_t *t, const char *key, int64_t *v) {
  for (int i = 0; i < t->num_entries; i++) {
    const amqp_table_entry_t *e = &t->entries[i];
    if (e->key.len == strlen(key) && memcmp(e->key.bytes, key, e->key.len) ==
        0 && e->value.kind == AMQP_FIELD_KIND_I64) {
      *v = e->value.value.i64;
      return 0;
    }
  }
  return -1;
}

/* Consumes mrlog.<queue> to empty and checks every record against the
 * expected set (seen[i] for positions[i]); duplicates must be identical. */
static int verify_queue(amqp_connection_state_t conn, int q, const char *name,
                        const uint64_t *positions, size_t n) {
  char rq[64], id[128];
  unsigned char *seen = calloc(n, 1), expect[300];
  size_t got = 0, messages = 0, markers = 0, at;

  snprintf(rq, sizeof(rq), "mrlog.%s", name);
  for (;;) {
    amqp_rpc_reply_t r = amqp_basic_get(conn, 1, amqp_cstring_bytes(rq), 1);
    amqp_message_t msg;
    struct mrlog__body_view v;
    const unsigned char *cur;
    const char *why = "";
    uint64_t pos, ms;
    const void *data;
    uint32_t len;
    int64_t first = -1, count = -1;

    CHECK(r.reply_type == AMQP_RESPONSE_NORMAL, "basic.get %s failed", rq);
    if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD) break;
    r = amqp_read_message(conn, 1, &msg, 0);
    CHECK(r.reply_type == AMQP_RESPONSE_NORMAL, "read_message failed");
    if (mrlog__body_is_delete(msg.body.bytes, msg.body.len)) {
      /* A new queue's delete marker: it comes before any record. */
      const char *q;
      size_t qlen;
      CHECK(got == 0 && mrlog__body_parse_delete(msg.body.bytes,
                                                 msg.body.len, &q, &qlen,
                                                 &why) == 0 &&
                qlen == strlen(name) && memcmp(q, name, qlen) == 0,
            "%s: a delete marker after records, or malformed", rq);
      markers++;
      amqp_destroy_message(&msg);
      continue;
    }
    messages++;
    CHECK(mrlog__body_parse(msg.body.bytes, msg.body.len, &v, &why) == 0,
          "message %zu of %s: %s", messages, rq, why);
    CHECK(v.queue_len == strlen(name) &&
              memcmp(v.queue, name, v.queue_len) == 0,
          "body names another queue");
    snprintf(id, sizeof(id), "%s:%" PRIu64 "-%" PRIu64, name, v.first,
             v.last);
    CHECK(msg.properties.message_id.len == strlen(id) &&
              memcmp(msg.properties.message_id.bytes, id, strlen(id)) == 0,
          "message id is not %s", id);
    CHECK(msg.properties.delivery_mode == 2, "not persistent");
    CHECK(header_i64(&msg.properties.headers, "mrlog-first", &first) == 0 &&
              header_i64(&msg.properties.headers, "mrlog-count", &count) ==
                  0 &&
              (uint64_t)first == v.first && (uint64_t)count == v.count,
          "headers do not match the body");
    cur = v.records;
    at = 0;
    while (mrlog__body_next(&v, &cur, &pos, &ms, &data, &len)) {
      while (at < n && positions[at] < pos) at++;
      CHECK(at < n && positions[at] == pos,
            "%s: position %" PRIu64 " was never appended", name, pos);
      CHECK(len == rec_len(q, pos), "%s@%" PRIu64 ": length %u, not %zu",
            name, pos, len, rec_len(q, pos));
      rec_fill(q, pos, expect);
      CHECK(memcmp(data, expect, len) == 0, "%s@%" PRIu64 ": bytes differ",
            name, pos);
      CHECK(ms > 0, "no record time");
      if (!seen[at]) got++;
      seen[at] = 1;
    }
    amqp_destroy_message(&msg);
    amqp_maybe_release_buffers(conn);
  }
  CHECK(got == n, "%s: %zu of %zu records in RabbitMQ", name, got, n);
  printf("  %s: %zu records in %zu messages after %zu delete marker(s)\n",
         rq, got, messages, markers);
  free(seen);
  return 0;
}

static int test_ship(const char *uris) {
  char dir[] = "/tmp/mrlog-mirror-test.XXXXXX";
  static uint64_t positions[QUEUES][RECORDS];
  static unsigned char buf[BATCH][300];
  struct iovec iov[BATCH];
  mrlog_policy policy;
  mrlog *log;
  struct mrlog_mirror_config cfg;
  struct mrlog_mirror_stats st;
  mrlog_mirror *mir;
  char names[QUEUES][32];
  uint64_t next[QUEUES] = {0};
  amqp_connection_state_t conn;
  int rc;

  CHECK(mkdtemp(dir) != NULL, "mkdtemp");
  mrlog_policy_init(&policy);
  policy.truncate_on_commit = 1;
  CHECK(mrlog_open(dir, &policy, &log) == 0, "mrlog_open");
  for (int q = 0; q < QUEUES; q++) {
    snprintf(names[q], sizeof(names[q]), "ship%d", q);
    CHECK(mrlog_wait(mrlog_create_queue(log, names[q], NULL, NULL), NULL) ==
              0,
          "create %s", names[q]);
  }
  mrlog_mirror_config_init(&cfg);
  cfg.uris = uris;
  cfg.records_per_message = 64;
  cfg.messages_in_flight = 16;
  cfg.log_fn = quiet;
  CHECK(mrlog_mirror_start(log, &cfg, &mir) == 0, "mirror_start");
  /* Batches of BATCH records; every tenth batch starts 5 positions past
   * the queue's next one (an explicit-position append leaves a gap). */
  for (int b = 0; b < RECORDS / BATCH; b++) {
    for (int q = 0; q < QUEUES; q++) {
      uint64_t first = next[q] + (b % 10 == 9 ? 5 : 0);
      for (int i = 0; i < BATCH; i++) {
        uint64_t pos = first + (uint64_t)i;
        rec_fill(q, pos, buf[i]);
        iov[i].iov_base = buf[i];
        iov[i].iov_len = rec_len(q, pos);
        positions[q][b * BATCH + i] = pos;
      }
      rc = mrlog_wait(mrlog_append_batch(log, names[q], &first, iov, BATCH,
                                         NULL, NULL),
                      NULL);
      CHECK(rc == 0, "append_batch: %s", mrlog_strerror(rc));
      next[q] = first + BATCH;
    }
  }
  rc = mrlog_mirror_stats(mir, &st);
  CHECK(rc == 0, "stats");
  rc = mrlog_mirror_stop(mir, 60000);
  CHECK(rc == 0, "mirror_stop did not drain: %s", mrlog_strerror(rc));
  for (int q = 0; q < QUEUES; q++) {
    struct mrlog_queue_info info;
    uint64_t committed = 0;
    CHECK(mrlog_committed(log, names[q], "mirror", &committed) == 0,
          "no committed position for %s", names[q]);
    CHECK(committed == next[q], "%s committed %" PRIu64 ", next %" PRIu64,
          names[q], committed, next[q]);
    CHECK(mrlog_queue_info(log, names[q], &info) == 0, "queue_info");
    CHECK(info.records == 0 && info.first_position == next[q],
          "%s keeps %" PRIu64 " records after commits", names[q],
          info.records);
  }
  CHECK(mrlog_close(log) == 0, "close");
  mirror_test_rm_rf(dir);
  conn = connect_plain();
  CHECK(conn != NULL, "cannot connect to %s to verify", uri1);
  for (int q = 0; q < QUEUES; q++)
    if (verify_queue(conn, q, names[q], positions[q], RECORDS) != 0)
      return 1;
  amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
  amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(conn);
  return 0;
}

/* Starts a mirror on a one-queue log with uris and waits (10 s at most)
 * for stats.last_error == want; checks its text holds `text`. */
static int expect_error(const char *uris, const char *queue, int want,
                        const char *text) {
  char dir[] = "/tmp/mrlog-mirror-test.XXXXXX";
  mrlog_policy policy;
  mrlog *log;
  struct mrlog_mirror_config cfg;
  struct mrlog_mirror_stats st;
  mrlog_mirror *mir;
  uint64_t committed, t0, elapsed;
  int rc;

  CHECK(mkdtemp(dir) != NULL, "mkdtemp");
  mrlog_policy_init(&policy);
  CHECK(mrlog_open(dir, &policy, &log) == 0, "mrlog_open");
  CHECK(mrlog_wait(mrlog_create_queue(log, queue, NULL, NULL), NULL) == 0,
        "create");
  CHECK(mrlog_wait(mrlog_append(log, queue, NULL, "x", 1, NULL, NULL),
                   NULL) == 0,
        "append");
  mrlog_mirror_config_init(&cfg);
  cfg.uris = uris;
  cfg.backoff_min_ms = 50;
  cfg.backoff_max_ms = 400;
  cfg.log_fn = quiet;
  t0 = mono_ms();
  CHECK(mrlog_mirror_start(log, &cfg, &mir) == 0, "mirror_start");
  /* Until the error shows, two attempts have failed and 1.5 s have gone
   * by (long enough for a mirror without backoff to try hundreds of
   * times), or 20 s. */
  for (;;) {
    mrlog_mirror_stats(mir, &st);
    elapsed = mono_ms() - t0; /* after the read: st's attempts fit in it */
    if ((st.last_error == want && st.reconnects >= 2 && elapsed >= 1500) ||
        elapsed > 20000)
      break;
    sleep_ms(50);
  }
  rc = mrlog_mirror_stop(mir, 0);
  printf("  error %s: %s (reconnects %" PRIu64 ")\n",
         mrlog_err_name(st.last_error), st.last_error_text, st.reconnects);
  CHECK(rc == MRLOG_ETIMEDOUT, "stop drained");
  CHECK(st.last_error == want, "last_error %s, not %s",
        mrlog_err_name(st.last_error), mrlog_err_name(want));
  CHECK(strstr(st.last_error_text, text) != NULL, "text lacks \"%s\"", text);
  /* Backoff: 50, 100, 200, 400, 400 ... ms between attempts. */
  CHECK(st.reconnects >= 2, "%" PRIu64 " attempts in %" PRIu64 " ms",
        st.reconnects, elapsed);
  CHECK(st.reconnects <= attempts_within(elapsed, 50, 400),
        "%" PRIu64 " attempts in %" PRIu64 " ms: no backoff?", st.reconnects,
        elapsed);
  CHECK(st.records_confirmed == 0, "confirmed records");
  CHECK(mrlog_committed(log, queue, "mirror", &committed) == MRLOG_ENODATA,
        "something was committed");
  CHECK(mrlog_close(log) == 0, "close");
  mirror_test_rm_rf(dir);
  return 0;
}

/* Replaces the last occurrence of find in uri1 (the password, the
 * vhost). */
static void edit_uri(char *out, size_t size, const char *find,
                     const char *repl) {
  const char *at = NULL, *p = uri1;

  while ((p = strstr(p, find)) != NULL) at = p++;
  if (at == NULL) {
    snprintf(out, size, "%s", uri1);
    return;
  }
  snprintf(out, size, "%.*s%s%s", (int)(at - uri1), uri1, repl,
           at + strlen(find));
}

static int test_clash(void) {
  amqp_connection_state_t conn = connect_plain();

  CHECK(conn != NULL, "connect");
  amqp_queue_declare(conn, 1, amqp_cstring_bytes("mrlog.clash"), 0, 1, 0, 0,
                     amqp_empty_table);
  CHECK(amqp_get_rpc_reply(conn).reply_type == AMQP_RESPONSE_NORMAL,
        "declare the classic queue");
  amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
  amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(conn);
  return expect_error(uri1, "clash", MRLOG_EEXIST, "inequivalent arg");
}

#define REP_QUEUES 2
#define REP_RECORDS 2000

/* Appends REP_RECORDS to each rep<q> queue of log (gaps of 5 positions
 * every 500) and records their positions. */
static int fill_rep(mrlog *log, uint64_t positions[][REP_RECORDS]) {
  unsigned char buf[300];

  for (int q = 0; q < REP_QUEUES; q++) {
    char name[16];
    uint64_t pos = 0;
    snprintf(name, sizeof(name), "rep%d", q);
    CHECK(mrlog_wait(mrlog_create_queue(log, name, NULL, NULL), NULL) == 0,
          "create");
    for (int i = 0; i < REP_RECORDS; i++) {
      if (i % 500 == 499) pos += 5;
      rec_fill(q, pos, buf);
      positions[q][i] = pos;
      mrlog_forget(mrlog_append(log, name, &pos, buf, rec_len(q, pos), NULL,
                                NULL));
      pos++;
    }
  }
  CHECK(mrlog_wait(mrlog_sync(log, NULL, NULL), NULL) == 0, "sync");
  return 0;
}

/* The replica's queues hold exactly the source's records. */
static int compare_rep(mrlog *log, uint64_t positions[][REP_RECORDS]) {
  unsigned char expect[300];

  for (int q = 0; q < REP_QUEUES; q++) {
    char name[16];
    mrlog_cursor *c;
    struct mrlog_record rec;
    int i = 0;
    snprintf(name, sizeof(name), "rep%d", q);
    CHECK(mrlog_cursor_open(log, name, 0, &c) == 0, "replica lacks %s",
          name);
    while (mrlog_cursor_next(c, &rec) == 0) {
      CHECK(i < REP_RECORDS, "%s: extra record at %" PRIu64, name,
            rec.position);
      CHECK(rec.position == positions[q][i],
            "%s: record %d at %" PRIu64 ", not %" PRIu64, name, i,
            rec.position, positions[q][i]);
      rec_fill(q, rec.position, expect);
      CHECK(rec.len == rec_len(q, rec.position) &&
                memcmp(rec.data, expect, rec.len) == 0,
            "%s@%" PRIu64 ": bytes differ", name, rec.position);
      i++;
    }
    mrlog_cursor_close(c);
    CHECK(i == REP_RECORDS, "%s: %d of %d records", name, i, REP_RECORDS);
  }
  return 0;
}

/* Runs a replica of rep* into log until want_dup records are duplicates,
 * want_applied applied and want_deletes delete markers applied (60 s at
 * most). */
static int run_replica(const char *uris, mrlog *log, uint64_t want_applied,
                       uint64_t want_dup, uint64_t want_rejected,
                       uint64_t want_deletes) {
  struct mrlog_mirror_config cfg;
  struct mrlog_mirror_stats st;
  mrlog_mirror *rep;

  mrlog_mirror_config_init(&cfg);
  cfg.uris = uris;
  cfg.queues = "rep*";
  cfg.refresh_ms = 200;
  cfg.log_fn = quiet;
  CHECK(mrlog_replica_start(log, &cfg, &rep) == 0, "replica_start");
  for (int i = 0; i < 600; i++) {
    mrlog_mirror_stats(rep, &st);
    if (st.records_applied >= want_applied &&
        st.records_duplicate >= want_dup && st.rejected >= want_rejected &&
        st.deletes >= want_deletes)
      break;
    sleep_ms(100);
  }
  sleep_ms(300); /* nothing more may come */
  mrlog_mirror_stats(rep, &st);
  CHECK(mrlog_mirror_stop(rep, 1000) == 0, "replica stop");
  printf("  replica: %" PRIu64 " applied, %" PRIu64 " duplicates, %" PRIu64
         " rejected in %" PRIu64 " deliveries\n",
         st.records_applied, st.records_duplicate, st.rejected,
         st.deliveries);
  CHECK(st.records_applied == want_applied, "applied %" PRIu64,
        st.records_applied);
  CHECK(st.records_duplicate == want_dup, "duplicates %" PRIu64,
        st.records_duplicate);
  CHECK(st.rejected == want_rejected, "rejected %" PRIu64, st.rejected);
  CHECK(st.deletes == want_deletes, "delete markers %" PRIu64, st.deletes);
  return 0;
}

static int ship_all(const char *uris, mrlog *log, const char *consumer) {
  struct mrlog_mirror_config cfg;
  mrlog_mirror *mir;

  mrlog_mirror_config_init(&cfg);
  cfg.uris = uris;
  cfg.queues = "rep*";
  cfg.consumer = consumer;
  cfg.log_fn = quiet;
  CHECK(mrlog_mirror_start(log, &cfg, &mir) == 0, "mirror_start");
  CHECK(mrlog_mirror_stop(mir, 60000) == 0, "mirror did not drain");
  return 0;
}

/* Source log -> mirror -> cluster -> replica log, byte for byte; a
 * foreign message is rejected; a second shipping of everything (another
 * consumer name) leaves it the same. */
static int test_replica(const char *uris) {
  char src_dir[] = "/tmp/mrlog-mirror-src.XXXXXX";
  char dst_dir[] = "/tmp/mrlog-mirror-dst.XXXXXX";
  static uint64_t positions[REP_QUEUES][REP_RECORDS];
  mrlog_policy policy;
  mrlog *src, *dst;
  amqp_connection_state_t conn;
  amqp_basic_properties_t props;
  const uint64_t total = REP_QUEUES * REP_RECORDS;

  CHECK(mkdtemp(src_dir) != NULL && mkdtemp(dst_dir) != NULL, "mkdtemp");
  mrlog_policy_init(&policy);
  CHECK(mrlog_open(src_dir, &policy, &src) == 0, "open source");
  CHECK(mrlog_open(dst_dir, &policy, &dst) == 0, "open replica");
  if (fill_rep(src, positions) != 0) return 1;
  if (ship_all(uris, src, "mirror") != 0) return 1;
  conn = connect_plain();
  CHECK(conn != NULL, "connect");
  memset(&props, 0, sizeof(props));
  props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
  props.delivery_mode = 2;
  CHECK(amqp_basic_publish(conn, 1, amqp_cstring_bytes(""),
                           amqp_cstring_bytes("mrlog.rep0"), 0, 0, &props,
                           amqp_cstring_bytes("not a body")) == 0,
        "publish the foreign message");
  amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
  amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(conn);
  /* Each queue's stream starts with a delete marker (a new queue), which
   * finds nothing to delete. */
  if (run_replica(uris, dst, total, 0, 1, REP_QUEUES) != 0) return 1;
  if (compare_rep(dst, positions) != 0) return 1;
  /* A consumer name with no committed position starts each queue again
   * with a marker: the replica rebuilds them, to the same records. */
  if (ship_all(uris, src, "again") != 0) return 1;
  if (run_replica(uris, dst, total, 0, 0, REP_QUEUES) != 0) return 1;
  if (compare_rep(dst, positions) != 0) return 1;
  CHECK(mrlog_close(src) == 0 && mrlog_close(dst) == 0, "close");
  mirror_test_rm_rf(src_dir);
  mirror_test_rm_rf(dst_dir);
  return 0;
}

/* kill -9 of node 1, the mirror's broker, halfway through appends to 2
 * queues; the mirror moves on to another node, the stop drains, and node
 * 2 holds every record (repeats allowed). */
static int test_failover(const char *uris, const char *kill_cmd) {
  char dir[] = "/tmp/mrlog-mirror-test.XXXXXX";
  static uint64_t positions[2][RECORDS];
  static unsigned char buf[BATCH][300];
  struct iovec iov[BATCH];
  mrlog_policy policy;
  mrlog *log;
  struct mrlog_mirror_config cfg;
  struct mrlog_mirror_stats st;
  mrlog_mirror *mir;
  uint64_t next[2] = {0, 0};
  char uri2[512];
  const char *comma = strchr(uris, ',');
  amqp_connection_state_t conn;
  int rc;

  CHECK(comma != NULL, "one URI only");
  snprintf(uri2, sizeof(uri2), "%s", comma + 1);
  if (strchr(uri2, ',')) *strchr(uri2, ',') = '\0';
  CHECK(mkdtemp(dir) != NULL, "mkdtemp");
  mrlog_policy_init(&policy);
  CHECK(mrlog_open(dir, &policy, &log) == 0, "mrlog_open");
  for (int q = 0; q < 2; q++) {
    char name[16];
    snprintf(name, sizeof(name), "fo%d", q);
    CHECK(mrlog_wait(mrlog_create_queue(log, name, NULL, NULL), NULL) == 0,
          "create");
  }
  mrlog_mirror_config_init(&cfg);
  cfg.uris = uris;
  cfg.queues = "fo*";
  cfg.records_per_message = 32;
  cfg.log_fn = quiet;
  CHECK(mrlog_mirror_start(log, &cfg, &mir) == 0, "mirror_start");
  for (int b = 0; b < RECORDS / BATCH; b++) {
    if (b == RECORDS / BATCH / 2) {
      mrlog_mirror_stats(mir, &st);
      printf("  killing node 1 after %" PRIu64 " confirmed records\n",
             st.records_confirmed);
      CHECK(system(kill_cmd) == 0, "%s failed", kill_cmd);
    }
    for (int q = 0; q < 2; q++) {
      char name[16];
      uint64_t first = next[q];
      snprintf(name, sizeof(name), "fo%d", q);
      for (int i = 0; i < BATCH; i++) {
        rec_fill(q, first + (uint64_t)i, buf[i]);
        iov[i].iov_base = buf[i];
        iov[i].iov_len = rec_len(q, first + (uint64_t)i);
        positions[q][b * BATCH + i] = first + (uint64_t)i;
      }
      rc = mrlog_wait(mrlog_append_batch(log, name, &first, iov, BATCH, NULL,
                                         NULL),
                      NULL);
      CHECK(rc == 0, "append_batch: %s", mrlog_strerror(rc));
      next[q] = first + BATCH;
    }
    sleep_ms(20);
  }
  mrlog_mirror_stats(mir, &st);
  rc = mrlog_mirror_stop(mir, 90000);
  printf("  after the kill: connected to %s, %" PRIu64 " reconnects, "
         "%" PRIu64 " messages published, %" PRIu64 " confirmed\n",
         st.node, st.reconnects, st.messages_published,
         st.messages_confirmed);
  CHECK(rc == 0, "mirror_stop did not drain: %s", mrlog_strerror(rc));
  CHECK(st.reconnects >= 1, "the mirror never lost node 1");
  CHECK(mrlog_close(log) == 0, "close");
  mirror_test_rm_rf(dir);
  conn = test_amqp_connect(uri2);
  CHECK(conn != NULL, "cannot connect to %s", uri2);
  for (int q = 0; q < 2; q++) {
    char name[16];
    snprintf(name, sizeof(name), "fo%d", q);
    if (verify_queue(conn, q, name, positions[q], RECORDS) != 0) return 1;
  }
  amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(conn);
  return 0;
}

/* MIRROR_TEST_CASES (a comma-separated list of case names, for running
 * some of them by hand): whether to run `name`.  Unset: every case. */
static int wanted(const char *name) {
  const char *list = getenv("MIRROR_TEST_CASES");
  size_t n = strlen(name);

  if (list == NULL || *list == '\0') return 1;
  for (const char *p = list; p != NULL; p = strchr(p, ',')) {
    if (*p == ',') p++;
    if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0')) return 1;
  }
  return 0;
}

#define RUN(name, expr)                                                      \
  do {                                                                       \
    if (wanted(name)) report(name, (expr));                                  \
  } while (0)

int main(void) {
  const char *uris = getenv("MRLOG_AMQP_URIS");
  char bad[600];
  const char *comma;

  if (uris == NULL || *uris == '\0') {
    printf("MRLOG_AMQP_URIS is not set (run tests/mirror_test.sh)\n");
    return 77;
  }
  comma = strchr(uris, ',');
  snprintf(uri1, sizeof(uri1), "%.*s",
           (int)(comma ? (size_t)(comma - uris) : strlen(uris)), uris);
  RUN("body", mirror_test_body_example());
  RUN("truncmarker", mirror_test_truncate_example());
  RUN("args", mirror_test_start_args(uris));
  RUN("ship", test_ship(uris));
  edit_uri(bad, sizeof(bad), ":mrlog@", ":wrong@");
  RUN("badauth", expect_error(bad, "q", MRLOG_EACCES, "ACCESS_REFUSED"));
  edit_uri(bad, sizeof(bad), "/mrlog", "/novhost");
  RUN("novhost", expect_error(bad, "q", MRLOG_EACCES, "NOT_ALLOWED"));
  RUN("clash", test_clash());
  RUN("replica", test_replica(uris));
  RUN("truncate", mirror_test_truncations(uris));
  RUN("pollstop", mirror_test_poll_stop(uris));
  if (getenv("MIRROR_TEST_KILL") != NULL)
    RUN("failover", test_failover(uris, getenv("MIRROR_TEST_KILL")));
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}

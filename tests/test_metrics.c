/*
 * test_metrics.c -- mrlog_metrics and mrlog_metrics_text: the counts
 * match what was done (appends, fdatasyncs, group commits, per-queue
 * records and bytes appended and truncated, consumer lags), percentiles
 * are ordered and within the documented bucket error, the text parses as
 * the Prometheus exposition format with escaped label values, a buffer
 * that is too small gets nothing partial, the per-queue cut-off, a
 * producer's wait for ring room, and threads appending while another
 * reads.  No assertion depends on timing.
 */
#define _GNU_SOURCE
#include "check_mrlog.h"
#include "internal.h"
#include "metrics.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the text checker ------------------------------------------------- */

static bool
name_start(int c)
{
  return isalpha(c) || c == '_' || c == ':';
}

static bool
name_char(int c)
{
  return isalnum(c) || c == '_' || c == ':';
}

/* Reads a metric or label name at *p; advances *p past it.  A metric name
 * must start with mrlog_. */
static void
check_name(const char **p, bool metric, const char *line)
{
  const char *s = *p;

  ck_assert_msg(name_start((unsigned char)*s), "bad name in: %s", line);
  while (name_char((unsigned char)*s))
    s++;
  if (metric)
    ck_assert_msg(strncmp(*p, "mrlog_", 6) == 0, "name without mrlog_: %s",
                  line);
  *p = s;
}

/* A label value: `"`, escaped bytes, `"`.  Only \\, \" and \n escapes;
 * no raw line feed (the line ends at one). */
static void
check_label_value(const char **p, const char *line)
{
  const char *s = *p;

  ck_assert_msg(*s == '"', "label value not quoted: %s", line);
  for (s++; *s != '"'; s++) {
    ck_assert_msg(*s != '\0', "unterminated label value: %s", line);
    if (*s == '\\') {
      s++;
      ck_assert_msg(*s == '\\' || *s == '"' || *s == 'n',
                    "bad escape in: %s", line);
    }
  }
  *p = s + 1;
}

/* Every line is a HELP or TYPE comment or `name{labels} value`; every
 * sample's family was typed before it.  Returns the sample lines. */
static size_t
check_text(const char *text)
{
  char *copy = strdup(text), *save = NULL, *line;
  char typed[64][80];
  size_t ntyped = 0, samples = 0, i;

  ck_assert_ptr_nonnull(copy);
  ck_assert_msg(text[0] != '\0' && text[strlen(text) - 1] == '\n',
                "the text must end with a line feed");
  for (line = strtok_r(copy, "\n", &save); line != NULL;
       line = strtok_r(NULL, "\n", &save)) {
    const char *p = line, *name;
    char *end;
    size_t len;
    bool found = false;

    if (line[0] == '#') {
      ck_assert_msg(strncmp(line, "# HELP ", 7) == 0 ||
                        strncmp(line, "# TYPE ", 7) == 0,
                    "bad comment: %s", line);
      p = line + 7;
      name = p;
      check_name(&p, true, line);
      ck_assert_msg(*p == ' ', "no text after the name: %s", line);
      if (line[2] == 'T') {
        ck_assert_msg(strcmp(p + 1, "summary") == 0 ||
                          strcmp(p + 1, "counter") == 0 ||
                          strcmp(p + 1, "gauge") == 0,
                      "bad type: %s", line);
        ck_assert_uint_lt(ntyped, 64);
        snprintf(typed[ntyped++], 80, "%.*s", (int)(p - name), name);
      }
      continue;
    }
    name = p;
    check_name(&p, true, line);
    len = (size_t)(p - name);
    for (i = 0; i < ntyped && !found; i++) {
      size_t tl = strlen(typed[i]);

      if (len < tl || strncmp(name, typed[i], tl) != 0)
        continue;
      found = len == tl || (len == tl + 4 && !strncmp(name + tl, "_sum", 4)) ||
              (len == tl + 6 && !strncmp(name + tl, "_count", 6));
    }
    ck_assert_msg(found, "sample before its TYPE: %s", line);
    if (*p == '{') {
      p++;
      for (;;) {
        check_name(&p, false, line);
        ck_assert_msg(*p == '=', "label without '=': %s", line);
        p++;
        check_label_value(&p, line);
        if (*p == ',') {
          p++;
          continue;
        }
        ck_assert_msg(*p == '}', "labels not closed: %s", line);
        p++;
        break;
      }
    }
    ck_assert_msg(*p == ' ', "no value: %s", line);
    p++;
    ck_assert_msg(isdigit((unsigned char)*p), "bad value: %s", line);
    (void)strtod(p, &end);
    ck_assert_msg(*end == '\0', "junk after the value: %s", line);
    samples++;
  }
  free(copy);
  return samples;
}

/* The whole text, in a malloc'd buffer sized by a first call. */
static char *
get_text(mrlog *log)
{
  size_t needed = 0, got = 0;
  char *buf;
  int rc;

  rc = mrlog_metrics_text(log, NULL, 0, &needed);
  ck_assert_int_eq(rc, MRLOG_ENOMEM);
  ck_assert_uint_gt(needed, 1);
  needed += 4096; /* it may grow meanwhile */
  buf = malloc(needed);
  ck_assert_ptr_nonnull(buf);
  rc = mrlog_metrics_text(log, buf, needed, &got);
  ck_assert_int_eq(rc, 0);
  ck_assert_uint_eq(got, strlen(buf) + 1);
  return buf;
}

/* The value of the sample line that starts with `prefix ` (e.g.
 * `mrlog_queue_appended_records_total{queue="a"}`); -1 when absent. */
static double
sample(const char *text, const char *prefix)
{
  size_t n = strlen(prefix);
  const char *p = text;

  while (p != NULL && *p != '\0') {
    if (strncmp(p, prefix, n) == 0 && p[n] == ' ')
      return strtod(p + n + 1, NULL);
    p = strchr(p, '\n');
    if (p != NULL)
      p++;
  }
  return -1;
}

static void
check_summary(const struct mrlog_histogram_summary *s)
{
  ck_assert_uint_le(s->p50, s->p90);
  ck_assert_uint_le(s->p90, s->p99);
  ck_assert_uint_le(s->p99, s->p999);
  ck_assert_uint_le(s->p999, s->max);
  if (s->count == 0)
    ck_assert_uint_eq(s->max, 0);
  else
    ck_assert_uint_ge(s->sum, s->max);
}

/* ---- counts ------------------------------------------------------------ */

START_TEST(test_counts_match)
{
  mrlog *log = th_open(th_dir, NULL);
  struct mrlog_metrics m;
  struct mrlog_stats st;
  struct iovec recs[3] = { { "ab", 2 }, { "cde", 3 }, { "", 0 } };
  mrlog_future *f;
  char *text;
  int i;

  ck_assert_int_eq(mrlog_metrics(log, &m), 0);
  ck_assert_uint_eq(m.append_latency_ns.count, 0);
  ck_assert_uint_eq(th_create(log, "a"), 0);
  ck_assert_uint_eq(th_create(log, "b"), 0);
  for (i = 0; i < 40; i++)
    ck_assert_int_eq(th_append(log, "a", NULL, "12345", 5, NULL), 0);
  for (i = 0; i < 10; i++) {
    f = mrlog_append_batch(log, "b", NULL, recs, 3, NULL, NULL);
    ck_assert_int_eq(th_wait(f, NULL), 0);
  }
  /* An append with a bad argument is refused before it is timed. */
  f = mrlog_append(log, "", NULL, "x", 1, NULL, NULL);
  ck_assert_int_eq(th_wait(f, NULL), MRLOG_EINVAL);
  ck_assert_int_eq(th_truncate(log, "a", 9), 0);   /* 10 records */
  ck_assert_int_eq(th_truncate(log, "b", 4), 0);   /* 5 records, 2 batches */
  ck_assert_int_eq(th_sync(log), 0);

  ck_assert_int_eq(mrlog_metrics(log, &m), 0);
  st = th_stats(log);
  ck_assert_uint_eq(m.append_latency_ns.count, 50);
  ck_assert_uint_eq(m.fsync_ns.count, st.fsyncs);
  ck_assert_uint_gt(m.group_commit_records.count, 0);
  ck_assert_uint_le(m.group_commit_records.sum, 70);
  ck_assert_uint_eq(m.ring_wait_ns.count, 0);
  check_summary(&m.append_latency_ns);
  check_summary(&m.fsync_ns);
  check_summary(&m.group_commit_records);

  text = get_text(log);
  check_text(text);
  ck_assert(sample(text, "mrlog_queue_appended_records_total{queue=\"a\"}") ==
            40);
  ck_assert(sample(text, "mrlog_queue_appended_bytes_total{queue=\"a\"}") ==
            200);
  ck_assert(sample(text, "mrlog_queue_truncated_records_total{queue=\"a\"}") ==
            10);
  ck_assert(sample(text, "mrlog_queue_truncated_bytes_total{queue=\"a\"}") ==
            50);
  ck_assert(sample(text, "mrlog_queue_appended_records_total{queue=\"b\"}") ==
            30);
  ck_assert(sample(text, "mrlog_queue_appended_bytes_total{queue=\"b\"}") ==
            50);
  /* Positions 0..4: a batch (ab, cde, "") and ab, cde of the next. */
  ck_assert(sample(text, "mrlog_queue_truncated_records_total{queue=\"b\"}") ==
            5);
  ck_assert(sample(text, "mrlog_queue_truncated_bytes_total{queue=\"b\"}") ==
            10);
  ck_assert(sample(text, "mrlog_append_latency_seconds_count") == 50);
  ck_assert(sample(text, "mrlog_metrics_queues_omitted") == 0);
  free(text);
  th_close(log);
}
END_TEST

/* Durable mode: every appended record is made durable by a group commit
 * (no rotation here), so their sum is the records appended. */
START_TEST(test_group_commit_sum)
{
  mrlog *log = th_open(th_dir, NULL);
  struct mrlog_metrics m;
  mrlog_future *f[64];
  int i;

  ck_assert_int_eq(th_create(log, "q"), 0);
  for (i = 0; i < 64; i++)
    f[i] = mrlog_append(log, "q", NULL, "r", 1, NULL, NULL);
  for (i = 0; i < 64; i++)
    ck_assert_int_eq(th_wait(f[i], NULL), 0);
  ck_assert_int_eq(mrlog_metrics(log, &m), 0);
  ck_assert_uint_eq(m.group_commit_records.sum, 64);
  ck_assert_uint_eq(m.append_latency_ns.count, 64);
  th_close(log);
}
END_TEST

/* Known samples through the log's own histogram (the group commit one:
 * its values are not converted from stamp units, and no sync runs here):
 * each percentile is at least the exact one and at most 1/16 above it. */
START_TEST(test_percentile_error)
{
  mrlog *log = th_open(th_dir, NULL);
  struct mrlog_metrics m;
  const struct mrlog_histogram_summary *s = &m.group_commit_records;
  uint64_t v, sum = 0;

  for (v = 1; v <= 100000; v++) {
    mrlog__hist_record(&log->metrics.group, v * 37);
    sum += v * 37;
  }
  ck_assert_int_eq(mrlog_metrics(log, &m), 0);
  ck_assert_uint_eq(s->count, 100000);
  ck_assert_uint_eq(s->sum, sum);
  ck_assert_uint_eq(s->max, 3700000);
  check_summary(s);
#define NEAR(got, exact)                                                 \
  ck_assert_msg((got) >= (exact) && (got) <= (exact) + (exact) / 16,     \
                "%s = %" PRIu64 ", exact %" PRIu64, #got, (uint64_t)(got), \
                (uint64_t)(exact))
  NEAR(s->p50, 50000u * 37);
  NEAR(s->p90, 90000u * 37);
  NEAR(s->p99, 99000u * 37);
  NEAR(s->p999, 99900u * 37);
#undef NEAR
  th_close(log);
}
END_TEST

START_TEST(test_buckets)
{
  uint64_t v;
  unsigned i, prev = 0;

  for (v = 0; v < 16; v++)
    ck_assert_uint_eq(mrlog__hist_upper(mrlog__hist_bucket(v)), v);
  for (v = 1; v < UINT64_MAX / 3; v = v * 3 + 1) {
    i = mrlog__hist_bucket(v);
    ck_assert_uint_lt(i, MRLOG__HIST_BUCKETS);
    ck_assert_uint_ge(i, prev);
    prev = i;
    ck_assert_uint_ge(mrlog__hist_upper(i), v);
    ck_assert_uint_le(mrlog__hist_upper(i) - v, v / 16);
  }
  ck_assert_uint_eq(mrlog__hist_bucket(UINT64_MAX), MRLOG__HIST_BUCKETS - 1);
  ck_assert_uint_eq(mrlog__hist_upper(MRLOG__HIST_BUCKETS - 1), UINT64_MAX);
}
END_TEST

/* ---- text -------------------------------------------------------------- */

START_TEST(test_text_escapes)
{
  mrlog *log = th_open(th_dir, NULL);
  char *text;

  ck_assert_int_eq(th_create(log, "a\"b\\c\nd"), 0);
  ck_assert_int_eq(th_append(log, "a\"b\\c\nd", NULL, "xyz", 3, NULL), 0);
  text = get_text(log);
  ck_assert_uint_gt(check_text(text), 20);
  ck_assert(sample(text, "mrlog_queue_appended_bytes_total"
                         "{queue=\"a\\\"b\\\\c\\nd\"}") == 3);
  ck_assert_ptr_nonnull(strstr(text, "# TYPE mrlog_fsync_seconds summary\n"));
  ck_assert_ptr_nonnull(
      strstr(text, "mrlog_append_latency_seconds{quantile=\"0.999\"} "));
  free(text);
  th_close(log);
}
END_TEST

/* Each consumer's lag: the queue's next position minus its committed
 * position, labelled with the queue and the consumer (escaped). */
START_TEST(test_consumer_lag)
{
  mrlog *log = th_open(th_dir, NULL);
  char *text;
  int i;

  ck_assert_int_eq(th_create(log, "q"), 0);
  for (i = 0; i < 10; i++)
    ck_assert_int_eq(th_append(log, "q", NULL, "r", 1, NULL), 0);
  ck_assert_int_eq(th_wait(mrlog_commit(log, "q", "c1", 4, NULL, NULL),
                           NULL), 0);
  ck_assert_int_eq(th_wait(mrlog_commit(log, "q", "x\"y", 10, NULL, NULL),
                           NULL), 0);
  text = get_text(log);
  check_text(text);
  ck_assert(sample(text, "mrlog_consumer_lag_records"
                         "{queue=\"q\",consumer=\"c1\"}") == 6);
  ck_assert(sample(text, "mrlog_consumer_lag_records"
                         "{queue=\"q\",consumer=\"x\\\"y\"}") == 0);
  free(text);
  ck_assert_int_eq(th_append(log, "q", NULL, "r", 1, NULL), 0);
  text = get_text(log);
  ck_assert(sample(text, "mrlog_consumer_lag_records"
                         "{queue=\"q\",consumer=\"c1\"}") == 7);
  free(text);
  th_close(log);
}
END_TEST

START_TEST(test_text_too_small)
{
  mrlog *log = th_open(th_dir, NULL);
  size_t needed = 0, again = 0;
  char small[64], *big;

  ck_assert_int_eq(th_create(log, "q"), 0);
  memset(small, 'x', sizeof(small));
  ck_assert_int_eq(mrlog_metrics_text(log, small, sizeof(small), &needed),
                   MRLOG_ENOMEM);
  ck_assert_uint_gt(needed, sizeof(small));
  ck_assert_int_eq(small[0], '\0'); /* nothing partial */
  big = malloc(needed);
  ck_assert_ptr_nonnull(big);
  /* One byte short, then exactly enough. */
  ck_assert_int_eq(mrlog_metrics_text(log, big, needed - 1, &again),
                   MRLOG_ENOMEM);
  ck_assert_uint_eq(again, needed);
  ck_assert_int_eq(big[0], '\0');
  ck_assert_int_eq(mrlog_metrics_text(log, big, needed, &again), 0);
  ck_assert_uint_eq(again, needed);
  ck_assert_uint_eq(strlen(big) + 1, needed);
  ck_assert_int_eq(mrlog_metrics_text(log, big, needed, NULL), 0);
  free(big);
  th_close(log);
}
END_TEST

START_TEST(test_bad_arguments)
{
  mrlog *log = th_open(th_dir, NULL);
  struct mrlog_metrics m;
  size_t needed = 7;
  char buf[16];

  ck_assert_int_eq(mrlog_metrics(NULL, &m), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_metrics(log, NULL), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_metrics_text(NULL, buf, sizeof(buf), &needed),
                   MRLOG_EINVAL);
  ck_assert_uint_eq(needed, 0);
  ck_assert_int_eq(mrlog_metrics_text(log, NULL, 5, &needed), MRLOG_EINVAL);
  th_close(log);
  ck_assert_int_eq(mrlog_metrics(log, &m), MRLOG_EINVAL); /* closed */
  ck_assert_int_eq(mrlog_metrics_text(log, buf, sizeof(buf), &needed),
                   MRLOG_EINVAL);
}
END_TEST

/* 150 queues, queue i with i + 1 records: the 100 busiest are listed,
 * busiest first, and 50 are counted as omitted. */
START_TEST(test_queue_cutoff)
{
  mrlog *log = th_open(th_dir, NULL);
  struct iovec recs[150];
  char name[32], prefix[96], *text, *first, *second;
  int i;

  for (i = 0; i < 150; i++) {
    recs[i].iov_base = "r";
    recs[i].iov_len = 1;
  }
  for (i = 0; i < 150; i++) {
    snprintf(name, sizeof(name), "q%03d", i);
    ck_assert_int_eq(th_create(log, name), 0);
    ck_assert_int_eq(th_wait(mrlog_append_batch(log, name, NULL, recs,
                                                (size_t)i + 1, NULL, NULL),
                             NULL), 0);
  }
  text = get_text(log);
  check_text(text);
  ck_assert(sample(text, "mrlog_metrics_queues_omitted") == 50);
  for (i = 0; i < 150; i++) {
    snprintf(prefix, sizeof(prefix),
             "mrlog_queue_appended_records_total{queue=\"q%03d\"}", i);
    if (i >= 50)
      ck_assert_msg(sample(text, prefix) == i + 1, "%s", prefix);
    else
      ck_assert_msg(sample(text, prefix) == -1, "%s listed", prefix);
  }
  first = strstr(text, "{queue=\"q149\"}");
  second = strstr(text, "{queue=\"q148\"}");
  ck_assert_ptr_nonnull(first);
  ck_assert_ptr_nonnull(second);
  ck_assert(first < second);
  free(text);
  th_close(log);
}
END_TEST

/* ---- threads ------------------------------------------------------------ */

#define RING_APPENDS 24
#define BIG_RECORD (40u * 1024u) /* too big to stage: a request of its own */

struct ring_args {
  mrlog *log;
  mrlog_future *f[RING_APPENDS];
};

static void *
ring_producer(void *arg)
{
  struct ring_args *a = arg;
  static char rec[BIG_RECORD];
  int i;

  for (i = 0; i < RING_APPENDS; i++)
    a->f[i] = mrlog_append(a->log, "q", NULL, rec, sizeof(rec), NULL, NULL);
  return NULL;
}

static bool
ring_waiting(void *arg)
{
  mrlog *log = arg;

  return atomic_load(&log->ring_waiters) > 0;
}

/* The test holds the queue state's read lock, so the writer stops at its
 * first apply and the 4-slot ring fills: the producer waits for room
 * (seen through ring_waiters), and that wait is a ring_wait sample. */
START_TEST(test_ring_wait_counted)
{
  mrlog_policy p = th_policy();
  struct ring_args a;
  struct mrlog_metrics m;
  pthread_t t;
  int i;

  p.ring_slots = 4;
  a.log = th_open(th_dir, &p);
  ck_assert_int_eq(th_create(a.log, "q"), 0);
  pthread_rwlock_rdlock(&a.log->state_lock);
  ck_assert_int_eq(pthread_create(&t, NULL, ring_producer, &a), 0);
  ck_assert_msg(th_poll(ring_waiting, a.log, 30000),
                "the producer never waited for ring room");
  pthread_rwlock_unlock(&a.log->state_lock);
  pthread_join(t, NULL);
  for (i = 0; i < RING_APPENDS; i++)
    ck_assert_int_eq(th_wait(a.f[i], NULL), 0);
  ck_assert_int_eq(mrlog_metrics(a.log, &m), 0);
  ck_assert_uint_ge(m.ring_wait_ns.count, 1);
  ck_assert_uint_le(m.ring_wait_ns.count, RING_APPENDS);
  ck_assert_uint_gt(m.ring_wait_ns.max, 0);
  check_summary(&m.ring_wait_ns);
  ck_assert_uint_eq(m.append_latency_ns.count, RING_APPENDS);
  th_close(a.log);
}
END_TEST

#define WRITERS 3
#define PER_WRITER 2000

struct shared {
  mrlog *log;
  pthread_barrier_t start;
  atomic_int writers_left;
};

static void *
writer_main(void *arg)
{
  struct shared *sh = arg;
  struct th_counter c;
  int i;

  th_counter_init(&c);
  pthread_barrier_wait(&sh->start);
  for (i = 0; i < PER_WRITER; i++)
    mrlog_forget(mrlog_append(sh->log, "q", NULL, "payload", 7, th_counter_cb,
                              &c));
  ck_assert(th_counter_wait(&c, PER_WRITER, 60000));
  ck_assert_int_eq(atomic_load(&c.ok), PER_WRITER);
  atomic_fetch_sub(&sh->writers_left, 1);
  return NULL;
}

START_TEST(test_threads_read_while_appending)
{
  struct shared sh;
  pthread_t t[WRITERS];
  struct mrlog_metrics m;
  uint64_t last = 0;
  int i, reads = 0;
  char *text;

  sh.log = th_open(th_dir, NULL);
  ck_assert_int_eq(th_create(sh.log, "q"), 0);
  atomic_init(&sh.writers_left, WRITERS);
  pthread_barrier_init(&sh.start, NULL, WRITERS + 1);
  for (i = 0; i < WRITERS; i++)
    ck_assert_int_eq(pthread_create(&t[i], NULL, writer_main, &sh), 0);
  pthread_barrier_wait(&sh.start);
  do {
    ck_assert_int_eq(mrlog_metrics(sh.log, &m), 0);
    check_summary(&m.append_latency_ns);
    check_summary(&m.fsync_ns);
    check_summary(&m.group_commit_records);
    ck_assert_uint_ge(m.append_latency_ns.count, last);
    ck_assert_uint_le(m.append_latency_ns.count, WRITERS * PER_WRITER);
    last = m.append_latency_ns.count;
    if (reads++ % 8 == 0) {
      text = get_text(sh.log);
      check_text(text);
      free(text);
    }
  } while (atomic_load(&sh.writers_left) > 0);
  for (i = 0; i < WRITERS; i++)
    pthread_join(t[i], NULL);
  ck_assert_int_eq(mrlog_metrics(sh.log, &m), 0);
  ck_assert_uint_eq(m.append_latency_ns.count, WRITERS * PER_WRITER);
  text = get_text(sh.log);
  ck_assert(sample(text, "mrlog_queue_appended_records_total{queue=\"q\"}") ==
            WRITERS * PER_WRITER);
  free(text);
  pthread_barrier_destroy(&sh.start);
  th_close(sh.log);
}
END_TEST

Suite *
make_metrics_suite(void)
{
  Suite *s = suite_create("metrics");
  TCase *tc = tcase_create("counts");

  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_counts_match);
  tcase_add_test(tc, test_group_commit_sum);
  tcase_add_test(tc, test_percentile_error);
  tcase_add_test(tc, test_buckets);
  suite_add_tcase(s, tc);

  tc = tcase_create("text");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_text_escapes);
  tcase_add_test(tc, test_consumer_lag);
  tcase_add_test(tc, test_text_too_small);
  tcase_add_test(tc, test_bad_arguments);
  tcase_add_test(tc, test_queue_cutoff);
  suite_add_tcase(s, tc);

  tc = tcase_create("threads");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_SLOW);
  tcase_add_test(tc, test_threads_read_while_appending);
  tcase_add_test(tc, test_ring_wait_counted);
  suite_add_tcase(s, tc);
  return s;
}

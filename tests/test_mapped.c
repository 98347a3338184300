/*
 * test_mapped.c -- records recovered at open are served from the mapping
 * of their segment file (lib/filemap.c) instead of being copied.
 *
 * What is checked:
 *  - a log reopened through the mapping holds exactly what the same log
 *    reopened with copies holds (a file layer without map), for records
 *    of every length class of the varint (0, 1, 127, 128, 16383, 16384
 *    bytes and a 200 KiB one), gaps in positions, truncations and
 *    deleted queues;
 *  - truncating recovered records a few at a time, inside and across
 *    chunks and segments, keeps queue_info's records and bytes exact;
 *  - once every recovered record is truncated and its files deleted, the
 *    mappings are released (stats.memory_bytes falls below their size);
 *  - a reader visiting recovered records keeps them readable while
 *    another thread truncates them all and the cleaner deletes their
 *    files.
 */
#include "check_mrlog.h"
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mrlog_policy small_segments(void) {
  mrlog_policy p = th_policy();

  p.segment_bytes = 64 * 1024;
  p.cleaner_interval_ms = 5;
  p.fsync_interval_ms = 2;
  return p;
}

/* Payload of record `pos` of queue `q`: its length depends on both. */
static size_t rec_len(unsigned q, uint64_t pos) {
  static const size_t lens[] = { 0, 1, 100, 127, 128, 300, 16383, 16384 };

  if (q == 0 && pos == 40)
    return 200 * 1024; /* a record bigger than a segment */
  return lens[(pos + q) % (sizeof(lens) / sizeof(lens[0]))];
}

static void fill(unsigned char *buf, unsigned q, uint64_t pos) {
  th_fill(buf, rec_len(q, pos), pos * 131 + q);
}

/* Writes NQ queues of records over several segments, with gaps, a
 * truncation and a deleted queue; returns the payload bytes written. */
#define NQ 4
#define PER_QUEUE 120
static void write_log(const mrlog_policy *p) {
  mrlog *log = th_open(th_dir, p);
  unsigned char *buf = malloc(200 * 1024);
  char name[16];
  unsigned q;
  uint64_t i;

  ck_assert_ptr_nonnull(buf);
  for (q = 0; q < NQ; q++) {
    snprintf(name, sizeof(name), "q%u", q);
    ck_assert_int_eq(th_create(log, name), 0);
  }
  ck_assert_int_eq(th_create(log, "gone"), 0);
  ck_assert_int_eq(th_append_str(log, "gone", "bye", NULL), 0);
  for (i = 0; i < PER_QUEUE; i++) {
    for (q = 0; q < NQ; q++) {
      uint64_t pos = q == 1 ? i * 3 : i; /* q1 has gaps */
      snprintf(name, sizeof(name), "q%u", q);
      fill(buf, q, pos);
      ck_assert_int_eq(th_append_at(log, name, pos, buf, rec_len(q, pos), NULL),
                       0);
    }
  }
  ck_assert_int_eq(th_truncate(log, "q2", 9), 0);
  ck_assert_int_eq(th_delete(log, "gone"), 0);
  ck_assert_int_eq(th_sync(log), 0);
  th_close(log);
  free(buf);
  ck_assert_uint_gt(th_count_segments(th_dir), 3);
}

START_TEST(test_mapped_matches_copied) {
  mrlog_policy p = small_segments();
  struct mrlog__io copy_io = mrlog__posix_io;
  unsigned char *buf = malloc(200 * 1024);
  char *mapped, *copied;
  struct th_recs r;
  mrlog *log;
  size_t i;

  ck_assert_ptr_nonnull(buf);
  write_log(&p);
  copy_io.map = NULL; /* recovery reads into buffers and copies */
  ck_assert_int_eq(mrlog__open_with_io(th_dir, &p, &copy_io, &log), 0);
  copied = th_snapshot(log);
  th_close(log);
  log = th_open(th_dir, &p);
  mapped = th_snapshot(log);
  ck_assert_str_eq(mapped, copied);
  /* And the bytes are the ones written. */
  ck_assert_int_eq(th_collect(log, "q0", 0, UINT64_MAX, &r), 0);
  ck_assert_uint_eq(r.n, PER_QUEUE);
  for (i = 0; i < r.n; i++) {
    th_req_uint_eq(r.v[i].pos, i);
    th_req_uint_eq(r.v[i].len, rec_len(0, i));
    fill(buf, 0, i);
    th_req(r.v[i].len == 0 || memcmp(r.v[i].data, buf, r.v[i].len) == 0);
  }
  th_recs_free(&r);
  ck_assert_int_eq(th_collect(log, "q1", 0, UINT64_MAX, &r), 0);
  ck_assert_uint_eq(r.n, PER_QUEUE);
  ck_assert_uint_eq(r.v[PER_QUEUE - 1].pos, (PER_QUEUE - 1) * 3);
  th_recs_free(&r);
  ck_assert_uint_eq(th_info(log, "q2").records, PER_QUEUE - 10);
  ck_assert_int_eq(th_collect(log, "gone", 0, UINT64_MAX, &r),
                   MRLOG_ENOQUEUE);
  th_close(log);
  free(mapped);
  free(copied);
  free(buf);
}
END_TEST

static uint64_t bytes_from(unsigned q, uint64_t from, uint64_t count) {
  uint64_t b = 0, i;

  for (i = from; i < count; i++)
    b += rec_len(q, i);
  return b;
}

struct gone {
  mrlog *log;
  uint64_t below; /* memory_bytes must fall below this */
};

static bool memory_released(void *arg) {
  struct gone *g = arg;

  return th_count_segments(th_dir) <= 2 && th_stats(g->log).memory_bytes < g->below;
}

START_TEST(test_mapped_truncation_accounting) {
  mrlog_policy p = small_segments();
  static const uint64_t steps[] = { 0, 1, 2, 5, 17, 18, 40, 41, 77, 118 };
  uint64_t files, i;
  struct mrlog_queue_info qi;
  struct gone g;
  mrlog *log;
  unsigned q;
  char name[16];

  write_log(&p);
  files = th_segment_bytes(th_dir);
  log = th_open(th_dir, &p);
  /* The mappings count: every replayed file is held until its records go. */
  ck_assert_uint_ge(th_stats(log).memory_bytes, files / 2);
  for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
    ck_assert_int_eq(th_truncate(log, "q0", steps[i]), 0);
    qi = th_info(log, "q0");
    ck_assert_uint_eq(qi.records, PER_QUEUE - steps[i] - 1);
    ck_assert_uint_eq(qi.bytes, bytes_from(0, steps[i] + 1, PER_QUEUE));
  }
  /* New records after recovered ones go to RAM chunks of their own. */
  ck_assert_int_eq(th_append_str(log, "q0", "fresh", NULL), 0);
  ck_assert_uint_eq(th_info(log, "q0").bytes, rec_len(0, 119) + 5);
  for (q = 0; q < NQ; q++) {
    snprintf(name, sizeof(name), "q%u", q);
    ck_assert_int_eq(th_truncate(log, name, q == 1 ? 3 * PER_QUEUE : PER_QUEUE - 1),
                     0);
    qi = th_info(log, name);
    ck_assert_uint_eq(qi.bytes, q == 0 ? 5 : 0);
  }
  ck_assert_int_eq(th_sync(log), 0);
  /* Every recovered file can go; with them, their mappings. */
  g.log = log;
  g.below = files / 4;
  ck_assert_msg(th_poll(memory_released, &g, 10000),
                "%zu segments, memory_bytes %ju of %ju file bytes",
                th_count_segments(th_dir),
                (uintmax_t)th_stats(log).memory_bytes, (uintmax_t)files);
  ck_assert_uint_eq(th_info(log, "q0").records, 1);
  th_close(log);
}
END_TEST

/* A visitor that, at its first record, lets the truncator run to the end
 * (records truncated, durable, files deleted) before checking any bytes. */
struct slow_reader {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool started;  /* the reader holds its first batch */
  bool finished; /* the truncator is done */
  uint64_t seen;
  uint64_t bad;
  unsigned char buf[200 * 1024];
};

static int slow_visit(void *arg, uint64_t pos, const void *data, size_t len) {
  struct slow_reader *s = arg;

  pthread_mutex_lock(&s->mu);
  if (!s->started) {
    s->started = true;
    pthread_cond_broadcast(&s->cv);
    while (!s->finished)
      pthread_cond_wait(&s->cv, &s->mu);
  }
  pthread_mutex_unlock(&s->mu);
  fill(s->buf, 0, pos);
  if (len != rec_len(0, pos) || (len > 0 && memcmp(data, s->buf, len) != 0))
    s->bad++;
  s->seen++;
  return 0;
}

struct reader_arg {
  mrlog *log;
  struct slow_reader *s;
  int rc;
};

static void *reader_main(void *arg) {
  struct reader_arg *a = arg;

  th_mark_app_thread();
  a->rc = mrlog_range(a->log, "q0", 0, UINT64_MAX, slow_visit, a->s);
  return NULL;
}

static bool files_gone(void *arg) {
  (void)arg;
  return th_count_segments(th_dir) <= 2;
}

START_TEST(test_mapped_reader_outlives_truncation) {
  mrlog_policy p = small_segments();
  struct slow_reader *s = calloc(1, sizeof(*s));
  struct reader_arg a;
  pthread_t t;
  unsigned q;
  char name[16];

  ck_assert_ptr_nonnull(s);
  write_log(&p);
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  a.log = th_open(th_dir, &p);
  a.s = s;
  a.rc = -1;
  ck_assert_int_eq(pthread_create(&t, NULL, reader_main, &a), 0);
  pthread_mutex_lock(&s->mu);
  while (!s->started)
    pthread_cond_wait(&s->cv, &s->mu);
  pthread_mutex_unlock(&s->mu);
  for (q = 0; q < NQ; q++) {
    snprintf(name, sizeof(name), "q%u", q);
    ck_assert_int_eq(th_truncate(a.log, name, UINT64_MAX - 1), 0);
  }
  ck_assert_int_eq(th_sync(a.log), 0);
  ck_assert_msg(th_poll(files_gone, NULL, 10000), "%zu segments left",
                th_count_segments(th_dir));
  pthread_mutex_lock(&s->mu);
  s->finished = true;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
  pthread_join(t, NULL);
  ck_assert_int_eq(a.rc, 0);
  /* The batch the reader held stayed whole and readable. */
  ck_assert_uint_ge(s->seen, 1);
  ck_assert_uint_eq(s->bad, 0);
  ck_assert_uint_eq(th_info(a.log, "q0").records, 0);
  th_close(a.log);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s);
}
END_TEST

Suite *make_mapped_suite(void) {
  Suite *s = suite_create("mapped");
  TCase *tc = tcase_create("mapped");

  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_mapped_matches_copied);
  tcase_add_test(tc, test_mapped_truncation_accounting);
  tcase_add_test(tc, test_mapped_reader_outlives_truncation);
  suite_add_tcase(s, tc);
  return s;
}

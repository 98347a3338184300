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
 *    files;
 *  - under MRLOG_STORE_MAPPED the writer's records are read from the
 *    segment file (a byte changed in the file shows; under
 *    MRLOG_STORE_COPY it does not), read back whole across many
 *    rotations and a reopen, and their windows are released once they
 *    are truncated.  (tests/check_copy.sh runs every suite once more
 *    with the copy store; the default run uses the default store;
 *    tests/test_mapfault.c checks a window that fails to map.)
 *  - the default store (record_store 0) is the mapped one on a 64-bit
 *    address space, 1 is mapped, 2 copy, 3 no store (MRLOG_EINVAL), and
 *    stats.record_store reports the store in use (a read-only open: the
 *    copy store).
 */
#define _GNU_SOURCE /* memmem */
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
  uint64_t below;  /* memory_bytes must fall below this */
  size_t segments; /* and the segment files to at most this */
};

static bool memory_released(void *arg) {
  struct gone *g = arg;

  return th_count_segments(th_dir) <= g->segments &&
         th_stats(g->log).memory_bytes < g->below;
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
  g.segments = 2; /* the hot one, maybe one before it */
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

/* ---- MRLOG_STORE_MAPPED: records read from the hot segment's window ---- */

static mrlog_policy store_policy(int store) {
  mrlog_policy p = small_segments();

  p.record_store = store;
  return p;
}

/* Overwrites, in the segment file, the first occurrence of `from` with
 * `to` (same length); asserts it was found. */
static void patch_segments(const char *from, const char *to) {
  char **names;
  size_t n = th_list_segments(th_dir, &names), i, len, k = strlen(from);
  bool done = false;

  for (i = 0; i < n && !done; i++) {
    char *path = th_path(th_dir, names[i]);
    unsigned char *data = th_read_file(path, &len);
    unsigned char *hit = memmem(data, len, from, k);

    if (hit != NULL) {
      FILE *f = fopen(path, "r+b");
      ck_assert_ptr_nonnull(f);
      ck_assert_int_eq(fseek(f, (long)(hit - data), SEEK_SET), 0);
      ck_assert_uint_eq(fwrite(to, 1, k, f), k);
      ck_assert_int_eq(fclose(f), 0);
      done = true;
    }
    free(data);
    free(path);
  }
  th_free_names(names, n);
  ck_assert_msg(done, "'%s' not found in any segment", from);
}

/* Where the records are read from is observable: under MRLOG_STORE_MAPPED
 * a byte changed in the file shows in the next read (the window shares
 * the page cache); under MRLOG_STORE_COPY the copy does not change. */
static void check_reads_from(int store, const char *expect) {
  mrlog_policy p = store_policy(store);
  mrlog *log = th_open(th_dir, &p);
  struct th_recs r;

  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(th_append_str(log, "q", "first-record", NULL), 0);
  ck_assert_int_eq(th_append_str(log, "q", "second-record", NULL), 0);
  ck_assert_int_eq(th_sync(log), 0);
  patch_segments("second-record", "SECOND-record");
  ck_assert_int_eq(th_collect(log, "q", 1, 2, &r), 0);
  ck_assert_uint_eq(r.n, 1);
  ck_assert_uint_eq(r.v[0].len, 13);
  ck_assert(memcmp(r.v[0].data, expect, 13) == 0);
  th_recs_free(&r);
  th_close(log);
}

START_TEST(test_store_mapped_reads_the_file) {
  check_reads_from(MRLOG_STORE_MAPPED, "SECOND-record");
}
END_TEST

START_TEST(test_store_copy_reads_its_copy) {
  check_reads_from(MRLOG_STORE_COPY, "second-record");
}
END_TEST

/* The default store (record_store 0, what mrlog_policy_init sets) is the
 * mapped one on a 64-bit address space: the writer's records are read
 * from the file. */
START_TEST(test_store_default_reads_the_file) {
  mrlog_policy p;

  mrlog_policy_init(&p);
  ck_assert_int_eq(p.record_store, MRLOG_STORE_DEFAULT);
  ck_assert_int_eq(MRLOG_STORE_DEFAULT, 0);
  check_reads_from(MRLOG_STORE_DEFAULT, sizeof(void *) >= 8
                                            ? "SECOND-record"
                                            : "second-record");
}
END_TEST

/* Opens a log in `name` with record_store = store (and read_only) and
 * returns the store stats.record_store reports. */
static int store_in_use(const char *name, int store, int read_only) {
  mrlog_policy p = store_policy(store);
  char *dir = th_sub(name);
  struct mrlog_stats st;
  mrlog *log;

  if (read_only) {
    th_close(th_open(dir, NULL)); /* a read-only open needs a log */
    p.read_only = 1;
  }
  log = th_open(dir, &p);
  st = th_stats(log);
  th_close(log);
  free(dir);
  return st.record_store;
}

/* stats.record_store says which store the log uses: the default resolved
 * (never 0), 1 the mapped and 2 the copy store, and a read-only open the
 * copy store whatever was asked; 3 and -1 are no store. */
START_TEST(test_store_resolution) {
  mrlog_policy p = store_policy(3);
  mrlog *log = NULL;

  ck_assert_int_eq(store_in_use("default", MRLOG_STORE_DEFAULT, 0),
                   sizeof(void *) >= 8 ? MRLOG_STORE_MAPPED
                                       : MRLOG_STORE_COPY);
  ck_assert_int_eq(MRLOG_STORE_MAPPED, 1);
  ck_assert_int_eq(store_in_use("mapped", MRLOG_STORE_MAPPED, 0),
                   MRLOG_STORE_MAPPED);
  ck_assert_int_eq(MRLOG_STORE_COPY, 2);
  ck_assert_int_eq(store_in_use("copy", MRLOG_STORE_COPY, 0),
                   MRLOG_STORE_COPY);
  ck_assert_int_eq(store_in_use("ro-default", MRLOG_STORE_DEFAULT, 1),
                   MRLOG_STORE_COPY);
  ck_assert_int_eq(store_in_use("ro-mapped", MRLOG_STORE_MAPPED, 1),
                   MRLOG_STORE_COPY);
  ck_assert_int_eq(mrlog_open(th_dir, &p, &log), MRLOG_EINVAL);
  ck_assert_ptr_null(log);
  p.record_store = -1;
  ck_assert_int_eq(mrlog_open(th_dir, &p, &log), MRLOG_EINVAL);
  ck_assert_ptr_null(log);
}
END_TEST

/* Many records over many rotated segments, big ones (written from their
 * requests) among them: every byte reads back, before and after a reopen,
 * and truncating everything releases the windows. */
START_TEST(test_store_mapped_rotation_and_release) {
  mrlog_policy p = store_policy(MRLOG_STORE_MAPPED);
  mrlog *log = th_open(th_dir, &p);
  unsigned char *buf = malloc(200 * 1024);
  uint64_t payload = 0, i, written;
  char *before, *after, name[16];
  mrlog_future *futures[PER_QUEUE * NQ];
  struct th_recs r;
  struct gone g;
  unsigned q;

  ck_assert_ptr_nonnull(buf);
  for (q = 0; q < NQ; q++) {
    snprintf(name, sizeof(name), "q%u", q);
    ck_assert_int_eq(th_create(log, name), 0);
  }
  /* All in flight at once, so frames hold runs of several queues with
   * big records (written from their requests) between them. */
  for (i = 0; i < PER_QUEUE; i++) {
    for (q = 0; q < NQ; q++) {
      snprintf(name, sizeof(name), "q%u", q);
      fill(buf, q, i);
      futures[i * NQ + q] =
          mrlog_append(log, name, NULL, buf, rec_len(q, i), NULL, NULL);
      payload += rec_len(q, i);
    }
  }
  for (i = 0; i < PER_QUEUE * NQ; i++)
    ck_assert_int_eq(th_wait(futures[i], NULL), 0);
  ck_assert_uint_gt(th_count_segments(th_dir), 5);
  for (q = 0; q < NQ; q++) {
    snprintf(name, sizeof(name), "q%u", q);
    ck_assert_int_eq(th_collect(log, name, 0, UINT64_MAX, &r), 0);
    ck_assert_uint_eq(r.n, PER_QUEUE);
    for (i = 0; i < r.n; i++) {
      th_req_uint_eq(r.v[i].len, rec_len(q, i));
      fill(buf, q, i);
      th_req(r.v[i].len == 0 || memcmp(r.v[i].data, buf, r.v[i].len) == 0);
    }
    th_recs_free(&r);
  }
  /* The windows count what was written into them. */
  written = th_segment_bytes(th_dir);
  ck_assert_uint_ge(th_stats(log).memory_bytes, payload);
  before = th_snapshot(log);
  th_close(log);
  log = th_open(th_dir, &p);
  after = th_snapshot(log);
  ck_assert_str_eq(after, before);
  for (q = 0; q < NQ; q++) {
    snprintf(name, sizeof(name), "q%u", q);
    ck_assert_int_eq(th_truncate(log, name, PER_QUEUE - 2), 0);
  }
  /* One record per queue is left, in the newest segments. */
  ck_assert_int_eq(th_append_str(log, "q0", "after", NULL), 0);
  ck_assert_int_eq(th_sync(log), 0);
  g.log = log;
  g.below = written / 4;
  g.segments = 4; /* the hot one, and the last records' (at most 3) */
  ck_assert_msg(th_poll(memory_released, &g, 10000),
                "%zu segments, memory_bytes %ju of %ju written",
                th_count_segments(th_dir),
                (uintmax_t)th_stats(log).memory_bytes, (uintmax_t)written);
  ck_assert_int_eq(th_collect(log, "q0", 0, UINT64_MAX, &r), 0);
  ck_assert_uint_eq(r.n, 2);
  ck_assert_uint_eq(r.v[1].len, 5);
  ck_assert(memcmp(r.v[1].data, "after", 5) == 0);
  th_recs_free(&r);
  th_close(log);
  free(before);
  free(after);
  free(buf);
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

  tc = tcase_create("store");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_store_mapped_reads_the_file);
  tcase_add_test(tc, test_store_copy_reads_its_copy);
  tcase_add_test(tc, test_store_default_reads_the_file);
  tcase_add_test(tc, test_store_resolution);
  tcase_add_test(tc, test_store_mapped_rotation_and_release);
  suite_add_tcase(s, tc);
  return s;
}

/*
 * test_time.c -- record times: stamps from the clock hook, mrlog_seek_time
 * and mrlog_range_time before and after reopen, clamping when the clock
 * steps back, logs of format version 1 (no times), rotation by age with no
 * writes, retention across many queues and segments (and racing appends
 * and truncations), and fsync after N writes.
 *
 * Time is driven through policy.now_ms with a fake clock, so no test
 * depends on the machine's speed: waits poll with a deadline.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_mrlog.h"
#include "crc32c.h"
#include "format.h"

/* ---- The fake clock ---------------------------------------------------- */

static _Atomic uint64_t fake_now;

static uint64_t fake_clock(void *arg) {
  (void)arg;
  return atomic_load(&fake_now);
}

static mrlog_policy timed_policy(void) {
  mrlog_policy p = th_policy();

  p.now_ms = fake_clock;
  return p;
}

static void set_now(uint64_t ms) { atomic_store(&fake_now, ms); }

/* ---- Helpers ----------------------------------------------------------- */

struct timed {
  size_t n;
  uint64_t pos[4096];
  uint64_t ms[4096];
};

static int collect_timed(void *arg, uint64_t position, uint64_t unix_ms,
                         const void *data, size_t len) {
  struct timed *t = arg;

  (void)data;
  (void)len;
  th_req(t->n < sizeof(t->pos) / sizeof(t->pos[0]));
  t->pos[t->n] = position;
  t->ms[t->n] = unix_ms;
  t->n++;
  return 0;
}

static struct timed *range_times(mrlog *log, const char *queue, uint64_t from,
                                 uint64_t to) {
  struct timed *t = calloc(1, sizeof(*t));

  ck_assert_ptr_nonnull(t);
  ck_assert_int_eq(mrlog_range_time(log, queue, from, to, collect_timed, t),
                   0);
  return t;
}

static uint64_t seek(mrlog *log, const char *queue, uint64_t ms) {
  uint64_t pos = UINT64_MAX;

  ck_assert_int_eq(mrlog_seek_time(log, queue, ms, &pos), 0);
  return pos;
}

static int seek_status(mrlog *log, const char *queue, uint64_t ms) {
  uint64_t pos = 12345;
  int rc = mrlog_seek_time(log, queue, ms, &pos);

  if (rc != 0) ck_assert_uint_eq(pos, 12345); /* untouched on failure */
  return rc;
}

/* ---- Stamps, seek and range ------------------------------------------- */

/* Positions 0-2 at t=1000, 3-4 at t=2000, 5 at t=3000; each append waited,
 * so every record is in a frame of its own. */
static void write_three_times(mrlog *log) {
  int i;

  ck_assert_int_eq(th_create(log, "q"), 0);
  set_now(1000);
  for (i = 0; i < 3; i++) ck_assert_int_eq(th_append_str(log, "q", "a", NULL), 0);
  set_now(2000);
  for (i = 0; i < 2; i++) ck_assert_int_eq(th_append_str(log, "q", "b", NULL), 0);
  set_now(3000);
  ck_assert_int_eq(th_append_str(log, "q", "c", NULL), 0);
}

static void check_three_times(mrlog *log) {
  static const uint64_t want[6] = {1000, 1000, 1000, 2000, 2000, 3000};
  struct mrlog_queue_info info;
  struct timed *t;
  size_t i;

  ck_assert_uint_eq(seek(log, "q", 0), 0);
  ck_assert_uint_eq(seek(log, "q", 1000), 0);
  ck_assert_uint_eq(seek(log, "q", 1001), 3);
  ck_assert_uint_eq(seek(log, "q", 2000), 3);
  ck_assert_uint_eq(seek(log, "q", 2999), 5);
  ck_assert_uint_eq(seek(log, "q", 3000), 5);
  ck_assert_int_eq(seek_status(log, "q", 3001), MRLOG_ENODATA);
  ck_assert_int_eq(seek_status(log, "q", UINT64_MAX), MRLOG_ENODATA);
  t = range_times(log, "q", 0, UINT64_MAX);
  ck_assert_uint_eq(t->n, 6);
  for (i = 0; i < 6; i++) {
    ck_assert_uint_eq(t->pos[i], i);
    ck_assert_uint_eq(t->ms[i], want[i]);
  }
  free(t);
  /* A sub-range starting inside a run gets that run's time. */
  t = range_times(log, "q", 4, 6);
  ck_assert_uint_eq(t->n, 2);
  ck_assert_uint_eq(t->ms[0], 2000);
  ck_assert_uint_eq(t->ms[1], 3000);
  free(t);
  info = th_info(log, "q");
  ck_assert_uint_eq(info.first_time_ms, 1000);
  ck_assert_uint_eq(info.last_time_ms, 3000);
}

START_TEST(test_seek_before_and_after_reopen) {
  mrlog_policy p = timed_policy();
  mrlog *log = th_open(th_dir, &p);

  write_three_times(log);
  check_three_times(log);
  th_close(log);
  set_now(1); /* reopen with a clock far behind: times are from the files */
  log = th_open(th_dir, &p);
  check_three_times(log);
  th_close(log);
}
END_TEST

START_TEST(test_seek_after_truncate) {
  mrlog_policy p = timed_policy();
  mrlog *log = th_open(th_dir, &p);
  struct mrlog_queue_info info;

  write_three_times(log);
  /* Dropping 0-3 leaves 4 (t=2000) and 5 (t=3000). */
  ck_assert_int_eq(th_truncate(log, "q", 3), 0);
  ck_assert_uint_eq(seek(log, "q", 0), 4);
  ck_assert_uint_eq(seek(log, "q", 2000), 4);
  ck_assert_uint_eq(seek(log, "q", 2001), 5);
  info = th_info(log, "q");
  ck_assert_uint_eq(info.first_time_ms, 2000);
  ck_assert_uint_eq(info.last_time_ms, 3000);
  /* Everything gone: no time at all. */
  ck_assert_int_eq(th_truncate(log, "q", 5), 0);
  ck_assert_int_eq(seek_status(log, "q", 0), MRLOG_ENODATA);
  info = th_info(log, "q");
  ck_assert_uint_eq(info.first_time_ms, 0);
  ck_assert_uint_eq(info.last_time_ms, 0);
  th_close(log);
  log = th_open(th_dir, &p);
  ck_assert_int_eq(seek_status(log, "q", 0), MRLOG_ENODATA);
  th_close(log);
}
END_TEST

START_TEST(test_seek_bad_arguments) {
  mrlog_policy p = timed_policy();
  mrlog *log = th_open(th_dir, &p);
  uint64_t pos;

  ck_assert_int_eq(th_create(log, "empty"), 0);
  ck_assert_int_eq(seek_status(log, "empty", 0), MRLOG_ENODATA);
  ck_assert_int_eq(seek_status(log, "missing", 0), MRLOG_ENOQUEUE);
  ck_assert_int_eq(mrlog_seek_time(NULL, "empty", 0, &pos), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_seek_time(log, NULL, 0, &pos), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_seek_time(log, "", 0, &pos), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_seek_time(log, "empty", 0, NULL), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_range_time(log, "empty", 0, 9, NULL, NULL),
                   MRLOG_EINVAL);
  ck_assert_int_eq(
      mrlog_range_time(log, "missing", 0, 9, collect_timed, NULL),
      MRLOG_ENOQUEUE);
  ck_assert_str_eq(mrlog_err_name(MRLOG_ENODATA), "ENODATA");
  th_close(log);
}
END_TEST

/* Many distinct times, so a timed range read needs several batches of
 * marks and of chunks; explicit positions leave gaps. */
START_TEST(test_range_time_many_marks) {
  mrlog_policy p = timed_policy();
  mrlog *log;
  struct timed *t;
  uint64_t i, pos;
  const uint64_t n = 700;

  p.segment_bytes = 64 << 10;
  log = th_open(th_dir, &p);
  ck_assert_int_eq(th_create(log, "m"), 0);
  for (i = 0; i < n; i++) {
    char buf[200];

    set_now(10000 + i / 3 * 7); /* a new time every third record */
    memset(buf, 'x', sizeof(buf));
    pos = i * 2; /* gaps */
    ck_assert_int_eq(th_append(log, "m", &pos, buf, 50 + i % 150, NULL), 0);
  }
  for (int round = 0; round < 2; round++) {
    t = range_times(log, "m", 0, UINT64_MAX);
    ck_assert_uint_eq(t->n, n);
    for (i = 0; i < n; i++) {
      th_req_uint_eq(t->pos[i], i * 2);
      th_req_uint_eq(t->ms[i], 10000 + i / 3 * 7);
    }
    free(t);
    for (i = 0; i < n; i += 37) {
      uint64_t ms = 10000 + i / 3 * 7;
      /* The first record framed at or after ms is the first of its run. */
      th_req_uint_eq(seek(log, "m", ms), (i / 3 * 3) * 2);
      th_req_uint_eq(seek(log, "m", ms - 1), (i / 3 * 3) * 2);
    }
    th_close(log);
    log = th_open(th_dir, &p);
  }
  th_close(log);
}
END_TEST

/* ---- Clamping ----------------------------------------------------------- */

START_TEST(test_clock_steps_back) {
  mrlog_policy p = timed_policy();
  mrlog *log = th_open(th_dir, &p);
  struct timed *t;

  ck_assert_int_eq(th_create(log, "q"), 0);
  set_now(5000);
  ck_assert_int_eq(th_append_str(log, "q", "0", NULL), 0);
  set_now(4000); /* steps back: clamped to 5000 */
  ck_assert_int_eq(th_append_str(log, "q", "1", NULL), 0);
  set_now(6000);
  ck_assert_int_eq(th_append_str(log, "q", "2", NULL), 0);
  set_now(5500); /* back again: clamped to 6000 */
  ck_assert_int_eq(th_append_str(log, "q", "3", NULL), 0);
  th_close(log);
  /* Across a reopen too: the newest replayed time is the floor. */
  set_now(100);
  log = th_open(th_dir, &p);
  ck_assert_int_eq(th_append_str(log, "q", "4", NULL), 0);
  set_now(7000);
  ck_assert_int_eq(th_append_str(log, "q", "5", NULL), 0);
  t = range_times(log, "q", 0, UINT64_MAX);
  ck_assert_uint_eq(t->n, 6);
  ck_assert_uint_eq(t->ms[0], 5000);
  ck_assert_uint_eq(t->ms[1], 5000);
  ck_assert_uint_eq(t->ms[2], 6000);
  ck_assert_uint_eq(t->ms[3], 6000);
  ck_assert_uint_eq(t->ms[4], 6000);
  ck_assert_uint_eq(t->ms[5], 7000);
  free(t);
  ck_assert_uint_eq(seek(log, "q", 5001), 2);
  ck_assert_uint_eq(seek(log, "q", 6001), 5);
  th_close(log);
}
END_TEST

/* Without a hook the wall clock is used. */
START_TEST(test_default_clock_is_wall_clock) {
  mrlog *log = th_open(th_dir, NULL);
  struct timespec a, b;
  struct timed *t;
  uint64_t lo, hi;

  ck_assert_int_eq(th_create(log, "q"), 0);
  clock_gettime(CLOCK_REALTIME, &a);
  ck_assert_int_eq(th_append_str(log, "q", "x", NULL), 0);
  clock_gettime(CLOCK_REALTIME, &b);
  lo = (uint64_t)a.tv_sec * 1000 + (uint64_t)a.tv_nsec / 1000000;
  hi = (uint64_t)b.tv_sec * 1000 + (uint64_t)b.tv_nsec / 1000000;
  t = range_times(log, "q", 0, UINT64_MAX);
  ck_assert_uint_eq(t->n, 1);
  ck_assert_uint_ge(t->ms[0], lo);
  ck_assert_uint_le(t->ms[0], hi);
  free(t);
  th_close(log);
}
END_TEST

/* ---- Format version 1 --------------------------------------------------- */

/* Appends a frame with body b at *off of the file being built in f. */
static void put_frame(struct mrlog__buf *f, uint64_t segno,
                      const struct mrlog__buf *b) {
  uint32_t off = (uint32_t)f->len;

  ck_assert_int_eq(mrlog__buf_reserve(f, MRLOG_FRAME_HEADER_SIZE + b->len), 0);
  memcpy(f->data + off + MRLOG_FRAME_HEADER_SIZE, b->data, b->len);
  /* synced = off: everything before was durable (a clean file). */
  mrlog__frame_header_encode(f->data + off, segno, off, (uint32_t)b->len, off);
  f->len += MRLOG_FRAME_HEADER_SIZE + b->len;
}

/* Writes segment 1 of format version 1 into dir: queue "old" with records
 * 0 "r0" and 1 "r1"; with_time adds a TIME op, invalid in version 1. */
static void write_v1_segment(const char *dir, bool with_time) {
  struct mrlog__buf f = {0}, b = {0};
  char *path = th_path(dir, "0000000000000001.mrlog");

  ck_assert_int_eq(mrlog__buf_reserve(&f, 256), 0);
  ck_assert_int_eq(mrlog__buf_reserve(&b, 256), 0);
  mrlog__file_header_encode(f.data, 1);
  mrlog__put_u32le(f.data + 8, 1);
  mrlog__put_u32le(f.data + 28, mrlog__crc32c(f.data, 28));
  f.len = MRLOG_FILE_HEADER_SIZE;
  /* The checkpoint of a new log, then a create, then an append. */
  mrlog__buf_put_u8(&b, MRLOG_OP_CHECKPOINT);
  mrlog__buf_put_varint(&b, 0);
  mrlog__buf_put_varint(&b, 0);
  put_frame(&f, 1, &b);
  b.len = 0;
  mrlog__buf_put_u8(&b, MRLOG_OP_CREATE);
  mrlog__buf_put_varint(&b, 0);
  mrlog__buf_put_varint(&b, 3);
  memcpy(b.data + b.len, "old", 3);
  b.len += 3;
  put_frame(&f, 1, &b);
  b.len = 0;
  if (with_time) {
    mrlog__buf_put_u8(&b, MRLOG_OP_TIME);
    mrlog__buf_put_varint(&b, 123456);
  }
  mrlog__buf_put_u8(&b, MRLOG_OP_APPEND);
  mrlog__buf_put_varint(&b, 0); /* id */
  mrlog__buf_put_varint(&b, 0); /* first */
  mrlog__buf_put_varint(&b, 2); /* count */
  mrlog__buf_put_varint(&b, 2);
  memcpy(b.data + b.len, "r0", 2);
  b.len += 2;
  mrlog__buf_put_varint(&b, 2);
  memcpy(b.data + b.len, "r1", 2);
  b.len += 2;
  put_frame(&f, 1, &b);
  th_write_file(path, f.data, f.len);
  mrlog__buf_free(&f);
  mrlog__buf_free(&b);
  free(path);
}

static void set_mtime_ms(const char *path, uint64_t ms) {
  struct timespec ts[2];

  ts[0].tv_sec = ts[1].tv_sec = (time_t)(ms / 1000);
  ts[0].tv_nsec = ts[1].tv_nsec = (long)(ms % 1000) * 1000000;
  ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
}

START_TEST(test_reads_format_version_1) {
  char *seg1 = th_path(th_dir, "0000000000000001.mrlog");
  mrlog_policy p = timed_policy();
  struct timed *t;
  unsigned char *data;
  size_t len;
  mrlog *log;

  write_v1_segment(th_dir, false);
  set_mtime_ms(seg1, 1700000000123ull);
  set_now(1000); /* behind the file's time: new frames are clamped */
  log = th_open(th_dir, &p);
  ck_assert_uint_eq(th_info(log, "old").records, 2);
  t = range_times(log, "old", 0, UINT64_MAX);
  ck_assert_uint_eq(t->n, 2);
  ck_assert_uint_eq(t->ms[0], 1700000000123ull);
  ck_assert_uint_eq(t->ms[1], 1700000000123ull);
  free(t);
  ck_assert_uint_eq(seek(log, "old", 5), 0);
  ck_assert_int_eq(th_append_str(log, "old", "new", NULL), 0);
  t = range_times(log, "old", 2, 3);
  ck_assert_uint_eq(t->n, 1);
  ck_assert_uint_eq(t->ms[0], 1700000000123ull);
  free(t);
  th_close(log);
  /* The old segment is read as it is, never rewritten. */
  data = th_read_file(seg1, &len);
  ck_assert_uint_eq(mrlog__get_u32le(data + 8), 1);
  free(data);
  /* New segments are written in the current version. */
  {
    char *last = th_last_segment(th_dir);

    data = th_read_file(last, &len);
    ck_assert_uint_eq(mrlog__get_u32le(data + 8), MRLOG_FORMAT_VERSION_CURRENT);
    free(data);
    free(last);
  }
  log = th_open(th_dir, &p);
  ck_assert_uint_eq(th_info(log, "old").records, 3);
  th_close(log);
  free(seg1);
}
END_TEST

START_TEST(test_time_op_in_version_1_is_corrupt) {
  mrlog_policy p = timed_policy();
  mrlog *log = NULL;

  write_v1_segment(th_dir, true);
  p.recovery = MRLOG_RECOVER_STRICT;
  ck_assert_int_eq(mrlog_open(th_dir, &p, &log), MRLOG_ECORRUPT);
  ck_assert_ptr_null(log);
}
END_TEST


/* ---- Rotation by age ---------------------------------------------------- */

static mrlog *poll_log;

static bool age_rotated(void *arg) {
  return th_stats(poll_log).age_rotations >= (uint64_t)(uintptr_t)arg;
}

static bool one_segment_left(void *arg) {
  (void)arg;
  return th_count_segments(th_dir) == 1 && th_stats(poll_log).segment_files == 1;
}

START_TEST(test_rotation_by_age_without_writes) {
  mrlog_policy p = timed_policy();
  char *first, *now_first;
  mrlog *log;

  p.segment_max_age_ms = 1000;
  p.cleaner_interval_ms = 5;
  set_now(10000);
  log = th_open(th_dir, &p);
  poll_log = log;
  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(th_append_str(log, "q", "old", NULL), 0);
  ck_assert_int_eq(th_truncate(log, "q", 0), 0); /* nothing retained */
  first = th_first_segment(th_dir);
  /* Younger than the limit: never rotated, however often the cleaner
   * looks (a negative check: the sleep only gives it time to misbehave). */
  set_now(10999);
  th_sleep_ms(60);
  ck_assert_uint_eq(th_stats(log).age_rotations, 0);
  ck_assert_uint_eq(th_count_segments(th_dir), 1);
  /* Old enough, with no write arriving: rotated, and the old file, whose
   * records are all truncated, is deleted. */
  set_now(11000);
  ck_assert(th_poll(age_rotated, (void *)1, 10000));
  ck_assert(th_poll(one_segment_left, NULL, 10000));
  now_first = th_first_segment(th_dir);
  ck_assert_str_ne(now_first, first);
  /* The new hot segment holds only its checkpoint: an idle log is not
   * rotated over and over. */
  set_now(20000);
  th_sleep_ms(60);
  ck_assert_uint_eq(th_stats(log).age_rotations, 1);
  /* A write makes it rotatable again once old. */
  ck_assert_int_eq(th_append_str(log, "q", "new", NULL), 0);
  set_now(21500);
  ck_assert(th_poll(age_rotated, (void *)2, 10000));
  ck_assert_uint_eq(th_info(log, "q").records, 1);
  th_close(log);
  log = th_open(th_dir, &p);
  ck_assert_uint_eq(th_info(log, "q").records, 1);
  th_close(log);
  free(first);
  free(now_first);
}
END_TEST

/* ---- Retention ---------------------------------------------------------- */

#define RQ 20       /* queues */
#define R_OLD 30    /* records per queue at t=1000 */
#define R_YOUNG 10  /* records per queue at t=3000 */

struct messages {
  pthread_mutex_t mutex;
  int retention;  /* "retention:" messages at INFO */
};

static void count_messages(void *arg, int level, const char *message) {
  struct messages *m = arg;

  if (level == MRLOG_LOG_INFO && strncmp(message, "retention:", 10) == 0) {
    pthread_mutex_lock(&m->mutex);
    m->retention++;
    pthread_mutex_unlock(&m->mutex);
  }
}

static int messages_seen(struct messages *m) {
  int n;

  pthread_mutex_lock(&m->mutex);
  n = m->retention;
  pthread_mutex_unlock(&m->mutex);
  return n;
}

static bool retention_dropped(void *arg) {
  return th_stats(poll_log).retention_records >= (uint64_t)(uintptr_t)arg;
}

static struct messages *poll_messages;
static bool messages_reach(void *arg) {
  return messages_seen(poll_messages) >= (int)(uintptr_t)arg;
}

static char **old_names;
static size_t n_old_names;
static bool old_segments_gone(void *arg) {
  (void)arg;
  for (size_t i = 0; i < n_old_names; i++) {
    if (access(old_names[i], F_OK) == 0) return false;
  }
  return true;
}

static void rec_text(char *buf, size_t cap, int q, int k) {
  snprintf(buf, cap, "queue-%02d-record-%03d-%s", q, k,
           "padding-padding-padding-padding");
}

START_TEST(test_retention_many_queues_and_segments) {
  struct messages msgs = {PTHREAD_MUTEX_INITIALIZER, 0};
  mrlog_policy p = timed_policy();
  char name[32], text[128];
  mrlog *log;
  int q, k;

  p.segment_bytes = 4096;
  p.retention_ms = 5000;
  p.cleaner_interval_ms = 5;
  p.log_fn = count_messages;
  p.log_arg = &msgs;
  set_now(1000);
  log = th_open(th_dir, &p);
  poll_log = log;
  poll_messages = &msgs;
  for (q = 0; q < RQ; q++) {
    snprintf(name, sizeof(name), "q%02d", q);
    ck_assert_int_eq(th_create(log, name), 0);
  }
  for (k = 0; k < R_OLD; k++) {
    for (q = 0; q < RQ; q++) {
      snprintf(name, sizeof(name), "q%02d", q);
      rec_text(text, sizeof(text), q, k);
      ck_assert_int_eq(th_append_str(log, name, text, NULL), 0);
    }
  }
  /* Every segment but the hot one holds old records only. */
  {
    char **names;
    size_t n = th_list_segments(th_dir, &names);

    ck_assert_uint_ge(n, 4);
    n_old_names = n - 1;
    old_names = names;
    free(names[n - 1]);
  }
  set_now(3000);
  for (k = R_OLD; k < R_OLD + R_YOUNG; k++) {
    for (q = 0; q < RQ; q++) {
      snprintf(name, sizeof(name), "q%02d", q);
      rec_text(text, sizeof(text), q, k);
      ck_assert_int_eq(th_append_str(log, name, text, NULL), 0);
    }
  }
  /* Nothing is older than 5000 ms yet. */
  set_now(5999);
  th_sleep_ms(50);
  ck_assert_uint_eq(th_stats(log).retention_records, 0);
  /* At 6001 the records of t=1000 are older than 5000 ms; those of t=3000
   * are not. */
  set_now(6001);
  ck_assert(th_poll(retention_dropped, (void *)(uintptr_t)(RQ * R_OLD), 10000));
  ck_assert(th_poll(messages_reach, (void *)(uintptr_t)RQ, 10000));
  ck_assert_uint_eq(th_stats(log).retention_truncations, RQ);
  ck_assert_uint_eq(th_stats(log).retention_records, RQ * R_OLD);
  for (q = 0; q < RQ; q++) {
    struct mrlog_queue_info info;
    struct th_recs recs = {0};

    snprintf(name, sizeof(name), "q%02d", q);
    info = th_info(log, name);
    ck_assert_uint_eq(info.records, R_YOUNG);
    ck_assert_uint_eq(info.first_position, R_OLD);
    ck_assert_uint_eq(info.first_time_ms, 3000);
    ck_assert_uint_eq(seek(log, name, 0), R_OLD);
    ck_assert_int_eq(th_collect(log, name, 0, UINT64_MAX, &recs), 0);
    ck_assert_uint_eq(recs.n, R_YOUNG);
    for (k = 0; k < R_YOUNG; k++) {
      rec_text(text, sizeof(text), q, R_OLD + k);
      ck_assert_uint_eq(recs.v[k].pos, (uint64_t)(R_OLD + k));
      ck_assert_uint_eq(recs.v[k].len, strlen(text));
      ck_assert(memcmp(recs.v[k].data, text, strlen(text)) == 0);
    }
    th_recs_free(&recs);
  }
  /* The files that held only expired records are deleted. */
  ck_assert(th_poll(old_segments_gone, NULL, 10000));
  th_free_names(old_names, n_old_names);
  th_close(log);
  /* Durable: a reopen (clock back at the cutoff) sees the same. */
  set_now(6001);
  log = th_open(th_dir, &p);
  poll_log = log;
  for (q = 0; q < RQ; q++) {
    snprintf(name, sizeof(name), "q%02d", q);
    ck_assert_uint_eq(th_info(log, name).records, R_YOUNG);
  }
  /* Later the young ones expire as well, in every queue. */
  set_now(8001);
  ck_assert(th_poll(retention_dropped, (void *)(uintptr_t)(RQ * R_YOUNG), 10000));
  for (q = 0; q < RQ; q++) {
    snprintf(name, sizeof(name), "q%02d", q);
    ck_assert_uint_eq(th_info(log, name).records, 0);
    ck_assert_uint_eq(th_info(log, name).next_position, R_OLD + R_YOUNG);
  }
  th_close(log);
}
END_TEST

/* Retention racing with appends and explicit truncations: appenders note
 * the fake clock before and after each append, so each record's time is
 * known to lie in [before, after]; the main thread moves the clock; one
 * thread truncates explicitly.  At the end every record framed before the
 * final cutoff is gone, every one framed after it and above the explicit
 * truncations is there with its bytes, and nothing else was touched. */
#define RACE_QUEUES 4
#define RACE_THREADS 3
#define RACE_PER_THREAD 400

struct acked {
  uint64_t pos, before, after;
  int q;
  char text[48];
};

struct race {
  mrlog *log;
  atomic_int done_threads;
  _Atomic uint64_t trunc_upto[RACE_QUEUES]; /* explicit truncations done */
  struct acked acked[RACE_THREADS][RACE_PER_THREAD];
};

struct race_arg {
  struct race *race;
  int thread;
};

static void *race_appender(void *argp) {
  struct race_arg *a = argp;
  struct race *r = a->race;
  int i;

  for (i = 0; i < RACE_PER_THREAD; i++) {
    struct acked *k = &r->acked[a->thread][i];
    char name[16];

    k->q = (a->thread + i) % RACE_QUEUES;
    snprintf(name, sizeof(name), "r%d", k->q);
    snprintf(k->text, sizeof(k->text), "t%d-i%d", a->thread, i);
    k->before = atomic_load(&fake_now);
    th_req_int_eq(mrlog_wait(mrlog_append(r->log, name, NULL, k->text,
                                          strlen(k->text), NULL, NULL),
                             &k->pos),
                  0);
    k->after = atomic_load(&fake_now);
  }
  atomic_fetch_add(&r->done_threads, 1);
  return NULL;
}

static void *race_truncator(void *argp) {
  struct race *r = argp;
  int round = 0;

  while (atomic_load(&r->done_threads) < RACE_THREADS) {
    int q = round++ % RACE_QUEUES;
    char name[16];
    struct mrlog_queue_info info;

    snprintf(name, sizeof(name), "r%d", q);
    if (mrlog_queue_info(r->log, name, &info) == 0 && info.records > 4) {
      uint64_t upto = info.first_position + 1;

      th_req_int_eq(mrlog_wait(mrlog_truncate(r->log, name, upto, NULL, NULL),
                               NULL),
                    0);
      if (upto > atomic_load(&r->trunc_upto[q]))
        atomic_store(&r->trunc_upto[q], upto);
    }
    th_sleep_ms(1);
  }
  return NULL;
}

struct visit_check {
  uint64_t cutoff;
  int bad;
};

static int check_young(void *arg, uint64_t position, uint64_t unix_ms,
                       const void *data, size_t len) {
  struct visit_check *v = arg;

  (void)position;
  (void)data;
  (void)len;
  if (unix_ms < v->cutoff) v->bad++;
  return 0;
}

static bool race_settled(void *arg) {
  struct race *r = arg;
  uint64_t cutoff = atomic_load(&fake_now) - 100;

  for (int q = 0; q < RACE_QUEUES; q++) {
    char name[16];
    struct mrlog_queue_info info;

    snprintf(name, sizeof(name), "r%d", q);
    info = th_info(r->log, name);
    if (info.records > 0 && info.first_time_ms < cutoff) return false;
  }
  return true;
}

START_TEST(test_retention_races_appends_and_truncations) {
  static struct race r; /* large: not on the stack */
  struct race_arg args[RACE_THREADS];
  pthread_t th[RACE_THREADS], tr;
  mrlog_policy p = timed_policy();
  uint64_t cutoff;
  int i, t, q, present = 0, gone = 0;

  memset(&r, 0, sizeof(r));
  p.retention_ms = 100;
  p.cleaner_interval_ms = 1;
  p.segment_bytes = 8192;
  set_now(100000);
  r.log = th_open(th_dir, &p);
  for (q = 0; q < RACE_QUEUES; q++) {
    char name[16];
    snprintf(name, sizeof(name), "r%d", q);
    ck_assert_int_eq(th_create(r.log, name), 0);
  }
  for (t = 0; t < RACE_THREADS; t++) {
    args[t] = (struct race_arg){&r, t};
    ck_assert_int_eq(pthread_create(&th[t], NULL, race_appender, &args[t]), 0);
  }
  ck_assert_int_eq(pthread_create(&tr, NULL, race_truncator, &r), 0);
  while (atomic_load(&r.done_threads) < RACE_THREADS) {
    atomic_fetch_add(&fake_now, 3); /* fake ms pass while appends go on */
    th_sleep_ms(1);
  }
  for (t = 0; t < RACE_THREADS; t++) pthread_join(th[t], NULL);
  pthread_join(tr, NULL);
  atomic_fetch_add(&fake_now, 50);
  cutoff = atomic_load(&fake_now) - 100;
  ck_assert(th_poll(race_settled, &r, 20000));
  /* Every queue: nothing older than the cutoff is left. */
  for (q = 0; q < RACE_QUEUES; q++) {
    struct visit_check v = {cutoff, 0};
    char name[16];

    snprintf(name, sizeof(name), "r%d", q);
    ck_assert_int_eq(mrlog_range_time(r.log, name, 0, UINT64_MAX, check_young,
                                      &v),
                     0);
    ck_assert_int_eq(v.bad, 0);
  }
  /* Every acknowledged record: gone if framed before the cutoff or
   * explicitly truncated, there with its bytes if framed after and above
   * every explicit truncation. */
  for (t = 0; t < RACE_THREADS; t++) {
    for (i = 0; i < RACE_PER_THREAD; i++) {
      struct acked *k = &r.acked[t][i];
      struct th_recs recs = {0};
      char name[16];

      snprintf(name, sizeof(name), "r%d", k->q);
      ck_assert_int_eq(th_collect(r.log, name, k->pos, k->pos + 1, &recs), 0);
      if (k->after < cutoff || k->pos <= atomic_load(&r.trunc_upto[k->q])) {
        if (k->after < cutoff) th_req_uint_eq(recs.n, 0);
        gone += recs.n == 0;
      } else if (k->before >= cutoff) {
        th_req_uint_eq(recs.n, 1);
        th_req_uint_eq(recs.v[0].len, strlen(k->text));
        th_req(memcmp(recs.v[0].data, k->text, recs.v[0].len) == 0);
        present++;
      }
      th_recs_free(&recs);
    }
  }
  ck_assert_int_gt(gone, 0);
  ck_assert_uint_gt(th_stats(r.log).retention_truncations, 0);
  th_close(r.log);
  (void)present;
}
END_TEST

/* ---- fsync after N writes ----------------------------------------------- */

static uint64_t fsyncs_for(const char *sub, uint64_t fsync_writes,
                           int appends) {
  mrlog_policy p = timed_policy();
  char *dir = th_sub(sub);
  mrlog *log;
  uint64_t before, after;
  int i;

  p.fsync_interval_ms = 600000; /* the timer never fires in the test */
  p.fsync_writes = fsync_writes;
  log = th_open(dir, &p);
  free(dir);
  ck_assert_int_eq(th_create(log, "w"), 0);
  before = th_stats(log).fsyncs;
  for (i = 0; i < appends; i++)
    ck_assert_int_eq(th_append_str(log, "w", "record", NULL), 0);
  after = th_stats(log).fsyncs;
  th_close(log);
  return after - before;
}

START_TEST(test_fsync_after_n_writes) {
  uint64_t with, without;

  /* Waited appends: one record per frame, each handed to the flusher,
   * which syncs once 10 are unsynced: 95 records make 9 syncs (8 if one
   * count check straddles a sync). */
  with = fsyncs_for("with", 10, 95);
  ck_assert_uint_ge(with, 8);
  ck_assert_uint_le(with, 9);
  /* Without the count trigger nothing syncs within the interval. */
  without = fsyncs_for("without", 0, 95);
  ck_assert_uint_eq(without, 0);
}
END_TEST

Suite *make_time_suite(void) {
  Suite *s = suite_create("time");
  TCase *tc;

  tc = tcase_create("stamps");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_seek_before_and_after_reopen);
  tcase_add_test(tc, test_seek_after_truncate);
  tcase_add_test(tc, test_seek_bad_arguments);
  tcase_add_test(tc, test_range_time_many_marks);
  tcase_add_test(tc, test_clock_steps_back);
  tcase_add_test(tc, test_default_clock_is_wall_clock);
  tcase_add_test(tc, test_reads_format_version_1);
  tcase_add_test(tc, test_time_op_in_version_1_is_corrupt);
  suite_add_tcase(s, tc);

  tc = tcase_create("policies");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_SLOW);
  tcase_add_test(tc, test_rotation_by_age_without_writes);
  tcase_add_test(tc, test_retention_many_queues_and_segments);
  tcase_add_test(tc, test_retention_races_appends_and_truncations);
  tcase_add_test(tc, test_fsync_after_n_writes);
  suite_add_tcase(s, tc);
  return s;
}

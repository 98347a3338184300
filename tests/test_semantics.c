/*
 * test_semantics.c -- positions, duplicates, gaps, batches, truncation,
 * queue lifecycle, names, payload sizes, range reads and stats, all within
 * one open log (persistence is test_persist.c).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_mrlog.h"

/* Asserts the queue's info. */
static void expect_info(mrlog *log, const char *q, uint64_t first,
                        uint64_t next, uint64_t records, uint64_t bytes) {
  struct mrlog_queue_info info = th_info(log, q);

  ck_assert_uint_eq(info.first_position, first);
  ck_assert_uint_eq(info.next_position, next);
  ck_assert_uint_eq(info.records, records);
  ck_assert_uint_eq(info.bytes, bytes);
}

/* Asserts the queue holds exactly the records at positions pos[0..n) whose
 * payloads are the strings text[0..n). */
static void expect_records(mrlog *log, const char *q, size_t n,
                           const uint64_t *pos, const char *const *text) {
  struct th_recs r;
  size_t i;

  ck_assert_int_eq(th_collect(log, q, 0, UINT64_MAX, &r), 0);
  ck_assert_uint_eq(r.n, n);
  for (i = 0; i < n; i++) {
    ck_assert_uint_eq(r.v[i].pos, pos[i]);
    ck_assert_uint_eq(r.v[i].len, strlen(text[i]));
    if (r.v[i].len > 0) ck_assert_mem_eq(r.v[i].data, text[i], r.v[i].len);
  }
  th_recs_free(&r);
}

/* Appends n one-letter records "a", "b", ... at the default positions. */
static void append_letters(mrlog *log, const char *q, int n) {
  int i;

  for (i = 0; i < n; i++) {
    char s[2] = {(char)('a' + i % 26), 0};
    ck_assert_int_eq(th_append_str(log, q, s, NULL), 0);
  }
}

/* ---- Positions ---------------------------------------------------------- */

START_TEST(test_first_position_zero) {
  mrlog *log = th_open(th_dir, NULL);
  uint64_t pos = 99;

  ck_assert_int_eq(th_create(log, "q"), 0);
  expect_info(log, "q", 0, 0, 0, 0);
  ck_assert_int_eq(th_append_str(log, "q", "a", &pos), 0);
  ck_assert_uint_eq(pos, 0);
  ck_assert_int_eq(th_append_str(log, "q", "bc", &pos), 0);
  ck_assert_uint_eq(pos, 1);
  ck_assert_int_eq(th_append_str(log, "q", "def", &pos), 0);
  ck_assert_uint_eq(pos, 2);
  expect_info(log, "q", 0, 3, 3, 6);
  th_close(log);
}
END_TEST

START_TEST(test_explicit_duplicate) {
  mrlog *log = th_open(th_dir, NULL);
  static const uint64_t pos[] = {0, 1, 2};
  static const char *const text[] = {"a", "b", "c"};

  ck_assert_int_eq(th_create(log, "q"), 0);
  append_letters(log, "q", 3);
  ck_assert_int_eq(th_append_at(log, "q", 1, "X", 1, NULL), MRLOG_DUPLICATE);
  ck_assert_int_eq(th_append_at(log, "q", 0, "Y", 1, NULL), MRLOG_DUPLICATE);
  ck_assert_int_eq(th_append_at(log, "q", 2, "Z", 1, NULL), MRLOG_DUPLICATE);
  /* Nothing was written. */
  expect_info(log, "q", 0, 3, 3, 3);
  expect_records(log, "q", 3, pos, text);
  ck_assert_uint_eq(th_stats(log).records, 3);
  th_close(log);
}
END_TEST

START_TEST(test_explicit_at_next) {
  mrlog *log = th_open(th_dir, NULL);
  uint64_t got = 99;

  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(th_append_at(log, "q", 0, "a", 1, &got), 0);
  ck_assert_uint_eq(got, 0);
  ck_assert_int_eq(th_append_at(log, "q", 1, "b", 1, &got), 0);
  ck_assert_uint_eq(got, 1);
  expect_info(log, "q", 0, 2, 2, 2);
  th_close(log);
}
END_TEST

START_TEST(test_explicit_gap) {
  mrlog *log = th_open(th_dir, NULL);
  static const uint64_t pos[] = {0, 1, 2, 10, 11};
  static const char *const text[] = {"a", "b", "c", "gap", "d"};
  uint64_t got = 99;

  ck_assert_int_eq(th_create(log, "q"), 0);
  append_letters(log, "q", 3);
  ck_assert_int_eq(th_append_at(log, "q", 10, "gap", 3, &got), 0);
  ck_assert_uint_eq(got, 10);
  expect_info(log, "q", 0, 11, 4, 6);
  /* Default appends continue after the gap. */
  ck_assert_int_eq(th_append_str(log, "q", "d", &got), 0);
  ck_assert_uint_eq(got, 11);
  /* A hole below next is still a duplicate. */
  ck_assert_int_eq(th_append_at(log, "q", 5, "h", 1, NULL), MRLOG_DUPLICATE);
  expect_records(log, "q", 5, pos, text);
  expect_info(log, "q", 0, 12, 5, 7);
  th_close(log);
}
END_TEST

START_TEST(test_explicit_first_record_gap) {
  mrlog *log = th_open(th_dir, NULL);
  static const uint64_t pos[] = {1000};
  static const char *const text[] = {"k"};

  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(th_append_at(log, "q", 1000, "k", 1, NULL), 0);
  expect_info(log, "q", 1000, 1001, 1, 1);
  expect_records(log, "q", 1, pos, text);
  th_close(log);
}
END_TEST

START_TEST(test_last_position) {
  mrlog *log = th_open(th_dir, NULL);
  uint64_t got = 0;

  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(th_append_at(log, "q", MRLOG_POSITION_MAX - 1, "a", 1, &got),
                   0);
  ck_assert_uint_eq(got, MRLOG_POSITION_MAX - 1);
  ck_assert_int_eq(th_append_str(log, "q", "b", &got), 0);
  ck_assert_uint_eq(got, MRLOG_POSITION_MAX);
  expect_info(log, "q", MRLOG_POSITION_MAX - 1, UINT64_MAX, 2, 2);
  ck_assert_int_eq(th_append_at(log, "q", MRLOG_POSITION_MAX, "c", 1, NULL),
                   MRLOG_DUPLICATE);
  th_close(log);
}
END_TEST

/* ---- Batches ------------------------------------------------------------ */

START_TEST(test_batch_default) {
  mrlog *log = th_open(th_dir, NULL);
  struct iovec iov[3] = {{"one", 3}, {"two", 3}, {"three", 5}};
  static const uint64_t pos[] = {0, 1, 2};
  static const char *const text[] = {"one", "two", "three"};
  uint64_t got = 99;

  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(
      th_wait(mrlog_append_batch(log, "q", NULL, iov, 3, NULL, NULL), &got), 0);
  ck_assert_uint_eq(got, 2); /* the last record's position */
  expect_info(log, "q", 0, 3, 3, 11);
  expect_records(log, "q", 3, pos, text);
  th_close(log);
}
END_TEST

START_TEST(test_batch_explicit_first) {
  mrlog *log = th_open(th_dir, NULL);
  struct iovec iov[2] = {{"x", 1}, {"yy", 2}};
  static const uint64_t pos[] = {0, 7, 8};
  static const char *const text[] = {"a", "x", "yy"};
  uint64_t first = 7, got = 99;

  ck_assert_int_eq(th_create(log, "q"), 0);
  append_letters(log, "q", 1);
  ck_assert_int_eq(
      th_wait(mrlog_append_batch(log, "q", &first, iov, 2, NULL, NULL), &got),
      0);
  ck_assert_uint_eq(got, 8);
  expect_info(log, "q", 0, 9, 3, 4);
  expect_records(log, "q", 3, pos, text);
  th_close(log);
}
END_TEST

START_TEST(test_batch_duplicate_first) {
  mrlog *log = th_open(th_dir, NULL);
  struct iovec iov[10];
  static const uint64_t pos[] = {0, 1, 2, 3, 4};
  static const char *const text[] = {"a", "b", "c", "d", "e"};
  uint64_t first;
  int i;

  for (i = 0; i < 10; i++) {
    iov[i].iov_base = "N";
    iov[i].iov_len = 1;
  }
  ck_assert_int_eq(th_create(log, "q"), 0);
  append_letters(log, "q", 5);
  /* Later positions would be new, but the first decides: nothing written. */
  first = 4;
  ck_assert_int_eq(
      th_wait(mrlog_append_batch(log, "q", &first, iov, 10, NULL, NULL), NULL),
      MRLOG_DUPLICATE);
  first = 0;
  ck_assert_int_eq(
      th_wait(mrlog_append_batch(log, "q", &first, iov, 1, NULL, NULL), NULL),
      MRLOG_DUPLICATE);
  expect_info(log, "q", 0, 5, 5, 5);
  expect_records(log, "q", 5, pos, text);
  th_close(log);
}
END_TEST

START_TEST(test_batch_atomic_on_error) {
  mrlog *log = th_open(th_dir, NULL);
  struct iovec iov[3] = {{"ok", 2}, {NULL, 5}, {"ok", 2}};

  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(
      th_wait(mrlog_append_batch(log, "q", NULL, iov, 3, NULL, NULL), NULL),
      MRLOG_EINVAL);
  ck_assert_int_eq(
      th_wait(mrlog_append_batch(log, "missing", NULL, iov, 1, NULL, NULL),
              NULL),
      MRLOG_ENOQUEUE);
  expect_info(log, "q", 0, 0, 0, 0);
  th_close(log);
}
END_TEST

START_TEST(test_batch_empty_records) {
  mrlog *log = th_open(th_dir, NULL);
  struct iovec iov[3] = {{NULL, 0}, {"x", 0}, {"y", 1}};
  static const uint64_t pos[] = {0, 1, 2};
  static const char *const text[] = {"", "", "y"};
  uint64_t got = 99;

  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(
      th_wait(mrlog_append_batch(log, "q", NULL, iov, 3, NULL, NULL), &got), 0);
  ck_assert_uint_eq(got, 2);
  expect_records(log, "q", 3, pos, text);
  expect_info(log, "q", 0, 3, 3, 1);
  th_close(log);
}
END_TEST

START_TEST(test_batch_large_count) {
  mrlog *log = th_open(th_dir, NULL);
  enum { N = 10000 };
  struct iovec *iov = calloc(N, sizeof(*iov));
  uint32_t *vals = calloc(N, sizeof(*vals));
  struct th_recs r;
  uint64_t got = 0;
  size_t i;

  ck_assert_ptr_nonnull(iov);
  ck_assert_ptr_nonnull(vals);
  for (i = 0; i < N; i++) {
    vals[i] = (uint32_t)(i * 2654435761u);
    iov[i].iov_base = &vals[i];
    iov[i].iov_len = sizeof(vals[i]);
  }
  ck_assert_int_eq(th_create(log, "q"), 0);
  append_letters(log, "q", 2);
  ck_assert_int_eq(
      th_wait(mrlog_append_batch(log, "q", NULL, iov, N, NULL, NULL), &got), 0);
  ck_assert_uint_eq(got, N + 1);
  ck_assert_int_eq(th_collect(log, "q", 2, UINT64_MAX, &r), 0);
  ck_assert_uint_eq(r.n, N);
  for (i = 0; i < N; i++) {
    th_req_uint_eq(r.v[i].pos, i + 2);
    th_req_uint_eq(r.v[i].len, sizeof(uint32_t));
    th_req(memcmp(r.v[i].data, &vals[i], sizeof(uint32_t)) == 0);
  }
  th_recs_free(&r);
  free(iov);
  free(vals);
  th_close(log);
}
END_TEST

/* ---- Truncation ---------------------------------------------------------- */

START_TEST(test_truncate_removes_at_or_below) {
  mrlog *log = th_open(th_dir, NULL);
  static const uint64_t pos[] = {5, 6, 7, 8, 9};
  static const char *const text[] = {"f", "g", "h", "i", "j"};
  uint64_t got = 99;

  ck_assert_int_eq(th_create(log, "q"), 0);
  append_letters(log, "q", 10);
  ck_assert_int_eq(th_wait(mrlog_truncate(log, "q", 4, NULL, NULL), &got), 0);
  ck_assert_uint_eq(got, 4); /* the argument */
  expect_info(log, "q", 5, 10, 5, 5);
  expect_records(log, "q", 5, pos, text);
  /* Below the first record: nothing changes. */
  ck_assert_int_eq(th_truncate(log, "q", 2), 0);
  expect_info(log, "q", 5, 10, 5, 5);
  /* Truncated positions are duplicates now. */
  ck_assert_int_eq(th_append_at(log, "q", 3, "x", 1, NULL), MRLOG_DUPLICATE);
  th_close(log);
}
END_TEST

START_TEST(test_truncate_at_end) {
  mrlog *log = th_open(th_dir, NULL);
  uint64_t got = 99;

  ck_assert_int_eq(th_create(log, "q"), 0);
  append_letters(log, "q", 10);
  ck_assert_int_eq(th_truncate(log, "q", 9), 0);
  expect_info(log, "q", 10, 10, 0, 0);
  ck_assert_int_eq(th_append_str(log, "q", "k", &got), 0);
  ck_assert_uint_eq(got, 10);
  expect_info(log, "q", 10, 11, 1, 1);
  th_close(log);
}
END_TEST

START_TEST(test_truncate_past_end) {
  mrlog *log = th_open(th_dir, NULL);
  uint64_t got = 99;

  ck_assert_int_eq(th_create(log, "q"), 0);
  append_letters(log, "q", 10);
  ck_assert_int_eq(th_truncate(log, "q", 100), 0);
  expect_info(log, "q", 101, 101, 0, 0);
  ck_assert_int_eq(th_append_at(log, "q", 50, "x", 1, NULL), MRLOG_DUPLICATE);
  ck_assert_int_eq(th_append_str(log, "q", "k", &got), 0);
  ck_assert_uint_eq(got, 101);
  /* Truncating an empty queue ahead of next moves next again. */
  ck_assert_int_eq(th_truncate(log, "q", 101), 0);
  ck_assert_int_eq(th_truncate(log, "q", 200), 0);
  expect_info(log, "q", 201, 201, 0, 0);
  /* ... but never backwards. */
  ck_assert_int_eq(th_truncate(log, "q", 150), 0);
  expect_info(log, "q", 201, 201, 0, 0);
  th_close(log);
}
END_TEST

START_TEST(test_truncate_empty_new_queue) {
  mrlog *log = th_open(th_dir, NULL);
  uint64_t got = 99;

  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(th_truncate(log, "q", 0), 0);
  expect_info(log, "q", 1, 1, 0, 0);
  ck_assert_int_eq(th_append_str(log, "q", "a", &got), 0);
  ck_assert_uint_eq(got, 1);
  th_close(log);
}
END_TEST

START_TEST(test_truncate_with_gaps) {
  mrlog *log = th_open(th_dir, NULL);
  static const uint64_t pos[] = {10};
  static const char *const text[] = {"ten"};

  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(th_append_at(log, "q", 0, "zero", 4, NULL), 0);
  ck_assert_int_eq(th_append_at(log, "q", 5, "five", 4, NULL), 0);
  ck_assert_int_eq(th_append_at(log, "q", 10, "ten", 3, NULL), 0);
  ck_assert_int_eq(th_truncate(log, "q", 7), 0);
  expect_info(log, "q", 10, 11, 1, 3);
  expect_records(log, "q", 1, pos, text);
  th_close(log);
}
END_TEST

START_TEST(test_truncate_uint64_max) {
  mrlog *log = th_open(th_dir, NULL);

  ck_assert_int_eq(th_create(log, "q"), 0);
  append_letters(log, "q", 3);
  ck_assert_int_eq(th_truncate(log, "q", UINT64_MAX), 0);
  /* next = max(next, p + 1), capped at UINT64_MAX. */
  expect_info(log, "q", UINT64_MAX, UINT64_MAX, 0, 0);
  ck_assert_int_eq(th_append_at(log, "q", MRLOG_POSITION_MAX, "x", 1, NULL),
                   MRLOG_DUPLICATE);
  expect_info(log, "q", UINT64_MAX, UINT64_MAX, 0, 0);
  th_close(log);
}
END_TEST

START_TEST(test_truncate_everything_positions_not_reused) {
  mrlog *log = th_open(th_dir, NULL);
  uint64_t got = 99;

  ck_assert_int_eq(th_create(log, "q"), 0);
  append_letters(log, "q", 4);
  ck_assert_int_eq(th_truncate(log, "q", 3), 0);
  expect_info(log, "q", 4, 4, 0, 0);
  ck_assert_int_eq(th_append_str(log, "q", "e", &got), 0);
  ck_assert_uint_eq(got, 4);
  ck_assert_int_eq(th_append_at(log, "q", 0, "x", 1, NULL), MRLOG_DUPLICATE);
  th_close(log);
}
END_TEST

START_TEST(test_truncate_missing_queue) {
  mrlog *log = th_open(th_dir, NULL);

  ck_assert_int_eq(th_truncate(log, "missing", 5), MRLOG_ENOQUEUE);
  ck_assert(!mrlog_queue_exists(log, "missing"));
  th_close(log);
}
END_TEST

START_TEST(test_truncate_other_queue_untouched) {
  mrlog *log = th_open(th_dir, NULL);

  ck_assert_int_eq(th_create(log, "a"), 0);
  ck_assert_int_eq(th_create(log, "b"), 0);
  append_letters(log, "a", 5);
  append_letters(log, "b", 5);
  ck_assert_int_eq(th_truncate(log, "a", 10), 0);
  expect_info(log, "a", 11, 11, 0, 0);
  expect_info(log, "b", 0, 5, 5, 5);
  ck_assert_uint_eq(th_stats(log).records, 5);
  th_close(log);
}
END_TEST

/* ---- Queues ------------------------------------------------------------- */

START_TEST(test_queue_lifecycle_errors) {
  mrlog *log = th_open(th_dir, NULL);
  struct mrlog_queue_info info;
  struct th_recs r;

  ck_assert(!mrlog_queue_exists(log, "q"));
  ck_assert_int_eq(th_append_str(log, "q", "x", NULL), MRLOG_ENOQUEUE);
  ck_assert_int_eq(th_delete(log, "q"), MRLOG_ENOQUEUE);
  ck_assert_int_eq(mrlog_queue_info(log, "q", &info), MRLOG_ENOQUEUE);
  ck_assert_int_eq(th_collect(log, "q", 0, UINT64_MAX, &r), MRLOG_ENOQUEUE);
  th_recs_free(&r);
  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert(mrlog_queue_exists(log, "q"));
  ck_assert_int_eq(th_create(log, "q"), MRLOG_EEXIST);
  append_letters(log, "q", 2);
  ck_assert_int_eq(th_create(log, "q"), MRLOG_EEXIST);
  expect_info(log, "q", 0, 2, 2, 2); /* EEXIST changed nothing */
  th_close(log);
}
END_TEST

START_TEST(test_delete_drops_records) {
  mrlog *log = th_open(th_dir, NULL);
  struct mrlog_queue_info info;
  struct mrlog_stats st;
  uint64_t got = 99;

  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(th_create(log, "other"), 0);
  append_letters(log, "q", 5);
  ck_assert_int_eq(th_append_at(log, "q", 100, "x", 1, NULL), 0);
  ck_assert_int_eq(th_delete(log, "q"), 0);
  ck_assert(!mrlog_queue_exists(log, "q"));
  ck_assert_int_eq(mrlog_queue_info(log, "q", &info), MRLOG_ENOQUEUE);
  ck_assert_int_eq(th_append_str(log, "q", "x", NULL), MRLOG_ENOQUEUE);
  st = th_stats(log);
  ck_assert_uint_eq(st.queues, 1);
  ck_assert_uint_eq(st.records, 0);
  ck_assert_uint_eq(th_count_queues(log), 1);
  /* Created again, it starts over at 0. */
  ck_assert_int_eq(th_create(log, "q"), 0);
  expect_info(log, "q", 0, 0, 0, 0);
  ck_assert_int_eq(th_append_str(log, "q", "new", &got), 0);
  ck_assert_uint_eq(got, 0);
  expect_info(log, "q", 0, 1, 1, 3);
  th_close(log);
}
END_TEST

START_TEST(test_name_lengths) {
  mrlog *log = th_open(th_dir, NULL);
  char name[MRLOG_QUEUE_NAME_MAX + 2];

  memset(name, 'x', sizeof(name));
  name[MRLOG_QUEUE_NAME_MAX + 1] = '\0'; /* 1025 bytes */
  ck_assert_int_eq(th_create(log, name), MRLOG_EINVAL);
  name[MRLOG_QUEUE_NAME_MAX] = '\0'; /* 1024 bytes */
  ck_assert_int_eq(th_create(log, name), 0);
  ck_assert_int_eq(th_append_str(log, name, "long", NULL), 0);
  expect_info(log, name, 0, 1, 1, 4);
  ck_assert_int_eq(th_create(log, ""), MRLOG_EINVAL);
  ck_assert_int_eq(th_create(log, "x"), 0); /* 1 byte */
  ck_assert(mrlog_queue_exists(log, "x"));
  ck_assert_uint_eq(th_count_queues(log), 2);
  th_close(log);
}
END_TEST

START_TEST(test_binary_names) {
  mrlog *log = th_open(th_dir, NULL);
  static const char *const names[] = {"\x01\xff", "\xff\x01", "\x01",
                                      "a\n b\tc", "\x7f\x80\xfe", "A", "a"};
  size_t i, n = sizeof(names) / sizeof(names[0]);

  for (i = 0; i < n; i++) ck_assert_int_eq(th_create(log, names[i]), 0);
  for (i = 0; i < n; i++) {
    size_t k;
    for (k = 0; k <= i; k++)
      ck_assert_int_eq(th_append_str(log, names[i], names[i], NULL), 0);
  }
  ck_assert_uint_eq(th_count_queues(log), n);
  for (i = 0; i < n; i++) {
    struct mrlog_queue_info info = th_info(log, names[i]);
    ck_assert_uint_eq(info.records, i + 1);
    ck_assert_uint_eq(info.bytes, (i + 1) * strlen(names[i]));
  }
  ck_assert(!mrlog_queue_exists(log, "\x01\xfe"));
  th_close(log);
}
END_TEST

START_TEST(test_names_not_in_file_names) {
  mrlog *log = th_open(th_dir, NULL);
  static const char *const names[] = {
      "/", "..", ".", "../escape", "a/b", "LOCK", "0000000000000042.mrlog",
      "README", "/tmp/abs"};
  size_t i, n = sizeof(names) / sizeof(names[0]), k, m;
  char **files;
  char *parent_escape;

  for (i = 0; i < n; i++) {
    ck_assert_int_eq(th_create(log, names[i]), 0);
    ck_assert_int_eq(th_append_str(log, names[i], "x", NULL), 0);
  }
  ck_assert_int_eq(th_sync(log), 0);
  m = th_list_dir(th_dir, &files);
  for (k = 0; k < m; k++) {
    ck_assert_msg(strcmp(files[k], "LOCK") == 0 ||
                      th_is_segment_name(files[k]),
                  "unexpected file %s", files[k]);
    ck_assert_str_ne(files[k], "0000000000000042.mrlog");
  }
  th_free_names(files, m);
  parent_escape = th_path(th_dir, "../escape");
  ck_assert_int_eq(th_file_size(parent_escape), -1);
  free(parent_escape);
  /* "LOCK" the queue did not replace LOCK the lock, etc. */
  ck_assert_uint_eq(th_count_queues(log), n);
  th_close(log);
}
END_TEST

struct names_seen {
  int a, b, c, total;
  int stop_after;
};

static int see_name(void *arg, const char *q) {
  struct names_seen *s = arg;

  if (strcmp(q, "a") == 0) s->a++;
  if (strcmp(q, "b") == 0) s->b++;
  if (strcmp(q, "c") == 0) s->c++;
  s->total++;
  return s->stop_after != 0 && s->total == s->stop_after ? 77 : 0;
}

START_TEST(test_list_queues) {
  mrlog *log = th_open(th_dir, NULL);
  struct names_seen s = {0, 0, 0, 0, 0};

  ck_assert_int_eq(mrlog_list_queues(log, see_name, &s), 0);
  ck_assert_int_eq(s.total, 0);
  ck_assert_int_eq(th_create(log, "a"), 0);
  ck_assert_int_eq(th_create(log, "b"), 0);
  ck_assert_int_eq(th_create(log, "c"), 0);
  ck_assert_int_eq(th_create(log, "d"), 0);
  ck_assert_int_eq(th_delete(log, "d"), 0);
  ck_assert_int_eq(mrlog_list_queues(log, see_name, &s), 0);
  ck_assert_int_eq(s.a, 1);
  ck_assert_int_eq(s.b, 1);
  ck_assert_int_eq(s.c, 1);
  ck_assert_int_eq(s.total, 3);
  memset(&s, 0, sizeof(s));
  s.stop_after = 2;
  ck_assert_int_eq(mrlog_list_queues(log, see_name, &s), 77);
  ck_assert_int_eq(s.total, 2);
  th_close(log);
}
END_TEST

/* 100,000 queues, one record each, across a reopen. */
struct many_check {
  uint64_t total;
  uint64_t bad;
};

static int many_visit(void *arg, const char *q) {
  struct many_check *m = arg;

  m->total++;
  if (strncmp(q, "queue-", 6) != 0) m->bad++;
  return 0;
}

START_TEST(test_many_queues) {
  const long n = th_scaled(100000);
  mrlog_policy p = th_policy();
  mrlog_future **f = calloc((size_t)n, sizeof(*f));
  mrlog *log;
  struct many_check m = {0, 0};
  struct mrlog_stats st;
  char name[32];
  long i;

  ck_assert_ptr_nonnull(f);
  p.fsync_interval_ms = 5;
  log = th_open(th_dir, &p);
  for (i = 0; i < n; i++) {
    snprintf(name, sizeof(name), "queue-%ld", i);
    f[i] = mrlog_create_queue(log, name, NULL, NULL);
  }
  for (i = 0; i < n; i++) ck_assert_int_eq(th_wait(f[i], NULL), 0);
  for (i = 0; i < n; i++) {
    char payload[32];
    int len;
    snprintf(name, sizeof(name), "queue-%ld", i);
    len = snprintf(payload, sizeof(payload), "payload-%ld", i);
    f[i] = mrlog_append(log, name, NULL, payload, (size_t)len, NULL, NULL);
  }
  for (i = 0; i < n; i++) {
    uint64_t pos = 99;
    ck_assert_int_eq(th_wait(f[i], &pos), 0);
    ck_assert_uint_eq(pos, 0);
  }
  st = th_stats(log);
  ck_assert_uint_eq(st.queues, (uint64_t)n);
  ck_assert_uint_eq(st.records, (uint64_t)n);
  th_close(log);

  log = th_open(th_dir, NULL);
  ck_assert_int_eq(mrlog_list_queues(log, many_visit, &m), 0);
  ck_assert_uint_eq(m.total, (uint64_t)n);
  ck_assert_uint_eq(m.bad, 0);
  st = th_stats(log);
  ck_assert_uint_eq(st.queues, (uint64_t)n);
  ck_assert_uint_eq(st.records, (uint64_t)n);
  for (i = 0; i < n; i += (n / 97) + 1) {
    struct th_recs r;
    char payload[32];
    int len = snprintf(payload, sizeof(payload), "payload-%ld", i);
    snprintf(name, sizeof(name), "queue-%ld", i);
    ck_assert_int_eq(th_collect(log, name, 0, UINT64_MAX, &r), 0);
    ck_assert_uint_eq(r.n, 1);
    ck_assert_uint_eq(r.v[0].pos, 0);
    ck_assert_uint_eq(r.v[0].len, (size_t)len);
    ck_assert_mem_eq(r.v[0].data, payload, (size_t)len);
    th_recs_free(&r);
  }
  snprintf(name, sizeof(name), "queue-%ld", n - 1);
  ck_assert(mrlog_queue_exists(log, name));
  snprintf(name, sizeof(name), "queue-%ld", n);
  ck_assert(!mrlog_queue_exists(log, name));
  th_close(log);
  free(f);
}
END_TEST

/* ---- Payloads ----------------------------------------------------------- */

START_TEST(test_empty_payload) {
  mrlog *log = th_open(th_dir, NULL);
  struct th_recs r;
  uint64_t got = 99;

  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(th_append(log, "q", NULL, NULL, 0, &got), 0);
  ck_assert_uint_eq(got, 0);
  ck_assert_int_eq(th_append(log, "q", NULL, "ignored", 0, &got), 0);
  ck_assert_uint_eq(got, 1);
  expect_info(log, "q", 0, 2, 2, 0);
  ck_assert_int_eq(th_collect(log, "q", 0, UINT64_MAX, &r), 0);
  ck_assert_uint_eq(r.n, 2);
  ck_assert_uint_eq(r.v[0].len, 0);
  ck_assert_uint_eq(r.v[1].len, 0);
  th_recs_free(&r);
  th_close(log);
}
END_TEST

START_TEST(test_payload_sizes) {
  static const size_t sizes[] = {1, 2, 15, 16, 17, 255, 4095, 4096, 4097,
                                 65536, 1u << 20};
  size_t n = sizeof(sizes) / sizeof(sizes[0]), i;
  mrlog *log = th_open(th_dir, NULL);
  unsigned char *buf = malloc(1u << 20);
  struct th_recs r;
  uint64_t total = 0;

  ck_assert_ptr_nonnull(buf);
  ck_assert_int_eq(th_create(log, "q"), 0);
  for (i = 0; i < n; i++) {
    th_fill(buf, sizes[i], i);
    ck_assert_int_eq(th_append(log, "q", NULL, buf, sizes[i], NULL), 0);
    total += sizes[i];
  }
  expect_info(log, "q", 0, n, n, total);
  ck_assert_int_eq(th_collect(log, "q", 0, UINT64_MAX, &r), 0);
  ck_assert_uint_eq(r.n, n);
  for (i = 0; i < n; i++) {
    th_fill(buf, sizes[i], i);
    ck_assert_uint_eq(r.v[i].len, sizes[i]);
    ck_assert(memcmp(r.v[i].data, buf, sizes[i]) == 0);
  }
  th_recs_free(&r);
  free(buf);
  th_close(log);
}
END_TEST

struct big_check {
  uint64_t pos;
  size_t len;
  uint64_t hash;
  int visits;
};

static int big_visit(void *arg, uint64_t pos, const void *data, size_t len) {
  struct big_check *b = arg;

  b->pos = pos;
  b->len = len;
  b->hash = th_hash(data, len);
  b->visits++;
  return 0;
}

START_TEST(test_payload_max) {
  mrlog *log = th_open(th_dir, NULL);
  size_t max = MRLOG_RECORD_MAX;
  unsigned char *buf = malloc(max + 1);
  struct big_check b = {0, 0, 0, 0};
  uint64_t want;

  ck_assert_ptr_nonnull(buf);
  th_fill(buf, max + 1, 64);
  want = th_hash(buf, max);
  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(th_append(log, "q", NULL, buf, max + 1, NULL), MRLOG_EINVAL);
  ck_assert_int_eq(th_append(log, "q", NULL, buf, max, NULL), 0);
  expect_info(log, "q", 0, 1, 1, max);
  ck_assert_int_eq(mrlog_range(log, "q", 0, UINT64_MAX, big_visit, &b), 0);
  ck_assert_int_eq(b.visits, 1);
  ck_assert_uint_eq(b.pos, 0);
  ck_assert_uint_eq(b.len, max);
  ck_assert_uint_eq(b.hash, want);
  th_close(log);

  /* And it comes back from disk intact. */
  log = th_open(th_dir, NULL);
  memset(&b, 0, sizeof(b));
  ck_assert_int_eq(mrlog_range(log, "q", 0, UINT64_MAX, big_visit, &b), 0);
  ck_assert_int_eq(b.visits, 1);
  ck_assert_uint_eq(b.len, max);
  ck_assert_uint_eq(b.hash, want);
  th_close(log);
  free(buf);
}
END_TEST

/* ---- Range -------------------------------------------------------------- */

static void expect_range(mrlog *log, const char *q, uint64_t from,
                         uint64_t to, uint64_t lo, uint64_t count) {
  struct th_recs r;
  uint64_t i;

  ck_assert_int_eq(th_collect(log, q, from, to, &r), 0);
  ck_assert_uint_eq(r.n, count);
  for (i = 0; i < count; i++) {
    ck_assert_uint_eq(r.v[i].pos, lo + i);
    ck_assert_uint_eq(r.v[i].len, 1);
    ck_assert_int_eq(r.v[i].data[0], 'a' + (int)((lo + i) % 26));
  }
  th_recs_free(&r);
}

START_TEST(test_range_bounds) {
  mrlog *log = th_open(th_dir, NULL);

  ck_assert_int_eq(th_create(log, "q"), 0);
  append_letters(log, "q", 10);
  expect_range(log, "q", 0, UINT64_MAX, 0, 10);
  expect_range(log, "q", 3, 7, 3, 4);       /* to is exclusive */
  expect_range(log, "q", 0, 1, 0, 1);
  expect_range(log, "q", 5, 5, 0, 0);       /* empty */
  expect_range(log, "q", 8, 100, 8, 2);
  expect_range(log, "q", 9, UINT64_MAX, 9, 1);
  expect_range(log, "q", 10, UINT64_MAX, 0, 0);
  expect_range(log, "q", 20, UINT64_MAX, 0, 0);
  expect_range(log, "q", UINT64_MAX - 1, UINT64_MAX, 0, 0);
  ck_assert_int_eq(th_truncate(log, "q", 5), 0);
  expect_range(log, "q", 0, UINT64_MAX, 6, 4);
  expect_range(log, "q", 0, 7, 6, 1);
  expect_range(log, "q", 0, 6, 0, 0);
  th_close(log);
}
END_TEST

START_TEST(test_range_empty_queue) {
  mrlog *log = th_open(th_dir, NULL);

  ck_assert_int_eq(th_create(log, "q"), 0);
  expect_range(log, "q", 0, UINT64_MAX, 0, 0);
  th_close(log);
}
END_TEST

START_TEST(test_range_with_gaps) {
  mrlog *log = th_open(th_dir, NULL);
  struct th_recs r;

  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(th_append_at(log, "q", 3, "3", 1, NULL), 0);
  ck_assert_int_eq(th_append_at(log, "q", 30, "30", 2, NULL), 0);
  ck_assert_int_eq(th_append_at(log, "q", 300, "300", 3, NULL), 0);
  ck_assert_int_eq(th_collect(log, "q", 4, 301, &r), 0);
  ck_assert_uint_eq(r.n, 2);
  ck_assert_uint_eq(r.v[0].pos, 30);
  ck_assert_uint_eq(r.v[1].pos, 300);
  th_recs_free(&r);
  ck_assert_int_eq(th_collect(log, "q", 0, 300, &r), 0);
  ck_assert_uint_eq(r.n, 2);
  ck_assert_uint_eq(r.v[1].pos, 30);
  th_recs_free(&r);
  th_close(log);
}
END_TEST

struct stopper {
  int visits;
  int stop_at;
  int value;
  uint64_t last;
};

static int stop_visit(void *arg, uint64_t pos, const void *data, size_t len) {
  struct stopper *s = arg;

  (void)data;
  (void)len;
  s->visits++;
  s->last = pos;
  return s->visits == s->stop_at ? s->value : 0;
}

START_TEST(test_range_visitor_stops) {
  mrlog *log = th_open(th_dir, NULL);
  struct stopper s = {0, 3, 42, 0};

  ck_assert_int_eq(th_create(log, "q"), 0);
  append_letters(log, "q", 10);
  ck_assert_int_eq(mrlog_range(log, "q", 0, UINT64_MAX, stop_visit, &s), 42);
  ck_assert_int_eq(s.visits, 3);
  ck_assert_uint_eq(s.last, 2);
  memset(&s, 0, sizeof(s));
  s.stop_at = 1;
  s.value = -5;
  ck_assert_int_eq(mrlog_range(log, "q", 4, UINT64_MAX, stop_visit, &s), -5);
  ck_assert_int_eq(s.visits, 1);
  ck_assert_uint_eq(s.last, 4);
  memset(&s, 0, sizeof(s));
  s.stop_at = 100; /* never */
  ck_assert_int_eq(mrlog_range(log, "q", 0, UINT64_MAX, stop_visit, &s), 0);
  ck_assert_int_eq(s.visits, 10);
  th_close(log);
}
END_TEST

/* ---- Stats -------------------------------------------------------------- */

START_TEST(test_stats_counts) {
  mrlog *log = th_open(th_dir, NULL);
  struct mrlog_stats st;

  st = th_stats(log);
  ck_assert_uint_eq(st.queues, 0);
  ck_assert_uint_eq(st.records, 0);
  ck_assert_uint_eq(st.appends, 0);
  ck_assert_uint_eq(st.discarded_tail_bytes, 0);
  ck_assert_int_eq(st.failed, 0);
  ck_assert_int_eq(th_create(log, "a"), 0);
  ck_assert_int_eq(th_create(log, "b"), 0);
  append_letters(log, "a", 7);
  append_letters(log, "b", 3);
  ck_assert_int_eq(th_truncate(log, "a", 1), 0);
  ck_assert_int_eq(th_append_at(log, "b", 0, "d", 1, NULL), MRLOG_DUPLICATE);
  ck_assert_int_eq(th_sync(log), 0);
  st = th_stats(log);
  ck_assert_uint_eq(st.queues, 2);
  ck_assert_uint_eq(st.records, 8);
  ck_assert_uint_eq(st.appends, 10);
  ck_assert_uint_ge(st.memory_bytes, 8);
  ck_assert_uint_ge(st.fsyncs, 1);
  ck_assert_uint_eq(st.ring_depth, 0);
  ck_assert_int_eq(st.failed, 0);
  ck_assert_uint_eq(st.segment_files, th_count_segments(th_dir));
  ck_assert_uint_eq(st.disk_bytes, th_segment_bytes(th_dir));
  ck_assert_uint_gt(st.disk_bytes, 0);
  th_close(log);
}
END_TEST

Suite *make_semantics_suite(void) {
  Suite *s = suite_create("semantics");
  TCase *tc;

  tc = tcase_create("positions");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_first_position_zero);
  tcase_add_test(tc, test_explicit_duplicate);
  tcase_add_test(tc, test_explicit_at_next);
  tcase_add_test(tc, test_explicit_gap);
  tcase_add_test(tc, test_explicit_first_record_gap);
  tcase_add_test(tc, test_last_position);
  suite_add_tcase(s, tc);

  tc = tcase_create("batch");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_batch_default);
  tcase_add_test(tc, test_batch_explicit_first);
  tcase_add_test(tc, test_batch_duplicate_first);
  tcase_add_test(tc, test_batch_atomic_on_error);
  tcase_add_test(tc, test_batch_empty_records);
  tcase_add_test(tc, test_batch_large_count);
  suite_add_tcase(s, tc);

  tc = tcase_create("truncate");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_truncate_removes_at_or_below);
  tcase_add_test(tc, test_truncate_at_end);
  tcase_add_test(tc, test_truncate_past_end);
  tcase_add_test(tc, test_truncate_empty_new_queue);
  tcase_add_test(tc, test_truncate_with_gaps);
  tcase_add_test(tc, test_truncate_uint64_max);
  tcase_add_test(tc, test_truncate_everything_positions_not_reused);
  tcase_add_test(tc, test_truncate_missing_queue);
  tcase_add_test(tc, test_truncate_other_queue_untouched);
  suite_add_tcase(s, tc);

  tc = tcase_create("queues");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_queue_lifecycle_errors);
  tcase_add_test(tc, test_delete_drops_records);
  tcase_add_test(tc, test_name_lengths);
  tcase_add_test(tc, test_binary_names);
  tcase_add_test(tc, test_names_not_in_file_names);
  tcase_add_test(tc, test_list_queues);
  suite_add_tcase(s, tc);

  tc = tcase_create("many_queues");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_SLOW);
  tcase_add_test(tc, test_many_queues);
  suite_add_tcase(s, tc);

  tc = tcase_create("payloads");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_SLOW);
  tcase_add_test(tc, test_empty_payload);
  tcase_add_test(tc, test_payload_sizes);
  tcase_add_test(tc, test_payload_max);
  suite_add_tcase(s, tc);

  tc = tcase_create("range_and_stats");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_range_bounds);
  tcase_add_test(tc, test_range_empty_queue);
  tcase_add_test(tc, test_range_with_gaps);
  tcase_add_test(tc, test_range_visitor_stops);
  tcase_add_test(tc, test_stats_counts);
  suite_add_tcase(s, tc);
  return s;
}

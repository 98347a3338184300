/*
 * test_append_cb.c -- mrlog_append_cb and mrlog_append_batch_cb, the
 * appends without a future: the same records, positions and statuses as
 * mrlog_append and mrlog_append_batch, delivered to the callback alone,
 * on a library thread (or on the poller in poll mode), exactly once.
 */
#include "check_mrlog.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_MS 60000u
#define N_RECORDS 1000

/* Expects one more callback on c with status and position. */
static void
expect_one(struct th_counter *c, long calls, int status, uint64_t position)
{
  ck_assert(th_counter_wait(c, calls, WAIT_MS));
  ck_assert_int_eq(atomic_load(&c->calls), calls);
  ck_assert_int_eq(atomic_load(&c->last_status), status);
  ck_assert_uint_eq(atomic_load(&c->last_position), position);
  ck_assert_int_eq(atomic_load(&c->on_app_thread), 0);
}

START_TEST(test_cb_appends_records) {
  mrlog *log = th_open(th_dir, NULL);
  struct th_counter c;
  struct th_recs recs;
  unsigned char buf[200];
  uint64_t i;

  th_counter_init(&c);
  ck_assert_int_eq(th_create(log, "q"), 0);
  for (i = 0; i < N_RECORDS; i++) {
    th_fill(buf, i % sizeof(buf), i);
    mrlog_append_cb(log, "q", NULL, buf, i % sizeof(buf), th_counter_cb, &c);
  }
  ck_assert(th_counter_wait(&c, N_RECORDS, WAIT_MS));
  ck_assert_int_eq(atomic_load(&c.ok), N_RECORDS);
  ck_assert_int_eq(atomic_load(&c.on_app_thread), 0);
  ck_assert_int_eq(th_collect(log, "q", 0, UINT64_MAX, &recs), 0);
  ck_assert_uint_eq(recs.n, N_RECORDS);
  for (i = 0; i < N_RECORDS; i++) {
    th_fill(buf, i % sizeof(buf), i);
    ck_assert_uint_eq(recs.v[i].pos, i);
    ck_assert_uint_eq(recs.v[i].len, i % sizeof(buf));
    ck_assert(recs.v[i].len == 0 ||
              memcmp(recs.v[i].data, buf, recs.v[i].len) == 0);
  }
  th_recs_free(&recs);
  th_close(log);
}
END_TEST

START_TEST(test_cb_positions_and_duplicates) {
  mrlog *log = th_open(th_dir, NULL);
  struct iovec iov[3] = { { "a", 1 }, { "bb", 2 }, { "ccc", 3 } };
  struct th_counter c;
  uint64_t p;

  th_counter_init(&c);
  ck_assert_int_eq(th_create(log, "q"), 0);
  p = 10;
  mrlog_append_cb(log, "q", &p, "x", 1, th_counter_cb, &c);
  expect_one(&c, 1, 0, 10);
  p = 5;
  mrlog_append_cb(log, "q", &p, "y", 1, th_counter_cb, &c);
  expect_one(&c, 2, MRLOG_DUPLICATE, 5);
  mrlog_append_batch_cb(log, "q", NULL, iov, 3, th_counter_cb, &c);
  expect_one(&c, 3, 0, 13);
  p = 12;
  mrlog_append_batch_cb(log, "q", &p, iov, 3, th_counter_cb, &c);
  expect_one(&c, 4, MRLOG_DUPLICATE, 14);
  ck_assert_uint_eq(th_info(log, "q").records, 4);
  ck_assert_uint_eq(th_info(log, "q").next_position, 14);
  th_close(log);
}
END_TEST

START_TEST(test_cb_errors) {
  mrlog *log = th_open(th_dir, NULL);
  struct iovec iov = { NULL, 1 };
  struct th_counter c;
  uint64_t p = MRLOG_POSITION_MAX;

  th_counter_init(&c);
  mrlog_append_cb(NULL, "q", NULL, "x", 1, th_counter_cb, &c);
  expect_one(&c, 1, MRLOG_EINVAL, 0);
  mrlog_append_batch_cb(NULL, "q", NULL, &iov, 1, th_counter_cb, &c);
  expect_one(&c, 2, MRLOG_EINVAL, 0);
  mrlog_append_cb(log, "missing", NULL, "x", 1, th_counter_cb, &c);
  expect_one(&c, 3, MRLOG_ENOQUEUE, 0);
  ck_assert_int_eq(th_create(log, "q"), 0);
  mrlog_append_cb(log, "q", NULL, NULL, 1, th_counter_cb, &c);
  expect_one(&c, 4, MRLOG_EINVAL, 0);
  mrlog_append_cb(log, "q", NULL, "x", (size_t)MRLOG_RECORD_MAX + 1,
                  th_counter_cb, &c);
  expect_one(&c, 5, MRLOG_EINVAL, 0);
  mrlog_append_batch_cb(log, "q", NULL, &iov, 1, th_counter_cb, &c);
  expect_one(&c, 6, MRLOG_EINVAL, 0);
  mrlog_append_batch_cb(log, "q", NULL, NULL, 1, th_counter_cb, &c);
  expect_one(&c, 7, MRLOG_EINVAL, 0);
  mrlog_append_batch_cb(log, "q", NULL, &iov, 0, th_counter_cb, &c);
  expect_one(&c, 8, MRLOG_EINVAL, 0);
  iov.iov_base = "x";
  mrlog_append_batch_cb(log, "q", &p, (struct iovec[]){ iov, iov }, 2,
                        th_counter_cb, &c);
  expect_one(&c, 9, MRLOG_EINVAL, 0);
  mrlog_append_cb(log, "", NULL, "x", 1, th_counter_cb, &c);
  expect_one(&c, 10, MRLOG_EINVAL, 0);
  ck_assert_uint_eq(th_info(log, "q").records, 0);
  th_close(log);
}
END_TEST

/* done NULL: the records still go in, and close waits for them. */
START_TEST(test_cb_without_callback) {
  mrlog *log = th_open(th_dir, NULL);
  int i;

  ck_assert_int_eq(th_create(log, "q"), 0);
  for (i = 0; i < N_RECORDS; i++)
    mrlog_append_cb(log, "q", NULL, &i, sizeof(i), NULL, NULL);
  mrlog_append_cb(log, "missing", NULL, "x", 1, NULL, NULL);
  ck_assert_int_eq(th_sync(log), 0);
  ck_assert_uint_eq(th_info(log, "q").records, N_RECORDS);
  th_close(log);
  log = th_open(th_dir, NULL);
  ck_assert_uint_eq(th_info(log, "q").records, N_RECORDS);
  th_close(log);
}
END_TEST

/* Poll mode: the callbacks run on the poller, inside
 * mrlog_run_completions, once each. */
START_TEST(test_cb_poll_mode) {
  mrlog_policy policy = th_policy();
  struct th_counter c;
  mrlog *log;
  int i, ran = 0, rc;

  policy.completion_mode = MRLOG_COMPLETE_ON_POLL;
  log = th_open(th_dir, &policy);
  th_counter_init(&c);
  mrlog_forget(mrlog_create_queue(log, "q", NULL, NULL));
  for (i = 0; i < 100; i++)
    mrlog_append_cb(log, "q", NULL, &i, sizeof(i), th_counter_cb, &c);
  mrlog_append_batch_cb(log, "q", NULL, &(struct iovec){ "z", 1 }, 1,
                        th_counter_cb, &c);
  /* Nothing runs them but this thread. */
  th_sleep_ms(20);
  ck_assert_int_eq(atomic_load(&c.calls), 0);
  for (i = 0; i < 2000 && atomic_load(&c.calls) < 101; i++) {
    rc = mrlog_run_completions(log, UINT_MAX);
    ck_assert_int_ge(rc, 0);
    ran += rc;
    if (atomic_load(&c.calls) < 101)
      th_sleep_ms(5);
  }
  ck_assert_int_eq(atomic_load(&c.calls), 101);
  ck_assert_int_eq(atomic_load(&c.ok), 101);
  ck_assert_uint_eq(atomic_load(&c.last_position), 100);
  ck_assert_int_ge(ran, 101);
  /* They ran on this thread, the poller: counted as an application
   * thread by the helpers, so every call is. */
  ck_assert_int_eq(atomic_load(&c.on_app_thread), 101);
  th_close(log);
}
END_TEST

Suite *
make_append_cb_suite(void)
{
  Suite *s = suite_create("append_cb");
  TCase *tc = tcase_create("append_cb");

  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_cb_appends_records);
  tcase_add_test(tc, test_cb_positions_and_duplicates);
  tcase_add_test(tc, test_cb_errors);
  tcase_add_test(tc, test_cb_without_callback);
  tcase_add_test(tc, test_cb_poll_mode);
  suite_add_tcase(s, tc);
  return s;
}

/*
 * test_poll_watch.c -- watches and cursor waits of a log in poll mode
 * (policy.completion_mode = MRLOG_COMPLETE_ON_POLL): their completions are
 * queued for the poller like every other, so a wait on one from the
 * poller runs the queue until it is ready (include/mrlog.h, POLL MODE),
 * instead of sleeping for a completion only it could run.
 *
 * What is checked, each with the waits on the poller thread, bounded:
 *  - a watch that an append (whose completion is queued too) satisfies;
 *  - a cancelled watch: MRLOG_ECANCELED;
 *  - a cursor wait that an append satisfies, its callback run on the
 *    poller.
 */
#include "check_mrlog.h"

#include <pthread.h>
#include <stdatomic.h>

#define WAIT_MS 30000u

static mrlog *poll_log(void) {
  mrlog_policy p = th_policy();
  mrlog *log;

  p.completion_mode = MRLOG_COMPLETE_ON_POLL;
  log = th_open(th_dir, &p);
  ck_assert_int_ge(mrlog_completion_fd(log), 0); /* this thread polls */
  ck_assert_int_eq(th_create(log, "q"), 0);
  return log;
}

START_TEST(test_poll_watch_satisfied) {
  mrlog *log = poll_log();
  mrlog_future *w = mrlog_watch(log, "q", 0, NULL, NULL);
  uint64_t pos = UINT64_MAX;

  ck_assert_ptr_nonnull(w);
  mrlog_forget(mrlog_append(log, "q", NULL, "x", 1, NULL, NULL));
  ck_assert_int_eq(mrlog_wait_timeout(w, WAIT_MS, &pos), 0);
  ck_assert_uint_ge(pos, 1);
  th_close(log);
}
END_TEST

START_TEST(test_poll_watch_cancelled) {
  mrlog *log = poll_log();
  mrlog_future *w = mrlog_watch(log, "q", 100, NULL, NULL);

  ck_assert_ptr_nonnull(w);
  ck_assert_int_eq(mrlog_cancel(w), 0);
  ck_assert_int_eq(mrlog_wait_timeout(w, WAIT_MS, NULL), MRLOG_ECANCELED);
  th_close(log);
}
END_TEST

static atomic_int called_on_poller;

static void note_thread(void *arg, int status, uint64_t position) {
  (void)position;
  if (status == 0 && pthread_equal(pthread_self(), *(pthread_t *)arg))
    atomic_store(&called_on_poller, 1);
}

START_TEST(test_poll_cursor_wait) {
  mrlog *log = poll_log();
  pthread_t self = pthread_self();
  mrlog_cursor *c;
  mrlog_future *w;

  atomic_store(&called_on_poller, 0);
  ck_assert_int_eq(mrlog_cursor_open(log, "q", 0, &c), 0);
  w = mrlog_cursor_wait(c, note_thread, &self);
  ck_assert_ptr_nonnull(w);
  mrlog_forget(mrlog_append(log, "q", NULL, "y", 1, NULL, NULL));
  ck_assert_int_eq(mrlog_wait_timeout(w, WAIT_MS, NULL), 0);
  ck_assert_int_eq(atomic_load(&called_on_poller), 1);
  mrlog_cursor_close(c);
  th_close(log);
}
END_TEST

Suite *make_poll_watch_suite(void) {
  Suite *s = suite_create("poll_watch");
  TCase *tc = tcase_create("poll_watch");

  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_poll_watch_satisfied);
  tcase_add_test(tc, test_poll_watch_cancelled);
  tcase_add_test(tc, test_poll_cursor_wait);
  suite_add_tcase(s, tc);
  return s;
}

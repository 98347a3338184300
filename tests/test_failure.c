/*
 * test_failure.c -- the failed, read-only state, provoked for real: a
 * file-size limit (RLIMIT_FSIZE, with SIGXFSZ ignored) makes the writer's
 * pwrite fail with EFBIG partway through the log.  Every test forks (Check's
 * default), so the limit never leaks into other tests.
 *
 * Checked: the failing mutation and every later one complete with the
 * failure status exactly once; stats.failed says so; reads keep working;
 * close reports the failure; and after the limit is lifted a reopen
 * recovers every record that was acknowledged, healing the torn tail.
 */
#include "check_mrlog.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#define LIMIT_BYTES (256 * 1024)
#define RECORD_BYTES 1000
#define MAX_RECORDS 1000 /* 1 MB: well past the limit */

static void
set_file_limit(rlim_t bytes)
{
  struct rlimit rl;

  /* Only the soft limit moves, so it can be raised again unprivileged. */
  ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
  rl.rlim_cur = bytes < rl.rlim_max ? bytes : rl.rlim_max;
  signal(SIGXFSZ, SIG_IGN);
  ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

START_TEST(test_write_failure_fails_the_log)
{
  mrlog_policy p = th_policy();
  mrlog *log;
  unsigned char buf[RECORD_BYTES];
  uint64_t acked[MAX_RECORDS], pos = 0;
  size_t nacked = 0, i;
  int rc = 0, failure = 0, status;
  struct mrlog_stats st;
  struct th_recs r;

  p.segment_bytes = 64u << 20; /* one segment: the limit hits mid-file */
  set_file_limit(LIMIT_BYTES);
  log = th_open(th_dir, &p);
  ck_assert_int_eq(th_create(log, "q"), 0);
  for (i = 0; i < MAX_RECORDS; i++) {
    memset(buf, (int)(i & 0xff), sizeof(buf));
    rc = th_append(log, "q", NULL, buf, sizeof(buf), &pos);
    if (rc != 0)
      break;
    acked[nacked++] = pos;
  }
  failure = rc;
  ck_assert_msg(failure == MRLOG_EIO || failure == MRLOG_ENOSPC,
                "append past the file-size limit gave %d (%s)", failure,
                mrlog_strerror(failure));
  ck_assert_uint_gt(nacked, 10);
  st = th_stats(log);
  ck_assert_int_eq(st.failed, failure);
  /* Every later mutation fails the same way, exactly once. */
  ck_assert_int_eq(th_append(log, "q", NULL, "x", 1, NULL), failure);
  ck_assert_int_eq(th_truncate(log, "q", 0), failure);
  ck_assert_int_eq(th_create(log, "other"), failure);
  ck_assert_int_eq(th_sync(log), failure);
  /* Reads keep working and show every acknowledged record. */
  ck_assert_int_eq(th_collect(log, "q", 0, UINT64_MAX, &r), 0);
  ck_assert_uint_ge(r.n, nacked);
  for (i = 0; i < nacked; i++) {
    ck_assert_uint_eq(r.v[i].pos, acked[i]);
    ck_assert_uint_eq(r.v[i].len, RECORD_BYTES);
    ck_assert_uint_eq(r.v[i].data[0], (unsigned char)(i & 0xff));
  }
  th_recs_free(&r);
  ck_assert(!mrlog_queue_exists(log, "other"));
  status = mrlog_close(log);
  ck_assert_int_eq(status, failure);

  /* Space is back: everything acknowledged is recovered. */
  set_file_limit(RLIM_INFINITY);
  log = th_open(th_dir, &p);
  ck_assert_int_eq(th_collect(log, "q", 0, UINT64_MAX, &r), 0);
  ck_assert_uint_eq(r.n, nacked);
  for (i = 0; i < nacked; i++) {
    ck_assert_uint_eq(r.v[i].pos, acked[i]);
    ck_assert_uint_eq(r.v[i].data[RECORD_BYTES - 1], (unsigned char)(i & 0xff));
  }
  th_recs_free(&r);
  st = th_stats(log);
  ck_assert_int_eq(st.failed, 0);
  /* The log is writable again and positions continue. */
  ck_assert_int_eq(th_append(log, "q", NULL, "y", 1, &pos), 0);
  ck_assert_uint_eq(pos, acked[nacked - 1] + 1);
  th_close(log);
}
END_TEST

/* Requests in flight when the write fails complete too: fire many without
 * waiting, then count callbacks. */
static atomic_long calls, oks, fails;

static void
count_cb(void *arg, int status, uint64_t position)
{
  (void)arg;
  (void)position;
  atomic_fetch_add(&calls, 1);
  if (status == 0)
    atomic_fetch_add(&oks, 1);
  else if (status == MRLOG_EIO || status == MRLOG_ENOSPC)
    atomic_fetch_add(&fails, 1);
}

START_TEST(test_inflight_requests_complete_after_failure)
{
  mrlog_policy p = th_policy();
  mrlog *log;
  unsigned char buf[RECORD_BYTES];
  long i, n = 2000;

  memset(buf, 7, sizeof(buf));
  p.segment_bytes = 64u << 20;
  set_file_limit(LIMIT_BYTES);
  log = th_open(th_dir, &p);
  ck_assert_int_eq(th_create(log, "q"), 0);
  for (i = 0; i < n; i++)
    mrlog_forget(mrlog_append(log, "q", NULL, buf, sizeof(buf), count_cb,
                              NULL));
  ck_assert_int_ne(mrlog_close(log), 0);
  ck_assert_int_eq(atomic_load(&calls), n);
  ck_assert_int_eq(atomic_load(&oks) + atomic_load(&fails), n);
  ck_assert_int_gt(atomic_load(&fails), 0);
  ck_assert_int_lt(atomic_load(&oks), n);
}
END_TEST

Suite *
make_failure_suite(void)
{
  Suite *s = suite_create("failure");
  TCase *tc = tcase_create("write_failure");

  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_write_failure_fails_the_log);
  tcase_add_test(tc, test_inflight_requests_complete_after_failure);
  suite_add_tcase(s, tc);
  return s;
}

/*
 * test_limits.c -- files at their limits: offsets in a segment are 32-bit
 * (lib/format.h), so the checkpoint is capped (MRLOG_CHECKPOINT_MAX) and
 * a segment file longer than MRLOG_SEGMENT_FILE_MAX is refused at open.
 *
 * The checkpoint cap is 1 GiB; these tests lower it through the test hook
 * mrlog__checkpoint_max (each test runs in its own forked process), so a
 * few queues reach it.  Oversized segment files are sparse: ftruncate
 * makes them without writing (or using) their bytes.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "check_mrlog.h"
#include "format.h"

/* Worst-case checkpoint bytes of n queues whose names total name_bytes,
 * without consumers (queue_index.c): five varints per entry. */
static uint64_t
worst_checkpoint(uint64_t n, uint64_t name_bytes)
{
  return 1 + 2 * MRLOG_VARINT_MAX + n * 5 * MRLOG_VARINT_MAX + name_bytes;
}

static void
name_of(char *buf, size_t size, int i)
{
  /* 100 bytes each: "q" and the number, padded with dots. */
  int n = snprintf(buf, size, "q%05d", i);

  memset(buf + n, '.', 100 - (size_t)n);
  buf[100] = '\0';
}

START_TEST(test_checkpoint_cap_refuses_creates)
{
  char name[128];
  uint64_t n = 0, expect;
  mrlog *log;
  int i, rc;

  mrlog__checkpoint_max = 8192;
  /* The largest n whose worst case fits. */
  expect = 0;
  while (worst_checkpoint(expect + 1, (expect + 1) * 100) <= 8192)
    expect++;
  ck_assert_uint_gt(expect, 10);

  log = th_open(th_dir, NULL);
  for (i = 0; i < 1000; i++) {
    name_of(name, sizeof(name), i);
    rc = th_create(log, name);
    if (rc != 0)
      break;
    n++;
  }
  ck_assert_int_eq(rc, MRLOG_EINVAL);
  ck_assert_uint_eq(n, expect);
  ck_assert_uint_eq(th_count_queues(log), expect);
  /* Refused creates change nothing; other calls go on. */
  name_of(name, sizeof(name), 0);
  ck_assert_int_eq(th_append_str(log, name, "still here", NULL), 0);
  /* A delete makes room for exactly one more. */
  name_of(name, sizeof(name), 1);
  ck_assert_int_eq(th_delete(log, name), 0);
  name_of(name, sizeof(name), 5000);
  ck_assert_int_eq(th_create(log, name), 0);
  name_of(name, sizeof(name), 5001);
  ck_assert_int_eq(th_create(log, name), MRLOG_EINVAL);
  ck_assert_int_eq(th_stats(log).failed, 0);
  th_close(log);

  /* The checkpoints written stay readable. */
  log = th_open(th_dir, NULL);
  ck_assert_uint_eq(th_count_queues(log), expect);
  name_of(name, sizeof(name), 0);
  ck_assert_uint_eq(th_info(log, name).records, 1);
  th_close(log);
}
END_TEST

START_TEST(test_checkpoint_cap_refuses_open)
{
  char name[128];
  size_t n;
  mrlog *log;
  int i;

  log = th_open(th_dir, NULL);
  for (i = 0; i < 40; i++) {
    name_of(name, sizeof(name), i);
    ck_assert_int_eq(th_create(log, name), 0);
  }
  th_close(log);

  /* A recovered state whose checkpoint would pass the cap is refused:
   * no new segment is made. */
  mrlog__checkpoint_max = 1024;
  n = th_count_segments(th_dir);
  ck_assert_int_eq(mrlog_open(th_dir, NULL, &log), MRLOG_EINVAL);
  ck_assert_ptr_null(log);
  ck_assert_uint_eq(th_count_segments(th_dir), n);

  mrlog__checkpoint_max = MRLOG_CHECKPOINT_MAX;
  log = th_open(th_dir, NULL);
  ck_assert_uint_eq(th_count_queues(log), 40);
  th_close(log);
}
END_TEST

/* Opens dir under each recovery policy and expects MRLOG_EINVAL. */
static void
expect_refused(const char *dir)
{
  static const int policies[] = { MRLOG_RECOVER_STRICT,
                                  MRLOG_RECOVER_TOLERATE_TAIL,
                                  MRLOG_RECOVER_SKIP_CORRUPT };
  size_t i;

  for (i = 0; i < sizeof(policies) / sizeof(policies[0]); i++) {
    mrlog_policy p = th_policy();
    mrlog *log = NULL;

    p.recovery = policies[i];
    ck_assert_int_eq(mrlog_open(dir, &p, &log), MRLOG_EINVAL);
    ck_assert_ptr_null(log);
  }
}

START_TEST(test_segment_over_4gib_refused)
{
  char *last;
  size_t n;
  struct rusage ru0, ru1;
  mrlog *log;
  off_t big = (off_t)MRLOG_SEGMENT_FILE_MAX + 1;

  log = th_open(th_dir, NULL);
  ck_assert_int_eq(th_create(log, "a"), 0);
  ck_assert_int_eq(th_append_str(log, "a", "record", NULL), 0);
  th_close(log);

  /* The newest segment grows (sparse) one byte past what a writer can
   * make: refused under every policy, before anything is read or cut. */
  last = th_last_segment(th_dir);
  th_truncate_file(last, big);
  n = th_count_segments(th_dir);
  getrusage(RUSAGE_SELF, &ru0);
  expect_refused(th_dir);
  getrusage(RUSAGE_SELF, &ru1);
  /* Not read: the process did not grow by anything near the file. */
  ck_assert_int_lt(ru1.ru_maxrss - ru0.ru_maxrss, 64 * 1024);
  ck_assert_int_eq(th_file_size(last), big);
  ck_assert_uint_eq(th_count_segments(th_dir), n);
  free(last);
}
END_TEST

START_TEST(test_older_segment_over_4gib_refused)
{
  char *first;
  mrlog *log;

  log = th_open(th_dir, NULL);
  ck_assert_int_eq(th_create(log, "a"), 0);
  ck_assert_int_eq(th_append_str(log, "a", "kept", NULL), 0);
  th_close(log);
  log = th_open(th_dir, NULL); /* a second segment */
  ck_assert_int_eq(th_append_str(log, "a", "record", NULL), 0);
  th_close(log);
  ck_assert_uint_ge(th_count_segments(th_dir), 2);

  first = th_first_segment(th_dir);
  th_truncate_file(first, (off_t)MRLOG_SEGMENT_FILE_MAX + 4096);
  expect_refused(th_dir);
  ck_assert_int_eq(th_file_size(first), (off_t)MRLOG_SEGMENT_FILE_MAX + 4096);
  free(first);
}
END_TEST

Suite *
make_limits_suite(void)
{
  Suite *s = suite_create("limits");
  TCase *tc = tcase_create("limits");

  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_checkpoint_cap_refuses_creates);
  tcase_add_test(tc, test_checkpoint_cap_refuses_open);
  tcase_add_test(tc, test_segment_over_4gib_refused);
  tcase_add_test(tc, test_older_segment_over_4gib_refused);
  suite_add_tcase(s, tc);
  return s;
}

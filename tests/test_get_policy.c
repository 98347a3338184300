/*
 * test_get_policy.c -- mrlog_get_policy hands back the policy the log runs
 * with: the caller's fields as mrlog_open normalized them, at the size of
 * the caller's struct (older and newer headers), and a policy that opens
 * the same log again.
 */
#include "check_mrlog.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static void note(void *arg, int level, const char *message) {
  (void)arg;
  (void)level;
  (void)message;
}

/* The caller's choices come back; zero fields come back as their
 * defaults, flags as 0 or 1, and the store resolved. */
START_TEST(test_get_policy_normalized) {
  mrlog_policy p, got, want;
  int marker = 7;
  mrlog *log;

  mrlog_policy_init(&p);
  p.fsync_interval_ms = 25;
  p.segment_bytes = 0;         /* the default */
  p.memory_limit = 0;          /* the default */
  p.cleaner_interval_ms = 0;   /* the default */
  p.file_mode = 0;             /* the default */
  p.truncate_on_commit = 5;    /* a flag: 1 */
  p.nonblocking = 9;           /* a flag: 1 */
  p.record_store = MRLOG_STORE_DEFAULT;
  p.retention_ms = 123456;
  p.log_fn = note;
  p.log_arg = &marker;
  p.disk_limit = 1u << 30;
  log = th_open(th_dir, &p);
  memset(&got, 0xa5, sizeof(got));
  ck_assert_int_eq(mrlog_get_policy(log, &got), 0);
  mrlog_policy_init(&want);
  ck_assert_uint_eq(got.size, sizeof(got));
  ck_assert_uint_eq(got.fsync_interval_ms, 25);
  ck_assert_uint_eq(got.segment_bytes, want.segment_bytes);
  ck_assert_uint_eq(got.memory_limit, want.memory_limit);
  ck_assert_uint_eq(got.cleaner_interval_ms, want.cleaner_interval_ms);
  ck_assert_uint_eq(got.file_mode, 0644);
  ck_assert_int_eq(got.truncate_on_commit, 1);
  ck_assert_int_eq(got.nonblocking, 1);
  ck_assert(got.record_store == MRLOG_STORE_MAPPED ||
            got.record_store == MRLOG_STORE_COPY);
  ck_assert_int_eq(got.record_store, th_stats(log).record_store);
  ck_assert_uint_eq(got.retention_ms, 123456);
  ck_assert_ptr_eq(got.log_fn, note);
  ck_assert_ptr_eq(got.log_arg, &marker);
  ck_assert_uint_eq(got.disk_limit, 1u << 30);
  for (size_t i = 0; i < sizeof(got.reserved) / sizeof(got.reserved[0]); i++)
    ck_assert_uint_eq(got.reserved[i], 0);
  /* What it hands back opens the log again, and comes back unchanged. */
  th_close(log);
  log = th_open(th_dir, &got);
  memset(&want, 0x5a, sizeof(want));
  ck_assert_int_eq(mrlog_get_policy(log, &want), 0);
  ck_assert_int_eq(memcmp(&want, &got, sizeof(got)), 0);
  /* The function (not the macro) fills this header's struct. */
  memset(&want, 0x5a, sizeof(want));
  ck_assert_int_eq((mrlog_get_policy)(log, &want), 0);
  ck_assert_int_eq(memcmp(&want, &got, sizeof(got)), 0);
  th_close(log);
}
END_TEST

/* A struct of an older header (136 bytes) gets its 136 bytes and no more,
 * with its last word (reserved there) zero; a newer header's gets the
 * bytes this library does not know zeroed and its own size. */
START_TEST(test_get_policy_sizes) {
  struct {
    mrlog_policy p;
    uint64_t newer[4];
    unsigned char guard[8];
  } big;
  unsigned char *old = malloc(136 + 8);
  mrlog_policy p = th_policy();
  mrlog *log;

  ck_assert_ptr_nonnull(old);
  p.fsync_interval_ms = 3;
  p.visibility = MRLOG_VISIBLE_DURABLE; /* past 136 bytes */
  log = th_open(th_dir, &p);
  memset(old, 0xa5, 136 + 8);
  ck_assert_int_eq(mrlog_get_policy_size(log, (mrlog_policy *)old, 136), 0);
  {
    unsigned got;

    memcpy(&got, old + offsetof(mrlog_policy, fsync_interval_ms),
           sizeof(got));
    ck_assert_uint_eq(got, 3);
  }
  for (int i = 128; i < 136; i++)
    ck_assert_uint_eq(old[i], 0);
  for (int i = 136; i < 144; i++)
    ck_assert_uint_eq(old[i], 0xa5); /* nothing past the caller's size */
  memset(&big, 0xa5, sizeof(big));
  ck_assert_int_eq(mrlog_get_policy_size(log, &big.p, sizeof(big.p) +
                                                       sizeof(big.newer)),
                   0);
  ck_assert_uint_eq(big.p.size, sizeof(big.p) + sizeof(big.newer));
  ck_assert_int_eq(big.p.visibility, MRLOG_VISIBLE_DURABLE);
  for (int i = 0; i < 4; i++)
    ck_assert_uint_eq(big.newer[i], 0);
  for (int i = 0; i < 8; i++)
    ck_assert_uint_eq(big.guard[i], 0xa5);
  th_close(log);
  free(old);
}
END_TEST

START_TEST(test_get_policy_bad_args) {
  mrlog_policy p = th_policy(), got;
  mrlog *log = th_open(th_dir, &p);

  ck_assert_int_eq(mrlog_get_policy(NULL, &got), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_get_policy(log, NULL), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_get_policy_size(log, &got, 135), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_get_policy_size(log, &got, 0), MRLOG_EINVAL);
  th_close(log);
}
END_TEST

Suite *make_get_policy_suite(void) {
  Suite *s = suite_create("get_policy");
  TCase *tc = tcase_create("get_policy");

  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_add_test(tc, test_get_policy_normalized);
  tcase_add_test(tc, test_get_policy_sizes);
  tcase_add_test(tc, test_get_policy_bad_args);
  suite_add_tcase(s, tc);
  return s;
}

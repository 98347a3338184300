/*
 * mirror_test.h -- what the mirror's test programs share: CHECK, and the
 * cases of tests/mirror_test that need no broker
 * (tests/mirror_test_local.c).
 */
#ifndef MRLOG_TESTS_MIRROR_TEST_H
#define MRLOG_TESTS_MIRROR_TEST_H

#include <stdio.h>

/* In a case function returning int: prints where and why, returns 1. */
#define CHECK(cond, ...)                                          \
  do {                                                            \
    if (!(cond)) {                                                \
      printf("  check failed (%s:%d): ", __FILE__, __LINE__);     \
      printf(__VA_ARGS__);                                        \
      printf("\n");                                               \
      return 1;                                                   \
    }                                                             \
  } while (0)

/* Removes dir and everything under it (tests/mirror_test.c). */
void mirror_test_rm_rf(const char *dir);

/* The message body's worked example (docs/FORMAT.md 15.3) and the truncate
 * marker's (15.6), encoded and
 * parsed; bad arguments refused by mrlog_mirror_start and
 * mrlog_replica_start before any connection (uris: a working list).  0
 * when the case passes. */
int mirror_test_body_example(void);
int mirror_test_truncate_example(void);
int mirror_test_start_args(const char *uris);
/* The "truncate" and "pollstop" cases (tests/mirror_truncate.c): 0 when
 * they pass. */
int mirror_test_truncations(const char *uris);
int mirror_test_poll_stop(const char *uris);

#endif /* MRLOG_TESTS_MIRROR_TEST_H */

/*
 * test_memory.c -- what memory_limit and stats.memory_bytes count: chunk
 * sizing stays proportional to what a queue holds (also after runs of
 * empty records), the charge equals memory_bytes once nothing is in
 * flight, and buffers grown for one large batch are given back.
 *
 * The scenarios that compare memory_bytes with the process's resident
 * memory run in their own processes (tests/memory_check.sh runs
 * bench/mem-bench --check), where nothing else shares the heap.
 */
#include <stdlib.h>
#include <string.h>

#include "check_mrlog.h"

/* Appends count records of len bytes (one batch) to queue and waits. */
static void
append_many(mrlog *log, const char *queue, size_t count, size_t len)
{
  struct iovec *v = calloc(count, sizeof(*v));
  static const char bytes[256];
  size_t i;

  ck_assert_ptr_nonnull(v);
  ck_assert_uint_le(len, sizeof(bytes));
  for (i = 0; i < count; i++)
    v[i] = (struct iovec){ (void *)bytes, len };
  ck_assert_int_eq(th_wait(mrlog_append_batch(log, queue, NULL, v, count,
                                              NULL, NULL),
                           NULL),
                   0);
  free(v);
}

/* A queue of many empty records, then small ones appended one at a time:
 * each new chunk must still be sized for the records that come (the
 * average of 0 bytes per record once gave every small record a chunk of
 * its own, sized for tens of thousands of records). */
START_TEST(test_chunks_after_empty_records)
{
  mrlog_policy pol = th_policy();
  struct mrlog_stats st;
  uint64_t before;
  mrlog *log;
  int i;

  log = th_open(th_dir, &pol);
  ck_assert_int_eq(th_create(log, "q"), 0);
  for (i = 0; i < 10; i++)
    append_many(log, "q", 10000, 0);
  before = th_stats(log).memory_bytes;
  for (i = 0; i < 1000; i++)
    ck_assert_int_eq(th_append(log, "q", NULL, "0123456789abcdef", 16, NULL),
                     0);
  st = th_stats(log);
  /* 1,000 records of 16 bytes: about 24 KiB, plus the unused room of the
   * newest chunk (at most an eighth of what the queue holds). */
  ck_assert_msg(st.memory_bytes - before < 512 * 1024,
                "1000 records of 16 bytes after 100000 empty ones took "
                "%ju KiB of chunks",
                (uintmax_t)((st.memory_bytes - before) >> 10));
  th_close(log);
}
END_TEST

Suite *
make_memory_suite(void)
{
  Suite *s = suite_create("memory");
  TCase *tc;

  tc = tcase_create("charge");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_chunks_after_empty_records);
  suite_add_tcase(s, tc);
  return s;
}

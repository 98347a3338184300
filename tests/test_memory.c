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
#include <stdio.h>
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

/* With nothing in flight, the copy store's charge is memory_bytes: every
 * reservation came back, and what is held is charged as allocated. */
START_TEST(test_charge_is_memory_bytes)
{
  mrlog_policy pol = th_policy();
  struct mrlog_stats st;
  char name[16];
  mrlog *log;
  int i, k;

  pol.record_store = MRLOG_STORE_COPY;
  log = th_open(th_dir, &pol);
  for (i = 0; i < 200; i++) {
    snprintf(name, sizeof(name), "q%d", i);
    ck_assert_int_eq(th_create(log, name), 0);
    for (k = 0; k <= i % 7; k++)
      ck_assert_int_eq(th_append(log, name, NULL, "0123456789", 1 + k * 100 % 11,
                                 NULL),
                       0);
  }
  append_many(log, "q3", 5000, 200);
  ck_assert_int_eq(th_truncate(log, "q3", 2500), 0);
  ck_assert_int_eq(th_delete(log, "q5"), 0);
  st = th_stats(log);
  ck_assert_uint_gt(st.memory_bytes, 0);
  ck_assert_uint_eq(st.memory_charged, st.memory_bytes);
  th_close(log);
}
END_TEST

/* One large batch grows the writer's frame buffer to its size; it is
 * given back once the frame is written, so what the log holds afterwards
 * is the batch's records' chunks. */
START_TEST(test_large_batch_buffers_return)
{
  mrlog_policy pol = th_policy();
  size_t count = (8u << 20) / 64;
  struct mrlog_stats st;
  uint64_t before, held, bound;

  pol.record_store = MRLOG_STORE_COPY;
  {
    mrlog *log = th_open(th_dir, &pol);

    ck_assert_int_eq(th_create(log, "big"), 0);
    before = th_stats(log).memory_bytes;
    append_many(log, "big", count, 64);
    ck_assert_int_eq(th_append(log, "big", NULL, "small", 5, NULL), 0);
    st = th_stats(log);
    held = st.memory_bytes - before;
    /* The records and their ends/pos slots, an eighth more for the room
     * of the newest chunk, and a MiB for the rest. */
    bound = (uint64_t)count * (64 + 8) * 9 / 8 + (1u << 20);
    ck_assert_msg(held < bound,
                  "after an 8 MiB batch the log holds %ju KiB (bound %ju KiB)",
                  (uintmax_t)(held >> 10), (uintmax_t)(bound >> 10));
    ck_assert_uint_eq(st.memory_charged, st.memory_bytes);
    th_close(log);
  }
}
END_TEST

/* Queues alone can be charged past a small memory_limit; with no record
 * retained and nothing in flight a request is still admitted, so nothing
 * waits forever; a retained record then holds further appends back until
 * it is truncated. */
START_TEST(test_limit_below_queue_charge)
{
  mrlog_policy pol = th_policy();
  char name[16];
  mrlog *log;
  int i;

  pol.memory_limit = 64 * 1024;
  pol.nonblocking = 1;
  log = th_open(th_dir, &pol);
  for (i = 0; i < 1000; i++) {
    snprintf(name, sizeof(name), "q%d", i);
    ck_assert_int_eq(th_create(log, name), 0);
  }
  ck_assert_uint_gt(th_stats(log).memory_charged, pol.memory_limit);
  ck_assert_int_eq(th_append(log, "q1", NULL, "one", 3, NULL), 0);
  ck_assert_int_eq(th_append(log, "q1", NULL, "two", 3, NULL), MRLOG_EFULL);
  ck_assert_int_eq(th_truncate(log, "q1", 0), 0);
  ck_assert_int_eq(th_append(log, "q2", NULL, "three", 5, NULL), 0);
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
  tcase_add_test(tc, test_charge_is_memory_bytes);
  tcase_add_test(tc, test_large_batch_buffers_return);
  tcase_add_test(tc, test_limit_below_queue_charge);
  suite_add_tcase(s, tc);
  return s;
}

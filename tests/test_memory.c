/*
 * test_memory.c -- what memory_limit and stats.memory_bytes count: chunk
 * sizing stays proportional to what a queue holds (also after runs of
 * empty records), the charge equals memory_bytes once nothing is in
 * flight, and buffers grown for one large batch are given back.  Under
 * MRLOG_STORE_MAPPED memory_limit does not bound the retained volume (the
 * records are read from the page cache): a log retains many times its
 * memory_limit and reads it all back, while the copy store holds
 * producers back once its records reach the limit.
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

/* Rounds of appends -- single records and batches of mixed sizes, some
 * written from their requests (>= 1 KiB), passes cut into many
 * sub-frames, segments rotated and sealed, records framed at more
 * distinct times each round -- each followed by truncating
 * everything and creating and deleting a queue.  With nothing retained
 * and nothing in flight the charge must come back to the same figure
 * after every round, for both record stores: any byte charged for a
 * record, a frame or a sub-frame and not given back shows up here. */
static void
charge_rounds(int store)
{
  static const uint32_t sizes[] = { 0, 1, 17, 200, 1023, 1024, 3000, 5000 };
  mrlog_policy pol = th_policy();
  uint64_t next[3] = { 0, 0, 0 }, base = 0, now;
  static char bytes[8192];
  struct iovec v[64];
  char name[8];
  mrlog *log;
  int round, q, i;

  pol.record_store = store;
  pol.segment_bytes = 256 * 1024;
  log = th_open(th_dir, &pol);
  for (q = 0; q < 3; q++) {
    snprintf(name, sizeof(name), "q%d", q);
    ck_assert_int_eq(th_create(log, name), 0);
  }
  for (round = 0; round < 8; round++) {
    for (i = 0; i < 300; i++) {
      uint32_t len = sizes[(i * 7 + round) % 8];
      mrlog_future *f[3];

      for (q = 0; q < 3; q++) {
        snprintf(name, sizeof(name), "q%d", q);
        f[q] = mrlog_append(log, name, NULL, bytes, len, NULL, NULL);
      }
      for (q = 0; q < 3; q++)
        ck_assert_int_eq(th_wait(f[q], NULL), 0);
      next[0]++, next[1]++, next[2]++;
    }
    /* Records framed at distinct milliseconds, more each round: each
     * takes a time mark (queue_time.c) whose room must not outlive it. */
    for (i = 0; i < 4 * round; i++) {
      th_sleep_ms(2);
      ck_assert_int_eq(th_append(log, "q2", NULL, bytes, 10, NULL), 0);
      next[2]++;
    }
    for (i = 0; i < 64; i++)
      v[i] = (struct iovec){ bytes, sizes[(i + round) % 8] };
    ck_assert_int_eq(th_wait(mrlog_append_batch(log, "q1", NULL, v, 64, NULL,
                                                NULL),
                             NULL),
                     0);
    next[1] += 64;
    for (q = 0; q < 3; q++) {
      snprintf(name, sizeof(name), "q%d", q);
      ck_assert_int_eq(th_truncate(log, name, next[q] - 1), 0);
    }
    ck_assert_int_eq(th_create(log, "tmp"), 0);
    ck_assert_int_eq(th_append(log, "tmp", NULL, bytes, 2000, NULL), 0);
    ck_assert_int_eq(th_delete(log, "tmp"), 0);
    ck_assert_int_eq(th_sync(log), 0);
    now = th_stats(log).memory_charged;
    if (round == 1)
      base = now; /* the first round grew the writer's buffers */
    if (round > 1)
      ck_assert_msg(now == base,
                    "%s store: after round %d with nothing retained the "
                    "charge is %ju bytes, after round 1 it was %ju",
                    store == MRLOG_STORE_MAPPED ? "mapped" : "copy", round,
                    (uintmax_t)now, (uintmax_t)base);
  }
  th_close(log);
}

START_TEST(test_charge_returns_copy)
{
  charge_rounds(MRLOG_STORE_COPY);
}
END_TEST

START_TEST(test_charge_returns_mapped)
{
  charge_rounds(MRLOG_STORE_MAPPED);
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

/* ---- Retaining more than memory_limit ---- */

#define BEYOND_REC 1024u       /* bytes per record */
#define BEYOND_BATCH 256u      /* records per append */
#define BEYOND_LIMIT (4u << 20)

/* The bytes of the record at pos of queue k: derived from both. */
static void
beyond_record(uint8_t *buf, unsigned k, uint64_t pos)
{
  th_fill(buf, BEYOND_REC, (pos << 4) + k + 1);
}

/* Appends one batch of BEYOND_BATCH records to queue k (named "b<k>"),
 * the first at *next, and waits; returns its status. */
static int
beyond_append(mrlog *log, unsigned k, uint64_t *next)
{
  static uint8_t bufs[BEYOND_BATCH][BEYOND_REC];
  struct iovec v[BEYOND_BATCH];
  char name[8];
  unsigned i;
  int rc;

  snprintf(name, sizeof(name), "b%u", k);
  for (i = 0; i < BEYOND_BATCH; i++) {
    beyond_record(bufs[i], k, *next + i);
    v[i] = (struct iovec){ bufs[i], BEYOND_REC };
  }
  rc = th_wait(mrlog_append_batch(log, name, NULL, v, BEYOND_BATCH, NULL,
                                  NULL),
               NULL);
  if (rc == 0)
    *next += BEYOND_BATCH;
  return rc;
}

struct beyond_check {
  unsigned k;
  uint64_t seen;               /* records visited */
  uint64_t bad;                /* of which wrong */
};

static int
beyond_visit(void *arg, uint64_t position, const void *data, size_t len)
{
  struct beyond_check *c = arg;
  uint8_t want[BEYOND_REC];

  beyond_record(want, c->k, position);
  if (position != c->seen || len != BEYOND_REC ||
      memcmp(data, want, BEYOND_REC) != 0)
    c->bad++;
  c->seen++;
  return 0;
}

/* Reads queue k back and checks every record byte for byte. */
static void
beyond_read_back(mrlog *log, unsigned k, uint64_t next)
{
  struct beyond_check c = { k, 0, 0 };
  char name[8];

  snprintf(name, sizeof(name), "b%u", k);
  ck_assert_int_eq(mrlog_range(log, name, 0, UINT64_MAX, beyond_visit, &c),
                   0);
  ck_assert_uint_eq(c.seen, next);
  ck_assert_msg(c.bad == 0, "queue %s: %ju of %ju records read back wrong",
                name, (uintmax_t)c.bad, (uintmax_t)c.seen);
}

static mrlog_policy
beyond_policy(int store, int nonblocking)
{
  mrlog_policy pol = th_policy();

  pol.record_store = store;
  pol.memory_limit = BEYOND_LIMIT;
  pol.nonblocking = nonblocking;
  /* A blocked append fails instead of waiting for room that never comes
   * (nothing is truncated here). */
  pol.block_timeout_ms = 3000;
  pol.fsync_interval_ms = 10;
  pol.segment_bytes = 16u << 20;
  return pol;
}

/* MRLOG_STORE_MAPPED: 64 MiB retained under a memory_limit of 4 MiB, in
 * both modes (_i: nonblocking).  With one batch in flight the charge --
 * chunks of 8 bytes a record, the writer's buffers, the batch's block --
 * stays below the limit, so no append is refused or waits; everything
 * reads back, also after a reopen, which maps what it recovers. */
START_TEST(test_mapped_retains_beyond_limit)
{
  mrlog_policy pol = beyond_policy(MRLOG_STORE_MAPPED, _i);
  uint64_t next[2] = { 0, 0 }, total = th_scaled(64) << 20, done = 0;
  struct mrlog_stats st;
  unsigned k;
  mrlog *log;

  log = th_open(th_dir, &pol);
  ck_assert_int_eq(th_create(log, "b0"), 0);
  ck_assert_int_eq(th_create(log, "b1"), 0);
  for (k = 0; done < total; k ^= 1, done += BEYOND_BATCH * BEYOND_REC) {
    int rc = beyond_append(log, k, &next[k]);

    ck_assert_msg(rc == 0,
                  "%s append with %ju KiB retained under a memory_limit "
                  "of %u KiB: %s",
                  _i ? "nonblocking" : "blocking", (uintmax_t)(done >> 10),
                  BEYOND_LIMIT >> 10, mrlog_strerror(rc));
    st = th_stats(log);
    ck_assert_msg(st.memory_charged < pol.memory_limit,
                  "charge %ju with %ju KiB retained",
                  (uintmax_t)st.memory_charged, (uintmax_t)(done >> 10));
  }
  st = th_stats(log);
  ck_assert_uint_eq(st.records, next[0] + next[1]);
  /* memory_bytes also lists the mapped segment files' bytes. */
  ck_assert_uint_ge(st.memory_bytes, total);
  for (k = 0; k < 2; k++)
    beyond_read_back(log, k, next[k]);
  th_close(log);

  log = th_open(th_dir, &pol);
  ck_assert_uint_lt(th_stats(log).memory_charged, pol.memory_limit);
  ck_assert_int_eq(beyond_append(log, 0, &next[0]), 0);
  for (k = 0; k < 2; k++)
    beyond_read_back(log, k, next[k]);
  ck_assert_uint_lt(th_stats(log).memory_charged, pol.memory_limit);
  th_close(log);
}
END_TEST

/* MRLOG_STORE_COPY keeps its records in its own memory: memory_limit
 * bounds what it retains, so appends are refused (nonblocking) or wait
 * until block_timeout_ms (blocking) once the records reach the limit. */
START_TEST(test_copy_holds_back_at_limit)
{
  mrlog_policy pol = beyond_policy(MRLOG_STORE_COPY, _i);
  uint64_t next = 0, retained;
  int rc;

  {
    mrlog *log = th_open(th_dir, &pol);

    ck_assert_int_eq(th_create(log, "b0"), 0);
    while ((rc = beyond_append(log, 0, &next)) == 0)
      ck_assert_uint_lt(next, 64u << 10); /* 64 MiB: never held back */
    ck_assert_int_eq(rc, MRLOG_EFULL);
    retained = th_info(log, "b0").bytes;
    ck_assert_uint_le(retained, pol.memory_limit);
    ck_assert_uint_ge(retained, pol.memory_limit / 2);
    beyond_read_back(log, 0, next);
    ck_assert_int_eq(th_truncate(log, "b0", next - 1), 0);
    ck_assert_int_eq(beyond_append(log, 0, &next), 0);
    th_close(log);
  }
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
  tcase_add_test(tc, test_charge_returns_copy);
  tcase_add_test(tc, test_charge_returns_mapped);
  suite_add_tcase(s, tc);

  tc = tcase_create("beyond");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_loop_test(tc, test_mapped_retains_beyond_limit, 0, 2);
  tcase_add_loop_test(tc, test_copy_holds_back_at_limit, 0, 2);
  suite_add_tcase(s, tc);
  return s;
}

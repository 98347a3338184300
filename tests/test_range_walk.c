/*
 * test_range_walk.c -- mrlog_range over a queue of many chunks while it is
 * truncated: a read resumes each batch from the chunk it visited last
 * (lib/read.c invariant 3), which a truncation may have dropped from the
 * list in between.
 */
#include "check_mrlog.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

/* 16 KiB records: a chunk of the copying store (at most 256 KiB) holds
 * at most 16 of them, so a batch (at most 16 chunks, lib/read.c) at most
 * 256.  (A mapped chunk holds only offsets, so many more.) */
#define REC 16384u
#define BATCH_RECORDS 256u

static unsigned char rec_buf[REC];

/* Appends n records of REC bytes to "q"; record p holds th_fill(.., p). */
static void fill_queue(mrlog *log, uint64_t n) {
  uint64_t p;

  ck_assert_int_eq(th_create(log, "q"), 0);
  for (p = 0; p < n; p++) {
    th_fill(rec_buf, REC, p);
    ck_assert_int_eq(th_append(log, "q", NULL, rec_buf, REC, NULL), 0);
  }
}

/* True if data is record pos as fill_queue wrote it. */
static bool rec_ok(uint64_t pos, const void *data, size_t len) {
  unsigned char want[64];

  if (len != REC) return false;
  th_fill(want, sizeof(want), pos);
  return memcmp(want, data, sizeof(want)) == 0;
}

/* ---- A visitor truncating far ahead of the read ------------------------ */

struct ahead {
  mrlog *log;
  uint64_t at;      /* the visited position at which it truncates */
  uint64_t upto;    /* the truncation's position */
  uint64_t next;    /* lowest position the next visit may have */
  uint64_t visited;
  uint64_t late;    /* records <= upto visited past at + 2 batches */
  long errors;
};

static int ahead_visit(void *arg, uint64_t pos, const void *data,
                       size_t len) {
  struct ahead *a = arg;

  if (pos < a->next || !rec_ok(pos, data, len)) a->errors++;
  a->next = pos + 1;
  a->visited++;
  if (pos > a->at + 2 * BATCH_RECORDS && pos <= a->upto) a->late++;
  /* The visitor runs with no lock held (read.c invariant 1): the
   * truncation completes before the read goes on. */
  if (pos == a->at && th_truncate(a->log, "q", a->upto) != 0) a->errors++;
  return 0;
}

/* The truncation drops the chunk the read would resume from and many
 * after it: the next batch starts at the queue's new head and never shows
 * a record the completed truncation removed, beyond those of chunks the
 * read had already reached (API.md, mrlog_range). */
START_TEST(test_range_truncated_ahead) {
  mrlog_policy pol = th_policy();
  struct ahead a = {0};
  uint64_t n = 1500;
  mrlog *log;

  pol.record_store = MRLOG_STORE_COPY; /* for BATCH_RECORDS */
  log = th_open(th_dir, &pol);
  fill_queue(log, n);
  a.log = log;
  a.at = 100;
  a.upto = a.at + 4 * BATCH_RECORDS;
  ck_assert_int_eq(mrlog_range(log, "q", 0, UINT64_MAX, ahead_visit, &a), 0);
  ck_assert_int_eq(a.errors, 0);
  ck_assert_uint_eq(a.late, 0);
  ck_assert_uint_eq(a.next, n);
  /* Every record after the truncation point was visited. */
  ck_assert_uint_ge(a.visited, n - 1 - a.upto);
  ck_assert_uint_eq(th_info(log, "q").first_position, a.upto + 1);
  th_close(log);
}
END_TEST

/* ---- A reader against a truncating thread ------------------------------ */

struct race {
  mrlog *log;
  uint64_t n;
  atomic_ullong done;  /* highest completed truncation + 1 (0: none) */
  atomic_int stop;
  atomic_long errors;
  atomic_long passes;
};

struct pass {
  uint64_t floor;      /* done when the read started */
  uint64_t next;
  bool first;
  long errors;
};

static int race_visit(void *arg, uint64_t pos, const void *data,
                      size_t len) {
  struct pass *p = arg;

  /* Positions strictly increase; the first batch starts after every
   * truncation completed before the call. */
  if (pos < p->next || (p->first && pos < p->floor) ||
      !rec_ok(pos, data, len))
    p->errors++;
  p->first = false;
  p->next = pos + 1;
  return 0;
}

static void *race_reader(void *arg) {
  struct race *x = arg;

  th_mark_app_thread();
  while (!atomic_load(&x->stop)) {
    struct pass p = {0, 0, true, 0};
    int rc;

    p.floor = atomic_load(&x->done);
    rc = mrlog_range(x->log, "q", 0, UINT64_MAX, race_visit, &p);
    /* The last record is never truncated: every read reaches it. */
    if (rc != 0 || p.errors != 0 || p.next != x->n)
      atomic_fetch_add(&x->errors, 1);
    atomic_fetch_add(&x->passes, 1);
  }
  return NULL;
}

START_TEST(test_range_during_truncation) {
  struct race x;
  pthread_t reader;
  uint64_t upto;

  memset(&x, 0, sizeof(x));
  x.n = (uint64_t)th_scaled(1500);
  x.log = th_open(th_dir, NULL);
  fill_queue(x.log, x.n);
  ck_assert_int_eq(pthread_create(&reader, NULL, race_reader, &x), 0);
  for (upto = 0; upto + 1 < x.n; upto += 7) {
    ck_assert_int_eq(th_truncate(x.log, "q", upto), 0);
    atomic_store(&x.done, upto + 1);
  }
  atomic_store(&x.stop, 1);
  pthread_join(reader, NULL);
  ck_assert_int_eq(atomic_load(&x.errors), 0);
  ck_assert_int_gt(atomic_load(&x.passes), 0);
  th_close(x.log);
}
END_TEST

Suite *make_range_walk_suite(void) {
  Suite *s = suite_create("range_walk");
  TCase *tc = tcase_create("truncation");

  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_SLOW);
  tcase_add_test(tc, test_range_truncated_ahead);
  tcase_add_test(tc, test_range_during_truncation);
  suite_add_tcase(s, tc);
  return s;
}

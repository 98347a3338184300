/*
 * test_cursor.c -- cursors (lib/cursor.c): a queue read forward one record
 * per mrlog_cursor_next.
 *
 * What is checked, with the copying store and MRLOG_STORE_MAPPED:
 *  - every status: open (MRLOG_ENOQUEUE, MRLOG_EINVAL for each bad
 *    argument and for a closed log), next (0, MRLOG_ENODATA at the end,
 *    MRLOG_ENOQUEUE, MRLOG_ECLOSED, MRLOG_EINVAL), seek and position;
 *  - a cursor reads exactly what mrlog_range_time reads (positions with
 *    gaps, bytes, times) over many chunks and many time marks, and then
 *    the records appended after it reached the end;
 *  - records of every varint length class (0 bytes .. 3 MB);
 *  - seek before the first retained record, past the end and backwards;
 *  - a truncation that overtakes the cursor (mid-batch, and of the whole
 *    queue): next continues at the first retained record;
 *  - a returned record's bytes stay readable after it is truncated and its
 *    queue deleted, until the next call (a 200 KiB record's chunk is
 *    mapped, so reading it once unmapped would fault; under the mapped
 *    store the segment file is rotated out and deleted too);
 *  - delete, and delete then create again under the same name: the cursor
 *    answers MRLOG_ENOQUEUE;
 *  - mrlog_close with cursors open: their calls return MRLOG_ECLOSED and
 *    mrlog_cursor_close frees them;
 *  - recovered records (read from the mapping of their files);
 *  - readers on threads, each with its cursor, against a writer and a
 *    truncating thread: positions strictly increase, every byte matches
 *    its position, and without truncation every record is seen.
 */
#include "check_mrlog.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Helpers ----------------------------------------------------------- */

static mrlog_policy store_policy(int store) {
  mrlog_policy p = th_policy();

  p.record_store = store;
  return p;
}

/* Record `pos`'s payload: its length (0 .. 299) and bytes depend on pos. */
static size_t rec_len(uint64_t pos) { return (size_t)(pos * 7 % 300); }

static void rec_fill(unsigned char *buf, uint64_t pos) {
  th_fill(buf, rec_len(pos), pos);
}

static bool rec_ok(const struct mrlog_record *r) {
  unsigned char buf[300];

  if (r->len != rec_len(r->position))
    return false;
  rec_fill(buf, r->position);
  return r->len == 0 || memcmp(buf, r->data, r->len) == 0;
}

/* Appends records at positions from .. to-1 (their own payloads) without
 * waiting for each; th_sync then waits for them all. */
static void append_range(mrlog *log, const char *queue, uint64_t from,
                         uint64_t to) {
  unsigned char buf[300];
  uint64_t p;

  for (p = from; p < to; p++) {
    rec_fill(buf, p);
    mrlog_forget(mrlog_append(log, queue, &p, buf, rec_len(p), NULL, NULL));
  }
  ck_assert_int_eq(th_sync(log), 0);
}

static mrlog_cursor *open_cursor(mrlog *log, const char *queue,
                                 uint64_t from) {
  mrlog_cursor *cur = NULL;

  ck_assert_int_eq(mrlog_cursor_open(log, queue, from, &cur), 0);
  ck_assert_ptr_nonnull(cur);
  return cur;
}

/* Reads one record and checks its bytes; returns its position. */
static uint64_t next_pos(mrlog_cursor *cur) {
  struct mrlog_record r;

  ck_assert_int_eq(mrlog_cursor_next(cur, &r), 0);
  ck_assert_msg(rec_ok(&r), "record %ju: bad payload", (uintmax_t)r.position);
  ck_assert_uint_eq(mrlog_cursor_position(cur), r.position + 1);
  return r.position;
}

static int next_status(mrlog_cursor *cur) {
  struct mrlog_record r;

  return mrlog_cursor_next(cur, &r);
}

/* ---- Statuses ---------------------------------------------------------- */

START_TEST(test_open_statuses) {
  mrlog *log = th_open(th_dir, NULL);
  mrlog_cursor *cur = (mrlog_cursor *)&cur;
  char long_name[MRLOG_QUEUE_NAME_MAX + 2];

  ck_assert_int_eq(th_create(log, "q"), 0);
  memset(long_name, 'x', sizeof(long_name) - 1);
  long_name[sizeof(long_name) - 1] = '\0';

  ck_assert_int_eq(mrlog_cursor_open(log, "missing", 0, &cur), MRLOG_ENOQUEUE);
  ck_assert_ptr_null(cur);
  cur = (mrlog_cursor *)&cur;
  ck_assert_int_eq(mrlog_cursor_open(NULL, "q", 0, &cur), MRLOG_EINVAL);
  ck_assert_ptr_null(cur);
  ck_assert_int_eq(mrlog_cursor_open(log, NULL, 0, &cur), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_cursor_open(log, "", 0, &cur), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_cursor_open(log, long_name, 0, &cur), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_cursor_open(log, "q", 0, NULL), MRLOG_EINVAL);

  /* NULL arguments of the other calls. */
  cur = open_cursor(log, "q", 0);
  ck_assert_int_eq(mrlog_cursor_next(NULL, NULL), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_cursor_next(cur, NULL), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_cursor_seek(NULL, 3), MRLOG_EINVAL);
  ck_assert_uint_eq(mrlog_cursor_position(NULL), 0);
  mrlog_cursor_close(NULL);
  /* An empty queue: the end at once. */
  ck_assert_int_eq(next_status(cur), MRLOG_ENODATA);
  ck_assert_uint_eq(mrlog_cursor_position(cur), 0);
  mrlog_cursor_close(cur);

  th_close(log);
  /* A closed log. */
  cur = (mrlog_cursor *)&cur;
  ck_assert_int_eq(mrlog_cursor_open(log, "q", 0, &cur), MRLOG_EINVAL);
  ck_assert_ptr_null(cur);
}
END_TEST

/* ---- Reading ----------------------------------------------------------- */

static _Atomic uint64_t fake_now;

static uint64_t fake_clock(void *arg) {
  (void)arg;
  return atomic_load(&fake_now);
}

struct seen {
  size_t n, cap;
  uint64_t *pos, *ms;
};

static int collect_timed(void *arg, uint64_t position, uint64_t unix_ms,
                         const void *data, size_t len) {
  struct seen *s = arg;

  (void)data;
  (void)len;
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 1024;
    s->pos = realloc(s->pos, s->cap * sizeof(*s->pos));
    s->ms = realloc(s->ms, s->cap * sizeof(*s->ms));
    th_req(s->pos != NULL && s->ms != NULL);
  }
  s->pos[s->n] = position;
  s->ms[s->n] = unix_ms;
  s->n++;
  return 0;
}

/* Records in many chunks, with gaps in positions and a time per group of
 * records (many time marks), read through a cursor and through
 * mrlog_range_time: the same positions, bytes and times.  Then records
 * appended after the cursor reached the end. */
static void check_read_all(int store) {
  mrlog_policy p = store_policy(store);
  struct seen want = { 0 };
  struct mrlog_record r;
  mrlog_cursor *cur;
  mrlog *log;
  uint64_t i, pos = 5;
  long n = th_scaled(20000);
  size_t k = 0;

  atomic_store(&fake_now, 1000);
  p.now_ms = fake_clock;
  log = th_open(th_dir, &p);
  ck_assert_int_eq(th_create(log, "q"), 0);
  for (i = 0; i < (uint64_t)n; i += 100) {
    /* 100 records per time, every 7th position left out. */
    unsigned char buf[300];
    uint64_t j;
    for (j = 0; j < 100; j++, pos++) {
      if (pos % 7 == 0)
        pos++;
      rec_fill(buf, pos);
      mrlog_forget(mrlog_append(log, "q", &pos, buf, rec_len(pos), NULL,
                                NULL));
    }
    ck_assert_int_eq(th_sync(log), 0);
    atomic_fetch_add(&fake_now, 3);
  }
  ck_assert_int_eq(mrlog_range_time(log, "q", 0, UINT64_MAX, collect_timed,
                                    &want),
                   0);
  ck_assert_uint_gt(want.n, 0);

  cur = open_cursor(log, "q", 0);
  while (mrlog_cursor_next(cur, &r) == 0) {
    th_req(k < want.n);
    th_req_uint_eq(r.position, want.pos[k]);
    th_req_uint_eq(r.unix_ms, want.ms[k]);
    th_req(rec_ok(&r));
    k++;
  }
  ck_assert_uint_eq(k, want.n);
  ck_assert_int_eq(next_status(cur), MRLOG_ENODATA);
  ck_assert_uint_eq(mrlog_cursor_position(cur), want.pos[want.n - 1] + 1);

  /* More records after the end: the cursor goes on with them. */
  append_range(log, "q", pos, pos + 10);
  for (i = 0; i < 10; i++)
    ck_assert_uint_eq(next_pos(cur), pos + i);
  ck_assert_int_eq(next_status(cur), MRLOG_ENODATA);

  mrlog_cursor_close(cur);
  free(want.pos);
  free(want.ms);
  th_close(log);
}

START_TEST(test_read_all_copy) { check_read_all(MRLOG_STORE_COPY); }
END_TEST

START_TEST(test_read_all_mapped) { check_read_all(MRLOG_STORE_MAPPED); }
END_TEST

/* Records whose lengths take each size of varint (1 to 4 bytes; the
 * mapped store reads them from the file), appended one by one (a time
 * each, so next passes a time mark at each) and then as one batch (one
 * time), read through a cursor and through mrlog_range: the same bytes. */
static void check_record_sizes(int store) {
  static const size_t lens[] = { 0,     1,       127,     128,    16383,
                                 16384, 2097151, 2097152, 3000000 };
  const size_t n = sizeof(lens) / sizeof(lens[0]);
  mrlog_policy p = store_policy(store);
  unsigned char *buf = malloc(3000000), *all = malloc(8000000);
  struct iovec iov[sizeof(lens) / sizeof(lens[0])];
  struct mrlog_record r;
  size_t off = 0;
  struct th_recs want;
  mrlog_cursor *cur;
  mrlog *log;
  size_t i;

  ck_assert_ptr_nonnull(buf);
  ck_assert_ptr_nonnull(all);
  log = th_open(th_dir, &p);
  ck_assert_int_eq(th_create(log, "q"), 0);
  for (i = 0; i < n; i++) {
    th_fill(buf, lens[i], i);
    ck_assert_int_eq(th_append(log, "q", NULL, buf, lens[i], NULL), 0);
    th_fill(all + off, lens[i], 100 + i);
    iov[i].iov_base = all + off;
    iov[i].iov_len = lens[i];
    off += lens[i];
  }
  ck_assert_int_eq(
      th_wait(mrlog_append_batch(log, "q", NULL, iov, n, NULL, NULL), NULL),
      0);
  ck_assert_int_eq(th_collect(log, "q", 0, UINT64_MAX, &want), 0);
  ck_assert_uint_eq(want.n, 2 * n);
  cur = open_cursor(log, "q", 0);
  for (i = 0; i < 2 * n; i++) {
    ck_assert_int_eq(mrlog_cursor_next(cur, &r), 0);
    ck_assert_uint_eq(r.position, want.v[i].pos);
    ck_assert_uint_eq(r.len, lens[i % n]);
    ck_assert_uint_eq(r.len, want.v[i].len);
    ck_assert(r.len == 0 || memcmp(r.data, want.v[i].data, r.len) == 0);
  }
  ck_assert_int_eq(next_status(cur), MRLOG_ENODATA);
  mrlog_cursor_close(cur);
  th_recs_free(&want);
  th_close(log);
  free(buf);
  free(all);
}

START_TEST(test_record_sizes_copy) { check_record_sizes(MRLOG_STORE_COPY); }
END_TEST

START_TEST(test_record_sizes_mapped) {
  check_record_sizes(MRLOG_STORE_MAPPED);
}
END_TEST

/* Seek before the first retained record, past the end, and back. */
static void check_seek(int store) {
  mrlog_policy p = store_policy(store);
  mrlog *log = th_open(th_dir, &p);
  mrlog_cursor *cur;

  ck_assert_int_eq(th_create(log, "q"), 0);
  append_range(log, "q", 0, 100);
  ck_assert_int_eq(th_truncate(log, "q", 19), 0); /* 20 .. 99 remain */
  cur = open_cursor(log, "q", 50);
  ck_assert_uint_eq(mrlog_cursor_position(cur), 50);
  ck_assert_uint_eq(next_pos(cur), 50);

  ck_assert_int_eq(mrlog_cursor_seek(cur, 3), 0);
  ck_assert_uint_eq(mrlog_cursor_position(cur), 3);
  ck_assert_uint_eq(next_pos(cur), 20); /* the first retained */
  ck_assert_uint_eq(next_pos(cur), 21);

  ck_assert_int_eq(mrlog_cursor_seek(cur, 150), 0);
  ck_assert_int_eq(next_status(cur), MRLOG_ENODATA);
  ck_assert_uint_eq(mrlog_cursor_position(cur), 150);
  append_range(log, "q", 100, 160);
  ck_assert_uint_eq(next_pos(cur), 150);

  ck_assert_int_eq(mrlog_cursor_seek(cur, 98), 0); /* backwards */
  ck_assert_uint_eq(next_pos(cur), 98);
  ck_assert_uint_eq(next_pos(cur), 99);
  ck_assert_uint_eq(next_pos(cur), 100);

  ck_assert_int_eq(mrlog_cursor_seek(cur, UINT64_MAX), 0);
  ck_assert_int_eq(next_status(cur), MRLOG_ENODATA);
  mrlog_cursor_close(cur);
  th_close(log);
}

START_TEST(test_seek_copy) { check_seek(MRLOG_STORE_COPY); }
END_TEST

START_TEST(test_seek_mapped) { check_seek(MRLOG_STORE_MAPPED); }
END_TEST

/* ---- Truncation -------------------------------------------------------- */

/* A truncation passes the cursor in the middle of what it has read ahead,
 * then one drops every record. */
static void check_truncation_overtakes(int store) {
  mrlog_policy p = store_policy(store);
  mrlog *log = th_open(th_dir, &p);
  mrlog_cursor *cur;

  ck_assert_int_eq(th_create(log, "q"), 0);
  append_range(log, "q", 0, 1000);
  cur = open_cursor(log, "q", 0);
  ck_assert_uint_eq(next_pos(cur), 0);
  ck_assert_uint_eq(next_pos(cur), 1);
  ck_assert_int_eq(th_truncate(log, "q", 500), 0);
  ck_assert_uint_eq(next_pos(cur), 501);
  ck_assert_uint_eq(mrlog_cursor_position(cur), 502);
  /* Truncation behind the cursor changes nothing for it. */
  ck_assert_int_eq(th_truncate(log, "q", 501), 0);
  ck_assert_uint_eq(next_pos(cur), 502);

  /* Every record, and past the end: the cursor moves to the queue's next
   * position, where the next record comes. */
  ck_assert_int_eq(th_truncate(log, "q", 1500), 0);
  ck_assert_int_eq(next_status(cur), MRLOG_ENODATA);
  ck_assert_uint_eq(mrlog_cursor_position(cur), 1501);
  append_range(log, "q", 1501, 1503);
  ck_assert_uint_eq(next_pos(cur), 1501);
  ck_assert_uint_eq(next_pos(cur), 1502);
  ck_assert_int_eq(next_status(cur), MRLOG_ENODATA);
  mrlog_cursor_close(cur);
  th_close(log);
}

START_TEST(test_truncation_overtakes_copy) {
  check_truncation_overtakes(MRLOG_STORE_COPY);
}
END_TEST

START_TEST(test_truncation_overtakes_mapped) {
  check_truncation_overtakes(MRLOG_STORE_MAPPED);
}
END_TEST

#define BIG (200 * 1024)

/* A returned record stays readable after it is truncated, its queue
 * deleted and (small segments) its segment file rotated out and deleted,
 * until the cursor's next call.  The 200 KiB record's chunk is mapped (the
 * copying store maps chunks of 64 KiB and more) and the mapped store's
 * window goes with its file, so a read after the memory went back would
 * fault. */
static void check_data_outlives_truncation(int store) {
  mrlog_policy p = store_policy(store);
  unsigned char *big = malloc(BIG), *copy = malloc(BIG);
  struct mrlog_record r;
  mrlog_cursor *cur;
  mrlog *log;
  uint64_t pos;
  int i;

  ck_assert_ptr_nonnull(big);
  ck_assert_ptr_nonnull(copy);
  p.segment_bytes = 256 * 1024;
  p.cleaner_interval_ms = 5;
  log = th_open(th_dir, &p);
  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(th_create(log, "other"), 0);
  th_fill(big, BIG, 42);
  memcpy(copy, big, BIG);
  ck_assert_int_eq(th_append(log, "q", NULL, big, BIG, &pos), 0);
  ck_assert_int_eq(th_append(log, "q", NULL, "x", 1, NULL), 0);
  memset(big, 0, BIG);

  cur = open_cursor(log, "q", 0);
  ck_assert_int_eq(mrlog_cursor_next(cur, &r), 0);
  ck_assert_uint_eq(r.position, pos);
  ck_assert_uint_eq(r.len, BIG);

  ck_assert_int_eq(th_truncate(log, "q", UINT64_MAX - 1), 0);
  ck_assert_int_eq(th_delete(log, "q"), 0);
  /* Rotate the record's segment out, so the cleaner deletes its file. */
  for (i = 0; i < 8; i++)
    ck_assert_int_eq(th_append(log, "other", NULL, big, BIG / 2, NULL), 0);
  ck_assert_int_eq(th_truncate(log, "other", UINT64_MAX - 1), 0);
  ck_assert_int_eq(th_sync(log), 0);
  th_sleep_ms(50); /* let the cleaner run a few passes */
  ck_assert_msg(memcmp(r.data, copy, BIG) == 0, "record changed");

  ck_assert_int_eq(next_status(cur), MRLOG_ENOQUEUE);
  mrlog_cursor_close(cur);
  th_close(log);
  free(big);
  free(copy);
}

START_TEST(test_data_outlives_truncation_copy) {
  check_data_outlives_truncation(MRLOG_STORE_COPY);
}
END_TEST

START_TEST(test_data_outlives_truncation_mapped) {
  check_data_outlives_truncation(MRLOG_STORE_MAPPED);
}
END_TEST

/* ---- Queue and log lifetime -------------------------------------------- */

START_TEST(test_deleted_queue) {
  mrlog *log = th_open(th_dir, NULL);
  mrlog_cursor *a, *b, *c;
  uint64_t i;

  ck_assert_int_eq(th_create(log, "q"), 0);
  append_range(log, "q", 0, 1000);
  a = open_cursor(log, "q", 0); /* has read ahead */
  b = open_cursor(log, "q", 0); /* has not */
  c = open_cursor(log, "q", 1000); /* at the end */
  for (i = 0; i < 500; i++)
    th_req_uint_eq(next_pos(a), i);
  ck_assert_int_eq(next_status(c), MRLOG_ENODATA);

  ck_assert_int_eq(th_delete(log, "q"), 0);
  ck_assert_int_eq(next_status(a), MRLOG_ENOQUEUE);
  ck_assert_int_eq(next_status(b), MRLOG_ENOQUEUE);
  ck_assert_int_eq(next_status(c), MRLOG_ENOQUEUE);

  /* The same name again is another queue. */
  ck_assert_int_eq(th_create(log, "q"), 0);
  append_range(log, "q", 0, 20);
  ck_assert_int_eq(next_status(a), MRLOG_ENOQUEUE);
  ck_assert_int_eq(mrlog_cursor_seek(b, 0), 0); /* seek takes no lock */
  ck_assert_int_eq(next_status(b), MRLOG_ENOQUEUE);
  ck_assert_int_eq(next_status(c), MRLOG_ENOQUEUE);
  mrlog_cursor_close(a);
  mrlog_cursor_close(b);
  mrlog_cursor_close(c);

  /* A cursor opened now reads the new queue. */
  a = open_cursor(log, "q", 15);
  ck_assert_uint_eq(next_pos(a), 15);
  mrlog_cursor_close(a);
  th_close(log);
}
END_TEST

START_TEST(test_log_closed_under_cursors) {
  mrlog *log = th_open(th_dir, NULL);
  struct mrlog_record r;
  mrlog_cursor *a, *b, *c;

  ck_assert_int_eq(th_create(log, "q"), 0);
  append_range(log, "q", 0, 10);
  a = open_cursor(log, "q", 0);
  b = open_cursor(log, "q", 0);
  c = open_cursor(log, "q", 0);
  ck_assert_uint_eq(next_pos(a), 0);
  ck_assert_uint_eq(next_pos(b), 0);
  mrlog_cursor_close(b); /* one closed before the log */
  th_close(log);

  ck_assert_int_eq(mrlog_cursor_next(a, &r), MRLOG_ECLOSED);
  ck_assert_int_eq(mrlog_cursor_seek(a, 0), MRLOG_ECLOSED);
  ck_assert_int_eq(mrlog_cursor_next(a, &r), MRLOG_ECLOSED);
  ck_assert_uint_eq(mrlog_cursor_position(a), 1);
  ck_assert_int_eq(mrlog_cursor_next(c, &r), MRLOG_ECLOSED);

  /* A new log reusing the closed one's struct leaves the cursors alone. */
  log = th_open(th_dir, NULL);
  ck_assert_int_eq(mrlog_cursor_next(a, &r), MRLOG_ECLOSED);
  mrlog_cursor_close(a);
  b = open_cursor(log, "q", 0);
  ck_assert_uint_eq(next_pos(b), 0);
  th_close(log);
  mrlog_cursor_close(c);
  mrlog_cursor_close(b);
}
END_TEST

/* Records recovered at open are read from the mapping of their files. */
START_TEST(test_recovered_records) {
  mrlog *log = th_open(th_dir, NULL);
  mrlog_cursor *cur;
  uint64_t i;

  ck_assert_int_eq(th_create(log, "q"), 0);
  append_range(log, "q", 0, 3000);
  ck_assert_int_eq(th_truncate(log, "q", 99), 0);
  th_close(log);

  log = th_open(th_dir, NULL);
  cur = open_cursor(log, "q", 0);
  for (i = 100; i < 3000; i++)
    th_req_uint_eq(next_pos(cur), i);
  ck_assert_int_eq(next_status(cur), MRLOG_ENODATA);
  mrlog_cursor_close(cur);
  th_close(log);
}
END_TEST

/* ---- Concurrency ------------------------------------------------------- */

#define READERS 3

struct race {
  mrlog *log;
  uint64_t n;            /* records the writer appends: 0 .. n-1 */
  bool truncating;       /* a thread truncates behind the writer */
  pthread_barrier_t start;
  atomic_bool writer_done;
  uint64_t seen[READERS]; /* records each reader read */
};

struct reader_arg {
  struct race *race;
  int id;
};

static void *reader(void *arg) {
  struct reader_arg *a = arg;
  struct race *race = a->race;
  mrlog_cursor *cur = NULL;
  struct mrlog_record r;
  uint64_t last = 0, seen = 0;
  bool any = false;
  int rc;

  th_req_int_eq(mrlog_cursor_open(race->log, "q", 0, &cur), 0);
  pthread_barrier_wait(&race->start);
  while (mrlog_cursor_position(cur) < race->n) {
    rc = mrlog_cursor_next(cur, &r);
    if (rc == MRLOG_ENODATA) {
      sched_yield();
      continue;
    }
    th_req_int_eq(rc, 0);
    th_req(!any || r.position > last);
    th_req(rec_ok(&r));
    last = r.position;
    any = true;
    seen++;
  }
  race->seen[a->id] = seen;
  mrlog_cursor_close(cur);
  return NULL;
}

static void *writer(void *arg) {
  struct race *race = arg;
  unsigned char buf[300];
  uint64_t p;

  pthread_barrier_wait(&race->start);
  for (p = 0; p < race->n; p++) {
    rec_fill(buf, p);
    mrlog_forget(mrlog_append(race->log, "q", &p, buf, rec_len(p), NULL,
                              NULL));
    if (p % 64 == 0)
      th_req_int_eq(th_sync(race->log), 0); /* let the readers catch up */
  }
  th_req_int_eq(th_sync(race->log), 0);
  atomic_store(&race->writer_done, true);
  return NULL;
}

static void *truncator(void *arg) {
  struct race *race = arg;
  struct mrlog_queue_info info;

  pthread_barrier_wait(&race->start);
  while (!atomic_load(&race->writer_done)) {
    th_req_int_eq(mrlog_queue_info(race->log, "q", &info), 0);
    if (info.next_position > 300)
      mrlog_forget(mrlog_truncate(race->log, "q", info.next_position - 300,
                                  NULL, NULL));
    th_sleep_ms(1);
  }
  return NULL;
}

static void check_race(int store, bool truncating) {
  mrlog_policy p = store_policy(store);
  struct reader_arg args[READERS];
  pthread_t readers[READERS], w, t;
  struct race race;
  int i, parties = READERS + 1 + (truncating ? 1 : 0);

  memset(&race, 0, sizeof(race));
  race.log = th_open(th_dir, &p);
  race.n = (uint64_t)th_scaled(30000);
  race.truncating = truncating;
  ck_assert_int_eq(th_create(race.log, "q"), 0);
  ck_assert_int_eq(pthread_barrier_init(&race.start, NULL, parties), 0);
  for (i = 0; i < READERS; i++) {
    args[i] = (struct reader_arg){ &race, i };
    ck_assert_int_eq(pthread_create(&readers[i], NULL, reader, &args[i]), 0);
  }
  ck_assert_int_eq(pthread_create(&w, NULL, writer, &race), 0);
  if (truncating)
    ck_assert_int_eq(pthread_create(&t, NULL, truncator, &race), 0);
  for (i = 0; i < READERS; i++)
    ck_assert_int_eq(pthread_join(readers[i], NULL), 0);
  ck_assert_int_eq(pthread_join(w, NULL), 0);
  if (truncating)
    ck_assert_int_eq(pthread_join(t, NULL), 0);
  for (i = 0; i < READERS; i++) {
    if (truncating)
      ck_assert_uint_gt(race.seen[i], 0);
    else
      ck_assert_uint_eq(race.seen[i], race.n);
  }
  pthread_barrier_destroy(&race.start);
  th_close(race.log);
}

START_TEST(test_race_copy) { check_race(MRLOG_STORE_COPY, false); }
END_TEST

START_TEST(test_race_mapped) { check_race(MRLOG_STORE_MAPPED, false); }
END_TEST

START_TEST(test_race_truncating_copy) { check_race(MRLOG_STORE_COPY, true); }
END_TEST

START_TEST(test_race_truncating_mapped) {
  check_race(MRLOG_STORE_MAPPED, true);
}
END_TEST

/* ---- Waiting ----------------------------------------------------------- */

struct waited {
  atomic_int calls;
  atomic_int status;
  _Atomic uint64_t position;
  atomic_bool on_library;
};

static void on_waited(void *arg, int status, uint64_t position) {
  struct waited *w = arg;

  atomic_store(&w->status, status);
  atomic_store(&w->position, position);
  atomic_store(&w->on_library, mrlog_on_library_thread());
  atomic_fetch_add(&w->calls, 1);
}

/* mrlog_cursor_wait: at once when a record is there, else once one
 * comes; then next returns it.  Every status. */
START_TEST(test_wait) {
  mrlog *log = th_open(th_dir, NULL);
  struct waited w = { 0 };
  mrlog_future *f;
  mrlog_cursor *cur, *other;
  uint64_t pos = 0;

  ck_assert_int_eq(th_create(log, "q"), 0);
  append_range(log, "q", 0, 3);
  cur = open_cursor(log, "q", 0);
  /* Records at the position: at once. */
  ck_assert_int_eq(th_wait(mrlog_cursor_wait(cur, NULL, NULL), &pos), 0);
  ck_assert_uint_eq(pos, 3);
  while (next_status(cur) == 0)
    ;
  /* At the end: completes once a record comes, with the callback on a
   * library thread. */
  f = mrlog_cursor_wait(cur, on_waited, &w);
  ck_assert_ptr_nonnull(f);
  ck_assert(!mrlog_ready(f));
  append_range(log, "q", 3, 4);
  ck_assert_int_eq(th_wait(f, &pos), 0);
  ck_assert_uint_eq(pos, 4);
  ck_assert_int_eq(atomic_load(&w.calls), 1);
  ck_assert(atomic_load(&w.on_library));
  ck_assert_uint_eq(next_pos(cur), 3);
  /* After a truncation past the cursor's position. */
  ck_assert_int_eq(th_truncate(log, "q", 10), 0);
  ck_assert_int_eq(th_wait(mrlog_cursor_wait(cur, NULL, NULL), &pos), 0);
  ck_assert_int_eq(next_status(cur), MRLOG_ENODATA);
  ck_assert_uint_eq(mrlog_cursor_position(cur), 11);

  /* A NULL cursor. */
  ck_assert_int_eq(th_wait(mrlog_cursor_wait(NULL, NULL, NULL), NULL),
                   MRLOG_EINVAL);
  /* A queue deleted while the wait waits, and before it. */
  other = open_cursor(log, "q", 100);
  f = mrlog_cursor_wait(other, NULL, NULL);
  ck_assert_int_eq(th_delete(log, "q"), 0);
  ck_assert_int_eq(th_wait(f, NULL), MRLOG_ENOQUEUE);
  ck_assert_int_eq(th_create(log, "q"), 0); /* another queue */
  append_range(log, "q", 0, 200);
  ck_assert_int_eq(th_wait(mrlog_cursor_wait(other, NULL, NULL), NULL),
                   MRLOG_ENOQUEUE);
  mrlog_cursor_close(other);
  mrlog_cursor_close(cur);

  /* A wait pending at close, and one after it. */
  cur = open_cursor(log, "q", 1000);
  f = mrlog_cursor_wait(cur, NULL, NULL);
  th_close(log);
  ck_assert_int_eq(th_wait(f, NULL), MRLOG_ECLOSED);
  ck_assert_int_eq(th_wait(mrlog_cursor_wait(cur, NULL, NULL), NULL),
                   MRLOG_ECLOSED);
  mrlog_cursor_close(cur);
}
END_TEST

Suite *make_cursor_suite(void) {
  Suite *s = suite_create("cursor");
  TCase *tc;

  tc = tcase_create("cursor");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_open_statuses);
  tcase_add_test(tc, test_read_all_copy);
  tcase_add_test(tc, test_read_all_mapped);
  tcase_add_test(tc, test_record_sizes_copy);
  tcase_add_test(tc, test_record_sizes_mapped);
  tcase_add_test(tc, test_seek_copy);
  tcase_add_test(tc, test_seek_mapped);
  tcase_add_test(tc, test_truncation_overtakes_copy);
  tcase_add_test(tc, test_truncation_overtakes_mapped);
  tcase_add_test(tc, test_data_outlives_truncation_copy);
  tcase_add_test(tc, test_data_outlives_truncation_mapped);
  tcase_add_test(tc, test_deleted_queue);
  tcase_add_test(tc, test_log_closed_under_cursors);
  tcase_add_test(tc, test_recovered_records);
  tcase_add_test(tc, test_wait);
  suite_add_tcase(s, tc);

  tc = tcase_create("threads");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_SLOW);
  tcase_add_test(tc, test_race_copy);
  tcase_add_test(tc, test_race_mapped);
  tcase_add_test(tc, test_race_truncating_copy);
  tcase_add_test(tc, test_race_truncating_mapped);
  suite_add_tcase(s, tc);
  return s;
}

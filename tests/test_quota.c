/*
 * test_quota.c -- policy.queue_memory_limit, policy.disk_limit and
 * mrlog_queue_info.memory_bytes (workers/quota.c, lib/queue_charge.h).
 *
 * Whether an append is held back is decided by the writer from figures a
 * test can read: with nothing in flight, an append of len bytes to a
 * queue is held back by queue_memory_limit exactly when the queue's
 * memory_bytes + len + 8 passes the quota.  That an append is held back,
 * not merely slow, is shown by order, not by time: a sync submitted after
 * it completes (syncs are never held back) while it is not ready.
 *
 * Cases marked "loop" run for both record stores (0: copy, 1: mapped).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_mrlog.h"

#define REC 100 /* bytes per record */

static const char payload[4096];

static mrlog_policy
quota_policy(int store, uint64_t queue_limit, uint64_t disk_limit)
{
  mrlog_policy p = th_policy();

  p.record_store = store ? MRLOG_STORE_MAPPED : MRLOG_STORE_COPY;
  p.queue_memory_limit = queue_limit;
  p.disk_limit = disk_limit;
  return p;
}

/* Appends REC-byte records to queue, one at a time, while the next one
 * still fits limit; returns how many. */
static unsigned
fill(mrlog *log, const char *queue, uint64_t limit)
{
  unsigned n = 0;

  while (th_info(log, queue).memory_bytes + REC + 8 <= limit) {
    ck_assert_int_eq(th_append(log, queue, NULL, payload, REC, NULL), 0);
    n++;
    ck_assert_msg(th_info(log, queue).memory_bytes >= (uint64_t)n * REC,
                  "%u records of %d bytes charged %ju bytes", n, REC,
                  (uintmax_t)th_info(log, queue).memory_bytes);
  }
  ck_assert_uint_gt(n, 0);
  return n;
}

static uint64_t
charge_now(mrlog *log, int store)
{
  struct mrlog_stats st = th_stats(log);

  if (store == 0)
    ck_assert_uint_eq(st.memory_bytes, st.memory_charged);
  return st.memory_charged;
}

static void
batch(mrlog *log, const char *queue, size_t count, size_t len)
{
  struct iovec *v = calloc(count, sizeof(*v));
  size_t i;

  ck_assert_ptr_nonnull(v);
  for (i = 0; i < count; i++)
    v[i] = (struct iovec){ (void *)payload, len };
  ck_assert_int_eq(th_wait(mrlog_append_batch(log, queue, NULL, v, count,
                                              NULL, NULL),
                           NULL),
                   0);
  free(v);
}

/* What memory_limit counts of a queue's records: all of its memory_bytes
 * under the copy store; under the mapped store, its memory_bytes less the
 * payload of its mapped records (info.bytes: every record is mapped),
 * which lies in the page cache. */
static uint64_t
limit_share(mrlog *log, const char *queue, int store)
{
  struct mrlog_queue_info info = th_info(log, queue);

  if (store == 0)
    return info.memory_bytes;
  ck_assert_uint_ge(info.memory_bytes, info.bytes);
  return info.memory_bytes - info.bytes;
}

/* memory_bytes is what the queue's records are charged: with nothing in
 * flight, the log's charge moves by exactly the queues' memory_bytes as
 * records come and go (the queues' structs, the index and the writer's
 * buffers are set up before the first figure is taken) -- under the
 * mapped store, less their payload, which memory_limit does not count
 * but queue_memory_limit does. */
START_TEST(test_memory_bytes_is_charge)
{
  mrlog_policy pol = quota_policy(_i, 0, 0);
  uint64_t base, a, b;
  mrlog *log;
  int k;

  log = th_open(th_dir, &pol);
  ck_assert_int_eq(th_create(log, "warm"), 0);
  ck_assert_int_eq(th_create(log, "a"), 0);
  ck_assert_int_eq(th_create(log, "b"), 0);
  /* The writer's buffers grow to what the batches below need. */
  batch(log, "warm", 1000, 50);
  batch(log, "warm", 500, 300);
  ck_assert_int_eq(th_truncate(log, "warm", 1499), 0);
  ck_assert_uint_eq(th_info(log, "a").memory_bytes, 0);
  ck_assert_uint_eq(th_info(log, "warm").memory_bytes, 0);
  base = charge_now(log, _i);

  for (k = 0; k < 300; k++)
    ck_assert_int_eq(th_append(log, "a", NULL, payload, REC + k % 7, NULL),
                     0);
  batch(log, "b", 1000, 10);
  batch(log, "b", 500, 300);
  ck_assert_uint_ge(th_info(log, "a").memory_bytes, 300 * REC);
  ck_assert_uint_ge(th_info(log, "b").memory_bytes, 1000 * 10 + 500 * 300);
  a = limit_share(log, "a", _i);
  b = limit_share(log, "b", _i);
  ck_assert_uint_ge(a, _i ? 300 * 8 : 300 * (REC + 8));
  ck_assert_uint_eq(charge_now(log, _i) - base, a + b);

  ck_assert_int_eq(th_truncate(log, "a", 149), 0);
  a = limit_share(log, "a", _i);
  ck_assert_uint_gt(a, 0);
  ck_assert_uint_eq(charge_now(log, _i) - base, a + b);

  ck_assert_int_eq(th_truncate(log, "a", 299), 0);
  ck_assert_int_eq(th_truncate(log, "b", 1499), 0);
  ck_assert_uint_eq(th_info(log, "a").memory_bytes, 0);
  ck_assert_uint_eq(th_info(log, "b").memory_bytes, 0);
  ck_assert_uint_eq(charge_now(log, _i), base);
  ck_assert_int_eq(th_stats(log).failed, 0);
  th_close(log);
}
END_TEST

/* Nonblocking: the append past the queue's quota completes with
 * MRLOG_EFULL while other queues keep appending; a truncation gives the
 * room back. */
START_TEST(test_nonblocking_efull)
{
  const uint64_t limit = 64 << 10;
  mrlog_policy pol = quota_policy(_i, limit, 0);
  struct mrlog_queue_info info;
  uint64_t pos;
  mrlog *log;
  int k;

  pol.nonblocking = 1;
  log = th_open(th_dir, &pol);
  ck_assert_int_eq(th_create(log, "a"), 0);
  ck_assert_int_eq(th_create(log, "b"), 0);
  fill(log, "a", limit);
  info = th_info(log, "a");
  ck_assert_int_eq(th_append(log, "a", NULL, payload, REC, NULL),
                   MRLOG_EFULL);
  ck_assert_int_eq(th_append(log, "a", NULL, payload, REC, NULL),
                   MRLOG_EFULL);
  for (k = 0; k < 200; k++)
    ck_assert_int_eq(th_append(log, "b", NULL, payload, REC, NULL), 0);
  /* Refused appends took no position and stored nothing. */
  ck_assert_uint_eq(th_info(log, "a").next_position, info.next_position);
  ck_assert_uint_eq(th_info(log, "a").memory_bytes, info.memory_bytes);
  /* Past the quota by the newest chunk's unused room at most (chunks are
   * allocated ahead of records: an eighth of what the queue holds). */
  ck_assert_uint_le(info.memory_bytes, limit + limit / 8);
  ck_assert_int_eq(th_truncate(log, "a", info.next_position - 1), 0);
  ck_assert_int_eq(th_append(log, "a", NULL, payload, REC, &pos), 0);
  ck_assert_uint_eq(pos, info.next_position);
  ck_assert_int_eq(th_stats(log).failed, 0);
  th_close(log);
}
END_TEST

struct truncator {
  mrlog *log;
  const char *queue;
  uint64_t position;
  int status;
};

static void *
truncate_main(void *arg)
{
  struct truncator *t = arg;

  t->status = th_wait(mrlog_truncate(t->log, t->queue, t->position, NULL,
                                     NULL),
                      NULL);
  return NULL;
}

struct appender {
  mrlog *log;
  const char *queue;
  int count;
  int failures;
};

static void *
append_main(void *arg)
{
  struct appender *a = arg;
  int k;

  for (k = 0; k < a->count; k++) {
    if (th_wait(mrlog_append(a->log, a->queue, NULL, payload, REC, NULL,
                             NULL),
                NULL) != 0)
      a->failures++;
  }
  return NULL;
}

/* Blocking: appends past the quota are held back, in order, while another
 * queue keeps appending, until a truncation from another thread makes
 * room; then they take the next positions in submission order. */
START_TEST(test_blocking_released_by_truncation)
{
  const uint64_t limit = 64 << 10;
  mrlog_policy pol = quota_policy(_i, limit, 0);
  struct appender app = { NULL, "b", 200, 0 };
  struct truncator tr;
  mrlog_future *f[5];
  uint64_t next, pos;
  pthread_t th;
  mrlog *log;
  int k;

  log = th_open(th_dir, &pol);
  ck_assert_int_eq(th_create(log, "a"), 0);
  ck_assert_int_eq(th_create(log, "b"), 0);
  fill(log, "a", limit);
  next = th_info(log, "a").next_position;
  for (k = 0; k < 5; k++) {
    f[k] = mrlog_append(log, "a", NULL, payload, REC, NULL, NULL);
    ck_assert_ptr_nonnull(f[k]);
  }
  /* Queue b flows (its own thread, so its own staging batches). */
  app.log = log;
  ck_assert_int_eq(pthread_create(&th, NULL, append_main, &app), 0);
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  ck_assert_int_eq(app.failures, 0);
  ck_assert_int_eq(th_sync(log), 0);
  for (k = 0; k < 5; k++)
    ck_assert_msg(!mrlog_ready(f[k]), "append %d past the quota completed",
                  k);
  ck_assert_uint_eq(th_info(log, "a").next_position, next);

  tr = (struct truncator){ log, "a", next - 1, -1 };
  ck_assert_int_eq(pthread_create(&th, NULL, truncate_main, &tr), 0);
  for (k = 0; k < 5; k++) {
    ck_assert_int_eq(th_wait(f[k], &pos), 0);
    ck_assert_uint_eq(pos, next + (uint64_t)k);
  }
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  ck_assert_int_eq(tr.status, 0);
  ck_assert_uint_eq(th_info(log, "a").records, 5);
  ck_assert_int_eq(th_stats(log).failed, 0);
  th_close(log);
}
END_TEST

/* One thread's small appends to a held-back queue and to another one,
 * likely gathered in one staging batch: the held-back ones stay back (an
 * entry ending the batch waits with them, whatever its queue), and once a
 * truncation makes room every one completes, each queue's in order. */
START_TEST(test_staged_mix)
{
  const uint64_t limit = 32 << 10;
  mrlog_policy pol = quota_policy(_i, limit, 0);
  mrlog_future *fa[3], *fb[3];
  struct truncator tr;
  uint64_t next, pos;
  pthread_t th;
  mrlog *log;
  int k;

  log = th_open(th_dir, &pol);
  ck_assert_int_eq(th_create(log, "a"), 0);
  ck_assert_int_eq(th_create(log, "b"), 0);
  fill(log, "a", limit);
  next = th_info(log, "a").next_position;
  for (k = 0; k < 3; k++) {
    fa[k] = mrlog_append(log, "a", NULL, payload, REC, NULL, NULL);
    fb[k] = mrlog_append(log, "b", NULL, payload, 10, NULL, NULL);
    ck_assert(fa[k] != NULL && fb[k] != NULL);
  }
  ck_assert_int_eq(th_sync(log), 0);
  for (k = 0; k < 3; k++)
    ck_assert_msg(!mrlog_ready(fa[k]), "append %d past the quota completed",
                  k);
  tr = (struct truncator){ log, "a", next - 1, -1 };
  ck_assert_int_eq(pthread_create(&th, NULL, truncate_main, &tr), 0);
  for (k = 0; k < 3; k++) {
    ck_assert_int_eq(th_wait(fa[k], &pos), 0);
    ck_assert_uint_eq(pos, next + (uint64_t)k);
    ck_assert_int_eq(th_wait(fb[k], &pos), 0);
    ck_assert_uint_eq(pos, (uint64_t)k);
  }
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  ck_assert_int_eq(tr.status, 0);
  ck_assert_int_eq(th_stats(log).failed, 0);
  th_close(log);
}
END_TEST

struct racer {
  mrlog *log;
  atomic_bool done;
  int truncations;
  int errors;
  uint64_t most;       /* the largest memory_bytes seen */
};

static void *
race_truncate_main(void *arg)
{
  struct racer *r = arg;

  while (!atomic_load(&r->done)) {
    struct mrlog_queue_info info = th_info(r->log, "a");

    if (info.memory_bytes > r->most)
      r->most = info.memory_bytes;
    if (info.records > 0) {
      if (th_truncate(r->log, "a", info.next_position - 1) != 0)
        r->errors++;
      r->truncations++;
    }
  }
  return NULL;
}

/* Quota against truncation: a producer appends far more than the quota
 * while another thread truncates what it finds; every append completes,
 * in order, and the queue stays near its quota. */
START_TEST(test_quota_truncation_race)
{
  const uint64_t limit = 16 << 10;
  mrlog_policy pol = quota_policy(0, limit, 0);
  int n = (int)th_scaled(3000), k;
  struct racer r;
  mrlog_future **f = calloc((size_t)n, sizeof(*f));
  uint64_t pos, last = 0;
  pthread_t th;
  mrlog *log;

  ck_assert_ptr_nonnull(f);
  log = th_open(th_dir, &pol);
  ck_assert_int_eq(th_create(log, "a"), 0);
  r.log = log;
  atomic_init(&r.done, false);
  r.truncations = r.errors = 0;
  r.most = 0;
  ck_assert_int_eq(pthread_create(&th, NULL, race_truncate_main, &r), 0);
  for (k = 0; k < n; k++) {
    f[k] = mrlog_append(log, "a", NULL, payload, REC, NULL, NULL);
    ck_assert_ptr_nonnull(f[k]);
  }
  for (k = 0; k < n; k++) {
    th_req_int_eq(th_wait(f[k], &pos), 0);
    if (k > 0)
      th_req(pos > last);
    last = pos;
  }
  atomic_store(&r.done, true);
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  ck_assert_int_eq(r.errors, 0);
  ck_assert_int_gt(r.truncations, 0);
  /* The queue reached its quota and stayed within it, but for what it
   * allocates ahead of its records (its newest chunk's unused room, at
   * least 1 KiB, and its rings' doubling). */
  ck_assert_uint_ge(r.most, limit / 2);
  ck_assert_uint_le(r.most, limit + limit / 4);
  ck_assert_int_eq(th_stats(log).failed, 0);
  th_close(log);
  free(f);
}
END_TEST

/* block_timeout_ms bounds the wait: then MRLOG_EFULL, and the log goes
 * on. */
START_TEST(test_block_timeout)
{
  const uint64_t limit = 32 << 10;
  mrlog_policy pol = quota_policy(0, limit, 0);
  uint64_t next;
  mrlog *log;

  pol.block_timeout_ms = 50;
  log = th_open(th_dir, &pol);
  ck_assert_int_eq(th_create(log, "a"), 0);
  fill(log, "a", limit);
  next = th_info(log, "a").next_position;
  ck_assert_int_eq(th_append(log, "a", NULL, payload, REC, NULL),
                   MRLOG_EFULL);
  ck_assert_int_eq(th_append(log, "a", NULL, payload, REC, NULL),
                   MRLOG_EFULL);
  ck_assert_uint_eq(th_info(log, "a").next_position, next);
  ck_assert_int_eq(th_truncate(log, "a", next - 1), 0);
  ck_assert_int_eq(th_append(log, "a", NULL, payload, REC, NULL), 0);
  ck_assert_int_eq(th_stats(log).failed, 0);
  th_close(log);
}
END_TEST

/* An append larger than the quota on its own can never fit: MRLOG_EFULL
 * at once, even in blocking mode without a timeout. */
START_TEST(test_larger_than_quota)
{
  mrlog_policy pol = quota_policy(0, 4096, 0);
  mrlog *log;

  log = th_open(th_dir, &pol);
  ck_assert_int_eq(th_create(log, "a"), 0);
  ck_assert_int_eq(th_append(log, "a", NULL, payload, 4096, NULL),
                   MRLOG_EFULL);
  ck_assert_int_eq(th_append(log, "a", NULL, payload, 100, NULL), 0);
  ck_assert_int_eq(th_stats(log).failed, 0);
  th_close(log);
}
END_TEST

static void
note_status(void *arg, int status, uint64_t position)
{
  (void)position;
  *(int *)arg = status;
}

/* Held-back appends complete with MRLOG_EFULL when their queue is
 * deleted (ahead of the delete) and when the log closes. */
START_TEST(test_parked_at_delete_and_close)
{
  const uint64_t limit = 16 << 10;
  mrlog_policy pol = quota_policy(0, limit, 0);
  int at_close = 1;
  mrlog_future *f;
  mrlog *log;

  log = th_open(th_dir, &pol);
  ck_assert_int_eq(th_create(log, "a"), 0);
  fill(log, "a", limit);
  f = mrlog_append(log, "a", NULL, payload, REC, NULL, NULL);
  ck_assert_int_eq(th_sync(log), 0);
  ck_assert(!mrlog_ready(f));
  ck_assert_int_eq(th_delete(log, "a"), 0);
  ck_assert_int_eq(th_wait(f, NULL), MRLOG_EFULL);

  ck_assert_int_eq(th_create(log, "a"), 0);
  fill(log, "a", limit);
  mrlog_forget(mrlog_append(log, "a", NULL, payload, REC, note_status,
                            &at_close));
  ck_assert_int_eq(th_sync(log), 0);
  ck_assert_int_eq(at_close, 1);
  th_close(log);
  ck_assert_int_eq(at_close, MRLOG_EFULL);
}
END_TEST

static bool segments_deleted(void *arg) {
  return th_stats(arg).segments_deleted > 0;
}

/* disk_limit: appends are held back once the segment files reach it;
 * truncating lets the cleaner delete files, which lets them go on.  The
 * cleaner takes a file out of the log's accounting before it unlinks it
 * and counts it (stats.segments_deleted) after: an append the room lets
 * through may complete before the count moves, so it is polled. */
START_TEST(test_disk_limit_released_by_deletion)
{
  const uint64_t limit = 48 << 10;
  mrlog_policy pol = quota_policy(_i, 0, limit);
  mrlog_future *f = NULL, *g;
  uint64_t pos, next;
  struct mrlog_stats st;
  mrlog *log;
  int k;

  pol.segment_bytes = 4096;
  log = th_open(th_dir, &pol);
  ck_assert_int_eq(th_create(log, "a"), 0);
  ck_assert_int_eq(th_create(log, "b"), 0);
  /* Four times what fits, at most (each append writes about 200 bytes). */
  for (k = 0; k < (int)(4 * limit / 200); k++) {
    f = mrlog_append(log, k % 2 ? "a" : "b", NULL, payload, 200, NULL, NULL);
    ck_assert_int_eq(th_sync(log), 0);
    if (!mrlog_ready(f))
      break; /* held back: the sync after it completed first */
    ck_assert_int_eq(th_wait(f, NULL), 0);
  }
  ck_assert_msg(k < (int)(4 * limit / 200),
                "%d appends of 200 bytes passed a disk_limit of %ju", k,
                (uintmax_t)limit);
  st = th_stats(log);
  ck_assert_uint_le(st.disk_bytes, limit);
  ck_assert_uint_ge(st.disk_bytes, limit / 2);
  /* Every append waits behind it, whatever its queue. */
  g = mrlog_append(log, k % 2 ? "b" : "a", NULL, payload, 10, NULL, NULL);
  ck_assert_int_eq(th_sync(log), 0);
  ck_assert(!mrlog_ready(f) && !mrlog_ready(g));

  next = th_info(log, "a").next_position;
  ck_assert_int_eq(th_truncate(log, "a", next - 1), 0);
  next = th_info(log, "b").next_position;
  ck_assert_int_eq(th_truncate(log, "b", next - 1), 0);
  ck_assert_int_eq(th_wait(f, &pos), 0);
  ck_assert_int_eq(th_wait(g, NULL), 0);
  ck_assert_msg(th_poll(segments_deleted, log, 30000),
                "appends went on, but no segment file was deleted");
  st = th_stats(log);
  ck_assert_uint_le(st.disk_bytes, limit);
  ck_assert_int_eq(st.failed, 0);
  th_close(log);
}
END_TEST

Suite *
make_quota_suite(void)
{
  Suite *s = suite_create("quota");
  TCase *tc = tcase_create("quota");

  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_loop_test(tc, test_memory_bytes_is_charge, 0, 2);
  tcase_add_loop_test(tc, test_nonblocking_efull, 0, 2);
  tcase_add_loop_test(tc, test_blocking_released_by_truncation, 0, 2);
  tcase_add_loop_test(tc, test_staged_mix, 0, 2);
  tcase_add_test(tc, test_quota_truncation_race);
  tcase_add_test(tc, test_block_timeout);
  tcase_add_test(tc, test_larger_than_quota);
  tcase_add_test(tc, test_parked_at_delete_and_close);
  tcase_add_loop_test(tc, test_disk_limit_released_by_deletion, 0, 2);
  suite_add_tcase(s, tc);
  return s;
}

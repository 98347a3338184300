/*
 * test_consumer.c -- named consumers and their committed positions
 * (mrlog_commit, mrlog_committed, mrlog_remove_consumer,
 * mrlog_list_consumers; lib/consumer.c, workers/writer_commit.c): every
 * status, the forward-only rule, persistence across reopen and rotation
 * (the checkpoint carries them), queue deletion, truncate_on_commit, and
 * the checkpoint bound.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_mrlog.h"
#include "crc32c.h"
#include "format.h"

static int
commit(mrlog *log, const char *q, const char *c, uint64_t pos, uint64_t *rep)
{
  return th_wait(mrlog_commit(log, q, c, pos, NULL, NULL), rep);
}

static int
uncommit(mrlog *log, const char *q, const char *c, uint64_t *rep)
{
  return th_wait(mrlog_remove_consumer(log, q, c, NULL, NULL), rep);
}

/* The committed position, asserting it exists. */
static uint64_t
committed(mrlog *log, const char *q, const char *c)
{
  uint64_t pos = UINT64_MAX;
  int rc = mrlog_committed(log, q, c, &pos);

  ck_assert_msg(rc == 0, "mrlog_committed(%s, %s) = %d", q, c, rc);
  return pos;
}

static bool
gone(void *path)
{
  return access(path, F_OK) != 0;
}

static void
append_n(mrlog *log, const char *q, int n)
{
  int i;

  for (i = 0; i < n; i++)
    ck_assert_int_eq(th_append_str(log, q, "record", NULL), 0);
}

struct seen {
  int calls;
  int stop_at;   /* return 7 on this call (1-based); 0: never */
  uint64_t sum;  /* of the positions */
  char names[8][16];
};

static int
visit(void *arg, const char *consumer, uint64_t position)
{
  struct seen *s = arg;

  if (s->calls < 8)
    snprintf(s->names[s->calls], sizeof(s->names[0]), "%s", consumer);
  s->calls++;
  s->sum += position;
  return s->calls == s->stop_at ? 7 : 0;
}

START_TEST(test_statuses)
{
  mrlog *log = th_open(th_dir, NULL);
  char long_name[MRLOG_QUEUE_NAME_MAX + 2];
  struct seen s = { 0 };
  uint64_t pos = 42;

  memset(long_name, 'x', sizeof(long_name) - 1);
  long_name[sizeof(long_name) - 1] = '\0';
  /* No queue. */
  ck_assert_int_eq(commit(log, "q", "c", 1, NULL), MRLOG_ENOQUEUE);
  ck_assert_int_eq(mrlog_committed(log, "q", "c", &pos), MRLOG_ENOQUEUE);
  ck_assert_int_eq(uncommit(log, "q", "c", NULL), MRLOG_ENOQUEUE);
  ck_assert_int_eq(mrlog_list_consumers(log, "q", visit, &s), MRLOG_ENOQUEUE);
  ck_assert_int_eq(th_create(log, "q"), 0);
  /* No consumer. */
  ck_assert_int_eq(mrlog_committed(log, "q", "c", &pos), MRLOG_ENODATA);
  ck_assert_uint_eq(pos, 42);
  ck_assert_int_eq(uncommit(log, "q", "c", NULL), MRLOG_ENODATA);
  ck_assert_int_eq(mrlog_list_consumers(log, "q", visit, &s), 0);
  ck_assert_int_eq(s.calls, 0);
  /* Bad arguments. */
  ck_assert_int_eq(commit(log, "q", NULL, 1, NULL), MRLOG_EINVAL);
  ck_assert_int_eq(commit(log, "q", "", 1, NULL), MRLOG_EINVAL);
  ck_assert_int_eq(commit(log, "q", long_name, 1, NULL), MRLOG_EINVAL);
  ck_assert_int_eq(commit(log, NULL, "c", 1, NULL), MRLOG_EINVAL);
  ck_assert_int_eq(commit(NULL, "q", "c", 1, NULL), MRLOG_EINVAL);
  ck_assert_int_eq(uncommit(log, "q", "", NULL), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_committed(log, "q", "c", NULL), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_committed(log, "q", "", &pos), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_committed(NULL, "q", "c", &pos), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_list_consumers(log, "q", NULL, NULL), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_list_consumers(NULL, "q", visit, &s), MRLOG_EINVAL);
  /* A commit; the forward-only rule. */
  append_n(log, "q", 5);
  ck_assert_int_eq(commit(log, "q", "c", 3, &pos), 0);
  ck_assert_uint_eq(pos, 3);
  ck_assert_uint_eq(committed(log, "q", "c"), 3);
  ck_assert_int_eq(commit(log, "q", "c", 3, &pos), MRLOG_DUPLICATE);
  ck_assert_uint_eq(pos, 3);
  ck_assert_int_eq(commit(log, "q", "c", 1, &pos), MRLOG_DUPLICATE);
  ck_assert_uint_eq(pos, 3);
  ck_assert_uint_eq(committed(log, "q", "c"), 3);
  ck_assert_int_eq(commit(log, "q", "c", 5, &pos), 0);
  ck_assert_uint_eq(committed(log, "q", "c"), 5);
  /* Position 0 makes a consumer too; then it can only move on. */
  ck_assert_int_eq(commit(log, "q", "d", 0, NULL), 0);
  ck_assert_uint_eq(committed(log, "q", "d"), 0);
  ck_assert_int_eq(commit(log, "q", "d", 0, NULL), MRLOG_DUPLICATE);
  /* Without truncate_on_commit, nothing is truncated. */
  ck_assert_uint_eq(th_info(log, "q").records, 5);
  /* Listing, and a visitor that stops. */
  ck_assert_int_eq(mrlog_list_consumers(log, "q", visit, &s), 0);
  ck_assert_int_eq(s.calls, 2);
  ck_assert_uint_eq(s.sum, 5);
  memset(&s, 0, sizeof(s));
  s.stop_at = 1;
  ck_assert_int_eq(mrlog_list_consumers(log, "q", visit, &s), 7);
  ck_assert_int_eq(s.calls, 1);
  /* Removal: reported position is the committed one. */
  ck_assert_int_eq(uncommit(log, "q", "c", &pos), 0);
  ck_assert_uint_eq(pos, 5);
  ck_assert_int_eq(mrlog_committed(log, "q", "c", &pos), MRLOG_ENODATA);
  ck_assert_int_eq(uncommit(log, "q", "c", NULL), MRLOG_ENODATA);
  /* A removed consumer starts again at its next commit. */
  ck_assert_int_eq(commit(log, "q", "c", 1, NULL), 0);
  ck_assert_uint_eq(committed(log, "q", "c"), 1);
  ck_assert_int_eq(th_stats(log).failed, 0);
  th_close(log);
  /* A closed log. */
  ck_assert_int_eq(mrlog_committed(log, "q", "c", &pos), MRLOG_EINVAL);
}
END_TEST

/* Consumers of two queues are independent; the same name in both. */
START_TEST(test_queues_independent)
{
  mrlog *log = th_open(th_dir, NULL);

  ck_assert_int_eq(th_create(log, "a"), 0);
  ck_assert_int_eq(th_create(log, "b"), 0);
  ck_assert_int_eq(commit(log, "a", "c", 10, NULL), 0);
  ck_assert_int_eq(commit(log, "b", "c", 20, NULL), 0);
  ck_assert_uint_eq(committed(log, "a", "c"), 10);
  ck_assert_uint_eq(committed(log, "b", "c"), 20);
  th_close(log);
}
END_TEST

START_TEST(test_persist_reopen)
{
  mrlog *log = th_open(th_dir, NULL);
  struct seen s = { 0 };
  uint64_t pos;

  ck_assert_int_eq(th_create(log, "q"), 0);
  append_n(log, "q", 10);
  ck_assert_int_eq(commit(log, "q", "one", 4, NULL), 0);
  ck_assert_int_eq(commit(log, "q", "two", 7, NULL), 0);
  ck_assert_int_eq(commit(log, "q", "gone", 9, NULL), 0);
  ck_assert_int_eq(commit(log, "q", "one", 6, NULL), 0);
  ck_assert_int_eq(uncommit(log, "q", "gone", NULL), 0);
  th_close(log);

  log = th_open(th_dir, NULL);
  ck_assert_uint_eq(committed(log, "q", "one"), 6);
  ck_assert_uint_eq(committed(log, "q", "two"), 7);
  ck_assert_int_eq(mrlog_committed(log, "q", "gone", &pos), MRLOG_ENODATA);
  ck_assert_int_eq(mrlog_list_consumers(log, "q", visit, &s), 0);
  ck_assert_int_eq(s.calls, 2);
  /* The forward-only rule holds after reopen. */
  ck_assert_int_eq(commit(log, "q", "two", 7, NULL), MRLOG_DUPLICATE);
  th_close(log);

  /* And a second reopen replays the checkpoint the first one wrote. */
  log = th_open(th_dir, NULL);
  ck_assert_uint_eq(committed(log, "q", "one"), 6);
  ck_assert_uint_eq(committed(log, "q", "two"), 7);
  th_close(log);
}
END_TEST

/* A read-only log reads consumers and refuses commits. */
START_TEST(test_read_only)
{
  mrlog *log = th_open(th_dir, NULL);
  mrlog_policy p = th_policy();

  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(commit(log, "q", "c", 4, NULL), 0);
  th_close(log);
  p.read_only = 1;
  log = th_open(th_dir, &p);
  ck_assert_uint_eq(committed(log, "q", "c"), 4);
  ck_assert_int_eq(commit(log, "q", "c", 5, NULL), MRLOG_EINVAL);
  ck_assert_int_eq(uncommit(log, "q", "c", NULL), MRLOG_EINVAL);
  ck_assert_uint_eq(committed(log, "q", "c"), 4);
  th_close(log);
}
END_TEST

/* Segments are version 4 (an older library refuses them). */
START_TEST(test_segments_are_version_4)
{
  mrlog *log = th_open(th_dir, NULL);
  char *seg;
  unsigned char *data;
  size_t len;

  th_close(log);
  seg = th_last_segment(th_dir);
  data = th_read_file(seg, &len);
  ck_assert_uint_ge(len, 32);
  ck_assert_uint_eq(mrlog__get_u32le(data + 8), 4);
  ck_assert_int_eq(MRLOG_FORMAT_VERSION_CURRENT, 4);
  free(data);
  free(seg);
}
END_TEST

/* The checkpoint carries the consumers: once every segment that held the
 * COMMIT operations is deleted, a reopen still has them. */
START_TEST(test_persist_rotation)
{
  mrlog_policy p = th_policy();
  mrlog *log;
  char *first;
  int i;

  p.segment_bytes = 4096;
  log = th_open(th_dir, &p);
  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(th_create(log, "keep"), 0);
  ck_assert_int_eq(commit(log, "q", "reader", 1000, NULL), 0);
  ck_assert_int_eq(commit(log, "keep", "r2", 5, NULL), 0);
  ck_assert_int_eq(uncommit(log, "keep", "r2", NULL), 0);
  ck_assert_int_eq(commit(log, "keep", "r3", 6, NULL), 0);
  first = th_first_segment(th_dir);
  /* Fill and truncate until the first segment is gone. */
  for (i = 0; i < 400; i++) {
    char buf[200];
    memset(buf, 'a' + i % 26, sizeof(buf));
    ck_assert_int_eq(th_append(log, "q", NULL, buf, sizeof(buf), NULL), 0);
    ck_assert_int_eq(th_truncate(log, "q", (uint64_t)i), 0);
  }
  ck_assert_int_eq(th_sync(log), 0);
  ck_assert(th_poll(gone, first, 10000));
  th_close(log);

  log = th_open(th_dir, &p);
  ck_assert_uint_eq(committed(log, "q", "reader"), 1000);
  ck_assert_uint_eq(committed(log, "keep", "r3"), 6);
  ck_assert_int_eq(mrlog_committed(log, "keep", "r2", &(uint64_t){ 0 }),
                   MRLOG_ENODATA);
  th_close(log);
  free(first);
}
END_TEST

START_TEST(test_delete_queue_removes_consumers)
{
  mrlog *log = th_open(th_dir, NULL);
  uint64_t pos;

  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(commit(log, "q", "c", 3, NULL), 0);
  ck_assert_int_eq(th_delete(log, "q"), 0);
  ck_assert_int_eq(mrlog_committed(log, "q", "c", &pos), MRLOG_ENOQUEUE);
  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(mrlog_committed(log, "q", "c", &pos), MRLOG_ENODATA);
  /* The new queue's consumer starts afresh: a lower position is new. */
  ck_assert_int_eq(commit(log, "q", "c", 1, NULL), 0);
  th_close(log);
  log = th_open(th_dir, NULL);
  ck_assert_uint_eq(committed(log, "q", "c"), 1);
  th_close(log);
}
END_TEST

static mrlog_policy
truncating(void)
{
  mrlog_policy p = th_policy();

  p.truncate_on_commit = 1;
  return p;
}

START_TEST(test_truncate_one_consumer)
{
  mrlog_policy p = truncating();
  mrlog *log = th_open(th_dir, &p);

  ck_assert_int_eq(th_create(log, "q"), 0);
  append_n(log, "q", 10);
  ck_assert_int_eq(commit(log, "q", "c", 4, NULL), 0);
  /* Records 0..3 were processed: gone. */
  ck_assert_uint_eq(th_info(log, "q").first_position, 4);
  ck_assert_uint_eq(th_info(log, "q").records, 6);
  ck_assert_uint_eq(th_info(log, "q").next_position, 10);
  ck_assert_int_eq(commit(log, "q", "c", 10, NULL), 0);
  ck_assert_uint_eq(th_info(log, "q").records, 0);
  ck_assert_uint_eq(th_info(log, "q").next_position, 10);
  append_n(log, "q", 2);
  ck_assert_uint_eq(th_info(log, "q").records, 2);
  th_close(log);
  /* The truncations are on disk. */
  log = th_open(th_dir, &p);
  ck_assert_uint_eq(th_info(log, "q").first_position, 10);
  ck_assert_uint_eq(th_info(log, "q").records, 2);
  th_close(log);
}
END_TEST

START_TEST(test_truncate_slowest_decides)
{
  mrlog_policy p = truncating();
  mrlog *log = th_open(th_dir, &p);

  ck_assert_int_eq(th_create(log, "q"), 0);
  append_n(log, "q", 20);
  ck_assert_int_eq(commit(log, "q", "fast", 15, NULL), 0);
  ck_assert_uint_eq(th_info(log, "q").first_position, 15);
  /* A consumer added later starts at its first commit: it cannot bring
   * back what is gone, and it now holds the queue back. */
  ck_assert_int_eq(commit(log, "q", "slow", 3, NULL), 0);
  ck_assert_uint_eq(th_info(log, "q").first_position, 15);
  ck_assert_int_eq(commit(log, "q", "slow", 16, NULL), 0);
  ck_assert_uint_eq(th_info(log, "q").first_position, 15);
  ck_assert_int_eq(commit(log, "q", "fast", 18, NULL), 0);
  ck_assert_uint_eq(th_info(log, "q").first_position, 16);
  ck_assert_int_eq(commit(log, "q", "third", 17, NULL), 0);
  ck_assert_int_eq(commit(log, "q", "slow", 19, NULL), 0);
  ck_assert_uint_eq(th_info(log, "q").first_position, 17);
  /* Removing the slowest lets the others' minimum through. */
  ck_assert_int_eq(uncommit(log, "q", "third", NULL), 0);
  ck_assert_uint_eq(th_info(log, "q").first_position, 18);
  /* Removing the last ones truncates nothing more. */
  ck_assert_int_eq(uncommit(log, "q", "fast", NULL), 0);
  ck_assert_uint_eq(th_info(log, "q").first_position, 19);
  ck_assert_int_eq(uncommit(log, "q", "slow", NULL), 0);
  ck_assert_uint_eq(th_info(log, "q").first_position, 19);
  ck_assert_uint_eq(th_info(log, "q").records, 1);
  ck_assert_int_eq(th_stats(log).failed, 0);
  th_close(log);
  log = th_open(th_dir, &p);
  ck_assert_uint_eq(th_info(log, "q").first_position, 19);
  th_close(log);
}
END_TEST

/* A new consumer whose name would take the checkpoint past its bound is
 * refused with MRLOG_EINVAL; commits of existing consumers go on. */
START_TEST(test_checkpoint_bound)
{
  mrlog *log = th_open(th_dir, NULL);
  char name[128];
  int i, rc = 0, n = 0;

  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(commit(log, "q", "first", 1, NULL), 0);
  mrlog__checkpoint_max = 4096;
  for (i = 0; i < 1000; i++) {
    snprintf(name, sizeof(name), "consumer-%04d-%080d", i, 0);
    rc = commit(log, "q", name, 1, NULL);
    if (rc != 0)
      break;
    n++;
  }
  ck_assert_int_eq(rc, MRLOG_EINVAL);
  ck_assert_int_gt(n, 10);
  ck_assert_int_lt(n, 60);
  ck_assert_int_eq(commit(log, "q", "first", 2, NULL), 0);
  /* A removal of a consumer with as long a name makes room for one. */
  snprintf(name, sizeof(name), "consumer-%04d-%080d", 0, 0);
  ck_assert_int_eq(uncommit(log, "q", name, NULL), 0);
  snprintf(name, sizeof(name), "consumer-%04d-%080d", i, 0);
  ck_assert_int_eq(commit(log, "q", name, 1, NULL), 0);
  ck_assert_int_eq(commit(log, "q", "x-another", 1, NULL), MRLOG_EINVAL);
  ck_assert_int_eq(th_stats(log).failed, 0);
  th_close(log);
  log = th_open(th_dir, NULL);
  ck_assert_uint_eq(committed(log, "q", name), 1);
  th_close(log);
}
END_TEST

/* Threads commit one consumer concurrently, each its own increasing
 * positions: every call completes once, with 0 or MRLOG_DUPLICATE, the
 * result is the largest position, and every status-0 commit raised it. */
#define RACE_THREADS 4
#define RACE_COMMITS 250

struct racer {
  mrlog *log;
  int index;
  struct th_counter *counter;
  pthread_barrier_t *start;
};

static void *
race_main(void *arg)
{
  struct racer *r = arg;
  int i;

  pthread_barrier_wait(r->start);
  for (i = 0; i < RACE_COMMITS; i++)
    mrlog_forget(mrlog_commit(r->log, "q", "c",
                              (uint64_t)i * RACE_THREADS + (uint64_t)r->index
                                  + 1,
                              th_counter_cb, r->counter));
  return NULL;
}

START_TEST(test_concurrent_commits)
{
  mrlog *log = th_open(th_dir, NULL);
  struct racer r[RACE_THREADS];
  pthread_t tid[RACE_THREADS];
  pthread_barrier_t start;
  struct th_counter counter;
  int i;

  th_counter_init(&counter);
  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(pthread_barrier_init(&start, NULL, RACE_THREADS), 0);
  for (i = 0; i < RACE_THREADS; i++) {
    r[i] = (struct racer){ log, i, &counter, &start };
    ck_assert_int_eq(pthread_create(&tid[i], NULL, race_main, &r[i]), 0);
  }
  for (i = 0; i < RACE_THREADS; i++)
    pthread_join(tid[i], NULL);
  ck_assert(th_counter_wait(&counter, RACE_THREADS * RACE_COMMITS, 20000));
  ck_assert_int_eq(atomic_load(&counter.ok) + atomic_load(&counter.dup),
                   RACE_THREADS * RACE_COMMITS);
  ck_assert_int_ge(atomic_load(&counter.ok), 1); /* the largest, at least */
  ck_assert_uint_eq(committed(log, "q", "c"), RACE_THREADS * RACE_COMMITS);
  th_close(log);
  log = th_open(th_dir, NULL);
  ck_assert_uint_eq(committed(log, "q", "c"), RACE_THREADS * RACE_COMMITS);
  th_close(log);
  pthread_barrier_destroy(&start);
}
END_TEST

/* ---- Byte-built segments: the format rules --------------------------- */

static void
put_name(struct mrlog__buf *b, const char *name)
{
  size_t n = strlen(name);

  mrlog__buf_put_varint(b, n);
  memcpy(b->data + b->len, name, n);
  b->len += n;
}

/* Appends a frame with body b to the file of segment segno being built
 * in f. */
static void
put_frame_at(struct mrlog__buf *f, uint64_t segno, const struct mrlog__buf *b)
{
  uint32_t off = (uint32_t)f->len;

  ck_assert_int_eq(mrlog__buf_reserve(f, MRLOG_FRAME_HEADER_SIZE + b->len), 0);
  memcpy(f->data + off + MRLOG_FRAME_HEADER_SIZE, b->data, b->len);
  /* synced = off: everything before was durable. */
  mrlog__frame_header_encode(f->data + off, segno, off, (uint32_t)b->len,
                             off);
  f->len += MRLOG_FRAME_HEADER_SIZE + b->len;
}

static void
put_frame(struct mrlog__buf *f, const struct mrlog__buf *b)
{
  put_frame_at(f, 1, b);
}

/* Writes segment 1 of format `version`: a checkpoint listing queue "q"
 * (id 0, floor 0, next 3; in version 4 with `consumers` as its consumer
 * count and no consumer after it unless the body says so), then a frame
 * holding `ops` (n bytes) if n > 0. */
static void
write_segment(uint32_t version, int consumers, const uint8_t *ops, size_t n)
{
  struct mrlog__buf f = { 0 }, b = { 0 };
  char *path = th_path(th_dir, "0000000000000001.mrlog");

  ck_assert_int_eq(mrlog__buf_reserve(&f, 4096), 0);
  ck_assert_int_eq(mrlog__buf_reserve(&b, 4096), 0);
  mrlog__file_header_encode(f.data, 1);
  mrlog__put_u32le(f.data + 8, version);
  mrlog__put_u32le(f.data + 28, mrlog__crc32c(f.data, 28));
  f.len = MRLOG_FILE_HEADER_SIZE;
  mrlog__buf_put_u8(&b, MRLOG_OP_CHECKPOINT);
  mrlog__buf_put_varint(&b, 1); /* next_queue_id */
  mrlog__buf_put_varint(&b, 1); /* n */
  mrlog__buf_put_varint(&b, 0); /* id */
  put_name(&b, "q");
  mrlog__buf_put_varint(&b, 0); /* floor */
  mrlog__buf_put_varint(&b, 3); /* next */
  if (consumers >= 0)
    mrlog__buf_put_varint(&b, (uint64_t)consumers);
  if (consumers > 0) {
    put_name(&b, "listed");
    mrlog__buf_put_varint(&b, 2);
  }
  put_frame(&f, &b);
  if (n > 0) {
    b.len = 0;
    memcpy(b.data, ops, n);
    b.len = n;
    put_frame(&f, &b);
  }
  th_write_file(path, f.data, f.len);
  mrlog__buf_free(&f);
  mrlog__buf_free(&b);
  free(path);
}

static int
open_status(void)
{
  mrlog_policy p = th_policy();
  mrlog *log = NULL;
  int rc = mrlog_open(th_dir, &p, &log);

  if (rc == 0)
    th_close(log);
  return rc;
}

/* COMMIT "c" of queue 0 at 5, then at 5 again (not advancing), UNCOMMIT
 * of "c", UNCOMMIT of "nobody": op bytes. */
static const uint8_t commit5[] = { 8, 0, 1, 'c', 5 };
static const uint8_t commit5twice[] = { 8, 0, 1, 'c', 5, 8, 0, 1, 'c', 5 };
static const uint8_t commit5_uncommit[] = { 8, 0, 1, 'c', 5, 9, 0, 1, 'c' };
static const uint8_t uncommit_nobody[] = { 9, 0, 6, 'n', 'o', 'b', 'o',
                                           'd', 'y' };

/* Writes segment segno (version 4): a checkpoint listing queue "q" (id 0,
 * floor 0, next 3) with consumer "c" at listed_c unless it is UINT64_MAX,
 * then a frame holding ops (n bytes) if n > 0, then a seal if sealed. */
static void
write_segment_at(uint64_t segno, uint64_t listed_c, const uint8_t *ops,
                 size_t n, bool sealed)
{
  struct mrlog__buf f = { 0 }, b = { 0 };
  char name[MRLOG_SEGMENT_NAME_LEN + 1];
  char *path;
  uint32_t off;

  snprintf(name, sizeof(name), "%016llx.mrlog", (unsigned long long)segno);
  path = th_path(th_dir, name);
  ck_assert_int_eq(mrlog__buf_reserve(&f, 4096), 0);
  ck_assert_int_eq(mrlog__buf_reserve(&b, 4096), 0);
  mrlog__file_header_encode(f.data, segno);
  f.len = MRLOG_FILE_HEADER_SIZE;
  mrlog__buf_put_u8(&b, MRLOG_OP_CHECKPOINT);
  mrlog__buf_put_varint(&b, 1); /* next_queue_id */
  mrlog__buf_put_varint(&b, 1); /* n */
  mrlog__buf_put_varint(&b, 0); /* id */
  put_name(&b, "q");
  mrlog__buf_put_varint(&b, 0); /* floor */
  mrlog__buf_put_varint(&b, 3); /* next */
  mrlog__buf_put_varint(&b, listed_c != UINT64_MAX);
  if (listed_c != UINT64_MAX) {
    put_name(&b, "c");
    mrlog__buf_put_varint(&b, listed_c);
  }
  put_frame_at(&f, segno, &b);
  if (n > 0) {
    memcpy(b.data, ops, n);
    b.len = n;
    put_frame_at(&f, segno, &b);
  }
  if (sealed) {
    off = (uint32_t)f.len;
    ck_assert_int_eq(mrlog__buf_reserve(&f, MRLOG_SEAL_FRAME_MAX), 0);
    f.len += mrlog__seal_encode(f.data + off, segno, off);
  }
  th_write_file(path, f.data, f.len);
  mrlog__buf_free(&f);
  mrlog__buf_free(&b);
  free(path);
}

/* A checkpoint states the consumers as they were: a consumer removed and
 * committed again lower, in a segment since deleted, takes the listed
 * position, not the higher one an older surviving segment holds. */
START_TEST(test_checkpoint_position_is_authoritative)
{
  static const uint8_t commit9[] = { 8, 0, 1, 'c', 9 };
  mrlog *log;

  /* Segment 1 survives (it would hold retained records) with c at 9;
   * segment 2 (removal, commit at 2) is gone; segment 3 lists c at 2. */
  write_segment_at(1, UINT64_MAX, commit9, sizeof(commit9), true);
  write_segment_at(3, 2, NULL, 0, false);
  log = th_open(th_dir, NULL);
  ck_assert_uint_eq(committed(log, "q", "c"), 2);
  th_close(log);
  log = th_open(th_dir, NULL);
  ck_assert_uint_eq(committed(log, "q", "c"), 2);
  th_close(log);
}
END_TEST

START_TEST(test_format_rules)
{
  mrlog *log;
  uint64_t pos;

  /* Version 4: a commit replays; the checkpoint's list is read. */
  write_segment(4, 1, commit5, sizeof(commit5));
  log = th_open(th_dir, NULL);
  ck_assert_uint_eq(committed(log, "q", "c"), 5);
  ck_assert_uint_eq(committed(log, "q", "listed"), 2);
  th_close(log);
  /* The new segment's checkpoint carries both. */
  log = th_open(th_dir, NULL);
  ck_assert_uint_eq(committed(log, "q", "c"), 5);
  ck_assert_uint_eq(committed(log, "q", "listed"), 2);
  th_close(log);
  th_rmrf(th_dir);
  ck_assert_int_eq(mkdir(th_dir, 0755), 0);

  /* A commit that does not advance, a removal of a consumer that does not
   * exist, a COMMIT in a version 3 segment: corrupt. */
  write_segment(4, 0, commit5twice, sizeof(commit5twice));
  ck_assert_int_eq(open_status(), MRLOG_ECORRUPT);
  write_segment(4, 0, uncommit_nobody, sizeof(uncommit_nobody));
  ck_assert_int_eq(open_status(), MRLOG_ECORRUPT);
  write_segment(3, -1, commit5, sizeof(commit5));
  ck_assert_int_eq(open_status(), MRLOG_ECORRUPT);
  /* A version 4 checkpoint entry without its consumer count: corrupt. */
  write_segment(4, -1, NULL, 0);
  ck_assert_int_eq(open_status(), MRLOG_ECORRUPT);

  /* A removal replays. */
  write_segment(4, 0, commit5_uncommit, sizeof(commit5_uncommit));
  log = th_open(th_dir, NULL);
  ck_assert_int_eq(mrlog_committed(log, "q", "c", &pos), MRLOG_ENODATA);
  th_close(log);
  th_rmrf(th_dir);
  ck_assert_int_eq(mkdir(th_dir, 0755), 0);

  /* A version 3 segment (no consumer lists) is read, and the log then
   * takes commits. */
  write_segment(3, -1, NULL, 0);
  log = th_open(th_dir, NULL);
  ck_assert_uint_eq(th_info(log, "q").next_position, 3);
  ck_assert_int_eq(commit(log, "q", "c", 1, NULL), 0);
  th_close(log);
  log = th_open(th_dir, NULL);
  ck_assert_uint_eq(committed(log, "q", "c"), 1);
  th_close(log);
}
END_TEST

Suite *
make_consumer_suite(void)
{
  Suite *s = suite_create("consumer");
  TCase *tc = tcase_create("consumers");

  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_statuses);
  tcase_add_test(tc, test_queues_independent);
  tcase_add_test(tc, test_persist_reopen);
  tcase_add_test(tc, test_segments_are_version_4);
  tcase_add_test(tc, test_read_only);
  tcase_add_test(tc, test_persist_rotation);
  tcase_add_test(tc, test_delete_queue_removes_consumers);
  tcase_add_test(tc, test_truncate_one_consumer);
  tcase_add_test(tc, test_truncate_slowest_decides);
  tcase_add_test(tc, test_checkpoint_bound);
  tcase_add_test(tc, test_format_rules);
  tcase_add_test(tc, test_checkpoint_position_is_authoritative);
  tcase_add_test(tc, test_concurrent_commits);
  suite_add_tcase(s, tc);
  return s;
}

/*
 * test_api.c -- the API surface: status codes and messages, policy
 * defaults, mrlog_open/mrlog_close arguments, every bad argument of every
 * call, and the future/callback contract (THE COMPLETION RULE).
 */
#define _GNU_SOURCE
#include <semaphore.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_mrlog.h"

#define WAIT_MS 60000u

/* ---- Status codes ------------------------------------------------------ */

static const int all_statuses[] = {
#define XX(name, value, msg) MRLOG_##name,
    MRLOG_STATUS_MAP(XX)
#undef XX
};
static const char *const all_names[] = {
#define XX(name, value, msg) #name,
    MRLOG_STATUS_MAP(XX)
#undef XX
};
#define N_STATUSES (sizeof(all_statuses) / sizeof(all_statuses[0]))

START_TEST(test_status_values) {
  size_t i, j;

  ck_assert_int_eq(MRLOG_OK, 0);
  ck_assert_int_gt(MRLOG_DUPLICATE, 0);
  ck_assert_int_lt(MRLOG_EINVAL, 0);
  ck_assert_int_lt(MRLOG_ENOQUEUE, 0);
  ck_assert_int_lt(MRLOG_EEXIST, 0);
  ck_assert_int_lt(MRLOG_EFULL, 0);
  ck_assert_int_lt(MRLOG_EIO, 0);
  ck_assert_int_lt(MRLOG_ENOSPC, 0);
  ck_assert_int_lt(MRLOG_ECORRUPT, 0);
  ck_assert_int_lt(MRLOG_ELOCKED, 0);
  ck_assert_int_lt(MRLOG_ECLOSED, 0);
  ck_assert_int_lt(MRLOG_ENOMEM, 0);
  ck_assert_int_lt(MRLOG_ETIMEDOUT, 0);
  for (i = 0; i < N_STATUSES; i++)
    for (j = i + 1; j < N_STATUSES; j++)
      ck_assert_int_ne(all_statuses[i], all_statuses[j]);
}
END_TEST

START_TEST(test_strerror_known) {
  const char *unknown = mrlog_strerror(123456);
  size_t i, j;

  ck_assert_ptr_nonnull(unknown);
  for (i = 0; i < N_STATUSES; i++) {
    const char *m = mrlog_strerror(all_statuses[i]);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_gt(strlen(m), 0);
    ck_assert_str_ne(m, unknown);
    for (j = i + 1; j < N_STATUSES; j++)
      ck_assert_str_ne(m, mrlog_strerror(all_statuses[j]));
  }
}
END_TEST

START_TEST(test_strerror_unknown) {
  ck_assert_str_eq(mrlog_strerror(123456), "unknown status");
  ck_assert_str_eq(mrlog_strerror(-9999), "unknown status");
  ck_assert_str_eq(mrlog_strerror(2), "unknown status");
  ck_assert_str_eq(mrlog_err_name(123456), "UNKNOWN");
  ck_assert_str_eq(mrlog_err_name(-1), "UNKNOWN");
}
END_TEST

START_TEST(test_err_name) {
  size_t i;

  for (i = 0; i < N_STATUSES; i++) {
    const char *n = mrlog_err_name(all_statuses[i]);
    ck_assert_ptr_nonnull(n);
    ck_assert_str_eq(n, all_names[i]);
  }
  ck_assert_str_eq(mrlog_err_name(MRLOG_EINVAL), "EINVAL");
  ck_assert_str_eq(mrlog_err_name(MRLOG_DUPLICATE), "DUPLICATE");
}
END_TEST

START_TEST(test_strerror_messages) {
  ck_assert_str_eq(mrlog_strerror(MRLOG_OK), "success");
  ck_assert_str_eq(mrlog_strerror(MRLOG_EINVAL), "invalid argument");
  ck_assert_str_eq(mrlog_strerror(MRLOG_ENOQUEUE), "no such queue");
}
END_TEST

/* ---- Policy ------------------------------------------------------------ */

static void expect_bad_policy(const mrlog_policy *p) {
  mrlog *log = (mrlog *)&log;

  ck_assert_int_eq(mrlog_open(th_dir, p, &log), MRLOG_EINVAL);
  ck_assert_ptr_null(log);
}


START_TEST(test_policy_defaults) {
  mrlog_policy p;

  memset(&p, 0xa5, sizeof(p));
  mrlog_policy_init(&p);
  ck_assert_uint_eq(p.fsync_interval_ms, 0);
  ck_assert_uint_eq(p.fsync_bytes, 0);
  ck_assert_uint_eq(p.segment_bytes, 128ull * 1024 * 1024);
  ck_assert_uint_eq(p.memory_limit, 1024ull * 1024 * 1024);
  ck_assert_uint_eq(p.ring_slots, 16384);
  ck_assert_int_eq(p.nonblocking, 0);
  ck_assert_uint_eq(p.cleaner_interval_ms, 1000);
  ck_assert_int_eq(p.recovery, MRLOG_RECOVER_TOLERATE_TAIL);
  ck_assert_uint_eq(p.file_mode, 0644);
  ck_assert_ptr_null((void *)p.log_fn);
  ck_assert_ptr_null(p.log_arg);
  ck_assert_int_eq(p.record_store, MRLOG_STORE_DEFAULT);
  ck_assert_uint_eq(p.block_timeout_ms, 0);
  ck_assert_int_eq(p.read_only, 0);
  ck_assert_int_eq(p.create_parents, 0);
  ck_assert_uint_eq(p.size, sizeof(p));
  ck_assert_int_eq(p.visibility, MRLOG_VISIBLE_ACKNOWLEDGED);
  ck_assert_int_eq(p.completion_mode, MRLOG_COMPLETE_ON_LIBRARY_THREAD);
  ck_assert_int_eq(p.truncate_on_commit, 0);
  ck_assert_uint_eq(p.queue_memory_limit, 0);
  ck_assert_uint_eq(p.disk_limit, 0);
  for (size_t i = 0; i < sizeof(p.reserved) / sizeof(p.reserved[0]); i++)
    ck_assert_uint_eq(p.reserved[i], 0);
}
END_TEST

/* The public structs keep their layout when fields are taken out of their
 * reserved words (docs/COMPATIBILITY.md section 3); checked on LP64.  The
 * first 136 bytes of mrlog_policy and the first 64 of mrlog_queue_info
 * are what programs built against headers older than 0.6.0 have. */
#if defined(__LP64__)
_Static_assert(sizeof(mrlog_policy) == 208, "mrlog_policy changed size");
_Static_assert(offsetof(mrlog_policy, record_store) == 112 &&
                   offsetof(mrlog_policy, block_timeout_ms) == 116 &&
                   offsetof(mrlog_policy, read_only) == 120 &&
                   offsetof(mrlog_policy, create_parents) == 124 &&
                   offsetof(mrlog_policy, size) == 128 &&
                   offsetof(mrlog_policy, visibility) == 132 &&
                   offsetof(mrlog_policy, completion_mode) == 136 &&
                   offsetof(mrlog_policy, truncate_on_commit) == 140 &&
                   offsetof(mrlog_policy, queue_memory_limit) == 144 &&
                   offsetof(mrlog_policy, disk_limit) == 152 &&
                   offsetof(mrlog_policy, reserved) == 160,
               "mrlog_policy's fields moved");
_Static_assert(sizeof(struct mrlog_queue_info) == 112 &&
                   offsetof(struct mrlog_queue_info, durable_position) ==
                       48 &&
                   offsetof(struct mrlog_queue_info, memory_bytes) == 56,
               "mrlog_queue_info changed layout");
_Static_assert(sizeof(struct mrlog_stats) == 152 &&
                   offsetof(struct mrlog_stats, record_store) == 144 &&
                   offsetof(struct mrlog_stats, reserved_int) == 148,
               "mrlog_stats changed layout");
#endif

/* A program built against a header older than 0.6.0: its policy has 136
 * bytes and its queue info 64, which it fills through the functions
 * mrlog_policy_init and mrlog_queue_info (not the macros).  The library
 * reads and writes no byte past them (the buffers are exactly that big,
 * so ASan and valgrind see any overrun), and the fields the old struct
 * lacks take their defaults. */
START_TEST(test_legacy_structs) {
  unsigned char *old_policy = malloc(136);
  unsigned char *old_info = malloc(64);
  unsigned char *guard = malloc(8);
  mrlog *log = NULL;
  uint64_t next, records;

  ck_assert_ptr_nonnull(old_policy);
  ck_assert_ptr_nonnull(old_info);
  memset(old_policy, 0xa5, 136);
  (mrlog_policy_init)((mrlog_policy *)old_policy);
  /* The word at 128 (reserved[0] then, `size` now) is zero. */
  for (int i = 128; i < 136; i++)
    ck_assert_uint_eq(old_policy[i], 0);
  {
    unsigned five = 5; /* set as the old program would, within 136 bytes */

    memcpy(old_policy + offsetof(mrlog_policy, fsync_interval_ms), &five,
           sizeof(five));
  }
  ck_assert_int_eq(mrlog_open(th_dir, (mrlog_policy *)old_policy, &log), 0);
  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(th_append_str(log, "q", "abc", NULL), 0);
  memset(old_info, 0xa5, 64);
  memset(guard, 0, 8);
  ck_assert_int_eq((mrlog_queue_info)(log, "q", (struct mrlog_queue_info *)
                                                    old_info), 0);
  memcpy(&next, old_info + 8, 8);
  memcpy(&records, old_info + 16, 8);
  ck_assert_uint_eq(next, 1);
  ck_assert_uint_eq(records, 1);
  th_close(log);
  free(guard);
  free(old_info);
  free(old_policy);
}
END_TEST

/* The macro records the caller's size; a struct from a newer header (a
 * larger size) is accepted when what this library does not know is zero
 * and refused otherwise; a size smaller than any header's is refused. */
START_TEST(test_policy_size) {
  struct {
    mrlog_policy p;
    uint64_t newer[4];
  } big;
  mrlog_policy p;
  mrlog *log = NULL;

  mrlog_policy_init(&p);
  ck_assert_uint_eq(p.size, sizeof(mrlog_policy));
  memset(&big, 0xa5, sizeof(big));
  mrlog_policy_init_size(&big.p, sizeof(big));
  ck_assert_uint_eq(big.p.size, sizeof(big));
  for (int i = 0; i < 4; i++)
    ck_assert_uint_eq(big.newer[i], 0);
  ck_assert_int_eq(mrlog_open(th_dir, &big.p, &log), 0);
  th_close(log);
  big.newer[2] = 1; /* a field this library does not know */
  log = NULL;
  ck_assert_int_eq(mrlog_open(th_dir, &big.p, &log), MRLOG_EINVAL);
  ck_assert_ptr_null(log);
  p.size = 100;
  ck_assert_int_eq(mrlog_open(th_dir, &p, &log), MRLOG_EINVAL);
  ck_assert_ptr_null(log);
}
END_TEST

/* A non-zero reserved word (a field this library does not know) is refused;
 * info and stats come back with their reserved words zeroed. */
START_TEST(test_policy_reserved) {
  size_t i;

  for (i = 0; i < sizeof(((mrlog_policy *)0)->reserved) / sizeof(uint64_t);
       i++) {
    mrlog_policy p = th_policy();

    p.reserved[i] = 1;
    expect_bad_policy(&p);
  }
  {
    mrlog_policy p = th_policy();

    p.record_store = 3; /* no such store */
    expect_bad_policy(&p);
    p.record_store = -1;
    expect_bad_policy(&p);
  }
  {
    mrlog_policy p = th_policy();

    p.visibility = 3; /* no such visibility */
    expect_bad_policy(&p);
    p.visibility = -1;
    expect_bad_policy(&p);
  }
  {
    mrlog_policy p = th_policy();

    p.completion_mode = 2; /* no such mode */
    expect_bad_policy(&p);
  }
  {
    mrlog *log = th_open(th_dir, NULL);
    struct mrlog_queue_info info;
    struct mrlog_stats st;

    ck_assert_int_eq(th_create(log, "q"), 0);
    memset(&info, 0xa5, sizeof(info));
    memset(&st, 0xa5, sizeof(st));
    ck_assert_int_eq(mrlog_queue_info(log, "q", &info), 0);
    ck_assert_int_eq(mrlog_stats(log, &st), 0);
    for (i = 0; i < sizeof(info.reserved) / sizeof(info.reserved[0]); i++)
      ck_assert_uint_eq(info.reserved[i], 0);
    ck_assert_int_eq(st.reserved_int, 0);
    ck_assert_uint_eq(info.records, 0);
    th_close(log);
  }
}
END_TEST

/* ---- Open and close ---------------------------------------------------- */

START_TEST(test_open_creates_dir) {
  char *dir = th_sub("log");
  char *lock = th_path(dir, "LOCK");
  struct stat st;
  mrlog *log;

  ck_assert_int_eq(stat(dir, &st), -1);
  log = th_open(dir, NULL);
  ck_assert_int_eq(stat(dir, &st), 0);
  ck_assert(S_ISDIR(st.st_mode));
  ck_assert_int_ge(th_file_size(lock), 0);
  ck_assert_uint_ge(th_count_segments(dir), 1);
  th_close(log);
  free(lock);
  free(dir);
}
END_TEST

START_TEST(test_open_existing_empty_dir) {
  mrlog *log = th_open(th_dir, NULL);
  struct mrlog_stats st = th_stats(log);

  ck_assert_uint_eq(st.queues, 0);
  ck_assert_uint_eq(st.records, 0);
  ck_assert_int_eq(st.failed, 0);
  ck_assert_uint_eq(th_count_queues(log), 0);
  th_close(log);
}
END_TEST

START_TEST(test_open_null_args) {
  mrlog *log = (mrlog *)&log;
  mrlog_policy p = th_policy();

  ck_assert_int_eq(mrlog_open(NULL, &p, &log), MRLOG_EINVAL);
  ck_assert_ptr_null(log);
  ck_assert_int_eq(mrlog_open(NULL, NULL, &log), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_open(th_dir, &p, NULL), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_open(th_dir, NULL, NULL), MRLOG_EINVAL);
  /* None of them left the directory locked. */
  log = th_open(th_dir, &p);
  th_close(log);
}
END_TEST

START_TEST(test_open_bad_ring_slots) {
  static const unsigned bad[] = {0, 1, 2, 3, 5, 6, 12, 1000, 16385};
  size_t i;
  mrlog *log;

  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    mrlog_policy p = th_policy();
    p.ring_slots = bad[i];
    expect_bad_policy(&p);
  }
  log = th_open(th_dir, NULL);
  th_close(log);
}
END_TEST

START_TEST(test_open_good_ring_slots) {
  static const unsigned good[] = {4, 8, 1024, 65536};
  size_t i;

  for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    mrlog_policy p = th_policy();
    mrlog *log;
    p.ring_slots = good[i];
    log = th_open(th_dir, &p);
    ck_assert_int_eq(th_create(log, "q"), i == 0 ? 0 : MRLOG_EEXIST);
    ck_assert_int_eq(th_append_str(log, "q", "x", NULL), 0);
    th_close(log);
  }
}
END_TEST

START_TEST(test_open_bad_recovery) {
  static const int bad[] = {-1, 3, 4, 100, -100};
  size_t i;
  mrlog *log;

  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    mrlog_policy p = th_policy();
    p.recovery = bad[i];
    expect_bad_policy(&p);
  }
  log = th_open(th_dir, NULL);
  th_close(log);
}
END_TEST

START_TEST(test_open_segment_bytes_clamped) {
  mrlog_policy p = th_policy();
  mrlog *log;

  p.segment_bytes = 1; /* clamped to 4 KiB, not refused */
  log = th_open(th_dir, &p);
  ck_assert_int_eq(th_create(log, "q"), 0);
  th_close(log);
  p.segment_bytes = UINT64_MAX; /* clamped to 1 GiB */
  log = th_open(th_dir, &p);
  ck_assert_int_eq(th_append_str(log, "q", "x", NULL), 0);
  th_close(log);
}
END_TEST

START_TEST(test_open_missing_parent) {
  char *dir = th_sub("a/b");
  mrlog *log = (mrlog *)&log;
  int rc = mrlog_open(dir, NULL, &log);

  ck_assert_int_lt(rc, 0);
  ck_assert_ptr_null(log);
  free(dir);
}
END_TEST

START_TEST(test_open_not_a_directory) {
  char *file = th_sub("file");
  mrlog *log = (mrlog *)&log;
  int rc;

  th_write_file(file, "x", 1);
  rc = mrlog_open(file, NULL, &log);
  ck_assert_int_lt(rc, 0);
  ck_assert_ptr_null(log);
  free(file);
}
END_TEST

START_TEST(test_close_null) {
  ck_assert_int_eq(mrlog_close(NULL), MRLOG_EINVAL);
}
END_TEST

struct close_ctx {
  mrlog *log;
  atomic_int rc;
  atomic_int calls;
};

static void close_in_callback(void *arg, int status, uint64_t position) {
  struct close_ctx *c = arg;

  (void)status;
  (void)position;
  atomic_store(&c->rc, mrlog_close(c->log));
  atomic_fetch_add(&c->calls, 1);
}

START_TEST(test_close_from_callback) {
  struct close_ctx c;
  mrlog_future *f;

  c.log = th_open(th_dir, NULL);
  atomic_init(&c.rc, 12345);
  atomic_init(&c.calls, 0);
  f = mrlog_create_queue(c.log, "q", close_in_callback, &c);
  ck_assert_int_eq(th_wait(f, NULL), 0);
  ck_assert_int_eq(atomic_load(&c.calls), 1);
  ck_assert_int_eq(atomic_load(&c.rc), MRLOG_EINVAL);
  /* The log is still usable and closes normally. */
  ck_assert_int_eq(th_append_str(c.log, "q", "x", NULL), 0);
  th_close(c.log);
}
END_TEST

/* ---- Bad arguments of mutations --------------------------------------- */

/* Waits for f (status returned) and checks that the counter saw exactly one
 * callback, off the application threads, with the same status. */
static int wait_counted(mrlog_future *f, struct th_counter *c) {
  int rc = th_wait(f, NULL);

  ck_assert(th_counter_wait(c, 1, WAIT_MS));
  ck_assert_int_eq(atomic_load(&c->calls), 1);
  ck_assert_int_eq(atomic_load(&c->on_app_thread), 0);
  ck_assert_int_eq(atomic_load(&c->last_status), rc);
  return rc;
}

START_TEST(test_null_log_mutations) {
  struct th_counter c[6];
  struct iovec iov = {"x", 1};
  mrlog_future *f[6];
  int i;

  for (i = 0; i < 6; i++) th_counter_init(&c[i]);
  f[0] = mrlog_create_queue(NULL, "q", th_counter_cb, &c[0]);
  f[1] = mrlog_delete_queue(NULL, "q", th_counter_cb, &c[1]);
  f[2] = mrlog_append(NULL, "q", NULL, "x", 1, th_counter_cb, &c[2]);
  f[3] = mrlog_append_batch(NULL, "q", NULL, &iov, 1, th_counter_cb, &c[3]);
  f[4] = mrlog_truncate(NULL, "q", 0, th_counter_cb, &c[4]);
  f[5] = mrlog_sync(NULL, th_counter_cb, &c[5]);
  for (i = 0; i < 6; i++) ck_assert_int_eq(wait_counted(f[i], &c[i]), MRLOG_EINVAL);
}
END_TEST

START_TEST(test_null_log_no_callback) {
  ck_assert_int_eq(th_wait(mrlog_append(NULL, "q", NULL, "x", 1, NULL, NULL),
                           NULL),
                   MRLOG_EINVAL);
  ck_assert_int_eq(th_wait(mrlog_sync(NULL, NULL, NULL), NULL), MRLOG_EINVAL);
}
END_TEST

START_TEST(test_null_log_forgotten) {
  struct th_counter c;

  th_counter_init(&c);
  mrlog_forget(mrlog_create_queue(NULL, "q", th_counter_cb, &c));
  ck_assert(th_counter_wait(&c, 1, WAIT_MS));
  ck_assert_int_eq(atomic_load(&c.last_status), MRLOG_EINVAL);
  ck_assert_int_eq(atomic_load(&c.on_app_thread), 0);
  th_sleep_ms(50);
  ck_assert_int_eq(atomic_load(&c.calls), 1);
}
END_TEST

/* Submits every queue-taking mutation with the given name and expects
 * MRLOG_EINVAL from each, via both the callback and the future. */
static void expect_bad_name(mrlog *log, const char *name) {
  struct th_counter c[5];
  struct iovec iov = {"x", 1};
  mrlog_future *f[5];
  struct mrlog_queue_info info;
  struct th_recs recs;
  int i;

  for (i = 0; i < 5; i++) th_counter_init(&c[i]);
  f[0] = mrlog_create_queue(log, name, th_counter_cb, &c[0]);
  f[1] = mrlog_delete_queue(log, name, th_counter_cb, &c[1]);
  f[2] = mrlog_append(log, name, NULL, "x", 1, th_counter_cb, &c[2]);
  f[3] = mrlog_append_batch(log, name, NULL, &iov, 1, th_counter_cb, &c[3]);
  f[4] = mrlog_truncate(log, name, 0, th_counter_cb, &c[4]);
  for (i = 0; i < 5; i++) ck_assert_int_eq(wait_counted(f[i], &c[i]), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_queue_info(log, name, &info), MRLOG_EINVAL);
  ck_assert_int_eq(th_collect(log, name, 0, UINT64_MAX, &recs), MRLOG_EINVAL);
  ck_assert_uint_eq(recs.n, 0);
  th_recs_free(&recs);
  ck_assert(!mrlog_queue_exists(log, name));
}

START_TEST(test_bad_queue_names) {
  mrlog *log = th_open(th_dir, NULL);
  char *long_name = malloc(MRLOG_QUEUE_NAME_MAX + 2);

  ck_assert_ptr_nonnull(long_name);
  memset(long_name, 'n', MRLOG_QUEUE_NAME_MAX + 1);
  long_name[MRLOG_QUEUE_NAME_MAX + 1] = '\0';
  expect_bad_name(log, NULL);
  expect_bad_name(log, "");
  expect_bad_name(log, long_name);
  ck_assert_uint_eq(th_count_queues(log), 0);
  /* The longest legal name works. */
  long_name[MRLOG_QUEUE_NAME_MAX] = '\0';
  ck_assert_int_eq(th_create(log, long_name), 0);
  ck_assert(mrlog_queue_exists(log, long_name));
  th_close(log);
  free(long_name);
}
END_TEST

START_TEST(test_append_bad_payload) {
  mrlog *log = th_open(th_dir, NULL);
  unsigned char *big = malloc((size_t)MRLOG_RECORD_MAX + 1);
  struct th_counter c[2];
  mrlog_future *f;
  struct mrlog_queue_info info;

  ck_assert_ptr_nonnull(big);
  memset(big, 'b', (size_t)MRLOG_RECORD_MAX + 1);
  ck_assert_int_eq(th_create(log, "q"), 0);
  th_counter_init(&c[0]);
  th_counter_init(&c[1]);
  f = mrlog_append(log, "q", NULL, NULL, 1, th_counter_cb, &c[0]);
  ck_assert_int_eq(wait_counted(f, &c[0]), MRLOG_EINVAL);
  f = mrlog_append(log, "q", NULL, big, (size_t)MRLOG_RECORD_MAX + 1,
                   th_counter_cb, &c[1]);
  ck_assert_int_eq(wait_counted(f, &c[1]), MRLOG_EINVAL);
  info = th_info(log, "q");
  ck_assert_uint_eq(info.records, 0);
  ck_assert_uint_eq(info.next_position, 0);
  free(big);
  th_close(log);
}
END_TEST

static void expect_bad_batch(mrlog *log, const uint64_t *first,
                             const struct iovec *iov, size_t count) {
  struct th_counter c;
  mrlog_future *f;

  th_counter_init(&c);
  f = mrlog_append_batch(log, "q", first, iov, count, th_counter_cb, &c);
  ck_assert_int_eq(wait_counted(f, &c), MRLOG_EINVAL);
}

START_TEST(test_batch_bad_args) {
  mrlog *log = th_open(th_dir, NULL);
  unsigned char *big = malloc(MRLOG_RECORD_MAX + 1u);
  struct iovec iov[17];
  struct mrlog_queue_info info;
  size_t i;

  ck_assert_ptr_nonnull(big);
  memset(big, 'b', MRLOG_RECORD_MAX + 1u);
  ck_assert_int_eq(th_create(log, "q"), 0);
  iov[0].iov_base = "a";
  iov[0].iov_len = 1;
  /* count 0 and a NULL array. */
  expect_bad_batch(log, NULL, iov, 0);
  expect_bad_batch(log, NULL, NULL, 1);
  expect_bad_batch(log, NULL, NULL, 0);
  /* NULL data with a length, in the middle of the batch. */
  iov[1].iov_base = NULL;
  iov[1].iov_len = 3;
  iov[2].iov_base = "c";
  iov[2].iov_len = 1;
  expect_bad_batch(log, NULL, iov, 3);
  /* One record above MRLOG_RECORD_MAX. */
  iov[1].iov_base = big;
  iov[1].iov_len = MRLOG_RECORD_MAX + 1u;
  expect_bad_batch(log, NULL, iov, 3);
  /* 17 records of 64 MiB: more than MRLOG_BATCH_BYTES_MAX in total. */
  for (i = 0; i < 17; i++) {
    iov[i].iov_base = big;
    iov[i].iov_len = MRLOG_RECORD_MAX;
  }
  expect_bad_batch(log, NULL, iov, 17);
  /* Nothing of any of them was written. */
  info = th_info(log, "q");
  ck_assert_uint_eq(info.records, 0);
  ck_assert_uint_eq(info.next_position, 0);
  free(big);
  th_close(log);
}
END_TEST

START_TEST(test_position_out_of_range) {
  mrlog *log = th_open(th_dir, NULL);
  struct iovec iov[2] = {{"a", 1}, {"b", 1}};
  uint64_t p = UINT64_MAX, got = 0;
  struct th_counter c;
  mrlog_future *f;
  struct mrlog_queue_info info;

  ck_assert_int_eq(th_create(log, "q"), 0);
  th_counter_init(&c);
  f = mrlog_append(log, "q", &p, "x", 1, th_counter_cb, &c);
  ck_assert_int_eq(wait_counted(f, &c), MRLOG_EINVAL);
  /* A batch whose last position would be UINT64_MAX. */
  p = MRLOG_POSITION_MAX;
  expect_bad_batch(log, &p, iov, 2);
  info = th_info(log, "q");
  ck_assert_uint_eq(info.records, 0);
  ck_assert_uint_eq(info.next_position, 0);
  /* The last legal position is fine. */
  ck_assert_int_eq(th_append_at(log, "q", MRLOG_POSITION_MAX, "x", 1, &got), 0);
  ck_assert_uint_eq(got, MRLOG_POSITION_MAX);
  info = th_info(log, "q");
  ck_assert_uint_eq(info.next_position, UINT64_MAX);
  ck_assert_uint_eq(info.first_position, MRLOG_POSITION_MAX);
  ck_assert_uint_eq(info.records, 1);
  th_close(log);
}
END_TEST

static int count_records(void *arg, uint64_t pos, const void *d, size_t n) {
  (void)pos;
  (void)d;
  (void)n;
  (*(int *)arg)++;
  return 0;
}

static int count_names(void *arg, const char *q) {
  (void)q;
  (*(int *)arg)++;
  return 0;
}

START_TEST(test_read_calls_bad_args) {
  mrlog *log = th_open(th_dir, NULL);
  struct mrlog_queue_info info;
  struct mrlog_stats st;
  int visits = 0;

  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(mrlog_range(NULL, "q", 0, UINT64_MAX, count_records, &visits),
                   MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_range(log, NULL, 0, UINT64_MAX, count_records, &visits),
                   MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_range(log, "q", 0, UINT64_MAX, NULL, &visits),
                   MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_range(log, "missing", 0, UINT64_MAX, count_records,
                               &visits),
                   MRLOG_ENOQUEUE);
  ck_assert_int_eq(mrlog_queue_info(NULL, "q", &info), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_queue_info(log, NULL, &info), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_queue_info(log, "q", NULL), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_queue_info(log, "missing", &info), MRLOG_ENOQUEUE);
  ck_assert(!mrlog_queue_exists(NULL, "q"));
  ck_assert(!mrlog_queue_exists(log, NULL));
  ck_assert(!mrlog_queue_exists(log, ""));
  ck_assert(mrlog_queue_exists(log, "q"));
  ck_assert_int_eq(mrlog_list_queues(NULL, count_names, &visits), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_list_queues(log, NULL, &visits), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_stats(NULL, &st), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_stats(log, NULL), MRLOG_EINVAL);
  ck_assert_int_eq(visits, 0);
  th_close(log);
}
END_TEST

START_TEST(test_future_calls_null) {
  uint64_t pos = 7;

  ck_assert_int_eq(mrlog_wait(NULL, &pos), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_wait(NULL, NULL), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_wait_timeout(NULL, 10, &pos), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_wait_timeout(NULL, 0, NULL), MRLOG_EINVAL);
  mrlog_forget(NULL); /* ignored */
}
END_TEST

/* ---- Futures and callbacks --------------------------------------------- */

START_TEST(test_callback_once_off_caller) {
  mrlog *log = th_open(th_dir, NULL);
  struct th_counter c;
  uint64_t pos = 99;
  mrlog_future *f;

  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(th_append_str(log, "q", "zero", NULL), 0);
  th_counter_init(&c);
  f = mrlog_append(log, "q", NULL, "one", 3, th_counter_cb, &c);
  ck_assert_int_eq(th_wait(f, &pos), 0);
  ck_assert_uint_eq(pos, 1);
  /* The future became ready only after the callback had returned. */
  ck_assert_int_eq(atomic_load(&c.calls), 1);
  ck_assert_int_eq(atomic_load(&c.ok), 1);
  ck_assert_uint_eq(atomic_load(&c.last_position), 1);
  ck_assert_int_eq(atomic_load(&c.on_app_thread), 0);
  /* And it does not run again, not even at close. */
  th_sleep_ms(20);
  th_close(log);
  ck_assert_int_eq(atomic_load(&c.calls), 1);
}
END_TEST

START_TEST(test_callback_every_mutation) {
  mrlog *log = th_open(th_dir, NULL);
  struct th_counter c[7];
  struct iovec iov[2] = {{"a", 1}, {"bb", 2}};
  mrlog_future *f[7];
  uint64_t pos[7];
  int i;

  for (i = 0; i < 7; i++) th_counter_init(&c[i]);
  /* One at a time: each call's effect is checked by the next. */
  f[0] = mrlog_create_queue(log, "q", th_counter_cb, &c[0]);
  ck_assert_int_eq(th_wait(f[0], &pos[0]), 0);
  f[1] = mrlog_append(log, "q", NULL, "x", 1, th_counter_cb, &c[1]);
  ck_assert_int_eq(th_wait(f[1], &pos[1]), 0);
  f[2] = mrlog_append_batch(log, "q", NULL, iov, 2, th_counter_cb, &c[2]);
  ck_assert_int_eq(th_wait(f[2], &pos[2]), 0);
  f[3] = mrlog_sync(log, th_counter_cb, &c[3]);
  ck_assert_int_eq(th_wait(f[3], &pos[3]), 0);
  f[4] = mrlog_truncate(log, "q", 1, th_counter_cb, &c[4]);
  ck_assert_int_eq(th_wait(f[4], &pos[4]), 0);
  f[5] = mrlog_delete_queue(log, "q", th_counter_cb, &c[5]);
  ck_assert_int_eq(th_wait(f[5], &pos[5]), 0);
  f[6] = mrlog_delete_queue(log, "q", th_counter_cb, &c[6]);
  ck_assert_int_eq(th_wait(f[6], &pos[6]), MRLOG_ENOQUEUE);
  ck_assert_uint_eq(pos[0], 0);  /* create: 0 */
  ck_assert_uint_eq(pos[1], 0);  /* the record's */
  ck_assert_uint_eq(pos[2], 2);  /* the batch's last record */
  ck_assert_uint_eq(pos[3], 0);  /* sync: 0 */
  ck_assert_uint_eq(pos[4], 1);  /* truncate: the argument */
  for (i = 0; i < 7; i++) {
    ck_assert_int_eq(atomic_load(&c[i].calls), 1);
    ck_assert_int_eq(atomic_load(&c[i].on_app_thread), 0);
    ck_assert_uint_eq(atomic_load(&c[i].last_position), pos[i]);
  }
  ck_assert_int_eq(atomic_load(&c[6].last_status), MRLOG_ENOQUEUE);
  th_close(log);
}
END_TEST

START_TEST(test_done_null) {
  mrlog *log = th_open(th_dir, NULL);
  uint64_t pos = 99;

  ck_assert_int_eq(th_wait(mrlog_create_queue(log, "q", NULL, NULL), &pos), 0);
  ck_assert_uint_eq(pos, 0);
  ck_assert_int_eq(th_wait(mrlog_append(log, "q", NULL, "a", 1, NULL, NULL),
                           NULL),
                   0);
  ck_assert_int_eq(th_wait(mrlog_append(log, "q", NULL, "b", 1, NULL, NULL),
                           &pos),
                   0);
  ck_assert_uint_eq(pos, 1);
  th_close(log);
}
END_TEST

static bool future_ready(void *arg) { return mrlog_ready(arg); }

START_TEST(test_ready) {
  mrlog *log = th_open(th_dir, NULL);
  mrlog_future *f;
  uint64_t pos = 99;

  ck_assert_int_eq(th_create(log, "q"), 0);
  f = mrlog_append(log, "q", NULL, "a", 1, NULL, NULL);
  ck_assert_ptr_nonnull(f);
  ck_assert(th_poll(future_ready, f, WAIT_MS));
  ck_assert(mrlog_ready(f)); /* stays ready */
  ck_assert_int_eq(mrlog_wait(f, &pos), 0);
  ck_assert_uint_eq(pos, 0);
  th_close(log);
}
END_TEST

/* A callback that blocks until the test opens its gate. */
struct gate {
  sem_t open;
  atomic_int entered;
  atomic_int calls;
  atomic_int status;
};

static void gate_cb(void *arg, int status, uint64_t position) {
  struct gate *g = arg;

  (void)position;
  atomic_store(&g->status, status);
  atomic_store(&g->entered, 1);
  while (sem_wait(&g->open) != 0) {
  }
  atomic_fetch_add(&g->calls, 1);
}

static bool gate_entered(void *arg) {
  return atomic_load(&((struct gate *)arg)->entered) != 0;
}

START_TEST(test_wait_timeout) {
  mrlog *log = th_open(th_dir, NULL);
  struct gate g;
  mrlog_future *f;
  uint64_t pos = 99;

  ck_assert_int_eq(sem_init(&g.open, 0, 0), 0);
  atomic_init(&g.entered, 0);
  atomic_init(&g.calls, 0);
  atomic_init(&g.status, 12345);
  ck_assert_int_eq(th_create(log, "q"), 0);
  f = mrlog_append(log, "q", NULL, "a", 1, gate_cb, &g);
  ck_assert_ptr_nonnull(f);
  ck_assert(th_poll(gate_entered, &g, WAIT_MS));
  /* The callback has not returned, so the future is not ready. */
  ck_assert(!mrlog_ready(f));
  ck_assert_int_eq(mrlog_wait_timeout(f, 0, &pos), MRLOG_ETIMEDOUT);
  ck_assert_int_eq(mrlog_wait_timeout(f, 30, &pos), MRLOG_ETIMEDOUT);
  ck_assert(!mrlog_ready(f)); /* and still valid */
  ck_assert_int_eq(sem_post(&g.open), 0);
  ck_assert_int_eq(mrlog_wait_timeout(f, WAIT_MS, &pos), 0);
  ck_assert_uint_eq(pos, 0);
  ck_assert_int_eq(atomic_load(&g.calls), 1);
  ck_assert_int_eq(atomic_load(&g.status), 0);
  th_close(log);
  sem_destroy(&g.open);
}
END_TEST

START_TEST(test_wait_timeout_ready) {
  mrlog *log = th_open(th_dir, NULL);
  mrlog_future *f;
  uint64_t pos = 99;

  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(th_append_str(log, "q", "a", NULL), 0);
  f = mrlog_append(log, "q", NULL, "b", 1, NULL, NULL);
  ck_assert_ptr_nonnull(f);
  ck_assert(th_poll(future_ready, f, WAIT_MS));
  ck_assert_int_eq(mrlog_wait_timeout(f, 0, &pos), 0);
  ck_assert_uint_eq(pos, 1);
  f = mrlog_append(log, "q", NULL, "c", 1, NULL, NULL);
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(mrlog_wait_timeout(f, WAIT_MS, NULL), 0);
  th_close(log);
}
END_TEST

START_TEST(test_forget_callback_runs) {
  mrlog *log = th_open(th_dir, NULL);
  struct th_counter c;
  struct mrlog_queue_info info;
  int i;

  ck_assert_int_eq(th_create(log, "q"), 0);
  th_counter_init(&c);
  for (i = 0; i < 10; i++)
    mrlog_forget(mrlog_append(log, "q", NULL, "x", 1, th_counter_cb, &c));
  ck_assert(th_counter_wait(&c, 10, WAIT_MS));
  ck_assert_int_eq(atomic_load(&c.ok), 10);
  ck_assert_int_eq(atomic_load(&c.on_app_thread), 0);
  info = th_info(log, "q");
  ck_assert_uint_eq(info.records, 10);
  /* Forgotten futures of failing calls complete too. */
  mrlog_forget(mrlog_append(log, "missing", NULL, "x", 1, th_counter_cb, &c));
  ck_assert(th_counter_wait(&c, 11, WAIT_MS));
  ck_assert_int_eq(atomic_load(&c.last_status), MRLOG_ENOQUEUE);
  th_close(log);
  ck_assert_int_eq(atomic_load(&c.calls), 11);
}
END_TEST

START_TEST(test_forget_after_ready) {
  mrlog *log = th_open(th_dir, NULL);
  mrlog_future *f;

  ck_assert_int_eq(th_create(log, "q"), 0);
  f = mrlog_append(log, "q", NULL, "x", 1, NULL, NULL);
  ck_assert_ptr_nonnull(f);
  ck_assert(th_poll(future_ready, f, WAIT_MS));
  mrlog_forget(f); /* frees a complete future at once */
  ck_assert_uint_eq(th_info(log, "q").records, 1);
  th_close(log);
}
END_TEST

START_TEST(test_future_valid_after_close) {
  mrlog *log = th_open(th_dir, NULL);
  mrlog_future *f[3];
  uint64_t pos = 99;
  int i;

  ck_assert_int_eq(th_create(log, "q"), 0);
  for (i = 0; i < 3; i++) {
    f[i] = mrlog_append(log, "q", NULL, "x", 1, NULL, NULL);
    ck_assert_ptr_nonnull(f[i]);
  }
  th_close(log);
  for (i = 0; i < 3; i++) {
    ck_assert(mrlog_ready(f[i]));
    ck_assert_int_eq(mrlog_wait(f[i], &pos), 0);
    ck_assert_uint_eq(pos, (uint64_t)i);
  }
}
END_TEST

START_TEST(test_sync_forces_fsync) {
  mrlog_policy p = th_policy();
  mrlog *log;
  struct mrlog_stats before, after;
  uint64_t pos = 99;

  p.fsync_interval_ms = 3600u * 1000u; /* the flusher alone would wait an hour */
  log = th_open(th_dir, &p);
  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(th_append_str(log, "q", "x", NULL), 0);
  before = th_stats(log);
  ck_assert_int_eq(th_wait(mrlog_sync(log, NULL, NULL), &pos), 0);
  ck_assert_uint_eq(pos, 0);
  after = th_stats(log);
  ck_assert_uint_gt(after.fsyncs, before.fsyncs);
  th_close(log);
}
END_TEST

/* mrlog_wait on a future that is not ready, from a callback: MRLOG_EINVAL
 * instead of a deadlock, and the future stays valid. */
struct libwait_ctx {
  mrlog *log;
  sem_t release;
  atomic_int a_done;
  int wait_rc;
  mrlog_future *fb;
  atomic_int b_calls;
};

static void libwait_b(void *arg, int status, uint64_t position) {
  struct libwait_ctx *x = arg;

  (void)status;
  (void)position;
  while (sem_wait(&x->release) != 0) {
  }
  atomic_fetch_add(&x->b_calls, 1);
}

static void libwait_a(void *arg, int status, uint64_t position) {
  struct libwait_ctx *x = arg;

  (void)status;
  (void)position;
  x->fb = mrlog_append(x->log, "q", NULL, "b", 1, libwait_b, x);
  x->wait_rc = mrlog_wait(x->fb, NULL);
  atomic_store(&x->a_done, 1);
}

static bool libwait_a_done(void *arg) {
  return atomic_load(&((struct libwait_ctx *)arg)->a_done) != 0;
}

START_TEST(test_wait_in_callback_einval) {
  struct libwait_ctx x;
  mrlog_future *fa;
  uint64_t pos = 99;

  x.log = th_open(th_dir, NULL);
  ck_assert_int_eq(sem_init(&x.release, 0, 0), 0);
  atomic_init(&x.a_done, 0);
  atomic_init(&x.b_calls, 0);
  x.wait_rc = 12345;
  x.fb = NULL;
  ck_assert_int_eq(th_create(x.log, "q"), 0);
  fa = mrlog_append(x.log, "q", NULL, "a", 1, libwait_a, &x);
  ck_assert(th_poll(libwait_a_done, &x, WAIT_MS));
  ck_assert_int_eq(x.wait_rc, MRLOG_EINVAL);
  ck_assert_ptr_nonnull(x.fb);
  ck_assert_int_eq(sem_post(&x.release), 0);
  ck_assert_int_eq(th_wait(x.fb, &pos), 0);
  ck_assert_uint_eq(pos, 1);
  ck_assert_int_eq(th_wait(fa, &pos), 0);
  ck_assert_uint_eq(pos, 0);
  ck_assert_int_eq(atomic_load(&x.b_calls), 1);
  th_close(x.log);
  sem_destroy(&x.release);
}
END_TEST

/* ---- Ownership ---------------------------------------------------------- */

START_TEST(test_buffers_copied_at_call) {
  mrlog *log = th_open(th_dir, NULL);
  char name[16], data[32];
  struct iovec iov[2];
  mrlog_future *f[3];
  struct th_recs recs;
  int i;

  strcpy(name, "orig");
  f[0] = mrlog_create_queue(log, name, NULL, NULL);
  strcpy(name, "XXXX"); /* reused before completion */
  ck_assert_int_eq(th_wait(f[0], NULL), 0);
  ck_assert(mrlog_queue_exists(log, "orig"));
  ck_assert(!mrlog_queue_exists(log, "XXXX"));

  strcpy(name, "orig");
  strcpy(data, "payload-1");
  f[1] = mrlog_append(log, name, NULL, data, 9, NULL, NULL);
  memset(data, 'Z', sizeof(data));
  strcpy(name, "XXXX");
  strcpy(data, "p2");
  iov[0].iov_base = data;
  iov[0].iov_len = 2;
  iov[1].iov_base = data;
  iov[1].iov_len = 1;
  f[2] = mrlog_append_batch(log, "orig", NULL, iov, 2, NULL, NULL);
  memset(data, 'Y', sizeof(data));
  memset(iov, 0, sizeof(iov));
  for (i = 1; i < 3; i++) ck_assert_int_eq(th_wait(f[i], NULL), 0);
  ck_assert_int_eq(th_collect(log, "orig", 0, UINT64_MAX, &recs), 0);
  ck_assert_uint_eq(recs.n, 3);
  ck_assert_uint_eq(recs.v[0].len, 9);
  ck_assert_mem_eq(recs.v[0].data, "payload-1", 9);
  ck_assert_uint_eq(recs.v[1].len, 2);
  ck_assert_mem_eq(recs.v[1].data, "p2", 2);
  ck_assert_uint_eq(recs.v[2].len, 1);
  ck_assert_mem_eq(recs.v[2].data, "p", 1);
  th_recs_free(&recs);
  th_close(log);
}
END_TEST

Suite *make_api_suite(void) {
  Suite *s = suite_create("api");
  TCase *tc;

  tc = tcase_create("status");
  tcase_add_test(tc, test_status_values);
  tcase_add_test(tc, test_strerror_known);
  tcase_add_test(tc, test_strerror_unknown);
  tcase_add_test(tc, test_err_name);
  tcase_add_test(tc, test_strerror_messages);
  tcase_add_test(tc, test_policy_defaults);
  suite_add_tcase(s, tc);

  tc = tcase_create("open");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_open_creates_dir);
  tcase_add_test(tc, test_open_existing_empty_dir);
  tcase_add_test(tc, test_open_null_args);
  tcase_add_test(tc, test_open_bad_ring_slots);
  tcase_add_test(tc, test_policy_reserved);
  tcase_add_test(tc, test_legacy_structs);
  tcase_add_test(tc, test_policy_size);
  tcase_add_test(tc, test_open_good_ring_slots);
  tcase_add_test(tc, test_open_bad_recovery);
  tcase_add_test(tc, test_open_segment_bytes_clamped);
  tcase_add_test(tc, test_open_missing_parent);
  tcase_add_test(tc, test_open_not_a_directory);
  tcase_add_test(tc, test_close_null);
  tcase_add_test(tc, test_close_from_callback);
  suite_add_tcase(s, tc);

  tc = tcase_create("bad_arguments");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_null_log_mutations);
  tcase_add_test(tc, test_null_log_no_callback);
  tcase_add_test(tc, test_null_log_forgotten);
  tcase_add_test(tc, test_bad_queue_names);
  tcase_add_test(tc, test_append_bad_payload);
  tcase_add_test(tc, test_batch_bad_args);
  tcase_add_test(tc, test_position_out_of_range);
  tcase_add_test(tc, test_read_calls_bad_args);
  tcase_add_test(tc, test_future_calls_null);
  suite_add_tcase(s, tc);

  tc = tcase_create("futures");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_callback_once_off_caller);
  tcase_add_test(tc, test_callback_every_mutation);
  tcase_add_test(tc, test_done_null);
  tcase_add_test(tc, test_ready);
  tcase_add_test(tc, test_wait_timeout);
  tcase_add_test(tc, test_wait_timeout_ready);
  tcase_add_test(tc, test_forget_callback_runs);
  tcase_add_test(tc, test_forget_after_ready);
  tcase_add_test(tc, test_future_valid_after_close);
  tcase_add_test(tc, test_sync_forces_fsync);
  tcase_add_test(tc, test_wait_in_callback_einval);
  tcase_add_test(tc, test_buffers_copied_at_call);
  suite_add_tcase(s, tc);
  return s;
}

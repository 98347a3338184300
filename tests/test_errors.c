/*
 * test_errors.c -- errors that say what happened: mrlog_open's statuses
 * for refused, read-only and missing directories (MRLOG_EACCES,
 * MRLOG_ENOENT) and their log_fn reports, policy.create_parents,
 * policy.file_mode's allowed bits, batches that would pass
 * MRLOG_POSITION_MAX, and mrlog_sync as a whole-log barrier.
 *
 * The tests run as root, which permission bits do not stop, so EACCES,
 * EPERM and EROFS are injected through the I/O seam's mkdir and open_dir.
 */
#define _GNU_SOURCE
#include "check_mrlog.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- log_fn capture ---------------------------------------------------- */

struct capture {
  pthread_mutex_t mutex;
  char text[8192]; /* every message, one per line */
};

static void
capture_fn(void *arg, int level, const char *message)
{
  struct capture *c = arg;
  size_t used;

  (void)level;
  pthread_mutex_lock(&c->mutex);
  used = strlen(c->text);
  snprintf(c->text + used, sizeof(c->text) - used, "%s\n", message);
  pthread_mutex_unlock(&c->mutex);
}

static mrlog_policy
capturing_policy(struct capture *c)
{
  mrlog_policy p = th_policy();

  pthread_mutex_init(&c->mutex, NULL);
  c->text[0] = '\0';
  p.log_fn = capture_fn;
  p.log_arg = c;
  return p;
}

/* The open failed, said nothing of a failed log, and log_fn named the
 * path and the OS error's text. */
static void
expect_open_report(const struct capture *c, int rc, const char *path,
                   int err)
{
  ck_assert_msg(strstr(mrlog_strerror(rc), "failed") == NULL,
                "mrlog_strerror(%d) calls an unopened log failed: %s", rc,
                mrlog_strerror(rc));
  ck_assert_msg(strstr(c->text, path) != NULL,
                "log_fn did not name %s: \"%s\"", path, c->text);
  ck_assert_msg(strstr(c->text, strerror(err)) != NULL,
                "log_fn did not give \"%s\": \"%s\"", strerror(err), c->text);
  ck_assert_msg(strstr(c->text, "now read-only") == NULL &&
                    strstr(c->text, "failed") == NULL,
                "log_fn calls an unopened log failed: \"%s\"", c->text);
}

/* ---- An I/O layer that refuses mkdir or open_dir ----------------------- */

static struct {
  int mkdir_errno;     /* 0: real mkdir */
  int open_errno;      /* 0: real open */
  atomic_int fsyncs;   /* directory fsyncs seen */
  ino_t synced[16];    /* inodes of the directories fsynced */
} g_io;

static int
refusing_mkdir(void *ctx, const char *path, mode_t mode)
{
  (void)ctx;
  if (g_io.mkdir_errno != 0) {
    errno = g_io.mkdir_errno;
    return -1;
  }
  return mkdir(path, mode);
}

static int
refusing_open_dir(void *ctx, const char *path)
{
  (void)ctx;
  if (g_io.open_errno != 0) {
    errno = g_io.open_errno;
    return -1;
  }
  return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static int
recording_fsync(void *ctx, int fd)
{
  struct stat st;
  int n;

  (void)ctx;
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    n = atomic_fetch_add(&g_io.fsyncs, 1);
    if (n < 16)
      g_io.synced[n] = st.st_ino;
  }
  return fsync(fd);
}

static struct mrlog__io
refusing_io(int mkdir_errno, int open_errno)
{
  struct mrlog__io io = mrlog__posix_io;

  memset(&g_io, 0, sizeof(g_io));
  g_io.mkdir_errno = mkdir_errno;
  g_io.open_errno = open_errno;
  io.mkdir = refusing_mkdir;
  io.open_dir = refusing_open_dir;
  io.fsync = recording_fsync;
  return io;
}

static bool
was_synced(const char *path)
{
  struct stat st;
  int i, n = atomic_load(&g_io.fsyncs);

  ck_assert_int_eq(stat(path, &st), 0);
  for (i = 0; i < n && i < 16; i++)
    if (g_io.synced[i] == st.st_ino)
      return true;
  return false;
}

/* ---- Status codes ------------------------------------------------------ */

START_TEST(test_new_status_codes) {
  ck_assert_int_eq(MRLOG_EACCES, -13);
  ck_assert_int_eq(MRLOG_ENOENT, -1002);
  ck_assert_int_ne(MRLOG_ENOENT, MRLOG_ENOQUEUE);
  ck_assert_str_eq(mrlog_err_name(MRLOG_EACCES), "EACCES");
  ck_assert_str_eq(mrlog_err_name(MRLOG_ENOENT), "ENOENT");
  ck_assert_str_eq(mrlog_strerror(MRLOG_ENOENT), "no such file or directory");
  ck_assert_ptr_nonnull(strstr(mrlog_strerror(MRLOG_EACCES),
                               "permission denied"));
  /* The messages of EIO and ENOSPC also describe a failed open. */
  ck_assert_ptr_null(strstr(mrlog_strerror(MRLOG_EIO), "failed"));
  ck_assert_ptr_null(strstr(mrlog_strerror(MRLOG_ENOSPC), "failed"));
}
END_TEST

/* ---- Refused and missing directories ----------------------------------- */

/* mkdir refused (EACCES, EPERM, EROFS): MRLOG_EACCES, path in log_fn. */
START_TEST(test_open_mkdir_refused) {
  static const int errs[] = { EACCES, EPERM, EROFS };
  char *dir = th_sub("log");
  size_t i;

  for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
    struct capture c;
    mrlog_policy p = capturing_policy(&c);
    struct mrlog__io io = refusing_io(errs[i], 0);
    mrlog *log = (mrlog *)&log;
    int rc = mrlog__open_with_io(dir, &p, &io, &log);

    ck_assert_msg(rc == MRLOG_EACCES, "mkdir %s: got %s (%d)",
                  strerror(errs[i]), mrlog_err_name(rc), rc);
    ck_assert_ptr_null(log);
    expect_open_report(&c, rc, dir, errs[i]);
  }
  free(dir);
}
END_TEST

/* An existing directory that may not be opened or is on a read-only file
 * system. */
START_TEST(test_open_dir_refused) {
  static const int errs[] = { EACCES, EPERM, EROFS };
  size_t i;

  for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
    struct capture c;
    mrlog_policy p = capturing_policy(&c);
    struct mrlog__io io = refusing_io(0, errs[i]);
    mrlog *log = (mrlog *)&log;
    int rc = mrlog__open_with_io(th_dir, &p, &io, &log);

    ck_assert_msg(rc == MRLOG_EACCES, "open %s: got %s (%d)",
                  strerror(errs[i]), mrlog_err_name(rc), rc);
    ck_assert_ptr_null(log);
    expect_open_report(&c, rc, th_dir, errs[i]);
  }
}
END_TEST

START_TEST(test_open_missing_parent_enoent) {
  char *dir = th_sub("a/b");
  struct capture c;
  mrlog_policy p = capturing_policy(&c);
  mrlog *log = (mrlog *)&log;
  int rc = mrlog_open(dir, &p, &log);

  ck_assert_msg(rc == MRLOG_ENOENT, "got %s (%d)", mrlog_err_name(rc), rc);
  ck_assert_ptr_null(log);
  expect_open_report(&c, rc, dir, ENOENT);
  free(dir);
}
END_TEST

/* A long path (past a 512-byte message) keeps its OS error text. */
START_TEST(test_open_missing_parent_long_path) {
  char name[5 * 201 + 2], *dir;
  struct capture c;
  mrlog_policy p = capturing_policy(&c);
  mrlog *log = (mrlog *)&log;
  int i, rc;

  for (i = 0; i < 5; i++) {
    memset(name + i * 201, 'a' + i, 200);
    name[i * 201 + 200] = '/';
  }
  name[5 * 201] = 'z';
  name[5 * 201 + 1] = '\0';
  dir = th_sub(name);
  rc = mrlog_open(dir, &p, &log);
  ck_assert_int_eq(rc, MRLOG_ENOENT);
  expect_open_report(&c, rc, dir, ENOENT);
  free(dir);
}
END_TEST

/* create_parents makes every missing level and fsyncs the directory
 * holding each new entry. */
START_TEST(test_open_create_parents) {
  char *a = th_sub("a"), *ab = th_sub("a/b"), *dir = th_sub("a/b/c");
  mrlog_policy p = th_policy();
  struct mrlog__io io = refusing_io(0, 0);
  mrlog *log = NULL;
  struct stat st;

  p.create_parents = 1;
  ck_assert_int_eq(mrlog__open_with_io(dir, &p, &io, &log), 0);
  ck_assert_int_eq(th_create(log, "q"), 0);
  th_close(log);
  ck_assert_int_eq(stat(dir, &st), 0);
  ck_assert(S_ISDIR(st.st_mode));
  ck_assert_msg(was_synced(th_dir), "a's entry in th_dir not fsynced");
  ck_assert_msg(was_synced(a), "b's entry in a not fsynced");
  ck_assert_msg(was_synced(ab), "c's entry in a/b not fsynced");
  /* And again, now that it all exists. */
  log = th_open(dir, &p);
  ck_assert(mrlog_queue_exists(log, "q"));
  th_close(log);
  free(a);
  free(ab);
  free(dir);
}
END_TEST

/* With create_parents, a refused mkdir is still MRLOG_EACCES. */
START_TEST(test_open_create_parents_refused) {
  char *dir = th_sub("x/y");
  struct capture c;
  mrlog_policy p = capturing_policy(&c);
  struct mrlog__io io = refusing_io(EROFS, 0);
  mrlog *log = (mrlog *)&log;
  int rc;

  p.create_parents = 1;
  rc = mrlog__open_with_io(dir, &p, &io, &log);
  ck_assert_int_eq(rc, MRLOG_EACCES);
  ck_assert_ptr_null(log);
  expect_open_report(&c, rc, dir, EROFS);
  free(dir);
}
END_TEST

static int
rofs_openat(void *ctx, int dir_fd, const char *name, int flags, mode_t mode)
{
  (void)ctx;
  if (flags & O_CREAT) {
    errno = EROFS;
    return -1;
  }
  return openat(dir_fd, name, flags, mode);
}

/* The directory and its LOCK exist, but no new file may be made in it
 * (a file system remounted read-only): the first segment's creation is
 * refused, which is MRLOG_EACCES at open, not a failed log's MRLOG_EIO. */
START_TEST(test_open_segment_create_refused) {
  struct capture c;
  mrlog_policy p = capturing_policy(&c);
  struct mrlog__io io = refusing_io(0, 0);
  mrlog *log = (mrlog *)&log;
  int rc;

  th_close(th_open(th_dir, NULL)); /* LOCK and a segment exist */
  io.openat = rofs_openat;
  rc = mrlog__open_with_io(th_dir, &p, &io, &log);
  ck_assert_msg(rc == MRLOG_EACCES, "got %s (%d)", mrlog_err_name(rc), rc);
  ck_assert_ptr_null(log);
  expect_open_report(&c, rc, th_dir, EROFS);
}
END_TEST

static int
eio_fsync(void *ctx, int fd)
{
  (void)ctx;
  (void)fd;
  errno = EIO;
  return -1;
}

/* A directory fsync that fails during the open: MRLOG_EIO, reported
 * without calling the log (which never opened) failed or read-only. */
START_TEST(test_open_eio_not_called_failed) {
  struct capture c;
  mrlog_policy p = capturing_policy(&c);
  struct mrlog__io io = refusing_io(0, 0);
  mrlog *log = (mrlog *)&log;
  int rc;

  io.fsync = eio_fsync;
  rc = mrlog__open_with_io(th_dir, &p, &io, &log);
  ck_assert_msg(rc == MRLOG_EIO, "got %s (%d)", mrlog_err_name(rc), rc);
  ck_assert_ptr_null(log);
  expect_open_report(&c, rc, th_dir, EIO);
}
END_TEST

/* Other open failures reach log_fn too: a held lock, a bad policy. */
START_TEST(test_open_failures_reported) {
  struct capture c;
  mrlog_policy p = capturing_policy(&c);
  mrlog *first = th_open(th_dir, NULL), *log = (mrlog *)&log;

  ck_assert_int_eq(mrlog_open(th_dir, &p, &log), MRLOG_ELOCKED);
  ck_assert_ptr_nonnull(strstr(c.text, th_dir));
  th_close(first);
  c.text[0] = '\0';
  p.ring_slots = 3;
  ck_assert_int_eq(mrlog_open(th_dir, &p, &log), MRLOG_EINVAL);
  ck_assert_ptr_nonnull(strstr(c.text, th_dir));
}
END_TEST

/* ---- file_mode --------------------------------------------------------- */

START_TEST(test_file_mode_bits) {
  static const mode_t bad[] = { 04644, 02644, 01644, 0755, 0744, 0645,
                                0100644, 0777 };
  static const mode_t good[] = { 0, 0600, 0644, 0666, 0640, 0400 };
  size_t i;

  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    mrlog_policy p = th_policy();
    mrlog *log = (mrlog *)&log;

    p.file_mode = bad[i];
    ck_assert_msg(mrlog_open(th_dir, &p, &log) == MRLOG_EINVAL,
                  "file_mode 0%o accepted", (unsigned)bad[i]);
    ck_assert_ptr_null(log);
  }
  for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    mrlog_policy p = th_policy();

    p.file_mode = good[i];
    th_close(th_open(th_dir, &p));
  }
}
END_TEST

/* ---- Batches past MRLOG_POSITION_MAX ----------------------------------- */

static int
batch_at(mrlog *log, const uint64_t *first, size_t count, uint64_t *pos)
{
  struct iovec iov[3] = { { "a", 1 }, { "b", 1 }, { "c", 1 } };

  return th_wait(mrlog_append_batch(log, "q", first, iov, count, NULL, NULL),
                 pos);
}

START_TEST(test_batch_past_position_max) {
  mrlog *log = th_open(th_dir, NULL);
  uint64_t first, pos;
  int rc;

  ck_assert_int_eq(th_create(log, "q"), 0);
  /* Explicit, below next: would be a duplicate, but its end wraps. */
  ck_assert_int_eq(th_truncate(log, "q", MRLOG_POSITION_MAX), 0);
  first = MRLOG_POSITION_MAX;
  pos = 77;
  rc = batch_at(log, &first, 3, &pos);
  ck_assert_msg(rc == MRLOG_EINVAL, "got %s (%d) at position %ju",
                mrlog_err_name(rc), rc, (uintmax_t)pos);
  first = MRLOG_POSITION_MAX - 1;
  ck_assert_int_eq(batch_at(log, &first, 3, &pos), MRLOG_EINVAL);
  first = UINT64_MAX;
  ck_assert_int_eq(batch_at(log, &first, 1, &pos), MRLOG_EINVAL);
  /* Inside the range, below next: still a duplicate. */
  first = MRLOG_POSITION_MAX - 2;
  ck_assert_int_eq(batch_at(log, &first, 3, &pos), MRLOG_DUPLICATE);
  ck_assert_uint_eq(pos, MRLOG_POSITION_MAX);
  th_close(log);
}
END_TEST

/* Implicit first position (next) that the batch would carry past the
 * end. */
START_TEST(test_batch_implicit_past_position_max) {
  mrlog *log = th_open(th_dir, NULL);
  struct mrlog_queue_info info;
  uint64_t pos;

  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(th_append_at(log, "q", MRLOG_POSITION_MAX - 1, "x", 1,
                                NULL), 0);
  ck_assert_int_eq(batch_at(log, NULL, 2, &pos), MRLOG_EINVAL);
  info = th_info(log, "q");
  ck_assert_uint_eq(info.next_position, MRLOG_POSITION_MAX);
  ck_assert_int_eq(batch_at(log, NULL, 1, &pos), 0);
  ck_assert_uint_eq(pos, MRLOG_POSITION_MAX);
  th_close(log);
}
END_TEST

/* ---- mrlog_sync covers every thread's earlier calls --------------------- */

#define SYNC_APPENDS 2000

struct appender {
  mrlog *log;
  mrlog_future *f[SYNC_APPENDS];
  sem_t returned; /* posted once every append call has returned */
};

static void *
appender_main(void *arg)
{
  struct appender *a = arg;
  int i;

  for (i = 0; i < SYNC_APPENDS; i++)
    a->f[i] = mrlog_append(a->log, "q", NULL, "payload", 7, NULL, NULL);
  sem_post(&a->returned);
  return NULL;
}

/* Counts the writes that no fdatasync has covered yet. */
static atomic_long g_unsynced_writes;

static ssize_t
counting_pwrite(void *ctx, int fd, const void *buf, size_t len, off_t off)
{
  (void)ctx;
  atomic_fetch_add(&g_unsynced_writes, 1);
  return pwrite(fd, buf, len, off);
}

static int
counting_fdatasync(void *ctx, int fd)
{
  long seen = atomic_load(&g_unsynced_writes);
  int rc;

  (void)ctx;
  rc = fdatasync(fd);
  if (rc == 0)
    atomic_fetch_sub(&g_unsynced_writes, seen);
  return rc;
}

static void
sync_covers_other_thread(unsigned fsync_interval_ms)
{
  struct mrlog__io io = mrlog__posix_io;
  mrlog_policy p = th_policy();
  struct appender *a = calloc(1, sizeof(*a));
  mrlog *log = NULL;
  pthread_t t;
  int i;

  io.pwrite = counting_pwrite;
  io.pwritev = NULL;
  io.fdatasync = counting_fdatasync;
  atomic_store(&g_unsynced_writes, 0);
  /* Written mode with a timer that never fires in the test: only the
   * barrier syncs. */
  p.fsync_interval_ms = fsync_interval_ms;
  ck_assert_int_eq(mrlog__open_with_io(th_dir, &p, &io, &log), 0);
  ck_assert_int_eq(th_create(log, "q"), 0);
  a->log = log;
  sem_init(&a->returned, 0, 0);
  ck_assert_int_eq(pthread_create(&t, NULL, appender_main, a), 0);
  sem_wait(&a->returned);
  /* Every append of the other thread has returned: the barrier covers
   * them, though this thread made none of them. */
  ck_assert_int_eq(th_sync(log), 0);
  for (i = 0; i < SYNC_APPENDS; i++)
    th_req(mrlog_ready(a->f[i]));
  ck_assert_int_eq(atomic_load(&g_unsynced_writes), 0);
  for (i = 0; i < SYNC_APPENDS; i++)
    th_req_int_eq(mrlog_wait(a->f[i], NULL), 0);
  pthread_join(t, NULL);
  th_close(log);
  sem_destroy(&a->returned);
  free(a);
}

START_TEST(test_sync_covers_other_threads_group) {
  sync_covers_other_thread(0);
}
END_TEST

START_TEST(test_sync_covers_other_threads_written) {
  sync_covers_other_thread(3600u * 1000u);
}
END_TEST

Suite *
make_errors_suite(void)
{
  Suite *s = suite_create("errors");
  TCase *tc;

  tc = tcase_create("status");
  tcase_add_test(tc, test_new_status_codes);
  suite_add_tcase(s, tc);

  tc = tcase_create("open");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_open_mkdir_refused);
  tcase_add_test(tc, test_open_dir_refused);
  tcase_add_test(tc, test_open_missing_parent_enoent);
  tcase_add_test(tc, test_open_missing_parent_long_path);
  tcase_add_test(tc, test_open_create_parents);
  tcase_add_test(tc, test_open_create_parents_refused);
  tcase_add_test(tc, test_open_segment_create_refused);
  tcase_add_test(tc, test_open_eio_not_called_failed);
  tcase_add_test(tc, test_open_failures_reported);
  tcase_add_test(tc, test_file_mode_bits);
  suite_add_tcase(s, tc);

  tc = tcase_create("positions");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_batch_past_position_max);
  tcase_add_test(tc, test_batch_implicit_past_position_max);
  suite_add_tcase(s, tc);

  tc = tcase_create("sync_barrier");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_sync_covers_other_threads_group);
  tcase_add_test(tc, test_sync_covers_other_threads_written);
  suite_add_tcase(s, tc);
  return s;
}

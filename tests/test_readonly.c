/*
 * test_readonly.c -- suite "readonly": policy.read_only opens a log
 * without changing anything in its directory.
 *
 * Each case checks two things: what the read-only view shows (the same
 * queues and records a writing open recovers, every mutation refused with
 * MRLOG_EINVAL on a library thread), and that nothing was touched: the
 * directory's fingerprint (every file's size and bytes) is unchanged, no
 * LOCK file appears, and the I/O layer under the log saw no mutating call
 * at all -- no write, sync, cut, rename, unlink, nor an open for writing.
 * The layer can also fail every such call (EROFS: a read-only file system)
 * or only the writes (ENOSPC: a full disk), to show that the open does not
 * depend on them.
 */
#include "check_mrlog.h"
#include "internal.h"
#include "segment.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- A recording file layer ------------------------------------------ */

/* Mutating calls attempted through the layer, and the first one's name. */
static atomic_int rec_attempts;
static const char *rec_first;
/* 0: mutating calls pass through.  Otherwise they fail with this errno:
 * every one of them, or (rec_writes_only) only pwrite and pwritev. */
static int rec_errno;
static bool rec_writes_only;
/* Opens of segment files for reading that fail with ENOENT, as if a
 * writer's cleaner had just removed the file, before they pass.  With
 * rec_vanish_grows, each such failure also appends a zero byte to the
 * newest segment, as a running writer changes the directory meanwhile. */
static atomic_int rec_vanish;
static bool rec_vanish_grows;

/* Appends one zero byte to the newest segment in dir_fd. */
static void
grow_newest(int dir_fd)
{
  uint64_t *segnos;
  size_t n;
  char name[MRLOG_SEGMENT_NAME_LEN + 1];
  int fd;

  if (mrlog__segment_list(dir_fd, &segnos, &n) != 0 || n == 0)
    return;
  mrlog__segment_name(name, segnos[n - 1]);
  free(segnos);
  fd = openat(dir_fd, name, O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd >= 0) {
    ck_assert_int_eq(write(fd, "", 1), 1);
    close(fd);
  }
}

/* Counts a mutating call; true if it is to fail (errno set). */
static bool
attempt(const char *what, bool is_write)
{
  if (atomic_fetch_add(&rec_attempts, 1) == 0)
    rec_first = what;
  if (rec_errno != 0 && (is_write || !rec_writes_only)) {
    errno = rec_errno;
    return true;
  }
  return false;
}

static int
rec_openat(void *ctx, int dir_fd, const char *name, int flags, mode_t mode)
{
  (void)ctx;
  if ((flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)) != 0 &&
      attempt("openat for writing", false))
    return -1;
  if ((flags & (O_WRONLY | O_RDWR)) == 0 && strstr(name, ".mrlog") != NULL &&
      atomic_load(&rec_vanish) > 0 && atomic_fetch_sub(&rec_vanish, 1) > 0) {
    if (rec_vanish_grows)
      grow_newest(dir_fd);
    errno = ENOENT;
    return -1;
  }
  return openat(dir_fd, name, flags, mode);
}

static ssize_t
rec_pwrite(void *ctx, int fd, const void *buf, size_t len, off_t off)
{
  (void)ctx;
  if (attempt("pwrite", true))
    return -1;
  return pwrite(fd, buf, len, off);
}

static int
rec_fdatasync(void *ctx, int fd)
{
  (void)ctx;
  if (attempt("fdatasync", false))
    return -1;
  return fdatasync(fd);
}

static int
rec_fsync(void *ctx, int fd)
{
  (void)ctx;
  if (attempt("fsync", false))
    return -1;
  return fsync(fd);
}

static int
rec_ftruncate(void *ctx, int fd, off_t len)
{
  (void)ctx;
  if (attempt("ftruncate", false))
    return -1;
  return ftruncate(fd, len);
}

static int
rec_unlinkat(void *ctx, int dir_fd, const char *name)
{
  (void)ctx;
  if (attempt("unlinkat", false))
    return -1;
  return unlinkat(dir_fd, name, 0);
}

static int
rec_renameat(void *ctx, int dir_fd, const char *from, const char *to)
{
  (void)ctx;
  if (attempt("renameat", false))
    return -1;
  return renameat(dir_fd, from, dir_fd, to);
}

static struct mrlog__io rec_io;

/* Installs the recording layer: fail_errno 0 passes every call through. */
static void
rec_arm(int fail_errno, bool writes_only)
{
  rec_io = mrlog__posix_io;
  rec_io.openat = rec_openat;
  rec_io.pwrite = rec_pwrite;
  rec_io.pwritev = NULL; /* gather writes go through rec_pwrite */
  rec_io.fdatasync = rec_fdatasync;
  rec_io.fsync = rec_fsync;
  rec_io.ftruncate = rec_ftruncate;
  rec_io.unlinkat = rec_unlinkat;
  rec_io.renameat = rec_renameat;
  atomic_store(&rec_attempts, 0);
  rec_first = NULL;
  rec_errno = fail_errno;
  rec_writes_only = writes_only;
  atomic_store(&rec_vanish, 0);
  rec_vanish_grows = false;
}

#define expect_no_mutation()                                             \
  ck_assert_msg(atomic_load(&rec_attempts) == 0,                         \
                "%d mutating calls attempted, the first: %s",            \
                atomic_load(&rec_attempts),                              \
                rec_first ? rec_first : "?")

/* ---- Fixtures ---------------------------------------------------------- */

#define FIX_RECORDS 300

static size_t
rec_len(uint64_t pos)
{
  return 8 + (size_t)(pos * 37 % 400);
}

/* A child opens dir (4 KiB segments: several of them), writes two queues
 * and truncates one, then exits without closing: the newest segment is
 * left unsealed, as a crash leaves it.  torn > 0 appends that many bytes
 * of a frame that never finished to the newest segment. */
static void
make_crashed_log(const char *dir, size_t torn)
{
  unsigned char buf[512];
  pid_t pid;
  int status;

  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    mrlog_policy p = th_policy();
    mrlog *log = NULL;
    uint64_t i;

    p.segment_bytes = 4096;
    if (mrlog_open(dir, &p, &log) != 0)
      _exit(10);
    if (th_wait(mrlog_create_queue(log, "a", NULL, NULL), NULL) != 0 ||
        th_wait(mrlog_create_queue(log, "b", NULL, NULL), NULL) != 0)
      _exit(11);
    for (i = 0; i < FIX_RECORDS; i++) {
      th_fill(buf, rec_len(i), i);
      if (th_wait(mrlog_append(log, i % 3 ? "a" : "b", NULL, buf, rec_len(i),
                               NULL, NULL), NULL) != 0)
        _exit(12);
    }
    if (th_wait(mrlog_truncate(log, "b", 20, NULL, NULL), NULL) != 0)
      _exit(13);
    _exit(0);
  }
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFEXITED(status));
  ck_assert_int_eq(WEXITSTATUS(status), 0);
  if (torn > 0) {
    char *last = th_last_segment(dir);

    memset(buf, 0xab, sizeof(buf));
    ck_assert_uint_le(torn, sizeof(buf));
    th_append_file(last, buf, torn);
    free(last);
  }
}

/* The snapshot a writing open of a copy of dir recovers (the copy is
 * changed by it; dir is not). */
static char *
writer_snapshot(const char *dir)
{
  char *copy = th_sub("copy");
  char *snap;
  mrlog *log;

  th_copy_dir(dir, copy);
  log = th_open(copy, NULL);
  snap = th_snapshot(log);
  th_close(log);
  th_rmrf(copy);
  free(copy);
  return snap;
}

static mrlog_policy
ro_policy(void)
{
  mrlog_policy p = th_policy();

  p.read_only = 1;
  return p;
}

/* Opens dir read-only through the recording layer; asserts success. */
static mrlog *
ro_open(const char *dir)
{
  mrlog_policy p = ro_policy();
  mrlog *log = NULL;

  ck_assert_int_eq(mrlog__open_with_io(dir, &p, &rec_io, &log), 0);
  ck_assert_ptr_nonnull(log);
  return log;
}

/* Opens th_dir read-only through the recording layer, with the vanishing
 * opens it was armed with all used up, and expects the writer's view. */
static void
expect_ro_view(const char *snap)
{
  mrlog *log = ro_open(th_dir);
  char *ro;

  ck_assert_int_eq(atomic_load(&rec_vanish), 0);
  ro = th_snapshot(log);
  ck_assert_str_eq(ro, snap);
  free(ro);
  ck_assert_int_eq(mrlog_close(log), 0);
}

/* Removes dir/LOCK, so a test can tell whether an open made it again. */
static char *
drop_lock(const char *dir)
{
  char *lock = th_path(dir, "LOCK");

  unlink(lock);
  return lock;
}

/* ---- Cases ------------------------------------------------------------- */

/* Reads work; every mutating call completes with MRLOG_EINVAL, on a
 * library thread; close returns 0; nothing in the directory changed. */
START_TEST(test_ro_reads_and_refuses) {
  char *lock, *before, *after, *snap = NULL;
  struct th_counter c;
  struct mrlog_stats st;
  struct mrlog_queue_info info;
  struct iovec iov[2] = { { "x", 1 }, { "y", 1 } };
  uint64_t pos = 5;
  mrlog *log;

  make_crashed_log(th_dir, 0);
  snap = writer_snapshot(th_dir);
  lock = drop_lock(th_dir);
  before = th_dir_fingerprint(th_dir);
  rec_arm(0, false);
  log = ro_open(th_dir);
  {
    char *ro = th_snapshot(log);
    ck_assert_str_eq(ro, snap);
    free(ro);
  }
  ck_assert_uint_eq(th_count_queues(log), 2);
  ck_assert_int_eq(mrlog_queue_info(log, "b", &info), 0);
  ck_assert_uint_eq(info.first_position, 21);
  ck_assert_int_eq(mrlog_stats(log, &st), 0);
  ck_assert_int_eq(st.failed, 0);
  ck_assert_uint_ge(st.segment_files, 2);

  th_counter_init(&c);
  mrlog_forget(mrlog_create_queue(log, "new", th_counter_cb, &c));
  mrlog_forget(mrlog_delete_queue(log, "a", th_counter_cb, &c));
  mrlog_forget(mrlog_append(log, "a", NULL, "z", 1, th_counter_cb, &c));
  mrlog_forget(mrlog_append(log, "a", &pos, "z", 1, th_counter_cb, &c));
  mrlog_forget(mrlog_append_batch(log, "a", NULL, iov, 2, th_counter_cb, &c));
  mrlog_forget(mrlog_truncate(log, "a", 100, th_counter_cb, &c));
  mrlog_forget(mrlog_sync(log, th_counter_cb, &c));
  ck_assert(th_counter_wait(&c, 7, 10000));
  {
    long einval = atomic_load(&c.einval);
    long on_app = atomic_load(&c.on_app_thread);

    ck_assert_int_eq(einval, 7);
    ck_assert_int_eq(on_app, 0);
  }
  ck_assert_int_eq(th_wait(mrlog_append(log, "a", NULL, "z", 1, NULL, NULL),
                           NULL), MRLOG_EINVAL);
  ck_assert_int_eq(th_wait(mrlog_sync(log, NULL, NULL), NULL), MRLOG_EINVAL);
  {
    char *ro = th_snapshot(log); /* nothing was applied */
    ck_assert_str_eq(ro, snap);
    free(ro);
  }
  ck_assert_int_eq(mrlog_close(log), 0);
  expect_no_mutation();
  after = th_dir_fingerprint(th_dir);
  ck_assert_str_eq(after, before);
  ck_assert_msg(th_file_size(lock) == -1, "a read-only open created LOCK");
  free(before);
  free(after);
  free(snap);
  free(lock);
}
END_TEST

/* A torn tail is cut in memory only: the view is what a writing open
 * recovers, the discarded bytes are reported, and the file keeps them. */
START_TEST(test_ro_torn_tail_not_cut) {
  char *before, *after, *snap, *last;
  off_t size;
  mrlog *log;

  make_crashed_log(th_dir, 77);
  snap = writer_snapshot(th_dir);
  last = th_last_segment(th_dir);
  size = th_file_size(last);
  before = th_dir_fingerprint(th_dir);
  rec_arm(0, false);
  log = ro_open(th_dir);
  {
    char *ro = th_snapshot(log);
    ck_assert_str_eq(ro, snap);
    free(ro);
  }
  ck_assert_uint_ge(th_stats(log).discarded_tail_bytes, 77);
  ck_assert_int_eq(mrlog_close(log), 0);
  expect_no_mutation();
  after = th_dir_fingerprint(th_dir);
  ck_assert_str_eq(after, before);
  ck_assert_int_eq(th_file_size(last), size);
  free(before);
  free(after);
  free(snap);
  free(last);
}
END_TEST

/* A newest segment whose creation was cut short (a torn header after a
 * sealed segment) is left where it is, not renamed aside. */
START_TEST(test_ro_creation_cut_short_not_renamed) {
  char *before, *after, *snap, *last, *next;
  char name[64];
  mrlog *log;
  unsigned long long segno;

  log = th_open(th_dir, NULL);
  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(th_append_str(log, "q", "kept", NULL), 0);
  th_close(log); /* sealed */
  last = th_last_segment(th_dir);
  ck_assert_int_eq(sscanf(strrchr(last, '/') + 1, "%16llx", &segno), 1);
  snprintf(name, sizeof(name), "%016llx.mrlog", segno + 1);
  next = th_path(th_dir, name);
  th_write_file(next, "MRLOG", 5);
  snap = writer_snapshot(th_dir);
  before = th_dir_fingerprint(th_dir);
  rec_arm(0, false);
  log = ro_open(th_dir);
  {
    char *ro = th_snapshot(log);
    ck_assert_str_eq(ro, snap);
    free(ro);
  }
  ck_assert_int_eq(mrlog_close(log), 0);
  expect_no_mutation();
  after = th_dir_fingerprint(th_dir);
  ck_assert_str_eq(after, before);
  ck_assert_int_eq(th_file_size(next), 5);
  free(before);
  free(after);
  free(snap);
  free(last);
  free(next);
}
END_TEST

/* A read-only file system: every mutating call would fail with EROFS.
 * The open succeeds, because it makes none. */
START_TEST(test_ro_erofs) {
  char *snap, *before, *after;
  mrlog *log;

  make_crashed_log(th_dir, 40);
  snap = writer_snapshot(th_dir);
  before = th_dir_fingerprint(th_dir);
  rec_arm(EROFS, false);
  log = ro_open(th_dir);
  {
    char *ro = th_snapshot(log);
    ck_assert_str_eq(ro, snap);
    free(ro);
  }
  ck_assert_int_eq(th_stats(log).failed, 0);
  ck_assert_int_eq(mrlog_close(log), 0);
  expect_no_mutation();
  after = th_dir_fingerprint(th_dir);
  ck_assert_str_eq(after, before);
  free(snap);
  free(before);
  free(after);
}
END_TEST

/* A full disk: writes fail with ENOSPC.  A writing open cuts the torn
 * tail and then fails to seal the segment (MRLOG_ENOSPC), having changed
 * the file; a read-only open succeeds with every record readable and
 * changes nothing. */
START_TEST(test_ro_full_disk) {
  char *copy = th_sub("full"), *snap, *before, *after, *last;
  mrlog_policy p = th_policy();
  mrlog *log = NULL;
  off_t size;

  make_crashed_log(th_dir, 60);
  snap = writer_snapshot(th_dir);

  /* The writing open, on a copy. */
  th_copy_dir(th_dir, copy);
  last = th_last_segment(copy);
  size = th_file_size(last);
  rec_arm(ENOSPC, true);
  ck_assert_int_eq(mrlog__open_with_io(copy, &p, &rec_io, &log),
                   MRLOG_ENOSPC);
  ck_assert_ptr_null(log);
  ck_assert_int_lt(th_file_size(last), size); /* the tail was cut */
  free(last);

  /* The read-only open of the original. */
  before = th_dir_fingerprint(th_dir);
  rec_arm(ENOSPC, true);
  log = ro_open(th_dir);
  {
    char *ro = th_snapshot(log);
    ck_assert_str_eq(ro, snap);
    free(ro);
  }
  ck_assert_int_eq(mrlog_close(log), 0);
  expect_no_mutation();
  after = th_dir_fingerprint(th_dir);
  ck_assert_str_eq(after, before);
  th_rmrf(copy);
  free(copy);
  free(snap);
  free(before);
  free(after);
}
END_TEST

/* A missing directory is an error and is not created; an empty one is an
 * empty log, and stays empty. */
START_TEST(test_ro_missing_and_empty_dir) {
  char *missing = th_sub("missing"), *empty = th_sub("empty");
  char **names;
  mrlog_policy p = ro_policy();
  mrlog *log = NULL;

  rec_arm(0, false);
  ck_assert_int_eq(mrlog__open_with_io(missing, &p, &rec_io, &log),
                   MRLOG_ENOENT); /* as a writing open's missing parent */
  ck_assert_ptr_null(log);
  ck_assert_int_eq(th_file_size(missing), -1);
  ck_assert_int_eq(mkdir(empty, 0755), 0);
  log = ro_open(empty);
  ck_assert_uint_eq(th_count_queues(log), 0);
  ck_assert_int_eq(th_wait(mrlog_create_queue(log, "q", NULL, NULL), NULL),
                   MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_close(log), 0);
  expect_no_mutation();
  ck_assert_uint_eq(th_list_dir(empty, &names), 0);
  th_free_names(names, 0);
  free(missing);
  free(empty);
}
END_TEST

/* A writer opening while a read-only open is live succeeds (read-only
 * opens take no lock), and the read-only view keeps what it had. */
START_TEST(test_ro_writer_opens_beside) {
  mrlog *ro, *w, *ro2;
  char *snap;

  w = th_open(th_dir, NULL);
  ck_assert_int_eq(th_create(w, "q"), 0);
  ck_assert_int_eq(th_append_str(w, "q", "one", NULL), 0);
  th_close(w);
  rec_arm(0, false);
  ro = ro_open(th_dir);
  snap = th_snapshot(ro);
  ro2 = ro_open(th_dir); /* two readers at once */
  w = th_open(th_dir, NULL);
  ck_assert_int_eq(th_append_str(w, "q", "two", NULL), 0);
  ck_assert_uint_eq(th_info(ro, "q").records, 1);
  ck_assert_uint_eq(th_info(w, "q").records, 2);
  th_close(w);
  {
    char *now = th_snapshot(ro);
    ck_assert_str_eq(now, snap);
    free(now);
  }
  ck_assert_int_eq(mrlog_close(ro2), 0);
  ck_assert_int_eq(mrlog_close(ro), 0);
  expect_no_mutation();
  free(snap);
}
END_TEST

/* A segment that vanishes between the listing and the read (a running
 * writer's cleaner) makes the open start again; damage that stays fails
 * every attempt with MRLOG_ECORRUPT and changes nothing. */
START_TEST(test_ro_retry_and_real_damage) {
  char *snap, *before, *after, *first;
  mrlog_policy p = ro_policy();
  mrlog *log = NULL;

  make_crashed_log(th_dir, 0);
  snap = writer_snapshot(th_dir);
  rec_arm(0, false);
  atomic_store(&rec_vanish, 2);
  expect_ro_view(snap);

  first = th_first_segment(th_dir);
  ck_assert_int_gt(th_file_size(first), 1000);
  th_xor_byte(first, th_file_size(first) / 2, 0x5a);
  before = th_dir_fingerprint(th_dir);
  ck_assert_int_eq(mrlog__open_with_io(th_dir, &p, &rec_io, &log),
                   MRLOG_ECORRUPT);
  ck_assert_ptr_null(log);
  expect_no_mutation();
  after = th_dir_fingerprint(th_dir);
  ck_assert_str_eq(after, before);
  free(snap);
  free(first);
  free(before);
  free(after);
}
END_TEST

/* A read-only open that keeps meeting a changing directory (a writer's
 * cleaner removing segments, its writes growing them) is made again for
 * as long as the directory changes, not a fixed number of times; in an
 * unchanged directory the same failure ends it after a few attempts. */
START_TEST(test_ro_retry_while_directory_changes) {
  mrlog_policy p = ro_policy();
  mrlog *log = NULL;
  char *snap;

  make_crashed_log(th_dir, 0);
  snap = writer_snapshot(th_dir);
  rec_arm(0, false);
  rec_vanish_grows = true;
  atomic_store(&rec_vanish, 40);
  expect_ro_view(snap);

  rec_vanish_grows = false;
  atomic_store(&rec_vanish, 40);
  ck_assert_int_eq(mrlog__open_with_io(th_dir, &p, &rec_io, &log), MRLOG_EIO);
  ck_assert_ptr_null(log);
  ck_assert_int_gt(atomic_load(&rec_vanish), 0); /* gave up early */
  expect_no_mutation();
  free(snap);
}
END_TEST

/* ---- Beside a running writer ------------------------------------------ */

struct writer_arg {
  mrlog *log;
  atomic_uint_least64_t acked;  /* records [0, acked) are acknowledged */
  atomic_uint_least64_t submitted; /* appends made so far */
  atomic_bool stop;
  int failure;                  /* first failed status, or 0 */
};

/* Appends records whose bytes follow from their position, acknowledging
 * each before the next; truncates behind itself, so the cleaner deletes
 * segments while readers read. */
static void *
writer_main(void *p)
{
  struct writer_arg *a = p;
  unsigned char buf[512];
  uint64_t i;
  int rc;

  th_mark_app_thread();
  for (i = 0; !atomic_load(&a->stop); i++) {
    th_fill(buf, rec_len(i), i);
    atomic_store(&a->submitted, i + 1);
    rc = th_wait(mrlog_append(a->log, "q", NULL, buf, rec_len(i), NULL, NULL),
                 NULL);
    if (rc != 0) {
      a->failure = rc;
      break;
    }
    atomic_store(&a->acked, i + 1);
    if (i % 64 == 63 &&
        (rc = th_wait(mrlog_truncate(a->log, "q", i - 40, NULL, NULL),
                      NULL)) != 0) {
      a->failure = rc;
      break;
    }
  }
  return NULL;
}

/* Each read-only open beside the writer shows a consistent prefix: the
 * records of a contiguous range of positions, every one intact, ending at
 * or after what was acknowledged before the open began. */
START_TEST(test_ro_beside_running_writer) {
  long rounds = th_scaled(150), r;
  struct writer_arg a = { .log = NULL };
  mrlog_policy wp = th_policy();
  unsigned char want[512];
  pthread_t t;

  wp.segment_bytes = 4096;
  wp.cleaner_interval_ms = 2;
  ck_assert_int_eq(mrlog_open(th_dir, &wp, &a.log), 0);
  ck_assert_int_eq(th_create(a.log, "q"), 0);
  ck_assert_int_eq(pthread_create(&t, NULL, writer_main, &a), 0);
  rec_arm(0, false);
  for (r = 0; r < rounds; r++) {
    uint64_t acked = atomic_load(&a.acked), k;
    struct mrlog_queue_info info;
    struct th_recs got;
    mrlog *ro = ro_open(th_dir);

    ck_assert_int_eq(mrlog_queue_info(ro, "q", &info), 0);
    ck_assert_int_eq(th_collect(ro, "q", 0, UINT64_MAX, &got), 0);
    th_req_uint_eq(got.n, info.next_position - info.first_position);
    th_req(info.next_position >= acked);
    th_req(info.next_position <= atomic_load(&a.submitted));
    for (k = 0; k < got.n; k++) {
      uint64_t pos = info.first_position + k;

      th_req_uint_eq(got.v[k].pos, pos);
      th_req_uint_eq(got.v[k].len, rec_len(pos));
      th_fill(want, rec_len(pos), pos);
      th_req(memcmp(got.v[k].data, want, rec_len(pos)) == 0);
    }
    th_recs_free(&got);
    th_req_int_eq(mrlog_close(ro), 0);
  }
  atomic_store(&a.stop, true);
  pthread_join(t, NULL);
  ck_assert_int_eq(a.failure, 0);
  th_close(a.log);
  expect_no_mutation();
}
END_TEST

Suite *
make_readonly_suite(void)
{
  Suite *s = suite_create("readonly");
  TCase *tc = tcase_create("readonly");

  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_SLOW);
  tcase_add_test(tc, test_ro_reads_and_refuses);
  tcase_add_test(tc, test_ro_torn_tail_not_cut);
  tcase_add_test(tc, test_ro_creation_cut_short_not_renamed);
  tcase_add_test(tc, test_ro_erofs);
  tcase_add_test(tc, test_ro_full_disk);
  tcase_add_test(tc, test_ro_missing_and_empty_dir);
  tcase_add_test(tc, test_ro_writer_opens_beside);
  tcase_add_test(tc, test_ro_retry_and_real_damage);
  tcase_add_test(tc, test_ro_retry_while_directory_changes);
  tcase_add_test(tc, test_ro_beside_running_writer);
  suite_add_tcase(s, tc);
  return s;
}

/*
 * test_visibility.c -- policy.visibility: which records mrlog_range,
 * mrlog_range_time and mrlog_seek_time show, and queue info's
 * durable_position, in each fsync mode.
 *
 * A file layer under the I/O seam (lib/io.h) keeps, for each segment file,
 * a copy of its bytes as they were when its last successful fdatasync
 * began: what a power loss leaves (bytes written during or after a sync
 * are not promised).  Its fdatasyncs can be held at a gate, so records
 * are written and applied but not durable, and they can be made to fail.
 * Building a directory from the copies and reopening it shows which
 * records a power loss takes back: a reader under DURABLE visibility
 * (ACKNOWLEDGED with fsync_interval_ms 0) never saw one of them.
 */
#include "check_mrlog.h"
#include "internal.h"
#include "vis_layer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PL_FILES 64
#define PL_FDS 1024

static struct {
  pthread_mutex_t m;
  pthread_cond_t c;
  bool hold;               /* fdatasyncs wait at the gate */
  bool fail;               /* fdatasyncs fail with EIO */
  int nfiles;
  char names[PL_FILES][48];
  int fd_file[PL_FDS];     /* file id + 1 of each fd (0: none) */
  uint8_t *copy[PL_FILES]; /* bytes when its last good sync began */
  size_t copy_len[PL_FILES];
  bool synced[PL_FILES];
} pl = { .m = PTHREAD_MUTEX_INITIALIZER, .c = PTHREAD_COND_INITIALIZER };

static int
pl_openat(void *ctx, int dir_fd, const char *name, int flags, mode_t mode)
{
  int fd = mrlog__posix_io.openat(ctx, dir_fd, name, flags, mode), id;

  if (fd < 0 || fd >= PL_FDS || !th_is_segment_name(name))
    return fd;
  pthread_mutex_lock(&pl.m);
  for (id = 0; id < pl.nfiles; id++)
    if (strcmp(pl.names[id], name) == 0)
      break;
  if (id == pl.nfiles && pl.nfiles < PL_FILES)
    snprintf(pl.names[pl.nfiles++], sizeof(pl.names[0]), "%s", name);
  pl.fd_file[fd] = id < PL_FILES ? id + 1 : 0;
  pthread_mutex_unlock(&pl.m);
  return fd;
}

static int
pl_close(void *ctx, int fd)
{
  if (fd >= 0 && fd < PL_FDS) {
    pthread_mutex_lock(&pl.m);
    pl.fd_file[fd] = 0;
    pthread_mutex_unlock(&pl.m);
  }
  return mrlog__posix_io.close(ctx, fd);
}

static int
pl_fdatasync(void *ctx, int fd)
{
  int id, rc;
  uint8_t *buf = NULL;
  struct stat st;
  ssize_t got = 0;

  pthread_mutex_lock(&pl.m);
  while (pl.hold)
    pthread_cond_wait(&pl.c, &pl.m);
  id = fd >= 0 && fd < PL_FDS ? pl.fd_file[fd] - 1 : -1;
  if (pl.fail) {
    pthread_mutex_unlock(&pl.m);
    errno = EIO;
    return -1;
  }
  pthread_mutex_unlock(&pl.m);
  /* What the sync covers: the file as it is when the sync begins. */
  if (id >= 0 && fstat(fd, &st) == 0) {
    char path[64];
    int rfd;

    /* The library's fd may be write-only: read through a new one. */
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    rfd = open(path, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(rfd, 0);
    buf = malloc((size_t)st.st_size + 1);
    ck_assert_ptr_nonnull(buf);
    /* The writer may cut the file's zero-filled room between the fstat
     * and the read: what the read finds is what the sync covers. */
    got = pread(rfd, buf, (size_t)st.st_size, 0);
    ck_assert_int_ge(got, 0);
    close(rfd);
  }
  rc = mrlog__posix_io.fdatasync(ctx, fd);
  pthread_mutex_lock(&pl.m);
  if (rc == 0 && id >= 0) {
    free(pl.copy[id]);
    pl.copy[id] = buf;
    pl.copy_len[id] = (size_t)got;
    pl.synced[id] = true;
    buf = NULL;
  }
  pthread_mutex_unlock(&pl.m);
  free(buf);
  return rc;
}

void
vl_reset(void)
{
  int i;

  pthread_mutex_lock(&pl.m);
  for (i = 0; i < pl.nfiles; i++)
    free(pl.copy[i]);
  memset(pl.copy, 0, sizeof(pl.copy));
  memset(pl.synced, 0, sizeof(pl.synced));
  memset(pl.fd_file, 0, sizeof(pl.fd_file));
  pl.nfiles = 0;
  pl.hold = pl.fail = false;
  pthread_mutex_unlock(&pl.m);
}

void
vl_hold(bool on)
{
  pthread_mutex_lock(&pl.m);
  pl.hold = on;
  pthread_cond_broadcast(&pl.c);
  pthread_mutex_unlock(&pl.m);
}

void
vl_fail(bool on)
{
  pthread_mutex_lock(&pl.m);
  pl.fail = on;
  pthread_mutex_unlock(&pl.m);
}

static struct mrlog__io pl_io;

mrlog *
vl_open(const char *dir, const mrlog_policy *policy)
{
  mrlog *log = NULL;

  pl_io = mrlog__posix_io;
  pl_io.openat = pl_openat;
  pl_io.close = pl_close;
  pl_io.fdatasync = pl_fdatasync;
  pl_io.map = NULL; /* recovery reads through pread */
  pl_io.unmap = NULL;
  ck_assert_int_eq(mrlog__open_with_io(dir, policy, &pl_io, &log), 0);
  return log;
}

/* The directory a power loss leaves now: each segment as its last good
 * sync found it (a segment never synced is gone). */
static void
powerloss_image(const char *dir)
{
  int i;

  th_rmrf(dir);
  ck_assert_int_eq(mkdir(dir, 0700), 0);
  pthread_mutex_lock(&pl.m);
  for (i = 0; i < pl.nfiles; i++) {
    char *p;

    if (!pl.synced[i])
      continue;
    p = th_path(dir, pl.names[i]);
    th_write_file(p, pl.copy[i], pl.copy_len[i]);
    free(p);
  }
  pthread_mutex_unlock(&pl.m);
}

/* Waits (polling) until stats.appends reaches n: the records are written
 * and applied. */
void
vl_wait_appends(mrlog *log, uint64_t n)
{
  struct timespec ts = { 0, 1000000 };

  while (th_stats(log).appends < n)
    nanosleep(&ts, NULL);
}

/* Records mrlog_range shows from 0. */
static uint64_t
visible(mrlog *log, const char *queue)
{
  struct th_recs r;
  uint64_t n;

  ck_assert_int_eq(th_collect(log, queue, 0, UINT64_MAX, &r), 0);
  n = r.n;
  th_recs_free(&r);
  return n;
}

static int
count_time(void *arg, uint64_t pos, uint64_t ms, const void *data, size_t len)
{
  (void)pos;
  (void)ms;
  (void)data;
  (void)len;
  (*(uint64_t *)arg)++;
  return 0;
}

/* Fewer than the 16 staging batches a thread may have in flight: with
 * every sync held nothing completes, and on a loaded machine the writer
 * may take each append in a batch of its own, so a 17th would wait for a
 * batch forever (policy.nonblocking 0). */
#define RECS 12

/* One visibility mode in one fsync mode: RECS records appended while no
 * sync may complete are shown at once exactly when `early`; queue info's
 * durable_position stays below them; a power loss at that moment takes
 * them back; after mrlog_sync all are visible and durable. */
static void
check_mode(int visibility, unsigned interval_ms)
{
  mrlog_policy p = th_policy();
  mrlog_future *f[RECS];
  char *img = th_sub("image");
  struct mrlog_queue_info info;
  uint64_t n = 0, pos, base;
  bool early = visibility == MRLOG_VISIBLE_WRITTEN ||
               (visibility == MRLOG_VISIBLE_ACKNOWLEDGED && interval_ms > 0);
  mrlog *log, *back;
  int i;

  vl_reset();
  p.visibility = visibility;
  p.fsync_interval_ms = interval_ms;
  log = vl_open(th_dir, &p);
  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(th_append_str(log, "q", "durable", NULL), 0);
  ck_assert_int_eq(th_sync(log), 0);
  base = th_stats(log).appends;
  ck_assert_uint_eq(visible(log, "q"), 1);

  vl_hold(true);
  for (i = 0; i < RECS; i++) {
    char rec[32];
    snprintf(rec, sizeof(rec), "rec %d", i);
    f[i] = mrlog_append(log, "q", NULL, rec, strlen(rec), NULL, NULL);
    ck_assert_ptr_nonnull(f[i]);
  }
  vl_wait_appends(log, base + RECS);

  ck_assert_uint_eq(visible(log, "q"), early ? 1 + RECS : 1);
  ck_assert_int_eq(mrlog_range_time(log, "q", 0, UINT64_MAX, count_time, &n),
                   0);
  ck_assert_uint_eq(n, early ? 1 + RECS : 1);
  info = th_info(log, "q");
  ck_assert_uint_eq(info.next_position, 1 + RECS);
  ck_assert_uint_eq(info.durable_position, 1);
  /* The newest records are not durable: seek_time finds them only if
   * they are visible. */
  ck_assert_int_eq(mrlog_seek_time(log, "q", info.last_time_ms, &pos),
                   info.last_time_ms > info.first_time_ms && !early
                       ? MRLOG_ENODATA
                       : 0);

  /* A power loss now takes back every record appended since the gate. */
  powerloss_image(img);
  back = th_open(img, NULL);
  ck_assert_uint_eq(visible(back, "q"), 1);
  th_close(back);

  vl_hold(false);
  ck_assert_int_eq(th_sync(log), 0);
  for (i = 0; i < RECS; i++)
    ck_assert_int_eq(th_wait(f[i], NULL), 0);
  ck_assert_uint_eq(visible(log, "q"), 1 + RECS);
  info = th_info(log, "q");
  ck_assert_uint_eq(info.durable_position, 1 + RECS);
  powerloss_image(img);
  back = th_open(img, NULL);
  ck_assert_uint_eq(visible(back, "q"), 1 + RECS);
  th_close(back);
  th_close(log);
  th_rmrf(img);
  free(img);
}

START_TEST(test_ack_durable_mode)
{
  check_mode(MRLOG_VISIBLE_ACKNOWLEDGED, 0);
}
END_TEST

START_TEST(test_ack_written_mode)
{
  check_mode(MRLOG_VISIBLE_ACKNOWLEDGED, 3600000);
}
END_TEST

START_TEST(test_durable_durable_mode)
{
  check_mode(MRLOG_VISIBLE_DURABLE, 0);
}
END_TEST

START_TEST(test_durable_written_mode)
{
  check_mode(MRLOG_VISIBLE_DURABLE, 3600000);
}
END_TEST

START_TEST(test_written_durable_mode)
{
  check_mode(MRLOG_VISIBLE_WRITTEN, 0);
}
END_TEST

START_TEST(test_written_written_mode)
{
  check_mode(MRLOG_VISIBLE_WRITTEN, 3600000);
}
END_TEST

/* A reader under DURABLE visibility polls while a writer appends and the
 * flusher syncs (interval mode: syncs every few ms); at the end a power
 * loss image is built: every record the reader ever saw is in it. */
struct poll_arg {
  mrlog *log;
  atomic_bool stop;
  uint64_t seen;     /* visible records at the last look */
  uint64_t durable;  /* durable_position at the last look */
};

static void *
poller(void *arg)
{
  struct poll_arg *a = arg;

  while (!atomic_load(&a->stop)) {
    uint64_t v = visible(a->log, "q");
    struct mrlog_queue_info info = th_info(a->log, "q");

    th_req(v >= a->seen);
    a->seen = v;
    th_req(info.durable_position >= a->durable);
    a->durable = info.durable_position;
  }
  return NULL;
}

static void
check_live(unsigned interval_ms)
{
  mrlog_policy p = th_policy();
  struct poll_arg a = { .seen = 0 };
  char *img = th_sub("image");
  pthread_t t;
  mrlog *log, *back;
  uint64_t i, seen, durable, n = (uint64_t)th_scaled(3000);

  vl_reset();
  p.visibility = MRLOG_VISIBLE_DURABLE;
  p.fsync_interval_ms = interval_ms;
  log = vl_open(th_dir, &p);
  ck_assert_int_eq(th_create(log, "q"), 0);
  a.log = log;
  atomic_init(&a.stop, false);
  ck_assert_int_eq(pthread_create(&t, NULL, poller, &a), 0);
  for (i = 0; i < n; i++)
    mrlog_forget(mrlog_append(log, "q", NULL, "x", 1, NULL, NULL));
  vl_wait_appends(log, n);
  /* Stop the syncs, then look: what the reader saw is durable. */
  vl_hold(true);
  atomic_store(&a.stop, true);
  pthread_join(t, NULL);
  seen = visible(log, "q");
  durable = th_info(log, "q").durable_position;
  ck_assert_uint_ge(seen, a.seen);
  ck_assert_uint_le(seen, durable);
  powerloss_image(img);
  back = th_open(img, NULL);
  /* No sync may have covered the create yet (a loaded machine): then the
   * reader saw nothing and the image may lack the queue. */
  if (!mrlog_queue_exists(back, "q")) {
    ck_assert_uint_eq(seen, 0);
    ck_assert_uint_eq(durable, 0);
  } else {
    ck_assert_uint_ge(visible(back, "q"), seen);
    ck_assert_uint_ge(th_info(back, "q").next_position, durable);
  }
  th_close(back);
  vl_hold(false);
  th_close(log);
  th_rmrf(img);
  free(img);
}

START_TEST(test_live_durable_mode)
{
  check_live(0);
}
END_TEST

START_TEST(test_live_written_mode)
{
  check_live(2);
}
END_TEST

/* Records recovered at open are durable and visible under DURABLE. */
START_TEST(test_recovered_durable)
{
  mrlog_policy p = th_policy();
  mrlog *log;

  p.visibility = MRLOG_VISIBLE_DURABLE;
  p.fsync_interval_ms = 3600000;
  log = th_open(th_dir, &p);
  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(th_append_str(log, "q", "a", NULL), 0);
  ck_assert_int_eq(th_append_str(log, "q", "b", NULL), 0);
  ck_assert_uint_eq(visible(log, "q"), 0);
  th_close(log);
  log = th_open(th_dir, &p);
  ck_assert_uint_eq(visible(log, "q"), 2);
  ck_assert_uint_eq(th_info(log, "q").durable_position, 2);
  th_close(log);
  p.read_only = true;
  log = th_open(th_dir, &p);
  ck_assert_uint_eq(visible(log, "q"), 2);
  ck_assert_uint_eq(th_info(log, "q").durable_position, 2);
  th_close(log);
}
END_TEST

/* A truncation past the records still waiting for a sync moves the
 * visible position to the floor, and those records are never shown. */
START_TEST(test_truncate_pending)
{
  mrlog_policy p = th_policy();
  struct mrlog_queue_info info;
  mrlog *log;

  p.visibility = MRLOG_VISIBLE_DURABLE;
  p.fsync_interval_ms = 3600000;
  vl_reset();
  log = vl_open(th_dir, &p);
  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(th_append_str(log, "q", "a", NULL), 0);
  ck_assert_int_eq(th_sync(log), 0);
  ck_assert_int_eq(th_append_str(log, "q", "b", NULL), 0);
  ck_assert_int_eq(th_append_str(log, "q", "c", NULL), 0);
  ck_assert_uint_eq(visible(log, "q"), 1);
  ck_assert_int_eq(th_truncate(log, "q", 1), 0); /* drops a and b */
  ck_assert_uint_eq(visible(log, "q"), 0);
  info = th_info(log, "q");
  ck_assert_uint_eq(info.durable_position, 2); /* c at 2 is not durable */
  ck_assert_int_eq(th_truncate(log, "q", 9), 0);
  ck_assert_uint_eq(th_info(log, "q").durable_position, 10);
  ck_assert_int_eq(th_append_str(log, "q", "d", NULL), 0);
  ck_assert_uint_eq(visible(log, "q"), 0);
  ck_assert_int_eq(th_sync(log), 0);
  ck_assert_uint_eq(visible(log, "q"), 1);
  th_close(log);
}
END_TEST

Suite *
make_visibility_suite(void)
{
  Suite *s = suite_create("visibility");
  TCase *tc = tcase_create("visibility");

  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_SLOW);
  tcase_add_test(tc, test_ack_durable_mode);
  tcase_add_test(tc, test_ack_written_mode);
  tcase_add_test(tc, test_durable_durable_mode);
  tcase_add_test(tc, test_durable_written_mode);
  tcase_add_test(tc, test_written_durable_mode);
  tcase_add_test(tc, test_written_written_mode);
  tcase_add_test(tc, test_live_durable_mode);
  tcase_add_test(tc, test_live_written_mode);
  tcase_add_test(tc, test_recovered_durable);
  tcase_add_test(tc, test_truncate_pending);
  suite_add_tcase(s, tc);
  return s;
}

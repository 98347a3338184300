/*
 * test_errseq.c -- writeback errors as Linux reports them (errseq), under
 * concurrent appends that rotate small segments often.
 *
 * The file layer (over lib/io.h) models what the kernel does when the
 * writeback of a file's dirty pages fails:
 *   - the data is gone for good: every byte written to the file since the
 *     last successful sync that covered it is replaced by what was durable
 *     there (zeros: the log only appends, into new or zero-filled room),
 *     as a crash would leave it;
 *   - the error is recorded once in the file (an errseq counter); each
 *     open file description (each openat) samples the counter when it is
 *     opened, and the first fdatasync on it that looks afterwards returns
 *     EIO and catches up, so later and concurrent syncs on it return 0;
 *     a description opened after the error never sees it;
 *   - an fdatasync takes a while (the layer sleeps SYNC_US, modelling the
 *     wait for writeback) before it looks at the error state, so the
 *     writer's sync at rotation and the flusher's group commit overlap as
 *     they do on a disk.
 * The directory is modelled the same way: its one fd (shared by the
 * writer, which fsyncs a new segment's entry, the cleaner, after it
 * deletes, and recovery) has errseq state, and a failed writeback of the
 * directory loses the entries made since the last directory fsync that
 * covered them (those files vanish).
 *
 * The failure is injected at the N-th fdatasync of a segment file (its
 * writeback fails), right after the N-th write (background writeback
 * fails), or at the N-th directory fsync, for every N up to the count of
 * a clean run (a sample of them when there are many).  The workload: three
 * threads append to a queue each (durable policy: group commit), waiting
 * for every sixth, and truncate their queue now and then so that old
 * segments empty and the cleaner deletes them; segments of 4-16 KiB rotate
 * every few frames.  Checks, for every N:
 *   - every request completes exactly once, with 0 or MRLOG_EIO;
 *   - once a request completed with the error, none completing later is
 *     acknowledged;
 *   - the log failed whenever a sync reported the error;
 *   - after a reopen on the real file layer, every acknowledged record
 *     above its queue's truncations is there with its position and bytes.
 * The sweeps must hit the writer's sync at rotation and the flusher's
 * sync, and the writer's and the cleaner's directory fsyncs.  A last sweep
 * runs the written policy (fsync_interval_ms > 0), whose acknowledgements
 * promise no durability: it checks the completion rules and that every
 * recovered record is the one appended at its position.  A self-test of
 * the layer comes first.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* pthread_getname_np */
#endif
#include "check_mrlog.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ES_FILES 512
#define ES_FDS 1024
#define SYNC_US 300 /* modelled writeback time of an fdatasync */

enum es_mode { ES_OFF, ES_AT_SYNC, ES_AFTER_WRITE, ES_AT_DIRSYNC };

struct es_extent {
  uint64_t off, len;
  uint64_t gen; /* write generation: newer writes have larger ones */
};

struct es_file {
  char name[40];
  int dir_fd;
  unsigned err_seq;        /* writeback errors recorded in the file */
  struct es_extent *dirty; /* written since their last covering sync */
  size_t n_dirty, cap_dirty;
  uint64_t entry_gen;      /* its directory entry was made at this
                              generation and no directory fsync has
                              covered it yet; 0 once one has */
};

static struct {
  pthread_mutex_t mutex;  /* guards everything below; held around every
                             write, so zero-filling never tears one */
  struct es_file files[ES_FILES];
  int nfiles;
  int fd_file[ES_FDS];    /* fd -> file id, or -1 */
  unsigned fd_seen[ES_FDS]; /* fd -> err_seq the description has seen */
  long fd_writes[ES_FDS]; /* fd -> writes through it */
  int fd_syncing[ES_FDS]; /* fd -> syncs in flight on it */
  int overlaps;           /* syncs that began while another was in
                             flight on the same description */
  uint64_t gen;           /* last write generation */
  enum es_mode mode;
  long at;                /* the at-th sync / write fails */
  long syncs, writes;     /* segment file syncs and writes seen */
  long dirsyncs;          /* directory fsyncs seen */
  unsigned dir_err_seq;   /* the directory's writeback errors */
  unsigned dir_seen;      /* ... seen by the log's one directory fd */
  int injected;           /* the writeback failure happened */
  int reported;           /* a sync returned EIO */
  char injected_by[16];   /* thread that ran the failed sync / write */
  bool at_rotation;       /* the failed sync was the writer's at rotation */
} es = { .mutex = PTHREAD_MUTEX_INITIALIZER };

static void
es_reset(enum es_mode mode, long at)
{
  int i;

  pthread_mutex_lock(&es.mutex);
  for (i = 0; i < es.nfiles; i++)
    free(es.files[i].dirty);
  memset(es.files, 0, sizeof(es.files));
  es.nfiles = 0;
  for (i = 0; i < ES_FDS; i++)
    es.fd_file[i] = -1;
  es.gen = 0;
  es.mode = mode;
  es.at = at;
  es.syncs = es.writes = es.dirsyncs = 0;
  es.overlaps = 0;
  memset(es.fd_syncing, 0, sizeof(es.fd_syncing));
  es.dir_err_seq = es.dir_seen = 0;
  es.injected = es.reported = 0;
  es.injected_by[0] = 0;
  es.at_rotation = false;
  pthread_mutex_unlock(&es.mutex);
}

static int
es_file_by_name(const char *name)
{
  int i;

  for (i = es.nfiles - 1; i >= 0; i--)
    if (strcmp(es.files[i].name, name) == 0)
      return i;
  return -1;
}

/* The writeback of file id fails: its dirty bytes are lost (zeros, what
 * was durable there) and the error is recorded.  es.mutex held. */
static void
es_fail_writeback(int id)
{
  struct es_file *f = &es.files[id];
  static const uint8_t zeros[4096];
  struct stat st;
  size_t i;
  int fd;

  es.injected = 1;
  pthread_getname_np(pthread_self(), es.injected_by, sizeof(es.injected_by));
  f->err_seq++;
  fd = openat(f->dir_fd, f->name, O_WRONLY | O_CLOEXEC);
  if (fd >= 0 && fstat(fd, &st) == 0) {
    for (i = 0; i < f->n_dirty; i++) {
      uint64_t off = f->dirty[i].off, end = off + f->dirty[i].len;
      if (end > (uint64_t)st.st_size)
        end = (uint64_t)st.st_size; /* cut since: nothing to lose there */
      while (off < end) {
        size_t n = end - off < sizeof(zeros) ? end - off : sizeof(zeros);
        ck_assert_int_eq(pwrite(fd, zeros, n, (off_t)off), (ssize_t)n);
        off += n;
      }
    }
  }
  if (fd >= 0)
    close(fd);
  f->n_dirty = 0;
}

static int
es_openat(void *ctx, int dir_fd, const char *name, int flags, mode_t mode)
{
  int fd = mrlog__posix_io.openat(ctx, dir_fd, name, flags, mode), id;

  if (fd < 0)
    return fd;
  ck_assert_int_lt(fd, ES_FDS);
  pthread_mutex_lock(&es.mutex);
  id = (flags & O_CREAT) ? -1 : es_file_by_name(name);
  if (id < 0) {
    /* A new file (or one made before this layer saw it). */
    ck_assert_int_lt(es.nfiles, ES_FILES);
    id = es.nfiles++;
    snprintf(es.files[id].name, sizeof(es.files[id].name), "%s", name);
    es.files[id].dir_fd = dir_fd;
    if (flags & O_CREAT)
      es.files[id].entry_gen = ++es.gen;
  }
  es.fd_file[fd] = id;
  es.fd_seen[fd] = es.files[id].err_seq; /* errseq_sample at open */
  es.fd_writes[fd] = 0;
  pthread_mutex_unlock(&es.mutex);
  return fd;
}

static int
es_close(void *ctx, int fd)
{
  pthread_mutex_lock(&es.mutex);
  if (fd >= 0 && fd < ES_FDS)
    es.fd_file[fd] = -1;
  pthread_mutex_unlock(&es.mutex);
  return mrlog__posix_io.close(ctx, fd);
}

static ssize_t
es_pwrite(void *ctx, int fd, const void *buf, size_t len, off_t off)
{
  ssize_t w;
  int id;

  pthread_mutex_lock(&es.mutex);
  w = mrlog__posix_io.pwrite(ctx, fd, buf, len, off);
  id = es.fd_file[fd];
  if (w > 0 && id >= 0) {
    struct es_file *f = &es.files[id];
    es.fd_writes[fd]++;
    if (f->n_dirty == f->cap_dirty) {
      f->cap_dirty = f->cap_dirty ? 2 * f->cap_dirty : 64;
      f->dirty = realloc(f->dirty, f->cap_dirty * sizeof(*f->dirty));
      ck_assert_ptr_nonnull(f->dirty);
    }
    f->dirty[f->n_dirty++] =
        (struct es_extent){ (uint64_t)off, (uint64_t)w, ++es.gen };
    if (++es.writes == es.at && es.mode == ES_AFTER_WRITE)
      es_fail_writeback(id);
  }
  pthread_mutex_unlock(&es.mutex);
  return w;
}

static int
es_ftruncate(void *ctx, int fd, off_t len)
{
  int rc, id;
  size_t i;

  pthread_mutex_lock(&es.mutex);
  rc = mrlog__posix_io.ftruncate(ctx, fd, len);
  id = es.fd_file[fd];
  if (rc == 0 && id >= 0) {
    struct es_file *f = &es.files[id];
    for (i = 0; i < f->n_dirty; i++) {
      struct es_extent *e = &f->dirty[i];
      if (e->off >= (uint64_t)len)
        e->len = 0;
      else if (e->off + e->len > (uint64_t)len)
        e->len = (uint64_t)len - e->off;
    }
  }
  pthread_mutex_unlock(&es.mutex);
  return rc;
}

static int
es_fdatasync(void *ctx, int fd)
{
  uint64_t start_gen;
  size_t i, j;
  int id, rc = 0;

  (void)ctx;
  pthread_mutex_lock(&es.mutex);
  id = es.fd_file[fd];
  if (id < 0) {
    pthread_mutex_unlock(&es.mutex);
    return 0;
  }
  if (++es.syncs == es.at && es.mode == ES_AT_SYNC) {
    es_fail_writeback(id);
    /* A new segment's own sync follows its header and checkpoint (two
     * writes); the one at rotation comes after frames. */
    es.at_rotation = strcmp(es.injected_by, "mrlog-writer") == 0 &&
                     es.fd_writes[fd] > 2;
  }
  start_gen = es.gen; /* this sync writes back what was written so far */
  if (es.fd_syncing[fd]++ > 0)
    es.overlaps++; /* errseq: only one of them can see an error */
  pthread_mutex_unlock(&es.mutex);

  usleep(SYNC_US); /* writeback: concurrent syncs overlap here */

  pthread_mutex_lock(&es.mutex);
  es.fd_syncing[fd]--;
  if (es.fd_seen[fd] != es.files[id].err_seq) {
    /* file_check_and_advance_wb_err: this description sees it once. */
    es.fd_seen[fd] = es.files[id].err_seq;
    es.reported = 1;
    rc = -1;
  } else {
    struct es_file *f = &es.files[id];
    for (i = j = 0; i < f->n_dirty; i++)
      if (f->dirty[i].gen > start_gen)
        f->dirty[j++] = f->dirty[i];
    f->n_dirty = j;
  }
  pthread_mutex_unlock(&es.mutex);
  if (rc != 0)
    errno = EIO;
  return rc;
}

/* The writeback of the directory fails: entries made since the last
 * directory fsync that covered them are lost (the files vanish, as after
 * a crash; a descriptor still open writes into an orphan).  es.mutex
 * held. */
static void
es_fail_dir_writeback(void)
{
  int i;

  es.injected = 1;
  pthread_getname_np(pthread_self(), es.injected_by, sizeof(es.injected_by));
  es.dir_err_seq++;
  for (i = 0; i < es.nfiles; i++) {
    struct es_file *f = &es.files[i];
    if (f->entry_gen != 0) {
      (void)unlinkat(f->dir_fd, f->name, 0);
      f->entry_gen = 0;
      f->name[0] = 0; /* gone: a new file may take the name */
    }
  }
}

/* The log's directory fd is its only one fsynced (file syncs are
 * fdatasyncs), and it is one open file description for the log's life. */
static int
es_fsync(void *ctx, int fd)
{
  uint64_t start_gen;
  int i, rc = 0;

  (void)ctx;
  pthread_mutex_lock(&es.mutex);
  if (++es.dirsyncs == es.at && es.mode == ES_AT_DIRSYNC)
    es_fail_dir_writeback();
  start_gen = es.gen;
  pthread_mutex_unlock(&es.mutex);

  usleep(SYNC_US);
  (void)fd;

  pthread_mutex_lock(&es.mutex);
  if (es.dir_seen != es.dir_err_seq) {
    es.dir_seen = es.dir_err_seq;
    es.reported = 1;
    rc = -1;
  } else {
    for (i = 0; i < es.nfiles; i++)
      if (es.files[i].entry_gen <= start_gen)
        es.files[i].entry_gen = 0;
  }
  pthread_mutex_unlock(&es.mutex);
  if (rc != 0)
    errno = EIO;
  return rc;
}

static struct mrlog__io es_io;

static void
es_arm(enum es_mode mode, long at)
{
  es_io = mrlog__posix_io;
  es_io.openat = es_openat;
  es_io.close = es_close;
  es_io.pwrite = es_pwrite;
  es_io.pwritev = NULL; /* gather writes go through es_pwrite */
  es_io.ftruncate = es_ftruncate;
  es_io.fdatasync = es_fdatasync;
  es_io.fsync = es_fsync;
  es_io.map = NULL;
  es_io.unmap = NULL;
  es_reset(mode, at);
}

/* ---- The workload ------------------------------------------------------ */

#define THREADS 3
#define RECORDS 100 /* per thread */
#define WINDOW 6    /* each thread waits for every WINDOW-th append */
#define TRUNC_EVERY 10 /* each thread truncates its queue this often, */
#define TRUNC_KEEP 20  /* ... to this many records before its newest, so
                          old segments empty and the cleaner deletes them */

struct outcome {
  atomic_int calls;  /* callbacks of this request */
  atomic_int status; /* the status it completed with */
  atomic_long seq;   /* order of completion, over all threads */
  uint64_t position; /* its position, when acknowledged */
};

static struct outcome g_out[THREADS][RECORDS];
/* The written policy (fsync_interval_ms > 0) instead of the durable one:
 * an acknowledgement then promises no durability, so only the completion
 * rules and the recovered bytes are checked. */
static bool g_written;
static uint64_t g_trunc[THREADS]; /* highest truncation submitted */
static atomic_long g_completions;
static mrlog *g_log;

/* Acknowledged: completed, with status 0. */
static bool
acked(const struct outcome *o)
{
  return atomic_load(&o->calls) == 1 && atomic_load(&o->status) == 0;
}

static void
on_done(void *arg, int status, uint64_t position)
{
  struct outcome *o = arg;

  o->position = position;
  atomic_store(&o->status, status);
  atomic_store(&o->seq, atomic_fetch_add(&g_completions, 1) + 1);
  atomic_fetch_add(&o->calls, 1);
}

static size_t
payload(int t, int i, unsigned char *buf)
{
  size_t len = 100 + (size_t)((i * 53 + t * 17) % 500);

  th_fill(buf, len, (uint64_t)t << 32 | (uint64_t)i);
  return len;
}

static void
qname(int t, char out[8])
{
  snprintf(out, 8, "q%d", t);
}

static void *
producer(void *arg)
{
  int t = (int)(intptr_t)arg, i;
  unsigned char buf[700];
  char q[8];

  th_mark_app_thread();
  qname(t, q);
  for (i = 0; i < RECORDS; i++) {
    size_t len = payload(t, i, buf);
    mrlog_future *f =
        mrlog_append(g_log, q, NULL, buf, len, on_done, &g_out[t][i]);
    if (f == NULL)
      continue; /* allocation failure: its callback still runs */
    if (i % WINDOW == WINDOW - 1)
      (void)mrlog_wait(f, NULL); /* frees it */
    else
      mrlog_forget(f);
    if (i % TRUNC_EVERY == TRUNC_EVERY - 1 && i >= TRUNC_KEEP) {
      /* Records at or below it may be gone after the reopen: not
       * checked. */
      g_trunc[t] = (uint64_t)(i - TRUNC_KEEP);
      mrlog_forget(mrlog_truncate(g_log, q, g_trunc[t], NULL, NULL));
    }
  }
  return NULL;
}

/* Returns mrlog_open's status (the workload runs only if it is 0). */
static int
run_workload(uint64_t segment_bytes, int *close_status)
{
  mrlog_policy p = th_policy();
  pthread_t th[THREADS];
  char q[8];
  int t, rc;

  p.fsync_interval_ms = g_written ? 5 : 0; /* durable: group commit */
  p.segment_bytes = segment_bytes;
  p.cleaner_interval_ms = 5;
  memset(g_out, 0, sizeof(g_out));
  memset(g_trunc, 0, sizeof(g_trunc));
  atomic_store(&g_completions, 0);
  *close_status = 0;
  rc = mrlog__open_with_io(th_dir, &p, &es_io, &g_log);
  if (rc != 0)
    return rc; /* the first segment's sync failed */
  for (t = 0; t < THREADS; t++) {
    qname(t, q);
    rc = th_wait(mrlog_create_queue(g_log, q, NULL, NULL), NULL);
    ck_assert_msg(rc == 0 || rc == MRLOG_EIO, "create: %d", rc);
  }
  for (t = 0; t < THREADS; t++)
    ck_assert_int_eq(
        pthread_create(&th[t], NULL, producer, (void *)(intptr_t)t), 0);
  for (t = 0; t < THREADS; t++)
    pthread_join(th[t], NULL);
  *close_status = mrlog_close(g_log);
  g_log = NULL;
  return 0;
}

/* Checks the outcomes; returns how many requests failed. */
static int
check_outcomes(long at)
{
  long first_failure = 0;
  int t, i, failed = 0;

  for (t = 0; t < THREADS; t++) {
    for (i = 0; i < RECORDS; i++) {
      struct outcome *o = &g_out[t][i];
      int st = atomic_load(&o->status);
      ck_assert_msg(atomic_load(&o->calls) == 1,
                    "N=%ld: request %d/%d completed %d times", at, t, i,
                    atomic_load(&o->calls));
      ck_assert_msg(st == 0 || st == MRLOG_EIO,
                    "N=%ld: request %d/%d: status %d", at, t, i, st);
      if (st != 0) {
        failed++;
        if (first_failure == 0 || atomic_load(&o->seq) < first_failure)
          first_failure = atomic_load(&o->seq);
      }
    }
  }
  for (t = 0; t < THREADS && first_failure > 0; t++)
    for (i = 0; i < RECORDS; i++)
      ck_assert_msg(atomic_load(&g_out[t][i].status) != 0 ||
                        atomic_load(&g_out[t][i].seq) < first_failure,
                    "N=%ld: request %d/%d acknowledged after a request "
                    "failed",
                    at, t, i);
  return failed;
}

/* The thread the current case's failure hit (for messages). */
static char g_injected_by[16];

/* Reopens on the real file layer: every acknowledged record is there
 * (durable policy), and every recovered record is the one appended at its
 * position. */
static void
verify_acknowledged(long at)
{
  mrlog *log = NULL;
  unsigned char buf[700];
  int t, i, rc = mrlog_open(th_dir, NULL, &log);

  ck_assert_msg(rc == 0, "N=%ld (failure injected by %s): reopen: %s", at,
                g_injected_by, mrlog_strerror(rc));
  for (t = 0; t < THREADS; t++) {
    struct th_recs r;
    size_t k = 0;
    char q[8];
    qname(t, q);
    if (!mrlog_queue_exists(log, q)) {
      /* Its create was not acknowledged (the open or the create failed):
       * then no append to it was. */
      for (i = 0; i < RECORDS && !g_written; i++)
        ck_assert_msg(!acked(&g_out[t][i]),
                      "N=%ld: queue %s of an acknowledged record is gone", at,
                      q);
      continue;
    }
    ck_assert_int_eq(th_collect(log, q, 0, UINT64_MAX, &r), 0);
    for (k = 0; k < r.n; k++) {
      /* Positions are the append indexes: nothing fails before the log
       * does, and nothing is written after. */
      size_t len = r.v[k].pos < RECORDS ? payload(t, (int)r.v[k].pos, buf) : 0;
      ck_assert_msg(r.v[k].pos < RECORDS && r.v[k].len == len &&
                        memcmp(r.v[k].data, buf, len) == 0,
                    "N=%ld (failure injected by %s): %s@%llu altered", at,
                    g_injected_by, q, (unsigned long long)r.v[k].pos);
    }
    k = 0;
    for (i = 0; i < RECORDS && !g_written; i++) {
      const struct outcome *o = &g_out[t][i];
      size_t len;
      if (!acked(o) || (g_trunc[t] > 0 && o->position <= g_trunc[t]))
        continue;
      while (k < r.n && r.v[k].pos < o->position)
        k++;
      ck_assert_msg(k < r.n && r.v[k].pos == o->position,
                    "N=%ld (failure injected by %s): acknowledged %s@%llu "
                    "lost",
                    at, g_injected_by, q, (unsigned long long)o->position);
      len = payload(t, i, buf);
      ck_assert_msg(r.v[k].len == len && memcmp(r.v[k].data, buf, len) == 0,
                    "N=%ld (failure injected by %s): acknowledged %s@%llu "
                    "altered",
                    at, g_injected_by, q, (unsigned long long)o->position);
    }
    th_recs_free(&r);
  }
  th_close(log);
}

/* Sweep statistics. */
static int g_fired, g_by_writer, g_at_rotation, g_by_flusher, g_by_cleaner;
static int g_failed_logs;

static void
one_case(enum es_mode mode, long at, uint64_t segment_bytes)
{
  int close_status, failed = 0, open_status;

  th_rmrf(th_dir);
  es_arm(mode, at);
  open_status = run_workload(segment_bytes, &close_status);
  if (open_status != 0) {
    /* Nothing was submitted: the error must be the injected one. */
    ck_assert_int_eq(open_status, MRLOG_EIO);
    close_status = open_status;
  } else {
    failed = check_outcomes(at);
  }
  pthread_mutex_lock(&es.mutex);
  if (es.injected) {
    g_fired++;
    if (strcmp(es.injected_by, "mrlog-writer") == 0)
      g_by_writer++;
    if (es.at_rotation)
      g_at_rotation++;
    if (strcmp(es.injected_by, "mrlog-flusher") == 0)
      g_by_flusher++;
    if (strcmp(es.injected_by, "mrlog-cleaner") == 0)
      g_by_cleaner++;
  }
  memcpy(g_injected_by, es.injected_by, sizeof(g_injected_by));
  if (es.reported) {
    /* A sync saw the error: the log must have failed with it. */
    ck_assert_msg(close_status == MRLOG_EIO,
                  "N=%ld: a sync returned EIO, close returned %d", at,
                  close_status);
  }
  /* Flusher invariant 1: at most one sync in flight per description. */
  ck_assert_msg(es.overlaps == 0, "N=%ld: %d fdatasync(s) began while "
                "another was in flight on the same file description",
                at, es.overlaps);
  pthread_mutex_unlock(&es.mutex);
  if (close_status != 0)
    g_failed_logs++;
  if (close_status == 0)
    ck_assert_int_eq(failed, 0);
  es_reset(ES_OFF, 0);
  verify_acknowledged(at);
}

static long
count_in_clean_run(enum es_mode mode, uint64_t segment_bytes)
{
  int close_status;
  long n;

  th_rmrf(th_dir);
  es_arm(ES_OFF, 0);
  ck_assert_int_eq(run_workload(segment_bytes, &close_status), 0);
  ck_assert_int_eq(close_status, 0);
  ck_assert_int_eq(check_outcomes(0), 0);
  pthread_mutex_lock(&es.mutex);
  n = mode == ES_AT_SYNC       ? es.syncs
      : mode == ES_AT_DIRSYNC ? es.dirsyncs
                              : es.writes;
  pthread_mutex_unlock(&es.mutex);
  return n;
}

static void
sweep(enum es_mode mode, int cases)
{
  static const uint64_t sizes[] = { 4096, 8192, 16384 };
  /* Directory fsyncs come with rotations: the smallest segments give the
   * most. */
  int n_sizes = mode == ES_AT_DIRSYNC ? 1 : 3;
  long total = count_in_clean_run(mode, sizes[n_sizes / 2]), at, step;
  int k = 0;

  ck_assert_int_gt(total, 0);
  step = total > cases ? total / cases : 1;
  g_fired = g_by_writer = g_at_rotation = g_by_flusher = g_by_cleaner = 0;
  g_failed_logs = 0;
  for (at = 1; at <= total; at += step, k++)
    one_case(mode, at, sizes[k % n_sizes]);
  fprintf(stderr,
          "errseq: mode %d: %ld events, %d injected (%d by the writer, %d "
          "of them at rotation, %d by the flusher, %d by the cleaner), %d "
          "logs failed\n",
          (int)mode, total, g_fired, g_by_writer, g_at_rotation,
          g_by_flusher, g_by_cleaner, g_failed_logs);
  ck_assert_int_gt(g_fired, 0);
  ck_assert_int_gt(g_failed_logs, 0);
  if (mode == ES_AT_SYNC && !g_written) {
    /* Both syncs of the hot file were hit. */
    ck_assert_int_gt(g_at_rotation, 0);
    ck_assert_int_gt(g_by_flusher, 0);
  }
  if (mode == ES_AT_DIRSYNC) {
    /* Both users of the directory fd were hit. */
    ck_assert_int_gt(g_by_writer, 0);
    ck_assert_int_gt(g_by_cleaner, 0);
  }
}

/* The layer itself: one error, reported once to each description open
 * when it happened, never to one opened later; its bytes are gone. */
START_TEST(test_errseq_layer)
{
  static const char name[] = "0000000000000001.mrlog";
  unsigned char data[100], back[100], zeros[100] = { 0 };
  int dir = open(th_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), a, b, c;

  ck_assert_int_ge(dir, 0);
  es_arm(ES_OFF, 0);
  memset(data, 0x5a, sizeof(data));
  a = es_io.openat(NULL, dir, name, O_RDWR | O_CREAT | O_EXCL, 0600);
  b = es_io.openat(NULL, dir, name, O_RDWR, 0);
  ck_assert_int_ge(a, 0);
  ck_assert_int_ge(b, 0);
  ck_assert_int_eq(es_io.pwrite(NULL, a, data, 50, 0), 50);
  ck_assert_int_eq(es_io.fdatasync(NULL, b), 0); /* durable: 0..50 */
  ck_assert_int_eq(es_io.pwrite(NULL, a, data + 50, 50, 50), 50);
  pthread_mutex_lock(&es.mutex);
  es_fail_writeback(es.fd_file[a]);
  pthread_mutex_unlock(&es.mutex);
  c = es_io.openat(NULL, dir, name, O_RDONLY, 0);
  ck_assert_int_ge(c, 0);
  ck_assert_int_eq(es_io.fdatasync(NULL, c), 0);  /* opened after it */
  ck_assert_int_eq(es_io.fdatasync(NULL, a), -1); /* first look: EIO */
  ck_assert_int_eq(errno, EIO);
  ck_assert_int_eq(es_io.fdatasync(NULL, a), 0);  /* then 0 */
  ck_assert_int_eq(es_io.fdatasync(NULL, b), -1); /* its own first look */
  ck_assert_int_eq(es_io.fdatasync(NULL, b), 0);
  ck_assert_int_eq(pread(c, back, sizeof(back), 0), (ssize_t)sizeof(back));
  ck_assert(memcmp(back, data, 50) == 0);         /* was durable */
  ck_assert(memcmp(back + 50, zeros, 50) == 0);   /* lost */
  es_io.close(NULL, a);
  es_io.close(NULL, b);
  es_io.close(NULL, c);
  close(dir);
  es_reset(ES_OFF, 0);
}
END_TEST

START_TEST(test_errseq_at_sync) { sweep(ES_AT_SYNC, 40); }
END_TEST
START_TEST(test_errseq_after_write) { sweep(ES_AFTER_WRITE, 25); }
END_TEST
START_TEST(test_errseq_dir) { sweep(ES_AT_DIRSYNC, 30); }
END_TEST
START_TEST(test_errseq_written)
{
  g_written = true;
  sweep(ES_AT_SYNC, 20);
}
END_TEST

Suite *
make_errseq_suite(void)
{
  Suite *s = suite_create("errseq");
  TCase *tc = tcase_create("writeback");

  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_SLOW);
  tcase_add_test(tc, test_errseq_layer);
  tcase_add_test(tc, test_errseq_at_sync);
  tcase_add_test(tc, test_errseq_after_write);
  tcase_add_test(tc, test_errseq_dir);
  tcase_add_test(tc, test_errseq_written);
  suite_add_tcase(s, tc);
  return s;
}

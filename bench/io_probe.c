/*
 * io_probe.c -- W3's I/O pattern on one file, without the library: a
 * writer thread appends frames of one size (the writer's group commits)
 * and the file is made durable every interval, in several I/O modes, so
 * the modes can be compared on the machine at hand.
 *
 *   io-probe [--dir DIR] [--mib N] [--frame BYTES] [--interval-ms N]
 *            [--runs N] [--modes LIST] [--qd N]
 *
 * Modes (LIST is comma-separated; all by default):
 *   buffered      pwrite at the end of the file, sync_file_range(WRITE)
 *                 every WB_BYTES (as the writer does under an interval
 *                 policy); a flusher thread calls fdatasync every interval.
 *   buffered-over the same over a file written with zeros and synced first
 *                 (fdatasync has no size or extent to persist).
 *   falloc        the same over a file fallocate'd first (unwritten
 *                 extents: each sync converts the ones written).
 *   prezero       buffered, the writer zero-filling ahead of its frames
 *                 inside the timed run as writer_frame.c does under the
 *                 durable policy (steps of AHEAD_STEP in 1 MiB writes,
 *                 writeback started on them, refilled when less than a
 *                 quarter step is left): the cost of pre-extending a
 *                 segment as it grows.
 *   direct        O_DIRECT: each frame is copied into an aligned staging
 *                 buffer behind the file's last partial block, written
 *                 from that block's start and padded to whole blocks (the
 *                 partial block is rewritten by the next frame); the
 *                 flusher's fdatasync as in buffered.
 *   direct-over   direct over a zero-filled file, as buffered-over.
 *   uring         liburing: writes queued (at most --qd in flight, each
 *                 from its own buffer), and every interval an
 *                 IORING_OP_FSYNC (IORING_FSYNC_DATASYNC) with
 *                 IOSQE_IO_DRAIN: it starts once every write before it is
 *                 done, and later writes wait for it.
 *   uring-nodrain the same fsync without the drain (it covers the writes
 *                 completed when it was queued).
 *   uring-direct  O_DIRECT through the ring: frames fill aligned chunks of
 *                 CHUNK bytes written whole; every interval the filled
 *                 part of the current chunk (its tail block padded) is
 *                 written, then the drained fsync.
 * The uring modes exist when the probe is built with liburing
 * (HAVE_LIBURING).
 *
 * Each run creates a fresh file in DIR and removes it.  Runs are
 * interleaved (run 1 of every mode, then run 2, ...).  Per mode it prints
 * the median MB/s (bytes / time from the first write to the end of the
 * final fdatasync), the median CPU seconds of the process (user + system,
 * every thread, the ring's kernel workers included), the spread of MB/s
 * (min..max) and the p50/p99 of the syncs' latencies over all runs (in
 * the uring modes, from queueing the fsync to the writer's reaping its
 * completion, which it does after each frame and whenever it waits).
 */
#define _GNU_SOURCE /* O_DIRECT, sync_file_range */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_LIBURING
#include <liburing.h>
#endif

#define BLOCK 4096u
#define WB_BYTES (1u << 20)  /* the writer's writeback hint (writer.h) */
#define CHUNK (256u << 10)   /* uring-direct's write unit */
#define AHEAD_STEP (2u << 20) /* prezero's step (writer.h PREZERO_STEP) */
#define MAX_RUNS 31
#define MAX_SYNCS (1u << 20) /* latencies kept per mode */

enum mode_kind { BUFFERED, DIRECT, URING, URING_DIRECT };
enum prep { PREP_NONE, PREP_ZERO, PREP_FALLOC, PREP_AHEAD };

struct mode {
  const char *name;
  enum mode_kind kind;
  enum prep prep;
  bool drain;                    /* uring: IOSQE_IO_DRAIN on the fsync */
  bool on;                       /* selected by --modes */
  double mbs[MAX_RUNS];          /* per run */
  double cpu[MAX_RUNS];          /* per run, seconds */
  int runs;                      /* done */
  int errors;                    /* runs that failed */
  double *lat;                   /* sync latencies, µs, over all runs */
  size_t nlat;
};

static struct mode modes[] = {
  { "buffered", BUFFERED, PREP_NONE, false, false, {0}, {0}, 0, 0, NULL, 0 },
  { "buffered-over", BUFFERED, PREP_ZERO, false, false, {0}, {0}, 0, 0,
    NULL, 0 },
  { "falloc", BUFFERED, PREP_FALLOC, false, false, {0}, {0}, 0, 0, NULL, 0 },
  { "prezero", BUFFERED, PREP_AHEAD, false, false, {0}, {0}, 0, 0, NULL, 0 },
  { "direct", DIRECT, PREP_NONE, false, false, {0}, {0}, 0, 0, NULL, 0 },
  { "direct-over", DIRECT, PREP_ZERO, false, false, {0}, {0}, 0, 0, NULL,
    0 },
#ifdef HAVE_LIBURING
  { "uring", URING, PREP_NONE, true, false, {0}, {0}, 0, 0, NULL, 0 },
  { "uring-nodrain", URING, PREP_NONE, false, false, {0}, {0}, 0, 0, NULL,
    0 },
  { "uring-direct", URING_DIRECT, PREP_NONE, true, false, {0}, {0}, 0, 0,
    NULL, 0 },
#endif
};
#define NMODES (sizeof(modes) / sizeof(modes[0]))

static const char *opt_dir = "/tmp";
static uint64_t opt_bytes = 800ull << 20;
static size_t opt_frame = 264064; /* W3's frames: 64 records of 4 KiB */
static unsigned opt_interval_ms = 10;
static int opt_runs = 5;
static unsigned opt_qd = 16;

/* One run's shared state: the writer publishes what it has written, the
 * flusher syncs it (buffered and direct modes). */
struct run {
  int fd;
  struct mode *m;
  _Atomic uint64_t written;      /* bytes the writer's writes returned */
  _Atomic bool done;             /* the writer has finished */
  pthread_mutex_t lock;          /* with wake: ends the flusher's wait */
  pthread_cond_t wake;
};

static double
now_s(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
cpu_s(void)
{
  struct rusage ru;

  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void
add_lat(struct mode *m, double us)
{
  if (m->nlat < MAX_SYNCS)
    m->lat[m->nlat++] = us;
}

static int
pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
  const char *p = buf;
  ssize_t n;

  while (len > 0) {
    n = pwrite(fd, p, len, off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      if (n == 0)
        errno = EIO;
      return -1;
    }
    p += n;
    len -= (size_t)n;
    off += n;
  }
  return 0;
}

/* Timed fdatasync, its latency recorded. */
static int
timed_sync(struct mode *m, int fd)
{
  double t = now_s();
  int rc = fdatasync(fd);

  add_lat(m, (now_s() - t) * 1e6);
  return rc;
}

/* The flusher: fdatasync every interval while there is something new;
 * the writer's end wakes it at once (run_one then makes the final sync).
 * Its sleeps and the writer's end are under r->lock. */
static void *
flusher(void *arg)
{
  struct run *r = arg;
  uint64_t synced = 0, w;
  struct timespec ts;

  pthread_mutex_lock(&r->lock);
  while (!atomic_load(&r->done)) {
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += opt_interval_ms / 1000;
    ts.tv_nsec += (long)(opt_interval_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    while (!atomic_load(&r->done) &&
           pthread_cond_timedwait(&r->wake, &r->lock, &ts) == 0)
      ;
    if (atomic_load(&r->done))
      break;
    pthread_mutex_unlock(&r->lock);
    w = atomic_load(&r->written);
    if (w > synced) {
      if (timed_sync(r->m, r->fd) != 0) {
        perror("fdatasync");
        return (void *)1;
      }
      synced = w;
    }
    pthread_mutex_lock(&r->lock);
  }
  pthread_mutex_unlock(&r->lock);
  return NULL;
}

/* prezero: keeps a quarter step of zeros after the next frame. */
static int
zero_ahead(int fd, const uint8_t *zeros, uint64_t need, uint64_t *zero_end)
{
  uint64_t start = *zero_end, end = *zero_end + AHEAD_STEP;

  if (need <= *zero_end)
    return 0;
  if (end < need)
    end = need;
  for (; *zero_end < end; *zero_end += WB_BYTES) {
    if (pwrite_all(fd, zeros, WB_BYTES, (off_t)*zero_end) != 0)
      return -1;
  }
  sync_file_range(fd, (off64_t)start, (off64_t)(*zero_end - start),
                  SYNC_FILE_RANGE_WRITE);
  return 0;
}

static int
write_buffered(struct run *r, const uint8_t *frame)
{
  uint64_t off = 0, wb = 0, zero_end = 0;
  uint8_t *zeros = NULL;
  int rc = -1;

  if (r->m->prep == PREP_AHEAD && (zeros = calloc(1, WB_BYTES)) == NULL)
    return -1;
  while (off < opt_bytes) {
    if (zeros != NULL &&
        zero_ahead(r->fd, zeros, off + opt_frame + AHEAD_STEP / 4,
                   &zero_end) != 0)
      goto out;
    if (pwrite_all(r->fd, frame, opt_frame, (off_t)off) != 0)
      goto out;
    off += opt_frame;
    atomic_store(&r->written, off);
    if (off - wb >= WB_BYTES) {
      sync_file_range(r->fd, (off64_t)wb, (off64_t)(off - wb),
                      SYNC_FILE_RANGE_WRITE);
      wb = off;
    }
  }
  /* The zero-filled room is cut, as at rotation. */
  rc = zeros != NULL ? ftruncate(r->fd, (off_t)off) : 0;
out:
  free(zeros);
  return rc;
}

/* O_DIRECT: staging holds the file's last partial block, then the frame;
 * whole blocks are written from that block's start. */
static int
write_direct(struct run *r, const uint8_t *frame)
{
  size_t cap = opt_frame + 2 * BLOCK, tail = 0, len, wlen;
  uint64_t off = 0;
  uint8_t *st;

  if (posix_memalign((void **)&st, BLOCK, cap) != 0)
    return -1;
  while (off < opt_bytes) {
    memcpy(st + tail, frame, opt_frame);
    len = tail + opt_frame;
    wlen = (len + BLOCK - 1) / BLOCK * BLOCK;
    memset(st + len, 0, wlen - len);
    if (pwrite_all(r->fd, st, wlen, (off_t)(off - tail)) != 0) {
      free(st);
      return -1;
    }
    off += opt_frame;
    atomic_store(&r->written, off);
    tail = off % BLOCK;
    memmove(st, st + len - tail, tail);
  }
  free(st);
  return ftruncate(r->fd, (off_t)off);
}

#ifdef HAVE_LIBURING
#define TAG_SYNC UINT64_MAX

struct uring_state {
  struct io_uring ring;
  unsigned inflight;             /* writes queued, not completed */
  bool sync_busy;                /* an fsync is queued */
  double sync_t0;                /* when it was queued */
  uint8_t *free_buf;             /* per buffer: 1 if reusable */
  unsigned nbuf;                 /* buffers; a larger tag frees none */
};

/* Reaps one completion (waits if wait); -1 on an I/O error. */
static int
uring_reap(struct run *r, struct uring_state *u, bool wait)
{
  struct io_uring_cqe *cqe;
  int rc = wait ? io_uring_wait_cqe(&u->ring, &cqe)
                : io_uring_peek_cqe(&u->ring, &cqe);

  if (rc == -EAGAIN)
    return 0;
  if (rc < 0) {
    errno = -rc;
    return -1;
  }
  if (cqe->user_data == TAG_SYNC) {
    add_lat(r->m, (now_s() - u->sync_t0) * 1e6);
    u->sync_busy = false;
  } else {
    u->inflight--;
    if (cqe->user_data < u->nbuf)
      u->free_buf[cqe->user_data] = 1;
  }
  rc = cqe->res;
  io_uring_cqe_seen(&u->ring, cqe);
  if (rc < 0) {
    errno = -rc;
    return -1;
  }
  return 1;
}

static struct io_uring_sqe *
uring_sqe(struct run *r, struct uring_state *u)
{
  struct io_uring_sqe *sqe;

  while ((sqe = io_uring_get_sqe(&u->ring)) == NULL) {
    io_uring_submit(&u->ring);
    if (uring_reap(r, u, true) < 0)
      return NULL;
  }
  return sqe;
}

/* Queues the interval's fsync (drained or not). */
static int
uring_sync(struct run *r, struct uring_state *u)
{
  struct io_uring_sqe *sqe = uring_sqe(r, u);

  if (sqe == NULL)
    return -1;
  io_uring_prep_fsync(sqe, r->fd, IORING_FSYNC_DATASYNC);
  if (r->m->drain)
    sqe->flags |= IOSQE_IO_DRAIN;
  io_uring_sqe_set_data64(sqe, TAG_SYNC);
  u->sync_busy = true;
  u->sync_t0 = now_s();
  return io_uring_submit(&u->ring) < 0 ? -1 : 0;
}

/* Waits for every write and sync, then the final sync as a plain call. */
static int
uring_finish(struct run *r, struct uring_state *u)
{
  while (u->inflight > 0 || u->sync_busy) {
    if (uring_reap(r, u, true) < 0)
      return -1;
  }
  return 0;
}

/* Buffered writes through the ring: one buffer per write in flight. */
static int
write_uring(struct run *r, const uint8_t *frame)
{
  struct uring_state u = { .inflight = 0 };
  uint8_t **bufs = calloc(opt_qd, sizeof(*bufs));
  uint64_t off = 0;
  double next = now_s() + opt_interval_ms / 1e3;
  unsigned i;
  int rc = -1;

  u.free_buf = malloc(opt_qd);
  u.nbuf = opt_qd;
  if (bufs == NULL || u.free_buf == NULL ||
      io_uring_queue_init(2 * opt_qd + 2, &u.ring, 0) != 0)
    goto out;
  for (i = 0; i < opt_qd; i++) {
    if ((bufs[i] = malloc(opt_frame)) == NULL)
      goto out_ring;
    memcpy(bufs[i], frame, opt_frame);
    u.free_buf[i] = 1;
  }
  while (off < opt_bytes) {
    struct io_uring_sqe *sqe;

    while (u.inflight == opt_qd) {
      if (uring_reap(r, &u, true) < 0)
        goto out_ring;
    }
    for (i = 0; !u.free_buf[i]; i++)
      ;
    if ((sqe = uring_sqe(r, &u)) == NULL)
      goto out_ring;
    io_uring_prep_write(sqe, r->fd, bufs[i], (unsigned)opt_frame, off);
    io_uring_sqe_set_data64(sqe, i);
    u.free_buf[i] = 0;
    u.inflight++;
    off += opt_frame;
    if (io_uring_submit(&u.ring) < 0)
      goto out_ring;
    while (uring_reap(r, &u, false) > 0)
      ;
    if (!u.sync_busy && now_s() >= next) {
      if (uring_sync(r, &u) != 0)
        goto out_ring;
      next = now_s() + opt_interval_ms / 1e3;
    }
  }
  rc = uring_finish(r, &u);
out_ring:
  io_uring_queue_exit(&u.ring);
out:
  for (i = 0; bufs != NULL && i < opt_qd; i++)
    free(bufs[i]);
  free(bufs);
  free(u.free_buf);
  return rc;
}

/* O_DIRECT through the ring: frames fill aligned CHUNK buffers, written
 * whole; at each interval the filled part (tail block padded) is written
 * before the drained fsync, and that tail block is written again later. */
static int
write_uring_direct(struct run *r, const uint8_t *frame)
{
  struct uring_state u = { .inflight = 0 };
  unsigned nbuf = opt_qd, cur = 0, i;
  uint8_t *mem = NULL;
  uint64_t off = 0, chunk_off = 0; /* file offset of chunk cur's byte 0 */
  size_t fill = 0, sent = 0;       /* bytes in chunk cur; written from */
  double next = now_s() + opt_interval_ms / 1e3;
  int rc = -1;

  u.free_buf = malloc(nbuf);
  u.nbuf = nbuf;
  if (u.free_buf == NULL ||
      posix_memalign((void **)&mem, BLOCK, (size_t)nbuf * CHUNK) != 0 ||
      io_uring_queue_init(2 * nbuf + 2, &u.ring, 0) != 0)
    goto out;
  memset(mem, 0, (size_t)nbuf * CHUNK);
  memset(u.free_buf, 1, nbuf);
  u.free_buf[cur] = 0;
  while (off < opt_bytes) {
    size_t done = 0;

    while (done < opt_frame) {
      size_t n = opt_frame - done < CHUNK - fill ? opt_frame - done
                                                 : CHUNK - fill;
      struct io_uring_sqe *sqe;

      memcpy(mem + (size_t)cur * CHUNK + fill, frame + done, n);
      fill += n;
      done += n;
      if (fill < CHUNK)
        continue;
      if ((sqe = uring_sqe(r, &u)) == NULL)
        goto out_ring;
      io_uring_prep_write(sqe, r->fd, mem + (size_t)cur * CHUNK + sent,
                          (unsigned)(CHUNK - sent), chunk_off + sent);
      io_uring_sqe_set_data64(sqe, cur);
      u.inflight++;
      if (io_uring_submit(&u.ring) < 0)
        goto out_ring;
      /* The next chunk: wait until one is free. */
      for (;;) {
        for (i = 0; i < nbuf && !u.free_buf[i]; i++)
          ;
        if (i < nbuf)
          break;
        if (uring_reap(r, &u, true) < 0)
          goto out_ring;
      }
      cur = i;
      u.free_buf[cur] = 0;
      chunk_off += CHUNK;
      fill = sent = 0;
    }
    off += opt_frame;
    while (uring_reap(r, &u, false) > 0)
      ;
    if (!u.sync_busy && now_s() >= next && fill > sent) {
      size_t end = (fill + BLOCK - 1) / BLOCK * BLOCK;
      struct io_uring_sqe *sqe = uring_sqe(r, &u);

      if (sqe == NULL)
        goto out_ring;
      memset(mem + (size_t)cur * CHUNK + fill, 0, end - fill);
      io_uring_prep_write(sqe, r->fd, mem + (size_t)cur * CHUNK + sent,
                          (unsigned)(end - sent), chunk_off + sent);
      /* The chunk stays ours: only a completion of a whole chunk frees
       * it, so this one is tagged past the buffers. */
      io_uring_sqe_set_data64(sqe, nbuf);
      u.inflight++;
      sent = fill / BLOCK * BLOCK;
      if (uring_sync(r, &u) != 0)
        goto out_ring;
      next = now_s() + opt_interval_ms / 1e3;
    }
  }
  if (fill > sent) {
    size_t end = (fill + BLOCK - 1) / BLOCK * BLOCK;
    struct io_uring_sqe *sqe = uring_sqe(r, &u);

    if (sqe == NULL)
      goto out_ring;
    memset(mem + (size_t)cur * CHUNK + fill, 0, end - fill);
    io_uring_prep_write(sqe, r->fd, mem + (size_t)cur * CHUNK + sent,
                        (unsigned)(end - sent), chunk_off + sent);
    io_uring_sqe_set_data64(sqe, nbuf);
    u.inflight++;
    io_uring_submit(&u.ring);
  }
  rc = uring_finish(r, &u);
  if (rc == 0)
    rc = ftruncate(r->fd, (off_t)off);
out_ring:
  io_uring_queue_exit(&u.ring);
out:
  free(mem);
  free(u.free_buf);
  return rc;
}
#endif

/* Lays the file out as the mode wants before the clock starts. */
static int
prepare(int fd, enum prep p)
{
  uint64_t size = opt_bytes + opt_frame + BLOCK, off;
  uint8_t *z;
  int rc = 0;

  if (p == PREP_FALLOC)
    return posix_fallocate(fd, 0, (off_t)size) == 0 ? 0 : -1;
  if (p != PREP_ZERO)
    return 0;
  if ((z = calloc(1, WB_BYTES)) == NULL)
    return -1;
  for (off = 0; rc == 0 && off < size; off += WB_BYTES)
    rc = pwrite_all(fd, z, WB_BYTES, (off_t)off);
  free(z);
  return rc == 0 ? fdatasync(fd) : -1;
}

static int
run_one(struct mode *m, const uint8_t *frame)
{
  char path[4096];
  struct run r = { .fd = -1, .m = m };
  pthread_t th;
  pthread_condattr_t ca;
  bool thread = m->kind == BUFFERED || m->kind == DIRECT;
  double t0, c0;
  void *trc = NULL;
  int fd, rc, flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;

  snprintf(path, sizeof(path), "%s/io-probe.%ld.%s", opt_dir, (long)getpid(),
           m->name);
  fd = open(path, flags, 0644);
  if (fd < 0 || prepare(fd, m->prep) != 0) {
    fprintf(stderr, "io-probe: %s: %s\n", path, strerror(errno));
    if (fd >= 0)
      close(fd);
    unlink(path);
    return -1;
  }
  if (m->kind == DIRECT || m->kind == URING_DIRECT) {
    /* Reopen for direct I/O now that the file is prepared. */
    close(fd);
    fd = open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
  }
  if (fd < 0) {
    fprintf(stderr, "io-probe: %s: %s\n", path, strerror(errno));
    unlink(path);
    return -1;
  }
  r.fd = fd;
  pthread_mutex_init(&r.lock, NULL);
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&r.wake, &ca);
  pthread_condattr_destroy(&ca);
  sync();
  t0 = now_s();
  c0 = cpu_s();
  if (thread && pthread_create(&th, NULL, flusher, &r) != 0) {
    pthread_cond_destroy(&r.wake);
    pthread_mutex_destroy(&r.lock);
    close(fd);
    unlink(path);
    return -1;
  }
  switch (m->kind) {
  case BUFFERED: rc = write_buffered(&r, frame); break;
  case DIRECT: rc = write_direct(&r, frame); break;
#ifdef HAVE_LIBURING
  case URING: rc = write_uring(&r, frame); break;
  case URING_DIRECT: rc = write_uring_direct(&r, frame); break;
#endif
  default: rc = -1; break;
  }
  if (rc != 0)
    perror("io-probe: write");
  pthread_mutex_lock(&r.lock);
  atomic_store(&r.done, true);
  pthread_cond_signal(&r.wake);
  pthread_mutex_unlock(&r.lock);
  if (thread)
    pthread_join(th, &trc);
  pthread_cond_destroy(&r.wake);
  pthread_mutex_destroy(&r.lock);
  if (rc == 0 && trc == NULL)
    rc = timed_sync(m, fd); /* the final sync: everything durable */
  if (rc == 0 && trc == NULL) {
    double t = now_s() - t0;

    m->mbs[m->runs] = (double)opt_bytes / t / 1e6;
    m->cpu[m->runs] = cpu_s() - c0;
    m->runs++;
  } else {
    m->errors++;
  }
  close(fd);
  unlink(path);
  return rc;
}

static int
cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;

  return x < y ? -1 : x > y;
}

static double
quantile(double *v, size_t n, double q)
{
  size_t i;

  if (n == 0)
    return 0;
  qsort(v, n, sizeof(*v), cmp_double);
  i = (size_t)(q * (double)(n - 1) + 0.5);
  return v[i];
}

static void
usage(FILE *f)
{
  size_t i;

  fprintf(f, "usage: io-probe [--dir DIR] [--mib N] [--frame BYTES] "
             "[--interval-ms N] [--runs N] [--modes LIST] [--qd N]\n"
             "modes:");
  for (i = 0; i < NMODES; i++)
    fprintf(f, " %s", modes[i].name);
  fprintf(f, "\n");
}

static int
select_modes(char *list)
{
  char *save = NULL, *t;
  size_t i;

  for (t = strtok_r(list, ",", &save); t != NULL;
       t = strtok_r(NULL, ",", &save)) {
    for (i = 0; i < NMODES && strcmp(modes[i].name, t) != 0; i++)
      ;
    if (i == NMODES) {
      fprintf(stderr, "io-probe: unknown mode %s\n", t);
      return -1;
    }
    modes[i].on = true;
  }
  return 0;
}

int
main(int argc, char **argv)
{
  static const struct option lo[] = {
    { "dir", required_argument, NULL, 'd' },
    { "mib", required_argument, NULL, 'm' },
    { "frame", required_argument, NULL, 'f' },
    { "interval-ms", required_argument, NULL, 'i' },
    { "runs", required_argument, NULL, 'r' },
    { "modes", required_argument, NULL, 'M' },
    { "qd", required_argument, NULL, 'q' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  bool any = false;
  uint8_t *frame;
  size_t i;
  int c, run;

  if (getenv("TMPDIR") != NULL && *getenv("TMPDIR") != '\0')
    opt_dir = getenv("TMPDIR");
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
    case 'd': opt_dir = optarg; break;
    case 'm': opt_bytes = strtoull(optarg, NULL, 10) << 20; break;
    case 'f': opt_frame = strtoul(optarg, NULL, 10); break;
    case 'i': opt_interval_ms = (unsigned)strtoul(optarg, NULL, 10); break;
    case 'r': opt_runs = atoi(optarg); break;
    case 'q': opt_qd = (unsigned)strtoul(optarg, NULL, 10); break;
    case 'M':
      if (select_modes(optarg) != 0)
        return 2;
      any = true;
      break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (opt_frame == 0 || opt_bytes < opt_frame || opt_runs < 1 ||
      opt_runs > MAX_RUNS || opt_qd < 1 || opt_interval_ms < 1) {
    usage(stderr);
    return 2;
  }
  for (i = 0; i < NMODES; i++) {
    if (!any)
      modes[i].on = true;
    if (modes[i].on &&
        (modes[i].lat = malloc(MAX_SYNCS * sizeof(double))) == NULL)
      return 1;
  }
  if ((frame = malloc(opt_frame)) == NULL)
    return 1;
  srandom(1);
  for (i = 0; i < opt_frame; i++)
    frame[i] = (uint8_t)random(); /* nothing below can compress it */
  printf("io-probe: %llu MiB in frames of %zu B, sync every %u ms, "
         "%d runs interleaved, dir %s\n",
         (unsigned long long)(opt_bytes >> 20), opt_frame, opt_interval_ms,
         opt_runs, opt_dir);
  for (run = 0; run < opt_runs; run++) {
    for (i = 0; i < NMODES; i++) {
      if (modes[i].on)
        run_one(&modes[i], frame);
    }
  }
  printf("%-14s %8s %14s %8s %7s %9s %9s %6s\n", "mode", "MB/s", "min..max",
         "cpu s", "syncs", "p50 us", "p99 us", "errors");
  for (i = 0; i < NMODES; i++) {
    struct mode *m = &modes[i];
    double lo_mbs, hi_mbs, med, cpu, nsync;

    if (!m->on)
      continue;
    med = quantile(m->mbs, (size_t)m->runs, 0.5);
    lo_mbs = m->runs ? m->mbs[0] : 0;
    hi_mbs = m->runs ? m->mbs[m->runs - 1] : 0;
    cpu = quantile(m->cpu, (size_t)m->runs, 0.5);
    nsync = m->runs ? (double)m->nlat / m->runs : 0;
    printf("%-14s %8.0f %6.0f..%-6.0f %8.2f %7.0f %9.0f %9.0f %6d\n", m->name,
           med, lo_mbs, hi_mbs, cpu, nsync, quantile(m->lat, m->nlat, 0.5),
           quantile(m->lat, m->nlat, 0.99), m->errors);
    free(m->lat);
  }
  free(frame);
  return 0;
}

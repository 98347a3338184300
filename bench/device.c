/*
 * device.c -- the hardware limits the targets are measured against, taken
 * in the benchmark's own directory at the start of the run.
 *
 *   seq_gib_s / seq_sync_gib_s: seq_bytes written to a fresh file in 1 MiB
 *     buffered pwrites, then one fdatasync; GiB/s without and including
 *     that final fdatasync (the latter is the device's sustained rate).
 *   sync_append_*: iterations of (4 KiB pwrite at the end of the file +
 *     fdatasync): ops/s and per-op p50/p99 in µs.  Each sync also has to
 *     persist the new file size (metadata), as a growing log does.
 *   sync_over_*: the same overwriting a file preallocated by writing it
 *     fully (not fallocate, whose unwritten extents would need metadata
 *     updates too) and fdatasyncing it first: pure data syncs.
 *   unlink_*: W5's floor.  Files of file_bytes (mrlog's segment size),
 *     enough to hold free_bytes (what W5 waits for), written and synced,
 *     then unlinked one after another, as mrlog's cleaner does; the time
 *     from the first unlink until the file system's free bytes (statvfs)
 *     have risen by free_bytes, polled every 0.1 ms; the median of
 *     UNLINK_ROUNDS rounds.  On a file system that discards at unlink
 *     this is the discard's time, which no library can take off W5's
 *     space back.
 *
 * Invariants: every file is created fresh in dir and removed at the end;
 * the payload bytes are random, so no layer can compress them.
 */
#include "device.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEQ_CHUNK (1u << 20)
#define SYNC_BLOCK 4096u
#define UNLINK_ROUNDS 3

static int
pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
  const char *p = buf;
  ssize_t n;

  while (len > 0) {
    n = pwrite(fd, p, len, off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    p += n;
    len -= (size_t)n;
    off += n;
  }
  return 0;
}

static void
seq_write(const char *dir, uint64_t bytes, struct bench_result *r)
{
  char path[PATH_MAX];
  uint64_t t0, t1, t2, i, chunks = (bytes + SEQ_CHUNK - 1) / SEQ_CHUNK;
  int fd;

  bench_path(path, dir, "device-seq");
  fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) {
    bench_result_fail(r, "open %s: %s", path, strerror(errno));
    return;
  }
  t0 = bench_now_ns();
  for (i = 0; i < chunks; i++)
    if (pwrite_all(fd, bench_payload(i, SEQ_CHUNK), SEQ_CHUNK,
                   (off_t)(i * SEQ_CHUNK)) != 0) {
      bench_result_fail(r, "pwrite: %s", strerror(errno));
      break;
    }
  t1 = bench_now_ns();
  if (fdatasync(fd) != 0)
    bench_result_fail(r, "fdatasync: %s", strerror(errno));
  t2 = bench_now_ns();
  close(fd);
  unlink(path);
  r->seq_bytes = (double)(chunks * SEQ_CHUNK);
  r->seq_gib_s = r->seq_bytes / BENCH_GIB / ((double)(t1 - t0) / 1e9);
  r->seq_sync_gib_s = r->seq_bytes / BENCH_GIB / ((double)(t2 - t0) / 1e9);
}

/* iterations x (4 KiB pwrite + fdatasync); overwrite: into a preallocated
 * file.  Fills ops/s, p50, p99. */
static void
sync_loop(const char *dir, unsigned iterations, int overwrite,
          double *ops, double *p50, double *p99, struct bench_result *r)
{
  char path[PATH_MAX];
  double *lat = malloc(iterations * sizeof(*lat));
  uint64_t t0, t, start;
  unsigned i;
  int fd;

  bench_path(path, dir, overwrite ? "device-over" : "device-append");
  fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0 || lat == NULL) {
    bench_result_fail(r, "open %s: %s", path, strerror(errno));
    goto out;
  }
  if (overwrite) {
    for (i = 0; i < iterations; i++)
      if (pwrite_all(fd, bench_payload(i, SYNC_BLOCK), SYNC_BLOCK,
                     (off_t)i * SYNC_BLOCK) != 0)
        break;
    if (i < iterations || fsync(fd) != 0) {
      bench_result_fail(r, "preallocating %s: %s", path, strerror(errno));
      goto out;
    }
  }
  start = bench_now_ns();
  for (i = 0; i < iterations; i++) {
    t0 = bench_now_ns();
    if (pwrite_all(fd, bench_payload(i + 1, SYNC_BLOCK), SYNC_BLOCK,
                   (off_t)i * SYNC_BLOCK) != 0 ||
        fdatasync(fd) != 0) {
      bench_result_fail(r, "write+fdatasync: %s", strerror(errno));
      goto out;
    }
    t = bench_now_ns();
    lat[i] = (double)(t - t0) / 1e3;
  }
  *ops = iterations / ((double)(bench_now_ns() - start) / 1e9);
  bench_sort(lat, iterations);
  *p50 = bench_percentile(lat, iterations, 50);
  *p99 = bench_percentile(lat, iterations, 99);
out:
  if (fd >= 0) {
    close(fd);
    unlink(path);
  }
  free(lat);
}

/* One round of the unlink probe: writes and syncs n files of file_bytes,
 * unlinks them one after another, and returns the ms from the first
 * unlink until statvfs shows free_bytes more free (NAN: not within 10 s
 * or no statvfs); *calls_ms gets the time of the unlink calls alone.
 * NAN and a failure in r if the files could not be written. */
static double
unlink_round(const char *dir, unsigned n, uint64_t file_bytes,
             uint64_t free_bytes, double *calls_ms, struct bench_result *r)
{
  char path[PATH_MAX];
  uint64_t off, len, t0, t, deadline;
  int64_t free0, now;
  double ms = NAN;
  unsigned i, made;
  int fd;

  for (made = 0; made < n; made++) {
    snprintf(path, sizeof(path), "%s/device-unlink-%u", dir, made);
    fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) {
      bench_result_fail(r, "open %s: %s", path, strerror(errno));
      goto out;
    }
    for (off = 0; off < file_bytes; off += len) {
      len = file_bytes - off < SEQ_CHUNK ? file_bytes - off : SEQ_CHUNK;
      if (pwrite_all(fd, bench_payload(off / SEQ_CHUNK + made, len), len,
                     (off_t)off) != 0)
        break;
    }
    if (off < file_bytes || fdatasync(fd) != 0) {
      bench_result_fail(r, "writing %s: %s", path, strerror(errno));
      close(fd);
      made++;
      goto out;
    }
    close(fd);
  }
  sync(); /* nothing else of ours is pending when the clock starts */
  free0 = bench_fs_free(dir);
  t0 = bench_now_ns();
  for (i = 0; i < n; i++) {
    snprintf(path, sizeof(path), "%s/device-unlink-%u", dir, i);
    unlink(path);
  }
  made = 0;
  *calls_ms = (double)(bench_now_ns() - t0) / 1e6;
  deadline = t0 + 10000000000ull;
  while (free0 >= 0 && (now = bench_fs_free(dir)) >= 0) {
    t = bench_now_ns();
    if (now - free0 >= (int64_t)free_bytes) {
      ms = (double)(t - t0) / 1e6;
      break;
    }
    if (t >= deadline)
      break;
    bench_sleep_ns(100000);
  }
out:
  for (i = 0; i < made; i++) {
    snprintf(path, sizeof(path), "%s/device-unlink-%u", dir, i);
    unlink(path);
  }
  return ms;
}

/* The unlink probe (see the top of the file): UNLINK_ROUNDS rounds, the
 * median round's figures; fills unlink_*. */
static void
unlink_probe(const char *dir, uint64_t file_bytes, uint64_t free_bytes,
             struct bench_result *r)
{
  double ms[UNLINK_ROUNDS], calls[UNLINK_ROUNDS], sorted[UNLINK_ROUNDS];
  unsigned i, k, n;

  if (file_bytes == 0 || free_bytes == 0 ||
      (free_bytes + file_bytes - 1) / file_bytes > 4096)
    return;
  n = (unsigned)((free_bytes + file_bytes - 1) / file_bytes);
  for (k = 0; k < UNLINK_ROUNDS; k++) {
    calls[k] = NAN;
    ms[k] = unlink_round(dir, n, file_bytes, free_bytes, &calls[k], r);
    if (r->errors)
      return;
    /* A round that never saw the space back sorts last. */
    sorted[k] = isnan(ms[k]) ? INFINITY : ms[k];
  }
  bench_sort(sorted, UNLINK_ROUNDS);
  for (i = 0; i < UNLINK_ROUNDS; i++)
    if ((isnan(ms[i]) ? INFINITY : ms[i]) == sorted[UNLINK_ROUNDS / 2])
      break;
  r->unlink_files = n;
  r->unlink_file_bytes = (double)file_bytes;
  r->unlink_calls_ms = calls[i];
  r->unlink_free_ms = ms[i];
  r->unlink_freed_bytes = (double)free_bytes;
}

void
device_probe(const struct device_params *dp, struct bench_result *r)
{
  seq_write(dp->dir, dp->seq_bytes, r);
  sync_loop(dp->dir, dp->sync_iterations, 0, &r->sync_append_ops,
            &r->sync_append_p50_us, &r->sync_append_p99_us, r);
  sync_loop(dp->dir, dp->sync_iterations, 1, &r->sync_over_ops,
            &r->sync_over_p50_us, &r->sync_over_p99_us, r);
  unlink_probe(dp->dir, dp->unlink_file_bytes, dp->unlink_free_bytes, r);
}

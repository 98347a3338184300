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
 *
 * Invariants: every file is created fresh in dir and removed at the end;
 * the payload bytes are random, so no layer can compress them.
 */
#include "device.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEQ_CHUNK (1u << 20)
#define SYNC_BLOCK 4096u

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

void
device_probe(const struct device_params *dp, struct bench_result *r)
{
  seq_write(dp->dir, dp->seq_bytes, r);
  sync_loop(dp->dir, dp->sync_iterations, 0, &r->sync_append_ops,
            &r->sync_append_p50_us, &r->sync_append_p99_us, r);
  sync_loop(dp->dir, dp->sync_iterations, 1, &r->sync_over_ops,
            &r->sync_over_p50_us, &r->sync_over_p99_us, r);
}

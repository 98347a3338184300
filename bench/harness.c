/*
 * harness.c -- clock, payload, results, percentiles and file-system
 * helpers shared by the workloads, the engines and the device probe.
 *
 * Invariants:
 *   1. The payload buffer is written only by bench_payload_init, before any
 *      fork or thread; afterwards it is read-only, so producers on any
 *      thread may hand out pointers into it.
 *   2. Record i of length len is taken at offset (i * len) mod
 *      BENCH_PAYLOAD_SPAN, and a workload thread's k-th record
 *      (bench_payload_stream) at (its start + k * len) mod the span, each
 *      of the S threads starting 1/S of the span apart.  So consecutive
 *      records are different bytes (no engine can dedupe or compress
 *      them) while the buffer itself stays small (8 MiB + 64 KiB) and is
 *      counted once in the RSS baseline, and each thread reads its part
 *      forward with stride len, as an application reads data it has just
 *      received: the hardware prefetches it.  (Pseudo-random offsets would
 *      make every record's payload a cache miss in the harness: in perf,
 *      most of a W1 producer's time, for every engine; a stride of P
 *      records still misses once per record.)
 *   3. bench_dir_allocated counts allocated blocks (st_blocks * 512), not
 *      file sizes: preallocated or sparse space shows as it is on disk.
 */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif
#ifndef RAMFS_MAGIC
#define RAMFS_MAGIC 0x858458f6
#endif

uint64_t
bench_now_ns(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double
bench_now_s(void)
{
  return (double)bench_now_ns() / 1e9;
}

void
bench_sleep_ns(uint64_t ns)
{
  struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };

  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* ------------------------------------------------------------------------
 * Payload.
 * --------------------------------------------------------------------- */

static unsigned char *payload_buf;

static uint64_t
rotl(uint64_t x, int k)
{
  return (x << k) | (x >> (64 - k));
}

/* splitmix64: seeds xoshiro. */
static uint64_t
splitmix(uint64_t *s)
{
  uint64_t z = (*s += 0x9e3779b97f4a7c15u);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

void
bench_payload_init(uint64_t seed)
{
  size_t size = (size_t)BENCH_PAYLOAD_SPAN + BENCH_RECORD_MAX, i;
  uint64_t s[4], t, r;

  payload_buf = malloc(size);
  if (payload_buf == NULL) {
    fprintf(stderr, "mrlog-bench: out of memory for the payload\n");
    exit(1);
  }
  for (i = 0; i < 4; i++)
    s[i] = splitmix(&seed);
  for (i = 0; i + 8 <= size; i += 8) {
    /* xoshiro256** */
    r = rotl(s[1] * 5, 7) * 9;
    t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    memcpy(payload_buf + i, &r, 8);
  }
}

void
bench_payload_free(void)
{
  free(payload_buf);
  payload_buf = NULL;
}

const void *
bench_payload(uint64_t i, size_t len)
{
  /* Every len <= BENCH_RECORD_MAX fits past any offset. */
  return payload_buf + ((i * (uint64_t)len) & (BENCH_PAYLOAD_SPAN - 1));
}

const void *
bench_payload_stream(unsigned stream, unsigned streams, uint64_t k,
                     size_t len)
{
  uint64_t start = (uint64_t)BENCH_PAYLOAD_SPAN / (streams ? streams : 1) *
                   stream;

  return payload_buf +
         ((start + k * (uint64_t)len) & (BENCH_PAYLOAD_SPAN - 1));
}

/* ------------------------------------------------------------------------
 * Results.
 * --------------------------------------------------------------------- */

void
bench_result_init(struct bench_result *r, const char *engine,
                  const char *workload, int run)
{
  memset(r, 0, sizeof(*r));
  snprintf(r->engine, sizeof(r->engine), "%s", engine);
  snprintf(r->workload, sizeof(r->workload), "%s", workload);
  r->run = run;
  r->seconds = r->rec_per_s = r->mb_per_s = NAN;
  r->disk_bytes = r->disk_bytes_per_rec = r->disk_overhead_per_rec = NAN;
  r->ram_bytes_per_rec = r->ram_rss_bytes_per_rec = r->retained_bytes = NAN;
  r->cpu_s = NAN;
  r->fsyncs = r->fsyncs_interposed = -1;
  r->p50_us = r->p99_us = r->p999_us = NAN;
  r->syncs_timed = -1;
  r->busiest_thread[0] = '\0';
  r->busiest_cpu_s = r->busiest_wait_s = r->busiest_window_s = NAN;
  r->sync_p50_us = r->sync_p99_us = r->sync_p999_us = r->sync_max_us = NAN;
  r->durable_ms = r->space_back_ms = r->space_freed_bytes = NAN;
  r->dir_back_ms = NAN;
  r->drop_caches = -1;
  r->seq_gib_s = r->seq_sync_gib_s = r->seq_bytes = NAN;
  r->sync_append_ops = r->sync_append_p50_us = r->sync_append_p99_us = NAN;
  r->sync_over_ops = r->sync_over_p50_us = r->sync_over_p99_us = NAN;
  r->unlink_files = r->unlink_file_bytes = r->unlink_calls_ms = NAN;
  r->unlink_free_ms = r->unlink_freed_bytes = NAN;
}

void
bench_result_fail(struct bench_result *r, const char *fmt, ...)
{
  va_list ap;

  if (r->errors++ == 0) {
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof(r->error), fmt, ap);
    va_end(ap);
  }
}

uint64_t
bench_rss_bytes(void)
{
  unsigned long size = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");

  if (f == NULL)
    return 0;
  if (fscanf(f, "%lu %lu", &size, &resident) != 2)
    resident = 0;
  fclose(f);
  return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

void
bench_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg)
{
  int rc = pthread_create(thread, NULL, fn, arg);

  if (rc != 0) {
    fprintf(stderr, "mrlog-bench: pthread_create: %s\n", strerror(rc));
    _exit(3);
  }
  /* Named, so the busiest-thread figure tells the harness's threads
   * from the engine's (thread_cpu.c). */
  pthread_setname_np(*thread, "bench-worker");
}

/* ------------------------------------------------------------------------
 * Percentiles.
 * --------------------------------------------------------------------- */

static int
cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;

  return (x > y) - (x < y);
}

void
bench_sort(double *v, size_t n)
{
  if (n > 1)
    qsort(v, n, sizeof(*v), cmp_double);
}

double
bench_percentile(const double *sorted, size_t n, double p)
{
  size_t rank;

  if (n == 0)
    return NAN;
  /* Nearest rank: the smallest value with at least p% at or below it. */
  rank = (size_t)ceil(p / 100.0 * (double)n);
  if (rank < 1)
    rank = 1;
  if (rank > n)
    rank = n;
  return sorted[rank - 1];
}

/* ------------------------------------------------------------------------
 * Directories.
 * --------------------------------------------------------------------- */

void
bench_path(char *out, const char *dir, const char *name)
{
  snprintf(out, PATH_MAX, "%s/%s", dir, name);
}

/* Calls fn(path, st, arg) for every regular file below dir. */
typedef int (*file_fn)(const char *path, const struct stat *st, void *arg);

static int
walk(const char *dir, file_fn fn, void *arg)
{
  DIR *d = opendir(dir);
  struct dirent *e;
  struct stat st;
  char path[PATH_MAX];
  int rc = 0;

  if (d == NULL)
    return -1;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    bench_path(path, dir, e->d_name);
    if (lstat(path, &st) != 0)
      continue; /* deleted meanwhile (a cleaner at work) */
    if (S_ISDIR(st.st_mode))
      rc |= walk(path, fn, arg);
    else if (S_ISREG(st.st_mode))
      rc |= fn(path, &st, arg);
  }
  closedir(d);
  return rc;
}

static int
add_blocks(const char *path, const struct stat *st, void *arg)
{
  (void)path;
  *(int64_t *)arg += (int64_t)st->st_blocks * 512;
  return 0;
}

int64_t
bench_dir_allocated(const char *dir)
{
  int64_t total = 0;

  if (walk(dir, add_blocks, &total) != 0)
    return -1;
  return total;
}

int64_t
bench_fs_free(const char *dir)
{
  struct statvfs v;

  if (statvfs(dir, &v) != 0)
    return -1;
  return (int64_t)v.f_bfree * (int64_t)v.f_frsize;
}

static int
rm_tree(const char *dir)
{
  DIR *d = opendir(dir);
  struct dirent *e;
  struct stat st;
  char path[PATH_MAX];
  int rc = 0;

  if (d == NULL)
    return errno == ENOENT ? 0 : -1;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    bench_path(path, dir, e->d_name);
    if (lstat(path, &st) != 0)
      continue;
    if (S_ISDIR(st.st_mode))
      rc |= rm_tree(path);
    else if (unlink(path) != 0 && errno != ENOENT)
      rc = -1;
  }
  closedir(d);
  if (rmdir(dir) != 0 && errno != ENOENT)
    rc = -1;
  return rc;
}

int
bench_rm_rf(const char *dir)
{
  return rm_tree(dir);
}

bool
bench_dir_is_tmpfs(const char *dir)
{
  struct statfs sf;

  if (statfs(dir, &sf) != 0)
    return false;
  return sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC;
}

/* ------------------------------------------------------------------------
 * Page cache.
 * --------------------------------------------------------------------- */

static int
drop_one(const char *path, const struct stat *st, void *arg)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);

  (void)st;
  (void)arg;
  if (fd < 0)
    return errno == ENOENT ? 0 : -1;
  /* Dirty pages are not dropped: write them back first. */
  fsync(fd);
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  close(fd);
  return 0;
}

int
bench_cache_drop(const char *dir)
{
  int fd, permitted = 0;

  if (walk(dir, drop_one, NULL) != 0)
    return -1;
  sync();
  fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
  if (fd >= 0) {
    permitted = write(fd, "3\n", 2) == 2;
    close(fd);
  }
  return permitted;
}

static int
read_one(const char *path, const struct stat *st, void *arg)
{
  static char buf[1 << 20];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  ssize_t n;

  (void)st;
  (void)arg;
  if (fd < 0)
    return errno == ENOENT ? 0 : -1;
  while ((n = read(fd, buf, sizeof(buf))) > 0)
    ;
  close(fd);
  return n < 0 ? -1 : 0;
}

int
bench_cache_warm(const char *dir)
{
  return walk(dir, read_one, NULL);
}

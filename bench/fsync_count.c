/*
 * fsync_count.c -- counts the sync calls of every engine in the process by
 * interposing fsync, fdatasync, sync_file_range and msync, and times the
 * ones that wait for the device (fsync, fdatasync, msync with MS_SYNC).
 *
 * The executable defines these symbols and is linked with -export-dynamic
 * (bench/bench.mk), so the dynamic linker binds the peers' shared libraries
 * (librocksdb, liblmdb, libsqlite3) and libmrlog to these wrappers first;
 * each wrapper counts, then calls the next definition (glibc's) found with
 * dlsym(RTLD_NEXT).  main.c checks that a durable peer run counted a
 * non-zero number, which proves the binding.
 *
 * Invariants:
 *   1. calls is a relaxed atomic counter: it orders nothing, it is only
 *      read after the workload's threads are joined or quiescent.
 *   2. If dlsym cannot find the next definition the wrapper issues the
 *      system call itself, so a sync is never skipped.
 *   3. sync_hist[i] counts timed syncs that took i microseconds (the last
 *      bucket: SYNC_HIST_US or more; sync_max_ns holds the exact largest).
 *      Relaxed atomics like calls: bench_sync_reset runs before the
 *      workload starts and bench_sync_summary after it is quiescent.  A
 *      clock read costs under a microsecond and a sync at least tens of
 *      them, so timing does not change what is timed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT, sync_file_range */
#endif
#include "harness.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static atomic_int_fast64_t calls;

#define SYNC_HIST_US 100000 /* 1 us buckets up to 100 ms */
static atomic_uint_fast32_t sync_hist[SYNC_HIST_US + 1];
static atomic_uint_fast64_t sync_max_ns;

/* Adds one sync that started at t0 (invariant 3); keeps errno. */
static void
sync_took(uint64_t t0)
{
  int saved = errno;
  uint64_t ns = bench_now_ns() - t0, us = ns / 1000;
  uint64_t max = atomic_load_explicit(&sync_max_ns, memory_order_relaxed);

  atomic_fetch_add_explicit(&sync_hist[us < SYNC_HIST_US ? us : SYNC_HIST_US],
                            1, memory_order_relaxed);
  while (ns > max &&
         !atomic_compare_exchange_weak_explicit(&sync_max_ns, &max, ns,
                                                memory_order_relaxed,
                                                memory_order_relaxed))
    ;
  errno = saved;
}

void
bench_sync_reset(void)
{
  size_t i;

  for (i = 0; i <= SYNC_HIST_US; i++)
    atomic_store_explicit(&sync_hist[i], 0, memory_order_relaxed);
  atomic_store_explicit(&sync_max_ns, 0, memory_order_relaxed);
}

/* The upper bound (us) of the bucket holding rank ceil(p% of n). */
static double
hist_percentile(uint64_t n, double p)
{
  uint64_t rank = (uint64_t)ceil((double)n * p / 100.0), seen = 0;
  size_t i;

  if (rank == 0)
    rank = 1;
  for (i = 0; i < SYNC_HIST_US; i++) {
    seen += atomic_load_explicit(&sync_hist[i], memory_order_relaxed);
    if (seen >= rank)
      return (double)(i + 1);
  }
  return (double)atomic_load_explicit(&sync_max_ns, memory_order_relaxed) /
         1e3;
}

void
bench_sync_summary(struct bench_sync_summary *s)
{
  uint64_t n = 0;
  size_t i;

  for (i = 0; i <= SYNC_HIST_US; i++)
    n += atomic_load_explicit(&sync_hist[i], memory_order_relaxed);
  memset(s, 0, sizeof(*s));
  s->count = (int64_t)n;
  s->p50_us = s->p99_us = s->p999_us = s->max_us = NAN;
  if (n == 0)
    return;
  s->p50_us = hist_percentile(n, 50);
  s->p99_us = hist_percentile(n, 99);
  s->p999_us = hist_percentile(n, 99.9);
  s->max_us =
      (double)atomic_load_explicit(&sync_max_ns, memory_order_relaxed) / 1e3;
}

int64_t
bench_fsync_calls(void)
{
  return (int64_t)atomic_load_explicit(&calls, memory_order_relaxed);
}

/* Resolves the next definition of name once; racing first calls resolve
 * the same pointer, so the plain store is benign but kept atomic. */
#define NEXT(type, name)                                                    \
  static _Atomic(type) next_##name;                                         \
  type fn = atomic_load_explicit(&next_##name, memory_order_relaxed);       \
  if (fn == NULL) {                                                         \
    fn = (type)dlsym(RTLD_NEXT, #name);                                     \
    atomic_store_explicit(&next_##name, fn, memory_order_relaxed);          \
  }                                                                         \
  atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed)

typedef int (*fsync_type)(int);
typedef int (*sfr_type)(int, off_t, off_t, unsigned int);
typedef int (*msync_type)(void *, size_t, int);

int
fsync(int fd)
{
  uint64_t t0 = bench_now_ns();
  int rc;

  NEXT(fsync_type, fsync);
  rc = fn != NULL ? fn(fd) : (int)syscall(SYS_fsync, fd);
  sync_took(t0);
  return rc;
}

int
fdatasync(int fd)
{
  uint64_t t0 = bench_now_ns();
  int rc;

  NEXT(fsync_type, fdatasync);
  rc = fn != NULL ? fn(fd) : (int)syscall(SYS_fdatasync, fd);
  sync_took(t0);
  return rc;
}

int
sync_file_range(int fd, off_t offset, off_t nbytes, unsigned int flags)
{
  NEXT(sfr_type, sync_file_range);
  return fn != NULL ? fn(fd, offset, nbytes, flags)
                    : (int)syscall(SYS_sync_file_range, fd, offset, nbytes,
                                   flags);
}

int
msync(void *addr, size_t length, int flags)
{
  uint64_t t0 = bench_now_ns();
  int rc;

  NEXT(msync_type, msync);
  rc = fn != NULL ? fn(addr, length, flags)
                  : (int)syscall(SYS_msync, addr, length, flags);
  if (flags & MS_SYNC)
    sync_took(t0);
  return rc;
}

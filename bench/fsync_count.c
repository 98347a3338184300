/*
 * fsync_count.c -- counts the sync calls of every engine in the process by
 * interposing fsync, fdatasync, sync_file_range and msync.
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
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT, sync_file_range */
#endif
#include "harness.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static atomic_int_fast64_t calls;

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
  NEXT(fsync_type, fsync);
  return fn != NULL ? fn(fd) : (int)syscall(SYS_fsync, fd);
}

int
fdatasync(int fd)
{
  NEXT(fsync_type, fdatasync);
  return fn != NULL ? fn(fd) : (int)syscall(SYS_fdatasync, fd);
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
  NEXT(msync_type, msync);
  return fn != NULL ? fn(addr, length, flags)
                    : (int)syscall(SYS_msync, addr, length, flags);
}

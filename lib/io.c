/*
 * io.c -- the production I/O table: each entry is the POSIX call itself.
 * See io.h for the seam's contract.
 */
#include "base.h"
#include "io.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <stdio.h>
#include <unistd.h>

static int
posix_openat(void *ctx, int dir_fd, const char *name, int flags, mode_t mode)
{
  (void)ctx;
  return openat(dir_fd, name, flags, mode);
}

static int
posix_close(void *ctx, int fd)
{
  (void)ctx;
  return close(fd);
}

static ssize_t
posix_pread(void *ctx, int fd, void *buf, size_t len, off_t off)
{
  (void)ctx;
  return pread(fd, buf, len, off);
}

static ssize_t
posix_pwrite(void *ctx, int fd, const void *buf, size_t len, off_t off)
{
  (void)ctx;
  return pwrite(fd, buf, len, off);
}

static int
posix_fdatasync(void *ctx, int fd)
{
  (void)ctx;
  return fdatasync(fd);
}

static int
posix_fsync(void *ctx, int fd)
{
  (void)ctx;
  return fsync(fd);
}

static int
posix_ftruncate(void *ctx, int fd, off_t len)
{
  (void)ctx;
  return ftruncate(fd, len);
}

static int
posix_unlinkat(void *ctx, int dir_fd, const char *name)
{
  (void)ctx;
  return unlinkat(dir_fd, name, 0);
}

static int
posix_renameat(void *ctx, int dir_fd, const char *from, const char *to)
{
  (void)ctx;
  return renameat(dir_fd, from, dir_fd, to);
}

/* Prefaulted (MAP_POPULATE: recovery reads every byte, and faulting the
 * pages in one call is faster) unless the file has holes: populating a
 * hole would fill the page cache with zeros that are not in the file, so
 * a sparse or hostile segment would cost memory far beyond its data. */
static void *
posix_map(void *ctx, int fd, size_t len)
{
  struct stat st;
  int flags = MAP_PRIVATE;

  (void)ctx;
  if (fstat(fd, &st) == 0 && (uint64_t)st.st_blocks * 512 >= (uint64_t)len)
    flags |= MAP_POPULATE;
  return mmap(NULL, len, PROT_READ, flags, fd, 0);
}

static int
posix_unmap(void *ctx, void *addr, size_t len)
{
  (void)ctx;
  return munmap(addr, len);
}

static ssize_t
posix_pwritev(void *ctx, int fd, const struct iovec *iov, int cnt, off_t off)
{
  (void)ctx;
  return pwritev(fd, iov, cnt, off);
}

static off_t
posix_lseek(void *ctx, int fd, off_t off, int whence)
{
  (void)ctx;
  return lseek(fd, off, whence);
}

const struct mrlog__io mrlog__posix_io = {
  posix_openat,    posix_close,     posix_pread,
  posix_pwrite,    posix_fdatasync, posix_fsync,
  posix_ftruncate, posix_unlinkat,  posix_renameat,
  NULL,            posix_map,       posix_unmap,
  posix_pwritev,   NULL,            NULL,
  posix_lseek,     NULL,
};

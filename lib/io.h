/*
 * io.h -- the I/O seam: every file operation of the writer, the flusher,
 * the cleaner and recovery goes through one small table, so tests can put
 * a faulty or crash-simulating file layer underneath without touching the
 * production paths.  (Locking the directory does not, and creating and
 * opening it only through the optional mkdir and open_dir below.)
 *
 * Each operation has its POSIX meaning and convention: -1 (or a short
 * count) with errno set on failure.  ctx is passed back unchanged.  The
 * table and ctx must outlive the log.  The operations may be called from
 * the opener's thread and from every library thread concurrently.
 */
#ifndef MRLOG_IO_H
#define MRLOG_IO_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct mrlog__io {
  int (*openat)(void *ctx, int dir_fd, const char *name, int flags,
                mode_t mode);
  int (*close)(void *ctx, int fd);
  ssize_t (*pread)(void *ctx, int fd, void *buf, size_t len, off_t off);
  ssize_t (*pwrite)(void *ctx, int fd, const void *buf, size_t len,
                    off_t off);
  int (*fdatasync)(void *ctx, int fd); /* segment files */
  int (*fsync)(void *ctx, int fd);     /* the directory */
  int (*ftruncate)(void *ctx, int fd, off_t len);
  int (*unlinkat)(void *ctx, int dir_fd, const char *name);
  int (*renameat)(void *ctx, int dir_fd, const char *from, const char *to);
  void *ctx;
  /* Optional (NULL: recovery reads with pread).  Maps len > 0 bytes of fd
   * read-only, prefaulted; MAP_FAILED with errno on failure. */
  void *(*map)(void *ctx, int fd, size_t len);
  int (*unmap)(void *ctx, void *addr, size_t len);
  /* Optional (NULL: each piece goes through pwrite, in order, so a test
   * layer that wraps pwrite sees every byte).  POSIX pwritev; cnt is at
   * most IOV_MAX. */
  ssize_t (*pwritev)(void *ctx, int fd, const struct iovec *iov, int cnt,
                     off_t off);
  /* Optional (NULL: the POSIX call).  mrlog_open's mkdir of the log's
   * directory (and of its parents), and its open of a directory by path
   * (O_RDONLY | O_DIRECTORY | O_CLOEXEC), so tests can inject the errors
   * a forbidden or read-only directory gives even when run as root. */
  int (*mkdir)(void *ctx, const char *path, mode_t mode);
  int (*open_dir)(void *ctx, const char *path);
  /* Optional (NULL: no holes are known, and recovery reads through them).
   * POSIX lseek; recovery uses only SEEK_DATA and SEEK_HOLE (holes.c). */
  off_t (*lseek)(void *ctx, int fd, off_t off, int whence);
  /* Optional (NULL: mmap PROT_READ, MAP_SHARED | MAP_NORESERVE).  Maps a
   * read-only shared window of len bytes of fd, which may be longer than
   * the file (the hot segment's under MRLOG_STORE_MAPPED, filemap.c);
   * MAP_FAILED with errno on failure. */
  void *(*map_window)(void *ctx, int fd, size_t len);
};

/* The production table: plain POSIX calls. */
extern const struct mrlog__io mrlog__posix_io;

#endif /* MRLOG_IO_H */

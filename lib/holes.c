/*
 * holes.c -- the holes of a segment file, found with lseek(SEEK_DATA /
 * SEEK_HOLE), so that recovery's scans cost what the file's data costs:
 * a newest segment that is a few KiB of frames and then a hole to
 * 4 GiB - 1 (extended by ftruncate, or room never written) is neither
 * read nor faulted in past its data.
 *
 * Invariants:
 *  1. A hole reads as zeros and means exactly what zeros mean there
 *     (docs/FORMAT.md 9.1; recovery_scan.c): knowing the holes only lets
 *     a scan skip bytes it knows to be zero.  A scan that does not know
 *     them (no lseek in the file layer, a file system without SEEK_HOLE,
 *     more holes than MRLOG__HOLES_MAX) reads the zeros instead and
 *     decides the same.
 *  2. No frame starts where its 16 header bytes are all zero (its
 *     body_length would be 0), so the byte scan for valid frames skips
 *     every offset whose header would lie wholly inside a hole.
 *  3. The file does not change between the lookup and the scan: the
 *     opener holds the directory's LOCK and recovery reads a segment
 *     before it writes anything.
 *  4. Finding the holes costs two lseek calls per data extent, and the
 *     table is fixed-size: no allocation, whatever the file declares.
 *     The opener's thread only (or readahead's, for its own file).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* SEEK_DATA, SEEK_HOLE */
#endif
#include "holes.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static void
add_hole(struct mrlog__holes *out, size_t off, size_t end)
{
  /* A full table keeps its first holes and replaces its last one, so the
   * hole that ends a file is always known (invariant 1). */
  if (out->n == MRLOG__HOLES_MAX)
    out->n--;
  out->h[out->n].off = off;
  out->h[out->n].end = end;
  out->n++;
}

void
mrlog__holes_of_fd(const struct mrlog__io *io, int fd, size_t size,
                   struct mrlog__holes *out)
{
  off_t off = 0, data, hole;

  memset(out, 0, sizeof(*out));
  if (io->lseek == NULL)
    return;
  while ((size_t)off < size) {
    data = io->lseek(io->ctx, fd, off, SEEK_DATA);
    if (data < 0 && errno == ENXIO) {
      add_hole(out, (size_t)off, size); /* a hole to the end */
      return;
    }
    if (data < 0 || data < off) {
      out->n = 0; /* no SEEK_DATA here: none known (invariant 1) */
      return;
    }
    if ((size_t)data >= size) {
      add_hole(out, (size_t)off, size);
      return;
    }
    if (data > off)
      add_hole(out, (size_t)off, (size_t)data);
    hole = io->lseek(io->ctx, fd, data, SEEK_HOLE);
    if (hole <= data) {
      out->n = 0;
      return;
    }
    off = hole;
  }
}

void
mrlog__holes_of(struct mrlog *log, const char *name, size_t size,
                struct mrlog__holes *out)
{
  const struct mrlog__io *io = log->io;
  int fd;

  memset(out, 0, sizeof(*out));
  if (io->lseek == NULL || size == 0)
    return;
  fd = io->openat(io->ctx, log->dir_fd, name, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0)
    return; /* scanned through, as without holes */
  mrlog__holes_of_fd(io, fd, size, out);
  io->close(io->ctx, fd);
}

size_t
mrlog__holes_skip(const struct mrlog__holes *h, size_t off, size_t span)
{
  size_t i;

  for (i = 0; i < h->n && h->h[i].off <= off; i++)
    if (off < h->h[i].end && h->h[i].end - off >= span)
      off = h->h[i].end - span + 1;
  return off;
}

size_t
mrlog__holes_next(const struct mrlog__holes *h, size_t off, size_t size)
{
  size_t i;

  for (i = 0; i < h->n; i++)
    if (h->h[i].end > off)
      return h->h[i].off > off ? h->h[i].off : off;
  return size;
}

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
 *  5. A frame body that runs into a hole is checksummed without reading
 *     the hole: its zeros extend the CRC by matrix powers (O(log n)), so
 *     a hostile length field costs neither memory nor a pass over 2 GiB.
 *     The opener's thread only (or readahead's, for its own file).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* SEEK_DATA, SEEK_HOLE */
#endif
#include "holes.h"
#include "internal.h"
#include "crc32c.h"

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

/* CRC-32C of zeros (invariant 5): the register after n zero bits is a
 * linear map of the register before, so n bytes are the map for one zero
 * byte raised to the n-th power by squaring, as zlib's crc32_combine. */
static uint32_t
gf2_times(const uint32_t *mat, uint32_t vec)
{
  uint32_t sum = 0;

  for (; vec != 0; vec >>= 1, mat++)
    if (vec & 1)
      sum ^= *mat;
  return sum;
}

static void
gf2_square(uint32_t *square, const uint32_t *mat)
{
  int n;

  for (n = 0; n < 32; n++)
    square[n] = gf2_times(mat, mat[n]);
}

uint32_t
mrlog__crc32c_zeros(uint32_t crc, uint64_t n)
{
  uint32_t even[32], odd[32], reg = ~crc, row = 1;
  int i;

  if (n == 0)
    return crc;
  odd[0] = 0x82f63b78u; /* one zero bit, reflected polynomial */
  for (i = 1; i < 32; i++) {
    odd[i] = row;
    row <<= 1;
  }
  gf2_square(even, odd); /* two zero bits */
  gf2_square(odd, even); /* four */
  for (;;) {
    gf2_square(even, odd); /* first pass: one byte */
    if (n & 1)
      reg = gf2_times(even, reg);
    n >>= 1;
    if (n == 0)
      break;
    gf2_square(odd, even);
    if (n & 1)
      reg = gf2_times(odd, reg);
    n >>= 1;
    if (n == 0)
      break;
  }
  return ~reg;
}

enum mrlog__frame_check
mrlog__holes_frame_check(const struct mrlog__holes *h, const uint8_t *data,
                         size_t len, size_t off, uint64_t segno,
                         uint32_t *body_len, uint32_t *synced)
{
  size_t hole, pos, end, next, n;
  uint32_t bl, crc = 0;
  enum mrlog__frame_check r;

  if (len - off < MRLOG_FRAME_HEADER_SIZE)
    return MRLOG_FRAME_SHORT;
  hole = mrlog__holes_next(h, off + MRLOG_FRAME_HEADER_SIZE, len);
  if (hole >= len)
    return mrlog__frame_check(data + off, len - off, segno, (uint32_t)off,
                              body_len, synced);
  /* TORN before the hole: the header is valid and the body runs on. */
  r = mrlog__frame_check(data + off, hole - off, segno, (uint32_t)off,
                         body_len, synced);
  if (r != MRLOG_FRAME_TORN)
    return r;
  bl = mrlog__get_u32le(data + off + 4);
  if (bl > len - off - MRLOG_FRAME_HEADER_SIZE)
    return MRLOG_FRAME_TORN;
  pos = off + MRLOG_FRAME_HEADER_SIZE;
  end = pos + bl;
  while (pos < end) {
    next = mrlog__holes_next(h, pos, len);
    if (next > pos) {
      n = (next < end ? next : end) - pos;
      crc = mrlog__crc32c_extend(crc, data + pos, n);
    } else {
      next = mrlog__holes_skip(h, pos, 1);
      n = (next < end ? next : end) - pos;
      crc = mrlog__crc32c_zeros(crc, n);
    }
    pos += n;
  }
  if (crc != mrlog__get_u32le(data + off + 12))
    return MRLOG_FRAME_BAD;
  *body_len = bl;
  *synced = mrlog__get_u32le(data + off + 8);
  return MRLOG_FRAME_OK;
}

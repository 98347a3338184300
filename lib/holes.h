/*
 * holes.h -- where a segment file has holes (lseek SEEK_DATA/SEEK_HOLE),
 * so that recovery's scans skip them instead of reading through them.
 * docs/FORMAT.md 9.1: a hole reads as zeros and means what zeros mean.
 */
#ifndef MRLOG_HOLES_H
#define MRLOG_HOLES_H

#include <stdbool.h>
#include <stddef.h>

#include "format.h"
#include "io.h"

/* Holes kept per file: the first ones, and always the last one (a file
 * with more is scanned through the others: slower, never wrong). */
#define MRLOG__HOLES_MAX 64

/* The holes of one file, ascending and disjoint.  All zero: none known
 * (the file layer cannot tell, or the file has none). */
struct mrlog__holes {
  size_t n;
  struct {
    size_t off; /* first byte of the hole */
    size_t end; /* one past its last byte; at most the file's size */
  } h[MRLOG__HOLES_MAX];
};

struct mrlog;

/* Fills *out with the holes of the segment file name, of size bytes, as
 * io->lseek reports them.  Never fails: without lseek, or when it fails
 * (a file system without SEEK_HOLE reports none), *out says none. */
void mrlog__holes_of(struct mrlog *log, const char *name, size_t size,
                     struct mrlog__holes *out);
/* The same, for an open descriptor. */
void mrlog__holes_of_fd(const struct mrlog__io *io, int fd, size_t size,
                        struct mrlog__holes *out);

/* The first offset x >= off such that [x, x + span) is not wholly inside
 * one hole: off itself when it is not.  (After a hole that ends the file,
 * x + span is past the file's end.) */
size_t mrlog__holes_skip(const struct mrlog__holes *h, size_t off,
                         size_t span);
/* The first byte at or after off that is in a hole, or size. */
size_t mrlog__holes_next(const struct mrlog__holes *h, size_t off,
                         size_t size);

/* mrlog__frame_check of the frame at off in data[0, len), a whole file
 * whose holes are h: a body that runs into a hole is checksummed over
 * its zeros without reading them (mrlog__crc32c_zeros), so a length field
 * that declares 2 GiB of hole costs no memory. */
enum mrlog__frame_check
mrlog__holes_frame_check(const struct mrlog__holes *h, const uint8_t *data,
                         size_t len, size_t off, uint64_t segno,
                         uint32_t *body_len, uint32_t *synced);

/* mrlog__crc32c_extend(crc, n zero bytes), in O(log n). */
uint32_t mrlog__crc32c_zeros(uint32_t crc, uint64_t n);

#endif /* MRLOG_HOLES_H */

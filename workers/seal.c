/*
 * seal.c -- writes the seal that ends a complete segment (format version
 * 3, docs/FORMAT.md 6.4): at rotation and at close (the writer), and at
 * open for a newest segment found unsealed (recovery).
 *
 * Invariants:
 *  1. The caller has made every byte before off durable (an fdatasync
 *     that returned 0), so the seal's synced = off never claims more than
 *     is on disk (writer invariant 3): damage before a seal is
 *     corruption, never a crash's torn tail.
 *  2. The seal is fdatasynced before the segment counts as sealed: here
 *     when `sync` is set (close, recovery), else by the caller through the
 *     flusher's sync token (rotation, so that one sync at most is in
 *     flight on the hot fd): a segment is sealed on disk before the next
 *     one is created or the log is reported closed.
 *  3. Nothing is written after a failure: on error the caller fails the
 *     log (writer) or the open (recovery).
 *  4. The seal starts at a multiple of MRLOG_SEAL_ALIGN: the caller writes
 *     the pad (mrlog__seal_pad) before the fdatasync of invariant 1, so
 *     the pad is durable before the seal that witnesses it, and zeroing
 *     the last sector of records cannot take the seal with it (the seal
 *     then witnesses the damage).
 */
#include "internal.h"
#include "flusher.h"
#include "seal.h"
#include "segment.h"

int
mrlog__seal_pad(struct mrlog *log, int fd, uint64_t segno, uint32_t off,
                uint32_t *end)
{
  uint8_t frame[MRLOG_PAD_FRAME_MAX];
  size_t n = mrlog__pad_encode(frame, segno, off);
  int rc = 0;

  if ((uint64_t)off + n > UINT32_MAX)
    return MRLOG_EIO; /* offsets are 32-bit (FORMAT.md 10) */
  if (n > 0)
    rc = mrlog__pwrite_all(log, fd, frame, n, off);
  if (rc == 0)
    *end = off + (uint32_t)n;
  return rc;
}

int
mrlog__seal_write(struct mrlog *log, int fd, uint64_t segno, uint32_t off,
                  bool sync, uint32_t *end)
{
  uint8_t frame[MRLOG_SEAL_FRAME_MAX];
  size_t n = mrlog__seal_encode(frame, segno, off);
  int rc;

  if ((uint64_t)off + n > UINT32_MAX)
    return MRLOG_EIO; /* offsets are 32-bit (FORMAT.md 10) */
  rc = mrlog__pwrite_all(log, fd, frame, n, off);
  if (rc == 0 && sync)
    rc = mrlog__datasync(log, fd);
  if (rc == 0)
    *end = off + (uint32_t)n;
  return rc;
}

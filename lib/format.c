/*
 * format.c -- encoding and checking of file and frame headers (no I/O).
 * See format.h and docs/FORMAT.md.
 *
 * Invariants:
 *  1. A frame is valid only at the segment number and offset it was
 *     written for: both enter hcrc.
 *  2. A body length is used only after hcrc has matched, and only if the
 *     body fits in the available bytes; nothing is allocated from it here.
 */
#include "format.h"
#include "mrlog.h"

#include "crc32c.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(MRLOG_FORMAT_VERSION == MRLOG_FORMAT_VERSION_CURRENT,
               "lib/format.h and include/mrlog.h name the same format");
_Static_assert(2ull * MRLOG_CHECKPOINT_MAX + MRLOG_BATCH_BYTES_MAX +
                       5ull * MRLOG_BATCH_COUNT_MAX + (1u << 20) <
                   MRLOG_SEGMENT_FILE_MAX,
               "a segment's offsets fit in 32 bits (format.h)");

uint64_t mrlog__checkpoint_max = MRLOG_CHECKPOINT_MAX;

int
mrlog__buf_reserve(struct mrlog__buf *b, size_t extra)
{
  size_t need, cap;
  uint8_t *p;

  if (b->cap - b->len >= extra)
    return 0;
  need = b->len + extra;
  if (need < b->len)
    return -ENOMEM;
  cap = b->cap ? b->cap : 4096;
  while (cap < need) {
    if (cap > SIZE_MAX / 2) {
      cap = need;
      break;
    }
    cap *= 2;
  }
  p = realloc(b->data, cap);
  if (p == NULL)
    return -ENOMEM;
  b->data = p;
  b->cap = cap;
  return 0;
}

void
mrlog__buf_free(struct mrlog__buf *b)
{
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

bool
mrlog__get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
  const uint8_t *q = *p;
  uint64_t v = 0;
  unsigned shift = 0;

  while (q < end) {
    uint8_t byte = *q++;
    if (shift == 63 && byte > 1)
      return false; /* bits beyond 64 */
    v |= (uint64_t)(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *p = q;
      *out = v;
      return true;
    }
    shift += 7;
    if (shift > 63)
      return false;
  }
  return false;
}

void
mrlog__file_header_encode(uint8_t out[MRLOG_FILE_HEADER_SIZE], uint64_t segno)
{
  memset(out, 0, MRLOG_FILE_HEADER_SIZE);
  memcpy(out, MRLOG_FILE_MAGIC, 8);
  mrlog__put_u32le(out + 8, MRLOG_FORMAT_VERSION);
  mrlog__put_u32le(out + 12, 0);
  mrlog__put_u64le(out + 16, segno);
  mrlog__put_u32le(out + 24, 0);
  mrlog__put_u32le(out + 28, mrlog__crc32c(out, 28));
}

int
mrlog__file_header_check(const uint8_t *p, size_t avail, uint64_t segno)
{
  if (avail < MRLOG_FILE_HEADER_SIZE)
    return -1;
  if (memcmp(p, MRLOG_FILE_MAGIC, 8) != 0)
    return -1;
  if (mrlog__get_u32le(p + 28) != mrlog__crc32c(p, 28))
    return -1;
  if (mrlog__get_u32le(p + 8) < MRLOG_FORMAT_VERSION_MIN ||
      mrlog__get_u32le(p + 8) > MRLOG_FORMAT_VERSION)
    return -2; /* intact, but another format: never treated as damage */
  if (mrlog__get_u64le(p + 16) != segno)
    return -1;
  return 0;
}

static uint32_t
header_crc(const uint8_t *hdr, uint64_t segno, uint32_t off)
{
  uint8_t identity[16];

  mrlog__put_u64le(identity, segno);
  mrlog__put_u64le(identity + 8, off);
  return mrlog__crc32c_extend(mrlog__crc32c(identity, 16), hdr + 4,
                              MRLOG_FRAME_HEADER_SIZE - 4);
}

void
mrlog__frame_header_encode(uint8_t *hdr, uint64_t segno, uint32_t off,
                           uint32_t body_len, uint32_t synced)
{
  mrlog__frame_header_encode_crc(
      hdr, segno, off, body_len, synced,
      mrlog__crc32c(hdr + MRLOG_FRAME_HEADER_SIZE, body_len));
}

void
mrlog__frame_header_encode_crc(uint8_t *hdr, uint64_t segno, uint32_t off,
                               uint32_t body_len, uint32_t synced,
                               uint32_t body_crc)
{
  mrlog__put_u32le(hdr + 4, body_len);
  mrlog__put_u32le(hdr + 8, synced);
  mrlog__put_u32le(hdr + 12, body_crc);
  mrlog__put_u32le(hdr, header_crc(hdr, segno, off));
}

enum mrlog__frame_check
mrlog__frame_check(const uint8_t *p, size_t avail, uint64_t segno,
                   uint32_t off, uint32_t *body_len, uint32_t *synced)
{
  uint32_t len, syn;

  if (avail < MRLOG_FRAME_HEADER_SIZE)
    return MRLOG_FRAME_SHORT;
  if (mrlog__get_u32le(p) != header_crc(p, segno, off))
    return MRLOG_FRAME_BAD;
  len = mrlog__get_u32le(p + 4);
  syn = mrlog__get_u32le(p + 8);
  if (len == 0 || len > MRLOG_FRAME_BODY_MAX || syn > off)
    return MRLOG_FRAME_BAD;
  if (len > avail - MRLOG_FRAME_HEADER_SIZE)
    return MRLOG_FRAME_TORN;
  if (mrlog__get_u32le(p + 12) !=
      mrlog__crc32c(p + MRLOG_FRAME_HEADER_SIZE, len))
    return MRLOG_FRAME_BAD;
  *body_len = len;
  *synced = syn;
  return MRLOG_FRAME_OK;
}

size_t
mrlog__seal_encode(uint8_t out[MRLOG_SEAL_FRAME_MAX], uint64_t segno,
                   uint32_t off)
{
  struct mrlog__buf b = { out + MRLOG_FRAME_HEADER_SIZE, 0,
                          MRLOG_SEAL_FRAME_MAX - MRLOG_FRAME_HEADER_SIZE };
  uint64_t end;
  size_t k;

  /* The end counts its own varint: take the first length that fits. */
  for (k = 1;; k++) {
    end = (uint64_t)off + MRLOG_FRAME_HEADER_SIZE + 1 + k;
    if (mrlog__varint_len(end) == k)
      break;
  }
  mrlog__buf_put_u8(&b, MRLOG_OP_SEAL);
  mrlog__buf_put_varint(&b, end);
  mrlog__frame_header_encode(out, segno, off, (uint32_t)b.len, off);
  return MRLOG_FRAME_HEADER_SIZE + b.len;
}

size_t
mrlog__pad_encode(uint8_t out[MRLOG_PAD_FRAME_MAX], uint64_t segno,
                  uint32_t off)
{
  size_t n = (MRLOG_SEAL_ALIGN - off % MRLOG_SEAL_ALIGN) % MRLOG_SEAL_ALIGN;
  uint8_t *body = out + MRLOG_FRAME_HEADER_SIZE;
  size_t body_len, i = 0;

  if (n == 0)
    return 0;
  if (n < MRLOG_PAD_FRAME_MIN)
    n += MRLOG_SEAL_ALIGN;
  body_len = n - MRLOG_FRAME_HEADER_SIZE;
  if (body_len % 2 != 0) {
    body[i++] = MRLOG_OP_TIME; /* unix_ms 128: `80 01` */
    body[i++] = 0x80;
    body[i++] = 0x01;
  }
  while (i < body_len) {
    body[i++] = MRLOG_OP_TIME; /* unix_ms 0 */
    body[i++] = 0x00;
  }
  mrlog__frame_header_encode(out, segno, off, (uint32_t)body_len, 0);
  return n;
}

bool
mrlog__seal_check(const uint8_t *body, uint32_t body_len, uint32_t off,
                  uint32_t synced)
{
  const uint8_t *p = body + 1;
  uint64_t end;

  if (body_len < 2 || body[0] != MRLOG_OP_SEAL || synced != off)
    return false;
  if (!mrlog__get_varint(&p, body + body_len, &end) || p != body + body_len)
    return false;
  return end == (uint64_t)off + MRLOG_FRAME_HEADER_SIZE + body_len;
}

/*
 * frame.c -- the checks of docs/FORMAT.md sections 3, 5 and 6, written
 * from the document (lib/format.c is not used, so the two cross-check each
 * other), and the byte scans recovery makes after a bad frame (section 9).
 *
 * Invariants:
 *  1. A frame is checked in the document's order: enough bytes for a
 *     header, hcrc, body_length and synced, room for the body, bcrc.  A
 *     length is trusted only after hcrc has matched, and is never used to
 *     size an allocation: bodies are checksummed through the file window.
 *  2. hcrc = crc32c(u64le(segno) || u64le(off) || header[4..15]): a frame
 *     is valid only at the segment and offset it was written for.
 *  3. Every result is computed from the snapshot of the file (file.c); a
 *     file that shrinks while a body is read makes that frame TORN.
 */
#include "tool.h"
#include "crc32c.h"

#include <string.h>

bool
tool_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
  const uint8_t *q = *p;
  uint64_t v = 0;
  unsigned i;

  for (i = 0; i < MRLOG_VARINT_MAX; i++) {
    uint8_t byte;

    if (q >= end)
      return false; /* cut off by the end of the body */
    byte = *q++;
    if (i == MRLOG_VARINT_MAX - 1 && byte > 1)
      return false; /* bits beyond bit 63, or an 11th byte */
    v |= (uint64_t)(byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) {
      *p = q;
      *out = v;
      return true;
    }
  }
  return false;
}

static uint32_t
get_u32le(const uint8_t *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static uint64_t
get_u64le(const uint8_t *p)
{
  return (uint64_t)get_u32le(p) | (uint64_t)get_u32le(p + 4) << 32;
}

static void
put_u64le(uint8_t *p, uint64_t v)
{
  int i;

  for (i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

enum tool_header_result
tool_header_check(struct tool_file *f, uint64_t segno, uint32_t *version)
{
  const uint8_t *h = tool_file_get(f, 0, MRLOG_FILE_HEADER_SIZE);

  *version = 0;
  if (h == NULL)
    return TOOL_HEADER_SHORT;
  if (memcmp(h, MRLOG_FILE_MAGIC, 8) != 0)
    return TOOL_HEADER_BAD_MAGIC;
  if (get_u32le(h + 28) != mrlog__crc32c(h, 28))
    return TOOL_HEADER_BAD_CRC;
  *version = get_u32le(h + 8);
  if (*version < TOOL_FORMAT_VERSION_MIN ||
      *version > TOOL_FORMAT_VERSION_MAX)
    return TOOL_HEADER_BAD_VERSION;
  if (get_u64le(h + 16) != segno)
    return TOOL_HEADER_BAD_SEGNO;
  return TOOL_HEADER_OK;
}

const char *
tool_header_result_str(enum tool_header_result r)
{
  switch (r) {
  case TOOL_HEADER_OK: return "valid";
  case TOOL_HEADER_SHORT: return "shorter than 32 bytes";
  case TOOL_HEADER_BAD_MAGIC: return "bad magic";
  case TOOL_HEADER_BAD_CRC: return "bad header checksum";
  case TOOL_HEADER_BAD_VERSION: return "unsupported format version";
  case TOOL_HEADER_BAD_SEGNO: return "segment number differs from the name";
  }
  return "?";
}

/* Invariant 2: base is crc32c(u64le(segno)). */
static uint32_t
header_crc(uint32_t base, uint64_t off, const uint8_t *hdr)
{
  uint8_t o[8];

  put_u64le(o, off);
  return mrlog__crc32c_extend(mrlog__crc32c_extend(base, o, 8), hdr + 4,
                              MRLOG_FRAME_HEADER_SIZE - 4);
}

static uint32_t
segno_crc(uint64_t segno)
{
  uint8_t s[8];

  put_u64le(s, segno);
  return mrlog__crc32c(s, 8);
}

uint64_t tool_frame_checks;

enum tool_frame_result
tool_frame_check(struct tool_file *f, uint64_t segno, uint64_t off,
                 struct tool_frame *fr)
{
  const uint8_t *h;
  uint32_t body_len, synced, bcrc, crc = 0;
  uint64_t pos, left;

  tool_frame_checks++;
  if (off > f->size || f->size - off < MRLOG_FRAME_HEADER_SIZE)
    return TOOL_FRAME_SHORT;
  h = tool_file_get(f, off, MRLOG_FRAME_HEADER_SIZE);
  if (h == NULL)
    return TOOL_FRAME_SHORT;
  if (get_u32le(h) != header_crc(segno_crc(segno), off, h))
    return TOOL_FRAME_BAD_HCRC;
  body_len = get_u32le(h + 4);
  synced = get_u32le(h + 8);
  bcrc = get_u32le(h + 12);
  if (body_len == 0 || body_len > MRLOG_FRAME_BODY_MAX)
    return TOOL_FRAME_BAD_LENGTH;
  if (synced > off)
    return TOOL_FRAME_BAD_SYNCED;
  if (body_len > f->size - off - MRLOG_FRAME_HEADER_SIZE)
    return TOOL_FRAME_TORN;
  pos = off + MRLOG_FRAME_HEADER_SIZE;
  for (left = body_len; left > 0;) {
    size_t n = left < TOOL_WINDOW ? (size_t)left : TOOL_WINDOW;
    const uint8_t *b = tool_file_get(f, pos, n);

    if (b == NULL)
      return TOOL_FRAME_TORN; /* invariant 3 */
    crc = mrlog__crc32c_extend(crc, b, n);
    pos += n;
    left -= n;
  }
  if (crc != bcrc)
    return TOOL_FRAME_BAD_BCRC;
  fr->body_len = body_len;
  fr->synced = synced;
  return TOOL_FRAME_OK;
}

const char *
tool_frame_result_str(enum tool_frame_result r)
{
  switch (r) {
  case TOOL_FRAME_OK: return "valid frame";
  case TOOL_FRAME_SHORT: return "incomplete frame header";
  case TOOL_FRAME_BAD_HCRC: return "bad frame header checksum";
  case TOOL_FRAME_BAD_LENGTH: return "bad body length";
  case TOOL_FRAME_BAD_SYNCED: return "synced field past the frame's offset";
  case TOOL_FRAME_TORN: return "frame body runs past the end of the file";
  case TOOL_FRAME_BAD_BCRC: return "bad body checksum";
  }
  return "?";
}

uint64_t
tool_frame_next_valid(struct tool_file *f, uint64_t segno, uint64_t from,
                      struct tool_frame *fr)
{
  uint32_t base = segno_crc(segno);
  uint64_t y = from;

  while (y <= f->size && f->size - y >= MRLOG_FRAME_HEADER_SIZE) {
    size_t chunk = f->size - y < TOOL_WINDOW ? (size_t)(f->size - y)
                                             : TOOL_WINDOW;
    const uint8_t *p = tool_file_get(f, y, chunk);
    size_t i;
    bool moved = false;

    if (p == NULL)
      continue; /* the file shrank: size is lower now */
    for (i = 0; i + MRLOG_FRAME_HEADER_SIZE <= chunk; i++) {
      if (get_u32le(p + i) != header_crc(base, y + i, p + i))
        continue;
      if (tool_frame_check(f, segno, y + i, fr) == TOOL_FRAME_OK)
        return y + i;
      /* The check moved the window: go on from the next byte. */
      y += i + 1;
      moved = true;
      break;
    }
    if (!moved)
      y += chunk - MRLOG_FRAME_HEADER_SIZE + 1;
  }
  return f->size;
}

bool
tool_zeros_to_end(struct tool_file *f, uint64_t off)
{
  while (off < f->size) {
    size_t chunk = f->size - off < TOOL_WINDOW ? (size_t)(f->size - off)
                                               : TOOL_WINDOW;
    const uint8_t *p = tool_file_get(f, off, chunk);
    size_t i;

    if (p == NULL)
      continue; /* shrank */
    for (i = 0; i < chunk; i++)
      if (p[i] != 0)
        return false;
    off += chunk;
  }
  return true;
}

bool
tool_record_header(struct tool_file *f, uint64_t *off, uint64_t *len)
{
  size_t n;
  const uint8_t *p, *q;

  if (*off >= f->size)
    return false;
  n = f->size - *off < MRLOG_VARINT_MAX ? (size_t)(f->size - *off)
                                        : MRLOG_VARINT_MAX;
  p = tool_file_get(f, *off, n);
  if (p == NULL)
    return false;
  q = p;
  if (!tool_varint(&q, p + n, len))
    return false;
  *off += (uint64_t)(q - p);
  return true;
}

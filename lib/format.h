/*
 * format.h -- on-disk constants and the encoding of file headers, frame
 * headers and frame bodies (no I/O).  docs/FORMAT.md is the normative
 * description; this header and it must agree.
 *
 * A segment file is:  file-header frame*
 *
 *   file header (MRLOG_FILE_HEADER_SIZE = 32 bytes, little-endian):
 *     0  magic    "MRLOGSEG"
 *     8  u32      format version (MRLOG_FORMAT_VERSION)
 *    12  u32      flags (0)
 *    16  u64      segment number (also the file name, %016x.mrlog)
 *    24  u32      reserved (0)
 *    28  u32      crc32c of bytes 0..27
 *
 *   frame header (MRLOG_FRAME_HEADER_SIZE = 16 bytes) at file offset `off`:
 *     0  u32      hcrc: crc32c(segno:u64 || off:u64 || header bytes 4..15)
 *     4  u32      body length (1 .. MRLOG_FRAME_BODY_MAX)
 *     8  u32      synced: the writer knew bytes [0, synced) of this file
 *                 durable when it wrote the frame (synced <= off)
 *    12  u32      bcrc: crc32c(body)
 *   then the body: a sequence of operations (MRLOG_OP_*), each a type byte
 *   followed by LEB128 varints and bytes.
 *
 * The hcrc binds each frame to its segment and offset, so bytes left over
 * from another file or another place never validate.
 *
 * From format version 3 on, a segment that is complete ends with a seal
 * frame: its body is exactly one SEAL operation, `07 varint(end)`, where
 * end is the file offset just past the seal frame (the segment's final
 * length), and its synced field equals its own offset (everything before
 * it was fdatasynced before it was written).  Every version 3 segment but
 * the newest MUST end exactly with a valid seal; a short file, a missing
 * seal or bytes after the seal there are corruption (FORMAT.md 6.4, 9.1).
 */
#ifndef MRLOG_FORMAT_H
#define MRLOG_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MRLOG_FILE_MAGIC "MRLOGSEG"
/* Version written in new segments; every version from
 * MRLOG_FORMAT_VERSION_MIN up is read.  Version 2 added the TIME op,
 * version 3 the SEAL op and the rule that only the newest segment may
 * lack one (MRLOG_FORMAT_VERSION_SEAL), version 4 named consumers'
 * committed positions (MRLOG_FORMAT_VERSION_CONSUMERS). */
#define MRLOG_FORMAT_VERSION 4u
#define MRLOG_FORMAT_VERSION_MIN 1u
#define MRLOG_FORMAT_VERSION_SEAL 3u
/* Version 4 adds the COMMIT and UNCOMMIT ops and a list of consumers in
 * every CHECKPOINT entry (FORMAT.md 7.7, 7.10, 7.11). */
#define MRLOG_FORMAT_VERSION_CONSUMERS 4u
/* A seal frame: header, type byte, varint(end) of at most 5 bytes. */
#define MRLOG_SEAL_FRAME_MAX (16u + 1u + 5u)
/* A writer's seal starts at a multiple of MRLOG_SEAL_ALIGN (a disk
 * sector), after a pad frame if needed, so that no sector holds both the
 * seal and record bytes (FORMAT.md 6.4).  A pad frame is 18 bytes at
 * least (a header and one 2-byte TIME op), so one is up to
 * MRLOG_SEAL_ALIGN + 17 bytes long. */
#define MRLOG_SEAL_ALIGN 512u
#define MRLOG_PAD_FRAME_MIN (16u + 2u)
#define MRLOG_PAD_FRAME_MAX (MRLOG_SEAL_ALIGN + MRLOG_PAD_FRAME_MIN - 1u)
#define MRLOG_FILE_HEADER_SIZE 32u
#define MRLOG_FRAME_HEADER_SIZE 16u
#define MRLOG_FRAME_BODY_MAX 0x7fffffffu
#define MRLOG_SEGMENT_SUFFIX ".mrlog"
#define MRLOG_SEGMENT_NAME_LEN 22 /* 16 hex digits + ".mrlog" */
#define MRLOG_VARINT_MAX 10
/* The largest CHECKPOINT body a writer makes: 1 GiB.  Offsets in a
 * segment are 32-bit (the frame header's synced field, the LSN), and a
 * segment grows past segment_bytes (at most 1 GiB) until it holds as much
 * after its checkpoint as the checkpoint itself, plus one last frame (at
 * most a 1 GiB batch and its lengths), so its end stays below
 * max(1 GiB, 2 * 1 GiB) + 1.1 GiB < 4 GiB.  A create that could take the
 * checkpoint past it is refused (MRLOG_EINVAL), and so is an open whose
 * recovered state would need a larger one. */
#define MRLOG_CHECKPOINT_MAX (1u << 30)
/* A segment file longer than this cannot have been written (see above):
 * open refuses it with MRLOG_EINVAL before changing anything. */
#define MRLOG_SEGMENT_FILE_MAX 0xffffffffu
/* MRLOG_CHECKPOINT_MAX, lowered by tests only. */
extern uint64_t mrlog__checkpoint_max;

_Static_assert(sizeof(MRLOG_FILE_MAGIC) - 1 == 8, "magic is 8 bytes");
_Static_assert(MRLOG_SEGMENT_NAME_LEN == 16 + sizeof(MRLOG_SEGMENT_SUFFIX) - 1,
               "segment name length");

/* Operation types in a frame body. */
enum mrlog__op_type {
  /* id, name_len, name: a queue is created with floor 0, next 0. */
  MRLOG_OP_CREATE = 1,
  /* id: the queue and its records are dropped. */
  MRLOG_OP_DELETE = 2,
  /* id, position: records <= position dropped; floor = max(floor, p+1),
   * next = max(next, p+1), both capped at UINT64_MAX. */
  MRLOG_OP_TRUNCATE = 3,
  /* id, first, count, count x (len, bytes): records at first..first+count-1;
   * first >= next; next = first + count. */
  MRLOG_OP_APPEND = 4,
  /* next_queue_id, n, n x (id, name_len, name, floor, next): the complete
   * set of live queues at the end of the previous segment.  First operation
   * of every segment and only there.  From format version 4 on each entry
   * ends with m, m x (name_len, name, position): the queue's consumers. */
  MRLOG_OP_CHECKPOINT = 5,
  /* unix_ms: the wall-clock time (ms since the epoch) at which the writer
   * framed the APPENDs that follow, up to the next TIME op.  Format
   * version 2 and later; the writer puts one before the first APPEND of
   * every frame that has any. */
  MRLOG_OP_TIME = 6,
  /* end: the segment's final length, the offset just past this frame.
   * Format version 3 and later; alone in the last frame of every segment
   * that is complete (rotation, close, or recovery at open). */
  MRLOG_OP_SEAL = 7,
  /* id, name_len, name, position: consumer `name` of the queue has
   * processed every record below position; it only moves forward.
   * Format version 4 and later. */
  MRLOG_OP_COMMIT = 8,
  /* id, name_len, name: the queue's consumer `name` is removed.  Format
   * version 4 and later. */
  MRLOG_OP_UNCOMMIT = 9
};

/* A growable byte buffer owned by one thread. */
struct mrlog__buf {
  uint8_t *data; /* malloc'd, cap bytes */
  size_t len;    /* bytes used */
  size_t cap;    /* bytes allocated */
};

int mrlog__buf_reserve(struct mrlog__buf *b, size_t extra); /* 0 or -ENOMEM */
void mrlog__buf_free(struct mrlog__buf *b);

/* Appends without checking capacity: reserve first. */
static inline void
mrlog__buf_put_u8(struct mrlog__buf *b, uint8_t v)
{
  b->data[b->len++] = v;
}

static inline void
mrlog__buf_put_varint(struct mrlog__buf *b, uint64_t v)
{
  while (v >= 0x80) {
    b->data[b->len++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  b->data[b->len++] = (uint8_t)v;
}

static inline size_t
mrlog__varint_len(uint64_t v)
{
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

/* Reads a varint at *p (< end).  Returns false on truncation or overlong
 * encoding (more than 10 bytes or bits beyond 64). */
bool mrlog__get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out);

/* The same, inline for the common one-byte case (record lengths < 128). */
static inline bool
mrlog__get_varint_fast(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
  if (*p < end && **p < 0x80) {
    *out = *(*p)++;
    return true;
  }
  return mrlog__get_varint(p, end, out);
}

static inline void
mrlog__put_u32le(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t
mrlog__get_u32le(const uint8_t *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static inline void
mrlog__put_u64le(uint8_t *p, uint64_t v)
{
  mrlog__put_u32le(p, (uint32_t)v);
  mrlog__put_u32le(p + 4, (uint32_t)(v >> 32));
}

static inline uint64_t
mrlog__get_u64le(const uint8_t *p)
{
  return (uint64_t)mrlog__get_u32le(p) | (uint64_t)mrlog__get_u32le(p + 4) << 32;
}

/* File header. */
void mrlog__file_header_encode(uint8_t out[MRLOG_FILE_HEADER_SIZE],
                               uint64_t segno);
/* 0 if valid and for segno; -2 for an intact header of a format version
 * this library does not read (outside MRLOG_FORMAT_VERSION_MIN ..
 * MRLOG_FORMAT_VERSION); -1 otherwise (bad magic, crc or number).  The
 * version of a valid header is mrlog__get_u32le(p + 8). */
int mrlog__file_header_check(const uint8_t *p, size_t avail, uint64_t segno);

/* Fills the 16-byte header for a body already in place after it. */
void mrlog__frame_header_encode(uint8_t *hdr, uint64_t segno, uint32_t off,
                                uint32_t body_len, uint32_t synced);
/* The same, for a body that is not contiguous: body_crc is the CRC-32C of
 * its body_len bytes. */
void mrlog__frame_header_encode_crc(uint8_t *hdr, uint64_t segno,
                                    uint32_t off, uint32_t body_len,
                                    uint32_t synced, uint32_t body_crc);

/* Results of checking a frame at an offset. */
enum mrlog__frame_check {
  MRLOG_FRAME_OK = 0,
  MRLOG_FRAME_TORN = 1, /* header valid but the body runs past the data */
  MRLOG_FRAME_SHORT = 2, /* fewer than MRLOG_FRAME_HEADER_SIZE bytes left */
  MRLOG_FRAME_BAD = 3   /* header or body checksum wrong, or bad length */
};

/*
 * Checks the frame at p (file offset off of segment segno, avail bytes to
 * the end of the data).  On MRLOG_FRAME_OK fills body_len and synced (OUT).
 * Never reads beyond p + avail; a length is trusted only once hcrc matches.
 */
enum mrlog__frame_check mrlog__frame_check(const uint8_t *p, size_t avail,
                                           uint64_t segno, uint32_t off,
                                           uint32_t *body_len,
                                           uint32_t *synced);

/* Encodes into out the seal frame of segment segno at offset off: synced
 * = off, body `07 varint(end)` with end = off + the frame's size.
 * Returns the frame's size (at most MRLOG_SEAL_FRAME_MAX). */
size_t mrlog__seal_encode(uint8_t out[MRLOG_SEAL_FRAME_MAX], uint64_t segno,
                          uint32_t off);

/* Encodes into out the pad frame that brings offset off of segment segno
 * to the next multiple of MRLOG_SEAL_ALIGN: synced = 0 (it witnesses
 * nothing), a body of TIME ops older than any frame time (`06 00`, and
 * one `06 80 01` for an odd length), which readers clamp and so change
 * nothing.  Returns its size: 0 when off is aligned already, else
 * MRLOG_PAD_FRAME_MIN to MRLOG_PAD_FRAME_MAX. */
size_t mrlog__pad_encode(uint8_t out[MRLOG_PAD_FRAME_MAX], uint64_t segno,
                         uint32_t off);

/* True if the body of the valid frame at off (body_len bytes) is a seal
 * as written: one SEAL operation, its end equal to the frame's end, and
 * synced (the frame's) equal to off. */
bool mrlog__seal_check(const uint8_t *body, uint32_t body_len, uint32_t off,
                       uint32_t synced);

#endif /* MRLOG_FORMAT_H */

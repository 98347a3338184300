/*
 * body.c -- encode and decode mirrored message bodies (docs/FORMAT.md,
 * "Mirrored messages").
 *
 * Invariants:
 *   1. Every integer is little-endian; the header is MRLOG_BODY_HEADER
 *      bytes and the queue name follows it.
 *   2. A body that mrlog__body_parse accepts has count >= 1 records with
 *      strictly increasing positions, the first equal to `first` and the
 *      last to `last`, and ends exactly after its last record: decoding
 *      never reads outside [data, data + len).
 *   3. A delete marker is MRLOG_DELETE_HEADER bytes and its name, nothing
 *      after: mrlog__body_parse_delete accepts nothing else.  A truncate
 *      marker is MRLOG_TRUNCATE_HEADER bytes, with a position of at least
 *      1, and its name, nothing after: likewise.
 */
#include "body.h"

#include <stdlib.h>
#include <string.h>

static void put16(unsigned char *p, uint16_t v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint16_t get16(const unsigned char *p) {
  return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get32(const unsigned char *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static uint64_t get64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static int reserve(struct mrlog__body *body, size_t more) {
  size_t want = body->len + more, cap = body->cap ? body->cap : 4096;
  unsigned char *p;

  if (want < body->len) return -1;
  if (want <= body->cap) return 0;
  while (cap < want) cap *= 2;
  p = realloc(body->buf, cap);
  if (p == NULL) return -1;
  body->buf = p;
  body->cap = cap;
  return 0;
}

int mrlog__body_begin(struct mrlog__body *body, const char *queue,
                      size_t name_len) {
  if (name_len == 0 || name_len > 0xffff) return -1;
  body->len = 0;
  body->count = 0;
  body->first = body->last = 0;
  if (reserve(body, MRLOG_BODY_HEADER + name_len) != 0) return -1;
  memcpy(body->buf, MRLOG_BODY_MAGIC, 4);
  body->buf[4] = MRLOG_BODY_VERSION;
  body->buf[5] = 0;
  put16(body->buf + 6, (uint16_t)name_len);
  memcpy(body->buf + MRLOG_BODY_HEADER, queue, name_len);
  body->len = MRLOG_BODY_HEADER + name_len;
  return 0;
}

int mrlog__body_add(struct mrlog__body *body, uint64_t position,
                    uint64_t unix_ms, const void *data, uint32_t len) {
  unsigned char *p;

  if (reserve(body, MRLOG_BODY_RECORD_HEADER + (size_t)len) != 0) return -1;
  p = body->buf + body->len;
  put64(p, position);
  put64(p + 8, unix_ms);
  put32(p + 16, len);
  if (len > 0) memcpy(p + MRLOG_BODY_RECORD_HEADER, data, len);
  body->len += MRLOG_BODY_RECORD_HEADER + (size_t)len;
  if (body->count == 0) body->first = position;
  body->last = position;
  body->count++;
  return 0;
}

void mrlog__body_finish(struct mrlog__body *body) {
  put32(body->buf + 8, body->count);
  put64(body->buf + 12, body->first);
  put64(body->buf + 20, body->last);
}

void mrlog__body_free(struct mrlog__body *body) {
  free(body->buf);
  memset(body, 0, sizeof(*body));
}

int mrlog__body_parse(const void *data, size_t len,
                      struct mrlog__body_view *view, const char **why) {
  const unsigned char *p = data, *end = p + len, *r;
  uint64_t prev = 0;
  size_t name_len;

  if (len < MRLOG_BODY_HEADER) {
    *why = "shorter than the header";
    return -1;
  }
  if (memcmp(p, MRLOG_BODY_MAGIC, 4) != 0) {
    *why = "bad magic";
    return -1;
  }
  if (p[4] != MRLOG_BODY_VERSION || p[5] != 0) {
    *why = "unknown version";
    return -1;
  }
  name_len = get16(p + 6);
  view->count = get32(p + 8);
  view->first = get64(p + 12);
  view->last = get64(p + 20);
  if (name_len == 0 || name_len > len - MRLOG_BODY_HEADER) {
    *why = "bad queue name length";
    return -1;
  }
  if (view->count == 0) {
    *why = "no record";
    return -1;
  }
  view->queue = (const char *)p + MRLOG_BODY_HEADER;
  view->queue_len = name_len;
  view->records = p + MRLOG_BODY_HEADER + name_len;
  view->end = end;
  r = view->records;
  for (uint32_t i = 0; i < view->count; i++) {
    uint64_t pos;
    uint32_t rlen;

    if ((size_t)(end - r) < MRLOG_BODY_RECORD_HEADER) {
      *why = "record header cut short";
      return -1;
    }
    pos = get64(r);
    rlen = get32(r + 16);
    if ((size_t)(end - r) - MRLOG_BODY_RECORD_HEADER < rlen) {
      *why = "record data cut short";
      return -1;
    }
    if ((i == 0 && pos != view->first) || (i > 0 && pos <= prev)) {
      *why = "positions out of order";
      return -1;
    }
    prev = pos;
    r += MRLOG_BODY_RECORD_HEADER + (size_t)rlen;
  }
  if (prev != view->last) {
    *why = "last position does not match";
    return -1;
  }
  if (r != end) {
    *why = "bytes after the last record";
    return -1;
  }
  return 0;
}

int mrlog__body_next(const struct mrlog__body_view *view,
                     const unsigned char **cursor, uint64_t *position,
                     uint64_t *unix_ms, const void **data, uint32_t *len) {
  const unsigned char *r = *cursor;

  if (r >= view->end) return 0;
  *position = get64(r);
  *unix_ms = get64(r + 8);
  *len = get32(r + 16);
  *data = r + MRLOG_BODY_RECORD_HEADER;
  *cursor = r + MRLOG_BODY_RECORD_HEADER + *len;
  return 1;
}

int mrlog__body_delete(struct mrlog__body *body, const char *queue,
                       size_t name_len) {
  if (name_len == 0 || name_len > 0xffff) return -1;
  body->len = 0;
  body->count = 0;
  body->first = body->last = 0;
  if (reserve(body, MRLOG_DELETE_HEADER + name_len) != 0) return -1;
  memcpy(body->buf, MRLOG_DELETE_MAGIC, 4);
  body->buf[4] = MRLOG_BODY_VERSION;
  body->buf[5] = 0;
  put16(body->buf + 6, (uint16_t)name_len);
  memcpy(body->buf + MRLOG_DELETE_HEADER, queue, name_len);
  body->len = MRLOG_DELETE_HEADER + name_len;
  return 0;
}

int mrlog__body_is_delete(const void *data, size_t len) {
  return len >= 4 && memcmp(data, MRLOG_DELETE_MAGIC, 4) == 0;
}

int mrlog__body_parse_delete(const void *data, size_t len,
                             const char **queue, size_t *queue_len,
                             const char **why) {
  const unsigned char *p = data;
  size_t name_len;

  if (len < MRLOG_DELETE_HEADER || !mrlog__body_is_delete(data, len)) {
    *why = "not a delete marker";
    return -1;
  }
  if (p[4] != MRLOG_BODY_VERSION || p[5] != 0) {
    *why = "unknown delete marker version";
    return -1;
  }
  name_len = get16(p + 6);
  if (name_len == 0 || name_len != len - MRLOG_DELETE_HEADER) {
    *why = "bad delete marker name length";
    return -1;
  }
  *queue = (const char *)p + MRLOG_DELETE_HEADER;
  *queue_len = name_len;
  return 0;
}

int mrlog__body_truncate(struct mrlog__body *body, const char *queue,
                         size_t name_len, uint64_t position) {
  if (name_len == 0 || name_len > 0xffff || position == 0) return -1;
  body->len = 0;
  body->count = 0;
  body->first = body->last = position;
  if (reserve(body, MRLOG_TRUNCATE_HEADER + name_len) != 0) return -1;
  memcpy(body->buf, MRLOG_TRUNCATE_MAGIC, 4);
  body->buf[4] = MRLOG_BODY_VERSION;
  body->buf[5] = 0;
  put16(body->buf + 6, (uint16_t)name_len);
  put64(body->buf + 8, position);
  memcpy(body->buf + MRLOG_TRUNCATE_HEADER, queue, name_len);
  body->len = MRLOG_TRUNCATE_HEADER + name_len;
  return 0;
}

int mrlog__body_is_truncate(const void *data, size_t len) {
  return len >= 4 && memcmp(data, MRLOG_TRUNCATE_MAGIC, 4) == 0;
}

int mrlog__body_parse_truncate(const void *data, size_t len,
                               const char **queue, size_t *queue_len,
                               uint64_t *position, const char **why) {
  const unsigned char *p = data;
  size_t name_len;

  if (len < MRLOG_TRUNCATE_HEADER || !mrlog__body_is_truncate(data, len)) {
    *why = "not a truncate marker";
    return -1;
  }
  if (p[4] != MRLOG_BODY_VERSION || p[5] != 0) {
    *why = "unknown truncate marker version";
    return -1;
  }
  name_len = get16(p + 6);
  if (name_len == 0 || name_len != len - MRLOG_TRUNCATE_HEADER) {
    *why = "bad truncate marker name length";
    return -1;
  }
  *position = get64(p + 8);
  if (*position == 0) {
    *why = "truncate marker position 0";
    return -1;
  }
  *queue = (const char *)p + MRLOG_TRUNCATE_HEADER;
  *queue_len = name_len;
  return 0;
}

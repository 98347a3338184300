/*
 * body.h -- the body of a mirrored message (docs/FORMAT.md, "Mirrored
 * messages"): encoding for the mirror, decoding for the replica and the
 * tests.  No I/O.
 */
#ifndef MRLOG_MIRROR_BODY_H
#define MRLOG_MIRROR_BODY_H

#include <stddef.h>
#include <stdint.h>

#define MRLOG_BODY_MAGIC "MRLM"
#define MRLOG_BODY_VERSION 1
/* magic 4, version 1, reserved 1, name length 2, count 4, first 8,
 * last 8. */
#define MRLOG_BODY_HEADER 28
/* A delete marker (docs/FORMAT.md 15.5): magic 4, version 1, reserved 1,
 * name length 2, then the name. */
#define MRLOG_DELETE_MAGIC "MRLD"
#define MRLOG_DELETE_HEADER 8
/* A truncate marker (docs/FORMAT.md 15.6): magic 4, version 1, reserved
 * 1, name length 2, position 8, then the name. */
#define MRLOG_TRUNCATE_MAGIC "MRLT"
#define MRLOG_TRUNCATE_HEADER 16
/* position 8, unix_ms 8, length 4. */
#define MRLOG_BODY_RECORD_HEADER 20

/* A growable buffer that a body is encoded into. */
struct mrlog__body {
  unsigned char *buf; /* owned; NULL until the first record */
  size_t len;         /* bytes used */
  size_t cap;         /* bytes allocated */
  uint32_t count;     /* records added */
  uint64_t first;     /* first record's position */
  uint64_t last;      /* last record's position */
};

/* Starts a body for queue (name_len bytes, 1 .. 65535).  Returns 0 or -1
 * (out of memory). */
int mrlog__body_begin(struct mrlog__body *body, const char *queue,
                      size_t name_len);
/* Appends one record; positions must increase.  Returns 0 or -1. */
int mrlog__body_add(struct mrlog__body *body, uint64_t position,
                    uint64_t unix_ms, const void *data, uint32_t len);
/* Writes count, first and last into the header. */
void mrlog__body_finish(struct mrlog__body *body);
void mrlog__body_free(struct mrlog__body *body);

/* A decoded view into a body (no copies). */
struct mrlog__body_view {
  const char *queue;   /* not NUL-terminated */
  size_t queue_len;
  uint32_t count;
  uint64_t first;
  uint64_t last;
  const unsigned char *records; /* the first record header */
  const unsigned char *end;
};

/* Checks every rule of the format.  Returns 0, or -1 with a static reason
 * in *why. */
int mrlog__body_parse(const void *data, size_t len,
                      struct mrlog__body_view *view, const char **why);

/* Walks a parsed body: *cursor starts at view->records.  Returns 1 with
 * the next record, 0 at the end. */
int mrlog__body_next(const struct mrlog__body_view *view,
                     const unsigned char **cursor, uint64_t *position,
                     uint64_t *unix_ms, const void **data, uint32_t *len);

/* Encodes a delete marker for queue (name_len bytes, 1 .. 65535) into
 * body (count 0).  Returns 0 or -1 (out of memory, bad length). */
int mrlog__body_delete(struct mrlog__body *body, const char *queue,
                       size_t name_len);
/* True when data starts with the delete marker's magic. */
int mrlog__body_is_delete(const void *data, size_t len);
/* Checks a delete marker; on success *queue and *queue_len name its
 * queue (into data).  Returns 0, or -1 with a static reason in *why. */
int mrlog__body_parse_delete(const void *data, size_t len,
                             const char **queue, size_t *queue_len,
                             const char **why);

/* Encodes a truncate marker for queue (name_len bytes, 1 .. 65535):
 * every record below position (>= 1) goes.  Returns 0 or -1 (out of
 * memory, bad length or position). */
int mrlog__body_truncate(struct mrlog__body *body, const char *queue,
                         size_t name_len, uint64_t position);
/* True when data starts with the truncate marker's magic. */
int mrlog__body_is_truncate(const void *data, size_t len);
/* Checks a truncate marker; on success *queue and *queue_len name its
 * queue (into data) and *position is its position.  Returns 0, or -1
 * with a static reason in *why. */
int mrlog__body_parse_truncate(const void *data, size_t len,
                               const char **queue, size_t *queue_len,
                               uint64_t *position, const char **why);

#endif

/*
 * seal.h -- sealing a segment (workers/seal.c): the pad and seal frames
 * that close a segment file (FORMAT.md, version 3).  The writer at
 * rotation and at close.
 */
#ifndef MRLOG_WORKERS_SEAL_H
#define MRLOG_WORKERS_SEAL_H

#include "base.h"

struct mrlog;

/* Seals segment segno (format version 3): writes its seal frame at off,
 * where the file ends and everything before is already durable, then
 * fdatasyncs fd if sync (else the caller must, before the segment counts
 * as sealed).  OUT: *end, the file's final length.  0 or a status;
 * workers/seal.c. */
/* Writes at off the pad frame that aligns the seal (seal.c invariant 4),
 * not synced; *end is where the seal goes.  0 or a status. */
int mrlog__seal_pad(struct mrlog *log, int fd, uint64_t segno, uint32_t off,
                    uint32_t *end);
int mrlog__seal_write(struct mrlog *log, int fd, uint64_t segno, uint32_t off,
                      bool sync, uint32_t *end);

#endif /* MRLOG_WORKERS_SEAL_H */

/*
 * writer_segment.c -- the hot segment's life: creating the next segment
 * (header and checkpoint, synced with its directory entry before the
 * flusher gets its fd), padding and sealing the hot one, and rotation.
 * Writer thread only, except mrlog__writer_seal, which close calls once
 * the writer and the flusher have stopped (writer.c invariants 2 and 4).
 *
 * Append path (docs/DESIGN.md): caller -> submit.c -> stage.c ->
 * admit.c -> ring.c -> writer.c -> writer_frame.c (the file) ->
 * flusher.c -> req.c -> future.c (the callback).  This file serves
 * the writer's step: it makes and rotates the file frames are written
 * to, syncing through the flusher at rotation.
 */
#include "base.h"
#include "internal.h"
#include "cleaner.h"
#include "dir.h"
#include "filemap.h"
#include "flusher.h"
#include "queue.h"
#include "seal.h"
#include "segment.h"
#include "writer.h"
#include "consumer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Encodes a checkpoint of every live queue, with its consumers, into the
 * (empty) frame. */
static int
encode_checkpoint(struct mrlog *log, struct mrlog__writer *w)
{
  struct mrlog__queue *q;
  size_t b;

  if (mrlog__buf_reserve(&w->frame, 1 + 2 * MRLOG_VARINT_MAX) != 0)
    return MRLOG_ENOMEM;
  mrlog__buf_put_u8(&w->frame, MRLOG_OP_CHECKPOINT);
  mrlog__buf_put_varint(&w->frame, log->next_queue_id);
  mrlog__buf_put_varint(&w->frame, log->index.count);
  for (b = 0; b < log->index.nbuckets; b++) {
    for (q = log->index.by_id[b]; q != NULL; q = q->by_id_next) {
      if (mrlog__buf_reserve(&w->frame, 4 * MRLOG_VARINT_MAX + q->name_len +
                                            mrlog__consumers_encoded_max(q)))
        return MRLOG_ENOMEM;
      mrlog__buf_put_varint(&w->frame, q->id);
      mrlog__buf_put_varint(&w->frame, q->name_len);
      memcpy(w->frame.data + w->frame.len, q->name, q->name_len);
      w->frame.len += q->name_len;
      mrlog__buf_put_varint(&w->frame, q->w_floor);
      mrlog__buf_put_varint(&w->frame, q->w_next);
      mrlog__consumers_encode(&w->frame, q); /* version 4 (7.7) */
    }
  }
  return 0;
}

int
mrlog__writer_open_segment(struct mrlog *log)
{
  struct mrlog__writer *w = log->writer;
  char name[MRLOG_SEGMENT_NAME_LEN + 1];
  uint8_t header[MRLOG_FILE_HEADER_SIZE];
  struct mrlog__segment *seg;
  uint64_t segno = log->next_segno;
  uint32_t off = MRLOG_FILE_HEADER_SIZE, body_len;
  int fd, rc, old;

  /* LSNs keep the segment number in 32 bits (base.h). */
  if (segno > UINT32_MAX)
    return MRLOG_EIO;
  mrlog__segment_name(name, segno);
  w->frame.len = MRLOG_FRAME_HEADER_SIZE;
  rc = encode_checkpoint(log, w);
  if (rc == 0 && w->frame.len - MRLOG_FRAME_HEADER_SIZE > mrlog__checkpoint_max) {
    /* Only a recovered state can get here: creates are refused before
     * (MRLOG_CHECKPOINT_MAX). */
    mrlog__logf(log, MRLOG_LOG_ERROR,
                "the checkpoint of %zu queues takes %zu bytes, more than "
                "the %llu a segment can hold",
                log->index.count, w->frame.len - MRLOG_FRAME_HEADER_SIZE,
                (unsigned long long)mrlog__checkpoint_max);
    rc = MRLOG_EINVAL;
  }
  if (rc != 0) {
    w->frame.len = MRLOG_FRAME_HEADER_SIZE;
    return rc;
  }
  body_len = (uint32_t)(w->frame.len - MRLOG_FRAME_HEADER_SIZE);
  /* A fresh file's first frame is fully unsynced: synced = 0. */
  mrlog__frame_header_encode(w->frame.data, segno, off, body_len, 0);
  fd = log->io->openat(log->io->ctx, log->dir_fd, name,
                       O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                       log->policy.file_mode);
  if (fd < 0) {
    int err = errno;

    /* At open (the log is not live yet) a directory that refuses new
     * files is MRLOG_EACCES (dir.c invariant 2); a rotation's failure
     * fails the log with MRLOG_EIO or MRLOG_ENOSPC as before. */
    rc = atomic_load_explicit(&log->magic, memory_order_acquire) ==
                 MRLOG__LOG_MAGIC
             ? mrlog__status_from_errno(err)
             : mrlog__dir_status(err);
    mrlog__logf(log, MRLOG_LOG_ERROR, "creating segment %s/%s: %s",
                log->dir, name, strerror(err));
    w->frame.len = MRLOG_FRAME_HEADER_SIZE;
    return rc;
  }
  mrlog__file_header_encode(header, segno);
  rc = mrlog__pwrite_all(log, fd, header, sizeof(header), 0);
  if (rc == 0)
    rc = mrlog__pwrite_all(log, fd, w->frame.data, w->frame.len, off);
  if (rc == 0)
    rc = mrlog__datasync(log, fd);
  if (rc == 0)
    rc = mrlog__fsync_dir(log);
  off += (uint32_t)w->frame.len;
  w->frame.len = MRLOG_FRAME_HEADER_SIZE;
  if (rc == 0 && (seg = mrlog__segment_new(segno)) == NULL)
    rc = MRLOG_ENOMEM;
  if (rc == 0) {
    seg->created_ms = mrlog__now_ms(log);
    seg->checkpoint_end = off;
  }
  if (rc != 0) {
    log->io->close(log->io->ctx, fd);
    log->io->unlinkat(log->io->ctx, log->dir_fd, name);
    return rc;
  }
  log->next_segno = segno + 1;
  if (w->map != NULL) {
    /* The sealed segment keeps a mapping of its length (filemap.c 5). */
    mrlog__filemap_seal(w->map, w->off);
    mrlog__filemap_unref(log, w->map); /* its chunks keep it */
  }
  w->map = NULL;
  if (log->policy.record_store == MRLOG_STORE_MAPPED) {
    w->map = mrlog__filemap_hot(log, name, segno, off);
    if (w->map != NULL)
      mrlog__filemap_count(log, w->map, off);
    else
      mrlog__logf(log, MRLOG_LOG_WARN,
                  "mapping segment %s: %s; its records are copied instead",
                  name, strerror(errno));
  }
  atomic_store(&seg->size, off);
  atomic_store(&seg->hot, true);
  mrlog__segment_add(log, seg);
  if (w->seg != NULL)
    atomic_store_explicit(&w->seg->hot, false, memory_order_release);
  w->seg = seg;
  log->hot = seg;
  w->off = off;
  w->wb_off = off;
  w->zero_end = off;
  w->prezero_off = false;
  w->checkpoint_end = off;
  w->unsynced = 0;
  w->unsynced_recs = 0;
  old = mrlog__flusher_switch_fd(log, fd, MRLOG_LSN(segno, off));
  if (old >= 0)
    log->io->close(log->io->ctx, old);
  w->fd = fd;
  mrlog__cleaner_wake(log);
  return 0;
}

/* Pads the hot segment so that its seal starts a sector (seal.c invariant
 * 4); called after cut_zeros and before the sync that precedes the seal. */
static int
pad_hot(struct mrlog *log, struct mrlog__writer *w)
{
  uint32_t end;
  int rc = mrlog__seal_pad(log, w->fd, w->seg->segno, w->off, &end);

  if (rc == 0 && end != w->off) {
    w->off = end;
    if (w->zero_end < end)
      w->zero_end = end;
    atomic_store_explicit(&w->seg->size, w->zero_end, memory_order_relaxed);
  }
  return rc;
}

/* Seals the hot segment (seal.c; FORMAT.md 6.4): its bytes must all be
 * durable already, and its zero-filled room cut.  sync: fdatasync the
 * seal here (at close, the flusher stopped), else the caller does.  The
 * seal becomes the segment's last frame and the file's end. */
static int
seal_hot(struct mrlog *log, struct mrlog__writer *w, bool sync)
{
  uint32_t end;
  int rc = mrlog__seal_write(log, w->fd, w->seg->segno, w->off, sync, &end);

  if (rc == 0) {
    w->off = end;
    if (w->zero_end < end)
      w->zero_end = end;
    atomic_store_explicit(&w->seg->size, w->zero_end, memory_order_relaxed);
  }
  return rc;
}

void
mrlog__writer_seal(struct mrlog *log)
{
  struct mrlog__writer *w = log->writer;
  int rc;

  if (w == NULL || w->fd < 0 || w->seg == NULL ||
      atomic_load_explicit(&log->failed, memory_order_acquire))
    return;
  mrlog__writer_cut_zeros(log, w);
  rc = pad_hot(log, w);
  if (rc == 0)
    rc = mrlog__datasync(log, w->fd);
  if (rc == 0)
    rc = seal_hot(log, w, true);
  if (rc != 0)
    mrlog__fail(log, rc, "sealing the segment at close", errno);
}

/* Invariant 2.  Every sync of the old segment is the one sync in flight
 * on its fd (flusher.c invariant 1): the one before its seal (which
 * witnesses every byte before it, seal.c invariant 1) and the seal's own.
 * If one fails, or the log has failed, no next segment is made and no
 * durable mark rises. */
int
mrlog__writer_rotate(struct mrlog *log)
{
  struct mrlog__writer *w = log->writer;
  int rc;

  mrlog__writer_cut_zeros(log, w);
  rc = pad_hot(log, w);
  if (rc == 0)
    rc = mrlog__flusher_sync_hot(log, MRLOG_LSN(w->seg->segno, w->off));
  if (rc == 0)
    rc = seal_hot(log, w, false);
  if (rc == 0)
    rc = mrlog__flusher_sync_hot(log, MRLOG_LSN(w->seg->segno, w->off));
  if (rc == 0) {
    /* Everything in the old segment is durable now. */
    rc = mrlog__writer_open_segment(log);
  }
  if (rc != 0)
    mrlog__fail(log, rc, "rotating segments", errno);
  return rc;
}

/*
 * writer_frame.c -- the writer's frames: a pass's effective requests are
 * encoded into sub-frames of about SUBFRAME_TARGET bytes of records,
 * written with one write (records of EXT_MIN bytes or more straight from
 * their requests), applied to RAM and handed to the flusher.  Writer
 * thread only; writer.c's invariants hold here (1 and 3 above all).
 *
 * Append path (docs/DESIGN.md): caller -> submit.c -> stage.c ->
 * admit.c -> ring.c -> writer.c -> writer_frame.c (the file) ->
 * flusher.c -> req.c -> future.c (the callback).  This file builds
 * and writes a pass's frames, applies them to the queues and hands the
 * requests on to the flusher (mrlog__flusher_submit).
 */
#include "base.h"
#include "internal.h"
#include "apply.h"
#include "filemap.h"
#include "flusher.h"
#include "memory.h"
#include "queue.h"
#include "req.h"
#include "segment.h"
#include "writer.h"
#include "crc32c.h"
#include "visibility.h"
#include "watch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
mrlog__writer_add_done(struct mrlog__writer *w, struct mrlog__req *req)
{
  req->next = NULL;
  if (w->done_last)
    w->done_last->next = req;
  else
    w->done_first = req;
  w->done_last = req;
}

struct apply_op *
mrlog__writer_push_op(struct mrlog__writer *w, int kind)
{
  struct apply_op *op;

  if (w->nops == w->cap_ops) {
    size_t cap = w->cap_ops ? w->cap_ops * 2 : 64;
    op = realloc(w->ops, cap * sizeof(*op));
    if (op == NULL)
      return NULL;
    w->ops = op;
    w->cap_ops = cap;
  }
  op = &w->ops[w->nops++];
  op->kind = (uint8_t)kind;
  return op;
}

/* Copies a record below EXT_MIN bytes into the frame.  gcc, knowing the
 * length is below EXT_MIN, would inline the copy as `rep movsq`, whose
 * start-up cost dominates at 100 bytes (a fifth of the writer's CPU at
 * W1b); hiding the bound makes it call the library's memcpy, which copies
 * such sizes with a few vector moves. */
static inline uint8_t *
put_record_bytes(uint8_t *o, const uint8_t *p, size_t len)
{
  __asm__("" : "+r"(len));
  memcpy(o, p, len);
  return o + len;
}

/* Ends the current sub-frame (if it holds anything) and reserves the
 * header of the next one in the buffer (SUBFRAME_TARGET). */
static int
next_subframe(struct mrlog__writer *w)
{
  if (w->frame.len == w->sub_start + MRLOG_FRAME_HEADER_SIZE)
    return 0; /* empty (records written from requests follow a varint in
                 the buffer): keep using it */
  if (w->nsubs == w->cap_subs) {
    size_t cap = w->cap_subs ? 2 * w->cap_subs : 64;
    size_t *v = realloc(w->subs, cap * sizeof(*v));
    if (v == NULL)
      return MRLOG_ENOMEM;
    w->subs = v;
    w->cap_subs = cap;
  }
  if (mrlog__buf_reserve(&w->frame, MRLOG_FRAME_HEADER_SIZE) != 0)
    return MRLOG_ENOMEM;
  w->sub_start = w->frame.len;
  w->subs[w->nsubs++] = w->sub_start;
  w->frame.len += MRLOG_FRAME_HEADER_SIZE;
  w->sub_bytes = 0;
  w->sub_timed = false;
  return 0;
}

/* Emits the pending appends of q as APPEND operations, one per run of
 * consecutive positions within a sub-frame; each sub-frame's first
 * APPEND is preceded by a TIME op, the moment the writer frames the
 * records of the pass (FORMAT.md 7.8). */
int
mrlog__writer_emit_runs(struct mrlog *log, struct mrlog__writer *w, struct mrlog__queue *q)
{
  struct mrlog__req *r = q->pass_first, *end;
  uint64_t count, bytes, i, room;
  struct apply_op *op;
  uint8_t *o;
  size_t need;

  if (r != NULL && !w->timed) {
    w->frame_ms = mrlog__frame_ms(log);
    w->timed = true;
  }
  while (r != NULL) {
    /* A run ends where the sub-frame is full, between requests. */
    if (w->sub_bytes >= SUBFRAME_TARGET ||
        (w->sub_bytes > 0 &&
         r->payload_len + r->count > SUBFRAME_TARGET - w->sub_bytes)) {
      if (next_subframe(w) != 0)
        return MRLOG_ENOMEM;
    }
    room = SUBFRAME_TARGET - w->sub_bytes;
    count = 0;
    bytes = 0;
    for (end = r; end != NULL; end = end->run_next) {
      if (end != r && (end->first != r->first + count ||
                       bytes + count + end->payload_len + end->count > room))
        break;
      count += end->count;
      bytes += end->payload_len;
    }
    w->sub_bytes += bytes + count;
    if (!w->sub_timed) {
      if (mrlog__buf_reserve(&w->frame, 1 + MRLOG_VARINT_MAX) != 0)
        return MRLOG_ENOMEM;
      w->sub_timed = true;
      mrlog__buf_put_u8(&w->frame, MRLOG_OP_TIME);
      mrlog__buf_put_varint(&w->frame, w->frame_ms);
    }
    /* A record length takes at most 5 bytes (lengths are < 2^32). */
    need = 1 + 3 * MRLOG_VARINT_MAX + (size_t)bytes + (size_t)count * 5;
    op = mrlog__writer_push_op(w, OP_STORE);
    if (op == NULL || mrlog__buf_reserve(&w->frame, need) != 0)
      return MRLOG_ENOMEM;
    op->q = q;
    op->a = r->first;
    op->count = count;
    op->r = r;
    mrlog__buf_put_u8(&w->frame, MRLOG_OP_APPEND);
    mrlog__buf_put_varint(&w->frame, q->id);
    mrlog__buf_put_varint(&w->frame, r->first);
    mrlog__buf_put_varint(&w->frame, count);
    o = w->frame.data + w->frame.len;
    /* Records written from requests so far come before o in the file. */
    op->rec_off = w->frame.len + w->ext_bytes;
    for (; r != end; r = r->run_next) {
      const uint8_t *p = r->payload;
      for (i = 0; i < r->count; i++) {
        uint32_t len = r->lens[i];
        while (len >= 0x80) {
          *o++ = (uint8_t)(len | 0x80);
          len >>= 7;
        }
        *o++ = (uint8_t)len;
        if (r->lens[i] >= EXT_MIN) {
          /* Written from the request (EXT_MIN); stays valid until the
           * flusher completes the request, after the write. */
          if (w->n_ext == w->cap_ext) {
            size_t cap = w->cap_ext ? 2 * w->cap_ext : 64;
            struct ext_piece *e = realloc(w->ext, cap * sizeof(*e));
            if (e == NULL)
              return MRLOG_ENOMEM;
            w->ext = e;
            w->cap_ext = cap;
          }
          w->ext[w->n_ext++] =
              (struct ext_piece){ (size_t)(o - w->frame.data), p, r->lens[i] };
          w->ext_bytes += r->lens[i];
        } else {
          o = put_record_bytes(o, p, r->lens[i]);
        }
        p += r->lens[i];
      }
    }
    w->frame.len = (size_t)(o - w->frame.data);
  }
  q->pass_first = q->pass_last = NULL;
  return 0;
}

/* Applies the frame's effects to RAM; caller holds state_lock for
 * writing.  0 or a status (the log must then fail). */
static int
apply_ops(struct mrlog *log, struct mrlog__writer *w, uint64_t lsn)
{
  size_t k;
  int rc = 0;

  if (w->timed)
    log->apply_ms = w->frame_ms; /* what the stores below are stamped */
  for (k = 0; k < w->nops && rc == 0; k++) {
    struct apply_op *op = &w->ops[k];
    struct mrlog__req *r = op->r;
    uint64_t pos = op->a, left = op->count;

    switch (op->kind) {
    case OP_STORE: {
      uint64_t at = w->frame_off + op->rec_off, bytes = op->q->bytes;

      rc = mrlog__queue_store_begin(log, op->q, w->seg, op->a, op->count);
      mrlog__vis_note(log, op->q, op->a, lsn);
      if (atomic_load_explicit(&op->q->watchers, memory_order_relaxed))
        mrlog__watch_dirty(log, op->q, lsn);
      for (; rc == 0 && left > 0; r = r->run_next) {
        /* A frame that ends past the hot window is copied (filemap.c). */
        if (w->map != NULL && w->off <= w->map->len)
          rc = mrlog__queue_store_mapped(log, op->q, w->map, pos, r->lens,
                                         r->count, &at);
        else
          rc = mrlog__queue_store_run(log, op->q, pos, r->lens, r->count,
                                      r->payload);
        pos += r->count;
        left -= r->count;
      }
      mrlog__metrics_stored(op->q, op->count, op->q->bytes - bytes);
      break;
    }
    case OP_TRUNCATE: {
      uint64_t bytes = op->q->bytes;
      uint64_t dropped = mrlog__apply_truncate(log, op->q, op->a, lsn);

      mrlog__metrics_truncated(op->q, dropped, bytes - op->q->bytes);

      if (r->by_retention) {
        atomic_fetch_add_explicit(&log->stat_retention_truncations, 1,
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&log->stat_retention_records, dropped,
                                  memory_order_relaxed);
      }
      break;
    }
    case OP_RAW:
      rc = mrlog__apply_frame(log, w->seg, w->frame.data + op->off, op->len,
                              lsn, false);
      break;
    }
  }
  return rc;
}

static int
emit_all_runs(struct mrlog *log, struct mrlog__writer *w)
{
  struct mrlog__queue *q, *next;
  int rc = 0;

  for (q = w->touched; q != NULL; q = next) {
    next = q->pass_next;
    if (rc == 0 && q->pass_first != NULL)
      rc = mrlog__writer_emit_runs(log, w, q);
    q->pass_first = q->pass_last = NULL;
    q->pass_next = NULL;
    q->in_pass = false;
    q->w_quota_pending = 0; /* applied with this frame (quota.c) */
  }
  w->touched = NULL;
  w->pending_bytes = 0;
  return rc;
}

static uint32_t
synced_hint(struct mrlog *log, struct mrlog__writer *w)
{
  uint64_t d = atomic_load_explicit(&log->durable_lsn, memory_order_acquire);
  uint32_t off;

  if (MRLOG_LSN_SEGNO(d) != w->seg->segno)
    return MRLOG_LSN_SEGNO(d) > w->seg->segno ? w->off : 0;
  off = MRLOG_LSN_OFF(d);
  return off < w->off ? off : w->off;
}

/* Marks every request of the frame failed with status. */
static void
fail_done(struct mrlog__writer *w, int status)
{
  struct mrlog__req *r;

  for (r = w->done_first; r != NULL; r = r->next) {
    if (r->status >= 0 && r->type != MRLOG_REQ_STOP)
      r->status = status;
  }
}

/* Zero-fills the hot segment from zero_end so that a frame of len bytes
 * at off leaves a quarter of a step of zeroed bytes after it.  Only an
 * optimisation: if a zero-fill write fails (a full disk, a file size
 * limit), the segment goes on without it, and the frame write itself
 * decides whether the log fails. */
static void
prezero(struct mrlog *log, struct mrlog__writer *w, size_t len)
{
  /* Steps start small and double with what the segment already holds,
   * so the first sync after a rotation or an open does not have to write
   * megabytes of zeros; they also scale down with small segments (tests
   * use 4 KiB ones). */
  uint64_t seg = log->policy.segment_bytes;
  uint64_t grown = w->zero_end > w->checkpoint_end
                       ? w->zero_end - w->checkpoint_end
                       : 0;
  uint64_t step = grown < PREZERO_FIRST ? PREZERO_FIRST : grown;
  uint64_t low, need, end, start;

  if (step > PREZERO_STEP)
    step = PREZERO_STEP;
  if (step > seg / 4)
    step = seg / 4;
  low = step / 4;
  need = (uint64_t)w->off + len + low;

  if (log->policy.fsync_interval_ms != 0 || w->prezero_off ||
      need <= w->zero_end)
    return;
  /* Never written: calloc'd this large, it stays the kernel's zero page. */
  if (w->zeros == NULL && (w->zeros = calloc(1, PREZERO_CHUNK)) == NULL)
    return;
  if (w->zero_end < w->off)
    w->zero_end = w->off;
  /* A step, but not far past where the segment will rotate, and within
   * the 32-bit offsets of an LSN. */
  end = w->zero_end + step;
  if (end > seg + low)
    end = seg + low;
  if (end < need)
    end = need;
  if (end > UINT32_MAX)
    end = UINT32_MAX;
  start = w->zero_end;
  while (w->zero_end < end) {
    size_t n = end - w->zero_end < PREZERO_CHUNK ? (size_t)(end - w->zero_end)
                                                 : PREZERO_CHUNK;
    if (mrlog__pwrite_all(log, w->fd, w->zeros, n, w->zero_end) != 0) {
      w->prezero_off = true; /* what it wrote stays zeros: harmless */
      return;
    }
    w->zero_end += n;
  }
  /* Start writing the zeros back now, so the next group-commit sync finds
   * them on their way (a hint: it promises nothing, and fdatasync still
   * makes them durable). */
  sync_file_range(w->fd, (off64_t)start, (off64_t)(end - start),
                  SYNC_FILE_RANGE_WRITE);
}

/* Cuts the zero-filled room off the hot segment (at rotation and close),
 * so only a crash leaves a zero tail (recovery.c invariant 9). */
void
mrlog__writer_cut_zeros(struct mrlog *log, struct mrlog__writer *w)
{
  if (w->fd >= 0 && w->zero_end > w->off &&
      log->io->ftruncate(log->io->ctx, w->fd, (off_t)w->off) == 0) {
    w->zero_end = w->off;
    atomic_store_explicit(&w->seg->size, w->off, memory_order_relaxed);
  }
}

/* Encodes the headers of the sub-frames being built (at buffer offset 0
 * and at each of subs) and writes them all at off: one pwrite when all
 * their bytes are in the buffer, else one gather write of the buffer's
 * slices and the records written from their requests. */
static int
write_frame(struct mrlog *log, struct mrlog__writer *w)
{
  uint32_t synced = synced_hint(log, w);
  size_t prev, k = 0, n = 0, i, need = 2 * w->n_ext + 1;
  uint64_t ext_before = 0;
  const uint8_t *buf = w->frame.data;

  for (i = 0; i <= w->nsubs; i++) {
    size_t st = i > 0 ? w->subs[i - 1] : 0;
    size_t en = i < w->nsubs ? w->subs[i] : w->frame.len;
    uint64_t ext_in = 0;
    uint32_t crc = 0;

    /* A record written from its request belongs to the sub-frame that
     * holds its length varint: its `at` is in (st + 16, en]. */
    prev = st + MRLOG_FRAME_HEADER_SIZE;
    for (; k < w->n_ext && w->ext[k].at <= en; k++) {
      crc = mrlog__crc32c_extend(crc, buf + prev, w->ext[k].at - prev);
      crc = mrlog__crc32c_extend(crc, w->ext[k].data, w->ext[k].len);
      prev = w->ext[k].at;
      ext_in += w->ext[k].len;
    }
    crc = mrlog__crc32c_extend(crc, buf + prev, en - prev);
    mrlog__frame_header_encode_crc(
        w->frame.data + st, w->seg->segno,
        (uint32_t)(w->off + st + ext_before),
        (uint32_t)(en - st - MRLOG_FRAME_HEADER_SIZE + ext_in), synced, crc);
    ext_before += ext_in;
  }
  if (w->n_ext == 0)
    return mrlog__pwrite_all(log, w->fd, buf, w->frame.len, w->off);
  if (need > w->cap_iov) {
    struct iovec *v = realloc(w->iov, need * sizeof(*v));
    if (v == NULL)
      return MRLOG_ENOMEM;
    w->iov = v;
    w->cap_iov = need;
  }
  prev = 0;
  for (k = 0; k < w->n_ext; k++) {
    if (w->ext[k].at > prev)
      w->iov[n++] = (struct iovec){ (void *)(buf + prev), w->ext[k].at - prev };
    w->iov[n++] = (struct iovec){ (void *)w->ext[k].data, w->ext[k].len };
    prev = w->ext[k].at;
  }
  if (w->frame.len > prev)
    w->iov[n++] = (struct iovec){ (void *)(buf + prev), w->frame.len - prev };
  return mrlog__pwritev_all(log, w->fd, w->iov, (int)n, w->off);
}

/* Writes the frame being built (if any), applies it, hands the requests
 * to the flusher, and rotates when the segment is full. */
void
mrlog__writer_flush(struct mrlog *log)
{
  struct mrlog__writer *w = log->writer;
  uint32_t body_len;
  uint64_t lsn, appended, total;
  struct mrlog__req *r;
  bool barrier;
  int rc, failed;

  rc = emit_all_runs(log, w);
  if (rc != 0)
    mrlog__fail(log, rc, "building a frame", ENOMEM);
  mrlog__wbuf_charge(log, &w->buf_charged, &w->frame, w->ops, w->ext, w->iov,
                     w->subs);
  failed = atomic_load_explicit(&log->failed, memory_order_acquire);
  total = w->frame.len + w->ext_bytes;
  body_len = (uint32_t)(total - MRLOG_FRAME_HEADER_SIZE);
  if (failed) {
    fail_done(w, failed);
  } else if (body_len > 0) {
    prezero(log, w, total);
    rc = write_frame(log, w);
    if (rc != 0) {
      mrlog__fail(log, rc, "writing a segment", errno);
      fail_done(w, rc);
    } else {
      w->frame_off = w->off;
      w->off += (uint32_t)total;
      w->unsynced += total;
      if (w->map != NULL && w->off <= w->map->len)
        mrlog__filemap_count(log, w->map, total);
      if (log->policy.fsync_interval_ms != 0 &&
          w->off - w->wb_off >= WRITEBACK_BYTES) {
        /* A hint (see WRITEBACK_BYTES): it makes nothing durable. */
        sync_file_range(w->fd, (off64_t)w->wb_off,
                        (off64_t)(w->off - w->wb_off), SYNC_FILE_RANGE_WRITE);
        w->wb_off = w->off;
      }
      /* The file's size: frames, then any zero-filled room. */
      atomic_store_explicit(&w->seg->size,
                            w->zero_end > w->off ? w->zero_end : w->off,
                            memory_order_relaxed);
      lsn = MRLOG_LSN(w->seg->segno, w->off);
      pthread_rwlock_wrlock(&log->state_lock);
      rc = apply_ops(log, w, lsn);
      pthread_rwlock_unlock(&log->state_lock);
      if (rc != 0) {
        /* RAM no longer matches the file: stop before it diverges more. */
        mrlog__fail(log, rc == MRLOG_ENOMEM ? rc : MRLOG_EIO,
                    "applying a written frame", 0);
        fail_done(w, rc == MRLOG_ENOMEM ? rc : MRLOG_EIO);
      }
    }
  }
  w->frame.len = MRLOG_FRAME_HEADER_SIZE;
  w->n_ext = 0;
  w->ext_bytes = 0;
  w->nops = 0;
  w->timed = false;
  w->sub_timed = false;
  w->nsubs = 0;
  w->sub_start = 0;
  w->sub_bytes = 0;
  lsn = MRLOG_LSN(w->seg->segno, w->off);
  appended = 0;
  barrier = false;
  for (r = w->done_first; r != NULL; r = r->next) {
    r->lsn = lsn;
    barrier |= r->type == MRLOG_REQ_SYNC || r->type == MRLOG_REQ_STOP;
    /* Its reservation returns when it completes (memory.c). */
    if (r->type == MRLOG_REQ_APPEND && r->status == 0)
      appended += r->count;
  }
  if (appended > 0)
    atomic_fetch_add_explicit(&log->stat_appends, appended,
                              memory_order_relaxed);
  w->unsynced_recs += appended;
  if (w->done_first != NULL)
    mrlog__flusher_submit(log, w->done_first, w->done_last, barrier, lsn,
                          w->unsynced, w->unsynced_recs);
  w->done_first = w->done_last = NULL;
  /* Rotate at segment_bytes, but only once the segment holds at least as
   * much after its checkpoint as the checkpoint itself: with many queues
   * a checkpoint can outgrow segment_bytes, and rotating on every frame
   * would rewrite it each time. */
  if (!atomic_load_explicit(&log->failed, memory_order_acquire) &&
      w->off >= log->policy.segment_bytes &&
      w->off - w->checkpoint_end >= w->checkpoint_end)
    mrlog__writer_rotate(log);
  /* Buffers grown for a large frame (or checkpoint) go back. */
  mrlog__wbuf_trim_frame(&w->frame);
  w->ops = mrlog__wbuf_trim(w->ops, &w->cap_ops, sizeof(*w->ops));
  w->ext = mrlog__wbuf_trim(w->ext, &w->cap_ext, sizeof(*w->ext));
  w->iov = mrlog__wbuf_trim(w->iov, &w->cap_iov, sizeof(*w->iov));
  w->subs = mrlog__wbuf_trim(w->subs, &w->cap_subs, sizeof(*w->subs));
  mrlog__wbuf_charge(log, &w->buf_charged, &w->frame, w->ops, w->ext, w->iov,
                     w->subs);
}

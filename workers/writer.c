/*
 * writer.c -- the writer thread: sole consumer of the request ring, sole
 * mutator of the queue state and of the hot segment file.
 *
 * DESIGN
 *   Messages: every request type (enum mrlog__req_type).  It pops up to
 *   PASS_MAX requests at a time, checks each against its own view of the
 *   queues (w_next, w_floor), and encodes the effective ones into one frame:
 *   appends are regrouped by queue (only per-queue order matters), so a pass
 *   of single-record appends to a few queues costs one APPEND operation per
 *   queue and about one byte per record.  A truncate first emits its queue's
 *   pending appends; a create or delete first writes the whole pending frame
 *   and then goes out in a frame of its own, since later requests look the
 *   queue up by name.
 *   Owns: the hot segment fd and its write offset, the frame buffer, the
 *   [writer] fields of every queue.
 *   Ordering: requests are completed in the order popped; a frame is
 *   written, then applied to RAM (the same code as recovery), then its
 *   requests go to the flusher, so a record is readable before it is
 *   acknowledged.
 *   Completion: by handing requests to the flusher with the frame's LSN.
 *
 * Invariants:
 *  1. Nothing is written after a failure: a partly written frame may sit
 *     at the tail, and a valid frame after it would turn a healable tail
 *     into corruption.
 *  2. Before the first frame of segment n+1 is written, segment n is
 *     fdatasynced, and n+1 (header and checkpoint) is fdatasynced and its
 *     directory entry fsynced.  So only the last segment can have a torn
 *     tail, and every segment's metadata is restated by its successor.
 *     Segment n's sync is the only one in flight on its fd (the flusher's
 *     sync token, flusher.c invariant 1); segment n+1 is synced before
 *     the flusher gets its fd.  If any of these syncs fails, or the log
 *     has failed, rotation stops: n+1 is never used and durable_lsn does
 *     not rise.
 *  3. A frame's `synced` field never exceeds the bytes of the file the
 *     flusher has actually made durable.
 *  4. A segment the writer leaves (rotation) or closes ends with its seal
 *     (seal.c), written once everything before it is durable and synced
 *     before the next segment exists or close returns.  At close it is
 *     written after the flusher has stopped (mrlog__writer_seal), so no
 *     other thread's fdatasync can consume a writeback error first.
 */
#include "internal.h"
#include "crc32c.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PASS_MAX 1024
/* Durable policy: the hot segment is zero-filled ahead of the writer, so
 * the flusher's fdatasyncs overwrite allocated blocks and need no journal
 * commit for a new size (measured here: ~110 us instead of ~330 us per
 * 4 KiB append+fdatasync).  A step is written once fewer than a quarter
 * of a step of zeroed bytes remain ahead. */
#define PREZERO_STEP (2u << 20)
#define PREZERO_FIRST (64u << 10) /* first step of a segment */
#define PREZERO_CHUNK (1u << 20) /* bytes per zero-fill write */
/* Written policy: start writeback of every WRITEBACK_BYTES written, so
 * the dirty data flows to the disk as it comes instead of waiting for the
 * next fdatasync -- above all the writer's own at rotation, which
 * otherwise stalls it while a whole sync interval's data is written. */
#define WRITEBACK_BYTES (1u << 20)
#define IDLE_YIELDS 8 /* yields before the writer sleeps */
/* Records at least this long are not copied into the frame: the frame is
 * written with pwritev, their bytes straight from the requests. */
#define EXT_MIN 1024u
#define FRAME_TARGET (256u << 10) /* bytes before a pass is cut */
/* Blast radius (FORMAT.md 12): the records of a pass are framed in
 * sub-frames of about this many bytes of records (payload and length
 * varints), each a complete frame with its own header and TIME op, all
 * written by the pass's one write.  A damaged sector then costs the
 * records of one or two sub-frames, not of the whole pass.  A request
 * larger than this (a big record, an atomic batch) is never split: it
 * gets a sub-frame of its own. */
#define SUBFRAME_TARGET 4096u
/* A sub-frame's bytes besides its records, at most: header, TIME op and
 * an APPEND op's header (PASS_OP_BYTES is already counted per queue). */
#define SUBFRAME_OVERHEAD (MRLOG_FRAME_HEADER_SIZE + 1 + MRLOG_VARINT_MAX + \
                           PASS_OP_BYTES)
/* An APPEND op's header in the frame, typically (FORMAT.md 7.6: op byte,
 * queue id, first position, count as varints); pending_bytes counts it
 * once per queue in the pass. */
#define PASS_OP_BYTES 8u

/*
 * What a written frame does to RAM, in frame order.  The writer applies
 * appends and truncations straight from its requests (the payload is
 * copied once, request to chunk, instead of being decoded back out of the
 * frame); creates and deletes go through apply.c on their slice of the
 * frame.  The effect is the one recovery gets from apply.c on the same
 * frame: test_powerloss and the fuzzers compare the two.
 */
enum { OP_STORE, OP_TRUNCATE, OP_RAW };
struct apply_op {
  uint8_t kind;               /* OP_* */
  struct mrlog__queue *q;     /* OP_STORE, OP_TRUNCATE */
  uint64_t a;                 /* first position / truncation position */
  uint64_t count;             /* OP_STORE: records */
  struct mrlog__req *r;       /* OP_STORE: first request of the run */
  uint64_t rec_off;           /* OP_STORE: offset in the frame (as
                                 written) of its first record's varint */
  size_t off, len;            /* OP_RAW: slice of the frame buffer */
};

/* A record written from its request instead of the frame buffer: its
 * bytes go at frame offset `at` (between frame.data[at-1] and
 * frame.data[at]). */
struct ext_piece {
  size_t at;
  const uint8_t *data;
  uint32_t len;
};

struct mrlog__writer {
  pthread_t thread;
  bool started;
  int fd;                      /* hot segment, O_WRONLY */
  struct mrlog__segment *seg;  /* hot segment */
  struct mrlog__filemap *map;  /* its window (MRLOG_STORE_MAPPED), or NULL:
                                  records are copied into chunks */
  uint32_t frame_off;          /* offset of the frame being applied */
  uint32_t off;                /* bytes in the hot segment */
  uint32_t checkpoint_end;     /* offset after the segment's checkpoint */
  uint64_t zero_end;           /* the hot file holds zeros or frames up to
                                  here (>= off); durable policy only */
  bool prezero_off;            /* a zero-fill failed in this segment */
  uint32_t wb_off;             /* writeback was started below this */
  uint8_t *zeros;              /* PREZERO_CHUNK zero bytes, or NULL */
  struct mrlog__buf frame;     /* 16-byte header room + body being built */
  struct mrlog__queue *touched;  /* queues with pending appends */
  struct mrlog__req *done_first; /* requests of the frame, in order */
  struct mrlog__req *done_last;
  uint64_t pending_bytes;      /* what pending appends will add to the
                                  frame, at least: payload, a byte of
                                  length per record, PASS_OP_BYTES per
                                  queue (frame_cut) */
  uint64_t unsynced;           /* bytes written since the last rotation */
  uint64_t unsynced_recs;      /* records appended since then */
  struct apply_op *ops;        /* the frame's effects, in order */
  struct ext_piece *ext;       /* the frame's records not in its buffer */
  size_t n_ext, cap_ext;
  uint64_t ext_bytes;          /* their bytes */
  struct iovec *iov;           /* gather list for writing the frame */
  size_t cap_iov;
  size_t nops, cap_ops;
  size_t buf_charged;          /* what these buffers are charged
                                  (writer_mem.c) */
  bool timed;                  /* the pass has its time (frame_ms) */
  uint64_t frame_ms;           /* and this is its time */
  bool sub_timed;              /* the current sub-frame has its TIME op */
  size_t sub_start;            /* buffer offset of its 16-byte header */
  uint64_t sub_bytes;          /* record bytes in it (SUBFRAME_TARGET) */
  size_t *subs;                /* buffer offsets of the headers of the */
  size_t nsubs, cap_subs;      /* sub-frames after the first (at 0) */
  struct mrlog__req *batch[PASS_MAX];
};

int
mrlog__writer_init(struct mrlog *log)
{
  struct mrlog__writer *w = calloc(1, sizeof(*w));

  if (w == NULL)
    return MRLOG_ENOMEM;
  w->fd = -1;
  if (mrlog__buf_reserve(&w->frame, 1 << 16) != 0) {
    free(w);
    return MRLOG_ENOMEM;
  }
  w->frame.len = MRLOG_FRAME_HEADER_SIZE;
  log->writer = w;
  return 0;
}

void
mrlog__writer_free(struct mrlog *log)
{
  struct mrlog__writer *w = log->writer;

  if (w == NULL)
    return;
  if (w->fd >= 0)
    log->io->close(log->io->ctx, w->fd);
  if (w->map != NULL)
    mrlog__filemap_unref(log, w->map); /* chunks may keep it mapped */
  if (w->buf_charged != 0)
    mrlog__mem_sub(log, w->buf_charged);
  mrlog__buf_free(&w->frame);
  free(w->ops);
  free(w->ext);
  free(w->iov);
  free(w->subs);
  free(w->zeros);
  free(w);
  log->writer = NULL;
}

static void
add_done(struct mrlog__writer *w, struct mrlog__req *req)
{
  req->next = NULL;
  if (w->done_last)
    w->done_last->next = req;
  else
    w->done_first = req;
  w->done_last = req;
}

static struct apply_op *
push_op(struct mrlog__writer *w, int kind)
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
static int
emit_runs(struct mrlog *log, struct mrlog__writer *w, struct mrlog__queue *q)
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
    op = push_op(w, OP_STORE);
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
          memcpy(o, p, r->lens[i]);
          o += r->lens[i];
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
      uint64_t at = w->frame_off + op->rec_off;

      rc = mrlog__queue_store_begin(log, op->q, w->seg, op->a, op->count);
      for (; rc == 0 && left > 0; r = r->run_next) {
        if (w->map != NULL)
          rc = mrlog__queue_store_mapped(log, op->q, w->map, pos, r->lens,
                                         r->count, &at);
        else
          rc = mrlog__queue_store_run(log, op->q, pos, r->lens, r->count,
                                      r->payload);
        pos += r->count;
        left -= r->count;
      }
      break;
    }
    case OP_TRUNCATE: {
      uint64_t dropped = mrlog__apply_truncate(log, op->q, op->a, lsn);

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
      rc = emit_runs(log, w, q);
    q->pass_first = q->pass_last = NULL;
    q->pass_next = NULL;
    q->in_pass = false;
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

static int rotate(struct mrlog *log);

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
static void
cut_zeros(struct mrlog *log, struct mrlog__writer *w)
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
static void
flush_frame(struct mrlog *log)
{
  struct mrlog__writer *w = log->writer;
  uint32_t body_len;
  uint64_t lsn, appended, total;
  struct mrlog__req *r;
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
      if (w->map != NULL)
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
      /* The mapped records' payload is charged before their requests go
       * to the flusher, whose completions return their reservations. */
      mrlog__mem_pin_flush(log);
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
  for (r = w->done_first; r != NULL; r = r->next) {
    r->lsn = lsn;
    /* Its reservation returns when it completes (memory.c). */
    if (r->type == MRLOG_REQ_APPEND && r->status == 0)
      appended += r->count;
  }
  if (appended > 0)
    atomic_fetch_add_explicit(&log->stat_appends, appended,
                              memory_order_relaxed);
  w->unsynced_recs += appended;
  if (w->done_first != NULL)
    mrlog__flusher_submit(log, w->done_first, w->done_last, lsn, w->unsynced,
                          w->unsynced_recs);
  w->done_first = w->done_last = NULL;
  /* Rotate at segment_bytes, but only once the segment holds at least as
   * much after its checkpoint as the checkpoint itself: with many queues
   * a checkpoint can outgrow segment_bytes, and rotating on every frame
   * would rewrite it each time. */
  if (!atomic_load_explicit(&log->failed, memory_order_acquire) &&
      w->off >= log->policy.segment_bytes &&
      w->off - w->checkpoint_end >= w->checkpoint_end)
    rotate(log);
  /* Buffers grown for a large frame (or checkpoint) go back. */
  mrlog__wbuf_trim_frame(&w->frame);
  w->ops = mrlog__wbuf_trim(w->ops, &w->cap_ops, sizeof(*w->ops));
  w->ext = mrlog__wbuf_trim(w->ext, &w->cap_ext, sizeof(*w->ext));
  w->iov = mrlog__wbuf_trim(w->iov, &w->cap_iov, sizeof(*w->iov));
  w->subs = mrlog__wbuf_trim(w->subs, &w->cap_subs, sizeof(*w->subs));
  mrlog__wbuf_charge(log, &w->buf_charged, &w->frame, w->ops, w->ext, w->iov,
                     w->subs);
}

static struct mrlog__queue *
lookup(struct mrlog *log, const struct mrlog__req *req)
{
  return mrlog__index_by_name(&log->index, req->name, req->name_len,
                              req->name_hash);
}

static uint64_t
sat_inc(uint64_t v)
{
  return v == UINT64_MAX ? UINT64_MAX : v + 1;
}

/* A create or a delete: written in a frame of its own. */
static void
handle_structural(struct mrlog *log, struct mrlog__req *req)
{
  struct mrlog__writer *w = log->writer;
  struct mrlog__queue *q;

  flush_frame(log);
  q = lookup(log, req);
  add_done(w, req);
  if (req->type == MRLOG_REQ_CREATE) {
    req->position = 0;
    if (q != NULL) {
      req->status = MRLOG_EEXIST;
      return;
    }
    if (!mrlog__index_checkpoint_fits(&log->index, req->name_len)) {
      /* Its checkpoint could outgrow 32-bit offsets (format.h). */
      req->status = MRLOG_EINVAL;
      return;
    }
    if (mrlog__buf_reserve(&w->frame, 1 + 2 * MRLOG_VARINT_MAX +
                                          req->name_len) != 0) {
      req->status = MRLOG_ENOMEM;
      return;
    }
    if (push_op(w, OP_RAW) == NULL) {
      req->status = MRLOG_ENOMEM;
      return;
    }
    mrlog__buf_put_u8(&w->frame, MRLOG_OP_CREATE);
    mrlog__buf_put_varint(&w->frame, log->next_queue_id);
    mrlog__buf_put_varint(&w->frame, req->name_len);
    memcpy(w->frame.data + w->frame.len, req->name, req->name_len);
    w->frame.len += req->name_len;
  } else {
    req->position = 0;
    if (q == NULL) {
      req->status = MRLOG_ENOQUEUE;
      return;
    }
    if (mrlog__buf_reserve(&w->frame, 1 + MRLOG_VARINT_MAX) != 0) {
      req->status = MRLOG_ENOMEM;
      return;
    }
    if (push_op(w, OP_RAW) == NULL) {
      req->status = MRLOG_ENOMEM;
      return;
    }
    mrlog__buf_put_u8(&w->frame, MRLOG_OP_DELETE);
    mrlog__buf_put_varint(&w->frame, q->id);
  }
  /* The frame holds this one operation. */
  w->ops[0].off = MRLOG_FRAME_HEADER_SIZE;
  w->ops[0].len = w->frame.len - MRLOG_FRAME_HEADER_SIZE;
  flush_frame(log);
}

static void
handle_truncate(struct mrlog *log, struct mrlog__req *req)
{
  struct mrlog__writer *w = log->writer;
  struct mrlog__queue *q = lookup(log, req);
  uint64_t bound = sat_inc(req->position);
  struct apply_op *op;

  add_done(w, req);
  if (q == NULL || (req->by_retention && q->id != req->first)) {
    req->status = MRLOG_ENOQUEUE; /* (retention: deleted and recreated) */
    return;
  }
  if (bound <= q->w_floor)
    return; /* nothing at or below position is left, next is past it */
  if (q->pass_first != NULL && emit_runs(log, w, q) != 0) {
    req->status = MRLOG_ENOMEM;
    return;
  }
  if (mrlog__buf_reserve(&w->frame, 1 + 2 * MRLOG_VARINT_MAX) != 0) {
    req->status = MRLOG_ENOMEM;
    return;
  }
  op = push_op(w, OP_TRUNCATE);
  if (op == NULL) {
    req->status = MRLOG_ENOMEM;
    return;
  }
  op->q = q;
  op->a = req->position;
  op->r = req;
  mrlog__buf_put_u8(&w->frame, MRLOG_OP_TRUNCATE);
  mrlog__buf_put_varint(&w->frame, q->id);
  mrlog__buf_put_varint(&w->frame, req->position);
  q->w_floor = bound;
  if (q->w_next < bound)
    q->w_next = bound;
}

static void
handle_append(struct mrlog *log, struct mrlog__req *req)
{
  struct mrlog__writer *w = log->writer;
  struct mrlog__queue *q = lookup(log, req);
  uint64_t first;

  add_done(w, req);
  if (q == NULL) {
    req->status = MRLOG_ENOQUEUE;
    return;
  }
  first = req->has_position ? req->position : q->w_next;
  /* Checked before the duplicate rule: a batch whose end would pass the
   * last position is refused, not reported at a wrapped position. */
  if (first > MRLOG_POSITION_MAX ||
      req->count - 1 > MRLOG_POSITION_MAX - first) {
    req->status = MRLOG_EINVAL; /* position space exhausted */
    req->position = 0;
    return;
  }
  if (req->has_position && first < q->w_next) {
    req->status = MRLOG_DUPLICATE;
    req->position = first + req->count - 1;
    return;
  }
  req->first = first;
  req->position = first + req->count - 1;
  q->w_next = first + req->count;
  req->run_next = NULL;
  if (q->pass_last)
    q->pass_last->run_next = req;
  else
    q->pass_first = req;
  q->pass_last = req;
  if (!q->in_pass) {
    q->in_pass = true;
    q->pass_next = w->touched;
    w->touched = q;
    w->pending_bytes += PASS_OP_BYTES;
  }
  w->pending_bytes += req->payload_len + req->count;
}

/* The cleaner asks for a rotation by age (expiry.c): the hot segment is
 * rotated if it is still segment_max_age_ms old and holds frames besides
 * its checkpoint (an empty one would only be replaced by another). */
static void
handle_rotate(struct mrlog *log, struct mrlog__req *req)
{
  struct mrlog__writer *w = log->writer;
  uint64_t max_age = log->policy.segment_max_age_ms, now;

  flush_frame(log);
  req->position = 0;
  add_done(w, req);
  atomic_store_explicit(&log->rotate_pending, false, memory_order_release);
  now = mrlog__now_ms(log);
  if (max_age == 0 || w->off <= w->checkpoint_end ||
      now < w->seg->created_ms || now - w->seg->created_ms < max_age ||
      atomic_load_explicit(&log->failed, memory_order_acquire))
    return;
  mrlog__logf(log, MRLOG_LOG_INFO, "segment %016llx is %llu ms old: rotating",
              (unsigned long long)w->seg->segno,
              (unsigned long long)(now - w->seg->created_ms));
  if (rotate(log) == 0)
    atomic_fetch_add_explicit(&log->stat_age_rotations, 1,
                              memory_order_relaxed);
}

static bool handle(struct mrlog *log, struct mrlog__req *req);

/* The bytes at which the pass being built is cut into a frame:
 * FRAME_TARGET, or the room left before segment_bytes if that is less, so
 * a segment smaller than a frame ends near its size (overshooting by at
 * most the last request) instead of by a whole frame.  Past segment_bytes
 * (rotation waits for the checkpoint rule of flush_frame) FRAME_TARGET. */
static uint64_t
frame_cut(const struct mrlog *log, const struct mrlog__writer *w)
{
  uint64_t seg = log->policy.segment_bytes;

  if ((uint64_t)w->off < seg && seg - w->off < FRAME_TARGET)
    return seg - w->off;
  return FRAME_TARGET;
}

/* A staged batch: closed here (no entry can join it afterwards), then each
 * entry is an append like any other.  The batch head itself is never
 * completed; its last entry takes the batch back to its pool. */
static void
handle_batch(struct mrlog *log, struct mrlog__batch *b)
{
  struct mrlog__req *e, *next = NULL;
  unsigned n = mrlog__batch_close(b, &e), i;
  uint64_t charged = 0;

  /* One walk: each entry's charge is read before handle() can hand it on;
   * the last one takes the batch back to its pool once complete, so the
   * batch is settled before that entry is handled. */
  for (i = 0; i < n; i++, e = next) {
    charged += e->reserved;
    if (i + 1 < n) {
      next = mrlog__batch_next(e);
    } else {
      e->batch_last = true;
      mrlog__batch_release_credit(log, b, charged);
    }
    handle(log, e);
  }
}

/* Returns true for the stop sentinel. */
static bool
handle(struct mrlog *log, struct mrlog__req *req)
{
  struct mrlog__writer *w = log->writer;
  int failed = atomic_load_explicit(&log->failed, memory_order_acquire);

  if (req->type == MRLOG_REQ_BATCH) {
    handle_batch(log, (struct mrlog__batch *)req);
    return false;
  }
  req->status = 0;
  if (failed && req->type != MRLOG_REQ_STOP) {
    req->status = failed;
    add_done(w, req);
    return false;
  }
  switch (req->type) {
  case MRLOG_REQ_CREATE:
  case MRLOG_REQ_DELETE:
    handle_structural(log, req);
    break;
  case MRLOG_REQ_TRUNCATE:
    handle_truncate(log, req);
    break;
  case MRLOG_REQ_APPEND:
    handle_append(log, req);
    break;
  case MRLOG_REQ_SYNC:
    req->position = 0;
    add_done(w, req);
    break;
  case MRLOG_REQ_ROTATE:
    handle_rotate(log, req);
    break;
  case MRLOG_REQ_STOP:
    add_done(w, req);
    return true;
  default:
    req->status = MRLOG_EINVAL;
    add_done(w, req);
  }
  /* Pending appends become sub-frames, each with a header, a TIME op
   * and an APPEND op of its own. */
  if (w->frame.len + w->ext_bytes + w->pending_bytes +
          (w->pending_bytes / SUBFRAME_TARGET + 1) * SUBFRAME_OVERHEAD >=
      frame_cut(log, w))
    flush_frame(log);
  return false;
}

static void *
writer_main(void *arg)
{
  struct mrlog *log = arg;
  struct mrlog__writer *w = log->writer;
  bool stop = false;
  unsigned n, i, idle = 0;

  mrlog__mark_library_thread("mrlog-writer");
  while (!stop) {
    n = mrlog__ring_pop(log, w->batch, PASS_MAX);
    if (n == 0 && idle < IDLE_YIELDS) {
      /* Give runnable producers the CPU before sleeping: in a burst the
       * next request usually comes within a time slice, and finding it
       * here costs a yield instead of a futex wake and two context
       * switches.  With nothing runnable, sched_yield returns at once. */
      idle++;
      sched_yield();
      continue;
    }
    if (n == 0) {
      mrlog__ring_wait(log, 1000);
      idle = 0;
      continue;
    }
    idle = 0;
    for (i = 0; i < n; i++) {
      /* STOP is pushed only after every producer is done (see close). */
      if (handle(log, w->batch[i]))
        stop = true;
    }
    flush_frame(log);
  }
  if (!atomic_load(&log->failed))
    cut_zeros(log, w);
  return NULL;
}

int
mrlog__writer_start(struct mrlog *log)
{
  int rc = pthread_create(&log->writer->thread, NULL, writer_main, log);

  if (rc != 0)
    return MRLOG_ENOMEM;
  log->writer->started = true;
  return 0;
}

void
mrlog__writer_join(struct mrlog *log)
{
  if (log->writer != NULL && log->writer->started) {
    pthread_join(log->writer->thread, NULL);
    log->writer->started = false;
  }
}

/* Encodes a checkpoint of every live queue into the (empty) frame. */
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
      if (mrlog__buf_reserve(&w->frame, 4 * MRLOG_VARINT_MAX + q->name_len))
        return MRLOG_ENOMEM;
      mrlog__buf_put_varint(&w->frame, q->id);
      mrlog__buf_put_varint(&w->frame, q->name_len);
      memcpy(w->frame.data + w->frame.len, q->name, q->name_len);
      w->frame.len += q->name_len;
      mrlog__buf_put_varint(&w->frame, q->w_floor);
      mrlog__buf_put_varint(&w->frame, q->w_next);
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

  /* LSNs keep the segment number in 32 bits (internal.h). */
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
  if (w->map != NULL)
    mrlog__filemap_unref(log, w->map); /* its chunks keep it */
  w->map = NULL;
  if (log->policy.record_store == MRLOG_STORE_MAPPED) {
    w->map = mrlog__filemap_hot(log, name);
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
  cut_zeros(log, w);
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
static int
rotate(struct mrlog *log)
{
  struct mrlog__writer *w = log->writer;
  int rc;

  cut_zeros(log, w);
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

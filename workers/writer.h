/*
 * writer.h -- the writer thread: first what other modules call (its life
 * cycle), then what the writer's files share: the writer's state (owned
 * by the writer thread alone) and the functions one file of the writer
 * calls in another.  writer.c runs the thread and decides each
 * request; writer_frame.c builds, writes and applies a pass's frames;
 * writer_segment.c makes, pads, seals and rotates the hot segment.
 */
#ifndef MRLOG_WORKERS_WRITER_H
#define MRLOG_WORKERS_WRITER_H

#include "internal.h"
#include "req.h"

#include <sys/uio.h>

/* ---- what other modules call ---- */

/* Like every worker, the writer has init (allocate, no thread), start
 * (thread), join (after its stop condition) and free. */
int mrlog__writer_init(struct mrlog *log);
/* Writes a new segment with its checkpoint and makes it the hot one
 * (open uses it before the writer thread starts; the writer at rotation). */
int mrlog__writer_open_segment(struct mrlog *log);
int mrlog__writer_start(struct mrlog *log);
void mrlog__writer_join(struct mrlog *log);
/* At close, once the writer and the flusher have stopped: seals the hot
 * segment (an fdatasync, the seal, an fdatasync), or fails the log. */
void mrlog__writer_seal(struct mrlog *log);
void mrlog__writer_free(struct mrlog *log);

/* ---- shared by the writer's files ---- */

/* The writer's buffers against memory_limit (workers/writer_mem.c).
 * charge: sets *charged to what frame (beyond its base size) and the
 * four arrays (ops, ext, iov, subs) hold now; trim: frees an array of
 * *cap elements of elem bytes grown past its keep size (returns it, or NULL with *cap = 0);
 * trim_frame: shrinks an empty frame buffer grown past its keep size. */
void mrlog__wbuf_charge(struct mrlog *log, size_t *charged,
                       const struct mrlog__buf *frame, const void *ops,
                       const void *ext, const void *iov, const void *subs);
void *mrlog__wbuf_trim(void *array, size_t *cap, size_t elem);
void mrlog__wbuf_trim_frame(struct mrlog__buf *frame);

#define PASS_MAX 1024
/* Durable policy: the hot segment is zero-filled ahead of the writer, so
 * the flusher's fdatasyncs overwrite allocated blocks and need no journal
 * commit for a new size (measured here: ~110 us instead of ~330 us per
 * 4 KiB append+fdatasync).  A step is written once fewer than a quarter
 * of a step of zeroed bytes remain ahead.  The fdatasync that follows a
 * step waits for the step's zeros to reach the disk (it waits for every
 * page of the file under writeback), so the step bounds that sync's extra
 * time: 256 KiB steps took W2's p99.9 fdatasync from ~1.4 ms to ~0.56 ms
 * against 2 MiB ones, for the same records/s (PERFORMANCE.md). */
#define PREZERO_STEP (256u << 10)
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
  struct mrlog__quota *quota;  /* appends held back by a quota, or NULL
                                  when the policy sets none (quota.c) */
  struct mrlog__req *batch[PASS_MAX];
};

/* writer_frame.c */
/* Adds req to the requests of the pass (completed in this order). */
void mrlog__writer_add_done(struct mrlog__writer *w, struct mrlog__req *req);
/* A new effect of the pass, or NULL (out of memory). */
struct apply_op *mrlog__writer_push_op(struct mrlog__writer *w, int kind);
/* Emits q's pending appends into the frame. */
int mrlog__writer_emit_runs(struct mrlog *log, struct mrlog__writer *w,
                            struct mrlog__queue *q);
/* Cuts the zero-filled room past the frames of the hot segment. */
void mrlog__writer_cut_zeros(struct mrlog *log, struct mrlog__writer *w);
/* Writes the pending frame, applies it, hands its requests to the
 * flusher, and rotates when the segment is full. */
void mrlog__writer_flush(struct mrlog *log);

/* writer_commit.c */
/* A consumer's commit or removal: decided, framed alone and written. */
void mrlog__writer_commit(struct mrlog *log, struct mrlog__req *req);

/* writer_segment.c */
/* Invariant 2 of writer.c: syncs and seals the hot segment and starts the
 * next; fails the log if any step fails. */
int mrlog__writer_rotate(struct mrlog *log);

#endif

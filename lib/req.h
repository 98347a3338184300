/*
 * req.h -- requests: one submitted call's block (lib/req.c), the waits a
 * producer makes for room during one call (lib/block.c) and the kinds of
 * request the ring carries.
 *
 * A request is built by the producer, handed to the writer through the
 * ring, then to the flusher, which completes and frees it
 * (mrlog__req_finish).  Exactly one thread owns it at a time.
 */
#ifndef MRLOG_REQ_H
#define MRLOG_REQ_H

#include "base.h"

#include <sys/uio.h>
#include <time.h>

struct mrlog;
struct mrlog__batch;

enum mrlog__req_type {
  MRLOG_REQ_CREATE = 1,
  MRLOG_REQ_DELETE,
  MRLOG_REQ_APPEND,   /* one record or an atomic batch */
  MRLOG_REQ_TRUNCATE,
  MRLOG_REQ_SYNC,
  MRLOG_REQ_STOP,     /* close's sentinel: the last request in the ring */
  MRLOG_REQ_BATCH,    /* a staged batch of appends (lib/stage.c) */
  MRLOG_REQ_ROTATE,   /* the cleaner: rotate the hot segment if it is
                         older than segment_max_age_ms (workers/expiry.c) */
  MRLOG_REQ_COMMIT,   /* a consumer's committed position (consumer.h) */
  MRLOG_REQ_UNCOMMIT  /* a consumer's removal (consumer.h) */
};

/*
 * One submitted call.  Allocated by the producer in one block (the name,
 * the record lengths and the payload follow the struct), handed to the
 * writer through the ring, then to the flusher, which completes and frees
 * it.  Exactly one thread owns it at a time.
 */
struct mrlog__req {
  struct mrlog__req *next;     /* link in the writer's done list, the
                                  flusher's pending list or the early list */
  struct mrlog__req *run_next; /* link in a queue's run list (writer) */
  uint8_t type;                /* enum mrlog__req_type */
  bool has_position;           /* explicit position given */
  bool batch_last;             /* last entry of its batch (stage.c) */
  bool by_retention;           /* a truncation made by retention_ms; its
                                  `first` holds the queue's id, so a queue
                                  deleted and recreated since is spared */
  struct mrlog__batch *batch;  /* staged entry: the batch holding it;
                                  NULL for a request of its own */
  int status;                  /* result, set by the writer (or at submit) */
  uint64_t position;           /* in: explicit/truncate position; out:
                                  reported position */
  uint64_t first;              /* writer: first position of an append */
  uint64_t lsn;                /* end LSN of the frame that carries it */
  uint64_t reserved;           /* bytes reserved against memory_limit */
  uint64_t submit_stamp;       /* appends: when the records were copied
                                  in (metrics.h); 0: not timed */
  mrlog_future *future;        /* may be NULL (allocation failed) */
  mrlog_done_fn done;          /* may be NULL */
  void *arg;
  uint32_t count;              /* records (appends) */
  uint32_t name_len;           /* bytes of name, NUL excluded */
  uint32_t name_hash;          /* mrlog__name_hash(name), by the producer */
  uint64_t payload_len;        /* total payload bytes */
  char *name;                  /* NUL-terminated, in the block */
  uint32_t *lens;              /* count record lengths, in the block */
  uint8_t *payload;            /* records back to back, in the block */
};

void mrlog__req_free(struct mrlog *log, struct mrlog__req *req);
/* A request's block: the struct, then count record lengths, the name and
 * its NUL, then the payload (req.c).  size gives its bytes; layout
 * fills lens, name, name_len, name_hash, payload, count and payload_len
 * and copies the name and the records in. */
size_t mrlog__req_size(size_t name_len, size_t count, uint64_t total);
void mrlog__req_layout(struct mrlog__req *req, const char *name,
                       size_t name_len, uint32_t name_hash,
                       const struct iovec *recs, size_t count, uint64_t total);
/* Completes (callback, future) and frees; releases unused reservations.
 * The flusher, or a detached thread for a NULL log. */
void mrlog__req_finish(struct mrlog *log, struct mrlog__req *req);

/* A producer's waits for room during one call (lib/block.c): started
 * at its first check, then bounded by policy.block_timeout_ms.  Zero it
 * before the call's first wait. */
struct mrlog__block {
  struct timespec start; /* when the call began to wait */
  bool started;
  bool reported;         /* this call passed the report threshold */
};
/* Before each slice of a wait: 0, with *slice_ms cut to what is left of
 * block_timeout_ms, or MRLOG_EFULL once it has passed.  what names the
 * wait in the report of a long one.  b NULL: no limit, no report. */
int mrlog__block_check(struct mrlog *log, struct mrlog__block *b,
                       unsigned *slice_ms, const char *what);
/* A wait ended with room: ends the log's blocking episode if b waited. */
void mrlog__block_end(struct mrlog *log, struct mrlog__block *b);

#endif /* MRLOG_REQ_H */

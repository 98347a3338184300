/*
 * stage.h -- per-thread staging of small appends.  A batch is filled by
 * its owner thread while it waits in the ring (lib/stage.c, the producer's
 * side), then closed and walked by the writer and given back to its owner
 * by the flusher once its last entry is complete (lib/batch.c, the
 * batch's way downstream).  stage.c states the rules (its invariants).
 */
#ifndef MRLOG_STAGE_H
#define MRLOG_STAGE_H

#include "req.h"

#include <stdalign.h>
#include <stdatomic.h>

struct mrlog;

/* A batch's state word (stage.c invariant 1): committed entries, and the
 * closed bit the writer sets. */
#define MRLOG__BATCH_CLOSED 0x80000000u
#define MRLOG__BATCH_COUNT_MASK 0x7fffffffu

/* One (log, thread) pair's staging state (stage.c).  The fields the
 * flusher touches are `returned` and `waiting` (batch.c
 * mrlog__batch_recycle, stage.c invariants 3 and 6). */
struct mrlog__producer {
  struct mrlog *log;
  struct mrlog__producer *next;   /* log->producers; producers_mutex */
  struct mrlog__batch *cur;       /* open batch (owner thread) */
  struct mrlog__batch *free_local; /* owner thread */
  _Atomic(struct mrlog__batch *) returned; /* pushed by the flusher */
  struct mrlog__batch *all;       /* every batch allocated; freed at close */
  unsigned nbatches;              /* length of `all` */
  atomic_bool orphaned;           /* no thread owns it now */
  atomic_uint waiting;            /* 1: the owner sleeps for a batch
                                     (invariant 6) */
};

/*
 * A batch: a block of append entries that one thread fills while the block
 * waits in the ring.  The ring carries &head.  See stage.c for the rules.
 */
struct mrlog__batch {
  struct mrlog__req head;        /* type MRLOG_REQ_BATCH; head.reserved is
                                    the batch's memory credit */
  _Atomic uint32_t state;        /* committed entries | closed bit */
  uint32_t used;                 /* owner: bytes of data used */
  uint64_t charged;              /* owner: credit used by entries */
  uint64_t completed;            /* flusher: reservations of the entries
                                    completed so far, released at once
                                    with the last one's (req.c) */
  struct mrlog__producer *owner; /* immutable */
  struct mrlog__batch *pool_next; /* link in the owner's pool */
  struct mrlog__batch *all_next;  /* link in the owner's list of all */
  alignas(8) uint8_t data[];     /* entries, 8-byte aligned */
};

struct mrlog__stage_args {
  struct mrlog__block *block;    /* the call's waits */
  mrlog_future *future;
  mrlog_done_fn done;
  void *arg;
  bool has_position;
  uint64_t position;
};

/* Open registers the log (gives it an id); close frees its producers. */
void mrlog__stage_register(struct mrlog *log);
/* True, once, for a log in the registry: the caller may close it.  False
 * for any other pointer (never read) or a log whose close has begun. */
bool mrlog__stage_claim_close(struct mrlog *log);
void mrlog__stage_free(struct mrlog *log);
/* True if an append of this shape may be staged. */
bool mrlog__stage_fits(size_t name_len, size_t count, uint64_t payload);
/* Stages an append for the calling thread.  0: staged (it will complete
 * through the writer).  Otherwise a status, and *failed is the entry to
 * settle with it (or NULL: nothing was staged, the caller settles). */
int mrlog__stage_append(struct mrlog *log, const char *name, size_t name_len,
                        uint32_t name_hash, const struct iovec *recs,
                        size_t count, uint64_t total,
                        const struct mrlog__stage_args *a,
                        struct mrlog__req **failed);
/* Closes the calling thread's open batch, if any, so that a request it
 * pushes next is ordered after the batch's entries. */
void mrlog__stage_seal_mine(struct mrlog *log);
/* Bytes an append entry takes in a batch: its request block, rounded up
 * to keep the next entry 8-byte aligned. */
static inline size_t
mrlog__batch_entry_size(size_t name_len, size_t count, uint64_t payload)
{
  return (mrlog__req_size(name_len, count, payload) + 7) & ~(size_t)7;
}

/* The batch downstream of its owner (lib/batch.c).  Writer: closes b (no
 * entry can join it afterwards); returns its entry count (>= 1) and sets
 * *first.  batch_next steps to the next entry. */
unsigned mrlog__batch_close(struct mrlog__batch *b, struct mrlog__req **first);
struct mrlog__req *mrlog__batch_next(struct mrlog__req *entry);
/* Writer: gives back the part of b's credit its entries, charging
 * `charged` in all, did not use.  Call before the last entry is handed on
 * (after that the flusher may recycle b). */
void mrlog__batch_release_credit(struct mrlog *log, struct mrlog__batch *b,
                                 uint64_t charged);
/* Flusher: b's last entry is complete; b goes back to its owner. */
void mrlog__batch_recycle(struct mrlog__batch *b);

#endif /* MRLOG_STAGE_H */

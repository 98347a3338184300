/*
 * stage.h -- per-thread staging of small appends (lib/stage.c).  A batch
 * is filled by its owner thread while it waits in the ring, closed by the
 * writer and recycled by the flusher once its last entry is complete;
 * stage.c states the rules.
 */
#ifndef MRLOG_STAGE_H
#define MRLOG_STAGE_H

#include "req.h"
#include <stdalign.h>
#include <stdatomic.h>

struct mrlog;
struct mrlog__producer;

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
                                    with the last one's (submit.c) */
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
/* Writer: closes b (no entry can join it afterwards); returns its entry
 * count (>= 1) and sets *first.  batch_next steps to the next entry. */
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

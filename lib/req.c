/*
 * req.c -- a request's block: its size and layout (the producer, which
 * builds it: submit.c, stage.c) and its completion and release (the
 * flusher, or a detached thread for a NULL log, once the request is
 * settled).
 *
 * Append path (docs/DESIGN.md): caller -> submit.c -> stage.c ->
 * admit.c -> ring.c -> writer.c -> writer_frame.c (the file) ->
 * flusher.c -> req.c -> future.c (the callback); in poll mode req.c ->
 * completion.c (the queue), from which the poller's
 * mrlog_run_completions -> future.c.  The producer's steps (submit.c,
 * stage.c) lay out requests here; the flusher finishes them here: the
 * memory reservation (memory.h), the callback and future (future.c, or
 * queued for the poller: completion.c), and the block, which goes back to malloc or to its batch's
 * owner (batch.c mrlog__batch_recycle).
 *
 * Invariants:
 *  1. A request's block is the struct, then count record lengths, the
 *     name and its NUL, then the payload; one allocation (or one entry of
 *     a staged batch).
 *  2. mrlog__req_finish runs once per request, with no lock held, on a
 *     library thread (docs/DESIGN.md section 1 lists the exceptions): it
 *     releases the reservation, completes, then frees.
 *     A staged entry's reservation returns with its batch's last entry.
 */
#include "req.h"
#include "completion.h"
#include "future.h"
#include "memory.h"
#include "metrics.h"
#include "stage.h"

#include <stdlib.h>
#include <string.h>

size_t
mrlog__req_size(size_t name_len, size_t count, uint64_t total)
{
  return sizeof(struct mrlog__req) + count * sizeof(uint32_t) + name_len + 1 +
         (size_t)total;
}

void
mrlog__req_layout(struct mrlog__req *req, const char *name, size_t name_len,
                  uint32_t name_hash, const struct iovec *recs, size_t count,
                  uint64_t total)
{
  uint8_t *p = (uint8_t *)(req + 1);
  size_t i;

  req->lens = (uint32_t *)p;
  p += count * sizeof(uint32_t);
  req->name = (char *)p;
  if (name_len > 0)
    memcpy(req->name, name, name_len);
  req->name[name_len] = '\0';
  req->name_len = (uint32_t)name_len;
  req->name_hash = name_hash;
  p += name_len + 1;
  req->payload = p;
  req->count = (uint32_t)count;
  req->payload_len = total;
  req->submit_stamp = count > 0 ? mrlog__metrics_now() : 0;
  for (i = 0; i < count; i++) {
    req->lens[i] = (uint32_t)recs[i].iov_len;
    if (recs[i].iov_len > 0)
      memcpy(p, recs[i].iov_base, recs[i].iov_len);
    p += recs[i].iov_len;
  }
}


void
mrlog__req_free(struct mrlog *log, struct mrlog__req *req)
{
  (void)log;
  if (req->batch == NULL)
    free(req);
  else if (req->batch_last)
    mrlog__batch_recycle(req->batch);
}

void
mrlog__req_finish(struct mrlog *log, struct mrlog__req *req)
{
  uint64_t bytes = req->reserved;

  /* A staged entry's block lives as long as its batch: the reservations
   * of a batch's entries return together, with its last entry's, which
   * the flusher completes after the others (one atomic per batch, not
   * per record). */
  if (req->batch != NULL) {
    req->batch->completed += bytes;
    bytes = 0;
    if (req->batch_last) {
      bytes = req->batch->completed;
      req->batch->completed = 0;
    }
  }
  if (bytes != 0 && log != NULL)
    mrlog__mem_release(log, bytes);
  mrlog__metrics_append_done(log, req);
  if (log == NULL || !mrlog__poll_push(log, req->future, req->done,
                                       req->arg, req->status, req->position))
    mrlog__complete(req->future, req->done, req->arg, req->status,
                    req->position);
  mrlog__req_free(log, req);
}

/*
 * submit.c -- the mutating calls: check the arguments, then stage an
 * append or build a request and admit it into the ring.  Runs on the
 * caller's thread.
 *
 * Invariants:
 *  1. THE COMPLETION RULE: every call completes exactly once, through the
 *     flusher (or, for a NULL or closed log, a detached library thread) --
 *     never on the calling thread, also for errors found here.  In poll
 *     mode the flusher queues the completion for the poller instead of
 *     running it (mrlog__req_finish, lib/completion.c).
 *  2. Fast path (an append staged in the thread's open batch, stage.c):
 *     a pooled future, a copy into the batch and one uncontended CAS; no
 *     lock, no syscall, no allocation.  Opening a batch (once per batch)
 *     adds two atomic RMWs on `submitting`, one CAS on mem_reserved and
 *     one ring enqueue.  Other requests take that path one at a time,
 *     with one malloc.
 *  3. A producer increments `submitting` before it reads `closing` and
 *     decrements it after its enqueue; close sets `closing` before it waits
 *     for `submitting` to drain, so no request can follow the stop sentinel.
 *  4. Producers never block on a library thread, nor in nonblocking mode:
 *     there a full ring or memory limit is MRLOG_EFULL.  Elsewhere a call's
 *     waits together last at most policy.block_timeout_ms (lib/block.c),
 *     then it completes with MRLOG_EFULL.
 *
 * Append path (docs/DESIGN.md): caller -> submit.c -> stage.c ->
 * admit.c -> ring.c -> writer.c -> writer_frame.c (the file) ->
 * flusher.c -> req.c -> future.c (the callback).  This file is the first
 * step, on the caller's thread: it stages an append (stage.c) or lays out
 * a request (req.c) and admits it (admit.c); an error found here goes
 * straight to the flusher for completion.
 */
#include "internal.h"
#include "admit.h"
#include "consumer.h"
#include "flusher.h"
#include "future.h"
#include "memory.h"
#include "queue.h"
#include "req.h"
#include "stage.h"
#include "submit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


static void *
deliver(void *arg)
{
  mrlog__req_finish(NULL, arg);
  return NULL;
}

/* Completes a request whose status is settled, on a library thread. */
static void
settle(struct mrlog *log, struct mrlog__req *req, int status)
{
  req->status = status;
  if (log != NULL) {
    mrlog__flusher_early(log, req);
    return;
  }
  if (mrlog__spawn_detached("mrlog-errand", deliver, req) != 0) {
    /* No thread to be had: the rule yields to not losing the call. */
    deliver(req);
  }
}

/* Checks records; OUT: total payload bytes.  false if invalid. */
static bool
records_ok(const struct iovec *recs, size_t count, uint64_t *total)
{
  size_t i;

  *total = 0;
  if (recs == NULL || count == 0 || count > MRLOG_BATCH_COUNT_MAX)
    return false;
  for (i = 0; i < count; i++) {
    if (recs[i].iov_len > MRLOG_RECORD_MAX ||
        (recs[i].iov_base == NULL && recs[i].iov_len > 0))
      return false;
    *total += recs[i].iov_len;
  }
  return *total <= MRLOG_BATCH_BYTES_MAX;
}

/* Allocates a request with room for name and records.  NULL on ENOMEM. */
static struct mrlog__req *
req_new(int type, const char *name, size_t name_len, uint32_t name_hash,
        const struct iovec *recs, size_t count, uint64_t total,
        mrlog_future *future, mrlog_done_fn done, void *arg)
{
  struct mrlog__req *req = malloc(mrlog__req_size(name_len, count, total));

  if (req == NULL)
    return NULL;
  memset(req, 0, sizeof(*req));
  req->type = (uint8_t)type;
  req->future = future;
  req->done = done;
  req->arg = arg;
  mrlog__req_layout(req, name, name_len, name_hash, recs, count, total);
  return req;
}


int
mrlog__submit_internal(struct mrlog *log, int type, const char *name,
                       size_t name_len, uint64_t position, uint64_t queue_id,
                       mrlog_done_fn done, void *arg)
{
  uint32_t hash = name_len > 0 ? mrlog__name_hash(name, name_len) : 0;
  struct mrlog__req *req = req_new(type, name, name_len, hash, NULL, 0, 0,
                                   NULL, done, arg);
  int rc;

  if (req == NULL)
    return MRLOG_ENOMEM;
  req->has_position = true;
  req->position = position;
  req->by_retention = type == MRLOG_REQ_TRUNCATE;
  req->first = queue_id;
  rc = mrlog__admit(log, req, 0, 0, NULL);
  if (rc != 0)
    mrlog__req_free(log, req);
  return rc;
}

/* Settles an error found before anything was queued. */
static mrlog_future *
settle_new(struct mrlog *log, int type, mrlog_future *future,
           mrlog_done_fn done, void *arg, int status)
{
  struct mrlog__req *req = req_new(type, NULL, 0, 0, NULL, 0, 0, future, done,
                                   arg);

  if (req == NULL) {
    /* Not even a small request could be had.  The callback must still
     * run once; with no memory for a request or a thread, deliver it
     * here. */
    if (future != NULL || done != NULL)
      mrlog__complete(future, done, arg, MRLOG_ENOMEM, 0);
    return future;
  }
  settle(log, req, status);
  return future;
}

/*
 * The one submission path; returns the future's address (the public calls
 * turn it into a handle).  name may be NULL for SYNC.  recs/count only
 * for appends.  position: explicit position (appends) or truncation point.
 * Small appends are staged in the calling thread's batch (stage.c); every
 * other request first seals that batch, so it is ordered after it.
 */
static mrlog_future *
submit_request(struct mrlog *log, int type, const char *name,
               bool has_position, uint64_t position, const struct iovec *recs,
               size_t count, const char *consumer, mrlog_done_fn done,
               void *arg, bool with_future)
{
  mrlog_future *future = with_future ? mrlog__future_new() : NULL;
  struct mrlog__block blk = { .started = false };
  struct mrlog__req *req;
  size_t name_len = 0;
  uint64_t total = 0, charge = 0;
  uint32_t hash = 0;
  struct iovec cons;
  size_t cons_len = 0;
  int status = 0, rc;

  if (type != MRLOG_REQ_SYNC && !mrlog__name_ok(name, &name_len))
    status = MRLOG_EINVAL;
  /* A consumer's name rides in the block as the one record, with its NUL
   * (consumer.h). */
  if (type == MRLOG_REQ_COMMIT || type == MRLOG_REQ_UNCOMMIT) {
    if (!mrlog__name_ok(consumer, &cons_len))
      status = MRLOG_EINVAL;
    cons.iov_base = (void *)consumer;
    cons.iov_len = cons_len + 1;
    recs = &cons;
    count = 1;
    total = cons.iov_len;
  }
  if (status == 0 && type == MRLOG_REQ_APPEND &&
      !records_ok(recs, count, &total))
    status = MRLOG_EINVAL;
  if (log == NULL) {
    status = MRLOG_EINVAL;
  } else if (!mrlog__log_live(log)) {
    /* A closed log (log.c invariant 1): nothing of it is left to deliver
     * through, so the error goes the way of a NULL log's. */
    status = MRLOG_ECLOSED;
    log = NULL;
  } else if (log->policy.read_only) {
    status = MRLOG_EINVAL; /* readonly.c invariant 5 */
  }
  if (log != NULL && mrlog__poll_mode(&log->poll)) {
    /* A call without a future takes one all the same: it is the node
     * that carries the completion to the polling thread (completion.c
     * invariant 1); its caller forgets it at once. */
    if (!with_future)
      future = mrlog__future_new();
    if (future != NULL)
      future->poll_log = log; /* future.c invariant 8 */
  }
  if (status != 0)
    return settle_new(log, type, future, done, arg, status);
  if (name_len > 0)
    hash = mrlog__name_hash(name, name_len);
  if (type == MRLOG_REQ_APPEND &&
      mrlog__stage_fits(name_len, count, total) &&
      !atomic_load_explicit(&log->closing, memory_order_relaxed)) {
    struct mrlog__stage_args a = { &blk, future, done, arg, has_position,
                                   position };
    rc = mrlog__stage_append(log, name, name_len, hash, recs, count, total, &a,
                             &req);
    if (rc == 0)
      return future;
    if (req == NULL)
      return settle_new(log, type, future, done, arg, rc);
    settle(log, req, rc);
    return future;
  }
  mrlog__stage_seal_mine(log);
  req = req_new(type, name, name_len, hash, recs,
                type == MRLOG_REQ_APPEND || recs == &cons ? count : 0, total,
                future, done, arg);
  if (req == NULL)
    return settle_new(log, type, future, done, arg, MRLOG_ENOMEM);
  req->has_position = has_position;
  req->position = position;
  /* What the request holds while in flight, and what it will add
   * (memory.c); the block is charged at the heap's size. */
  if (type == MRLOG_REQ_APPEND)
    charge = mrlog__append_charge(mrlog__heap_size(req), count, total,
                                  mrlog__mem_charges_payload(log));
  else if (type == MRLOG_REQ_CREATE)
    charge = mrlog__heap_size(req) + mrlog__create_charge(name_len);
  rc = mrlog__admit(log, req, charge, charge, &blk);
  if (rc != 0)
    settle(log, req, rc); /* req_finish releases the reservation */
  return future;
}

/* submit_request, returning the future's handle. */
static mrlog_future *
submit(struct mrlog *log, int type, const char *name, bool has_position,
       uint64_t position, const struct iovec *recs, size_t count,
       mrlog_done_fn done, void *arg)
{
  return mrlog__future_handle(submit_request(log, type, name, has_position,
                                             position, recs, count, NULL,
                                             done, arg, true));
}

mrlog_future *
mrlog__submit_consumer(struct mrlog *log, int type, const char *queue,
                       const char *consumer, uint64_t position,
                       mrlog_done_fn done, void *arg)
{
  return mrlog__future_handle(submit_request(log, type, queue, true,
                                             position, NULL, 0, consumer,
                                             done, arg, true));
}

mrlog_future *
mrlog_create_queue(mrlog *log, const char *queue, mrlog_done_fn done,
                   void *arg)
{
  return submit(log, MRLOG_REQ_CREATE, queue, false, 0, NULL, 0, done, arg);
}

mrlog_future *
mrlog_delete_queue(mrlog *log, const char *queue, mrlog_done_fn done,
                   void *arg)
{
  return submit(log, MRLOG_REQ_DELETE, queue, false, 0, NULL, 0, done, arg);
}

mrlog_future *
mrlog_append(mrlog *log, const char *queue, const uint64_t *position,
             const void *data, size_t len, mrlog_done_fn done, void *arg)
{
  struct iovec iov = { (void *)data, len };

  return submit(log, MRLOG_REQ_APPEND, queue, position != NULL,
                position ? *position : 0, &iov, 1, done, arg);
}

mrlog_future *
mrlog_append_batch(mrlog *log, const char *queue,
                   const uint64_t *first_position, const struct iovec *records,
                   size_t count, mrlog_done_fn done, void *arg)
{
  return submit(log, MRLOG_REQ_APPEND, queue, first_position != NULL,
                first_position ? *first_position : 0, records, count, done,
                arg);
}

void
mrlog_append_cb(mrlog *log, const char *queue, const uint64_t *position,
                const void *data, size_t len, mrlog_done_fn done, void *arg)
{
  struct iovec iov = { (void *)data, len };

  mrlog_forget(mrlog__future_handle(submit_request(
      log, MRLOG_REQ_APPEND, queue, position != NULL, position ? *position : 0,
      &iov, 1, NULL, done, arg, false)));
}

void
mrlog_append_batch_cb(mrlog *log, const char *queue,
                      const uint64_t *first_position,
                      const struct iovec *records, size_t count,
                      mrlog_done_fn done, void *arg)
{
  mrlog_forget(mrlog__future_handle(submit_request(
      log, MRLOG_REQ_APPEND, queue, first_position != NULL,
      first_position ? *first_position : 0, records, count, NULL, done, arg,
      false)));
}

mrlog_future *
mrlog_truncate(mrlog *log, const char *queue, uint64_t position,
               mrlog_done_fn done, void *arg)
{
  return submit(log, MRLOG_REQ_TRUNCATE, queue, true, position, NULL, 0, done,
                arg);
}

mrlog_future *
mrlog_sync(mrlog *log, mrlog_done_fn done, void *arg)
{
  return submit(log, MRLOG_REQ_SYNC, NULL, false, 0, NULL, 0, done, arg);
}

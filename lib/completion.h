/*
 * completion.h -- completions on the caller's thread (policy.completion_mode
 * MRLOG_COMPLETE_ON_POLL): the queue the flusher fills and
 * mrlog_run_completions empties.  lib/completion.c states the invariants.
 */
#ifndef MRLOG_COMPLETION_H
#define MRLOG_COMPLETION_H

#include "base.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct mrlog;

/* A log's completion queue, part of struct mrlog (so, like the log, its
 * memory is never unmapped: log.c invariant 1). */
struct mrlog__poll {
  pthread_mutex_t mutex;         /* guards every field below but fd and
                                    poller */
  pthread_cond_t cond;           /* broadcast when an entry is queued, the
                                    run token is given back, or close
                                    begins (CLOCK_MONOTONIC) */
  int fd;                        /* eventfd, readable exactly while
                                    pending > 0; -1 unless poll mode.
                                    Immutable from open to close */
  mrlog_future *first;           /* queued completions, oldest first,
                                    linked through poll_next */
  mrlog_future *last;
  uint64_t pending;              /* entries in the list */
  bool running;                  /* the run token: a thread is running
                                    completions (one at a time, in order) */
  bool closing;                  /* mrlog_close has begun */
  unsigned sleepers;             /* pollers asleep in mrlog__poll_wait */
  _Atomic uintptr_t poller;      /* the polling thread (pthread_self), 0
                                    until a thread polls */
};

/* Sets up the mutex and condition (every open; fd -1). */
void mrlog__poll_init(struct mrlog *log);
/* In poll mode, creates the eventfd: 0 or a negative status.  Runs once
 * the policy is normalized, before any library thread starts. */
int mrlog__poll_open(struct mrlog *log);
/* Closes the eventfd and tears the rest down (destroy). */
void mrlog__poll_free(struct mrlog *log);

/* True when the log's completions are queued for the poller. */
static inline bool
mrlog__poll_mode(const struct mrlog__poll *p)
{
  return p->fd >= 0;
}

/* In poll mode, queues a completion instead of running it (the flusher,
 * or a callback run by mrlog_close's drain) and returns true; false in
 * the other mode (the caller completes it).  future may be NULL.  Call
 * with no lock held. */
bool mrlog__poll_push(struct mrlog *log, mrlog_future *future,
                      mrlog_done_fn done, void *arg, int status,
                      uint64_t position);

/* mrlog_close: poll_close_begin first (the closing thread becomes the
 * poller, no wait takes over), poll_drain once the flusher has stopped
 * (runs what is queued on the closing thread, until nothing is left, and
 * waits for pollers asleep in mrlog__poll_wait to leave). */
void mrlog__poll_close_begin(struct mrlog *log);
void mrlog__poll_drain(struct mrlog *log);

/* One step of mrlog_wait on a future of a poll-mode log that is not
 * ready.  ready(ctx) tells whether it is (read under the queue's lock).
 * On the poller, or on any thread while the log has none (it becomes the
 * poller): runs completions until ready or the queue is empty, or sleeps
 * until something is queued or the deadline (NULL: none) passes; returns
 * 0 (look again) or MRLOG_ETIMEDOUT.  On another thread returns
 * MRLOG__POLL_NOT_POLLER: the caller sleeps until the poller runs it. */
#define MRLOG__POLL_NOT_POLLER 1
int mrlog__poll_wait(struct mrlog *log, const struct timespec *deadline,
                     bool (*ready)(void *ctx), void *ctx);

#endif /* MRLOG_COMPLETION_H */

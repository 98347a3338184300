/*
 * future.h -- futures and completion callbacks (lib/future.c).  A future
 * is made by the calling thread, completed once by a library thread
 * (mrlog__complete runs the callback, then makes it ready) and given back
 * to its thread's pool; future.c states the rules (its invariants).  Also
 * the library-thread marks that decide whether a call may wait.
 */
#ifndef MRLOG_FUTURE_H
#define MRLOG_FUTURE_H

#include "base.h"

#include <stdatomic.h>

struct future_cache;
struct mrlog_future {
  _Alignas(64) atomic_uint state; /* MRLOG_FUTURE_* bits; see future.c (a
                                     line per future: future_slab) */
  int status;         /* valid once DONE is set (release/acquire) */
  uint64_t position;  /* valid once DONE is set */
  struct future_cache *owner; /* pool it returns to; immutable (NULL: a
                                 node of completion.c's queue, not a
                                 future) */
  union {
    mrlog_future *pool_next;  /* link while pooled */
    mrlog_future *poll_next;  /* link while queued for the poller
                                 (completion.c invariant 1) */
  };
  uint32_t index;             /* in the slab table; immutable */
  struct mrlog *poll_log;     /* the poll-mode log it was issued by, else
                                 NULL; set before its handle is returned */
  mrlog_done_fn done;         /* while queued for the poller: the */
  void *done_arg;             /* callback and its argument */
};

/* Inside the library a mrlog_future * is the future's address; callers
 * get and give back handles (future.c invariant 7). */
mrlog_future *mrlog__future_new(void);
/* The handle of f, a future just issued by mrlog__future_new (NULL:
 * NULL). */
mrlog_future *mrlog__future_handle(mrlog_future *f);
/* Runs the callback, then makes the future ready (or frees it if it was
 * forgotten).  future may be NULL.  Call with no lock held. */
void mrlog__complete(mrlog_future *future, mrlog_done_fn done, void *arg,
                     int status, uint64_t position);

/* Deferred wakes (future.c invariant 6).  wake_defer(true): completions
 * on this thread queue their waiters' wakes; wake_help(n) pops and wakes
 * up to n of them (UINT_MAX: until the queue is empty).  Any thread. */
void mrlog__wake_defer(bool on);
/* On a thread that defers: queues word's wake and returns true; false
 * (the caller wakes it now) on any other thread or when the queue is
 * full. */
bool mrlog__wake_defer_push(atomic_uint *word);
/* How many wakes a woken waiter passes on (future.c invariant 6). */
#define MRLOG__WAKE_FANOUT 2u
void mrlog__wake_help(unsigned n);

/* True on the writer, flusher and cleaner threads, on the detached
 * threads that deliver errors for a NULL log, and on a thread while it
 * runs a poll-mode callback (completion.c invariant 4). */
bool mrlog__on_library_thread(void);
void mrlog__mark_library_thread(const char *name);
/* Makes the calling thread count as the library thread `name` (NULL: as
 * an application thread) without renaming it; returns what it counted as
 * before, for the caller to restore. */
const char *mrlog__library_scope(const char *name);

#endif /* MRLOG_FUTURE_H */

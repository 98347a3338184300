/*
 * watch.c -- waiting for records: mrlog_watch completes once a queue's
 * visible next position (visibility.c) passes a position; mrlog_cancel
 * completes a pending watch with MRLOG_ECANCELED.
 *
 * A watch is a request block (struct mrlog__req first, so the usual
 * completion, mrlog__req_finish, frees it) that waits in two process-wide
 * tables: its queue's watch set, found by (log, queue id), and the table
 * of pending watches by handle, which mrlog_cancel searches.  One mutex,
 * watch_mutex, guards both tables and every struct mrlog__watches.
 *
 * Invariants:
 *  1. A watch is pending while it is in the tables.  Whoever removes it
 *     (the flusher's run, a cancel, close, or the watching call itself)
 *     does so under watch_mutex, once, and hands it to the flusher's early
 *     list with its status set: so it completes exactly once, through the
 *     flusher (a callback, then the future ready), whoever wins a race.
 *  2. A watch costs nothing until its queue changes.  The writer looks at
 *     q->watchers (one relaxed load) only for the queues a pass stores in,
 *     truncates or deletes; when it is not 0 it marks the queue's watch
 *     set dirty with the LSN its records wait for.  The flusher looks at
 *     the dirty sets only (mrlog__watch_run), after its syncs, once
 *     durable_lsn covers their LSN (at once under WRITTEN visibility).
 *  3. No watch is missed.  mrlog_watch holds state_lock for reading while
 *     it compares the queue's visible next position, registers, and marks
 *     the set dirty with the LSN the queue's records still wait for: the
 *     writer's next change to the queue (state_lock for writing) sees
 *     q->watchers.  A durable_lsn raised meanwhile is seen by one side:
 *     the watcher re-reads it after a seq_cst fence that follows its
 *     registration, and the flusher reads the dirty mark after a seq_cst
 *     fence that follows its store of durable_lsn (mrlog__watch_due).
 *  4. wq->q is the queue while it exists and has watches: the writer
 *     clears it under watch_mutex before it frees a deleted queue
 *     (mrlog__watch_gone, called when q->watchers is not 0), and a set
 *     whose last watch leaves is freed or, if dirty, loses its queue
 *     (set_release).  So q->watchers is only ever changed, and a queue
 *     only read, through a live queue.
 *  5. Close completes every pending watch with MRLOG_ECLOSED once no
 *     producer is inside mrlog_watch (the log's `submitting` count, as for
 *     every call); a log that failed completes them with its status.
 *  6. In poll mode a watch completes through the poller's queue like
 *     every request of its log (req.c), so its future carries the log
 *     (future.c invariant 8, as submit.c sets it): a wait on it from the
 *     poller runs that queue instead of sleeping for a completion only it
 *     could run.
 *
 * LOCK ORDER: state_lock -> watch_mutex -> flusher->mutex.  Watches are not
 * charged to memory_limit (an idle watch holds one block of about 250
 * bytes and its queue's set).
 */
#include "internal.h"
#include "completion.h"
#include "flusher.h"
#include "future.h"
#include "queue.h"
#include "req.h"
#include "twokey.h"
#include "visibility.h"
#include "watch.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* The watches of one queue. */
struct wq {
  struct mrlog__twokey_node node;        /* first; key (log, queue id) */
  struct mrlog__queue *q;   /* NULL once the queue is deleted (inv. 4) */
  struct watch *list;       /* pending watches */
  struct wq *prev, *next;   /* the log's sets */
  struct wq *dirty_next;    /* the log's dirty list */
  bool dirty;
  uint64_t due_lsn;         /* dirty: look again once durable reaches it */
};

struct watch {
  struct mrlog__req req;    /* first: req_free frees the block */
  struct mrlog__twokey_node node;        /* key (handle, 0) */
  struct mrlog *log;
  struct wq *wq;
  struct watch *prev, *next; /* in wq->list */
  uint64_t position;
};

struct mrlog__watches {
  struct wq *sets;          /* every set of the log */
  struct wq *dirty;         /* sets to look at */
  _Atomic uint64_t due_min; /* least due_lsn of the dirty sets, or
                               UINT64_MAX if none (no LSN is that
                               large: segment numbers stay < 2^32 - 1) */
  atomic_size_t pending;    /* pending watches */
  bool closed;              /* close has completed them all */
};

static pthread_mutex_t watch_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct mrlog__twokey sets_table;    /* struct wq, by (log, queue id) */
static struct mrlog__twokey handle_table;  /* struct watch, by handle */

#define CONTAINER(p, type, member)                                          \
  ((type *)(void *)((char *)(p) - offsetof(type, member)))

static struct mrlog__watches *
watches_of(struct mrlog *log)
{
  return __atomic_load_n(&log->watches, __ATOMIC_ACQUIRE);
}

/* Hands w to the completion path with its result (invariant 1).  log NULL:
 * a detached thread delivers it. */
static void *
deliver(void *arg)
{
  mrlog__req_finish(NULL, arg);
  return NULL;
}

static void
settle(struct mrlog *log, struct watch *w, int status, uint64_t position)
{
  w->req.status = status;
  w->req.position = position;
  if (log != NULL)
    mrlog__flusher_early(log, &w->req);
  else if (mrlog__spawn_detached("mrlog-errand", deliver, &w->req) != 0)
    deliver(&w->req); /* no thread to be had: the rule yields */
}

/* Marks set s dirty until durable_lsn reaches lsn.  watch_mutex held. */
static void
mark_dirty(struct mrlog__watches *ws, struct wq *s, uint64_t lsn)
{
  if (!s->dirty) {
    s->dirty = true;
    s->due_lsn = lsn;
    s->dirty_next = ws->dirty;
    ws->dirty = s;
  } else if (lsn < s->due_lsn) {
    s->due_lsn = lsn;
  }
  if (lsn < atomic_load_explicit(&ws->due_min, memory_order_relaxed))
    atomic_store_explicit(&ws->due_min, lsn, memory_order_relaxed);
}

/* Takes w out of the tables (invariant 1) and appends it to *out, the
 * watches to settle.  watch_mutex held. */
static void
take(struct mrlog__watches *ws, struct watch *w, int status, uint64_t pos,
     struct mrlog__req ***out)
{
  struct wq *s = w->wq;

  if (w->prev)
    w->prev->next = w->next;
  else
    s->list = w->next;
  if (w->next)
    w->next->prev = w->prev;
  mrlog__twokey_remove(&handle_table, &w->node);
  if (s->q != NULL)
    atomic_fetch_sub_explicit(&s->q->watchers, 1, memory_order_relaxed);
  atomic_fetch_sub_explicit(&ws->pending, 1, memory_order_relaxed);
  w->req.status = status;
  w->req.position = pos;
  w->req.next = NULL;
  **out = &w->req;
  *out = &w->req.next;
}

/* Frees set s, which holds no watch and is not on the dirty list.
 * watch_mutex held. */
static void
set_free(struct mrlog__watches *ws, struct wq *s)
{
  if (s->prev)
    s->prev->next = s->next;
  else
    ws->sets = s->next;
  if (s->next)
    s->next->prev = s->prev;
  mrlog__twokey_remove(&sets_table, &s->node);
  free(s);
}

/* After a watch left set s: an empty set goes, unless it is on the dirty
 * list, where it stays with no queue (the flusher frees it; a new watch
 * on the queue sets q again).  So a set never names a queue that nobody
 * watches (q->watchers 0), which the writer could free unseen (inv. 4).
 * watch_mutex held. */
static void
set_release(struct mrlog__watches *ws, struct wq *s)
{
  if (s->list != NULL)
    return;
  if (s->dirty)
    s->q = NULL;
  else
    set_free(ws, s);
}

/* Takes every watch of the log, with status.  watch_mutex held. */
static void
take_all(struct mrlog__watches *ws, int status, struct mrlog__req ***out)
{
  struct wq *s;

  while ((s = ws->sets) != NULL) {
    while (s->list != NULL)
      take(ws, s->list, status, 0, out);
    s->dirty = false;
    set_free(ws, s);
  }
  ws->dirty = NULL;
  atomic_store_explicit(&ws->due_min, UINT64_MAX, memory_order_relaxed);
}

/* Hands a list of taken watches to the flusher. */
static void
settle_list(struct mrlog *log, struct mrlog__req *r)
{
  struct mrlog__req *next;

  for (; r != NULL; r = next) {
    next = r->next;
    mrlog__flusher_early(log, r);
  }
}

void
mrlog__watch_dirty(struct mrlog *log, const struct mrlog__queue *q,
                   uint64_t lsn)
{
  struct mrlog__watches *ws = watches_of(log);
  struct mrlog__twokey_node *n;

  if (ws == NULL)
    return;
  pthread_mutex_lock(&watch_mutex);
  n = mrlog__twokey_find(&sets_table, (uint64_t)(uintptr_t)log, q->id);
  if (n != NULL)
    mark_dirty(ws, CONTAINER(n, struct wq, node), lsn);
  pthread_mutex_unlock(&watch_mutex);
}

void
mrlog__watch_gone(struct mrlog *log, const struct mrlog__queue *q)
{
  struct mrlog__watches *ws = watches_of(log);
  struct mrlog__twokey_node *n;

  if (ws == NULL)
    return;
  pthread_mutex_lock(&watch_mutex);
  n = mrlog__twokey_find(&sets_table, (uint64_t)(uintptr_t)log, q->id);
  if (n != NULL) {
    struct wq *s = CONTAINER(n, struct wq, node);
    s->q = NULL; /* invariant 4 */
    mark_dirty(ws, s, 0);
  }
  pthread_mutex_unlock(&watch_mutex);
}

/* What durable_lsn a dirty set waits for: under WRITTEN visibility it is
 * due at once. */
static uint64_t
threshold(struct mrlog *log)
{
  if (!mrlog__vis_waits_sync(log))
    return UINT64_MAX;
  return atomic_load_explicit(&log->durable_lsn, memory_order_acquire);
}

bool
mrlog__watch_due(struct mrlog *log)
{
  struct mrlog__watches *ws = watches_of(log);
  uint64_t due;

  if (ws == NULL)
    return false;
  /* Invariant 3: orders the caller's store of durable_lsn (or of the
   * failed state) before the loads below. */
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(&ws->pending, memory_order_relaxed) == 0)
    return false;
  due = atomic_load_explicit(&ws->due_min, memory_order_relaxed);
  return (due != UINT64_MAX && due <= threshold(log)) ||
         atomic_load_explicit(&log->failed, memory_order_acquire) != 0;
}

void
mrlog__watch_run(struct mrlog *log)
{
  struct mrlog__watches *ws = watches_of(log);
  struct mrlog__req *done = NULL, **out = &done;
  struct wq *s, *keep = NULL, *next;
  uint64_t limit, min = UINT64_MAX;
  int failed;

  if (!mrlog__watch_due(log))
    return;
  pthread_rwlock_rdlock(&log->state_lock);
  pthread_mutex_lock(&watch_mutex);
  failed = atomic_load_explicit(&log->failed, memory_order_acquire);
  limit = threshold(log);
  if (failed != 0) {
    take_all(ws, failed, &out);
  } else {
    for (s = ws->dirty; s != NULL; s = next) {
      struct watch *w, *wn;
      uint64_t vis, wait;

      next = s->dirty_next;
      if (s->due_lsn > limit) {
        s->dirty_next = keep;
        keep = s;
        min = s->due_lsn < min ? s->due_lsn : min;
        continue;
      }
      s->dirty = false;
      if (s->q == NULL) {
        while (s->list != NULL)
          take(ws, s->list, MRLOG_ENOQUEUE, 0, &out);
        set_free(ws, s);
        continue;
      }
      /* wait before vis: a durable_lsn raised between the two reads then
       * leaves wait at or below it, so the set is due again at once
       * instead of waiting for a later sync that may never come. */
      wait = mrlog__vis_wait_lsn(log, s->q);
      vis = mrlog__visible_next(log, s->q);
      for (w = s->list; w != NULL; w = wn) {
        wn = w->next;
        if (vis > w->position)
          take(ws, w, 0, vis, &out);
      }
      if (s->list == NULL) {
        set_free(ws, s);
        continue;
      }
      if (wait != 0) {
        s->dirty = true;
        s->due_lsn = wait;
        s->dirty_next = keep;
        keep = s;
        min = wait < min ? wait : min;
      }
    }
    ws->dirty = keep;
    atomic_store_explicit(&ws->due_min, min, memory_order_relaxed);
  }
  pthread_mutex_unlock(&watch_mutex);
  pthread_rwlock_unlock(&log->state_lock);
  settle_list(log, done);
}

void
mrlog__watch_close(struct mrlog *log)
{
  struct mrlog__watches *ws = watches_of(log);
  struct mrlog__req *done = NULL, **out = &done;

  if (ws == NULL)
    return;
  pthread_mutex_lock(&watch_mutex);
  ws->closed = true;
  take_all(ws, MRLOG_ECLOSED, &out);
  pthread_mutex_unlock(&watch_mutex);
  settle_list(log, done); /* the flusher still runs */
}

void
mrlog__watch_free(struct mrlog *log)
{
  free(log->watches);
  log->watches = NULL;
}

/* The log's watch state, made on first use.  watch_mutex held. */
static struct mrlog__watches *
watches_get(struct mrlog *log)
{
  struct mrlog__watches *ws = log->watches;

  if (ws == NULL && (ws = calloc(1, sizeof(*ws))) != NULL) {
    atomic_init(&ws->due_min, UINT64_MAX);
    __atomic_store_n(&log->watches, ws, __ATOMIC_RELEASE);
  }
  return ws;
}

/* Registers w on q; 0 or MRLOG_ENOMEM.  state_lock (read) and watch_mutex
 * held. */
static int
enlist(struct mrlog__watches *ws, struct watch *w, struct mrlog__queue *q)
{
  struct mrlog__twokey_node *n =
      mrlog__twokey_find(&sets_table, (uint64_t)(uintptr_t)w->log, q->id);
  struct wq *s;

  if (n != NULL) {
    s = CONTAINER(n, struct wq, node);
    s->q = q; /* NULL if its last watch left while it was dirty */
  } else {
    s = calloc(1, sizeof(*s));
    if (s == NULL)
      return MRLOG_ENOMEM;
    s->node.k1 = (uint64_t)(uintptr_t)w->log;
    s->node.k2 = q->id;
    s->q = q;
    if (mrlog__twokey_insert(&sets_table, &s->node) != 0) {
      free(s);
      return MRLOG_ENOMEM;
    }
    s->next = ws->sets;
    if (s->next)
      s->next->prev = s;
    ws->sets = s;
  }
  if (mrlog__twokey_insert(&handle_table, &w->node) != 0) {
    set_release(ws, s);
    return MRLOG_ENOMEM;
  }
  w->wq = s;
  w->prev = NULL;
  w->next = s->list;
  if (w->next)
    w->next->prev = w;
  s->list = w;
  atomic_fetch_add_explicit(&q->watchers, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&ws->pending, 1, memory_order_relaxed);
  return 0;
}

/* Registers w, or finds its result at once: true if it waits. */
static bool
watch_register(struct mrlog *log, struct watch *w, const char *queue,
               size_t len, int *status, uint64_t *pos)
{
  struct mrlog__watches *ws;
  struct mrlog__queue *q;
  uint64_t vis, wait;
  bool waiting = false;

  pthread_rwlock_rdlock(&log->state_lock);
  q = mrlog__index_by_name(&log->index, queue, len,
                           mrlog__name_hash(queue, len));
  if (q == NULL) {
    *status = MRLOG_ENOQUEUE;
  } else if ((vis = mrlog__visible_next(log, q)) > w->position) {
    *pos = vis;
  } else {
    pthread_mutex_lock(&watch_mutex);
    ws = watches_get(log);
    if (ws == NULL) {
      *status = MRLOG_ENOMEM;
    } else if (ws->closed) {
      *status = MRLOG_ECLOSED;
    } else if ((*status = atomic_load(&log->failed)) == 0 &&
               (*status = enlist(ws, w, q)) == 0) {
      waiting = true;
      wait = mrlog__vis_wait_lsn(log, q);
      if (wait != 0)
        mark_dirty(ws, w->wq, wait);
      /* Invariant 3: a durable_lsn (or failure) the flusher stored before
       * it looked for dirty sets is seen here. */
      atomic_thread_fence(memory_order_seq_cst);
      vis = mrlog__visible_next(log, q);
      *status = atomic_load(&log->failed);
      if (vis > w->position || *status != 0) {
        struct mrlog__req *unused, **out = &unused;

        take(ws, w, *status, *status ? 0 : vis, &out);
        *pos = w->req.position;
        set_release(ws, w->wq);
        waiting = false;
      }
    }
    pthread_mutex_unlock(&watch_mutex);
  }
  pthread_rwlock_unlock(&log->state_lock);
  return waiting;
}

mrlog_future *
mrlog_watch(mrlog *log, const char *queue, uint64_t position,
            mrlog_done_fn done, void *arg)
{
  mrlog_future *future = mrlog__future_new();
  mrlog_future *handle = mrlog__future_handle(future);
  struct watch *w = calloc(1, sizeof(*w));
  uint64_t pos = 0;
  size_t len = 0;
  int status = 0;

  if (w == NULL) {
    /* Not even a block for the watch: deliver here (as submit.c does). */
    if (future != NULL || done != NULL)
      mrlog__complete(future, done, arg, MRLOG_ENOMEM, 0);
    return handle;
  }
  w->req.future = future;
  w->req.done = done;
  w->req.arg = arg;
  w->node.k1 = (uint64_t)(uintptr_t)handle;
  w->position = position;
  if (log == NULL || !mrlog__name_ok(queue, &len)) {
    status = MRLOG_EINVAL;
    log = mrlog__log_live(log) ? log : NULL;
  } else if (!mrlog__log_live(log)) {
    status = MRLOG_ECLOSED;
    log = NULL;
  }
  if (log != NULL && future != NULL && mrlog__poll_mode(&log->poll))
    future->poll_log = log; /* invariant 6 */
  if (status != 0) {
    settle(log, w, status, 0);
    return handle;
  }
  w->log = log;
  /* As every producer (submit.c invariant 3): close waits for us. */
  atomic_fetch_add(&log->submitting, 1);
  if (atomic_load(&log->closing))
    status = MRLOG_ECLOSED;
  else if (handle == NULL)
    status = MRLOG_ENOMEM; /* no future: nothing could cancel it */
  else if (watch_register(log, w, queue, len, &status, &pos)) {
    atomic_fetch_sub(&log->submitting, 1);
    return handle;
  }
  settle(log, w, status, pos);
  atomic_fetch_sub(&log->submitting, 1);
  return handle;
}

int
mrlog_cancel(mrlog_future *future)
{
  struct mrlog__req *done = NULL, **out = &done;
  struct mrlog__twokey_node *n;
  struct watch *w;
  struct mrlog *log;

  if (future == NULL)
    return MRLOG_EINVAL;
  pthread_mutex_lock(&watch_mutex);
  n = mrlog__twokey_find(&handle_table, (uint64_t)(uintptr_t)future, 0);
  if (n == NULL) {
    pthread_mutex_unlock(&watch_mutex);
    return MRLOG_EINVAL;
  }
  w = CONTAINER(n, struct watch, node);
  log = w->log;
  take(log->watches, w, MRLOG_ECANCELED, 0, &out);
  set_release(log->watches, w->wq);
  /* Under watch_mutex: close cannot have stopped the flusher yet
   * (invariant 5), since it finds no watch it has not settled. */
  settle_list(log, done);
  pthread_mutex_unlock(&watch_mutex);
  return 0;
}

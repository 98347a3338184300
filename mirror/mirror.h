/*
 * mirror.h -- the mirror's private state, shared by mirror.c (the public
 * calls and the thread's loop), ship.c (reading the log, publishing,
 * handling confirms) and truncation.c (truncate markers).
 */
#ifndef MRLOG_MIRROR_PRIV_H
#define MRLOG_MIRROR_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "body.h"
#include "link.h"
#include "mrlog.h"
#include "mrlog_mirror.h"

/* A message published and not yet confirmed. */
struct mrlog__flight {
  struct mrlog__flight *next;      /* in its queue's FIFO, publish order */
  struct mrlog__flight *tag_next;  /* in the mirror's list, tag order */
  struct mrlog__flight *tag_prev;
  struct mrlog__mq *mq;            /* its queue */
  uint64_t tag;                    /* delivery tag */
  uint64_t last;                   /* last record's position; a truncate
                                      marker's position */
  uint32_t count;                  /* records; 0 for a marker */
  int marker;                      /* a delete marker (ship.c, 5) */
  int truncate;                    /* a truncate marker (truncation.c) */
  int acked;                       /* confirmed, waiting for the FIFO's
                                      earlier messages */
};

/* One log queue being shipped.  Owned by the mirror's thread; confirmed
 * and durable are also read under stats_lock by mrlog_mirror_queue.  It
 * follows one incarnation of the queue at a time, the one its cursor is
 * bound to (ship.c, invariant 5). */
struct mrlog__mq {
  char *name;                  /* the log queue's name */
  char *rq_name;               /* its RabbitMQ queue: prefix + name */
  uint64_t confirmed;          /* every record below is confirmed and
                                  committed (stats_lock to write) */
  uint64_t sent;               /* next position to publish from */
  uint64_t durable;            /* durable_position when last read
                                  (stats_lock to write) */
  uint64_t stop_target;        /* durable_position at mrlog_mirror_stop */
  uint64_t sent_end;           /* one past the last record of the last
                                  message published (header mrlog-from of
                                  the next one: ship.c, invariant 7) */
  uint64_t confirmed_end;      /* the same for the last confirmed one */
  mrlog_cursor *cursor;        /* reads from sent; bound to the queue's
                                  incarnation; NULL while the name has
                                  none (deleted, marker not yet
                                  confirmed) */
  int marker;                  /* a delete marker must be confirmed
                                  before any record of this incarnation
                                  counts as confirmed */
  int marker_sent;             /* that marker is in flight */
  /* Truncate markers of this incarnation (truncation.c): */
  uint64_t trunc_target;       /* where replicas' copy starts, durable */
  uint64_t trunc_pending;      /* the target read before the sync in
                                  flight (or the last one) */
  uint64_t trunc_sent;         /* the last marker published (0: none) */
  uint64_t trunc_confirmed;    /* the last marker confirmed (0: none) */
  mrlog_future *watch;         /* pending watch, or NULL */
  int declared;                /* declared on the current connection */
  int cataloged;               /* named in the catalog queue by this
                                  mirror */
  int wait_durable;            /* visible beyond durable: poll, no watch */
  int seen;                    /* found by the last queue list */
  uint64_t hold_until_ms;      /* after a nack or a return: publish
                                  nothing before (ship.c, invariant 4) */
  unsigned hold_ms;            /* the last hold; 0 once a confirm came */
  struct mrlog__flight *head;  /* in-flight messages, oldest first */
  struct mrlog__flight *tail;
};

struct mrlog_mirror {
  mrlog *log;                          /* borrowed; open until stop */
  /* Configuration, copied at start. */
  struct mrlog__uri *uris;
  size_t nuris;
  char *glob, *exchange, *prefix, *consumer;
  char *catalog;                       /* exchange + "-catalog" */
  unsigned records_per_message, messages_in_flight;
  size_t message_bytes;
  unsigned backoff_min_ms, backoff_max_ms, refresh_ms, heartbeat_s;
  mrlog_log_fn log_fn;
  void *log_arg;

  pthread_t thread;
  int wake_fd;                         /* eventfd: watches and stop */
  atomic_int stopping;                 /* set by mrlog_mirror_stop */
  uint64_t stop_deadline_ms;           /* written before stopping */
  int drained;                         /* thread's verdict at exit */
  int is_replica;                      /* set by mrlog_replica_start */
  int truncate_on_commit;              /* the log's policy, at start */
  int read_only;                       /* the log's policy, at start */
  int poll_mode;                       /* the log's policy, at start */
  mrlog_future *trunc_sync;            /* truncation.c's sync in flight */
  mrlog_future **retired;              /* cancelled watches, not yet
                                          ready (ship.c, retire_watch) */
  size_t nretired;
  atomic_int trunc_sync_done;          /* its callback ran */
  atomic_int trunc_sync_status;        /* with this status */

  /* The thread's own state. */
  struct mrlog__link link;
  size_t cur_uri;                      /* the broker tried next */
  struct mrlog__mq **mqs;              /* stats_lock to resize */
  size_t nmqs;
  struct mrlog__flight *tags_head;     /* in flight, by tag */
  struct mrlog__flight *tags_tail;
  unsigned inflight;
  struct mrlog__body body;             /* reused message buffer */

  pthread_mutex_t stats_lock;          /* guards stats, mqs' array and
                                          their confirmed/durable */
  struct mrlog_mirror_stats stats;
};

uint64_t mrlog__mirror_now_ms(void);
void mrlog__mirror_say(struct mrlog_mirror *m, int level, const char *fmt,
                       ...) __attribute__((format(printf, 3, 4)));

/* mirror.c, for replica.c too */
int mrlog__mirror_create(mrlog *log, const struct mrlog_mirror_config *config,
                         void *(*thread_fn)(void *), mrlog_mirror **out);
int mrlog__mirror_connect(struct mrlog_mirror *m);
void mrlog__mirror_link_lost(struct mrlog_mirror *m);
void mrlog__mirror_error(struct mrlog_mirror *m, int code, const char *text);

/* ship.c */
int mrlog__mirror_refresh(struct mrlog_mirror *m);
int mrlog__mirror_ship(struct mrlog_mirror *m, struct mrlog__mq *mq);
int mrlog__mirror_event(struct mrlog_mirror *m,
                        const struct mrlog__link_event *ev);
void mrlog__mirror_rewind(struct mrlog_mirror *m, struct mrlog__mq *mq);
int mrlog__mirror_arm(struct mrlog_mirror *m, struct mrlog__mq *mq);
void mrlog__mirror_mq_free(struct mrlog__mq *mq);
/* Takes the cancelled watches that are ready (each pass of the loop). */
void mrlog__mirror_reap(struct mrlog_mirror *m);

/* truncation.c */
/* Reads every queue's truncation target and, when one rose, starts a
 * sync that will make it durable (truncation.c, invariants 1 and 2). */
void mrlog__mirror_trunc_refresh(struct mrlog_mirror *m);
/* Takes the targets of a sync that has completed; cheap when none has. */
void mrlog__mirror_trunc_poll(struct mrlog_mirror *m);
/* Waits for the sync in flight, if any (mirror_free, on the thread that
 * stops the mirror). */
void mrlog__mirror_trunc_end(struct mrlog_mirror *m);
/* True when mq's truncate marker (at trunc_target) is to be published
 * next (ship.c publishes it). */
int mrlog__mirror_trunc_due(const struct mrlog__mq *mq);

#endif

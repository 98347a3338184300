/*
 * internal.h -- struct mrlog, the log every module works on (lib/log.c
 * opens and closes it), with the calls that act on the log as a whole:
 * its liveness check, the clock (lib/clock.c), failure and logging, timed
 * waits and detached threads.  Each module's own structs and calls are in
 * its header (lib/<module>.h, workers/<worker>.h); docs/DESIGN.md maps
 * them.  This header says who owns and who guards each field of the log.
 *
 * Threads:
 *   producers  any application thread, or a callback on a library thread;
 *              they only build requests and push them into the ring.
 *   writer     sole consumer of the ring; sole mutator of the queue state
 *              and of the hot segment file.
 *   flusher    fdatasyncs and completes requests (runs the callbacks, or
 *              in poll mode queues them for the poller: completion.c).
 *   poller     poll mode: the application thread that runs the queued
 *              callbacks (mrlog_run_completions).
 *   cleaner    deletes segment files whose records are all truncated.
 *
 * LOCK ORDER (never take a lock to the left while holding one to the
 * right):  state_lock -> seg_mutex -> flusher->mutex -> wake_mutex, and
 * mem_mutex, dir_sync_mutex, cleaner->mutex, producers_mutex, poll.mutex
 * (completion.c), log.c's pool of closed logs and the staging and
 * future-pool registries' mutexes are leaves (stage.c takes producers_mutex only with no other
 * lock held).  The only nestings are state_lock -> mem_mutex (a
 * truncation releasing memory wakes blocked producers) and cursor.c's
 * registry_mutex -> mem_mutex (a cursor's chunk released at close).  No
 * lock is held while a user callback or visitor runs.
 */
#ifndef MRLOG_INTERNAL_H
#define MRLOG_INTERNAL_H

#include "base.h"
#include "io.h"
#include "metrics.h"
#include "queue.h"
#include "completion.h"

#include <ck_ring.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* ---- the log (lib/log.c) --------------------------------------------- */

struct mrlog__writer;
struct mrlog__flusher;
struct mrlog__cleaner;

struct mrlog {
  /* Immutable after open. */
  mrlog_policy policy;           /* copy of the caller's, normalized */
  char *dir;                     /* directory path */
  int dir_fd;                    /* O_DIRECTORY fd, for *at() and fsync */
  const struct mrlog__io *io;    /* the file layer (io.h); borrowed, or
                                    &ro_io */
  struct mrlog__io ro_io;        /* policy.read_only: the caller's layer
                                    without map (readonly.c invariant 3) */
  int lock_fd;                   /* LOCK file holding the flock */

  /* The request ring: many producers, one consumer (the writer). */
  ck_ring_t ring;                /* ck keeps head and tail on own lines */
  ck_ring_buffer_t *ring_buf;    /* ring_slots entries */
  atomic_uint *ring_seq;         /* ring_slots: position + 1 of the last
                                    request published in each slot
                                    (ring.c invariant 5) */
  unsigned ring_slots;           /* power of two */

  /* Writer wake-up and ring-space waits (slow paths only). */
  alignas(MRLOG_CACHELINE) atomic_int writer_sleeping; /* writer is (about
                                    to be) waiting on wake_cond */
  atomic_uint ring_waiters;      /* producers waiting for ring space */
  pthread_mutex_t wake_mutex;    /* guards the two waits below */
  pthread_cond_t wake_cond;      /* writer waits for requests */
  pthread_cond_t space_cond;     /* producers wait for ring space */

  /* Bumped (relaxed) by the writer, under state_lock held for writing,
   * each time a queue loses records (truncation, retention, deletion:
   * queue.c mrlog__queue_drop_upto).  A cursor compares it with the value
   * it read under the lock to return its batch without the lock
   * (cursor.c invariant 2).  Alone on its line: readers load it per
   * record, and the line after it changes per append. */
  alignas(MRLOG_CACHELINE) _Atomic uint64_t drop_epoch;

  /* Admission. */
  alignas(MRLOG_CACHELINE) atomic_int closing; /* close has begun */
  atomic_uint magic;             /* MRLOG__LOG_MAGIC from a successful open
                                    until close frees the log's parts
                                    (log.c invariant 1) */
  atomic_long submitting;        /* producers between check and enqueue */
  _Atomic uint64_t mem_reserved; /* bytes charged against memory_limit:
                                    reservations of requests in flight
                                    plus mem_held (lib/memory.c) */
  _Atomic uint64_t mem_held;     /* the part of it charged for what the
                                    library holds (memory.c) */
  atomic_uint mem_waiters;       /* producers waiting for memory */
  pthread_mutex_t mem_mutex;     /* guards the memory wait */
  pthread_cond_t mem_cond;       /* signalled when memory is released */

  /* Queue state: see struct mrlog__queue for the field rules. */
  pthread_rwlock_t state_lock;   /* writer-preferring */
  struct mrlog__index index;     /* [state] */
  uint64_t next_queue_id;        /* [state] */

  /* Segments. */
  pthread_mutex_t seg_mutex;     /* guards the list links */
  struct mrlog__segment *segs;   /* oldest first */
  struct mrlog__segment *hot;    /* newest; writer's (seg_mutex to change) */
  uint64_t next_segno;           /* writer */
  /* Serializes fsyncs of dir_fd (segment.c mrlog__fsync_dir): one in
   * flight on the description, and a failed one fails the log before
   * the next may start (DURABILITY.md, sync errors).  A leaf. */
  pthread_mutex_t dir_sync_mutex;

  /* Staging (lib/stage.c). */
  uint64_t id;                   /* unique for the process's lifetime */
  struct mrlog *registry_next;   /* stage.c's registry_mutex */
  bool close_claimed;            /* a close has begun; registry_mutex */
  struct mrlog *pool_next;       /* link in log.c's pool of closed logs */
  pthread_mutex_t producers_mutex; /* guards the list links */
  struct mrlog__producer *producers;

  /* Recovery in progress (lib/recovery.c); the opener's thread only. */
  bool recovering;
  /* The prefault helper (lib/prefault.c invariant 1): the opener's thread
   * during recovery, then the writer's (under state_lock) until close. */
  struct mrlog__prefault *prefault;
  bool prefault_off;            /* a live helper could not be started */
  /* The mapping of the segment being replayed, or NULL when it was read
   * into a buffer: APPENDs then store mapped chunks (filemap.c). */
  struct mrlog__filemap *replay_map;
  struct mrlog__readahead *readahead; /* lib/readahead.c */

  /* Recovery skipped damaged frames (MRLOG_RECOVER_SKIP_CORRUPT). */
  bool recovery_skipped;
  /* What it dropped (mrlog_stats.skipped_*): written by the opener during
   * recovery, before any library thread starts; read-only afterwards.
   * skip_watch is set from a dropped range to the end of replay: APPENDs
   * and CHECKPOINTs then report the positions that are missing
   * (mrlog__note_gap in recovery.c). */
  uint64_t skipped_bytes;
  uint64_t skipped_ranges;
  uint64_t skipped_records;
  bool skip_watch;

  /* A segment emptied and may become deletable once durable: set by the
   * writer, cleared by the cleaner's pass (which sets it again if a
   * candidate still waits for durability); the flusher wakes the cleaner
   * after a sync only when it is set. */
  atomic_int cleaner_due;

  /* Time (lib/clock.c).  apply_ms is the frame time that stores take
   * (writer, or the opener during recovery); last_ms is the newest frame
   * time given out or recovered, so times never go backwards even if the
   * clock does; apply_version is the format version of the segment being
   * replayed (the TIME op is valid from version 2). */
  uint64_t apply_ms;             /* [state] */
  uint64_t last_ms;              /* writer (the opener before it starts) */
  uint32_t apply_version;        /* recovery; MRLOG_FORMAT_VERSION after */

  /* Failure: 0 or the status that failed the log; set once. */
  atomic_int failed;

  /* Durability: every byte below durable_lsn is on stable storage. */
  _Atomic uint64_t durable_lsn;

  /* Pending watches on this log's queues (lib/watch.c); NULL until the
   * first watch.  Guarded by watch.c's mutex. */
  struct mrlog__watches *watches;

  struct mrlog__writer *writer;
  struct mrlog__flusher *flusher;
  struct mrlog__cleaner *cleaner;

  /* Statistics (relaxed atomics). */
  _Atomic uint64_t stat_memory;    /* bytes the library holds for
                                      retained records (memory.c) */
  _Atomic uint64_t stat_records;   /* retained records */
  _Atomic uint64_t stat_appends;
  _Atomic uint64_t stat_fsyncs;
  _Atomic uint64_t stat_discarded;
  _Atomic uint64_t stat_segments_deleted;
  _Atomic uint64_t stat_retention_truncations;
  _Atomic uint64_t stat_retention_records;
  _Atomic uint64_t stat_age_rotations;
  atomic_int block_warned;         /* a long block was reported in the
                                      current episode (block.c) */
  atomic_bool rotate_pending;      /* a ROTATE request is in flight */

  /* Quotas (workers/quota.c).  quota_released counts the times a queue's
   * charge fell (lib/queue_charge.h): the writer re-decides the appends a
   * quota holds back when it has moved.  quota_poke: the cleaner deleted a
   * segment file under disk_limit; the writer does not sleep while it is
   * set (ring.c mrlog__ring_wait) and clears it as it re-decides. */
  uint64_t quota_released;         /* [state] */
  atomic_bool quota_poke;

  /* Completions queued for the poller (lib/completion.c; fd -1 unless
   * policy.completion_mode is MRLOG_COMPLETE_ON_POLL). */
  struct mrlog__poll poll;
  /* Histograms since open (lib/metrics.c): relaxed atomics, any thread. */
  struct mrlog__metrics metrics;
};

/* A struct mrlog is never returned to malloc (log.c invariant 1), so a
 * handle of a closed log may be read: magic tells an open log from a
 * closed one.  One relaxed load, for every public call's first check. */
#define MRLOG__LOG_MAGIC 0x6d726c67u
static inline bool
mrlog__log_live(const struct mrlog *log)
{
  return log != NULL && atomic_load_explicit(&((struct mrlog *)log)->magic,
                                             memory_order_relaxed) ==
                            MRLOG__LOG_MAGIC;
}

/* The clock (lib/clock.c).  now_ms: policy.now_ms or CLOCK_REALTIME, in
 * unix ms; any thread.  frame_ms: now_ms clamped to never go below
 * log->last_ms, which it raises; the writer only (the opener before the
 * writer starts). */
uint64_t mrlog__now_ms(const struct mrlog *log);
uint64_t mrlog__frame_ms(struct mrlog *log);

/* Sets the failed state (first status wins) and logs it. */
void mrlog__fail(struct mrlog *log, int status, const char *what, int err);
/* mrlog__fail in two steps, for a caller that must fail the log while it
 * holds a lock (a failed sync: flusher.c invariant 1): fail_mark sets the
 * failed state and returns true if this call set it (any lock may be
 * held); the caller that got true then calls fail_report with no lock
 * held (it logs through the application's callback). */
bool mrlog__fail_mark(struct mrlog *log, int status);
void mrlog__fail_report(struct mrlog *log, int status, const char *what,
                        int err);
void mrlog__logf(struct mrlog *log, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* mrlog_open over another file layer (tests: fault injection, crash
 * simulation).  io must outlive the log. */
int mrlog__open_with_io(const char *dir, const mrlog_policy *policy,
                        const struct mrlog__io *io, mrlog **out);

/* *ts = now (CLOCK_MONOTONIC) + ms: the deadline for a timed wait on a
 * condition variable created with CLOCK_MONOTONIC. */
void mrlog__deadline_ms(struct timespec *ts, unsigned ms);

/* Starts a detached library thread (named) running fn(arg). */
int mrlog__spawn_detached(const char *name, void *(*fn)(void *), void *arg);

#endif /* MRLOG_INTERNAL_H */

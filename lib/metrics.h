/*
 * metrics.h -- recording the log-wide histograms and the per-queue
 * counters (lib/metrics.c); the text writer is lib/metrics_text.c.
 *
 * Recording costs no lock and no system call: a stamp (rdtsc, or the
 * vDSO's CLOCK_MONOTONIC; metrics.c invariant 6) and relaxed atomic adds
 * on bucket counters.  The
 * hooks are one-line calls from the places that see each event:
 *   append latency   lib/req.c (the stamp in mrlog__req_layout, the
 *                    sample in mrlog__req_finish)
 *   fdatasync        workers/flusher.c mrlog__datasync
 *   group commit     workers/flusher.c, after a policy sync succeeded
 *   ring wait        lib/ring.c, the slow path of a full ring
 *   queue counters   workers/writer_frame.c apply_ops (writer, under
 *                    state_lock for writing)
 */
#ifndef MRLOG_METRICS_H
#define MRLOG_METRICS_H

#include "base.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct mrlog;
struct mrlog__queue;
struct mrlog__req;

/* Buckets: a value below 16 has its own; from 16 on, each power of two
 * [2^e, 2^(e+1)) is cut into 16 equal buckets, so a bucket's width is at
 * most 1/16 of its lower bound (the documented error, mrlog.h). */
#define MRLOG__HIST_SUB_BITS 4
#define MRLOG__HIST_SUB (1u << MRLOG__HIST_SUB_BITS)
#define MRLOG__HIST_BUCKETS ((64 - MRLOG__HIST_SUB_BITS + 1) * MRLOG__HIST_SUB)
_Static_assert(MRLOG__HIST_BUCKETS == 976, "bucket count");

/* One histogram.  Any thread adds to it with relaxed atomics; a reader
 * sums the buckets it loads (the count is that sum), so a snapshot taken
 * while samples arrive may miss the newest ones but is always ordered. */
struct mrlog__hist {
  _Atomic uint64_t buckets[MRLOG__HIST_BUCKETS];
  _Atomic uint64_t sum;          /* total of the samples */
  _Atomic uint64_t max;          /* largest sample */
};

/* The log's histograms (a field of struct mrlog, zeroed at open). */
struct mrlog__metrics {
  struct mrlog__hist latency;    /* stamp units (mrlog__metrics_now),
                                    append call to acknowledgement */
  struct mrlog__hist fsync;      /* stamp units per fdatasync */
  struct mrlog__hist group;      /* records per group commit */
  struct mrlog__hist ring_wait;  /* stamp units a producer waited for
                                    ring room */
};

/* Per-queue counters since open (or the queue's creation), recovery not
 * counted: fields of struct mrlog__queue, [state] (queue.h).  Embedded as
 * `struct mrlog__queue_counts counts;`. */
struct mrlog__queue_counts {
  uint64_t appended_records;
  uint64_t appended_bytes;
  uint64_t truncated_records;
  uint64_t truncated_bytes;
};

/* True when MRLOG_METRICS_OFF=1 was set when the library was loaded. */
extern bool mrlog__metrics_off;

/* A stamp: TSC ticks (with an invariant TSC) or CLOCK_MONOTONIC
 * nanoseconds (metrics.c invariant 6), never 0; 0 when the recording is
 * off (every mrlog__metrics_* call below then records nothing). */
uint64_t mrlog__metrics_now(void);

void mrlog__hist_record(struct mrlog__hist *h, uint64_t value);
/* Bucket of value, and the largest value of bucket i. */
unsigned mrlog__hist_bucket(uint64_t value);
uint64_t mrlog__hist_upper(unsigned i);

/* req.c: an append request is about to complete. */
void mrlog__metrics_append_done(struct mrlog *log,
                                const struct mrlog__req *req);
/* flusher.c: the requests of list (linked by next) are about to complete,
 * in order: takes every append's sample now, before any callback runs,
 * with one clock read, and marks them taken (mrlog__metrics_append_done
 * then records nothing for them). */
void mrlog__metrics_append_list(struct mrlog *log, struct mrlog__req *list);
/* An fdatasync that began at start (mrlog__metrics_now) has returned. */
void mrlog__metrics_fsync(struct mrlog *log, uint64_t start);
/* A group commit made durable the records the writer had counted on the
 * hot segment (`written`) beyond those of the previous one (`mark`). */
void mrlog__metrics_group(struct mrlog *log, uint64_t written, uint64_t mark);
/* A producer's wait for ring room that began at start has ended. */
void mrlog__metrics_ring_wait(struct mrlog *log, uint64_t start);
/* Writer, state_lock held for writing: records stored into q, records
 * dropped from q by a truncation, with their payload bytes. */
void mrlog__metrics_stored(struct mrlog__queue *q, uint64_t records,
                           uint64_t bytes);
void mrlog__metrics_truncated(struct mrlog__queue *q, uint64_t records,
                              uint64_t bytes);

#endif /* MRLOG_METRICS_H */

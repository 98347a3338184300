/*
 * queue.h -- the in-memory queues: chunks of retained records (lib/queue.c),
 * the index by name and by id (lib/queue_index.c) and time marks
 * (lib/queue_time.c).
 *
 * Threads: the writer (or the opener during recovery) is the only
 * mutator, with state_lock held for writing; readers hold the read lock,
 * or a chunk reference for records they counted under it.  The field
 * rules are on each struct.
 */
#ifndef MRLOG_QUEUE_H
#define MRLOG_QUEUE_H

#include "base.h"
#include "format.h"
#include "metrics.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct mrlog;
struct mrlog__req;
struct mrlog__segment;
struct mrlog__filemap;

/*
 * A chunk holds consecutive records of one queue, in one of two kinds:
 *  - own (map == NULL): record i has position base + pos[i] and bytes
 *    data[ends[i-1] .. ends[i]) (ends[-1] = 0) of the chunk's memory;
 *  - mapped (map != NULL; filemap.c): data is the mapping of a segment
 *    file, and record i is the (length varint, bytes) pair of an APPEND
 *    op (FORMAT.md 7.6) at data + at[i]; ends is NULL.  Made by recovery,
 *    and by the writer under MRLOG_STORE_MAPPED; its records were checked
 *    (replay) or written (writer) before they were stored.  bytes is
 *    their payload total and dropped_bytes that of the records before the queue's
 *    head_index, so a drop needs no walk over whole chunks.
 * Records are only appended (by the writer, under state_lock held for
 * writing, or by recovery) and are never changed
 * afterwards, so a reader that snapshotted count under the read lock may
 * read records < count after releasing it, as long as it holds a
 * reference.
 */
struct mrlog__chunk {
  struct mrlog__chunk *next; /* newer chunk; guarded by state_lock */
  atomic_uint refs;          /* the queue's list holds 1, each reader 1 */
  uint32_t count;            /* records stored; guarded by state_lock */
  uint32_t cap_records;      /* capacity of ends (or at) and pos */
  uint32_t used_bytes;       /* bytes of data used; state_lock */
  uint32_t cap_bytes;        /* capacity of data (0 when mapped) */
  uint64_t base;             /* position of the chunk's first record */
  size_t alloc_bytes;        /* bytes asked for (>= CHUNK_MAP_BYTES:
                                  mapped, else malloc'd; queue.c) */
  size_t charged;            /* what the allocation costs: stat_memory
                                and memory_limit (memory.c) */
  uint32_t *ends;            /* own: end offset in data of each record */
  uint32_t *at;              /* mapped: offset of each record's varint */
  uint32_t *pos;             /* position - base of each record */
  uint8_t *data;             /* payload bytes (never written if mapped) */
  struct mrlog__filemap *map; /* mapped: the mapping data points into */
  uint64_t bytes;            /* mapped: payload bytes of all records */
  uint64_t dropped_bytes;    /* mapped: those before head_index; writer */
};
/* A queue (or consumer) name of 1..MRLOG_QUEUE_NAME_MAX bytes; OUT: its
 * length.  Any thread. */
static inline bool
mrlog__name_ok(const char *name, size_t *len)
{
  if (name == NULL)
    return false;
  *len = strnlen(name, MRLOG_QUEUE_NAME_MAX + 1);
  return *len >= 1 && *len <= MRLOG_QUEUE_NAME_MAX;
}

/* Index of the first record in [lo, hi) of c at position >= p: a binary
 * search, positions increasing within a chunk. */
static inline uint32_t
mrlog__chunk_lower_bound(const struct mrlog__chunk *c, uint32_t lo,
                         uint32_t hi, uint64_t p)
{
  uint64_t rel;

  if (p <= c->base)
    return lo;
  rel = p - c->base;
  if (rel > UINT32_MAX)
    return hi;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (c->pos[mid] < rel)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* Record i of chunk c (i < count): OUT *len, returns its bytes. */
static inline const uint8_t *
mrlog__chunk_record(const struct mrlog__chunk *c, uint32_t i, size_t *len)
{
  const uint8_t *p;
  uint64_t n;

  if (c->map == NULL) {
    uint32_t start = i ? c->ends[i - 1] : 0;
    *len = c->ends[i] - start;
    return c->data + start;
  }
  p = c->data + c->at[i];
  /* Checked when stored (replay or writer): the varint and its bytes lie
   * inside the written file. */
  (void)mrlog__get_varint_fast(&p, p + MRLOG_VARINT_MAX, &n);
  *len = (size_t)n;
  return p;
}

/* Records of one queue stored in one segment, oldest first. */
struct mrlog__run {
  struct mrlog__segment *seg; /* segment holding them */
  uint64_t count;             /* retained records of the queue in seg */
};

/*
 * A queue.  Fields marked [state] change only on the writer thread with
 * state_lock held for writing and may be read under the read lock (or by
 * the writer without it).  Fields marked [writer] are the writer's alone.
 */
struct mrlog__queue {
  char *name;                  /* NUL-terminated copy; immutable */
  uint32_t name_len;           /* immutable */
  uint32_t name_hash;          /* immutable */
  uint64_t id;                 /* immutable; never reused in a log */
  uint64_t floor;              /* [state] positions < floor are truncated */
  uint64_t next;               /* [state] next position (applied) */
  uint64_t records;            /* [state] retained records */
  uint64_t bytes;              /* [state] retained payload bytes */
  struct mrlog__chunk *head;   /* [state] oldest chunk */
  struct mrlog__chunk *tail;   /* [state] newest chunk */
  uint32_t head_index;         /* [state] first live record in head */
  struct mrlog__run *runs;     /* [state] ring of runs, oldest first */
  uint32_t runs_first;         /* [state] index of the oldest run */
  uint32_t runs_len;           /* [state] runs in use */
  uint32_t runs_cap;           /* [state] power of two, or 0 (no ring)
                                  when runs_len is 0 (queue_runs.c runs_fit) */
  struct mrlog__queue *by_name_next; /* [state] hash chain */
  struct mrlog__queue *by_id_next;   /* [state] hash chain */
  uint64_t w_next;             /* [writer] next, counting encoded requests */
  uint64_t w_floor;            /* [writer] floor, counting encoded ones */
  struct mrlog__req *pass_first; /* [writer] appends of the current pass */
  struct mrlog__req *pass_last;  /* [writer] */
  struct mrlog__queue *pass_next; /* [writer] list of touched queues */
  bool in_pass;                /* [writer] on the touched list */
  uint32_t w_parked;           /* [writer] its appends a quota holds back
                                  (workers/quota.c) */
  uint64_t w_quota_pending;    /* [writer] estimated charge of its appends
                                  decided in the pass and not yet applied
                                  (workers/quota.c; zeroed as the pass is
                                  emitted) */
  uint64_t memory_bytes;       /* [state] what its retained records are
                                  charged: chunks, runs, time marks and
                                  the payload of mapped records
                                  (lib/queue_charge.h) */
  struct mrlog__time_mark *marks; /* [state] ring of time marks, oldest
                                     first (queue.c invariant 5) */
  uint32_t marks_first;        /* [state] index of the oldest mark */
  uint32_t marks_len;          /* [state] marks in use */
  uint32_t marks_cap;          /* [state] power of two, or 0 (no ring)
                                  while the queue holds no record */
  /* Passes whose records are applied but not yet durable, oldest first:
   * the first position each stored and the LSN ending its frame
   * (visibility.c).  vis_len <= 4. */
  struct {
    uint64_t pos;
    uint64_t lsn;
  } vis[4];                    /* [state] */
  uint8_t vis_first;           /* [state] index of the oldest */
  uint8_t vis_len;             /* [state] passes held */
  atomic_uint watchers;        /* pending watches on this queue (watch.c);
                                  changed under watch.c's mutex, read by
                                  the writer without it */
  /* Recovery only (the opener's thread): bytes SKIP_CORRUPT dropped since
   * the last APPEND to this queue or the checkpoint that last listed it,
   * so how many of its newest positions may have been lost unseen
   * (recovery.c invariant 13). */
  uint64_t lost_bound;
  /* Named consumers and their committed positions (lib/consumer.c): an
   * array of n_consumers entries in no set order, [state]. */
  struct mrlog__consumer *consumers;
  uint32_t n_consumers;        /* [state] */
  uint32_t cap_consumers;      /* [state] entries allocated */
  struct mrlog__queue_counts counts; /* [state] metrics (metrics.h) */
};

/* Records from position `pos` on (up to the next mark's) were framed at
 * `ms` (unix milliseconds).  One per run of records stored with the same
 * time, so a frame of many records costs one. */
struct mrlog__time_mark {
  uint64_t pos;
  uint64_t ms;
};

/* Two chained hash tables over the same queues: by name and by id. */
struct mrlog__index {
  struct mrlog__queue **by_name; /* nbuckets heads */
  struct mrlog__queue **by_id;   /* nbuckets heads */
  size_t nbuckets;               /* power of two */
  size_t count;                  /* queues */
  uint64_t name_bytes;           /* bytes of all their names */
  uint64_t consumers;            /* consumers of all queues (consumer.c) */
  uint64_t consumer_name_bytes;  /* bytes of all their names */
  struct mrlog *log;             /* charged for grown buckets, or NULL */
  size_t charged;                /* bytes of buckets charged (memory.c) */
};

uint32_t mrlog__name_hash(const char *name, size_t len);
/* log: charged for grown tables (NULL: nothing is charged). */
int mrlog__index_init(struct mrlog__index *ix, struct mrlog *log);
void mrlog__index_free(struct mrlog__index *ix);
struct mrlog__queue *mrlog__index_by_name(const struct mrlog__index *ix,
                                          const char *name, size_t len,
                                          uint32_t hash);
struct mrlog__queue *mrlog__index_by_id(const struct mrlog__index *ix,
                                        uint64_t id);
int mrlog__index_insert(struct mrlog__index *ix, struct mrlog__queue *q);
/* True if the checkpoint of ix plus a queue named with name_len bytes
 * stays within mrlog__checkpoint_max bytes however its floors and nexts
 * grow, so a segment's offsets stay within 32 bits (format.h). */
bool mrlog__index_checkpoint_fits(const struct mrlog__index *ix,
                                  size_t name_len);
void mrlog__index_remove(struct mrlog__index *ix, struct mrlog__queue *q);

/* A queue named name (len bytes), charged to log (memory.c). */
struct mrlog__queue *mrlog__queue_new(struct mrlog *log, const char *name,
                                      size_t len, uint64_t id);
/* Drops every record (segments' live counts too, at frame lsn) and frees
 * the queue.  Caller has removed it from the index. */
void mrlog__queue_free(struct mrlog *log, struct mrlog__queue *q,
                       uint64_t lsn);
/* Stores count records (lens, back-to-back bytes) at first.. (first >=
 * next), attributed to seg.  Caller holds state_lock for writing. */
int mrlog__queue_store(struct mrlog *log, struct mrlog__queue *q,
                       struct mrlog__segment *seg, uint64_t first,
                       uint64_t count, const uint8_t *recs, size_t recs_len);
/* The same in steps, for the writer, which stores straight from its
 * requests: begin attributes count records to seg; then store_one each
 * record, positions increasing (>= next). */
int mrlog__queue_store_begin(struct mrlog *log, struct mrlog__queue *q,
                             struct mrlog__segment *seg, uint64_t first,
                             uint64_t count);
int mrlog__queue_store_one(struct mrlog *log, struct mrlog__queue *q,
                           uint64_t pos, const void *data, size_t len);
/* Under MRLOG_STORE_MAPPED: count records at pos.. with lengths lens,
 * already written to the hot window m as consecutive (varint, bytes)
 * pairs from offset *at; stores their offsets in mapped chunks and
 * advances *at past them. */
int mrlog__queue_store_mapped(struct mrlog *log, struct mrlog__queue *q,
                              struct mrlog__filemap *m, uint64_t pos,
                              const uint32_t *lens, uint32_t count,
                              uint64_t *at);
/* store_one for count records at pos.. with lengths lens, back to back in
 * data, copied in as few memcpys as the chunks allow. */
int mrlog__queue_store_run(struct mrlog *log, struct mrlog__queue *q,
                           uint64_t pos, const uint32_t *lens, uint32_t count,
                           const uint8_t *data);
/* Drops records <= position; returns how many.  Caller holds state_lock
 * for writing; lsn is the truncating frame's, for the cleaner. */
uint64_t mrlog__queue_drop_upto(struct mrlog *log, struct mrlog__queue *q,
                                uint64_t position, uint64_t lsn);
/* The runs ring (lib/queue_runs.c).  push: n more records of q are
 * stored in seg (after the ones already counted); pop: the n oldest are
 * dropped, at frame lsn.  Caller holds state_lock for writing. */
int mrlog__runs_push(struct mrlog *log, struct mrlog__queue *q,
                     struct mrlog__segment *seg, uint64_t n);
void mrlog__runs_pop(struct mrlog *log, struct mrlog__queue *q, uint64_t n,
                     uint64_t lsn);
/* First retained position (next when empty).  Under state_lock. */
uint64_t mrlog__queue_first(const struct mrlog__queue *q);

/* Time marks (lib/queue_time.c), all under state_lock (writing for the
 * first three).  note: records from pos on were framed at ms (adds a mark
 * if ms is newer than the last one); drop: forgets marks no retained
 * record needs, after a drop; seek: index of the first mark with ms >= the
 * argument (marks_len if none); find: index of the mark covering position
 * pos (the last with mark.pos <= pos; 0 if none); at: the i-th mark. */
int mrlog__marks_note(struct mrlog *log, struct mrlog__queue *q, uint64_t pos,
                      uint64_t ms);
void mrlog__marks_drop(struct mrlog *log, struct mrlog__queue *q);
void mrlog__marks_free(struct mrlog *log, struct mrlog__queue *q);
uint32_t mrlog__marks_seek(const struct mrlog__queue *q, uint64_t ms);
uint32_t mrlog__marks_find(const struct mrlog__queue *q, uint64_t pos);
const struct mrlog__time_mark *mrlog__marks_at(const struct mrlog__queue *q,
                                               uint32_t i);
void mrlog__chunk_unref(struct mrlog *log, struct mrlog__chunk *c);

#endif /* MRLOG_QUEUE_H */

/*
 * internal.h -- private structs and mrlog__ prototypes shared by lib/ and
 * workers/.  docs/DESIGN.md describes the threads; this header says who
 * owns and who guards each field.
 *
 * Threads:
 *   producers  any application thread, or a callback on a library thread;
 *              they only build requests and push them into the ring.
 *   writer     sole consumer of the ring; sole mutator of the queue state
 *              and of the hot segment file.
 *   flusher    fdatasyncs and completes requests (runs the callbacks).
 *   cleaner    deletes segment files whose records are all truncated.
 *
 * LOCK ORDER (never take a lock to the left while holding one to the
 * right):  state_lock -> seg_mutex -> flusher->mutex -> wake_mutex, and
 * mem_mutex, dir_sync_mutex, cleaner->mutex, producers_mutex, log.c's
 * pool of closed logs and the staging and future-pool registries'
 * mutexes are leaves (stage.c takes producers_mutex only with no other
 * lock held).  Today the
 * only nesting is state_lock -> mem_mutex (a truncation releasing memory
 * wakes blocked producers).  No lock is held while a user callback or
 * visitor runs.
 */
#ifndef MRLOG_INTERNAL_H
#define MRLOG_INTERNAL_H

/* Must come before any system header: pthread_setname_np, syncfs, etc. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "mrlog.h"
#include "format.h"
#include "io.h"

#include <ck_ring.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define MRLOG_CACHELINE 64
/* The library's thread-locals (96 bytes in all) use the initial-exec
 * model: the default one for a shared library calls __tls_get_addr on
 * every access, and mrlog_append reads several.  callgrind, W1 at 5%
 * scale: mrlog_append 495 -> 457 instructions per call, the whole run
 * 2.3% fewer.  The cost: the library is marked STATIC_TLS, so a program
 * that dlopen()s it needs 96 bytes of glibc's static TLS surplus, and
 * gets a dlopen error where other libraries have used that up
 * (tests/dlopen_test loads it; here it loaded even with the tunable
 * glibc.rtld.optional_static_tls=0). */
#define MRLOG_TLS _Thread_local __attribute__((tls_model("initial-exec")))

/* An LSN orders every byte ever written: segment number in the high 32
 * bits, offset in the segment in the low 32 (segments stay < 4 GiB). */
#define MRLOG_LSN(segno, off) (((uint64_t)(segno) << 32) | (uint64_t)(off))
#define MRLOG_LSN_SEGNO(lsn) ((lsn) >> 32)
#define MRLOG_LSN_OFF(lsn) ((uint32_t)(lsn))

/* ---- futures (lib/future.c) ---------------------------------------- */

struct future_cache;
struct mrlog_future {
  _Alignas(64) atomic_uint state; /* MRLOG_FUTURE_* bits; see future.c (a
                                     line per future: future_slab) */
  int status;         /* valid once DONE is set (release/acquire) */
  uint64_t position;  /* valid once DONE is set */
  struct future_cache *owner; /* pool it returns to; immutable */
  mrlog_future *pool_next;    /* link while pooled */
  uint32_t index;             /* in the slab table; immutable */
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
void mrlog__wake_help(unsigned n);

/* True on the writer, flusher and cleaner threads and on the detached
 * threads that deliver errors for a NULL log. */
bool mrlog__on_library_thread(void);
void mrlog__mark_library_thread(const char *name);

/* ---- requests (lib/submit.c, workers/writer.c) ---------------------- */

enum mrlog__req_type {
  MRLOG_REQ_CREATE = 1,
  MRLOG_REQ_DELETE,
  MRLOG_REQ_APPEND,   /* one record or an atomic batch */
  MRLOG_REQ_TRUNCATE,
  MRLOG_REQ_SYNC,
  MRLOG_REQ_STOP,     /* close's sentinel: the last request in the ring */
  MRLOG_REQ_BATCH,    /* a staged batch of appends (lib/stage.c) */
  MRLOG_REQ_ROTATE    /* the cleaner: rotate the hot segment if it is
                         older than segment_max_age_ms (workers/expiry.c) */
};

/*
 * One submitted call.  Allocated by the producer in one block (the name,
 * the record lengths and the payload follow the struct), handed to the
 * writer through the ring, then to the flusher, which completes and frees
 * it.  Exactly one thread owns it at a time.
 */
struct mrlog__req {
  struct mrlog__req *next;     /* link in the writer's done list, the
                                  flusher's pending list or the early list */
  struct mrlog__req *run_next; /* link in a queue's run list (writer) */
  uint8_t type;                /* enum mrlog__req_type */
  bool has_position;           /* explicit position given */
  bool batch_last;             /* last entry of its batch (stage.c) */
  bool by_retention;           /* a truncation made by retention_ms; its
                                  `first` holds the queue's id, so a queue
                                  deleted and recreated since is spared */
  struct mrlog__batch *batch;  /* staged entry: the batch holding it;
                                  NULL for a request of its own */
  int status;                  /* result, set by the writer (or at submit) */
  uint64_t position;           /* in: explicit/truncate position; out:
                                  reported position */
  uint64_t first;              /* writer: first position of an append */
  uint64_t lsn;                /* end LSN of the frame that carries it */
  uint64_t reserved;           /* bytes reserved against memory_limit */
  mrlog_future *future;        /* may be NULL (allocation failed) */
  mrlog_done_fn done;          /* may be NULL */
  void *arg;
  uint32_t count;              /* records (appends) */
  uint32_t name_len;           /* bytes of name, NUL excluded */
  uint32_t name_hash;          /* mrlog__name_hash(name), by the producer */
  uint64_t payload_len;        /* total payload bytes */
  char *name;                  /* NUL-terminated, in the block */
  uint32_t *lens;              /* count record lengths, in the block */
  uint8_t *payload;            /* records back to back, in the block */
};

void mrlog__req_free(struct mrlog *log, struct mrlog__req *req);
/* A request's block: the struct, then count record lengths, the name and
 * its NUL, then the payload (submit.c).  size gives its bytes; layout
 * fills lens, name, name_len, name_hash, payload, count and payload_len
 * and copies the name and the records in. */
size_t mrlog__req_size(size_t name_len, size_t count, uint64_t total);
void mrlog__req_layout(struct mrlog__req *req, const char *name,
                       size_t name_len, uint32_t name_hash,
                       const struct iovec *recs, size_t count, uint64_t total);
/* A request the library makes itself (the cleaner: retention truncations
 * and rotation by age): no future; never waits.  0 once queued (done runs
 * on completion, like any callback), or a status, and then nothing was
 * queued and done will not run. */
int mrlog__submit_internal(struct mrlog *log, int type, const char *name,
                           size_t name_len, uint64_t position,
                           uint64_t queue_id, mrlog_done_fn done, void *arg);
/* A producer's waits for room during one call (lib/block.c): started
 * at its first check, then bounded by policy.block_timeout_ms.  Zero it
 * before the call's first wait. */
struct mrlog__block {
  struct timespec start; /* when the call began to wait */
  bool started;
  bool reported;         /* this call passed the report threshold */
};
/* Before each slice of a wait: 0, with *slice_ms cut to what is left of
 * block_timeout_ms, or MRLOG_EFULL once it has passed.  what names the
 * wait in the report of a long one.  b NULL: no limit, no report. */
int mrlog__block_check(struct mrlog *log, struct mrlog__block *b,
                       unsigned *slice_ms, const char *what);
/* A wait ended with room: ends the log's blocking episode if b waited. */
void mrlog__block_end(struct mrlog *log, struct mrlog__block *b);

/* Admission of a request for the ring (submit.c): reserves `want` bytes
 * of memory_limit, or at least `need` (waiting if allowed, within blk),
 * records the reservation in req->reserved, and pushes req.  0 or a
 * status; on error req is not in the ring and req->reserved says what to
 * release. */
int mrlog__admit(struct mrlog *log, struct mrlog__req *req, uint64_t want,
                 uint64_t need, struct mrlog__block *blk);

/* ---- staging of small appends (lib/stage.c) ------------------------- */

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
/* Completes (callback, future) and frees; releases unused reservations. */
void mrlog__req_finish(struct mrlog *log, struct mrlog__req *req);

/* ---- in-memory queues (lib/queue.c, lib/queue_index.c) --------------- */

/*
 * A chunk holds consecutive records of one queue, in one of two kinds:
 *  - own (map == NULL): record i has position base + pos[i] and bytes
 *    data[ends[i-1] .. ends[i]) (ends[-1] = 0) of the chunk's memory;
 *  - mapped (map != NULL; filemap.c): data is the mapping of a segment
 *    file, and record i is the (length varint, bytes) pair of an APPEND
 *    op (FORMAT.md 7.6) at data + at[i]; ends is NULL.  Made by recovery,
 *    and by the writer under MRLOG_STORE_MAPPED; its records were checked
 *    (replay) or written (writer) before they were stored.  bytes is their payload
 *    total and dropped_bytes that of the records before the queue's
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

/* A segment file's read-only mapping, shared by the mapped chunks whose
 * records lie in it (lib/filemap.c): a recovered file's (io->map), or the
 * hot segment's under MRLOG_STORE_MAPPED (a 4 GiB window the file grows
 * into).  new holds one reference (the caller's); the last unref unmaps
 * it.  `counted` is what it adds to stat_memory: a recovered file's
 * length, or the bytes the writer has written into a hot one. */
struct mrlog__filemap {
  const uint8_t *base;
  size_t len;                /* bytes mapped (immutable) */
  bool own_mmap;             /* mapped by filemap.c, else by log->io */
  size_t counted;            /* writer, while it holds its reference */
  atomic_uint refs;
};

struct mrlog__filemap *mrlog__filemap_new(struct mrlog *log,
                                          const uint8_t *base, size_t len);
/* The hot segment's window: maps fd_name of dir read-only and shared.
 * NULL (errno set) on failure. */
struct mrlog__filemap *mrlog__filemap_hot(struct mrlog *log,
                                          const char *name);
/* Writer: n more bytes written into the hot window m. */
void mrlog__filemap_count(struct mrlog *log, struct mrlog__filemap *m,
                          size_t n);
void mrlog__filemap_ref(struct mrlog__filemap *m);
void mrlog__filemap_unref(struct mrlog *log, struct mrlog__filemap *m);

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
                                  when runs_len is 0 (queue.c runs_fit) */
  struct mrlog__queue *by_name_next; /* [state] hash chain */
  struct mrlog__queue *by_id_next;   /* [state] hash chain */
  uint64_t w_next;             /* [writer] next, counting encoded requests */
  uint64_t w_floor;            /* [writer] floor, counting encoded ones */
  struct mrlog__req *pass_first; /* [writer] appends of the current pass */
  struct mrlog__req *pass_last;  /* [writer] */
  struct mrlog__queue *pass_next; /* [writer] list of touched queues */
  bool in_pass;                /* [writer] on the touched list */
  struct mrlog__time_mark *marks; /* [state] ring of time marks, oldest
                                     first (queue.c invariant 5) */
  uint32_t marks_first;        /* [state] index of the oldest mark */
  uint32_t marks_len;          /* [state] marks in use */
  uint32_t marks_cap;          /* [state] power of two, or 0 (no ring)
                                  while the queue holds no record */
  /* Recovery only (the opener's thread): bytes SKIP_CORRUPT dropped since
   * the last APPEND to this queue or the checkpoint that last listed it,
   * so how many of its newest positions may have been lost unseen
   * (recovery.c invariant 13). */
  uint64_t lost_bound;
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

/* The cleaner's time-driven work (workers/expiry.c): asks the writer to
 * rotate a hot segment older than segment_max_age_ms, and truncates the
 * records older than retention_ms.  Cleaner thread. */
void mrlog__expiry_pass(struct mrlog *log);

/* ---- segments (lib/segment.c) --------------------------------------- */

/*
 * One segment file.  The list is guarded by seg_mutex; `live` and
 * `emptied_lsn` are written by the writer only (emptied_lsn first, then
 * live with release) and read by the cleaner (live with acquire first).
 * A segment other than the hot one never gains records, so once it shows
 * live == 0 it stays deletable.
 */
struct mrlog__segment {
  struct mrlog__segment *next; /* newer segment; seg_mutex */
  uint64_t segno;              /* immutable */
  _Atomic uint64_t size;       /* bytes in the file; writer */
  _Atomic uint64_t live;       /* retained records stored here */
  _Atomic uint64_t emptied_lsn; /* LSN of the frame that emptied it */
  atomic_bool hot;             /* the writer's current file */
  uint64_t created_ms;         /* immutable: now_ms when the writer made
                                  it (0 for segments found at open) */
  uint64_t checkpoint_end;     /* immutable: offset after its checkpoint
                                  (0 for segments found at open) */
  bool pinned;                 /* never deleted (set at open, see
                                  recovery.c invariant 8) */
};

void mrlog__segment_name(char out[MRLOG_SEGMENT_NAME_LEN + 1], uint64_t segno);
/* Parses a segment file name; false for foreign names. */
bool mrlog__segment_parse_name(const char *name, uint64_t *segno);
/* Lists segment numbers in dir_fd, ascending.  OUT: *segnos (malloc'd). */
int mrlog__segment_list(int dir_fd, uint64_t **segnos, size_t *count);
/* Reads a whole file: mapped read-only, or into a malloc'd buffer.
 * OUT: *data, *len, *mapped; give them back to mrlog__release_file. */
int mrlog__read_file(struct mrlog *log, const char *name, uint8_t **data,
                     size_t *len, bool *mapped);
void mrlog__release_file(struct mrlog *log, uint8_t *data, size_t len,
                         bool mapped);
/* Writes all of buf at off, retrying EINTR and short writes. */
int mrlog__pwrite_all(struct mrlog *log, int fd, const void *buf, size_t len,
                      uint64_t off);
/* Writes cnt pieces back to back at off (pwritev, or pwrite per piece when
 * the file layer has no pwritev), retrying EINTR and short writes.  iov is
 * consumed (changed). */
int mrlog__pwritev_all(struct mrlog *log, int fd, struct iovec *iov, int cnt,
                       uint64_t off);
/* Maps errno to MRLOG_EIO / MRLOG_ENOSPC / MRLOG_ENOMEM. */
int mrlog__status_from_errno(int err);
int mrlog__fsync_dir(struct mrlog *log);
struct mrlog__segment *mrlog__segment_new(uint64_t segno);
/* Inserts seg in number order.  Takes seg_mutex. */
void mrlog__segment_add(struct mrlog *log, struct mrlog__segment *seg);
/* Decrements seg's live count by n at frame lsn (writer only). */
void mrlog__segment_drop_live(struct mrlog *log, struct mrlog__segment *seg,
                              uint64_t n,
                              uint64_t lsn);

/* ---- frame application (lib/apply.c) -------------------------------- */

/*
 * Applies every operation of one frame body to the in-memory state, as
 * recovery and the writer both do.  seg is the segment holding the frame,
 * lsn its end.  Returns 0, or MRLOG_ECORRUPT at the first operation that
 * is malformed or inconsistent with the state (the ones before it stay
 * applied), or MRLOG_ENOMEM.  Caller holds state_lock for writing.
 */
int mrlog__apply_frame(struct mrlog *log, struct mrlog__segment *seg,
                       const uint8_t *body, size_t len, uint64_t lsn,
                       bool first_frame);
/* TRUNCATE's effect on q, for the writer's direct apply (apply.c).
 * Returns the records dropped. */
uint64_t mrlog__apply_truncate(struct mrlog *log, struct mrlog__queue *q,
                               uint64_t position, uint64_t lsn);

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
  uint64_t mem_pin_pending;      /* [writer] payload of mapped records it
                                    stored, not yet pinned */
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
/* Returns reserved bytes to memory_limit and wakes waiting producers. */
void mrlog__mem_release(struct mrlog *log, uint64_t bytes);

/* Memory accounting (lib/memory.c; docs/DESIGN.md "Memory").  What the
 * library holds for retained records and the buffers that scale with them
 * is charged as it is allocated: `add` counts bytes in stat_memory (what
 * stats.memory_bytes reports) and in mem_held and mem_reserved (what
 * memory_limit bounds); `sub` gives them back and wakes producers waiting
 * for memory.  `pin` and `unpin` charge without counting in stat_memory:
 * the page cache a mapped chunk's records keep mapped (their payload).
 * Any thread; the writer (or the opener during recovery) in practice. */
void mrlog__mem_add(struct mrlog *log, uint64_t bytes);
void mrlog__mem_sub(struct mrlog *log, uint64_t bytes);
void mrlog__mem_pin(struct mrlog *log, uint64_t bytes);
void mrlog__mem_unpin(struct mrlog *log, uint64_t bytes);
/* The writer's stores of mapped records add their payload to
 * mem_pin_pending (a plain add per request); flush pins it, once per
 * written pass of sub-frames, after it is applied and before its requests
 * go to the flusher (writer.c flush_frame), and before any unpin
 * (queue.c).  Writer only. */
void mrlog__mem_pin_flush(struct mrlog *log);
/* Bytes a block from malloc(n) takes from the heap: its usable size plus
 * the allocator's header, as the process's resident memory sees it. */
size_t mrlog__heap_size(const void *p);
/* malloc, calloc and free that charge log (NULL: no charge) with
 * mrlog__heap_size of the block. */
void *mrlog__mem_malloc(struct mrlog *log, size_t n);
void *mrlog__mem_calloc(struct mrlog *log, size_t n, size_t size);
void mrlog__mem_free(struct mrlog *log, void *p);
/* What an append of count records and total payload bytes under a name of
 * name_len bytes reserves while it is in flight (submit.c, stage.c): its
 * request block (`block` bytes), and the chunk bytes its records will take
 * once stored. */
static inline uint64_t
mrlog__append_charge(size_t block, size_t count, uint64_t total)
{
  return (uint64_t)block + total + (uint64_t)count * 2 * sizeof(uint32_t);
}
/* What a create reserves while in flight: the queue, its name and its
 * share of the index, and the first chunk and arrays of its first record
 * (a new queue's usual next step). */
uint64_t mrlog__create_charge(size_t name_len);

/* dir.c: the log's directory at open (opener's thread). */
/* The status for an errno met while opening (dir.c invariant 2). */
int mrlog__dir_status(int err);
/* Reports "call path: strerror(err)" through log_fn; returns the status. */
int mrlog__dir_fail(struct mrlog *log, const char *call, const char *path,
                    int err);
/* Reports "mrlog_open dir: what: message (NAME)" through log_fn. */
void mrlog__open_report(struct mrlog *log, const char *dir, const char *what,
                        int status);
/* Creates the log's directory (with policy.create_parents, its missing
 * parents too) and makes each new entry durable; 0 if it exists. */
int mrlog__dir_create(struct mrlog *log, const char *dir);
/* Opens a directory by path through the seam; -1 and errno on failure. */
int mrlog__dir_open(struct mrlog *log, const char *path);

/* mrlog_open over another file layer (tests: fault injection, crash
 * simulation).  io must outlive the log. */
int mrlog__open_with_io(const char *dir, const mrlog_policy *policy,
                        const struct mrlog__io *io, mrlog **out);

/* Read-only open (lib/readonly.c).  open_dir opens the directory without
 * making it or locking it and sets up the file layer; skip returns true,
 * after logging that the change described by fmt is not applied, when the
 * log is read-only (false otherwise: the caller makes the change); retry
 * tells whether an open that failed with rc at attempt (from 0) is made
 * again; start starts the flusher, the one thread a read-only log has
 * (mrlog_close hands it the stop sentinel). */
int mrlog__ro_open_dir(struct mrlog *log, const char *dir);
bool mrlog__ro_skip(struct mrlog *log, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
bool mrlog__ro_retry(const mrlog_policy *policy, int rc, int attempt);
int mrlog__ro_start(struct mrlog *log);

/* Recovery (lib/recovery.c): replays the segments, heals the tail and
 * deletes empty segments.  Called by open before any thread starts. */
int mrlog__recover(struct mrlog *log);

/* Prefaulted chunk memory (lib/prefault.c), for recovery and then for
 * the writer: start is idempotent; take returns a
 * MRLOG_PREFAULT_REGION-byte mapping or NULL (none ready: map your own);
 * stop joins the helper and unmaps what is left (NULL-safe). */
#define MRLOG_PREFAULT_REGION (260u << 10)
struct mrlog__prefault;
void mrlog__prefault_start(struct mrlog *log);
void *mrlog__prefault_take(struct mrlog *log);
void mrlog__prefault_stop(struct mrlog *log);
/* Regions the helper keeps ready: during recovery, or live for a log
 * whose policy.memory_limit is memory_limit (lib/prefault.c). */
unsigned mrlog__prefault_slots(uint64_t memory_limit, bool recovering);

/* Reading the next segment file ahead during recovery (lib/readahead.c):
 * start asks the helper for name (after any earlier request is done);
 * take returns name's mrlog__read_file result, the helper's if it was
 * asked for, else its own; stop joins the helper.  Opener's thread only. */
struct mrlog__readahead;
void mrlog__readahead_start(struct mrlog *log, const char *name);
int mrlog__readahead_take(struct mrlog *log, const char *name, uint8_t **data,
                          size_t *len, bool *mapped);
void mrlog__readahead_stop(struct mrlog *log);

/* Ring (lib/ring.c). */
int mrlog__ring_init(struct mrlog *log);
void mrlog__ring_free(struct mrlog *log);
/* Pushes req; MRLOG_EFULL when full and waiting is not allowed. */
int mrlog__ring_push(struct mrlog *log, struct mrlog__req *req, bool may_wait);
/* As mrlog__ring_push; a wait is bounded by blk (block.c; NULL: none). */
int mrlog__ring_push_within(struct mrlog *log, struct mrlog__req *req,
                            bool may_wait, struct mrlog__block *blk);
/* Pops up to max requests (writer only). */
unsigned mrlog__ring_pop(struct mrlog *log, struct mrlog__req **out,
                         unsigned max);
/* Writer only: sleeps until the ring is non-empty or timeout_ms passes. */
void mrlog__ring_wait(struct mrlog *log, unsigned timeout_ms);

/* Workers.  Each has init (allocate, no thread), start (thread), join
 * (after its stop condition) and free. */
int mrlog__writer_init(struct mrlog *log);
/* Writes a new segment with its checkpoint and makes it the hot one
 * (open uses it before the writer thread starts; the writer at rotation). */
int mrlog__writer_open_segment(struct mrlog *log);
int mrlog__writer_start(struct mrlog *log);
void mrlog__writer_join(struct mrlog *log);
/* At close, once the writer and the flusher have stopped: seals the hot
 * segment (an fdatasync, the seal, an fdatasync), or fails the log. */
void mrlog__writer_seal(struct mrlog *log);
void mrlog__writer_free(struct mrlog *log);
/* The writer's buffers against memory_limit (workers/writer_mem.c).
 * charge: sets *charged to what frame (beyond its base size) and the
 * four arrays (ops, ext, iov, subs) hold now; trim: frees an array of *cap elements of elem
 * bytes grown past its keep size (returns it, or NULL with *cap = 0);
 * trim_frame: shrinks an empty frame buffer grown past its keep size. */
void mrlog__wbuf_charge(struct mrlog *log, size_t *charged,
                       const struct mrlog__buf *frame, const void *ops,
                       const void *ext, const void *iov, const void *subs);
void *mrlog__wbuf_trim(void *array, size_t *cap, size_t elem);
void mrlog__wbuf_trim_frame(struct mrlog__buf *frame);

int mrlog__flusher_init(struct mrlog *log);
int mrlog__flusher_start(struct mrlog *log);
void mrlog__flusher_free(struct mrlog *log);
/* Writer: hands written requests (a list, oldest first) to the flusher. */
void mrlog__flusher_submit(struct mrlog *log, struct mrlog__req *first,
                           struct mrlog__req *last, uint64_t written_lsn,
                           uint64_t unsynced_bytes, uint64_t unsynced_records);
/* Writer, at rotation: fdatasyncs the hot fd, which holds everything
 * written up to end_lsn, as the one sync in flight on it (flusher.c
 * invariant 1).  On success durable_lsn rises to end_lsn; on failure the
 * log has failed before this returns.  0 or a status (also the log's
 * status if it had already failed: then nothing is synced). */
int mrlog__flusher_sync_hot(struct mrlog *log, uint64_t end_lsn);
/* Writer, at rotation: makes fd the file to sync, after waiting out a sync
 * of the old one, and raises durable_lsn to `durable` unless the log has
 * failed.  Returns the old fd for the writer to close. */
int mrlog__flusher_switch_fd(struct mrlog *log, int fd, uint64_t durable);
/* Any thread: queues a request for completion with its status already set
 * (errors found at submit time). */
void mrlog__flusher_early(struct mrlog *log, struct mrlog__req *req);
void mrlog__flusher_join(struct mrlog *log);

int mrlog__cleaner_init(struct mrlog *log);
int mrlog__cleaner_start(struct mrlog *log);
void mrlog__cleaner_free(struct mrlog *log);
void mrlog__cleaner_wake(struct mrlog *log);
/* Deletes every deletable segment now; returns how many. */
unsigned mrlog__cleaner_pass(struct mrlog *log);
/* Stops the cleaner after one last pass and joins it. */
void mrlog__cleaner_join(struct mrlog *log);

/* *ts = now (CLOCK_MONOTONIC) + ms: the deadline for a timed wait on a
 * condition variable created with CLOCK_MONOTONIC. */
void mrlog__deadline_ms(struct timespec *ts, unsigned ms);

/* fdatasync with EINTR retry; counts stats.fsyncs.  0 or a status. */
int mrlog__datasync(struct mrlog *log, int fd);
/* Seals segment segno (format version 3): writes its seal frame at off,
 * where the file ends and everything before is already durable, then
 * fdatasyncs fd if sync (else the caller must, before the segment counts
 * as sealed).  OUT: *end, the file's final length.  0 or a status;
 * workers/seal.c. */
/* Writes at off the pad frame that aligns the seal (seal.c invariant 4),
 * not synced; *end is where the seal goes.  0 or a status. */
int mrlog__seal_pad(struct mrlog *log, int fd, uint64_t segno, uint32_t off,
                    uint32_t *end);
int mrlog__seal_write(struct mrlog *log, int fd, uint64_t segno, uint32_t off,
                      bool sync, uint32_t *end);
/* Recovery after a dropped range (log->skip_watch): positions lo..hi-1 of
 * q are missing; reported and counted (lib/recovery_scan.c). */
void mrlog__note_gap(struct mrlog *log, const struct mrlog__queue *q,
                     uint64_t lo, uint64_t hi);
/* Starts a detached library thread (named) running fn(arg). */
int mrlog__spawn_detached(const char *name, void *(*fn)(void *), void *arg);

#endif /* MRLOG_INTERNAL_H */

/*
 * mrlog.h -- the public interface of mrlog, a multi-queue write-ahead
 * record log for multi-threaded C and C++ servers.
 *
 * This is the only installed header.  Every type is opaque except the
 * policy, the info and the stats structs, which callers allocate.
 *
 * THE COMPLETION RULE.  Every mutating call (mrlog_create_queue,
 * mrlog_delete_queue, mrlog_append, mrlog_append_batch, mrlog_truncate,
 * mrlog_commit, mrlog_remove_consumer, mrlog_sync) completes exactly once.
 * Its callback, when not NULL, runs exactly once, on a library thread,
 * never on the calling thread (in poll mode: inside
 * mrlog_run_completions, a mrlog_wait or mrlog_close on the thread that
 * makes it, never inside the call that submitted it; see POLL MODE), and
 * never while the library holds a lock the callback could need.  This
 * holds for errors found at submit time too (bad argument, closed log,
 * full ring in nonblocking mode): they are delivered the same way, never
 * returned directly.  After the callback has returned, the future (if still owned)
 * becomes ready with the same status and position.
 *
 * THREADS.  Unless a call says otherwise it may be made from any thread,
 * including from inside a completion callback.  From a library thread (a
 * callback, a log_fn or a range visitor running on it; see
 * mrlog_on_library_thread), a mutation that would block completes with
 * MRLOG_EFULL, and mrlog_open, mrlog_close and a wait on a future that is
 * not ready return MRLOG_EINVAL, instead of deadlocking.
 *
 * MISUSE.  Calls on a closed log, and on a future already waited or
 * forgotten, fail with a status instead of hanging or crashing:
 * mrlog_close of a log that is closed, being closed, or was never opened
 * returns MRLOG_EINVAL; mutations on a closed log complete with
 * MRLOG_ECLOSED and the reads return MRLOG_EINVAL (mrlog_queue_exists:
 * false); mrlog_wait and mrlog_wait_timeout on such a future return
 * MRLOG_EINVAL, mrlog_ready false, and mrlog_forget ignores it.  Not
 * detected: a closed log's handle once a later mrlog_open has reused its
 * memory (it then names that log), a pointer that never was a log passed
 * to anything but mrlog_close, and calls racing with mrlog_close.
 *
 * OWNERSHIP.  Every pointer argument is borrowed for the duration of the
 * call only: names and payloads are copied before the call returns, so the
 * caller may reuse its buffers at once.  A returned mrlog_future belongs to
 * the caller until it passes it to mrlog_wait (which frees it once ready)
 * or mrlog_forget.  It is an opaque handle, not an address: it carries a
 * generation, so a handle used after that is told apart from the call
 * that reuses the future (see MISUSE).
 *
 * ORDER.  Requests pass through one FIFO ring to one writer thread, which
 * applies them in ring order.  Small appends are staged: each thread fills
 * its own batch, which sits in the ring until the writer takes it.  So:
 *  - the calls one thread makes take effect in call order (its default
 *    appends to a queue get increasing positions in call order), and
 *    their callbacks run in that order too -- except that an error found
 *    at submit time (EINVAL, EFULL, ECLOSED, ENOMEM), which never enters
 *    the ring, may be delivered before the callbacks of that thread's
 *    earlier calls;
 *  - a call made after another call has completed (its callback has run
 *    or its future is ready), on any thread, takes effect after it;
 *  - calls from different threads that are not ordered that way may take
 *    effect in either order, even if one returned before the other began
 *    -- except mrlog_sync, a whole-log barrier: it takes effect after
 *    every call that returned, on any thread, before it began;
 *  - an append a quota holds back (policy.queue_memory_limit, disk_limit)
 *    takes effect when it is admitted: later appends to its queue wait
 *    behind it, other calls may take effect before it, and mrlog_sync
 *    does not wait for it.
 *
 * ERRORS.  Calls return 0 or a negative MRLOG_E* code; MRLOG_DUPLICATE is
 * the one positive, informational status.  MRLOG_EIO and MRLOG_ENOSPC
 * from a mutation, mrlog_sync or mrlog_close mean the log has failed
 * (stats.failed: it is read-only from then on); from mrlog_open they mean
 * only that the open failed: a log that never opened is never failed.
 */
#ifndef MRLOG_H
#define MRLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MRLOG_BUILDING) && defined(__GNUC__)
#define MRLOG_EXPORT __attribute__((visibility("default")))
#else
#define MRLOG_EXPORT
#endif

#define MRLOG_VERSION_MAJOR 0
#define MRLOG_VERSION_MINOR 7
#define MRLOG_VERSION_PATCH 0
/* MAJOR * 10000 + MINOR * 100 + PATCH of the header compiled against. */
#define MRLOG_VERSION_NUMBER                                     \
  (MRLOG_VERSION_MAJOR * 10000 + MRLOG_VERSION_MINOR * 100 +     \
   MRLOG_VERSION_PATCH)
/* The newest on-disk format version this library writes and reads (it
 * also reads every older one).  See docs/COMPATIBILITY.md. */
#define MRLOG_FORMAT_VERSION_CURRENT 4

/*
 * Status codes, one table: XX(name, value, message).  The values are fixed
 * (they do not depend on the platform's errno numbering) and the negative
 * ones mirror the closest Linux errno, except MRLOG_ENOENT: ENOENT's -2 is
 * MRLOG_ENOQUEUE's, so MRLOG_ENOENT is -1002 (outside every errno).
 * MRLOG_EACCES covers EACCES, EPERM and EROFS.  Since 0.5.0: MRLOG_EACCES,
 * MRLOG_ENOENT.
 */
#define MRLOG_STATUS_MAP(XX)                                                  \
  XX(OK, 0, "success")                                                        \
  XX(DUPLICATE, 1, "position already present in the queue; nothing written") \
  XX(EINVAL, -22, "invalid argument")                                         \
  XX(ENOQUEUE, -2, "no such queue")                                           \
  XX(EEXIST, -17, "queue already exists")                                     \
  XX(EFULL, -11, "ring or memory limit full (or the call would block)")       \
  XX(EIO, -5, "I/O error")                                                    \
  XX(ENOSPC, -28, "no space left on device")                                  \
  XX(ECORRUPT, -74, "log files are corrupt")                                  \
  XX(ELOCKED, -16, "log directory is locked by another opener")              \
  XX(ECLOSED, -108, "log is closing or closed")                               \
  XX(ENOMEM, -12, "out of memory")                                            \
  XX(ETIMEDOUT, -110, "timed out")                                           \
  XX(EVERSION, -93, "log files use a format version this library cannot read") \
  XX(ENODATA, -61, "no such record, time or consumer")                       \
  XX(EACCES, -13, "permission denied (or read-only file system)")             \
  XX(ENOENT, -1002, "no such file or directory")                             \
  XX(ECANCELED, -125, "operation canceled")

enum mrlog_status {
#define MRLOG_STATUS_ENUM(name, value, msg) MRLOG_##name = (value),
  MRLOG_STATUS_MAP(MRLOG_STATUS_ENUM)
#undef MRLOG_STATUS_ENUM
};

/* A static English message for a status; "unknown status" for others. */
MRLOG_EXPORT const char *mrlog_strerror(int status);
/* The status's name without prefix ("EINVAL"); "UNKNOWN" for others. */
MRLOG_EXPORT const char *mrlog_err_name(int status);

/* The library's own MRLOG_VERSION_NUMBER and "MAJOR.MINOR.PATCH", which
 * may differ from the header's when a newer compatible shared library is
 * loaded.  Any thread. */
MRLOG_EXPORT unsigned mrlog_version(void);
MRLOG_EXPORT const char *mrlog_version_string(void);

/* True on the library's own threads (the writer, flusher and cleaner,
 * where callbacks, log_fn and visitors called from them run) and, in poll
 * mode, on a thread while it runs a completion callback (see POLL MODE);
 * false on every other thread.  Wrappers use it to refuse a blocking call
 * before making it.  Any thread. */
MRLOG_EXPORT bool mrlog_on_library_thread(void);

/* Limits. */
#define MRLOG_QUEUE_NAME_MAX 1024u              /* bytes, NUL excluded */
#define MRLOG_RECORD_MAX (64u * 1024u * 1024u)  /* payload bytes */
#define MRLOG_BATCH_BYTES_MAX (1024u * 1024u * 1024u) /* payload of a batch */
#define MRLOG_BATCH_COUNT_MAX (1u << 24)         /* records in one batch */
/* Records may take positions 0 .. MRLOG_POSITION_MAX. */
#define MRLOG_POSITION_MAX (UINT64_MAX - 1)

typedef struct mrlog mrlog;
typedef struct mrlog_future mrlog_future;

/* Where the retained records are kept in RAM (mrlog_policy.record_store,
 * stats.record_store, docs/DESIGN.md section 15).  Either way every
 * retained record is in memory, readable without a system call, and the
 * files are only written (and read at open); what differs is whose memory
 * it is.
 *
 * Which to choose: the default.  The mapped store appends faster at every
 * record size and holds far less of the process's own memory (make -C
 * build bench, W1 100 B: 2.07M against 1.61M records/s; W3 4 KiB: 488
 * against 243 MB/s; peak RSS after W3: 18.5 MB against 856 MB).  Choose
 * MRLOG_STORE_COPY when reads of retained records must not wait for the
 * disk after the kernel has dropped its page cache (memory pressure, or
 * more retained records than the page cache holds): the copy store reads
 * its own memory, the mapped store faults the pages back in from the
 * file.  bench/cursor-bench --drop-cache --records 2000000 --bytes 100
 * --runs 5 (root): the first read after the drop goes 9436 MB/s copied
 * against 1350 mapped (docs/DESIGN.md section 15.3). */
enum mrlog_record_store {
  /* Default: MRLOG_STORE_MAPPED where the address space is 64-bit
   * (pointers of 8 bytes or more), MRLOG_STORE_COPY otherwise.  An open
   * log reports the store it resolved to in stats.record_store.  Since
   * 0.7.0 (before it, 0 was MRLOG_STORE_COPY: a program built against an
   * older header that leaves record_store 0 gets the mapped store, with
   * the same reads, completions and statuses, but a memory_limit that
   * bounds the process's own memory rather than the retained volume;
   * docs/COMPATIBILITY.md). */
  MRLOG_STORE_DEFAULT = 0,
  /* Records are read from a shared read-only mapping of the segment file
   * they were written to, i.e. from the kernel's page cache: no second
   * copy, no fresh memory to zero, and the RAM is page cache rather than
   * the process's own (it counts in RSS only once read).  Under memory
   * pressure the kernel may drop clean pages; a read then faults them back
   * in from the file.  Needs a 64-bit address space (see MAPPED READS
   * for the address space it takes and for what a damaged file does). */
  MRLOG_STORE_MAPPED = 1,
  /* Each record appended is copied into the library's own (anonymous)
   * memory, which the kernel can only swap out.  Since 0.7.0 (the value
   * 0 had this meaning before). */
  MRLOG_STORE_COPY = 2
};

/* Which records reads show (mrlog_policy.visibility). */
enum mrlog_visibility {
  /* Default.  A record is visible once its append has been acknowledged
   * under the log's policy: once an fdatasync covers it by default, once
   * written to the OS with fsync_interval_ms > 0. */
  MRLOG_VISIBLE_ACKNOWLEDGED = 0,
  /* Only once an fdatasync covers it, in every mode: a record a reader
   * saw is never taken back by a crash. */
  MRLOG_VISIBLE_DURABLE = 1,
  /* As soon as the writer has applied it, before it is acknowledged (the
   * lowest latency; a crash may take back a record a reader saw). */
  MRLOG_VISIBLE_WRITTEN = 2
};

/* Where completions run (mrlog_policy.completion_mode). */
enum mrlog_completion_mode {
  /* Default.  Callbacks run on a library thread (the flusher). */
  MRLOG_COMPLETE_ON_LIBRARY_THREAD = 0,
  /* Completions are queued; the application runs them on its own thread
   * with mrlog_run_completions, woken by mrlog_completion_fd. */
  MRLOG_COMPLETE_ON_POLL = 1
};

/* Recovery policy for damaged files found at open. */
enum mrlog_recovery {
  /* Default.  The unwitnessed tail a crash leaves in the newest segment
   * is cut off and counted in stats.discarded_tail_bytes; damage anywhere
   * else (witnessed by a later frame or a segment's seal, or an older
   * segment cut short) fails mrlog_open with MRLOG_ECORRUPT. */
  MRLOG_RECOVER_TOLERATE_TAIL = 0,
  /* Any damage, tail included, fails mrlog_open with MRLOG_ECORRUPT and
   * changes nothing on disk; so does an unsealed newest segment ending in
   * zeros. */
  MRLOG_RECOVER_STRICT = 1,
  /* Damaged frames anywhere are skipped; open succeeds with whatever could
   * be read.  Each dropped range is reported (log_fn, MRLOG_LOG_WARN) and
   * counted (stats.skipped_*); the acknowledged records near the damage
   * are lost. */
  MRLOG_RECOVER_SKIP_CORRUPT = 2
};

/* Severity passed to the log callback. */
enum mrlog_log_level {
  MRLOG_LOG_ERROR = 0,
  MRLOG_LOG_WARN = 1,
  MRLOG_LOG_INFO = 2
};

/*
 * Diagnostic messages (recovery decisions, I/O failures, deleted segments,
 * a producer blocked for more than a second).  Runs on whichever thread
 * found the event (the opener's, a blocked producer's or a library
 * thread); the message is valid only during the call.  It must not call
 * into the log.
 */
typedef void (*mrlog_log_fn)(void *arg, int level, const char *message);

/*
 * Configuration.  Always start from mrlog_policy_init(), then change fields:
 * new fields may be added at the end in later versions.
 */
typedef struct mrlog_policy {
  /* 0 (default): a mutation is acknowledged only after an fdatasync covers
   * it (group commit: one fsync acknowledges everything written before it).
   * N > 0: acknowledged once written to the OS; the flusher fsyncs every N
   * milliseconds. */
  unsigned fsync_interval_ms;
  /* With fsync_interval_ms > 0: also fsync once this many bytes are
   * unsynced.  0 (default): no byte trigger. */
  uint64_t fsync_bytes;
  /* A segment file is rotated once it holds at least this many bytes.
   * Default 128 MiB; 0 means the default; clamped to [4 KiB, 1 GiB]. */
  uint64_t segment_bytes;
  /* Bytes of the process's own memory the log may hold before producers
   * are pushed back (appends and creates wait, or get MRLOG_EFULL).  The
   * charge (stats.memory_charged) is every allocation the library makes
   * for retained records and for what scales with them, at the
   * allocator's sizes (stats.memory_bytes lists them), charged as it is
   * made, plus what requests in flight reserve at submission: their own
   * block and the chunk bytes their records will take.  The mapped
   * segment files are page cache, not charged.  So under
   * MRLOG_STORE_MAPPED the retained payload is not charged either: the
   * log retains any volume (disk space is the limit), and memory_limit
   * bounds only what grows per record (about 8 bytes of index, section
   * "Memory" of docs/DESIGN.md) and the requests in flight.  Under
   * MRLOG_STORE_COPY, which copies every record into its own memory, the
   * retained payload is charged (also that of records it recovered from
   * the files at open), so memory_limit bounds the volume it retains.
   * Default 1 GiB; 0 means the default.  When no record is retained and
   * nothing is in flight, one request is admitted whatever its size, so
   * none waits forever.  Small appends reserve in steps of
   * min(~136 KiB, memory_limit / 64) per thread (unused reservations
   * return as the writer takes them).  The process's own (anonymous)
   * resident memory stays within memory_limit plus what is charged past
   * it by requests already admitted (their records' chunks are charged
   * when stored) and per-thread staging buffers (up to 1 MiB per
   * appending thread, 4 MiB below a memory_limit of 8.5 MiB);
   * docs/DESIGN.md "Memory". */
  uint64_t memory_limit;
  /* Request ring size, a power of two in [4, 2^24] (anything else,
   * 0 included, is MRLOG_EINVAL).  Default 16384. */
  unsigned ring_slots;
  /* 0 (default): a producer waits when the ring is full, memory is at its
   * limit, or its thread already has 1 MiB of small appends in flight
   * (16 staging batches of 64 KiB; below a memory_limit of 4 MiB, 64
   * batches of memory_limit/64) (for at most block_timeout_ms).  1: such a call completes at once
   * with MRLOG_EFULL. */
  int nonblocking;
  /* How often the cleaner looks for deletable segments even when nothing
   * woke it, in ms.  Default 1000; 0 means the default. */
  unsigned cleaner_interval_ms;
  /* enum mrlog_recovery; default MRLOG_RECOVER_TOLERATE_TAIL. */
  int recovery;
  /* Mode for created segment files (before umask).  Default 0644; 0 means
   * the default.  Only read and write bits (within 0666) make sense for
   * data files: any other bit (execute, setuid, setgid, sticky, file type)
   * makes mrlog_open return MRLOG_EINVAL. */
  mode_t file_mode;
  /* Optional diagnostics callback and its argument (default NULL). */
  mrlog_log_fn log_fn;
  void *log_arg;
  /* Time (see TIME below).  Rotate the hot segment once it is this many
   * ms old (by now_ms) and holds anything besides its checkpoint, even if
   * no write arrives, so that an idle log's old data can be deleted once
   * truncated.  0 (default): by size only.  Checked by the cleaner every
   * cleaner_interval_ms at most. */
  uint64_t segment_max_age_ms;
  /* The cleaner truncates, in every queue, the records framed more than
   * this many ms ago (by now_ms), every cleaner_interval_ms at most.  Each
   * such truncation is an ordinary one (written, applied, then completed
   * like any other: durably under the default policy), reported through
   * log_fn (MRLOG_LOG_INFO) once completed, and counted in stats
   * (retention_truncations, retention_records).  0 (default): no
   * retention. */
  uint64_t retention_ms;
  /* With fsync_interval_ms > 0: also fsync once this many appended
   * records are unsynced.  0 (default): no count trigger. */
  uint64_t fsync_writes;
  /* The clock: milliseconds since the Unix epoch.  NULL (default): the
   * system's wall clock (CLOCK_REALTIME).  Tests drive time with it.  Runs
   * on library threads, often (once per frame written); must be cheap and
   * must not call into the log. */
  uint64_t (*now_ms)(void *arg);
  void *now_arg;
  /* enum mrlog_record_store; default MRLOG_STORE_DEFAULT (0): the
   * mapped store on a 64-bit address space, the copy store otherwise.
   * Any other value is MRLOG_EINVAL.  Since 0.3.0 (it took a reserved
   * word); 0 means the default and 2 the copy store since 0.7.0. */
  int record_store;
  /* The longest a producer waits (policy.nonblocking == 0) when the ring
   * is full, memory is at memory_limit or its thread's small appends are
   * all in flight, in ms, counted from when it starts to wait; past it the
   * call completes with MRLOG_EFULL.  0 (default): it waits as long as it
   * takes.  Either way a wait longer than a second is reported once,
   * through log_fn at MRLOG_LOG_WARN, per episode of blocking (until a
   * blocked producer gets through).  Since 0.4.0 (it took a reserved
   * word). */
  unsigned block_timeout_ms;
  /* 0 (default): the log is opened for writing, as described at
   * mrlog_open.  Non-zero: a read-only open (see READ-ONLY OPEN at
   * mrlog_open): nothing in the directory is created, written, cut,
   * renamed, removed or synced, no lock is taken, and every mutating call
   * completes with MRLOG_EINVAL.  It took the first half of a reserved
   * word. */
  int read_only;
  /* 0 (default): mrlog_open creates the log's directory itself but not
   * its parents (a missing parent is MRLOG_ENOENT).  Non-zero: it also
   * creates every missing parent, like mkdir -p (mode 0755 before
   * umask), and makes each new entry durable (fsyncs the directory that
   * holds it) before it returns.  Ignored by a read-only open, which
   * creates nothing.  Since 0.5.0 (it took the second half of the word
   * read_only took). */
  int create_parents;
  /* The size of this struct as the caller's header declares it, set by
   * mrlog_policy_init (a macro that passes sizeof): it tells mrlog_open
   * how many bytes the caller's struct has (docs/COMPATIBILITY.md).  0:
   * a struct of 136 bytes, from a header older than 0.6.0 (this word was
   * reserved[0] there), whose later fields take their defaults.  Since
   * 0.6.0. */
  uint32_t size;
  /* enum mrlog_visibility; default MRLOG_VISIBLE_ACKNOWLEDGED (0).  Any
   * other value is MRLOG_EINVAL.  Since 0.6.0. */
  int visibility;
  /* enum mrlog_completion_mode; default MRLOG_COMPLETE_ON_LIBRARY_THREAD
   * (0).  Any other value is MRLOG_EINVAL.  Since 0.6.0. */
  int completion_mode;
  /* 0 (default): committed positions (mrlog_commit) change nothing but
   * themselves.  Non-zero: records every consumer of their queue has
   * committed are truncated.  Since 0.6.0. */
  int truncate_on_commit;
  /* Quotas.  queue_memory_limit: bytes one queue's retained records may be
   * charged (mrlog_queue_info.memory_bytes: their payload under either
   * store, so it bounds the volume a queue retains, plus their chunks,
   * runs and time marks); disk_limit: bytes of segment files in all
   * (stats.disk_bytes).  An append that would pass either
   * waits (for at most block_timeout_ms), or completes with MRLOG_EFULL
   * when nonblocking; it never fails the log.  Truncation and file
   * deletion give the room back.  0 (default): no quota.  The writer
   * decides, as it takes the append: the call never waits; a held-back
   * append holds back the later appends to its queue (under disk_limit,
   * every later append) but no other request, and takes its position
   * when admitted.  memory_bytes may pass the quota by the unused room
   * of the queue's newest chunk; disk_limit also counts rotation and the
   * room the durable policy zero-fills ahead.  An append larger than a
   * quota on its own completes with MRLOG_EFULL at once; one held back
   * when its queue is deleted or the log closes, with MRLOG_EFULL.
   * docs/API.md has the details.  Since 0.6.0. */
  uint64_t queue_memory_limit;
  uint64_t disk_limit;
  /* Room for fields of later versions, so the struct's size (the ABI)
   * does not change when they come (docs/COMPATIBILITY.md).  Must be zero,
   * as mrlog_policy_init leaves it: mrlog_open refuses anything else with
   * MRLOG_EINVAL, so a program built for a newer library that sets a new
   * field is refused by an older library instead of being ignored. */
  uint64_t reserved[6];
} mrlog_policy;

/* Fills *policy with the defaults documented above, and policy->size.
 * Any thread.  A macro over mrlog_policy_init_size, so that the library
 * knows the size of the caller's struct; the function mrlog_policy_init,
 * which programs built against a header older than 0.6.0 call, fills the
 * 136 bytes such a struct has and leaves size 0. */
MRLOG_EXPORT void mrlog_policy_init_size(mrlog_policy *policy, size_t size);
MRLOG_EXPORT void (mrlog_policy_init)(mrlog_policy *policy);
#define mrlog_policy_init(policy)                                        \
  mrlog_policy_init_size((policy), sizeof(*(policy)))

/* Kept for source compatibility: memory_limit charges the memory really
 * allocated (see mrlog_policy.memory_limit), not a fixed overhead per
 * record. */
#define MRLOG_RECORD_OVERHEAD 16u

/*
 * Opens (creating if missing: one directory level, or every missing one
 * with policy.create_parents) the log in dir, takes an exclusive lock on
 * it, recovers every queue from its segment files and starts the writer,
 * flusher and cleaner threads (a read-only open does less: see READ-ONLY
 * OPEN below).
 *   policy: NULL for defaults; copied.
 *   out: OUT: the open log on success, NULL on failure.
 * Every failure is also reported through policy.log_fn (MRLOG_LOG_ERROR)
 * with dir and, when the OS refused something, the call, the path it was
 * given and the OS's own message (strerror).
 * Returns 0, MRLOG_ENOENT (a parent directory that does not exist,
 * without policy.create_parents), MRLOG_EACCES (the OS refused, with
 * EACCES, EPERM or EROFS, to create, open or lock the directory or its
 * LOCK file, or to create its first segment file),
 * MRLOG_EINVAL (NULL or empty argument, bad policy, a path that is not a
 * directory,
 * a segment file longer than 4 GiB - 1 or a recovered set of queues
 * whose checkpoint would pass 1 GiB, both beyond what a writer makes),
 * MRLOG_ELOCKED (held
 * by another opener, in this or another process), MRLOG_ECORRUPT,
 * MRLOG_EVERSION (a segment whose intact header names a format version
 * this library does not read, outside 1 .. MRLOG_FORMAT_VERSION_CURRENT:
 * every header is checked first, so nothing is changed on disk, whatever
 * the recovery policy),
 * MRLOG_EIO, MRLOG_ENOSPC or MRLOG_ENOMEM.  A directory it creates is
 * made durable (its parent is fsynced) before it returns.  Any thread but
 * a library one: there it returns MRLOG_EINVAL and does nothing.
 *
 * READ-ONLY OPEN (policy.read_only != 0).  Opens the log to read it and
 * changes nothing in dir: it creates, writes, cuts, renames, removes and
 * syncs no file, makes no directory (a missing dir is MRLOG_ENOENT) and
 * takes no lock, so it works on a read-only file system and on a full
 * disk.  Recovery runs under the same policy.recovery and reaches the same
 * decisions, which are reported (log_fn) but applied in memory only: a
 * torn tail is left in the file, its records are not in the view, and its
 * bytes count in stats.discarded_tail_bytes; a newest segment whose
 * creation was cut short is left in place, not read; an unsealed newest
 * segment stays unsealed.  Without a lock, read-only opens exclude neither
 * each other nor a writer: a writing mrlog_open of the same dir succeeds
 * while they are open, and a read-only open beside a running writer shows
 * a consistent prefix of what that writer has written (every record
 * acknowledged before the open began, possibly later ones, never a torn
 * one); the view does not follow later writes.  Every mutating call
 * (mrlog_create_queue, mrlog_delete_queue, mrlog_append,
 * mrlog_append_batch, mrlog_truncate, mrlog_sync) completes with
 * MRLOG_EINVAL, under THE COMPLETION RULE; the reads work as on any log.
 * policy.record_store is accepted and the records are copied either way;
 * the fsync, memory, cleaner, retention and rotation fields have no
 * effect.  mrlog_close returns 0.
 */
MRLOG_EXPORT int mrlog_open(const char *dir, const mrlog_policy *policy,
                            mrlog **out);

/*
 * Completes every pending request (durably, unless the log has failed),
 * joins the threads, releases the lock and frees the log.  Calls made from
 * callbacks while closing complete with MRLOG_ECLOSED.  Must not race with
 * other calls on the same log from application threads; must not be called
 * from a library thread (returns MRLOG_EINVAL and does nothing).  Futures
 * not yet waited stay valid after close (all are ready); open cursors
 * stay to be closed, their calls returning MRLOG_ECLOSED (see CURSORS).
 * Returns 0, or the
 * status that failed the log if it had failed (stats.failed: MRLOG_EIO or
 * MRLOG_ENOSPC, or MRLOG_ENOMEM when the writer could not allocate); it
 * frees the log in every case.  MRLOG_EINVAL at once, touching nothing,
 * for NULL, a log already closed or being closed by another thread, and
 * any pointer that is not an open log (see MISUSE).  In poll mode it runs
 * the completions still queued on the calling thread before it returns
 * (see POLL MODE).
 */
MRLOG_EXPORT int mrlog_close(mrlog *log);

/*
 * Completion callback: status is 0, MRLOG_DUPLICATE or a negative error;
 * position as documented per call (0 when it has none).  Runs on a library
 * thread; see THE COMPLETION RULE.
 */
typedef void (*mrlog_done_fn)(void *arg, int status, uint64_t position);

/*
 * Mutations.  Each returns a future, or NULL only when the future itself
 * could not be allocated -- the callback still runs, with MRLOG_ENOMEM.
 * queue: a NUL-terminated name of 1 to MRLOG_QUEUE_NAME_MAX bytes.
 */

/* Creates an empty queue whose first position is 0.  MRLOG_EEXIST if it
 * exists; MRLOG_EINVAL if the log already holds as many queues as a
 * segment's checkpoint can list (their names and four numbers each come
 * to 1 GiB: docs/FORMAT.md 7.7).  Position reported: 0. */
MRLOG_EXPORT mrlog_future *mrlog_create_queue(mrlog *log, const char *queue,
                                              mrlog_done_fn done, void *arg);

/* Deletes a queue and its records.  MRLOG_ENOQUEUE if missing. */
MRLOG_EXPORT mrlog_future *mrlog_delete_queue(mrlog *log, const char *queue,
                                              mrlog_done_fn done, void *arg);

/*
 * Appends one record of len bytes (0 .. MRLOG_RECORD_MAX; data may be NULL
 * when len is 0).  position NULL: at the queue's next position.  Non-NULL
 * p: p < next gives MRLOG_DUPLICATE and writes nothing; p >= next appends
 * at p and next becomes p + 1.  Position reported: the record's (for
 * MRLOG_DUPLICATE: p).  MRLOG_ENOQUEUE if the queue does not exist;
 * MRLOG_EINVAL if the position would pass MRLOG_POSITION_MAX.
 */
MRLOG_EXPORT mrlog_future *mrlog_append(mrlog *log, const char *queue,
                                        const uint64_t *position,
                                        const void *data, size_t len,
                                        mrlog_done_fn done, void *arg);

/*
 * Appends count records (1 .. MRLOG_BATCH_COUNT_MAX, total payload at most
 * MRLOG_BATCH_BYTES_MAX) atomically, on disk too, at consecutive positions
 * starting at *first_position (NULL: next).  The duplicate rule applies to
 * the first position.  Position reported: the last record's (for
 * MRLOG_DUPLICATE: first + count - 1, where it would have gone).
 * MRLOG_EINVAL (position reported: 0), never MRLOG_DUPLICATE, when the
 * last position, first + count - 1, would pass MRLOG_POSITION_MAX.
 */
MRLOG_EXPORT mrlog_future *mrlog_append_batch(mrlog *log, const char *queue,
                                              const uint64_t *first_position,
                                              const struct iovec *records,
                                              size_t count, mrlog_done_fn done,
                                              void *arg);

/*
 * mrlog_append and mrlog_append_batch without a future: the same
 * arguments, checks, statuses and positions, delivered to done only
 * (done NULL: nobody learns the outcome).  No future is taken, completed
 * or freed, which saves a few atomic operations and cache-line transfers
 * per call: for servers that act on callbacks alone.  Since 0.7.0.
 */
MRLOG_EXPORT void mrlog_append_cb(mrlog *log, const char *queue,
                                  const uint64_t *position, const void *data,
                                  size_t len, mrlog_done_fn done, void *arg);
MRLOG_EXPORT void mrlog_append_batch_cb(mrlog *log, const char *queue,
                                        const uint64_t *first_position,
                                        const struct iovec *records,
                                        size_t count, mrlog_done_fn done,
                                        void *arg);

/*
 * Removes every record at or below position.  next becomes
 * max(next, position + 1) (capped at UINT64_MAX, after which the queue
 * takes no more appends).  Position reported: the argument.
 * MRLOG_ENOQUEUE if the queue does not exist.
 */
MRLOG_EXPORT mrlog_future *mrlog_truncate(mrlog *log, const char *queue,
                                          uint64_t position,
                                          mrlog_done_fn done, void *arg);

/*
 * Committed positions of named consumers.  A consumer is a name (same
 * rules as a queue's) with a position in one queue: "every record below
 * it was processed".  Consumers of one queue are independent of those of
 * another; deleting the queue removes them.  They are kept on disk like
 * truncations (durable and acknowledged by the same rules) and restated
 * in every segment's checkpoint, so they never keep old segment files.
 *
 * mrlog_commit records that consumer has processed every record of queue
 * below position (a new consumer starts there).  Committed positions only
 * move forward: a commit at or below the current one completes with
 * MRLOG_DUPLICATE and changes nothing (position reported: the committed
 * one); otherwise position reported: the argument.  With
 * policy.truncate_on_commit, the records below the smallest committed
 * position of the queue's consumers are truncated in the same atomic
 * step (a commit past next moves next, as mrlog_truncate does).
 * MRLOG_ENOQUEUE if the queue does not exist; MRLOG_EINVAL for a bad name,
 * or a new consumer that would take a segment's checkpoint past its bound
 * (docs/FORMAT.md 7.7).  Since 0.6.0.
 */
MRLOG_EXPORT mrlog_future *mrlog_commit(mrlog *log, const char *queue,
                                        const char *consumer,
                                        uint64_t position, mrlog_done_fn done,
                                        void *arg);

/* Removes a consumer.  Position reported: its committed position.
 * MRLOG_ENOQUEUE, or MRLOG_ENODATA if the queue has no such consumer.
 * With truncate_on_commit, the records below the smallest position of
 * the consumers that remain are truncated in the same step; removing the
 * last one truncates nothing.  Since 0.6.0. */
MRLOG_EXPORT mrlog_future *mrlog_remove_consumer(mrlog *log,
                                                 const char *queue,
                                                 const char *consumer,
                                                 mrlog_done_fn done,
                                                 void *arg);

/* A whole-log barrier.  Covers every mutation whose call returned, on
 * any thread, before this call began (except appends a quota holds
 * back: policy.queue_memory_limit, disk_limit), and every mutation that
 * completed before it: not only the caller's own calls, but every other
 * thread's too, small staged appends included.  Calls still running on
 * other threads when it begins may land on either side.  It completes once
 * everything it covers is durable and has completed (callbacks run), in
 * every policy running an fdatasync first if anything written is not yet
 * durable.  Status: 0, or the status that failed the log.  Position
 * reported: 0. */
MRLOG_EXPORT mrlog_future *mrlog_sync(mrlog *log, mrlog_done_fn done,
                                      void *arg);

/*
 * Waits for records: completes, with status 0 and the queue's visible
 * next position as the position reported, as soon as that position
 * (everything below it is visible to reads under policy.visibility)
 * exceeds `position`: at once if it already does, also when a truncation
 * moved the queue past it.  Otherwise MRLOG_ENOQUEUE if the queue does not
 * exist or is deleted while the watch waits, MRLOG_ECLOSED at close, the
 * log's failure status if it fails, MRLOG_ECANCELED after mrlog_cancel,
 * MRLOG_EINVAL for a NULL log or a bad name.  Any thread; the callback
 * runs on a library thread, as for every call.  A waiting watch costs no
 * work until its queue changes.  Since 0.6.0.
 */
MRLOG_EXPORT mrlog_future *mrlog_watch(mrlog *log, const char *queue,
                                       uint64_t position, mrlog_done_fn done,
                                       void *arg);

/*
 * Cancels a pending watch: it completes (callback, then the future ready)
 * with MRLOG_ECANCELED.  Returns 0, or MRLOG_EINVAL if future is not a
 * pending watch (completed already, not a watch, NULL or a stale handle).
 * The future stays the caller's to wait or forget.  A cancel racing with
 * the watch's completion yields exactly one completion: 0 means the
 * cancel won.  Any thread, callbacks included.  Since 0.6.0.
 */
MRLOG_EXPORT int mrlog_cancel(mrlog_future *future);

/*
 * Blocks until the future is ready, stores the reported position in
 * *position (may be NULL), frees the future and returns the status.
 * From a library thread on a future that is not ready: returns
 * MRLOG_EINVAL and leaves the future valid.  MRLOG_EINVAL, without
 * blocking and leaving *position alone, for NULL and for a future already
 * waited or forgotten (also when another thread's mrlog_wait takes it
 * first).  In poll mode, on the polling thread, it runs completions while
 * it waits (see POLL MODE).
 */
MRLOG_EXPORT int mrlog_wait(mrlog_future *future, uint64_t *position);

/* As mrlog_wait, but gives up after timeout_ms with MRLOG_ETIMEDOUT,
 * leaving the future valid. */
MRLOG_EXPORT int mrlog_wait_timeout(mrlog_future *future, unsigned timeout_ms,
                                    uint64_t *position);

/* True once the callback has returned.  Never blocks.  False for NULL and
 * for a future already waited or forgotten. */
MRLOG_EXPORT bool mrlog_ready(const mrlog_future *future);

/* Gives the future up: it is freed once complete.  The callback still
 * runs.  NULL and a future already waited or forgotten are ignored. */
MRLOG_EXPORT void mrlog_forget(mrlog_future *future);

/*
 * POLL MODE (policy.completion_mode = MRLOG_COMPLETE_ON_POLL).  For
 * servers built on an event loop: completions are queued instead of run
 * on a library thread, and the application runs them on its own thread
 * (the poller) with mrlog_run_completions, woken by the eventfd of
 * mrlog_completion_fd.  THE COMPLETION RULE and ORDER hold otherwise:
 * every completion is queued exactly once, in the order the library
 * thread would have run it, and run once, in that order, one at a time;
 * the future becomes ready after its callback has returned.  While a
 * callback runs, its thread counts as a library thread
 * (mrlog_on_library_thread): mrlog_close, mrlog_open,
 * mrlog_run_completions and a wait on a future that is not ready return
 * MRLOG_EINVAL there, and a mutation that would block completes with
 * MRLOG_EFULL.  A queued completion holds only the future its call
 * returned: the request's memory and reservation are released when it is
 * queued, so a poller that lags never holds producers back, and the queue
 * allocates nothing.
 *
 * The poller is the thread that last called mrlog_completion_fd or
 * mrlog_run_completions on the log.  mrlog_wait and mrlog_wait_timeout on
 * a future of the log that is not ready: on the poller (or on any thread
 * while the log has no poller: it becomes the poller), they run
 * completions, in order, until the future is ready, and sleep while none
 * is queued; on any other thread they sleep until the poller has run its
 * callback (it waits for ever if no thread polls: use
 * mrlog_wait_timeout).
 *
 * mrlog_close runs the completions still queued on the closing thread,
 * before it returns (it becomes the poller): none is lost and none runs
 * after close.  Stop watching the descriptor before closing the log: close
 * closes it.  Mutations on a closed log complete with MRLOG_ECLOSED on a
 * library thread, as in the other mode (nothing is left to poll).
 */

/* The log's eventfd: readable (POLLIN) exactly while completions are
 * queued, not readable once they have all been taken to run.  Poll it
 * only: never read, write or close it.  Valid until mrlog_close.  Makes
 * the calling thread the poller.  MRLOG_EINVAL for NULL, a closed log, a
 * log not in poll mode, and from inside a callback.  Any thread. */
MRLOG_EXPORT int mrlog_completion_fd(mrlog *log);

/* Runs up to max queued completions (callback, then the future becomes
 * ready) on the calling thread, in order, and returns how many ran: 0
 * when none is queued (or max is 0); never blocks except while another
 * thread runs completions of the log (one at a time).  Completions queued
 * while it runs are run too, up to max.  Makes the calling thread the
 * poller.  MRLOG_EINVAL for NULL, a closed log, a log not in poll mode,
 * and from inside a callback.  Must not race with mrlog_close. */
MRLOG_EXPORT int mrlog_run_completions(mrlog *log, unsigned max);

/*
 * Reads, synchronous, from RAM, from any thread, concurrent with writes.
 * They show the records visible under policy.visibility: below each
 * queue's visible next position (mrlog_watch waits for it to move).
 */

/*
 * MAPPED READS.  Records recovered at open (with either record store) and
 * records written under MRLOG_STORE_MAPPED are read from read-only
 * mappings of their segment files.  A read never kills the process: if a
 * page of such a file cannot be read (an I/O error, or another process
 * truncated the file under the open log), the library's SIGBUS handler
 * (installed once per process at the first mapping, chained to the
 * handler installed before it: a SIGBUS anywhere else goes on to that
 * handler or kills the process as before) maps zeros over that page, and
 * every read of a record with bytes there returns MRLOG_EIO; records on
 * other pages, segments and queues read on.  The first such read logs it
 * (log_fn, MRLOG_LOG_ERROR); the log is not failed, writes go on.  An
 * application that installs its own SIGBUS handler after opening a log
 * must chain to the previous one for this to hold.
 *
 * Address space: a recovered or sealed segment keeps a mapping of its
 * file's length (rounded up to a page) while it holds retained records;
 * the hot segment under MRLOG_STORE_MAPPED keeps a window of
 * max(segment_bytes, 2 x its checkpoint) + 80 MiB, rounded up to a page
 * (a frame that would end past it is copied instead).  A log of N mapped
 * segments of S bytes thus reserves about N x S plus one window: 1,000
 * segments of 128 MiB take 125 GiB of the 128 TiB a 64-bit process has.
 * The process-wide handler tracks at most 65,536 mappings at once; a
 * segment beyond that, or whose mapping fails (mmap's ENOMEM), has its
 * records copied instead (log_fn, MRLOG_LOG_WARN for the hot segment): no
 * error, more memory.
 */

/*
 * Returned by a range visitor to stop.  data is valid only during the call.
 * The visitor runs on the calling thread with no library lock held.
 */
typedef int (*mrlog_visit_fn)(void *arg, uint64_t position, const void *data,
                              size_t len);

/*
 * Visits, in position order, the queue's records with from <= position <
 * to (to = UINT64_MAX: to the end; from >= to visits nothing and returns
 * 0 when the queue exists, MRLOG_ENOQUEUE when it does not).  Never shows a torn or truncated
 * record; shows every record acknowledged before the call started (and
 * possibly later ones allowed by policy.visibility).  Returns 0, the visitor's non-zero value if it
 * stopped, MRLOG_ENOQUEUE, MRLOG_EINVAL, or MRLOG_EIO when a record's
 * bytes could not be read from its segment file (MAPPED READS): the
 * records visited before it were whole; if the bytes were lost while its
 * visitor ran, the visitor read zeros there and the call returns
 * MRLOG_EIO right after it.
 */
MRLOG_EXPORT int mrlog_range(mrlog *log, const char *queue, uint64_t from,
                             uint64_t to, mrlog_visit_fn visit, void *arg);

/*
 * TIME.  Every record carries the wall-clock time, in milliseconds since
 * the Unix epoch (policy.now_ms, by default CLOCK_REALTIME), at which the
 * writer framed it, shortly after it was submitted.  Records framed
 * together share one time.  Within a log, times never go backwards: if the
 * clock steps back, frames keep the newest time given out so far (after a
 * reopen: the newest time of the records still in the files) until the
 * clock catches up.  Records written by format
 * version 1 (which stored no times) take their segment file's
 * modification time.
 */

/* Like mrlog_visit_fn, with the record's time (unix ms). */
typedef int (*mrlog_visit_time_fn)(void *arg, uint64_t position,
                                   uint64_t unix_ms, const void *data,
                                   size_t len);

/* mrlog_range, whose visitor also receives each record's time. */
MRLOG_EXPORT int mrlog_range_time(mrlog *log, const char *queue,
                                  uint64_t from, uint64_t to,
                                  mrlog_visit_time_fn visit, void *arg);

/*
 * Finds the first retained record of the queue framed at or after unix_ms
 * (a binary search) and stores its position in *position.  Returns 0,
 * MRLOG_ENODATA when every retained record is older (or there is none;
 * *position is then unchanged), MRLOG_ENOQUEUE or MRLOG_EINVAL.  Any
 * thread; like the other reads, sees at least everything acknowledged
 * before the call.
 */
MRLOG_EXPORT int mrlog_seek_time(mrlog *log, const char *queue,
                                 uint64_t unix_ms, uint64_t *position);

/* True if the queue exists (as far as the writer has applied). */
MRLOG_EXPORT bool mrlog_queue_exists(mrlog *log, const char *queue);

/* Visits every queue's name (valid during the call), in no set order.
 * Returns 0, the visitor's non-zero value, or MRLOG_EINVAL/MRLOG_ENOMEM. */
typedef int (*mrlog_queue_visit_fn)(void *arg, const char *queue);
MRLOG_EXPORT int mrlog_list_queues(mrlog *log, mrlog_queue_visit_fn visit,
                                   void *arg);

/* Stores consumer's committed position in *position.  Returns 0,
 * MRLOG_ENOQUEUE, MRLOG_ENODATA for a consumer the queue does not have
 * (*position unchanged) or MRLOG_EINVAL.  Any thread; sees at least every
 * commit acknowledged before the call.  Since 0.6.0. */
MRLOG_EXPORT int mrlog_committed(mrlog *log, const char *queue,
                                 const char *consumer, uint64_t *position);

/* Visits every consumer of the queue with its committed position (the
 * name is valid during the call), in no set order, with no lock held.
 * Returns 0, the visitor's non-zero value (which stops the walk),
 * MRLOG_ENOQUEUE, MRLOG_EINVAL or MRLOG_ENOMEM.  Since 0.6.0. */
MRLOG_EXPORT int mrlog_list_consumers(mrlog *log, const char *queue,
                                      int (*visit)(void *arg,
                                                   const char *consumer,
                                                   uint64_t position),
                                      void *arg);

/*
 * Like stat(2), the info and stats calls share their names with their
 * structs: declare `struct mrlog_queue_info info;` (or use the _t typedef).
 */
struct mrlog_queue_info {
  uint64_t first_position; /* first retained record's; == next when empty */
  uint64_t next_position;  /* position the next default append takes */
  uint64_t records;        /* retained records */
  uint64_t bytes;          /* retained payload bytes */
  uint64_t first_time_ms;  /* when the first retained record was framed
                              (unix ms); 0 when empty */
  uint64_t last_time_ms;   /* when the last retained record was framed */
  uint64_t durable_position; /* every record below it is durable (an
                                fdatasync covers it).  Since 0.6.0 */
  uint64_t memory_bytes;   /* what the queue's retained records are
                              charged against queue_memory_limit:
                              chunks, runs, time marks, and the payload
                              of mapped records (page cache).  Less
                              that payload under MRLOG_STORE_MAPPED, it
                              is their part of stats.memory_charged.
                              Since 0.6.0 */
  uint64_t reserved[6];    /* zero; room for fields of later versions */
};
typedef struct mrlog_queue_info mrlog_queue_info_t;

/* Returns 0, MRLOG_ENOQUEUE or MRLOG_EINVAL.  info: OUT.  A macro over
 * mrlog_queue_info_size, which fills min(size, sizeof) bytes of *info
 * (zeroing what it does not know); the function mrlog_queue_info, which
 * programs built against a header older than 0.6.0 call, fills the 64
 * bytes their struct has. */
MRLOG_EXPORT int mrlog_queue_info_size(mrlog *log, const char *queue,
                                       struct mrlog_queue_info *info,
                                       size_t size);
MRLOG_EXPORT int (mrlog_queue_info)(mrlog *log, const char *queue,
                                   struct mrlog_queue_info *info);
#define mrlog_queue_info(log, queue, info)                               \
  mrlog_queue_info_size((log), (queue), (info), sizeof(*(info)))

struct mrlog_stats {
  uint64_t segment_files;        /* segment files on disk */
  uint64_t disk_bytes;           /* their total size */
  uint64_t memory_bytes;         /* RAM the library holds for retained
                                    records, in the sizes the allocator
                                    hands out: chunks (unused capacity
                                    included), each queue's struct, name,
                                    runs and time marks, the index beyond
                                    its first 64 buckets, the writer's
                                    buffers beyond their first size; and
                                    the mapped bytes of the segment files
                                    records are read from (recovered at
                                    open, or MRLOG_STORE_MAPPED): page
                                    cache, resident in the process only
                                    as far as it is read */
  uint64_t queues;               /* live queues */
  uint64_t records;              /* retained records, all queues */
  uint64_t appends;              /* records appended since open */
  uint64_t fsyncs;               /* fdatasync/fsync calls since open */
  uint64_t ring_depth;           /* requests waiting in the ring now */
  uint64_t discarded_tail_bytes; /* bytes cut or skipped at recovery */
  uint64_t segments_deleted;     /* segment files deleted since open */
  int failed;                    /* 0, or the status that failed the log */
  uint64_t retention_truncations; /* truncations made by retention_ms
                                     since open */
  uint64_t retention_records;    /* records they dropped */
  uint64_t age_rotations;        /* rotations by segment_max_age_ms */
  uint64_t memory_charged;       /* what memory_limit counts now:
                                    memory_bytes without the mappings
                                    (the process's own memory), plus the
                                    reservations of requests in flight;
                                    under MRLOG_STORE_COPY, plus the
                                    payload of the mapped records it
                                    recovered */
  /* What MRLOG_RECOVER_SKIP_CORRUPT dropped at open (docs/FORMAT.md 9.3;
   * each range is also reported through log_fn at MRLOG_LOG_WARN): */
  uint64_t skipped_bytes;        /* bytes of the dropped ranges */
  uint64_t skipped_ranges;       /* dropped ranges (frames, segment ends,
                                    files renamed aside) */
  uint64_t skipped_records_at_least; /* records known lost with them (a
                                        lower bound: a damaged frame's
                                        records cannot always be counted) */
  int record_store;              /* the store the log uses:
                                    MRLOG_STORE_MAPPED or
                                    MRLOG_STORE_COPY, never the default
                                    (policy.record_store resolved; a
                                    read-only open: MRLOG_STORE_COPY).
                                    Since 0.7.0; a library older than
                                    that leaves it 0 */
  int reserved_int;              /* zero; room for a field of a later
                                    version */
};
typedef struct mrlog_stats mrlog_stats_t;

/* Returns 0 or MRLOG_EINVAL.  stats: OUT. */
MRLOG_EXPORT int mrlog_stats(mrlog *log, struct mrlog_stats *stats);

/* The policy the log runs with, as mrlog_open normalized the caller's:
 * fields left 0 that have a default hold it, flags are 0 or 1, and
 * record_store is the store in use (never MRLOG_STORE_DEFAULT); log_fn,
 * log_arg, now_ms and now_arg are the caller's pointers.  Opening another
 * log with it gives the same behaviour.  policy: OUT.  A macro over
 * mrlog_get_policy_size, which fills min(size, sizeof) bytes of *policy
 * (zeroing what it does not know) and sets policy->size as
 * mrlog_policy_init would; the function mrlog_get_policy fills this
 * header's struct.  Returns 0, or MRLOG_EINVAL for a NULL or closed log,
 * a NULL policy, or a size below 136.  Any thread.  Since 0.7.0. */
MRLOG_EXPORT int mrlog_get_policy_size(mrlog *log, mrlog_policy *policy,
                                       size_t size);
MRLOG_EXPORT int (mrlog_get_policy)(mrlog *log, mrlog_policy *policy);
#define mrlog_get_policy(log, policy)                                    \
  mrlog_get_policy_size((log), (policy), sizeof(*(policy)))


/*
 * Metrics (lib/metrics.c, lib/metrics_text.c).  Four log-wide histograms
 * are recorded from open on, each as relaxed atomic bucket counters: the
 * append path takes no lock and makes no system call for them (two time
 * stamps: rdtsc with an invariant TSC, else a CLOCK_MONOTONIC read, which
 * the vDSO serves).  Bucket error: a value
 * below 16 has its own bucket; above, each power of two is cut into 16
 * buckets, so a percentile, reported as the upper bound of the bucket
 * holding its rank (capped at max), is never below the exact sample at
 * that rank and at most 1/16 (6.25 %) above it.  Setting the environment
 * variable MRLOG_METRICS_OFF=1 before the library is loaded turns the
 * recording off for the process (the histograms then stay empty; the
 * per-queue counters are kept): for benchmarks only.
 */
struct mrlog_histogram_summary {
  uint64_t count;          /* samples */
  uint64_t sum;            /* their total */
  uint64_t p50;            /* percentiles (see the bucket error above); */
  uint64_t p90;            /* 0 when count is 0; p50 <= p90 <= p99 <= */
  uint64_t p99;            /* p999 <= max */
  uint64_t p999;
  uint64_t max;            /* largest sample */
  uint64_t reserved[1];    /* zero; room for fields of later versions */
};
typedef struct mrlog_histogram_summary mrlog_histogram_summary_t;

struct mrlog_metrics {
  /* Nanoseconds from an append call (mrlog_append or mrlog_append_batch:
   * one sample per call) entering the library to its acknowledgement,
   * just before its callback runs and its future becomes ready; also for
   * appends that complete with an error found after their arguments were
   * checked. */
  struct mrlog_histogram_summary append_latency_ns;
  /* Nanoseconds of each fdatasync of a segment file (count ==
   * stats.fsyncs, those of recovery at open included). */
  struct mrlog_histogram_summary fsync_ns;
  /* Records each group commit (a policy fdatasync by the flusher that
   * succeeded) made durable; a sync with no new record counts 0. */
  struct mrlog_histogram_summary group_commit_records;
  /* Nanoseconds a producer waited for room in a full request ring (one
   * sample per wait, whether it got room or timed out). */
  struct mrlog_histogram_summary ring_wait_ns;
  uint64_t reserved[32];   /* zero; room for fields of later versions */
};
typedef struct mrlog_metrics mrlog_metrics_t;

/* The log-wide histograms since open.  Returns 0 or MRLOG_EINVAL (a NULL
 * or closed log, out NULL).  out: OUT.  Any thread; takes no lock, so a
 * summary read while appends complete may lag them by a few samples.
 * Since 0.6.0. */
MRLOG_EXPORT int mrlog_metrics(mrlog *log, struct mrlog_metrics *out);

/* Upper bound on the queues mrlog_metrics_text lists (with their
 * consumers' lags): the queues with the most records appended since open
 * (ties: by name). */
#define MRLOG_METRICS_TEXT_QUEUES 100

/* The metrics in the Prometheus text exposition format (version 0.0.4),
 * NUL-terminated, in buf (size bytes; may be NULL when size is 0).
 * *needed (OUT; may be NULL) is set to the bytes the text takes, its NUL
 * included.  Returns 0; MRLOG_ENOMEM when size < *needed (buf then holds
 * "" if size > 0, never a partial text; the text may grow before the
 * next call, so leave some room) or when memory ran out (*needed is then
 * 0); MRLOG_EINVAL for a NULL or closed log.  Any thread; it takes the
 * queue state's read lock for a moment, never the append path's.  Since
 * 0.6.0. */
MRLOG_EXPORT int mrlog_metrics_text(mrlog *log, char *buf, size_t size,
                                    size_t *needed);
/*
 * CURSORS.  A cursor reads one queue forward from a position, a record per
 * call, without a visitor.  It is bound to the queue it opened, by the
 * queue's identity: once that queue is deleted its calls return
 * MRLOG_ENOQUEUE, also after a queue of the same name is created again.
 * A cursor is used by one thread at a time (any thread, callbacks
 * included); any number of cursors, on any threads, read concurrently with
 * each other and with writes.  Like the other reads, cursors show only
 * visible records (policy.visibility).
 *
 * At mrlog_close, the log lets go of its cursors' records: every later
 * call on such a cursor returns MRLOG_ECLOSED (mrlog_cursor_position
 * keeps its last value), data a record handed out before the close is no
 * longer valid, and mrlog_cursor_close still frees the cursor, before or
 * after the log's close.  A cursor call must not race with mrlog_close.
 */
typedef struct mrlog_cursor mrlog_cursor;

/* A record as a cursor returns it.  data (len bytes) belongs to the cursor
 * and stays valid until the next mrlog_cursor_next, mrlog_cursor_seek or
 * mrlog_cursor_close on it (or mrlog_close), even if the record is
 * truncated or its queue deleted in the meantime.  If its segment file
 * loses the bytes meanwhile (MAPPED READS), they read as zeros, never
 * crash, and the next mrlog_cursor_next returns MRLOG_EIO once for it. */
struct mrlog_record {
  uint64_t position; /* the record's position */
  uint64_t unix_ms;  /* when it was framed (see TIME above) */
  const void *data;  /* its bytes */
  size_t len;        /* their count */
};

/* Opens a cursor on queue whose first mrlog_cursor_next looks at position
 * from.  Returns 0 and the cursor in *out (OUT; the caller owns it until
 * mrlog_cursor_close), or MRLOG_ENOQUEUE, MRLOG_EINVAL (NULL or invalid
 * argument, closed log) or MRLOG_ENOMEM, with *out set to NULL. */
MRLOG_EXPORT int mrlog_cursor_open(mrlog *log, const char *queue,
                                   uint64_t from, mrlog_cursor **out);

/* Fills *record (OUT) with the first visible record at or after the
 * cursor's position and moves the position past it.  If truncation has
 * dropped records at the position, the cursor continues at the first one
 * retained: record->position shows the jump.  Returns 0, MRLOG_ENODATA
 * at the visible end of the queue (call again later; mrlog_cursor_wait
 * says when), MRLOG_ENOQUEUE once the queue is deleted, MRLOG_ECLOSED
 * once the log is closed, MRLOG_EINVAL (NULL argument), or MRLOG_EIO
 * when the bytes of the record at the position could not be read from
 * its segment file (the position does not move: mrlog_cursor_seek past
 * it to go on) or those of the record returned last were lost after it
 * was returned (MAPPED READS, struct mrlog_record). */
MRLOG_EXPORT int mrlog_cursor_next(mrlog_cursor *cursor,
                                   struct mrlog_record *record);

/* Moves the cursor so that the next mrlog_cursor_next looks at position:
 * below the first retained record it continues there, past the end it
 * returns MRLOG_ENODATA until records reach position.  Returns 0,
 * MRLOG_ECLOSED or MRLOG_EINVAL; whether the queue still exists is told
 * by the next mrlog_cursor_next. */
MRLOG_EXPORT int mrlog_cursor_seek(mrlog_cursor *cursor, uint64_t position);

/* The position the next mrlog_cursor_next looks at: from, the argument of
 * the last seek, one past the last record returned, or the first retained
 * position where an MRLOG_ENODATA found truncation had passed it.  0 for
 * NULL. */
MRLOG_EXPORT uint64_t mrlog_cursor_position(const mrlog_cursor *cursor);

/* A watch at the cursor's position (mrlog_watch on its queue at
 * mrlog_cursor_position): completes with 0 and the queue's visible next
 * position once a record is visible at or after the position (at once if
 * one is).  MRLOG_ENOQUEUE once the cursor's queue is deleted (also if
 * created again), MRLOG_ECLOSED once the log is closed, MRLOG_ECANCELED
 * after mrlog_cancel, MRLOG_EINVAL for NULL; under THE COMPLETION RULE.
 * The wait does not use the cursor after the call returns. */
MRLOG_EXPORT mrlog_future *mrlog_cursor_wait(mrlog_cursor *cursor,
                                             mrlog_done_fn done, void *arg);

/* Frees the cursor and lets go of its record.  Any thread (one at a time
 * with the cursor's other calls), before or after mrlog_close of its log.
 * NULL is ignored. */
MRLOG_EXPORT void mrlog_cursor_close(mrlog_cursor *cursor);

#ifdef __cplusplus
}
#endif
#endif /* MRLOG_H */

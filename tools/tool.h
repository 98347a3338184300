/*
 * tool.h -- declarations shared by the files of the mrlog command-line tool
 * (tools/).  The tool inspects a log directory without changing it, two
 * ways: an independent reader of docs/FORMAT.md (verify and stat only),
 * which checks frames and replays the queue state machine itself,
 * borrowing only the CRC-32C routine and the on-disk constants from lib/,
 * so that its reading cross-checks the library's; and the library's
 * read-only open through the public API (view.c: dump, tail with and
 * without --follow, salvage, and the "library" part of stat and verify).
 * salvage writes a new log, through the public API; mirror and replica
 * open a log for writing (mrlog_open) and run libmrlog_mirror on it.
 *
 * Module map (one job per file):
 *   util.c      allocation that exits on failure, messages, argument parsing
 *   file.c      a segment file read through one window, at a snapshot size
 *   frame.c     file headers, frames, varints, the byte scans of recovery
 *   segment.c   segment names, listing, opening, the segment array
 *   holder.c    is the log held by a live process?  (/proc/locks, no lock)
 *   queues.c    queues, their runs of retained records, the two indexes
 *   replay.c    the operations of FORMAT.md section 7, record times
 *   scan.c      recovery's walk over every segment (FORMAT.md section 9)
 *   follow.c    tail --follow: waking (inotify), signals, one open a look
 *   follow_look.c  one look of tail --follow: new records, new incarnations
 *   print.c     records in the text, hex and json formats; the filter
 *   times.c     --since/--until values and ISO 8601 output of times
 *   json.c      JSON and text escaping, small JSON writers
 *   progress.c  verify's progress bar on a terminal
 *   problems.c  damage and notes found by scan.c: kept, printed
 *   opts.c      the one option vocabulary of the subcommands
 *   view.c      the library's read-only view (dump, tail, stat, salvage)
 *   follow.h    what follow.c and follow_look.c share
 *   cmd_*.c     one file per subcommand; main.c dispatches
 *   cmd_mirror.c   mirror and replica: their options and usage
 *   mirror_run.c   running a mirror or a replica (built with librabbitmq)
 *   mirror_none.c  its stand-in in a build without librabbitmq (exit 69)
 *
 * Threads: the tool is single-threaded, except while mirror or replica
 * runs: then the library's and the mirror's threads run beside the main
 * one, which only waits for signals (sigtimedwait) and prints.  Ownership: a struct tool_log owns
 * its segments, and each segment owns its file descriptor and window.
 */
#ifndef MRLOG_TOOL_H
#define MRLOG_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mrlog.h"
#include "format.h"

/*
 * Format versions read: 1 and 2 (docs/FORMAT.md section 11).  Version 2
 * adds one operation, TIME (type 6, section 7.8): a varint, the wall-clock
 * time in ms at which the writer framed the APPENDs that follow it; valid
 * only in segments of version 2 or later.  The records of a version 1
 * segment take the file's modification time.  The assertion stops the
 * build when the library writes a version this tool has not learnt to
 * read.
 */
#define TOOL_FORMAT_VERSION_MIN 1u
#define TOOL_FORMAT_VERSION_MAX 4u
#define TOOL_OP_TIME 6
/* Version 3 adds the seal (FORMAT.md 6.4): the last frame of a complete
 * segment holds exactly `07 varint(end)`, end being the offset past the
 * frame, and its synced equals its offset.  Every version 3 segment but
 * the newest must end exactly with one. */
#define TOOL_FORMAT_VERSION_SEAL 3u
#define TOOL_OP_SEAL 7
/* Version 4 adds named consumers (FORMAT.md 7.10, 7.11): COMMIT (type 8:
 * queue id, name, position; a consumer's position only moves forward),
 * UNCOMMIT (type 9: queue id, name; the consumer must exist), and a
 * consumer list, m x (name, position), at the end of every CHECKPOINT
 * entry: the queue's whole set of consumers. */
#define TOOL_FORMAT_VERSION_CONSUMERS 4u
#define TOOL_OP_COMMIT 8
#define TOOL_OP_UNCOMMIT 9
_Static_assert(MRLOG_FORMAT_VERSION <= TOOL_FORMAT_VERSION_MAX,
               "the library writes a format version tools/ cannot read");

/* Exit codes: the public contract, documented in docs/man/mrlog.1. */
enum tool_exit {
  TOOL_EXIT_OK = 0,
  TOOL_EXIT_TAIL = 1,        /* verify: only a tail recovery would cut */
  TOOL_EXIT_NOQUEUE = 1,     /* dump, tail: no such queue */
  TOOL_EXIT_CORRUPT = 2,     /* damage mrlog_open would refuse */
  TOOL_EXIT_USAGE = 64,      /* bad command line (EX_USAGE) */
  TOOL_EXIT_VERSION = 65,    /* a segment of another format version */
  TOOL_EXIT_NOINPUT = 66,    /* missing, unreadable or foreign directory */
  TOOL_EXIT_UNAVAILABLE = 69, /* bench: mrlog-bench not found; mirror,
                                replica: built without librabbitmq */
  TOOL_EXIT_OSERR = 71,      /* out of memory, inotify, too many files */
  TOOL_EXIT_CANTCREAT = 73,  /* salvage: DST not empty or not creatable */
  TOOL_EXIT_IOERR = 74,      /* a read failed */
  TOOL_EXIT_TEMPFAIL = 75    /* mirror: records left unconfirmed; mirror,
                                replica: the log is held by another
                                process (EX_TEMPFAIL) */
};

/* ---- util.c ------------------------------------------------------------ */

/* The name used in messages, e.g. "mrlog verify". */
extern const char *tool_prog;

void *tool_xmalloc(size_t n);
void *tool_xcalloc(size_t n, size_t size);
void *tool_xrealloc(void *p, size_t n);
/* Prints "PROG: message" on stderr. */
void tool_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* tool_warn, then exit(code). */
void tool_die(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
/* Decimal u64, nothing else; false on any error. */
bool tool_parse_u64(const char *s, uint64_t *out);

enum tool_format { TOOL_FORMAT_TEXT, TOOL_FORMAT_HEX, TOOL_FORMAT_JSON };
bool tool_parse_format(const char *s, enum tool_format *out);

/* ---- times.c ----------------------------------------------------------- */

/* Room for any time tool_format_time prints, NUL included. */
#define TOOL_TIME_STR 40

/* ms (unix milliseconds) as ISO 8601 UTC with milliseconds:
 * "2023-11-14T22:13:20.000Z". */
void tool_format_time(char *buf, size_t n, uint64_t ms);
/* The value s of option opt (for the message): unix milliseconds (all
 * digits), YYYY-MM-DD (midnight UTC) or YYYY-MM-DDTHH:MM:SS with optional
 * fractional seconds (.fff or ,fff, 1 to 9 digits) and an optional zone
 * (Z, +HH:MM or -HH:MM; none: UTC).  Finer than a ms is rounded up, before
 * the epoch is 0 (times.c invariant 3).  False after a message. */
bool tool_parse_time(const char *opt, const char *s, uint64_t *ms);

/* ---- file.c ------------------------------------------------------------ */

#define TOOL_WINDOW (1u << 20) /* bytes of a file in memory at a time */

struct tool_file {
  int fd;           /* O_RDONLY, or -1 once closed */
  uint64_t size;    /* the snapshot: no byte at or past it is ever read */
  uint8_t *buf;     /* the window, TOOL_WINDOW bytes, or NULL */
  uint64_t buf_off; /* file offset of buf[0] */
  size_t buf_len;   /* valid bytes in buf */
  bool shrank;      /* a read came back short: size was lowered to match */
  uint64_t mtime_ms; /* modification time at open (unix ms): the time of a
                        version 1 segment's records (FORMAT.md 7.8) */
  const char *name; /* for messages; owned by the segment */
  struct tool_witness *witness; /* witness.c's index, or NULL; owned */
};

/* Opens name in dir_fd read-only and takes its size.  0 or an errno. */
int tool_file_open(struct tool_file *f, int dir_fd, const char *name);
/* Bytes [off, off + len) of the snapshot (len <= TOOL_WINDOW), valid until
 * the next call on any file; NULL if they are not all below size.  A
 * failing read is fatal (exit 74). */
const uint8_t *tool_file_get(struct tool_file *f, uint64_t off, size_t len);
void tool_file_release(struct tool_file *f); /* frees the window */
void tool_file_close(struct tool_file *f);

/* ---- frame.c ----------------------------------------------------------- */

/* FORMAT.md section 5.  Advances *p on success. */
bool tool_varint(const uint8_t **p, const uint8_t *end, uint64_t *out);

enum tool_header_result {
  TOOL_HEADER_OK,
  TOOL_HEADER_SHORT,       /* fewer than 32 bytes */
  TOOL_HEADER_BAD_MAGIC,
  TOOL_HEADER_BAD_CRC,
  TOOL_HEADER_BAD_VERSION, /* intact, but a version not read: not damage */
  TOOL_HEADER_BAD_SEGNO    /* not the number in the file name */
};
enum tool_header_result tool_header_check(struct tool_file *f, uint64_t segno,
                                          uint32_t *version);
const char *tool_header_result_str(enum tool_header_result r);

enum tool_frame_result {
  TOOL_FRAME_OK,
  TOOL_FRAME_SHORT,      /* fewer than 16 bytes left */
  TOOL_FRAME_BAD_HCRC,
  TOOL_FRAME_BAD_LENGTH, /* body_length 0 or > 0x7fffffff */
  TOOL_FRAME_BAD_SYNCED, /* synced > offset */
  TOOL_FRAME_TORN,       /* valid header, body past the end */
  TOOL_FRAME_BAD_BCRC
};

struct tool_frame {
  uint32_t body_len; /* bytes after the 16-byte header */
  uint32_t synced;   /* the frame's durability witness (section 6.3) */
};

/* FORMAT.md 6.2, in its order.  OUT: fr on TOOL_FRAME_OK. */
enum tool_frame_result tool_frame_check(struct tool_file *f, uint64_t segno,
                                        uint64_t off, struct tool_frame *fr);
const char *tool_frame_result_str(enum tool_frame_result r);
/* First offset >= from where a valid frame starts (byte scan); f->size if
 * none.  OUT: fr. */
uint64_t tool_frame_next_valid(struct tool_file *f, uint64_t segno,
                               uint64_t from, struct tool_frame *fr);
/* ---- witness.c --------------------------------------------------------- */

/* True if a valid frame after x has synced > x (FORMAT.md 9.1, 9.2).
 * Linear in the file's size for any number of calls on one snapshot. */
bool tool_frame_witnessed(struct tool_file *f, uint64_t segno, uint64_t x);
/* Frees f's witness index (tool_file_close). */
void tool_witness_free(struct tool_file *f);
/* The tool's work so far, for tests: bytes read from segment files
 * (file.c) and frames checked (frame.c). */
extern uint64_t tool_bytes_read;
extern uint64_t tool_frame_checks;
/* True if every byte from off to the snapshot's end is zero. */
bool tool_zeros_to_end(struct tool_file *f, uint64_t off);
/* Reads the length prefix of the record at *off: advances *off to its
 * payload and stores the length.  False if unreadable. */
bool tool_record_header(struct tool_file *f, uint64_t *off, uint64_t *len);

/* ---- segment.c --------------------------------------------------------- */

enum tool_seg_state {
  TOOL_SEG_OK,             /* frames to the end */
  TOOL_SEG_ZERO_ROOM,      /* frames, then zero-filled room: a clean end */
  TOOL_SEG_TORN_TAIL,      /* last segment: recovery would cut its tail */
  TOOL_SEG_HEADER_TORN,    /* last segment: recovery would remove it */
  TOOL_SEG_BEING_WRITTEN,  /* held log: the last frame is being written */
  TOOL_SEG_BEING_CREATED,  /* held log: the header is being written */
  TOOL_SEG_CORRUPT,        /* damage mrlog_open would refuse */
  TOOL_SEG_VANISHED,       /* deleted (by the cleaner) before it was read */
  TOOL_SEG_VERSION         /* another format version */
};

struct tool_seg {
  uint64_t segno;
  char name[MRLOG_SEGMENT_NAME_LEN + 1];
  uint32_t version;     /* format version of a valid header, else 0 */
  struct tool_file file;
  enum tool_seg_state state;
  bool active;          /* being scanned: keep the file and its window */
  uint64_t frames;      /* valid frames */
  uint64_t first_frame; /* offset of the first valid frame, or UINT64_MAX */
  uint64_t last_frame;  /* offset of the last valid frame, or UINT64_MAX */
  uint64_t end;         /* end of the last valid frame; 0: header invalid */
  uint64_t zero_bytes;  /* zero-filled room at the end */
  bool sealed;          /* version 3: a valid seal ends its frames */
  uint64_t retained;    /* records of this file still retained */
};

const char *tool_seg_state_str(enum tool_seg_state s);
/* FORMAT.md section 2: exactly %016x.mrlog, lowercase. */
bool tool_segment_parse_name(const char *name, uint64_t *segno);
/* The segment numbers in dir_fd, ascending.  0 or an errno. */
int tool_segment_list(int dir_fd, uint64_t **segnos, size_t *n);
/* A new segment struct, its file opened: 0, ENOENT, or another errno. */
int tool_seg_open(int dir_fd, uint64_t segno, struct tool_seg **out);
void tool_seg_free(struct tool_seg *seg);
/* Called when records of seg stop being retained; closes the file once
 * nothing in it is retained and it is not being scanned. */
void tool_seg_unref(struct tool_seg *seg, uint64_t records);
/* Done with the window for now (frees it unless seg is being scanned). */
void tool_seg_idle(struct tool_seg *seg);

/* ---- holder.c ---------------------------------------------------------- */

/* The pid holding an flock on DIR/LOCK: > 0; 0 if none (or no LOCK); -1 if
 * /proc/locks cannot be read.  Takes no lock and opens nothing for
 * writing. */
long tool_lock_holder(int dir_fd, const char *dir_path);
/* "held by a running process (pid N)", "not held (...)" or "unknown". */
void tool_holder_describe(char *buf, size_t n, long holder);
/* The "held" and "holder_pid" members of a JSON object. */
void tool_holder_json(FILE *out, long holder);

/* ---- queues.c ---------------------------------------------------------- */

/* Records appended by one APPEND operation and still retained.  They
 * share one time: the replay's current time when the APPEND was applied. */
struct tool_run {
  uint64_t first;       /* position of the first retained record */
  uint64_t count;       /* retained records, at first, first + 1, ... */
  uint64_t off;         /* file offset of that record's length prefix */
  uint64_t bytes;       /* their payload bytes */
  uint64_t time_ms;     /* when they were framed (unix ms) */
  struct tool_seg *seg; /* the file holding them */
};

/* A named consumer of a queue and its committed position. */
struct tool_consumer {
  char *name;           /* NUL-terminated */
  size_t len;
  uint64_t position;    /* every record below it was processed */
  bool listed;          /* scratch of a checkpoint's replay */
};

struct tool_queue {
  uint64_t id;
  char *name;            /* name_len bytes, NUL-terminated, no NUL inside */
  size_t name_len;
  uint64_t floor;        /* positions below it are truncated */
  uint64_t next;         /* the position a default append takes */
  uint64_t records;      /* retained records */
  uint64_t bytes;        /* their payload bytes */
  struct tool_run *runs; /* runs[head .. len): ascending positions */
  size_t head;
  size_t len;
  size_t cap;
  struct tool_queue *id_next;   /* bucket chains of the two indexes */
  struct tool_queue *name_next;
  bool listed;                  /* scratch of the checkpoint passes */
  struct tool_consumer *consumers; /* nconsumers of them, no set order */
  size_t nconsumers;
  size_t capconsumers;
};

struct tool_queues {
  struct tool_queue **by_id;   /* nbuckets chains */
  struct tool_queue **by_name; /* nbuckets chains */
  size_t nbuckets;             /* a power of two */
  size_t count;                /* live queues */
};

void tool_queues_init(struct tool_queues *t);
void tool_queues_free(struct tool_queues *t);
struct tool_queue *tool_queue_by_id(const struct tool_queues *t, uint64_t id);
struct tool_queue *tool_queue_by_name(const struct tool_queues *t,
                                      const char *name, size_t len);
struct tool_queue *tool_queue_create(struct tool_queues *t, uint64_t id,
                                     const char *name, size_t len);
void tool_queue_delete(struct tool_queues *t, struct tool_queue *q);
void tool_queue_add_run(struct tool_queue *q, const struct tool_run *run);
/* Drops every record at or below position. */
void tool_queue_drop_upto(struct tool_queue *q, uint64_t position);
/* Position of the first retained record, or next when there is none. */
uint64_t tool_queue_first(const struct tool_queue *q);
/* When the first and the last retained records were framed (unix ms); 0
 * when there is none, as mrlog_queue_info. */
uint64_t tool_queue_first_time(const struct tool_queue *q);
uint64_t tool_queue_last_time(const struct tool_queue *q);
/* consumers.c: the consumer of q named name (len bytes) or NULL; add
 * (it must not exist); remove; free them all. */
struct tool_consumer *tool_consumer_find(const struct tool_queue *q,
                                         const char *name, size_t len);
struct tool_consumer *tool_consumer_add(struct tool_queue *q,
                                        const char *name, size_t len,
                                        uint64_t position);
void tool_consumer_remove(struct tool_queue *q, struct tool_consumer *c);
void tool_consumers_free(struct tool_queue *q);
/* Every live queue, sorted by name (bytewise); free() the array. */
struct tool_queue **tool_queues_sorted(const struct tool_queues *t);

/* ---- replay.c ---------------------------------------------------------- */

struct tool_replay {
  struct tool_queues queues;
  uint64_t next_queue_id;        /* FORMAT.md 7.2 */
  uint64_t time_ms;              /* current_time of FORMAT.md 7.2 (unix
                                    ms): stamps every APPEND; only grows */
  uint64_t problem_off;          /* OUT: file offset of a bad operation */
  char problem[200];             /* OUT: what was wrong with it */
  char name[MRLOG_QUEUE_NAME_MAX + 1]; /* scratch for one name */
};

void tool_replay_init(struct tool_replay *r);
void tool_replay_free(struct tool_replay *r);
/* Called once seg's file header is found valid, before its frames: a
 * version 1 segment raises the current time to the file's modification
 * time (FORMAT.md 7.8). */
void tool_replay_segment(struct tool_replay *r, const struct tool_seg *seg);
/* Applies the body of the valid frame whose body is at body_off.  0, or 1
 * if an operation is inconsistent (FORMAT.md 7.6): problem and problem_off
 * say which; the operations before it stay applied. */
int tool_replay_frame(struct tool_replay *r, struct tool_seg *seg,
                      uint64_t body_off, uint32_t body_len, bool first_frame);

/* ---- progress.c -------------------------------------------------------- */

struct tool_progress {
  bool enabled;           /* stderr is a terminal */
  bool drawn;             /* something is on the line */
  uint64_t total;         /* bytes */
  uint64_t done;          /* bytes */
  double start;           /* seconds, CLOCK_MONOTONIC */
  double last;            /* last redraw */
};

void tool_progress_init(struct tool_progress *p, uint64_t total);
void tool_progress_update(struct tool_progress *p, uint64_t done);
void tool_progress_finish(struct tool_progress *p);

/* ---- scan.c ------------------------------------------------------------ */

enum tool_problem_kind {
  TOOL_PROBLEM_CORRUPT, /* mrlog_open would fail */
  TOOL_PROBLEM_TAIL,    /* recovery would cut or remove it */
  TOOL_PROBLEM_NOTE     /* not damage: vanished, being written, ... */
};

struct tool_problem {
  const struct tool_seg *seg;
  uint64_t offset;
  enum tool_problem_kind kind;
  char message[320];
};

typedef void (*tool_problem_fn)(void *arg, const struct tool_problem *p);

enum tool_tail {
  TOOL_TAIL_CLEAN,         /* the last segment ends with a frame */
  TOOL_TAIL_ZERO_ROOM,     /* ... or with zero-filled room */
  TOOL_TAIL_TORN,          /* recovery would cut a torn or corrupt tail */
  TOOL_TAIL_HEADER,        /* recovery would remove the last segment */
  TOOL_TAIL_BEING_WRITTEN  /* held: a frame or header is being written */
};

struct tool_log {
  const char *path;
  int dir_fd;
  long holder;             /* tool_lock_holder() */
  struct tool_seg **segs;  /* ascending numbers; never moved once made */
  size_t nsegs;
  size_t cap;
  struct tool_replay replay;
  uint64_t disk_bytes;     /* sum of the segments' snapshot sizes */
  uint64_t frames;         /* valid frames */
  size_t corrupt;          /* problems that would fail mrlog_open */
  enum tool_tail tail;
  const struct tool_seg *tail_seg;
  uint64_t tail_off;
  uint64_t tail_bytes;     /* bytes recovery would cut or remove */
  tool_problem_fn report;  /* may be NULL */
  void *report_arg;
  struct tool_progress *progress; /* may be NULL */
  uint64_t progress_base;  /* bytes of the segments before this one */
};

/* Opens the directory read-only, finds the holder, lists and opens the
 * segments.  Returns 0 or an exit code after a message (66, 71). */
int tool_log_open(struct tool_log *log, const char *path);
/* Replays every segment as mrlog_open would (default policy), changing
 * nothing.  Returns 0 or an exit code after a message (65, 74). */
int tool_log_scan(struct tool_log *log);
void tool_log_close(struct tool_log *log);

/* ---- problems.c -------------------------------------------------------- */

struct tool_problems {
  struct tool_problem *v; /* in the order found */
  size_t n;
  size_t cap;
  size_t dropped;         /* found past the limit, not kept */
};

const char *tool_problem_kind_str(enum tool_problem_kind k);
/* A tool_problem_fn; arg is a struct tool_problems. */
void tool_problems_collect(void *arg, const struct tool_problem *p);
void tool_problems_free(struct tool_problems *ps);
/* "SEGMENT offset N: message" */
void tool_problem_print(FILE *out, const struct tool_problem *p);
/* The "problems" and "problems_not_listed" members of a JSON object. */
void tool_problems_json(FILE *out, const struct tool_problems *ps);

/* ---- json.c ------------------------------------------------------------ */

/* The bytes inside a JSON string, without quotes: printable ASCII as is,
 * other bytes as \u00XX (a byte's value as the code point). */
void tool_json_bytes(FILE *out, const void *data, size_t len);
/* The same with the quotes. */
void tool_json_string(FILE *out, const void *data, size_t len);
/* Text escaping: printable ASCII as is, \\ \n \r \t, other bytes \xHH;
 * spaces too as \x20 when escape_space. */
void tool_text_bytes(FILE *out, const void *data, size_t len,
                     bool escape_space);
/* A JSON member "key": value. */
void tool_json_u64(FILE *out, const char *key, uint64_t v, bool comma);
void tool_json_str(FILE *out, const char *key, const char *s, bool comma);

/* ---- print.c ----------------------------------------------------------- */

/* Which records dump and tail print: all the conditions hold.  Bounds
 * are inclusive below, exclusive above, as mrlog_range's. */
struct tool_filter {
  uint64_t from;   /* positions >= from */
  uint64_t to;     /* positions < to */
  uint64_t since;  /* times >= since (unix ms) */
  uint64_t until;  /* times < until (unix ms), if has_until */
  bool has_until;  /* false: no upper bound on times */
};

/* Every record: from 0, to UINT64_MAX, since 0, no until. */
#define TOOL_FILTER_ALL ((struct tool_filter){ 0, UINT64_MAX, 0, 0, false })

bool tool_filter_time(const struct tool_filter *w, uint64_t time_ms);

/* One record, in the format fmt (print.c), on out. */
void tool_print_mem(FILE *out, enum tool_format fmt, const char *name,
                    size_t name_len, uint64_t position, uint64_t time_ms,
                    const void *data, size_t len);

/* ---- opts.c ------------------------------------------------------------ */

/* Codes of the long options without a short form. */
enum {
  TOOL_OPT_QUEUE = 256,
  TOOL_OPT_FROM,
  TOOL_OPT_TO,
  TOOL_OPT_MAX,
  TOOL_OPT_JSON,
  TOOL_OPT_SINCE,
  TOOL_OPT_UNTIL
};

/* What a command accepts (--quiet and --help: every command). */
#define TOOL_ACCEPT_QUEUE 0x01u  /* --queue */
#define TOOL_ACCEPT_RANGE 0x02u  /* --from, --to */
#define TOOL_ACCEPT_LAST 0x04u   /* -n, --last */
#define TOOL_ACCEPT_MAX 0x08u    /* --max */
#define TOOL_ACCEPT_FOLLOW 0x10u /* -f, --follow */
#define TOOL_ACCEPT_JSON 0x20u   /* --json */
#define TOOL_ACCEPT_FORMAT 0x40u /* -F, --format */
#define TOOL_ACCEPT_TIME 0x80u   /* --since, --until */

struct tool_opts {
  char **queues;             /* --queue values, unescaped; owned */
  size_t nqueues;
  struct tool_filter filter; /* --from, --to, --since, --until */
  uint64_t last;             /* --last N, if has_last */
  bool has_last;
  uint64_t max;              /* --max N; UINT64_MAX when not given */
  bool follow;
  bool json;
  bool quiet;
  enum tool_format format;   /* --format; --json sets json */
};

void tool_opts_init(struct tool_opts *o);
void tool_opts_free(struct tool_opts *o);
/* Parses the options of argv (getopt_long; optind left at the first
 * operand).  -1 when the command should run, else the exit code to
 * return (--help: 0; a usage error: 64, after a message). */
int tool_opts_parse(struct tool_opts *o, int argc, char **argv,
                    unsigned accept, void (*usage)(FILE *out));
/* A queue name as printed (opts.c invariant 2), unescaped; free() it. */
char *tool_unescape(const char *s);

/* ---- view.c ------------------------------------------------------------ */

/* The library's read-only view of a log (view.c). */
struct tool_view {
  const char *path;
  mrlog *log;                /* read-only open, or NULL */
  bool quiet;                /* no damage messages on stderr */
  bool damaged;              /* opened under MRLOG_RECOVER_SKIP_CORRUPT */
  uint64_t warnings;         /* log_fn messages at WARN or ERROR */
  uint64_t skipped_ranges;   /* stats.skipped_* of the open */
  uint64_t skipped_bytes;
  uint64_t skipped_records;  /* a lower bound */
  uint64_t discarded_tail_bytes;
};

/* An exit code of enum tool_exit for a library status. */
int tool_exit_of(int status);
/* Opens path read-only (view.c invariant 1).  0 (damaged says whether the
 * log was damaged) or an exit code after a message. */
int tool_view_open(struct tool_view *v, const char *path, bool quiet);
/* The read-only open of tail --follow's looks: the default recovery
 * policy, no message, no check by the tool's reader.  Returns the
 * library's status (0: v->log is open). */
int tool_view_try(struct tool_view *v, const char *path);
void tool_view_close(struct tool_view *v);
/* The log's time: the newest last_time_ms of its queues (0 if none). */
uint64_t tool_view_time(struct tool_view *v);
/* The live queues' names sorted bytewise, NULL-terminated. */
char **tool_view_queues(struct tool_view *v);
void tool_view_free_queues(char **names);
/* Prints queue's records that pass w: only the last `last` of them
 * (UINT64_MAX: all), at most max.  0 or an exit code after a message. */
int tool_view_print(struct tool_view *v, FILE *out, const char *queue,
                    const struct tool_filter *w, enum tool_format format,
                    uint64_t last, uint64_t max);
/* What the read-only open reported (rc: tool_view_open's result), as the
 * "library:" line of stat and verify or their "library" JSON member. */
void tool_view_summary(const struct tool_view *v, int rc, bool json);
/* On stderr, if the log was damaged: what was skipped. */
void tool_view_report(const struct tool_view *v);
/* Ends a command that printed from v: flushes stdout (TOOL_EXIT_IOERR if
 * that fails), reports the damage, closes v, and returns rc, or
 * TOOL_EXIT_CORRUPT if rc is 0 and the log was damaged. */
int tool_view_finish(struct tool_view *v, int rc);

/* ---- follow.c ---------------------------------------------------------- */

/* What tail --follow is asked to do (cmd_tail.c fills it). */
struct tool_follow {
  const char *dir;           /* the log directory */
  const char *queue;         /* the followed queue's name, unescaped */
  struct tool_filter filter; /* its from applies to the first incarnation
                                only (follow_look.c invariant 3) */
  uint64_t last;             /* -n: the last N at start; UINT64_MAX: all */
  uint64_t max;              /* --max; UINT64_MAX when not given */
  enum tool_format format;
  bool quiet;                /* no notes on stderr, errors only */
};

/* Waits for the log, prints the queue's records, then each one appended
 * later, until --max or --until ends it (0), or an error (its exit code,
 * after a message), or SIGINT, SIGTERM or SIGHUP: then the process ends
 * by that signal (follow.c invariant 6). */
int tool_follow(const struct tool_follow *opt);

/* ---- commands ---------------------------------------------------------- */

int tool_cmd_stat(int argc, char **argv);
int tool_cmd_dump(int argc, char **argv);
int tool_cmd_verify(int argc, char **argv);
int tool_cmd_tail(int argc, char **argv);
int tool_cmd_bench(int argc, char **argv);
int tool_cmd_salvage(int argc, char **argv);
int tool_cmd_mirror(int argc, char **argv);
int tool_cmd_replica(int argc, char **argv);

/* ---- mirror_run.c (or mirror_none.c) ----------------------------------- */

/* What mirror and replica are asked to do (cmd_mirror.c fills it).  A
 * count of TOOL_MIRROR_DEFAULT leaves libmrlog_mirror's default. */
#define TOOL_MIRROR_DEFAULT UINT64_MAX

struct tool_mirror_opts {
  bool replica;                 /* replica (true) or mirror (false) */
  const char *dir;              /* the log directory */
  const char *uris;             /* --to (mirror) or --from (replica) */
  const char *queues;           /* --queues GLOB, or NULL: every queue */
  const char *exchange;         /* --exchange, or NULL */
  const char *queue_prefix;     /* --queue-prefix, or NULL */
  const char *consumer;         /* --consumer (mirror), or NULL */
  uint64_t records_per_message; /* --records-per-message (mirror) */
  uint64_t message_bytes;       /* --message-bytes (mirror) */
  uint64_t messages_in_flight;  /* --messages-in-flight */
  uint64_t heartbeat_s;         /* --heartbeat */
  uint64_t timeout_s;           /* --timeout: confirm wait, seconds */
  uint64_t interval_s;          /* --interval: progress lines; 0: none */
  bool once;                    /* --once (mirror) */
  bool json;                    /* --json: final stats on stdout */
  bool quiet;                   /* -q: no progress, no diagnostics */
};

/* Runs the mirror or the replica until it ends (cmd_mirror.c and
 * mirror_run.c say when).  Returns an exit code, after a message unless
 * it is 0. */
int tool_mirror_run(const struct tool_mirror_opts *o);

#endif /* MRLOG_TOOL_H */

/*
 * check_mrlog.h -- the suites of tests/check_mrlog and the helpers they
 * share (tests/helpers.c).
 *
 * The tests use only the public header (mrlog.h) plus POSIX.  Helpers are
 * prefixed th_.  Helpers that can fail abort the current test through
 * ck_assert, so a test never continues on a broken precondition.
 */
#ifndef CHECK_MRLOG_H
#define CHECK_MRLOG_H

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mrlog.h"

/* One suite per module; check_main.c adds every one to a single runner. */
Suite *make_unit_suite(void);
Suite *make_api_suite(void);
Suite *make_append_cb_suite(void);
Suite *make_semantics_suite(void);
Suite *make_persist_suite(void);
Suite *make_recovery_suite(void);
Suite *make_recovery_rules_suite(void);
Suite *make_concurrency_suite(void);
Suite *make_stage_suite(void);
Suite *make_failure_suite(void);
Suite *make_kill_suite(void);
Suite *make_faults_suite(void);
Suite *make_errseq_suite(void);
Suite *make_powerloss_suite(void);
Suite *make_time_suite(void);
Suite *make_mapped_suite(void);
Suite *make_mapfault_suite(void);
Suite *make_limits_suite(void);
Suite *make_holes_suite(void);
Suite *make_misuse_suite(void);
Suite *make_memory_suite(void);
Suite *make_damage_suite(void);
Suite *make_readonly_suite(void);
Suite *make_errors_suite(void);
Suite *make_quota_suite(void);
Suite *make_consumer_suite(void);
Suite *make_visibility_suite(void);
Suite *make_watch_suite(void);
Suite *make_poll_suite(void);
Suite *make_metrics_suite(void);
Suite *make_cursor_suite(void);
Suite *make_range_walk_suite(void);
Suite *make_get_policy_suite(void);
Suite *make_poll_watch_suite(void);

/*
 * Assertions for hot loops.  A passing ck_assert_* records its location
 * with the runner (a write per call in fork mode), which makes millions of
 * them slow; these say nothing until they fail, then print both operands
 * like ck_assert_uint_eq / ck_assert_int_eq.
 */
#define th_req(C)                                                      \
  do {                                                                 \
    if (!(C)) ck_abort_msg("Assertion '%s' failed", #C);               \
  } while (0)
#define th_req_uint_eq(X, Y)                                           \
  do {                                                                 \
    uintmax_t th_x_ = (X), th_y_ = (Y);                                \
    if (th_x_ != th_y_)                                                \
      ck_abort_msg("Assertion '%s == %s' failed: %s == %ju, %s == %ju", \
                   #X, #Y, #X, th_x_, #Y, th_y_);                      \
  } while (0)
#define th_req_int_eq(X, Y)                                            \
  do {                                                                 \
    intmax_t th_x_ = (X), th_y_ = (Y);                                 \
    if (th_x_ != th_y_)                                                \
      ck_abort_msg("Assertion '%s == %s' failed: %s == %jd, %s == %jd", \
                   #X, #Y, #X, th_x_, #Y, th_y_);                      \
  } while (0)

/* Timeouts for tcase_set_timeout, in seconds (sanitizer builds on two cores
 * are slow, so these are generous; CK_TIMEOUT_MULTIPLIER scales them). */
#define TH_TIMEOUT_IO 60
#define TH_TIMEOUT_SLOW 120

/*
 * Workload scale in percent, from the environment variable MRLOG_TEST_SCALE
 * (1 .. 100, default 100).  th_scaled(n) returns n scaled, at least 1.
 */
long th_scaled(long n);

/* ---- Temporary directories ------------------------------------------- */

/* The current test's temporary directory, made by th_setup (a checked
 * fixture, so it runs in the forked child) and removed by th_teardown, or
 * at exit if the test failed. */
extern char *th_dir;
void th_setup(void);
void th_teardown(void);

/* Makes a fresh directory under $TMPDIR (or /tmp) with mkdtemp.
 * Returns a malloc'd path. */
char *th_mkdtemp(void);
/* Removes path recursively (like rm -rf); 0 or -1. */
int th_rmrf(const char *path);
/* Returns malloc'd "dir/name". */
char *th_path(const char *dir, const char *name);
/* Returns malloc'd "th_dir/name" (not created). */
char *th_sub(const char *name);

/* ---- Directory listings ----------------------------------------------- */

/* True if name is 16 lowercase hex digits followed by ".mrlog". */
bool th_is_segment_name(const char *name);
/* Lists the entries of dir except "." and "..", sorted; *out is a malloc'd
 * array of malloc'd names (free with th_free_names).  Returns the count. */
size_t th_list_dir(const char *dir, char ***out);
/* As th_list_dir, segment files only (sorted = by segment number). */
size_t th_list_segments(const char *dir, char ***out);
void th_free_names(char **names, size_t n);
/* Number of segment files in dir, and their total size. */
size_t th_count_segments(const char *dir);
uint64_t th_segment_bytes(const char *dir);
/* Malloc'd full path of the last (highest numbered) segment; asserts that
 * there is one. */
char *th_last_segment(const char *dir);
/* Malloc'd full path of the first (lowest numbered) segment. */
char *th_first_segment(const char *dir);

/* ---- Byte surgery ------------------------------------------------------ */

/* Size of the file, or -1 if it does not exist. */
off_t th_file_size(const char *path);
/* Reads a whole file (asserts success); malloc'd, *len set. */
unsigned char *th_read_file(const char *path, size_t *len);
/* Creates or replaces a file with the given bytes. */
void th_write_file(const char *path, const void *data, size_t len);
/* Appends bytes to an existing file. */
void th_append_file(const char *path, const void *data, size_t len);
/* Truncates (or extends with zeros) a file to len bytes. */
void th_truncate_file(const char *path, off_t len);
/* Flips bit (0..7) of the byte at offset. */
void th_flip_bit(const char *path, off_t offset, int bit);
/* XORs the byte at offset with mask. */
void th_xor_byte(const char *path, off_t offset, unsigned char mask);
/* Copies every regular file of src except LOCK into dst (created; if dst
 * exists it is removed first). */
void th_copy_dir(const char *src, const char *dst);
/* A malloc'd text that names every regular file of dir except LOCK with
 * its size and a hash of its bytes: equal fingerprints mean equal files. */
char *th_dir_fingerprint(const char *dir);
/* FNV-1a 64 of a buffer. */
uint64_t th_hash(const void *data, size_t len);

/* ---- Synchronous wrappers ---------------------------------------------- */

/* A policy with the defaults (mrlog_policy_init: the default record store,
 * mapped on a 64-bit address space), except that MRLOG_TEST_RECORD_STORE
 * in the environment sets record_store: "copy" to MRLOG_STORE_COPY,
 * "mapped" to MRLOG_STORE_MAPPED (tests/check_copy.sh runs the suites once
 * more with the copy store).  th_open(dir, NULL) uses it too. */
mrlog_policy th_policy(void);
/* Opens dir and asserts success.  policy may be NULL. */
mrlog *th_open(const char *dir, const mrlog_policy *policy);
/* Closes and asserts 0. */
void th_close(mrlog *log);
/* Asserts future is not NULL, waits for it and returns its status; the
 * reported position goes to *position when not NULL. */
int th_wait(mrlog_future *future, uint64_t *position);
/* Each submits one mutation without callback and waits for it. */
int th_create(mrlog *log, const char *queue);
int th_delete(mrlog *log, const char *queue);
int th_append(mrlog *log, const char *queue, const uint64_t *position,
              const void *data, size_t len, uint64_t *out_position);
int th_append_at(mrlog *log, const char *queue, uint64_t position,
                 const void *data, size_t len, uint64_t *out_position);
int th_append_str(mrlog *log, const char *queue, const char *text,
                  uint64_t *out_position);
int th_truncate(mrlog *log, const char *queue, uint64_t position);
int th_sync(mrlog *log);
/* mrlog_queue_info, asserting success. */
struct mrlog_queue_info th_info(mrlog *log, const char *queue);
/* mrlog_stats, asserting success. */
struct mrlog_stats th_stats(mrlog *log);
/* Number of queues reported by mrlog_list_queues. */
uint64_t th_count_queues(mrlog *log);

/* ---- Record collection ------------------------------------------------- */

struct th_rec {
  uint64_t pos;       /* the record's position */
  size_t len;         /* payload length */
  unsigned char *data; /* malloc'd copy (NULL when len is 0) */
};
struct th_recs {
  size_t n;           /* records collected */
  size_t cap;         /* allocated slots */
  struct th_rec *v;   /* the records, in visiting order */
};
/* Collects mrlog_range(log, queue, from, to) into *out (initialised here);
 * returns the status mrlog_range returned. */
int th_collect(mrlog *log, const char *queue, uint64_t from, uint64_t to,
               struct th_recs *out);
void th_recs_free(struct th_recs *recs);

/*
 * A canonical text describing every queue (name in hex, info fields) and
 * every record (position, length, hash), sorted by queue name: two logs with
 * equal snapshots hold the same state.  Malloc'd.
 */
char *th_snapshot(mrlog *log);

/* ---- Callback counters ------------------------------------------------- */

/*
 * Marks the calling thread as an application thread (the test's main
 * thread is marked by th_setup; producer threads mark themselves).  A
 * completion callback running on a marked thread breaks the completion
 * rule and is counted in on_app_thread.
 */
void th_mark_app_thread(void);
bool th_on_app_thread(void);

struct th_counter {
  atomic_long calls;           /* callbacks run */
  atomic_long ok;              /* ... with status 0 */
  atomic_long dup;             /* ... with MRLOG_DUPLICATE */
  atomic_long efull;           /* ... with MRLOG_EFULL */
  atomic_long einval;          /* ... with MRLOG_EINVAL */
  atomic_long other;           /* ... with any other status */
  atomic_long on_app_thread;   /* ... that ran on an application thread */
  atomic_int last_status;      /* status of the latest callback */
  atomic_uint_least64_t last_position; /* position of the latest callback */
};
void th_counter_init(struct th_counter *c);
/* A mrlog_done_fn; arg is a struct th_counter. */
void th_counter_cb(void *arg, int status, uint64_t position);
/* Waits (polling, up to timeout_ms) until c->calls >= calls; returns
 * whether it got there. */
bool th_counter_wait(struct th_counter *c, long calls, unsigned timeout_ms);

/* Waits (polling every few ms, up to timeout_ms) until pred(arg) is true;
 * returns the last value of pred. */
bool th_poll(bool (*pred)(void *arg), void *arg, unsigned timeout_ms);
/* Sleeps ms milliseconds. */
void th_sleep_ms(unsigned ms);

/* Fills buf with len bytes derived from seed (deterministic). */
void th_fill(void *buf, size_t len, uint64_t seed);

#endif /* CHECK_MRLOG_H */

/*
 * harness.h -- what every part of mrlog-bench shares: the clock, the
 * payload generator, the per-run result record, fork-per-run, percentiles,
 * disk usage and page-cache control.
 *
 * The benchmark uses only the public API (include/mrlog.h) of the library;
 * nothing here knows mrlog's internals.
 *
 * THREADS.  The parent process never starts a thread: every workload runs
 * in a forked child (bench_run_forked), so fork is always safe and the
 * child's peak RSS and CPU time belong to that run alone.
 */
#ifndef BENCH_HARNESS_H
#define BENCH_HARNESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Units used everywhere in the output: MB = 1e6 bytes, GB = 1e9 bytes,
 * MiB/GiB = 2^20/2^30 bytes. */
#define BENCH_MB 1e6
#define BENCH_GB 1e9
#define BENCH_MIB (1024.0 * 1024.0)
#define BENCH_GIB (1024.0 * 1024.0 * 1024.0)

/* Monotonic clock, in nanoseconds and seconds. */
uint64_t bench_now_ns(void);
double bench_now_s(void);
/* Sleeps for ns nanoseconds (restarting after signals). */
void bench_sleep_ns(uint64_t ns);

/*
 * The payload.  One buffer of incompressible bytes, filled once (in the
 * parent, before any fork) from a xoshiro256** generator; record i of a
 * workload is the len bytes at a varying offset in it.  The buffer is never
 * written after bench_payload_init, so any thread may read it.
 */
#define BENCH_PAYLOAD_SPAN (8u << 20)   /* offsets range over 8 MiB */
#define BENCH_RECORD_MAX (64u << 10)    /* longest record a workload uses */
void bench_payload_init(uint64_t seed);
void bench_payload_free(void);
/* The bytes of record i (len <= BENCH_RECORD_MAX); stable for the run. */
const void *bench_payload(uint64_t i, size_t len);
/* The bytes of the k-th record of thread `stream` of `streams`: each
 * thread reads its own part of the buffer forward, as an application
 * reads what it just received. */
const void *bench_payload_stream(unsigned stream, unsigned streams,
                                 uint64_t k, size_t len);

/*
 * One run's figures.  A plain struct so the child can send it to the parent
 * through a pipe in one write.  Doubles that do not apply are NAN (JSON
 * null); counters that do not apply are -1.
 */
struct bench_result {
  char engine[16];              /* "mrlog", "rocksdb", ... or "device" */
  char workload[16];            /* "W1" ... "W5", or "device" */
  int run;                      /* run index, 0-based */
  uint64_t records;             /* records written or read */
  uint64_t payload_bytes;       /* their payload bytes */
  double seconds;               /* the timed part of the run */
  double rec_per_s;             /* records / seconds */
  double mb_per_s;              /* payload MB (1e6 B) / seconds */
  double disk_bytes;            /* allocated bytes of the directory after close */
  double disk_bytes_per_rec;    /* disk_bytes / records */
  double disk_overhead_per_rec; /* that minus the record size */
  double ram_bytes_per_rec;     /* mrlog only: (stats.memory_bytes -
                                   retained payload) / retained records */
  double ram_rss_bytes_per_rec; /* (peak RSS - RSS before - retained
                                   payload) / records, every engine */
  double retained_bytes;        /* payload retained when the stats were taken */
  uint64_t rss_before_bytes;    /* child's RSS before the engine was opened */
  uint64_t peak_rss_bytes;      /* filled by the parent, from wait4 */
  double cpu_s;                 /* user + system, filled by the parent */
  int64_t fsyncs;               /* mrlog: stats.fsyncs; peers: interposed */
  int64_t fsyncs_interposed;    /* fsync-family calls seen by the wrappers */
  double p50_us, p99_us, p999_us; /* W2 acknowledgement latency */
  /* The engine's device syncs between its open and its close (every
   * workload that writes): their count and durations. */
  int64_t syncs_timed;
  double sync_p50_us, sync_p99_us, sync_p999_us, sync_max_us;
  /* The thread that ran most from the engine's open to the end of the
   * timed part ("" if not measured): the run's serial stage. */
  char busiest_thread[16];
  double busiest_cpu_s;         /* its CPU seconds in that window */
  double busiest_wait_s;        /* seconds it waited runnable for a core */
  double busiest_window_s;      /* the window's seconds */
  double durable_ms;            /* W5: truncation durable after */
  double space_back_ms;         /* W5: space back after (NAN: timed out) */
  double dir_back_ms;           /* W5: the files were out of the directory
                                   after (NAN: timed out); space_back_ms
                                   also waits for the blocks to be free */
  double space_freed_bytes;     /* W5: largest drop of allocated bytes seen
                                   before space was back or the timeout */
  int drop_caches;              /* W4cold: 1 if drop_caches was written */
  int64_t errors;               /* failed operations */
  char error[200];              /* the first failure, "" if none */
  /* Device figures (engine "device" only). */
  double seq_gib_s;             /* buffered 1 MiB pwrites, before fdatasync */
  double seq_sync_gib_s;        /* the same including the final fdatasync */
  double seq_bytes;             /* bytes written for the two figures above */
  double sync_append_ops, sync_append_p50_us, sync_append_p99_us;
  double sync_over_ops, sync_over_p50_us, sync_over_p99_us;
  double unlink_files;          /* unlink probe: files of unlink_file_bytes */
  double unlink_file_bytes;
  double unlink_calls_ms;       /* the unlink calls alone */
  double unlink_free_ms;        /* until statvfs showed unlink_freed_bytes
                                   more free (NAN: not within 10 s) */
  double unlink_freed_bytes;    /* W5's need */
};

/* Sets every figure to "not applicable" and the names. */
void bench_result_init(struct bench_result *r, const char *engine,
                       const char *workload, int run);
/* Records a failure: counts it, keeps the first message. printf-like. */
void bench_result_fail(struct bench_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Runs fn(arg, result) in a forked child and fills *result with what the
 * child sent, plus peak_rss_bytes and cpu_s from wait4.  The child is
 * killed after timeout_s seconds (SIGALRM).  A child that dies without
 * sending a result gives a result with errors = 1 and a message.  Parent
 * only; the parent must have no other threads.
 */
typedef void (*bench_child_fn)(void *arg, struct bench_result *result);
void bench_run_forked(bench_child_fn fn, void *arg, unsigned timeout_s,
                      struct bench_result *result);

/* The child's current resident set, in bytes (from /proc/self/statm). */
uint64_t bench_rss_bytes(void);

/* Percentile p (0..100) of n sorted values, nearest-rank; NAN if n == 0. */
double bench_percentile(const double *sorted, size_t n, double p);
/* Sorts n doubles ascending. */
void bench_sort(double *v, size_t n);

/* Sum of st_blocks * 512 over every file below dir (recursively); -1 on
 * error. */
int64_t bench_dir_allocated(const char *dir);
/* Free bytes of the file system holding dir (statvfs f_bfree x f_frsize:
 * blocks the file system has really freed); -1 on error. */
int64_t bench_fs_free(const char *dir);
/* Removes dir and everything below it; 0 or -1. */
int bench_rm_rf(const char *dir);
/* Joins dir and name into out (size PATH_MAX). */
void bench_path(char *out, const char *dir, const char *name);

/*
 * Page-cache control for the read workloads.  bench_cache_drop fsyncs every
 * file below dir, then posix_fadvise(DONTNEED)s it, then writes 3 to
 * /proc/sys/vm/drop_caches; returns 1 if that write succeeded, 0 if it was
 * not permitted, -1 if a file could not be handled.  bench_cache_warm reads
 * every file once; 0 or -1.
 */
int bench_cache_drop(const char *dir);
int bench_cache_warm(const char *dir);

/* True if dir is on tmpfs (or ramfs), per statfs. */
bool bench_dir_is_tmpfs(const char *dir);

/* Starts a thread or, if that fails, ends the (child) process with a
 * message: a run without all its threads cannot be timed.  The parent then
 * reports the run as failed. */
void bench_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg);

/* Count of fsync/fdatasync/sync_file_range/msync calls made by this process
 * so far (bench/fsync_count.c interposes them). */
int64_t bench_fsync_calls(void);

/* Durations of the syncs that wait for the device (fsync, fdatasync,
 * msync with MS_SYNC) since bench_sync_reset, from the same wrappers;
 * percentiles are 1 us bucket bounds, NAN when count is 0. */
struct bench_sync_summary {
  int64_t count;
  double p50_us, p99_us, p999_us, max_us;
};
void bench_sync_reset(void);
void bench_sync_summary(struct bench_sync_summary *s);

/* CPU time per thread of this process (bench/thread_cpu.c). */
#define BENCH_THREADS_MAX 256
struct bench_thread_cpu_one {
  int tid;
  uint64_t ran_ns;   /* schedstat: nanoseconds on a core so far */
  uint64_t waited_ns; /* schedstat: nanoseconds runnable, not running */
  char name[16];     /* comm */
};
struct bench_thread_cpu {
  uint64_t at_ns;    /* bench_now_ns() when taken */
  size_t n;          /* threads in t */
  size_t dropped;    /* threads past BENCH_THREADS_MAX, left out */
  struct bench_thread_cpu_one t[BENCH_THREADS_MAX];
};
void bench_thread_cpu_snapshot(struct bench_thread_cpu *s);
/* The thread that ran most between two snapshots: its name, its CPU
 * seconds, the seconds it waited runnable for a core, and the seconds
 * between the snapshots.  -1 if none. */
int bench_thread_cpu_busiest(const struct bench_thread_cpu *before,
                             const struct bench_thread_cpu *after,
                             char *name, size_t name_size, double *cpu_s,
                             double *wait_s, double *window_s);

#endif /* BENCH_HARNESS_H */

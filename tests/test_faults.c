/*
 * test_faults.c -- fault injection through the I/O seam (lib/io.h): EIO,
 * ENOSPC, short writes and EINTR at the N-th operation of each kind.
 *
 * Expected, for every N:
 *   - EINTR and short writes are retried transparently: every request
 *     succeeds and the log reopens intact;
 *   - EIO or ENOSPC from a write, and EIO from an fdatasync or a directory
 *     fsync, put the log in its failed read-only state: the failure status
 *     is MRLOG_EIO or MRLOG_ENOSPC as injected, every request completes
 *     exactly once, none is acknowledged after the fault, and after a
 *     reopen on the real file layer every acknowledged record is there
 *     with its bytes.
 */
#include "check_mrlog.h"
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum op { OP_PWRITE, OP_FDATASYNC, OP_FSYNC, OP_KINDS };
enum fault { F_NONE, F_EIO, F_ENOSPC, F_EINTR, F_SHORT };

struct faulty {
  atomic_long count[OP_KINDS]; /* operations seen, per kind */
  enum op kind;                /* which kind to hit */
  long at;                     /* the at-th operation of that kind */
  enum fault fault;            /* what to do there */
  atomic_int injected;         /* the fault happened */
  atomic_int on_zero_fill;     /* ... on a write of zeros only */
};

static struct faulty g_faulty;

/* Returns the fault to apply to this operation (F_NONE mostly). */
static enum fault
hit(enum op kind)
{
  long n = atomic_fetch_add(&g_faulty.count[kind], 1) + 1;

  if (kind != g_faulty.kind || n != g_faulty.at)
    return F_NONE;
  atomic_store(&g_faulty.injected, 1);
  return g_faulty.fault;
}

/* True for a buffer of zeros: the writer's zero-fill ahead of itself in
 * the durable policy (frames never are). */
static bool
all_zero(const void *buf, size_t len)
{
  const unsigned char *p = buf;
  size_t i;

  for (i = 0; i < len; i++)
    if (p[i] != 0)
      return false;
  return len > 0;
}

static ssize_t
faulty_pwrite(void *ctx, int fd, const void *buf, size_t len, off_t off)
{
  enum fault fault = hit(OP_PWRITE);

  if (fault != F_NONE && all_zero(buf, len))
    atomic_store(&g_faulty.on_zero_fill, 1);
  switch (fault) {
  case F_EIO:
    errno = EIO;
    return -1;
  case F_ENOSPC:
    /* A full disk often takes part of the write first. */
    if (len > 1 && pwrite(fd, buf, len / 2, off) < 0)
      return -1;
    errno = ENOSPC;
    return -1;
  case F_EINTR:
    errno = EINTR;
    return -1;
  case F_SHORT:
    return mrlog__posix_io.pwrite(ctx, fd, buf, len > 1 ? len / 2 : len, off);
  default:
    return mrlog__posix_io.pwrite(ctx, fd, buf, len, off);
  }
}

static int
faulty_sync(enum op kind, int fd)
{
  switch (hit(kind)) {
  case F_EIO:
    errno = EIO;
    return -1;
  case F_EINTR:
    errno = EINTR;
    return -1;
  default:
    return kind == OP_FDATASYNC ? fdatasync(fd) : fsync(fd);
  }
}

static int
faulty_fdatasync(void *ctx, int fd)
{
  (void)ctx;
  return faulty_sync(OP_FDATASYNC, fd);
}

static int
faulty_fsync(void *ctx, int fd)
{
  (void)ctx;
  return faulty_sync(OP_FSYNC, fd);
}

static struct mrlog__io faulty_io;

static void
arm(enum op kind, long at, enum fault fault)
{
  int i;

  faulty_io = mrlog__posix_io;
  faulty_io.pwrite = faulty_pwrite;
  faulty_io.fdatasync = faulty_fdatasync;
  faulty_io.fsync = faulty_fsync;
  faulty_io.pwritev = NULL; /* gather writes go through faulty_pwrite */
  for (i = 0; i < OP_KINDS; i++)
    atomic_store(&g_faulty.count[i], 0);
  g_faulty.kind = kind;
  g_faulty.at = at;
  g_faulty.fault = fault;
  atomic_store(&g_faulty.injected, 0);
  atomic_store(&g_faulty.on_zero_fill, 0);
}

/* ---- The workload ------------------------------------------------------ */

#define QUEUES 3
#define RECORDS 120

struct outcome {
  atomic_int calls;  /* callbacks of this request */
  atomic_int status; /* the status it completed with */
  uint64_t position; /* its position, when acknowledged */
  int queue;         /* queue index */
  int seq;           /* payload seed */
};

/* Acknowledged: completed, with status 0. */
static bool
acked(const struct outcome *o)
{
  return atomic_load(&o->calls) == 1 && atomic_load(&o->status) == 0;
}

static void
on_done(void *arg, int status, uint64_t position)
{
  struct outcome *o = arg;

  o->position = position;
  atomic_store(&o->status, status);
  atomic_fetch_add(&o->calls, 1);
}

static size_t
payload(int seq, unsigned char *buf)
{
  size_t len = 20 + (size_t)(seq * 37) % 300, i;

  /* Every ninth is long enough to be written from its request by a
   * gather write (writer.c EXT_MIN): its pieces reach faulty_pwrite. */
  if (seq % 9 == 4)
    len = 1100 + (size_t)(seq % 200);

  for (i = 0; i < len; i++)
    buf[i] = (unsigned char)(seq * 131 + i);
  return len;
}

static const char *
qname(int q)
{
  static const char *const names[QUEUES] = { "alpha", "beta", "gamma" };
  return names[q];
}

/* Runs the workload over the armed layer; returns how many requests
 * failed.  *open_status: mrlog_open's status. */
static int
run_workload(struct outcome *out, int *open_status, int *close_status)
{
  mrlog_policy p = th_policy();
  mrlog *log = NULL;
  unsigned char buf[1400];
  int i, failed = 0;

  p.segment_bytes = 4096; /* rotations: file creation and dir fsyncs */
  p.cleaner_interval_ms = 5;
  *close_status = 0;
  *open_status = mrlog__open_with_io(th_dir, &p, &faulty_io, &log);
  if (*open_status != 0)
    return 0;
  for (i = 0; i < QUEUES; i++)
    mrlog_forget(mrlog_create_queue(log, qname(i), NULL, NULL));
  for (i = 0; i < RECORDS; i++) {
    struct outcome *o = &out[i];
    size_t len = payload(i, buf);
    mrlog_future *f;
    o->queue = i % QUEUES;
    o->seq = i;
    f = mrlog_append(log, qname(o->queue), NULL, buf, len, on_done, o);
    if (i % 7 == 0)
      th_wait(f, NULL); /* a mix of waited and pipelined requests */
    else
      mrlog_forget(f);
    if (i % 40 == 39)
      mrlog_forget(mrlog_truncate(log, qname(i % QUEUES), 0, NULL, NULL));
  }
  *close_status = mrlog_close(log);
  for (i = 0; i < RECORDS; i++) {
    ck_assert_int_eq(atomic_load(&out[i].calls), 1);
    if (atomic_load(&out[i].status) != 0)
      failed++;
  }
  return failed;
}

/* Reopens on the real file layer and checks every acknowledged record. */
static void
verify_acknowledged(const struct outcome *out)
{
  mrlog *log = th_open(th_dir, NULL);
  unsigned char buf[1400];
  int i, q;

  for (q = 0; q < QUEUES; q++) {
    struct th_recs r;
    size_t k = 0;
    if (!mrlog_queue_exists(log, qname(q)))
      continue; /* its create failed: then no append to it succeeded */
    ck_assert_int_eq(th_collect(log, qname(q), 0, UINT64_MAX, &r), 0);
    for (i = 0; i < RECORDS; i++) {
      size_t len;
      if (out[i].queue != q || !acked(&out[i]))
        continue;
      if (out[i].position == 0)
        continue; /* position 0 of each queue is truncated by the workload */
      while (k < r.n && r.v[k].pos < out[i].position)
        k++;
      ck_assert_msg(k < r.n && r.v[k].pos == out[i].position,
                    "acknowledged %s@%llu lost", qname(q),
                    (unsigned long long)out[i].position);
      len = payload(out[i].seq, buf);
      ck_assert_uint_eq(r.v[k].len, len);
      ck_assert(memcmp(r.v[k].data, buf, len) == 0);
    }
    th_recs_free(&r);
  }
  for (i = 0; i < RECORDS; i++) {
    if (acked(&out[i])) {
      ck_assert_msg(mrlog_queue_exists(log, qname(out[i].queue)),
                    "queue of an acknowledged record is gone");
    }
  }
  th_close(log);
}

/* Cases of the current sweep in which the fault fired / fired on a
 * zero-fill write / failed the log. */
static int g_fired, g_fired_zero_fill, g_failed_logs;

static void
one_case(enum op kind, long at, enum fault fault)
{
  struct outcome out[RECORDS];
  int failed, open_status, close_status, expect;

  memset(out, 0, sizeof(out));
  th_rmrf(th_dir);
  arm(kind, at, fault);
  failed = run_workload(out, &open_status, &close_status);
  expect = fault == F_ENOSPC ? MRLOG_ENOSPC : MRLOG_EIO;
  if (atomic_load(&g_faulty.injected))
    g_fired++;
  if (atomic_load(&g_faulty.on_zero_fill))
    g_fired_zero_fill++;
  if (open_status != 0 || failed > 0 || close_status != 0)
    g_failed_logs++;
  if (!atomic_load(&g_faulty.injected)) {
    /* The workload ended before the at-th operation. */
    ck_assert_int_eq(open_status, 0);
    ck_assert_int_eq(failed, 0);
    ck_assert_int_eq(close_status, 0);
  } else if (fault == F_EINTR || fault == F_SHORT ||
             atomic_load(&g_faulty.on_zero_fill)) {
    /* Retried, or a failed zero-fill, which only costs the segment its
     * preallocation (writer.c prezero): the log must go on. */
    ck_assert_msg(open_status == 0 && failed == 0 && close_status == 0,
                  "fault at op %ld (retryable or zero-fill): open %d, "
                  "%d failed, close %d",
                  at, open_status, failed, close_status);
  } else if (open_status != 0) {
    ck_assert_int_eq(open_status, expect);
  } else {
    int i, after_failure = 0;
    ck_assert_int_eq(close_status, expect);
    for (i = 0; i < RECORDS; i++) {
      int st = atomic_load(&out[i].status);
      ck_assert_msg(st == 0 || st == expect, "request %d: status %d", i, st);
      /* Requests complete in order: once one failed, none later is
       * acknowledged. */
      if (st != 0)
        after_failure = 1;
      else
        ck_assert_msg(!after_failure, "request %d acknowledged after a "
                      "failure (fault at op %ld)", i, at);
    }
  }
  verify_acknowledged(out);
}

static long
ops_in_clean_run(enum op kind)
{
  struct outcome out[RECORDS];
  int o, c;

  memset(out, 0, sizeof(out));
  th_rmrf(th_dir);
  arm(kind, 0, F_NONE);
  ck_assert_int_eq(run_workload(out, &o, &c), 0);
  return atomic_load(&g_faulty.count[kind]);
}

static void
sweep(enum op kind, enum fault fault)
{
  long total = ops_in_clean_run(kind), at, step;

  ck_assert_int_gt(total, 0);
  step = total > 60 ? total / 60 : 1;
  g_fired = g_fired_zero_fill = g_failed_logs = 0;
  for (at = 1; at <= total + 1; at += step)
    one_case(kind, at, fault);
  /* The sweep really injected (operation counts vary a little with
   * timing, most under sanitizers: pipelined requests group into frames
   * and syncs differently), and the
   * hard faults really failed the log every time. */
  ck_assert_int_gt(g_fired, 0);
  ck_assert_int_ge(g_fired, (int)(total / step) / 2);
  if (fault == F_EIO || fault == F_ENOSPC) {
    ck_assert_int_eq(g_failed_logs, g_fired - g_fired_zero_fill);
    if (kind == OP_PWRITE) /* both kinds of write were hit */
      ck_assert_int_gt(g_fired_zero_fill, 0);
    ck_assert_int_gt(g_fired - g_fired_zero_fill, 0);
  } else {
    ck_assert_int_eq(g_failed_logs, 0);
  }
  fprintf(stderr,
          "faults: kind %d fault %d: %ld operations, %d injected (%d on "
          "zero-fill writes)\n",
          (int)kind, (int)fault, total, g_fired, g_fired_zero_fill);
}

START_TEST(test_pwrite_eio) { sweep(OP_PWRITE, F_EIO); }
END_TEST
START_TEST(test_pwrite_enospc) { sweep(OP_PWRITE, F_ENOSPC); }
END_TEST
START_TEST(test_pwrite_eintr) { sweep(OP_PWRITE, F_EINTR); }
END_TEST
START_TEST(test_pwrite_short) { sweep(OP_PWRITE, F_SHORT); }
END_TEST
START_TEST(test_fdatasync_eio) { sweep(OP_FDATASYNC, F_EIO); }
END_TEST
START_TEST(test_fdatasync_eintr) { sweep(OP_FDATASYNC, F_EINTR); }
END_TEST
START_TEST(test_dir_fsync_eio) { sweep(OP_FSYNC, F_EIO); }
END_TEST

Suite *
make_faults_suite(void)
{
  Suite *s = suite_create("faults");
  TCase *tc = tcase_create("injected");

  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_SLOW);
  tcase_add_test(tc, test_pwrite_eio);
  tcase_add_test(tc, test_pwrite_enospc);
  tcase_add_test(tc, test_pwrite_eintr);
  tcase_add_test(tc, test_pwrite_short);
  tcase_add_test(tc, test_fdatasync_eio);
  tcase_add_test(tc, test_fdatasync_eintr);
  tcase_add_test(tc, test_dir_fsync_eio);
  suite_add_tcase(s, tc);
  return s;
}

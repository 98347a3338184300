/*
 * test_mapfault.c -- a read through a segment file's mapping never kills
 * the process (lib/mapfault.c), and the address space the mappings take
 * stays bounded (lib/filemap.c invariant 5).
 *
 * What is checked:
 *  - a recovered segment file truncated by another process under a live
 *    log: reading its records returns MRLOG_EIO (the records before the
 *    lost bytes come back whole), the log says so once (log_fn, ERROR),
 *    and the records of other segments still read;
 *  - the same for the hot segment under MRLOG_STORE_MAPPED, while an
 *    earlier, sealed segment still reads;
 *  - a cursor: a record it returned whose bytes are lost afterwards reads
 *    as zeros, the next call returns MRLOG_EIO once for it, the record at
 *    its position then returns MRLOG_EIO without moving, and a seek past
 *    the lost bytes reads on;
 *  - a SIGBUS at an address that is not a log's mapping still kills the
 *    process, and a handler installed before the log's goes on seeing
 *    its own faults;
 *  - a page that fails to read (the file layer's mapping, poisoned at a
 *    chosen moment through the I/O seam): only the records on that page
 *    return MRLOG_EIO, those before and after it read; poisoned while
 *    open maps and checks the file, the file is read with pread instead;
 *    lost after that check, while recovery scans the file, open fails
 *    with MRLOG_EIO under every recovery policy, changing nothing on disk
 *    (no tail cut, no rename aside), and a later open recovers it all;
 *  - the hot window failing to map (through the I/O seam, ENOMEM): the
 *    records are copied, with a warning, and nothing is lost;
 *  - many rotations under MRLOG_STORE_MAPPED: the address space mapped
 *    from segment files stays within their sizes plus one hot window.
 */
#define _GNU_SOURCE
#include "check_mrlog.h"
#include "internal.h"
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define REC 1000 /* bytes a record */

static atomic_int errors_logged;

static void count_errors(void *arg, int level, const char *message) {
  (void)arg;
  if (level == MRLOG_LOG_ERROR && strstr(message, "truncated") != NULL)
    atomic_fetch_add(&errors_logged, 1);
}

static mrlog_policy fault_policy(void) {
  mrlog_policy p = th_policy();

  p.record_store = MRLOG_STORE_MAPPED;
  p.segment_bytes = 64 * 1024;
  p.log_fn = count_errors;
  return p;
}

static void fill(unsigned char *buf, const char *queue, uint64_t pos) {
  th_fill(buf, REC, pos * 7 + (unsigned char)queue[0]);
}

static void append_n(mrlog *log, const char *queue, uint64_t n) {
  unsigned char buf[REC];
  uint64_t i, base = th_info(log, queue).next_position;

  for (i = 0; i < n; i++) {
    fill(buf, queue, base + i);
    ck_assert_int_eq(th_append(log, queue, NULL, buf, REC, NULL), 0);
  }
}

/* Asserts the records of r are queue's records from `from` on, whole. */
static void check_recs(const struct th_recs *r, const char *queue,
                       uint64_t from) {
  unsigned char buf[REC];
  size_t i;

  for (i = 0; i < r->n; i++) {
    fill(buf, queue, from + i);
    th_req(r->v[i].pos == from + i && r->v[i].len == REC &&
           memcmp(r->v[i].data, buf, REC) == 0);
  }
}

/* Writes queues "a" and "b" over several 64 KiB segments, then reopens
 * the log: every segment but the new hot one is recovered and mapped. */
/* Asserts that queue's records from `from` on read whole, n of them. */
static void expect_recs(mrlog *log, const char *queue, uint64_t from,
                        uint64_t n) {
  struct th_recs r;

  ck_assert_int_eq(th_collect(log, queue, from, UINT64_MAX, &r), 0);
  ck_assert_uint_eq(r.n, n);
  check_recs(&r, queue, from);
  th_recs_free(&r);
}

static mrlog *recovered_log(const mrlog_policy *p) {
  mrlog *log = th_open(th_dir, p);
  int i;

  ck_assert_int_eq(th_create(log, "a"), 0);
  ck_assert_int_eq(th_create(log, "b"), 0);
  for (i = 0; i < 6; i++) {
    append_n(log, "a", 50);
    append_n(log, "b", 50);
  }
  th_close(log);
  ck_assert_uint_ge(th_count_segments(th_dir), 4);
  return th_open(th_dir, p);
}

/* A recovered segment truncated under the live log. */
START_TEST(test_truncated_recovered_segment) {
  mrlog_policy p = fault_policy();
  mrlog *log = recovered_log(&p);
  char *first = th_first_segment(th_dir);
  struct th_recs r;

  th_truncate_file(first, 4096);
  ck_assert_int_eq(th_collect(log, "a", 0, UINT64_MAX, &r), MRLOG_EIO);
  ck_assert_uint_lt(r.n, 50);
  check_recs(&r, "a", 0);
  th_recs_free(&r);
  ck_assert_int_eq(atomic_load(&errors_logged), 1);
  /* Again: the same status, logged once. */
  ck_assert_int_eq(th_collect(log, "a", 0, UINT64_MAX, &r), MRLOG_EIO);
  th_recs_free(&r);
  ck_assert_int_eq(atomic_load(&errors_logged), 1);
  /* The later segments' records read whole. */
  expect_recs(log, "a", 200, 100);
  expect_recs(log, "b", 200, 100);
  /* The log goes on writing and reading. */
  append_n(log, "b", 5);
  expect_recs(log, "b", 300, 5);
  free(first);
  th_close(log);
}
END_TEST

/* The hot segment's window under MRLOG_STORE_MAPPED, truncated. */
START_TEST(test_truncated_hot_segment) {
  mrlog_policy p = fault_policy();
  mrlog *log = th_open(th_dir, &p);
  struct th_recs r;
  char *hot;
  uint64_t old;

  ck_assert_int_eq(th_create(log, "old"), 0);
  ck_assert_int_eq(th_create(log, "hot"), 0);
  while (th_count_segments(th_dir) < 2)
    append_n(log, "old", 1);
  old = th_info(log, "old").next_position;
  append_n(log, "hot", 20);
  ck_assert_uint_eq(th_count_segments(th_dir), 2);
  hot = th_last_segment(th_dir);
  th_truncate_file(hot, 4096);
  ck_assert_int_eq(th_collect(log, "hot", 0, UINT64_MAX, &r), MRLOG_EIO);
  ck_assert_uint_lt(r.n, 20);
  check_recs(&r, "hot", 0);
  th_recs_free(&r);
  ck_assert_int_eq(atomic_load(&errors_logged), 1);
  /* The sealed segment's records (its window cut to its length). */
  expect_recs(log, "old", 0, old);
  free(hot);
  th_close(log);
}
END_TEST

/* A cursor over a recovered segment truncated between two calls. */
START_TEST(test_cursor_over_truncated_segment) {
  mrlog_policy p = fault_policy();
  mrlog *log = recovered_log(&p);
  char *first = th_first_segment(th_dir);
  static const unsigned char zeros[REC];
  unsigned char buf[REC];
  struct mrlog_record rec;
  mrlog_cursor *cur;
  const unsigned char *held;
  int i;

  ck_assert_int_eq(mrlog_cursor_open(log, "a", 0, &cur), 0);
  for (i = 0; i < 10; i++)
    ck_assert_int_eq(mrlog_cursor_next(cur, &rec), 0);
  ck_assert_uint_eq(rec.position, 9);
  held = rec.data;
  fill(buf, "a", 9);
  ck_assert(memcmp(held, buf, REC) == 0);
  th_truncate_file(first, 4096);
  /* The record already returned lies past 4 KiB: it reads as zeros. */
  ck_assert(memcmp(held, zeros, REC) == 0);
  ck_assert_int_eq(mrlog_cursor_next(cur, &rec), MRLOG_EIO);
  ck_assert_uint_eq(mrlog_cursor_position(cur), 10);
  /* The record at the position is lost: the cursor stays on it. */
  ck_assert_int_eq(mrlog_cursor_next(cur, &rec), MRLOG_EIO);
  ck_assert_int_eq(mrlog_cursor_next(cur, &rec), MRLOG_EIO);
  ck_assert_uint_eq(mrlog_cursor_position(cur), 10);
  ck_assert_int_eq(mrlog_cursor_seek(cur, 200), 0);
  for (i = 0; i < 100; i++) {
    ck_assert_int_eq(mrlog_cursor_next(cur, &rec), 0);
    fill(buf, "a", 200 + (uint64_t)i);
    th_req(rec.position == 200 + (uint64_t)i && rec.len == REC &&
           memcmp(rec.data, buf, REC) == 0);
  }
  ck_assert_int_eq(mrlog_cursor_next(cur, &rec), MRLOG_ENODATA);
  mrlog_cursor_close(cur);
  free(first);
  th_close(log);
}
END_TEST

/* Maps two pages of a fresh file in dir, then truncates it: reading the
 * mapping raises SIGBUS at an address that is no log's. */
static const volatile unsigned char *foreign_mapping(void) {
  char *path = th_sub("foreign");
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  void *m;

  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(ftruncate(fd, 8192), 0);
  m = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
  ck_assert(m != MAP_FAILED);
  ck_assert_int_eq(ftruncate(fd, 0), 0);
  close(fd);
  free(path);
  return m;
}

static sigjmp_buf own_jump;

static void own_handler(int sig, siginfo_t *si, void *uc) {
  (void)sig;
  (void)si;
  (void)uc;
  siglongjmp(own_jump, 1);
}

/* Runs body in a child process; returns its wait status. */
static int in_child(void (*body)(void)) {
  pid_t pid = fork();
  int status;

  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    body();
    _exit(0);
  }
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  return status;
}

static void foreign_fault_body(void) {
  mrlog_policy p = fault_policy();
  mrlog *log = recovered_log(&p); /* the handler is installed */
  const volatile unsigned char *m = foreign_mapping();

  (void)log;
  (void)m[4096]; /* dies here */
  _exit(3);
}

static void chained_fault_body(void) {
  struct sigaction sa;
  mrlog_policy p = fault_policy();
  const volatile unsigned char *m;
  mrlog *log;

  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = own_handler;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGBUS, &sa, NULL) != 0)
    _exit(4);
  /* The first child's log: recovered and mapped, so the log's handler
   * is installed after ours. */
  log = th_open(th_dir, &p);
  m = foreign_mapping();
  if (sigsetjmp(own_jump, 1) == 0) {
    (void)m[100];
    _exit(5); /* the read did not fault */
  }
  th_close(log);
  _exit(42); /* our handler saw the fault */
}

START_TEST(test_foreign_fault_still_kills) {
  int status = in_child(foreign_fault_body);

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  /* The sanitizer's SIGBUS handler is the one before the log's: it
   * reports the fault and exits non-zero. */
  ck_assert_msg(WIFSIGNALED(status) ||
                    (WIFEXITED(status) && WEXITSTATUS(status) != 0 &&
                     WEXITSTATUS(status) != 3),
                "child status %#x", status);
#else
  ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS,
                "child status %#x", status);
#endif
  status = in_child(chained_fault_body);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 42,
                "child status %#x", status);
}
END_TEST

/* ---- The I/O seam ------------------------------------------------------ */

/* A file layer whose recovered-segment mappings are remembered, so that a
 * page of one can be poisoned later (it then faults as a page whose read
 * failed), and whose hot windows may fail to map. */
static struct {
  void *base[64];
  size_t len[64];
  int n;
  bool fail_window;
  bool poison_at_map;
  int poison_after_check;  /* the Nth segment mapped (1-based; 0: none) */
  long poison_page;        /* its page to poison; -1: its last */
  atomic_int checked;      /* segments mapped and checked so far */
  atomic_bool poisoned;
  atomic_int windows;
} seam;

/* The mapping seam_map made last on this thread (recovery maps on its own
 * thread and on the readahead thread). */
static _Thread_local void *seam_last_map;
static _Thread_local size_t seam_last_len;
static _Thread_local int seam_last_fd;

static void poison(void *m, size_t page);

static void *seam_map(void *ctx, int fd, size_t len) {
  void *m = mrlog__posix_io.map(ctx, fd, len);

  if (m != MAP_FAILED && seam.poison_at_map && seam.n == 0 &&
      len > 4 * (size_t)sysconf(_SC_PAGESIZE))
    poison(m, 3);
  if (m != MAP_FAILED) {
    seam_last_map = m;
    seam_last_len = len;
    seam_last_fd = fd;
  }
  if (m != MAP_FAILED && seam.n < 64) {
    seam.base[seam.n] = m;
    seam.len[seam.n++] = len;
  }
  return m;
}

/* Open closes a segment's fd once it has mapped the file and read every
 * page of it (segment.c), on the thread that mapped it: a page lost here
 * is lost after that check, while recovery still has the file to scan. */
static int seam_close(void *ctx, int fd) {
  if (seam_last_map != NULL && fd == seam_last_fd) {
    size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    int nth = atomic_fetch_add(&seam.checked, 1) + 1;

    if (nth == seam.poison_after_check) {
      poison(seam_last_map, seam.poison_page >= 0
                                ? (size_t)seam.poison_page
                                : (seam_last_len - 1) / ps);
      atomic_store(&seam.poisoned, true);
    }
    seam_last_map = NULL;
  }
  return mrlog__posix_io.close(ctx, fd);
}

static void *seam_map_window(void *ctx, int fd, size_t len) {
  (void)ctx;
  atomic_fetch_add(&seam.windows, 1);
  if (seam.fail_window) {
    errno = ENOMEM;
    return MAP_FAILED;
  }
  return mmap(NULL, len, PROT_READ, MAP_SHARED | MAP_NORESERVE, fd, 0);
}

static mrlog *seam_open(const mrlog_policy *p, struct mrlog__io *io) {
  mrlog *log;

  *io = mrlog__posix_io;
  io->map = seam_map;
  io->map_window = seam_map_window;
  io->close = seam_close;
  ck_assert_int_eq(mrlog__open_with_io(th_dir, p, io, &log), 0);
  return log;
}

/* Replaces page `page` of mapping m with a page of an empty file: its
 * reads raise SIGBUS as a failed page read does. */
static void poison(void *m, size_t page) {
  char *path = th_sub("empty");
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  size_t ps = (size_t)sysconf(_SC_PAGESIZE);

  ck_assert_int_ge(fd, 0);
  ck_assert(mmap((char *)m + page * ps, ps, PROT_READ, MAP_SHARED | MAP_FIXED,
                 fd, 0) != MAP_FAILED);
  close(fd);
  free(path);
}

START_TEST(test_seam_page_error) {
  mrlog_policy p = fault_policy();
  struct mrlog__io io;
  struct th_recs r;
  mrlog *log;
  uint64_t k, j, bad = 0;

  th_close(recovered_log(&p)); /* writes the log */
  memset(&seam, 0, sizeof(seam));
  log = seam_open(&p, &io);
  ck_assert_int_ge(seam.n, 1);
  poison(seam.base[0], 3); /* the first segment's fourth page */
  ck_assert_int_eq(th_collect(log, "a", 0, UINT64_MAX, &r), MRLOG_EIO);
  k = r.n; /* the first record on the page */
  ck_assert_uint_gt(k, 0);
  check_recs(&r, "a", 0);
  th_recs_free(&r);
  /* Each record on its own: only those on the poisoned page fail. */
  for (j = k; j < k + 12; j++) {
    int rc = th_collect(log, "a", j, j + 1, &r);

    if (rc == MRLOG_EIO) {
      ck_assert_uint_eq(j, k + bad); /* the lost ones are consecutive */
      bad++;
    } else {
      ck_assert_int_eq(rc, 0);
      ck_assert_uint_eq(r.n, 1);
      check_recs(&r, "a", j);
    }
    th_recs_free(&r);
  }
  ck_assert_uint_ge(bad, 1);
  ck_assert_uint_le(bad, 6); /* a page holds at most 6 partial records */
  ck_assert_int_eq(th_collect(log, "a", k + bad, UINT64_MAX, &r), 0);
  check_recs(&r, "a", k + bad);
  th_recs_free(&r);
  th_close(log);
}
END_TEST

/* A page that fails to read while open scans the file: the file is read
 * with pread instead (here the file itself is whole), nothing is lost. */
START_TEST(test_seam_page_error_at_open) {
  mrlog_policy p = fault_policy();
  struct mrlog__io io;
  mrlog *log;

  th_close(recovered_log(&p)); /* writes the log */
  memset(&seam, 0, sizeof(seam));
  seam.poison_at_map = true;
  log = seam_open(&p, &io);
  ck_assert_int_ge(seam.n, 1);
  expect_recs(log, "a", 0, 300);
  th_close(log);
}
END_TEST

/* A page lost after that check, while recovery scans the file: the first
 * segment's fourth page (records), the last page of the last segment with
 * records (its last records and its seal), the newest segment's only page
 * (its header: zeros there would pass for a creation cut short).  Open
 * neither dies nor judges the file by the zeros it read there (no tail
 * cut, nothing renamed aside, nothing dropped) under any recovery policy:
 * it fails with MRLOG_EIO and changes nothing on disk, so a later open
 * recovers every record. */
START_TEST(test_seam_page_error_during_scan) {
  mrlog_policy p = fault_policy();
  struct mrlog__io io;
  mrlog *log = NULL;
  char *before, *after, *poison_file;
  int nseg, pol, which;

  th_close(recovered_log(&p)); /* writes the log */
  nseg = (int)th_count_segments(th_dir);
  poison_file = th_sub("empty"); /* poison's file, there before and after */
  th_write_file(poison_file, "", 0);
  free(poison_file);
  for (which = 0; which < 3; which++) {
    for (pol = 0; pol < 3; pol++) {
      p.recovery = pol == 0   ? MRLOG_RECOVER_TOLERATE_TAIL
                   : pol == 1 ? MRLOG_RECOVER_STRICT
                              : MRLOG_RECOVER_SKIP_CORRUPT;
      before = th_dir_fingerprint(th_dir);
      memset(&seam, 0, sizeof(seam));
      seam_last_map = NULL;
      seam.poison_after_check = which == 0 ? 1 : nseg - 2 + which;
      seam.poison_page = which == 0 ? 3 : -1;
      io = mrlog__posix_io;
      io.map = seam_map;
      io.map_window = seam_map_window;
      io.close = seam_close;
      ck_assert_int_eq(mrlog__open_with_io(th_dir, &p, &io, &log),
                       MRLOG_EIO);
      ck_assert(atomic_load(&seam.poisoned));
      after = th_dir_fingerprint(th_dir);
      ck_assert_str_eq(after, before);
      free(before);
      free(after);
    }
  }
  log = th_open(th_dir, &p);
  expect_recs(log, "a", 0, 300);
  expect_recs(log, "b", 0, 300);
  th_close(log);
}
END_TEST

static atomic_int copy_warnings;

static void count_copy_warnings(void *arg, int level, const char *message) {
  (void)arg;
  if (level == MRLOG_LOG_WARN && strstr(message, "copied instead") != NULL)
    atomic_fetch_add(&copy_warnings, 1);
}

START_TEST(test_seam_window_fails) {
  mrlog_policy p = fault_policy();
  struct mrlog__io io;
  mrlog *log;

  memset(&seam, 0, sizeof(seam));
  seam.fail_window = true;
  p.log_fn = count_copy_warnings;
  log = seam_open(&p, &io);
  ck_assert_int_eq(th_create(log, "a"), 0);
  append_n(log, "a", 200); /* over several segments */
  ck_assert_int_gt(atomic_load(&seam.windows), 1);
  ck_assert_int_eq(atomic_load(&copy_warnings), atomic_load(&seam.windows));
  expect_recs(log, "a", 0, 200);
  th_close(log);
}
END_TEST

/* ---- Address space ----------------------------------------------------- */

/* Bytes of the process's address space mapped from files in th_dir. */
static uint64_t mapped_from_dir(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  char line[4096];
  uint64_t total = 0;

  ck_assert(f != NULL);
  while (fgets(line, sizeof(line), f) != NULL) {
    unsigned long lo, hi;

    if (strstr(line, th_dir) != NULL &&
        sscanf(line, "%lx-%lx", &lo, &hi) == 2)
      total += hi - lo;
  }
  fclose(f);
  return total;
}

START_TEST(test_address_space_bounded) {
  mrlog_policy p = fault_policy();
  uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), files, mapped;
  mrlog *log = th_open(th_dir, &p);
  char **names;
  size_t n, i;

  ck_assert_int_eq(th_create(log, "a"), 0);
  append_n(log, "a", 64 * 30); /* about 30 segments, all retained */
  n = th_list_segments(th_dir, &names);
  ck_assert_uint_ge(n, 20);
  files = 0;
  for (i = 0; i < n; i++) {
    char *path = th_path(th_dir, names[i]);
    files += ((uint64_t)th_file_size(path) + page - 1) / page * page;
    free(path);
  }
  th_free_names(names, n);
  mapped = mapped_from_dir();
  /* Every sealed segment's length, plus one hot window: segment_bytes
   * and 80 MiB of room for the frame that crosses it. */
  ck_assert_msg(mapped <= files + p.segment_bytes + (80u << 20) + page,
                "%llu bytes mapped for %zu segments of %llu bytes",
                (unsigned long long)mapped, n, (unsigned long long)files);
  th_close(log);
}
END_TEST

Suite *make_mapfault_suite(void) {
  Suite *s = suite_create("mapfault");
  TCase *tc = tcase_create("mapfault");

  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_truncated_recovered_segment);
  tcase_add_test(tc, test_truncated_hot_segment);
  tcase_add_test(tc, test_cursor_over_truncated_segment);
  tcase_add_test(tc, test_foreign_fault_still_kills);
  tcase_add_test(tc, test_seam_page_error);
  tcase_add_test(tc, test_seam_page_error_at_open);
  tcase_add_test(tc, test_seam_page_error_during_scan);
  tcase_add_test(tc, test_seam_window_fails);
  tcase_add_test(tc, test_address_space_bounded);
  suite_add_tcase(s, tc);
  return s;
}

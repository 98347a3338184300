/*
 * test_holes.c -- opening a segment file that is mostly hole costs what
 * its data costs, not what its size says (lib/holes.c).
 *
 * What is checked, with no clock: the pages the process faults in while
 * mrlog_open runs (getrusage: minor and major faults; reading a hole
 * through the mapping faults its pages in) beyond those of an open of the
 * same log before the damage, and the bytes recovery reads through pread
 * when the file layer does not map.  Each bound is a few MiB for a file of
 * a few KiB of data and up to 4 GiB - 1 of hole:
 *  - the newest segment is data followed by a hole to 4 GiB - 1 (a file
 *    extended by ftruncate, or preallocated room never written): its
 *    records are kept, the hole is cut, and the mapping stays cold;
 *  - the same, read through pread instead of a mapping;
 *  - a torn frame (bytes that are not zero) before the hole: the witness
 *    scan after it skips the hole, and the tail is cut at the torn frame;
 *  - a hole punched in the middle of an older segment is damage exactly as
 *    zeros there are: the log fails to open under the default policy;
 *  - a frame header declaring a 2 GiB body that runs into the hole: the
 *    body's checksum covers the hole's zeros without reading them
 *    (mrlog__crc32c_zeros, checked against the plain CRC of zeros).
 */
#define _GNU_SOURCE
#include "check_mrlog.h"
#include "crc32c.h"
#include "format.h"
#include "holes.h"
#include "internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

/* Bytes read through pread at open. */
static size_t pread_bytes;
/* Bytes of pages faulted in by the process during mrlog_open (getrusage:
 * minor and major faults, times the page size). */
static size_t faulted;
/* The same for an open of an identical copy of the log before it was
 * damaged, run first: what an open costs whatever the file's size (thread
 * stacks, the record store's first allocations, a sanitizer's shadow
 * memory).  A hole may add at most TOUCH_BOUND to it. */
static size_t baseline_faulted;

static ssize_t
counting_pread(void *ctx, int fd, void *buf, size_t len, off_t off)
{
  ssize_t r = mrlog__posix_io.pread(ctx, fd, buf, len, off);

  if (r > 0)
    pread_bytes += (size_t)r;
  return r;
}

/* A bound proportional to the data: a few KiB of records, plus the
 * kernel's read-around of a fault. */
#define TOUCH_BOUND ((size_t)4 << 20)

static void
write_small_log(void)
{
  mrlog *log = th_open(th_dir, NULL);
  int i;

  ck_assert_int_eq(th_create(log, "a"), 0);
  for (i = 0; i < 20; i++)
    ck_assert_int_eq(th_append_str(log, "a", "a record of some bytes", NULL),
                     0);
  th_close(log);
}

/* Drops the page cache of path, so that mincore sees what is read next. */
static void
drop_cache(const char *path)
{
  int fd = open(path, O_RDONLY);

  ck_assert_int_ge(fd, 0);
  fdatasync(fd);
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  close(fd);
}

static mrlog *
open_counted_dir(const char *dir, bool map, const mrlog_policy *p)
{
  static struct mrlog__io io; /* outlives the log */
  mrlog *log = NULL;
  struct rusage ru0, ru1;
  int rc;

  io = mrlog__posix_io;
  if (!map)
    io.map = NULL;
  io.pread = counting_pread;
  pread_bytes = 0;
  getrusage(RUSAGE_SELF, &ru0);
  rc = mrlog__open_with_io(dir, p, &io, &log);
  getrusage(RUSAGE_SELF, &ru1);
  ck_assert_msg(rc == 0, "open: %s", mrlog_strerror(rc));
  faulted = (size_t)(ru1.ru_minflt - ru0.ru_minflt + ru1.ru_majflt -
                     ru0.ru_majflt) * (size_t)sysconf(_SC_PAGESIZE);
  return log;
}

static mrlog *
open_counted(bool map, const mrlog_policy *p)
{
  return open_counted_dir(th_dir, map, p);
}

/* Sets baseline_faulted: opens and closes a copy of th_dir as it is now
 * (before the test damages it), with the same file layer and policy. */
static void
measure_baseline(bool map, const mrlog_policy *p)
{
  char *copy = th_sub("baseline");

  th_copy_dir(th_dir, copy);
  th_close(open_counted_dir(copy, map, p));
  baseline_faulted = faulted;
  th_rmrf(copy);
  free(copy);
}

/* What the last open faulted in stays within TOUCH_BOUND of what the
 * baseline open of the undamaged log did. */
static void
assert_faults_bounded(void)
{
  ck_assert_msg(faulted <= baseline_faulted + TOUCH_BOUND,
                "%zu bytes of pages faulted in at open (%zu without the "
                "hole)", faulted, baseline_faulted);
}

/* Bytes of path's pages in the page cache (mincore on a mapping of it):
 * after drop_cache, what was read since. */
static size_t
cached_bytes(const char *path)
{
  long page = sysconf(_SC_PAGESIZE);
  off_t size = th_file_size(path);
  size_t pages = ((size_t)size + (size_t)page - 1) / (size_t)page, i, n = 0;
  unsigned char *vec = malloc(pages);
  int fd = open(path, O_RDONLY);
  void *m;

  ck_assert_ptr_nonnull(vec);
  ck_assert_int_ge(fd, 0);
  m = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
  ck_assert(m != MAP_FAILED);
  ck_assert_int_eq(mincore(m, (size_t)size, vec), 0);
  for (i = 0; i < pages; i++)
    n += vec[i] & 1;
  munmap(m, (size_t)size);
  close(fd);
  free(vec);
  return n * (size_t)page;
}

/* Offset of the seal that ends the segment file path (its last frame). */
static off_t
seal_offset(const char *path)
{
  size_t len, k;
  unsigned char *data = th_read_file(path, &len);
  off_t off = -1;

  for (k = 1; k <= MRLOG_VARINT_MAX && off < 0; k++) {
    size_t at = len - MRLOG_FRAME_HEADER_SIZE - 1 - k;
    uint32_t body_len = (uint32_t)data[at + 4] | (uint32_t)data[at + 5] << 8 |
                        (uint32_t)data[at + 6] << 16 |
                        (uint32_t)data[at + 7] << 24;

    if (body_len == 1 + k &&
        data[at + MRLOG_FRAME_HEADER_SIZE] == MRLOG_OP_SEAL)
      off = (off_t)at;
  }
  free(data);
  ck_assert_int_ge(off, 0);
  return off;
}

/* The newest segment is data, then a hole to size.  STRICT keeps the file
 * as it is (a sealed segment's zeros are a clean end, not cut), so its
 * pages in the page cache afterwards are the ones recovery read. */
static void
hole_tail(bool map, off_t size)
{
  mrlog_policy p = th_policy();
  size_t cached;
  char *last;
  mrlog *log;

  write_small_log();
  p.recovery = MRLOG_RECOVER_STRICT;
  measure_baseline(map, &p);
  last = th_last_segment(th_dir);
  th_truncate_file(last, size);
  drop_cache(last);
  log = open_counted(map, &p);
  ck_assert_uint_eq(th_info(log, "a").records, 20);
  cached = cached_bytes(last);
  th_close(log);
  fprintf(stderr, "holes: %s open of a %jd-byte segment: %zu bytes cached, "
          "%zu read, %zu faulted\n", map ? "mapped" : "pread",
          (intmax_t)size, cached, pread_bytes, faulted);
  assert_faults_bounded();
  ck_assert_msg(cached <= TOUCH_BOUND,
                "%zu bytes of the segment read into the page cache at open",
                cached);
  ck_assert_msg(pread_bytes <= TOUCH_BOUND,
                "%zu bytes read through pread at open", pread_bytes);
  ck_assert_int_eq(th_file_size(last), size);
  free(last);
}

START_TEST(test_hole_tail_mapped)
{
  hole_tail(true, (off_t)MRLOG_SEGMENT_FILE_MAX);
}
END_TEST

START_TEST(test_hole_tail_pread)
{
  hole_tail(false, (off_t)256 << 20);
}
END_TEST

START_TEST(test_torn_frame_then_hole)
{
  mrlog_policy p = th_policy();
  unsigned char junk[64];
  size_t cached;
  char *last;
  off_t seal;
  mrlog *log;

  write_small_log();
  measure_baseline(true, &p);
  last = th_last_segment(th_dir);
  /* Not closed cleanly: its seal is replaced by a frame cut short (bytes
   * that are neither a frame nor zeros), then a hole to 4 GiB - 1.  The
   * witness scan after the torn frame runs to the end of the file. */
  seal = seal_offset(last);
  th_truncate_file(last, seal);
  th_fill(junk, sizeof(junk), 7);
  th_append_file(last, junk, sizeof(junk));
  th_truncate_file(last, (off_t)MRLOG_SEGMENT_FILE_MAX);
  drop_cache(last);
  log = open_counted(true, &p);
  ck_assert_uint_eq(th_info(log, "a").records, 20);
  cached = cached_bytes(last);
  th_close(log);
  fprintf(stderr, "holes: torn frame then a hole: %zu bytes cached, %zu "
          "faulted (%zu without it)\n", cached, faulted, baseline_faulted);
  assert_faults_bounded();
  ck_assert_msg(cached <= TOUCH_BOUND,
                "%zu bytes of the segment read into the page cache at open",
                cached);
  /* The torn tail is cut, and a seal written there. */
  ck_assert_int_ge(th_file_size(last), seal);
  ck_assert_int_le(th_file_size(last), seal + MRLOG_SEAL_FRAME_MAX);
  free(last);
}
END_TEST

START_TEST(test_crc32c_zeros)
{
  static const uint64_t lens[] = { 0, 1, 2, 3, 7, 8, 100, 4096, 65537,
                                   1000003 };
  unsigned char *zeros = calloc(1, 1000003);
  uint32_t seed[] = { 0, 0xe3069283u, 0xffffffffu };
  size_t i, j;

  ck_assert_ptr_nonnull(zeros);
  for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
    for (j = 0; j < 3; j++)
      th_req_uint_eq(mrlog__crc32c_zeros(seed[j], lens[i]),
                     mrlog__crc32c_extend(seed[j], zeros, lens[i]));
  free(zeros);
}
END_TEST

/* A frame header that declares the largest body (its hcrc valid over
 * that length) at the end of the data, then a hole to 4 GiB - 1: the
 * body is checksummed without its 2 GiB of hole being read. */
START_TEST(test_huge_length_into_hole)
{
  mrlog_policy p = th_policy();
  unsigned char fh[MRLOG_FRAME_HEADER_SIZE], id[16];
  size_t cached;
  char *last;
  off_t seal;
  mrlog *log;

  write_small_log();
  measure_baseline(true, &p);
  last = th_last_segment(th_dir);
  seal = seal_offset(last);
  th_truncate_file(last, seal);
  memset(fh, 0, sizeof(fh));
  mrlog__put_u32le(fh + 4, MRLOG_FRAME_BODY_MAX);
  mrlog__put_u32le(fh + 8, 0);
  mrlog__put_u32le(fh + 12, 0x12345678u);
  mrlog__put_u64le(id, 1);
  {
    uint64_t segno = strtoull(strrchr(last, '/') + 1, NULL, 16);

    mrlog__put_u64le(id, segno);
  }
  mrlog__put_u64le(id + 8, (uint64_t)seal);
  mrlog__put_u32le(fh, mrlog__crc32c_extend(mrlog__crc32c(id, 16), fh + 4,
                                            12));
  th_append_file(last, fh, sizeof(fh));
  th_truncate_file(last, (off_t)MRLOG_SEGMENT_FILE_MAX);
  drop_cache(last);
  log = open_counted(true, &p);
  ck_assert_uint_eq(th_info(log, "a").records, 20);
  cached = cached_bytes(last);
  th_close(log);
  fprintf(stderr, "holes: 2 GiB body declared into a hole: %zu bytes "
          "cached, %zu faulted (%zu without it)\n", cached, faulted,
          baseline_faulted);
  ck_assert_msg(cached <= TOUCH_BOUND,
                "%zu bytes of the segment read into the page cache at open",
                cached);
  assert_faults_bounded();
  ck_assert_int_le(th_file_size(last), seal + MRLOG_SEAL_FRAME_MAX);
  free(last);
}
END_TEST

START_TEST(test_punched_hole_is_damage)
{
  char *first, *zeroed_dir;
  mrlog *log;
  mrlog_policy p = th_policy();
  int fd, rc_hole, rc_zero;
  off_t size;
  unsigned char *data;
  size_t len;

  /* Two segments; the first gets 8 KiB of its records replaced by a
   * hole, and a copy of the directory gets zeros there instead. */
  log = th_open(th_dir, NULL);
  ck_assert_int_eq(th_create(log, "a"), 0);
  {
    char rec[1024];
    int i;

    memset(rec, 'x', sizeof(rec) - 1);
    rec[sizeof(rec) - 1] = '\0';
    for (i = 0; i < 64; i++)
      ck_assert_int_eq(th_append_str(log, "a", rec, NULL), 0);
  }
  th_close(log);
  log = th_open(th_dir, NULL);
  ck_assert_int_eq(th_append_str(log, "a", "second", NULL), 0);
  th_close(log);
  first = th_first_segment(th_dir);
  size = th_file_size(first);
  ck_assert_int_gt(size, 5 * 4096);
  zeroed_dir = th_sub("zeroed");
  th_copy_dir(th_dir, zeroed_dir);
  fd = open(first, O_RDWR);
  ck_assert_int_ge(fd, 0);
  if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 8192, 8192)
      != 0) {
    close(fd);
    free(first);
    free(zeroed_dir);
    return; /* the file system has no holes to punch */
  }
  close(fd);
  {
    char *zfirst = th_first_segment(zeroed_dir);

    data = th_read_file(zfirst, &len);
    memset(data + 8192, 0, 8192);
    th_write_file(zfirst, data, len);
    free(data);
    free(zfirst);
  }
  rc_hole = mrlog_open(th_dir, &p, &log);
  if (rc_hole == 0)
    th_close(log);
  rc_zero = mrlog_open(zeroed_dir, &p, &log);
  if (rc_zero == 0)
    th_close(log);
  ck_assert_int_eq(rc_hole, rc_zero);
  ck_assert_int_eq(rc_hole, MRLOG_ECORRUPT);
  free(first);
  free(zeroed_dir);
}
END_TEST

Suite *
make_holes_suite(void)
{
  Suite *s = suite_create("holes");
  TCase *tc = tcase_create("holes");

  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_SLOW);
  tcase_add_test(tc, test_hole_tail_mapped);
  tcase_add_test(tc, test_hole_tail_pread);
  tcase_add_test(tc, test_torn_frame_then_hole);
  tcase_add_test(tc, test_punched_hole_is_damage);
  tcase_add_test(tc, test_crc32c_zeros);
  tcase_add_test(tc, test_huge_length_into_hole);
  suite_add_tcase(s, tc);
  return s;
}

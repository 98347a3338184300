/*
 * test_recovery_rules.c -- damage must be found wherever it is and never
 * healed silently (docs/FORMAT.md section 9, docs/DURABILITY.md section
 * 3).  Byte surgery on closed logs:
 *  - an older segment cut, or zeroed, from a frame boundary to its end
 *    (its seal is gone): MRLOG_ECORRUPT, not a clean end;
 *  - the only segment, holding nothing but its checkpoint, with a damaged
 *    header or checkpoint: MRLOG_ECORRUPT, not a creation cut short, and
 *    never unlinked (SKIP_CORRUPT renames it aside and says so);
 *  - a bit flipped in the last data frame of a cleanly closed log (its
 *    seal witnesses it): MRLOG_ECORRUPT under the default policy;
 *  - SKIP_CORRUPT reports every dropped range through log_fn (WARN) and
 *    stats.skipped_*;
 *  - one damaged byte in a long writer pass loses only the records of the
 *    sub-frame it hit (about 4 KiB), and exactly those are reported.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_mrlog.h"
#include "crc32c.h"
#include "format.h"
#include "internal.h"
#include "io.h"

#define RECS 300
#define RLEN 100

/* Log messages at WARN, concatenated (for the reports SKIP_CORRUPT must
 * make). */
struct msgs {
  char text[16384];
  size_t len;
  int warns;
};

static void collect_msgs(void *arg, int level, const char *message) {
  struct msgs *m = arg;
  int n;

  if (level != MRLOG_LOG_WARN || message == NULL) return;
  m->warns++;
  n = snprintf(m->text + m->len, sizeof(m->text) - m->len, "%s\n", message);
  if (n > 0 && (size_t)n < sizeof(m->text) - m->len) m->len += (size_t)n;
}

/* Several 4 KiB segments holding queue "q" records 0..RECS-1. */
static size_t build_segments(const char *dir) {
  mrlog_policy p = th_policy();
  unsigned char buf[RLEN];
  mrlog *log;
  int i;

  p.segment_bytes = 4096;
  p.fsync_interval_ms = 2;
  log = th_open(dir, &p);
  ck_assert_int_eq(th_create(log, "q"), 0);
  for (i = 0; i < RECS; i++) {
    th_fill(buf, RLEN, 9000 + (uint64_t)i);
    ck_assert_int_eq(th_append(log, "q", NULL, buf, RLEN, NULL), 0);
  }
  th_close(log);
  return th_count_segments(dir);
}

/* Every record of q exact and in order; returns the count. */
static size_t check_records(mrlog *log, uint64_t *lost) {
  struct th_recs r;
  unsigned char buf[RLEN];
  size_t i, n;

  ck_assert_int_eq(th_collect(log, "q", 0, UINT64_MAX, &r), 0);
  for (i = 0; i < r.n; i++) {
    ck_assert_uint_lt(r.v[i].pos, RECS);
    ck_assert_uint_eq(r.v[i].len, RLEN);
    th_fill(buf, RLEN, 9000 + r.v[i].pos);
    ck_assert_mem_eq(r.v[i].data, buf, RLEN);
    if (i > 0) ck_assert_uint_gt(r.v[i].pos, r.v[i - 1].pos);
  }
  n = r.n;
  th_recs_free(&r);
  if (lost != NULL) *lost = RECS - n;
  return n;
}

/* Offsets of the valid frames of the segment file at path, in order.
 * Returns their number. */
static size_t frame_offsets(const char *path, size_t *offs, size_t max,
                            size_t *file_len) {
  unsigned char *bytes;
  size_t len, off = MRLOG_FILE_HEADER_SIZE, n = 0;
  uint64_t segno;

  bytes = th_read_file(path, &len);
  ck_assert_uint_ge(len, MRLOG_FILE_HEADER_SIZE);
  segno = mrlog__get_u64le(bytes + 16);
  while (off < len && n < max) {
    uint32_t body_len, synced;

    if (mrlog__frame_check(bytes + off, len - off, segno, (uint32_t)off,
                           &body_len, &synced) != MRLOG_FRAME_OK)
      break;
    offs[n++] = off;
    off += MRLOG_FRAME_HEADER_SIZE + body_len;
  }
  free(bytes);
  *file_len = len;
  return n;
}

/* ---- (a) an older segment cut or zeroed at a frame boundary ----------- */

static void older_cut_case(bool zero) {
  char *orig = th_sub("orig"), *cut = th_sub("cut");
  char **names, *victim, *before, *after, vname[64];
  size_t n, offs[256], nf, len;
  mrlog_policy p = th_policy();
  struct mrlog_stats st;
  struct msgs m;
  mrlog *log = (mrlog *)&log;
  uint64_t lost;
  int rc;

  ck_assert_uint_ge(build_segments(orig), 4);
  n = th_list_segments(orig, &names);
  th_copy_dir(orig, cut);
  victim = th_path(cut, names[1]); /* an older segment */
  snprintf(vname, sizeof(vname), "%.16s", names[1]);
  th_free_names(names, n);
  nf = frame_offsets(victim, offs, 256, &len);
  ck_assert_uint_ge(nf, 3);
  /* Drop the last two frames: records (and, in version 3, the seal). */
  if (zero) {
    unsigned char *z = calloc(1, len - offs[nf - 2]);
    th_truncate_file(victim, (off_t)offs[nf - 2]);
    th_append_file(victim, z, len - offs[nf - 2]);
    free(z);
  } else {
    th_truncate_file(victim, (off_t)offs[nf - 2]);
  }
  before = th_dir_fingerprint(cut);
  rc = mrlog_open(cut, NULL, &log);
  ck_assert_msg(rc == MRLOG_ECORRUPT, "older segment %s at a frame boundary: "
                "default policy opened with %d (%s), expected ECORRUPT",
                zero ? "zeroed" : "cut", rc, mrlog_err_name(rc));
  ck_assert_ptr_null(log);
  p.recovery = MRLOG_RECOVER_STRICT;
  log = (mrlog *)&log;
  rc = mrlog_open(cut, &p, &log);
  ck_assert_msg(rc == MRLOG_ECORRUPT, "STRICT: %d (%s)", rc,
                mrlog_err_name(rc));
  after = th_dir_fingerprint(cut);
  ck_assert_str_eq(after, before);
  /* SKIP_CORRUPT opens, keeps every other record exact, and says what it
   * dropped. */
  memset(&m, 0, sizeof(m));
  p.recovery = MRLOG_RECOVER_SKIP_CORRUPT;
  p.log_fn = collect_msgs;
  p.log_arg = &m;
  log = th_open(cut, &p);
  ck_assert_uint_lt(check_records(log, &lost), RECS);
  st = th_stats(log);
  ck_assert_uint_ge(st.skipped_ranges, 1);
  ck_assert_uint_ge(lost, st.skipped_records_at_least);
  ck_assert_uint_ge(st.skipped_records_at_least, 1);
  ck_assert_msg(strstr(m.text, vname) != NULL,
                "no WARN names the segment: %s", m.text);
  th_close(log);
  free(before);
  free(after);
  free(victim);
  free(orig);
  free(cut);
}

START_TEST(test_older_segment_cut_at_frame) { older_cut_case(false); }
END_TEST

START_TEST(test_older_segment_zeroed_at_frame) { older_cut_case(true); }
END_TEST

/* ---- (b) the only segment, checkpoint only, damaged ------------------- */

/* A log whose queue "q" was fully consumed: after the second open only
 * a segment holding the checkpoint (q: floor 3, next 3) is left. */
static char *build_consumed(const char *dir) {
  mrlog *log = th_open(dir, NULL);
  char *path;

  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(th_append_str(log, "q", "r0", NULL), 0);
  ck_assert_int_eq(th_append_str(log, "q", "r1", NULL), 0);
  ck_assert_int_eq(th_append_str(log, "q", "r2", NULL), 0);
  ck_assert_int_eq(th_truncate(log, "q", 2), 0);
  th_close(log);
  th_close(th_open(dir, NULL));
  ck_assert_uint_eq(th_count_segments(dir), 1);
  path = th_last_segment(dir);
  return path;
}

static void consumed_case(off_t at) {
  char *dir = th_sub("log"), *seg, *before, *after, *aside;
  mrlog_policy p = th_policy();
  struct msgs m;
  mrlog *log = (mrlog *)&log;
  int rc;

  seg = build_consumed(dir);
  th_xor_byte(seg, at, 0x10);
  before = th_dir_fingerprint(dir);
  rc = mrlog_open(dir, NULL, &log);
  ck_assert_msg(rc == MRLOG_ECORRUPT, "damage at %lld of the only segment "
                "(checkpoint only): default policy opened with %d (%s), "
                "expected ECORRUPT", (long long)at, rc, mrlog_err_name(rc));
  ck_assert_ptr_null(log);
  after = th_dir_fingerprint(dir);
  ck_assert_str_eq(after, before); /* not unlinked, nothing created */
  free(after);
  p.recovery = MRLOG_RECOVER_STRICT;
  log = (mrlog *)&log;
  ck_assert_int_eq(mrlog_open(dir, &p, &log), MRLOG_ECORRUPT);
  /* SKIP_CORRUPT renames the file aside (never unlinks it), reports it,
   * and counts it. */
  memset(&m, 0, sizeof(m));
  p.recovery = MRLOG_RECOVER_SKIP_CORRUPT;
  p.log_fn = collect_msgs;
  p.log_arg = &m;
  log = th_open(dir, &p);
  ck_assert_uint_ge(th_stats(log).skipped_ranges, 1);
  ck_assert_int_gt(m.warns, 0);
  th_close(log);
  aside = malloc(strlen(seg) + 16);
  sprintf(aside, "%s.corrupt", seg);
  if (at < MRLOG_FILE_HEADER_SIZE)
    ck_assert_int_gt(th_file_size(aside), 0);
  free(aside);
  free(before);
  free(seg);
  free(dir);
}

START_TEST(test_consumed_header_damaged) { consumed_case(12); }
END_TEST

START_TEST(test_consumed_checkpoint_damaged) {
  consumed_case(MRLOG_FILE_HEADER_SIZE + MRLOG_FRAME_HEADER_SIZE + 2);
}
END_TEST

/* ---- (c) the last data frame of a cleanly closed log ------------------ */

START_TEST(test_flip_closed_last_frame) {
  char *orig = th_sub("orig"), *cut = th_sub("cut");
  char *seg, *path;
  size_t offs[512], nf, len, last_data;
  mrlog *log;
  mrlog_policy p = th_policy();
  int i, rc;

  /* Each append waited for: one frame each. */
  log = th_open(orig, NULL);
  ck_assert_int_eq(th_create(log, "q"), 0);
  for (i = 0; i < 20; i++) {
    unsigned char buf[RLEN];
    th_fill(buf, RLEN, 9000 + (uint64_t)i);
    ck_assert_int_eq(th_append(log, "q", NULL, buf, RLEN, NULL), 0);
  }
  th_close(log);
  seg = th_last_segment(orig);
  path = strdup(seg);
  nf = frame_offsets(path, offs, 512, &len);
  ck_assert_uint_ge(nf, 3);
  /* The last frame holding a record: the last one, or the one before the
   * seal. */
  last_data = len - offs[nf - 1] <= 24 ? offs[nf - 2] : offs[nf - 1];
  th_copy_dir(orig, cut);
  free(seg);
  {
    const char *base = strrchr(path, '/') + 1;
    seg = th_path(cut, base);
  }
  th_xor_byte(seg, (off_t)last_data + MRLOG_FRAME_HEADER_SIZE + 5, 0x01);
  log = (mrlog *)&log;
  rc = mrlog_open(cut, NULL, &log);
  ck_assert_msg(rc == MRLOG_ECORRUPT, "bit flipped in the last data frame "
                "(at %zu) of a cleanly closed log: default policy opened "
                "with %d (%s), expected ECORRUPT", last_data, rc,
                mrlog_err_name(rc));
  p.recovery = MRLOG_RECOVER_STRICT;
  ck_assert_int_eq(mrlog_open(cut, &p, &log), MRLOG_ECORRUPT);
  p.recovery = MRLOG_RECOVER_SKIP_CORRUPT;
  log = th_open(cut, &p);
  ck_assert_uint_eq(check_records(log, NULL), 19);
  ck_assert_uint_eq(th_stats(log).skipped_ranges, 1);
  ck_assert_uint_le(th_stats(log).skipped_records_at_least, 1);
  th_close(log);
  free(seg);
  free(path);
  free(orig);
  free(cut);
}
END_TEST

/* ---- (d) blast radius: one damaged byte in a long writer pass -------- */

/* A file layer whose writes wait while `gate_closed` is set: requests pile
 * up behind a writer stuck in its write, and it then builds long passes
 * (up to 1024 requests) out of them. */
static atomic_int gate_closed;
static struct mrlog__io gated_io;

static void gate_wait(void) {
  while (atomic_load(&gate_closed)) usleep(1000);
}

static ssize_t gated_pwrite(void *ctx, int fd, const void *buf, size_t len,
                            off_t off) {
  gate_wait();
  return mrlog__posix_io.pwrite(ctx, fd, buf, len, off);
}

static ssize_t gated_pwritev(void *ctx, int fd, const struct iovec *iov,
                             int cnt, off_t off) {
  gate_wait();
  return mrlog__posix_io.pwritev(ctx, fd, iov, cnt, off);
}

START_TEST(test_blast_radius) {
  enum { N = 3000 };
  char *dir = th_sub("log"), *seg;
  mrlog_policy p = th_policy();
  unsigned char buf[RLEN];
  mrlog_future *f = NULL;
  struct mrlog_stats st;
  struct msgs m;
  mrlog *log;
  size_t len, n;
  uint64_t lost;
  int i;

  /* Appends submitted while the writer is stuck in a write: it then
   * frames up to 1024 of them per pass. */
  p.fsync_interval_ms = 50;
  p.ring_slots = 16384; /* a power of two above N */
  gated_io = mrlog__posix_io;
  gated_io.pwrite = gated_pwrite;
  gated_io.pwritev = gated_pwritev;
  atomic_store(&gate_closed, 0);
  ck_assert_int_eq(mkdir(dir, 0755), 0);
  ck_assert_int_eq(mrlog__open_with_io(dir, &p, &gated_io, &log), 0);
  ck_assert_int_eq(th_create(log, "q"), 0);
  atomic_store(&gate_closed, 1);
  for (i = 0; i < N; i++) {
    th_fill(buf, RLEN, 9000 + (uint64_t)i);
    if (f != NULL) mrlog_forget(f);
    f = mrlog_append(log, "q", NULL, buf, RLEN, NULL, NULL);
    ck_assert_ptr_nonnull(f);
  }
  atomic_store(&gate_closed, 0);
  ck_assert_int_eq(th_wait(f, NULL), 0);
  th_close(log);
  seg = th_last_segment(dir);
  len = (size_t)th_file_size(seg);
  ck_assert_uint_gt(len, (size_t)N * RLEN);
  th_xor_byte(seg, (off_t)(len / 2), 0x40);
  memset(&m, 0, sizeof(m));
  p.recovery = MRLOG_RECOVER_SKIP_CORRUPT;
  p.log_fn = collect_msgs;
  p.log_arg = &m;
  log = th_open(dir, &p);
  {
    struct th_recs r;
    size_t k;

    ck_assert_int_eq(th_collect(log, "q", 0, UINT64_MAX, &r), 0);
    for (k = 0; k < r.n; k++) {
      th_fill(buf, RLEN, 9000 + r.v[k].pos);
      ck_assert_uint_eq(r.v[k].len, RLEN);
      ck_assert_mem_eq(r.v[k].data, buf, RLEN);
    }
    n = r.n;
    th_recs_free(&r);
  }
  lost = N - n;
  st = th_stats(log);
  /* At most the records of the damaged frame: about 4 KiB of them. */
  ck_assert_msg(lost >= 1 && lost <= 4096 / RLEN + 1,
                "one damaged byte lost %llu records of 100 bytes",
                (unsigned long long)lost);
  ck_assert_uint_eq(st.skipped_ranges, 1);
  ck_assert_uint_eq(st.skipped_records_at_least, lost);
  ck_assert_msg(strstr(m.text, "queue \"q\": positions") != NULL,
                "the lost positions are not reported: %s", m.text);
  th_close(log);
  free(seg);
  free(dir);
}
END_TEST

Suite *make_recovery_rules_suite(void) {
  Suite *s = suite_create("recovery_rules");
  TCase *tc;

  tc = tcase_create("rules");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_SLOW);
  tcase_add_test(tc, test_older_segment_cut_at_frame);
  tcase_add_test(tc, test_older_segment_zeroed_at_frame);
  tcase_add_test(tc, test_consumed_header_damaged);
  tcase_add_test(tc, test_consumed_checkpoint_damaged);
  tcase_add_test(tc, test_flip_closed_last_frame);
  tcase_add_test(tc, test_blast_radius);
  suite_add_tcase(s, tc);
  return s;
}

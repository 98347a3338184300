/*
 * test_recovery.c -- recovery by byte surgery on closed logs: the last
 * segment cut at every offset of its final frames, bits flipped in the last
 * frame (healed) and in older segments (MRLOG_ECORRUPT), garbage after the
 * tail, the three recovery policies and stats.discarded_tail_bytes.
 *
 * Each case builds a log in th_dir/orig, closes it, then for each damage
 * copies it to th_dir/cut, damages the copy and opens it.  A recovered log
 * must equal the state after some prefix of the operations that built it
 * (batches all or nothing), with exact bytes, and must keep working: an
 * append after the heal and a second reopen must succeed.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_mrlog.h"
#include "crc32c.h"
#include "format.h"

/* The operations that build the log: each appends `count` records to queue
 * `q` (0 = "a", 1 = "b"); count > 1 is one batch. */
#define N_OPS 61
#define BATCH_OP 58 /* near the end, so the cuts go through it */
#define BATCH_COUNT 3

static const char *const qname[2] = {"a", "b"};

struct op {
  int q;
  int count;
};

static struct op ops[N_OPS];

/* Length and seed of record k of queue q. */
static size_t rec_len(int q, uint64_t k) {
  return (size_t)((k * 13 + (uint64_t)q * 5) % 60 + 1);
}
static uint64_t rec_seed(int q, uint64_t k) { return (uint64_t)q * 100000 + k; }

static void init_ops(void) {
  int i;

  for (i = 0; i < N_OPS; i++) {
    ops[i].q = i % 2;
    ops[i].count = i == BATCH_OP ? BATCH_COUNT : 1;
  }
}

/* Records of each queue after the first k operations. */
static void counts_after(int k, uint64_t n[2]) {
  int i;

  n[0] = n[1] = 0;
  for (i = 0; i < k; i++) n[ops[i].q] += (uint64_t)ops[i].count;
}

static void append_op(mrlog *log, int i, uint64_t n[2]) {
  int q = ops[i].q;
  unsigned char buf[BATCH_COUNT][64];
  struct iovec iov[BATCH_COUNT];
  uint64_t pos = 99;
  int j;

  for (j = 0; j < ops[i].count; j++) {
    uint64_t k = n[q] + (uint64_t)j;
    th_fill(buf[j], rec_len(q, k), rec_seed(q, k));
    iov[j].iov_base = buf[j];
    iov[j].iov_len = rec_len(q, k);
  }
  /* One request at a time, so each becomes its own frame. */
  ck_assert_int_eq(th_wait(mrlog_append_batch(log, qname[q], NULL, iov,
                                              (size_t)ops[i].count, NULL,
                                              NULL),
                           &pos),
                   0);
  n[q] += (uint64_t)ops[i].count;
  ck_assert_uint_eq(pos, n[q] - 1);
}

/* Builds the log in dir: one open creates the queues, a second one runs
 * the operations (so the last segment holds only appends). */
static void build_log(const char *dir, const mrlog_policy *p) {
  mrlog *log;
  uint64_t n[2] = {0, 0};
  int i;

  init_ops();
  log = th_open(dir, p);
  ck_assert_int_eq(th_create(log, "a"), 0);
  ck_assert_int_eq(th_create(log, "b"), 0);
  th_close(log);
  log = th_open(dir, p);
  for (i = 0; i < N_OPS; i++) append_op(log, i, n);
  th_close(log);
}

/* Asserts q holds records 0..n-1 with their exact bytes; returns n. */
static uint64_t check_queue(mrlog *log, int q) {
  struct th_recs r;
  struct mrlog_queue_info info;
  unsigned char buf[64];
  size_t i;
  uint64_t n;

  ck_assert_int_eq(th_collect(log, qname[q], 0, UINT64_MAX, &r), 0);
  for (i = 0; i < r.n; i++) {
    size_t len = rec_len(q, i);
    ck_assert_uint_eq(r.v[i].pos, i);
    ck_assert_uint_eq(r.v[i].len, len);
    th_fill(buf, len, rec_seed(q, i));
    ck_assert_mem_eq(r.v[i].data, buf, len);
  }
  n = r.n;
  th_recs_free(&r);
  info = th_info(log, qname[q]);
  ck_assert_uint_eq(info.records, n);
  ck_assert_uint_eq(info.next_position, n);
  ck_assert_uint_eq(info.first_position, 0);
  return n;
}

/* Asserts the log equals the state after some prefix of ops and returns
 * that prefix's length. */
static int check_prefix(mrlog *log) {
  uint64_t got[2], want[2];
  int k;

  got[0] = check_queue(log, 0);
  got[1] = check_queue(log, 1);
  for (k = 0; k <= N_OPS; k++) {
    counts_after(k, want);
    if (want[0] == got[0] && want[1] == got[1]) return k;
  }
  ck_abort_msg("recovered a=%llu b=%llu records: not a prefix of the ops",
               (unsigned long long)got[0], (unsigned long long)got[1]);
  return -1;
}

/* After a heal: append one more record to "a", close, reopen cleanly and
 * find everything again. */
static void check_heal_sticks(const char *dir, mrlog *log, int k) {
  uint64_t n[2], pos = 99;
  struct mrlog_stats st;
  int rc;

  counts_after(k, n);
  ck_assert_int_eq(th_append_str(log, "a", "after-heal", &pos), 0);
  ck_assert_uint_eq(pos, n[0]);
  th_close(log);
  log = NULL;
  rc = mrlog_open(dir, NULL, &log);
  ck_assert_msg(rc == 0, "reopen after heal: %d (%s)", rc, mrlog_strerror(rc));
  st = th_stats(log);
  ck_assert_uint_eq(st.discarded_tail_bytes, 0);
  ck_assert_uint_eq(th_info(log, "a").next_position, n[0] + 1);
  ck_assert_uint_eq(th_info(log, "b").next_position, n[1]);
  th_close(log);
}

/* Basename of the last segment of dir (malloc'd). */
static char *last_segment_name(const char *dir) {
  char **names;
  size_t n = th_list_segments(dir, &names);
  char *s;

  ck_assert_uint_gt(n, 0);
  s = strdup(names[n - 1]);
  th_free_names(names, n);
  return s;
}

/* The end of the data of the segment file at path: its size, or where its
 * seal starts if it ends with one (format version 3; a seal holds no
 * record, and recovery seals an unsealed newest segment at open). */
static size_t data_end(const char *path) {
  unsigned char *bytes;
  size_t len, off = MRLOG_FILE_HEADER_SIZE, last = 0;
  uint64_t segno;

  bytes = th_read_file(path, &len);
  ck_assert_uint_ge(len, MRLOG_FILE_HEADER_SIZE);
  segno = mrlog__get_u64le(bytes + 16);
  while (off < len) {
    uint32_t body_len, synced;

    if (mrlog__frame_check(bytes + off, len - off, segno, (uint32_t)off,
                           &body_len, &synced) != MRLOG_FRAME_OK)
      break;
    last = off;
    off += MRLOG_FRAME_HEADER_SIZE + body_len;
  }
  if (off == len && last > 0 &&
      bytes[last + MRLOG_FRAME_HEADER_SIZE] == MRLOG_OP_SEAL)
    len = last;
  free(bytes);
  return len;
}

/* ---- Cut at every offset ---------------------------------------------- */

static bool all_zero(const unsigned char *p, size_t n) {
  size_t i;

  for (i = 0; i < n; i++)
    if (p[i] != 0) return false;
  return true;
}

START_TEST(test_cut_every_offset) {
  char *orig = th_sub("orig"), *cut = th_sub("cut");
  char *seg = NULL, *cutseg;
  unsigned char *orig_bytes;
  size_t orig_len;
  off_t size, o, from, orig_data;
  int prev_k = -1;

  build_log(orig, NULL);
  seg = last_segment_name(orig);
  cutseg = th_path(cut, seg);
  th_copy_dir(orig, cut);
  size = th_file_size(cutseg);
  ck_assert_int_gt(size, 32 + 300);
  orig_bytes = th_read_file(cutseg, &orig_len);
  ck_assert_uint_eq(orig_len, (size_t)size);
  orig_data = (off_t)data_end(cutseg);
  from = size - 300;
  for (o = from; o <= size; o++) {
    mrlog *log = NULL;
    struct mrlog_stats st;
    int rc, k;

    th_copy_dir(orig, cut);
    th_truncate_file(cutseg, o);
    rc = mrlog_open(cut, NULL, &log);
    ck_assert_msg(rc == 0, "open with the last segment cut at %lld of %lld: "
                  "%d (%s)", (long long)o, (long long)size, rc,
                  mrlog_strerror(rc));
    k = check_prefix(log);
    ck_assert_int_ge(k, prev_k); /* more bytes never recover less */
    prev_k = k;
    st = th_stats(log);
    /* What was cut is counted, and the file really was cut -- except
     * that cut bytes that are all zero (a frame header may begin with
     * 0x00: frames carry the time, so this varies from run to run) are a
     * clean end, cut but not counted (recovery invariant 9). */
    {
      uint64_t kept = (uint64_t)data_end(cutseg);
      /* Uncut, the file ends with its seal, which data_end leaves out. */
      off_t want = o == size ? orig_data : o;

      if (kept + st.discarded_tail_bytes != (uint64_t)want) {
        ck_assert_uint_eq(st.discarded_tail_bytes, 0);
        ck_assert_msg(all_zero(orig_bytes + kept, (size_t)o - kept),
                      "cut at %lld: %llu bytes neither kept nor counted, "
                      "and not all zero", (long long)o,
                      (unsigned long long)((uint64_t)o - kept));
      }
    }
    if (o == size) {
      ck_assert_int_eq(k, N_OPS);
      ck_assert_uint_eq(st.discarded_tail_bytes, 0);
    }
    check_heal_sticks(cut, log, k);
  }
  ck_assert_int_lt(0, prev_k);
  free(orig_bytes);
  free(seg);
  free(cutseg);
  free(orig);
  free(cut);
}
END_TEST

/* A cut that ends inside the discarded range must be seen as damage by
 * STRICT, and it must change nothing. */
START_TEST(test_strict_torn_tail) {
  char *orig = th_sub("orig"), *cut = th_sub("cut");
  char *seg, *cutseg, *before, *after;
  mrlog_policy strict = th_policy();
  mrlog *log = (mrlog *)&log;
  off_t size;
  int rc;

  strict.recovery = MRLOG_RECOVER_STRICT;
  build_log(orig, NULL);
  seg = last_segment_name(orig);
  cutseg = th_path(cut, seg);
  th_copy_dir(orig, cut);
  size = (off_t)data_end(cutseg); /* into the last frame, not its seal */
  th_truncate_file(cutseg, size - 5);
  before = th_dir_fingerprint(cut);
  rc = mrlog_open(cut, &strict, &log);
  ck_assert_int_eq(rc, MRLOG_ECORRUPT);
  ck_assert_ptr_null(log);
  after = th_dir_fingerprint(cut);
  ck_assert_str_eq(after, before); /* nothing changed, nothing created */
  free(after);
  /* It failed cleanly: the default policy now heals it. */
  log = th_open(cut, NULL);
  ck_assert_int_eq(check_prefix(log), N_OPS - 1);
  ck_assert_uint_gt(th_stats(log).discarded_tail_bytes, 0);
  th_close(log);
  /* And STRICT accepts an undamaged log. */
  log = th_open(orig, &strict);
  ck_assert_int_eq(check_prefix(log), N_OPS);
  ck_assert_uint_eq(th_stats(log).discarded_tail_bytes, 0);
  th_close(log);
  free(before);
  free(seg);
  free(cutseg);
  free(orig);
  free(cut);
}
END_TEST

/* ---- Flipped bits in the last frame ----------------------------------- */

START_TEST(test_flip_last_frame) {
  char *orig = th_sub("orig"), *cut = th_sub("cut");
  char *seg, *cutseg, *origseg;
  mrlog_policy strict = th_policy();
  off_t size, b, o;
  int k_at_b = -1;

  strict.recovery = MRLOG_RECOVER_STRICT;
  build_log(orig, NULL);
  seg = last_segment_name(orig);
  cutseg = th_path(cut, seg);
  origseg = th_path(orig, seg);
  /* Without its seal, as a crash would leave it: the last frame is then
   * witnessed by nothing (a sealed one is: test_recovery_rules.c). */
  th_truncate_file(origseg, (off_t)data_end(origseg));
  size = th_file_size(origseg);
  /* Find where the last frame starts by walking the frames (a search for
   * the largest cut STRICT accepts could stop one byte in, when the frame
   * header happens to begin with 0x00: a zero tail is a clean end). */
  {
    unsigned char *bytes;
    size_t len, off = MRLOG_FILE_HEADER_SIZE;
    uint64_t segno = 0;
    mrlog *log = NULL;

    bytes = th_read_file(origseg, &len);
    ck_assert_uint_eq(len, (size_t)size);
    segno = mrlog__get_u64le(bytes + 16);
    b = 0;
    while (off < len) {
      uint32_t body_len, synced;

      ck_assert_int_eq(mrlog__frame_check(bytes + off, len - off, segno,
                                          (uint32_t)off, &body_len, &synced),
                       MRLOG_FRAME_OK);
      b = (off_t)off;
      off += MRLOG_FRAME_HEADER_SIZE + body_len;
    }
    ck_assert_uint_eq(off, len);
    free(bytes);
    th_copy_dir(orig, cut);
    th_truncate_file(cutseg, b);
    ck_assert_int_eq(mrlog_open(cut, &strict, &log), 0);
    k_at_b = check_prefix(log);
    th_close(log);
  }
  ck_assert_int_gt(b, 32);
  ck_assert_int_lt(k_at_b, N_OPS);
  /* Every byte of that frame, one bit each. */
  for (o = b; o < size; o++) {
    mrlog *log = NULL;
    struct mrlog_stats st;
    int rc, k;

    th_copy_dir(orig, cut);
    th_flip_bit(cutseg, o, (int)(o % 8));
    rc = mrlog_open(cut, NULL, &log);
    ck_assert_msg(rc == 0, "open with a bit flipped at %lld (last frame at "
                  "%lld..%lld): %d (%s)", (long long)o, (long long)b,
                  (long long)size, rc, mrlog_strerror(rc));
    k = check_prefix(log);
    ck_assert_int_eq(k, k_at_b);
    st = th_stats(log);
    ck_assert_uint_eq(st.discarded_tail_bytes, (uint64_t)(size - b));
    ck_assert_int_eq(data_end(cutseg), b);
    check_heal_sticks(cut, log, k);
  }
  free(seg);
  free(cutseg);
  free(origseg);
  free(orig);
  free(cut);
}
END_TEST

/* ---- Garbage after the last frame ------------------------------------- */

static void count_log_msgs(void *arg, int level, const char *message) {
  (void)level;
  if (message != NULL) atomic_fetch_add((atomic_int *)arg, 1);
}

static void garbage_case(unsigned char byte, size_t len) {
  char *orig = th_sub("orig"), *cut = th_sub("cut");
  char *seg, *cutseg;
  unsigned char *junk = malloc(len);
  mrlog_policy p = th_policy();
  atomic_int msgs;
  mrlog *log;
  off_t size;

  ck_assert_ptr_nonnull(junk);
  memset(junk, byte, len);
  atomic_init(&msgs, 0);
  p.log_fn = count_log_msgs;
  p.log_arg = &msgs;
  build_log(orig, NULL);
  seg = last_segment_name(orig);
  cutseg = th_path(cut, seg);
  th_copy_dir(orig, cut);
  size = th_file_size(cutseg);
  th_append_file(cutseg, junk, len);
  log = th_open(cut, &p);
  ck_assert_int_eq(check_prefix(log), N_OPS);
  /* Zeros are room the writer zero-filled ahead of itself (recovery.c
   * invariant 9): cut, reported, but not counted as discarded data. */
  ck_assert_uint_eq(th_stats(log).discarded_tail_bytes, byte == 0 ? 0 : len);
  ck_assert_int_eq(th_file_size(cutseg), size); /* cut back to its seal */
  ck_assert_int_gt(atomic_load(&msgs), 0); /* the heal was reported */
  check_heal_sticks(cut, log, N_OPS);
  free(junk);
  free(seg);
  free(cutseg);
  free(orig);
  free(cut);
}

START_TEST(test_zeros_after_tail) { garbage_case(0, 1000); }
END_TEST

START_TEST(test_junk_after_tail) { garbage_case(0xa5, 37); }
END_TEST

START_TEST(test_one_junk_byte_after_tail) { garbage_case(0xff, 1); }
END_TEST

/* ---- The last segment cut inside its file header ---------------------- */

START_TEST(test_cut_in_file_header) {
  static const off_t cuts[] = {0, 1, 8, 16, 31, 32, 33, 40};
  char *orig = th_sub("orig"), *cut = th_sub("cut");
  char *seg, *cutseg;
  mrlog *log;
  size_t i;

  build_log(orig, NULL);
  /* A third open, whose segment is the one we damage. */
  log = th_open(orig, NULL);
  ck_assert_int_eq(th_append_str(log, "b", "third-opening", NULL), 0);
  th_close(log);
  seg = last_segment_name(orig);
  cutseg = th_path(cut, seg);
  for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
    struct mrlog_stats st;
    uint64_t nb;
    int rc;

    log = NULL;
    th_copy_dir(orig, cut);
    th_truncate_file(cutseg, cuts[i]);
    rc = mrlog_open(cut, NULL, &log);
    ck_assert_msg(rc == 0, "last segment cut to %lld bytes: %d (%s)",
                  (long long)cuts[i], rc, mrlog_strerror(rc));
    /* Everything from the earlier segments is there. */
    ck_assert_uint_eq(check_queue(log, 0), 31 + BATCH_COUNT - 1);
    nb = th_info(log, "b").records;
    ck_assert_uint_eq(nb, 30); /* the third open's record is lost */
    st = th_stats(log);
    ck_assert_uint_le(st.discarded_tail_bytes, (uint64_t)cuts[i]);
    /* Still works afterwards. */
    ck_assert_int_eq(th_append_str(log, "b", "x", NULL), 0);
    th_close(log);
    log = th_open(cut, NULL);
    ck_assert_uint_eq(th_info(log, "b").records, 31);
    ck_assert_uint_eq(th_stats(log).discarded_tail_bytes, 0);
    th_close(log);
  }
  free(seg);
  free(cutseg);
  free(orig);
  free(cut);
}
END_TEST

/* ---- Damage in an older segment --------------------------------------- */

#define OLD_RECORDS 300
#define OLD_LEN 100

/* Builds a log of several 4 KiB segments holding queue "q" records
 * 0..OLD_RECORDS-1, each OLD_LEN bytes seeded by its position. */
static size_t build_segments(const char *dir) {
  mrlog_policy p = th_policy();
  unsigned char buf[OLD_LEN];
  mrlog *log;
  int i;

  p.segment_bytes = 4096;
  p.fsync_interval_ms = 2;
  log = th_open(dir, &p);
  ck_assert_int_eq(th_create(log, "q"), 0);
  for (i = 0; i < OLD_RECORDS; i++) {
    th_fill(buf, OLD_LEN, 7000 + (uint64_t)i);
    ck_assert_int_eq(th_append(log, "q", NULL, buf, OLD_LEN, NULL), 0);
  }
  th_close(log);
  return th_count_segments(dir);
}

/* Asserts every record of q has its exact bytes; returns the count. */
static size_t check_segment_records(mrlog *log) {
  struct th_recs r;
  unsigned char buf[OLD_LEN];
  size_t i, n;

  ck_assert_int_eq(th_collect(log, "q", 0, UINT64_MAX, &r), 0);
  for (i = 0; i < r.n; i++) {
    ck_assert_uint_lt(r.v[i].pos, OLD_RECORDS);
    ck_assert_uint_eq(r.v[i].len, OLD_LEN);
    th_fill(buf, OLD_LEN, 7000 + r.v[i].pos);
    ck_assert_mem_eq(r.v[i].data, buf, OLD_LEN);
    if (i > 0) ck_assert_uint_gt(r.v[i].pos, r.v[i - 1].pos);
  }
  n = r.n;
  th_recs_free(&r);
  return n;
}

/* Damages segment number `which` (0 = oldest) of a copy and expects the
 * three policies to behave. */
static void older_segment_case(size_t which, bool cut_instead) {
  char *orig = th_sub("orig"), *cut = th_sub("cut");
  char **names;
  size_t nseg, n;
  char *victim, *before, *after;
  mrlog_policy p = th_policy();
  mrlog *log = (mrlog *)&log;
  off_t size;
  int rc;

  nseg = build_segments(orig);
  ck_assert_uint_ge(nseg, 4);
  n = th_list_segments(orig, &names);
  ck_assert_uint_lt(which, n - 1); /* never the last */
  th_copy_dir(orig, cut);
  victim = th_path(cut, names[which]);
  th_free_names(names, n);
  size = th_file_size(victim);
  ck_assert_int_gt(size, 200);
  if (cut_instead)
    th_truncate_file(victim, size - 40); /* past the seal, into records */
  else
    th_xor_byte(victim, size / 2, 0xff);
  before = th_dir_fingerprint(cut);

  /* TOLERATE_TAIL (the default): corruption outside the tail fails. */
  rc = mrlog_open(cut, NULL, &log);
  ck_assert_int_eq(rc, MRLOG_ECORRUPT);
  ck_assert_ptr_null(log);
  /* STRICT fails too and changes nothing. */
  p.recovery = MRLOG_RECOVER_STRICT;
  log = (mrlog *)&log;
  ck_assert_int_eq(mrlog_open(cut, &p, &log), MRLOG_ECORRUPT);
  ck_assert_ptr_null(log);
  after = th_dir_fingerprint(cut);
  ck_assert_str_eq(after, before);
  free(after);
  /* SKIP_CORRUPT opens with what it could read, all of it exact. */
  p.recovery = MRLOG_RECOVER_SKIP_CORRUPT;
  log = th_open(cut, &p);
  n = check_segment_records(log);
  ck_assert_uint_lt(n, OLD_RECORDS);
  ck_assert_uint_gt(n, 0);
  ck_assert_uint_gt(th_stats(log).discarded_tail_bytes, 0);
  th_close(log);
  free(before);
  free(victim);
  free(orig);
  free(cut);
}

START_TEST(test_flip_oldest_segment) { older_segment_case(0, false); }
END_TEST

START_TEST(test_flip_middle_segment) { older_segment_case(2, false); }
END_TEST

START_TEST(test_cut_older_segment) { older_segment_case(1, true); }
END_TEST

START_TEST(test_clean_segments_reopen) {
  char *orig = th_sub("orig");
  mrlog *log;

  build_segments(orig);
  log = th_open(orig, NULL);
  ck_assert_uint_eq(check_segment_records(log), OLD_RECORDS);
  ck_assert_uint_eq(th_stats(log).discarded_tail_bytes, 0);
  th_close(log);
  free(orig);
}
END_TEST

/* ---- A segment from a newer format version ---------------------------- */

/* The last segment's header rewritten as version 2 with a valid crc: every
 * recovery policy refuses it with MRLOG_EVERSION and nothing on disk
 * changes.  The same directory opens again once the header is restored. */
START_TEST(test_newer_format_version_refused) {
  static const int policies[] = {MRLOG_RECOVER_TOLERATE_TAIL,
                                 MRLOG_RECOVER_STRICT,
                                 MRLOG_RECOVER_SKIP_CORRUPT};
  char *orig = th_sub("orig");
  char *seg, *path, *before, *after;
  unsigned char hdr[MRLOG_FILE_HEADER_SIZE], saved[MRLOG_FILE_HEADER_SIZE];
  unsigned char *data;
  size_t i, len;
  mrlog *log;

  build_log(orig, NULL);
  /* An open of its own, so the newer segment is not the only one. */
  th_close(th_open(orig, NULL));
  seg = last_segment_name(orig);
  path = th_path(orig, seg);
  data = th_read_file(path, &len);
  ck_assert_uint_ge(len, sizeof(hdr));
  memcpy(saved, data, sizeof(saved));
  memcpy(hdr, data, sizeof(hdr));
  mrlog__put_u32le(hdr + 8, MRLOG_FORMAT_VERSION_CURRENT + 1);
  mrlog__put_u32le(hdr + 28, mrlog__crc32c(hdr, 28));
  memcpy(data, hdr, sizeof(hdr));
  th_write_file(path, data, len);
  free(data);
  before = th_dir_fingerprint(orig);
  for (i = 0; i < sizeof(policies) / sizeof(policies[0]); i++) {
    mrlog_policy policy = th_policy();
    int rc;

    policy.recovery = policies[i];
    log = NULL;
    rc = mrlog_open(orig, &policy, &log);
    ck_assert_msg(rc == MRLOG_EVERSION, "policy %d: %d (%s)", policies[i], rc,
                  mrlog_err_name(rc));
    ck_assert_ptr_null(log);
    after = th_dir_fingerprint(orig);
    ck_assert_str_eq(after, before);
    free(after);
  }
  ck_assert_str_eq(mrlog_err_name(MRLOG_EVERSION), "EVERSION");
  /* Nor is an earlier segment with a damaged header quarantined first,
   * even under SKIP_CORRUPT: versions are checked before any change. */
  {
    char *fpath = th_first_segment(orig); /* a path */
    mrlog_policy policy = th_policy();
    char *damaged;

    ck_assert_str_ne(fpath, path);
    th_xor_byte(fpath, 0, 0x20);
    damaged = th_dir_fingerprint(orig);
    policy.recovery = MRLOG_RECOVER_SKIP_CORRUPT;
    log = NULL;
    ck_assert_int_eq(mrlog_open(orig, &policy, &log), MRLOG_EVERSION);
    after = th_dir_fingerprint(orig);
    ck_assert_str_eq(after, damaged);
    free(after);
    th_xor_byte(fpath, 0, 0x20);
    free(damaged);
    free(fpath);
  }
  /* Restored, the same files open. */
  data = th_read_file(path, &len);
  memcpy(data, saved, sizeof(saved));
  th_write_file(path, data, len);
  free(data);
  log = th_open(orig, NULL);
  ck_assert_uint_eq(check_queue(log, 0), 31 + BATCH_COUNT - 1);
  th_close(log);
  free(before);
  free(path);
  free(seg);
  free(orig);
}
END_TEST

Suite *make_recovery_suite(void) {
  Suite *s = suite_create("recovery");
  TCase *tc;

  tc = tcase_create("torn_tail");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_SLOW);
  tcase_add_test(tc, test_cut_every_offset);
  tcase_add_test(tc, test_strict_torn_tail);
  tcase_add_test(tc, test_flip_last_frame);
  tcase_add_test(tc, test_zeros_after_tail);
  tcase_add_test(tc, test_junk_after_tail);
  tcase_add_test(tc, test_one_junk_byte_after_tail);
  tcase_add_test(tc, test_cut_in_file_header);
  tcase_add_test(tc, test_newer_format_version_refused);
  suite_add_tcase(s, tc);

  tc = tcase_create("older_segments");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_SLOW);
  tcase_add_test(tc, test_flip_oldest_segment);
  tcase_add_test(tc, test_flip_middle_segment);
  tcase_add_test(tc, test_cut_older_segment);
  tcase_add_test(tc, test_clean_segments_reopen);
  suite_add_tcase(s, tc);
  return s;
}

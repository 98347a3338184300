/*
 * test_unit.c -- unit tests of the internal modules that have no threads:
 * crc32c, varints, file and frame headers, segment names, and frame
 * application (the code recovery and the writer share).
 */
#include "check_mrlog.h"
#include "crc32c.h"
#include "internal.h"
#include "apply.h"
#include "prefault.h"
#include "queue.h"
#include "segment.h"

#include <stdlib.h>
#include <string.h>

START_TEST(test_crc32c_known_values)
{
  const char *s = "123456789";
  uint8_t zeros[32] = { 0 };

  ck_assert_uint_eq(mrlog__crc32c(s, 9), 0xE3069283u);
  ck_assert_uint_eq(mrlog__crc32c("", 0), 0);
  /* RFC 3720 B.4: 32 bytes of zeros. */
  ck_assert_uint_eq(mrlog__crc32c(zeros, 32), 0x8A9136AAu);
  ck_assert_uint_eq(mrlog__crc32c_extend(mrlog__crc32c(s, 4), s + 4, 5),
                    0xE3069283u);
}
END_TEST

/* The short-buffer path (the CPU's crc32 instruction) and ISA-L give the
 * same value at every length up to past the split point, at every
 * alignment, and chained from any seed. */
START_TEST(test_crc32c_short_matches_long)
{
  static const uint32_t seeds[] = { 0, 0xE3069283u, 0xffffffffu };
  uint8_t buf[600];
  size_t i, len, at;

  for (i = 0; i < sizeof(buf); i++)
    buf[i] = (uint8_t)(i * 131u + 7u);
  for (i = 0; i < 3; i++)
    for (len = 0; len <= 520; len++)
      for (at = 0; at < 8; at++)
        ck_assert_uint_eq(mrlog__crc32c_extend(seeds[i], buf + at, len),
                          mrlog__crc32c_extend_long(seeds[i], buf + at, len));
}
END_TEST

START_TEST(test_varint_roundtrip)
{
  static const uint64_t values[] = { 0, 1, 127, 128, 300, 16383, 16384,
                                     UINT32_MAX, (uint64_t)1 << 56,
                                     UINT64_MAX - 1, UINT64_MAX };
  struct mrlog__buf b = { 0 };
  const uint8_t *p;
  uint64_t v;
  size_t i;

  ck_assert_int_eq(mrlog__buf_reserve(&b, 200), 0);
  for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
    size_t before = b.len;
    mrlog__buf_put_varint(&b, values[i]);
    ck_assert_uint_eq(b.len - before, mrlog__varint_len(values[i]));
  }
  p = b.data;
  for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
    ck_assert(mrlog__get_varint(&p, b.data + b.len, &v));
    ck_assert_uint_eq(v, values[i]);
  }
  ck_assert_ptr_eq(p, b.data + b.len);
  /* Truncated and overlong encodings are refused. */
  p = b.data;
  ck_assert(!mrlog__get_varint(&p, b.data, &v));
  {
    uint8_t over[11];
    memset(over, 0xff, sizeof(over));
    p = over;
    ck_assert(!mrlog__get_varint(&p, over + sizeof(over), &v));
    over[9] = 0x02; /* bit 64 set in the 10th byte */
    p = over;
    ck_assert(!mrlog__get_varint(&p, over + 10, &v));
  }
  mrlog__buf_free(&b);
}
END_TEST

START_TEST(test_file_header)
{
  uint8_t h[MRLOG_FILE_HEADER_SIZE];

  mrlog__file_header_encode(h, 0x1234);
  ck_assert_int_eq(mrlog__file_header_check(h, sizeof(h), 0x1234), 0);
  ck_assert_int_eq(mrlog__file_header_check(h, sizeof(h), 0x1235), -1);
  ck_assert_int_eq(mrlog__file_header_check(h, sizeof(h) - 1, 0x1234), -1);
  h[9] ^= 1;
  ck_assert_int_eq(mrlog__file_header_check(h, sizeof(h), 0x1234), -1);
  /* An intact header of another version is told apart from damage. */
  mrlog__file_header_encode(h, 0x1234);
  mrlog__put_u32le(h + 8, MRLOG_FORMAT_VERSION + 1);
  mrlog__put_u32le(h + 28, mrlog__crc32c(h, 28));
  ck_assert_int_eq(mrlog__file_header_check(h, sizeof(h), 0x1234), -2);
}
END_TEST

static size_t
make_frame(uint8_t *buf, uint64_t segno, uint32_t off, const char *body,
           uint32_t synced)
{
  uint32_t len = (uint32_t)strlen(body);

  memcpy(buf + MRLOG_FRAME_HEADER_SIZE, body, len);
  mrlog__frame_header_encode(buf, segno, off, len, synced);
  return MRLOG_FRAME_HEADER_SIZE + len;
}

START_TEST(test_frame_check)
{
  uint8_t buf[256];
  uint32_t len, synced;
  size_t n = make_frame(buf, 7, 100, "hello frame", 40);

  ck_assert_int_eq(mrlog__frame_check(buf, n, 7, 100, &len, &synced),
                   MRLOG_FRAME_OK);
  ck_assert_uint_eq(len, 11);
  ck_assert_uint_eq(synced, 40);
  /* Bound to its segment and offset. */
  ck_assert_int_eq(mrlog__frame_check(buf, n, 8, 100, &len, &synced),
                   MRLOG_FRAME_BAD);
  ck_assert_int_eq(mrlog__frame_check(buf, n, 7, 101, &len, &synced),
                   MRLOG_FRAME_BAD);
  /* Cut anywhere: short or torn, never OK. */
  for (size_t cut = 0; cut < n; cut++) {
    enum mrlog__frame_check r =
        mrlog__frame_check(buf, cut, 7, 100, &len, &synced);
    ck_assert_int_eq(r, cut < MRLOG_FRAME_HEADER_SIZE ? MRLOG_FRAME_SHORT
                                                      : MRLOG_FRAME_TORN);
  }
  /* Any flipped bit is caught. */
  for (size_t i = 0; i < n * 8; i++) {
    buf[i / 8] ^= (uint8_t)(1u << (i % 8));
    ck_assert_int_ne(mrlog__frame_check(buf, n, 7, 100, &len, &synced),
                     MRLOG_FRAME_OK);
    buf[i / 8] ^= (uint8_t)(1u << (i % 8));
  }
  /* synced beyond the frame's own offset is invalid. */
  n = make_frame(buf, 7, 100, "x", 101);
  ck_assert_int_eq(mrlog__frame_check(buf, n, 7, 100, &len, &synced),
                   MRLOG_FRAME_BAD);
  /* All zeros (a preallocated region) is not a frame. */
  memset(buf, 0, sizeof(buf));
  ck_assert_int_ne(mrlog__frame_check(buf, sizeof(buf), 7, 100, &len, &synced),
                   MRLOG_FRAME_OK);
}
END_TEST

START_TEST(test_segment_names)
{
  char name[MRLOG_SEGMENT_NAME_LEN + 1];
  uint64_t segno;

  mrlog__segment_name(name, 0xabc);
  ck_assert_str_eq(name, "0000000000000abc.mrlog");
  ck_assert(mrlog__segment_parse_name(name, &segno));
  ck_assert_uint_eq(segno, 0xabc);
  ck_assert(!mrlog__segment_parse_name("0000000000000ABC.mrlog", &segno));
  ck_assert(!mrlog__segment_parse_name("000000000000abc.mrlog", &segno));
  ck_assert(!mrlog__segment_parse_name("0000000000000abc.mrlog.corrupt",
                                       &segno));
  ck_assert(!mrlog__segment_parse_name("LOCK", &segno));
}
END_TEST

/* A bare log struct, enough for apply.c and queue.c (no threads). */
static struct mrlog *
bare_log(void)
{
  struct mrlog *log = calloc(1, sizeof(*log));

  ck_assert_ptr_nonnull(log);
  ck_assert_int_eq(mrlog__index_init(&log->index, log), 0);
  pthread_mutex_init(&log->mem_mutex, NULL);
  pthread_cond_init(&log->mem_cond, NULL);
  atomic_store(&log->mem_reserved, 1u << 30);
  return log;
}

static void
bare_free(struct mrlog *log, struct mrlog__segment *seg)
{
  size_t b;
  struct mrlog__queue *q, *n;

  for (b = 0; b < log->index.nbuckets; b++)
    for (q = log->index.by_id[b]; q; q = n) {
      n = q->by_id_next;
      mrlog__queue_free(log, q, 0);
    }
  mrlog__index_free(&log->index);
  ck_assert_uint_eq(atomic_load(&seg->live), 0);
  free(seg);
  ck_assert_uint_eq(atomic_load(&log->stat_memory), 0);
  free(log);
}

static void
put_name(struct mrlog__buf *b, const char *name)
{
  mrlog__buf_put_varint(b, strlen(name));
  memcpy(b->data + b->len, name, strlen(name));
  b->len += strlen(name);
}

START_TEST(test_apply_ops)
{
  struct mrlog *log = bare_log();
  struct mrlog__segment *seg = mrlog__segment_new(1);
  struct mrlog__buf b = { 0 };
  struct mrlog__queue *q;
  int i;

  ck_assert_int_eq(mrlog__buf_reserve(&b, 4096), 0);
  mrlog__buf_put_u8(&b, MRLOG_OP_CREATE);
  mrlog__buf_put_varint(&b, 0);
  put_name(&b, "orders");
  mrlog__buf_put_u8(&b, MRLOG_OP_APPEND);
  mrlog__buf_put_varint(&b, 0);  /* id */
  mrlog__buf_put_varint(&b, 5);  /* first position: a gap */
  mrlog__buf_put_varint(&b, 3);  /* count */
  for (i = 0; i < 3; i++) {
    mrlog__buf_put_varint(&b, 2);
    mrlog__buf_put_u8(&b, 'a' + i);
    mrlog__buf_put_u8(&b, 'A' + i);
  }
  mrlog__buf_put_u8(&b, MRLOG_OP_TRUNCATE);
  mrlog__buf_put_varint(&b, 0);
  mrlog__buf_put_varint(&b, 5);
  ck_assert_int_eq(mrlog__apply_frame(log, seg, b.data, b.len, 1, false), 0);
  q = mrlog__index_by_name(&log->index, "orders", 6,
                           mrlog__name_hash("orders", 6));
  ck_assert_ptr_nonnull(q);
  ck_assert_uint_eq(q->records, 2);
  ck_assert_uint_eq(q->bytes, 4);
  ck_assert_uint_eq(q->next, 8);
  ck_assert_uint_eq(q->floor, 6);
  ck_assert_uint_eq(mrlog__queue_first(q), 6);
  ck_assert_uint_eq(atomic_load(&seg->live), 2);
  ck_assert_uint_eq(log->next_queue_id, 1);

  /* An append below next is inconsistent: corrupt, not a crash. */
  b.len = 0;
  mrlog__buf_put_u8(&b, MRLOG_OP_APPEND);
  mrlog__buf_put_varint(&b, 0);
  mrlog__buf_put_varint(&b, 7);
  mrlog__buf_put_varint(&b, 1);
  mrlog__buf_put_varint(&b, 0);
  ck_assert_int_eq(mrlog__apply_frame(log, seg, b.data, b.len, 2, false),
                   MRLOG_ECORRUPT);
  /* Unknown queue id, unknown op, a length past the end: corrupt. */
  b.len = 0;
  mrlog__buf_put_u8(&b, MRLOG_OP_DELETE);
  mrlog__buf_put_varint(&b, 9);
  ck_assert_int_eq(mrlog__apply_frame(log, seg, b.data, b.len, 2, false),
                   MRLOG_ECORRUPT);
  b.len = 0;
  mrlog__buf_put_u8(&b, 99);
  ck_assert_int_eq(mrlog__apply_frame(log, seg, b.data, b.len, 2, false),
                   MRLOG_ECORRUPT);
  b.len = 0;
  mrlog__buf_put_u8(&b, MRLOG_OP_APPEND);
  mrlog__buf_put_varint(&b, 0);
  mrlog__buf_put_varint(&b, 8);
  mrlog__buf_put_varint(&b, 1);
  mrlog__buf_put_varint(&b, 1000);
  ck_assert_int_eq(mrlog__apply_frame(log, seg, b.data, b.len, 2, false),
                   MRLOG_ECORRUPT);
  ck_assert_uint_eq(q->records, 2);
  /* A first frame must start with a checkpoint. */
  b.len = 0;
  mrlog__buf_put_u8(&b, MRLOG_OP_DELETE);
  mrlog__buf_put_varint(&b, 0);
  ck_assert_int_eq(mrlog__apply_frame(log, seg, b.data, b.len, 2, true),
                   MRLOG_ECORRUPT);

  /* A checkpoint drops unlisted queues and creates listed ones. */
  b.len = 0;
  mrlog__buf_put_u8(&b, MRLOG_OP_CHECKPOINT);
  mrlog__buf_put_varint(&b, 5); /* next queue id */
  mrlog__buf_put_varint(&b, 1);
  mrlog__buf_put_varint(&b, 3);
  put_name(&b, "fresh");
  mrlog__buf_put_varint(&b, 10);
  mrlog__buf_put_varint(&b, 12);
  ck_assert_int_eq(mrlog__apply_frame(log, seg, b.data, b.len, 3, true), 0);
  ck_assert_ptr_null(mrlog__index_by_id(&log->index, 0));
  q = mrlog__index_by_id(&log->index, 3);
  ck_assert_ptr_nonnull(q);
  ck_assert_str_eq(q->name, "fresh");
  ck_assert_uint_eq(q->floor, 10);
  ck_assert_uint_eq(q->next, 12);
  ck_assert_uint_eq(log->next_queue_id, 5);
  ck_assert_uint_eq(atomic_load(&seg->live), 0);
  ck_assert_uint_eq(atomic_load(&seg->emptied_lsn), 3);
  mrlog__buf_free(&b);
  bare_free(log, seg);
}
END_TEST

START_TEST(test_queue_many_chunks)
{
  struct mrlog *log = bare_log();
  struct mrlog__segment *seg = mrlog__segment_new(1);
  struct mrlog__queue *q = mrlog__queue_new(log, "q", 1, 0);
  uint8_t rec[1 + 300];
  uint64_t i, dropped;

  ck_assert_int_eq(mrlog__index_insert(&log->index, q), 0);
  rec[0] = 0xAC; /* varint 300 = 0xAC 0x02 */
  for (i = 0; i < 5000; i++) {
    uint8_t one[2 + 300];
    one[0] = 0xAC;
    one[1] = 0x02;
    memset(one + 2, (int)(i & 0xff), 300);
    ck_assert_int_eq(mrlog__queue_store(log, q, seg, i * 2, 1, one,
                                        sizeof(one)),
                     0);
  }
  (void)rec;
  ck_assert_uint_eq(q->records, 5000);
  ck_assert_uint_eq(q->next, 9999);
  ck_assert(atomic_load(&log->stat_memory) < 5000 * (300 + 16) * 2);
  dropped = mrlog__queue_drop_upto(log, q, 4001, 7);
  ck_assert_uint_eq(dropped, 2001);
  ck_assert_uint_eq(mrlog__queue_first(q), 4002);
  ck_assert_uint_eq(atomic_load(&seg->live), 2999);
  bare_free(log, seg);
}
END_TEST

/* The prefault helper's ready regions (lib/prefault.c): 16 while
 * replaying and for the default limit; live, at most memory_limit / 64
 * of them, never fewer than 4. */
START_TEST(test_prefault_slots)
{
  const uint64_t region = MRLOG_PREFAULT_REGION;

  ck_assert_uint_eq(mrlog__prefault_slots(1ull << 30, false), 16);
  ck_assert_uint_eq(mrlog__prefault_slots(1ull << 30, true), 16);
  ck_assert_uint_eq(mrlog__prefault_slots(1ull << 20, true), 16);
  ck_assert_uint_eq(mrlog__prefault_slots(UINT64_MAX, false), 16);
  ck_assert_uint_eq(mrlog__prefault_slots(64 * 16 * region, false), 16);
  ck_assert_uint_eq(mrlog__prefault_slots(64 * 16 * region - 1, false), 15);
  ck_assert_uint_eq(mrlog__prefault_slots(64 * 7 * region, false), 7);
  ck_assert_uint_eq(mrlog__prefault_slots(64 * 5 * region - 1, false), 4);
  ck_assert_uint_eq(mrlog__prefault_slots(1ull << 20, false), 4);
  ck_assert_uint_eq(mrlog__prefault_slots(4096, false), 4);
}
END_TEST

Suite *
make_unit_suite(void)
{
  Suite *s = suite_create("unit");
  TCase *tc = tcase_create("format");

  tcase_add_test(tc, test_crc32c_known_values);
  tcase_add_test(tc, test_crc32c_short_matches_long);
  tcase_add_test(tc, test_varint_roundtrip);
  tcase_add_test(tc, test_file_header);
  tcase_add_test(tc, test_frame_check);
  tcase_add_test(tc, test_segment_names);
  suite_add_tcase(s, tc);
  tc = tcase_create("apply");
  tcase_add_test(tc, test_apply_ops);
  tcase_add_test(tc, test_queue_many_chunks);
  tcase_add_test(tc, test_prefault_slots);
  suite_add_tcase(s, tc);
  return s;
}

/*
 * tool_fixture_times.c -- the record-time modes of tests/tool_fixture
 * (listed in tool_fixture.c): a fake clock (policy.now_ms) so that every
 * record's time is known, the logs tests/tool_test.sh reads with
 * `mrlog dump/stat/tail --since/--until`, and segment files written byte
 * by byte for what the library's writer never writes (a version 1
 * segment; TIME operations that go back).
 *
 * Invariant: only the public API (include/mrlog.h) and docs/FORMAT.md are
 * used; nothing of lib/ or tools/, so the tool and the library are both
 * checked against the document.
 */
#include "tool_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The fake clock (policy.now_ms), read on the writer thread. */
static _Atomic uint64_t fake_now; /* unix ms */

uint64_t
fx_fake_clock(void *arg)
{
  (void)arg;
  return atomic_load(&fake_now);
}

void
fx_set_now(uint64_t ms)
{
  atomic_store(&fake_now, ms);
}

/* Like open_log in tool_fixture.c, with the fake clock. */
mrlog *
fx_open_timed(const char *dir, uint64_t segment_bytes)
{
  mrlog_policy policy;
  mrlog *log;

  mrlog_policy_init(&policy);
  policy.segment_bytes = segment_bytes;
  policy.now_ms = fx_fake_clock;
  fx_check(mrlog_open(dir, &policy, &log), dir);
  return log;
}

/* Segment files written byte by byte (FORMAT.md sections 3 to 7), for
 * what the library's writer never writes: a version 1 segment, and TIME
 * operations that go back. */
struct seg_file {
  uint8_t bytes[1024];
  size_t len;
  uint64_t segno;
};

struct body {
  uint8_t bytes[256];
  size_t len;
};

/* n bytes of v, little-endian. */
static void
put_le(uint8_t *p, uint64_t v, int n)
{
  int i;

  for (i = 0; i < n; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static void
put_varint(struct body *b, uint64_t v)
{
  while (v >= 0x80) {
    b->bytes[b->len++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  b->bytes[b->len++] = (uint8_t)v;
}

/* Operations: type, then varint fields (a name or payload: op_bytes). */
static void
op(struct body *b, uint8_t type, int n, const uint64_t *fields)
{
  int i;

  b->bytes[b->len++] = type;
  for (i = 0; i < n; i++)
    put_varint(b, fields[i]);
}

static void
op_bytes(struct body *b, const char *s)
{
  put_varint(b, strlen(s));
  memcpy(b->bytes + b->len, s, strlen(s));
  b->len += strlen(s);
}

static void
seg_begin(struct seg_file *f, uint64_t segno, uint32_t version)
{
  memset(f, 0, sizeof(*f));
  memcpy(f->bytes, "MRLOGSEG", 8);
  put_le(f->bytes + 8, version, 4);
  put_le(f->bytes + 16, segno, 8);
  put_le(f->bytes + 28, fx_crc32c(f->bytes, 28), 4);
  f->len = 32;
  f->segno = segno;
}

/* Appends a frame holding b, then empties b (FORMAT.md 6.2). */
static void
seg_frame(struct seg_file *f, struct body *b)
{
  uint8_t h[28], *fr = f->bytes + f->len;

  put_le(fr + 4, b->len, 4);
  put_le(fr + 8, f->len > 32 ? f->len : 0, 4); /* synced: all before it */
  put_le(fr + 12, fx_crc32c(b->bytes, b->len), 4);
  put_le(h, f->segno, 8);
  put_le(h + 8, f->len, 8);
  memcpy(h + 16, fr + 4, 12);
  put_le(fr, fx_crc32c(h, 28), 4);
  memcpy(fr + 16, b->bytes, b->len);
  f->len += 16 + b->len;
  b->len = 0;
}

/* Writes f as a new segment of the new directory dir; mtime_ms > 0 sets
 * its modification time. */
static void
seg_write(const char *dir, const struct seg_file *f, uint64_t mtime_ms)
{
  struct timespec ts[2];
  char path[4096];
  int fd;

  if (mkdir(dir, 0755) != 0)
    fx_die("%s: %s", dir, strerror(errno));
  snprintf(path, sizeof(path), "%s/%016" PRIx64 ".mrlog", dir, f->segno);
  fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0 || write(fd, f->bytes, f->len) != (ssize_t)f->len ||
      close(fd) != 0)
    fx_die("%s: %s", path, strerror(errno));
  if (mtime_ms == 0)
    return;
  ts[0].tv_sec = ts[1].tv_sec = (time_t)(mtime_ms / 1000);
  ts[0].tv_nsec = ts[1].tv_nsec = (long)(mtime_ms % 1000) * 1000000L;
  if (utimensat(AT_FDCWD, path, ts, 0) != 0)
    fx_die("%s: utimensat: %s", path, strerror(errno));
}

/* Segment 1 of a new log, with the CHECKPOINT of an empty log and the
 * CREATE of queue name (id 0). */
static void
seg_new_log(struct seg_file *f, struct body *b, uint32_t version,
            const char *name)
{
  static const uint64_t no_queues[2] = { 0, 0 }, id0[1] = { 0 };

  seg_begin(f, 1, version);
  op(b, 5, 2, no_queues); /* CHECKPOINT: next_queue_id 0, no entries */
  seg_frame(f, b);
  op(b, 1, 1, id0); /* CREATE */
  op_bytes(b, name);
  seg_frame(f, b);
}

/* APPEND of one record to queue id 0 at position pos. */
static void
op_append1(struct body *b, uint64_t pos, const char *data)
{
  const uint64_t fields[3] = { 0, pos, 1 };

  op(b, 4, 3, fields);
  op_bytes(b, data);
}

static void
op_time(struct body *b, uint64_t ms)
{
  op(b, 6, 1, &ms);
}

/* Segment 1 of format version 1 (no TIME operations), written as a
 * library before record times would: queue "old" with records "r0" and
 * "r1" in one APPEND; its modification time is V1_MTIME. */
static void
write_v1_segment(const char *dir)
{
  static const uint64_t two[3] = { 0, 0, 2 };
  struct seg_file f;
  struct body b = { .len = 0 };

  seg_new_log(&f, &b, 1, "old");
  op(&b, 4, 3, two);
  op_bytes(&b, "r0");
  op_bytes(&b, "r1");
  seg_frame(&f, &b);
  seg_write(dir, &f, V1_MTIME);
}

/* A version 2 log whose TIME operations go back, as only another writer
 * (or a reopen after the newest files were deleted, FORMAT.md 7.8) would
 * write them: readers clamp.  Queue s, times in the comments. */
void
fx_stepback_build(const char *dir)
{
  struct seg_file f;
  struct body b = { .len = 0 };

  seg_new_log(&f, &b, 2, "s");
  op_time(&b, T0 + 2000);
  op_append1(&b, 0, "x");    /* s 0: 22:13:22.000 */
  seg_frame(&f, &b);
  op_time(&b, T0 + 1000);    /* back: clamped */
  op_append1(&b, 1, "y");    /* s 1: 22:13:22.000 */
  seg_frame(&f, &b);
  op_append1(&b, 2, "z");    /* no TIME in its frame: s 2: 22:13:22.000 */
  seg_frame(&f, &b);
  op_time(&b, T0 + 5000);
  op_time(&b, T0 + 4000);    /* two in one frame, the second back */
  op_append1(&b, 3, "w");    /* s 3: 22:13:25.000 */
  op_time(&b, T0 + 6000);
  op_append1(&b, 4, "v");    /* s 4: 22:13:26.000, in the same frame */
  seg_frame(&f, &b);
  seg_write(dir, &f, 0);
}

/* The log tests/tool_test.sh checks record times on: a version 1 segment,
 * then times across queues, segments, midnight UTC and a reopen, and a
 * clock that steps back (the writer clamps). */
void
fx_times_build(const char *dir)
{
  static const size_t three[3] = { 5, 0, 7 };
  mrlog *log;
  uint64_t i;

  /* Records' times (UTC, 2023-11-14 then -15) in the comments. */
  write_v1_segment(dir);           /* old 0, 1: 22:13:20.500 (the mtime) */
  fx_set_now(T0);                  /* behind the mtime: clamped */
  log = fx_open_timed(dir, 4096);
  fx_create(log, "a");
  fx_create(log, "b");
  fx_create(log, "c");
  fx_append(log, "a", NULL, 10, 20, 0, true); /* a 0: 22:13:20.500 */
  fx_append(log, "b", NULL, 9, 21, 0, true);  /* b 0: 22:13:20.500 */
  fx_set_now(T0 + 1000);
  fx_append(log, "b", NULL, 11, 21, 1, true); /* b 1: 22:13:21.000 */
  fx_set_now(T0 + 1001);
  fx_batch(log, "c", three, 3, 22, 0);        /* c 0-2: 22:13:21.001 */
  fx_set_now(T0 + 1999);
  fx_append(log, "a", NULL, 12, 20, 1, true); /* a 1: 22:13:21.999 */
  fx_set_now(MIDNIGHT - 1);
  fx_append(log, "a", NULL, 13, 20, 2, true); /* a 2: 23:59:59.999 */
  fx_append(log, "b", NULL, 14, 21, 2, true); /* b 2: 23:59:59.999 */
  fx_set_now(MIDNIGHT);
  fx_append(log, "c", NULL, 15, 22, 3, true); /* c 3: 00:00:00.000 */
  fx_set_now(MIDNIGHT + 1);
  fx_append(log, "a", NULL, 16, 20, 3, true); /* a 3: 00:00:00.001 */
  fx_set_now(MIDNIGHT - 5000);                /* the clock steps back: */
  fx_append(log, "b", NULL, 17, 21, 3, true); /* b 3: 00:00:00.001 */
  for (i = 0; i < 30; i++) { /* a 4-33, over several segments */
    fx_set_now(MIDNIGHT + HOUR + i * 250); /* 01:00:00.000 .. 01:00:07.250 */
    fx_append(log, "a", NULL, 200, 20, 4 + i, true);
  }
  fx_truncate_at(log, "a", 0); /* a's first time: 22:13:21.999 */
  fx_check(mrlog_close(log), "close");
  fx_set_now(T0); /* reopened behind every time: the newest replayed one */
  log = fx_open_timed(dir, 4096);
  fx_append(log, "b", NULL, 18, 21, 4, true);  /* b 4: 01:00:07.250 */
  fx_set_now(MIDNIGHT + 2 * HOUR);
  fx_append(log, "c", NULL, 19, 22, 4, true);  /* c 4: 02:00:00.000 */
  fx_append(log, "old", NULL, 2, 23, 2, true); /* old 2: 02:00:00.000 */
  fx_check(mrlog_close(log), "close");
}

/* tail --follow --since/--until: f gets a record a second from T0 on,
 * whose time is T0 + position seconds except after the step back. */
static void
tfollow_append(mrlog *log, uint64_t pos)
{
  fx_set_now(pos == 10 ? T0 + 5000 : T0 + pos * 1000); /* 10: clamped to 9's */
  fx_append(log, "f", NULL, 150 + pos % 7, 11, pos, true);
  if (pos % 5 == 0)
    fx_append(log, "o", NULL, 60, 12, pos, true);
}

void
fx_tfollow_setup(const char *dir)
{
  mrlog *log = fx_open_timed(dir, 4096);
  uint64_t i;

  fx_create(log, "f");
  fx_create(log, "o");
  for (i = 0; i < 3; i++)
    tfollow_append(log, i);
  fx_check(mrlog_close(log), "close");
}

void
fx_tfollow_write(const char *dir)
{
  mrlog *log = fx_open_timed(dir, 4096);
  uint64_t i;

  for (i = 3; i <= TFOLLOW_LAST; i++)
    tfollow_append(log, i);
  fx_check(mrlog_close(log), "close");
}

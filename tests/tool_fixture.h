/*
 * tool_fixture.h -- what the three files of tests/tool_fixture share:
 * tool_fixture.c (the modes on logs built with the real clock, the
 * library's views, byte surgery, main), tool_fixture_times.c (record
 * times: a fake clock, logs with known times, segments written byte by
 * byte) and tool_fixture_follow.c (writers for tail --follow).  The
 * modes are listed at the top of tool_fixture.c.
 *
 * Threads: the fixture's own code runs on the main thread; fx_fake_clock
 * also runs on the library's writer thread, so the time is an atomic.
 */
#ifndef TOOL_FIXTURE_H
#define TOOL_FIXTURE_H

#include "mrlog.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define T0 UINT64_C(1700000000000)       /* 2023-11-14T22:13:20.000Z */
#define MIDNIGHT UINT64_C(1700006400000) /* 2023-11-15T00:00:00.000Z */
#define HOUR UINT64_C(3600000)
#define V1_MTIME (T0 + 500) /* the version 1 segment's mtime */
#define TFOLLOW_LAST 39     /* tfollow: f's records are 0 .. 39 */

/* tool_fixture.c */
void fx_die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
                                                noreturn));
/* Dies unless rc is 0 or MRLOG_DUPLICATE. */
void fx_check(int rc, const char *what);
void fx_create(mrlog *log, const char *q);
/* Appends len deterministic bytes (seed, at) at pos (NULL: next); waits
 * unless wait is false. */
void fx_append(mrlog *log, const char *q, const uint64_t *pos, size_t len,
               unsigned seed, uint64_t at, bool wait);
void fx_batch(mrlog *log, const char *q, const size_t *lens, size_t n,
              unsigned seed, uint64_t first);
void fx_truncate_at(mrlog *log, const char *q, uint64_t pos);
uint32_t fx_crc32c(const uint8_t *p, size_t n);
void fx_sleep_ms(long ms);
/* ms (unix ms) as ISO 8601 UTC with ms, as the tool prints times. */
void fx_iso(char *buf, size_t n, uint64_t ms);
/* A decimal number, or death. */
uint64_t fx_number(const char *s);

/* tool_fixture_times.c */
/* The fake clock, a policy.now_ms, and the time it gives. */
uint64_t fx_fake_clock(void *arg);
void fx_set_now(uint64_t ms);
/* Opens dir with the fake clock and segment_bytes. */
mrlog *fx_open_timed(const char *dir, uint64_t segment_bytes);
void fx_times_build(const char *dir);
void fx_stepback_build(const char *dir);
void fx_tfollow_setup(const char *dir);
void fx_tfollow_write(const char *dir);

/* tool_fixture_follow.c: the follow-* modes (argv[1]). */
void fx_follow_main(int argc, char **argv);

#endif /* TOOL_FIXTURE_H */

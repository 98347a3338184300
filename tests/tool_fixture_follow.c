/*
 * tool_fixture_follow.c -- the modes of tests/tool_fixture that write
 * while `mrlog tail --follow` runs, and print what it should print:
 *
 *   follow-setup DIR          queue f (3 records) and queue other
 *   follow-write DIR OUT      appends across rotations, truncates, deletes
 *                             and recreates f, while tail --follow runs,
 *                             printing into OUT (read to keep in step)
 *   follow-op DIR create Q    one operation, in a writing open of its own
 *   follow-op DIR delete Q    (the test orders them with tail's output)
 *   follow-op DIR append Q INC FIRST COUNT
 *                             records FIRST .. FIRST + COUNT - 1 of
 *                             incarnation INC of queue Q
 *   follow-expect [Q INC FIRST COUNT]...
 *                             what tail --queue Q prints for those records
 *                             (none given: for follow-setup and
 *                             follow-write)
 *
 * Every record's payload and time (a fake clock) follow from its queue's
 * incarnation and its position, so the expected output is known without
 * reading the log.  Only the public API (include/mrlog.h) is used.
 */
#include "tool_fixture.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define FOLLOW_FIRST 3   /* records of f made by follow-setup */
#define FOLLOW_ONE 100   /* appended to the first incarnation */
#define FOLLOW_TWO 50    /* appended to the second one */

/* The payload of record pos of incarnation inc: printable, starting with
 * a letter naming the incarnation (f for 1, g for 2, ...). */
static size_t
follow_payload(char *buf, int inc, uint64_t pos)
{
  size_t len = 40 + (size_t)(pos % 50) * 7, i;
  int n = snprintf(buf, len + 1, "%c%" PRIu64 ":", 'e' + inc % 20, pos);

  for (i = (size_t)n; i < len; i++)
    buf[i] = (char)('a' + (pos + i) % 26);
  buf[len] = '\0';
  return len;
}

/* The time record pos of incarnation inc is framed at (the fake clock):
 * increasing, so never clamped. */
static uint64_t
follow_time(int inc, uint64_t pos)
{
  return T0 + (uint64_t)(inc - 1) * HOUR + pos * 10;
}

static void
follow_append(mrlog *log, const char *q, int inc, uint64_t pos)
{
  char buf[512];
  size_t len = follow_payload(buf, inc, pos);

  fx_set_now(follow_time(inc, pos));
  fx_check(mrlog_wait(mrlog_append(log, q, NULL, buf, len, NULL, NULL),
                      NULL), q);
}

static void
follow_setup(const char *dir)
{
  mrlog *log = fx_open_timed(dir, 4096);
  uint64_t i;

  fx_create(log, "f");
  fx_create(log, "other");
  for (i = 0; i < FOLLOW_FIRST; i++)
    follow_append(log, "f", 1, i);
  fx_append(log, "other", NULL, 100, 10, 0, true);
  fx_check(mrlog_close(log), "close");
}

/* Waits until FILE has at least n lines (tail has printed them). */
static void
wait_lines(const char *file, long n)
{
  long lines = 0;
  int c, i;
  FILE *f;

  for (i = 0; i < 60 * 200; i++) { /* a deadlock guard: 60 s */
    lines = 0;
    if ((f = fopen(file, "r")) != NULL) {
      while ((c = getc(f)) != EOF)
        lines += c == '\n';
      fclose(f);
    }
    if (lines >= n)
      return;
    fx_sleep_ms(5);
  }
  fx_die("%s: %ld lines after 60 s, waiting for %ld", file, lines, n);
}

/* Before it truncates or deletes records, waits until tail has printed
 * them (in OUT), so that every record is printed before it is gone,
 * however slowly tail runs. */
static void
follow_write(const char *dir, const char *out)
{
  mrlog_policy policy;
  uint64_t i, other = 1; /* follow_setup appended other's position 0 */
  mrlog *log;

  mrlog_policy_init(&policy);
  policy.segment_bytes = 4096;
  policy.cleaner_interval_ms = 10; /* delete segments while tail runs */
  policy.now_ms = fx_fake_clock;
  fx_check(mrlog_open(dir, &policy, &log), dir);
  for (i = FOLLOW_FIRST; i < FOLLOW_FIRST + FOLLOW_ONE; i++) {
    follow_append(log, "f", 1, i);
    if (i % 10 == 0)
      fx_append(log, "other", NULL, 300, 10, other++, true);
    if (i == 60) { /* the segments before are deletable after this */
      wait_lines(out, 41);
      fx_truncate_at(log, "f", 40);
      fx_truncate_at(log, "other", other - 1);
    }
  }
  wait_lines(out, FOLLOW_FIRST + FOLLOW_ONE);
  fx_check(mrlog_wait(mrlog_delete_queue(log, "f", NULL, NULL), NULL), "f");
  fx_truncate_at(log, "other", other - 1);
  fx_create(log, "f");
  for (i = 0; i < FOLLOW_TWO; i++)
    follow_append(log, "f", 2, i);
  fx_check(mrlog_close(log), "close");
}

static void
follow_op(int argc, char **argv)
{
  const char *dir = argv[2], *op = argv[3], *q = argv[4];
  mrlog *log;
  uint64_t i, first, count;
  int inc;

  if (strcmp(op, "append") == 0 && argc == 8) {
    inc = (int)fx_number(argv[5]);
    first = fx_number(argv[6]);
    count = fx_number(argv[7]);
    fx_set_now(follow_time(inc, first));
    log = fx_open_timed(dir, 4096);
    for (i = first; i < first + count; i++)
      follow_append(log, q, inc, i);
  } else if (strcmp(op, "create") == 0 && argc == 5) {
    log = fx_open_timed(dir, 4096);
    fx_create(log, q);
  } else if (strcmp(op, "delete") == 0 && argc == 5) {
    log = fx_open_timed(dir, 4096);
    fx_check(mrlog_wait(mrlog_delete_queue(log, q, NULL, NULL), NULL), q);
  } else {
    fx_die("usage: follow-op DIR create|delete Q, or follow-op DIR append "
           "Q INC FIRST COUNT");
  }
  fx_check(mrlog_close(log), "close");
}

/* The text lines of records first .. first + count - 1 of incarnation inc
 * of queue q, which must need no escaping. */
static void
expect_records(const char *q, int inc, uint64_t first, uint64_t count)
{
  char buf[512], when[64];
  uint64_t i;
  size_t len;

  for (i = first; i < first + count; i++) {
    len = follow_payload(buf, inc, i);
    fx_iso(when, sizeof(when), follow_time(inc, i));
    printf("%s %" PRIu64 " %s %zu: %s\n", q, i, when, len, buf);
  }
}

void
fx_follow_main(int argc, char **argv)
{
  const char *mode = argv[1];
  int i;

  if (strcmp(mode, "follow-setup") == 0 && argc == 3) {
    follow_setup(argv[2]);
  } else if (strcmp(mode, "follow-write") == 0 && argc == 4) {
    follow_write(argv[2], argv[3]);
  } else if (strcmp(mode, "follow-op") == 0 && argc >= 5) {
    follow_op(argc, argv);
  } else if (strcmp(mode, "follow-expect") == 0 && argc == 2) {
    expect_records("f", 1, 0, FOLLOW_FIRST + FOLLOW_ONE);
    expect_records("f", 2, 0, FOLLOW_TWO);
  } else if (strcmp(mode, "follow-expect") == 0 && (argc - 2) % 4 == 0) {
    for (i = 2; i < argc; i += 4)
      expect_records(argv[i], (int)fx_number(argv[i + 1]),
                     fx_number(argv[i + 2]), fx_number(argv[i + 3]));
  } else {
    fx_die("usage: see the comment at the top of "
           "tests/tool_fixture_follow.c");
  }
}

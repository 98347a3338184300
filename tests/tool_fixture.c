/*
 * tool_fixture.c -- builds logs for tests/tool_test.sh through the public
 * API only (include/mrlog.h), prints the library's own view of a log in
 * the formats `mrlog stat --json` and `mrlog dump` use, and does the byte
 * surgery the test needs.  Every mode that opens a log changes it (open
 * writes a new segment), so the test runs those on copies.  The modes on
 * record times (times, stepback, tfollow-*) and the fake clock are in
 * tool_fixture_times.c, those of tail --follow (follow-*) in
 * tool_fixture_follow.c.
 *
 *   build DIR                 a log with several queues, gaps, truncations,
 *                             a deleted and recreated queue, batches,
 *                             0-byte and > 64 KiB records, many segments
 *   times DIR                 a log whose records have known times (a fake
 *                             clock): a version 1 segment first (its
 *                             records take its mtime), times across
 *                             queues, segments, midnight UTC and a reopen,
 *                             a clock that steps back (clamped times)
 *   stepback DIR              a log written byte by byte whose TIME
 *                             operations go back (readers clamp them)
 *   expect DIR                each queue as a line of stat --json (no id)
 *   expect-dump DIR FMT [Q [FROM [TO [SINCE [UNTIL]]]]]
 *                             the records, as mrlog dump prints them, with
 *                             their times (mrlog_range_time); Q "-": every
 *                             queue; SINCE/UNTIL (unix ms): the window,
 *                             found with mrlog_seek_time
 *   open DIR                  "STATUS discarded=N" of mrlog_open
 *   ro-open DIR               the same with policy.read_only, which
 *                             changes nothing in DIR
 *   hold DIR READY            opens DIR (new), appends, writes its pid to
 *                             READY, holds the log until READY is removed
 *   follow-...                tail --follow's writers and the records they
 *                             write: tool_fixture_follow.c
 *   tfollow-setup DIR         queue f (3 records, 1 s apart) and queue o
 *   tfollow-write DIR         appends a record a second to f (and some to
 *                             o), the clock stepping back once, while tail
 *                             --follow --since/--until runs
 *   flip FILE OFFSET          inverts one byte
 *   many DIR N                one segment of N records of 100 bytes, synced
 *                             only at close (its seal witnesses them all)
 *   flip-every FILE FROM STEP inverts the bytes at FROM, FROM + STEP, ...
 *                             below the file's last 512-byte sector (a
 *                             sealed segment's seal stays intact)
 *   set-version FILE V        rewrites a segment header's version (and crc)
 *
 * Exit status 0, or 1 with a message on stderr.
 */
#include "tool_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ODD_NAME "odd name\\\xe9"

void
fx_die(const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  fputs("tool_fixture: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

void
fx_check(int rc, const char *what)
{
  if (rc != 0 && rc != MRLOG_DUPLICATE)
    fx_die("%s: %s", what, mrlog_strerror(rc));
}

static mrlog *
open_log(const char *dir, uint64_t segment_bytes)
{
  mrlog_policy policy;
  mrlog *log;

  mrlog_policy_init(&policy);
  policy.segment_bytes = segment_bytes;
  fx_check(mrlog_open(dir, &policy, &log), dir);
  return log;
}

/* Deterministic bytes of every value. */
static uint8_t *
payload(size_t len, unsigned seed, uint64_t pos)
{
  uint8_t *p = malloc(len ? len : 1);
  size_t i;

  if (p == NULL)
    fx_die("out of memory");
  for (i = 0; i < len; i++)
    p[i] = (uint8_t)(seed * 131u + pos * 31u + i * 7u + (i >> 8));
  return p;
}

void
fx_create(mrlog *log, const char *q)
{
  fx_check(mrlog_wait(mrlog_create_queue(log, q, NULL, NULL), NULL), q);
}

/* Appends len bytes at pos (NULL: next); waits unless wait is false. */
void
fx_append(mrlog *log, const char *q, const uint64_t *pos, size_t len,
          unsigned seed, uint64_t at, bool wait)
{
  uint8_t *p = payload(len, seed, at);
  mrlog_future *f = mrlog_append(log, q, pos, p, len, NULL, NULL);

  free(p);
  if (wait)
    fx_check(mrlog_wait(f, NULL), q);
  else
    mrlog_forget(f);
}

void
fx_batch(mrlog *log, const char *q, const size_t *lens, size_t n,
         unsigned seed, uint64_t first)
{
  struct iovec *v = calloc(n, sizeof(*v));
  size_t i;

  for (i = 0; i < n; i++) {
    v[i].iov_base = payload(lens[i], seed, first + i);
    v[i].iov_len = lens[i];
  }
  fx_check(mrlog_wait(mrlog_append_batch(log, q, NULL, v, n, NULL, NULL),
                      NULL), q);
  for (i = 0; i < n; i++)
    free(v[i].iov_base);
  free(v);
}

void
fx_truncate_at(mrlog *log, const char *q, uint64_t pos)
{
  fx_check(mrlog_wait(mrlog_truncate(log, q, pos, NULL, NULL), NULL), q);
}

static void
build(const char *dir)
{
  static const size_t small[3] = { 4, 0, 9 };
  size_t lens[20], i, big[3] = { 100 * 1024, 0, 5 };
  uint64_t pos;
  mrlog *log = open_log(dir, 4096);

  fx_create(log, "alpha");
  fx_create(log, "beta");
  fx_create(log, "gamma");
  fx_create(log, "big");
  fx_create(log, "empty");
  fx_create(log, "tmp");
  fx_create(log, ODD_NAME);
  /* alpha: 20 waited appends (a frame each), 20 in flight together. */
  for (i = 0; i < 40; i++)
    fx_append(log, "alpha", NULL, (i * 37) % 300, 1, i, i < 20);
  fx_check(mrlog_wait(mrlog_sync(log, NULL, NULL), NULL), "sync");
  /* beta: explicit positions with gaps. */
  for (pos = 5; pos <= 1000; pos = pos == 5 ? 6 : pos == 6 ? 10 : pos * 10)
    fx_append(log, "beta", &pos, 10 + pos % 7, 2, pos, true);
  /* gamma: a batch (a 0-byte record first), then truncation past next. */
  for (i = 0; i < 20; i++)
    lens[i] = i * 13;
  fx_batch(log, "gamma", lens, 20, 3, 0);
  fx_truncate_at(log, "gamma", 5000);
  fx_append(log, "gamma", NULL, 12, 3, 5001, true);
  /* big: records over 64 KiB, alone and in a batch, and 0-byte ones. */
  fx_append(log, "big", NULL, 70000, 4, 0, true);
  fx_batch(log, "big", big, 3, 4, 1);
  fx_append(log, "big", NULL, 0, 4, 4, true);
  fx_batch(log, ODD_NAME, small, 3, 5, 0);
  fx_truncate_at(log, "alpha", 9);
  fx_truncate_at(log, "beta", 6);
  /* Consumers (format version 4): COMMIT and UNCOMMIT operations, and
   * consumer lists in the checkpoints of later segments. */
  fx_check(mrlog_wait(mrlog_commit(log, "alpha", "reader", 12, NULL, NULL),
                      NULL), "commit");
  fx_check(mrlog_wait(mrlog_commit(log, "alpha", "audit", 3, NULL, NULL),
                      NULL), "commit");
  fx_check(mrlog_wait(mrlog_commit(log, "beta", "reader", 7, NULL, NULL),
                      NULL), "commit");
  fx_check(mrlog_wait(mrlog_commit(log, "alpha", "reader", 30, NULL, NULL),
                      NULL), "commit");
  fx_check(mrlog_wait(mrlog_remove_consumer(log, "alpha", "audit", NULL,
                                            NULL), NULL), "uncommit");
  /* A queue deleted and created again; one deleted for good. */
  fx_append(log, "tmp", NULL, 7, 6, 0, true);
  fx_check(mrlog_wait(mrlog_delete_queue(log, "tmp", NULL, NULL), NULL),
           "tmp");
  fx_create(log, "tmp");
  for (i = 0; i < 3; i++)
    fx_append(log, "tmp", NULL, 20 + i, 7, i, true);
  fx_create(log, "gone");
  fx_append(log, "gone", NULL, 5, 8, 0, true);
  fx_check(mrlog_wait(mrlog_delete_queue(log, "gone", NULL, NULL), NULL),
           "gone");
  fx_check(mrlog_close(log), "close");

  /* Reopened: every segment's checkpoint restates the queues. */
  log = open_log(dir, 4096);
  for (i = 40; i < 70; i++)
    fx_append(log, "alpha", NULL, 50 + i, 1, i, true);
  fx_truncate_at(log, "alpha", 45);
  pos = 2000;
  fx_append(log, "beta", &pos, 3, 2, pos, true);
  fx_truncate_at(log, ODD_NAME, 0);
  fx_check(mrlog_wait(mrlog_commit(log, "alpha", "reader", 60, NULL, NULL),
                      NULL), "commit");
  fx_check(mrlog_close(log), "close");
}

static int
cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

struct names {
  char **v;
  size_t n;
};

static int
add_name(void *arg, const char *queue)
{
  struct names *ns = arg;

  ns->v = realloc(ns->v, (ns->n + 1) * sizeof(*ns->v));
  ns->v[ns->n++] = strdup(queue);
  return 0;
}

/* The queues of an open log, sorted (strcmp compares bytes unsigned). */
static struct names
sorted_names(mrlog *log)
{
  struct names ns = { NULL, 0 };

  fx_check(mrlog_list_queues(log, add_name, &ns), "list");
  if (ns.n > 0)
    qsort(ns.v, ns.n, sizeof(*ns.v), cmp_str);
  return ns;
}

static void
free_names(struct names *ns)
{
  size_t i;

  for (i = 0; i < ns->n; i++)
    free(ns->v[i]);
  free(ns->v);
}

/* The escapings of tools/json.c, written again from mrlog(1). */
static void
json_bytes(const uint8_t *p, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++) {
    if (p[i] == '"' || p[i] == '\\')
      printf("\\%c", p[i]);
    else if (p[i] == '\n')
      fputs("\\n", stdout);
    else if (p[i] == '\r')
      fputs("\\r", stdout);
    else if (p[i] == '\t')
      fputs("\\t", stdout);
    else if (p[i] >= 0x20 && p[i] < 0x7f)
      putchar(p[i]);
    else
      printf("\\u%04x", p[i]);
  }
}

static void
text_bytes(const uint8_t *p, size_t n, bool name)
{
  size_t i;

  for (i = 0; i < n; i++) {
    if (p[i] == '\\')
      fputs("\\\\", stdout);
    else if (p[i] == '\n')
      fputs("\\n", stdout);
    else if (p[i] == '\r')
      fputs("\\r", stdout);
    else if (p[i] == '\t')
      fputs("\\t", stdout);
    else if ((p[i] > 0x20 && p[i] < 0x7f) || (p[i] == ' ' && !name))
      putchar(p[i]);
    else
      printf("\\x%02x", p[i]);
  }
}

void
fx_iso(char *buf, size_t n, uint64_t ms)
{
  time_t secs = (time_t)(ms / 1000);
  struct tm tm;
  size_t k;

  if (gmtime_r(&secs, &tm) == NULL)
    fx_die("gmtime_r(%" PRIu64 ")", ms);
  k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + k, n - k, ".%03uZ", (unsigned)(ms % 1000));
}

/* The library's consumers of queue, by name, as stat --json prints
 * them (mrlog_list_consumers). */
struct consumer_list {
  char **names;
  uint64_t *pos;
  size_t n;
};

static int
add_consumer(void *arg, const char *consumer, uint64_t position)
{
  struct consumer_list *l = arg;

  l->names = realloc(l->names, (l->n + 1) * sizeof(*l->names));
  l->pos = realloc(l->pos, (l->n + 1) * sizeof(*l->pos));
  if (l->names == NULL || l->pos == NULL)
    fx_die("out of memory");
  l->names[l->n] = strdup(consumer);
  l->pos[l->n++] = position;
  return 0;
}

static void
print_consumers(mrlog *log, const char *queue)
{
  struct consumer_list l = { NULL, NULL, 0 };
  size_t i, j, best;

  fx_check(mrlog_list_consumers(log, queue, add_consumer, &l), queue);
  for (i = 0; i < l.n; i++) {
    /* Selection by name: a few consumers at most. */
    for (best = i, j = i + 1; j < l.n; j++)
      if (strcmp(l.names[j], l.names[best]) < 0)
        best = j;
    if (best != i) {
      char *t = l.names[i];
      uint64_t p = l.pos[i];
      l.names[i] = l.names[best];
      l.pos[i] = l.pos[best];
      l.names[best] = t;
      l.pos[best] = p;
    }
    fputs(i > 0 ? ", \"" : "\"", stdout);
    json_bytes((const uint8_t *)l.names[i], strlen(l.names[i]));
    printf("\": %" PRIu64, l.pos[i]);
    free(l.names[i]);
  }
  free(l.names);
  free(l.pos);
}

static void
expect(const char *dir)
{
  mrlog *log = open_log(dir, 0);
  struct names ns = sorted_names(log);
  struct mrlog_queue_info info;
  size_t i;

  for (i = 0; i < ns.n; i++) {
    fx_check(mrlog_queue_info(log, ns.v[i], &info), ns.v[i]);
    fputs("    {\"name\": \"", stdout);
    json_bytes((const uint8_t *)ns.v[i], strlen(ns.v[i]));
    printf("\", \"first_position\": %" PRIu64 ", \"next_position\": %" PRIu64
           ", \"records\": %" PRIu64 ", \"bytes\": %" PRIu64
           ", \"first_time_ms\": %" PRIu64 ", \"last_time_ms\": %" PRIu64
           ", \"consumers\": {", info.first_position, info.next_position,
           info.records, info.bytes, info.first_time_ms, info.last_time_ms);
    print_consumers(log, ns.v[i]);
    fputs("}}\n", stdout);
  }
  free_names(&ns);
  fx_check(mrlog_close(log), "close");
}

#define STOP 2 /* a visitor's stop value (not a status fx_check accepts) */

struct dump {
  const char *queue;
  char format;
  uint64_t since; /* times >= since ... */
  uint64_t until; /* ... and < until */
};

static int
print_record(void *arg, uint64_t position, uint64_t unix_ms, const void *data,
             size_t len)
{
  const struct dump *d = arg;
  const uint8_t *p = data;
  char when[64];
  size_t i, j;

  if (unix_ms < d->since)
    fx_die("mrlog_seek_time(%" PRIu64 ") gave %s %" PRIu64 " at %" PRIu64,
        d->since, d->queue, position, unix_ms);
  if (unix_ms >= d->until)
    return STOP; /* times never decrease: no later record is in the window */
  fx_iso(when, sizeof(when), unix_ms);
  if (d->format == 'j') {
    fputs("{\"queue\": \"", stdout);
    json_bytes((const uint8_t *)d->queue, strlen(d->queue));
    printf("\", \"position\": %" PRIu64 ", \"time_ms\": %" PRIu64
           ", \"time\": \"%s\", \"len\": %zu, \"data\": \"", position,
           unix_ms, when, len);
    json_bytes(p, len);
    fputs("\"}\n", stdout);
    return 0;
  }
  text_bytes((const uint8_t *)d->queue, strlen(d->queue), true);
  printf(" %" PRIu64 " %s %zu:", position, when, len);
  if (d->format == 't') {
    putchar(' ');
    text_bytes(p, len, false);
    putchar('\n');
    return 0;
  }
  putchar('\n');
  for (i = 0; i < len; i += 16) { /* hexdump -C, indented by two */
    printf("  %08zx ", i);
    for (j = 0; j < 16; j++) {
      if (j == 8)
        putchar(' ');
      if (i + j < len)
        printf(" %02x", p[i + j]);
      else
        fputs("   ", stdout);
    }
    fputs("  |", stdout);
    for (j = 0; j < 16 && i + j < len; j++)
      putchar(p[i + j] >= 0x20 && p[i + j] < 0x7f ? p[i + j] : '.');
    fputs("|\n", stdout);
  }
  return 0;
}

/* The records of queue (NULL: every queue) with from <= position < to
 * framed at since <= time < until: mrlog_seek_time finds the first one,
 * mrlog_range_time visits them until the first past the window. */
static void
expect_dump(const char *dir, const char *format, const char *queue,
            uint64_t from, uint64_t to, uint64_t since, uint64_t until)
{
  mrlog *log = open_log(dir, 0);
  struct names ns = sorted_names(log);
  struct dump d = { NULL, format[0], since, until };
  uint64_t start, at;
  size_t i;
  int rc;

  for (i = 0; i < ns.n; i++) {
    if (queue != NULL && strcmp(queue, ns.v[i]) != 0)
      continue;
    d.queue = ns.v[i];
    start = from;
    rc = mrlog_seek_time(log, ns.v[i], since, &at);
    if (rc == MRLOG_ENODATA)
      continue; /* every record is older */
    fx_check(rc, ns.v[i]);
    if (at > start)
      start = at;
    rc = mrlog_range_time(log, ns.v[i], start, to, print_record, &d);
    if (rc != STOP)
      fx_check(rc, ns.v[i]);
  }
  free_names(&ns);
  fx_check(mrlog_close(log), "close");
}

static void
open_only(const char *dir, bool read_only)
{
  struct mrlog_stats st;
  mrlog_policy p;
  mrlog *log;
  int rc;

  mrlog_policy_init(&p);
  p.read_only = read_only;
  rc = mrlog_open(dir, &p, &log);

  if (rc != 0) {
    printf("%s\n", mrlog_err_name(rc));
    return;
  }
  fx_check(mrlog_stats(log, &st), "stats");
  printf("OK discarded=%" PRIu64 "\n", st.discarded_tail_bytes);
  fx_check(mrlog_close(log), "close");
}

void
fx_sleep_ms(long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

static void
hold(const char *dir, const char *ready)
{
  char tmp[4096];
  mrlog *log = open_log(dir, 0);
  FILE *f;
  int i;

  fx_create(log, "h");
  for (i = 0; i < 5; i++)
    fx_append(log, "h", NULL, 30 + i, 9, (uint64_t)i, true);
  snprintf(tmp, sizeof(tmp), "%s.tmp", ready);
  f = fopen(tmp, "w");
  if (f == NULL)
    fx_die("%s: %s", tmp, strerror(errno));
  fprintf(f, "%ld\n", (long)getpid());
  if (fclose(f) != 0 || rename(tmp, ready) != 0)
    fx_die("%s: %s", ready, strerror(errno));
  /* A deadlock guard only: the test removes READY within seconds. */
  for (i = 0; i < 120 * 100 && access(ready, F_OK) == 0; i++)
    fx_sleep_ms(10);
  fx_check(mrlog_close(log), "close");
}

static void
patch(const char *file, long off, const uint8_t *bytes, size_t n, bool flip)
{
  uint8_t old[32];
  size_t i;
  int fd = open(file, O_RDWR);

  if (fd < 0 || n > sizeof(old) || pread(fd, old, n, off) != (ssize_t)n)
    fx_die("%s: cannot read %zu bytes at %ld", file, n, off);
  for (i = 0; i < n; i++)
    old[i] = flip ? (uint8_t)~old[i] : bytes[i];
  if (pwrite(fd, old, n, off) != (ssize_t)n || close(fd) != 0)
    fx_die("%s: cannot write", file);
}

/* A log of one segment of n records of 100 bytes, appended without
 * waiting under a policy that syncs only at close: every frame's synced
 * is old, and only the seal at the end witnesses the frames before it. */
static void
many(const char *dir, uint64_t n)
{
  mrlog_policy policy;
  mrlog *log;
  uint64_t i;

  mrlog_policy_init(&policy);
  policy.segment_bytes = 1u << 30;
  policy.fsync_interval_ms = 3600u * 1000u;
  fx_check(mrlog_open(dir, &policy, &log), dir);
  fx_create(log, "m");
  for (i = 0; i < n; i++)
    fx_append(log, "m", NULL, 100, 5, i, false);
  fx_check(mrlog_close(log), "close");
}

/* Inverts the byte at from, from + step, ... below the start of the file's
 * last 512-byte sector.  A sealed segment's seal starts that sector
 * (FORMAT.md 6.4), so the seal stays intact to witness every flip: with
 * the seal flipped too, the damage is an unwitnessed tail, whatever the
 * offsets of the flips happen to be in a given file. */
static void
flip_every(const char *file, long from, long step)
{
  struct stat st;
  long off, end;

  if (stat(file, &st) != 0 || step <= 0 || st.st_size <= 0)
    fx_die("%s: cannot stat", file);
  end = ((long)st.st_size - 1) / 512 * 512;
  for (off = from; off < end; off += step)
    patch(file, off, NULL, 1, true);
}

/* CRC-32C, bitwise (the header's crc must match for a version error). */
uint32_t
fx_crc32c(const uint8_t *p, size_t n)
{
  uint32_t crc = 0xffffffffu;
  size_t i;
  int k;

  for (i = 0; i < n; i++) {
    crc ^= p[i];
    for (k = 0; k < 8; k++)
      crc = crc & 1 ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
  }
  return ~crc;
}

static void
set_version(const char *file, uint32_t version)
{
  uint8_t h[32];
  uint32_t crc;
  int fd = open(file, O_RDONLY), i;

  if (fd < 0 || pread(fd, h, 32, 0) != 32 || close(fd) != 0)
    fx_die("%s: cannot read its header", file);
  for (i = 0; i < 4; i++)
    h[8 + i] = (uint8_t)(version >> (8 * i));
  crc = fx_crc32c(h, 28);
  for (i = 0; i < 4; i++)
    h[28 + i] = (uint8_t)(crc >> (8 * i));
  patch(file, 0, h, 32, false);
}

uint64_t
fx_number(const char *s)
{
  char *end;
  unsigned long long v;

  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || end == s)
    fx_die("not a number: %s", s);
  return (uint64_t)v;
}

int
main(int argc, char **argv)
{
  const char *mode = argc > 1 ? argv[1] : "";

  if (strcmp(mode, "build") == 0 && argc == 3)
    build(argv[2]);
  else if (strcmp(mode, "expect") == 0 && argc == 3)
    expect(argv[2]);
  else if (strcmp(mode, "times") == 0 && argc == 3)
    fx_times_build(argv[2]);
  else if (strcmp(mode, "stepback") == 0 && argc == 3)
    fx_stepback_build(argv[2]);
  else if (strcmp(mode, "expect-dump") == 0 && argc >= 4 && argc <= 9)
    expect_dump(argv[2], argv[3],
                argc > 4 && strcmp(argv[4], "-") != 0 ? argv[4] : NULL,
                argc > 5 ? fx_number(argv[5]) : 0,
                argc > 6 ? fx_number(argv[6]) : UINT64_MAX,
                argc > 7 ? fx_number(argv[7]) : 0,
                argc > 8 ? fx_number(argv[8]) : UINT64_MAX);
  else if (strcmp(mode, "open") == 0 && argc == 3)
    open_only(argv[2], false);
  else if (strcmp(mode, "ro-open") == 0 && argc == 3)
    open_only(argv[2], true);
  else if (strcmp(mode, "hold") == 0 && argc == 4)
    hold(argv[2], argv[3]);
  else if (strncmp(mode, "follow-", 7) == 0)
    fx_follow_main(argc, argv);
  else if (strcmp(mode, "tfollow-setup") == 0 && argc == 3)
    fx_tfollow_setup(argv[2]);
  else if (strcmp(mode, "tfollow-write") == 0 && argc == 3)
    fx_tfollow_write(argv[2]);
  else if (strcmp(mode, "flip") == 0 && argc == 4)
    patch(argv[2], (long)fx_number(argv[3]), NULL, 1, true);
  else if (strcmp(mode, "many") == 0 && argc == 4)
    many(argv[2], fx_number(argv[3]));
  else if (strcmp(mode, "flip-every") == 0 && argc == 5)
    flip_every(argv[2], (long)fx_number(argv[3]), (long)fx_number(argv[4]));
  else if (strcmp(mode, "set-version") == 0 && argc == 4)
    set_version(argv[2], (uint32_t)fx_number(argv[3]));
  else
    fx_die("usage: see the comment at the top of tests/tool_fixture.c");
  if (fflush(stdout) != 0)
    fx_die("write error");
  return 0;
}

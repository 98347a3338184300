/*
 * cmd_salvage.c -- `mrlog salvage [-q] SRC DST`: copies every record the
 * library can read from the log in SRC (a read-only open; on damage,
 * under MRLOG_RECOVER_SKIP_CORRUPT: view.c) into a new log in DST, with
 * the same queues, the same positions and the same times, and reports per
 * queue the position ranges it could not recover.
 *
 * Invariants:
 *  1. SRC is never changed (a read-only open).  DST must not exist or be
 *     an empty directory (else exit 73, nothing written).
 *  2. Positions: each record is appended at its own position (explicit
 *     positions), so gaps stay gaps.  An empty queue whose next position
 *     is past 0 gets it back through mrlog_truncate(next - 1); a queue
 *     with records gets next = its last record's position + 1.
 *  3. Times: the public API sets no record's time; the writer stamps
 *     each frame with policy.now_ms.  salvage gives DST a clock that it
 *     sets itself: records are appended in time order across queues
 *     (a merge of the queues, each ascending in time), and the clock
 *     changes only between groups of records of one time, when nothing
 *     is in flight, so each record is framed at its original time.
 *  4. Missing ranges: within [first_position, next_position) of a SRC
 *     queue, every position without a record is reported.  A writer may
 *     have skipped positions on purpose (explicit positions); the damage
 *     lines on stderr (the library's own reports) say which ranges the
 *     damage took.
 */
#include "tool.h"

#include <dirent.h>
#include <getopt.h>
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void
usage(FILE *out)
{
  fputs("usage: mrlog salvage [-q] SRC DST\n"
        "Copies every record the library can read from the log in SRC "
        "(read-only,\n"
        "skipping damage) into a new log in DST: same queues, positions and "
        "times.\n"
        "Reports, per queue, the position ranges it could not recover.  "
        "DST must not\n"
        "exist or be empty.  Exit 0 if SRC was intact, 2 if it was damaged "
        "(DST then\n"
        "holds what could be read).\n"
        "  -q, --quiet  no damage messages on stderr\n"
        "  -h, --help   this text\n", out);
}

/* One SRC queue being copied: the record at its cursor. */
struct cursor {
  const char *name;
  struct mrlog_queue_info info; /* SRC's */
  bool has;                     /* a record is at the cursor */
  uint64_t position;
  uint64_t time_ms;
  void *data;                   /* owned copy */
  size_t len;
  uint64_t copied;              /* records appended to DST */
  uint64_t last;                /* position of the last one copied */
  uint64_t missing;             /* positions reported missing */
};

static _Atomic uint64_t clock_ms; /* DST's clock (invariant 3) */

static uint64_t
dst_now(void *arg)
{
  (void)arg;
  return atomic_load(&clock_ms);
}

static int
take_first(void *arg, uint64_t position, uint64_t unix_ms, const void *data,
           size_t len)
{
  struct cursor *c = arg;

  c->has = true;
  c->position = position;
  c->time_ms = unix_ms;
  free(c->data);
  c->data = tool_xmalloc(len);
  memcpy(c->data, data, len);
  c->len = len;
  return 1;
}

/* Moves c to its first record at or after from. */
static int
advance(mrlog *src, struct cursor *c, uint64_t from)
{
  int status;

  c->has = false;
  if (from == UINT64_MAX)
    return 0;
  status = mrlog_range_time(src, c->name, from, UINT64_MAX, take_first, c);
  return status < 0 ? status : 0;
}

/* Prints the positions [from, to) of c as missing. */
static void
missing(struct cursor *c, uint64_t from, uint64_t to, bool quiet)
{
  if (from >= to)
    return;
  c->missing += to - from;
  if (!quiet) {
    fputs("missing: ", stdout);
    tool_text_bytes(stdout, c->name, strlen(c->name), true);
    printf(" %" PRIu64 "..%" PRIu64 " (%" PRIu64 " position(s))\n", from,
           to - 1, to - from);
  }
}

static bool
empty_or_absent(const char *dst)
{
  struct stat st;
  struct dirent *e;
  DIR *d;
  bool empty = true;

  if (stat(dst, &st) != 0)
    return errno == ENOENT;
  if (!S_ISDIR(st.st_mode) || (d = opendir(dst)) == NULL)
    return false;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
      empty = false;
  closedir(d);
  return empty;
}

static int
fail(const char *what, const char *name, int status)
{
  tool_warn("%s %s: %s", what, name, mrlog_strerror(status));
  return status == MRLOG_EIO || status == MRLOG_ENOSPC ? TOOL_EXIT_IOERR
                                                       : TOOL_EXIT_OSERR;
}

struct consumer_copy {
  mrlog *dst;
  const char *queue;
  int status;
};

static int
copy_consumer(void *arg, const char *consumer, uint64_t position)
{
  struct consumer_copy *c = arg;

  c->status = mrlog_wait(mrlog_commit(c->dst, c->queue, consumer, position,
                                      NULL, NULL), NULL);
  return c->status != 0;
}

/* Invariant 5. */
static int
copy_consumers(mrlog *src, mrlog *dst, const char *queue)
{
  struct consumer_copy c = { dst, queue, 0 };
  int rc = mrlog_list_consumers(src, queue, copy_consumer, &c);

  if (c.status != 0)
    return fail("commit a consumer of", queue, c.status);
  if (rc != 0)
    return fail("list the consumers of", queue, rc);
  return 0;
}

/* Copies every queue of v into dst (invariants 2, 3 and 5). */
static int
copy(struct tool_view *v, mrlog *dst, struct cursor *cs, size_t n,
     bool quiet)
{
  mrlog_future **inflight = tool_xcalloc(n ? n : 1, sizeof(*inflight));
  uint64_t group_ms;
  size_t i, k, best;
  int status, rc = 0;

  for (i = 0; i < n && rc == 0; i++) {
    status = mrlog_wait(mrlog_create_queue(dst, cs[i].name, NULL, NULL),
                        NULL);
    if (status != 0)
      rc = fail("create queue", cs[i].name, status);
    else
      rc = copy_consumers(v->log, dst, cs[i].name);
    if (rc == 0 && cs[i].info.records == 0 && cs[i].info.next_position > 0) {
      status = mrlog_wait(mrlog_truncate(dst, cs[i].name,
                                         cs[i].info.next_position - 1,
                                         NULL, NULL), NULL);
      if (status != 0)
        rc = fail("truncate", cs[i].name, status);
    }
  }
  while (rc == 0) {
    best = n;
    for (i = 0; i < n; i++)
      if (cs[i].has && (best == n || cs[i].time_ms < cs[best].time_ms))
        best = i;
    if (best == n)
      break;
    group_ms = cs[best].time_ms; /* cs[best] moves on below */
    atomic_store(&clock_ms, group_ms);
    /* One group: every cursor at this time, one record each in flight. */
    for (;;) {
      k = 0;
      for (i = 0; i < n; i++) {
        if (!cs[i].has || cs[i].time_ms != group_ms)
          continue;
        inflight[i] = mrlog_append(dst, cs[i].name, &cs[i].position,
                                   cs[i].data, cs[i].len, NULL, NULL);
        k++;
      }
      if (k == 0)
        break;
      for (i = 0; i < n; i++) {
        if (inflight[i] == NULL)
          continue;
        status = mrlog_wait(inflight[i], NULL);
        inflight[i] = NULL;
        if (status != 0 && rc == 0)
          rc = fail("append to", cs[i].name, status);
        if (cs[i].copied == 0)
          missing(&cs[i], cs[i].info.first_position, cs[i].position, quiet);
        else
          missing(&cs[i], cs[i].last + 1, cs[i].position, quiet);
        cs[i].copied++;
        cs[i].last = cs[i].position;
        status = advance(v->log, &cs[i],
                         cs[i].position == UINT64_MAX - 1
                             ? UINT64_MAX : cs[i].position + 1);
        if (status != 0 && rc == 0)
          rc = fail("read", cs[i].name, status);
      }
      if (rc != 0)
        break;
    }
  }
  free(inflight);
  return rc;
}

int
tool_cmd_salvage(int argc, char **argv)
{
  struct tool_opts o;
  struct tool_view v;
  struct cursor *cs;
  mrlog_policy policy;
  mrlog *dst;
  char **names;
  size_t i, n;
  int rc, status;

  tool_opts_init(&o);
  rc = tool_opts_parse(&o, argc, argv, 0, usage);
  tool_opts_free(&o);
  if (rc >= 0)
    return rc;
  if (optind + 2 != argc) {
    tool_warn("expected SRC and DST");
    usage(stderr);
    return TOOL_EXIT_USAGE;
  }
  if (!empty_or_absent(argv[optind + 1])) { /* invariant 1 */
    tool_warn("%s: exists and is not an empty directory", argv[optind + 1]);
    return TOOL_EXIT_CANTCREAT;
  }
  rc = tool_view_open(&v, argv[optind], o.quiet);
  if (rc != 0)
    return rc;
  names = tool_view_queues(&v);
  for (n = 0; names[n] != NULL; n++)
    ;
  cs = tool_xcalloc(n ? n : 1, sizeof(*cs));
  atomic_store(&clock_ms, UINT64_MAX);
  for (i = 0; i < n && rc == 0; i++) {
    cs[i].name = names[i];
    status = mrlog_queue_info(v.log, names[i], &cs[i].info);
    if (status == 0)
      status = advance(v.log, &cs[i], cs[i].info.first_position);
    if (status != 0)
      rc = fail("read", names[i], status);
    if (cs[i].has && cs[i].time_ms < atomic_load(&clock_ms))
      atomic_store(&clock_ms, cs[i].time_ms);
  }
  if (atomic_load(&clock_ms) == UINT64_MAX)
    atomic_store(&clock_ms, 0); /* no record: the creates' time */
  mrlog_policy_init(&policy);
  policy.now_ms = dst_now;
  policy.fsync_interval_ms = 1000; /* one sync at the end */
  if (rc == 0) {
    status = mrlog_open(argv[optind + 1], &policy, &dst);
    if (status != 0) {
      tool_warn("%s: mrlog_open: %s", argv[optind + 1],
                mrlog_strerror(status));
      rc = TOOL_EXIT_CANTCREAT;
    } else {
      rc = copy(&v, dst, cs, n, o.quiet);
      status = mrlog_wait(mrlog_sync(dst, NULL, NULL), NULL);
      if (status != 0 && rc == 0)
        rc = fail("sync", argv[optind + 1], status);
      status = mrlog_close(dst);
      if (status != 0 && rc == 0)
        rc = fail("close", argv[optind + 1], status);
    }
  }
  for (i = 0; i < n; i++) {
    if (rc == 0 && cs[i].copied > 0)
      missing(&cs[i], cs[i].last + 1, cs[i].info.next_position, o.quiet);
    if (rc == 0 && !o.quiet) {
      fputs("queue: ", stdout);
      tool_text_bytes(stdout, names[i], strlen(names[i]), true);
      printf(" %" PRIu64 " record(s) copied, %" PRIu64
             " position(s) missing\n", cs[i].copied, cs[i].missing);
    }
    free(cs[i].data);
  }
  free(cs);
  tool_view_free_queues(names);
  return tool_view_finish(&v, rc);
}

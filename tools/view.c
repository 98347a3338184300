/*
 * view.c -- the library's own view of a log, for dump, tail, stat and
 * salvage: a read-only mrlog_open (policy.read_only), which changes
 * nothing in the directory and takes no lock.
 *
 * Invariants:
 *  1. The log is first opened under the default recovery policy.  Only if
 *     that fails with MRLOG_ECORRUPT is it opened again, read-only too,
 *     under MRLOG_RECOVER_SKIP_CORRUPT; the view is then marked damaged
 *     and every range the library drops has been reported on stderr (the
 *     second open's log_fn messages at MRLOG_LOG_WARN and above, prefixed
 *     "damage: "; the first open's are not shown: the second repeats
 *     them).
 *  2. The directory is checked by the tool's own reader first
 *     (tool_log_open), so a missing or foreign directory gets the same
 *     message and exit code (66) from every subcommand.
 *  3. Library statuses map onto the exit codes of tool.h one way, in
 *     tool_exit_of, for every subcommand; when even the second open
 *     fails, the tool's reader scans the log, and its exit code (74 for a
 *     segment that cannot be read, 65 for another format version) is
 *     returned when it has one, so that verify, stat, dump and tail exit
 *     alike.
 */
#include "tool.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

int
tool_exit_of(int status)
{
  switch (status) {
  case 0: return TOOL_EXIT_OK;
  case MRLOG_ECORRUPT: return TOOL_EXIT_CORRUPT;
  case MRLOG_EVERSION: return TOOL_EXIT_VERSION;
  case MRLOG_EINVAL:
  case MRLOG_ENOENT:
  case MRLOG_EACCES: return TOOL_EXIT_NOINPUT; /* missing or unreadable */
  case MRLOG_ENOQUEUE: return TOOL_EXIT_NOQUEUE;
  case MRLOG_EIO: return TOOL_EXIT_IOERR;
  default: return TOOL_EXIT_OSERR;
  }
}

/* The log_fn of both opens: arg is the view.  Recovery's decisions at
 * MRLOG_LOG_WARN and MRLOG_LOG_ERROR go to stderr (unless quiet); the
 * rest (MRLOG_LOG_INFO) is not damage. */
static void
on_log(void *arg, int level, const char *message)
{
  struct tool_view *v = arg;

  if (level > MRLOG_LOG_WARN || !v->damaged)
    return; /* the first open's reports repeat what the second says */
  v->warnings++;
  if (!v->quiet)
    tool_warn("damage: %s", message);
}

static int
open_with(struct tool_view *v, int recovery)
{
  mrlog_policy policy;

  mrlog_policy_init(&policy);
  policy.read_only = 1;
  policy.recovery = recovery;
  policy.log_fn = on_log;
  policy.log_arg = v;
  return mrlog_open(v->path, &policy, &v->log);
}

int
tool_view_open(struct tool_view *v, const char *path, bool quiet)
{
  struct tool_log check;
  struct mrlog_stats st;
  int rc, status;

  memset(v, 0, sizeof(*v));
  v->path = path;
  v->quiet = quiet;
  rc = tool_log_open(&check, path); /* invariant 2 */
  tool_log_close(&check); /* also after a failed open */
  if (rc != 0)
    return rc;
  status = open_with(v, MRLOG_RECOVER_TOLERATE_TAIL);
  if (status == MRLOG_ECORRUPT) { /* invariant 1 */
    if (!quiet)
      tool_warn("%s: the log is damaged (mrlog_open fails with "
                "MRLOG_ECORRUPT); showing what MRLOG_RECOVER_SKIP_CORRUPT "
                "recovers", path);
    v->damaged = true;
    status = open_with(v, MRLOG_RECOVER_SKIP_CORRUPT);
  }
  if (status != 0) {
    /* Invariant 3: a log the library cannot open at all gets the exit
     * code and message of the tool's reader when it finds a reason (an
     * unreadable segment: 74, another version: 65), as stat and verify
     * do. */
    bool readable = tool_log_open(&check, path) == 0;

    rc = readable ? tool_log_scan(&check) : 0;
    tool_log_close(&check);
    if (rc != 0) {
      v->log = NULL;
      return rc;
    }
  }
  if (status != 0) {
    tool_warn("%s: mrlog_open (read-only) failed: %s", path,
              mrlog_strerror(status));
    v->log = NULL;
    return tool_exit_of(status);
  }
  if (mrlog_stats(v->log, &st) == 0) {
    v->skipped_ranges = st.skipped_ranges;
    v->skipped_bytes = st.skipped_bytes;
    v->skipped_records = st.skipped_records_at_least;
    v->discarded_tail_bytes = st.discarded_tail_bytes;
  }
  return 0;
}

int
tool_view_try(struct tool_view *v, const char *path)
{
  memset(v, 0, sizeof(*v));
  v->path = path;
  v->quiet = true;
  return open_with(v, MRLOG_RECOVER_TOLERATE_TAIL);
}

/* The visitor of tool_view_time. */
struct newest_walk {
  mrlog *log;
  uint64_t time_ms; /* the newest last_time_ms so far */
};

static int
newest(void *arg, const char *queue)
{
  struct newest_walk *nw = arg;
  struct mrlog_queue_info info;

  if (mrlog_queue_info(nw->log, queue, &info) == 0 &&
      info.last_time_ms > nw->time_ms)
    nw->time_ms = info.last_time_ms;
  return 0;
}

uint64_t
tool_view_time(struct tool_view *v)
{
  struct newest_walk nw = { v->log, 0 };

  mrlog_list_queues(v->log, newest, &nw);
  return nw.time_ms;
}

void
tool_view_close(struct tool_view *v)
{
  if (v->log != NULL)
    mrlog_close(v->log);
  v->log = NULL;
}

struct name_list {
  char **v;
  size_t n;
  size_t cap;
};

static int
add_name(void *arg, const char *queue)
{
  struct name_list *l = arg;

  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 16;
    l->v = tool_xrealloc(l->v, l->cap * sizeof(*l->v));
  }
  l->v[l->n] = strdup(queue);
  if (l->v[l->n] == NULL)
    tool_die(TOOL_EXIT_OSERR, "out of memory");
  l->n++;
  return 0;
}

static int
cmp_name(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b); /* bytewise */
}

char **
tool_view_queues(struct tool_view *v)
{
  struct name_list l = { NULL, 0, 0 };
  int status;

  status = mrlog_list_queues(v->log, add_name, &l);
  if (status != 0)
    tool_die(tool_exit_of(status), "%s: mrlog_list_queues: %s", v->path,
             mrlog_strerror(status));
  l.v = tool_xrealloc(l.v, (l.n + 1) * sizeof(*l.v)); /* room for NULL */
  qsort(l.v, l.n, sizeof(*l.v), cmp_name);
  l.v[l.n] = NULL;
  return l.v;
}

void
tool_view_free_queues(char **names)
{
  size_t i;

  for (i = 0; names != NULL && names[i] != NULL; i++)
    free(names[i]);
  free(names);
}

int
tool_view_finish(struct tool_view *v, int rc)
{
  if (fflush(stdout) != 0 && rc == 0) {
    tool_warn("write error on standard output");
    rc = TOOL_EXIT_IOERR;
  }
  tool_view_report(v);
  if (rc == 0 && v->damaged)
    rc = TOOL_EXIT_CORRUPT;
  tool_view_close(v);
  return rc;
}

void
tool_view_report(const struct tool_view *v)
{
  if (!v->damaged || v->quiet)
    return;
  tool_warn("%s: damaged: %llu range(s), %llu byte(s) skipped, at least "
            "%llu record(s) lost (see the damage: lines above; mrlog "
            "verify DIR for offsets)", v->path,
            (unsigned long long)v->skipped_ranges,
            (unsigned long long)v->skipped_bytes,
            (unsigned long long)v->skipped_records);
}

/* The visitor of tool_view_print: counts, or prints past skip. */
struct print_walk {
  FILE *out;
  enum tool_format format;
  const char *name;
  const struct tool_filter *w;
  bool print;
  uint64_t skip;    /* records passing w to pass over first */
  uint64_t budget;  /* records left to print */
  uint64_t passed;  /* records passing w so far */
};

static int
visit(void *arg, uint64_t position, uint64_t unix_ms, const void *data,
      size_t len)
{
  struct print_walk *pw = arg;

  (void)position;
  if (pw->w->has_until && unix_ms >= pw->w->until)
    return 1; /* a queue's times never decrease */
  if (!tool_filter_time(pw->w, unix_ms))
    return 0;
  pw->passed++;
  if (!pw->print || pw->passed <= pw->skip)
    return 0;
  if (pw->budget == 0)
    return 1;
  tool_print_mem(pw->out, pw->format, pw->name, strlen(pw->name), position,
                 unix_ms, data, len);
  pw->budget--;
  return 0;
}

int
tool_view_print(struct tool_view *v, FILE *out, const char *queue,
                const struct tool_filter *w, enum tool_format format,
                uint64_t last, uint64_t max)
{
  struct print_walk pw = { out, format, queue, w, false, 0, max, 0 };
  int status;

  if (last != UINT64_MAX) { /* a first pass counts what passes */
    status = mrlog_range_time(v->log, queue, w->from, w->to, visit, &pw);
    if (status < 0)
      goto fail;
    pw.skip = pw.passed > last ? pw.passed - last : 0;
    pw.passed = 0;
  }
  pw.print = true;
  status = mrlog_range_time(v->log, queue, w->from, w->to, visit, &pw);
  if (status >= 0)
    return TOOL_EXIT_OK;
fail:
  tool_warn("%s: queue %s: %s", v->path, queue, mrlog_strerror(status));
  return tool_exit_of(status);
}

/* What the library's read-only open reports (view.c), as a line of
 * text or the "library" member of the JSON document. */
void
tool_view_summary(const struct tool_view *v, int rc, bool json)
{
  const char *state = rc != 0 ? "refused" : v->damaged ? "damaged" : "ok";

  if (json) {
    printf("  \"library\": {\"open\": \"%s\", ", state);
    tool_json_u64(stdout, "exit_code", (uint64_t)rc, true);
    tool_json_u64(stdout, "discarded_tail_bytes", v->discarded_tail_bytes,
                  true);
    tool_json_u64(stdout, "skipped_ranges", v->skipped_ranges, true);
    tool_json_u64(stdout, "skipped_bytes", v->skipped_bytes, true);
    tool_json_u64(stdout, "skipped_records_at_least", v->skipped_records,
                  false);
    fputs("},\n", stdout);
    return;
  }
  if (rc != 0)
    printf("library:   read-only open refused (exit %d)\n", rc);
  else if (v->damaged)
    printf("library:   damaged: MRLOG_RECOVER_SKIP_CORRUPT skips %" PRIu64
           " range(s), %" PRIu64 " bytes, at least %" PRIu64
           " record(s)\n", v->skipped_ranges, v->skipped_bytes,
           v->skipped_records);
  else
    printf("library:   opens (read-only); tail cut in memory: %" PRIu64
           " bytes\n", v->discarded_tail_bytes);
}

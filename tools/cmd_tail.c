/*
 * cmd_tail.c -- `mrlog tail DIR --queue Q [-f] [--from P] [--to P]
 * [-n N] [--max N] [--since T] [--until T] [--json | --format F] [-q]`:
 * the queue's retained records, then (--follow) every record appended to
 * it by a running writer.
 *
 * Without --follow the records are the library's own (a read-only
 * mrlog_open, view.c); on a damaged log, what MRLOG_RECOVER_SKIP_CORRUPT
 * recovers is printed, the damage is named on stderr and tail exits 2.
 * With --follow the tool's reader of the format replays the log and then
 * follows the files as they grow (follow.c), which the library's
 * snapshot view cannot do; a log it finds damaged at start is shown as
 * without --follow (exit 2), not followed.
 *
 * --from P and --to P bound positions, --since T and --until T times, as
 * for dump.  -n N prints only the last N records that pass them (as
 * tail(1)); --max N stops after N records printed.  With --follow and
 * --until, tail stops once the log's time reaches --until (follow.c
 * invariant 4).  Exit 0; 1 if the queue does not exist and --follow is
 * not given (with --follow, tail waits for the directory, a segment in
 * it and the queue to appear, polling every WAIT_POLL_MS for the first
 * two, and says so on stderr); 2 if the log is or becomes damaged.
 */
#include "tool.h"

#include <dirent.h>
#include <getopt.h>
#include <string.h>
#include <time.h>

/* How often tail --follow looks for a log directory that is not there
 * yet (or holds no segment yet). */
#define WAIT_POLL_MS 100

static void
usage(FILE *out)
{
  fputs("usage: mrlog tail DIR --queue Q [-f] [--from P] [--to P] [-n N] "
        "[--max N]\n"
        "                 [--since T] [--until T] [--json | --format F] "
        "[-q]\n"
        "Prints queue Q's records; with --follow, keeps printing those a "
        "running\n"
        "process appends.  Read-only.\n"
        "      --queue Q     the queue (required; as printed, escapes "
        "allowed)\n"
        "  -f, --follow      wait for new records (inotify); handles "
        "rotation,\n"
        "                    deleted segments and a recreated queue\n"
        "      --from P      only positions >= P (default: all retained at "
        "start)\n"
        "      --to P        only positions < P\n"
        "  -n, --last N      only the last N records (then follow, with "
        "-f)\n"
        "      --max N       exit after printing N records\n"
        "      --since T     only records framed at or after T (inclusive)\n"
        "      --until T     only records framed before T (exclusive); with "
        "--follow,\n"
        "                    exit once the log's time reaches T\n"
        "      --json        the same as --format json\n"
        "  -F, --format FMT  text (default), hex or json, as mrlog dump\n"
        "  -q, --quiet       no damage or progress messages on stderr\n"
        "  -h, --help        this text\n"
        "T: unix milliseconds, YYYY-MM-DD (midnight UTC) or "
        "YYYY-MM-DDTHH:MM:SS[.fff]\n"
        "followed by Z, +HH:MM or -HH:MM (no zone: UTC).\n", out);
}

/* Without --follow: the library's view. */
static int
tail_view(const char *dir, const struct tool_opts *o)
{
  struct tool_view v;
  int rc;

  rc = tool_view_open(&v, dir, o->quiet);
  if (rc != 0)
    return rc;
  if (!mrlog_queue_exists(v.log, o->queues[0])) {
    tool_warn("no such queue: %s", o->queues[0]);
    rc = TOOL_EXIT_NOQUEUE;
  } else {
    rc = tool_view_print(&v, stdout, o->queues[0], &o->filter, o->format,
                         o->has_last ? o->last : UINT64_MAX, o->max);
  }
  return tool_view_finish(&v, rc);
}

/* The position from which q's last n records are retained: from, or
 * later. */
static uint64_t
last_from(const struct tool_queue *q, uint64_t from, uint64_t n)
{
  size_t i = q->len;
  uint64_t left = n;

  while (i > q->head && left > 0) {
    const struct tool_run *r = &q->runs[--i];

    if (r->count >= left) {
      uint64_t p = r->first + (r->count - left);

      return p > from ? p : from;
    }
    left -= r->count;
  }
  return from;
}

/* True if dir exists and holds a segment file (a log, for
 * tool_log_open). */
static bool
log_present(const char *dir)
{
  struct dirent *e;
  uint64_t segno;
  bool found = false;
  DIR *d = opendir(dir);

  if (d == NULL)
    return false;
  while (!found && (e = readdir(d)) != NULL)
    found = tool_segment_parse_name(e->d_name, &segno);
  closedir(d);
  return found;
}

/* Waits until dir holds a log, saying so once on stderr. */
static void
wait_for_log(const char *dir, bool quiet)
{
  struct timespec ts = { 0, WAIT_POLL_MS * 1000000L };
  bool said = false;

  while (!log_present(dir)) {
    if (!said && !quiet)
      tool_warn("%s: no log yet: waiting for it to appear", dir);
    said = true;
    nanosleep(&ts, NULL);
  }
  if (said && !quiet)
    tool_warn("%s: the log appeared", dir);
}

/* With --follow: the tool's reader, then follow.c. */
static int
tail_follow(const char *dir, const struct tool_opts *o)
{
  struct tool_follow fo = { o->queues[0], strlen(o->queues[0]), o->filter,
                            o->max, o->format };
  struct tool_queue *q;
  struct tool_log log;
  bool follow = true;
  int rc;

  wait_for_log(dir, o->quiet);
  rc = tool_log_open(&log, dir);
  if (rc == 0)
    rc = tool_log_scan(&log);
  if (rc == 0 && log.corrupt > 0) {
    /* Nothing to follow: what the library reads, as without -f. */
    tool_log_close(&log);
    return tail_view(dir, o);
  }
  /* With --until already reached, --follow would print nothing more. */
  if (rc == 0 && tool_follow_done(&log, &fo))
    follow = false;
  if (rc == 0) {
    q = tool_queue_by_name(&log.replay.queues, fo.queue, fo.queue_len);
    if (q != NULL) {
      struct tool_filter w = fo.filter;

      if (o->has_last)
        w.from = last_from(q, w.from, o->last);
      tool_print_queue(stdout, fo.format, q, &w, &fo.budget);
    } else if (!follow) {
      rc = TOOL_EXIT_NOQUEUE;
    }
    if (q == NULL && !o->quiet)
      tool_warn(follow ? "no queue %s yet: waiting for it"
                       : "no such queue: %s", fo.queue);
    if (fflush(stdout) != 0) {
      tool_warn("write error on standard output");
      rc = TOOL_EXIT_IOERR;
    }
  }
  if (rc == 0 && follow && fo.budget > 0)
    rc = tool_follow(&log, &fo);
  tool_log_close(&log);
  return rc;
}

int
tool_cmd_tail(int argc, char **argv)
{
  struct tool_opts o;
  int rc;

  tool_opts_init(&o);
  rc = tool_opts_parse(&o, argc, argv,
                       TOOL_ACCEPT_QUEUE | TOOL_ACCEPT_RANGE |
                           TOOL_ACCEPT_LAST | TOOL_ACCEPT_MAX |
                           TOOL_ACCEPT_FOLLOW | TOOL_ACCEPT_JSON |
                           TOOL_ACCEPT_FORMAT | TOOL_ACCEPT_TIME,
                       usage);
  if (rc < 0 && (optind + 1 != argc || o.nqueues != 1 ||
                 o.queues[0][0] == '\0')) {
    tool_warn(o.nqueues == 0 || o.queues[0][0] == '\0'
                  ? "--queue is required"
                  : o.nqueues > 1 ? "tail takes one --queue"
                                  : "expected one directory");
    usage(stderr);
    rc = TOOL_EXIT_USAGE;
  }
  if (rc < 0)
    rc = o.follow ? tail_follow(argv[optind], &o)
                  : tail_view(argv[optind], &o);
  tool_opts_free(&o);
  return rc;
}

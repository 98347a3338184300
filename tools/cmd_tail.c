/*
 * cmd_tail.c -- `mrlog tail DIR --queue Q [-f] [--from P] [--to P]
 * [-n N] [--max N] [--since T] [--until T] [--json | --format F] [-q]`:
 * the queue's retained records, then (--follow) every record appended to
 * it by a running writer.
 *
 * The records are the library's own, read through a read-only
 * mrlog_open (view.c); with --follow the log is opened again, read-only,
 * each time it changes (follow.c).  On a damaged log, what
 * MRLOG_RECOVER_SKIP_CORRUPT recovers is printed, the damage is named on
 * stderr and tail exits 2: with --follow, a log damaged at start is shown
 * as without --follow, and one that becomes damaged ends the follow so.
 *
 * --from P and --to P bound positions, --since T and --until T times, as
 * for dump.  -n N prints only the last N records that pass them (as
 * tail(1)); --max N stops after N records printed.  With --follow and
 * --until, tail stops once the log's time reaches --until
 * (follow_look.c invariant 4).  Exit 0; 1 if the queue does not exist and
 * --follow is not given (with --follow, tail waits for the directory, a
 * segment in it and the queue to appear, and says so on stderr); 2 if
 * the log is or becomes damaged; with --follow, SIGINT, SIGTERM and
 * SIGHUP end it by that signal, after the records printed are flushed.
 */
#include "tool.h"

#include <getopt.h>
#include <string.h>

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
        "  -f, --follow      wait for new records (inotify) and print "
        "them as the\n"
        "                    library reads them; waits for the log and the "
        "queue, and\n"
        "                    follows the queue across deletion and "
        "re-creation\n"
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
        "  -q, --quiet       no damage messages or notes on stderr\n"
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

/* With --follow: follow.c. */
static int
tail_follow(const char *dir, const struct tool_opts *o)
{
  struct tool_follow fo = { dir, o->queues[0], o->filter,
                            o->has_last ? o->last : UINT64_MAX, o->max,
                            o->format, o->quiet };

  return tool_follow(&fo);
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

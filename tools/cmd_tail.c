/*
 * cmd_tail.c -- `mrlog tail DIR --queue Q [--follow] [--from P]
 * [--since T] [--until T] [-n/--max N] [--format text|hex|json]`: the
 * queue's retained records, then (--follow) every record appended to it
 * by a running writer.
 *
 * --from P prints only positions >= P (default: every record retained at
 * start); --since T and --until T only records framed at or after T and
 * before T, as for dump.  --max N stops after N records, counting from
 * there: it is not tail(1)'s "last N lines".  With --follow and --until,
 * tail stops once the log's time reaches --until (follow.c invariant 4).
 * Exit 0; 1 if the queue does not exist and --follow is not given (with
 * --follow, tail waits for it to be created); 2 if the log is or becomes
 * corrupt.
 */
#include "tool.h"

#include <getopt.h>
#include <string.h>

static void
usage(FILE *out)
{
  fputs("usage: mrlog tail DIR --queue Q [--follow] [--from P] [--since T] "
        "[--until T]\n"
        "                 [-n N] [--format text|hex|json]\n"
        "Prints queue Q's records; with --follow, keeps printing those a "
        "running\n"
        "process appends.  Read-only.\n"
        "  -q, --queue Q     the queue (required)\n"
        "  -f, --follow      wait for new records (inotify); handles "
        "rotation,\n"
        "                    deleted segments and a recreated queue\n"
        "      --from P      only positions >= P (default: all retained at "
        "start)\n"
        "      --since T     only records framed at or after T (inclusive)\n"
        "      --until T     only records framed before T (exclusive); with "
        "--follow,\n"
        "                    exit once the log's time reaches T\n"
        "  -n, --max N       exit after printing N records\n"
        "  -F, --format FMT  text (default), hex or json, as mrlog dump\n"
        "  -h, --help        this text\n"
        "T: unix milliseconds, YYYY-MM-DD (midnight UTC) or "
        "YYYY-MM-DDTHH:MM:SS[.fff]\n"
        "followed by Z, +HH:MM or -HH:MM (no zone: UTC).\n", out);
}

int
tool_cmd_tail(int argc, char **argv)
{
  static const struct option longopts[] = {
    { "queue", required_argument, NULL, 'q' },
    { "follow", no_argument, NULL, 'f' },
    { "from", required_argument, NULL, 'P' },
    { "since", required_argument, NULL, 'S' },
    { "until", required_argument, NULL, 'U' },
    { "max", required_argument, NULL, 'n' },
    { "format", required_argument, NULL, 'F' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  struct tool_follow fo = { NULL, 0, TOOL_FILTER_ALL, UINT64_MAX,
                            TOOL_FORMAT_TEXT };
  struct tool_queue *q;
  struct tool_log log;
  bool follow = false;
  int c, rc;

  while ((c = getopt_long(argc, argv, "q:fn:F:h", longopts, NULL)) != -1) {
    switch (c) {
    case 'q': fo.queue = optarg; break;
    case 'f': follow = true; break;
    case 'P':
      if (!tool_parse_u64(optarg, &fo.filter.from)) {
        tool_warn("--from: not a position: %s", optarg);
        return TOOL_EXIT_USAGE;
      }
      break;
    case 'S':
      if (!tool_parse_time("--since", optarg, &fo.filter.since))
        return TOOL_EXIT_USAGE;
      break;
    case 'U':
      if (!tool_parse_time("--until", optarg, &fo.filter.until))
        return TOOL_EXIT_USAGE;
      fo.filter.has_until = true;
      break;
    case 'n':
      if (!tool_parse_u64(optarg, &fo.budget)) {
        tool_warn("--max: not a count: %s", optarg);
        return TOOL_EXIT_USAGE;
      }
      break;
    case 'F':
      if (!tool_parse_format(optarg, &fo.format)) {
        tool_warn("--format: expected text, hex or json, not %s", optarg);
        return TOOL_EXIT_USAGE;
      }
      break;
    case 'h': usage(stdout); return TOOL_EXIT_OK;
    default: usage(stderr); return TOOL_EXIT_USAGE;
    }
  }
  if (optind + 1 != argc || fo.queue == NULL || fo.queue[0] == '\0') {
    tool_warn(fo.queue == NULL || fo.queue[0] == '\0'
                  ? "--queue is required" : "expected one directory");
    usage(stderr);
    return TOOL_EXIT_USAGE;
  }
  fo.queue_len = strlen(fo.queue);
  rc = tool_log_open(&log, argv[optind]);
  if (rc == 0)
    rc = tool_log_scan(&log);
  if (rc == 0 && log.corrupt > 0) {
    tool_warn("%s: the log is corrupt (mrlog_open would fail with "
              "MRLOG_ECORRUPT); see mrlog verify", log.path);
    rc = TOOL_EXIT_CORRUPT;
  }
  /* With --until already reached, --follow would print nothing more. */
  if (rc == 0 && follow && tool_follow_done(&log, &fo))
    follow = false;
  if (rc == 0) {
    q = tool_queue_by_name(&log.replay.queues, fo.queue, fo.queue_len);
    if (q != NULL)
      tool_print_queue(stdout, fo.format, q, &fo.filter, &fo.budget);
    else if (!follow)
      rc = TOOL_EXIT_NOQUEUE;
    if (q == NULL)
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

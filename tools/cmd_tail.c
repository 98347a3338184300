/*
 * cmd_tail.c -- `mrlog tail DIR --queue Q [--follow] [--from P]
 * [-n/--max N] [--format text|hex|json]`: the queue's retained records,
 * then (--follow) every record appended to it by a running writer.
 *
 * --from P prints only positions >= P (default: every record retained at
 * start).  --max N stops after N records, counting from there: it is not
 * tail(1)'s "last N lines".  Exit 0; 1 if the queue does not exist and
 * --follow is not given (with --follow, tail waits for it to be created);
 * 2 if the log is or becomes corrupt.
 */
#include "tool.h"

#include <getopt.h>
#include <string.h>

static void
usage(FILE *out)
{
  fputs("usage: mrlog tail DIR --queue Q [--follow] [--from P] [-n N] "
        "[--format text|hex|json]\n"
        "Prints queue Q's records; with --follow, keeps printing those a "
        "running\n"
        "process appends.  Read-only.\n"
        "  -q, --queue Q     the queue (required)\n"
        "  -f, --follow      wait for new records (inotify); handles "
        "rotation,\n"
        "                    deleted segments and a recreated queue\n"
        "      --from P      only positions >= P (default: all retained at "
        "start)\n"
        "  -n, --max N       exit after printing N records\n"
        "  -F, --format FMT  text (default), hex or json, as mrlog dump\n"
        "  -h, --help        this text\n", out);
}

int
tool_cmd_tail(int argc, char **argv)
{
  static const struct option longopts[] = {
    { "queue", required_argument, NULL, 'q' },
    { "follow", no_argument, NULL, 'f' },
    { "from", required_argument, NULL, 'P' },
    { "max", required_argument, NULL, 'n' },
    { "format", required_argument, NULL, 'F' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  struct tool_follow fo = { NULL, 0, 0, UINT64_MAX, TOOL_FORMAT_TEXT };
  struct tool_queue *q;
  struct tool_log log;
  bool follow = false;
  int c, rc;

  while ((c = getopt_long(argc, argv, "q:fn:F:h", longopts, NULL)) != -1) {
    switch (c) {
    case 'q': fo.queue = optarg; break;
    case 'f': follow = true; break;
    case 'P':
      if (!tool_parse_u64(optarg, &fo.from)) {
        tool_warn("--from: not a position: %s", optarg);
        return TOOL_EXIT_USAGE;
      }
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
  if (rc == 0) {
    q = tool_queue_by_name(&log.replay.queues, fo.queue, fo.queue_len);
    if (q != NULL)
      tool_print_queue(stdout, fo.format, q, fo.from, UINT64_MAX, &fo.budget);
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

/*
 * cmd_dump.c -- `mrlog dump DIR [--queue Q] [--from P] [--to P]
 * [--since T] [--until T] [--format text|hex|json]`: the records
 * mrlog_open would recover, queues sorted by name, positions ascending,
 * read back from the segment files, each with its time.
 *
 * --from and --since are inclusive, --to and --until exclusive, as for
 * mrlog_range; every option given applies.  T is unix milliseconds or
 * ISO 8601 (times.c).  Exit 0; 1 if --queue names no live queue; 2 if the
 * log is corrupt (mrlog_open would recover nothing: nothing is printed).
 */
#include "tool.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void
usage(FILE *out)
{
  fputs("usage: mrlog dump [--queue Q] [--from P] [--to P] [--since T] "
        "[--until T]\n"
        "                  [--format text|hex|json] DIR\n"
        "Prints the records mrlog_open would recover from the log in DIR: "
        "queues by\n"
        "name, positions ascending.  Read-only.\n"
        "  -q, --queue Q     only queue Q\n"
        "  -f, --from P      positions >= P (inclusive)\n"
        "  -t, --to P        positions < P (exclusive, as mrlog_range)\n"
        "      --since T     records framed at or after T (inclusive)\n"
        "      --until T     records framed before T (exclusive)\n"
        "  -F, --format FMT  text (default): QUEUE POSITION TIME LEN: "
        "PAYLOAD, escaped;\n"
        "                    hex: a hexdump per record; json: one object "
        "per line\n"
        "  -h, --help        this text\n"
        "T: unix milliseconds, YYYY-MM-DD (midnight UTC) or "
        "YYYY-MM-DDTHH:MM:SS[.fff]\n"
        "followed by Z, +HH:MM or -HH:MM (no zone: UTC).\n", out);
}

/* Damage goes to stderr: corruption (nothing is dumped) and a tail that
 * recovery would cut (its frames are not dumped). */
static void
complain(void *arg, const struct tool_problem *p)
{
  (void)arg;
  if (p->kind != TOOL_PROBLEM_NOTE)
    tool_problem_print(stderr, p);
}

int
tool_cmd_dump(int argc, char **argv)
{
  static const struct option longopts[] = {
    { "queue", required_argument, NULL, 'q' },
    { "from", required_argument, NULL, 'f' },
    { "to", required_argument, NULL, 't' },
    { "since", required_argument, NULL, 'S' },
    { "until", required_argument, NULL, 'U' },
    { "format", required_argument, NULL, 'F' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  enum tool_format fmt = TOOL_FORMAT_TEXT;
  const char *queue = NULL;
  struct tool_filter w = TOOL_FILTER_ALL;
  uint64_t budget = UINT64_MAX;
  struct tool_queue **qs, *q;
  struct tool_log log;
  size_t i;
  int c, rc;

  while ((c = getopt_long(argc, argv, "q:f:t:F:h", longopts, NULL)) != -1) {
    switch (c) {
    case 'q': queue = optarg; break;
    case 'f':
      if (!tool_parse_u64(optarg, &w.from)) {
        tool_warn("--from: not a position: %s", optarg);
        return TOOL_EXIT_USAGE;
      }
      break;
    case 't':
      if (!tool_parse_u64(optarg, &w.to)) {
        tool_warn("--to: not a position: %s", optarg);
        return TOOL_EXIT_USAGE;
      }
      break;
    case 'S':
      if (!tool_parse_time("--since", optarg, &w.since))
        return TOOL_EXIT_USAGE;
      break;
    case 'U':
      if (!tool_parse_time("--until", optarg, &w.until))
        return TOOL_EXIT_USAGE;
      w.has_until = true;
      break;
    case 'F':
      if (!tool_parse_format(optarg, &fmt)) {
        tool_warn("--format: expected text, hex or json, not %s", optarg);
        return TOOL_EXIT_USAGE;
      }
      break;
    case 'h': usage(stdout); return TOOL_EXIT_OK;
    default: usage(stderr); return TOOL_EXIT_USAGE;
    }
  }
  if (optind + 1 != argc) {
    tool_warn("expected one directory");
    usage(stderr);
    return TOOL_EXIT_USAGE;
  }
  rc = tool_log_open(&log, argv[optind]);
  if (rc == 0) {
    log.report = complain;
    rc = tool_log_scan(&log);
  }
  if (rc == 0 && log.corrupt > 0) {
    tool_warn("%s: the log is corrupt (mrlog_open would fail with "
              "MRLOG_ECORRUPT); see mrlog verify", log.path);
    rc = TOOL_EXIT_CORRUPT;
  }
  if (rc == 0 && queue != NULL) {
    q = tool_queue_by_name(&log.replay.queues, queue, strlen(queue));
    if (q == NULL) {
      tool_warn("no such queue: %s", queue);
      rc = TOOL_EXIT_NOQUEUE;
    } else {
      tool_print_queue(stdout, fmt, q, &w, &budget);
    }
  } else if (rc == 0) {
    qs = tool_queues_sorted(&log.replay.queues);
    for (i = 0; qs[i] != NULL; i++)
      tool_print_queue(stdout, fmt, qs[i], &w, &budget);
    free(qs);
  }
  if (fflush(stdout) != 0 && rc == 0) {
    tool_warn("write error on standard output");
    rc = TOOL_EXIT_IOERR;
  }
  tool_log_close(&log);
  return rc;
}

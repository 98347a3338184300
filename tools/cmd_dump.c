/*
 * cmd_dump.c -- `mrlog dump [--queue Q]... [--from P] [--to P] [-n N]
 * [--since T] [--until T] [--json | --format text|hex|json] [-q] DIR`: the
 * records the library itself recovers, read through a read-only
 * mrlog_open (view.c), queues sorted by name, positions ascending, each
 * with its time.
 *
 * --from and --since are inclusive, --to and --until exclusive, as for
 * mrlog_range; every option given applies; -n N keeps the last N records
 * of each queue that pass them.  Exit 0; 1 if a --queue names no live
 * queue; 2 if the log is damaged: what MRLOG_RECOVER_SKIP_CORRUPT
 * recovers is printed, and each dropped range is named on stderr.
 */
#include "tool.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void
usage(FILE *out)
{
  fputs("usage: mrlog dump [--queue Q]... [--from P] [--to P] [-n N] "
        "[--since T]\n"
        "                  [--until T] [--json | --format text|hex|json] "
        "[-q] DIR\n"
        "Prints the records the library recovers from the log in DIR (a "
        "read-only\n"
        "open): queues by name, positions ascending.  On a damaged log, "
        "prints what\n"
        "can be read, names the damage on stderr and exits 2.\n"
        "      --queue Q     only queue Q (repeatable; Q as printed, "
        "escapes allowed)\n"
        "      --from P      positions >= P (inclusive)\n"
        "      --to P        positions < P (exclusive, as mrlog_range)\n"
        "  -n, --last N      only the last N records of each queue\n"
        "      --since T     records framed at or after T (inclusive)\n"
        "      --until T     records framed before T (exclusive)\n"
        "      --json        the same as --format json\n"
        "  -F, --format FMT  text (default): QUEUE POSITION TIME LEN: "
        "PAYLOAD, escaped;\n"
        "                    hex: a hexdump per record; json: one object "
        "per line\n"
        "  -q, --quiet       no damage messages on stderr\n"
        "  -h, --help        this text\n"
        "T: unix milliseconds, YYYY-MM-DD (midnight UTC) or "
        "YYYY-MM-DDTHH:MM:SS[.fff]\n"
        "followed by Z, +HH:MM or -HH:MM (no zone: UTC).\n", out);
}

int
tool_cmd_dump(int argc, char **argv)
{
  struct tool_opts o;
  struct tool_view v;
  char **names;
  size_t i;
  int rc;

  tool_opts_init(&o);
  rc = tool_opts_parse(&o, argc, argv,
                       TOOL_ACCEPT_QUEUE | TOOL_ACCEPT_RANGE |
                           TOOL_ACCEPT_LAST | TOOL_ACCEPT_JSON |
                           TOOL_ACCEPT_FORMAT | TOOL_ACCEPT_TIME,
                       usage);
  if (rc >= 0) {
    tool_opts_free(&o);
    return rc;
  }
  if (optind + 1 != argc) {
    tool_warn("expected one directory");
    usage(stderr);
    tool_opts_free(&o);
    return TOOL_EXIT_USAGE;
  }
  rc = tool_view_open(&v, argv[optind], o.quiet);
  if (rc != 0) {
    tool_opts_free(&o);
    return rc;
  }
  if (o.nqueues > 0) {
    for (i = 0; i < o.nqueues; i++)
      if (!mrlog_queue_exists(v.log, o.queues[i])) {
        tool_warn("no such queue: %s", o.queues[i]);
        rc = TOOL_EXIT_NOQUEUE;
      }
    for (i = 0; i < o.nqueues && rc == 0; i++)
      rc = tool_view_print(&v, stdout, o.queues[i], &o.filter, o.format,
                           o.has_last ? o.last : UINT64_MAX, UINT64_MAX);
  } else {
    names = tool_view_queues(&v);
    for (i = 0; names[i] != NULL && rc == 0; i++)
      rc = tool_view_print(&v, stdout, names[i], &o.filter, o.format,
                           o.has_last ? o.last : UINT64_MAX, UINT64_MAX);
    tool_view_free_queues(names);
  }
  rc = tool_view_finish(&v, rc);
  tool_opts_free(&o);
  return rc;
}

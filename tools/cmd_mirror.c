/*
 * cmd_mirror.c -- `mrlog mirror DIR --to URI[,URI...]` and `mrlog replica
 * DIR --from URI[,URI...]`: their options and usage.  mirror_run.c runs
 * them (libmrlog_mirror); in a build without librabbitmq, mirror_none.c
 * stands in and they exit 69 after parsing.
 *
 * These two commands have an option table of their own, not opts.c's:
 * --to and --from name brokers here (a comma-separated URI list, as
 * mrlog_mirror_config.uris), not positions, and --queues takes an
 * fnmatch(3) glob (config.queues), not a queue name.  The rest follow the
 * tool's habits: counts in decimal, --json for a JSON document on stdout,
 * -q for no messages but errors, a usage error exits 64.
 *
 * Invariants:
 *  1. Every count option is checked here: a malformed number, or 0 where
 *     libmrlog_mirror refuses 0 (records, bytes, messages in flight), is a
 *     usage error (64) before the log is opened.
 *  2. The options that apply to one command only (--to, --once,
 *     --timeout, --records-per-message, --message-bytes, --consumer for
 *     mirror;
 *     --from for replica) are usage errors in the other.
 */
#include "tool.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

enum {
  OPT_TO = 256,
  OPT_FROM,
  OPT_QUEUES,
  OPT_ONCE,
  OPT_JSON,
  OPT_TIMEOUT,
  OPT_INTERVAL,
  OPT_RECORDS,
  OPT_BYTES,
  OPT_IN_FLIGHT,
  OPT_CONSUMER,
  OPT_EXCHANGE,
  OPT_PREFIX,
  OPT_HEARTBEAT
};

static const struct option longopts[] = {
  { "to", required_argument, NULL, OPT_TO },
  { "from", required_argument, NULL, OPT_FROM },
  { "queues", required_argument, NULL, OPT_QUEUES },
  { "once", no_argument, NULL, OPT_ONCE },
  { "json", no_argument, NULL, OPT_JSON },
  { "timeout", required_argument, NULL, OPT_TIMEOUT },
  { "interval", required_argument, NULL, OPT_INTERVAL },
  { "records-per-message", required_argument, NULL, OPT_RECORDS },
  { "message-bytes", required_argument, NULL, OPT_BYTES },
  { "messages-in-flight", required_argument, NULL, OPT_IN_FLIGHT },
  { "consumer", required_argument, NULL, OPT_CONSUMER },
  { "exchange", required_argument, NULL, OPT_EXCHANGE },
  { "queue-prefix", required_argument, NULL, OPT_PREFIX },
  { "heartbeat", required_argument, NULL, OPT_HEARTBEAT },
  { "quiet", no_argument, NULL, 'q' },
  { "help", no_argument, NULL, 'h' },
  { NULL, 0, NULL, 0 },
};

/* The options both commands share, for both usages. */
#define COMMON_HELP                                                        \
  "      --queues GLOB         only the log queues matching the "         \
  "fnmatch(3) glob\n"                                                     \
  "                            (default: every queue)\n"                  \
  "      --exchange NAME       the exchange (default mrlog; the catalog:" \
  "\n"                                                                    \
  "                            the queue NAME-catalog)\n"                \
  "      --queue-prefix P      RabbitMQ queue of log queue Q: PQ "        \
  "(default mrlog.)\n"                                                    \
  "      --messages-in-flight N  unconfirmed (mirror) or unacknowledged "  \
  "(replica)\n"                                                           \
  "                            messages at most (default 64)\n"           \
  "      --heartbeat S         AMQP heartbeat in seconds (default 10; 0: " \
  "none)\n"                                                               \
  "      --interval S          a progress line on stderr at most every S " \
  "seconds,\n"                                                            \
  "                            when something changed, and one at exit\n" \
  "                            (default 5; 0: only the one at exit)\n"   \
  "      --json                the final stats as one JSON object on "    \
  "stdout\n"                                                              \
  "  -q, --quiet               no progress lines or diagnostics; errors " \
  "only\n"                                                                \
  "  -h, --help                this text\n"                               \
  "URI: amqp://user:password@host:port/vhost; a comma-separated list is "  \
  "tried\n"                                                               \
  "in turn.\n"

static void
usage_mirror(FILE *out)
{
  fputs("usage: mrlog mirror DIR --to URI[,URI...] [--queues GLOB] "
        "[--once [--timeout S]]\n"
        "                   [--json] [-q] [OPTIONS]\n"
        "Opens the log in DIR (for writing: it takes the log's lock) and "
        "ships its\n"
        "durable records to RabbitMQ quorum queues (libmrlog_mirror), "
        "committing\n"
        "what the broker confirms under the consumer name.  Runs until "
        "SIGINT or\n"
        "SIGTERM, then waits for the last confirms (a second signal stops "
        "at once).\n"
        "      --to URI[,URI...]     the brokers (required)\n"
        "      --once                exit once every record of the log is "
        "confirmed\n"
        "      --timeout S           with --once and after a signal: give "
        "up (exit 75)\n"
        "                            when S seconds pass with records "
        "unconfirmed and\n"
        "                            none newly confirmed (default 30; 0: "
        "never)\n"
        "      --consumer NAME       consumer name of the committed "
        "positions (default\n"
        "                            mirror)\n"
        "      --records-per-message N  records per message at most "
        "(default 256)\n"
        "      --message-bytes N     message body bytes at most (default "
        "1048576)\n"
        COMMON_HELP
        "Exit status: 0 everything confirmed; 64 usage or a malformed URI; "
        "66 DIR missing\n"
        "or not a log; 69 built without librabbitmq; 75 records left "
        "unconfirmed, or\n"
        "the log is held by another process; 2, 65, 71, 74 as for the "
        "other commands.\n",
        out);
}

static void
usage_replica(FILE *out)
{
  fputs("usage: mrlog replica DIR --from URI[,URI...] [--queues GLOB] "
        "[--json] [-q]\n"
        "                    [OPTIONS]\n"
        "Opens (creating it if needed) the log in DIR and appends to it "
        "every record of\n"
        "the mirrored queues, at its original position "
        "(mrlog_replica_start).  Runs\n"
        "until SIGINT or SIGTERM, then stops cleanly and exits 0.\n"
        "      --from URI[,URI...]   the brokers (required)\n"
        COMMON_HELP
        "Exit status: 0 stopped cleanly; 64 usage or a malformed URI; 66 "
        "DIR not\n"
        "creatable or not a directory; 69 built without librabbitmq; 75 "
        "the log is held\n"
        "by another process; 2, 65, 71, 74 as for the other commands.\n",
        out);
}

/* Parses a count; zero_ok says whether 0 is accepted (invariant 1). */
static bool
count(const char *opt, const char *s, bool zero_ok, uint64_t max,
      uint64_t *out)
{
  if (tool_parse_u64(s, out) && (zero_ok || *out > 0) && *out <= max)
    return true;
  tool_warn("%s: expected a %s number up to %llu, not '%s'", opt,
            zero_ok ? "whole" : "positive", (unsigned long long)max, s);
  return false;
}

/* Parses argv into *o.  -1 when the command should run, else the exit
 * code to return. */
static int
parse(struct tool_mirror_opts *o, int argc, char **argv, bool replica,
      void (*usage)(FILE *out))
{
  int c;

  memset(o, 0, sizeof(*o));
  o->replica = replica;
  o->records_per_message = TOOL_MIRROR_DEFAULT;
  o->message_bytes = TOOL_MIRROR_DEFAULT;
  o->messages_in_flight = TOOL_MIRROR_DEFAULT;
  o->heartbeat_s = TOOL_MIRROR_DEFAULT;
  o->timeout_s = 30;
  o->interval_s = 5;
  while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
    bool mirror_only = c == OPT_TO || c == OPT_ONCE || c == OPT_TIMEOUT ||
                       c == OPT_RECORDS || c == OPT_BYTES ||
                       c == OPT_CONSUMER;

    if (c == 'h') {
      usage(stdout);
      return TOOL_EXIT_OK;
    }
    if (c == '?' || c == ':') {
      usage(stderr);
      return TOOL_EXIT_USAGE;
    }
    if ((replica && mirror_only) || (!replica && c == OPT_FROM)) {
      tool_warn("option '%s' does not apply to this command", /* inv. 2 */
                argv[optind - 1]);
      usage(stderr);
      return TOOL_EXIT_USAGE;
    }
    switch (c) {
    case OPT_TO: case OPT_FROM: o->uris = optarg; break;
    case OPT_QUEUES: o->queues = optarg; break;
    case OPT_ONCE: o->once = true; break;
    case OPT_JSON: o->json = true; break;
    case OPT_CONSUMER: o->consumer = optarg; break;
    case OPT_EXCHANGE: o->exchange = optarg; break;
    case OPT_PREFIX: o->queue_prefix = optarg; break;
    case 'q': o->quiet = true; break;
    case OPT_TIMEOUT:
      if (!count("--timeout", optarg, true, 86400u * 365, &o->timeout_s))
        return TOOL_EXIT_USAGE;
      break;
    case OPT_INTERVAL:
      if (!count("--interval", optarg, true, 86400u, &o->interval_s))
        return TOOL_EXIT_USAGE;
      break;
    case OPT_RECORDS:
      if (!count("--records-per-message", optarg, false, UINT32_MAX,
                 &o->records_per_message))
        return TOOL_EXIT_USAGE;
      break;
    case OPT_BYTES:
      if (!count("--message-bytes", optarg, false, SIZE_MAX,
                 &o->message_bytes))
        return TOOL_EXIT_USAGE;
      break;
    case OPT_IN_FLIGHT:
      if (!count("--messages-in-flight", optarg, false, UINT32_MAX,
                 &o->messages_in_flight))
        return TOOL_EXIT_USAGE;
      break;
    case OPT_HEARTBEAT:
      if (!count("--heartbeat", optarg, true, 65535, &o->heartbeat_s))
        return TOOL_EXIT_USAGE;
      break;
    }
  }
  if (optind + 1 != argc) {
    tool_warn(optind == argc ? "expected a directory"
                             : "expected one directory");
    usage(stderr);
    return TOOL_EXIT_USAGE;
  }
  if (o->uris == NULL || o->uris[0] == '\0') {
    tool_warn("%s URI[,URI...] is required", replica ? "--from" : "--to");
    usage(stderr);
    return TOOL_EXIT_USAGE;
  }
  o->dir = argv[optind];
  return -1;
}

int
tool_cmd_mirror(int argc, char **argv)
{
  struct tool_mirror_opts o;
  int rc = parse(&o, argc, argv, false, usage_mirror);

  return rc >= 0 ? rc : tool_mirror_run(&o);
}

int
tool_cmd_replica(int argc, char **argv)
{
  struct tool_mirror_opts o;
  int rc = parse(&o, argc, argv, true, usage_replica);

  return rc >= 0 ? rc : tool_mirror_run(&o);
}

/*
 * opts.c -- the one option vocabulary of the subcommands, parsed with
 * getopt_long: each command names the options it accepts, and an option
 * means the same wherever it is accepted.
 *
 *   --queue Q        a queue, repeatable; Q as printed (escaped) or raw
 *   --from P         positions >= P (inclusive)
 *   --to P           positions < P (exclusive, as mrlog_range)
 *   -n, --last N     only the last N records (of each queue)
 *   --max N          stop after N records
 *   -f, --follow     wait for new records
 *   --json           JSON output (dump, tail: --format json)
 *   -F, --format F   text, hex or json
 *   --since T, --until T   record times (times.c)
 *   -q, --quiet      no messages on stderr but errors
 *   -h, --help
 *
 * mirror and replica parse their own table (cmd_mirror.c): there --to and
 * --from name brokers and --queues takes a glob.
 *
 * Invariants:
 *  1. An option a command does not accept is a usage error (64) naming
 *     the command, like an unknown one.
 *  2. tool_unescape inverts the text escaping of json.c (\\ \n \r \t
 *     \xHH) and the JSON one (\u00HH), so a name copied from any output
 *     selects the same queue; a backslash before anything else stays a
 *     backslash, so most raw names pass through unchanged.
 */
#include "tool.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const struct option longopts[] = {
  { "queue", required_argument, NULL, TOOL_OPT_QUEUE },
  { "from", required_argument, NULL, TOOL_OPT_FROM },
  { "to", required_argument, NULL, TOOL_OPT_TO },
  { "last", required_argument, NULL, 'n' },
  { "max", required_argument, NULL, TOOL_OPT_MAX },
  { "follow", no_argument, NULL, 'f' },
  { "json", no_argument, NULL, TOOL_OPT_JSON },
  { "format", required_argument, NULL, 'F' },
  { "since", required_argument, NULL, TOOL_OPT_SINCE },
  { "until", required_argument, NULL, TOOL_OPT_UNTIL },
  { "quiet", no_argument, NULL, 'q' },
  { "help", no_argument, NULL, 'h' },
  { NULL, 0, NULL, 0 },
};

static int
hexval(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

char *
tool_unescape(const char *s)
{
  char *out = tool_xmalloc(strlen(s) + 1), *o = out;
  int hi, lo;

  while (*s != '\0') {
    if (s[0] != '\\') {
      *o++ = *s++;
      continue;
    }
    switch (s[1]) {
    case '\\': *o++ = '\\'; s += 2; continue;
    case 'n': *o++ = '\n'; s += 2; continue;
    case 'r': *o++ = '\r'; s += 2; continue;
    case 't': *o++ = '\t'; s += 2; continue;
    case 'x':
      hi = hexval(s[2]);
      lo = hi < 0 ? -1 : hexval(s[3]);
      if (lo >= 0 && (hi | lo) != 0) {
        *o++ = (char)(hi << 4 | lo);
        s += 4;
        continue;
      }
      break;
    case 'u':
      if (s[2] == '0' && s[3] == '0' && (hi = hexval(s[4])) >= 0 &&
          (lo = hexval(s[5])) >= 0 && (hi | lo) != 0) {
        *o++ = (char)(hi << 4 | lo);
        s += 6;
        continue;
      }
      break;
    default: break;
    }
    *o++ = *s++; /* invariant 2: a lone backslash */
  }
  *o = '\0';
  return out;
}

static bool
parse_count(const char *opt, const char *s, uint64_t *out)
{
  if (tool_parse_u64(s, out))
    return true;
  tool_warn("%s: not a %s: %s", opt,
            strcmp(opt, "--from") == 0 || strcmp(opt, "--to") == 0
                ? "position" : "count", s);
  return false;
}

void
tool_opts_init(struct tool_opts *o)
{
  memset(o, 0, sizeof(*o));
  o->filter = TOOL_FILTER_ALL;
  o->format = TOOL_FORMAT_TEXT;
  o->max = UINT64_MAX;
}

void
tool_opts_free(struct tool_opts *o)
{
  size_t i;

  for (i = 0; i < o->nqueues; i++)
    free(o->queues[i]);
  free(o->queues);
  o->queues = NULL;
  o->nqueues = 0;
}

int
tool_opts_parse(struct tool_opts *o, int argc, char **argv, unsigned accept,
                void (*usage)(FILE *out))
{
  int c;

  while ((c = getopt_long(argc, argv, "n:fF:qh", longopts, NULL)) != -1) {
    unsigned bit;

    switch (c) {
    case TOOL_OPT_QUEUE: bit = TOOL_ACCEPT_QUEUE; break;
    case TOOL_OPT_FROM: case TOOL_OPT_TO: bit = TOOL_ACCEPT_RANGE; break;
    case 'n': bit = TOOL_ACCEPT_LAST; break;
    case TOOL_OPT_MAX: bit = TOOL_ACCEPT_MAX; break;
    case 'f': bit = TOOL_ACCEPT_FOLLOW; break;
    case TOOL_OPT_JSON: bit = TOOL_ACCEPT_JSON; break;
    case 'F': bit = TOOL_ACCEPT_FORMAT; break;
    case TOOL_OPT_SINCE: case TOOL_OPT_UNTIL: bit = TOOL_ACCEPT_TIME; break;
    case 'q': bit = 0; break;
    case 'h': usage(stdout); return TOOL_EXIT_OK;
    default: usage(stderr); return TOOL_EXIT_USAGE;
    }
    if (bit != 0 && (accept & bit) == 0) { /* invariant 1 */
      tool_warn("option '%s' does not apply to this command",
                argv[optind - 1]);
      usage(stderr);
      return TOOL_EXIT_USAGE;
    }
    switch (c) {
    case TOOL_OPT_QUEUE:
      o->queues = tool_xrealloc(o->queues,
                                (o->nqueues + 1) * sizeof(*o->queues));
      o->queues[o->nqueues++] = tool_unescape(optarg);
      break;
    case TOOL_OPT_FROM:
      if (!parse_count("--from", optarg, &o->filter.from))
        return TOOL_EXIT_USAGE;
      break;
    case TOOL_OPT_TO:
      if (!parse_count("--to", optarg, &o->filter.to))
        return TOOL_EXIT_USAGE;
      break;
    case 'n':
      if (!parse_count("--last", optarg, &o->last))
        return TOOL_EXIT_USAGE;
      o->has_last = true;
      break;
    case TOOL_OPT_MAX:
      if (!parse_count("--max", optarg, &o->max))
        return TOOL_EXIT_USAGE;
      break;
    case 'f': o->follow = true; break;
    case TOOL_OPT_JSON: o->json = true; o->format = TOOL_FORMAT_JSON; break;
    case 'F':
      if (!tool_parse_format(optarg, &o->format)) {
        tool_warn("--format: expected text, hex or json, not %s", optarg);
        return TOOL_EXIT_USAGE;
      }
      break;
    case TOOL_OPT_SINCE:
      if (!tool_parse_time("--since", optarg, &o->filter.since))
        return TOOL_EXIT_USAGE;
      break;
    case TOOL_OPT_UNTIL:
      if (!tool_parse_time("--until", optarg, &o->filter.until))
        return TOOL_EXIT_USAGE;
      o->filter.has_until = true;
      break;
    case 'q': o->quiet = true; break;
    }
  }
  return -1;
}

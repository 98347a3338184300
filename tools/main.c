/*
 * main.c -- the `mrlog` command: --help, --version, and dispatch to one
 * subcommand (git and sqlite3 style), each in its own cmd_*.c.
 *
 * stat, dump, verify and tail are read-only inspectors of a log directory:
 * none takes the log's lock or writes anything (scan.c, view.c); salvage
 * writes only its new log, DST; bench runs the benchmark suite; mirror
 * and replica open a log for writing, take its lock and run
 * libmrlog_mirror on it (mirror_run.c).  Exit codes are listed in tool.h
 * and documented in mrlog(1).
 */
#include "tool.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct command {
  const char *name;
  int (*run)(int argc, char **argv);
};

static const struct command commands[] = {
  { "stat", tool_cmd_stat },
  { "dump", tool_cmd_dump },
  { "verify", tool_cmd_verify },
  { "tail", tool_cmd_tail },
  { "salvage", tool_cmd_salvage },
  { "bench", tool_cmd_bench },
  { "mirror", tool_cmd_mirror },
  { "replica", tool_cmd_replica },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *out)
{
  fputs("usage: mrlog [--version] [--help] COMMAND [ARGS]\n"
        "Inspects an mrlog log directory without changing it (no lock "
        "taken);\n"
        "mirror and replica ship a log to RabbitMQ and back "
        "(libmrlog_mirror).\n"
        "commands:\n"
        "  stat DIR             segments, queues, totals, tail, holder\n"
        "  dump DIR             the records mrlog_open would recover\n"
        "  verify DIR           check every frame and checksum "
        "(exit 0, 1 or 2)\n"
        "  tail DIR --queue Q   a queue's records; --follow for new ones\n"
        "  salvage SRC DST      copy every readable record into a new log\n"
        "  bench [ARGS]         run the benchmark suite (mrlog-bench)\n"
        "  mirror DIR --to URI  ship the log's durable records to RabbitMQ;\n"
        "                       --once: until all are confirmed\n"
        "  replica DIR --from URI  append the mirrored records to the log "
        "in DIR\n"
        "  help COMMAND         the options of a command\n"
        "Exit status: 0 success; 1 verify: torn tail only, dump/tail: no "
        "such queue;\n"
        "2 damaged (dump, tail, salvage: after printing what is readable); "
        "64 usage;\n"
        "65 unsupported format version; 66 not a readable log directory; "
        "69 mrlog-bench\n"
        "not found, or mirror, replica: built without librabbitmq; 71 "
        "system error;\n"
        "73 salvage: DST not empty; 74 read error; 75 mirror: records left "
        "unconfirmed,\n"
        "mirror, replica: the log is held by another process.\n"
        "See mrlog(1).\n", out);
}

static const struct command *
find(const char *name)
{
  size_t i;

  for (i = 0; i < N_COMMANDS; i++)
    if (strcmp(commands[i].name, name) == 0)
      return &commands[i];
  return NULL;
}

int
main(int argc, char **argv)
{
  static char prog[32];
  const struct command *cmd;
  char *help_argv[4];
  int rc;

  if (argc < 2) {
    usage(stderr);
    return TOOL_EXIT_USAGE;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(stdout);
    return TOOL_EXIT_OK;
  }
  if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
    printf("mrlog %s\n", mrlog_version_string());
    return TOOL_EXIT_OK;
  }
  if (strcmp(argv[1], "help") == 0) {
    if (argc == 2) {
      usage(stdout);
      return TOOL_EXIT_OK;
    }
    /* `mrlog help CMD` is `mrlog CMD --help`. */
    help_argv[0] = argv[0];
    help_argv[1] = argv[2];
    help_argv[2] = (char *)"--help";
    help_argv[3] = NULL;
    argv = help_argv;
    argc = 3;
  }
  cmd = find(argv[1]);
  if (cmd == NULL) {
    tool_warn("unknown command '%s'", argv[1]);
    usage(stderr);
    return TOOL_EXIT_USAGE;
  }
  snprintf(prog, sizeof(prog), "mrlog %s", cmd->name);
  tool_prog = prog;
  argv[1] = prog; /* getopt's messages name the command */
  optind = 1;
  rc = cmd->run(argc - 1, argv + 1);
  /* For tests/tool_test.sh: the I/O a command did, a count, not a time. */
  if (getenv("MRLOG_TOOL_COUNT_READS") != NULL)
    fprintf(stderr, "%s: read %llu bytes of segment files, checked %llu "
            "frames\n", prog, (unsigned long long)tool_bytes_read,
            (unsigned long long)tool_frame_checks);
  return rc;
}

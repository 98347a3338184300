/*
 * cmd_bench.c -- `mrlog bench [ARGS]`: runs the benchmark suite,
 * mrlog-bench, with the remaining arguments (`mrlog bench --help` shows
 * its help).  The program replaces this process (exec), so its output and
 * exit status are mrlog-bench's own.
 *
 * Where it is looked for, in order:
 *   1. $MRLOG_BENCH, if set and not empty;
 *   2. the installed copy, $(pkglibexecdir)/mrlog-bench
 *      (MRLOG_BENCH_INSTALLED, defined by tools/tools.mk);
 *   3. the copy in the build tree this mrlog was built in
 *      (MRLOG_BENCH_BUILD, an absolute path, also from tools/tools.mk).
 * None found: a message naming the places, exit 69.
 */
#include "tool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef MRLOG_BENCH_INSTALLED
#define MRLOG_BENCH_INSTALLED "/usr/local/libexec/mrlog/mrlog-bench"
#endif
#ifndef MRLOG_BENCH_BUILD
#define MRLOG_BENCH_BUILD ""
#endif

int
tool_cmd_bench(int argc, char **argv)
{
  const char *env = getenv("MRLOG_BENCH");
  const char *path;

  (void)argc;
  if (env != NULL && env[0] != '\0')
    path = env;
  else if (access(MRLOG_BENCH_INSTALLED, X_OK) == 0)
    path = MRLOG_BENCH_INSTALLED;
  else if (MRLOG_BENCH_BUILD[0] != '\0' && access(MRLOG_BENCH_BUILD, X_OK) == 0)
    path = MRLOG_BENCH_BUILD;
  else
    tool_die(TOOL_EXIT_UNAVAILABLE, "mrlog-bench not found: not at %s%s%s; "
             "install mrlog or set MRLOG_BENCH to its path",
             MRLOG_BENCH_INSTALLED, MRLOG_BENCH_BUILD[0] ? " nor at " : "",
             MRLOG_BENCH_BUILD);
  argv[0] = (char *)path;
  fflush(stdout);
  execv(path, argv);
  tool_die(TOOL_EXIT_UNAVAILABLE, "cannot run %s: %s", path, strerror(errno));
}

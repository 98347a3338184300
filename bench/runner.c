/*
 * runner.c -- fork-per-run: every workload runs in a child process that
 * sends its struct bench_result back through a pipe.
 *
 * Invariants:
 *   1. The parent has no threads when it forks (it never starts any), so
 *      the child starts with consistent locks and a single thread.
 *   2. The child writes its result once, in one write() of a struct smaller
 *      than PIPE_BUF, so the parent reads either the whole result or
 *      nothing (a crash before the write).
 *   3. peak_rss_bytes and cpu_s come from wait4 on that child only, so
 *      they cover exactly one run (the parent's own RSS is not included,
 *      except the pages the child inherited and touched).
 *   4. A child that runs longer than timeout_s is killed by its own alarm
 *      (SIGALRM's default action), so a hung library cannot hang the suite.
 *   5. Before each fork the parent syncs every filesystem, outside any
 *      timing, so no run pays for the writeback of the data an earlier run
 *      (often another engine's) left dirty.
 */
#include "harness.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

_Static_assert(sizeof(struct bench_result) <= PIPE_BUF,
               "a result must fit in one atomic pipe write");

static double
tv_s(struct timeval tv)
{
  return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

void
bench_run_forked(bench_child_fn fn, void *arg, unsigned timeout_s,
                 struct bench_result *result)
{
  struct bench_result sent;
  struct rusage ru;
  int fds[2], status = 0;
  ssize_t n;
  pid_t pid;

  fflush(stdout);
  fflush(stderr);
  sync(); /* invariant 5 */
  if (pipe(fds) != 0) {
    bench_result_fail(result, "pipe: %s", strerror(errno));
    return;
  }
  pid = fork();
  if (pid < 0) {
    bench_result_fail(result, "fork: %s", strerror(errno));
    close(fds[0]);
    close(fds[1]);
    return;
  }
  if (pid == 0) {
    close(fds[0]);
    alarm(timeout_s);
    fn(arg, result);
    n = write(fds[1], result, sizeof(*result));
    _exit(n == (ssize_t)sizeof(*result) ? 0 : 1);
  }
  close(fds[1]);
  do
    n = read(fds[0], &sent, sizeof(sent));
  while (n < 0 && errno == EINTR);
  close(fds[0]);
  while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
    ;
  if (n == (ssize_t)sizeof(sent)) {
    *result = sent;
  } else if (WIFSIGNALED(status)) {
    bench_result_fail(result, "child killed by signal %d (%s)%s",
                      WTERMSIG(status), strsignal(WTERMSIG(status)),
                      WTERMSIG(status) == SIGALRM ? ": run timed out" : "");
  } else {
    bench_result_fail(result, "child exited with status %d, no result",
                      WEXITSTATUS(status));
  }
  /* Linux reports ru_maxrss in KiB. */
  result->peak_rss_bytes = (uint64_t)ru.ru_maxrss * 1024u;
  result->cpu_s = tv_s(ru.ru_utime) + tv_s(ru.ru_stime);
}

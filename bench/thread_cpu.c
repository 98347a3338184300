/*
 * thread_cpu.c -- CPU time per thread of this process, to name the thread
 * that bounds a run: a workload whose busiest thread is on a core for
 * nearly all of the run is limited by that thread (a serial stage), not by
 * the machine's cores.
 *
 * A snapshot reads /proc/self/task/<tid>/schedstat (its first two fields:
 * the nanoseconds the thread has run, and those it has waited runnable on
 * a run queue for a core, kept by the scheduler to the nanosecond, unlike
 * the clock ticks of /proc/.../stat) and comm for every thread.  So the
 * busiest thread's window splits into running, waiting for a core (the
 * machine's cores are the limit) and the rest (it slept: waiting for
 * work).  bench_thread_cpu_busiest compares two snapshots.
 *
 * Invariants:
 *   1. A snapshot holds at most BENCH_THREADS_MAX threads; more are left
 *      out and counted in dropped (so a report can say it is partial).
 *   2. A thread missing from the earlier snapshot started after it: its
 *      whole run time counts.  One missing from the later snapshot had
 *      exited and is not counted, so a workload takes the later snapshot
 *      before it joins its own threads (wl_common.c wl_timed_end).
 */
#include "harness.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads the first line of /proc/self/task/<tid>/<file> into buf. */
static int
read_task_file(const char *tid, const char *file, char *buf, size_t size)
{
  char path[64];
  FILE *f;
  int ok;

  snprintf(path, sizeof(path), "/proc/self/task/%s/%s", tid, file);
  f = fopen(path, "r");
  if (f == NULL)
    return -1;
  ok = fgets(buf, (int)size, f) != NULL;
  fclose(f);
  return ok ? 0 : -1;
}

void
bench_thread_cpu_snapshot(struct bench_thread_cpu *s)
{
  struct dirent *de;
  DIR *d = opendir("/proc/self/task");
  char line[128];
  unsigned long long ran, waited;

  s->n = 0;
  s->dropped = 0;
  s->at_ns = bench_now_ns();
  if (d == NULL)
    return;
  while ((de = readdir(d)) != NULL) {
    struct bench_thread_cpu_one *t;

    if (de->d_name[0] < '0' || de->d_name[0] > '9')
      continue;
    if (read_task_file(de->d_name, "schedstat", line, sizeof(line)) != 0 ||
        sscanf(line, "%llu %llu", &ran, &waited) != 2)
      continue;
    if (s->n == BENCH_THREADS_MAX) {
      s->dropped++;
      continue;
    }
    t = &s->t[s->n++];
    t->tid = atoi(de->d_name);
    t->ran_ns = ran;
    t->waited_ns = waited;
    if (read_task_file(de->d_name, "comm", t->name, sizeof(t->name)) != 0)
      snprintf(t->name, sizeof(t->name), "?");
    t->name[strcspn(t->name, "\n")] = '\0';
  }
  closedir(d);
}

int
bench_thread_cpu_busiest(const struct bench_thread_cpu *before,
                         const struct bench_thread_cpu *after, char *name,
                         size_t name_size, double *cpu_s, double *wait_s,
                         double *window_s)
{
  uint64_t best = 0, best_wait = 0, ran, base, wait_base;
  int found = 0;
  size_t i, j;

  for (i = 0; i < after->n; i++) {
    base = wait_base = 0;
    for (j = 0; j < before->n; j++)
      if (before->t[j].tid == after->t[i].tid) {
        base = before->t[j].ran_ns;
        wait_base = before->t[j].waited_ns;
        break;
      }
    ran = after->t[i].ran_ns > base ? after->t[i].ran_ns - base : 0;
    if (!found || ran > best) {
      best = ran;
      best_wait = after->t[i].waited_ns > wait_base
                      ? after->t[i].waited_ns - wait_base
                      : 0;
      found = 1;
      snprintf(name, name_size, "%s", after->t[i].name);
    }
  }
  if (!found || after->at_ns <= before->at_ns)
    return -1;
  *cpu_s = (double)best / 1e9;
  *wait_s = (double)best_wait / 1e9;
  *window_s = (double)(after->at_ns - before->at_ns) / 1e9;
  return 0;
}

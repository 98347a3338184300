/*
 * holder.c -- tells whether a live process holds the log open, without
 * taking any lock.
 *
 * mrlog_open holds DIR/LOCK with flock(LOCK_EX) for as long as the log is
 * open (FORMAT.md section 2).  Trying that lock, even briefly or shared,
 * could make a concurrent mrlog_open fail with MRLOG_ELOCKED, so instead
 * the kernel's table of locks, /proc/locks, is searched for an FLOCK entry
 * on the LOCK file's device and inode.
 *
 * Invariants:
 *  1. Nothing is opened for writing and nothing is created: LOCK is only
 *     stat'ed; if it is missing, nobody holds the log.
 *  2. A lock entry exists only while an open file description holds the
 *     lock, so a match means a live holder (the pid is the process that
 *     took it).  Waiters ("->" entries) are not holders.
 *  3. Some stacked filesystems report another device in /proc/locks than
 *     stat does; an entry that matches the inode only counts if that
 *     process has the LOCK file open (its /proc/PID/fd links).
 */
#include "tool.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* True if process pid has path open (invariant 3). */
static bool
has_open(long pid, const char *path)
{
  char fds[64], link[PATH_MAX + 32], target[PATH_MAX];
  struct dirent *e;
  bool found = false;
  DIR *d;
  ssize_t n;

  snprintf(fds, sizeof(fds), "/proc/%ld/fd", pid);
  d = opendir(fds);
  if (d == NULL)
    return false;
  while (!found && (e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    snprintf(link, sizeof(link), "%s/%s", fds, e->d_name);
    n = readlink(link, target, sizeof(target) - 1);
    if (n <= 0)
      continue;
    target[n] = '\0';
    found = strcmp(target, path) == 0;
  }
  closedir(d);
  return found;
}

long
tool_lock_holder(int dir_fd, const char *dir_path)
{
  char line[512], type[32], arrow[8], path[PATH_MAX], *real;
  unsigned maj, mnr;
  unsigned long long ino;
  long pid, found = 0, inode_only = 0;
  struct stat st;
  FILE *locks;

  if (fstatat(dir_fd, "LOCK", &st, 0) != 0)
    return 0; /* invariant 1: no LOCK, no holder */
  locks = fopen("/proc/locks", "re");
  if (locks == NULL)
    return -1;
  while (found == 0 && fgets(line, sizeof(line), locks) != NULL) {
    /* "1: FLOCK  ADVISORY  WRITE 1234 fe:00:1057 0 EOF", or with "->"
     * after the number for a waiter. */
    if (sscanf(line, "%*[^:]: %7s", arrow) != 1 ||
        strcmp(arrow, "->") == 0)
      continue;
    if (sscanf(line, "%*[^:]: %31s %*s %*s %ld %x:%x:%llu", type, &pid, &maj,
               &mnr, &ino) != 5 ||
        strcmp(type, "FLOCK") != 0 || ino != (unsigned long long)st.st_ino)
      continue;
    if (maj == major(st.st_dev) && mnr == minor(st.st_dev))
      found = pid;
    else if (inode_only == 0)
      inode_only = pid;
  }
  fclose(locks);
  if (found != 0 || inode_only == 0)
    return found;
  real = realpath(dir_path, NULL);
  if (real == NULL)
    return 0;
  snprintf(path, sizeof(path), "%s/LOCK", real);
  free(real);
  return has_open(inode_only, path) ? inode_only : 0;
}

void
tool_holder_describe(char *buf, size_t n, long holder)
{
  if (holder > 0)
    snprintf(buf, n, "held by a running process (pid %ld)", holder);
  else if (holder == 0)
    snprintf(buf, n, "not held (no process has it open)");
  else
    snprintf(buf, n, "unknown (/proc/locks cannot be read)");
}

void
tool_holder_json(FILE *out, long holder)
{
  fprintf(out, "  \"held\": %s,\n", holder > 0 ? "true" : "false");
  if (holder > 0)
    fprintf(out, "  \"holder_pid\": %ld,\n", holder);
  else
    fputs("  \"holder_pid\": null,\n", out);
}

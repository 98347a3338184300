/*
 * dir.c -- the log's directory at open: creating it (and, with
 * policy.create_parents, its missing parents), opening it, and turning
 * the OS's refusals into statuses that say what happened.
 *
 * Runs on the opener's thread only, before any library thread exists.
 *
 * Invariants:
 *  1. Every directory mrlog_open creates is durable before it returns:
 *     after each mkdir the directory holding the new entry is fsynced
 *     (through the I/O seam), parents before children.
 *  2. Every OS failure here is reported through log_fn with the call, the
 *     path it was given and strerror's text, and maps to one status:
 *     EACCES, EPERM and EROFS are MRLOG_EACCES, ENOENT is MRLOG_ENOENT,
 *     ENOTDIR is MRLOG_EINVAL, anything else mrlog__status_from_errno's.
 *     None of them says the log failed: it never opened.
 */
#include "internal.h"
#include "dir.h"
#include "segment.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR_MODE 0755

int
mrlog__dir_status(int err)
{
  switch (err) {
  case EACCES:
  case EPERM:
  case EROFS:
    return MRLOG_EACCES;
  case ENOENT:
    return MRLOG_ENOENT;
  case ENOTDIR:
    return MRLOG_EINVAL;
  default:
    return mrlog__status_from_errno(err);
  }
}

int
mrlog__dir_fail(struct mrlog *log, const char *call, const char *path,
                int err)
{
  int status = mrlog__dir_status(err);
  /* Room for two whole paths: mrlog__logf's buffer could cut the OS's
   * message off a long one. */
  char msg[2 * 4096 + 256];

  if (log->policy.log_fn == NULL)
    return status;
  if (strcmp(path, log->dir) == 0)
    snprintf(msg, sizeof(msg), "mrlog_open %s: %s: %s (%s)", path, call,
             strerror(err), mrlog_err_name(status));
  else
    snprintf(msg, sizeof(msg), "mrlog_open %s: %s %s: %s (%s)", log->dir,
             call, path, strerror(err), mrlog_err_name(status));
  log->policy.log_fn(log->policy.log_arg, MRLOG_LOG_ERROR, msg);
  return status;
}

void
mrlog__open_report(struct mrlog *log, const char *dir, const char *what,
                   int status)
{
  char msg[4096 + 256];

  if (log->policy.log_fn == NULL)
    return;
  snprintf(msg, sizeof(msg), "mrlog_open %s: %s: %s (%s)", dir, what,
           mrlog_strerror(status), mrlog_err_name(status));
  log->policy.log_fn(log->policy.log_arg, MRLOG_LOG_ERROR, msg);
}

int
mrlog__dir_open(struct mrlog *log, const char *path)
{
  if (log->io->open_dir != NULL)
    return log->io->open_dir(log->io->ctx, path);
  return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static int
dir_mkdir(struct mrlog *log, const char *path)
{
  if (log->io->mkdir != NULL)
    return log->io->mkdir(log->io->ctx, path, DIR_MODE);
  return mkdir(path, DIR_MODE);
}

/* The directory holding path's last component, in a new string ("." for
 * a bare name, "/" for a name under the root); NULL on ENOMEM. */
static char *
parent_of(const char *path)
{
  char *parent = strdup(path);
  size_t len;
  char *slash;

  if (parent == NULL)
    return NULL;
  len = strlen(parent);
  while (len > 1 && parent[len - 1] == '/')
    parent[--len] = '\0';
  slash = strrchr(parent, '/');
  if (slash == NULL) {
    strcpy(parent, ".");
  } else {
    while (slash > parent && slash[-1] == '/')
      slash--;
    if (slash == parent)
      parent[1] = '\0';
    else
      *slash = '\0';
  }
  return parent;
}

/* Makes the entry just created at path durable: fsyncs its parent. */
static int
sync_parent(struct mrlog *log, const char *path)
{
  char *parent = parent_of(path);
  int fd, rc = 0;

  if (parent == NULL)
    return MRLOG_ENOMEM;
  fd = mrlog__dir_open(log, parent);
  if (fd < 0) {
    rc = mrlog__dir_fail(log, "open", parent, errno);
  } else {
    while (log->io->fsync(log->io->ctx, fd) != 0) {
      if (errno != EINTR) {
        rc = mrlog__dir_fail(log, "fsync", parent, errno);
        break;
      }
    }
    close(fd);
  }
  free(parent);
  return rc;
}

/* Creates path if missing; with parents, its missing ancestors first
 * (depth-first, so each level's parent exists when it is made). */
static int
make_dir(struct mrlog *log, const char *path, bool parents, int depth)
{
  char *parent;
  int rc;

  if (dir_mkdir(log, path) == 0)
    return sync_parent(log, path); /* invariant 1 */
  if (errno == EEXIST)
    return 0; /* a file there is found by the open (ENOTDIR) */
  if (errno != ENOENT || !parents || depth > 4096)
    return mrlog__dir_fail(log, "mkdir", path, errno);
  parent = parent_of(path);
  if (parent == NULL)
    return MRLOG_ENOMEM;
  rc = strcmp(parent, path) == 0 ? mrlog__dir_fail(log, "mkdir", path, ENOENT)
                                 : make_dir(log, parent, true, depth + 1);
  free(parent);
  if (rc != 0)
    return rc;
  if (dir_mkdir(log, path) == 0)
    return sync_parent(log, path);
  if (errno == EEXIST)
    return 0; /* another opener made it meanwhile */
  return mrlog__dir_fail(log, "mkdir", path, errno);
}

int
mrlog__dir_create(struct mrlog *log, const char *dir)
{
  return make_dir(log, dir, log->policy.create_parents != 0, 0);
}

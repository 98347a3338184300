/*
 * file.c -- one segment file, read through a window of TOOL_WINDOW bytes at
 * a snapshot size.
 *
 * Invariants:
 *  1. The file is opened O_RDONLY and only ever read with pread: the tool
 *     changes nothing, and never maps the file (a writer that cuts its
 *     zero-filled room with ftruncate would turn a mapping into SIGBUS).
 *  2. The size is taken once, when the file is opened; no byte at or past
 *     it is read, so a file that grows while it is read is seen at one
 *     consistent length.
 *  3. A read that comes back short means the file shrank under us (a
 *     writer cut its zero-filled room): the snapshot is lowered to what was
 *     there and `shrank` is set; that is not an error.  Any other failing
 *     read ends the program with TOOL_EXIT_IOERR.
 *  4. The window holds bytes exactly as read, of the snapshot: a file is
 *     read once per command, so bytes that change later (zeros that a
 *     writer overwrites with a frame) are never mixed with older ones.
 *  5. At most WINDOWS_MAX windows exist at once: allocating one more frees
 *     the least recently used.  So a pointer from tool_file_get is valid
 *     only until the next tool_file_get on any file, and memory stays
 *     bounded however many segments hold retained records, while replay
 *     and dump, which go back to a few files often, still find their
 *     bytes in memory.
 */
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WINDOWS_MAX 8

uint64_t tool_bytes_read;

/* Files that have a window, least recently used first (invariant 5). */
static struct tool_file *windows[WINDOWS_MAX];
static size_t nwindows;

static void
forget(struct tool_file *f)
{
  size_t i;

  for (i = 0; i < nwindows && windows[i] != f; i++)
    ;
  if (i == nwindows)
    return;
  memmove(windows + i, windows + i + 1,
          (nwindows - i - 1) * sizeof(*windows));
  nwindows--;
}

/* Marks f's window as the most recently used one. */
static void
touch(struct tool_file *f)
{
  if (nwindows > 0 && windows[nwindows - 1] == f)
    return;
  forget(f);
  if (nwindows == WINDOWS_MAX) {
    struct tool_file *old = windows[0];

    forget(old);
    free(old->buf);
    old->buf = NULL;
    old->buf_len = 0;
  }
  windows[nwindows++] = f;
}

int
tool_file_open(struct tool_file *f, int dir_fd, const char *name)
{
  struct stat st;

  memset(f, 0, sizeof(*f));
  f->name = name;
  f->fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (f->fd < 0)
    return errno;
  if (fstat(f->fd, &st) != 0) {
    int e = errno;

    close(f->fd);
    f->fd = -1;
    return e;
  }
  f->size = (uint64_t)st.st_size;
  f->mtime_ms = (uint64_t)st.st_mtim.tv_sec * 1000u +
                (uint64_t)st.st_mtim.tv_nsec / 1000000u;
  return 0;
}

const uint8_t *
tool_file_get(struct tool_file *f, uint64_t off, size_t len)
{
  size_t want, got = 0;
  ssize_t n;

  if (len > TOOL_WINDOW || off > f->size || len > f->size - off || f->fd < 0)
    return NULL;
  if (f->buf != NULL && off >= f->buf_off &&
      off + len <= f->buf_off + f->buf_len) {
    touch(f);
    return f->buf + (off - f->buf_off);
  }
  touch(f); /* before the allocation: it may free another window */
  if (f->buf == NULL)
    f->buf = tool_xmalloc(TOOL_WINDOW);
  want = f->size - off < TOOL_WINDOW ? (size_t)(f->size - off) : TOOL_WINDOW;
  while (got < want) {
    n = pread(f->fd, f->buf + got, want - got, (off_t)(off + got));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      tool_die(TOOL_EXIT_IOERR, "%s: read at offset %llu: %s", f->name,
               (unsigned long long)(off + got), strerror(errno));
    if (n == 0)
      break;
    got += (size_t)n;
  }
  tool_bytes_read += got;
  f->buf_off = off;
  f->buf_len = got;
  if (got < want) { /* invariant 3 */
    f->size = off + got;
    f->shrank = true;
    if (len > got)
      return NULL;
  }
  return f->buf;
}

void
tool_file_release(struct tool_file *f)
{
  forget(f);
  free(f->buf);
  f->buf = NULL;
  f->buf_len = 0;
}

void
tool_file_close(struct tool_file *f)
{
  tool_file_release(f);
  tool_witness_free(f);
  if (f->fd >= 0)
    close(f->fd);
  f->fd = -1;
}

/*
 * segment.c -- segment files as the tool sees them: names (FORMAT.md
 * section 2), the sorted listing of a directory, and the lifetime of each
 * segment's descriptor.
 *
 * Invariants:
 *  1. A name is a segment only if it is 22 bytes, 16 lowercase hex digits
 *     then ".mrlog"; everything else in the directory (LOCK, *.corrupt,
 *     foreign files) is ignored.
 *  2. A segment's file stays open while any of its records is retained or
 *     while it is being scanned: a segment the cleaner deletes afterwards
 *     can still be read through the descriptor, so what the tool prints is
 *     one consistent snapshot.  Once neither holds, it is closed.
 */
#include "tool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *
tool_seg_state_str(enum tool_seg_state s)
{
  switch (s) {
  case TOOL_SEG_OK: return "ok";
  case TOOL_SEG_ZERO_ROOM: return "zero_room";
  case TOOL_SEG_TORN_TAIL: return "torn_tail";
  case TOOL_SEG_HEADER_TORN: return "torn_header";
  case TOOL_SEG_BEING_WRITTEN: return "being_written";
  case TOOL_SEG_BEING_CREATED: return "being_created";
  case TOOL_SEG_CORRUPT: return "corrupt";
  case TOOL_SEG_VANISHED: return "vanished";
  case TOOL_SEG_VERSION: return "unsupported_version";
  }
  return "?";
}

bool
tool_segment_parse_name(const char *name, uint64_t *segno)
{
  uint64_t v = 0;
  int i;

  if (strlen(name) != MRLOG_SEGMENT_NAME_LEN ||
      strcmp(name + 16, MRLOG_SEGMENT_SUFFIX) != 0)
    return false;
  for (i = 0; i < 16; i++) {
    char c = name[i];

    if (c >= '0' && c <= '9')
      v = v << 4 | (uint64_t)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v = v << 4 | (uint64_t)(c - 'a' + 10);
    else
      return false;
  }
  *segno = v;
  return true;
}

static int
cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

  return x < y ? -1 : x > y;
}

int
tool_segment_list(int dir_fd, uint64_t **segnos, size_t *count)
{
  uint64_t *v = NULL, segno;
  size_t n = 0, cap = 0;
  struct dirent *e;
  DIR *d;
  int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  *segnos = NULL;
  *count = 0;
  if (fd < 0)
    return errno;
  d = fdopendir(fd);
  if (d == NULL) {
    int err = errno;

    close(fd);
    return err;
  }
  errno = 0;
  while ((e = readdir(d)) != NULL) {
    if (!tool_segment_parse_name(e->d_name, &segno))
      continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 16;
      v = tool_xrealloc(v, cap * sizeof(*v));
    }
    v[n++] = segno;
    errno = 0;
  }
  if (errno != 0) {
    int err = errno;

    closedir(d);
    free(v);
    return err;
  }
  closedir(d);
  if (n > 0)
    qsort(v, n, sizeof(*v), cmp_u64);
  *segnos = v;
  *count = n;
  return 0;
}

int
tool_seg_open(int dir_fd, uint64_t segno, struct tool_seg **out)
{
  struct tool_seg *seg = tool_xcalloc(1, sizeof(*seg));
  int err;

  seg->segno = segno;
  snprintf(seg->name, sizeof(seg->name), "%016" PRIx64 "%s", segno,
           MRLOG_SEGMENT_SUFFIX);
  seg->first_frame = seg->last_frame = UINT64_MAX;
  err = tool_file_open(&seg->file, dir_fd, seg->name);
  seg->file.name = seg->name;
  if (err == ENOENT)
    seg->state = TOOL_SEG_VANISHED;
  *out = seg;
  return err;
}

void
tool_seg_free(struct tool_seg *seg)
{
  if (seg == NULL)
    return;
  tool_file_close(&seg->file);
  free(seg);
}

void
tool_seg_unref(struct tool_seg *seg, uint64_t records)
{
  seg->retained -= records;
  if (seg->retained == 0 && !seg->active)
    tool_file_close(&seg->file); /* invariant 2 */
}

void
tool_seg_idle(struct tool_seg *seg)
{
  if (!seg->active)
    tool_file_release(&seg->file);
}

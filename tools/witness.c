/*
 * witness.c -- whether a damaged offset of a segment was durable: some
 * valid frame after it says so with its synced field (docs/FORMAT.md 9.1,
 * 9.2).  The walk asks this for every damaged offset of the last segment,
 * so the answer comes from an index built once per file snapshot.
 *
 * Invariants:
 *  1. The index holds the valid frames at offsets >= from (found by the
 *     byte scan and followed along their chains, as recovery finds them),
 *     reduced to their suffix maxima of synced: offsets ascending, synced
 *     strictly descending.  The first entry past x then holds the largest
 *     synced of every valid frame past x, and a query is a binary search.
 *  2. It is built once, from the first offset asked about; a later query
 *     about an earlier offset rebuilds it from there.  The walk asks in
 *     ascending order, so all queries on one snapshot cost one pass over
 *     the file, however many damaged offsets it has.
 *  3. It belongs to one snapshot: a snapshot that shrank and
 *     tool_file_close drop it (the size it was built at is checked).
 *  4. Its memory is two words per frame kept, bounded by the file's size
 *     (a frame is at least 17 bytes), never by a length read from the file.
 */
#include "tool.h"

#include <stdlib.h>

struct tool_witness {
  uint64_t segno;  /* the segment it was built for */
  uint64_t size;   /* the snapshot size it was built at */
  uint64_t from;   /* frames at offsets >= from are in it */
  uint64_t *off;   /* ascending */
  uint32_t *syn;   /* strictly descending */
  size_t n, cap;
};

void
tool_witness_free(struct tool_file *f)
{
  if (f->witness == NULL)
    return;
  free(f->witness->off);
  free(f->witness->syn);
  free(f->witness);
  f->witness = NULL;
}

static void
push(struct tool_witness *w, uint64_t off, uint32_t synced)
{
  while (w->n > 0 && w->syn[w->n - 1] <= synced)
    w->n--;
  if (w->n == w->cap) {
    w->cap = w->cap ? 2 * w->cap : 16;
    w->off = tool_xrealloc(w->off, w->cap * sizeof(*w->off));
    w->syn = tool_xrealloc(w->syn, w->cap * sizeof(*w->syn));
  }
  w->off[w->n] = off;
  w->syn[w->n] = synced;
  w->n++;
}

static void
build(struct tool_file *f, uint64_t segno, uint64_t from)
{
  struct tool_witness *w;
  struct tool_frame fr;
  uint64_t y = from;

  tool_witness_free(f);
  w = tool_xmalloc(sizeof(*w));
  w->segno = segno;
  w->size = f->size;
  w->from = from;
  w->off = NULL;
  w->syn = NULL;
  w->n = w->cap = 0;
  while ((y = tool_frame_next_valid(f, segno, y, &fr)) < f->size) {
    /* Follow the chain of valid frames; resume the byte scan one byte
     * past where it breaks. */
    do {
      push(w, y, fr.synced);
      y += MRLOG_FRAME_HEADER_SIZE + (uint64_t)fr.body_len;
    } while (tool_frame_check(f, segno, y, &fr) == TOOL_FRAME_OK);
    y++;
  }
  /* A snapshot that shrank while it was scanned: build at its new size. */
  w->size = f->size;
  f->witness = w;
}

bool
tool_frame_witnessed(struct tool_file *f, uint64_t segno, uint64_t x)
{
  struct tool_witness *w = f->witness;
  size_t lo = 0, hi;

  if (w == NULL || w->segno != segno || w->size != f->size ||
      x + 1 < w->from) {
    build(f, segno, x + 1);
    w = f->witness;
  }
  hi = w->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;

    if (w->off[mid] <= x)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < w->n && w->syn[lo] > x;
}

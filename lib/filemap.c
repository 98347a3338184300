/*
 * filemap.c -- the read-only mapping of a segment file whose records are
 * served from it after recovery, instead of being copied into chunks.
 *
 * Recovery maps every segment it replays (segment.c, mrlog__read_file).
 * When the mapping is the file layer's (not a malloc'd copy), the records
 * it stores are "mapped": their chunk (queue.c) keeps only each record's
 * offset and position, and the bytes stay in the file's page cache.  A
 * reopen then neither copies the payload nor zeroes fresh memory for it.
 *
 * Under MRLOG_STORE_MAPPED the writer does the same with what it writes:
 * each hot segment gets a shared read-only window of 4 GiB (every offset
 * a segment can have, FORMAT.md) that the file grows into, and the
 * records of a written frame are stored as offsets in it.
 *
 * Invariants:
 *  1. refs counts the mapped chunks that point into the mapping, plus one
 *     held by recovery while it replays the file.  The last unref unmaps
 *     it, on whichever thread drops it (a reader's unref included).
 *  2. A stored record's bytes are never written again: recovered segments
 *     are never written (the writer starts a new segment at open), the
 *     writer only writes past its offset in the hot one, a recovered last
 *     segment is only ever cut at or after the end of its last valid
 *     frame, and the hot one only past its last frame (its zero-filled
 *     room), so every page a record lies in stays inside the file.  Only
 *     bytes of frames written before the record was stored are read, so a
 *     hot window's reads never go past the file's end.  We hold the
 *     directory's LOCK; another process truncating a segment file under an
 *     open log would make a read of it fault (SIGBUS).
 *  3. The mapping counts in stat_memory (mrlog_stats.memory_bytes), from
 *     map to unmap, for its whole length (recovered) or for the bytes
 *     written into it (hot window, counted by the writer as it writes):
 *     what a record read needs resident.  Its pages are clean page cache: under memory pressure the
 *     kernel may evict them, and a later read faults them back in from
 *     the file (docs/DESIGN.md section 15).
 */
#include "internal.h"
#include "filemap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>

/* A hot window: every offset a segment can have (LSN offsets are u32). */
#define HOT_WINDOW_BYTES ((size_t)1 << 32)

struct mrlog__filemap *
mrlog__filemap_new(struct mrlog *log, const uint8_t *base, size_t len)
{
  struct mrlog__filemap *m = malloc(sizeof(*m));

  if (m == NULL)
    return NULL;
  m->base = base;
  m->len = len;
  m->own_mmap = false;
  m->counted = len;
  atomic_init(&m->refs, 1);
  atomic_fetch_add_explicit(&log->stat_memory, len, memory_order_relaxed);
  return m;
}

struct mrlog__filemap *
mrlog__filemap_hot(struct mrlog *log, const char *name)
{
  const struct mrlog__io *io = log->io;
  struct mrlog__filemap *m = malloc(sizeof(*m));
  void *base;
  int fd, err;

  if (m == NULL)
    return NULL;
  fd = io->openat(io->ctx, log->dir_fd, name, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) {
    err = errno;
    free(m);
    errno = err;
    return NULL;
  }
  base = mmap(NULL, HOT_WINDOW_BYTES, PROT_READ, MAP_SHARED, fd, 0);
  err = errno;
  io->close(io->ctx, fd); /* the mapping keeps the file */
  if (base == MAP_FAILED) {
    free(m);
    errno = err;
    return NULL;
  }
  m->base = base;
  m->len = HOT_WINDOW_BYTES;
  m->own_mmap = true;
  m->counted = 0;
  atomic_init(&m->refs, 1);
  return m;
}

void
mrlog__filemap_count(struct mrlog *log, struct mrlog__filemap *m, size_t n)
{
  m->counted += n;
  atomic_fetch_add_explicit(&log->stat_memory, n, memory_order_relaxed);
}

void
mrlog__filemap_ref(struct mrlog__filemap *m)
{
  atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

void
mrlog__filemap_unref(struct mrlog *log, struct mrlog__filemap *m)
{
  /* acq_rel: the unmapping thread must see every other holder's reads
   * end (as chunk_unref). */
  if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
    return;
  atomic_fetch_sub_explicit(&log->stat_memory, m->counted,
                            memory_order_relaxed);
  if (m->own_mmap)
    munmap((void *)m->base, m->len);
  else
    log->io->unmap(log->io->ctx, (void *)m->base, m->len);
  free(m);
}

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
 * Invariants:
 *  1. refs counts the mapped chunks that point into the mapping, plus one
 *     held by recovery while it replays the file.  The last unref unmaps
 *     it, on whichever thread drops it (a reader's unref included).
 *  2. The bytes are never written: recovered segments are never written
 *     again (the writer starts a new segment at open), and a recovered
 *     last segment is only ever cut at or after the end of its last valid
 *     frame, so every page a record lies in stays inside the file.  We
 *     hold the directory's LOCK; another process truncating a segment
 *     file under an open log would make a read of it fault (SIGBUS).
 *  3. The mapping counts in stat_memory (mrlog_stats.memory_bytes) for
 *     its whole length, from map to unmap: it is what a record read needs
 *     resident.  Its pages are clean page cache: under memory pressure the
 *     kernel may evict them, and a later read faults them back in from
 *     the file (docs/DESIGN.md section 15).
 */
#include "internal.h"

#include <stdlib.h>

struct mrlog__filemap *
mrlog__filemap_new(struct mrlog *log, const uint8_t *base, size_t len)
{
  struct mrlog__filemap *m = malloc(sizeof(*m));

  if (m == NULL)
    return NULL;
  m->base = base;
  m->len = len;
  atomic_init(&m->refs, 1);
  atomic_fetch_add_explicit(&log->stat_memory, len, memory_order_relaxed);
  return m;
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
  atomic_fetch_sub_explicit(&log->stat_memory, m->len, memory_order_relaxed);
  log->io->unmap(log->io->ctx, (void *)m->base, m->len);
  free(m);
}

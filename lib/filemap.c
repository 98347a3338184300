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
 * each hot segment gets a shared read-only window that the file grows
 * into (mrlog__filemap_window), and the records of a written frame that
 * ends inside the window are stored as offsets in it (a frame past it,
 * only possible for a batch larger than HOT_SLACK, is copied).  At
 * rotation the window is cut to the segment's length (filemap_seal).
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
 *     hot window's reads never go past the file's end.
 *  3. We hold the directory's LOCK, but another process may still
 *     truncate a segment file, and a page's read may fail: a read of such
 *     a page raises SIGBUS.  Every mapping is registered with the SIGBUS
 *     handler (mapfault.c) until it is unmapped (a recovered file's from
 *     mrlog__read_file's check of its pages on, a hot window's from its
 *     creation), which turns the page into zeros; readers check the
 *     mapping's fault record after touching a record
 *     (mrlog__filemap_check) and return MRLOG_EIO for a record with a
 *     lost page.  A mapping that cannot be registered is not used: its
 *     records are copied.
 *  4. The mapping counts in stat_memory (mrlog_stats.memory_bytes), from
 *     map to unmap, for its whole length (recovered) or for the bytes
 *     written into it (hot window, counted by the writer as it writes):
 *     what a record read needs resident.  Its pages are clean page cache: under memory pressure the
 *     kernel may evict them, and a later read faults them back in from
 *     the file (docs/DESIGN.md section 15).
 *  5. Address space: a recovered or sealed segment keeps a mapping of its
 *     length (rounded up to a page); the one hot segment keeps a window
 *     of mrlog__filemap_window bytes.  A log of N mapped segments of S
 *     bytes reserves about N * S plus one window.
 */
#include "internal.h"
#include "filemap.h"
#include "mapfault.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Beyond the rotation point, a hot window has room for the frame that
 * crosses it: a record of MRLOG_RECORD_MAX (64 MiB) after a pass's worth
 * of others and their framing.  Only an atomic batch larger than this can
 * end past the window; its records are copied (writer_frame.c). */
#define HOT_SLACK ((size_t)80 << 20)
/* No segment offset reaches it (LSN offsets are u32, format.h). */
#define HOT_WINDOW_MAX ((size_t)1 << 32)

static size_t
page_up(size_t n)
{
  size_t page = (size_t)sysconf(_SC_PAGESIZE);

  return (n + page - 1) / page * page;
}

struct mrlog__filemap *
mrlog__filemap_new(struct mrlog *log, const uint8_t *base, size_t len,
                   struct mrlog__mapslot *watch, uint64_t segno)
{
  struct mrlog__filemap *m = malloc(sizeof(*m));

  if (m == NULL)
    return NULL;
  m->slot = watch;
  m->base = base;
  m->len = len;
  m->own_mmap = false;
  m->counted = len;
  m->segno = segno;
  atomic_init(&m->refs, 1);
  atomic_fetch_add_explicit(&log->stat_memory, len, memory_order_relaxed);
  return m;
}

size_t
mrlog__filemap_window(const struct mrlog *log, uint64_t checkpoint_end)
{
  /* The writer rotates after the frame that takes the segment to
   * segment_bytes and to twice its checkpoint (writer_frame.c), so every
   * frame starts below the larger of the two. */
  uint64_t start = log->policy.segment_bytes;

  if (2 * checkpoint_end > start)
    start = 2 * checkpoint_end;
  if (start + HOT_SLACK >= HOT_WINDOW_MAX)
    return HOT_WINDOW_MAX;
  return page_up((size_t)start + HOT_SLACK);
}

struct mrlog__filemap *
mrlog__filemap_hot(struct mrlog *log, const char *name, uint64_t segno,
                   uint64_t checkpoint_end)
{
  size_t len = mrlog__filemap_window(log, checkpoint_end);
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
  if (io->map_window != NULL)
    base = io->map_window(io->ctx, fd, len);
  else
    base = mmap(NULL, len, PROT_READ, MAP_SHARED | MAP_NORESERVE, fd, 0);
  err = errno;
  io->close(io->ctx, fd); /* the mapping keeps the file */
  if (base == MAP_FAILED) {
    free(m);
    errno = err;
    return NULL;
  }
  m->slot = mrlog__mapfault_add(base, len);
  if (m->slot == NULL) {
    munmap(base, len);
    free(m);
    errno = ENOMEM;
    return NULL;
  }
  m->base = base;
  m->len = len;
  m->own_mmap = true;
  m->counted = 0;
  m->segno = segno;
  atomic_init(&m->refs, 1);
  return m;
}

void
mrlog__filemap_seal(struct mrlog__filemap *m, uint64_t end)
{
  size_t keep = page_up(end > 0 ? (size_t)end : 1);

  if (!m->own_mmap || keep >= m->len)
    return;
  /* Deregister the tail before it is unmapped (mapfault.c invariant 2);
   * no record lies in it (invariant 2). */
  mrlog__mapfault_shrink(m->slot, keep);
  munmap((void *)(m->base + keep), m->len - keep);
  m->len = keep;
}

int
mrlog__filemap_check(struct mrlog *log, const struct mrlog__filemap *m,
                     size_t off, size_t len)
{
  struct mrlog__mapslot *s = m->slot;

  if (!mrlog__mapfault_hit(s, off, len))
    return 0;
  if (!atomic_exchange_explicit(&s->reported, true, memory_order_relaxed))
    mrlog__logf(log, MRLOG_LOG_ERROR,
                "segment %016llx.mrlog: bytes %zu to %zu could not be read through "
                "its mapping (an I/O error, or the file was truncated by "
                "another process); reads of records there return MRLOG_EIO",
                (unsigned long long)m->segno,
                atomic_load_explicit(&s->lo, memory_order_relaxed),
                atomic_load_explicit(&s->hi, memory_order_relaxed));
  return MRLOG_EIO;
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
  mrlog__mapfault_remove(m->slot); /* before the unmap (mapfault.c) */
  if (m->own_mmap)
    munmap((void *)m->base, m->len);
  else
    log->io->unmap(log->io->ctx, (void *)m->base, m->len);
  free(m);
}

/*
 * segment.c -- segment files: names, listing, whole-file reads, writes
 * that survive EINTR and short writes, directory fsync, and the in-memory
 * segment list.
 *
 * Invariants:
 *  1. A segment's name is its number as 16 lowercase hex digits plus
 *     ".mrlog"; any other name in the directory is foreign and ignored.
 *  2. Files are written with pwrite only (no mmap, no stdio), so a full
 *     disk is an ENOSPC status, never a signal.
 *  3. A segment's live count reaching 0 is published after its
 *     emptied_lsn (release), so the cleaner, which reads live first
 *     (acquire), never pairs live == 0 with an older emptied_lsn.
 */
#include "internal.h"
#include "segment.h"
#include "holes.h"
#include "mapfault.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void
mrlog__segment_name(char out[MRLOG_SEGMENT_NAME_LEN + 1], uint64_t segno)
{
  snprintf(out, MRLOG_SEGMENT_NAME_LEN + 1, "%016" PRIx64 "%s", segno,
           MRLOG_SEGMENT_SUFFIX);
}

bool
mrlog__segment_parse_name(const char *name, uint64_t *segno)
{
  uint64_t v = 0;
  int i;

  if (strlen(name) != MRLOG_SEGMENT_NAME_LEN ||
      strcmp(name + 16, MRLOG_SEGMENT_SUFFIX) != 0)
    return false;
  for (i = 0; i < 16; i++) {
    char ch = name[i];
    if (ch >= '0' && ch <= '9')
      v = v << 4 | (uint64_t)(ch - '0');
    else if (ch >= 'a' && ch <= 'f')
      v = v << 4 | (uint64_t)(ch - 'a' + 10);
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
mrlog__segment_list(int dir_fd, uint64_t **segnos, size_t *count)
{
  DIR *d;
  struct dirent *e;
  uint64_t *v = NULL, segno;
  size_t n = 0, cap = 0;
  int fd = dup(dir_fd);

  *segnos = NULL;
  *count = 0;
  if (fd < 0)
    return mrlog__status_from_errno(errno);
  d = fdopendir(fd);
  if (d == NULL) {
    close(fd);
    return mrlog__status_from_errno(errno);
  }
  rewinddir(d);
  while ((e = readdir(d)) != NULL) {
    if (!mrlog__segment_parse_name(e->d_name, &segno))
      continue;
    if (n == cap) {
      uint64_t *nv;
      cap = cap ? cap * 2 : 16;
      nv = realloc(v, cap * sizeof(*v));
      if (nv == NULL) {
        free(v);
        closedir(d);
        return MRLOG_ENOMEM;
      }
      v = nv;
    }
    v[n++] = segno;
  }
  closedir(d);
  if (n > 0)
    qsort(v, n, sizeof(*v), cmp_u64);
  *segnos = v;
  *count = n;
  return 0;
}

/* Registers a fresh mapping m of fd (size bytes) with the SIGBUS handler
 * (mapfault.c) and touches every data page of it: its slot, which stays
 * registered, or NULL if a page could not be read (an I/O error, or the
 * file shrank) or the mapping cannot be watched.  Recovery's scan then
 * reads the file with pread, which reports the error, instead of reading
 * zeros through the mapping. */
static struct mrlog__mapslot *
map_readable(const struct mrlog__io *io, int fd, const uint8_t *m,
             size_t size)
{
  struct mrlog__mapslot *slot = mrlog__mapfault_add(m, size);
  struct mrlog__holes holes;
  size_t at = 0;

  if (slot == NULL)
    return NULL;
  mrlog__holes_of_fd(io, fd, size, &holes);
  while (at < size) {
    size_t to = mrlog__holes_next(&holes, at, size);

    if (to == at) {
      at = mrlog__holes_skip(&holes, at, 1);
      continue;
    }
    mrlog__mapfault_probe(m + at, to - at);
    at = to;
  }
  if (!mrlog__mapfault_any(slot))
    return slot;
  mrlog__mapfault_remove(slot);
  return NULL;
}

int
mrlog__read_file(struct mrlog *log, const char *name, uint8_t **data,
                 size_t *len, struct mrlog__mapslot **watch)
{
  const struct mrlog__io *io = log->io;
  struct mrlog__holes holes;
  struct stat st;
  uint8_t *buf;
  size_t got = 0;
  int fd, err;

  *data = NULL;
  *len = 0;
  *watch = NULL;
  fd = io->openat(io->ctx, log->dir_fd, name, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0)
    return mrlog__status_from_errno(errno);
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    err = errno;
    io->close(io->ctx, fd);
    return S_ISREG(st.st_mode) ? mrlog__status_from_errno(err)
                               : MRLOG_ECORRUPT;
  }
  /* Mapped when the file layer can: no copy, and the page cache's pages
   * instead of fresh ones.  Every data page is read once here, watched
   * by the SIGBUS handler, so that a page that cannot be read sends the
   * file to the pread path below instead of killing the process.  The
   * mapping stays watched from here on: a page lost later (another
   * process truncates the file, or a page the kernel dropped fails to
   * read again) reads as zeros and shows in the slot, which recovery
   * checks before it acts on what it read (recovery.c invariant 16). */
  if (io->map != NULL && st.st_size > 0) {
    struct mrlog__mapslot *slot = NULL;
    void *m = io->map(io->ctx, fd, (size_t)st.st_size);

    if (m != MAP_FAILED) {
      slot = map_readable(io, fd, m, (size_t)st.st_size);
      if (slot == NULL)
        io->unmap(io->ctx, m, (size_t)st.st_size);
    }
    if (slot != NULL) {
      io->close(io->ctx, fd);
      *data = m;
      *len = (size_t)st.st_size;
      *watch = slot;
      return 0;
    }
  }
  /* The buffer is sized by the file's real size, never by a length field
   * read from it, and is anonymous memory mapped without reserve: holes
   * are not read, so their pages stay untouched zeros that cost nothing
   * while the scans skip them (holes.c), and a large sparse segment costs
   * what its data costs. */
  mrlog__holes_of_fd(io, fd, (size_t)st.st_size, &holes);
  buf = mmap(NULL, st.st_size > 0 ? (size_t)st.st_size : 1,
             PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
             -1, 0);
  if (buf == MAP_FAILED) {
    io->close(io->ctx, fd);
    return MRLOG_ENOMEM;
  }
  while (got < (size_t)st.st_size) {
    size_t to = mrlog__holes_next(&holes, got, (size_t)st.st_size);
    ssize_t r;

    if (to == got) {
      got = mrlog__holes_skip(&holes, got, 1);
      continue;
    }
    r = io->pread(io->ctx, fd, buf + got, to - got, (off_t)got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      err = errno;
      munmap(buf, st.st_size > 0 ? (size_t)st.st_size : 1);
      io->close(io->ctx, fd);
      return mrlog__status_from_errno(err);
    }
    if (r == 0)
      break; /* shrank under us: use what is there */
    got += (size_t)r;
  }
  io->close(io->ctx, fd);
  if (got < (size_t)st.st_size) {
    /* Shrank: give back the pages past what was read, so that
     * mrlog__release_file's length covers the whole buffer. */
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t keep = (got + page - 1) / page * page;
    if (keep == 0)
      keep = page; /* the first page stays for release_file */
    if (keep < (size_t)st.st_size)
      munmap(buf + keep, (size_t)st.st_size - keep);
  }
  *data = buf;
  *len = got;
  return 0;
}

void
mrlog__release_file(struct mrlog *log, uint8_t *data, size_t len,
                    struct mrlog__mapslot *watch)
{
  if (watch != NULL) {
    mrlog__mapfault_remove(watch); /* before the unmap (mapfault.c) */
    log->io->unmap(log->io->ctx, data, len);
  } else {
    munmap(data, len > 0 ? len : 1); /* read_file's anonymous buffer */
  }
}

/* What one write call's result means: 0 it wrote something, 1 retry it
 * (EINTR), else the status to fail with (nothing written at all reads as a
 * full disk). */
static int
write_outcome(ssize_t w)
{
  if (w > 0)
    return 0;
  if (w < 0 && errno == EINTR)
    return 1;
  return w == 0 ? MRLOG_ENOSPC : mrlog__status_from_errno(errno);
}

int
mrlog__pwrite_all(struct mrlog *log, int fd, const void *buf, size_t len,
                  uint64_t off)
{
  const struct mrlog__io *io = log->io;
  const uint8_t *p = buf;
  int rc;

  while (len > 0) {
    ssize_t w = io->pwrite(io->ctx, fd, p, len, (off_t)off);
    if ((rc = write_outcome(w)) != 0) {
      if (rc == 1)
        continue;
      return rc;
    }
    p += w;
    len -= (size_t)w;
    off += (uint64_t)w;
  }
  return 0;
}

int
mrlog__pwritev_all(struct mrlog *log, int fd, struct iovec *iov, int cnt,
                   uint64_t off)
{
  const struct mrlog__io *io = log->io;
  int rc;

  while (cnt > 0) {
    ssize_t w;
    if (io->pwritev == NULL) {
      rc = mrlog__pwrite_all(log, fd, iov->iov_base, iov->iov_len, off);
      if (rc != 0)
        return rc;
      off += iov->iov_len;
      iov++;
      cnt--;
      continue;
    }
    w = io->pwritev(io->ctx, fd, iov, cnt < IOV_MAX ? cnt : IOV_MAX,
                    (off_t)off);
    if ((rc = write_outcome(w)) != 0) {
      if (rc == 1)
        continue;
      return rc;
    }
    off += (uint64_t)w;
    /* Skip what was written; a short write resumes mid-piece. */
    while (cnt > 0 && (size_t)w >= iov->iov_len) {
      w -= (ssize_t)iov->iov_len;
      iov++;
      cnt--;
    }
    if (cnt > 0) {
      iov->iov_base = (uint8_t *)iov->iov_base + w;
      iov->iov_len -= (size_t)w;
    }
  }
  return 0;
}

int
mrlog__status_from_errno(int err)
{
  switch (err) {
  case ENOSPC:
  case EDQUOT:
    return MRLOG_ENOSPC;
  case ENOMEM:
    return MRLOG_ENOMEM;
  default:
    return MRLOG_EIO;
  }
}

/* The writer (a new segment's entry), the cleaner (deletions) and
 * recovery share dir_fd, one open file description, and Linux reports a
 * writeback error once per description: of two fsyncs in flight, one may
 * take the other's EIO.  So they run one at a time under dir_sync_mutex,
 * a failed one fails the log before the mutex is released, and none runs
 * on a failed log (DURABILITY.md, sync errors). */
int
mrlog__fsync_dir(struct mrlog *log)
{
  int rc = 0, err = 0;
  bool first = false;

  pthread_mutex_lock(&log->dir_sync_mutex);
  rc = atomic_load_explicit(&log->failed, memory_order_acquire);
  while (rc == 0 && log->io->fsync(log->io->ctx, log->dir_fd) != 0) {
    if (errno != EINTR) {
      err = errno;
      rc = mrlog__status_from_errno(err);
      first = mrlog__fail_mark(log, rc);
    }
  }
  pthread_mutex_unlock(&log->dir_sync_mutex);
  if (first)
    mrlog__fail_report(log, rc, "fsync of the log directory", err);
  errno = err;
  return rc;
}

struct mrlog__segment *
mrlog__segment_new(uint64_t segno)
{
  struct mrlog__segment *s = calloc(1, sizeof(*s));

  if (s == NULL)
    return NULL;
  s->segno = segno;
  atomic_init(&s->size, 0);
  atomic_init(&s->live, 0);
  atomic_init(&s->emptied_lsn, 0);
  atomic_init(&s->hot, false);
  return s;
}

void
mrlog__segment_add(struct mrlog *log, struct mrlog__segment *seg)
{
  struct mrlog__segment **pp;

  /* Kept in number order (oldest first), also when the cleaner puts back
   * a segment it failed to delete. */
  pthread_mutex_lock(&log->seg_mutex);
  for (pp = &log->segs; *pp != NULL && (*pp)->segno < seg->segno;
       pp = &(*pp)->next)
    ;
  seg->next = *pp;
  *pp = seg;
  pthread_mutex_unlock(&log->seg_mutex);
}

void
mrlog__segment_drop_live(struct mrlog *log, struct mrlog__segment *seg,
                         uint64_t n, uint64_t lsn)
{
  uint64_t live = atomic_load_explicit(&seg->live, memory_order_relaxed);

  if (n == 0)
    return;
  if (n >= live) {
    atomic_store_explicit(&seg->emptied_lsn, lsn, memory_order_relaxed);
    atomic_store_explicit(&seg->live, 0, memory_order_release);
    /* The flusher wakes the cleaner after its next sync. */
    atomic_store_explicit(&log->cleaner_due, 1, memory_order_release);
  } else {
    atomic_store_explicit(&seg->live, live - n, memory_order_release);
  }
}

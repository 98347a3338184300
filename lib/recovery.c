/*
 * recovery.c -- replays the segment files at open, heals a torn tail and
 * rebuilds every queue.
 *
 * Invariants and decisions:
 *  1. Segments are replayed in number order through mrlog__apply_frame,
 *     the code the writer uses, so the rebuilt state is the written state.
 *  2. Frames are checked before use (format.c): hcrc binds each frame to
 *     its segment and offset, so stale bytes never replay.  Files are read
 *     whole into a buffer sized by the file, never by a length field.
 *  3. The first bad frame at offset X of the LAST segment ends the log
 *     (a torn or corrupt tail: everything from X is cut off and counted)
 *     unless a valid frame later in the file says that bytes past X were
 *     already durable when it was written (its synced > X): then X held
 *     acknowledged data and this is corruption.  Under power loss only
 *     unsynced writes can be damaged or lost, so a real tail never has such
 *     a witness.
 *  4. Any bad frame or bad file header in a segment other than the last is
 *     corruption (the writer syncs a segment before starting the next).
 *  5. MRLOG_RECOVER_STRICT changes nothing on disk and fails on any
 *     damage; MRLOG_RECOVER_SKIP_CORRUPT skips damaged regions up to the
 *     next valid frame (renaming a segment with a bad header to
 *     NAME.corrupt), counting every skipped byte.
 *  6. After replay the last segment is fdatasynced (it may have been read
 *     from the page cache of a crashed process), so the state open acts on
 *     is durable.
 *  7. A bad file header in the last segment is a creation cut short --
 *     header and checkpoint are synced together, possibly landing in any
 *     order -- unless a valid frame witnesses a sync past the header; the
 *     file is then removed.
 *  8. When SKIP_CORRUPT skipped anything, every recovered segment is
 *     pinned (never deleted while this log is open): a skipped frame may
 *     have been a segment's checkpoint, so older segments may no longer be
 *     restated by newer ones, and deleting them would lose records this
 *     open recovered.
 *  9. Zero bytes from a frame boundary to the end of a segment are room the
 *     writer zero-filled ahead of itself (durable policy) and are a clean
 *     end, in any segment and under every policy: no frame past that point
 *     was ever durable (a durable frame is not all zeros), so nothing is
 *     lost or damaged.  They are not counted as discarded; outside STRICT,
 *     the last segment's zero tail is cut off.
 * 10. Record times: segments of format version 2 and later carry TIME ops
 *     (apply.c invariant 5); version 1 segments have none, and their
 *     records take the file's modification time.  log->apply_ms carries
 *     across segments and never decreases; the newest becomes last_ms, so
 *     the writer never stamps a new frame earlier than a replayed one.
 * 11. A segment the file layer maps is not copied: the records replayed
 *     from it stay in the mapping, which lives as long as one of them is
 *     retained (filemap.c).  The cut of a torn tail comes after the
 *     replay, at the end of the last valid frame or later, so no retained
 *     record's page leaves the file.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct scan {
  const uint8_t *data; /* the whole file */
  size_t len;          /* its size */
  uint64_t segno;
};

/* Finds the first valid frame starting after `from`.  Returns its offset,
 * or len if none; OUT: its size and synced field. */
static size_t
next_valid(const struct scan *s, size_t from, size_t *frame_size,
           uint32_t *synced)
{
  size_t y;
  uint32_t body_len;

  for (y = from; y + MRLOG_FRAME_HEADER_SIZE <= s->len; y++) {
    if (mrlog__frame_check(s->data + y, s->len - y, s->segno, (uint32_t)y,
                           &body_len, synced) == MRLOG_FRAME_OK) {
      *frame_size = MRLOG_FRAME_HEADER_SIZE + body_len;
      return y;
    }
  }
  return s->len;
}

/* True if some valid frame after x witnesses that x was durable. */
static bool
witnessed_durable(const struct scan *s, size_t x)
{
  size_t y = x + 1, size;
  uint32_t synced, body_len;

  while ((y = next_valid(s, y, &size, &synced)) < s->len) {
    if (synced > x)
      return true;
    /* Follow the chain of valid frames, resuming the byte scan when it
     * breaks. */
    for (y += size; y + MRLOG_FRAME_HEADER_SIZE <= s->len; y += size) {
      if (mrlog__frame_check(s->data + y, s->len - y, s->segno, (uint32_t)y,
                             &body_len, &synced) != MRLOG_FRAME_OK)
        break;
      if (synced > x)
        return true;
      size = MRLOG_FRAME_HEADER_SIZE + body_len;
    }
    y++;
  }
  return false;
}

static int
cut_file(struct mrlog *log, const char *name, size_t at)
{
  const struct mrlog__io *io = log->io;
  int fd = io->openat(io->ctx, log->dir_fd, name, O_WRONLY | O_CLOEXEC, 0);
  int rc = 0;

  if (fd < 0)
    return mrlog__status_from_errno(errno);
  if (io->ftruncate(io->ctx, fd, (off_t)at) != 0)
    rc = mrlog__status_from_errno(errno);
  else
    rc = mrlog__datasync(log, fd);
  io->close(io->ctx, fd);
  return rc;
}

/* True if s holds only zero bytes from off to its end (invariant 9). */
static bool
zeros_to_end(const struct scan *s, size_t off)
{
  const uint8_t *p = s->data + off, *end = s->data + s->len;

  for (; p < end && ((uintptr_t)p & 7) != 0; p++)
    if (*p != 0)
      return false;
  for (; end - p >= 8; p += 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    if (v != 0)
      return false;
  }
  for (; p < end; p++)
    if (*p != 0)
      return false;
  return true;
}

/* Replays one segment file.  *cut_at is set when the tail must be cut;
 * *zero_tail says that tail is only zero-filled room (invariant 9). */
static int
replay(struct mrlog *log, struct mrlog__segment *seg, const struct scan *s,
       bool last, size_t *cut_at, bool *zero_tail)
{
  int policy = log->policy.recovery;
  size_t off = MRLOG_FILE_HEADER_SIZE, size, y;
  uint32_t body_len, synced;
  enum mrlog__frame_check res;
  int rc;

  *cut_at = SIZE_MAX;
  *zero_tail = false;
  while (off < s->len) {
    res = mrlog__frame_check(s->data + off, s->len - off, s->segno,
                             (uint32_t)off, &body_len, &synced);
    if (res == MRLOG_FRAME_OK) {
      size = MRLOG_FRAME_HEADER_SIZE + body_len;
      rc = mrlog__apply_frame(log, seg, s->data + off + MRLOG_FRAME_HEADER_SIZE,
                              body_len, MRLOG_LSN(s->segno, off + size),
                              off == MRLOG_FILE_HEADER_SIZE);
      if (rc == MRLOG_ENOMEM)
        return rc;
      if (rc != 0) {
        mrlog__logf(log, MRLOG_LOG_ERROR,
                    "segment %016llx: inconsistent frame at offset %zu",
                    (unsigned long long)s->segno, off);
        if (policy != MRLOG_RECOVER_SKIP_CORRUPT)
          return MRLOG_ECORRUPT;
        log->recovery_skipped = true;
        atomic_fetch_add(&log->stat_discarded, size);
      }
      off += size;
      continue;
    }
    /* Zero-filled room: a clean end (invariant 9). */
    if (zeros_to_end(s, off)) {
      if (last && policy != MRLOG_RECOVER_STRICT) {
        mrlog__logf(log, MRLOG_LOG_INFO,
                    "segment %016llx: %zu bytes of zero-filled room at "
                    "offset %zu, cut off",
                    (unsigned long long)s->segno, s->len - off, off);
        *cut_at = off;
        *zero_tail = true;
      }
      return 0;
    }
    /* A bad frame at off: tail or corruption (invariants 3 and 4). */
    if (last && !witnessed_durable(s, off)) {
      mrlog__logf(log, MRLOG_LOG_WARN,
                  "segment %016llx: %s tail of %zu bytes at offset %zu%s",
                  (unsigned long long)s->segno,
                  res == MRLOG_FRAME_BAD ? "corrupt" : "torn", s->len - off,
                  off, policy == MRLOG_RECOVER_STRICT ? "" : ", cut off");
      if (policy == MRLOG_RECOVER_STRICT)
        return MRLOG_ECORRUPT;
      *cut_at = off;
      return 0;
    }
    mrlog__logf(log, MRLOG_LOG_ERROR,
                "segment %016llx: corrupt frame at offset %zu",
                (unsigned long long)s->segno, off);
    if (policy != MRLOG_RECOVER_SKIP_CORRUPT)
      return MRLOG_ECORRUPT;
    y = next_valid(s, off + 1, &size, &synced);
    log->recovery_skipped = true;
    atomic_fetch_add(&log->stat_discarded, y - off);
    off = y;
  }
  return 0;
}

/* A version 1 segment has no TIME ops (invariant 10): its records are
 * stamped with the file's modification time, the latest moment any of them
 * can have been framed, so retention never expires them early. */
static void
note_v1_time(struct mrlog *log, const char *name)
{
  struct stat st;
  uint64_t ms;

  if (fstatat(log->dir_fd, name, &st, 0) != 0)
    return; /* keep the time of the segment before */
  ms = (uint64_t)st.st_mtim.tv_sec * 1000u +
       (uint64_t)st.st_mtim.tv_nsec / 1000000u;
  if (ms > log->apply_ms)
    log->apply_ms = ms;
}

static int
recover_one(struct mrlog *log, uint64_t segno, bool last,
            const uint64_t *next_segno)
{
  char name[MRLOG_SEGMENT_NAME_LEN + 1], aside[MRLOG_SEGMENT_NAME_LEN + 16];
  struct mrlog__segment *seg;
  struct scan s;
  uint8_t *data;
  size_t len, cut_at;
  bool mapped, zero_tail;
  int rc;

  mrlog__segment_name(name, segno);
  rc = mrlog__readahead_take(log, name, &data, &len, &mapped);
  if (rc != 0)
    return rc;
  if (next_segno != NULL) {
    /* The next file is read on the other core meanwhile (readahead.c). */
    char next[MRLOG_SEGMENT_NAME_LEN + 1];

    mrlog__segment_name(next, *next_segno);
    mrlog__readahead_start(log, next);
  }
  s = (struct scan){ data, len, segno };
  rc = mrlog__file_header_check(data, len, segno);
  if (rc == -2) {
    /* check_versions refused these before anything changed, and no one
     * else writes under our lock: only a file swapped meanwhile gets
     * here.  Never treat it as damage. */
    mrlog__release_file(log, data, len, mapped);
    return MRLOG_EVERSION;
  }
  if (rc != 0) {
    /* Header and checkpoint are synced together when a segment is made,
     * and every later frame's `synced` covers them.  So a bad header in
     * the last segment with no frame witnessing a sync past it is a
     * creation cut short (its writes may land in any order): nothing in
     * the file was acknowledged. */
    bool any_frame = witnessed_durable(&s, MRLOG_FILE_HEADER_SIZE - 1);

    mrlog__release_file(log, data, len, mapped);
    if (last && log->policy.recovery != MRLOG_RECOVER_STRICT && !any_frame) {
      /* Created but never synced: nothing in it was acknowledged. */
      mrlog__logf(log, MRLOG_LOG_WARN, "segment %s: torn header, removed",
                  name);
      atomic_fetch_add(&log->stat_discarded, len);
      if (log->io->unlinkat(log->io->ctx, log->dir_fd, name) != 0)
        return mrlog__status_from_errno(errno);
      return mrlog__fsync_dir(log);
    }
    mrlog__logf(log, MRLOG_LOG_ERROR, "segment %s: bad file header", name);
    if (log->policy.recovery != MRLOG_RECOVER_SKIP_CORRUPT)
      return MRLOG_ECORRUPT;
    snprintf(aside, sizeof(aside), "%s.corrupt", name);
    log->recovery_skipped = true;
    atomic_fetch_add(&log->stat_discarded, len);
    if (log->io->renameat(log->io->ctx, log->dir_fd, name, aside) != 0)
      return mrlog__status_from_errno(errno);
    return mrlog__fsync_dir(log);
  }
  log->apply_version = mrlog__get_u32le(data + 8);
  if (log->apply_version < 2)
    note_v1_time(log, name);
  seg = mrlog__segment_new(segno);
  if (seg == NULL) {
    mrlog__release_file(log, data, len, mapped);
    return MRLOG_ENOMEM;
  }
  atomic_store(&seg->size, len);
  mrlog__segment_add(log, seg);
  /* Records of a mapped file are served from the mapping (invariant 11);
   * without a mapping (or the memory to track it) they are copied. */
  log->replay_map = mapped ? mrlog__filemap_new(log, data, len) : NULL;
  rc = replay(log, seg, &s, last, &cut_at, &zero_tail);
  if (log->replay_map != NULL)
    mrlog__filemap_unref(log, log->replay_map); /* chunks keep their refs */
  else
    mrlog__release_file(log, data, len, mapped);
  log->replay_map = NULL;
  if (rc == 0 && cut_at != SIZE_MAX) {
    if (!zero_tail)
      atomic_fetch_add(&log->stat_discarded, len - cut_at);
    rc = cut_file(log, name, cut_at);
    atomic_store(&seg->size, cut_at);
  }
  return rc;
}

/*
 * Refuses, before anything on disk is changed, a directory holding any
 * segment longer than MRLOG_SEGMENT_FILE_MAX (MRLOG_EINVAL) or any
 * segment of another format version: recovery of earlier segments may cut,
 * remove or rename files, which must not happen to a log this library
 * cannot read.  Only intact headers count (mrlog__file_header_check -2);
 * a short or damaged header is left to recover_one.
 */
static int
check_versions(struct mrlog *log, const uint64_t *segnos, size_t n)
{
  const struct mrlog__io *io = log->io;
  char name[MRLOG_SEGMENT_NAME_LEN + 1];
  uint8_t hdr[MRLOG_FILE_HEADER_SIZE];
  struct stat st;
  size_t i;

  for (i = 0; i < n; i++) {
    ssize_t got;
    int fd;

    mrlog__segment_name(name, segnos[i]);
    fd = io->openat(io->ctx, log->dir_fd, name, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
      return mrlog__status_from_errno(errno);
    if (fstat(fd, &st) == 0 && (uint64_t)st.st_size > MRLOG_SEGMENT_FILE_MAX) {
      /* Offsets are 32-bit (format.h): no writer made this file. */
      io->close(io->ctx, fd);
      mrlog__logf(log, MRLOG_LOG_ERROR,
                  "segment %s: %lld bytes, more than a segment can hold "
                  "(%u); nothing was changed",
                  name, (long long)st.st_size, MRLOG_SEGMENT_FILE_MAX);
      return MRLOG_EINVAL;
    }
    got = io->pread(io->ctx, fd, hdr, sizeof(hdr), 0);
    io->close(io->ctx, fd);
    if (got == (ssize_t)sizeof(hdr) &&
        mrlog__file_header_check(hdr, sizeof(hdr), segnos[i]) == -2) {
      mrlog__logf(log, MRLOG_LOG_ERROR,
                  "segment %s: format version %u is not supported (this "
                  "library reads version %u); nothing was changed",
                  name, mrlog__get_u32le(hdr + 8), MRLOG_FORMAT_VERSION);
      return MRLOG_EVERSION;
    }
  }
  return 0;
}

int
mrlog__recover(struct mrlog *log)
{
  uint64_t *segnos, last_size = 0;
  size_t n, i;
  struct mrlog__segment *s;
  struct mrlog__queue *q;
  char name[MRLOG_SEGMENT_NAME_LEN + 1];
  int rc, fd;

  rc = mrlog__segment_list(log->dir_fd, &segnos, &n);
  if (rc != 0)
    return rc;
  rc = check_versions(log, segnos, n);
  if (rc != 0) {
    free(segnos);
    return rc;
  }
  log->recovering = true; /* chunk memory may come from prefault.c */
  for (i = 0; i < n && rc == 0; i++)
    rc = recover_one(log, segnos[i], i + 1 == n,
                     i + 1 < n ? &segnos[i + 1] : NULL);
  mrlog__readahead_stop(log);
  log->recovering = false;
  mrlog__prefault_stop(log);
  log->next_segno = n > 0 ? segnos[n - 1] + 1 : 1;
  free(segnos);
  /* New frames are never stamped before what was replayed (clock.c). */
  log->last_ms = log->apply_ms;
  log->apply_version = MRLOG_FORMAT_VERSION;
  if (rc != 0)
    return rc;

  /* The writer's view starts equal to the applied one.  What replay
   * stored is charged against memory_limit already: every allocation was
   * charged as it was made (memory.c). */
  for (i = 0; i < log->index.nbuckets; i++) {
    for (q = log->index.by_id[i]; q != NULL; q = q->by_id_next) {
      q->w_next = q->next;
      q->w_floor = q->floor;
    }
  }

  if (log->recovery_skipped) {
    for (s = log->segs; s != NULL; s = s->next)
      s->pinned = true; /* invariant 8 */
    mrlog__logf(log, MRLOG_LOG_WARN,
                "recovery skipped damaged data: the recovered segments are "
                "kept until a later open");
  }

  /* Invariant 6: make what we read durable before acting on it. */
  for (s = log->segs; s != NULL && s->next != NULL; s = s->next)
    ;
  if (s != NULL) {
    mrlog__segment_name(name, s->segno);
    fd = log->io->openat(log->io->ctx, log->dir_fd, name,
                         O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
      return mrlog__status_from_errno(errno);
    rc = mrlog__datasync(log, fd);
    log->io->close(log->io->ctx, fd);
    if (rc != 0)
      return rc;
    last_size = atomic_load(&s->size);
    atomic_store(&log->durable_lsn, MRLOG_LSN(s->segno, last_size));
  }
  return 0;
}

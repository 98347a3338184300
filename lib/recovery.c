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
 *  3. The first bad frame at offset X of the NEWEST segment ends the log
 *     (a torn or corrupt tail: everything from X is cut off and counted)
 *     unless a valid frame later in the file says that bytes past X were
 *     already durable when it was written (its synced > X): then X held
 *     acknowledged data and this is corruption.  Under power loss only
 *     unsynced writes can be damaged or lost, so a real tail never has such
 *     a witness.  A seal (format version 3) is such a witness for every
 *     byte before it, so damage in a cleanly closed segment is corruption.
 *  4. Any bad frame or bad file header in a segment other than the newest
 *     is corruption (the writer syncs and seals a segment before starting
 *     the next).  A version 3 segment other than the newest must end
 *     exactly with its seal: one cut short, zeroed at its end or missing
 *     its seal is corruption (recovery_scan.c invariant 2).
 *  5. MRLOG_RECOVER_STRICT changes nothing on disk when it fails and fails
 *     on any damage, and on an unsealed newest segment's zero tail (which
 *     may be zeroed records); MRLOG_RECOVER_SKIP_CORRUPT skips damaged
 *     regions up to the next valid frame (renaming a segment with a bad
 *     header to NAME.corrupt), and reports every dropped range through
 *     log_fn (WARN) and stats.skipped_*.
 *  6. After replay the newest segment is fdatasynced (it may have been read
 *     from the page cache of a crashed process), so the state open acts on
 *     is durable.
 *  7. A bad file header or checkpoint in the newest segment, with no valid
 *     frame witnessing a sync past it, is a creation cut short -- header
 *     and checkpoint are synced together, possibly landing in any order --
 *     only if the segment before it is there and ended cleanly (sealed, in
 *     version 3), or if it is segment 1 and alone; the file is then renamed
 *     to NAME.corrupt, never unlinked, and this is logged.  Otherwise it is
 *     corruption: a segment holding only its checkpoint may be all that
 *     restates the log's queues.
 *  8. When SKIP_CORRUPT skipped anything, every recovered segment is
 *     pinned (never deleted while this log is open): a skipped frame may
 *     have been a segment's checkpoint, so older segments may no longer be
 *     restated by newer ones, and deleting them would lose records this
 *     open recovered.
 *  9. Zero bytes from a frame boundary to the end of a segment are room the
 *     writer zero-filled ahead of itself (durable policy): in versions 1
 *     and 2 a clean end in any segment; in version 3 a clean end of the
 *     newest segment only (cut outside STRICT, not counted), and
 *     corruption in any other.  Zeros after a valid seal are a clean end.
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
 * 12. Before the writer creates a new segment, the newest one, if of
 *     version 3 and unsealed (not closed cleanly), is sealed at its end
 *     once its tail is cut and it is fdatasynced: so every segment but the
 *     newest ends with a seal.
 * 13. A position is never handed out twice.  A range SKIP_CORRUPT drops
 *     may have held a queue's newest records, and then nothing after it
 *     tells which positions they took: an APPEND or a checkpoint listing
 *     the queue says where it stands again, but when replay ends before
 *     one, the queue's next is raised by the bytes dropped since (each
 *     record costs at least one byte of a frame), and the positions
 *     skipped are reported at WARN.  They hold no record.
 * 14. A segment whose file header is bad but which holds a valid frame is
 *     replayed by SKIP_CORRUPT from offset 32 on, as of the version this
 *     library writes: each frame's hcrc binds it to the segment number in
 *     the file name and to its offset, so only the header's 32 bytes are
 *     dropped (and reported).  A bad header with no valid frame after it
 *     is renamed aside as before.
 * 15. A read-only open (readonly.c) makes none of the changes above: each
 *     cut, rename aside, sync and seal is logged as not applied
 *     (mrlog__ro_skip) and holds in memory only.
 * 16. Open judges a file only by bytes it really read.  A mapped file's
 *     pages are all read once before the scan (segment.c), and the mapping
 *     stays watched by the SIGBUS handler until it is unmapped: a page
 *     lost after that check (another process truncates the file, or a
 *     page the kernel dropped fails to read again) reads as zeros instead
 *     of killing the process.  Zeros that are not the file's could pass
 *     for a torn tail, a zero tail or damage, so before each verdict that
 *     changes the file or the log (a cut, a rename aside, ECORRUPT, a
 *     SKIP_CORRUPT drop kept) recovery checks the mapping: any lost page
 *     and open fails with MRLOG_EIO, having changed nothing on disk.
 */
#include "base.h"
#include "internal.h"
#include "filemap.h"
#include "flusher.h"
#include "mapfault.h"
#include "prefault.h"
#include "queue.h"
#include "readahead.h"
#include "readonly.h"
#include "recovery.h"
#include "seal.h"
#include "segment.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
cut_file(struct mrlog *log, const char *name, size_t at)
{
  const struct mrlog__io *io = log->io;
  int fd, rc = 0;

  if (mrlog__ro_skip(log, "cutting segment %s at offset %zu", name, at))
    return 0;
  fd = io->openat(io->ctx, log->dir_fd, name, O_WRONLY | O_CLOEXEC, 0);
  if (fd < 0)
    return mrlog__status_from_errno(errno);
  if (io->ftruncate(io->ctx, fd, (off_t)at) != 0)
    rc = mrlog__status_from_errno(errno);
  else
    rc = mrlog__datasync(log, fd);
  io->close(io->ctx, fd);
  return rc;
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

/* Renames name to name.corrupt (never unlinks it) and fsyncs the
 * directory. */
static int
set_aside(struct mrlog *log, const char *name)
{
  char aside[MRLOG_SEGMENT_NAME_LEN + 16];

  snprintf(aside, sizeof(aside), "%s.corrupt", name);
  if (mrlog__ro_skip(log, "renaming segment %s to %s", name, aside))
    return 0;
  if (log->io->renameat(log->io->ctx, log->dir_fd, name, aside) != 0)
    return mrlog__status_from_errno(errno);
  mrlog__logf(log, MRLOG_LOG_WARN, "segment %s renamed to %s", name, aside);
  return mrlog__fsync_dir(log);
}

/* Invariant 7: may the newest segment, which holds nothing durable but
 * possibly its checkpoint, be a creation cut short?  Only if the segment
 * before it is there and ended cleanly (sealed, for version 3), or if it
 * is segment 1 and alone. */
static bool
creation_allowed(const struct mrlog__seg_end *prev, uint64_t segno,
                 bool first)
{
  if (first)
    return segno == 1;
  if (!prev->present || prev->segno + 1 != segno)
    return false;
  if (prev->version >= MRLOG_FORMAT_VERSION_SEAL)
    return prev->sealed;
  return prev->clean;
}

/* Invariant 16: MRLOG_EIO if a page of the file's mapping was lost after
 * mrlog__read_file read it, else 0. */
static int
lost_while_read(struct mrlog *log, const char *name,
                const struct mrlog__mapslot *watch)
{
  if (watch == NULL || !mrlog__mapfault_any(watch))
    return 0;
  mrlog__logf(log, MRLOG_LOG_ERROR, "segment %s: bytes %zu to %zu could not "
              "be read while open scanned the file (an I/O error, or another "
              "process truncated it); open fails and changes nothing", name,
              atomic_load_explicit(&watch->lo, memory_order_relaxed),
              atomic_load_explicit(&watch->hi, memory_order_relaxed));
  return MRLOG_EIO;
}

static int
recover_one(struct mrlog *log, uint64_t segno, bool last, bool first,
            const uint64_t *next_segno, struct mrlog__seg_end *prev)
{
  char name[MRLOG_SEGMENT_NAME_LEN + 1];
  struct mrlog__segment *seg;
  struct mrlog__seg_end e = { .present = true, .segno = segno };
  struct mrlog__scan s;
  struct mrlog__mapslot *watch;
  uint8_t *data;
  size_t len, cut_at;
  uint32_t body_len, synced;
  bool count_cut, hdr_bad, ckpt_bad, witnessed;
  int rc;

  mrlog__segment_name(name, segno);
  rc = mrlog__readahead_take(log, name, &data, &len, &watch);
  if (rc != 0)
    return rc;
  if (next_segno != NULL) {
    /* The next file is read on the other core meanwhile (readahead.c). */
    char next[MRLOG_SEGMENT_NAME_LEN + 1];

    mrlog__segment_name(next, *next_segno);
    mrlog__readahead_start(log, next);
  }
  memset(&s, 0, sizeof(s));
  s.data = data;
  s.len = len;
  s.segno = segno;
  s.last = last;
  mrlog__holes_of(log, name, len, &s.holes);
  rc = mrlog__file_header_check(data, len, segno);
  if (rc == -2) {
    /* check_versions refused these before anything changed, and no one
     * else writes under our lock: only a file swapped meanwhile gets
     * here.  Never treat it as damage. */
    mrlog__release_file(log, data, len, watch);
    return MRLOG_EVERSION;
  }
  hdr_bad = rc != 0;
  ckpt_bad = !hdr_bad &&
             mrlog__holes_frame_check(&s.holes, data, len,
                                      MRLOG_FILE_HEADER_SIZE, segno,
                                      &body_len, &synced) != MRLOG_FRAME_OK;
  witnessed = true;
  if (last && (hdr_bad || ckpt_bad)) {
    /* Header and checkpoint are synced together when a segment is made,
     * and every later frame's `synced` covers them (a seal's too). */
    rc = mrlog__scan_witnessed(&s, hdr_bad ? MRLOG_FILE_HEADER_SIZE - 1
                                           : MRLOG_FILE_HEADER_SIZE,
                               &witnessed);
    if (rc != 0) {
      mrlog__scan_free(&s);
      mrlog__release_file(log, data, len, watch);
      return rc;
    }
  }
  rc = lost_while_read(log, name, watch);
  if (rc != 0) {
    mrlog__scan_free(&s);
    mrlog__release_file(log, data, len, watch);
    return rc;
  }
  if (!witnessed && log->policy.recovery != MRLOG_RECOVER_STRICT &&
      creation_allowed(prev, segno, first)) {
    /* A creation cut short (invariant 7): nothing in it was durable. */
    mrlog__scan_free(&s);
    mrlog__release_file(log, data, len, watch);
    mrlog__logf(log, MRLOG_LOG_WARN, "segment %s: %s: a creation cut short",
                name, hdr_bad ? "torn file header" : "torn checkpoint");
    atomic_fetch_add(&log->stat_discarded, len);
    return set_aside(log, name);
  }
  if (!witnessed)
    mrlog__logf(log, MRLOG_LOG_ERROR, "segment %s: bad %s, and the segment "
                "before it is not sealed: not a creation cut short", name,
                hdr_bad ? "file header" : "checkpoint");
  if (hdr_bad) {
    mrlog__logf(log, MRLOG_LOG_ERROR, "segment %s: bad file header", name);
    if (log->policy.recovery == MRLOG_RECOVER_SKIP_CORRUPT &&
        len > MRLOG_FILE_HEADER_SIZE &&
        mrlog__scan_next_valid(&s, MRLOG_FILE_HEADER_SIZE) < len) {
      /* Invariant 14: its frames are bound to segno; replay them. */
      mrlog__report_drop(log, segno, 0, MRLOG_FILE_HEADER_SIZE, true,
                         "bad file header; the frames after it are "
                         "replayed");
      s.version = MRLOG_FORMAT_VERSION;
    } else {
      int lost = lost_while_read(log, name, watch); /* the search above */

      mrlog__scan_free(&s);
      mrlog__release_file(log, data, len, watch);
      if (lost != 0)
        return lost;
      if (log->policy.recovery != MRLOG_RECOVER_SKIP_CORRUPT)
        return MRLOG_ECORRUPT;
      mrlog__report_drop(log, segno, 0, len, true,
                         "bad file header; the file is renamed aside");
      return set_aside(log, name);
    }
  } else {
    s.version = mrlog__get_u32le(data + 8);
  }
  log->apply_version = s.version;
  if (log->apply_version < 2)
    note_v1_time(log, name);
  seg = mrlog__segment_new(segno);
  if (seg == NULL) {
    mrlog__scan_free(&s);
    mrlog__release_file(log, data, len, watch);
    return MRLOG_ENOMEM;
  }
  atomic_store(&seg->size, len);
  mrlog__segment_add(log, seg);
  /* Records of a mapped file are served from the mapping (invariant 11);
   * without a mapping (or the memory to track it) they are copied. */
  log->replay_map =
      watch != NULL ? mrlog__filemap_new(log, data, len, watch, segno) : NULL;
  e.version = s.version;
  rc = mrlog__scan_replay(log, seg, &s, &e, &cut_at, &count_cut);
  mrlog__scan_free(&s);
  /* The watch is still registered: the filemap holds it, or we do. */
  if (lost_while_read(log, name, watch) != 0)
    rc = MRLOG_EIO;
  if (log->replay_map != NULL)
    mrlog__filemap_unref(log, log->replay_map); /* chunks keep their refs */
  else
    mrlog__release_file(log, data, len, watch);
  log->replay_map = NULL;
  if (rc == 0 && cut_at != SIZE_MAX) {
    if (count_cut)
      atomic_fetch_add(&log->stat_discarded, len - cut_at);
    rc = cut_file(log, name, cut_at);
    atomic_store(&seg->size, cut_at);
    e.end = cut_at;
  }
  *prev = e;
  return rc;
}

void
mrlog__note_lost_bound(struct mrlog *log, uint64_t bytes)
{
  struct mrlog__queue *q;
  size_t b;

  for (b = 0; b < log->index.nbuckets; b++)
    for (q = log->index.by_id[b]; q != NULL; q = q->by_id_next)
      q->lost_bound = q->lost_bound + bytes < q->lost_bound
                          ? UINT64_MAX : q->lost_bound + bytes;
}

/* Invariant 13: raises the next of a queue whose newest records may have
 * been dropped unseen past every position they can have taken. */
static void
skip_lost_positions(struct mrlog *log, struct mrlog__queue *q)
{
  uint64_t room = MRLOG_POSITION_MAX + 1 - q->next, add = q->lost_bound;

  q->lost_bound = 0;
  if (add == 0 || q->next > MRLOG_POSITION_MAX)
    return;
  if (add > room)
    add = room;
  mrlog__logf(log, MRLOG_LOG_WARN, "queue \"%.*s\": positions %llu..%llu "
              "may have been lost with the dropped data; they are not "
              "handed out again", (int)q->name_len, q->name,
              (unsigned long long)q->next,
              (unsigned long long)(q->next + add - 1));
  q->next += add;
}

/* Invariant 12: the newest segment, if of version 3 and not sealed, is
 * sealed now (its tail already cut and everything in it fdatasynced), so
 * that it may stop being the newest. */
static int
seal_newest(struct mrlog *log, const struct mrlog__seg_end *e,
            struct mrlog__segment *s)
{
  char name[MRLOG_SEGMENT_NAME_LEN + 1];
  uint32_t end;
  int fd, rc;

  if (!e->present || e->sealed || e->version < MRLOG_FORMAT_VERSION_SEAL ||
      e->segno != s->segno)
    return 0;
  mrlog__segment_name(name, s->segno);
  fd = log->io->openat(log->io->ctx, log->dir_fd, name, O_WRONLY | O_CLOEXEC,
                       0);
  if (fd < 0)
    return mrlog__status_from_errno(errno);
  rc = mrlog__seal_pad(log, fd, s->segno, (uint32_t)e->end, &end);
  if (rc == 0 && end != e->end)
    rc = mrlog__datasync(log, fd); /* the pad before the seal (seal.c) */
  if (rc == 0)
    rc = mrlog__seal_write(log, fd, s->segno, end, true, &end);
  log->io->close(log->io->ctx, fd);
  if (rc == 0) {
    atomic_store(&s->size, end);
    mrlog__logf(log, MRLOG_LOG_INFO, "segment %s was not sealed: sealed at "
                "offset %zu", name, e->end);
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
  struct mrlog__seg_end prev = { .present = false };
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
  if (rc == 0 && n > 0 && segnos[n - 1] >= UINT32_MAX) {
    /* The next segment's number would not fit an LSN (base.h), so
     * open would fail after recovery: fail before anything changes. */
    mrlog__logf(log, MRLOG_LOG_ERROR,
                "segment number %llx leaves no room for the next one; "
                "nothing was changed", (unsigned long long)segnos[n - 1]);
    rc = MRLOG_EIO;
  }
  if (rc != 0) {
    free(segnos);
    return rc;
  }
  log->recovering = true; /* chunk memory may come from prefault.c */
  for (i = 0; i < n && rc == 0; i++)
    rc = recover_one(log, segnos[i], i + 1 == n, i == 0,
                     i + 1 < n ? &segnos[i + 1] : NULL, &prev);
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
      skip_lost_positions(log, q);
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
  if (s != NULL &&
      !mrlog__ro_skip(log, "syncing segment %016llx (and sealing it if it "
                      "is not sealed)", (unsigned long long)s->segno)) {
    mrlog__segment_name(name, s->segno);
    fd = log->io->openat(log->io->ctx, log->dir_fd, name,
                         O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
      return mrlog__status_from_errno(errno);
    rc = mrlog__datasync(log, fd);
    log->io->close(log->io->ctx, fd);
    if (rc == 0)
      rc = seal_newest(log, &prev, s);
    if (rc != 0)
      return rc;
  }
  if (s != NULL) {
    last_size = atomic_load(&s->size);
    atomic_store(&log->durable_lsn, MRLOG_LSN(s->segno, last_size));
  }
  return 0;
}

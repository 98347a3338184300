/*
 * scan.c -- recovery's walk over a log directory (docs/FORMAT.md section
 * 9), as a pure reader: it decides what mrlog_open would do under the
 * default policy (MRLOG_RECOVER_TOLERATE_TAIL) and changes nothing.
 *
 * Invariants:
 *  1. Segments are replayed in number order, frames in file order, from a
 *     snapshot: the directory is listed once and every segment opened at
 *     once, so a segment the cleaner deletes later is still read; one that
 *     is already gone (ENOENT) is skipped and reported as a note.
 *  2. A frame that is not valid at offset X ends the segment cleanly when
 *     every byte from X on is zero (zero-filled room, any segment).
 *     Otherwise, in the last segment and with no later valid frame whose
 *     synced is past X, it is a tail recovery would cut; anywhere else it
 *     is corruption, and the walk goes on at the next valid frame so that
 *     every problem is reported.
 *  3. A last segment whose file header or checkpoint is invalid, that no
 *     valid frame witnesses as synced past it, and whose previous segment
 *     is there and ended cleanly (sealed, in version 3; or it is segment 1
 *     and alone) is a creation cut short, which recovery renames aside;
 *     otherwise it is corruption.  A header of another format version is
 *     neither: the walk stops (exit 65).
 *  4. While a live process holds the log (holder.c), a tail that would be
 *     cut is a frame or a header being written, not damage.
 *  5. A body that passed its checksums but holds an inconsistent operation
 *     is corruption; the operations before it stay applied.
 *  6. Format version 3 (FORMAT.md 6.4): a valid seal ends a segment; zeros
 *     after it are a clean end, other bytes a tail of the newest segment
 *     and corruption elsewhere.  A segment other than the newest must end
 *     with its seal: zeros in its place, a file cut short or damage there
 *     are corruption.  The seal's synced witnesses every byte before it,
 *     so damage in a sealed newest segment is corruption too.
 */
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static void
report(struct tool_log *log, const struct tool_seg *seg, uint64_t offset,
       enum tool_problem_kind kind, const char *fmt, ...)
{
  struct tool_problem p;
  va_list ap;

  if (kind == TOOL_PROBLEM_CORRUPT)
    log->corrupt++;
  if (log->report == NULL)
    return;
  p.seg = seg;
  p.offset = offset;
  p.kind = kind;
  va_start(ap, fmt);
  vsnprintf(p.message, sizeof(p.message), fmt, ap);
  va_end(ap);
  log->report(log->report_arg, &p);
}

/* Every segment stays open (invariant 1): allow as many files as the hard
 * limit does. */
static void
raise_file_limit(void)
{
  struct rlimit rl;

  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static void
log_push(struct tool_log *log, struct tool_seg *seg)
{
  if (log->nsegs == log->cap) {
    log->cap = log->cap ? 2 * log->cap : 16;
    log->segs = tool_xrealloc(log->segs, log->cap * sizeof(*log->segs));
  }
  log->segs[log->nsegs++] = seg;
}

int
tool_log_open(struct tool_log *log, const char *path)
{
  uint64_t *segnos;
  size_t n, i;
  int err;

  memset(log, 0, sizeof(*log));
  log->path = path;
  tool_replay_init(&log->replay);
  log->dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (log->dir_fd < 0) {
    tool_warn("cannot open %s: %s", path, strerror(errno));
    return TOOL_EXIT_NOINPUT;
  }
  err = tool_segment_list(log->dir_fd, &segnos, &n);
  if (err != 0) {
    tool_warn("cannot list %s: %s", path, strerror(err));
    return TOOL_EXIT_NOINPUT;
  }
  if (n == 0) {
    free(segnos);
    tool_warn("%s: not an mrlog log directory (no segment files)", path);
    return TOOL_EXIT_NOINPUT;
  }
  /* Looked up once: a process that opens or closes the log while it is
   * read makes the answer stale, which changes only how a torn tail of
   * the last segment is described (being written, or to be cut). */
  log->holder = tool_lock_holder(log->dir_fd, path);
  raise_file_limit();
  for (i = 0; i < n; i++) {
    struct tool_seg *seg;

    err = tool_seg_open(log->dir_fd, segnos[i], &seg);
    if (err != 0 && err != ENOENT) {
      tool_warn("%s/%s: %s", path, seg->name, strerror(err));
      tool_seg_free(seg);
      free(segnos);
      return err == EMFILE || err == ENFILE ? TOOL_EXIT_OSERR
                                            : TOOL_EXIT_NOINPUT;
    }
    log->disk_bytes += seg->file.fd >= 0 ? seg->file.size : 0;
    log_push(log, seg);
  }
  free(segnos);
  return 0;
}

void
tool_log_close(struct tool_log *log)
{
  size_t i;

  tool_replay_free(&log->replay); /* before the segments it points to */
  for (i = 0; i < log->nsegs; i++)
    tool_seg_free(log->segs[i]);
  free(log->segs);
  if (log->dir_fd >= 0)
    close(log->dir_fd);
  log->segs = NULL;
  log->nsegs = 0;
  log->dir_fd = -1;
}

static void
progress(struct tool_log *log, uint64_t off)
{
  if (log->progress != NULL)
    tool_progress_update(log->progress, log->progress_base + off);
}

/* The valid frame at off is a seal as written (FORMAT.md 6.4). */
static bool
is_seal(struct tool_seg *seg, uint64_t off, const struct tool_frame *fr)
{
  const uint8_t *b, *p;
  uint64_t end;

  if (seg->version < TOOL_FORMAT_VERSION_SEAL ||
      off <= MRLOG_FILE_HEADER_SIZE || fr->synced != off ||
      fr->body_len < 2 || fr->body_len > 1 + MRLOG_VARINT_MAX)
    return false;
  b = tool_file_get(&seg->file, off + MRLOG_FRAME_HEADER_SIZE, fr->body_len);
  if (b == NULL || b[0] != TOOL_OP_SEAL)
    return false;
  p = b + 1;
  return tool_varint(&p, b + fr->body_len, &end) && p == b + fr->body_len &&
         end == off + MRLOG_FRAME_HEADER_SIZE + fr->body_len;
}

/* Scans the frames of seg from *off while they are valid, applying them.
 * Stops at the first frame that is not; returns its result (TOOL_FRAME_OK
 * at the snapshot's end), 1 through *inconsistent if a body was. */
static enum tool_frame_result
scan_frames(struct tool_log *log, struct tool_seg *seg, uint64_t *off,
            bool *inconsistent)
{
  struct tool_file *f = &seg->file;
  struct tool_frame fr;
  enum tool_frame_result res;

  *inconsistent = false;
  while (*off < f->size) {
    res = tool_frame_check(f, seg->segno, *off, &fr);
    if (res != TOOL_FRAME_OK)
      return res;
    if (is_seal(seg, *off, &fr)) { /* invariant 6 */
      seg->frames++;
      log->frames++;
      seg->last_frame = *off;
      *off += MRLOG_FRAME_HEADER_SIZE + (uint64_t)fr.body_len;
      seg->end = *off;
      seg->sealed = true;
      return TOOL_FRAME_OK;
    }
    seg->frames++;
    log->frames++;
    if (seg->first_frame == UINT64_MAX)
      seg->first_frame = *off;
    seg->last_frame = *off;
    if (tool_replay_frame(&log->replay, seg, *off + MRLOG_FRAME_HEADER_SIZE,
                          fr.body_len,
                          *off == MRLOG_FILE_HEADER_SIZE) != 0) {
      *inconsistent = true; /* invariant 5 */
      *off += MRLOG_FRAME_HEADER_SIZE + (uint64_t)fr.body_len;
      seg->end = *off;
      return TOOL_FRAME_OK;
    }
    *off += MRLOG_FRAME_HEADER_SIZE + (uint64_t)fr.body_len;
    seg->end = *off;
    progress(log, *off);
  }
  return TOOL_FRAME_OK;
}

/* The tail of the last segment from off would be cut (invariants 2, 4). */
static void
tail_cut(struct tool_log *log, struct tool_seg *seg, uint64_t off,
         enum tool_frame_result res)
{
  uint64_t bytes = seg->file.size - off;

  log->tail_seg = seg;
  log->tail_off = off;
  if (log->holder > 0) {
    seg->state = TOOL_SEG_BEING_WRITTEN;
    log->tail = TOOL_TAIL_BEING_WRITTEN;
    report(log, seg, off, TOOL_PROBLEM_NOTE, "frame being written (%s, "
           "%" PRIu64 " bytes so far)", tool_frame_result_str(res), bytes);
    return;
  }
  seg->state = TOOL_SEG_TORN_TAIL;
  log->tail = TOOL_TAIL_TORN;
  log->tail_bytes += bytes;
  report(log, seg, off, TOOL_PROBLEM_TAIL, "%s: torn tail, recovery would "
         "cut %" PRIu64 " bytes", tool_frame_result_str(res), bytes);
}

/* Invariant 3: the newest segment holds nothing durable but possibly its
 * checkpoint; may it be a creation cut short?  Only when the segment
 * before it is there and ended cleanly (sealed, in version 3), or when it
 * is segment 1 and alone. */
static bool
creation_allowed(const struct tool_seg *seg, const struct tool_seg *prev)
{
  if (prev == NULL)
    return seg->segno == 1;
  if (prev->segno + 1 != seg->segno)
    return false;
  if (prev->version >= TOOL_FORMAT_VERSION_SEAL)
    return prev->sealed && prev->state != TOOL_SEG_CORRUPT;
  return prev->version > 0 && (prev->state == TOOL_SEG_OK ||
                               prev->state == TOOL_SEG_ZERO_ROOM);
}

/* Invariant 3: a creation cut short, which recovery renames aside. */
static void
creation_cut(struct tool_log *log, struct tool_seg *seg, const char *what)
{
  log->tail_seg = seg;
  log->tail_off = 0;
  if (log->holder > 0) {
    seg->state = TOOL_SEG_BEING_CREATED;
    log->tail = TOOL_TAIL_BEING_WRITTEN;
    report(log, seg, 0, TOOL_PROBLEM_NOTE, "segment being created (%s)",
           what);
    return;
  }
  seg->state = TOOL_SEG_HEADER_TORN;
  log->tail = TOOL_TAIL_HEADER;
  log->tail_bytes += seg->file.size;
  report(log, seg, 0, TOOL_PROBLEM_TAIL, "%s: a creation cut short, "
         "recovery would rename the file aside (%" PRIu64 " bytes)", what,
         seg->file.size);
}

static void
bad_header(struct tool_log *log, struct tool_seg *seg, bool last,
           const struct tool_seg *prev, enum tool_header_result hr)
{
  char what[96];

  if (last && creation_allowed(seg, prev) &&
      !tool_frame_witnessed(&seg->file, seg->segno,
                            MRLOG_FILE_HEADER_SIZE - 1)) {
    snprintf(what, sizeof(what), "file header: %s",
             tool_header_result_str(hr));
    creation_cut(log, seg, what);
    return;
  }
  seg->state = TOOL_SEG_CORRUPT;
  report(log, seg, 0, TOOL_PROBLEM_CORRUPT, "file header: %s%s",
         tool_header_result_str(hr),
         last ? " (not a creation cut short: a later frame shows it was "
                "synced, or the segment before is not sealed)" : "");
}

/* Bytes after a valid seal, from off (invariant 6). */
static void
after_seal(struct tool_log *log, struct tool_seg *seg, bool last,
           uint64_t off)
{
  if (tool_zeros_to_end(&seg->file, off)) {
    seg->zero_bytes = seg->file.size - off;
    if (seg->state == TOOL_SEG_OK)
      seg->state = TOOL_SEG_ZERO_ROOM;
    return;
  }
  if (last) {
    tail_cut(log, seg, off, TOOL_FRAME_OK);
    return;
  }
  seg->state = TOOL_SEG_CORRUPT;
  report(log, seg, off, TOOL_PROBLEM_CORRUPT, "%" PRIu64 " bytes after the "
         "segment's seal", seg->file.size - off);
}

static int
scan_segment(struct tool_log *log, struct tool_seg *seg, bool last,
             const struct tool_seg *prev)
{
  struct tool_file *f = &seg->file;
  enum tool_header_result hr;
  enum tool_frame_result res;
  struct tool_frame fr;
  uint32_t version;
  uint64_t off = MRLOG_FILE_HEADER_SIZE, next;
  bool inconsistent, to_end = false, v3;

  hr = tool_header_check(f, seg->segno, &version);
  if (hr == TOOL_HEADER_BAD_VERSION) {
    seg->state = TOOL_SEG_VERSION;
    tool_warn("%s/%s: format version %" PRIu32 " is not supported (this "
              "tool reads versions %u to %u)", log->path, seg->name, version,
              TOOL_FORMAT_VERSION_MIN, TOOL_FORMAT_VERSION_MAX);
    return TOOL_EXIT_VERSION;
  }
  seg->version = hr == TOOL_HEADER_OK ? version : 0;
  if (hr != TOOL_HEADER_OK) {
    bad_header(log, seg, last, prev, hr);
    return 0;
  }
  v3 = version >= TOOL_FORMAT_VERSION_SEAL;
  if (last && tool_frame_check(f, seg->segno, off, &fr) != TOOL_FRAME_OK &&
      creation_allowed(seg, prev) &&
      !tool_frame_witnessed(f, seg->segno, off)) {
    creation_cut(log, seg, "checkpoint: not a valid frame"); /* inv. 3 */
    return 0;
  }
  tool_replay_segment(&log->replay, seg); /* before its frames */
  seg->end = off;
  while (off < f->size) {
    res = scan_frames(log, seg, &off, &inconsistent);
    if (inconsistent) {
      seg->state = TOOL_SEG_CORRUPT;
      report(log, seg, log->replay.problem_off, TOOL_PROBLEM_CORRUPT,
             "inconsistent operation in the frame at offset %" PRIu64 ": %s",
             seg->last_frame, log->replay.problem);
      continue;
    }
    if (seg->sealed) {
      if (off < f->size)
        after_seal(log, seg, last, off);
      break;
    }
    if (off >= f->size)
      break;
    if (off > MRLOG_FILE_HEADER_SIZE && tool_zeros_to_end(f, off)) {
      to_end = true;
      if (v3 && !last) { /* invariant 6 */
        seg->state = TOOL_SEG_CORRUPT;
        report(log, seg, off, TOOL_PROBLEM_CORRUPT, "zero from here to the "
               "end, with no seal: the segment was zeroed, not closed here");
        break;
      }
      seg->zero_bytes = f->size - off; /* invariant 2 */
      if (seg->state == TOOL_SEG_OK)
        seg->state = TOOL_SEG_ZERO_ROOM;
      if (last) {
        log->tail = TOOL_TAIL_ZERO_ROOM;
        log->tail_seg = seg;
        log->tail_off = off;
      }
      break;
    }
    if (last && off > MRLOG_FILE_HEADER_SIZE &&
        !tool_frame_witnessed(f, seg->segno, off)) {
      tail_cut(log, seg, off, res);
      to_end = true;
      break;
    }
    next = tool_frame_next_valid(f, seg->segno, off + 1, &fr);
    seg->state = TOOL_SEG_CORRUPT;
    report(log, seg, off, TOOL_PROBLEM_CORRUPT, "%s (%s); %" PRIu64 " bytes "
           "skipped, to %s", tool_frame_result_str(res),
           !last ? "not the last segment"
           : off == MRLOG_FILE_HEADER_SIZE ? "the segment's checkpoint"
                                           : "a later frame shows it was "
                                             "synced",
           next - off, next < f->size ? "the next valid frame"
                                      : "the end of the file");
    to_end = next >= f->size;
    off = next;
  }
  if (v3 && !last && !seg->sealed && !to_end) {
    seg->state = TOOL_SEG_CORRUPT;
    report(log, seg, off, TOOL_PROBLEM_CORRUPT, "no seal at the end of the "
           "segment: it was cut short");
  }
  return 0;
}

int
tool_log_scan(struct tool_log *log)
{
  const struct tool_seg *prev = NULL;
  size_t i, last = 0;
  int rc = 0;

  for (i = 0; i < log->nsegs; i++)
    if (log->segs[i]->file.fd >= 0)
      last = i;
  for (i = 0; i < log->nsegs && rc == 0; i++) {
    struct tool_seg *seg = log->segs[i];

    if (i > 0 && log->segs[i - 1]->state != TOOL_SEG_VANISHED)
      prev = log->segs[i - 1];
    if (seg->state == TOOL_SEG_VANISHED) {
      report(log, seg, 0, TOOL_PROBLEM_NOTE, "deleted before it could be "
             "read (by the cleaner of a running process); skipped");
      continue;
    }
    seg->active = true;
    rc = scan_segment(log, seg, i == last, prev);
    seg->active = false;
    log->progress_base += seg->file.size;
    progress(log, 0);
    if (seg->file.shrank)
      report(log, seg, seg->file.size, TOOL_PROBLEM_NOTE, "the file shrank "
             "while it was read (a writer cut its zero-filled room)");
    tool_seg_idle(seg);
    if (seg->retained == 0 && i != last) /* tail --follow goes on there */
      tool_file_close(&seg->file);
  }
  return rc;
}

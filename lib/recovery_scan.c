/*
 * recovery_scan.c -- the walk over one segment's frames at open: what a bad
 * frame, a zero tail, a seal or a missing seal means, per format version
 * and recovery policy (docs/FORMAT.md 9.1), and the reports of what
 * MRLOG_RECOVER_SKIP_CORRUPT drops.  The opener's thread only.
 *
 * Invariants:
 *  1. Damage at X in the newest segment is a torn tail (cut) only if no
 *     valid frame after X witnesses X (synced > X) and X is past the
 *     checkpoint: a bad checkpoint is a creation cut short or corruption,
 *     and recovery.c decides which before replay.
 *  2. Version 3: a valid seal ends the segment.  Zeros after it are a
 *     clean end in any segment; other bytes after it are a tail of the
 *     newest segment (cut, counted; STRICT fails) and corruption anywhere
 *     else.  An older segment without a seal (cut short, zeroed, damaged
 *     end) is corruption.  The newest one without a seal was not closed
 *     cleanly: its zero tail is cut outside STRICT, and STRICT, which
 *     cannot tell that room from zeroed records, fails on it.
 *  3. Versions 1 and 2 keep their rules: zeros from a frame boundary to
 *     the end are a clean end in any segment.
 *  4. The witness index is built at most once per segment, in one pass
 *     from the first damaged offset: valid frames found by a byte scan
 *     and followed along their chains, reduced to suffix maxima of
 *     synced, so each query is a binary search and all of them together
 *     cost one pass over the file.
 *  5. Every range SKIP_CORRUPT drops is reported (log_fn WARN, stats); so
 *     are the positions found missing after it (mrlog__note_gap).
 */
#include "base.h"
#include "internal.h"
#include "apply.h"
#include "queue.h"
#include "recovery.h"
#include "segment.h"

#include <stdlib.h>
#include <string.h>

size_t
mrlog__scan_next_valid(const struct mrlog__scan *s, size_t from)
{
  uint32_t body_len, synced;
  size_t y = from, stop;

  /* No frame starts inside a hole (holes.c invariant 2). */
  while ((y = mrlog__holes_skip(&s->holes, y, MRLOG_FRAME_HEADER_SIZE)) +
         MRLOG_FRAME_HEADER_SIZE <= s->len) {
    stop = mrlog__holes_next(&s->holes, y + 1, s->len);
    for (; y < stop && y + MRLOG_FRAME_HEADER_SIZE <= s->len; y++)
      if (mrlog__holes_frame_check(&s->holes, s->data, s->len, y, s->segno,
                                   &body_len, &synced) == MRLOG_FRAME_OK)
        return y;
  }
  return s->len;
}

/* True if data[p, end) is all zero. */
static bool
zeros(const uint8_t *p, const uint8_t *end)
{
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

bool
mrlog__scan_zeros_to_end(const struct mrlog__scan *s, size_t off)
{
  size_t next;

  /* Holes are zeros and are not read (holes.c invariant 1). */
  while ((off = mrlog__holes_skip(&s->holes, off, 1)) < s->len) {
    next = mrlog__holes_next(&s->holes, off, s->len);
    if (!zeros(s->data + off, s->data + next))
      return false;
    off = next;
  }
  return true;
}

/* Adds a valid frame (in ascending offsets) to the index, dropping the
 * entries it dominates (invariant 4). */
static int
push_witness(struct mrlog__scan *s, size_t off, uint32_t synced)
{
  while (s->w_n > 0 && s->w_syn[s->w_n - 1] <= synced)
    s->w_n--;
  if (s->w_n == s->w_cap) {
    size_t cap = s->w_cap ? 2 * s->w_cap : 16;
    size_t *o = realloc(s->w_off, cap * sizeof(*o));
    uint32_t *y;

    if (o == NULL)
      return MRLOG_ENOMEM;
    s->w_off = o;
    y = realloc(s->w_syn, cap * sizeof(*y));
    if (y == NULL)
      return MRLOG_ENOMEM;
    s->w_syn = y;
    s->w_cap = cap;
  }
  s->w_off[s->w_n] = off;
  s->w_syn[s->w_n] = synced;
  s->w_n++;
  return 0;
}

static int
build_witness(struct mrlog__scan *s, size_t from)
{
  size_t y = from;
  uint32_t body_len, synced;
  int rc;

  s->w_n = 0;
  s->w_from = from;
  s->w_built = true;
  while ((y = mrlog__scan_next_valid(s, y)) < s->len) {
    /* Follow the chain of valid frames; resume the byte scan one byte
     * past where it breaks. */
    while (y + MRLOG_FRAME_HEADER_SIZE <= s->len &&
           mrlog__holes_frame_check(&s->holes, s->data, s->len, y, s->segno,
                                    &body_len, &synced) == MRLOG_FRAME_OK) {
      if ((rc = push_witness(s, y, synced)) != 0)
        return rc;
      y += MRLOG_FRAME_HEADER_SIZE + body_len;
    }
    y++;
  }
  return 0;
}

int
mrlog__scan_witnessed(struct mrlog__scan *s, size_t x, bool *out)
{
  size_t lo = 0, hi;
  int rc;

  if (!s->w_built || x + 1 < s->w_from) {
    if ((rc = build_witness(s, x + 1)) != 0)
      return rc;
  }
  /* The first entry past x holds the largest synced of all after x. */
  hi = s->w_n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (s->w_off[mid] <= x)
      lo = mid + 1;
    else
      hi = mid;
  }
  *out = lo < s->w_n && s->w_syn[lo] > x;
  return 0;
}

void
mrlog__scan_free(struct mrlog__scan *s)
{
  free(s->w_off);
  free(s->w_syn);
  s->w_off = NULL;
  s->w_syn = NULL;
  s->w_n = s->w_cap = 0;
  s->w_built = false;
}

void
mrlog__report_drop(struct mrlog *log, uint64_t segno, size_t off, size_t len,
                   bool len_known, const char *what)
{
  if (len_known)
    mrlog__logf(log, MRLOG_LOG_WARN,
                "segment %016llx: dropped %zu bytes at offset %zu (%s)",
                (unsigned long long)segno, len, off, what);
  else
    mrlog__logf(log, MRLOG_LOG_WARN,
                "segment %016llx: dropped the data from offset %zu on, of "
                "unknown length (%s)", (unsigned long long)segno, off, what);
  log->recovery_skipped = true;
  log->skip_watch = true;
  mrlog__note_lost_bound(log, len_known ? len : MRLOG_SEGMENT_FILE_MAX);
  log->skipped_ranges++;
  if (len_known) {
    log->skipped_bytes += len;
    atomic_fetch_add(&log->stat_discarded, len);
  }
}

void
mrlog__note_gap(struct mrlog *log, const struct mrlog__queue *q, uint64_t lo,
                uint64_t hi)
{
  mrlog__logf(log, MRLOG_LOG_WARN,
              "queue \"%.*s\": positions %llu..%llu are missing after the "
              "dropped data (lost with it)", (int)q->name_len, q->name,
              (unsigned long long)lo, (unsigned long long)(hi - 1));
  log->skipped_records += hi - lo;
}

/* Bytes after a valid seal, from off (invariant 2). */
static int
after_seal(struct mrlog *log, const struct mrlog__scan *s, size_t off,
           struct mrlog__seg_end *e, size_t *cut_at, bool *count_cut)
{
  int policy = log->policy.recovery;

  e->end = off;
  if (mrlog__scan_zeros_to_end(s, off)) {
    mrlog__logf(log, MRLOG_LOG_INFO, "segment %016llx: %zu zero bytes after "
                "its seal at offset %zu%s", (unsigned long long)s->segno,
                s->len - off, off,
                s->last && policy != MRLOG_RECOVER_STRICT ? ", cut off" : "");
    if (s->last && policy != MRLOG_RECOVER_STRICT)
      *cut_at = off;
    return 0;
  }
  if (s->last) {
    mrlog__logf(log, MRLOG_LOG_WARN, "segment %016llx: %zu bytes after its "
                "seal at offset %zu%s", (unsigned long long)s->segno,
                s->len - off, off,
                policy == MRLOG_RECOVER_STRICT ? "" : ", cut off");
    if (policy == MRLOG_RECOVER_STRICT)
      return MRLOG_ECORRUPT;
    *cut_at = off;
    *count_cut = true;
    e->clean = false;
    return 0;
  }
  mrlog__logf(log, MRLOG_LOG_ERROR, "segment %016llx: %zu bytes after its "
              "seal at offset %zu", (unsigned long long)s->segno,
              s->len - off, off);
  if (policy != MRLOG_RECOVER_SKIP_CORRUPT)
    return MRLOG_ECORRUPT;
  mrlog__report_drop(log, s->segno, off, s->len - off, true,
                     "bytes after the seal");
  e->clean = false;
  return 0;
}

/* A zero tail from off (invariants 2 and 3).  1 when the walk ends. */
static int
zero_tail(struct mrlog *log, const struct mrlog__scan *s, size_t off,
          struct mrlog__seg_end *e, size_t *cut_at)
{
  int policy = log->policy.recovery;

  if (s->version < MRLOG_FORMAT_VERSION_SEAL || s->last) {
    if (s->version >= MRLOG_FORMAT_VERSION_SEAL &&
        policy == MRLOG_RECOVER_STRICT) {
      mrlog__logf(log, MRLOG_LOG_ERROR, "segment %016llx: not sealed, and "
                  "zero from offset %zu to its end (zero-filled room, or "
                  "zeroed records)", (unsigned long long)s->segno, off);
      return MRLOG_ECORRUPT;
    }
    if (s->last && policy != MRLOG_RECOVER_STRICT) {
      mrlog__logf(log, MRLOG_LOG_INFO, "segment %016llx: %zu bytes of "
                  "zero-filled room at offset %zu, cut off",
                  (unsigned long long)s->segno, s->len - off, off);
      *cut_at = off;
      e->end = off;
    }
    return 1;
  }
  mrlog__logf(log, MRLOG_LOG_ERROR, "segment %016llx: zero from offset %zu "
              "to its end, with no seal: it was zeroed, not closed there",
              (unsigned long long)s->segno, off);
  if (policy != MRLOG_RECOVER_SKIP_CORRUPT)
    return MRLOG_ECORRUPT;
  mrlog__report_drop(log, s->segno, off, s->len - off, true,
                     "zeroed end of an older segment");
  e->clean = false;
  return 1;
}

int
mrlog__scan_replay(struct mrlog *log, struct mrlog__segment *seg,
                   struct mrlog__scan *s, struct mrlog__seg_end *e,
                   size_t *cut_at, bool *count_cut)
{
  int policy = log->policy.recovery;
  bool v3 = s->version >= MRLOG_FORMAT_VERSION_SEAL, witnessed;
  bool to_end = false;
  size_t off = MRLOG_FILE_HEADER_SIZE, size, y;
  uint32_t body_len, synced;
  enum mrlog__frame_check res;
  int rc;

  *cut_at = SIZE_MAX;
  *count_cut = false;
  e->sealed = false;
  e->clean = true;
  e->end = s->len;
  while (off < s->len) {
    res = mrlog__holes_frame_check(&s->holes, s->data, s->len, off,
                                   s->segno, &body_len, &synced);
    if (res == MRLOG_FRAME_OK) {
      const uint8_t *body = s->data + off + MRLOG_FRAME_HEADER_SIZE;

      size = MRLOG_FRAME_HEADER_SIZE + body_len;
      if (v3 && off > MRLOG_FILE_HEADER_SIZE && body[0] == MRLOG_OP_SEAL &&
          mrlog__seal_check(body, body_len, (uint32_t)off, synced)) {
        e->sealed = true;
        if (off + size < s->len)
          return after_seal(log, s, off + size, e, cut_at, count_cut);
        return 0;
      }
      rc = mrlog__apply_frame(log, seg, body, body_len,
                              MRLOG_LSN(s->segno, off + size),
                              off == MRLOG_FILE_HEADER_SIZE);
      if (rc == MRLOG_ENOMEM)
        return rc;
      if (rc != 0) {
        mrlog__logf(log, MRLOG_LOG_ERROR,
                    "segment %016llx: inconsistent frame at offset %zu",
                    (unsigned long long)s->segno, off);
        if (policy != MRLOG_RECOVER_SKIP_CORRUPT)
          return MRLOG_ECORRUPT;
        mrlog__report_drop(log, s->segno, off, size, true,
                           "inconsistent frame; the operations before the "
                           "bad one stay applied");
        e->clean = false;
      }
      off += size;
      continue;
    }
    /* Damage at off.  A bad checkpoint is never a tail (invariant 1). */
    if (off > MRLOG_FILE_HEADER_SIZE && mrlog__scan_zeros_to_end(s, off)) {
      rc = zero_tail(log, s, off, e, cut_at);
      if (rc < 0)
        return rc;
      to_end = true;
      break;
    }
    if ((rc = mrlog__scan_witnessed(s, off, &witnessed)) != 0)
      return rc;
    if (s->last && !witnessed && off > MRLOG_FILE_HEADER_SIZE) {
      mrlog__logf(log, MRLOG_LOG_WARN,
                  "segment %016llx: %s tail of %zu bytes at offset %zu%s",
                  (unsigned long long)s->segno,
                  res == MRLOG_FRAME_BAD ? "corrupt" : "torn", s->len - off,
                  off, policy == MRLOG_RECOVER_STRICT ? "" : ", cut off");
      if (policy == MRLOG_RECOVER_STRICT)
        return MRLOG_ECORRUPT;
      *cut_at = off;
      *count_cut = true;
      e->end = off;
      e->clean = false;
      return 0;
    }
    mrlog__logf(log, MRLOG_LOG_ERROR,
                "segment %016llx: corrupt frame at offset %zu (%s)",
                (unsigned long long)s->segno, off,
                witnessed ? "a later frame witnesses that it was durable"
                : s->last ? "the segment's checkpoint"
                          : "not the newest segment");
    if (policy != MRLOG_RECOVER_SKIP_CORRUPT)
      return MRLOG_ECORRUPT;
    y = mrlog__scan_next_valid(s, off + 1);
    mrlog__report_drop(log, s->segno, off, y - off, true, "damaged frames");
    e->clean = false;
    to_end = y >= s->len;
    off = y;
  }
  if (v3 && !s->last && !to_end) {
    /* An older segment must end with its seal (invariant 2). */
    mrlog__logf(log, MRLOG_LOG_ERROR, "segment %016llx: no seal at its end "
                "(offset %zu): it was cut short", (unsigned long long)s->segno,
                off);
    if (policy != MRLOG_RECOVER_SKIP_CORRUPT)
      return MRLOG_ECORRUPT;
    mrlog__report_drop(log, s->segno, off, 0, false,
                       "the end of a segment cut short");
    e->clean = false;
  }
  return 0;
}

/*
 * recovery.h -- private to lib/recovery.c and lib/recovery_scan.c: the
 * walk over one segment's frames and what it decides (docs/FORMAT.md
 * section 9).
 */
#ifndef MRLOG_RECOVERY_H
#define MRLOG_RECOVERY_H

#include "holes.h"
#include "internal.h"

/* One segment file being replayed.  Owned by the opener's thread. */
struct mrlog__scan {
  const uint8_t *data; /* the whole file */
  size_t len;          /* its size */
  uint64_t segno;
  uint32_t version;    /* of its valid header (0 if the header is bad) */
  bool last;           /* the newest segment present */
  struct mrlog__holes holes; /* known to be zero; skipped (holes.c) */
  /* Witness index (mrlog__scan_witnessed): the valid frames at offsets
   * >= w_from, reduced to their suffix maxima of `synced`: offsets
   * ascending, synced strictly descending.  Built once, on first use. */
  bool w_built;
  size_t w_from;
  size_t *w_off;
  uint32_t *w_syn;
  size_t w_n, w_cap;
};

/* How a replayed segment ended, for the rules that depend on the segment
 * before (creation cut short) and for the seal at open. */
struct mrlog__seg_end {
  bool present;     /* replayed (not renamed aside) */
  uint64_t segno;
  uint32_t version;
  bool sealed;      /* ends exactly with a valid seal (version 3) */
  bool clean;       /* nothing was dropped, cut or found damaged */
  size_t end;       /* its length once any tail is cut */
};

/* Sets *out to whether some valid frame at an offset > x has synced > x
 * (x was durable when that frame was written).  Linear in the file size
 * for any number of calls.  0 or MRLOG_ENOMEM. */
int mrlog__scan_witnessed(struct mrlog__scan *s, size_t x, bool *out);
void mrlog__scan_free(struct mrlog__scan *s);
/* First offset >= from at which a valid frame starts, or s->len. */
size_t mrlog__scan_next_valid(const struct mrlog__scan *s, size_t from);
/* True if s holds only zero bytes from off to its end. */
bool mrlog__scan_zeros_to_end(const struct mrlog__scan *s, size_t off);

/* Replays the frames of s (its header is valid) into seg.  Fills *e;
 * *cut_at is the offset to cut the file at (SIZE_MAX: none) and
 * *count_cut whether the cut bytes count as discarded.  0 or a status. */
int mrlog__scan_replay(struct mrlog *log, struct mrlog__segment *seg,
                       struct mrlog__scan *s, struct mrlog__seg_end *e,
                       size_t *cut_at, bool *count_cut);

/* SKIP_CORRUPT dropped len bytes at off of segment segno (len_known false:
 * the length is not known, as for the missing end of a segment): WARN
 * through log_fn, stats.skipped_*, discarded_tail_bytes; from here on,
 * replay reports the positions found missing (mrlog__note_gap). */
/* Every queue may have lost up to `bytes` positions at its end with a
 * dropped range: adds it to each queue's lost_bound (invariant 13). */
void mrlog__note_lost_bound(struct mrlog *log, uint64_t bytes);

void mrlog__report_drop(struct mrlog *log, uint64_t segno, size_t off,
                        size_t len, bool len_known, const char *what);

/* Recovery (lib/recovery.c): replays the segments, heals the tail and
 * deletes empty segments.  Called by open before any thread starts. */
int mrlog__recover(struct mrlog *log);
/* Recovery after a dropped range (log->skip_watch): positions lo..hi-1 of
 * q are missing; reported and counted (lib/recovery_scan.c). */
void mrlog__note_gap(struct mrlog *log, const struct mrlog__queue *q,
                     uint64_t lo, uint64_t hi);

#endif /* MRLOG_RECOVERY_H */

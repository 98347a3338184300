/*
 * segment.h -- segment files (lib/segment.c): naming, listing, whole-file
 * reads, full writes, directory fsync and the list of segments the log
 * holds.  Thread rules are on struct mrlog__segment.
 */
#ifndef MRLOG_SEGMENT_H
#define MRLOG_SEGMENT_H

#include "base.h"
#include "format.h"

#include <stdatomic.h>
#include <sys/uio.h>

struct mrlog;
struct mrlog__mapslot;

/*
 * One segment file.  The list is guarded by seg_mutex; `live` and
 * `emptied_lsn` are written by the writer only (emptied_lsn first, then
 * live with release) and read by the cleaner (live with acquire first).
 * A segment other than the hot one never gains records, so once it shows
 * live == 0 it stays deletable.
 */
struct mrlog__segment {
  struct mrlog__segment *next; /* newer segment; seg_mutex */
  uint64_t segno;              /* immutable */
  _Atomic uint64_t size;       /* bytes in the file; writer */
  _Atomic uint64_t live;       /* retained records stored here */
  _Atomic uint64_t emptied_lsn; /* LSN of the frame that emptied it */
  atomic_bool hot;             /* the writer's current file */
  uint64_t created_ms;         /* immutable: now_ms when the writer made
                                  it (0 for segments found at open) */
  uint64_t checkpoint_end;     /* immutable: offset after its checkpoint
                                  (0 for segments found at open) */
  bool pinned;                 /* never deleted (set at open, see
                                  recovery.c invariant 8) */
};

void mrlog__segment_name(char out[MRLOG_SEGMENT_NAME_LEN + 1], uint64_t segno);
/* Parses a segment file name; false for foreign names. */
bool mrlog__segment_parse_name(const char *name, uint64_t *segno);
/* Lists segment numbers in dir_fd, ascending.  OUT: *segnos (malloc'd). */
int mrlog__segment_list(int dir_fd, uint64_t **segnos, size_t *count);
/* Reads a whole file: mapped read-only (its every page read once), or
 * into an anonymous buffer.  OUT: *data, *len, and *watch: for a mapping,
 * its registration with the SIGBUS handler (mapfault.h), which stays from
 * that first read until mrlog__release_file or mrlog__filemap_new takes
 * it over, so a page lost while recovery scans reads as zeros and counts
 * in the slot's faults instead of killing the process; NULL for a
 * buffer.  Give all three back to mrlog__release_file. */
int mrlog__read_file(struct mrlog *log, const char *name, uint8_t **data,
                     size_t *len, struct mrlog__mapslot **watch);
void mrlog__release_file(struct mrlog *log, uint8_t *data, size_t len,
                         struct mrlog__mapslot *watch);
/* Writes all of buf at off, retrying EINTR and short writes. */
int mrlog__pwrite_all(struct mrlog *log, int fd, const void *buf, size_t len,
                      uint64_t off);
/* Writes cnt pieces back to back at off (pwritev, or pwrite per piece when
 * the file layer has no pwritev), retrying EINTR and short writes.  iov is
 * consumed (changed). */
int mrlog__pwritev_all(struct mrlog *log, int fd, struct iovec *iov, int cnt,
                       uint64_t off);
/* Maps errno to MRLOG_EIO / MRLOG_ENOSPC / MRLOG_ENOMEM. */
int mrlog__status_from_errno(int err);
int mrlog__fsync_dir(struct mrlog *log);
struct mrlog__segment *mrlog__segment_new(uint64_t segno);
/* Inserts seg in number order.  Takes seg_mutex. */
void mrlog__segment_add(struct mrlog *log, struct mrlog__segment *seg);
/* Decrements seg's live count by n at frame lsn (writer only). */
void mrlog__segment_drop_live(struct mrlog *log, struct mrlog__segment *seg,
                              uint64_t n,
                              uint64_t lsn);

#endif /* MRLOG_SEGMENT_H */

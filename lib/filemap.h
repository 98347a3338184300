/*
 * filemap.h -- read-only mappings of segment files shared by mapped
 * chunks (lib/filemap.c).  Reference counted: any thread that holds a
 * chunk may read through its mapping; the last unref unmaps.
 */
#ifndef MRLOG_FILEMAP_H
#define MRLOG_FILEMAP_H

#include "base.h"

#include <stdatomic.h>

struct mrlog;
struct mrlog__mapslot;

/* A segment file's read-only mapping, shared by the mapped chunks whose
 * records lie in it (lib/filemap.c): a recovered file's (io->map), or the
 * hot segment's under MRLOG_STORE_MAPPED (a window the file grows into,
 * mrlog__filemap_window).  new holds one reference (the caller's); the
 * last unref unmaps it.  `counted` is what it adds to stat_memory: a
 * recovered file's length, or the bytes the writer has written into a hot
 * one.  Every mapping is registered with the SIGBUS handler (mapfault.h):
 * a read of it checks `slot` for lost pages. */
struct mrlog__filemap {
  const uint8_t *base;
  size_t len;                 /* bytes mapped: fixed, except that the
                                 writer shrinks a hot window at rotation
                                 (filemap_seal) while it holds a
                                 reference; the last unref reads it */
  bool own_mmap;              /* mapped by filemap.c, else by log->io */
  size_t counted;             /* writer, while it holds its reference */
  struct mrlog__mapslot *slot; /* its registration (never NULL) */
  uint64_t segno;             /* its segment, for messages */
  atomic_uint refs;
};

/* A recovered file's mapping (mrlog__read_file), which takes over its
 * registration `watch` (faults seen so far included).  NULL when there is
 * no memory: the caller keeps base and watch and copies the records. */
struct mrlog__filemap *mrlog__filemap_new(struct mrlog *log,
                                          const uint8_t *base, size_t len,
                                          struct mrlog__mapslot *watch,
                                          uint64_t segno);
/* The hot window's length for a segment whose checkpoint ends at
 * checkpoint_end: every offset a frame that starts before the rotation
 * point may reach, plus HOT_SLACK (filemap.c). */
size_t mrlog__filemap_window(const struct mrlog *log, uint64_t checkpoint_end);
/* The hot segment's window: maps segment `name` of the log's directory
 * read-only and shared, mrlog__filemap_window(log, checkpoint_end) bytes
 * long.  NULL (errno set) on failure. */
struct mrlog__filemap *mrlog__filemap_hot(struct mrlog *log,
                                          const char *name, uint64_t segno,
                                          uint64_t checkpoint_end);
/* Writer, at rotation: the segment ends at `end`, so the window past it
 * (rounded up to a page) is unmapped; the address space a sealed segment
 * keeps is its length. */
void mrlog__filemap_seal(struct mrlog__filemap *m, uint64_t end);
/* Readers: MRLOG_EIO if bytes [off, off + len) of m were lost to a fault
 * (mapfault.h), after logging it once per mapping; else 0.  Call after
 * touching the bytes (mrlog__mapfault_probe). */
int mrlog__filemap_check(struct mrlog *log, const struct mrlog__filemap *m,
                         size_t off, size_t len);
/* Writer: n more bytes written into the hot window m. */
void mrlog__filemap_count(struct mrlog *log, struct mrlog__filemap *m,
                          size_t n);
void mrlog__filemap_ref(struct mrlog__filemap *m);
void mrlog__filemap_unref(struct mrlog *log, struct mrlog__filemap *m);

#endif /* MRLOG_FILEMAP_H */

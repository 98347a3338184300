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

/* A segment file's read-only mapping, shared by the mapped chunks whose
 * records lie in it (lib/filemap.c): a recovered file's (io->map), or the
 * hot segment's under MRLOG_STORE_MAPPED (a 4 GiB window the file grows
 * into).  new holds one reference (the caller's); the last unref unmaps
 * it.  `counted` is what it adds to stat_memory: a recovered file's
 * length, or the bytes the writer has written into a hot one. */
struct mrlog__filemap {
  const uint8_t *base;
  size_t len;                /* bytes mapped (immutable) */
  bool own_mmap;             /* mapped by filemap.c, else by log->io */
  size_t counted;            /* writer, while it holds its reference */
  atomic_uint refs;
};

struct mrlog__filemap *mrlog__filemap_new(struct mrlog *log,
                                          const uint8_t *base, size_t len);
/* The hot segment's window: maps fd_name of dir read-only and shared.
 * NULL (errno set) on failure. */
struct mrlog__filemap *mrlog__filemap_hot(struct mrlog *log,
                                          const char *name);
/* Writer: n more bytes written into the hot window m. */
void mrlog__filemap_count(struct mrlog *log, struct mrlog__filemap *m,
                          size_t n);
void mrlog__filemap_ref(struct mrlog__filemap *m);
void mrlog__filemap_unref(struct mrlog *log, struct mrlog__filemap *m);

#endif /* MRLOG_FILEMAP_H */

/*
 * fuzz_common.h -- shared by the fuzz targets and the seed generator: the
 * container format that turns fuzz bytes into a log directory, and
 * helpers for a private scratch directory.
 *
 * Container (fuzz_recovery input):
 *   byte 0        global flags (bit 0: install a log_fn)
 *   then entries  [sel u8][len u16le][len bytes]   (len clamped to the rest)
 *     kind = (sel >> 4) % FZ_KINDS, idx = sel & 15:
 *     FZ_RAW      segment file named fz_segnos[idx], bytes verbatim
 *     FZ_SYNTH    segment file named fz_segnos[idx], bytes are a synth
 *                 description (below), checksums computed for that segno
 *     FZ_LOCK     the LOCK file, bytes verbatim
 *     FZ_HOSTILE  a foreign name fz_hostile[idx % n], bytes verbatim
 *     FZ_DIR      a directory named like segment fz_segnos[idx]
 *     FZ_MISPLACED synth, but checksums for fz_segnos[(idx + 1) & 15]
 *     FZ_PARTIAL  synth, then cut to the u16le length that starts the bytes
 *     FZ_SPARSE   (kind 15 only; 14 is FZ_RAW as before) a sparse segment
 *                 file: [size u32le][h u8][n x (off u32le, pages u16le)]
 *                 then a synth description, n = h & 127; the synth bytes
 *                 are written, the file is extended to size + (h >> 7)
 *                 (so up to 4 GiB, one byte past the largest segment
 *                 file) and a hole of pages x 4 KiB is punched at each
 *                 off: a few bytes of data in a file of any size
 *
 * Synth description: [hmode u8] then frames [ctl u8][blen u16le]
 *   [synced u32le if (ctl & 3) == 3][blen body bytes]
 *   hmode % 5: 0 valid header, 1 bad header crc, 2 version 2 (crc valid),
 *              3 header for another segno, 4 only 16 header bytes
 *   ctl bits 0-1: synced = 0 | frame offset | offset / 2 | explicit
 *   ctl bit 2: flip hcrc    bit 3: flip bcrc
 *   ctl bit 4: the body bytes only, no frame header (garbage)
 *   ctl bit 5: body_length field 0   bit 6: body_length field blen + 7
 *   ctl bit 7 (with bit 6): body_length field 0x7fffffff, the largest
 */
#ifndef MRLOG_FUZZ_COMMON_H
#define MRLOG_FUZZ_COMMON_H

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "format.h"

enum { FZ_RAW, FZ_SYNTH, FZ_LOCK, FZ_HOSTILE, FZ_DIR, FZ_MISPLACED,
       FZ_PARTIAL, FZ_KINDS };
/* Outside the modulo, so that older inputs keep their meaning. */
#define FZ_SPARSE 15u
#define FZ_SPARSE_MAX ((uint64_t)MRLOG_SEGMENT_FILE_MAX + 1)

#define FZ_MAX_ENTRIES 24
#define FZ_FLAG_LOGFN 1u

static const uint64_t fz_segnos[16] = {
  1, 2, 3, 4, 5, 6, 7, 8,
  0, 0x10, 0xff, 0xfffffffeull, 0xffffffffull, 0x100000000ull,
  0xfffffffffffffffeull, 0xffffffffffffffffull
};

static const char *const fz_hostile[] = {
  "0000000000000001.MRLOG", "000000000000000A.mrlog",
  "0000000000000001.mrlog.corrupt", "000000000000001.mrlog",
  "00000000000000001.mrlog", ".mrlog", "foo", "0000000000000001.mrlogx",
  "x000000000000001.mrlog", "0000000000000002.mrlog.corrupt",
  "0000000000000001.mrlo", "LOCK.mrlog", "-000000000000001.mrlog",
  "0x00000000000001.mrlog", " 000000000000001.mrlog", "lock"
};
#define FZ_NHOSTILE (sizeof(fz_hostile) / sizeof(fz_hostile[0]))

/* A growable output buffer; aborts on OOM (inputs are small). */
struct fz_buf {
  uint8_t *p;
  size_t len, cap;
};

static void
fz_put(struct fz_buf *b, const void *src, size_t n)
{
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
      cap *= 2;
    b->p = realloc(b->p, cap);
    if (b->p == NULL)
      abort();
    b->cap = cap;
  }
  if (n)
    memcpy(b->p + b->len, src, n);
  b->len += n;
}

static void
fz_put_u8(struct fz_buf *b, uint8_t v)
{
  fz_put(b, &v, 1);
}

static void
fz_put_u16(struct fz_buf *b, uint16_t v)
{
  uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
  fz_put(b, x, 2);
}

static void
fz_put_u32(struct fz_buf *b, uint32_t v)
{
  uint8_t x[4];
  mrlog__put_u32le(x, v);
  fz_put(b, x, 4);
}

static void
fz_segname(char out[32], uint64_t segno)
{
  snprintf(out, 32, "%016llx.mrlog", (unsigned long long)segno);
}

/* Builds a segment file from a synth description. */
static void
fz_synth(struct fz_buf *out, const uint8_t *d, size_t n, uint64_t segno)
{
  uint8_t hdr[MRLOG_FILE_HEADER_SIZE];
  uint8_t hmode = n > 0 ? d[0] % 5 : 0;
  size_t i = n > 0 ? 1 : 0;

  mrlog__file_header_encode(hdr, hmode == 3 ? segno + 1 : segno);
  if (hmode == 1)
    hdr[28] ^= 0x5a;
  if (hmode == 2) {
    mrlog__put_u32le(hdr + 8, 2);
    mrlog__put_u32le(hdr + 28, mrlog__crc32c(hdr, 28));
  }
  fz_put(out, hdr, hmode == 4 ? 16 : sizeof(hdr));
  while (i + 3 <= n) {
    uint8_t ctl = d[i];
    size_t blen = (size_t)d[i + 1] | (size_t)d[i + 2] << 8;
    uint32_t off = (uint32_t)out->len, synced = 0, lenfield;
    uint8_t fh[MRLOG_FRAME_HEADER_SIZE];
    size_t at;

    i += 3;
    switch (ctl & 3) {
    case 0: synced = 0; break;
    case 1: synced = off; break;
    case 2: synced = off / 2; break;
    case 3:
      if (i + 4 > n)
        return;
      synced = mrlog__get_u32le(d + i);
      i += 4;
      break;
    }
    if (blen > n - i)
      blen = n - i;
    if (ctl & 0x10) {
      fz_put(out, d + i, blen);
      i += blen;
      continue;
    }
    at = out->len;
    memset(fh, 0, sizeof(fh));
    fz_put(out, fh, sizeof(fh));
    fz_put(out, d + i, blen);
    i += blen;
    /* Encode with the true length (bcrc covers the body), then lie. */
    mrlog__frame_header_encode(out->p + at, segno, off, (uint32_t)blen,
                               synced);
    lenfield = (uint32_t)blen;
    if (ctl & 0x20)
      lenfield = 0;
    if (ctl & 0x40)
      lenfield = ctl & 0x80 ? MRLOG_FRAME_BODY_MAX : (uint32_t)blen + 7;
    if (lenfield != blen) {
      /* Keep hcrc valid over the lying length so the lie is what is
       * tested, not the checksum. */
      uint8_t id[16];
      mrlog__put_u32le(out->p + at + 4, lenfield);
      mrlog__put_u64le(id, segno);
      mrlog__put_u64le(id + 8, off);
      mrlog__put_u32le(out->p + at,
                       mrlog__crc32c_extend(mrlog__crc32c(id, 16),
                                            out->p + at + 4, 12));
    }
    if (ctl & 0x04)
      out->p[at] ^= 0x01;
    if (ctl & 0x08) {
      uint32_t bcrc = mrlog__get_u32le(out->p + at + 12) ^ 0x80000000u;
      uint8_t id[16];
      mrlog__put_u32le(out->p + at + 12, bcrc);
      if (!(ctl & 0x04)) { /* hcrc stays valid, so only the body is bad */
        mrlog__put_u64le(id, segno);
        mrlog__put_u64le(id + 8, off);
        mrlog__put_u32le(out->p + at,
                         mrlog__crc32c_extend(mrlog__crc32c(id, 16),
                                              out->p + at + 4, 12));
      }
    }
  }
}

static int
fz_write_file(int dirfd, const char *name, const void *p, size_t n)
{
  int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
                                   O_NOFOLLOW, 0644);
  const uint8_t *c = p;

  if (fd < 0)
    return -1;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w <= 0) {
      close(fd);
      return -1;
    }
    c += w;
    n -= (size_t)w;
  }
  close(fd);
  return 0;
}

/* A sparse segment file (FZ_SPARSE): its data, then a size and holes. */
static void
fz_sparse(int dirfd, const char *name, const uint8_t *p, size_t n,
          uint64_t segno)
{
  struct fz_buf b = { 0 };
  uint64_t size;
  size_t nh, i, at = 5;
  int fd;

  if (n < 5)
    return;
  size = mrlog__get_u32le(p) + (uint64_t)(p[4] >> 7);
  nh = p[4] & 0x7f;
  if (at + 6 * nh > n)
    nh = (n - at) / 6;
  at += 6 * nh;
  fz_synth(&b, p + at, n - at, segno);
  if (size > FZ_SPARSE_MAX)
    size = FZ_SPARSE_MAX;
  if (fz_write_file(dirfd, name, b.p, b.len) == 0 &&
      (fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)) >= 0) {
    if (size > b.len && ftruncate(fd, (off_t)size) != 0) {
      /* A file system that cannot: the file stays as written. */
    }
    for (i = 0; i < nh; i++) {
      const uint8_t *h = p + 5 + 6 * i;
      off_t off = (off_t)mrlog__get_u32le(h) & ~(off_t)4095;
      off_t len = (off_t)((size_t)h[4] | (size_t)h[5] << 8) * 4096;

      if (len > 0)
        (void)fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off,
                        len);
    }
    close(fd);
  }
  free(b.p);
}

/* Result of materialising an input. */
struct fz_dirinfo {
  unsigned flags;
  int big_segno; /* a segment number >= 2^32 - 1 is present (see report) */
};

/* Writes the directory described by data into dirfd (assumed empty). */
static void
fz_build_dir(int dirfd, const uint8_t *data, size_t size,
             struct fz_dirinfo *info)
{
  size_t i = 1, entries = 0;

  memset(info, 0, sizeof(*info));
  if (size == 0)
    return;
  info->flags = data[0];
  while (i + 3 <= size && entries++ < FZ_MAX_ENTRIES) {
    uint8_t sel = data[i];
    size_t len = (size_t)data[i + 1] | (size_t)data[i + 2] << 8;
    unsigned kind = (sel >> 4) == FZ_SPARSE ? FZ_SPARSE
                                            : (sel >> 4) % FZ_KINDS;
    unsigned idx = sel & 15;
    char name[32];
    struct fz_buf b = { 0 };
    const uint8_t *p;

    i += 3;
    if (len > size - i)
      len = size - i;
    p = data + i;
    i += len;
    if (kind != FZ_LOCK && kind != FZ_HOSTILE && fz_segnos[idx] >= 0xfffffff0ull)
      info->big_segno = 1;
    fz_segname(name, fz_segnos[idx]);
    switch (kind) {
    case FZ_RAW:
      fz_write_file(dirfd, name, p, len);
      break;
    case FZ_SYNTH:
      fz_synth(&b, p, len, fz_segnos[idx]);
      fz_write_file(dirfd, name, b.p, b.len);
      break;
    case FZ_LOCK:
      fz_write_file(dirfd, "LOCK", p, len);
      break;
    case FZ_HOSTILE:
      fz_write_file(dirfd, fz_hostile[idx % FZ_NHOSTILE], p, len);
      break;
    case FZ_DIR:
      mkdirat(dirfd, name, 0755);
      break;
    case FZ_MISPLACED:
      fz_synth(&b, p, len, fz_segnos[(idx + 1) & 15]);
      fz_write_file(dirfd, name, b.p, b.len);
      break;
    case FZ_SPARSE:
      fz_sparse(dirfd, name, p, len, fz_segnos[idx]);
      break;
    case FZ_PARTIAL:
      if (len >= 2) {
        size_t cut = (size_t)p[0] | (size_t)p[1] << 8;
        fz_synth(&b, p + 2, len - 2, fz_segnos[idx]);
        fz_write_file(dirfd, name, b.p, cut < b.len ? cut : b.len);
      }
      break;
    }
    free(b.p);
  }
}

/* Removes everything in dirfd (one level of subdirectories). */
static void
fz_clean_dir(int dirfd)
{
  int fd = dup(dirfd);
  DIR *d;
  struct dirent *e;

  if (fd < 0)
    abort();
  d = fdopendir(fd);
  if (d == NULL)
    abort();
  rewinddir(d);
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    if (unlinkat(dirfd, e->d_name, 0) != 0) {
      int sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      if (sub >= 0) {
        fz_clean_dir(sub);
        close(sub);
      }
      unlinkat(dirfd, e->d_name, AT_REMOVEDIR);
    }
  }
  closedir(d);
}

/* mkdtemp under $TMPDIR (or /tmp), once per process; removed at exit. */
static char fz_dir_path[4096];
static int fz_dir_fd = -1;

static void
fz_remove_dir(void)
{
  if (fz_dir_fd >= 0) {
    fz_clean_dir(fz_dir_fd);
    close(fz_dir_fd);
    fz_dir_fd = -1;
    rmdir(fz_dir_path);
  }
}

static void
fz_make_dir(const char *tag)
{
  const char *tmp = getenv("TMPDIR");

  if (fz_dir_fd >= 0)
    return;
  if (tmp == NULL || tmp[0] == '\0')
    tmp = "/tmp";
  snprintf(fz_dir_path, sizeof(fz_dir_path), "%s/mrlog-%s-XXXXXX", tmp, tag);
  if (mkdtemp(fz_dir_path) == NULL) {
    perror("mkdtemp");
    abort();
  }
  fz_dir_fd = open(fz_dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fz_dir_fd < 0)
    abort();
  atexit(fz_remove_dir);
}

#endif /* MRLOG_FUZZ_COMMON_H */

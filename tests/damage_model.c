/*
 * damage_model.c -- builds the model log of the damage campaign and finds
 * where its records lie on disk (tests/damage.h).
 *
 * Invariants:
 *  1. dm_m.q and dm_m.r describe exactly the acknowledged state: each
 *     mutation is waited for and must succeed before the model changes.
 *  2. Frames are written in append order (one request at a time), so an
 *     empty record lies between the located records appended before and
 *     after it.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "damage.h"

#define DM_NOW_MS 1700000000000ull /* the fixed clock */

const char *const dm_qname[DM_NQ] = {"alpha", "beta", "gamma",
                                     "delta-with-a-longer-name", "epsilon"};
struct dm_model dm_m;

/* ---- Payloads and the model --------------------------------------------- */

/* Record id's payload: "R" and six decimal digits and ":", then bytes
 * derived from the id. */
void dm_payload(unsigned char *buf, uint32_t id, uint32_t len) {
  uint32_t v = id;
  int i;

  if (len == 0) return;
  buf[0] = 'R';
  for (i = 6; i >= 1; i--) {
    buf[i] = (unsigned char)('0' + v % 10);
    v /= 10;
  }
  buf[7] = ':';
  th_fill(buf + 8, len - 8, 0x5eed0000ull + id);
}

/* Lengths: some empty, some short, most up to ~300 bytes, some longer
 * than a sector. */
static uint32_t dm_len(unsigned i) {
  switch (i % 11) {
    case 0: return 0;
    case 3:
    case 8: return 520 + (i * 37) % 1000;
    case 5: return 8 + (i * 13) % 24;
    default: return 8 + (i * 29) % 280;
  }
}

static struct dm_rec *dm_new_rec(int q, uint64_t pos, uint32_t len) {
  struct dm_rec *r;

  th_req(dm_m.nrec < DM_MAX_RECS);
  r = &dm_m.r[dm_m.nrec];
  memset(r, 0, sizeof(*r));
  r->q = q;
  r->incarnation = dm_m.q[q].incarnation;
  r->pos = pos;
  r->len = len;
  r->id = (uint32_t)dm_m.nrec + 1;
  r->retained = true;
  dm_m.nrec++;
  return r;
}

static void dm_create(mrlog *log, int q) {
  th_req_int_eq(th_create(log, dm_qname[q]), 0);
  dm_m.q[q].live = dm_m.q[q].existed = true;
  dm_m.q[q].incarnation++;
  dm_m.q[q].next = 0;
}

static void dm_delete(mrlog *log, int q) {
  size_t i;

  th_req_int_eq(th_delete(log, dm_qname[q]), 0);
  dm_m.q[q].live = false;
  for (i = 0; i < dm_m.nrec; i++)
    if (dm_m.r[i].q == q) dm_m.r[i].retained = false;
}

static void dm_truncate(mrlog *log, int q, uint64_t p) {
  size_t i;

  th_req_int_eq(th_truncate(log, dm_qname[q], p), 0);
  for (i = 0; i < dm_m.nrec; i++)
    if (dm_m.r[i].q == q && dm_m.r[i].pos <= p) dm_m.r[i].retained = false;
  if (dm_m.q[q].next < p + 1) dm_m.q[q].next = p + 1;
}

/* One append at the queue's next position, or at `at` when at_set. */
static void dm_append(mrlog *log, int q, bool at_set, uint64_t at,
                      uint32_t len) {
  unsigned char buf[DM_LEN_MAX];
  uint64_t want = at_set ? at : dm_m.q[q].next, got = UINT64_MAX;
  struct dm_rec *r = dm_new_rec(q, want, len);

  dm_payload(buf, r->id, len);
  th_req_int_eq(th_append(log, dm_qname[q], at_set ? &at : NULL, buf, len,
                          &got),
                0);
  th_req_uint_eq(got, want);
  dm_m.q[q].next = want + 1;
}

/* One batch of n records (one request, so one APPEND on disk). */
static void dm_batch(mrlog *log, int q, unsigned seed, size_t n) {
  unsigned char buf[8][DM_LEN_MAX];
  struct iovec iov[8];
  uint64_t got = UINT64_MAX, first = dm_m.q[q].next;
  size_t j;

  th_req(n <= 8);
  for (j = 0; j < n; j++) {
    uint32_t len = j == 1 ? 0 : dm_len(seed * 7 + (unsigned)j + 1);
    struct dm_rec *r = dm_new_rec(q, first + j, len);

    dm_payload(buf[j], r->id, len);
    iov[j].iov_base = buf[j];
    iov[j].iov_len = len;
  }
  th_req_int_eq(th_wait(mrlog_append_batch(log, dm_qname[q], NULL, iov, n,
                                           NULL, NULL),
                        &got),
                0);
  th_req_uint_eq(got, first + n - 1);
  dm_m.q[q].next = first + n;
}

/* Step i of the workload over the first nq queues. */
static void dm_step(mrlog *log, unsigned i, int nq) {
  int q = (int)(i % (unsigned)nq);

  if (!dm_m.q[q].live) q = 0;
  if (i % 17 == 16)
    dm_batch(log, q, i, 3 + i % 4);
  else
    dm_append(log, q, false, 0, dm_len(i));
}

static uint64_t dm_now(void *arg) {
  (void)arg;
  return DM_NOW_MS;
}

mrlog_policy dm_policy(int recovery) {
  mrlog_policy p = th_policy();

  p.segment_bytes = DM_SEGMENT_BYTES;
  p.now_ms = dm_now;
  p.recovery = recovery;
  return p;
}

/* Builds the log in three opens, so checkpoints carry real state, dead
 * segments get deleted and the newest segment holds recent records. */
void dm_build(const char *dir) {
  mrlog_policy p = dm_policy(MRLOG_RECOVER_TOLERATE_TAIL);
  mrlog *log = th_open(dir, &p);
  unsigned i;

  memset(&dm_m, 0, sizeof(dm_m));
  dm_create(log, 0);
  dm_create(log, 1);
  dm_create(log, 2);
  dm_create(log, 4);
  for (i = 0; i < 120; i++) {
    dm_step(log, i, 3);
    if (i % 13 == 0 && dm_m.q[4].live)
      dm_append(log, 4, false, 0, dm_len(i + 4));
    if (i == 30) dm_append(log, 0, true, dm_m.q[0].next + 5, 40); /* a gap */
    if (i == 60) dm_truncate(log, 0, dm_m.q[0].next / 2);
    if (i == 70) dm_delete(log, 4); /* never recreated */
    if (i == 90) {
      dm_delete(log, 2);
      dm_create(log, 2); /* positions restart at 0 */
    }
    if (i == 100) dm_append(log, 1, true, dm_m.q[1].next + 100, 700);
  }
  th_close(log);
  log = th_open(dir, &p);
  dm_create(log, 3);
  for (i = 120; i < 240; i++) {
    dm_step(log, i, 4);
    if (i == 200) dm_truncate(log, 1, dm_m.q[1].next + 10); /* past next */
    if (i == 210) dm_append(log, 3, true, dm_m.q[3].next + 3, 9);
  }
  th_close(log);
  log = th_open(dir, &p);
  for (i = 240; i < 305; i++) {
    dm_step(log, i, 4);
    /* A queue deleted and recreated in the newest segment, whose older
     * records stay on disk in older segments. */
    if (i == 288) dm_delete(log, 3);
    if (i == 296) dm_create(log, 3);
  }
  dm_append(log, 2, false, 0, 0); /* the last frame holds an empty record */
  th_close(log);
}

/* ---- The files ---------------------------------------------------------- */

static uint32_t dm_le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

/* Walks the frames by their body_length fields; if the walk does not end
 * exactly at the end of the file, the layout is unknown and the last 64
 * bytes count as the last frame. */
static void dm_parse(struct dm_file *f) {
  size_t off = DM_FILE_HEADER, n = 0;

  f->ckpt_end = 0;
  f->nframes = 0;
  f->last_start = f->len > 64 ? f->len - 64 : 0;
  if (f->len < DM_FILE_HEADER + DM_FRAME_HEADER ||
      memcmp(f->data, "MRLOGSEG", 8) != 0)
    return;
  while (off + DM_FRAME_HEADER <= f->len && n < DM_MAX_FRAMES) {
    uint32_t bl = dm_le32(f->data + off + 4);

    if (bl == 0 || bl > f->len - off - DM_FRAME_HEADER) return;
    f->frame_start[n++] = off;
    off += DM_FRAME_HEADER + bl;
  }
  if (off != f->len) return;
  f->nframes = n;
  f->ckpt_end = f->frame_start[0] + DM_FRAME_HEADER +
                dm_le32(f->data + f->frame_start[0] + 4);
  f->last_start = f->frame_start[n - 1];
}

bool dm_is_frame_start(const struct dm_file *f, size_t off) {
  size_t i;

  for (i = 0; i < f->nframes; i++)
    if (f->frame_start[i] == off) return true;
  return false;
}

/* Reads every regular file of dir but LOCK into dm_m.f. */
void dm_load_files(const char *dir) {
  char **names;
  size_t n = th_list_dir(dir, &names), i, newest = SIZE_MAX;

  dm_m.nfile = 0;
  for (i = 0; i < n; i++) {
    struct dm_file *f;
    char *path;

    if (strcmp(names[i], "LOCK") == 0) continue;
    ck_assert_uint_lt(dm_m.nfile, DM_MAX_FILES);
    f = &dm_m.f[dm_m.nfile];
    ck_assert_uint_lt(strlen(names[i]), sizeof(f->name));
    strcpy(f->name, names[i]);
    path = th_path(dir, names[i]);
    f->data = th_read_file(path, &f->len);
    free(path);
    f->newest = false;
    if (th_is_segment_name(names[i])) newest = dm_m.nfile;
    dm_parse(f);
    dm_m.nfile++;
  }
  th_free_names(names, n);
  ck_assert_uint_ne(newest, SIZE_MAX);
  dm_m.f[newest].newest = true;
}

/* Finds every record on disk; asserts each retained one is there once. */
void dm_locate(void) {
  unsigned char buf[DM_LEN_MAX];
  size_t i, fi, prev = SIZE_MAX;

  for (i = 0; i < dm_m.nrec; i++) {
    struct dm_rec *r = &dm_m.r[i];

    if (r->len == 0) continue;
    dm_payload(buf, r->id, r->len);
    for (fi = 0; fi < dm_m.nfile; fi++) {
      const unsigned char *d = dm_m.f[fi].data, *hit;
      size_t len = dm_m.f[fi].len;

      hit = memmem(d, len, buf, r->len);
      if (hit == NULL) continue;
      ck_assert_msg(r->nloc == 0 &&
                        memmem(hit + 1, len - (size_t)(hit + 1 - d), buf,
                               r->len) == NULL,
                    "record %u found more than once", r->id);
      r->loc[0] = (struct dm_loc){fi, (size_t)(hit - d),
                                  (size_t)(hit - d) + r->len};
      r->nloc = 1;
    }
    ck_assert_msg(!r->retained || r->nloc == 1,
                  "retained record %u (queue %s, position %llu) not on disk",
                  r->id, dm_qname[r->q], (unsigned long long)r->pos);
  }
  /* Empty records lie between the located records before and after them
   * in append order (frames are written in append order). */
  for (i = 0; i < dm_m.nrec; i++) {
    struct dm_rec *r = &dm_m.r[i];
    size_t next = SIZE_MAX, j;

    if (r->len != 0) {
      if (r->nloc == 1) prev = i;
      continue;
    }
    for (j = i + 1; j < dm_m.nrec; j++)
      if (dm_m.r[j].len != 0 && dm_m.r[j].nloc == 1) {
        next = j;
        break;
      }
    if (prev != SIZE_MAX && next != SIZE_MAX &&
        dm_m.r[prev].loc[0].file == dm_m.r[next].loc[0].file) {
      r->loc[r->nloc++] = (struct dm_loc){dm_m.r[prev].loc[0].file,
                                          dm_m.r[prev].loc[0].hi,
                                          dm_m.r[next].loc[0].lo};
      continue;
    }
    if (prev != SIZE_MAX)
      r->loc[r->nloc++] = (struct dm_loc){
          dm_m.r[prev].loc[0].file, dm_m.r[prev].loc[0].hi,
          dm_m.f[dm_m.r[prev].loc[0].file].len};
    if (next != SIZE_MAX)
      r->loc[r->nloc++] =
          (struct dm_loc){dm_m.r[next].loc[0].file, 0, dm_m.r[next].loc[0].lo};
  }
}

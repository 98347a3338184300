/*
 * test_damage.c -- the single-sector damage campaign.  A small cleanly
 * closed log of several segments is damaged one 512-byte sector at a time
 * (zeroed, or one bit flipped), in a fresh copy each time, and opened under
 * each recovery policy.
 *
 * The log and its exact model (per queue: existence, next position,
 * retained records with their bytes and their place on disk) come from
 * tests/damage_model.c.
 *
 * What must hold after each damaged open (a breach is a VIOLATION):
 *  1. STRICT: MRLOG_ECORRUPT with nothing on disk changed, or the model.
 *  2. TOLERATE_TAIL (default): as STRICT, except that records of the newest
 *     segment at or after the damaged sector may be cut when the open
 *     reports it at WARN or ERROR.
 *  3. SKIP_CORRUPT: open succeeds; a record may be missing only if its
 *     bytes lie within DM_NEAR bytes of the damaged sector in the same
 *     file, and then the open reports each dropped range at WARN and counts
 *     it in stats.skipped_ranges and stats.skipped_bytes.
 *  4. Every policy: no record altered, none that was never appended, no
 *     position handed out twice (an append to each queue after the open
 *     takes a position >= the model's next), no queue resurrected or
 *     vanished without a WARN or ERROR report, and the log closes cleanly.
 * One loss is allowed silently under every policy: zeros from a frame
 * boundary to the end of the newest segment are what a crash leaves in
 * zero-filled room, and cannot be told apart from it ("cut-silent").
 *
 * The campaign runs in every `make check`.  MRLOG_DAMAGE_SOAK=1 damages
 * every sector; otherwise a seeded sample: the first two and last two
 * sectors of every file (header, checkpoint, seal), and each other sector
 * with probability 1/k (k = 2, 6 under sanitizers, doubled when
 * MRLOG_TEST_SCALE is below 100).  The seed is printed;
 * MRLOG_DAMAGE_SEED=N replays a sample.  A table of outcomes per damage
 * kind, file role and policy, and one of the rules broken per policy, are
 * always printed on stdout, with a few VIOLATION lines of each kind.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "damage.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DM_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define DM_SANITIZED 1
#endif
#endif
#ifndef DM_SANITIZED
#define DM_SANITIZED 0
#endif

#define DM_SECTOR 512
#define DM_NEAR 8192 /* bytes around the damage SKIP_CORRUPT may lose */

/* ---- One damaged open --------------------------------------------------- */

/* Damage kinds: a sector zeroed, one bit of a sector flipped, and, once
 * per file, its last frame zeroed or cut off (the file ends at a frame
 * boundary: what an older segment must never look like, and what a crash
 * may leave of the newest one). */
enum { DM_ZERO, DM_FLIP, DM_TAIL_ZERO, DM_TAIL_CUT, DM_NKIND };
static const char *const dm_kind_name[DM_NKIND] = {"zero", "bitflip",
                                                   "tailzero", "tailcut"};
enum { DM_R_HEADER, DM_R_CKPT, DM_R_RECORDS, DM_R_LAST, DM_NROLE };
enum {
  DM_O_INTACT,
  DM_O_ECORRUPT,
  DM_O_CUT,
  DM_O_CUT_SILENT,
  DM_O_SKIPPED,
  DM_O_VIOLATION,
  DM_NOUT
};
#define DM_NPOL 3
static const int dm_pol[DM_NPOL] = {MRLOG_RECOVER_STRICT,
                                    MRLOG_RECOVER_TOLERATE_TAIL,
                                    MRLOG_RECOVER_SKIP_CORRUPT};
static const char *const dm_pol_name[DM_NPOL] = {"STRICT", "TOLERATE_TAIL",
                                                 "SKIP_CORRUPT"};
static const char *const dm_role_name[DM_NROLE] = {
    "file header", "checkpoint frame", "record frames", "last frame/seal"};
static const char *const dm_out_name[DM_NOUT] = {
    "intact", "ECORRUPT", "cut", "cut-silent", "skipped", "VIOLATION"};

struct dm_damage {
  size_t file;      /* index in dm_m.f */
  int kind;         /* DM_ZERO .. DM_TAIL_CUT */
  size_t sector_lo; /* the sector */
  size_t sector_hi;
  size_t byte;      /* DM_FLIP: the byte flipped */
  int bit;          /* DM_FLIP: the bit flipped */
};

/* What the log_fn heard during mrlog_open. */
struct dm_heard {
  pthread_mutex_t mu;
  bool open_done; /* messages after the open are not counted */
  int n[3];       /* per level: ERROR, WARN, INFO */
  char first[160]; /* the first WARN or ERROR message */
};

static void dm_log_fn(void *arg, int level, const char *msg) {
  struct dm_heard *h = arg;

  pthread_mutex_lock(&h->mu);
  if (!h->open_done && level >= 0 && level <= 2) {
    h->n[level]++;
    if (level <= MRLOG_LOG_WARN && h->first[0] == '\0')
      snprintf(h->first, sizeof(h->first), "%s", msg);
  }
  pthread_mutex_unlock(&h->mu);
}

/* The length of file fi after damage d. */
static size_t dm_damaged_len(size_t fi, const struct dm_damage *d) {
  return fi == d->file && d->kind == DM_TAIL_CUT ? d->sector_lo
                                                  : dm_m.f[fi].len;
}

/* The bytes of file fi as damaged by d (a malloc'd copy). */
static unsigned char *dm_damaged(size_t fi, const struct dm_damage *d) {
  unsigned char *b = malloc(dm_m.f[fi].len + 1);

  th_req(b != NULL);
  memcpy(b, dm_m.f[fi].data, dm_m.f[fi].len);
  if (fi == d->file) {
    if (d->kind == DM_ZERO || d->kind == DM_TAIL_ZERO)
      memset(b + d->sector_lo, 0, d->sector_hi - d->sector_lo);
    else if (d->kind == DM_FLIP)
      b[d->byte] ^= (unsigned char)(1u << d->bit);
  }
  return b;
}

/* Writes the damaged copy of the log into dir (removed first). */
static void dm_write_copy(const char *dir, const struct dm_damage *d) {
  size_t fi;

  th_req(th_rmrf(dir) == 0);
  th_req(mkdir(dir, 0755) == 0);
  for (fi = 0; fi < dm_m.nfile; fi++) {
    char *path = th_path(dir, dm_m.f[fi].name);
    unsigned char *b = dm_damaged(fi, d);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    th_req(fd >= 0);
    th_req(write(fd, b, dm_damaged_len(fi, d)) ==
           (ssize_t)dm_damaged_len(fi, d));
    th_req(close(fd) == 0);
    free(b);
    free(path);
  }
}

/* True if dir holds exactly the damaged copy (LOCK aside). */
static bool dm_unchanged(const char *dir, const struct dm_damage *d) {
  char **names;
  size_t n = th_list_dir(dir, &names), i, seen = 0;
  bool same = true;

  for (i = 0; i < n && same; i++) {
    size_t fi, len;
    unsigned char *got, *want;
    char *path;

    if (strcmp(names[i], "LOCK") == 0) continue;
    for (fi = 0; fi < dm_m.nfile; fi++)
      if (strcmp(dm_m.f[fi].name, names[i]) == 0) break;
    if (fi == dm_m.nfile) {
      same = false;
      break;
    }
    seen++;
    path = th_path(dir, names[i]);
    got = th_read_file(path, &len);
    want = dm_damaged(fi, d);
    same = len == dm_damaged_len(fi, d) && memcmp(got, want, len) == 0;
    free(got);
    free(want);
    free(path);
  }
  th_free_names(names, n);
  return same && seen == dm_m.nfile;
}

/* What one damaged open showed, compared with the model. */
struct dm_result {
  int rc;                  /* mrlog_open's status */
  struct mrlog_stats st;   /* after the open */
  size_t missing;          /* retained records not visited */
  size_t missing_far;      /* ... not allowed by the policy's rule */
  size_t missing_not_tail; /* ... not in the newest segment at or after
                              the damaged sector */
  size_t altered;          /* visited at a held position with bytes never
                              appended there */
  size_t foreign;          /* visited at a position not held, with bytes
                              never appended there */
  size_t resurrected;      /* visited, appended there but since dropped */
  size_t vanished_q;       /* live queues missing */
  size_t resurrected_q;    /* deleted queues back */
  size_t foreign_q;        /* queues never created */
  size_t next_diff;        /* live queues whose next differs */
  size_t reuse;            /* appends after open below the model's next */
  int post_rc;             /* first failing status after open, or 0 */
  bool strict_changed;     /* STRICT failed but changed the files */
};

/* Visits one queue's records; marks the model's records seen. */
struct dm_visit {
  int q;
  unsigned char *seen; /* per model record */
  struct dm_result *res;
};

static int dm_visit_fn(void *arg, uint64_t pos, const void *data,
                       size_t len) {
  struct dm_visit *v = arg;
  unsigned char buf[DM_LEN_MAX];
  size_t i;

  bool held = false; /* the model holds a record at pos */

  /* The record acknowledged there, or one appended there once and since
   * truncated or deleted (possibly by an earlier incarnation of the
   * queue): resurrected, and the model's record, if any, is missing. */
  for (i = 0; i < dm_m.nrec; i++) {
    const struct dm_rec *r = &dm_m.r[i];

    if (r->q != v->q || r->pos != pos) continue;
    held |= r->retained;
    if (r->len != len) continue;
    dm_payload(buf, r->id, r->len);
    if (memcmp(data, buf, len) != 0) continue;
    if (r->retained)
      v->seen[i] = 1;
    else
      v->res->resurrected++;
    return 0;
  }
  /* Bytes never appended at pos: altered if the model holds a record
   * there, invented otherwise. */
  if (held)
    v->res->altered++;
  else
    v->res->foreign++;
  return 0;
}

struct dm_names {
  bool q[DM_NQ]; /* which model queues exist */
  size_t foreign;
};

static int dm_name_fn(void *arg, const char *name) {
  struct dm_names *n = arg;
  int q;

  for (q = 0; q < DM_NQ; q++)
    if (strcmp(name, dm_qname[q]) == 0) {
      n->q[q] = true;
      return 0;
    }
  n->foreign++;
  return 0;
}

/* May the record be missing after damage d: near it (SKIP_CORRUPT's rule)
 * or, when !near, in the newest segment at or after it (a cut tail)? */
static bool dm_loss_allowed(const struct dm_rec *r, const struct dm_damage *d,
                            bool near) {
  int k;

  for (k = 0; k < r->nloc; k++) {
    const struct dm_loc *l = &r->loc[k];

    if (l->file != d->file) continue;
    if (near) {
      size_t gap = l->hi <= d->sector_lo   ? d->sector_lo - l->hi
                   : l->lo >= d->sector_hi ? l->lo - d->sector_hi
                                           : 0;
      if (gap <= DM_NEAR) return true;
    } else if (dm_m.f[d->file].newest && l->hi > d->sector_lo) {
      return true;
    }
  }
  return false;
}

/* Opens the damaged copy in dir under pol and compares it with the model. */
static void dm_trial(const char *dir, const struct dm_damage *d, int pol,
                     struct dm_result *res, struct dm_heard *h) {
  mrlog_policy p = dm_policy(pol);
  mrlog *log = NULL;
  struct dm_names names;
  unsigned char seen[DM_MAX_RECS];
  mrlog_future *fut[DM_NQ];
  size_t i;
  int q;

  memset(res, 0, sizeof(*res));
  memset(&names, 0, sizeof(names));
  memset(seen, 0, sizeof(seen));
  pthread_mutex_lock(&h->mu);
  h->open_done = false;
  memset(h->n, 0, sizeof(h->n));
  h->first[0] = '\0';
  pthread_mutex_unlock(&h->mu);
  p.log_fn = dm_log_fn;
  p.log_arg = h;
  dm_write_copy(dir, d);
  res->rc = mrlog_open(dir, &p, &log);
  pthread_mutex_lock(&h->mu);
  h->open_done = true;
  pthread_mutex_unlock(&h->mu);
  if (res->rc != 0) {
    th_req(log == NULL);
    if (pol == MRLOG_RECOVER_STRICT && !dm_unchanged(dir, d))
      res->strict_changed = true;
    return;
  }
  th_req_int_eq(mrlog_stats(log, &res->st), 0);
  th_req_int_eq(mrlog_list_queues(log, dm_name_fn, &names), 0);
  res->foreign_q = names.foreign;
  for (q = 0; q < DM_NQ; q++) {
    struct dm_visit v = {q, seen, res};

    if (dm_m.q[q].live && !names.q[q]) res->vanished_q++;
    if (!dm_m.q[q].live && names.q[q]) res->resurrected_q++;
    if (!names.q[q]) continue;
    th_req_int_eq(mrlog_range(log, dm_qname[q], 0, UINT64_MAX, dm_visit_fn,
                              &v),
                  0);
    if (dm_m.q[q].live) {
      struct mrlog_queue_info info;

      th_req_int_eq(mrlog_queue_info(log, dm_qname[q], &info), 0);
      if (info.next_position != dm_m.q[q].next) res->next_diff++;
    }
  }
  for (i = 0; i < dm_m.nrec; i++)
    if (dm_m.r[i].retained && !seen[i]) {
      res->missing++;
      if (!dm_loss_allowed(&dm_m.r[i], d, false)) res->missing_not_tail++;
      if (!dm_loss_allowed(&dm_m.r[i], d, pol == MRLOG_RECOVER_SKIP_CORRUPT))
        res->missing_far++;
    }
  /* One append per existing queue: it must not reuse a position. */
  for (q = 0; q < DM_NQ; q++)
    fut[q] = names.q[q] ? mrlog_append(log, dm_qname[q], NULL, "post-open",
                                       9, NULL, NULL)
                        : NULL;
  for (q = 0; q < DM_NQ; q++) {
    uint64_t pos = 0;
    int rc;

    if (fut[q] == NULL) continue;
    rc = mrlog_wait(fut[q], &pos);
    if (rc != 0 && res->post_rc == 0) res->post_rc = rc;
    if (rc == 0 && dm_m.q[q].live && pos < dm_m.q[q].next) res->reuse++;
  }
  q = mrlog_close(log);
  if (q != 0 && res->post_rc == 0) res->post_rc = q;
}

/* The rules a damaged open can break (bits of a mask). */
enum {
  DM_V_OPEN,         /* open failed other than as allowed */
  DM_V_STRICT_DISK,  /* STRICT failed but changed the files */
  DM_V_ALTERED,      /* a record's bytes differ */
  DM_V_FOREIGN,      /* a record never appended appears */
  DM_V_FOREIGN_Q,    /* a queue never created appears */
  DM_V_REUSE,        /* a position handed out twice */
  DM_V_AFTER,        /* an append or the close after open failed */
  DM_V_STRICT_STATE, /* STRICT opened without the full model */
  DM_V_FAR,          /* a record lost outside what the policy allows */
  DM_V_UNREPORTED,   /* a loss with no WARN or ERROR */
  DM_V_SKIP_WARN,    /* SKIP: fewer WARN messages than skipped ranges */
  DM_V_SKIP_RANGES,  /* SKIP: a loss but stats.skipped_ranges == 0 */
  DM_V_SKIP_BYTES,   /* SKIP: records lost but stats.skipped_bytes == 0 */
  DM_NV
};
static const char *const dm_v_name[DM_NV] = {
    "open failed",
    "STRICT failed but changed the files",
    "record altered",
    "record never appended appears",
    "queue never created appears",
    "position handed out twice",
    "append or close after open failed",
    "STRICT opened without the full model",
    "record lost outside what the policy allows",
    "loss not reported at WARN or ERROR",
    "skip: fewer WARN messages than skipped ranges",
    "skip: loss but stats.skipped_ranges is 0",
    "skip: records lost but stats.skipped_bytes is 0"};

/* Classifies one result; *broken gets the mask of the rules broken. */
static int dm_classify(const struct dm_damage *d, int pol,
                       const struct dm_result *res,
                       const struct dm_heard *h, unsigned *broken) {
  const struct dm_file *f = d->file < dm_m.nfile ? &dm_m.f[d->file] : NULL;
  bool skip = pol == MRLOG_RECOVER_SKIP_CORRUPT;
  bool reported = h->n[MRLOG_LOG_ERROR] + h->n[MRLOG_LOG_WARN] > 0;
  bool lost = res->missing > 0 || res->vanished_q > 0 ||
              res->resurrected_q > 0 || res->resurrected > 0;
  bool silent_ok = f != NULL && d->kind != DM_FLIP && f->newest &&
                   d->sector_hi == f->len &&
                   dm_is_frame_start(f, d->sector_lo) &&
                   res->missing_not_tail == 0 && !reported &&
                   res->vanished_q + res->resurrected_q + res->resurrected ==
                       0;
  unsigned v = 0;

  if (res->rc == MRLOG_ECORRUPT && !skip) {
    *broken = res->strict_changed ? 1u << DM_V_STRICT_DISK : 0;
    return *broken != 0 ? DM_O_VIOLATION : DM_O_ECORRUPT;
  }
  if (res->rc != 0) {
    *broken = 1u << DM_V_OPEN;
    return DM_O_VIOLATION;
  }
  if (res->altered > 0) v |= 1u << DM_V_ALTERED;
  if (res->foreign > 0) v |= 1u << DM_V_FOREIGN;
  if (res->foreign_q > 0) v |= 1u << DM_V_FOREIGN_Q;
  /* Zeros from a frame boundary to the end of the newest segment are a
   * crash's zero-filled room: what they hid was never durable as far as
   * anyone can tell, so its positions may be handed out again.  The tail
   * kinds get no such pass: after a clean close the last frame must be
   * one whose loss costs nothing (a seal). */
  if (res->reuse > 0 && !(silent_ok && d->kind == DM_ZERO))
    v |= 1u << DM_V_REUSE;
  if (res->post_rc != 0) v |= 1u << DM_V_AFTER;
  if (pol == MRLOG_RECOVER_STRICT && (lost || res->next_diff > 0) &&
      !silent_ok)
    v |= 1u << DM_V_STRICT_STATE;
  if (lost && !silent_ok) {
    if (res->missing_far > 0) v |= 1u << DM_V_FAR;
    if (!reported) v |= 1u << DM_V_UNREPORTED;
    if (skip && ((uint64_t)h->n[MRLOG_LOG_WARN] < res->st.skipped_ranges ||
                 h->n[MRLOG_LOG_WARN] == 0))
      v |= 1u << DM_V_SKIP_WARN;
    if (skip && res->st.skipped_ranges == 0) v |= 1u << DM_V_SKIP_RANGES;
    if (skip && res->missing > 0 && res->st.skipped_bytes == 0)
      v |= 1u << DM_V_SKIP_BYTES;
  }
  *broken = v;
  if (v != 0) return DM_O_VIOLATION;
  if (!lost) return DM_O_INTACT; /* a next moved forward at most */
  if (silent_ok) return DM_O_CUT_SILENT;
  return skip ? DM_O_SKIPPED : DM_O_CUT;
}

/* ---- The campaign ------------------------------------------------------- */

static int dm_role(const struct dm_file *f, size_t lo, size_t hi) {
  if (lo < DM_FILE_HEADER) return DM_R_HEADER;
  if (f->ckpt_end > 0 && lo < f->ckpt_end) return DM_R_CKPT;
  if (hi > f->last_start) return DM_R_LAST;
  return DM_R_RECORDS;
}

/* The bit flipped in sector s of file fi: in sector 0 within the first 64
 * bytes (file header, checkpoint frame header), in the last sector within
 * the last frame, elsewhere spread over the sector. */
static void dm_pick_flip(struct dm_damage *d, size_t s, size_t nsec) {
  const struct dm_file *f = &dm_m.f[d->file];
  size_t len = d->sector_hi - d->sector_lo, fi = d->file;

  d->bit = (int)((fi * 3 + s * 5) % 8);
  if (s == 0)
    d->byte = (fi * 11 + 3) % (len < 64 ? len : 64);
  else if (s + 1 == nsec && f->last_start >= d->sector_lo)
    d->byte = f->last_start + (fi * 7) % (f->len - f->last_start);
  else
    d->byte = d->sector_lo + (s * 151 + fi * 37 + 7) % len;
}

static unsigned dm_stride(bool soak) {
  unsigned k = DM_SANITIZED ? 6 : 2;

  if (soak) return 1;
  if (th_scaled(100) < 100) k *= 2;
  return k;
}

/* The sample's seed: MRLOG_DAMAGE_SEED, else from the clock and pid. */
static uint64_t dm_seed(void) {
  const char *e = getenv("MRLOG_DAMAGE_SEED");

  if (e != NULL && *e != '\0') return strtoull(e, NULL, 0);
  return (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid();
}

/* splitmix64: the sample's generator. */
static uint64_t dm_next(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15u);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static bool dm_soak(void) {
  const char *e = getenv("MRLOG_DAMAGE_SOAK");

  return e != NULL && *e != '\0' && strcmp(e, "0") != 0;
}

/* The tallies of a campaign. */
struct dm_tally {
  unsigned out[DM_NKIND][2][DM_NROLE][DM_NPOL][DM_NOUT]; /* [.][newest] */
  unsigned rule[DM_NV][DM_NPOL]; /* opens that broke each rule */
  unsigned shown[DM_NV][DM_NPOL]; /* VIOLATION lines printed */
  size_t opens, violations;
  size_t came_back; /* opens that brought back a queue or records, with a
                       report (allowed) */
  size_t went;      /* opens that lost a live queue, with a report */
};

static void dm_print_violation(const struct dm_damage *d, int role, int pol,
                               const struct dm_result *res,
                               const struct dm_heard *h, unsigned broken) {
  const struct dm_file *f = &dm_m.f[d->file];
  int b;

  printf("VIOLATION %s %s bytes %zu..%zu (%s%s", dm_kind_name[d->kind],
         f->name, d->sector_lo, d->sector_hi, dm_role_name[role],
         f->newest ? ", newest segment" : "");
  if (d->kind == DM_FLIP) printf(", byte %zu bit %d", d->byte, d->bit);
  printf(") %s:", dm_pol_name[pol]);
  for (b = 0; b < DM_NV; b++)
    if (broken & 1u << b) printf(" [%s]", dm_v_name[b]);
  printf(" -- open %s, records missing %zu (%zu outside the rule), altered "
         "%zu, foreign %zu, resurrected %zu; queues vanished %zu, back %zu; "
         "next differs %zu, reused %zu; skipped_ranges %llu skipped_bytes "
         "%llu; log ERROR %d WARN %d INFO %d: \"%s\"\n",
         mrlog_err_name(res->rc), res->missing, res->missing_far,
         res->altered, res->foreign, res->resurrected, res->vanished_q,
         res->resurrected_q, res->next_diff, res->reuse,
         (unsigned long long)res->st.skipped_ranges,
         (unsigned long long)res->st.skipped_bytes, h->n[MRLOG_LOG_ERROR],
         h->n[MRLOG_LOG_WARN], h->n[MRLOG_LOG_INFO], h->first);
}

/* Damages one sector (kind) of file fi, opens it under each policy and
 * tallies the outcomes. */
static void dm_damage_sector(const char *work, size_t fi, size_t s,
                             size_t nsec, int kind, struct dm_heard *h,
                             struct dm_tally *t) {
  const struct dm_file *f = &dm_m.f[fi];
  struct dm_damage d = {fi, kind, s * DM_SECTOR, 0, 0, 0};
  int role, pol, b;

  d.sector_hi = d.sector_lo + DM_SECTOR < f->len ? d.sector_lo + DM_SECTOR
                                                  : f->len;
  if (kind == DM_TAIL_ZERO || kind == DM_TAIL_CUT) {
    d.sector_lo = f->last_start;
    d.sector_hi = f->len;
    role = DM_R_LAST;
  } else if (kind == DM_FLIP) {
    dm_pick_flip(&d, s, nsec);
    role = dm_role(f, d.byte, d.byte + 1);
  } else {
    role = dm_role(f, d.sector_lo, d.sector_hi);
  }
  for (pol = 0; pol < DM_NPOL; pol++) {
    struct dm_result res;
    unsigned broken;
    int o, first = -1;

    dm_trial(work, &d, dm_pol[pol], &res, h);
    o = dm_classify(&d, dm_pol[pol], &res, h, &broken);
    t->out[kind][f->newest][role][pol][o]++;
    t->opens++;
    if (o != DM_O_VIOLATION) {
      if (res.resurrected_q + res.resurrected > 0) t->came_back++;
      if (res.vanished_q > 0) t->went++;
      continue;
    }
    t->violations++;
    for (b = DM_NV - 1; b >= 0; b--)
      if (broken & 1u << b) {
        t->rule[b][pol]++;
        first = b;
      }
    if (t->shown[first][pol]++ < 3)
      dm_print_violation(&d, role, pol, &res, h, broken);
  }
}

static void dm_print_tables(const struct dm_tally *t) {
  int kind, nw, r, pol, o, b;

  printf("%-8s %-7s %-17s %-14s", "damage", "segment", "role", "policy");
  for (o = 0; o < DM_NOUT; o++) printf(" %10s", dm_out_name[o]);
  printf("\n");
  for (kind = 0; kind < DM_NKIND; kind++)
    for (nw = 0; nw < 2; nw++)
      for (r = 0; r < DM_NROLE; r++)
        for (pol = 0; pol < DM_NPOL; pol++) {
          const unsigned *row = t->out[kind][nw][r][pol];
          unsigned sum = 0;

          for (o = 0; o < DM_NOUT; o++) sum += row[o];
          if (sum == 0) continue;
          printf("%-8s %-7s %-17s %-14s", dm_kind_name[kind],
                 nw ? "newest" : "older", dm_role_name[r], dm_pol_name[pol]);
          for (o = 0; o < DM_NOUT; o++) printf(" %10u", row[o]);
          printf("\n");
        }
  printf("%-50s %8s %14s %13s\n", "rule broken (opens)", "STRICT",
         "TOLERATE_TAIL", "SKIP_CORRUPT");
  for (b = 0; b < DM_NV; b++)
    printf("%-50s %8u %14u %13u\n", dm_v_name[b], t->rule[b][0],
           t->rule[b][1], t->rule[b][2]);
}

START_TEST(test_damage_campaign) {
  char *orig = th_sub("orig"), *work = th_sub("work");
  static struct dm_tally t;
  struct dm_heard heard;
  bool soak = dm_soak();
  unsigned stride = dm_stride(soak);
  uint64_t seed = dm_seed(), rng = seed;
  size_t fi, sectors = 0, total = 0;
  int pol, kind;

  memset(&t, 0, sizeof(t));
  pthread_mutex_init(&heard.mu, NULL);
  dm_build(orig);
  dm_load_files(orig);
  dm_locate();
  ck_assert_uint_ge(dm_m.nfile, 4);
  if (!soak)
    printf("damage campaign seed: %llu (MRLOG_DAMAGE_SEED=%llu replays "
           "this sample, MRLOG_DAMAGE_SOAK=1 damages every sector)\n",
           (unsigned long long)seed, (unsigned long long)seed);
  /* The undamaged copy opens with the full model under every policy. */
  for (pol = 0; pol < DM_NPOL; pol++) {
    struct dm_damage none = {SIZE_MAX, DM_ZERO, 0, 0, 0, 0};
    struct dm_result res;
    unsigned broken;

    dm_trial(work, &none, dm_pol[pol], &res, &heard);
    ck_assert_msg(res.rc == 0 && dm_classify(&none, dm_pol[pol], &res,
                                             &heard, &broken) ==
                                     DM_O_INTACT &&
                      res.next_diff == 0,
                  "undamaged log under %s: open %s, %zu records missing",
                  dm_pol_name[pol], mrlog_err_name(res.rc), res.missing);
  }
  for (fi = 0; fi < dm_m.nfile; fi++) {
    size_t nsec = (dm_m.f[fi].len + DM_SECTOR - 1) / DM_SECTOR, s;

    total += nsec;
    for (s = 0; s < nsec; s++) {
      if (!(s < 2 || s + 2 >= nsec || dm_next(&rng) % stride == 0))
        continue;
      sectors++;
      for (kind = DM_ZERO; kind <= DM_FLIP; kind++)
        dm_damage_sector(work, fi, s, nsec, kind, &heard, &t);
    }
    /* Only where the frame walk found the last frame's start. */
    if (dm_m.f[fi].nframes > 1)
      for (kind = DM_TAIL_ZERO; kind <= DM_TAIL_CUT; kind++)
        dm_damage_sector(work, fi, 0, nsec, kind, &heard, &t);
  }
  printf("damage campaign: %zu files, %zu of %zu sectors (%s), %zu opens, "
         "%zu violations\n", dm_m.nfile, sectors, total,
         soak ? "soak: every sector" : "sampled", t.opens, t.violations);
  if (!soak)
    printf("damage campaign seed: %llu\n", (unsigned long long)seed);
  printf("allowed with a report: %zu opens brought back a deleted queue or "
         "dropped records, %zu lost a live queue\n", t.came_back, t.went);
  dm_print_tables(&t);
  fflush(stdout);
  for (fi = 0; fi < dm_m.nfile; fi++) free(dm_m.f[fi].data);
  pthread_mutex_destroy(&heard.mu);
  free(orig);
  free(work);
  ck_assert_msg(t.violations == 0, "%zu of %zu damaged opens broke the "
                "rules (see the VIOLATION lines and the tables on stdout; "
                "seed %llu)", t.violations, t.opens,
                (unsigned long long)seed);
}
END_TEST

/* In every run: sampled, or every sector with MRLOG_DAMAGE_SOAK=1. */
Suite *make_damage_suite(void) {
  Suite *s = suite_create("damage");
  TCase *tc = tcase_create("single_sector");

  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, dm_soak() ? 3600 : TH_TIMEOUT_SLOW);
  tcase_add_test(tc, test_damage_campaign);
  suite_add_tcase(s, tc);
  return s;
}

/*
 * test_powerloss.c -- the power-loss simulator.  A recording file layer
 * under the I/O seam (lib/io.h) passes every operation through to the real
 * files and logs it: writes with their bytes, fdatasyncs, directory
 * fsyncs, creates, unlinks and renames.  The workload's callbacks log their
 * acknowledgements in the same sequence.  Then, for many crash points K,
 * the test builds the directory a power loss after operation K could
 * leave, reopens it and checks the durability contract.
 *
 * Crash model at K (the failure model of the durability issue):
 *   - a file's bytes written before its last fdatasync (before K) survive;
 *   - each later write survives whole, torn (a prefix: a multiple of 512
 *     bytes or any byte count), or not at all, in any order (holes read as
 *     zeros);
 *   - directory operations before the last directory fsync survive; each
 *     later one survives or not, independently, in order.
 * Checks on the reopened image (durable mode, fsync_interval_ms = 0):
 *   - every append acknowledged before K is present with its bytes and
 *     position, unless a truncation covers it;
 *   - every recovered record is one the workload appended at that
 *     position (its payload says so), in strictly increasing positions;
 *   - a truncation acknowledged before K is not undone, and next positions
 *     never fall below an acknowledged position;
 *   - a deletion acknowledged before K is not undone: the queue "doomed"
 *     may exist in the image only if a create of it was submitted after
 *     the last acknowledged delete and before K;
 *   - committed positions (the workload runs truncate_on_commit, and two
 *     consumers commit in "audit", which has no explicit truncation): a
 *     commit acknowledged before K never goes back, every recovered
 *     position was submitted before K, the records of "audit" below the
 *     smallest acknowledged position of both consumers are truncated, and
 *     no record at or above the smallest recovered position is missing:
 *     the automatic truncation never outlives the commit that allowed it.
 * Seeded and reproducible: a failure names the seed and K.  CI runs 8
 * seeds x 300 crash points; MRLOG_POWERLOSS_SOAK=N multiplies the seeds.
 */
#include "check_mrlog.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum sim_kind {
  SIM_CREATE,   /* file id got name (new file) */
  SIM_WRITE,    /* bytes at off of file id */
  SIM_DATASYNC, /* file id is durable up to here */
  SIM_DIRSYNC,  /* the namespace is durable up to here */
  SIM_UNLINK,   /* name removed */
  SIM_RENAME,   /* name -> name2 */
  SIM_TRUNC,    /* file id cut to off */
  SIM_ACK       /* an acknowledgement (no file effect) */
};

struct sim_op {
  enum sim_kind kind;
  int file;           /* file id (CREATE, WRITE, DATASYNC, TRUNC) */
  char name[40];      /* CREATE, UNLINK, RENAME */
  char name2[40];     /* RENAME */
  uint64_t off;       /* WRITE, TRUNC */
  uint8_t *data;      /* WRITE: malloc'd copy */
  size_t len;         /* WRITE */
};

#define SIM_FILES 256
#define SIM_FDS 1024

static struct {
  pthread_mutex_t mutex;
  struct sim_op *ops;
  size_t n, cap;
  char names[SIM_FILES][40]; /* file id -> name at creation */
  int nfiles;
  int fd_file[SIM_FDS];      /* fd -> file id, -1 for others */
} sim = { .mutex = PTHREAD_MUTEX_INITIALIZER };

/* Appends an op; returns its index.  Caller holds sim.mutex. */
static size_t
sim_log(struct sim_op op)
{
  if (sim.n == sim.cap) {
    sim.cap = sim.cap ? sim.cap * 2 : 1024;
    sim.ops = realloc(sim.ops, sim.cap * sizeof(*sim.ops));
    ck_assert_ptr_nonnull(sim.ops);
  }
  sim.ops[sim.n] = op;
  return sim.n++;
}

static int
file_by_name(const char *name)
{
  int i;

  for (i = sim.nfiles - 1; i >= 0; i--)
    if (strcmp(sim.names[i], name) == 0)
      return i;
  return -1;
}

static int
sim_openat(void *ctx, int dir_fd, const char *name, int flags, mode_t mode)
{
  int fd = mrlog__posix_io.openat(ctx, dir_fd, name, flags, mode), id;

  if (fd < 0 || fd >= SIM_FDS)
    return fd;
  pthread_mutex_lock(&sim.mutex);
  if (flags & O_CREAT) {
    id = sim.nfiles++;
    ck_assert_int_lt(id, SIM_FILES);
    snprintf(sim.names[id], sizeof(sim.names[id]), "%s", name);
    struct sim_op op = { .kind = SIM_CREATE, .file = id };
    snprintf(op.name, sizeof(op.name), "%s", name);
    sim_log(op);
  } else {
    id = file_by_name(name);
  }
  sim.fd_file[fd] = id;
  pthread_mutex_unlock(&sim.mutex);
  return fd;
}

static ssize_t
sim_pwrite(void *ctx, int fd, const void *buf, size_t len, off_t off)
{
  ssize_t w;

  pthread_mutex_lock(&sim.mutex);
  w = mrlog__posix_io.pwrite(ctx, fd, buf, len, off);
  if (w > 0 && sim.fd_file[fd] >= 0) {
    struct sim_op op = { .kind = SIM_WRITE, .file = sim.fd_file[fd],
                         .off = (uint64_t)off, .len = (size_t)w };
    op.data = malloc((size_t)w);
    ck_assert_ptr_nonnull(op.data);
    memcpy(op.data, buf, (size_t)w);
    sim_log(op);
  }
  pthread_mutex_unlock(&sim.mutex);
  return w;
}

static int
sim_fdatasync(void *ctx, int fd)
{
  int rc = mrlog__posix_io.fdatasync(ctx, fd);

  /* Logged after it returned: only then is it a durability point. */
  pthread_mutex_lock(&sim.mutex);
  if (rc == 0 && sim.fd_file[fd] >= 0)
    sim_log((struct sim_op){ .kind = SIM_DATASYNC, .file = sim.fd_file[fd] });
  pthread_mutex_unlock(&sim.mutex);
  return rc;
}

static int
sim_fsync(void *ctx, int fd)
{
  int rc = mrlog__posix_io.fsync(ctx, fd);

  pthread_mutex_lock(&sim.mutex);
  if (rc == 0)
    sim_log((struct sim_op){ .kind = SIM_DIRSYNC });
  pthread_mutex_unlock(&sim.mutex);
  return rc;
}

static int
sim_ftruncate(void *ctx, int fd, off_t len)
{
  int rc;

  pthread_mutex_lock(&sim.mutex);
  rc = mrlog__posix_io.ftruncate(ctx, fd, len);
  if (rc == 0 && sim.fd_file[fd] >= 0)
    sim_log((struct sim_op){ .kind = SIM_TRUNC, .file = sim.fd_file[fd],
                             .off = (uint64_t)len });
  pthread_mutex_unlock(&sim.mutex);
  return rc;
}

static int
sim_unlinkat(void *ctx, int dir_fd, const char *name)
{
  int rc;

  pthread_mutex_lock(&sim.mutex);
  rc = mrlog__posix_io.unlinkat(ctx, dir_fd, name);
  if (rc == 0) {
    struct sim_op op = { .kind = SIM_UNLINK };
    snprintf(op.name, sizeof(op.name), "%s", name);
    sim_log(op);
  }
  pthread_mutex_unlock(&sim.mutex);
  return rc;
}

static int
sim_renameat(void *ctx, int dir_fd, const char *from, const char *to)
{
  int rc;

  pthread_mutex_lock(&sim.mutex);
  rc = mrlog__posix_io.renameat(ctx, dir_fd, from, to);
  if (rc == 0) {
    struct sim_op op = { .kind = SIM_RENAME };
    snprintf(op.name, sizeof(op.name), "%s", from);
    snprintf(op.name2, sizeof(op.name2), "%s", to);
    sim_log(op);
  }
  pthread_mutex_unlock(&sim.mutex);
  return rc;
}

static void
sim_reset(void)
{
  size_t i;

  for (i = 0; i < sim.n; i++)
    free(sim.ops[i].data);
  free(sim.ops);
  sim.ops = NULL;
  sim.n = sim.cap = 0;
  sim.nfiles = 0;
  for (i = 0; i < SIM_FDS; i++)
    sim.fd_file[i] = -1;
}

/* ---- The workload and its acknowledgements ----------------------------- */

enum ack_kind { ACK_APPEND, ACK_TRUNCATE, ACK_DELETE, ACK_COMMIT };

struct ack {
  enum ack_kind kind;
  int queue;          /* queue index (ACK_COMMIT: consumer index) */
  uint64_t position;  /* record's / truncation point */
  size_t op;          /* sim op index of the acknowledgement */
};

#define WL_QUEUES 3
#define MAX_ACKS 4096
#define WL_AUDIT 2      /* the queue consumers commit in */
#define WL_CONSUMERS 2

static struct ack acks[MAX_ACKS];
static atomic_int nacks;

/* Every truncation submitted, with the op index at submission: one that
 * reached the disk may remove records before it is acknowledged. */
static struct ack truncs[MAX_ACKS];
static int ntruncs;

/* Every commit submitted (queue: the consumer), with the op index at
 * submission. */
static struct ack commits[MAX_ACKS];
static int ncommits;

static const char *
wl_consumer(int j)
{
  return j == 0 ? "indexer" : "archiver";
}

/* Op indexes at which creates of "doomed" were submitted. */
static size_t doomed_creates[MAX_ACKS];
static int ndoomed_creates;

static size_t
mark_submit(void)
{
  size_t op;

  pthread_mutex_lock(&sim.mutex);
  op = sim_log((struct sim_op){ .kind = SIM_ACK });
  pthread_mutex_unlock(&sim.mutex);
  return op;
}

struct req_ctx {
  enum ack_kind kind;
  int queue;
  uint64_t position; /* truncations: the point */
};

static const char *
wl_name(int q)
{
  static const char *const names[] = { "orders", "clicks", "audit",
                                       "doomed" };
  return names[q];
}

/* Payload of the record at (queue, position): self-checking; at most
 * 1299 bytes. */
static size_t
wl_payload(int q, uint64_t pos, unsigned char *buf)
{
  size_t len = 8 + (size_t)((pos * 29 + (uint64_t)q * 7) % 200), i;

  /* Some records are long enough (>= 1 KiB) that the writer writes them
   * from the request with a gather write instead of copying them. */
  if (pos % 16 == 5)
    len = 1100 + (size_t)(pos % 200);

  for (i = 0; i < len; i++)
    buf[i] = (unsigned char)(pos * 131 + (uint64_t)q * 17 + i);
  return len;
}

static void
wl_done(void *arg, int status, uint64_t position)
{
  struct req_ctx *c = arg;
  int i;

  if (status == 0) {
    pthread_mutex_lock(&sim.mutex);
    i = atomic_fetch_add(&nacks, 1);
    if (i < MAX_ACKS) {
      acks[i].kind = c->kind;
      acks[i].queue = c->queue;
      acks[i].position = c->kind == ACK_APPEND || c->kind == ACK_COMMIT
                             ? position
                             : c->position;
      acks[i].op = sim_log((struct sim_op){ .kind = SIM_ACK });
    }
    pthread_mutex_unlock(&sim.mutex);
  }
  free(c);
}

static struct req_ctx *
ctx_new(enum ack_kind kind, int queue, uint64_t position)
{
  struct req_ctx *c = malloc(sizeof(*c));

  ck_assert_ptr_nonnull(c);
  c->kind = kind;
  c->queue = queue;
  c->position = position;
  return c;
}

static void
run_workload(unsigned seed)
{
  struct mrlog__io io = mrlog__posix_io;
  mrlog_policy p = th_policy();
  mrlog *log;
  uint64_t next[WL_QUEUES] = { 0 };
  unsigned char buf[1400];
  unsigned r = seed;
  bool doomed_exists = false;
  int i, q;

  io.openat = sim_openat;
  io.pwrite = sim_pwrite;
  io.fdatasync = sim_fdatasync;
  io.fsync = sim_fsync;
  io.ftruncate = sim_ftruncate;
  io.unlinkat = sim_unlinkat;
  io.renameat = sim_renameat;
  io.pwritev = NULL; /* gather writes arrive as pwrites we record */
  uint64_t done_upto[WL_CONSUMERS] = { 0 };

  p.segment_bytes = 4096;
  p.cleaner_interval_ms = 2;
  p.truncate_on_commit = 1;
  ck_assert_int_eq(mrlog__open_with_io(th_dir, &p, &io, &log), 0);
  for (q = 0; q < WL_QUEUES; q++)
    ck_assert_int_eq(th_create(log, wl_name(q)), 0);
  /* Both consumers exist before any record can be truncated for them,
   * so the smallest committed position bounds every truncation (a
   * consumer added later would start above what is gone). */
  for (i = 0; i < WL_CONSUMERS; i++)
    ck_assert_int_eq(th_wait(mrlog_commit(log, wl_name(WL_AUDIT),
                                          wl_consumer(i), 0, wl_done,
                                          ctx_new(ACK_COMMIT, i, 0)),
                             NULL),
                     0);
  for (i = 0; i < 260; i++) {
    unsigned roll;
    mrlog_future *f;
    r = r * 1103515245u + 12345u;
    roll = (r >> 16) % 100;
    q = (int)((r >> 8) % WL_QUEUES);
    if (roll < 70) {
      size_t len = wl_payload(q, next[q], buf);
      f = mrlog_append(log, wl_name(q), &next[q], buf, len, wl_done,
                       ctx_new(ACK_APPEND, q, next[q]));
      next[q]++;
    } else if (roll < 80) {
      struct iovec iov[4];
      unsigned char bb[4][1400];
      int k;
      for (k = 0; k < 4; k++) {
        iov[k].iov_base = bb[k];
        iov[k].iov_len = wl_payload(q, next[q] + (uint64_t)k, bb[k]);
      }
      /* A batch's acknowledgement reports its last position; the batch
       * is atomic, so checking that one covers it. */
      f = mrlog_append_batch(log, wl_name(q), &next[q], iov, 4, wl_done,
                             ctx_new(ACK_APPEND, q, next[q] + 3));
      next[q] += 4;
    } else if (roll < 88 && q == WL_AUDIT) {
      /* A consumer commits a little further (never at or below its last
       * commit: that would be a DUPLICATE, which is not acknowledged). */
      int j = (int)((r >> 4) % WL_CONSUMERS);
      uint64_t to = done_upto[j] + 1 + (r >> 12) % 6;
      if (to > next[q])
        to = next[q];
      if (to <= done_upto[j]) {
        f = mrlog_sync(log, NULL, NULL);
      } else {
        done_upto[j] = to;
        pthread_mutex_lock(&sim.mutex);
        commits[ncommits].queue = j;
        commits[ncommits].position = to;
        commits[ncommits++].op = sim_log((struct sim_op){ .kind = SIM_ACK });
        pthread_mutex_unlock(&sim.mutex);
        f = mrlog_commit(log, wl_name(q), wl_consumer(j), to, wl_done,
                         ctx_new(ACK_COMMIT, j, to));
      }
    } else if (roll < 88) {
      uint64_t point = next[q] > 5 ? next[q] - 5 : 0;
      pthread_mutex_lock(&sim.mutex);
      truncs[ntruncs].queue = q;
      truncs[ntruncs].position = point;
      truncs[ntruncs++].op = sim_log((struct sim_op){ .kind = SIM_ACK });
      pthread_mutex_unlock(&sim.mutex);
      f = mrlog_truncate(log, wl_name(q), point, wl_done,
                         ctx_new(ACK_TRUNCATE, q, point));
    } else if (roll < 92) {
      /* "doomed" alternates: created, then deleted a while later.  A
       * delete's context carries its submit op index. */
      if (!doomed_exists) {
        doomed_creates[ndoomed_creates++] = mark_submit();
        f = mrlog_create_queue(log, wl_name(3), NULL, NULL);
      } else {
        size_t at = mark_submit();
        f = mrlog_delete_queue(log, wl_name(3), wl_done,
                               ctx_new(ACK_DELETE, 3, at));
      }
      doomed_exists = !doomed_exists;
    } else {
      f = mrlog_sync(log, NULL, NULL);
    }
    if (roll % 3 == 0)
      th_wait(f, NULL);
    else
      mrlog_forget(f);
  }
  ck_assert_int_eq(mrlog_close(log), 0);
}

/* ---- Crash images --------------------------------------------------- */

struct img_file {
  uint8_t *data;
  size_t len;
};

static void
img_write(struct img_file *f, uint64_t off, const uint8_t *data, size_t len)
{
  if (off + len > f->len) {
    f->data = realloc(f->data, (size_t)off + len);
    ck_assert_ptr_nonnull(f->data);
    memset(f->data + f->len, 0, (size_t)off + len - f->len);
    f->len = (size_t)off + len;
  }
  memcpy(f->data + off, data, len);
}

/* Builds in dir the state a power loss after ops [0, k) may leave. */
static void
build_image(const char *dir, size_t k, unsigned *rnd)
{
  struct img_file files[SIM_FILES];
  char ns_name[SIM_FILES][40];
  int ns_file[SIM_FILES], nns = 0;
  size_t last_sync[SIM_FILES], last_dirsync = 0, i;
  size_t *pending = malloc((k + 1) * sizeof(*pending)), npending = 0;
  int f, j;

  ck_assert_ptr_nonnull(pending);
  memset(files, 0, sizeof(files));
  for (f = 0; f < SIM_FILES; f++)
    last_sync[f] = 0;
  for (i = 0; i < k; i++) {
    if (sim.ops[i].kind == SIM_DATASYNC)
      last_sync[sim.ops[i].file] = i + 1;
    if (sim.ops[i].kind == SIM_DIRSYNC)
      last_dirsync = i + 1;
  }
  /* File contents: synced writes in order, then the unsynced ones kept,
   * torn or dropped, in a shuffled order. */
  for (i = 0; i < k; i++) {
    struct sim_op *op = &sim.ops[i];
    if (op->kind == SIM_WRITE && i < last_sync[op->file])
      img_write(&files[op->file], op->off, op->data, op->len);
    else if (op->kind == SIM_TRUNC && i < last_sync[op->file] &&
             op->off < files[op->file].len)
      files[op->file].len = (size_t)op->off;
    else if (op->kind == SIM_WRITE)
      pending[npending++] = i;
  }
  for (i = npending; i > 1; i--) {
    size_t x = (*rnd = *rnd * 1103515245u + 12345u) >> 8, t;
    x %= i;
    t = pending[i - 1];
    pending[i - 1] = pending[x];
    pending[x] = t;
  }
  for (i = 0; i < npending; i++) {
    struct sim_op *op = &sim.ops[pending[i]];
    unsigned roll = ((*rnd = *rnd * 1103515245u + 12345u) >> 8) % 4;
    size_t len = op->len;
    if (roll == 0)
      continue; /* lost */
    if (roll == 1)
      len = ((*rnd = *rnd * 1103515245u + 12345u) >> 8) % (op->len + 1);
    if (roll == 2 && op->len > 512)
      len = (((*rnd = *rnd * 1103515245u + 12345u) >> 8) % (op->len / 512)) *
            512;
    if (len > 0)
      img_write(&files[op->file], op->off, op->data, len);
  }
  /* The namespace: durable directory operations, then each later one
   * kept or lost. */
  for (i = 0; i < k; i++) {
    struct sim_op *op = &sim.ops[i];
    bool keep = i < last_dirsync ||
                (((*rnd = *rnd * 1103515245u + 12345u) >> 8) & 1);
    if (!keep)
      continue;
    if (op->kind == SIM_CREATE) {
      for (j = 0; j < nns && strcmp(ns_name[j], op->name) != 0; j++)
        ;
      if (j == nns)
        nns++;
      snprintf(ns_name[j], sizeof(ns_name[j]), "%s", op->name);
      ns_file[j] = op->file;
    } else if (op->kind == SIM_UNLINK || op->kind == SIM_RENAME) {
      for (j = 0; j < nns && strcmp(ns_name[j], op->name) != 0; j++)
        ;
      if (j == nns)
        continue;
      if (op->kind == SIM_RENAME) {
        snprintf(ns_name[j], sizeof(ns_name[j]), "%s", op->name2);
      } else {
        ns_name[j][0] = '\0';
      }
    }
  }
  mkdir(dir, 0755);
  for (j = 0; j < nns; j++) {
    char *path;
    if (ns_name[j][0] == '\0')
      continue;
    path = malloc(strlen(dir) + strlen(ns_name[j]) + 2);
    ck_assert_ptr_nonnull(path);
    sprintf(path, "%s/%s", dir, ns_name[j]);
    th_write_file(path, files[ns_file[j]].data, files[ns_file[j]].len);
    free(path);
  }
  for (f = 0; f < SIM_FILES; f++)
    free(files[f].data);
  free(pending);
}

struct seen {
  uint64_t last;  /* last position visited + 1 */
  int queue;
  int bad;        /* records that fail their self-check or order */
  uint64_t *positions;
  size_t n, cap;
};

static int
seen_visit(void *arg, uint64_t position, const void *data, size_t len)
{
  struct seen *s = arg;
  unsigned char buf[1400];
  size_t want = wl_payload(s->queue, position, buf);

  if (position + 1 <= s->last || len != want || memcmp(data, buf, len) != 0)
    s->bad++;
  s->last = position + 1;
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 256;
    s->positions = realloc(s->positions, s->cap * sizeof(uint64_t));
  }
  s->positions[s->n++] = position;
  return 0;
}

static bool
has(const struct seen *s, uint64_t pos)
{
  size_t lo = 0, hi = s->n;

  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (s->positions[mid] < pos)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < s->n && s->positions[lo] == pos;
}

static void
print_log(void *arg, int level, const char *message)
{
  (void)arg;
  fprintf(stderr, "mrlog[%d]: %s\n", level, message);
}

/* The consumers of "audit" in the image at crash point k (see the top):
 * their positions against the commits acknowledged and submitted before
 * k.  OUT: *maybe, the smallest recovered position (the automatic
 * truncation may have removed the records below it, and no others);
 * *must, the smallest acknowledged one of both consumers (the records
 * below it must be gone), or 0. */
static void
check_commits(mrlog *log, size_t k, unsigned seed, int n, uint64_t *maybe,
              uint64_t *must)
{
  uint64_t acked[WL_CONSUMERS] = { 0 }, submitted[WL_CONSUMERS] = { 0 };
  bool has_ack[WL_CONSUMERS] = { false }, any = false;
  uint64_t pos, min = 0;
  int i, j, rc;

  for (i = 0; i < n && i < MAX_ACKS; i++) {
    if (acks[i].op < k && acks[i].kind == ACK_COMMIT) {
      j = acks[i].queue;
      if (acks[i].position > acked[j])
        acked[j] = acks[i].position;
      has_ack[j] = true;
    }
  }
  for (i = 0; i < ncommits; i++)
    if (commits[i].op < k && commits[i].position > submitted[commits[i].queue])
      submitted[commits[i].queue] = commits[i].position;
  for (j = 0; j < WL_CONSUMERS; j++) {
    rc = mrlog_committed(log, wl_name(WL_AUDIT), wl_consumer(j), &pos);
    if (getenv("MRLOG_POWERLOSS_DEBUG") != NULL)
      fprintf(stderr, "%s: rc %d pos %llu acked %llu submitted %llu\n",
              wl_consumer(j), rc, (unsigned long long)pos,
              (unsigned long long)acked[j], (unsigned long long)submitted[j]);
    ck_assert_msg(rc == 0 ||
                  ((rc == MRLOG_ENODATA || rc == MRLOG_ENOQUEUE) &&
                   !has_ack[j]),
                  "seed %u crash at op %zu: consumer %s: %s", seed, k,
                  wl_consumer(j), mrlog_strerror(rc));
    if (rc != 0)
      continue;
    ck_assert_msg(pos >= acked[j], "seed %u crash at op %zu: acknowledged "
                  "commit of %s at %llu went back to %llu", seed, k,
                  wl_consumer(j), (unsigned long long)acked[j],
                  (unsigned long long)pos);
    ck_assert_msg(pos <= submitted[j], "seed %u crash at op %zu: %s at "
                  "%llu, never submitted", seed, k, wl_consumer(j),
                  (unsigned long long)pos);
    if (!any || pos < min)
      min = pos;
    any = true;
  }
  if (getenv("MRLOG_POWERLOSS_DEBUG") != NULL) {
    struct mrlog_queue_info info;
    if (mrlog_queue_info(log, wl_name(WL_AUDIT), &info) == 0)
      fprintf(stderr, "audit: first %llu next %llu records %llu\n",
              (unsigned long long)info.first_position,
              (unsigned long long)info.next_position,
              (unsigned long long)info.records);
  }
  *maybe = any ? min : 0;
  *must = 0;
  if (has_ack[0] && has_ack[1])
    *must = acked[0] < acked[1] ? acked[0] : acked[1];
}

static void
check_image(const char *dir, size_t k, unsigned seed)
{
  mrlog_policy policy = th_policy();
  mrlog *log = NULL;
  struct seen s[WL_QUEUES];
  uint64_t trunc_point[WL_QUEUES];  /* acknowledged: must hold */
  uint64_t maybe_point[WL_QUEUES];  /* submitted: may hold */
  size_t last_delete_submit = 0;    /* of the last acknowledged delete */
  bool deleted = false;
  int rc, q, i, n = atomic_load(&nacks);

  if (getenv("MRLOG_POWERLOSS_DEBUG") != NULL)
    policy.log_fn = print_log;
  rc = mrlog_open(dir, &policy, &log);
  if (rc != 0 && getenv("MRLOG_POWERLOSS_DEBUG") != NULL) {
    size_t j;
    fprintf(stderr, "image at op %zu of %zu:\n", k, sim.n);
    for (j = 0; j < k; j++) {
      const struct sim_op *op = &sim.ops[j];
      if (op->kind == SIM_CREATE || op->kind == SIM_UNLINK)
        fprintf(stderr, "  op %zu %s %s\n", j,
                op->kind == SIM_CREATE ? "create" : "unlink", op->name);
      else if (op->kind == SIM_DIRSYNC)
        fprintf(stderr, "  op %zu dirsync\n", j);
      else if (op->kind == SIM_DATASYNC)
        fprintf(stderr, "  op %zu datasync %s\n", j, sim.names[op->file]);
      else if (op->kind == SIM_WRITE && op->off < 64)
        fprintf(stderr, "  op %zu write %s @%llu +%zu\n", j,
                sim.names[op->file], (unsigned long long)op->off, op->len);
    }
  }
  ck_assert_msg(rc == 0, "seed %u crash at op %zu: open %s", seed, k,
                mrlog_strerror(rc));
  memset(s, 0, sizeof(s));
  for (q = 0; q < WL_QUEUES; q++) {
    trunc_point[q] = maybe_point[q] = 0;
    s[q].queue = q;
    if (mrlog_queue_exists(log, wl_name(q)))
      ck_assert_int_eq(mrlog_range(log, wl_name(q), 0, UINT64_MAX,
                                   seen_visit, &s[q]),
                       0);
    ck_assert_msg(s[q].bad == 0, "seed %u crash at op %zu: %d bad records "
                  "in %s", seed, k, s[q].bad, wl_name(q));
  }
  for (i = 0; i < ntruncs; i++) {
    if (truncs[i].op < k &&
        truncs[i].position + 1 > maybe_point[truncs[i].queue])
      maybe_point[truncs[i].queue] = truncs[i].position + 1;
  }
  check_commits(log, k, seed, n, &maybe_point[WL_AUDIT],
                &trunc_point[WL_AUDIT]);
  for (i = 0; i < n && i < MAX_ACKS; i++) {
    const struct ack *a = &acks[i];
    if (a->op >= k)
      continue;
    if (a->kind == ACK_TRUNCATE && a->position + 1 > trunc_point[a->queue])
      trunc_point[a->queue] = a->position + 1;
    if (a->kind == ACK_DELETE && (!deleted || a->position > last_delete_submit)) {
      deleted = true;
      last_delete_submit = (size_t)a->position;
    }
  }
  for (i = 0; i < n && i < MAX_ACKS; i++) {
    const struct ack *a = &acks[i];
    struct mrlog_queue_info info;
    if (a->op >= k || a->kind != ACK_APPEND)
      continue;
    ck_assert_msg(mrlog_queue_info(log, wl_name(a->queue), &info) == 0,
                  "seed %u crash at op %zu: queue %s lost", seed, k,
                  wl_name(a->queue));
    ck_assert_msg(info.next_position > a->position,
                  "seed %u crash at op %zu: %s next %llu <= acknowledged %llu",
                  seed, k, wl_name(a->queue),
                  (unsigned long long)info.next_position,
                  (unsigned long long)a->position);
    if (a->position >= maybe_point[a->queue])
      ck_assert_msg(has(&s[a->queue], a->position),
                    "seed %u crash at op %zu: acknowledged %s@%llu lost",
                    seed, k, wl_name(a->queue),
                    (unsigned long long)a->position);
  }
  for (q = 0; q < WL_QUEUES; q++) {
    ck_assert_msg(s[q].n == 0 || s[q].positions[0] >= trunc_point[q],
                  "seed %u crash at op %zu: truncation of %s undone", seed,
                  k, wl_name(q));
    free(s[q].positions);
  }
  if (deleted && mrlog_queue_exists(log, wl_name(3))) {
    bool recreated = false;
    for (i = 0; i < ndoomed_creates; i++)
      if (doomed_creates[i] > last_delete_submit && doomed_creates[i] < k)
        recreated = true;
    ck_assert_msg(recreated, "seed %u crash at op %zu: acknowledged delete "
                  "of %s undone", seed, k, wl_name(3));
  }
  ck_assert_int_eq(mrlog_close(log), 0);
}

static void
simulate(unsigned seed, int points)
{
  unsigned rnd = seed * 2654435761u + 1;
  char *image = th_sub("image");
  int i;

  th_rmrf(th_dir); /* a fresh log for every seed (soak runs several) */
  sim_reset();
  atomic_store(&nacks, 0);
  ntruncs = 0;
  ncommits = 0;
  ndoomed_creates = 0;
  run_workload(seed);
  ck_assert_int_gt(atomic_load(&nacks), 50);
  for (i = 0; i < points; i++) {
    size_t k = i == 0 ? sim.n : 1 + ((rnd = rnd * 1103515245u + 12345u) >> 8) % sim.n;
    th_rmrf(image);
    build_image(image, k, &rnd);
    check_image(image, k, seed);
  }
  th_rmrf(image);
  free(image);
  sim_reset();
}

START_TEST(test_power_loss)
{
  /* MRLOG_POWERLOSS_SEED=N replays one seed; MRLOG_POWERLOSS_SOAK=N runs
   * N seeds per case instead of one (a long soak, not for CI). */
  unsigned seed = (unsigned)_i * 7919u + 17u;
  const char *env = getenv("MRLOG_POWERLOSS_SEED");
  const char *soak = getenv("MRLOG_POWERLOSS_SOAK");
  long rounds = soak != NULL ? strtol(soak, NULL, 10) : 1, r;

  if (env != NULL)
    seed = (unsigned)strtoul(env, NULL, 10);
  for (r = 0; r < (rounds > 0 ? rounds : 1); r++)
    simulate(seed + (unsigned)r * 104729u, (int)th_scaled(300));
}
END_TEST

Suite *
make_powerloss_suite(void)
{
  Suite *s = suite_create("powerloss");
  TCase *tc = tcase_create("crash_points");

  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_SLOW);
  tcase_add_loop_test(tc, test_power_loss, 0, 8);
  suite_add_tcase(s, tc);
  return s;
}

/*
 * fuzz_recovery.c -- libFuzzer target: recovery of hostile log directories.
 *
 * The input is a container (fuzz_common.h) that becomes a directory of
 * segment files, foreign files, a LOCK file and so on.  For each recovery
 * policy in turn the directory is rebuilt from scratch and opened.  When
 * open succeeds, every read is exercised and checked for internal
 * consistency, one record is appended and synced, the log is closed and
 * reopened, and the reopened state must equal the state before the close
 * (after a SKIP_CORRUPT open too: fuzz/regressions/fuzz_recovery/ keeps the
 * input that once broke this; FUZZ_SKIP_CORRUPT_RELAXED=1 turns it off).
 * FUZZ_VERBOSE=1 prints the library's log messages and open results.
 * When a STRICT open fails, nothing on disk may have changed (LOCK aside).
 * Before the writing open, a read-only open (policy.read_only) under the
 * same policy must change nothing on disk, refuse a mutation with
 * MRLOG_EINVAL, and, when both succeed, show the state the writing open
 * recovers.
 *
 * Any violation is __builtin_trap(); ASan/UBSan/LSan catch the rest.
 */
#include "fuzz_common.h"

#include <stdbool.h>

#include "mrlog.h"

#define CHECK(c)            \
  do {                      \
    if (!(c))               \
      __builtin_trap();     \
  } while (0)

static void
log_sink(void *arg, int level, const char *message)
{
  (void)arg;
  if (getenv("FUZZ_VERBOSE"))
    fprintf(stderr, "mrlog[%d]: %s\n", level, message);
  CHECK(level >= MRLOG_LOG_ERROR && level <= MRLOG_LOG_INFO);
  CHECK(message != NULL && strlen(message) < 512);
}

/* ---- state snapshots ---------------------------------------------------- */

struct qsnap {
  char *name;
  struct mrlog_queue_info info;
  uint64_t visited, bytes, digest, first_seen;
};

struct snap {
  struct qsnap *q;
  size_t n, cap;
};

/* The log being snapshot is read-only: it made no segment of its own. */
static bool snap_read_only;

static int
collect_name(void *arg, const char *queue)
{
  struct snap *s = arg;

  CHECK(queue != NULL);
  CHECK(strlen(queue) >= 1 && strlen(queue) <= MRLOG_QUEUE_NAME_MAX);
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 8;
    s->q = realloc(s->q, s->cap * sizeof(*s->q));
    CHECK(s->q != NULL);
  }
  memset(&s->q[s->n], 0, sizeof(s->q[0]));
  s->q[s->n].name = strdup(queue);
  CHECK(s->q[s->n].name != NULL);
  s->n++;
  return 0;
}

struct visit_state {
  struct qsnap *q;
  bool any;
  uint64_t last;
};

static int
visit(void *arg, uint64_t position, const void *data, size_t len)
{
  struct visit_state *v = arg;
  const uint8_t *p = data;
  size_t i;

  CHECK(len <= MRLOG_RECORD_MAX);
  CHECK(len == 0 || data != NULL);
  CHECK(position <= MRLOG_POSITION_MAX);
  if (v->any)
    CHECK(position > v->last);
  else
    v->q->first_seen = position;
  v->any = true;
  v->last = position;
  v->q->visited++;
  v->q->bytes += len;
  v->q->digest = (v->q->digest ^ position ^ len) * 0x100000001b3ull;
  for (i = 0; i < len; i++)
    v->q->digest = (v->q->digest ^ p[i]) * 0x100000001b3ull;
  return 0;
}

static int
cmp_q(const void *a, const void *b)
{
  return strcmp(((const struct qsnap *)a)->name,
                ((const struct qsnap *)b)->name);
}

static void
snap_free(struct snap *s)
{
  size_t i;

  for (i = 0; i < s->n; i++)
    free(s->q[i].name);
  free(s->q);
  memset(s, 0, sizeof(*s));
}

/* Reads everything and checks that the reads agree with each other. */
static void
take_snap(mrlog *log, struct snap *s)
{
  struct mrlog_stats st;
  uint64_t records = 0;
  size_t i;

  memset(s, 0, sizeof(*s));
  CHECK(mrlog_list_queues(log, collect_name, s) == 0);
  if (s->n > 1)
    qsort(s->q, s->n, sizeof(s->q[0]), cmp_q);
  for (i = 0; i < s->n; i++) {
    struct qsnap *q = &s->q[i];
    struct visit_state v = { q, false, 0 };

    if (i > 0)
      CHECK(strcmp(s->q[i - 1].name, q->name) != 0); /* names unique */
    CHECK(mrlog_queue_exists(log, q->name));
    CHECK(mrlog_queue_info(log, q->name, &q->info) == 0);
    CHECK(mrlog_range(log, q->name, 0, UINT64_MAX, visit, &v) == 0);
    CHECK(q->info.records == q->visited);
    CHECK(q->info.bytes == q->bytes);
    CHECK(q->info.first_position <= q->info.next_position);
    if (q->visited > 0) {
      CHECK(q->info.first_position == q->first_seen);
      CHECK(v.last < q->info.next_position);
    } else {
      CHECK(q->info.first_position == q->info.next_position);
    }
    records += q->visited;
  }
  CHECK(mrlog_stats(log, &st) == 0);
  CHECK(st.queues == s->n);
  CHECK(st.records == records);
  CHECK(st.failed == 0);
  CHECK(st.segment_files >= 1 || snap_read_only);
}

static void
snap_equal(const struct snap *a, const struct snap *b)
{
  size_t i;

  CHECK(a->n == b->n);
  for (i = 0; i < a->n; i++) {
    CHECK(strcmp(a->q[i].name, b->q[i].name) == 0);
    CHECK(a->q[i].info.first_position == b->q[i].info.first_position);
    CHECK(a->q[i].info.next_position == b->q[i].info.next_position);
    CHECK(a->q[i].info.records == b->q[i].info.records);
    CHECK(a->q[i].info.bytes == b->q[i].info.bytes);
    CHECK(a->q[i].digest == b->q[i].digest);
  }
}

/* ---- directory digests (for STRICT's "changes nothing") ----------------- */

/* The size and the non-zero bytes (with their offsets) of f: its content,
 * read through its data only, so that a sparse file of 4 GiB costs what
 * its data costs (a hole and written zeros hash alike). */
static uint64_t
file_digest(int f, uint64_t h)
{
  uint8_t buf[4096];
  struct stat st;
  off_t off = 0, data, end;
  ssize_t r;

  if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode))
    return h;
  h = (h ^ (uint64_t)st.st_size) * 0x100000001b3ull;
  while (off < st.st_size) {
    data = lseek(f, off, SEEK_DATA);
    if (data < 0)
      data = errno == ENXIO ? st.st_size : off;
    end = data < st.st_size ? lseek(f, data, SEEK_HOLE) : st.st_size;
    if (end < data)
      end = st.st_size;
    for (off = data; off < end; off += r) {
      size_t want = end - off < (off_t)sizeof(buf) ? (size_t)(end - off)
                                                   : sizeof(buf);

      r = pread(f, buf, want, off);
      if (r <= 0)
        return h;
      for (ssize_t k = 0; k < r; k++)
        if (buf[k] != 0)
          h = (h ^ buf[k] ^ (uint64_t)(off + k) << 8) * 0x100000001b3ull;
    }
    if (end <= data)
      break;
  }
  return h;
}

static uint64_t
dir_digest(int dirfd)
{
  int fd = dup(dirfd);
  DIR *d;
  struct dirent *e;
  uint64_t sum = 0;

  CHECK(fd >= 0);
  d = fdopendir(fd);
  CHECK(d != NULL);
  rewinddir(d);
  while ((e = readdir(d)) != NULL) {
    uint64_t h = 0xcbf29ce484222325ull;
    const char *c;
    int f;

    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
        strcmp(e->d_name, "LOCK") == 0)
      continue;
    for (c = e->d_name; *c; c++)
      h = (h ^ (uint8_t)*c) * 0x100000001b3ull;
    f = openat(dirfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    if (f >= 0) {
      h = file_digest(f, h);
      close(f);
    }
    sum += h; /* order-independent */
  }
  closedir(d);
  return sum;
}

/* ---- the target --------------------------------------------------------- */

static void
policy_for(mrlog_policy *p, int recovery, unsigned flags)
{
  mrlog_policy_init(p);
  p->segment_bytes = 4096;
  p->ring_slots = 64;
  p->memory_limit = 64u << 20;
  p->recovery = recovery;
  if ((flags & FZ_FLAG_LOGFN) || getenv("FUZZ_VERBOSE"))
    p->log_fn = log_sink;
}

static bool
known_open_error(int rc)
{
  return rc == MRLOG_ECORRUPT || rc == MRLOG_EIO || rc == MRLOG_ENOSPC ||
         rc == MRLOG_ENOMEM || rc == MRLOG_EINVAL;
}

/* The read-only open of the directory (OUT: its snapshot, when it
 * succeeds).  Returns whether it succeeded. */
static bool
run_read_only(int recovery, const struct fz_dirinfo *di, struct snap *out)
{
  mrlog_policy pol;
  mrlog *log = NULL;
  uint64_t digest = dir_digest(fz_dir_fd);
  int rc;

  policy_for(&pol, recovery, di->flags);
  pol.read_only = 1;
  rc = mrlog_open(fz_dir_path, &pol, &log);
  if (getenv("FUZZ_VERBOSE"))
    fprintf(stderr, "read-only open(policy %d): %s\n", recovery,
            mrlog_err_name(rc));
  if (rc != 0) {
    CHECK(log == NULL);
    CHECK(known_open_error(rc));
  } else {
    snap_read_only = true;
    take_snap(log, out);
    snap_read_only = false;
    CHECK(mrlog_wait(mrlog_create_queue(log, "ro", NULL, NULL), NULL) ==
          MRLOG_EINVAL);
    CHECK(mrlog_close(log) == 0);
  }
  CHECK(dir_digest(fz_dir_fd) == digest);
  return rc == 0;
}

static void
run_policy(int recovery, const struct fz_dirinfo *di)
{
  struct snap ro = { NULL, 0, 0 };
  bool ro_ok = run_read_only(recovery, di, &ro);
  mrlog_policy pol;
  mrlog *log = NULL;
  struct snap before, after;
  uint64_t digest = 0, pos = 0;
  const char *q;
  bool relaxed;
  int rc;

  policy_for(&pol, recovery, di->flags);
  if (recovery == MRLOG_RECOVER_STRICT)
    digest = dir_digest(fz_dir_fd);
  rc = mrlog_open(fz_dir_path, &pol, &log);
  if (getenv("FUZZ_VERBOSE"))
    fprintf(stderr, "open(policy %d): %s\n", recovery, mrlog_err_name(rc));
  if (rc != 0) {
    CHECK(log == NULL);
    CHECK(known_open_error(rc));
    if (recovery == MRLOG_RECOVER_STRICT)
      CHECK(dir_digest(fz_dir_fd) == digest);
    if (ro_ok)
      snap_free(&ro);
    return;
  }
  CHECK(log != NULL);
  take_snap(log, &before);
  if (ro_ok) {
    if (!di->big_segno)
      snap_equal(&ro, &before);
    snap_free(&ro);
  }
  {
    /* Known finding (fuzz/regressions/fuzz_recovery/README.md): after a
     * SKIP_CORRUPT open that skipped damage, a later open may recover
     * less than the first one served.  Checked only on request. */
    struct mrlog_stats st;
    CHECK(mrlog_stats(log, &st) == 0);
    relaxed = recovery == MRLOG_RECOVER_SKIP_CORRUPT &&
              st.discarded_tail_bytes > 0 &&
              getenv("FUZZ_SKIP_CORRUPT_RELAXED") != NULL;
  }

  /* One append (to the first queue, or a new one) and a sync. */
  if (before.n > 0) {
    q = before.q[0].name;
  } else {
    q = "fuzz";
    CHECK(mrlog_wait(mrlog_create_queue(log, q, NULL, NULL), &pos) == 0);
  }
  {
    struct mrlog_queue_info info;
    int expect;

    CHECK(mrlog_queue_info(log, q, &info) == 0);
    expect = info.next_position > MRLOG_POSITION_MAX ? MRLOG_EINVAL : 0;
    rc = mrlog_wait(mrlog_append(log, q, NULL, "rec", 3, NULL, NULL), &pos);
    CHECK(rc == expect);
    if (rc == 0)
      CHECK(pos == info.next_position);
  }
  CHECK(mrlog_wait(mrlog_sync(log, NULL, NULL), NULL) == 0);
  snap_free(&before);
  take_snap(log, &before);
  CHECK(mrlog_close(log) == 0);

  /* A clean close followed by a reopen under the same policy gives back
   * exactly the state that was closed. */
  log = NULL;
  rc = mrlog_open(fz_dir_path, &pol, &log);
  if (getenv("FUZZ_VERBOSE"))
    fprintf(stderr, "reopen(policy %d): %s\n", recovery, mrlog_err_name(rc));
  if (di->big_segno) {
    /* Segment numbers >= 2^32 are outside what the library supports
     * (FORMAT.md 2, 10): only memory safety is checked. */
    if (rc == 0) {
      take_snap(log, &after);
      snap_free(&after);
      mrlog_close(log);
    }
    snap_free(&before);
    return;
  }
  CHECK(rc == 0);
  take_snap(log, &after);
  if (!relaxed)
    snap_equal(&before, &after);
  snap_free(&after);
  snap_free(&before);
  CHECK(mrlog_close(log) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const int policies[3] = { MRLOG_RECOVER_TOLERATE_TAIL,
                                   MRLOG_RECOVER_STRICT,
                                   MRLOG_RECOVER_SKIP_CORRUPT };
  struct fz_dirinfo di;
  int i;

  fz_make_dir("recovery");
  for (i = 0; i < 3; i++) {
    fz_clean_dir(fz_dir_fd);
    fz_build_dir(fz_dir_fd, data, size, &di);
    run_policy(policies[i], &di);
  }
  fz_clean_dir(fz_dir_fd);
  return 0;
}

/*
 * fuzz_api.c -- libFuzzer target: the public API driven by an opcode stream.
 *
 * A model of every queue (existence, next position, retained records with
 * their bytes) is kept alongside the log.  Calls are made from this one
 * thread, so the writer applies them in call order and the model can
 * predict each completion's status and position; the completion callback
 * checks them (and that it runs exactly once, on a library thread).  Reads
 * preceded by a barrier (a waited mrlog_sync) must match the model
 * exactly; reads without one are only checked for structure (strictly
 * increasing positions inside [from, to)).  Close + reopen must give back
 * the model.  Any violation is __builtin_trap().
 *
 * Input: byte 0 policy flags, then opcodes [op][a][b][c] (missing bytes
 * read as 0).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "mrlog.h"
#include "fuzz_common.h"

#define CHECK(c)            \
  do {                      \
    if (!(c))               \
      __builtin_trap();     \
  } while (0)

#define MAX_OPS 160
#define MAX_REOPENS 4
#define MAX_KEPT 16
#define NQ_VALID 4
#define NNAMES 7
#define ANY_POS UINT64_MAX
#define MAX_REC_LEN 48
#define MAX_BATCH 6

/* ---- names -------------------------------------------------------------- */

static char long_ok[MRLOG_QUEUE_NAME_MAX + 1];      /* 1024 bytes: valid */
static char long_bad[MRLOG_QUEUE_NAME_MAX + 2];     /* 1025 bytes: EINVAL */
static const char *names[NNAMES];

static void
init_names(void)
{
  if (names[0] != NULL)
    return;
  memset(long_ok, 'x', MRLOG_QUEUE_NAME_MAX);
  memset(long_bad, 'y', MRLOG_QUEUE_NAME_MAX + 1);
  names[0] = "a";
  names[1] = "b";
  names[2] = "queue with spaces/\xc3\xa9";
  names[3] = long_ok;
  names[4] = "";
  names[5] = long_bad;
  names[6] = NULL;
}

/* ---- model -------------------------------------------------------------- */

struct mrec {
  uint64_t pos;
  uint8_t len, seed;
};

struct mq {
  bool exists;
  uint64_t next;
  struct mrec *r;
  size_t n, cap;
};

static struct mq model[NQ_VALID];

static void
model_reset(void)
{
  int i;

  for (i = 0; i < NQ_VALID; i++) {
    free(model[i].r);
    memset(&model[i], 0, sizeof(model[i]));
  }
}

static void
payload(uint8_t *out, uint8_t len, uint8_t seed)
{
  uint8_t i;

  for (i = 0; i < len; i++)
    out[i] = (uint8_t)(seed + i * 7);
}

static void
model_push(struct mq *q, uint64_t pos, uint8_t len, uint8_t seed)
{
  if (q->n == q->cap) {
    q->cap = q->cap ? 2 * q->cap : 16;
    q->r = realloc(q->r, q->cap * sizeof(*q->r));
    CHECK(q->r != NULL);
  }
  CHECK(q->n == 0 || q->r[q->n - 1].pos < pos);
  q->r[q->n++] = (struct mrec){ pos, len, seed };
}

static void
model_drop_upto(struct mq *q, uint64_t pos)
{
  size_t k = 0;

  while (k < q->n && q->r[k].pos <= pos)
    k++;
  if (k == 0)
    return;
  memmove(q->r, q->r + k, (q->n - k) * sizeof(*q->r));
  q->n -= k;
}

/* ---- completions -------------------------------------------------------- */

struct slot {
  int expect;
  uint64_t expect_pos; /* ANY_POS: not checked */
  atomic_int calls;
};

static struct slot slots[MAX_OPS + 8];
static size_t nslots;
static atomic_ulong called;
static pthread_t main_thread;

static void
on_done(void *arg, int status, uint64_t position)
{
  struct slot *s = arg;

  CHECK(atomic_fetch_add(&s->calls, 1) == 0); /* exactly once */
  /* Never on the calling thread. */
  CHECK(!pthread_equal(pthread_self(), main_thread));
  CHECK(status == s->expect);
  if (s->expect_pos != ANY_POS)
    CHECK(position == s->expect_pos);
  atomic_fetch_add(&called, 1);
}

struct kept {
  mrlog_future *f;
  struct slot *s;
};

static struct kept kept[MAX_KEPT];
static size_t nkept;

static void
wait_one(struct kept k)
{
  uint64_t pos = 0;
  int rc;

  if (k.f == NULL)
    return; /* the library could not allocate it; the callback still runs */
  rc = mrlog_wait(k.f, &pos);
  CHECK(atomic_load(&k.s->calls) == 1); /* callback returned before ready */
  CHECK(rc == k.s->expect);
  if (k.s->expect_pos != ANY_POS)
    CHECK(pos == k.s->expect_pos);
}

static void
wait_oldest(void)
{
  if (nkept == 0)
    return;
  wait_one(kept[0]);
  memmove(kept, kept + 1, (nkept - 1) * sizeof(kept[0]));
  nkept--;
}

static struct slot *
new_slot(int expect, uint64_t expect_pos)
{
  struct slot *s = &slots[nslots++];

  s->expect = expect;
  s->expect_pos = expect_pos;
  atomic_store(&s->calls, 0);
  return s;
}

/* How the caller treats the returned future: mode 0 wait, 1 keep, 2
 * forget. */
static void
dispose(mrlog_future *f, struct slot *s, unsigned mode)
{
  struct kept k = { f, s };

  switch (mode % 3) {
  case 0:
    wait_one(k);
    break;
  case 1:
    if (nkept == MAX_KEPT)
      wait_oldest();
    kept[nkept++] = k;
    break;
  default:
    mrlog_forget(f);
    break;
  }
}

/* ---- reads -------------------------------------------------------------- */

struct rvisit {
  mrlog *log;
  const char *name;
  uint64_t from, to, last;
  bool any, exact;
  const struct mq *q;
  size_t idx;   /* next model record (exact mode) */
  unsigned stop_after, visited;
  uint64_t bytes;
};

static int
rvisit(void *arg, uint64_t position, const void *data, size_t len)
{
  struct rvisit *v = arg;
  struct mrlog_queue_info info;

  CHECK(position >= v->from && position < v->to);
  CHECK(!v->any || position > v->last);
  CHECK(len <= MAX_REC_LEN && (len == 0 || data != NULL));
  v->any = true;
  v->last = position;
  v->bytes += len;
  if (v->exact) {
    uint8_t want[MAX_REC_LEN];
    const struct mrec *r;

    while (v->idx < v->q->n && v->q->r[v->idx].pos < v->from)
      v->idx++;
    CHECK(v->idx < v->q->n);
    r = &v->q->r[v->idx++];
    CHECK(r->pos == position && r->len == len);
    payload(want, r->len, r->seed);
    CHECK(len == 0 || memcmp(want, data, len) == 0);
  }
  /* A visitor runs with no lock held: it may call into the log. */
  if ((v->visited & 3) == 1)
    CHECK(mrlog_queue_info(v->log, v->name, &info) == 0 || !v->exact);
  v->visited++;
  if (v->stop_after != 0 && v->visited == v->stop_after)
    return 7;
  return 0;
}

/* The log's clock: a millisecond per call, so frames get distinct times
 * and seek_time has something to tell apart.  Monotonic across reopens
 * (it is never reset), as a wall clock would be. */
static _Atomic uint64_t fuzz_ms = 1000000;

static uint64_t
fuzz_clock(void *arg)
{
  (void)arg;
  return atomic_fetch_add(&fuzz_ms, 1);
}

/* Times seen by a timed walk of one queue. */
struct tvisit {
  size_t n;
  uint64_t pos[MAX_OPS * MAX_BATCH];
  uint64_t ms[MAX_OPS * MAX_BATCH];
};

static int
tvisit(void *arg, uint64_t position, uint64_t unix_ms, const void *data,
       size_t len)
{
  struct tvisit *t = arg;

  (void)data;
  (void)len;
  CHECK(t->n < sizeof(t->pos) / sizeof(t->pos[0]));
  t->pos[t->n] = position;
  t->ms[t->n] = unix_ms;
  t->n++;
  return 0;
}

/* Record times of queue qi (after a barrier) against themselves: the timed
 * walk sees the model's records, times never decrease, info's first and
 * last times match, and seek_time finds, for every record's time and the
 * times around it, the first record framed at or after it. */
static void
check_times(mrlog *log, int qi)
{
  static struct tvisit t;
  const struct mq *q = &model[qi];
  struct mrlog_queue_info info;
  uint64_t pos;
  size_t i, j;

  t.n = 0;
  CHECK(mrlog_range_time(log, names[qi], 0, UINT64_MAX, tvisit, &t) == 0);
  CHECK(t.n == q->n);
  for (i = 0; i < t.n; i++) {
    CHECK(t.pos[i] == q->r[i].pos);
    CHECK(i == 0 || t.ms[i] >= t.ms[i - 1]);
  }
  CHECK(mrlog_queue_info(log, names[qi], &info) == 0);
  CHECK(info.first_time_ms == (t.n ? t.ms[0] : 0));
  CHECK(info.last_time_ms == (t.n ? t.ms[t.n - 1] : 0));
  if (t.n == 0) {
    CHECK(mrlog_seek_time(log, names[qi], 0, &pos) == MRLOG_ENODATA);
    return;
  }
  for (i = 0; i < t.n; i++) {
    /* The first record with a time >= t.ms[i], and >= t.ms[i] + 1. */
    for (j = 0; j < t.n && t.ms[j] < t.ms[i]; j++)
      ;
    CHECK(mrlog_seek_time(log, names[qi], t.ms[i], &pos) == 0);
    CHECK(pos == t.pos[j]);
    for (j = i; j < t.n && t.ms[j] <= t.ms[i]; j++)
      ;
    if (j == t.n) {
      CHECK(mrlog_seek_time(log, names[qi], t.ms[i] + 1, &pos) ==
            MRLOG_ENODATA);
    } else {
      CHECK(mrlog_seek_time(log, names[qi], t.ms[i] + 1, &pos) == 0);
      CHECK(pos == t.pos[j]);
    }
  }
  CHECK(mrlog_seek_time(log, names[qi], 0, &pos) == 0 && pos == t.pos[0]);
}

static void
barrier(mrlog *log)
{
  CHECK(mrlog_wait(mrlog_sync(log, NULL, NULL), NULL) == 0);
}

/* Checks queue qi against the model (after a barrier). */
static void
check_queue(mrlog *log, int qi)
{
  const struct mq *q = &model[qi];
  struct mrlog_queue_info info;
  struct rvisit v = { log, names[qi], 0, UINT64_MAX, 0, false, true, q,
                      0, 0, 0, 0 };
  uint64_t bytes = 0;
  size_t i;
  int rc;

  rc = mrlog_queue_info(log, names[qi], &info);
  CHECK(mrlog_queue_exists(log, names[qi]) == q->exists);
  if (!q->exists) {
    CHECK(rc == MRLOG_ENOQUEUE);
    CHECK(mrlog_range(log, names[qi], 0, UINT64_MAX, rvisit, &v) ==
          MRLOG_ENOQUEUE);
    return;
  }
  CHECK(rc == 0);
  for (i = 0; i < q->n; i++)
    bytes += q->r[i].len;
  CHECK(info.next_position == q->next);
  CHECK(info.records == q->n);
  CHECK(info.bytes == bytes);
  CHECK(info.first_position == (q->n ? q->r[0].pos : q->next));
  CHECK(mrlog_range(log, names[qi], 0, UINT64_MAX, rvisit, &v) == 0);
  CHECK(v.visited == q->n && v.idx == q->n && v.bytes == bytes);
  check_times(log, qi);
}

static int
count_queue(void *arg, const char *queue)
{
  int i;

  for (i = 0; i < NQ_VALID; i++)
    if (strcmp(queue, names[i]) == 0) {
      CHECK(model[i].exists);
      ++*(int *)arg;
      return 0;
    }
  __builtin_trap(); /* a queue nobody created */
}

static void
check_all(mrlog *log)
{
  struct mrlog_stats st;
  int i, listed = 0, live = 0;
  uint64_t records = 0;

  for (i = 0; i < NQ_VALID; i++) {
    check_queue(log, i);
    if (model[i].exists) {
      live++;
      records += model[i].n;
    }
  }
  CHECK(mrlog_list_queues(log, count_queue, &listed) == 0);
  CHECK(listed == live);
  CHECK(mrlog_stats(log, &st) == 0);
  CHECK(st.queues == (uint64_t)live && st.records == records);
  CHECK(st.failed == 0);
}

/* ---- the target --------------------------------------------------------- */

static uint64_t
pick_pos(uint8_t sel, uint64_t next)
{
  switch (sel >> 5) {
  case 0: return sel & 31;
  case 1: return next + (sel & 31);
  case 2: return next >= (sel & 31) ? next - (sel & 31) : 0;
  case 3: return UINT64_MAX - (sel & 7);
  case 4: return MRLOG_POSITION_MAX - (sel & 31);
  case 5: return (1ull << 32) + (sel & 31) - 16;
  case 6: return (1ull << 63) + (sel & 31);
  default: return next;
  }
}

struct input {
  const uint8_t *p;
  size_t n, i;
};

static uint8_t
byte(struct input *in)
{
  return in->i < in->n ? in->p[in->i++] : 0;
}

static void
open_log(const mrlog_policy *pol, mrlog **log)
{
  CHECK(mrlog_open(fz_dir_path, pol, log) == 0);
}

static void
close_log(mrlog *log)
{
  size_t i;

  CHECK(mrlog_close(log) == 0);
  /* Every completion has happened, and every kept future is ready. */
  CHECK(atomic_load(&called) == nslots);
  for (i = 0; i < nslots; i++)
    CHECK(atomic_load(&slots[i].calls) == 1);
  for (i = 0; i < nkept; i++)
    CHECK(kept[i].f == NULL || mrlog_ready(kept[i].f));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct input in = { data, size, 0 };
  mrlog_policy pol;
  mrlog *log = NULL;
  unsigned flags, ops = 0, reopens = 0;

  init_names();
  main_thread = pthread_self();
  fz_make_dir("api");
  fz_clean_dir(fz_dir_fd);
  model_reset();
  nslots = 0;
  nkept = 0;
  atomic_store(&called, 0);

  flags = byte(&in);
  mrlog_policy_init(&pol);
  pol.segment_bytes = (flags & 1) ? 4096 : 65536;
  pol.ring_slots = (flags & 2) ? 4 : 64;
  pol.fsync_interval_ms = (flags & 4) ? 5 : 0;
  pol.memory_limit = 64u << 20;
  pol.cleaner_interval_ms = (flags & 8) ? 1 : 1000;
  pol.now_ms = fuzz_clock;
  pol.record_store = (flags & 16) ? MRLOG_STORE_MAPPED : MRLOG_STORE_COPY;
  open_log(&pol, &log);

  while (in.i < in.n && ops < MAX_OPS) {
    uint8_t op = byte(&in), a = byte(&in), b = byte(&in), c = byte(&in);
    int qi = a % NNAMES;
    const char *name = names[qi];
    bool valid = qi < NQ_VALID;
    struct mq *q = valid ? &model[qi] : NULL;
    unsigned mode = a >> 6;
    struct slot *s;
    mrlog_future *f;

    ops++;
    switch (op % 12) {
    case 0: /* create */
      if (!valid)
        s = new_slot(MRLOG_EINVAL, ANY_POS);
      else if (q->exists)
        s = new_slot(MRLOG_EEXIST, 0);
      else {
        s = new_slot(0, 0);
        q->exists = true;
        q->next = 0;
        q->n = 0;
      }
      f = mrlog_create_queue(log, name, on_done, s);
      dispose(f, s, mode);
      break;
    case 1: /* delete */
      if (!valid)
        s = new_slot(MRLOG_EINVAL, ANY_POS);
      else if (!q->exists)
        s = new_slot(MRLOG_ENOQUEUE, 0);
      else {
        s = new_slot(0, 0);
        q->exists = false;
        q->n = 0;
        q->next = 0;
      }
      f = mrlog_delete_queue(log, name, on_done, s);
      dispose(f, s, mode);
      break;
    case 2: /* append, default or explicit position */
    case 3: { /* batch */
      bool explicit = b & 1, batch = op % 12 == 3;
      size_t count = batch ? (size_t)(c % (MAX_BATCH + 1)) : 1;
      uint64_t p = 0, first;
      uint8_t lens[MAX_BATCH + 1], seeds[MAX_BATCH + 1];
      uint8_t bufs[MAX_BATCH + 1][MAX_REC_LEN];
      struct iovec iov[MAX_BATCH + 1];
      size_t k;

      for (k = 0; k < (count ? count : 1); k++) {
        lens[k] = (uint8_t)((c + 13 * k) % (MAX_REC_LEN + 1));
        seeds[k] = (uint8_t)(op + b + k);
        payload(bufs[k], lens[k], seeds[k]);
        iov[k].iov_base = lens[k] ? bufs[k] : ((b & 2) ? NULL : bufs[k]);
        iov[k].iov_len = lens[k];
      }
      if (explicit)
        p = pick_pos(byte(&in), valid ? q->next : 0);
      if (!valid || count == 0) {
        s = new_slot(MRLOG_EINVAL, ANY_POS);
      } else if (!q->exists) {
        s = new_slot(MRLOG_ENOQUEUE, ANY_POS);
      } else {
        first = explicit ? p : q->next;
        /* A range that would pass MRLOG_POSITION_MAX is MRLOG_EINVAL,
         * never MRLOG_DUPLICATE, even when it starts below next. */
        if (first > MRLOG_POSITION_MAX ||
            count - 1 > MRLOG_POSITION_MAX - first) {
          s = new_slot(MRLOG_EINVAL, ANY_POS);
        } else if (explicit && first < q->next) {
          s = new_slot(MRLOG_DUPLICATE, first + count - 1);
        } else {
          s = new_slot(0, first + count - 1);
          for (k = 0; k < count; k++)
            model_push(q, first + k, lens[k], seeds[k]);
          q->next = first + count;
        }
      }
      if (batch)
        f = mrlog_append_batch(log, name, explicit ? &p : NULL,
                               (b & 4) && count == 0 ? NULL : iov, count,
                               on_done, s);
      else
        f = mrlog_append(log, name, explicit ? &p : NULL, iov[0].iov_base,
                         iov[0].iov_len, on_done, s);
      dispose(f, s, mode);
      break;
    }
    case 4: { /* truncate */
      uint64_t p = pick_pos(b, valid ? q->next : 0);

      if (!valid)
        s = new_slot(MRLOG_EINVAL, ANY_POS);
      else if (!q->exists)
        s = new_slot(MRLOG_ENOQUEUE, p);
      else {
        uint64_t bound = p == UINT64_MAX ? UINT64_MAX : p + 1;
        s = new_slot(0, p);
        model_drop_upto(q, p);
        if (q->next < bound)
          q->next = bound;
      }
      f = mrlog_truncate(log, name, p, on_done, s);
      dispose(f, s, mode);
      break;
    }
    case 5: /* sync */
      s = new_slot(0, 0);
      f = mrlog_sync(log, on_done, s);
      dispose(f, s, mode);
      break;
    case 6: { /* range */
      bool exact = b & 1;
      uint64_t from = pick_pos(c, valid ? q->next : 0);
      uint64_t to = (b & 2) ? UINT64_MAX : pick_pos(byte(&in), valid ? q->next : 0);
      struct rvisit v = { log, name, from, to, 0, false, false, q, 0,
                          (b >> 2) & 7, 0, 0 };
      int rc;

      if ((b & 0x20) && from > to) { /* also try the natural order */
        uint64_t t = from;
        v.from = from = to;
        v.to = to = t;
      }
      if (exact)
        barrier(log);
      v.exact = exact && valid && q->exists;
      rc = mrlog_range(log, name, from, to, rvisit, &v);
      if (!valid) {
        CHECK(rc == MRLOG_EINVAL);
        CHECK(v.visited == 0);
      } else if (exact) {
        if (!q->exists) {
          CHECK(rc == MRLOG_ENOQUEUE);
        } else {
          size_t k, expect = 0;
          for (k = 0; k < q->n; k++)
            expect += q->r[k].pos >= from && q->r[k].pos < to;
          if (v.stop_after != 0 && expect >= v.stop_after) {
            CHECK(rc == 7 && v.visited == v.stop_after);
          } else {
            CHECK(rc == 0 && v.visited == expect);
          }
        }
      } else {
        CHECK(rc == 0 || rc == 7 || rc == MRLOG_ENOQUEUE);
        CHECK(rc != 7 || v.visited == v.stop_after);
      }
      break;
    }
    case 7: { /* info / exists / list / stats */
      struct mrlog_queue_info info;
      struct mrlog_stats st;
      int rc;

      if (b & 1) {
        barrier(log);
        if (b & 2)
          check_all(log);
        else if (valid)
          check_queue(log, qi);
      }
      rc = mrlog_queue_info(log, name, &info);
      if (!valid) {
        CHECK(rc == MRLOG_EINVAL);
        CHECK(!mrlog_queue_exists(log, name));
      } else if (rc == 0) {
        CHECK(info.first_position <= info.next_position);
      } else {
        CHECK(rc == MRLOG_ENOQUEUE);
      }
      CHECK(mrlog_stats(log, &st) == 0);
      CHECK(st.failed == 0 && st.segment_files >= 1);
      break;
    }
    case 8: /* wait the oldest kept future */
      wait_oldest();
      break;
    case 9: /* wait with a timeout, or poll */
      if (nkept > 0) {
        uint64_t pos;
        int rc;

        if (b & 1) {
          (void)mrlog_ready(kept[0].f);
          break;
        }
        if (kept[0].f == NULL) {
          wait_oldest();
          break;
        }
        rc = mrlog_wait_timeout(kept[0].f, c & 3, &pos);
        if (rc == MRLOG_ETIMEDOUT)
          break; /* still ours */
        CHECK(rc == kept[0].s->expect);
        CHECK(atomic_load(&kept[0].s->calls) == 1);
        memmove(kept, kept + 1, (nkept - 1) * sizeof(kept[0]));
        nkept--;
      }
      break;
    case 10: /* forget the oldest kept future */
      if (nkept > 0) {
        mrlog_forget(kept[0].f);
        memmove(kept, kept + 1, (nkept - 1) * sizeof(kept[0]));
        nkept--;
      }
      break;
    case 11: /* close and reopen */
      if (reopens++ >= MAX_REOPENS)
        break;
      close_log(log);
      while (nkept > 0)
        wait_oldest();
      log = NULL;
      if (b & 1)
        pol.segment_bytes = pol.segment_bytes == 4096 ? 65536 : 4096;
      open_log(&pol, &log);
      check_all(log);
      break;
    }
  }

  barrier(log);
  check_all(log);
  close_log(log);
  while (nkept > 0)
    wait_oldest();
  /* The state survives a reopen. */
  open_log(&pol, &log);
  check_all(log);
  CHECK(mrlog_close(log) == 0);
  model_reset();
  fz_clean_dir(fz_dir_fd);
  return 0;
}

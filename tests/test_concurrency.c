/*
 * test_concurrency.c -- many producers behind a barrier, backpressure
 * (blocking and nonblocking), callbacks that submit more work, close with
 * requests in flight, readers concurrent with writers, and the request
 * ring itself under many more producers than slots.  Threads never
 * assert: they record what they saw and the test thread checks it.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_mrlog.h"
#include "internal.h"
#include "req.h"
#include "ring.h"

#include <sched.h>

#define WAIT_MS 100000u

/* ---- 8 producers x 100,000 appends into 64 queues --------------------- */

#define PRODUCERS 8
#define QUEUES 64

/* Payload of one producer append: who wrote it and where it went. */
struct payload {
  uint32_t thread;
  uint32_t seq;
  uint32_t queue;
  uint32_t check;
};

static uint32_t payload_check(uint32_t t, uint32_t s, uint32_t q) {
  return (t * 2654435761u) ^ (s * 40503u) ^ (q << 20) ^ 0x5a5a5a5au;
}

/* Outcome of one append, written by its callback. */
struct result {
  atomic_int calls;
  int status;
  uint64_t position;
};

struct producers {
  mrlog *log;
  long per_thread;
  pthread_barrier_t start;
  struct result *res;           /* PRODUCERS * per_thread */
  atomic_long done;             /* callbacks run */
  atomic_long on_app_thread;    /* callbacks run on a producer or main */
  atomic_long null_futures;     /* appends that returned NULL */
  char names[QUEUES][32];
};

struct producer_arg {
  struct producers *p;
  uint32_t id;
};

static struct producers *g_prod;

static void producer_cb(void *arg, int status, uint64_t position) {
  struct result *r = arg;

  if (th_on_app_thread()) atomic_fetch_add(&g_prod->on_app_thread, 1);
  r->status = status;
  r->position = position;
  atomic_fetch_add(&r->calls, 1);
  atomic_fetch_add(&g_prod->done, 1);
}

static uint32_t queue_of(uint32_t t, uint32_t s) {
  return (t * 7 + s) % QUEUES;
}

static void *producer_main(void *arg) {
  struct producer_arg *a = arg;
  struct producers *p = a->p;
  uint32_t s;

  th_mark_app_thread();
  pthread_barrier_wait(&p->start);
  for (s = 0; s < (uint32_t)p->per_thread; s++) {
    struct payload pl;
    mrlog_future *f;
    pl.thread = a->id;
    pl.seq = s;
    pl.queue = queue_of(a->id, s);
    pl.check = payload_check(pl.thread, pl.seq, pl.queue);
    f = mrlog_append(p->log, p->names[pl.queue], NULL, &pl, sizeof(pl),
                     producer_cb,
                     &p->res[(size_t)a->id * (size_t)p->per_thread + s]);
    if (f == NULL)
      atomic_fetch_add(&p->null_futures, 1);
    else
      mrlog_forget(f);
  }
  return NULL;
}

static bool producers_done(void *arg) {
  struct producers *p = arg;

  return atomic_load(&p->done) >= PRODUCERS * p->per_thread;
}

/* Reads every queue and checks each record against the callbacks' results;
 * returns the total number of records. */
static uint64_t check_producer_records(struct producers *p) {
  uint64_t total = 0;
  int q;

  for (q = 0; q < QUEUES; q++) {
    struct th_recs r;
    size_t i;
    ck_assert_int_eq(th_collect(p->log, p->names[q], 0, UINT64_MAX, &r), 0);
    for (i = 0; i < r.n; i++) {
      struct payload pl;
      struct result *res;
      th_req_uint_eq(r.v[i].pos, i); /* gap-free from 0 */
      th_req_uint_eq(r.v[i].len, sizeof(pl));
      memcpy(&pl, r.v[i].data, sizeof(pl));
      th_req(pl.thread < PRODUCERS);
      th_req(pl.seq < (uint64_t)p->per_thread);
      th_req_uint_eq(pl.queue, (uint32_t)q);
      th_req_uint_eq(pl.queue, queue_of(pl.thread, pl.seq));
      th_req_uint_eq(pl.check, payload_check(pl.thread, pl.seq, pl.queue));
      res = &p->res[(size_t)pl.thread * (size_t)p->per_thread + pl.seq];
      th_req_uint_eq(res->position, r.v[i].pos);
    }
    total += r.n;
    th_recs_free(&r);
  }
  return total;
}

START_TEST(test_many_producers) {
  struct producers *p = calloc(1, sizeof(*p));
  struct producer_arg args[PRODUCERS];
  pthread_t tid[PRODUCERS];
  mrlog_policy pol = th_policy();
  uint64_t *count, *seen, base[QUEUES] = {0};
  long total;
  uint32_t t, s;
  int q;

  ck_assert_ptr_nonnull(p);
  g_prod = p;
  p->per_thread = th_scaled(100000);
  total = PRODUCERS * p->per_thread;
  p->res = calloc((size_t)total, sizeof(*p->res));
  count = calloc(QUEUES, sizeof(*count));
  seen = calloc((size_t)total, sizeof(*seen));
  ck_assert_ptr_nonnull(p->res);
  ck_assert_ptr_nonnull(count);
  ck_assert_ptr_nonnull(seen);
  pol.fsync_interval_ms = 10;
  p->log = th_open(th_dir, &pol);
  for (q = 0; q < QUEUES; q++) {
    snprintf(p->names[q], sizeof(p->names[q]), "queue-%02d", q);
    ck_assert_int_eq(th_create(p->log, p->names[q]), 0);
  }
  ck_assert_int_eq(pthread_barrier_init(&p->start, NULL, PRODUCERS + 1), 0);
  for (t = 0; t < PRODUCERS; t++) {
    args[t].p = p;
    args[t].id = t;
    ck_assert_int_eq(pthread_create(&tid[t], NULL, producer_main, &args[t]), 0);
  }
  pthread_barrier_wait(&p->start);
  for (t = 0; t < PRODUCERS; t++) pthread_join(tid[t], NULL);
  ck_assert_msg(th_poll(producers_done, p, WAIT_MS), "%ld of %ld callbacks",
                atomic_load(&p->done), total);
  ck_assert_int_eq(atomic_load(&p->null_futures), 0);
  ck_assert_int_eq(atomic_load(&p->on_app_thread), 0);

  /* Every callback ran exactly once, with success, and per queue the
   * positions are unique and gap-free. */
  for (t = 0; t < PRODUCERS; t++)
    for (s = 0; s < (uint32_t)p->per_thread; s++)
      count[queue_of(t, s)]++;
  /* seen[] is laid out queue after queue, from base[q]. */
  for (q = 1; q < QUEUES; q++) base[q] = base[q - 1] + count[q - 1];
  for (t = 0; t < PRODUCERS; t++) {
    for (s = 0; s < (uint32_t)p->per_thread; s++) {
      struct result *r = &p->res[(size_t)t * (size_t)p->per_thread + s];
      uint32_t qq = queue_of(t, s);
      th_req_int_eq(atomic_load(&r->calls), 1);
      th_req_int_eq(r->status, 0);
      th_req(r->position < count[qq]);
      th_req_uint_eq(seen[base[qq] + r->position]++, 0);
    }
  }
  ck_assert_uint_eq(check_producer_records(p), (uint64_t)total);
  ck_assert_uint_eq(th_stats(p->log).records, (uint64_t)total);
  th_close(p->log);

  /* Intact after a reopen. */
  p->log = th_open(th_dir, NULL);
  ck_assert_uint_eq(check_producer_records(p), (uint64_t)total);
  for (q = 0; q < QUEUES; q++)
    ck_assert_uint_eq(th_info(p->log, p->names[q]).next_position, count[q]);
  th_close(p->log);
  pthread_barrier_destroy(&p->start);
  free(seen);
  free(count);
  free(p->res);
  free(p);
}
END_TEST

/* ---- Durable waiters (group commit, deferred wakes) --------------------- */

/* The flusher wakes a couple of the waiters a group commit completed, and
 * each waiter woken wakes more (future.c invariant 6).  WAITERS threads
 * append and wait, durable, over and over, in two logs at once (so the one
 * process-wide wake queue carries both logs' waiters): every wait must
 * return 0 well within its timeout, with its own record's position, and
 * the group commits must have carried several records each. */
enum { WAITERS = 24, WAITER_QUEUES = 4 };

struct waiter_arg {
  mrlog *log[2];
  pthread_barrier_t *start;
  int id, rounds;
  uint64_t *positions; /* [rounds]: per log, the position each got */
};

static void *waiter_main(void *arg) {
  struct waiter_arg *a = arg;
  char name[16];
  int i;

  th_mark_app_thread();
  snprintf(name, sizeof(name), "w%d", a->id % WAITER_QUEUES);
  pthread_barrier_wait(a->start);
  for (i = 0; i < a->rounds; i++) {
    mrlog *log = a->log[i % 2];
    uint64_t v = ((uint64_t)a->id << 32) | (uint64_t)i, pos = UINT64_MAX;
    int rc = mrlog_wait_timeout(
        mrlog_append(log, name, NULL, &v, sizeof(v), NULL, NULL), 20000,
        &pos);
    th_req_int_eq(rc, 0);
    a->positions[i] = pos;
  }
  return NULL;
}

START_TEST(test_durable_waiters) {
  struct waiter_arg args[WAITERS];
  pthread_t tid[WAITERS];
  pthread_barrier_t start;
  char dir2[4096], name[16];
  int rounds = (int)th_scaled(300), t, q, k, i;
  uint64_t total = 0, fsyncs = 0;
  mrlog *log[2];

  snprintf(dir2, sizeof(dir2), "%s/second", th_dir);
  log[0] = th_open(th_dir, NULL); /* the durable default policy */
  log[1] = th_open(dir2, NULL);
  for (k = 0; k < 2; k++)
    for (q = 0; q < WAITER_QUEUES; q++) {
      snprintf(name, sizeof(name), "w%d", q);
      ck_assert_int_eq(th_create(log[k], name), 0);
    }
  ck_assert_int_eq(pthread_barrier_init(&start, NULL, WAITERS + 1), 0);
  for (t = 0; t < WAITERS; t++) {
    args[t] = (struct waiter_arg){ { log[0], log[1] }, &start, t, rounds,
                                   calloc((size_t)rounds, sizeof(uint64_t)) };
    ck_assert_ptr_nonnull(args[t].positions);
    ck_assert_int_eq(pthread_create(&tid[t], NULL, waiter_main, &args[t]), 0);
  }
  pthread_barrier_wait(&start);
  for (t = 0; t < WAITERS; t++) pthread_join(tid[t], NULL);

  /* Each record sits at the position its wait returned, in its log. */
  for (k = 0; k < 2; k++) {
    for (q = 0; q < WAITER_QUEUES; q++) {
      struct th_recs r;
      snprintf(name, sizeof(name), "w%d", q);
      ck_assert_int_eq(th_collect(log[k], name, 0, UINT64_MAX, &r), 0);
      for (i = 0; i < (int)r.n; i++) {
        uint64_t v;
        th_req_uint_eq(r.v[i].len, sizeof(v));
        memcpy(&v, r.v[i].data, sizeof(v));
        t = (int)(v >> 32);
        th_req(t < WAITERS && t % WAITER_QUEUES == q);
        th_req((int)(uint32_t)v % 2 == k);
        th_req_uint_eq(args[t].positions[(uint32_t)v], r.v[i].pos);
      }
      total += r.n;
      th_recs_free(&r);
    }
    fsyncs += th_stats(log[k]).fsyncs;
  }
  ck_assert_uint_eq(total, (uint64_t)WAITERS * (uint64_t)rounds);
  /* Group commit: fewer syncs than records (24 waiters share them). */
  ck_assert_uint_lt(fsyncs, total);
  th_close(log[0]);
  th_close(log[1]);
  pthread_barrier_destroy(&start);
  for (t = 0; t < WAITERS; t++) free(args[t].positions);
}
END_TEST

/* ---- Ring backpressure (blocking) -------------------------------------- */

struct ring_arg {
  mrlog *log;
  pthread_barrier_t *start;
  char name[32];
  int n;
  struct th_counter c;
};

static void *ring_producer(void *arg) {
  struct ring_arg *a = arg;
  int i;

  th_mark_app_thread();
  pthread_barrier_wait(a->start);
  for (i = 0; i < a->n; i++) {
    uint32_t v = (uint32_t)i;
    mrlog_forget(mrlog_append(a->log, a->name, NULL, &v, sizeof(v),
                              th_counter_cb, &a->c));
  }
  return NULL;
}

START_TEST(test_small_ring_blocking) {
  enum { T = 4 };
  struct ring_arg a[T];
  pthread_t tid[T];
  pthread_barrier_t start;
  mrlog_policy pol = th_policy();
  mrlog *log;
  int t, n = (int)th_scaled(5000);

  pol.ring_slots = 4;
  pol.fsync_interval_ms = 10;
  log = th_open(th_dir, &pol);
  ck_assert_int_eq(pthread_barrier_init(&start, NULL, T + 1), 0);
  for (t = 0; t < T; t++) {
    a[t].log = log;
    a[t].start = &start;
    a[t].n = n;
    snprintf(a[t].name, sizeof(a[t].name), "ring-%d", t);
    th_counter_init(&a[t].c);
    ck_assert_int_eq(th_create(log, a[t].name), 0);
    ck_assert_int_eq(pthread_create(&tid[t], NULL, ring_producer, &a[t]), 0);
  }
  pthread_barrier_wait(&start);
  for (t = 0; t < T; t++) pthread_join(tid[t], NULL);
  for (t = 0; t < T; t++) {
    struct th_recs r;
    int i;
    ck_assert(th_counter_wait(&a[t].c, n, WAIT_MS));
    ck_assert_int_eq(atomic_load(&a[t].c.calls), n);
    ck_assert_int_eq(atomic_load(&a[t].c.ok), n); /* blocked, never refused */
    ck_assert_int_eq(atomic_load(&a[t].c.on_app_thread), 0);
    ck_assert_int_eq(th_collect(log, a[t].name, 0, UINT64_MAX, &r), 0);
    ck_assert_uint_eq(r.n, (size_t)n);
    /* One producer's appends to its queue keep their order. */
    for (i = 0; i < n; i++) {
      uint32_t v;
      th_req_uint_eq(r.v[i].pos, (uint64_t)i);
      memcpy(&v, r.v[i].data, sizeof(v));
      th_req_uint_eq(v, (uint32_t)i);
    }
    th_recs_free(&r);
  }
  th_close(log);
  pthread_barrier_destroy(&start);
}
END_TEST

/* ---- Memory backpressure (blocking) ------------------------------------ */

#define MEM_RECORD 1024
#define MEM_LIMIT (64u * 1024u)

struct mem_state {
  mrlog *log;
  int n;
  atomic_int submitted;         /* mrlog_append calls that returned */
  atomic_uint_least64_t max_pos; /* highest acknowledged position + 1 */
  struct th_counter c;
};

static void mem_cb(void *arg, int status, uint64_t position) {
  struct mem_state *m = arg;
  uint64_t cur;

  if (status == 0) {
    cur = atomic_load(&m->max_pos);
    while (cur < position + 1 &&
           !atomic_compare_exchange_weak(&m->max_pos, &cur, position + 1)) {
    }
  }
  th_counter_cb(&m->c, status, position);
}

static void *mem_producer(void *arg) {
  struct mem_state *m = arg;
  unsigned char buf[MEM_RECORD];
  int i;

  th_mark_app_thread();
  for (i = 0; i < m->n; i++) {
    th_fill(buf, sizeof(buf), (uint64_t)i);
    mrlog_forget(mrlog_append(m->log, "q", NULL, buf, sizeof(buf), mem_cb, m));
    atomic_fetch_add(&m->submitted, 1);
  }
  return NULL;
}

static bool mem_some_acked(void *arg) {
  return atomic_load(&((struct mem_state *)arg)->c.calls) >= 10;
}

START_TEST(test_memory_limit_blocks) {
  struct mem_state m;
  mrlog_policy pol = th_policy();
  pthread_t tid;
  struct mrlog_stats st;
  int stalled;
  int rounds = 0;

  m.n = 1000; /* about 1 MiB against a 64 KiB limit */
  /* Retained records fill memory_limit only under the copy store (the
   * mapped store's payload is page cache, not charged). */
  pol.record_store = MRLOG_STORE_COPY;
  atomic_init(&m.submitted, 0);
  atomic_init(&m.max_pos, 0);
  th_counter_init(&m.c);
  pol.memory_limit = MEM_LIMIT;
  pol.ring_slots = 4;
  pol.fsync_interval_ms = 10;
  m.log = th_open(th_dir, &pol);
  ck_assert_int_eq(th_create(m.log, "q"), 0);
  ck_assert_int_eq(pthread_create(&tid, NULL, mem_producer, &m), 0);
  ck_assert(th_poll(mem_some_acked, &m, WAIT_MS));
  /* Nothing is truncated, so the producer must be held back: it cannot have
   * submitted more than the limit allows, however long we wait. */
  th_sleep_ms(300);
  stalled = atomic_load(&m.submitted);
  ck_assert_int_lt(stalled, m.n);
  ck_assert_int_le(stalled, (int)(MEM_LIMIT / (MEM_RECORD + MRLOG_RECORD_OVERHEAD)) + 4);
  /* memory_bytes is the RAM really held (allocator and index overhead
   * included), not the charge memory_limit counts, so only a loose bound:
   * nothing ran away. */
  st = th_stats(m.log);
  ck_assert_uint_le(st.memory_bytes, 2 * MEM_LIMIT);
  /* Truncating what was acknowledged lets it proceed. */
  while (atomic_load(&m.c.calls) < m.n) {
    uint64_t upto = atomic_load(&m.max_pos);
    if (upto > 0) ck_assert_int_eq(th_truncate(m.log, "q", upto - 1), 0);
    th_sleep_ms(5);
    ck_assert_int_lt(++rounds, 20000);
  }
  pthread_join(tid, NULL);
  ck_assert_int_eq(atomic_load(&m.submitted), m.n);
  ck_assert_int_eq(atomic_load(&m.c.ok), m.n);
  ck_assert_int_eq(atomic_load(&m.c.on_app_thread), 0);
  ck_assert_uint_eq(th_info(m.log, "q").next_position, (uint64_t)m.n);
  ck_assert_int_eq(th_truncate(m.log, "q", (uint64_t)m.n - 1), 0);
  ck_assert_uint_eq(th_stats(m.log).records, 0);
  th_close(m.log);
}
END_TEST

/* ---- Memory backpressure (nonblocking) --------------------------------- */

START_TEST(test_memory_limit_nonblocking) {
  mrlog_policy pol = th_policy();
  unsigned char buf[MEM_RECORD];
  struct th_counter c;
  struct th_recs r;
  mrlog *log;
  long ok, i, n = 1000;

  pol.memory_limit = 16 * 1024;
  pol.nonblocking = 1;
  pol.fsync_interval_ms = 10;
  log = th_open(th_dir, &pol);
  ck_assert_int_eq(th_create(log, "q"), 0);
  th_counter_init(&c);
  for (i = 0; i < n; i++) {
    th_fill(buf, sizeof(buf), (uint64_t)i);
    mrlog_forget(mrlog_append(log, "q", NULL, buf, sizeof(buf),
                              th_counter_cb, &c));
  }
  ck_assert(th_counter_wait(&c, n, WAIT_MS));
  th_sleep_ms(20);
  ck_assert_int_eq(atomic_load(&c.calls), n);
  ok = atomic_load(&c.ok);
  /* Every append either succeeded or was refused: none lost silently. */
  ck_assert_int_eq(ok + atomic_load(&c.efull), n);
  ck_assert_int_gt(atomic_load(&c.efull), 0);
  ck_assert_int_gt(ok, 0);
  ck_assert_int_eq(atomic_load(&c.on_app_thread), 0);
  /* Refused appends took no position. */
  ck_assert_uint_eq(th_info(log, "q").records, (uint64_t)ok);
  ck_assert_uint_eq(th_info(log, "q").next_position, (uint64_t)ok);
  ck_assert_int_eq(th_collect(log, "q", 0, UINT64_MAX, &r), 0);
  ck_assert_uint_eq(r.n, (size_t)ok);
  for (i = 0; i < ok; i++) th_req_uint_eq(r.v[i].pos, (uint64_t)i);
  th_recs_free(&r);
  /* Truncation makes room again. */
  ck_assert_int_eq(th_truncate(log, "q", (uint64_t)ok - 1), 0);
  ck_assert_int_eq(th_append(log, "q", NULL, buf, sizeof(buf), NULL), 0);
  th_close(log);
}
END_TEST

/* A callback that appends more than the memory limit allows gets
 * MRLOG_EFULL (it may not block a library thread), never a deadlock. */
struct fanout {
  mrlog *log;
  struct th_counter inner;
  atomic_int outer_done;
};

static void fanout_cb(void *arg, int status, uint64_t position) {
  struct fanout *x = arg;
  unsigned char buf[MEM_RECORD];
  int i;

  (void)status;
  (void)position;
  memset(buf, 'f', sizeof(buf));
  for (i = 0; i < 20; i++)
    mrlog_forget(mrlog_append(x->log, "q", NULL, buf, sizeof(buf),
                              th_counter_cb, &x->inner));
  atomic_store(&x->outer_done, 1);
}

START_TEST(test_callback_append_would_block) {
  mrlog_policy pol = th_policy();
  struct fanout x;
  mrlog_future *f;

  pol.memory_limit = 4096;
  x.log = th_open(th_dir, &pol);
  th_counter_init(&x.inner);
  atomic_init(&x.outer_done, 0);
  ck_assert_int_eq(th_create(x.log, "q"), 0);
  f = mrlog_append(x.log, "q", NULL, "first", 5, fanout_cb, &x);
  ck_assert_int_eq(th_wait(f, NULL), 0);
  ck_assert_int_eq(atomic_load(&x.outer_done), 1);
  ck_assert(th_counter_wait(&x.inner, 20, WAIT_MS));
  ck_assert_int_eq(atomic_load(&x.inner.ok) + atomic_load(&x.inner.efull), 20);
  ck_assert_int_gt(atomic_load(&x.inner.efull), 0);
  ck_assert_uint_eq(th_info(x.log, "q").records,
                    1 + (uint64_t)atomic_load(&x.inner.ok));
  th_close(x.log);
}
END_TEST

/* ---- Callbacks that append again ---------------------------------------- */

struct chain {
  mrlog *log;
  int n;
  atomic_int next;          /* index of the next append to submit */
  atomic_int calls;
  atomic_int bad;           /* wrong status or position */
  atomic_int on_app_thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool finished;
};

static void chain_cb(void *arg, int status, uint64_t position) {
  struct chain *c = arg;
  int i = atomic_fetch_add(&c->calls, 1);

  if (th_on_app_thread()) atomic_fetch_add(&c->on_app_thread, 1);
  if (status != 0 || position != (uint64_t)i) atomic_fetch_add(&c->bad, 1);
  if (i + 1 < c->n) {
    int k = atomic_fetch_add(&c->next, 1);
    mrlog_forget(mrlog_append(c->log, "chain", NULL, &k, sizeof(k), chain_cb, c));
  } else {
    pthread_mutex_lock(&c->mu);
    c->finished = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
  }
}

START_TEST(test_callback_chain) {
  struct chain c;
  mrlog_policy pol = th_policy();
  struct th_recs r;
  int i, k = 0;

  c.n = (int)th_scaled(2000);
  atomic_init(&c.next, 1);
  atomic_init(&c.calls, 0);
  atomic_init(&c.bad, 0);
  atomic_init(&c.on_app_thread, 0);
  pthread_mutex_init(&c.mu, NULL);
  pthread_cond_init(&c.cv, NULL);
  c.finished = false;
  pol.fsync_interval_ms = 10;
  c.log = th_open(th_dir, &pol);
  ck_assert_int_eq(th_create(c.log, "chain"), 0);
  mrlog_forget(mrlog_append(c.log, "chain", NULL, &k, sizeof(k), chain_cb, &c));
  pthread_mutex_lock(&c.mu);
  while (!c.finished) pthread_cond_wait(&c.cv, &c.mu);
  pthread_mutex_unlock(&c.mu);
  ck_assert_int_eq(atomic_load(&c.calls), c.n);
  ck_assert_int_eq(atomic_load(&c.bad), 0);
  ck_assert_int_eq(atomic_load(&c.on_app_thread), 0);
  ck_assert_int_eq(th_collect(c.log, "chain", 0, UINT64_MAX, &r), 0);
  ck_assert_uint_eq(r.n, (size_t)c.n);
  for (i = 0; i < c.n; i++) {
    int v;
    memcpy(&v, r.v[i].data, sizeof(v));
    th_req_int_eq(v, i);
  }
  th_recs_free(&r);
  th_close(c.log);
  pthread_cond_destroy(&c.cv);
  pthread_mutex_destroy(&c.mu);
}
END_TEST

/* ---- Close with requests in flight --------------------------------------- */

START_TEST(test_close_completes_pending) {
  const long n = th_scaled(10000);
  struct th_counter c;
  struct th_recs r;
  mrlog *log = th_open(th_dir, NULL);
  long i;

  ck_assert_int_eq(th_create(log, "q"), 0);
  th_counter_init(&c);
  for (i = 0; i < n; i++) {
    uint64_t v = (uint64_t)i;
    mrlog_forget(mrlog_append(log, "q", NULL, &v, sizeof(v), th_counter_cb, &c));
  }
  th_close(log); /* at once */
  ck_assert_int_eq(atomic_load(&c.calls), n);
  ck_assert_int_eq(atomic_load(&c.ok), n);
  ck_assert_int_eq(atomic_load(&c.on_app_thread), 0);
  log = th_open(th_dir, NULL);
  ck_assert_int_eq(th_collect(log, "q", 0, UINT64_MAX, &r), 0);
  ck_assert_uint_eq(r.n, (size_t)n);
  for (i = 0; i < n; i++) {
    uint64_t v;
    th_req_uint_eq(r.v[i].pos, (uint64_t)i);
    memcpy(&v, r.v[i].data, sizeof(v));
    th_req_uint_eq(v, (uint64_t)i);
  }
  th_recs_free(&r);
  ck_assert_uint_eq(th_stats(log).discarded_tail_bytes, 0);
  th_close(log);
}
END_TEST

/* Callbacks keep submitting while the log closes: every submitted request
 * completes exactly once, with 0 or MRLOG_ECLOSED, before close returns. */
struct resubmit {
  mrlog *log;
  atomic_long submitted;
  atomic_long completed;
  atomic_long ok;
  atomic_long closed;
  atomic_long other;
};

static void resubmit_cb(void *arg, int status, uint64_t position) {
  struct resubmit *x = arg;

  (void)position;
  if (status == 0)
    atomic_fetch_add(&x->ok, 1);
  else if (status == MRLOG_ECLOSED)
    atomic_fetch_add(&x->closed, 1);
  else
    atomic_fetch_add(&x->other, 1);
  if (status == 0) {
    atomic_fetch_add(&x->submitted, 1);
    mrlog_forget(mrlog_append(x->log, "q", NULL, "again", 5, resubmit_cb, x));
  }
  atomic_fetch_add(&x->completed, 1);
}

static bool resubmit_running(void *arg) {
  return atomic_load(&((struct resubmit *)arg)->ok) >= 200;
}

START_TEST(test_close_while_callbacks_submit) {
  struct resubmit x;
  mrlog_policy pol = th_policy();
  int i;

  memset(&x, 0, sizeof(x));
  pol.fsync_interval_ms = 1;
  x.log = th_open(th_dir, &pol);
  ck_assert_int_eq(th_create(x.log, "q"), 0);
  for (i = 0; i < 4; i++) {
    atomic_fetch_add(&x.submitted, 1);
    mrlog_forget(mrlog_append(x.log, "q", NULL, "start", 5, resubmit_cb, &x));
  }
  ck_assert(th_poll(resubmit_running, &x, WAIT_MS));
  th_close(x.log);
  ck_assert_int_eq(atomic_load(&x.completed), atomic_load(&x.submitted));
  ck_assert_int_eq(atomic_load(&x.other), 0);
  ck_assert_int_eq(atomic_load(&x.ok) + atomic_load(&x.closed),
                   atomic_load(&x.submitted));
  ck_assert_int_ge(atomic_load(&x.closed), 1);
  /* Everything acknowledged is there. */
  x.log = th_open(th_dir, NULL);
  ck_assert_uint_eq(th_info(x.log, "q").records, (uint64_t)atomic_load(&x.ok));
  th_close(x.log);
}
END_TEST

/* ---- Readers concurrent with a writer ---------------------------------- */

struct rw {
  mrlog *log;
  int n;
  atomic_int acked;      /* records acknowledged so far (positions 0..) */
  atomic_int stop;
  atomic_long passes;
  atomic_long errors;
};

struct reader_pass {
  uint64_t expect;       /* next position expected */
  long errors;
};

static int reader_visit(void *arg, uint64_t pos, const void *data, size_t len) {
  struct reader_pass *p = arg;
  unsigned char buf[64];
  size_t want = (size_t)(pos % 50) + 1;

  if (pos != p->expect || len != want) {
    p->errors++;
    return 1;
  }
  th_fill(buf, want, pos);
  if (memcmp(buf, data, want) != 0) p->errors++;
  p->expect++;
  return 0;
}

static void *reader_main(void *arg) {
  struct rw *x = arg;

  th_mark_app_thread();
  while (!atomic_load(&x->stop)) {
    struct reader_pass p = {0, 0};
    int before = atomic_load(&x->acked);
    int rc = mrlog_range(x->log, "q", 0, UINT64_MAX, reader_visit, &p);
    /* Shows every record acknowledged before the call started. */
    if (rc != 0 || p.errors != 0 || p.expect < (uint64_t)before)
      atomic_fetch_add(&x->errors, 1);
    atomic_fetch_add(&x->passes, 1);
  }
  return NULL;
}

static bool readers_passed(void *arg) {
  return atomic_load(&((struct rw *)arg)->passes) > 0;
}

START_TEST(test_readers_during_writes) {
  struct rw x;
  mrlog_policy pol = th_policy();
  pthread_t readers[2];
  unsigned char buf[64];
  int i;

  memset(&x, 0, sizeof(x));
  x.n = (int)th_scaled(3000);
  pol.fsync_interval_ms = 10;
  x.log = th_open(th_dir, &pol);
  ck_assert_int_eq(th_create(x.log, "q"), 0);
  for (i = 0; i < 2; i++)
    ck_assert_int_eq(pthread_create(&readers[i], NULL, reader_main, &x), 0);
  for (i = 0; i < x.n; i++) {
    size_t len = (size_t)(i % 50) + 1;
    th_fill(buf, len, (uint64_t)i);
    ck_assert_int_eq(th_append(x.log, "q", NULL, buf, len, NULL), 0);
    atomic_store(&x.acked, i + 1);
  }
  /* The readers stop only once one of them has finished a pass: they are
   * started before the appends, but nothing else makes the scheduler run
   * them before stop is set. */
  ck_assert_msg(th_poll(readers_passed, &x, WAIT_MS),
                "no reader finished a pass");
  atomic_store(&x.stop, 1);
  for (i = 0; i < 2; i++) pthread_join(readers[i], NULL);
  ck_assert_int_eq(atomic_load(&x.errors), 0);
  ck_assert_int_gt(atomic_load(&x.passes), 0);
  th_close(x.log);
}
END_TEST

/* ---- Queue lifecycle from many threads --------------------------------- */

struct life_arg {
  mrlog *log;
  pthread_barrier_t *start;
  int id;
  int rounds;
  long bad;
};

static void *life_main(void *arg) {
  struct life_arg *a = arg;
  char name[32];
  int i;

  th_mark_app_thread();
  pthread_barrier_wait(a->start);
  for (i = 0; i < a->rounds; i++) {
    snprintf(name, sizeof(name), "t%d-r%d", a->id, i);
    if (mrlog_wait(mrlog_create_queue(a->log, name, NULL, NULL), NULL) != 0)
      a->bad++;
    if (mrlog_wait(mrlog_append(a->log, name, NULL, "x", 1, NULL, NULL),
                   NULL) != 0)
      a->bad++;
    if (i + 1 < a->rounds &&
        mrlog_wait(mrlog_delete_queue(a->log, name, NULL, NULL), NULL) != 0)
      a->bad++;
  }
  return NULL;
}

START_TEST(test_queue_lifecycle_threads) {
  enum { T = 8 };
  struct life_arg a[T];
  pthread_t tid[T];
  pthread_barrier_t start;
  mrlog_policy pol = th_policy();
  mrlog *log;
  int t;

  pol.fsync_interval_ms = 10;
  log = th_open(th_dir, &pol);
  ck_assert_int_eq(pthread_barrier_init(&start, NULL, T + 1), 0);
  for (t = 0; t < T; t++) {
    a[t].log = log;
    a[t].start = &start;
    a[t].id = t;
    a[t].rounds = (int)th_scaled(200);
    a[t].bad = 0;
    ck_assert_int_eq(pthread_create(&tid[t], NULL, life_main, &a[t]), 0);
  }
  pthread_barrier_wait(&start);
  for (t = 0; t < T; t++) pthread_join(tid[t], NULL);
  for (t = 0; t < T; t++) ck_assert_int_eq(a[t].bad, 0);
  ck_assert_uint_eq(th_count_queues(log), T);
  th_close(log);
  log = th_open(th_dir, NULL);
  ck_assert_uint_eq(th_count_queues(log), T);
  ck_assert_uint_eq(th_stats(log).records, T);
  th_close(log);
  pthread_barrier_destroy(&start);
}
END_TEST

/* ---- The request ring alone: many producers, few slots ----------------- */

/* RING_PRODUCERS threads push tagged requests into an 8-slot ring (so it
 * wraps and fills all the time), half of them blocking and half retrying
 * MRLOG_EFULL; the test thread pops like the writer.  Every request must
 * come out exactly once, and each producer's in the order it pushed
 * (ring.c invariant 5: producers publish without waiting for each other,
 * and p_tail is moved over a slot only once it is written). */
enum { RING_PRODUCERS = 16 };

struct ring_producer {
  struct mrlog *log;
  pthread_barrier_t *start;
  struct mrlog__req *reqs;
  uint32_t id, n;
  int bad_status; /* a status other than 0 or MRLOG_EFULL */
};

static void *ring_producer_main(void *arg) {
  struct ring_producer *a = arg;
  bool may_wait = a->id % 2 == 0;
  uint32_t i;

  pthread_barrier_wait(a->start);
  for (i = 0; i < a->n; i++) {
    struct mrlog__req *r = &a->reqs[i];
    int rc;

    r->count = a->id;
    r->position = i;
    while ((rc = mrlog__ring_push(a->log, r, may_wait)) == MRLOG_EFULL &&
           !may_wait)
      sched_yield();
    if (rc != 0) a->bad_status = rc;
  }
  return NULL;
}

START_TEST(test_ring_many_producers) {
  struct mrlog *log = calloc(1, sizeof(*log));
  struct ring_producer args[RING_PRODUCERS];
  pthread_t tid[RING_PRODUCERS];
  uint64_t next[RING_PRODUCERS] = {0};
  struct mrlog__req *out[8];
  pthread_barrier_t start;
  pthread_condattr_t cattr;
  uint32_t per = (uint32_t)th_scaled(20000), t;
  uint64_t popped = 0, total = (uint64_t)per * RING_PRODUCERS;
  unsigned n, i;

  ck_assert_ptr_nonnull(log);
  log->ring_slots = 8;
  pthread_condattr_init(&cattr);
  pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
  pthread_mutex_init(&log->wake_mutex, NULL);
  pthread_cond_init(&log->wake_cond, &cattr);
  pthread_cond_init(&log->space_cond, &cattr);
  pthread_condattr_destroy(&cattr);
  ck_assert_int_eq(mrlog__ring_init(log), 0);
  ck_assert_int_eq(pthread_barrier_init(&start, NULL, RING_PRODUCERS + 1), 0);
  for (t = 0; t < RING_PRODUCERS; t++) {
    args[t] = (struct ring_producer){ log, &start, NULL, t, per, 0 };
    args[t].reqs = calloc(per, sizeof(struct mrlog__req));
    ck_assert_ptr_nonnull(args[t].reqs);
    ck_assert_int_eq(
        pthread_create(&tid[t], NULL, ring_producer_main, &args[t]), 0);
  }
  pthread_barrier_wait(&start);
  while (popped < total) {
    n = mrlog__ring_pop(log, out, 8);
    if (n == 0) {
      mrlog__ring_wait(log, 5);
      continue;
    }
    for (i = 0; i < n; i++) {
      t = out[i]->count;
      th_req(t < RING_PRODUCERS);
      th_req(out[i] == &args[t].reqs[next[t]]);
      th_req_uint_eq(out[i]->position, next[t]);
      next[t]++;
    }
    popped += n;
  }
  for (t = 0; t < RING_PRODUCERS; t++) {
    pthread_join(tid[t], NULL);
    ck_assert_int_eq(args[t].bad_status, 0);
    ck_assert_uint_eq(next[t], per);
    free(args[t].reqs);
  }
  /* Nothing more than what was pushed. */
  ck_assert_uint_eq(mrlog__ring_pop(log, out, 8), 0);
  pthread_barrier_destroy(&start);
  mrlog__ring_free(log);
  pthread_mutex_destroy(&log->wake_mutex);
  pthread_cond_destroy(&log->wake_cond);
  pthread_cond_destroy(&log->space_cond);
  free(log);
}
END_TEST

Suite *make_concurrency_suite(void) {
  Suite *s = suite_create("concurrency");
  TCase *tc;

  tc = tcase_create("producers");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_SLOW);
  tcase_add_test(tc, test_many_producers);
  tcase_add_test(tc, test_queue_lifecycle_threads);
  tcase_add_test(tc, test_readers_during_writes);
  tcase_add_test(tc, test_durable_waiters);
  suite_add_tcase(s, tc);

  tc = tcase_create("backpressure");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_SLOW);
  tcase_add_test(tc, test_small_ring_blocking);
  tcase_add_test(tc, test_memory_limit_blocks);
  tcase_add_test(tc, test_memory_limit_nonblocking);
  tcase_add_test(tc, test_callback_append_would_block);
  suite_add_tcase(s, tc);

  tc = tcase_create("ring");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_SLOW);
  tcase_add_test(tc, test_ring_many_producers);
  suite_add_tcase(s, tc);

  tc = tcase_create("callbacks_and_close");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_SLOW);
  tcase_add_test(tc, test_callback_chain);
  tcase_add_test(tc, test_close_completes_pending);
  tcase_add_test(tc, test_close_while_callbacks_submit);
  suite_add_tcase(s, tc);
  return s;
}

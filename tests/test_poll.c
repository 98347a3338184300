/*
 * test_poll.c -- completions on the caller's thread
 * (policy.completion_mode = MRLOG_COMPLETE_ON_POLL): mrlog_completion_fd
 * and mrlog_run_completions, mrlog_wait in poll mode, mrlog_close with
 * completions queued, many producers with one poller, and a failing log.
 *
 * Every callback records the thread it ran on, its status and position,
 * and how often its request completed; the checks are that each ran once,
 * on the polling thread only, in the documented order, and that the fd is
 * readable exactly while something is queued.
 */
#include "check_mrlog.h"
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* An atomic's value, named in a failed assertion's message. */
#define LD(x) ((long)atomic_load(&(x)))
#define REC_MAX 8192
#define WAIT_MS 30000 /* generous bound for a completion to be queued */

/* What the callbacks saw, in the order they ran. */
struct rec {
  pthread_t poller;             /* the thread every callback must run on */
  atomic_long calls;            /* callbacks run */
  atomic_long off_thread;       /* ... on another thread */
  atomic_long lib_thread_false; /* ... where mrlog_on_library_thread() was
                                   false */
  long id[REC_MAX];             /* request id, per call */
  int status[REC_MAX];          /* status, per call */
  uint64_t pos[REC_MAX];        /* position, per call */
  atomic_int times[REC_MAX];    /* completions per request id */
};

struct call {
  struct rec *r;
  long id;
};

static void
rec_init(struct rec *r, pthread_t poller)
{
  memset(r, 0, sizeof(*r));
  r->poller = poller;
}

static void
rec_cb(void *arg, int status, uint64_t position)
{
  struct call *c = arg;
  struct rec *r = c->r;
  long n = atomic_fetch_add(&r->calls, 1);

  if (!pthread_equal(pthread_self(), r->poller))
    atomic_fetch_add(&r->off_thread, 1);
  if (!mrlog_on_library_thread())
    atomic_fetch_add(&r->lib_thread_false, 1);
  if (n < REC_MAX) {
    r->id[n] = c->id;
    r->status[n] = status;
    r->pos[n] = position;
  }
  atomic_fetch_add(&r->times[c->id], 1);
}

static mrlog_policy
poll_policy(void)
{
  mrlog_policy p = th_policy();

  p.completion_mode = MRLOG_COMPLETE_ON_POLL;
  return p;
}

static mrlog *
open_poll(void)
{
  mrlog_policy p = poll_policy();

  return th_open(th_dir, &p);
}

/* poll(2) on fd for up to ms: whether it is readable. */
static bool
readable(int fd, int ms)
{
  struct pollfd pfd = { .fd = fd, .events = POLLIN };
  int n;

  do
    n = poll(&pfd, 1, ms);
  while (n < 0 && errno == EINTR);
  ck_assert_int_ge(n, 0);
  return n == 1 && (pfd.revents & POLLIN);
}

/* The poller's loop: waits on the fd and runs completions until `calls`
 * callbacks have run. */
static void
run_until(mrlog *log, int fd, struct rec *r, long calls)
{
  while (atomic_load(&r->calls) < calls) {
    ck_assert_msg(readable(fd, WAIT_MS), "no completion queued in %d ms",
                  WAIT_MS);
    ck_assert_int_gt(mrlog_run_completions(log, 64), 0);
  }
}

/* Completions queued now (the test reads the queue's count). */
static uint64_t
queued(mrlog *log)
{
  uint64_t n;

  pthread_mutex_lock(&log->poll.mutex);
  n = log->poll.pending;
  pthread_mutex_unlock(&log->poll.mutex);
  return n;
}

/* Waits until n completions are queued. */
static void
await_queued(mrlog *log, uint64_t n)
{
  int i;

  for (i = 0; i < WAIT_MS && queued(log) < n; i++)
    th_sleep_ms(1);
  ck_assert_uint_eq(queued(log), n);
}

/* Appends "q"-queue records with ids [from, to) and rec_cb. */
static void
append_ids(mrlog *log, const char *queue, struct call *calls, long from,
           long to)
{
  long i;

  for (i = from; i < to; i++)
    mrlog_forget(mrlog_append(log, queue, NULL, &i, sizeof(i), rec_cb,
                              &calls[i]));
}

static struct call *
calls_new(struct rec *r, long n)
{
  struct call *c = calloc((size_t)n, sizeof(*c));
  long i;

  ck_assert_ptr_nonnull(c);
  for (i = 0; i < n; i++) {
    c[i].r = r;
    c[i].id = i;
  }
  return c;
}

/* Callbacks run only inside mrlog_run_completions, on its thread, once
 * each, in call order (a create, appends, a sync); the future is ready
 * only after its callback ran. */
START_TEST(test_poll_thread_and_order)
{
  static struct rec r;
  struct call *calls = calls_new(&r, 202);
  mrlog *log = open_poll();
  mrlog_future *f;
  int fd = mrlog_completion_fd(log);
  uint64_t pos = 99;
  long i;

  rec_init(&r, pthread_self());
  ck_assert_int_ge(fd, 0);
  ck_assert(!readable(fd, 0));
  mrlog_forget(mrlog_create_queue(log, "q", rec_cb, &calls[0]));
  append_ids(log, "q", calls, 1, 201);
  f = mrlog_sync(log, rec_cb, &calls[201]);
  ck_assert_ptr_nonnull(f);
  /* Queued, not run: the fd turns readable, no callback has run and the
   * future is not ready. */
  ck_assert(readable(fd, WAIT_MS));
  ck_assert_int_eq(LD(r.calls), 0);
  ck_assert(!mrlog_ready(f));
  run_until(log, fd, &r, 202);
  ck_assert(mrlog_ready(f));
  ck_assert_int_eq(mrlog_wait(f, &pos), 0);
  ck_assert_uint_eq(pos, 0);
  ck_assert_int_eq(LD(r.calls), 202);
  ck_assert_int_eq(LD(r.off_thread), 0);
  /* Inside a callback the thread counts as a library thread. */
  ck_assert_int_eq(LD(r.lib_thread_false), 0);
  ck_assert(!mrlog_on_library_thread());
  for (i = 0; i < 202; i++) {
    th_req_int_eq(atomic_load(&r.times[i]), 1);
    th_req_int_eq(r.id[i], i); /* call order */
    th_req_int_eq(r.status[i], 0);
    if (i >= 1 && i <= 200)
      th_req_uint_eq(r.pos[i], (uint64_t)(i - 1));
  }
  ck_assert(!readable(fd, 0));
  ck_assert_int_eq(mrlog_run_completions(log, 10), 0);
  th_close(log);
  free(calls);
}
END_TEST

/* The fd's level: readable exactly while something is queued; a
 * completion queued while a run drains the queue keeps it readable. */
struct level_ctx {
  mrlog *log;
  int fd;
  atomic_int phase;      /* 1: the callback asks for an append */
  bool fd_while_empty;   /* readable inside the callback, queue empty */
  bool fd_after_push;    /* readable once the new one was queued */
};

static struct level_ctx g_level;
static struct rec g_level_rec;

static void *
level_producer(void *arg)
{
  static struct call c2 = { &g_level_rec, 3 };

  (void)arg;
  while (LD(g_level.phase) != 1)
    th_sleep_ms(1);
  mrlog_forget(mrlog_append(g_level.log, "q", NULL, "x", 1, rec_cb, &c2));
  return NULL;
}

static void
level_cb(void *arg, int status, uint64_t position)
{
  rec_cb(arg, status, position);
  /* The last queued one was taken: the fd is not readable now ... */
  g_level.fd_while_empty = readable(g_level.fd, 0);
  /* ... until another thread's completion is queued meanwhile. */
  atomic_store(&g_level.phase, 1);
  g_level.fd_after_push = readable(g_level.fd, WAIT_MS);
}

START_TEST(test_poll_fd_level)
{
  struct call c[3] = { { &g_level_rec, 0 }, { &g_level_rec, 1 },
                       { &g_level_rec, 2 } };
  pthread_t t;
  mrlog *log = open_poll();
  int fd = mrlog_completion_fd(log);

  rec_init(&g_level_rec, pthread_self());
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(mrlog_completion_fd(log), fd); /* the same one */
  ck_assert(!readable(fd, 0));
  mrlog_forget(mrlog_create_queue(log, "q", rec_cb, &c[0]));
  mrlog_forget(mrlog_append(log, "q", NULL, "a", 1, rec_cb, &c[1]));
  /* Both queued (the second's callback needs the first's queue). */
  ck_assert(readable(fd, WAIT_MS));
  while (LD(g_level_rec.calls) < 1)
    ck_assert_int_eq(mrlog_run_completions(log, 1), 1);
  /* One ran; the fd stays readable until the append's completion is
   * queued and run. */
  ck_assert(readable(fd, WAIT_MS));
  ck_assert_int_eq(mrlog_run_completions(log, 1), 1);
  ck_assert(!readable(fd, 0));
  ck_assert_int_eq(mrlog_run_completions(log, 1), 0);

  /* No lost wake-up: queued while the run drains. */
  g_level.log = log;
  g_level.fd = fd;
  ck_assert_int_eq(pthread_create(&t, NULL, level_producer, NULL), 0);
  mrlog_forget(mrlog_append(log, "q", NULL, "b", 1, level_cb, &c[2]));
  ck_assert(readable(fd, WAIT_MS));
  ck_assert_int_eq(mrlog_run_completions(log, 1), 1);
  ck_assert(!g_level.fd_while_empty);
  ck_assert(g_level.fd_after_push);
  ck_assert(readable(fd, 0));
  ck_assert_int_eq(mrlog_run_completions(log, 5), 1);
  ck_assert(!readable(fd, 0));
  pthread_join(t, NULL);
  ck_assert_int_eq(LD(g_level_rec.calls), 4);
  ck_assert_int_eq(LD(g_level_rec.off_thread), 0);
  th_close(log);
}
END_TEST

/* max is honoured; completions queued count, run in order. */
START_TEST(test_poll_max)
{
  static struct rec r;
  struct call *calls = calls_new(&r, 11);
  mrlog *log = open_poll();
  int fd = mrlog_completion_fd(log);
  mrlog_future *f;
  long i;

  rec_init(&r, pthread_self());
  mrlog_forget(mrlog_create_queue(log, "q", rec_cb, &calls[0]));
  append_ids(log, "q", calls, 1, 10);
  f = mrlog_sync(log, rec_cb, &calls[10]);
  await_queued(log, 11);
  ck_assert(readable(fd, 0));
  ck_assert_int_eq(mrlog_run_completions(log, 0), 0);
  ck_assert_int_eq(LD(r.calls), 0);
  ck_assert_int_eq(mrlog_run_completions(log, 3), 3);
  ck_assert_int_eq(LD(r.calls), 3);
  ck_assert_int_eq(mrlog_run_completions(log, 1), 1);
  ck_assert_int_eq(LD(r.calls), 4);
  ck_assert(readable(fd, 0));
  ck_assert_int_eq(mrlog_run_completions(log, 6), 6);
  ck_assert(!mrlog_ready(f));
  ck_assert(readable(fd, 0));
  ck_assert_int_eq(mrlog_run_completions(log, 100), 1);
  ck_assert(mrlog_ready(f));
  ck_assert(!readable(fd, 0));
  ck_assert_int_eq(LD(r.calls), 11);
  ck_assert_int_eq(mrlog_run_completions(log, UINT32_MAX), 0);
  for (i = 0; i < 11; i++)
    th_req_int_eq(r.id[i], i);
  ck_assert_int_eq(mrlog_wait(f, NULL), 0);
  th_close(log);
  free(calls);
}
END_TEST

/* Bad arguments and calls from inside a callback. */
struct inside {
  mrlog *log;
  mrlog_future *other; /* a future not ready while the callback runs */
  int fd_rc, run_rc, close_rc, wait_rc;
  bool lib;
  int append_status;
};

static struct inside g_in;

static void
note_status(void *arg, int status, uint64_t position)
{
  (void)position;
  *(int *)arg = status;
}

static void
inside_cb(void *arg, int status, uint64_t position)
{
  (void)arg;
  (void)status;
  (void)position;
  g_in.fd_rc = mrlog_completion_fd(g_in.log);
  g_in.run_rc = mrlog_run_completions(g_in.log, 1);
  g_in.close_rc = mrlog_close(g_in.log);
  g_in.wait_rc = mrlog_wait(g_in.other, NULL);
  g_in.lib = mrlog_on_library_thread();
  /* Mutations may be made; they complete later, on the poller too. */
  mrlog_forget(mrlog_append(g_in.log, "q", NULL, "z", 1, note_status,
                            &g_in.append_status));
}

START_TEST(test_poll_bad_args)
{
  mrlog_policy p = th_policy();
  mrlog *lib_log, *log;
  char *dir2 = th_sub("lib");
  int fd, created = 1;

  ck_assert_int_eq(mrlog_completion_fd(NULL), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_run_completions(NULL, 1), MRLOG_EINVAL);
  /* A log not in poll mode. */
  lib_log = th_open(dir2, &p);
  ck_assert_int_eq(mrlog_completion_fd(lib_log), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_run_completions(lib_log, 1), MRLOG_EINVAL);
  th_close(lib_log);
  /* A closed one. */
  log = open_poll();
  ck_assert_int_ge(mrlog_completion_fd(log), 0);
  th_close(log);
  ck_assert_int_eq(mrlog_completion_fd(log), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_run_completions(log, 1), MRLOG_EINVAL);

  /* Inside a callback. */
  log = open_poll();
  fd = mrlog_completion_fd(log);
  g_in.log = log;
  g_in.append_status = 12345;
  mrlog_forget(mrlog_create_queue(log, "q", note_status, &created));
  mrlog_forget(mrlog_append(log, "q", NULL, "a", 1, inside_cb, NULL));
  g_in.other = mrlog_append(log, "q", NULL, "b", 1, NULL, NULL);
  while (!mrlog_ready(g_in.other) || g_in.append_status == 12345) {
    ck_assert(readable(fd, WAIT_MS));
    mrlog_run_completions(log, 1);
  }
  ck_assert_int_eq(created, 0);
  ck_assert_int_eq(g_in.fd_rc, MRLOG_EINVAL);
  ck_assert_int_eq(g_in.run_rc, MRLOG_EINVAL);
  ck_assert_int_eq(g_in.close_rc, MRLOG_EINVAL);
  ck_assert_int_eq(g_in.wait_rc, MRLOG_EINVAL);
  ck_assert(g_in.lib);
  ck_assert_int_eq(g_in.append_status, 0);
  ck_assert_int_eq(mrlog_wait(g_in.other, NULL), 0);
  th_close(log);
  free(dir2);
}
END_TEST

/* mrlog_close runs what is still queued on the closing thread before it
 * returns; a callback's call during close completes with ECLOSED there
 * too; futures are ready after close. */
static struct rec g_close_rec;
static int g_close_late = 12345;
static mrlog *g_close_log;

static void
close_cb(void *arg, int status, uint64_t position)
{
  rec_cb(arg, status, position);
  mrlog_forget(mrlog_append(g_close_log, "q", NULL, "late", 4, note_status,
                            &g_close_late));
}

START_TEST(test_poll_close_pending)
{
  struct call *calls = calls_new(&g_close_rec, 102);
  mrlog_future *f;
  mrlog *log = open_poll();
  int fd = mrlog_completion_fd(log);
  long i;

  rec_init(&g_close_rec, pthread_self());
  g_close_log = log;
  mrlog_forget(mrlog_create_queue(log, "q", rec_cb, &calls[0]));
  append_ids(log, "q", calls, 1, 100);
  f = mrlog_append(log, "q", NULL, "x", 1, rec_cb, &calls[100]);
  mrlog_forget(mrlog_append(log, "q", NULL, "y", 1, close_cb, &calls[101]));
  ck_assert(readable(fd, WAIT_MS));
  ck_assert_int_eq(LD(g_close_rec.calls), 0);
  th_close(log);
  ck_assert_int_eq(LD(g_close_rec.calls), 102);
  ck_assert_int_eq(LD(g_close_rec.off_thread), 0);
  ck_assert_int_eq(g_close_late, MRLOG_ECLOSED);
  for (i = 0; i < 102; i++) {
    th_req_int_eq(atomic_load(&g_close_rec.times[i]), 1);
    th_req_int_eq(g_close_rec.id[i], i);
  }
  ck_assert(mrlog_ready(f));
  ck_assert_int_eq(mrlog_wait(f, NULL), 0);
  free(calls);
}
END_TEST

/* mrlog_wait in poll mode.  The poller's wait runs completions (its own
 * and those queued before it, in order); another thread's wait sleeps
 * until the poller ran the callback (callback, then ready); with nobody
 * polling that wait times out; a thread waiting on a log that has no
 * poller becomes it. */
static struct rec g_wait_rec;
static mrlog *g_wait_log;
static atomic_int g_wait_cb_ran;
static atomic_int g_wait_saw_cb;
static atomic_int g_wait_timed_out;

static void
wait_cb(void *arg, int status, uint64_t position)
{
  rec_cb(arg, status, position);
  atomic_store(&g_wait_cb_ran, 1);
}

static void *
wait_other(void *arg)
{
  static struct call c = { &g_wait_rec, 5 };
  mrlog_future *f = mrlog_append(g_wait_log, "q", NULL, "o", 1, wait_cb, &c);

  (void)arg;
  /* Nobody runs it yet: times out, the future stays valid. */
  if (mrlog_wait_timeout(f, 200, NULL) != MRLOG_ETIMEDOUT)
    return (void *)1;
  atomic_store(&g_wait_timed_out, 1);
  if (mrlog_wait(f, NULL) != 0)
    return (void *)2;
  atomic_store(&g_wait_saw_cb, LD(g_wait_cb_ran));
  return NULL;
}

static void *
wait_takeover(void *arg)
{
  static struct call c = { &g_wait_rec, 0 };
  mrlog_future *f;

  (void)arg;
  g_wait_rec.poller = pthread_self();
  f = mrlog_create_queue(g_wait_log, "q", rec_cb, &c);
  return (void *)(intptr_t)mrlog_wait(f, NULL);
}

START_TEST(test_poll_wait)
{
  struct call c[5] = { { &g_wait_rec, 0 }, { &g_wait_rec, 1 },
                       { &g_wait_rec, 2 }, { &g_wait_rec, 3 },
                       { &g_wait_rec, 4 } };
  mrlog_future *f;
  pthread_t t;
  void *res;
  int fd;

  (void)c[0];
  rec_init(&g_wait_rec, pthread_self());
  g_wait_log = open_poll();
  /* No poller yet: a waiting thread takes over and runs its callback. */
  ck_assert_int_eq(pthread_create(&t, NULL, wait_takeover, NULL), 0);
  pthread_join(t, &res);
  ck_assert_int_eq((int)(intptr_t)res, 0);
  ck_assert_int_eq(LD(g_wait_rec.calls), 1);
  ck_assert_int_eq(LD(g_wait_rec.off_thread), 0);

  /* This thread polls from now on. */
  g_wait_rec.poller = pthread_self();
  fd = mrlog_completion_fd(g_wait_log);
  ck_assert_int_ge(fd, 0);
  mrlog_forget(mrlog_append(g_wait_log, "q", NULL, "a", 1, rec_cb, &c[1]));
  mrlog_forget(mrlog_append(g_wait_log, "q", NULL, "b", 1, rec_cb, &c[2]));
  f = mrlog_append(g_wait_log, "q", NULL, "c", 1, rec_cb, &c[3]);
  mrlog_forget(mrlog_append(g_wait_log, "q", NULL, "d", 1, rec_cb, &c[4]));
  ck_assert_int_eq(mrlog_wait(f, NULL), 0);
  /* It ran the three up to its own, in order, and returned. */
  ck_assert_int_ge(LD(g_wait_rec.calls), 4);
  ck_assert_int_eq(g_wait_rec.id[1], 1);
  ck_assert_int_eq(g_wait_rec.id[2], 2);
  ck_assert_int_eq(g_wait_rec.id[3], 3);
  run_until(g_wait_log, fd, &g_wait_rec, 5);

  /* Another thread's wait. */
  ck_assert_int_eq(pthread_create(&t, NULL, wait_other, NULL), 0);
  while (!LD(g_wait_timed_out))
    th_sleep_ms(1); /* the poller runs nothing until then */
  run_until(g_wait_log, fd, &g_wait_rec, 6);
  pthread_join(t, &res);
  ck_assert_ptr_null(res);
  ck_assert_int_eq(LD(g_wait_saw_cb), 1);
  ck_assert_int_eq(LD(g_wait_rec.off_thread), 0);
  th_close(g_wait_log);
}
END_TEST

/* Many producer threads, one poller. */
#define PRODUCERS 4
static mrlog *g_many_log;
static struct rec g_many_rec;
static pthread_barrier_t g_many_barrier;
static long g_many_per;

struct many_call {
  struct call c;
  int thread;
  long seq;
};
static struct many_call *g_many_calls;
static long g_many_next[PRODUCERS]; /* next seq expected per thread */
static atomic_long g_many_bad;
static char g_many_payload[256];

static void
many_cb(void *arg, int status, uint64_t position)
{
  struct many_call *m = arg;

  rec_cb(&m->c, status, position);
  /* Per thread: in call order, at positions 0, 1, ... */
  if (status != 0 || m->seq != g_many_next[m->thread] ||
      position != (uint64_t)m->seq)
    atomic_fetch_add(&g_many_bad, 1);
  g_many_next[m->thread] = m->seq + 1;
}

static void *
many_producer(void *arg)
{
  int t = (int)(intptr_t)arg;
  char queue[16];
  long i;

  snprintf(queue, sizeof(queue), "p%d", t);
  pthread_barrier_wait(&g_many_barrier);
  for (i = 0; i < g_many_per; i++) {
    struct many_call *m = &g_many_calls[t * g_many_per + i];

    mrlog_forget(mrlog_append(g_many_log, queue, NULL, g_many_payload,
                              (size_t)(i % 200), many_cb, m));
  }
  return NULL;
}

START_TEST(test_poll_many_producers)
{
  pthread_t t[PRODUCERS];
  mrlog_policy p = poll_policy();
  int fd, i;
  long k, total;
  char queue[16];

  g_many_per = th_scaled(REC_MAX / PRODUCERS);
  total = g_many_per * PRODUCERS;
  g_many_calls = calloc((size_t)total, sizeof(*g_many_calls));
  ck_assert_ptr_nonnull(g_many_calls);
  for (k = 0; k < total; k++) {
    g_many_calls[k].c.r = &g_many_rec;
    g_many_calls[k].c.id = k;
    g_many_calls[k].thread = (int)(k / g_many_per);
    g_many_calls[k].seq = k % g_many_per;
  }
  rec_init(&g_many_rec, pthread_self());
  p.fsync_interval_ms = 5; /* completions as soon as written */
  g_many_log = th_open(th_dir, &p);
  fd = mrlog_completion_fd(g_many_log);
  for (i = 0; i < PRODUCERS; i++) {
    snprintf(queue, sizeof(queue), "p%d", i);
    ck_assert_int_eq(th_create(g_many_log, queue), 0);
  }
  pthread_barrier_init(&g_many_barrier, NULL, PRODUCERS + 1);
  for (i = 0; i < PRODUCERS; i++)
    ck_assert_int_eq(
        pthread_create(&t[i], NULL, many_producer, (void *)(intptr_t)i), 0);
  pthread_barrier_wait(&g_many_barrier);
  run_until(g_many_log, fd, &g_many_rec, total);
  for (i = 0; i < PRODUCERS; i++)
    pthread_join(t[i], NULL);
  ck_assert_int_eq(LD(g_many_rec.calls), total);
  ck_assert_int_eq(LD(g_many_rec.off_thread), 0);
  ck_assert_int_eq(LD(g_many_bad), 0);
  for (k = 0; k < total; k++)
    th_req_int_eq(atomic_load(&g_many_rec.times[k]), 1);
  ck_assert(!readable(fd, 0));
  th_close(g_many_log);
  pthread_barrier_destroy(&g_many_barrier);
  free(g_many_calls);
}
END_TEST

/* A queued completion holds no memory reservation: with a poller that
 * does not poll, producers are not held back (memory_limit, nonblocking),
 * and the reservations return as completions are queued. */
START_TEST(test_poll_memory_not_held)
{
  static struct rec r;
  enum { N = 64, SIZE = 48 * 1024 };
  struct call *calls = calls_new(&r, N + 1);
  mrlog_policy p = poll_policy();
  char *buf = calloc(1, SIZE);
  struct mrlog_stats st;
  mrlog *log;
  int fd;
  long i;

  rec_init(&r, pthread_self());
  p.memory_limit = 8u << 20;
  p.nonblocking = 1;
  /* The copy store, where memory_charged is memory_bytes plus the
   * reservations in flight (the mapped one charges payload instead). */
  p.record_store = MRLOG_STORE_COPY;
  log = th_open(th_dir, &p);
  fd = mrlog_completion_fd(log);
  ck_assert_int_eq(th_create(log, "q"), 0);
  for (i = 1; i <= N; i++) {
    mrlog_forget(mrlog_append(log, "q", NULL, buf, SIZE, rec_cb, &calls[i]));
    /* Truncated as it goes, so retained records never fill the limit. */
    mrlog_forget(mrlog_truncate(log, "q", (uint64_t)(i - 1), NULL, NULL));
  }
  /* Everything queued and nothing run: no reservation is left. */
  for (i = 0; i < WAIT_MS / 10; i++) {
    ck_assert_int_eq(mrlog_stats(log, &st), 0);
    if (st.memory_charged == st.memory_bytes && st.ring_depth == 0)
      break;
    th_sleep_ms(10);
  }
  ck_assert_uint_eq(st.memory_charged, st.memory_bytes);
  ck_assert_int_eq(LD(r.calls), 0);
  ck_assert(readable(fd, 0));
  run_until(log, fd, &r, N);
  for (i = 0; i < N; i++)
    th_req_int_eq(r.status[i], 0);
  th_close(log);
  free(buf);
  free(calls);
}
END_TEST

/* A failing log: every completion still runs once, on the poller, with
 * the failure; submit-time errors come the same way; close reports it. */
static atomic_int g_fail_armed;

static int
failing_fdatasync(void *ctx, int fd)
{
  (void)ctx;
  if (LD(g_fail_armed)) {
    errno = EIO;
    return -1;
  }
  return fdatasync(fd);
}

START_TEST(test_poll_failing_log)
{
  static struct rec r;
  struct call *calls = calls_new(&r, 52);
  static struct mrlog__io io;
  mrlog_policy p = poll_policy();
  mrlog *log = NULL;
  int fd, status = 12345;
  long i;

  rec_init(&r, pthread_self());
  io = mrlog__posix_io;
  io.fdatasync = failing_fdatasync;
  ck_assert_int_eq(mrlog__open_with_io(th_dir, &p, &io, &log), 0);
  fd = mrlog_completion_fd(log);
  ck_assert_int_eq(th_create(log, "q"), 0);
  atomic_store(&g_fail_armed, 1);
  append_ids(log, "q", calls, 0, 50);
  /* Submit-time errors: a bad queue name, a record too large. */
  mrlog_forget(mrlog_append(log, "", NULL, "a", 1, rec_cb, &calls[50]));
  mrlog_forget(mrlog_append(log, "q", NULL, NULL, 5, rec_cb, &calls[51]));
  run_until(log, fd, &r, 52);
  ck_assert_int_eq(LD(r.off_thread), 0);
  for (i = 0; i < 52; i++) {
    long id = r.id[i];

    th_req_int_eq(atomic_load(&r.times[i]), 1);
    if (id >= 50)
      th_req_int_eq(r.status[i], MRLOG_EINVAL);
    else
      th_req_int_eq(r.status[i], MRLOG_EIO);
  }
  /* After the failure, a new mutation fails the same way, on the poller. */
  mrlog_forget(mrlog_append(log, "q", NULL, "b", 1, note_status, &status));
  while (status == 12345) {
    ck_assert(readable(fd, WAIT_MS));
    mrlog_run_completions(log, 8);
  }
  ck_assert_int_eq(status, MRLOG_EIO);
  ck_assert_int_eq(mrlog_close(log), MRLOG_EIO);
  free(calls);
}
END_TEST

Suite *
make_poll_suite(void)
{
  Suite *s = suite_create("poll");
  TCase *tc = tcase_create("poll");

  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_poll_thread_and_order);
  tcase_add_test(tc, test_poll_fd_level);
  tcase_add_test(tc, test_poll_max);
  tcase_add_test(tc, test_poll_bad_args);
  tcase_add_test(tc, test_poll_close_pending);
  tcase_add_test(tc, test_poll_wait);
  tcase_add_test(tc, test_poll_many_producers);
  tcase_add_test(tc, test_poll_memory_not_held);
  tcase_add_test(tc, test_poll_failing_log);
  suite_add_tcase(s, tc);
  return s;
}

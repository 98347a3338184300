/*
 * test_misuse.c -- misuse fails fast instead of hanging: a closed log
 * closed again or used, a future waited twice or after mrlog_forget, the
 * blocking calls made on a library thread, a producer blocked past
 * policy.block_timeout_ms; and the directory entry mrlog_open creates is
 * made durable.
 *
 * A hang must fail the test, not stall the runner: each in-process check
 * that could hang runs under alarm(), whose default action kills the
 * forked test (Check reports the signal), and every case has a timeout.
 */
#define _GNU_SOURCE
#include "check_mrlog.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WAIT_MS 60000u
/* Seconds a check that could hang may take before SIGALRM kills it. */
#define HANG_S 20u

/* ---- Closing a log twice, or something that is not a log ------------- */

START_TEST(test_close_twice) {
  mrlog *log = th_open(th_dir, NULL);

  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(mrlog_close(log), 0);
  alarm(HANG_S);
  ck_assert_int_eq(mrlog_close(log), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_close(log), MRLOG_EINVAL);
  alarm(0);
}
END_TEST

START_TEST(test_close_not_a_log) {
  /* Memory that never was a log: close must not read it as one. */
  static unsigned char junk[8192];

  memset(junk, 0xa5, sizeof(junk));
  alarm(HANG_S);
  ck_assert_int_eq(mrlog_close((mrlog *)junk), MRLOG_EINVAL);
  alarm(0);
}
END_TEST

struct closer {
  mrlog *log;
  pthread_barrier_t *go;
  int rc;
};

static void *closer_main(void *p) {
  struct closer *c = p;

  pthread_barrier_wait(c->go);
  c->rc = mrlog_close(c->log);
  return NULL;
}

/* Two threads close one log at once: one closes it, the other gets
 * MRLOG_EINVAL at once. */
START_TEST(test_close_concurrent) {
  enum { N = 4 };
  int round;

  alarm(HANG_S * 2);
  for (round = 0; round < 20; round++) {
    pthread_barrier_t go;
    struct closer c[N];
    pthread_t t[N];
    mrlog *log = th_open(th_dir, NULL);
    int i, ok = 0, einval = 0;

    ck_assert_int_eq(th_append_str(log, "q", "x", NULL), MRLOG_ENOQUEUE);
    pthread_barrier_init(&go, NULL, N);
    for (i = 0; i < N; i++) {
      c[i] = (struct closer){ log, &go, 12345 };
      ck_assert_int_eq(pthread_create(&t[i], NULL, closer_main, &c[i]), 0);
    }
    for (i = 0; i < N; i++) {
      pthread_join(t[i], NULL);
      ok += c[i].rc == 0;
      einval += c[i].rc == MRLOG_EINVAL;
    }
    pthread_barrier_destroy(&go);
    ck_assert_int_eq(ok, 1);
    ck_assert_int_eq(einval, N - 1);
  }
  alarm(0);
}
END_TEST

static int count_queue(void *arg, const char *queue) {
  (void)queue;
  (*(int *)arg)++;
  return 0;
}

static int count_record(void *arg, uint64_t position, const void *data,
                        size_t len) {
  (void)position;
  (void)data;
  (void)len;
  (*(int *)arg)++;
  return 0;
}

/* Every call on a closed log's handle fails cleanly: mutations complete
 * (callback and future) with MRLOG_ECLOSED, the others return
 * MRLOG_EINVAL (false for mrlog_queue_exists). */
START_TEST(test_calls_on_closed_log) {
  mrlog *log = th_open(th_dir, NULL);
  struct th_counter c;
  struct mrlog_stats st;
  struct mrlog_queue_info info;
  uint64_t pos = 7;
  int n = 0;

  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(th_append_str(log, "q", "x", NULL), 0);
  ck_assert_int_eq(mrlog_close(log), 0);
  alarm(HANG_S);
  th_counter_init(&c);
  ck_assert_int_eq(th_wait(mrlog_append(log, "q", NULL, "y", 1, th_counter_cb,
                                        &c),
                           NULL),
                   MRLOG_ECLOSED);
  ck_assert_int_eq(th_wait(mrlog_sync(log, th_counter_cb, &c), NULL),
                   MRLOG_ECLOSED);
  ck_assert_int_eq(th_wait(mrlog_create_queue(log, "r", th_counter_cb, &c),
                           NULL),
                   MRLOG_ECLOSED);
  ck_assert_int_eq(th_wait(mrlog_truncate(log, "q", 0, th_counter_cb, &c),
                           NULL),
                   MRLOG_ECLOSED);
  ck_assert(th_counter_wait(&c, 4, WAIT_MS));
  ck_assert_int_eq(atomic_load(&c.on_app_thread), 0);
  ck_assert_int_eq(mrlog_stats(log, &st), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_queue_info(log, "q", &info), MRLOG_EINVAL);
  ck_assert(!mrlog_queue_exists(log, "q"));
  ck_assert_int_eq(mrlog_list_queues(log, count_queue, &n), MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_range(log, "q", 0, UINT64_MAX, count_record, &n),
                   MRLOG_EINVAL);
  ck_assert_int_eq(mrlog_seek_time(log, "q", 0, &pos), MRLOG_EINVAL);
  ck_assert_int_eq(n, 0);
  ck_assert_uint_eq(pos, 7);
  alarm(0);
}
END_TEST

/* ---- Futures used after mrlog_wait or mrlog_forget --------------------- */

START_TEST(test_wait_twice) {
  mrlog *log = th_open(th_dir, NULL);
  mrlog_future *f;
  uint64_t pos = 99;

  ck_assert_int_eq(th_create(log, "q"), 0);
  f = mrlog_append(log, "q", NULL, "a", 1, NULL, NULL);
  ck_assert_int_eq(th_wait(f, &pos), 0);
  ck_assert_uint_eq(pos, 0);
  alarm(HANG_S);
  pos = 99;
  ck_assert_int_eq(mrlog_wait(f, &pos), MRLOG_EINVAL);
  ck_assert_uint_eq(pos, 99);
  ck_assert_int_eq(mrlog_wait_timeout(f, 10000, &pos), MRLOG_EINVAL);
  ck_assert(!mrlog_ready(f));
  mrlog_forget(f); /* ignored */
  alarm(0);
  /* The pool is intact: new futures complete with their own results. */
  for (uint64_t i = 1; i <= 200; i++) {
    ck_assert_int_eq(th_append_str(log, "q", "b", &pos), 0);
    ck_assert_uint_eq(pos, i);
  }
  th_close(log);
}
END_TEST

static bool is_ready(void *f) { return mrlog_ready(f); }

START_TEST(test_wait_after_forget) {
  mrlog *log = th_open(th_dir, NULL);
  mrlog_future *f;
  uint64_t pos;
  int i;

  ck_assert_int_eq(th_create(log, "q"), 0);
  alarm(HANG_S);
  /* Forgotten once ready. */
  f = mrlog_append(log, "q", NULL, "a", 1, NULL, NULL);
  ck_assert(th_poll(is_ready, f, WAIT_MS));
  mrlog_forget(f);
  ck_assert_int_eq(mrlog_wait(f, NULL), MRLOG_EINVAL);
  ck_assert(!mrlog_ready(f));
  /* Forgotten at once, ready or not. */
  for (i = 0; i < 100; i++) {
    f = mrlog_append(log, "q", NULL, "b", 1, NULL, NULL);
    mrlog_forget(f);
    ck_assert_int_eq(mrlog_wait(f, NULL), MRLOG_EINVAL);
    ck_assert_int_eq(mrlog_wait_timeout(f, 10000, NULL), MRLOG_EINVAL);
    mrlog_forget(f); /* ignored */
  }
  alarm(0);
  ck_assert_int_eq(th_sync(log), 0);
  ck_assert_int_eq(th_append_str(log, "q", "c", &pos), 0);
  ck_assert_uint_eq(pos, 101);
  th_close(log);
}
END_TEST

/* A waited future's handle stays stale after the pool hands its memory to
 * a new call: waiting on it again is MRLOG_EINVAL and takes nothing from
 * the new owner. */
START_TEST(test_stale_handle_after_reuse) {
  mrlog *log = th_open(th_dir, NULL);
  mrlog_future *stale, *f;
  uint64_t pos, i;

  ck_assert_int_eq(th_create(log, "q"), 0);
  stale = mrlog_append(log, "q", NULL, "a", 1, NULL, NULL);
  ck_assert_int_eq(th_wait(stale, NULL), 0);
  alarm(HANG_S);
  for (i = 1; i <= 300; i++) {
    f = mrlog_append(log, "q", NULL, "b", 1, NULL, NULL);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(mrlog_wait(stale, NULL), MRLOG_EINVAL);
    ck_assert(!mrlog_ready(stale));
    mrlog_forget(stale);
    ck_assert_int_eq(mrlog_wait(f, &pos), 0);
    ck_assert_uint_eq(pos, i);
  }
  alarm(0);
  th_close(log);
}
END_TEST

/* Two threads wait on one future at once: one gets the result, the other
 * MRLOG_EINVAL or the result's status never twice. */
struct waiter {
  mrlog_future *f;
  pthread_barrier_t *go;
  int rc;
};

static void *waiter_main(void *p) {
  struct waiter *w = p;

  pthread_barrier_wait(w->go);
  w->rc = mrlog_wait(w->f, NULL);
  return NULL;
}

START_TEST(test_wait_concurrent) {
  mrlog *log = th_open(th_dir, NULL);
  int round;

  ck_assert_int_eq(th_create(log, "q"), 0);
  alarm(HANG_S * 2);
  for (round = 0; round < 200; round++) {
    pthread_barrier_t go;
    struct waiter w[2];
    pthread_t t[2];
    mrlog_future *f = mrlog_append(log, "q", NULL, "a", 1, NULL, NULL);
    int i, ok = 0, einval = 0;

    pthread_barrier_init(&go, NULL, 2);
    for (i = 0; i < 2; i++) {
      w[i] = (struct waiter){ f, &go, 12345 };
      ck_assert_int_eq(pthread_create(&t[i], NULL, waiter_main, &w[i]), 0);
    }
    for (i = 0; i < 2; i++) {
      pthread_join(t[i], NULL);
      ok += w[i].rc == 0;
      einval += w[i].rc == MRLOG_EINVAL;
    }
    pthread_barrier_destroy(&go);
    ck_assert_int_eq(ok, 1);
    ck_assert_int_eq(einval, 1);
  }
  alarm(0);
  th_close(log);
}
END_TEST

/* ---- Blocking calls on a library thread -------------------------------- */

struct libcalls {
  mrlog *log;
  char *other_dir;
  sem_t release;
  atomic_int a_done;
  atomic_int b_calls;
  mrlog_future *fb;
  bool on_lib_cb;
  bool on_lib_visit;
  int open_rc;
  mrlog *opened;
  int close_rc;
  int close_in_visit_rc;
  int wait_rc;
  int wait_timeout_rc;
  int range_rc;
};

static void libcalls_b(void *arg, int status, uint64_t position) {
  struct libcalls *x = arg;

  (void)status;
  (void)position;
  while (sem_wait(&x->release) != 0) {
  }
  atomic_fetch_add(&x->b_calls, 1);
}

static int libcalls_visit(void *arg, uint64_t position, const void *data,
                          size_t len) {
  struct libcalls *x = arg;

  (void)position;
  (void)data;
  (void)len;
  x->on_lib_visit = mrlog_on_library_thread();
  x->close_in_visit_rc = mrlog_close(x->log);
  return 1;
}

static void libcalls_a(void *arg, int status, uint64_t position) {
  struct libcalls *x = arg;

  (void)status;
  (void)position;
  x->on_lib_cb = mrlog_on_library_thread();
  x->open_rc = mrlog_open(x->other_dir, NULL, &x->opened);
  x->close_rc = mrlog_close(x->log);
  /* b runs after this callback on the same thread: it cannot be ready. */
  x->fb = mrlog_append(x->log, "q", NULL, "b", 1, libcalls_b, x);
  x->wait_rc = mrlog_wait(x->fb, NULL);
  x->wait_timeout_rc = mrlog_wait_timeout(x->fb, 100000, NULL);
  x->range_rc = mrlog_range(x->log, "q", 0, UINT64_MAX, libcalls_visit, x);
  atomic_store(&x->a_done, 1);
}

static bool libcalls_a_done(void *arg) {
  return atomic_load(&((struct libcalls *)arg)->a_done) != 0;
}

START_TEST(test_blocking_calls_on_library_thread) {
  struct libcalls x;
  mrlog_future *fa;
  uint64_t pos = 99;
  struct stat sb;

  memset(&x, 0, sizeof(x));
  x.log = th_open(th_dir, NULL);
  x.other_dir = th_sub("other");
  x.open_rc = x.close_rc = x.wait_rc = x.wait_timeout_rc = 12345;
  x.close_in_visit_rc = x.range_rc = 12345;
  x.opened = (mrlog *)&x;
  ck_assert_int_eq(sem_init(&x.release, 0, 0), 0);
  atomic_init(&x.a_done, 0);
  atomic_init(&x.b_calls, 0);
  ck_assert(!mrlog_on_library_thread());
  ck_assert_int_eq(th_create(x.log, "q"), 0);
  alarm(HANG_S);
  fa = mrlog_append(x.log, "q", NULL, "a", 1, libcalls_a, &x);
  ck_assert(th_poll(libcalls_a_done, &x, WAIT_MS));
  ck_assert(x.on_lib_cb);
  ck_assert_int_eq(x.open_rc, MRLOG_EINVAL);
  ck_assert_ptr_null(x.opened);
  ck_assert_int_ne(stat(x.other_dir, &sb), 0); /* nothing created */
  ck_assert_int_eq(x.close_rc, MRLOG_EINVAL);
  ck_assert_int_eq(x.wait_rc, MRLOG_EINVAL);
  ck_assert_int_eq(x.wait_timeout_rc, MRLOG_EINVAL);
  ck_assert_int_eq(x.range_rc, 1);
  ck_assert(x.on_lib_visit);
  ck_assert_int_eq(x.close_in_visit_rc, MRLOG_EINVAL);
  /* The future stayed valid, and the log open. */
  ck_assert_int_eq(sem_post(&x.release), 0);
  ck_assert_int_eq(th_wait(x.fb, &pos), 0);
  ck_assert_uint_eq(pos, 1);
  ck_assert_int_eq(th_wait(fa, &pos), 0);
  ck_assert_uint_eq(pos, 0);
  alarm(0);
  th_close(x.log);
  sem_destroy(&x.release);
  free(x.other_dir);
}
END_TEST

/* ---- block_timeout_ms ---------------------------------------------------- */

struct warns {
  atomic_int warn;   /* MRLOG_LOG_WARN messages about blocking */
  atomic_int other;  /* any other message */
};

static void count_warn(void *arg, int level, const char *message) {
  struct warns *w = arg;

  if (level == MRLOG_LOG_WARN && strstr(message, "blocked") != NULL)
    atomic_fetch_add(&w->warn, 1);
  else
    atomic_fetch_add(&w->other, 1);
}

/* Appends records of len bytes until one completes with MRLOG_EFULL (at
 * most max calls); returns how many succeeded before it, or -1. */
static int append_until_efull(mrlog *log, size_t len, int max) {
  unsigned char *buf = calloc(1, len);
  int i, rc;

  ck_assert_ptr_nonnull(buf);
  for (i = 0; i < max; i++) {
    rc = th_wait(mrlog_append(log, "q", NULL, buf, len, NULL, NULL), NULL);
    if (rc == MRLOG_EFULL)
      break;
    ck_assert_int_eq(rc, 0);
  }
  free(buf);
  return i < max ? i : -1;
}

/* A producer held at memory_limit (nothing is truncated, so nothing will
 * free memory) gives up after block_timeout_ms with MRLOG_EFULL.  The copy
 * store charges retained payload to memory_limit, so a few appends fill
 * it (the default, mapped store charges only the process's own memory). */
START_TEST(test_block_timeout_memory) {
  mrlog_policy pol = th_policy();
  mrlog *log;
  int ok;

  pol.record_store = MRLOG_STORE_COPY;
  pol.memory_limit = 8192;
  pol.block_timeout_ms = 200;
  log = th_open(th_dir, &pol);
  ck_assert_int_eq(th_create(log, "q"), 0);
  alarm(HANG_S);
  ok = append_until_efull(log, 1000, 100); /* staged appends */
  ck_assert_int_gt(ok, 0);
  ck_assert_int_eq(append_until_efull(log, 20000, 5), 0); /* one request */
  alarm(0);
  /* Room again once truncated. */
  ck_assert_int_eq(th_truncate(log, "q", (uint64_t)ok - 1), 0);
  ck_assert_int_eq(th_append_str(log, "q", "x", NULL), 0);
  th_close(log);
}
END_TEST

/* A block of more than a second is reported once per episode through
 * log_fn, whatever the number of calls that block in it. */
START_TEST(test_block_warns_once) {
  mrlog_policy pol = th_policy();
  struct warns w;
  mrlog *log;

  atomic_init(&w.warn, 0);
  atomic_init(&w.other, 0);
  pol.record_store = MRLOG_STORE_COPY; /* charges payload, as above */
  pol.memory_limit = 8192;
  pol.block_timeout_ms = 1300;
  pol.log_fn = count_warn;
  pol.log_arg = &w;
  log = th_open(th_dir, &pol);
  ck_assert_int_eq(th_create(log, "q"), 0);
  alarm(HANG_S);
  ck_assert_int_gt(append_until_efull(log, 1000, 100), 0);
  ck_assert_int_eq(atomic_load(&w.warn), 1);
  ck_assert_int_eq(append_until_efull(log, 1000, 100), 0);
  ck_assert_int_eq(atomic_load(&w.warn), 1);
  alarm(0);
  th_close(log);
}
END_TEST

/* The writer is held inside policy.now_ms while `stall` is set, so the
 * ring fills up behind it. */
struct stall {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool stall;
  atomic_int stalled; /* threads held now */
};

static uint64_t stall_now(void *arg) {
  struct stall *s = arg;

  pthread_mutex_lock(&s->mu);
  while (s->stall) {
    atomic_fetch_add(&s->stalled, 1);
    pthread_cond_wait(&s->cv, &s->mu);
    atomic_fetch_sub(&s->stalled, 1);
  }
  pthread_mutex_unlock(&s->mu);
  return 1700000000000ull;
}

static bool someone_stalled(void *arg) {
  return atomic_load(&((struct stall *)arg)->stalled) > 0;
}

/* A producer held at a full ring gives up after block_timeout_ms with
 * MRLOG_EFULL; the requests already in the ring complete normally. */
START_TEST(test_block_timeout_ring) {
  enum { N = 12, BIG = 20000 }; /* BIG: too large to be staged */
  mrlog_policy pol = th_policy();
  struct stall s;
  mrlog_future *f[N];
  unsigned char *buf = calloc(1, BIG);
  mrlog *log;
  int i, ok = 0, efull = 0, rc;

  ck_assert_ptr_nonnull(buf);
  pthread_mutex_init(&s.mu, NULL);
  pthread_cond_init(&s.cv, NULL);
  s.stall = false;
  atomic_init(&s.stalled, 0);
  pol.ring_slots = 4;
  pol.block_timeout_ms = 200;
  pol.now_ms = stall_now;
  pol.now_arg = &s;
  log = th_open(th_dir, &pol);
  ck_assert_int_eq(th_create(log, "q"), 0);
  alarm(HANG_S);
  pthread_mutex_lock(&s.mu);
  s.stall = true;
  pthread_mutex_unlock(&s.mu);
  f[0] = mrlog_append(log, "q", NULL, buf, BIG, NULL, NULL);
  ck_assert(th_poll(someone_stalled, &s, WAIT_MS));
  for (i = 1; i < N; i++)
    f[i] = mrlog_append(log, "q", NULL, buf, BIG, NULL, NULL);
  pthread_mutex_lock(&s.mu);
  s.stall = false;
  pthread_cond_broadcast(&s.cv);
  pthread_mutex_unlock(&s.mu);
  for (i = 0; i < N; i++) {
    rc = th_wait(f[i], NULL);
    ok += rc == 0;
    efull += rc == MRLOG_EFULL;
  }
  alarm(0);
  ck_assert_int_eq(ok + efull, N);
  ck_assert_int_gt(efull, 0);
  ck_assert_int_ge(ok, 1);
  th_close(log);
  free(buf);
  pthread_cond_destroy(&s.cv);
  pthread_mutex_destroy(&s.mu);
}
END_TEST

/* A thread asleep in mrlog_wait while another forgets the future (a race
 * the caller should not make) wakes up with MRLOG_EINVAL; it does not
 * sleep for ever once the future is freed. */
static void *waiter_alone(void *p) {
  struct waiter *w = p;

  w->rc = mrlog_wait(w->f, NULL);
  return NULL;
}

START_TEST(test_wait_racing_forget) {
  enum { BIG = 20000 }; /* too large to be staged */
  mrlog_policy pol = th_policy();
  unsigned char *buf = calloc(1, BIG);
  struct stall s;
  struct waiter w;
  pthread_t t;
  mrlog *log;

  ck_assert_ptr_nonnull(buf);
  pthread_mutex_init(&s.mu, NULL);
  pthread_cond_init(&s.cv, NULL);
  s.stall = false;
  atomic_init(&s.stalled, 0);
  pol.now_ms = stall_now;
  pol.now_arg = &s;
  log = th_open(th_dir, &pol);
  ck_assert_int_eq(th_create(log, "q"), 0);
  alarm(HANG_S);
  pthread_mutex_lock(&s.mu);
  s.stall = true;
  pthread_mutex_unlock(&s.mu);
  w = (struct waiter){ mrlog_append(log, "q", NULL, buf, BIG, NULL, NULL),
                       NULL, 12345 };
  ck_assert(th_poll(someone_stalled, &s, WAIT_MS));
  ck_assert_int_eq(pthread_create(&t, NULL, waiter_alone, &w), 0);
  th_sleep_ms(100); /* most likely asleep by now; either way it must end */
  mrlog_forget(w.f);
  pthread_join(t, NULL);
  ck_assert_int_eq(w.rc, MRLOG_EINVAL);
  pthread_mutex_lock(&s.mu);
  s.stall = false;
  pthread_cond_broadcast(&s.cv);
  pthread_mutex_unlock(&s.mu);
  ck_assert_int_eq(th_sync(log), 0);
  alarm(0);
  th_close(log);
  free(buf);
  pthread_cond_destroy(&s.cv);
  pthread_mutex_destroy(&s.mu);
}
END_TEST

/* ---- The new directory's entry is durable ----------------------------- */

static char *fsync_watch; /* the directory whose fsyncs are counted */
static atomic_int fsync_watch_count;

static int count_fsync(void *ctx, int fd) {
  char link[64], target[PATH_MAX];
  ssize_t n;

  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  n = readlink(link, target, sizeof(target) - 1);
  if (n > 0) {
    target[n] = '\0';
    if (strcmp(target, fsync_watch) == 0)
      atomic_fetch_add(&fsync_watch_count, 1);
  }
  return mrlog__posix_io.fsync(ctx, fd);
}

START_TEST(test_open_fsyncs_parent) {
  struct mrlog__io io = mrlog__posix_io;
  char *sub = th_sub("new");
  char parent[PATH_MAX];
  mrlog *log;

  ck_assert_ptr_nonnull(realpath(th_dir, parent));
  fsync_watch = parent;
  atomic_init(&fsync_watch_count, 0);
  io.fsync = count_fsync;
  ck_assert_int_eq(mrlog__open_with_io(sub, NULL, &io, &log), 0);
  ck_assert_int_ge((int)atomic_load(&fsync_watch_count), 1);
  th_close(log);
  /* An existing directory: nothing new to make durable. */
  atomic_store(&fsync_watch_count, 0);
  ck_assert_int_eq(mrlog__open_with_io(sub, NULL, &io, &log), 0);
  ck_assert_int_eq((int)atomic_load(&fsync_watch_count), 0);
  th_close(log);
  free(sub);
}
END_TEST

Suite *make_misuse_suite(void) {
  Suite *s = suite_create("misuse");
  TCase *tc;

  tc = tcase_create("close");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_close_twice);
  tcase_add_test(tc, test_close_not_a_log);
  tcase_add_test(tc, test_close_concurrent);
  tcase_add_test(tc, test_calls_on_closed_log);
  suite_add_tcase(s, tc);

  tc = tcase_create("futures");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_wait_twice);
  tcase_add_test(tc, test_wait_after_forget);
  tcase_add_test(tc, test_stale_handle_after_reuse);
  tcase_add_test(tc, test_wait_concurrent);
  tcase_add_test(tc, test_wait_racing_forget);
  suite_add_tcase(s, tc);

  tc = tcase_create("library_thread");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_blocking_calls_on_library_thread);
  suite_add_tcase(s, tc);

  tc = tcase_create("block_timeout");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_block_timeout_memory);
  tcase_add_test(tc, test_block_warns_once);
  tcase_add_test(tc, test_block_timeout_ring);
  suite_add_tcase(s, tc);

  tc = tcase_create("open_dir");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_IO);
  tcase_add_test(tc, test_open_fsyncs_parent);
  suite_add_tcase(s, tc);
  return s;
}

/*
 * test_watch.c -- mrlog_watch and mrlog_cancel: every status, the
 * visibility a watch waits for, and the races (watch vs delete, close and
 * a concurrent cancel, cancel vs completion, a truncation past the
 * watched position).  Every completion is counted: exactly one each.
 */
#include "check_mrlog.h"
#include "vis_layer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct done {
  atomic_int calls;
  atomic_int status;
  _Atomic uint64_t position;
};

static void
on_done(void *arg, int status, uint64_t position)
{
  struct done *d = arg;

  atomic_store(&d->status, status);
  atomic_store(&d->position, position);
  atomic_fetch_add(&d->calls, 1);
}

/* Waits for a watch: its status, *pos its position; the callback ran once
 * with the same. */
static int
wait_watch(mrlog_future *f, struct done *d, uint64_t *pos)
{
  uint64_t p = 0;
  int rc = th_wait(f, &p);

  ck_assert_int_eq(atomic_load(&d->calls), 1);
  ck_assert_int_eq(atomic_load(&d->status), rc);
  ck_assert_uint_eq(atomic_load(&d->position), p);
  if (pos)
    *pos = p;
  return rc;
}

static void
append_n(mrlog *log, const char *q, int n)
{
  int i;

  for (i = 0; i < n; i++)
    ck_assert_int_eq(th_append_str(log, q, "r", NULL), 0);
}

START_TEST(test_watch_statuses)
{
  mrlog *log = th_open(th_dir, NULL);
  struct done d[8];
  mrlog_future *f;
  uint64_t pos;

  memset(d, 0, sizeof(d));
  ck_assert_int_eq(th_create(log, "q"), 0);
  append_n(log, "q", 3);
  /* Already past: at once, with the visible next position. */
  f = mrlog_watch(log, "q", 2, on_done, &d[0]);
  ck_assert_int_eq(wait_watch(f, &d[0], &pos), 0);
  ck_assert_uint_eq(pos, 3);
  /* Waits for the next record. */
  f = mrlog_watch(log, "q", 3, on_done, &d[1]);
  ck_assert(!mrlog_ready(f));
  append_n(log, "q", 1);
  ck_assert_int_eq(wait_watch(f, &d[1], &pos), 0);
  ck_assert_uint_eq(pos, 4);
  /* No such queue; bad arguments. */
  f = mrlog_watch(log, "nope", 0, on_done, &d[2]);
  ck_assert_int_eq(wait_watch(f, &d[2], NULL), MRLOG_ENOQUEUE);
  f = mrlog_watch(log, NULL, 0, on_done, &d[3]);
  ck_assert_int_eq(wait_watch(f, &d[3], NULL), MRLOG_EINVAL);
  f = mrlog_watch(NULL, "q", 0, on_done, &d[4]);
  ck_assert_int_eq(wait_watch(f, &d[4], NULL), MRLOG_EINVAL);
  /* Pending at close: MRLOG_ECLOSED; on a closed log too. */
  f = mrlog_watch(log, "q", 100, on_done, &d[5]);
  th_close(log);
  ck_assert_int_eq(wait_watch(f, &d[5], NULL), MRLOG_ECLOSED);
  f = mrlog_watch(log, "q", 0, on_done, &d[6]);
  ck_assert_int_eq(wait_watch(f, &d[6], NULL), MRLOG_ECLOSED);
  ck_assert_str_eq(mrlog_err_name(MRLOG_ECANCELED), "ECANCELED");
  ck_assert_int_eq(MRLOG_ECANCELED, -125);
}
END_TEST

START_TEST(test_cancel_statuses)
{
  mrlog *log = th_open(th_dir, NULL);
  struct done d[3];
  mrlog_future *f, *g;

  memset(d, 0, sizeof(d));
  ck_assert_int_eq(th_create(log, "q"), 0);
  f = mrlog_watch(log, "q", 0, on_done, &d[0]);
  ck_assert_int_eq(mrlog_cancel(f), 0);
  ck_assert_int_eq(mrlog_cancel(f), MRLOG_EINVAL); /* no longer pending */
  ck_assert_int_eq(wait_watch(f, &d[0], NULL), MRLOG_ECANCELED);
  ck_assert_int_eq(mrlog_cancel(f), MRLOG_EINVAL); /* stale handle */
  ck_assert_int_eq(mrlog_cancel(NULL), MRLOG_EINVAL);
  /* Not a watch. */
  g = mrlog_append(log, "q", NULL, "x", 1, NULL, NULL);
  ck_assert_int_eq(mrlog_cancel(g), MRLOG_EINVAL);
  ck_assert_int_eq(th_wait(g, NULL), 0);
  /* Completed already (not yet waited). */
  f = mrlog_watch(log, "q", 0, on_done, &d[1]);
  while (!mrlog_ready(f))
    ;
  ck_assert_int_eq(mrlog_cancel(f), MRLOG_EINVAL);
  ck_assert_int_eq(wait_watch(f, &d[1], NULL), 0);
  /* The queue is still watched by nobody: appends go on. */
  append_n(log, "q", 2);
  th_close(log);
}
END_TEST

/* A pending watch whose queue is deleted: MRLOG_ENOQUEUE; one on a queue
 * made again under the same name is not woken by the old one's records. */
START_TEST(test_watch_delete)
{
  mrlog *log = th_open(th_dir, NULL);
  struct done d[2];
  mrlog_future *f, *g;

  memset(d, 0, sizeof(d));
  ck_assert_int_eq(th_create(log, "q"), 0);
  f = mrlog_watch(log, "q", 0, on_done, &d[0]);
  ck_assert_int_eq(th_delete(log, "q"), 0);
  ck_assert_int_eq(wait_watch(f, &d[0], NULL), MRLOG_ENOQUEUE);
  ck_assert_int_eq(th_create(log, "q"), 0);
  g = mrlog_watch(log, "q", 0, on_done, &d[1]);
  append_n(log, "q", 1);
  ck_assert_int_eq(wait_watch(g, &d[1], NULL), 0);
  th_close(log);
}
END_TEST

/* A watch cancelled while its queue's records wait for a sync, then the
 * queue deleted: the flusher's look at the queue, once the sync is done,
 * must not touch the freed queue (run under ASan to see it). */
START_TEST(test_cancel_dirty_delete)
{
  mrlog_policy p = th_policy();
  struct done d[2];
  mrlog_future *f, *a, *g;
  mrlog *log;

  memset(d, 0, sizeof(d));
  vl_reset();
  p.visibility = MRLOG_VISIBLE_DURABLE;
  log = vl_open(th_dir, &p);
  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(th_create(log, "other"), 0);
  f = mrlog_watch(log, "q", 0, on_done, &d[0]);
  g = mrlog_watch(log, "other", 0, on_done, &d[1]);
  vl_hold(true);
  a = mrlog_append(log, "q", NULL, "x", 1, NULL, NULL);
  vl_wait_appends(log, 1);
  ck_assert_int_eq(mrlog_cancel(f), 0);
  mrlog_forget(mrlog_delete_queue(log, "q", NULL, NULL));
  vl_hold(false);
  ck_assert_int_eq(th_wait(a, NULL), 0);
  ck_assert_int_eq(wait_watch(f, &d[0], NULL), MRLOG_ECANCELED);
  ck_assert_int_eq(th_sync(log), 0);
  ck_assert_int_eq(th_append_str(log, "other", "y", NULL), 0);
  ck_assert_int_eq(wait_watch(g, &d[1], NULL), 0);
  th_close(log);
}
END_TEST

/* Truncation moves the queue past the watched position: at once for a new
 * watch, and a pending one completes. */
START_TEST(test_watch_truncated)
{
  mrlog *log = th_open(th_dir, NULL);
  struct done d[2];
  mrlog_future *f;
  uint64_t pos;

  memset(d, 0, sizeof(d));
  ck_assert_int_eq(th_create(log, "q"), 0);
  append_n(log, "q", 2);
  f = mrlog_watch(log, "q", 10, on_done, &d[0]);
  ck_assert_int_eq(th_truncate(log, "q", 20), 0);
  ck_assert_int_eq(wait_watch(f, &d[0], &pos), 0);
  ck_assert_uint_eq(pos, 21);
  f = mrlog_watch(log, "q", 5, on_done, &d[1]);
  ck_assert_int_eq(wait_watch(f, &d[1], &pos), 0);
  ck_assert_uint_eq(pos, 21);
  th_close(log);
}
END_TEST

/* The log fails (an fdatasync returns EIO): pending watches complete with
 * its status, and a new one at once. */
START_TEST(test_watch_failure)
{
  mrlog_policy p = th_policy();
  struct done d[2];
  mrlog_future *f, *a;
  mrlog *log;

  memset(d, 0, sizeof(d));
  vl_reset();
  log = vl_open(th_dir, &p);
  ck_assert_int_eq(th_create(log, "q"), 0);
  f = mrlog_watch(log, "q", 0, on_done, &d[0]);
  vl_fail(true);
  a = mrlog_append(log, "q", NULL, "x", 1, NULL, NULL);
  ck_assert_int_eq(th_wait(a, NULL), MRLOG_EIO);
  ck_assert_int_eq(wait_watch(f, &d[0], NULL), MRLOG_EIO);
  f = mrlog_watch(log, "q", 0, on_done, &d[1]);
  ck_assert_int_eq(wait_watch(f, &d[1], NULL), MRLOG_EIO);
  ck_assert_int_eq(mrlog_close(log), MRLOG_EIO);
}
END_TEST

/* A watch waits for the visibility the log reads with: under DURABLE an
 * applied record does not complete it until a sync covers it; under
 * WRITTEN (here with interval syncs, none due) it does before any sync. */
static void
check_watch_visibility(int visibility, unsigned interval_ms, bool early)
{
  mrlog_policy p = th_policy();
  struct done d;
  mrlog_future *f, *a;
  mrlog *log;
  uint64_t pos;

  memset(&d, 0, sizeof(d));
  vl_reset();
  p.visibility = visibility;
  p.fsync_interval_ms = interval_ms;
  log = vl_open(th_dir, &p);
  ck_assert_int_eq(th_create(log, "q"), 0);
  ck_assert_int_eq(th_sync(log), 0);
  f = mrlog_watch(log, "q", 0, on_done, &d);
  vl_hold(true);
  a = mrlog_append(log, "q", NULL, "x", 1, NULL, NULL);
  vl_wait_appends(log, 1);
  if (early) {
    ck_assert_int_eq(wait_watch(f, &d, &pos), 0);
    ck_assert_uint_eq(pos, 1);
    ck_assert_uint_eq(th_info(log, "q").durable_position, 0);
  } else {
    /* Applied, not durable: only the gate holds it back. */
    ck_assert(!mrlog_ready(f));
  }
  vl_hold(false);
  ck_assert_int_eq(th_wait(a, NULL), 0);
  if (!early) {
    ck_assert(!mrlog_ready(f) || interval_ms == 0);
    ck_assert_int_eq(th_sync(log), 0);
    ck_assert_int_eq(wait_watch(f, &d, &pos), 0);
    ck_assert_uint_eq(pos, 1);
  }
  th_close(log);
}

START_TEST(test_watch_durable)
{
  check_watch_visibility(MRLOG_VISIBLE_DURABLE, 0, false);
}
END_TEST

START_TEST(test_watch_durable_interval)
{
  check_watch_visibility(MRLOG_VISIBLE_DURABLE, 3600000, false);
}
END_TEST

START_TEST(test_watch_written)
{
  check_watch_visibility(MRLOG_VISIBLE_WRITTEN, 3600000, true);
}
END_TEST

/* Cancel racing with the completion: exactly one completion, and the
 * cancel's result says which won. */
struct race {
  mrlog *log;
  mrlog_future *f;
  pthread_barrier_t go;
  int cancel_rc;
};

static void *
canceller(void *arg)
{
  struct race *r = arg;

  pthread_barrier_wait(&r->go);
  r->cancel_rc = mrlog_cancel(r->f);
  return NULL;
}

START_TEST(test_cancel_vs_completion)
{
  mrlog_policy p = th_policy();
  struct race r;
  long i, n = th_scaled(300), won = 0;
  pthread_t t;

  p.visibility = MRLOG_VISIBLE_WRITTEN;
  r.log = th_open(th_dir, &p);
  ck_assert_int_eq(th_create(r.log, "q"), 0);
  for (i = 0; i < n; i++) {
    struct done d;
    uint64_t next = (uint64_t)i;
    mrlog_future *a;
    int rc;

    memset(&d, 0, sizeof(d));
    pthread_barrier_init(&r.go, NULL, 2);
    r.f = mrlog_watch(r.log, "q", next, on_done, &d);
    ck_assert_int_eq(pthread_create(&t, NULL, canceller, &r), 0);
    pthread_barrier_wait(&r.go);
    a = mrlog_append(r.log, "q", NULL, "x", 1, NULL, NULL);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&r.go);
    rc = wait_watch(r.f, &d, NULL);
    if (r.cancel_rc == 0) {
      ck_assert_int_eq(rc, MRLOG_ECANCELED);
      won++;
    } else {
      ck_assert_int_eq(r.cancel_rc, MRLOG_EINVAL);
      ck_assert_int_eq(rc, 0);
    }
    ck_assert_int_eq(th_wait(a, NULL), 0);
  }
  th_close(r.log);
  (void)won;
}
END_TEST

/* Watch racing with the queue's deletion: always MRLOG_ENOQUEUE, once. */
struct del_race {
  mrlog *log;
  pthread_barrier_t go;
  mrlog_future *f;
  struct done d;
};

static void *
watcher(void *arg)
{
  struct del_race *r = arg;

  pthread_barrier_wait(&r->go);
  r->f = mrlog_watch(r->log, "q", 0, on_done, &r->d);
  return NULL;
}

START_TEST(test_watch_vs_delete)
{
  struct del_race r;
  long i, n = th_scaled(300);
  pthread_t t;

  r.log = th_open(th_dir, NULL);
  for (i = 0; i < n; i++) {
    mrlog_future *del;

    memset(&r.d, 0, sizeof(r.d));
    ck_assert_int_eq(th_create(r.log, "q"), 0);
    pthread_barrier_init(&r.go, NULL, 2);
    ck_assert_int_eq(pthread_create(&t, NULL, watcher, &r), 0);
    pthread_barrier_wait(&r.go);
    del = mrlog_delete_queue(r.log, "q", NULL, NULL);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&r.go);
    ck_assert_int_eq(th_wait(del, NULL), 0);
    ck_assert_int_eq(wait_watch(r.f, &r.d, NULL), MRLOG_ENOQUEUE);
  }
  th_close(r.log);
}
END_TEST

/* Close while watches wait on many queues and another thread cancels
 * them: each completes once, ECANCELED exactly when its cancel won. */
#define CLOSE_WATCHES 200
struct close_race {
  mrlog_future *f[CLOSE_WATCHES];
  struct done d[CLOSE_WATCHES];
  int rc[CLOSE_WATCHES];
  pthread_barrier_t go;
};

static void *
cancel_all(void *arg)
{
  struct close_race *r = arg;
  int i;

  pthread_barrier_wait(&r->go);
  for (i = 0; i < CLOSE_WATCHES; i++)
    r->rc[i] = mrlog_cancel(r->f[i]);
  return NULL;
}

START_TEST(test_watch_vs_close)
{
  struct close_race *r = calloc(1, sizeof(*r));
  mrlog *log = th_open(th_dir, NULL);
  pthread_t t;
  char name[16];
  int i;

  ck_assert_ptr_nonnull(r);
  for (i = 0; i < CLOSE_WATCHES; i++) {
    snprintf(name, sizeof(name), "q%d", i);
    ck_assert_int_eq(th_create(log, name), 0);
    r->f[i] = mrlog_watch(log, name, 0, on_done, &r->d[i]);
  }
  pthread_barrier_init(&r->go, NULL, 2);
  ck_assert_int_eq(pthread_create(&t, NULL, cancel_all, r), 0);
  pthread_barrier_wait(&r->go);
  th_close(log);
  pthread_join(t, NULL);
  pthread_barrier_destroy(&r->go);
  for (i = 0; i < CLOSE_WATCHES; i++) {
    int rc = wait_watch(r->f[i], &r->d[i], NULL);
    if (r->rc[i] == 0)
      ck_assert_int_eq(rc, MRLOG_ECANCELED);
    else
      ck_assert_int_eq(rc, MRLOG_ECLOSED);
  }
  free(r);
}
END_TEST

/* Many idle watches on distinct queues, then each queue gets a record:
 * every watch completes once, with its queue's position. */
START_TEST(test_many_watches)
{
  long i, n = th_scaled(2000);
  mrlog *log = th_open(th_dir, NULL);
  struct done *d = calloc((size_t)n, sizeof(*d));
  mrlog_future **f = calloc((size_t)n, sizeof(*f));
  char name[32];

  ck_assert_ptr_nonnull(d);
  ck_assert_ptr_nonnull(f);
  for (i = 0; i < n; i++) {
    snprintf(name, sizeof(name), "q%ld", i);
    mrlog_forget(mrlog_create_queue(log, name, NULL, NULL));
  }
  ck_assert_int_eq(th_sync(log), 0);
  for (i = 0; i < n; i++) {
    snprintf(name, sizeof(name), "q%ld", i);
    f[i] = mrlog_watch(log, name, 0, on_done, &d[i]);
  }
  for (i = 0; i < n; i++) {
    snprintf(name, sizeof(name), "q%ld", i);
    mrlog_forget(mrlog_append(log, name, NULL, "x", 1, NULL, NULL));
  }
  for (i = 0; i < n; i++) {
    uint64_t pos;
    ck_assert_int_eq(wait_watch(f[i], &d[i], &pos), 0);
    ck_assert_uint_eq(pos, 1);
  }
  th_close(log);
  free(d);
  free(f);
}
END_TEST

Suite *
make_watch_suite(void)
{
  Suite *s = suite_create("watch");
  TCase *tc = tcase_create("watch");

  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, TH_TIMEOUT_SLOW);
  tcase_add_test(tc, test_watch_statuses);
  tcase_add_test(tc, test_cancel_statuses);
  tcase_add_test(tc, test_watch_delete);
  tcase_add_test(tc, test_watch_truncated);
  tcase_add_test(tc, test_cancel_dirty_delete);
  tcase_add_test(tc, test_watch_failure);
  tcase_add_test(tc, test_watch_durable);
  tcase_add_test(tc, test_watch_durable_interval);
  tcase_add_test(tc, test_watch_written);
  tcase_add_test(tc, test_cancel_vs_completion);
  tcase_add_test(tc, test_watch_vs_delete);
  tcase_add_test(tc, test_watch_vs_close);
  tcase_add_test(tc, test_many_watches);
  suite_add_tcase(s, tc);
  return s;
}

/*
 * quickstart.c -- mrlog in one page: open a log, create a queue, append
 * with a callback and with a waited future, read the records back,
 * truncate, print the figures and close.  Every status is checked; the
 * program exits 0 only if everything behaved as documented.
 *
 *   usage: quickstart DIR
 *   build: cc -std=c11 quickstart.c $(pkg-config --cflags --libs mrlog)
 *
 * The log in DIR persists: a second run reopens it, finds the queue
 * (MRLOG_EEXIST is fine) and appends after the records already there.
 */
#include <mrlog.h>

#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define QUEUE "events"

/* What the append callback reported.  The callback runs on a library
 * thread, so the fields are atomics. */
struct appended {
  atomic_bool ran;
  atomic_int status;
  atomic_uint_least64_t position;
};

/* The two records the range read must find, in order. */
struct expected {
  uint64_t position[2];
  const char *data[2];
  int seen;
};

static bool
fail(const char *what, int status)
{
  fprintf(stderr, "quickstart: %s: %s (%s)\n", what, mrlog_err_name(status),
          mrlog_strerror(status));
  return false;
}

static bool
wrong(const char *what)
{
  fprintf(stderr, "quickstart: %s\n", what);
  return false;
}

/* A completion callback: runs exactly once, on a library thread. */
static void
on_appended(void *arg, int status, uint64_t position)
{
  struct appended *a = arg;

  atomic_store(&a->status, status);
  atomic_store(&a->position, position);
  atomic_store(&a->ran, true); /* last: publishes the two stores above */
}

/* A range visitor: runs on the thread that called mrlog_range, with no
 * library lock held; data is valid only during the call.  Non-zero
 * stops the read and becomes mrlog_range's return value. */
static int
visit(void *arg, uint64_t position, const void *data, size_t len)
{
  struct expected *e = arg;

  if (e->seen >= 2 || position != e->position[e->seen] ||
      len != strlen(e->data[e->seen]) ||
      memcmp(data, e->data[e->seen], len) != 0)
    return 1;
  e->seen++;
  return 0;
}

static bool
run(mrlog *log)
{
  static struct appended first; /* zero: not run yet */
  struct expected expect;
  struct mrlog_queue_info info;
  struct mrlog_stats st;
  uint64_t first_pos, second_pos, reported;
  int rc;

  /* 1. A queue.  mrlog_wait blocks until the call completes, frees the
   *    future and returns the status. */
  rc = mrlog_wait(mrlog_create_queue(log, QUEUE, NULL, NULL), NULL);
  if (rc != 0 && rc != MRLOG_EEXIST)
    return fail("create_queue", rc);

  /* 2. An append with a callback.  The payload is copied before the call
   *    returns; the future is not needed, so it is given up at once (the
   *    callback still runs). */
  mrlog_forget(mrlog_append(log, QUEUE, NULL, "hello", 5, on_appended,
                            &first));

  /* 3. An append whose future we wait for.  With the default policy a
   *    status of 0 means the record is on stable storage. */
  rc = mrlog_wait(mrlog_append(log, QUEUE, NULL, "world", 5, NULL, NULL),
                  &second_pos);
  if (rc != 0)
    return fail("append (waited)", rc);

  /* One thread's calls complete in call order, so the first callback has
   * returned before the second future became ready. */
  if (!atomic_load(&first.ran))
    return wrong("the first append's callback has not run");
  rc = atomic_load(&first.status);
  if (rc != 0)
    return fail("append (callback)", rc);
  first_pos = atomic_load(&first.position);
  if (second_pos != first_pos + 1)
    return wrong("the two appends did not get consecutive positions");

  /* 4. A retry at an explicit position that is already taken writes
   *    nothing and reports MRLOG_DUPLICATE: appends can be idempotent. */
  rc = mrlog_wait(mrlog_append(log, QUEUE, &first_pos, "hello", 5, NULL,
                               NULL),
                  &reported);
  if (rc != MRLOG_DUPLICATE || reported != first_pos)
    return fail("append at a taken position", rc);

  /* 5. Read both records back, from RAM. */
  expect = (struct expected){ { first_pos, second_pos }, { "hello", "world" },
                              0 };
  rc = mrlog_range(log, QUEUE, first_pos, second_pos + 1, visit, &expect);
  if (rc < 0)
    return fail("range", rc);
  if (rc != 0 || expect.seen != 2)
    return wrong("range did not return the two records");

  /* 6. The first record is processed: truncate through it. */
  rc = mrlog_wait(mrlog_truncate(log, QUEUE, first_pos, NULL, NULL),
                  &reported);
  if (rc != 0)
    return fail("truncate", rc);
  rc = mrlog_queue_info(log, QUEUE, &info);
  if (rc != 0)
    return fail("queue_info", rc);
  if (info.records != 1 || info.first_position != second_pos ||
      info.next_position != second_pos + 1)
    return wrong("queue_info does not show the truncation");

  /* 7. The figures. */
  rc = mrlog_stats(log, &st);
  if (rc != 0)
    return fail("stats", rc);
  printf("queue %s: positions %" PRIu64 "..%" PRIu64 " written, first "
         "retained %" PRIu64 "\n",
         QUEUE, first_pos, second_pos, info.first_position);
  printf("stats: queues=%" PRIu64 " records=%" PRIu64 " appends=%" PRIu64
         " fsyncs=%" PRIu64 " segments=%" PRIu64 " disk=%" PRIu64
         "B memory=%" PRIu64 "B failed=%d\n",
         st.queues, st.records, st.appends, st.fsyncs, st.segment_files,
         st.disk_bytes, st.memory_bytes, st.failed);
  return true;
}

int
main(int argc, char **argv)
{
  mrlog_policy policy;
  mrlog *log;
  bool ok;
  int rc;

  if (argc != 2) {
    fprintf(stderr, "usage: quickstart DIR\n");
    return 2;
  }
  printf("mrlog library %s, header %d.%d.%d\n", mrlog_version_string(),
         MRLOG_VERSION_MAJOR, MRLOG_VERSION_MINOR, MRLOG_VERSION_PATCH);

  /* Defaults: acknowledge only after fdatasync (group commit). */
  mrlog_policy_init(&policy);
  rc = mrlog_open(argv[1], &policy, &log);
  if (rc != 0) {
    fail("open", rc);
    return 1;
  }
  ok = run(log);
  /* Close completes whatever is still pending, durably, and frees the
   * log; it returns the failure status if the log had failed. */
  rc = mrlog_close(log);
  if (rc != 0)
    ok = fail("close", rc);
  return ok ? 0 : 1;
}

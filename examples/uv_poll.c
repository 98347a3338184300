/*
 * uv_poll.c -- mrlog completions on a libuv event loop.
 *
 * The log is opened in poll mode (policy.completion_mode =
 * MRLOG_COMPLETE_ON_POLL): its callbacks are not run on a library thread
 * but queued, and the loop runs them on its own thread.  A uv_poll_t
 * watches mrlog_completion_fd(), which is readable exactly while
 * completions are queued; its callback calls mrlog_run_completions().  So
 * every mrlog callback below runs on the loop thread, like any other
 * libuv callback, and may touch the loop's state without a lock.
 *
 * The program appends RECORDS records to the queue "events", keeping
 * WINDOW appends in flight: each completion (a durable record) submits
 * the next append.  Once the last one completed, a mrlog_sync's
 * completion stops the watcher and the loop ends.
 *
 *   usage: uv_poll [DIR]   (default: a fresh directory under $TMPDIR,
 *                           removed at the end)
 * Exits 0 when every record completed once, in order, on the loop thread.
 */
#define _GNU_SOURCE 1
#include <mrlog.h>
#include <uv.h>

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RECORDS 1000
/* Appends in flight.  A callback counts as a library thread, where an
 * append that would wait (here: for one of the thread's 16 staging
 * batches) completes with MRLOG_EFULL instead; 8 never waits. */
#define WINDOW 8
#define RUN_MAX 64 /* completions run per wake-up of the loop */

struct app {
  uv_loop_t loop;
  uv_poll_t watcher;     /* on mrlog_completion_fd() */
  mrlog *log;
  pthread_t loop_thread; /* where every mrlog callback must run */
  int submitted;         /* appends made (not counting those that
                            completed with MRLOG_EFULL) */
  int calls;             /* mrlog_append calls, which name the records */
  int completed;         /* their callbacks run */
  uint64_t next_position; /* the position the next completion must have */
  int errors;            /* anything unexpected */
};

static void
check_thread(struct app *app)
{
  if (!pthread_equal(pthread_self(), app->loop_thread)) {
    fprintf(stderr, "a callback ran off the loop thread\n");
    app->errors++;
  }
}

static void append_next(struct app *app);

static int
remove_entry(const char *path, const struct stat *st, int type,
             struct FTW *ftw)
{
  (void)st;
  (void)type;
  (void)ftw;
  return remove(path);
}

/* The end: the last completion ran; stop watching the fd (mrlog_close
 * closes it) and let the loop end. */
static void
synced(void *arg, int status, uint64_t position)
{
  struct app *app = arg;

  (void)position;
  check_thread(app);
  if (status != 0) {
    fprintf(stderr, "sync: %s\n", mrlog_strerror(status));
    app->errors++;
  }
  printf("synced: %d records durable\n", app->completed);
  uv_poll_stop(&app->watcher);
  uv_close((uv_handle_t *)&app->watcher, NULL);
}

static void
appended(void *arg, int status, uint64_t position)
{
  struct app *app = arg;

  check_thread(app);
  if (status == MRLOG_EFULL) {
    /* The log pushed back: submit the record again (its completion, like
     * this one, comes back through the loop). */
    app->submitted--;
    append_next(app);
    return;
  }
  if (status != 0 || position != app->next_position) {
    fprintf(stderr, "append: status %s, position %llu (expected %llu)\n",
            mrlog_strerror(status), (unsigned long long)position,
            (unsigned long long)app->next_position);
    app->errors++;
  }
  app->next_position = position + 1;
  app->completed++;
  if (app->completed % 250 == 0)
    printf("completed %d: record at position %llu is durable\n",
           app->completed, (unsigned long long)position);
  if (app->submitted < RECORDS)
    append_next(app);
  else if (app->completed == RECORDS)
    mrlog_forget(mrlog_sync(app->log, synced, app));
}

static void
append_next(struct app *app)
{
  char text[32];
  int n = snprintf(text, sizeof(text), "event %d", app->calls++);

  app->submitted++;
  /* Called on the loop thread (from a callback): it never blocks there
   * (a full log would complete it with MRLOG_EFULL). */
  mrlog_forget(mrlog_append(app->log, "events", NULL, text, (size_t)n,
                            appended, app));
}

static void
created(void *arg, int status, uint64_t position)
{
  struct app *app = arg;
  int i;

  struct mrlog_queue_info info;

  (void)position;
  check_thread(app);
  /* A reused DIR may hold the queue already: go on after its records. */
  if (mrlog_queue_info(app->log, "events", &info) == 0)
    app->next_position = info.next_position;
  if (status != 0 && status != MRLOG_EEXIST) {
    fprintf(stderr, "create: %s\n", mrlog_strerror(status));
    app->errors++;
    uv_poll_stop(&app->watcher);
    uv_close((uv_handle_t *)&app->watcher, NULL);
    return;
  }
  for (i = 0; i < WINDOW && app->submitted < RECORDS; i++)
    append_next(app);
}

/* The fd is readable: completions are queued.  It stays readable while
 * any is left, so running RUN_MAX per wake-up keeps the loop fair. */
static void
on_completions(uv_poll_t *watcher, int status, int events)
{
  struct app *app = watcher->data;
  int n;

  (void)events;
  if (status < 0) {
    fprintf(stderr, "uv_poll: %s\n", uv_strerror(status));
    app->errors++;
    return;
  }
  n = mrlog_run_completions(app->log, RUN_MAX);
  if (n < 0) {
    fprintf(stderr, "mrlog_run_completions: %s\n", mrlog_strerror(n));
    app->errors++;
  }
}

int
main(int argc, char **argv)
{
  static struct app app;
  char tmpl[4096];
  const char *dir;
  mrlog_policy policy;
  int rc, fd;

  if (argc > 1) {
    dir = argv[1];
  } else {
    const char *base = getenv("TMPDIR");

    snprintf(tmpl, sizeof(tmpl), "%s/uv_poll.XXXXXX",
             base != NULL && *base != '\0' ? base : "/tmp");
    if (mkdtemp(tmpl) == NULL) {
      perror("mkdtemp");
      return 1;
    }
    dir = tmpl;
  }
  mrlog_policy_init(&policy);
  policy.completion_mode = MRLOG_COMPLETE_ON_POLL;
  rc = mrlog_open(dir, &policy, &app.log);
  if (rc != 0) {
    fprintf(stderr, "mrlog_open %s: %s\n", dir, mrlog_strerror(rc));
    return 1;
  }
  uv_loop_init(&app.loop);
  app.loop_thread = pthread_self();
  fd = mrlog_completion_fd(app.log); /* this thread polls from now on */
  uv_poll_init(&app.loop, &app.watcher, fd);
  app.watcher.data = &app;
  uv_poll_start(&app.watcher, UV_READABLE, on_completions);

  mrlog_forget(mrlog_create_queue(app.log, "events", created, &app));
  uv_run(&app.loop, UV_RUN_DEFAULT);

  /* The watcher is closed; nothing is queued any more. */
  rc = mrlog_close(app.log);
  uv_loop_close(&app.loop);
  if (rc != 0) {
    fprintf(stderr, "mrlog_close: %s\n", mrlog_strerror(rc));
    app.errors++;
  }
  if (app.completed != RECORDS)
    app.errors++;
  printf("%d records appended, %d completed on the loop thread, %d errors\n",
         app.submitted, app.completed, app.errors);
  if (argc <= 1 && nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS) != 0)
    app.errors++;
  return app.errors == 0 ? 0 : 1;
}

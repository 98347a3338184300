/*
 * readahead.c -- during recovery only, a helper thread opens and maps the
 * next segment file while the opener replays the current one.
 *
 * Mapping a file prefaults its pages (io->map), which was about a fifth
 * of a warm reopen; the replay itself is CPU work on the opener's core.
 * With one file read ahead on the other core the two overlap.
 *
 * Invariants:
 *  1. One request at a time: mrlog__readahead_start asks for one name;
 *     mrlog__readahead_take(name) returns that file's result (waiting for
 *     it) if it is the name asked for, else reads the file itself.  Only
 *     the opener's thread calls them, before any library thread starts.
 *  2. Reading a file ahead changes nothing on disk and nothing in the
 *     log: mrlog__read_file only opens, maps or reads, and closes.  The
 *     replay of earlier segments never touches a later segment's file
 *     (recovery.c), so the result is the one a read at take would give.
 *  3. It is an optimisation only: when the thread cannot be started, take
 *     reads synchronously.  stop joins the thread and releases a result
 *     no one took.
 */
#include "internal.h"
#include "future.h"
#include "readahead.h"
#include "segment.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct mrlog__readahead {
  pthread_t thread;
  pthread_mutex_t mutex;
  pthread_cond_t cond;      /* a request, a result, or stop */
  struct mrlog *log;
  char name[MRLOG_SEGMENT_NAME_LEN + 1];
  bool asked;               /* name is wanted (the thread reads it) */
  bool ready;               /* the result below is name's */
  bool stop;
  int rc;                   /* mrlog__read_file's result */
  uint8_t *data;
  size_t len;
  struct mrlog__mapslot *watch; /* see mrlog__read_file */
};

static void *
readahead_main(void *arg)
{
  struct mrlog__readahead *ra = arg;

  mrlog__mark_library_thread("mrlog-readahead");
  pthread_mutex_lock(&ra->mutex);
  for (;;) {
    while (!ra->stop && !ra->asked)
      pthread_cond_wait(&ra->cond, &ra->mutex);
    if (ra->stop)
      break;
    pthread_mutex_unlock(&ra->mutex);
    /* name and the result fields are the thread's while asked && !ready. */
    ra->rc = mrlog__read_file(ra->log, ra->name, &ra->data, &ra->len,
                              &ra->watch);
    pthread_mutex_lock(&ra->mutex);
    ra->asked = false;
    ra->ready = true;
    pthread_cond_broadcast(&ra->cond);
  }
  pthread_mutex_unlock(&ra->mutex);
  return NULL;
}

/* Waits until no read is in flight.  Caller holds ra->mutex. */
static void
wait_idle(struct mrlog__readahead *ra)
{
  while (ra->asked)
    pthread_cond_wait(&ra->cond, &ra->mutex);
}

static void
drop_result(struct mrlog__readahead *ra)
{
  if (ra->ready && ra->rc == 0)
    mrlog__release_file(ra->log, ra->data, ra->len, ra->watch);
  ra->ready = false;
}

void
mrlog__readahead_start(struct mrlog *log, const char *name)
{
  struct mrlog__readahead *ra = log->readahead;

  if (ra == NULL) {
    ra = calloc(1, sizeof(*ra));
    if (ra == NULL)
      return;
    ra->log = log;
    pthread_mutex_init(&ra->mutex, NULL);
    pthread_cond_init(&ra->cond, NULL);
    if (pthread_create(&ra->thread, NULL, readahead_main, ra) != 0) {
      pthread_mutex_destroy(&ra->mutex);
      pthread_cond_destroy(&ra->cond);
      free(ra);
      return;
    }
    log->readahead = ra;
  }
  pthread_mutex_lock(&ra->mutex);
  wait_idle(ra);
  drop_result(ra);
  memcpy(ra->name, name, sizeof(ra->name));
  ra->asked = true;
  pthread_cond_broadcast(&ra->cond);
  pthread_mutex_unlock(&ra->mutex);
}

int
mrlog__readahead_take(struct mrlog *log, const char *name, uint8_t **data,
                      size_t *len, struct mrlog__mapslot **watch)
{
  struct mrlog__readahead *ra = log->readahead;
  int rc;

  if (ra != NULL) {
    pthread_mutex_lock(&ra->mutex);
    wait_idle(ra);
    if (ra->ready && strcmp(ra->name, name) == 0) {
      ra->ready = false;
      rc = ra->rc;
      *data = ra->data;
      *len = ra->len;
      *watch = ra->watch;
      pthread_mutex_unlock(&ra->mutex);
      return rc;
    }
    pthread_mutex_unlock(&ra->mutex);
  }
  return mrlog__read_file(log, name, data, len, watch);
}

void
mrlog__readahead_stop(struct mrlog *log)
{
  struct mrlog__readahead *ra = log->readahead;

  if (ra == NULL)
    return;
  pthread_mutex_lock(&ra->mutex);
  wait_idle(ra);
  drop_result(ra);
  ra->stop = true;
  pthread_cond_broadcast(&ra->cond);
  pthread_mutex_unlock(&ra->mutex);
  pthread_join(ra->thread, NULL);
  pthread_mutex_destroy(&ra->mutex);
  pthread_cond_destroy(&ra->cond);
  free(ra);
  log->readahead = NULL;
}

/*
 * ingest_sessions.c -- the table of connected client ids.
 *
 * Why it exists: mrlog orders the calls of one thread, and orders a call
 * after any call that has already completed, but two connections of the
 * same client served by two workers would be two unordered threads.  So a
 * reconnecting client's "hello" waits here until its old connection has
 * seen every one of its records complete; the new connection's appends
 * are then made after those completed and take later positions.
 *
 * Invariants:
 *  1. An id appears at most once in ids[] (claim waits instead).
 *  2. count <= capacity: each worker holds at most one claim, and there
 *     are capacity workers.
 *  3. Every field is read and written under mutex only.
 */
#include "ingest_sessions.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

int
ingest_sessions_init(struct ingest_sessions *sessions, unsigned capacity)
{
  memset(sessions, 0, sizeof(*sessions));
  sessions->ids = calloc(capacity, sizeof(*sessions->ids));
  if (sessions->ids == NULL)
    return -1;
  sessions->capacity = capacity;
  pthread_mutex_init(&sessions->mutex, NULL);
  pthread_cond_init(&sessions->changed, NULL);
  return 0;
}

void
ingest_sessions_destroy(struct ingest_sessions *sessions)
{
  assert(sessions->count == 0);
  pthread_cond_destroy(&sessions->changed);
  pthread_mutex_destroy(&sessions->mutex);
  free(sessions->ids);
}

/* Index of id in ids[], or -1.  The caller holds mutex. */
static int
find(const struct ingest_sessions *sessions, const char *id)
{
  unsigned i;

  for (i = 0; i < sessions->count; i++)
    if (strcmp(sessions->ids[i], id) == 0)
      return (int)i;
  return -1;
}

int
ingest_sessions_claim(struct ingest_sessions *sessions, const char *id)
{
  int rc = -1;

  assert(strlen(id) <= INGEST_ID_MAX);
  pthread_mutex_lock(&sessions->mutex);
  while (!sessions->shutting_down && find(sessions, id) >= 0)
    pthread_cond_wait(&sessions->changed, &sessions->mutex);
  if (!sessions->shutting_down) {
    assert(sessions->count < sessions->capacity); /* invariant 2 */
    strcpy(sessions->ids[sessions->count++], id);
    rc = 0;
  }
  pthread_mutex_unlock(&sessions->mutex);
  return rc;
}

void
ingest_sessions_release(struct ingest_sessions *sessions, const char *id)
{
  int i;

  pthread_mutex_lock(&sessions->mutex);
  i = find(sessions, id);
  assert(i >= 0);
  /* Move the last id into the hole; the order of ids[] means nothing. */
  sessions->count--;
  if ((unsigned)i != sessions->count)
    memcpy(sessions->ids[i], sessions->ids[sessions->count],
           sizeof(sessions->ids[i]));
  pthread_cond_broadcast(&sessions->changed);
  pthread_mutex_unlock(&sessions->mutex);
}

void
ingest_sessions_shutdown(struct ingest_sessions *sessions)
{
  pthread_mutex_lock(&sessions->mutex);
  sessions->shutting_down = 1;
  pthread_cond_broadcast(&sessions->changed);
  pthread_mutex_unlock(&sessions->mutex);
}

/*
 * ingest_sessions.h -- which client ids are connected right now, so that a
 * client that reconnects continues its queue only after its previous
 * connection has finished.  Shared by every worker thread.
 */
#ifndef INGEST_SESSIONS_H
#define INGEST_SESSIONS_H

#include "ingest_protocol.h"

#include <pthread.h>

struct ingest_sessions {
  /* Guards everything below. */
  pthread_mutex_t mutex;
  /* Broadcast when an id is released or on shutdown. */
  pthread_cond_t changed;
  /* Claimed ids: ids[0 .. count-1].  At most one per worker, since each
   * worker serves one connection at a time. */
  char (*ids)[INGEST_ID_MAX + 1];
  /* Ids claimed now. */
  unsigned count;
  /* Room in ids (the number of workers). */
  unsigned capacity;
  /* Set once by ingest_sessions_shutdown; claims then fail. */
  int shutting_down;
};

/* capacity: the number of workers.  Returns 0 or -1 (out of memory). */
int ingest_sessions_init(struct ingest_sessions *sessions, unsigned capacity);
void ingest_sessions_destroy(struct ingest_sessions *sessions);

/*
 * Claims id for the calling connection, waiting while another connection
 * holds it (until that one has finished its in-flight records and
 * released it).  Returns 0, or -1 once the server is shutting down.
 * Any worker thread; blocks.
 */
int ingest_sessions_claim(struct ingest_sessions *sessions, const char *id);

/* Releases an id claimed by the calling connection.  Any worker thread. */
void ingest_sessions_release(struct ingest_sessions *sessions, const char *id);

/* Fails every waiting and future claim.  Any thread. */
void ingest_sessions_shutdown(struct ingest_sessions *sessions);

#endif /* INGEST_SESSIONS_H */

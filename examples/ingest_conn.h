/*
 * ingest_conn.h -- serving one client connection of the ingest server:
 * reading request lines, submitting them to mrlog, and writing the
 * replies back in request order.
 */
#ifndef INGEST_CONN_H
#define INGEST_CONN_H

#include "ingest_consumer.h"
#include "ingest_sessions.h"

#include <mrlog.h>

/* What every connection shares; owned by main, read-only while workers
 * run. */
struct ingest_shared {
  /* The open log. */
  mrlog *log;
  /* The table of connected client ids. */
  struct ingest_sessions *sessions;
  /* Read end of the stop pipe: it becomes readable (EOF) for everyone when
   * main closes the write end on SIGINT/SIGTERM. */
  int stop_fd;
  /* The consumer (--consume), or NULL. */
  struct ingest_consumer *consumer;
};

/*
 * Serves the accepted, non-blocking socket fd until the client is done or
 * the server stops, then closes it.  Returns only after every record and
 * ack submitted for this connection has completed, so nothing mrlog still
 * holds points into the connection.  Runs on (and blocks) the calling
 * worker thread.
 */
void ingest_conn_serve(const struct ingest_shared *shared, int fd);

#endif /* INGEST_CONN_H */

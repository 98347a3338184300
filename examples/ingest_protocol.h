/*
 * ingest_protocol.h -- the ingest server's line protocol: parsing request
 * lines and naming reply statuses.  No I/O and no threads here; the
 * protocol itself is described at the top of ingest_server.c.
 */
#ifndef INGEST_PROTOCOL_H
#define INGEST_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

/* The longest request line the server accepts, '\n' excluded.  A record
 * of up to half this size always fits, however many bytes need escaping. */
#define INGEST_LINE_MAX (1024u * 1024u)

/* A client id: 1 to INGEST_ID_MAX bytes of [A-Za-z0-9._-]. */
#define INGEST_ID_MAX 64u

/* A reply status that is not one of mrlog's: the line was malformed, came
 * out of turn (a record before hello, a second hello) or was too long.  It
 * lies outside mrlog's status range so the two can never be confused. */
#define INGEST_EPROTOCOL (-1000)

enum ingest_line_kind {
  INGEST_LINE_HELLO, /* "hello <client-id>" */
  INGEST_LINE_REC,   /* "rec <escaped payload>" */
  INGEST_LINE_ACK,   /* "ack <position>" */
  INGEST_LINE_METRICS, /* "METRICS" (or "metrics"): the log's metrics */
  INGEST_LINE_CONSUMED, /* "consumed": the consumer's committed position */
  INGEST_LINE_BAD    /* anything else */
};

struct ingest_line {
  enum ingest_line_kind kind;
  /* HELLO: the client id (NUL-terminated); REC: the unescaped payload
   * (not terminated, may hold any byte).  Points into the parsed line. */
  const char *arg;
  /* Bytes at arg (HELLO: the id's length, REC: the payload's). */
  size_t arg_len;
  /* ACK: the position to truncate up to (inclusive). */
  uint64_t position;
};

/*
 * Parses one request line of len bytes (without its '\n').  The line is
 * modified in place: a record's payload is unescaped where it lies (it
 * never grows) and a hello's id is NUL-terminated, so line must have room
 * for one byte past len.  out: OUT.  Returns out->kind.
 */
enum ingest_line_kind ingest_parse_line(char *line, size_t len,
                                        struct ingest_line *out);

/* The name a reply gives a status: mrlog_err_name's for mrlog statuses,
 * "PROTOCOL" for INGEST_EPROTOCOL.  Static storage. */
const char *ingest_status_name(int status);

#endif /* INGEST_PROTOCOL_H */

/*
 * link.h -- one AMQP connection with one channel in confirm mode, as the
 * mirror's thread uses it (link.c).  Not thread safe: one owner thread.
 */
#ifndef MRLOG_MIRROR_LINK_H
#define MRLOG_MIRROR_LINK_H

#include <amqp.h>
#include <stddef.h>
#include <stdint.h>

/* One broker of the URI list. */
struct mrlog__uri {
  char *text;       /* owned copy that the fields below point into */
  char *host;
  int port;
  char *user;
  char *password;
  char *vhost;
  char display[128]; /* "host:port", no credentials */
};

/* Parses "uri[,uri...]".  Returns 0 with *out (owned; free with
 * mrlog__uris_free) and *count, or -1 for an empty list, a malformed URI
 * or no memory. */
int mrlog__uris_parse(const char *list, struct mrlog__uri **out,
                      size_t *count);
void mrlog__uris_free(struct mrlog__uri *uris, size_t count);

struct mrlog__link {
  amqp_connection_state_t conn; /* NULL when closed */
  uint64_t next_tag;            /* delivery tag of the next publish */
  int error;                    /* the last failure's MRLOG_E* code */
  char error_text[256];         /* and what the broker or system said */
};

/* Events read from the broker. */
enum mrlog__link_event_kind {
  MRLOG_LINK_ACK = 1,
  MRLOG_LINK_NACK = 2,
  MRLOG_LINK_RETURN = 3
};

struct mrlog__link_event {
  int kind;           /* enum mrlog__link_event_kind */
  uint64_t tag;       /* ACK, NACK: delivery tag */
  int multiple;       /* ACK, NACK: every tag up to tag */
  char routing_key[1025]; /* RETURN: the routing key (the log queue) */
};

/* Connects, logs in, opens channel 1 and puts it in confirm mode.  Returns
 * 0, or a negative MRLOG_E* code with link->error_text set. */
int mrlog__link_open(struct mrlog__link *link, const struct mrlog__uri *uri,
                     unsigned heartbeat_s, unsigned timeout_ms);
/* Declares the durable direct exchange, the durable quorum queue and the
 * binding with routing key.  0 or a negative code (the link is then
 * unusable: close it). */
int mrlog__link_declare(struct mrlog__link *link, const char *exchange,
                        const char *queue, const char *routing_key);
/* Declares the durable quorum queue `catalog` and publishes name to it
 * through the default exchange (persistent; its confirm is not waited
 * for: it takes a delivery tag that no flight has).  0 or a negative
 * code. */
int mrlog__link_catalog(struct mrlog__link *link, const char *catalog,
                        const char *name);
/* Reads every name in the catalog queue without taking them: consumes
 * with manual acks, calls visit(arg, name) for each, stops once none
 * came for 300 ms; the caller then closes the link, which gives them
 * back.  0 or a negative code. */
int mrlog__link_read_catalog(struct mrlog__link *link, const char *catalog,
                             void (*visit)(void *arg, const char *name),
                             void *arg);
/* Publishes a persistent, mandatory message; *tag (OUT) is its delivery
 * tag.  0 or a negative code. */
int mrlog__link_publish(struct mrlog__link *link, const char *exchange,
                        const char *routing_key, const char *message_id,
                        uint64_t from, uint64_t first, uint32_t count,
                        uint64_t unix_ms,
                        const void *body, size_t len, uint64_t *tag);
/* Publishes a delete marker (docs/FORMAT.md 15.5) the same way; body is
 * the marker's encoding.  0 or a negative code. */
int mrlog__link_publish_delete(struct mrlog__link *link,
                               const char *exchange, const char *routing_key,
                               const char *message_id, uint64_t unix_ms,
                               const void *body, size_t len, uint64_t *tag);
/* Publishes a truncate marker (docs/FORMAT.md 15.6) the same way, with
 * header mrlog-first = position.  0 or a negative code. */
int mrlog__link_publish_truncate(struct mrlog__link *link,
                                 const char *exchange,
                                 const char *routing_key,
                                 const char *message_id, uint64_t position,
                                 uint64_t unix_ms, const void *body,
                                 size_t len, uint64_t *tag);
/* The socket to poll for input, -1 when closed. */
int mrlog__link_fd(const struct mrlog__link *link);
/* True when frames are buffered already (poll would not see them). */
int mrlog__link_buffered(const struct mrlog__link *link);
/* Reads one event without blocking.  1 with *ev, 0 when none is ready, or
 * a negative code (connection or channel lost). */
int mrlog__link_next(struct mrlog__link *link, struct mrlog__link_event *ev);
/* Closes and frees the connection; graceful: with connection.close (only
 * on a healthy link: it waits for the broker's reply). */
void mrlog__link_close(struct mrlog__link *link, int graceful);

#endif

/*
 * mrlog_mirror.h -- ships an mrlog log's durable records to a RabbitMQ
 * cluster of quorum queues (libmrlog_mirror; pkg-config mrlog_mirror).
 *
 * A mirror is one thread per log that owns its AMQP connection.  It reads
 * the log only through the public API of mrlog.h (queue info, cursors,
 * watches, committed positions) and shares no lock with the append path.
 * docs/REPLICATION.md describes the topology and the guarantees;
 * docs/FORMAT.md section "Mirrored messages" specifies the messages.
 *
 * WHAT IS SHIPPED.  For every queue of the log whose name matches
 * config.queues, the records below the queue's durable_position
 * (mrlog_queue_info), in position order, several per message.  Each
 * message is persistent, published with the mandatory flag on a channel
 * in confirm mode to config.exchange with the queue's name as routing key;
 * its message_id is "<queue>:<first>-<last>" (decimal positions).  When
 * the broker confirms every message of a queue up to one holding position
 * p, the mirror commits p + 1 under config.consumer (mrlog_commit), so a
 * log opened with truncate_on_commit drops what the cluster holds.  A
 * nack, a returned message or a lost connection makes the mirror resend
 * from the last confirmed position: delivery is at least once, and a
 * repeat carries the same positions and message id.
 *
 * THREADS.  Every call may be made from any thread except a library
 * thread of the log (a completion callback).  config.log_fn runs on the
 * mirror's thread.  The log must stay open until mrlog_mirror_stop has
 * returned.
 */
#ifndef MRLOG_MIRROR_H
#define MRLOG_MIRROR_H

#include <mrlog.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mrlog_mirror mrlog_mirror;

/* Configuration.  Start from mrlog_mirror_config_init(), then set uris. */
struct mrlog_mirror_config {
  /* The brokers, "amqp://user:password@host:port/vhost" separated by
   * commas, tried in turn.  Required.  Copied by mrlog_mirror_start. */
  const char *uris;
  /* fnmatch(3) glob of the log queues to ship; NULL: "*" (all).  Queues
   * created while the mirror runs are found within refresh_ms. */
  const char *queues;
  /* The durable direct exchange the messages go to; NULL: "mrlog". */
  const char *exchange;
  /* RabbitMQ queue of log queue Q: prefix + Q; NULL: "mrlog.".  Each is
   * declared durable with x-queue-type=quorum and bound to the exchange
   * with routing key Q. */
  const char *queue_prefix;
  /* Consumer name of the committed positions; NULL: "mirror". */
  const char *consumer;
  /* At most this many records per message (default 256), and at most
   * message_bytes of body (default 1 MiB; a larger record goes alone). */
  unsigned records_per_message;
  size_t message_bytes;
  /* Messages published and not yet confirmed, all queues (default 64). */
  unsigned messages_in_flight;
  /* Wait before the next connection attempt: backoff_min_ms (default
   * 100), doubling after each failure up to backoff_max_ms (default
   * 5000). */
  unsigned backoff_min_ms;
  unsigned backoff_max_ms;
  /* How often the log's queue list is read again (default 500 ms). */
  unsigned refresh_ms;
  /* AMQP heartbeat in seconds (default 10; 0: none). */
  unsigned heartbeat_s;
  /* Diagnostics (connections, errors), on the mirror's thread; NULL:
   * none.  The message is valid during the call only. */
  mrlog_log_fn log_fn;
  void *log_arg;
  /* Zero (mrlog_mirror_config_init): room for settings of later
   * versions; a non-zero word is refused with MRLOG_EINVAL. */
  uint64_t reserved[8];
};

/* Fills *config with the defaults (uris NULL). */
void mrlog_mirror_config_init(struct mrlog_mirror_config *config);

/* What a mirror has done, for mrlog_mirror_stats. */
struct mrlog_mirror_stats {
  int connected;                 /* 1 while a connection is open */
  char node[128];                /* "host:port" of the broker in use, or
                                    of the last one tried */
  uint64_t messages_published;   /* messages sent, resends included */
  uint64_t records_published;    /* their records */
  uint64_t messages_confirmed;   /* messages the broker confirmed */
  uint64_t records_confirmed;    /* their records */
  uint64_t nacks;                /* messages the broker nacked */
  uint64_t returns;              /* messages returned as unroutable */
  uint64_t connects;             /* connections opened */
  uint64_t reconnects;           /* connections lost or failed since */
  uint64_t queues;               /* log queues being shipped */
  uint64_t lag;                  /* positions durable in the log and not
                                    yet confirmed, summed over queues */
  /* A replica's (mrlog_replica_start): */
  uint64_t deliveries;           /* messages received, redeliveries
                                    included */
  uint64_t records_applied;      /* records appended at their positions */
  uint64_t records_duplicate;    /* records already present (acked) */
  uint64_t rejected;             /* malformed messages rejected */
  int last_error;                /* 0, or an MRLOG_E* code: EACCES
                                    (refused login, missing vhost or
                                    permission), EEXIST (the RabbitMQ
                                    queue exists with other arguments),
                                    EIO (network or broker), ETIMEDOUT */
  char last_error_text[256];     /* what the broker or system said */
  uint64_t deletes;              /* delete markers a mirror had confirmed,
                                    or a replica applied (docs/FORMAT.md
                                    15.5) */
  uint64_t out_of_order;         /* replica: messages dropped because an
                                    earlier one of their queue's stream is
                                    missing (it comes again, then they do:
                                    docs/REPLICATION.md) */
  uint64_t truncations;          /* truncate markers a mirror had
                                    confirmed, or a replica applied
                                    (docs/FORMAT.md 15.6) */
  uint64_t reserved[7];          /* zero; room for later fields */
};

/* Starts a mirror of log.  Returns 0 and *out (OUT; the caller's until
 * mrlog_mirror_stop), MRLOG_EINVAL (NULL argument, no or malformed URI,
 * zero limits, a non-zero reserved word) or MRLOG_ENOMEM.  Connection
 * failures are not errors here: the mirror retries and reports them in
 * its stats. */
int mrlog_mirror_start(mrlog *log, const struct mrlog_mirror_config *config,
                       mrlog_mirror **out);

/* Copies the mirror's stats into *out (OUT).  Returns 0 or MRLOG_EINVAL. */
int mrlog_mirror_stats(mrlog_mirror *mirror, struct mrlog_mirror_stats *out);

/* The mirror's view of one queue: next_confirmed (every record below it is
 * confirmed and committed), durable (the queue's durable_position when
 * last read).  Returns 0, MRLOG_ENOQUEUE if the mirror does not ship that
 * queue, or MRLOG_EINVAL. */
int mrlog_mirror_queue(mrlog_mirror *mirror, const char *queue,
                       uint64_t *next_confirmed, uint64_t *durable);

/* Starts a replica of the mirrored queues into log: one thread that
 * finds the mirrored queues in the catalog queue (config.exchange +
 * "-catalog", which every mirror fills) within 10 x refresh_ms, keeps those
 * matching config.queues, consumes their RabbitMQ queues (manual acks, at
 * most messages_in_flight unacknowledged) and appends each record to the
 * same-named queue of log, created as needed, at its original position.
 * It acks a message once its records are durable; records already there
 * complete with MRLOG_DUPLICATE and are acked too; a malformed message is
 * rejected without requeueing, counted in stats.rejected and reported.
 * Returns as mrlog_mirror_start; stop it with mrlog_mirror_stop (which
 * returns 0 for a replica: what it has not acked is delivered again). */
int mrlog_replica_start(mrlog *log, const struct mrlog_mirror_config *config,
                        mrlog_mirror **out);

/* Stops the mirror: ships what is durable when it is called, waits up to
 * timeout_ms for the broker's confirms, then closes the connection, joins
 * the thread and frees the mirror.  Returns 0 when everything durable at
 * the call was confirmed and committed, MRLOG_ETIMEDOUT when not (the
 * mirror is freed all the same), MRLOG_EINVAL for NULL. */
int mrlog_mirror_stop(mrlog_mirror *mirror, unsigned timeout_ms);

#ifdef __cplusplus
}
#endif
#endif /* MRLOG_MIRROR_H */

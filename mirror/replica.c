/*
 * replica.c -- mrlog_replica_start: the mirrored RabbitMQ queues applied to
 * a local log at their original positions.
 *
 * DESIGN.  One thread ("mrlog-replica") owns a consuming link (channel 1,
 * manual acks, prefetch messages_in_flight) and the list of mirrored
 * queues it found in the catalog queue.  Each pass it re-reads the catalog
 * when due (every 10 x refresh_ms, on a short-lived second link, so the
 * names stay in it for other replicas), starts consuming the new queues that match the glob,
 * and takes at most one delivery (waiting up to 200 ms: stop is seen
 * within that, and an idle replica costs five wake-ups a second).
 *
 * Invariants:
 *   1. A delivery is acked only after every record of it is in the log at
 *      its own position and durable: appended now (status 0) or already
 *      there (MRLOG_DUPLICATE, which the explicit-position append gives
 *      for any position below the queue's next one).
 *   2. A body that breaks docs/FORMAT.md 15.2, or names another queue than
 *      its routing key, is rejected without requeueing and never applied.
 *   3. A failed append (a full or failed log) acks nothing: the link is
 *      dropped, so the broker delivers the message again after the
 *      backoff.
 *   4. A delete marker (docs/FORMAT.md 15.5) deletes the local queue of
 *      its name, if it exists, and is acked only once the deletion is
 *      durable: a replica that crashes before the ack gets the marker
 *      again and deletes again (nothing, or the records of the next
 *      incarnation that it had applied after the marker, which follow it
 *      again in the RabbitMQ queue).  It never deletes a queue whose
 *      records arrived after it unless they come again after it.
 *   5. A message whose header mrlog-from is above the local queue's next
 *      position (0 when the queue is missing) is acked and dropped
 *      unapplied (stats.out_of_order): an earlier message of its stream
 *      was nacked or lost while it got through, and the mirror resends
 *      both, in order (ship.c, invariant 7).  Applying it would leave a
 *      gap that the resent earlier message could no longer fill.
 *   6. A truncate marker (docs/FORMAT.md 15.6) at position T truncates
 *      the local queue of its name below T, creating it if it is missing
 *      (its next position becomes at least T, as the source's is), and is
 *      acked only once that is durable.  It carries no mrlog-from: it
 *      touches no record at or above T, and the mirror sends it only
 *      once the source's truncation is durable, so it applies whenever it
 *      comes; applying it again changes nothing.
 */
#include <fnmatch.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror.h"

#define CONSUME_WAIT_MS 200
/* The catalog is read every CATALOG_EVERY x refresh_ms: each read opens a
 * connection and waits 300 ms for the last name. */
#define CATALOG_EVERY 10

struct rq {
  char *name;     /* log queue name */
  int consuming;  /* basic.consume sent on the current link */
};

struct replica {
  struct rq *rqs;
  size_t n;
};

static void add_name(void *arg, const char *name) {
  void **pair = arg;
  struct mrlog_mirror *m = pair[0];
  struct replica *r = pair[1];
  struct rq *grown;

  if (fnmatch(m->glob, name, 0) != 0 || strlen(name) > MRLOG_QUEUE_NAME_MAX)
    return;
  for (size_t i = 0; i < r->n; i++)
    if (strcmp(r->rqs[i].name, name) == 0) return;
  grown = realloc(r->rqs, (r->n + 1) * sizeof(*r->rqs));
  if (grown == NULL) return;
  r->rqs = grown;
  r->rqs[r->n].name = strdup(name);
  r->rqs[r->n].consuming = 0;
  if (r->rqs[r->n].name != NULL) r->n++;
  pthread_mutex_lock(&m->stats_lock);
  m->stats.queues = r->n;
  pthread_mutex_unlock(&m->stats_lock);
}

static int read_catalog(struct mrlog_mirror *m, struct replica *r) {
  struct mrlog__link tmp = {0};
  void *pair[2] = {m, r};
  int rc;

  rc = mrlog__link_open(&tmp, &m->uris[m->cur_uri], 0, 5000);
  if (rc == 0) rc = mrlog__link_read_catalog(&tmp, m->catalog, add_name, pair);
  if (rc != 0) mrlog__mirror_error(m, tmp.error, tmp.error_text);
  mrlog__link_close(&tmp, rc == 0);
  return rc;
}

static int reject(struct mrlog_mirror *m, uint64_t tag, const char *why) {
  char text[200];

  snprintf(text, sizeof(text), "malformed message rejected: %s", why);
  mrlog__mirror_error(m, MRLOG_EINVAL, text);
  mrlog__mirror_say(m, MRLOG_LOG_WARN, "replica: %s", text);
  pthread_mutex_lock(&m->stats_lock);
  m->stats.rejected++;
  pthread_mutex_unlock(&m->stats_lock);
  return amqp_basic_reject(m->link.conn, 1, tag, 0) == 0 ? 0 : -1;
}

/* The header mrlog-from, 0 when absent. */
static uint64_t header_from(const amqp_basic_properties_t *p) {
  if (!(p->_flags & AMQP_BASIC_HEADERS_FLAG)) return 0;
  for (int i = 0; i < p->headers.num_entries; i++) {
    const amqp_table_entry_t *e = &p->headers.entries[i];
    if (e->key.len == 10 && memcmp(e->key.bytes, "mrlog-from", 10) == 0 &&
        e->value.kind == AMQP_FIELD_KIND_I64 && e->value.value.i64 >= 0)
      return (uint64_t)e->value.value.i64;
  }
  return 0;
}

/* Applies a delete marker (invariant 4) or a truncate marker (invariant
 * 6).  0, or -1 to drop the link. */
static int apply_marker(struct mrlog_mirror *m, amqp_envelope_t *env,
                        int truncate) {
  char name[MRLOG_QUEUE_NAME_MAX + 1];
  const char *why = "", *queue;
  const void *body = env->message.body.bytes;
  size_t len, body_len = env->message.body.len;
  uint64_t at = 0;
  int rc, changed;

  rc = truncate ? mrlog__body_parse_truncate(body, body_len, &queue, &len,
                                             &at, &why)
                : mrlog__body_parse_delete(body, body_len, &queue, &len,
                                           &why);
  if (rc != 0) return reject(m, env->delivery_tag, why);
  if (len > MRLOG_QUEUE_NAME_MAX || len != env->routing_key.len ||
      memcmp(queue, env->routing_key.bytes, len) != 0)
    return reject(m, env->delivery_tag, "queue name differs from its key");
  memcpy(name, queue, len);
  name[len] = '\0';
  if (truncate) {
    rc = 0;
    if (!mrlog_queue_exists(m->log, name)) /* as apply() creates it */
      rc = mrlog_wait(mrlog_create_queue(m->log, name, NULL, NULL), NULL);
    if (rc == 0 || rc == MRLOG_EEXIST)
      rc = mrlog_wait(mrlog_truncate(m->log, name, at - 1, NULL, NULL),
                      NULL);
  } else {
    rc = mrlog_wait(mrlog_delete_queue(m->log, name, NULL, NULL), NULL);
  }
  changed = rc == 0;
  if (!truncate && rc == MRLOG_ENOQUEUE) rc = 0; /* nothing to delete */
  if (rc != 0) {
    mrlog__mirror_error(m, rc, truncate ? "cannot truncate the local queue"
                                        : "cannot delete the local queue");
    return -1;
  }
  if (changed) {
    rc = mrlog_wait(mrlog_sync(m->log, NULL, NULL), NULL);
    if (rc != 0) {
      mrlog__mirror_error(m, rc, "sync failed");
      return -1;
    }
    if (!truncate)
      mrlog__mirror_say(m, MRLOG_LOG_INFO, "replica: queue %s deleted", name);
  }
  if (amqp_basic_ack(m->link.conn, 1, env->delivery_tag, 0) != 0) return -1;
  pthread_mutex_lock(&m->stats_lock);
  if (truncate) m->stats.truncations++;
  else m->stats.deletes++;
  m->stats.messages_confirmed++;
  pthread_mutex_unlock(&m->stats_lock);
  return 0;
}

/* Applies one delivery (invariants 1 to 6).  0, or -1 to drop the link. */
static int apply(struct mrlog_mirror *m, amqp_envelope_t *env) {
  struct mrlog__body_view v;
  const char *why = "";
  char name[MRLOG_QUEUE_NAME_MAX + 1];
  const unsigned char *cur;
  mrlog_future **futs;
  struct mrlog_queue_info info;
  uint64_t pos, ms, applied = 0, dup = 0, from;
  const void *data;
  uint32_t len, i = 0;
  int rc, bad = 0;

  pthread_mutex_lock(&m->stats_lock);
  m->stats.deliveries++;
  pthread_mutex_unlock(&m->stats_lock);
  if (mrlog__body_is_delete(env->message.body.bytes, env->message.body.len))
    return apply_marker(m, env, 0);
  if (mrlog__body_is_truncate(env->message.body.bytes,
                              env->message.body.len))
    return apply_marker(m, env, 1);
  if (mrlog__body_parse(env->message.body.bytes, env->message.body.len, &v,
                        &why) != 0)
    return reject(m, env->delivery_tag, why);
  from = header_from(&env->message.properties);
  if (v.queue_len > MRLOG_QUEUE_NAME_MAX ||
      v.queue_len != env->routing_key.len ||
      memcmp(v.queue, env->routing_key.bytes, v.queue_len) != 0)
    return reject(m, env->delivery_tag, "queue name differs from its key");
  memcpy(name, v.queue, v.queue_len);
  name[v.queue_len] = '\0';
  /* Invariant 5: an earlier message of the stream is missing. */
  if (mrlog_queue_info(m->log, name, &info) != 0) info.next_position = 0;
  if (from > info.next_position) {
    if (amqp_basic_ack(m->link.conn, 1, env->delivery_tag, 0) != 0)
      return -1;
    pthread_mutex_lock(&m->stats_lock);
    m->stats.out_of_order++;
    pthread_mutex_unlock(&m->stats_lock);
    return 0;
  }
  if (!mrlog_queue_exists(m->log, name)) {
    rc = mrlog_wait(mrlog_create_queue(m->log, name, NULL, NULL), NULL);
    if (rc != 0 && rc != MRLOG_EEXIST) {
      mrlog__mirror_error(m, rc, "cannot create the local queue");
      return -1;
    }
  }
  futs = calloc(v.count, sizeof(*futs));
  if (futs == NULL) return -1;
  cur = v.records;
  while (mrlog__body_next(&v, &cur, &pos, &ms, &data, &len))
    futs[i++] = mrlog_append(m->log, name, &pos, data, len, NULL, NULL);
  for (i = 0; i < v.count; i++) {
    rc = mrlog_wait(futs[i], NULL);
    if (rc == 0) applied++;
    else if (rc == MRLOG_DUPLICATE) dup++;
    else if (!bad) {
      bad = 1;
      mrlog__mirror_error(m, rc, "append failed; the message is redelivered");
    }
  }
  free(futs);
  if (bad) return -1;
  /* Acknowledged is durable unless the log acknowledges before its
   * fdatasync (fsync_interval_ms): then a sync makes it so. */
  if (mrlog_queue_info(m->log, name, &info) != 0 ||
      info.durable_position <= v.last) {
    rc = mrlog_wait(mrlog_sync(m->log, NULL, NULL), NULL);
    if (rc != 0) {
      mrlog__mirror_error(m, rc, "sync failed");
      return -1;
    }
  }
  if (amqp_basic_ack(m->link.conn, 1, env->delivery_tag, 0) != 0) return -1;
  pthread_mutex_lock(&m->stats_lock);
  m->stats.records_applied += applied;
  m->stats.records_duplicate += dup;
  m->stats.messages_confirmed++;
  m->stats.records_confirmed += applied + dup;
  pthread_mutex_unlock(&m->stats_lock);
  return 0;
}

/* Starts consuming the queues not yet consumed on this link. */
static int consume_new(struct mrlog_mirror *m, struct replica *r) {
  char rq[MRLOG_QUEUE_NAME_MAX + 256];
  amqp_rpc_reply_t reply;

  for (size_t i = 0; i < r->n; i++) {
    if (r->rqs[i].consuming) continue;
    snprintf(rq, sizeof(rq), "%s%s", m->prefix, r->rqs[i].name);
    amqp_basic_consume(m->link.conn, 1, amqp_cstring_bytes(rq),
                       amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    reply = amqp_get_rpc_reply(m->link.conn);
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
      snprintf(m->link.error_text, sizeof(m->link.error_text),
               "basic.consume %.200s failed", rq);
      m->link.error = MRLOG_EIO;
      return -1;
    }
    r->rqs[i].consuming = 1;
  }
  return 0;
}

/* One delivery or a timeout.  0, or -1 when the link failed. */
static int take_one(struct mrlog_mirror *m) {
  struct timeval tv = {0, CONSUME_WAIT_MS * 1000};
  amqp_envelope_t env;
  amqp_rpc_reply_t r;
  amqp_frame_t frame;
  int rc;

  amqp_maybe_release_buffers(m->link.conn);
  r = amqp_consume_message(m->link.conn, &env, &tv, 0);
  if (r.reply_type == AMQP_RESPONSE_NORMAL) {
    rc = apply(m, &env);
    amqp_destroy_envelope(&env);
    return rc;
  }
  if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
      r.library_error == AMQP_STATUS_TIMEOUT)
    return 0;
  if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
      r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
    /* Not a delivery: a close, or something harmless to skip. */
    struct timeval now = {0, 0};
    if (amqp_simple_wait_frame_noblock(m->link.conn, &frame, &now) !=
        AMQP_STATUS_OK)
      return 0;
    if (frame.frame_type == AMQP_FRAME_METHOD &&
        (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
         frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD)) {
      snprintf(m->link.error_text, sizeof(m->link.error_text),
               "the broker closed the consuming channel");
      m->link.error = MRLOG_EIO;
      return -1;
    }
    return 0;
  }
  snprintf(m->link.error_text, sizeof(m->link.error_text),
           "consume: %s",
           r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
               ? amqp_error_string2(r.library_error)
               : "the broker closed the connection");
  m->link.error = MRLOG_EIO;
  return -1;
}

static void *run_replica(void *arg) {
  struct mrlog_mirror *m = arg;
  struct replica r = {NULL, 0};
  uint64_t next_connect = 0, next_refresh = 0, backoff = m->backoff_min_ms;

  m->is_replica = 1;
  pthread_setname_np(pthread_self(), "mrlog-replica");
  while (!atomic_load(&m->stopping)) {
    uint64_t now = mrlog__mirror_now_ms();

    if (m->link.conn == NULL) {
      if (now < next_connect) {
        uint64_t wait = next_connect - now;
        struct pollfd pfd = {m->wake_fd, POLLIN, 0};
        poll(&pfd, 1, (int)(wait > 1000 ? 1000 : wait));
        continue;
      }
      if (mrlog__mirror_connect(m) != 0 ||
          amqp_basic_qos(m->link.conn, 1, 0,
                         (uint16_t)(m->messages_in_flight > 65535
                                        ? 65535
                                        : m->messages_in_flight),
                         0) == NULL) {
        if (m->link.conn != NULL) mrlog__mirror_link_lost(m);
        next_connect = now + backoff;
        backoff = backoff * 2 > m->backoff_max_ms ? m->backoff_max_ms
                                                  : backoff * 2;
        continue;
      }
      for (size_t i = 0; i < r.n; i++) r.rqs[i].consuming = 0;
      next_refresh = 0;
    }
    if (now >= next_refresh) {
      read_catalog(m, &r);
      next_refresh = now + (uint64_t)m->refresh_ms * CATALOG_EVERY;
    }
    if (consume_new(m, &r) != 0 || take_one(m) != 0) {
      mrlog__mirror_link_lost(m);
      next_connect = mrlog__mirror_now_ms() + backoff;
      backoff = backoff * 2 > m->backoff_max_ms ? m->backoff_max_ms
                                                : backoff * 2;
      continue;
    }
    backoff = m->backoff_min_ms;
    if (r.n == 0) {
      /* Nothing to consume yet: sleep until the catalog is due. */
      struct pollfd pfd = {m->wake_fd, POLLIN, 0};
      uint64_t wait = next_refresh > now ? next_refresh - now : 0;
      poll(&pfd, 1, (int)(wait > 1000 ? 1000 : wait));
    }
  }
  /* Unacked deliveries go back to their queues with the connection. */
  mrlog__link_close(&m->link, m->link.conn != NULL);
  for (size_t i = 0; i < r.n; i++) free(r.rqs[i].name);
  free(r.rqs);
  return NULL;
}

int mrlog_replica_start(mrlog *log, const struct mrlog_mirror_config *config,
                        mrlog_mirror **out) {
  return mrlog__mirror_create(log, config, run_replica, out);
}

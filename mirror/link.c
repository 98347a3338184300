/*
 * link.c -- the mirror's AMQP connection: connect, declare, publish,
 * read confirms and returns (librabbitmq 0.11).
 *
 * Invariants:
 *   1. One thread owns a link (the mirror's); librabbitmq is not thread
 *      safe per connection.
 *   2. Channel 1 is in confirm mode from mrlog__link_open on, so delivery
 *      tags count the publishes from 1 (next_tag).
 *   3. Any failure leaves link->error and link->error_text describing it,
 *      with the broker's own reply text when it sent one; a closed channel
 *      or connection is reported as a negative code and the caller closes
 *      the link (nothing here retries).
 *   4. Nothing blocks for longer than the timeouts given to
 *      mrlog__link_open, except a publish that TCP flow control holds.
 */
#include "link.h"

#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "mrlog.h"

static int fail(struct mrlog__link *link, int code, const char *fmt,
                const char *detail) {
  snprintf(link->error_text, sizeof(link->error_text), fmt, detail);
  link->error = code;
  return code;
}

/* Maps an AMQP reply code to a status: refusals are MRLOG_EACCES,
 * inequivalent declarations MRLOG_EEXIST, the rest MRLOG_EIO. */
static int code_status(unsigned code) {
  switch (code) {
    case 403: /* ACCESS_REFUSED */
    case 530: /* NOT_ALLOWED: missing vhost, no access to it */
      return MRLOG_EACCES;
    case 406: /* PRECONDITION_FAILED: inequivalent arguments */
      return MRLOG_EEXIST;
    default:
      return MRLOG_EIO;
  }
}

static int close_status(struct mrlog__link *link, amqp_method_t *m,
                        const char *what) {
  char text[200];
  unsigned code = 0;
  amqp_bytes_t t = {0, NULL};

  if (m->id == AMQP_CONNECTION_CLOSE_METHOD) {
    amqp_connection_close_t *c = m->decoded;
    code = c->reply_code;
    t = c->reply_text;
  } else if (m->id == AMQP_CHANNEL_CLOSE_METHOD) {
    amqp_channel_close_t *c = m->decoded;
    code = c->reply_code;
    t = c->reply_text;
  }
  snprintf(text, sizeof(text), "%s: broker closed with %u %.*s", what, code,
           t.bytes ? (int)(t.len < 150 ? t.len : 150) : 0,
           t.bytes ? (const char *)t.bytes : "");
  if (m->id == AMQP_CONNECTION_CLOSE_METHOD) {
    amqp_connection_close_ok_t ok;
    amqp_send_method(link->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
  }
  return fail(link, code_status(code), "%s", text);
}

/* Turns an RPC reply into 0 or a status (invariant 3). */
static int reply_status(struct mrlog__link *link, amqp_rpc_reply_t r,
                        const char *what) {
  char text[200];

  switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return 0;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      return close_status(link, &r.reply, what);
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      snprintf(text, sizeof(text), "%s: %s", what,
               amqp_error_string2(r.library_error));
      return fail(link,
                  r.library_error == AMQP_STATUS_TIMEOUT ? MRLOG_ETIMEDOUT
                                                         : MRLOG_EIO,
                  "%s", text);
    default:
      return fail(link, MRLOG_EIO, "%s: no reply", what);
  }
}

int mrlog__uris_parse(const char *list, struct mrlog__uri **out,
                      size_t *count) {
  struct mrlog__uri *uris = NULL;
  size_t n = 0;
  const char *p = list;

  *out = NULL;
  *count = 0;
  if (list == NULL) return -1;
  while (*p != '\0') {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    struct amqp_connection_info info;
    struct mrlog__uri *u, *grown;

    grown = realloc(uris, (n + 1) * sizeof(*uris));
    if (grown == NULL) goto bad;
    uris = grown;
    u = &uris[n];
    memset(u, 0, sizeof(*u));
    u->text = strndup(p, len);
    if (u->text == NULL) goto bad;
    n++;
    amqp_default_connection_info(&info);
    if (len == 0 || amqp_parse_url(u->text, &info) != AMQP_STATUS_OK)
      goto bad;
    u->host = info.host;
    u->port = info.port;
    u->user = info.user;
    u->password = info.password;
    u->vhost = info.vhost;
    snprintf(u->display, sizeof(u->display), "%s:%d", u->host, u->port);
    p += len;
    if (*p == ',') p++;
  }
  if (n == 0) goto bad;
  *out = uris;
  *count = n;
  return 0;
bad:
  mrlog__uris_free(uris, n);
  return -1;
}

void mrlog__uris_free(struct mrlog__uri *uris, size_t count) {
  for (size_t i = 0; i < count; i++) free(uris[i].text);
  free(uris);
}

int mrlog__link_open(struct mrlog__link *link, const struct mrlog__uri *uri,
                     unsigned heartbeat_s, unsigned timeout_ms) {
  struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  amqp_socket_t *sock;
  int rc;

  link->next_tag = 1;
  link->error = 0;
  link->error_text[0] = '\0';
  link->conn = amqp_new_connection();
  if (link->conn == NULL) return fail(link, MRLOG_ENOMEM, "%s", "no memory");
  sock = amqp_tcp_socket_new(link->conn);
  if (sock == NULL) {
    rc = fail(link, MRLOG_ENOMEM, "%s", "no memory for a socket");
    goto out;
  }
  rc = amqp_socket_open_noblock(sock, uri->host, uri->port, &tv);
  if (rc != AMQP_STATUS_OK) {
    rc = fail(link,
              rc == AMQP_STATUS_TIMEOUT ? MRLOG_ETIMEDOUT : MRLOG_EIO,
              "connect: %s", amqp_error_string2(rc));
    goto out;
  }
  amqp_set_handshake_timeout(link->conn, &tv);
  amqp_set_rpc_timeout(link->conn, &tv);
  rc = reply_status(link,
                    amqp_login(link->conn, uri->vhost, 0, 131072,
                               (int)heartbeat_s, AMQP_SASL_METHOD_PLAIN,
                               uri->user, uri->password),
                    "login");
  if (rc != 0) goto out;
  amqp_channel_open(link->conn, 1);
  rc = reply_status(link, amqp_get_rpc_reply(link->conn), "channel.open");
  if (rc != 0) goto out;
  amqp_confirm_select(link->conn, 1);
  rc = reply_status(link, amqp_get_rpc_reply(link->conn),
                    "confirm.select");
  if (rc != 0) goto out;
  return 0;
out:
  amqp_destroy_connection(link->conn);
  link->conn = NULL;
  return rc;
}

static int declare_quorum(struct mrlog__link *link, const char *queue);

int mrlog__link_declare(struct mrlog__link *link, const char *exchange,
                        const char *queue, const char *routing_key) {
  int rc;

  amqp_exchange_declare(link->conn, 1, amqp_cstring_bytes(exchange),
                        amqp_cstring_bytes("direct"), 0, 1, 0, 0,
                        amqp_empty_table);
  rc = reply_status(link, amqp_get_rpc_reply(link->conn),
                    "exchange.declare");
  if (rc != 0) return rc;
  rc = declare_quorum(link, queue);
  if (rc != 0) return rc;
  amqp_queue_bind(link->conn, 1, amqp_cstring_bytes(queue),
                  amqp_cstring_bytes(exchange),
                  amqp_cstring_bytes(routing_key), amqp_empty_table);
  return reply_status(link, amqp_get_rpc_reply(link->conn), "queue.bind");
}

static int declare_quorum(struct mrlog__link *link, const char *queue) {
  amqp_table_entry_t arg;
  amqp_table_t args;

  arg.key = amqp_cstring_bytes("x-queue-type");
  arg.value.kind = AMQP_FIELD_KIND_UTF8;
  arg.value.value.bytes = amqp_cstring_bytes("quorum");
  args.num_entries = 1;
  args.entries = &arg;
  amqp_queue_declare(link->conn, 1, amqp_cstring_bytes(queue), 0, 1, 0, 0,
                     args);
  return reply_status(link, amqp_get_rpc_reply(link->conn), "queue.declare");
}

int mrlog__link_catalog(struct mrlog__link *link, const char *catalog,
                        const char *name) {
  amqp_basic_properties_t props;
  int rc = declare_quorum(link, catalog);

  if (rc != 0) return rc;
  memset(&props, 0, sizeof(props));
  props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
  props.delivery_mode = 2;
  rc = amqp_basic_publish(link->conn, 1, amqp_cstring_bytes(""),
                          amqp_cstring_bytes(catalog), 0, 0, &props,
                          amqp_cstring_bytes(name));
  if (rc != AMQP_STATUS_OK)
    return fail(link, MRLOG_EIO, "publish: %s", amqp_error_string2(rc));
  link->next_tag++;
  return 0;
}

int mrlog__link_read_catalog(struct mrlog__link *link, const char *catalog,
                             void (*visit)(void *arg, const char *name),
                             void *arg) {
  int rc = declare_quorum(link, catalog);

  if (rc != 0) return rc;
  amqp_basic_consume(link->conn, 1, amqp_cstring_bytes(catalog),
                     amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
  rc = reply_status(link, amqp_get_rpc_reply(link->conn), "basic.consume");
  if (rc != 0) return rc;
  for (;;) {
    struct timeval tv = {0, 300000};
    amqp_envelope_t env;
    amqp_rpc_reply_t r;
    char name[1025];
    size_t n;

    amqp_maybe_release_buffers(link->conn);
    r = amqp_consume_message(link->conn, &env, &tv, 0);
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
        r.library_error == AMQP_STATUS_TIMEOUT)
      return 0;
    rc = reply_status(link, r, "catalog");
    if (rc != 0) return rc;
    n = env.message.body.len < 1024 ? env.message.body.len : 1024;
    memcpy(name, env.message.body.bytes, n);
    name[n] = '\0';
    if (n > 0) visit(arg, name);
    amqp_destroy_envelope(&env);
  }
}

static void header_i64(amqp_table_entry_t *h, const char *key, int64_t v) {
  h->key = amqp_cstring_bytes(key);
  h->value.kind = AMQP_FIELD_KIND_I64;
  h->value.value.i64 = v;
}

/* Publishes one persistent message, mandatory, with its first header
 * mrlog-queue (the routing key), mrlog-time-ms, then the n - 2 headers
 * already in h[2..n).  Its delivery tag goes to *tag. */
static int publish(struct mrlog__link *link, const char *exchange,
                   const char *routing_key, const char *message_id,
                   const char *content_type, uint64_t unix_ms,
                   amqp_table_entry_t *h, int n, const void *body, size_t len,
                   uint64_t *tag) {
  amqp_basic_properties_t props;
  amqp_bytes_t b = {len, (void *)body};
  int rc;

  h[0].key = amqp_cstring_bytes("mrlog-queue");
  h[0].value.kind = AMQP_FIELD_KIND_UTF8;
  h[0].value.value.bytes = amqp_cstring_bytes(routing_key);
  header_i64(&h[1], "mrlog-time-ms", (int64_t)unix_ms);
  memset(&props, 0, sizeof(props));
  props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG |
                 AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG |
                 AMQP_BASIC_TIMESTAMP_FLAG;
  props.delivery_mode = 2; /* persistent */
  props.message_id = amqp_cstring_bytes(message_id);
  props.content_type = amqp_cstring_bytes(content_type);
  props.timestamp = unix_ms / 1000;
  props.headers.num_entries = n;
  props.headers.entries = h;
  rc = amqp_basic_publish(link->conn, 1, amqp_cstring_bytes(exchange),
                          amqp_cstring_bytes(routing_key), 1, 0, &props, b);
  if (rc != AMQP_STATUS_OK)
    return fail(link, MRLOG_EIO, "publish: %s", amqp_error_string2(rc));
  *tag = link->next_tag++;
  return 0;
}

int mrlog__link_publish(struct mrlog__link *link, const char *exchange,
                        const char *routing_key, const char *message_id,
                        uint64_t from, uint64_t first, uint32_t count,
                        uint64_t unix_ms,
                        const void *body, size_t len, uint64_t *tag) {
  amqp_table_entry_t h[5];

  header_i64(&h[2], "mrlog-first", (int64_t)first);
  header_i64(&h[3], "mrlog-count", count);
  header_i64(&h[4], "mrlog-from", (int64_t)from);
  return publish(link, exchange, routing_key, message_id,
                 "application/x-mrlog-records", unix_ms, h, 5, body, len,
                 tag);
}

int mrlog__link_publish_delete(struct mrlog__link *link,
                               const char *exchange, const char *routing_key,
                               const char *message_id, uint64_t unix_ms,
                               const void *body, size_t len, uint64_t *tag) {
  amqp_table_entry_t h[2];

  return publish(link, exchange, routing_key, message_id,
                 "application/x-mrlog-delete", unix_ms, h, 2, body, len, tag);
}

int mrlog__link_publish_truncate(struct mrlog__link *link,
                                 const char *exchange,
                                 const char *routing_key,
                                 const char *message_id, uint64_t position,
                                 uint64_t unix_ms, const void *body,
                                 size_t len, uint64_t *tag) {
  amqp_table_entry_t h[3];

  header_i64(&h[2], "mrlog-first", (int64_t)position);
  return publish(link, exchange, routing_key, message_id,
                 "application/x-mrlog-truncate", unix_ms, h, 3, body, len,
                 tag);
}

int mrlog__link_fd(const struct mrlog__link *link) {
  return link->conn ? amqp_get_sockfd(link->conn) : -1;
}

int mrlog__link_buffered(const struct mrlog__link *link) {
  return link->conn && (amqp_frames_enqueued(link->conn) ||
                        amqp_data_in_buffer(link->conn));
}

/* Skips the content (header and body frames) of a returned message. */
static int skip_content(struct mrlog__link *link) {
  struct timeval tv = {5, 0};
  amqp_frame_t frame;
  uint64_t want = 0, got = 0;
  int rc;

  rc = amqp_simple_wait_frame_noblock(link->conn, &frame, &tv);
  if (rc != AMQP_STATUS_OK || frame.frame_type != AMQP_FRAME_HEADER)
    return fail(link, MRLOG_EIO, "%s", "returned message: no header");
  want = frame.payload.properties.body_size;
  while (got < want) {
    rc = amqp_simple_wait_frame_noblock(link->conn, &frame, &tv);
    if (rc != AMQP_STATUS_OK || frame.frame_type != AMQP_FRAME_BODY)
      return fail(link, MRLOG_EIO, "%s", "returned message: body cut");
    got += frame.payload.body_fragment.len;
  }
  return 0;
}

int mrlog__link_next(struct mrlog__link *link, struct mrlog__link_event *ev) {
  struct timeval tv = {0, 0};
  amqp_frame_t frame;
  int rc;

  for (;;) {
    rc = amqp_simple_wait_frame_noblock(link->conn, &frame, &tv);
    if (rc == AMQP_STATUS_TIMEOUT) return 0;
    if (rc != AMQP_STATUS_OK)
      return fail(link, MRLOG_EIO, "connection: %s", amqp_error_string2(rc));
    if (frame.frame_type != AMQP_FRAME_METHOD) continue;
    switch (frame.payload.method.id) {
      case AMQP_BASIC_ACK_METHOD: {
        amqp_basic_ack_t *a = frame.payload.method.decoded;
        ev->kind = MRLOG_LINK_ACK;
        ev->tag = a->delivery_tag;
        ev->multiple = a->multiple;
        return 1;
      }
      case AMQP_BASIC_NACK_METHOD: {
        amqp_basic_nack_t *a = frame.payload.method.decoded;
        ev->kind = MRLOG_LINK_NACK;
        ev->tag = a->delivery_tag;
        ev->multiple = a->multiple;
        return 1;
      }
      case AMQP_BASIC_RETURN_METHOD: {
        amqp_basic_return_t *r = frame.payload.method.decoded;
        size_t n = r->routing_key.len;
        if (n >= sizeof(ev->routing_key)) n = sizeof(ev->routing_key) - 1;
        memcpy(ev->routing_key, r->routing_key.bytes, n);
        ev->routing_key[n] = '\0';
        ev->kind = MRLOG_LINK_RETURN;
        rc = skip_content(link);
        return rc != 0 ? rc : 1;
      }
      case AMQP_CHANNEL_CLOSE_METHOD:
        return close_status(link, &frame.payload.method, "channel");
      case AMQP_CONNECTION_CLOSE_METHOD:
        return close_status(link, &frame.payload.method, "connection");
      default:
        continue; /* connection.blocked and the like */
    }
  }
}

void mrlog__link_close(struct mrlog__link *link, int graceful) {
  if (link->conn == NULL) return;
  if (graceful) amqp_connection_close(link->conn, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(link->conn);
  link->conn = NULL;
}

/*
 * mirror_admin.c -- the benchmark's own AMQP connection (mirror_admin.h):
 * the queues are declared once before the first case, so no case pays for
 * starting quorum queues' Raft groups, purged between cases, and deleted
 * at the end.  Every call is a synchronous RPC on channel 1 (librabbitmq).
 */
#include "mirror_admin.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct admin {
  amqp_connection_state_t conn; /* owned */
  int confirming;               /* channel 2 is open in confirm mode */
  uint64_t tag;                 /* channel 2's last delivery tag */
};

/* Prints what went wrong with an RPC; returns 0 for a normal reply. */
static int check(struct admin *a, const char *what) {
  amqp_rpc_reply_t r = amqp_get_rpc_reply(a->conn);

  if (r.reply_type == AMQP_RESPONSE_NORMAL) return 0;
  if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
    fprintf(stderr, "mirror-bench: %s: %s\n", what,
            amqp_error_string2(r.library_error));
  else
    fprintf(stderr, "mirror-bench: %s: the broker refused it\n", what);
  return -1;
}

struct admin *admin_open(const char *uris) {
  struct amqp_connection_info info;
  struct admin *a = calloc(1, sizeof(*a));
  char first[512];
  size_t len = strcspn(uris, ",");
  amqp_socket_t *sock;
  amqp_rpc_reply_t r;

  if (a == NULL || len >= sizeof(first)) goto bad;
  memcpy(first, uris, len);
  first[len] = '\0';
  a->conn = amqp_new_connection();
  sock = a->conn ? amqp_tcp_socket_new(a->conn) : NULL;
  if (sock == NULL || amqp_parse_url(first, &info) != AMQP_STATUS_OK ||
      amqp_socket_open(sock, info.host, info.port) != AMQP_STATUS_OK) {
    fprintf(stderr, "mirror-bench: cannot connect to the first URI\n");
    goto bad;
  }
  r = amqp_login(a->conn, info.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN,
                 info.user, info.password);
  if (r.reply_type != AMQP_RESPONSE_NORMAL) {
    fprintf(stderr, "mirror-bench: login refused\n");
    goto bad;
  }
  amqp_channel_open(a->conn, 1);
  if (check(a, "channel.open") != 0) goto bad;
  return a;
bad:
  admin_close(a);
  return NULL;
}

void admin_close(struct admin *a) {
  if (a == NULL) return;
  if (a->conn != NULL) {
    amqp_connection_close(a->conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(a->conn);
  }
  free(a);
}

/* Declares the quorum queue rq (passive: only reads its message count
 * into *count when count is not NULL). */
static int quorum(struct admin *a, const char *rq, int passive,
                  uint64_t *count) {
  amqp_table_entry_t arg;
  amqp_table_t args = {0, NULL};
  amqp_queue_declare_ok_t *ok;

  if (!passive) {
    arg.key = amqp_cstring_bytes("x-queue-type");
    arg.value.kind = AMQP_FIELD_KIND_UTF8;
    arg.value.value.bytes = amqp_cstring_bytes("quorum");
    args.num_entries = 1;
    args.entries = &arg;
  }
  ok = amqp_queue_declare(a->conn, 1, amqp_cstring_bytes(rq), passive, 1, 0,
                          0, args);
  if (check(a, "queue.declare") != 0 || ok == NULL) return -1;
  if (count != NULL) *count = ok->message_count;
  return 0;
}

int admin_declare(struct admin *a, const char *exchange, const char *prefix,
                  const char *catalog, char *const *names, unsigned n) {
  char rq[512];

  amqp_exchange_declare(a->conn, 1, amqp_cstring_bytes(exchange),
                        amqp_cstring_bytes("direct"), 0, 1, 0, 0,
                        amqp_empty_table);
  if (check(a, "exchange.declare") != 0) return -1;
  if (quorum(a, catalog, 0, NULL) != 0) return -1;
  for (unsigned i = 0; i < n; i++) {
    snprintf(rq, sizeof(rq), "%s%s", prefix, names[i]);
    if (quorum(a, rq, 0, NULL) != 0) return -1;
    amqp_queue_bind(a->conn, 1, amqp_cstring_bytes(rq),
                    amqp_cstring_bytes(exchange),
                    amqp_cstring_bytes(names[i]), amqp_empty_table);
    if (check(a, "queue.bind") != 0) return -1;
  }
  return 0;
}

int admin_purge(struct admin *a, const char *prefix, const char *catalog,
                char *const *names, unsigned n) {
  char rq[512];

  for (unsigned i = 0; i <= n; i++) {
    if (i < n) snprintf(rq, sizeof(rq), "%s%s", prefix, names[i]);
    else snprintf(rq, sizeof(rq), "%s", catalog);
    amqp_queue_purge(a->conn, 1, amqp_cstring_bytes(rq));
    if (check(a, "queue.purge") != 0) return -1;
  }
  return 0;
}

int admin_count(struct admin *a, const char *prefix, char *const *names,
                unsigned n, uint64_t *out) {
  char rq[512];
  uint64_t sum = 0, c;

  for (unsigned i = 0; i < n; i++) {
    snprintf(rq, sizeof(rq), "%s%s", prefix, names[i]);
    if (quorum(a, rq, 1, &c) != 0) return -1;
    sum += c;
  }
  *out = sum;
  return 0;
}

int admin_delete(struct admin *a, const char *exchange, const char *prefix,
                 const char *catalog, char *const *names, unsigned n) {
  char rq[512];

  for (unsigned i = 0; i <= n; i++) {
    if (i < n) snprintf(rq, sizeof(rq), "%s%s", prefix, names[i]);
    else snprintf(rq, sizeof(rq), "%s", catalog);
    amqp_queue_delete(a->conn, 1, amqp_cstring_bytes(rq), 0, 0);
    if (check(a, "queue.delete") != 0) return -1;
  }
  amqp_exchange_delete(a->conn, 1, amqp_cstring_bytes(exchange), 0);
  return check(a, "exchange.delete");
}

static int64_t now_ns(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *x, const void *y) {
  int64_t u = *(const int64_t *)x, v = *(const int64_t *)y;

  return u < v ? -1 : u > v;
}

/* Reads one frame (waiting until deadline_ns at most) and applies a
 * confirm on channel 2: with the multiple flag every tag in (base, its
 * tag] not yet confirmed, else its tag alone, is confirmed at the time of
 * the read (t_ack[tag - base - 1]).  0, or -1 for a
 * nack, a closed channel or a broken connection. */
static int read_confirm(struct admin *a, uint64_t base, int64_t *t_ack,
                        unsigned n, int64_t deadline_ns) {
  int64_t wait = deadline_ns - now_ns();
  struct timeval tv;
  amqp_frame_t f;
  int rc;

  if (wait < 0) wait = 0;
  tv.tv_sec = wait / 1000000000;
  tv.tv_usec = (wait % 1000000000) / 1000;
  rc = amqp_simple_wait_frame_noblock(a->conn, &f, &tv);
  if (rc == AMQP_STATUS_TIMEOUT) return 0;
  if (rc != AMQP_STATUS_OK) return -1;
  if (f.channel != 2 || f.frame_type != AMQP_FRAME_METHOD) return 0;
  if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
    amqp_basic_ack_t *ack = f.payload.method.decoded;
    int64_t t = now_ns();
    uint64_t from = ack->multiple ? base + 1 : ack->delivery_tag;
    for (uint64_t tag = from; tag <= ack->delivery_tag; tag++)
      if (tag > base && tag <= base + n && t_ack[tag - base - 1] == 0)
        t_ack[tag - base - 1] = t;
    return 0;
  }
  return -1;
}

int admin_confirm_latency(struct admin *a, const char *exchange,
                          char *const *names, unsigned nnames, size_t len,
                          unsigned n, int64_t period_ns, double *p50_ms,
                          double *p99_ms) {
  amqp_basic_properties_t props;
  unsigned char *body = calloc(1, len ? len : 1);
  int64_t *t_pub = calloc(n ? n : 1, sizeof(*t_pub));
  int64_t *t_ack = calloc(n ? n : 1, sizeof(*t_ack));
  int64_t t0 = now_ns(), end;
  uint64_t base = a->tag;
  unsigned left = n;
  int rc = -1;

  if (body == NULL || t_pub == NULL || t_ack == NULL || n == 0) goto out;
  if (!a->confirming) {
    amqp_channel_open(a->conn, 2);
    if (check(a, "channel.open") != 0) goto out;
    amqp_confirm_select(a->conn, 2);
    if (check(a, "confirm.select") != 0) goto out;
    a->confirming = 1;
  }
  memset(&props, 0, sizeof(props));
  props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
  props.delivery_mode = 2; /* persistent, as the mirror's */
  for (unsigned i = 0; i < n; i++) {
    amqp_bytes_t b = {len, body};
    int64_t at = t0 + (int64_t)i * period_ns;

    /* Confirms that come in before this publish is due. */
    while (now_ns() < at)
      if (read_confirm(a, base, t_ack, n, at) != 0) goto broken;
    t_pub[i] = now_ns();
    if (amqp_basic_publish(a->conn, 2, amqp_cstring_bytes(exchange),
                           amqp_cstring_bytes(names[i % nnames]), 0, 0,
                           &props, b) != AMQP_STATUS_OK)
      goto broken;
    a->tag++;
  }
  end = now_ns() + 30 * (int64_t)1000000000;
  for (;;) {
    left = 0;
    for (unsigned i = 0; i < n; i++) left += t_ack[i] == 0;
    if (left == 0 || now_ns() > end) break;
    if (read_confirm(a, base, t_ack, n, now_ns() + 100000000) != 0)
      goto broken;
  }
  if (left != 0) goto broken;
  for (unsigned i = 0; i < n; i++) t_ack[i] -= t_pub[i];
  qsort(t_ack, n, sizeof(*t_ack), cmp_i64);
  *p50_ms = t_ack[n / 2] / 1e6;
  *p99_ms = t_ack[(size_t)n * 99 / 100] / 1e6;
  rc = 0;
  goto out;
broken:
  fprintf(stderr, "mirror-bench: the broker did not confirm every "
          "message\n");
out:
  amqp_maybe_release_buffers(a->conn);
  free(body);
  free(t_pub);
  free(t_ack);
  return rc;
}

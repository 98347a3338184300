/*
 * amqp_connect.c -- see amqp_connect.h.
 */
#include "amqp_connect.h"

#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <string.h>

amqp_connection_state_t test_amqp_connect(const char *uri) {
  struct amqp_connection_info info;
  char copy[512];
  amqp_connection_state_t conn = amqp_new_connection();
  amqp_socket_t *sock = amqp_tcp_socket_new(conn);
  amqp_rpc_reply_t r;

  snprintf(copy, sizeof(copy), "%s", uri);
  if (strchr(copy, ',')) *strchr(copy, ',') = '\0';
  if (amqp_parse_url(copy, &info) != 0 ||
      amqp_socket_open(sock, info.host, info.port) != 0)
    goto bad;
  r = amqp_login(conn, info.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN,
                 info.user, info.password);
  if (r.reply_type != AMQP_RESPONSE_NORMAL) goto bad;
  amqp_channel_open(conn, 1);
  if (amqp_get_rpc_reply(conn).reply_type != AMQP_RESPONSE_NORMAL) goto bad;
  return conn;
bad:
  amqp_destroy_connection(conn);
  return NULL;
}

/*
 * mirror_cases.c -- the cases of tests/mirror_driver that run whole in
 * one process: `deletes` (queue deletions and re-creations reach the
 * replica) and `badinput` (an unreachable broker first in the list, a
 * replica's wrong password, foreign messages in a mirrored queue).  Each
 * prints its steps and returns 0 (pass) or 1.
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "amqp_connect.h"
#include "body.h"
#include "mirror_driver.h"
#include "mirror_test.h"

static int fill(mrlog *log, struct entry *e, uint64_t count) {
  unsigned char buf[DRIVER_RECORD_MAX];

  for (uint64_t i = 0; i < count; i++) {
    uint64_t pos = e->next++;
    size_t len = record_fill(e->name, e->inc, pos, buf);
    mrlog_forget(mrlog_append(log, e->name, &pos, buf, len, NULL, NULL));
  }
  return mrlog_wait(mrlog_sync(log, NULL, NULL), NULL);
}

static int create(mrlog *log, struct manifest *m, const char *name,
                  uint64_t count) {
  struct entry *e = manifest_add(m, name);

  if (mrlog_wait(mrlog_create_queue(log, name, NULL, NULL), NULL) != 0)
    return -1;
  e->complete = 1;
  return fill(log, e, count);
}

/* Deletes and creates again (inc + 1) with count records. */
static int recreate(mrlog *log, struct manifest *m, const char *name,
                    uint64_t count) {
  struct entry *e = manifest_add(m, name);

  if (mrlog_wait(mrlog_delete_queue(log, name, NULL, NULL), NULL) != 0 ||
      mrlog_wait(mrlog_create_queue(log, name, NULL, NULL), NULL) != 0)
    return -1;
  e->inc++;
  e->next = 0;
  return fill(log, e, count);
}

static int reach(mrlog_mirror *rep, mrlog *src, mrlog *dst,
                 const struct manifest *m, const char *step) {
  printf("  %s\n", step);
  CHECK(await_replica(rep, dst, m, 90, NULL), "%s: the replica did not "
        "reach the source", step);
  CHECK(compare_logs(src, dst, m), "%s: the replica differs", step);
  return 0;
}

int case_deletes(void) {
  char sdir[] = "/tmp/mrlog-scen-src.XXXXXX", ddir[] = "/tmp/mrlog-scen-dst.XXXXXX";
  struct mrlog_mirror_config cfg, rcfg;
  struct manifest m = {NULL, 0};
  mrlog_mirror *mir, *rep;
  mrlog *src, *dst;

  CHECK(mkdtemp(sdir) && mkdtemp(ddir), "mkdtemp");
  src = open_log(sdir, 0);
  dst = open_log(ddir, 0);
  CHECK(create(src, &m, "D0", 100) == 0 && create(src, &m, "D1", 100) == 0 &&
            create(src, &m, "D2", 100) == 0,
        "fill");
  /* The queue list is read every 2 s: a re-creation is found between
   * two reads (by the cursor's identity); only a re-creation that the
   * mirror saw as a deletion first may wait for the next read. */
  config_for(&cfg, env_uris(), "scendel");
  cfg.refresh_ms = 2000;
  CHECK(mrlog_mirror_start(src, &cfg, &mir) == 0, "mirror_start");
  config_for(&rcfg, env_uris(), "scendel");
  CHECK(mrlog_replica_start(dst, &rcfg, &rep) == 0, "replica_start");
  if (reach(rep, src, dst, &m, "3 queues x 100 records shipped")) return 1;
  CHECK(recreate(src, &m, "D0", 50) == 0, "recreate D0");
  CHECK(mrlog_wait(mrlog_delete_queue(src, "D1", NULL, NULL), NULL) == 0,
        "delete D1");
  manifest_add(&m, "D1")->live = 0;
  if (reach(rep, src, dst, &m,
            "D0 deleted and re-created with 50 records, D1 deleted, "
            "between two reads of the queue list"))
    return 1;
  CHECK(mrlog_mirror_stop(mir, 60000) == 0, "stop");
  CHECK(recreate(src, &m, "D2", 30) == 0, "recreate D2");
  CHECK(mrlog_mirror_start(src, &cfg, &mir) == 0, "mirror_start");
  if (reach(rep, src, dst, &m,
            "D2 deleted and re-created with 30 records while no mirror ran"))
    return 1;
  CHECK(mrlog_mirror_stop(mir, 60000) == 0, "stop");
  /* Everything again under another consumer name: markers and records
   * come a second time; the replica ends the same. */
  cfg.consumer = "again";
  CHECK(mrlog_mirror_start(src, &cfg, &mir) == 0, "mirror_start");
  CHECK(mrlog_mirror_stop(mir, 60000) == 0, "stop");
  if (reach(rep, src, dst, &m, "everything shipped again")) return 1;
  CHECK(mrlog_mirror_stop(rep, 1000) == 0, "replica stop");
  CHECK(mrlog_close(src) == 0 && mrlog_close(dst) == 0, "close");
  free(m.e);
  return 0;
}

/* Publishes a persistent message to RabbitMQ queue rq through the default
 * exchange on channel 1, which must be in confirm mode, and waits for the
 * broker's confirm: a quorum queue may drop a message whose channel
 * closes before it is committed, so an unconfirmed publish is not known
 * to be there.  0, or -1. */
static int publish_raw(amqp_connection_state_t conn, const char *rq,
                       const void *body, size_t len) {
  amqp_basic_properties_t props;
  amqp_bytes_t b = {len, (void *)body};
  struct timeval tv = {30, 0};
  amqp_frame_t frame;

  memset(&props, 0, sizeof(props));
  props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
  props.delivery_mode = 2;
  if (amqp_basic_publish(conn, 1, amqp_cstring_bytes(""),
                         amqp_cstring_bytes(rq), 0, 0, &props, b) != 0)
    return -1;
  for (;;) {
    if (amqp_simple_wait_frame_noblock(conn, &frame, &tv) != AMQP_STATUS_OK)
      return -1;
    if (frame.frame_type != AMQP_FRAME_METHOD) continue;
    if (frame.payload.method.id == AMQP_BASIC_ACK_METHOD) return 0;
    if (frame.payload.method.id == AMQP_BASIC_NACK_METHOD) return -1;
  }
}

/* A port nothing listens on (bound, then closed). */
static int dead_port(void) {
  struct sockaddr_in a;
  socklen_t alen = sizeof(a);
  int fd = socket(AF_INET, SOCK_STREAM, 0), port;

  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &alen) != 0)
    return 1;
  port = ntohs(a.sin_port);
  close(fd);
  return port;
}

int case_badinput(void) {
  char sdir[] = "/tmp/mrlog-scen-src.XXXXXX", ddir[] = "/tmp/mrlog-scen-dst.XXXXXX";
  char uris[4096], bad_pw[4096], *at;
  struct mrlog_mirror_config cfg;
  struct mrlog_mirror_stats st;
  struct manifest m = {NULL, 0};
  struct mrlog__body body = {0};
  amqp_connection_state_t conn;
  mrlog_mirror *mir, *rep;
  mrlog *src, *dst;
  const char *real = env_uris();

  snprintf(uris, sizeof(uris), "amqp://mrlog:mrlog@127.0.0.1:%d/mrlog,%s",
           dead_port(), real);
  CHECK(mkdtemp(sdir) && mkdtemp(ddir), "mkdtemp");
  src = open_log(sdir, 0);
  dst = open_log(ddir, 0);
  CHECK(create(src, &m, "B0", 500) == 0, "fill");
  config_for(&cfg, uris, "scenbad");
  CHECK(mrlog_mirror_start(src, &cfg, &mir) == 0, "mirror_start");
  CHECK(mrlog_mirror_stop(mir, 60000) == 0,
        "the mirror did not drain past an unreachable first URI");
  /* Foreign messages after the records: another queue's records, a
   * delete marker for another queue, a cut delete marker, a truncate
   * marker for another queue, a cut one (which would empty B0). */
  conn = test_amqp_connect(real);
  CHECK(conn != NULL, "connect");
  amqp_confirm_select(conn, 1);
  CHECK(amqp_get_rpc_reply(conn).reply_type == AMQP_RESPONSE_NORMAL,
        "confirm mode");
  CHECK(mrlog__body_begin(&body, "B9", 2) == 0 &&
            mrlog__body_add(&body, 0, 1, "x", 1) == 0,
        "body");
  mrlog__body_finish(&body);
  CHECK(publish_raw(conn, "scenbad.B0", body.buf, body.len) == 0, "publish");
  CHECK(mrlog__body_delete(&body, "B9", 2) == 0, "marker");
  CHECK(publish_raw(conn, "scenbad.B0", body.buf, body.len) == 0, "publish");
  CHECK(mrlog__body_delete(&body, "B0", 2) == 0, "marker");
  CHECK(publish_raw(conn, "scenbad.B0", body.buf, body.len - 1) == 0,
        "publish");
  CHECK(mrlog__body_truncate(&body, "B9", 2, 400) == 0, "marker");
  CHECK(publish_raw(conn, "scenbad.B0", body.buf, body.len) == 0, "publish");
  CHECK(mrlog__body_truncate(&body, "B0", 2, 400) == 0, "marker");
  CHECK(publish_raw(conn, "scenbad.B0", body.buf, body.len - 1) == 0,
        "publish");
  mrlog__body_free(&body);
  amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
  amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(conn);
  /* A replica with a wrong password: refused, applies nothing. */
  snprintf(bad_pw, sizeof(bad_pw), "%s", real);
  if (strchr(bad_pw, ',')) *strchr(bad_pw, ',') = '\0';
  at = strstr(bad_pw, ":mrlog@");
  CHECK(at != NULL, "no password in %s", bad_pw);
  memcpy(at, ":wrong@", 7);
  config_for(&cfg, bad_pw, "scenbad");
  CHECK(mrlog_replica_start(dst, &cfg, &rep) == 0, "replica_start");
  for (int i = 0; i < 300; i++) {
    mrlog_mirror_stats(rep, &st);
    if (st.last_error == MRLOG_EACCES) break;
    sleep_ms(100);
  }
  CHECK(mrlog_mirror_stop(rep, 1000) == 0, "replica stop");
  printf("  replica with a wrong password: %s (%s)\n",
         mrlog_err_name(st.last_error), st.last_error_text);
  CHECK(st.last_error == MRLOG_EACCES, "not refused");
  CHECK(st.deliveries == 0 && !mrlog_queue_exists(dst, "B0"),
        "a refused replica applied something");
  /* The unreachable URI first again: the replica gets everything and
   * rejects the five foreign messages. */
  config_for(&cfg, uris, "scenbad");
  CHECK(mrlog_replica_start(dst, &cfg, &rep) == 0, "replica_start");
  for (int i = 0; i < 900; i++) {
    mrlog_mirror_stats(rep, &st);
    if (st.rejected >= 5 && replica_reached(dst, &m)) break;
    sleep_ms(100);
  }
  sleep_ms(500); /* nothing more may come */
  mrlog_mirror_stats(rep, &st);
  CHECK(mrlog_mirror_stop(rep, 1000) == 0, "replica stop");
  printf("  replica past an unreachable first URI: %" PRIu64 " applied, "
         "%" PRIu64 " rejected, %" PRIu64 " reconnects; last error %s\n",
         st.records_applied, st.rejected, st.reconnects, st.last_error_text);
  CHECK(st.rejected == 5, "%" PRIu64 " rejected, not 5", st.rejected);
  CHECK(st.truncations == 0, "a foreign truncate marker was applied");
  CHECK(st.reconnects >= 1, "the first URI was never tried");
  CHECK(compare_logs(src, dst, &m), "the replica differs");
  CHECK(mrlog_close(src) == 0 && mrlog_close(dst) == 0, "close");
  free(m.e);
  return 0;
}

/*
 * ingest_consume.c -- the check of the ingest server's consumer: starts
 * the server with --consume on a fresh log, sends CONSUME_RECORDS records
 * as one client, then asks "consumed" until the consumer's committed
 * position reaches the queue's next position (bounded by WAIT_MS; each
 * retry waits a millisecond so as not to spin).  After SIGTERM it opens
 * the log and checks that the committed position is the next position and
 * that truncate_on_commit dropped every record.
 */
#include "ingest_test.h"

#include <mrlog.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CONSUME_RECORDS 50

/* Sends the records and "consumed" until it reports CONSUME_RECORDS. */
static int
drive(struct client *c)
{
  char line[128];
  uint64_t value = 0, i;
  int64_t deadline;
  long n;

  if (ingest_dial(c) != 0)
    return -1;
  EXPECT(c, ingest_send_all(c->fd, "hello consumed-0\n", 17) == 0,
         "send hello");
  if (ingest_expect_reply(c, "ok 0", "hello") != 0)
    return -1;
  for (i = 0; i < CONSUME_RECORDS; i++) {
    char rec[64], want[32];
    int len = snprintf(rec, sizeof(rec), "rec record %" PRIu64 "\n", i);
    EXPECT(c, ingest_send_all(c->fd, rec, (size_t)len) == 0, "send rec");
    snprintf(want, sizeof(want), "ok %" PRIu64, i);
    if (ingest_expect_reply(c, want, "rec") != 0)
      return -1;
  }
  deadline = ingest_now_ms() + WAIT_MS;
  for (;;) {
    struct timespec pause = {0, 1000000};
    EXPECT(c, ingest_send_all(c->fd, "consumed\n", 9) == 0, "send consumed");
    n = ingest_read_line(c, line, sizeof(line));
    EXPECT(c, n >= 0, "after consumed: no reply");
    if (ingest_parse_ok(line, &value)) {
      EXPECT(c, value <= CONSUME_RECORDS,
             "consumed %" PRIu64 ", beyond the %d records", value,
             CONSUME_RECORDS);
      if (value == CONSUME_RECORDS)
        break;
    } else {
      EXPECT(c, strcmp(line, "err ENODATA") == 0,
             "after consumed: reply \"%s\"", line);
    }
    EXPECT(c, ingest_now_ms() < deadline,
           "the consumer committed only %" PRIu64 " of %d records", value,
           CONSUME_RECORDS);
    nanosleep(&pause, NULL);
  }
  close(c->fd);
  c->fd = -1;
  return 0;
}

/* The log the server left: committed at next, and nothing retained. */
static int
verify(struct client *c, const char *logdir)
{
  struct mrlog_queue_info info;
  uint64_t committed = 0;
  mrlog *log;
  int rc;

  rc = mrlog_open(logdir, NULL, &log);
  EXPECT(c, rc == 0, "mrlog_open(%s): %s", logdir, mrlog_strerror(rc));
  rc = mrlog_committed(log, "consumed-0", "ingest", &committed);
  if (rc == 0)
    rc = mrlog_queue_info(log, "consumed-0", &info);
  mrlog_close(log);
  EXPECT(c, rc == 0, "committed/queue_info: %s", mrlog_strerror(rc));
  EXPECT(c, committed == CONSUME_RECORDS && info.next_position == committed,
         "committed %" PRIu64 ", next %" PRIu64 ", want %d", committed,
         info.next_position, CONSUME_RECORDS);
  EXPECT(c, info.records == 0 && info.first_position == CONSUME_RECORDS,
         "%" PRIu64 " records from %" PRIu64 " left after the commits",
         info.records, info.first_position);
  return 0;
}

int
ingest_run_consumer(const char *server, const char *logdir)
{
  static struct ingest_run run;
  static struct client c;
  int out_fd, failed;
  pid_t pid;

  c.run = &run;
  c.fd = -1;
  snprintf(c.id, sizeof(c.id), "consumed-0");
  if ((pid = ingest_start_server(server, logdir, 1, &out_fd)) < 0)
    return -1;
  run.port = ingest_server_port(pid, out_fd, server);
  if (run.port == 0) {
    close(out_fd);
    return -1;
  }
  failed = drive(&c) != 0;
  if (c.fd >= 0)
    close(c.fd);
  kill(pid, SIGTERM);
  if (ingest_wait_server(pid, out_fd) != 0)
    failed = 1;
  close(out_fd);
  if (!failed && verify(&c, logdir) != 0)
    failed = 1;
  if (c.error[0] != '\0')
    fprintf(stderr, "FAIL: consumer: %s\n", c.error);
  else if (!failed)
    printf("consumer   %d records committed and truncated\n",
           CONSUME_RECORDS);
  return failed ? -1 : 0;
}

/*
 * ingest_clients.c -- the behaviours of tests/ingest_test's clients: the
 * regular client (bursts, pipelined acks, reconnects, half-close, bad
 * lines), the straggler that sends until the server stops, and the client
 * with an overlong line.  Each checks every reply as it arrives and keeps
 * what it sent for the check against the log.
 */
#include "ingest_test.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A regular client. */

/* Lines the server must refuse, each with the reply it must give. */
static int
send_probes(struct client *c)
{
  static const struct {
    const char *line, *reply;
  } probes[] = {
      {"hello again\n", "err PROTOCOL"},    /* a second hello */
      {"bogus line\n", "err PROTOCOL"},     /* no such command */
      {"ACK 0\n", "err PROTOCOL"},          /* commands are lower case */
      {"rec bad\\x\n", "err PROTOCOL"},     /* an unknown escape */
      {"rec trailing\\\n", "err PROTOCOL"}, /* a lone backslash */
      {"ack -1\n", "err PROTOCOL"},         /* not a position */
      {"ack 99999999999999999999\n", "err PROTOCOL"}, /* too big */
      {"ack 1000000\n", "err EINVAL"},                /* never handed out */
      {"hello\n", "err PROTOCOL"},
  };
  size_t i;

  for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
    EXPECT(c,
           ingest_send_all(c->fd, probes[i].line, strlen(probes[i].line)) == 0,
           "send probe: %s", strerror(errno));
  }
  for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
    if (ingest_expect_reply(c, probes[i].reply, probes[i].line) != 0)
      return -1;
  return 0;
}

/* Connects and says hello; the reply must be the queue's next position. */
static int
start_session(struct client *c, int first)
{
  char line[64], want[64];

  if (ingest_dial(c) != 0)
    return -1;
  if (c->probes && first) {
    /* A record before hello is out of turn. */
    EXPECT(c, ingest_send_all(c->fd, "rec early\n", 10) == 0, "send");
    if (ingest_expect_reply(c, "err PROTOCOL", "a record before hello") != 0)
      return -1;
  }
  snprintf(line, sizeof(line), "hello %s\n", c->id);
  EXPECT(c, ingest_send_all(c->fd, line, strlen(line)) == 0, "send hello");
  snprintf(want, sizeof(want), "ok %" PRIu64, c->next);
  if (ingest_expect_reply(c, want, "hello") != 0)
    return -1;
  if (c->probes && first)
    return send_probes(c);
  return 0;
}

static int
run_client(struct client *c)
{
  size_t max_len = c->big ? 60000 : 3000;
  /* Worst case: every record escaped to twice its size. */
  size_t buf_cap = BURST_MAX * (2 * max_len + 8) + 64;
  char *buf = malloc(buf_cap);
  int reconnects_done = 0;
  char line[128];

  EXPECT(c, buf != NULL, "out of memory");
  start_session(c, 1); /* a failure sets c->error, which ends the loop */
  while (c->count < RECORDS_PER_CLIENT && c->error[0] == '\0') {
    size_t burst = 1 + ingest_random(&c->rng) % BURST_MAX;
    size_t first = c->count, off = 0, j;
    int last, acking = 0;
    uint64_t ack = 0;

    if (burst > RECORDS_PER_CLIENT - c->count)
      burst = RECORDS_PER_CLIENT - c->count;
    last = c->count + burst == RECORDS_PER_CLIENT;
    for (j = 0; j < burst; j++) {
      struct record *r = ingest_make_record(c, c->count, max_len);
      if (r == NULL) {
        ingest_fail(c, "out of memory");
        break;
      }
      ingest_put_record_line(buf, &off, r);
    }
    /* An ack after the records, up to the last of them: pipelined, so
     * the server gets it before it has replied to those records. */
    if (c->acks && ingest_random(&c->rng) % 3 == 0) {
      uint64_t low = c->has_acked ? c->acked_upto + 1 : 0;
      uint64_t high = c->next + burst - 1;
      if (low <= high) {
        ack = low + ingest_random(&c->rng) % (high - low + 1);
        off += (size_t)snprintf(buf + off, buf_cap - off, "ack %" PRIu64 "\n",
                                ack);
        acking = 1;
      }
    }
    if (c->error[0] != '\0')
      break;
    if (ingest_send_all(c->fd, buf, off) != 0) {
      ingest_fail(c, "send: %s", strerror(errno));
      break;
    }
    if (last && c->half_close && shutdown(c->fd, SHUT_WR) != 0) {
      ingest_fail(c, "shutdown: %s", strerror(errno));
      break;
    }
    for (j = first; j < c->count; j++) {
      uint64_t position;
      long n = ingest_read_line(c, line, sizeof(line));
      if (n < 0) {
        ingest_fail(c, "record %zu: no reply (%s)", j,
                    n == -1 ? "EOF" : "error");
        break;
      }
      if (!ingest_parse_ok(line, &position) || position != c->next) {
        ingest_fail(c, "record %zu: reply \"%s\", want \"ok %" PRIu64 "\"", j,
                    line, c->next);
        break;
      }
      c->records[j].ok = 1;
      c->records[j].position = position;
      c->next++;
    }
    if (acking && c->error[0] == '\0') {
      snprintf(line, sizeof(line), "ok %" PRIu64, ack);
      if (ingest_expect_reply(c, line, "ack") == 0) {
        c->has_acked = 1;
        c->acked_upto = ack;
      }
    }
    if (c->error[0] != '\0')
      break;
    if (last && c->half_close) {
      long n = ingest_read_line(c, line, sizeof(line));
      if (n != -1)
        ingest_fail(c, "after half-close: want EOF, got %s",
                    n >= 0 ? line : "an error");
      break;
    }
    if (c->reconnects && reconnects_done < 2 &&
        c->count >= (size_t)(reconnects_done + 1) * RECORDS_PER_CLIENT / 3) {
      close(c->fd);
      c->fd = -1;
      reconnects_done++;
      if (start_session(c, 0) != 0)
        break;
    }
  }
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  free(buf);
  return c->error[0] == '\0' ? 0 : -1;
}

void *
ingest_client_main(void *arg)
{
  struct client *c = arg;

  pthread_barrier_wait(&c->run->start);
  run_client(c);
  return NULL;
}

/* ------------------------------------------------------------------ */
/* The straggler: sends until the server says "bye". */

static int
run_straggler(struct client *c)
{
  char buf[STRAGGLER_BURST_MAX * (2 * 64 + 8)];
  char line[128];

  if (start_session(c, 1) != 0)
    return -1;
  for (;;) {
    size_t burst = 0, off = 0, j, first = c->count;

    if (c->count < STRAGGLER_CAP)
      burst = 1 + ingest_random(&c->rng) % STRAGGLER_BURST_MAX;
    for (j = 0; j < burst; j++) {
      size_t len = ingest_random(&c->rng) % 65, k;
      struct record *r = ingest_add_record(c, len);
      EXPECT(c, r != NULL, "out of memory");
      for (k = 0; k < len; k++)
        r->data[k] = (unsigned char)ingest_random(&c->rng);
      ingest_put_record_line(buf, &off, r);
    }
    /* The server may stop at any moment.  A send that fails (it has
     * closed) is no error by itself: its "bye" must still be there to
     * read, which the loop below checks. */
    if (off > 0)
      (void)ingest_send_all(c->fd, buf, off);
    for (j = first; j < c->count || burst == 0; j++) {
      uint64_t position;
      long n = ingest_read_line(c, line, sizeof(line));
      EXPECT(c, n >= 0, "record %zu: no reply and no bye (%s)", j,
             n == -1 ? "EOF" : "error or timeout");
      if (strcmp(line, "bye") == 0) {
        /* Every record after the last "ok" was not appended; the server
         * closes once we do (or sends EOF now). */
        n = ingest_read_line(c, line, sizeof(line));
        EXPECT(c, n == -1, "after bye: want EOF, got %s",
               n >= 0 ? line : "an error");
        return 0;
      }
      EXPECT(c, burst > 0, "after the cap: reply \"%s\", want \"bye\"", line);
      EXPECT(c, ingest_parse_ok(line, &position) && position == c->next,
             "record %zu: reply \"%s\", want \"ok %" PRIu64 "\"", j, line,
             c->next);
      c->records[j].ok = 1;
      c->records[j].position = position;
      c->next++;
      pthread_mutex_lock(&c->run->progress_mutex);
      c->run->straggler_oks++;
      pthread_cond_broadcast(&c->run->progress);
      pthread_mutex_unlock(&c->run->progress_mutex);
    }
  }
}

void *
ingest_straggler_main(void *arg)
{
  struct client *c = arg;

  pthread_barrier_wait(&c->run->start);
  run_straggler(c);
  if (c->fd >= 0)
    close(c->fd);
  /* Let main stop waiting for progress even if we failed early. */
  pthread_mutex_lock(&c->run->progress_mutex);
  c->run->straggler_finished = 1;
  pthread_cond_broadcast(&c->run->progress);
  pthread_mutex_unlock(&c->run->progress_mutex);
  return NULL;
}

/* ------------------------------------------------------------------ */
/* An overlong line: the server answers "err PROTOCOL" and hangs up, since
 * it cannot tell where the next line would start. */

#define OVERLONG (1024 * 1024 + 64) /* past the server's 1 MiB line limit */

int
ingest_run_overlong(struct client *c)
{
  char line[64];
  char *big = malloc(OVERLONG);
  int rc;
  long n;

  EXPECT(c, big != NULL, "out of memory");
  memset(big, 'x', OVERLONG);
  memcpy(big, "rec ", 4);
  rc = start_session(c, 1);
  /* The server reads (and then discards) all of it, so this completes. */
  if (rc == 0 && ingest_send_all(c->fd, big, OVERLONG) != 0) {
    ingest_fail(c, "send: %s", strerror(errno));
    rc = -1;
  }
  free(big);
  if (rc == 0)
    rc = ingest_expect_reply(c, "err PROTOCOL", "an overlong line");
  if (rc == 0) {
    n = ingest_read_line(c, line, sizeof(line));
    EXPECT(c, n == -1, "after an overlong line: want EOF, got %s",
           n >= 0 ? line : "an error");
  }
  return rc;
}

/* METRICS, pipelined between two records sent before hello: the replies
 * come in line order ("err PROTOCOL", "ok N" and N bytes of text, "err
 * PROTOCOL"), the text is whole lines, and it counts the records of a
 * client that has had its replies.  No queue is created. */
int
ingest_run_metrics(struct client *c)
{
  static const char req[] = "rec x\nMETRICS\nrec y\n";
  char line[4096];
  uint64_t size, got = 0;
  int seen_client = 0, seen_latency = 0;
  long n;

  if (ingest_dial(c) != 0)
    return -1;
  EXPECT(c, ingest_send_all(c->fd, req, sizeof(req) - 1) == 0, "send: %s",
         strerror(errno));
  if (ingest_expect_reply(c, "err PROTOCOL", "a record before hello") != 0)
    return -1;
  n = ingest_read_line(c, line, sizeof(line));
  EXPECT(c, n >= 0 && ingest_parse_ok(line, &size) && size > 0,
         "METRICS: reply \"%s\"", n >= 0 ? line : "(none)");
  while (got < size) {
    n = ingest_read_line(c, line, sizeof(line));
    EXPECT(c, n >= 0, "METRICS: the text ended after %llu of %llu bytes",
           (unsigned long long)got, (unsigned long long)size);
    got += (uint64_t)n + 1;
    EXPECT(c, line[0] == '#' || strncmp(line, "mrlog_", 6) == 0,
           "METRICS: line \"%s\"", line);
    if (strncmp(line, "mrlog_queue_appended_records_total{queue=\"client-1\"} ",
                53) == 0 && strtoull(line + 53, NULL, 10) > 0)
      seen_client = 1;
    if (strncmp(line, "mrlog_append_latency_seconds_count ", 35) == 0 &&
        strtoull(line + 35, NULL, 10) > 0)
      seen_latency = 1;
  }
  EXPECT(c, got == size, "METRICS: %llu bytes of lines, announced %llu",
         (unsigned long long)got, (unsigned long long)size);
  EXPECT(c, seen_client && seen_latency,
         "METRICS: client-1's records or the latency count missing");
  return ingest_expect_reply(c, "err PROTOCOL", "a record after METRICS");
}

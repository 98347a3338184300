/*
 * ingest_wire.c -- tests/ingest_test's side of the wire: connecting,
 * sending, reading reply lines with a deadline, and the records it sends
 * (made here, kept for the check against the log).  Written apart from
 * examples/ingest_protocol.c on purpose, so the two cannot share a
 * mistake.
 */
#include "ingest_test.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

void
ingest_fail(struct client *c, const char *fmt, ...)
{
  va_list ap;
  int n;

  if (c->error[0] != '\0')
    return;
  n = snprintf(c->error, sizeof(c->error), "client %s: ", c->id);
  va_start(ap, fmt);
  vsnprintf(c->error + n, sizeof(c->error) - (size_t)n, fmt, ap);
  va_end(ap);
}

int64_t
ingest_now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t
ingest_random(uint64_t *state)
{
  /* xorshift64*: deterministic per client, good enough for test data. */
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 2685821657736338717ull;
}

/* ------------------------------------------------------------------ */
/* The wire. */

static size_t
escape(const unsigned char *p, size_t n, char *out)
{
  size_t i, o = 0;

  for (i = 0; i < n; i++) {
    if (p[i] == '\n') {
      out[o++] = '\\';
      out[o++] = 'n';
    } else if (p[i] == '\\') {
      out[o++] = '\\';
      out[o++] = '\\';
    } else {
      out[o++] = (char)p[i];
    }
  }
  return o;
}

int
ingest_dial(struct client *c)
{
  struct sockaddr_in addr;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  EXPECT(c, fd >= 0, "socket: %s", strerror(errno));
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons((uint16_t)c->run->port);
  if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
    close(fd);
    EXPECT(c, 0, "connect: %s", strerror(errno));
  }
  c->fd = fd;
  c->rlen = c->rpos = 0;
  return 0;
}

/* 0, or -1 if the peer is gone (EPIPE, ECONNRESET). */
int
ingest_send_all(int fd, const char *p, size_t n)
{
  while (n > 0) {
    ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return -1;
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

/* Reads one line (without '\n') into line.  Returns its length, -1 at a
 * clean EOF, -2 on an error or when WAIT_MS passes. */
long
ingest_read_line(struct client *c, char *line, size_t cap)
{
  int64_t deadline = ingest_now_ms() + WAIT_MS;

  for (;;) {
    char *nl = memchr(c->rbuf + c->rpos, '\n', c->rlen - c->rpos);
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    int64_t left;
    ssize_t n;

    if (nl != NULL) {
      size_t len = (size_t)(nl - (c->rbuf + c->rpos));
      if (len >= cap)
        return -2;
      memcpy(line, c->rbuf + c->rpos, len);
      line[len] = '\0';
      c->rpos += len + 1;
      return (long)len;
    }
    if (c->rpos > 0) {
      memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
      c->rlen -= c->rpos;
      c->rpos = 0;
    }
    if (c->rlen == sizeof(c->rbuf))
      return -2;
    left = deadline - ingest_now_ms();
    if (left <= 0)
      return -2;
    if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
      return -2;
    if (pfd.revents == 0)
      continue;
    n = recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, 0);
    if (n == 0)
      return c->rlen == 0 ? -1 : -2;
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -2;
    c->rlen += (size_t)n;
  }
}

/* Reads a reply and requires it to be exactly `want`. */
int
ingest_expect_reply(struct client *c, const char *want, const char *after)
{
  char line[128];
  long n = ingest_read_line(c, line, sizeof(line));

  EXPECT(c, n >= 0, "after %s: no reply (%s)", after,
         n == -1 ? "EOF" : "error or timeout");
  EXPECT(c, strcmp(line, want) == 0, "after %s: reply \"%s\", want \"%s\"",
         after, line, want);
  return 0;
}

/* Parses "ok N". */
int
ingest_parse_ok(const char *line, uint64_t *value)
{
  char *end;

  if (strncmp(line, "ok ", 3) != 0 || line[3] < '0' || line[3] > '9')
    return 0;
  errno = 0;
  *value = strtoull(line + 3, &end, 10);
  return errno == 0 && *end == '\0';
}

/* ------------------------------------------------------------------ */
/* Records. */

struct record *
ingest_add_record(struct client *c, size_t len)
{
  struct record *r;

  if (c->count == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 64;
    struct record *grown = realloc(c->records, cap * sizeof(*grown));
    if (grown == NULL)
      return NULL;
    c->records = grown;
    c->cap = cap;
  }
  r = &c->records[c->count];
  memset(r, 0, sizeof(*r));
  r->data = malloc(len ? len : 1);
  if (r->data == NULL)
    return NULL;
  r->len = len;
  c->count++;
  return r;
}

/* The i-th record's bytes: first the awkward cases, then random ones. */
struct record *
ingest_make_record(struct client *c, size_t i, size_t max_len)
{
  static const struct {
    const char *bytes;
    size_t len;
  } fixed[] = {
      {"", 0},         {"\n", 1},           {"\\", 1},          {"\\n", 2},
      {"ack 0", 5},    {"hello other", 11}, {"rec x\n", 6},     {"\0\0\0", 3},
      {"\r\n\r\n", 4}, {"\\\\\n\n\\", 5},   {"ok 7\nbye\n", 9},
  };
  size_t nfixed = sizeof(fixed) / sizeof(fixed[0]);
  struct record *r;
  size_t len, k;
  uint64_t pick;

  if (i < nfixed) {
    r = ingest_add_record(c, fixed[i].len);
    if (r != NULL)
      memcpy(r->data, fixed[i].bytes, fixed[i].len);
    return r;
  }
  if (i == nfixed) { /* every byte value once */
    r = ingest_add_record(c, 256);
    for (k = 0; r != NULL && k < 256; k++)
      r->data[k] = (unsigned char)k;
    return r;
  }
  pick = ingest_random(&c->rng) % 10;
  if (pick == 0)
    len = 0;
  else if (pick == 1)
    len = 1;
  else if (pick < 8)
    len = 1 + ingest_random(&c->rng) % 200;
  else
    len = 200 + ingest_random(&c->rng) % (max_len - 200);
  r = ingest_add_record(c, len);
  for (k = 0; r != NULL && k < len; k++)
    r->data[k] = (unsigned char)ingest_random(&c->rng);
  return r;
}

/* Appends "rec <escaped>\n" for r to buf at *off (buf has room). */
void
ingest_put_record_line(char *buf, size_t *off, const struct record *r)
{
  memcpy(buf + *off, "rec ", 4);
  *off += 4;
  *off += escape(r->data, r->len, buf + *off);
  buf[(*off)++] = '\n';
}

/*
 * ingest_conn.c -- one client connection, served by one worker thread.
 *
 * THE LESSON OF THIS FILE.  mrlog runs completion callbacks on its flusher
 * thread, one after another.  A callback that wrote to a socket could
 * block on a slow client and hold up the acknowledgements of every other
 * client.  So on_reply() only records the outcome in the connection's
 * reply slot and wakes the worker through an eventfd; the worker, which
 * owns the socket, turns finished slots into reply lines and writes them
 * with non-blocking I/O.
 *
 * The worker's loop:
 *
 *   harvest finished slots (in order) -> submit buffered lines while the
 *   window has room -> write replies -> poll(socket, wakeup, stop) -> read
 *
 * Invariants:
 *  1. Every request line gets a slot, in line order, whether its outcome
 *     is known at once (hello, a bad line) or later (rec, ack).  Replies
 *     are written strictly in slot order, so a client's replies come in
 *     the order of its lines even if mrlog completed them in another.
 *  2. replied <= issued <= replied + WINDOW.  At most WINDOW requests are
 *     in flight; with the window full the worker stops reading, which
 *     pushes back on the client through TCP.
 *  3. A slot's done, status and value are written by the completer (a
 *     library thread, or the worker for immediate replies) and read by
 *     the worker, both under conn->mutex.  Everything else in struct conn
 *     belongs to the worker alone.
 *  4. on_reply() touches the connection only while holding conn->mutex,
 *     the eventfd write included.  The worker frees the connection only
 *     after seeing replied == issued under that mutex, so no callback can
 *     still be using it.
 *  5. Lines are submitted only while taking requests (until EOF, a fatal
 *     error or the server's stop).  A line that was submitted always gets
 *     its reply before "bye" and the close, unless the client is gone.
 *     Bytes still unparsed at a stop are dropped: those records were not
 *     appended.
 */
#include "ingest_conn.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Requests in flight per connection. */
#define WINDOW 256u
/* Longest reply line: "ok " + 20 digits + '\n', or "err " + a name. */
#define REPLY_MAX 48u
/* Room for a full window of replies plus "bye\n". */
#define OUT_CAP (WINDOW * REPLY_MAX + REPLY_MAX)
/* Once the server stops (or a connection breaks the protocol), how long a
 * client gets to read its last replies and close.  Only a guard against a
 * client that never reads: in-flight records are always waited for. */
#define LINGER_MS 5000

struct conn;

/* One request's reply.  See invariant 3 for who touches what. */
struct reply_slot {
  /* The owning connection; set once at creation. */
  struct conn *conn;
  /* 1 once the outcome is known, 0 again once harvested. */
  int done;
  /* 0, a negative mrlog status or INGEST_EPROTOCOL. */
  int status;
  /* With status 0: the number the "ok" reply carries. */
  uint64_t value;
  /* METRICS: the text sent after "ok <value>" (value is its length);
   * malloc'd by the worker, which owns it. */
  char *text;
};

/* Why the connection stopped taking requests. */
enum stop_reason {
  TAKING_REQUESTS = 0, /* not stopped */
  STOP_EOF,            /* the client sent EOF and every line is handled */
  STOP_SERVER,         /* SIGINT/SIGTERM: the server is stopping */
  STOP_PROTOCOL,       /* an overlong line: we cannot find the next one */
  STOP_BROKEN          /* a socket error: the client is gone */
};

struct conn {
  /* Log, sessions and stop pipe; borrowed from main. */
  const struct ingest_shared *shared;
  /* The client's socket, non-blocking; owned, closed at the end. */
  int fd;
  /* eventfd, non-blocking: callbacks add 1 to wake the worker. */
  int wake_fd;
  /* Guards slots[].done, .status and .value (invariant 3). */
  pthread_mutex_t mutex;
  /* The reply window, a ring indexed by sequence number % WINDOW. */
  struct reply_slot slots[WINDOW];
  /* Requests given a slot so far. */
  uint64_t issued;
  /* Replies harvested so far (written to out, or dropped if broken). */
  uint64_t replied;
  /* The client's id (and queue name) once its hello succeeded. */
  char client[INGEST_ID_MAX + 1];
  /* 1 while this connection holds the client's id in the session table. */
  int claimed;
  /* Once claimed: the position the next record submitted here will take.
   * Exact, because this connection is the queue's only writer (the
   * claim) and one thread's appends take positions in call order. */
  uint64_t next_position;
  /* Input: in[0 .. in_len) holds bytes read but not yet handled. */
  char *in;
  size_t in_len;
  /* 1 once read() returned 0. */
  int saw_eof;
  /* Output: out[out_sent .. out_len) is still to be written. */
  char out[OUT_CAP];
  size_t out_len, out_sent;
  /* A METRICS text, written once out is empty: big[big_sent .. big_len).
   * While it is set no reply joins out (they follow it). */
  char *big;
  size_t big_len, big_sent;
  /* 1 once "bye" is queued. */
  int bye_queued;
  enum stop_reason stopped;
  /* 1 once the stop pipe said the server is stopping (also noticed after
   * the connection stopped taking requests for another reason). */
  int server_stopping;
  /* 0, or once the server stops or the client breaks the protocol: when
   * we give up on a client that does not read (CLOCK_MONOTONIC, ms). */
  int64_t linger_deadline_ms;
};

static int64_t
now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Stops taking requests; the first reason wins. */
static void
stop_taking(struct conn *c, enum stop_reason reason)
{
  if ((reason == STOP_SERVER || reason == STOP_PROTOCOL) &&
      c->linger_deadline_ms == 0)
    c->linger_deadline_ms = now_ms() + LINGER_MS;
  if (c->stopped == TAKING_REQUESTS || reason == STOP_BROKEN)
    c->stopped = reason;
}

/*
 * The completion callback of every append and truncate.  Runs on mrlog's
 * flusher thread: it must not block, so it only fills the slot and wakes
 * the worker (see the top of this file).
 */
static void
on_reply(void *arg, int status, uint64_t position)
{
  struct reply_slot *slot = arg;
  struct conn *c = slot->conn;
  uint64_t one = 1;

  pthread_mutex_lock(&c->mutex);
  slot->status = status;
  slot->value = position;
  slot->done = 1;
  /* Under the mutex (invariant 4).  The eventfd is non-blocking and its
   * counter cannot overflow here, so this write never waits. */
  if (write(c->wake_fd, &one, sizeof(one)) < 0) {
    /* Nothing to do: the worker also harvests after every poll. */
  }
  pthread_mutex_unlock(&c->mutex);
}

/* A reply known at once (hello, a bad line); on the worker thread. */
static void
reply_now(struct reply_slot *slot, int status, uint64_t value)
{
  pthread_mutex_lock(&slot->conn->mutex);
  slot->status = status;
  slot->value = value;
  slot->done = 1;
  pthread_mutex_unlock(&slot->conn->mutex);
}

/* Moves finished slots, in order, into the output buffer (invariant 1). */
static void
harvest(struct conn *c)
{
  pthread_mutex_lock(&c->mutex);
  while (c->replied < c->issued) {
    struct reply_slot *slot = &c->slots[c->replied % WINDOW];
    if (!slot->done || c->big != NULL)
      break; /* a METRICS text goes out before later replies */
    if (c->stopped != STOP_BROKEN) {
      if (OUT_CAP - c->out_len < REPLY_MAX)
        break; /* written first; harvested on a later pass */
      if (slot->status == 0 && slot->text != NULL) {
        c->out_len += (size_t)snprintf(c->out + c->out_len, REPLY_MAX,
                                       "ok %" PRIu64 "\n", slot->value);
        c->big = slot->text;
        c->big_len = (size_t)slot->value;
        c->big_sent = 0;
        slot->text = NULL;
      } else if (slot->status == 0)
        c->out_len += (size_t)snprintf(c->out + c->out_len, REPLY_MAX,
                                       "ok %" PRIu64 "\n", slot->value);
      else
        c->out_len += (size_t)snprintf(c->out + c->out_len, REPLY_MAX,
                                       "err %s\n",
                                       ingest_status_name(slot->status));
    }
    free(slot->text);
    slot->text = NULL;
    slot->done = 0;
    c->replied++;
  }
  pthread_mutex_unlock(&c->mutex);

  /* The server is stopping and every submitted line has its reply. */
  if (c->stopped == STOP_SERVER && !c->bye_queued && c->big == NULL &&
      c->replied == c->issued && OUT_CAP - c->out_len >= REPLY_MAX) {
    memcpy(c->out + c->out_len, "bye\n", 4);
    c->out_len += 4;
    c->bye_queued = 1;
  }
}

/* Writes what the socket takes now; never blocks.  Returns 1 if it
 * finished a METRICS text: the replies held behind it may be harvested. */
static int
write_output(struct conn *c)
{
  int released = 0;

  while (c->out_sent < c->out_len && c->stopped != STOP_BROKEN) {
    ssize_t n = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent,
                     MSG_NOSIGNAL);
    if (n > 0)
      c->out_sent += (size_t)n;
    else if (n < 0 && errno == EINTR)
      continue;
    else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      break;
    else
      stop_taking(c, STOP_BROKEN);
  }
  while (c->big != NULL && c->out_sent == c->out_len &&
         c->big_sent < c->big_len && c->stopped != STOP_BROKEN) {
    ssize_t n = send(c->fd, c->big + c->big_sent, c->big_len - c->big_sent,
                     MSG_NOSIGNAL);
    if (n > 0)
      c->big_sent += (size_t)n;
    else if (n < 0 && errno == EINTR)
      continue;
    else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      break;
    else
      stop_taking(c, STOP_BROKEN);
  }
  if (c->big != NULL &&
      (c->big_sent == c->big_len || c->stopped == STOP_BROKEN)) {
    free(c->big);
    c->big = NULL;
    released = 1;
  }
  if (c->out_sent == c->out_len || c->stopped == STOP_BROKEN) {
    c->out_len = 0;
    c->out_sent = 0;
  } else if (c->out_sent > 0) {
    memmove(c->out, c->out + c->out_sent, c->out_len - c->out_sent);
    c->out_len -= c->out_sent;
    c->out_sent = 0;
  }
  return released;
}

/* Reads what the socket has now; never blocks. */
static void
read_input(struct conn *c)
{
  for (;;) {
    ssize_t n = recv(c->fd, c->in + c->in_len,
                     INGEST_LINE_MAX + 1 - c->in_len, 0);
    if (n > 0) {
      c->in_len += (size_t)n;
      return;
    }
    if (n == 0) {
      c->saw_eof = 1;
      return;
    }
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      stop_taking(c, STOP_BROKEN);
    return;
  }
}

/* "hello <id>": claim the id, create the queue if missing, and reply with
 * the position the client's next record will take. */
static void
handle_hello(struct conn *c, struct reply_slot *slot, const char *id)
{
  mrlog *log = c->shared->log;
  struct mrlog_queue_info info = {0};
  int status = 0;

  if (c->claimed) {
    reply_now(slot, INGEST_EPROTOCOL, 0);
    return;
  }
  /* Blocks while an earlier connection of this client is still finishing
   * (see ingest_sessions.c for why). */
  if (ingest_sessions_claim(c->shared->sessions, id) != 0) {
    reply_now(slot, MRLOG_ECLOSED, 0);
    return;
  }
  if (!mrlog_queue_exists(log, id)) {
    /* A worker is an application thread, so it may wait. */
    status = mrlog_wait(mrlog_create_queue(log, id, NULL, NULL), NULL);
    if (status == MRLOG_EEXIST)
      status = 0;
  }
  if (status == 0)
    status = mrlog_queue_info(log, id, &info);
  if (status != 0) {
    ingest_sessions_release(c->shared->sessions, id);
    reply_now(slot, status, 0);
    return;
  }
  strcpy(c->client, id);
  c->claimed = 1;
  c->next_position = info.next_position;
  /* A new queue for the consumer, if there is one, to read. */
  ingest_consumer_poke(c->shared->consumer);
  reply_now(slot, 0, info.next_position);
}

/* "ack <position>": the client has processed everything up to position,
 * so the log may drop it.  Only positions of records already sent are
 * taken, so a confused client cannot make its queue skip ahead (truncate
 * would move the queue's next position past the ack). */
static void
handle_ack(struct conn *c, struct reply_slot *slot, uint64_t position)
{
  if (position >= c->next_position) {
    reply_now(slot, MRLOG_EINVAL, 0);
    return;
  }
  /* Made on this thread after the appends of the records it covers, so
   * it takes effect after them even if their replies are still on the
   * way.  on_reply runs once, on the flusher, once the truncate is
   * durable. */
  mrlog_forget(mrlog_truncate(c->shared->log, c->client, position, on_reply,
                              slot));
}

/* "METRICS": the text, answered at once (sized by a first call; it may
 * grow in between, so retry). */
static void
handle_metrics(struct conn *c, struct reply_slot *slot)
{
  size_t needed = 0, size = 0;
  char *text = NULL, *bigger;
  int rc = mrlog_metrics_text(c->shared->log, NULL, 0, &needed);

  while (rc == MRLOG_ENOMEM && needed > 0) {
    size = needed + 1024;
    if ((bigger = realloc(text, size)) == NULL)
      break;
    text = bigger;
    rc = mrlog_metrics_text(c->shared->log, text, size, &needed);
  }
  if (rc != 0) {
    free(text);
    reply_now(slot, rc, 0);
    return;
  }
  pthread_mutex_lock(&c->mutex);
  slot->text = text;
  pthread_mutex_unlock(&c->mutex);
  reply_now(slot, 0, needed - 1); /* the NUL is not sent */
}

/* "consumed": the position committed under INGEST_CONSUMER on the
 * client's queue, answered at once (ENODATA before the first commit). */
static void
handle_consumed(struct conn *c, struct reply_slot *slot)
{
  uint64_t position = 0;
  int rc;

  if (!c->claimed) {
    reply_now(slot, INGEST_EPROTOCOL, 0);
    return;
  }
  rc = mrlog_committed(c->shared->log, c->client, INGEST_CONSUMER, &position);
  reply_now(slot, rc, position);
}

/* Gives the line the next slot and submits it (or answers it at once). */
static void
handle_line(struct conn *c, char *text, size_t len)
{
  struct reply_slot *slot = &c->slots[c->issued++ % WINDOW];
  struct ingest_line line;

  switch (ingest_parse_line(text, len, &line)) {
  case INGEST_LINE_HELLO:
    handle_hello(c, slot, line.arg);
    break;
  case INGEST_LINE_REC:
    if (!c->claimed) {
      reply_now(slot, INGEST_EPROTOCOL, 0);
      break;
    }
    /* mrlog copies the payload before returning, so the input buffer
     * may be reused at once.  on_reply runs once the record is durable
     * (the default policy), or with the error. */
    mrlog_forget(mrlog_append(c->shared->log, c->client, NULL, line.arg,
                              line.arg_len, on_reply, slot));
    c->next_position++;
    break;
  case INGEST_LINE_ACK:
    if (c->claimed)
      handle_ack(c, slot, line.position);
    else
      reply_now(slot, INGEST_EPROTOCOL, 0);
    break;
  case INGEST_LINE_METRICS:
    handle_metrics(c, slot);
    break;
  case INGEST_LINE_CONSUMED:
    handle_consumed(c, slot);
    break;
  case INGEST_LINE_BAD:
    reply_now(slot, INGEST_EPROTOCOL, 0);
    break;
  }
}

/* Submits complete lines from the input buffer while the window has room
 * (invariant 2), then keeps only the unhandled bytes. */
static void
process_lines(struct conn *c)
{
  size_t pos = 0;

  while (c->stopped == TAKING_REQUESTS && c->issued - c->replied < WINDOW) {
    char *line = c->in + pos;
    char *newline = memchr(line, '\n', c->in_len - pos);

    if (newline == NULL) {
      if (c->in_len - pos > INGEST_LINE_MAX) {
        /* Overlong: there is no telling where the next line starts. */
        reply_now(&c->slots[c->issued++ % WINDOW], INGEST_EPROTOCOL, 0);
        stop_taking(c, STOP_PROTOCOL);
      } else if (c->saw_eof) {
        if (pos < c->in_len) /* a last line without its newline */
          reply_now(&c->slots[c->issued++ % WINDOW], INGEST_EPROTOCOL, 0);
        pos = c->in_len;
        stop_taking(c, STOP_EOF);
      }
      break;
    }
    handle_line(c, line, (size_t)(newline - line));
    pos = (size_t)(newline - c->in) + 1;
  }
  memmove(c->in, c->in + pos, c->in_len - pos);
  c->in_len -= pos;
}

/* True when nothing is left to do but close. */
static int
finished(const struct conn *c)
{
  return c->stopped != TAKING_REQUESTS && c->replied == c->issued &&
         c->out_len == 0 && c->big == NULL &&
         (c->stopped != STOP_SERVER || c->bye_queued);
}

/* One poll: sleeps until the socket is ready, a callback wakes us, the
 * server stops, or the linger guard runs out. */
static void
wait_for_events(struct conn *c)
{
  struct pollfd fds[3];
  int timeout = -1;
  int want_input = c->stopped == TAKING_REQUESTS && !c->saw_eof &&
                   c->in_len <= INGEST_LINE_MAX &&
                   c->issued - c->replied < WINDOW;
  int want_output = c->out_len > c->out_sent || c->big != NULL;
  short events;

  fds[0].fd = (want_input || want_output) ? c->fd : -1;
  fds[0].events = (short)((want_input ? POLLIN : 0) |
                          (want_output ? POLLOUT : 0));
  fds[1].fd = c->wake_fd;
  fds[1].events = POLLIN;
  fds[2].fd = c->server_stopping ? -1 : c->shared->stop_fd;
  fds[2].events = POLLIN;
  if (c->linger_deadline_ms != 0 && c->stopped != STOP_BROKEN) {
    int64_t left = c->linger_deadline_ms - now_ms();
    if (left <= 0) {
      stop_taking(c, STOP_BROKEN); /* the client does not read: drop it */
      return;
    }
    timeout = (int)left;
  }
  if (poll(fds, 3, timeout) < 0)
    return; /* EINTR: just go round again */

  if (fds[1].revents & POLLIN) {
    uint64_t count;
    if (read(c->wake_fd, &count, sizeof(count)) < 0) {
      /* EAGAIN: another pass already drained it. */
    }
  }
  if (fds[2].revents) {
    c->server_stopping = 1;
    stop_taking(c, STOP_SERVER);
  }
  /* POLLHUP and POLLERR come whatever was asked for: let the read or the
   * write find the error, or drop a client that hung up on us. */
  events = fds[0].revents;
  if (want_input && (events & (POLLIN | POLLHUP | POLLERR)))
    read_input(c);
  if (want_output && (events & (POLLOUT | POLLHUP | POLLERR)))
    (void)write_output(c); /* the caller's loop harvests next */
  if (!want_input && !want_output && (events & (POLLHUP | POLLERR)))
    stop_taking(c, STOP_BROKEN);
}

/* After we stopped reading early: send FIN, then read and discard until
 * the client closes, so that closing does not turn into a reset that
 * could destroy replies the client has not read yet. */
static void
drain_before_close(struct conn *c)
{
  char scratch[4096];

  if (shutdown(c->fd, SHUT_WR) != 0)
    return;
  for (;;) {
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    int64_t left = c->linger_deadline_ms - now_ms();
    ssize_t n;

    if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
      return;
    n = recv(c->fd, scratch, sizeof(scratch), 0);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
      return;
  }
}

void
ingest_conn_serve(const struct ingest_shared *shared, int fd)
{
  struct conn *c = calloc(1, sizeof(*c));
  unsigned i;

  if (c == NULL || (c->in = malloc(INGEST_LINE_MAX + 1)) == NULL) {
    free(c);
    close(fd);
    return;
  }
  c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (c->wake_fd < 0) {
    free(c->in);
    free(c);
    close(fd);
    return;
  }
  c->shared = shared;
  c->fd = fd;
  pthread_mutex_init(&c->mutex, NULL);
  for (i = 0; i < WINDOW; i++)
    c->slots[i].conn = c;

  for (;;) {
    harvest(c);
    process_lines(c);
    harvest(c);
    if (write_output(c))
      continue; /* a METRICS text is out: harvest what waited behind it */
    if (finished(c))
      break;
    wait_for_events(c);
  }

  if ((c->stopped == STOP_SERVER || c->stopped == STOP_PROTOCOL) &&
      !c->saw_eof)
    drain_before_close(c);
  /* Invariant 4: replied == issued was seen under the mutex in harvest(),
   * so no callback refers to c any more. */
  if (c->claimed)
    ingest_sessions_release(shared->sessions, c->client);
  close(c->fd);
  close(c->wake_fd);
  pthread_mutex_destroy(&c->mutex);
  free(c->big);
  for (i = 0; i < WINDOW; i++)
    free(c->slots[i].text);
  free(c->in);
  free(c);
}

/*
 * ingest_server.c -- an example TCP ingest server on mrlog: clients send
 * newline-framed records, each client's records go to its own queue, and
 * each record is acknowledged once it is durable.
 *
 *   usage: ingest_server [--consume] DIR [PORT [WORKERS]]
 *
 * DIR is the log directory (created if missing).  PORT defaults to 0, an
 * ephemeral port; the server listens on 127.0.0.1 only and prints the port
 * it got as the first line of stdout (nothing else goes to stdout).
 * WORKERS (default 4) is the number of connections served at once.
 * SIGINT or SIGTERM stops it cleanly; it exits 0 if the log closed well.
 * --consume also starts a consumer thread (ingest_consumer.c) that reads
 * every queue through a cursor, counts the records and commits them under
 * the consumer name "ingest"; the log is then opened with
 * policy.truncate_on_commit, so what the consumer processed is dropped.
 *
 * THE PROTOCOL.  Lines end with '\n'.  The first word of a line says what
 * it is, so a record can never be taken for a command:
 *
 *   client -> server
 *     hello <client-id>   first line: who this is.  The id (1 to 64 bytes
 *                         of [A-Za-z0-9._-]) names the client's queue,
 *                         which is created if missing.  A client that
 *                         reconnects with the same id continues its queue.
 *     rec <payload>       one record.  The payload is any bytes (NUL
 *                         included, possibly none), with newline written
 *                         as the two bytes \n and backslash as \\ .
 *     ack <position>      the client has processed its records up to and
 *                         including position: the server truncates them.
 *     METRICS             the log's metrics (mrlog_metrics_text), at any
 *                         time, before hello too ("metrics" also works).
 *     consumed            after hello: the position the consumer "ingest"
 *                         has committed on the client's queue (every record
 *                         below it is processed, and with --consume
 *                         dropped); err ENODATA before its first commit.
 *
 *   server -> client: exactly one reply per line, in the order of the lines
 *     ok <number>         hello: the position the next record will take;
 *                         rec: the record's position, sent once the record
 *                         is durable; ack: the position, once the
 *                         truncation is durable; consumed: the committed
 *                         position.
 *     err <NAME>          the line failed: NAME is the mrlog status name
 *                         (ENOQUEUE, EIO, ...), or PROTOCOL for a line the
 *                         server cannot take (malformed, too long, or out
 *                         of turn, such as a record before hello).  An ack
 *                         beyond the client's last record is EINVAL; an
 *                         ack may follow its records without waiting for
 *                         their replies.
 *     ok <length>         METRICS: followed by exactly <length> bytes, the
 *     <text>              Prometheus text exposition (every line of it
 *                         ends with '\n'); err <NAME> if it failed.
 *   and, only when the server stops while it still takes lines from the
 *   connection (the client has not sent EOF):
 *     bye                 every line the server took has had its reply
 *                         above; records sent after those were not
 *                         appended.  The server then closes.
 *
 *   Example session (C: client, S: server):
 *     C: hello sensor-7       S: ok 0
 *     C: rec temp=21.5        S: ok 0
 *     C: rec a\nb             S: ok 1     (the record is "a", newline, "b")
 *     C: ack 1                S: ok 1     (records 0 and 1 are dropped)
 *
 * THE THREADS.  A fixed pool of WORKERS threads.  Each one waits (poll)
 * for a connection on the shared listening socket, accepts it and serves
 * it until it ends, then goes back for another (ingest_conn.c); a client
 * beyond the pool waits in the listen backlog.  Main only opens the log,
 * starts the pool and waits for a signal with sigwait().  mrlog adds its
 * own threads; its flusher runs our completion callbacks, which is why a
 * callback never writes to a socket itself (see ingest_conn.c).
 *
 * Why a thread per connection rather than one epoll loop: it keeps each
 * client's story in one place, and mrlog orders the calls of one thread,
 * so a client's records take positions in the order it sent them without
 * any extra bookkeeping.  A reconnecting client is ordered after its old
 * connection by ingest_sessions.c.
 *
 * SHUTDOWN.  Signals are blocked in every thread (mrlog's too, since they
 * inherit the mask), and main takes SIGINT/SIGTERM with sigwait().  It
 * then closes the write end of the stop pipe, which every worker polls:
 * they stop accepting and stop reading requests, wait for their in-flight
 * records to complete, send their replies and "bye", and close.  Main
 * joins them, stops the consumer (which cancels its waits), then
 * mrlog_close makes the rest durable.
 */
#include "ingest_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_WORKERS 4u
#define MAX_WORKERS 256u

struct worker {
  pthread_t thread;
  /* The listening socket (non-blocking), shared by every worker. */
  int listen_fd;
  const struct ingest_shared *shared;
};

/*
 * A worker's life: wait until a client is in the backlog or the server
 * stops; accept (another worker may have been quicker: EAGAIN); serve the
 * connection to its end; repeat.  Returns once the stop pipe is readable.
 */
static void *
worker_main(void *arg)
{
  struct worker *w = arg;

  for (;;) {
    struct pollfd fds[2] = {
        {.fd = w->listen_fd, .events = POLLIN},
        {.fd = w->shared->stop_fd, .events = POLLIN},
    };
    int fd;

    if (poll(fds, 2, -1) < 0 && errno != EINTR)
      break;
    if (fds[1].revents)
      break; /* stop accepting */
    if (!(fds[0].revents & POLLIN))
      continue;
    fd = accept4(w->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
      continue; /* EAGAIN (another worker took it) or a client gone */
    ingest_conn_serve(w->shared, fd);
  }
  return NULL;
}

/* Binds 127.0.0.1:port (0: any free port) and listens.  OUT: *bound the
 * port it got.  Returns the socket or -1. */
static int
listen_loopback(unsigned port, unsigned *bound)
{
  struct sockaddr_in addr;
  socklen_t len = sizeof(addr);
  int one = 1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

  if (fd < 0)
    return -1;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons((uint16_t)port);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
      listen(fd, 128) != 0 ||
      getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
    close(fd);
    return -1;
  }
  *bound = ntohs(addr.sin_port);
  return fd;
}

/* Parses a decimal argument in [min, max]; -1 if it is not one. */
static long
parse_arg(const char *s, long min, long max)
{
  char *end;
  long v;

  errno = 0;
  v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
    return -1;
  return v;
}

int
main(int argc, char **argv)
{
  int consume = argc > 1 && strcmp(argv[1], "--consume") == 0;
  const char *dir;
  struct ingest_consumer consumer;
  struct ingest_sessions sessions;
  mrlog_policy policy;
  struct ingest_shared shared;
  struct worker *workers;
  sigset_t signals;
  unsigned bound;
  int stop_pipe[2];
  int listen_fd, sig, rc;
  long i, port, nworkers;
  mrlog *log;

  argc -= consume;
  argv += consume;
  dir = argc > 1 ? argv[1] : NULL;
  port = argc > 2 ? parse_arg(argv[2], 0, 65535) : 0;
  nworkers = argc > 3 ? parse_arg(argv[3], 1, MAX_WORKERS)
                      : (long)DEFAULT_WORKERS;
  if (dir == NULL || argc > 4 || port < 0 || nworkers < 0) {
    fprintf(stderr,
            "usage: ingest_server [--consume] DIR [PORT [WORKERS]]\n");
    return 2;
  }

  /* Before any thread exists, mrlog's included, so that all inherit it:
   * the signals are only ever taken by sigwait() below. */
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, NULL);

  /* The default policy (a record is acknowledged once it is durable),
   * and with the consumer, commits truncate what every consumer has
   * processed. */
  mrlog_policy_init(&policy);
  policy.truncate_on_commit = consume;
  rc = mrlog_open(dir, &policy, &log);
  if (rc != 0) {
    fprintf(stderr, "ingest_server: cannot open %s: %s\n", dir,
            mrlog_strerror(rc));
    return 1;
  }
  listen_fd = listen_loopback((unsigned)port, &bound);
  workers = calloc((size_t)nworkers, sizeof(*workers));
  if (listen_fd < 0 || workers == NULL || pipe2(stop_pipe, O_CLOEXEC) != 0 ||
      ingest_sessions_init(&sessions, (unsigned)nworkers) != 0) {
    fprintf(stderr, "ingest_server: cannot listen on port %ld: %s\n", port,
            strerror(errno));
    mrlog_close(log);
    return 1;
  }
  shared.log = log;
  shared.sessions = &sessions;
  shared.stop_fd = stop_pipe[0];
  shared.consumer = NULL;
  if (consume) {
    if (ingest_consumer_start(&consumer, log) != 0) {
      fprintf(stderr, "ingest_server: cannot start the consumer: %s\n",
              strerror(errno));
      mrlog_close(log);
      return 1;
    }
    shared.consumer = &consumer;
  }

  /* The one line on stdout, for scripts and tests to find the port. */
  printf("%u\n", bound);
  fflush(stdout);
  fprintf(stderr, "ingest_server: %s on 127.0.0.1:%u, %ld workers\n", dir,
          bound, nworkers);

  for (i = 0; i < nworkers; i++) {
    workers[i].listen_fd = listen_fd;
    workers[i].shared = &shared;
    if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) !=
        0) {
      fprintf(stderr, "ingest_server: cannot start worker %ld\n", i);
      nworkers = i; /* stop those that did start */
      kill(getpid(), SIGTERM);
      break;
    }
  }

  while (sigwait(&signals, &sig) != 0) {
  }
  fprintf(stderr, "ingest_server: %s: stopping\n", strsignal(sig));

  /* Fail hellos still waiting for a claim, then wake every poll. */
  ingest_sessions_shutdown(&sessions);
  close(stop_pipe[1]);
  for (i = 0; i < nworkers; i++)
    pthread_join(workers[i].thread, NULL);
  close(listen_fd);
  close(stop_pipe[0]);
  ingest_sessions_destroy(&sessions);
  free(workers);
  if (shared.consumer != NULL)
    fprintf(stderr, "ingest_server: the consumer processed %llu records\n",
            (unsigned long long)ingest_consumer_stop(&consumer));

  /* Every worker has seen its last callback; close makes the rest (none
   * in flight now) durable and joins mrlog's threads. */
  rc = mrlog_close(log);
  if (rc != 0) {
    fprintf(stderr, "ingest_server: close: %s\n", mrlog_strerror(rc));
    return 1;
  }
  return 0;
}

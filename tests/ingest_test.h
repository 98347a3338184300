/*
 * ingest_test.h -- what the parts of tests/ingest_test share: the clients'
 * state, the wire helpers (ingest_wire.c) and the client behaviours
 * (ingest_clients.c).  The test's plan is at the top of ingest_test.c.
 */
#ifndef INGEST_TEST_H
#define INGEST_TEST_H

#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>
#include <stdint.h>

#define CLIENTS 8
#define RECORDS_PER_CLIENT 300
#define BURST_MAX 24
#define STRAGGLER_BURST_MAX 8
/* The straggler stops sending (and just waits for "bye") after this many
 * records, so a slow machine cannot make it grow without bound. */
#define STRAGGLER_CAP 100000
/* A guard against hangs, not a speed expectation: sanitizer builds on a
 * loaded machine are slow. */
#define WAIT_MS 120000

/* What every client thread shares with main. */
struct ingest_run {
  /* The server's port; set before any client starts. */
  unsigned port;
  /* Started clients wait here so they all begin together. */
  pthread_barrier_t start;
  /* Guards straggler_oks and straggler_finished; progress is broadcast
   * when either changes. */
  pthread_mutex_t progress_mutex;
  pthread_cond_t progress;
  /* "ok" replies the straggler has had. */
  int straggler_oks;
  /* 1 once the straggler's thread is done. */
  int straggler_finished;
};

struct record {
  unsigned char *data;
  size_t len;
  /* 1 once the server replied "ok position". */
  int ok;
  uint64_t position;
};

/* One client; owned by its thread while it runs, by main afterwards. */
struct client {
  struct ingest_run *run;
  int index;
  char id[32];
  /* The client's own random sequence (deterministic). */
  uint64_t rng;
  /* Behaviours (see the top of ingest_test.c). */
  int acks, reconnects, half_close, probes, big;
  /* Every record sent, in send order. */
  struct record *records;
  size_t count, cap;
  /* The position the next record must get. */
  uint64_t next;
  /* Highest acked (truncated) position, if has_acked. */
  int has_acked;
  uint64_t acked_upto;
  /* The connection (-1: none) and its read buffer. */
  int fd;
  char rbuf[8192];
  size_t rlen, rpos;
  /* The first failure, or "". */
  char error[512];
};

/* Records the client's first failure (later ones are dropped). */
void ingest_fail(struct client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Fails and returns -1 from the calling function unless cond holds. */
#define EXPECT(c, cond, ...)                                                   \
  do {                                                                         \
    if (!(cond)) {                                                             \
      ingest_fail((c), __VA_ARGS__);                                           \
      return -1;                                                               \
    }                                                                          \
  } while (0)

int64_t ingest_now_ms(void);
uint64_t ingest_random(uint64_t *state);

/* The wire (ingest_wire.c). */
int ingest_dial(struct client *c);
int ingest_send_all(int fd, const char *p, size_t n);
long ingest_read_line(struct client *c, char *line, size_t cap);
int ingest_expect_reply(struct client *c, const char *want, const char *after);
int ingest_parse_ok(const char *line, uint64_t *value);

/* Records (ingest_wire.c). */
struct record *ingest_add_record(struct client *c, size_t len);
struct record *ingest_make_record(struct client *c, size_t i, size_t max_len);
void ingest_put_record_line(char *buf, size_t *off, const struct record *r);

/* Behaviours (ingest_clients.c); thread entry points take a client. */
void *ingest_client_main(void *client);
void *ingest_straggler_main(void *client);
int ingest_run_overlong(struct client *c);
int ingest_run_metrics(struct client *c);

/* The server process (ingest_test.c).  ingest_start_server forks and
 * execs server on logdir (with --consume if consume), its stdout in
 * *stdout_fd; returns the pid or -1.  ingest_server_port reads the port
 * (0: failed, and the server is killed).  ingest_wait_server waits for it
 * to exit after SIGTERM: 0 if it exited 0. */
pid_t ingest_start_server(const char *server, const char *logdir, int consume,
                          int *stdout_fd);
unsigned ingest_server_port(pid_t pid, int stdout_fd, const char *server);
int ingest_wait_server(pid_t pid, int stdout_fd);

/* The consumer check (ingest_consume.c): 0 if it passed. */
int ingest_run_consumer(const char *server, const char *logdir);

#endif /* INGEST_TEST_H */

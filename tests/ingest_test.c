/*
 * ingest_test.c -- drives examples/ingest_server end to end and checks
 * every reply it gave against the log it left behind.
 *
 *  1. Starts the server on port 0 with 6 workers in a fresh temp dir
 *     (under $TMPDIR, else /tmp) and reads the port from its first line.
 *  2. Starts, behind a barrier, CLIENTS clients that each send
 *     RECORDS_PER_CLIENT records of varied sizes (empty ones, every byte
 *     value, lines that look like commands) in bursts, and check each
 *     reply as it comes: "ok P" with P exactly the next position of that
 *     client's queue.  Odd clients ack (truncate) some positions, the
 *     ack pipelined right behind the records it covers; clients
 *     0, 3 and 6 reconnect twice and continue; clients 2 and 5 half-close
 *     and expect EOF after their last replies; client 0 also sends bad
 *     lines and expects "err PROTOCOL" / "err EINVAL" in order; client 4
 *     sends records up to 60 KB.  A "straggler" client keeps sending until
 *     the server stops.  Afterwards one more client sends a line over the
 *     server's limit and expects "err PROTOCOL", then EOF; then the same
 *     client asks METRICS between two out-of-turn records and checks the
 *     replies' order and the text (ingest_run_metrics).
 *  3. Once the clients are done (and the straggler has had a reply),
 *     sends SIGTERM and expects: the straggler gets "bye" then EOF, and
 *     the server exits 0 (under the sanitizers that also means no leak and
 *     no race).
 *  4. Opens the log and checks, per client: every "ok P" record is at P
 *     with the exact bytes, truncated positions are gone, nothing else is
 *     there (the straggler's unanswered records included), and the queue's
 *     next position follows the last reply.
 *  5. Starts a second server with --consume on a fresh log and checks its
 *     consumer (ingest_consume.c): the committed position reaches the
 *     queue's next position and the records are truncated.
 *
 * No sleeps: every wait is a poll or a timed wait whose deadline
 * (WAIT_MS) only guards against a hang.
 *
 * This file runs the plan and does the check against the log; the
 * clients are in ingest_clients.c, their wire and records in
 * ingest_wire.c.
 */
#include "ingest_test.h"

#include <mrlog.h>

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Workers for the server: fewer than the clients, so some wait in the
 * listen backlog until a worker is free. */
#define WORKERS "6"

/* ------------------------------------------------------------------ */
/* The check against the log. */

struct visit {
  struct client *c;
  /* Index into c->records of the next record that should be there. */
  size_t at;
  /* Records seen. */
  uint64_t seen;
};

static int
expected_in_log(const struct client *c, const struct record *r)
{
  return r->ok && !(c->has_acked && r->position <= c->acked_upto);
}

static int
visit_record(void *arg, uint64_t position, const void *data, size_t len)
{
  struct visit *v = arg;
  struct client *c = v->c;
  const struct record *r;

  while (v->at < c->count && !expected_in_log(c, &c->records[v->at]))
    v->at++;
  if (v->at == c->count) {
    ingest_fail(c,
                "the log holds a record at %" PRIu64 " that was never "
                "acknowledged (or was truncated)",
                position);
    return 1;
  }
  r = &c->records[v->at++];
  if (r->position != position) {
    ingest_fail(c, "the log's next record is at %" PRIu64 ", want %" PRIu64,
                position, r->position);
    return 1;
  }
  if (r->len != len || (len > 0 && memcmp(r->data, data, len) != 0)) {
    ingest_fail(c,
                "record %" PRIu64 ": %zu bytes in the log differ from the %zu "
                "sent",
                position, len, r->len);
    return 1;
  }
  v->seen++;
  return 0;
}

static int
verify_client(mrlog *log, struct client *c)
{
  struct mrlog_queue_info info;
  struct visit v = {c, 0, 0};
  uint64_t want = 0;
  size_t i;
  int rc;

  for (i = 0; i < c->count; i++)
    want += (uint64_t)expected_in_log(c, &c->records[i]);
  rc = mrlog_queue_info(log, c->id, &info);
  EXPECT(c, rc == 0, "queue_info: %s", mrlog_strerror(rc));
  rc = mrlog_range(log, c->id, 0, UINT64_MAX, visit_record, &v);
  if (rc != 0 && c->error[0] == '\0')
    ingest_fail(c, "range: %s", mrlog_strerror(rc));
  if (c->error[0] != '\0')
    return -1;
  EXPECT(c, v.seen == want, "the log holds %" PRIu64 " records, want %" PRIu64,
         v.seen, want);
  EXPECT(c, info.records == want,
         "queue_info.records %" PRIu64 ", want %" PRIu64, info.records, want);
  EXPECT(c, info.next_position == c->next,
         "next position %" PRIu64 ", want %" PRIu64, info.next_position,
         c->next);
  EXPECT(c, info.first_position == (c->has_acked ? c->acked_upto + 1 : 0),
         "first position %" PRIu64 " after acking up to %" PRIu64,
         info.first_position, c->has_acked ? c->acked_upto : 0);
  return 0;
}

/* ------------------------------------------------------------------ */

static int
remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
  (void)st;
  (void)type;
  (void)ftw;
  return remove(path);
}

/* Reads the server's first stdout line: the port.  0 on failure. */
static unsigned
read_port(int fd)
{
  char line[32];
  size_t len = 0;
  int64_t deadline = ingest_now_ms() + WAIT_MS;

  while (len < sizeof(line) - 1) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int64_t left = deadline - ingest_now_ms();
    if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
      return 0;
    if (read(fd, line + len, 1) != 1)
      return 0;
    if (line[len] == '\n') {
      line[len] = '\0';
      return (unsigned)strtoul(line, NULL, 10);
    }
    len++;
  }
  return 0;
}

/* See ingest_test.h. */
pid_t
ingest_start_server(const char *server, const char *logdir, int consume,
                    int *stdout_fd)
{
  int out[2];
  pid_t pid;

  if (pipe(out) != 0 || (pid = fork()) < 0) {
    perror("pipe/fork");
    return -1;
  }
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    if (consume)
      execl(server, server, "--consume", logdir, "0", WORKERS, (char *)NULL);
    else
      execl(server, server, logdir, "0", WORKERS, (char *)NULL);
    fprintf(stderr, "exec %s: %s\n", server, strerror(errno));
    _exit(127);
  }
  close(out[1]);
  *stdout_fd = out[0];
  return pid;
}

/* See ingest_test.h. */
unsigned
ingest_server_port(pid_t pid, int stdout_fd, const char *server)
{
  unsigned port = read_port(stdout_fd);

  if (port == 0) {
    fprintf(stderr, "FAIL: no port line from %s\n", server);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
  }
  return port;
}

/* See ingest_test.h. */
int
ingest_wait_server(pid_t pid, int stdout_fd)
{
  int64_t deadline = ingest_now_ms() + WAIT_MS;
  int status;
  char scratch[64];

  for (;;) {
    struct pollfd pfd = {.fd = stdout_fd, .events = POLLIN};
    int64_t left = deadline - ingest_now_ms();
    if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
      fprintf(stderr, "FAIL: the server did not exit after SIGTERM\n");
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    if (read(stdout_fd, scratch, sizeof(scratch)) <= 0)
      break;
  }
  if (waitpid(pid, &status, 0) != pid) {
    perror("waitpid");
    return -1;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "FAIL: the server ended with %s %d\n",
            WIFEXITED(status) ? "exit status" : "signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    return -1;
  }
  return 0;
}

int
main(void)
{
  const char *tmp = getenv("TMPDIR");
  const char *top = getenv("top_builddir");
  /* CLIENTS regular ones, then the straggler, then the overlong one. */
  static struct ingest_run run;
  static struct client clients[CLIENTS + 2];
  struct client *straggler = &clients[CLIENTS];
  struct client *overlong = &clients[CLIENTS + 1];
  pthread_t threads[CLIENTS + 1];
  char dir[4096], logdir[4096 + 8], server[4096 + 64];
  struct mrlog_stats stats;
  int64_t deadline;
  int out_fd, failed = 0, rc, i, progress;
  pid_t pid;
  mrlog *log;

  snprintf(dir, sizeof(dir), "%.3000s/mrlog-ingest-XXXXXX",
           tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  snprintf(logdir, sizeof(logdir), "%s/log", dir);
  snprintf(server, sizeof(server), "%.4000s/examples/ingest_server",
           top != NULL ? top : ".");

  /* Fork before any thread exists. */
  if ((pid = ingest_start_server(server, logdir, 0, &out_fd)) < 0)
    return 1;
  run.port = ingest_server_port(pid, out_fd, server);
  if (run.port == 0)
    return 1;

  for (i = 0; i < CLIENTS + 2; i++) {
    struct client *c = &clients[i];
    c->run = &run;
    c->index = i;
    c->rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
    c->fd = -1;
    if (i >= CLIENTS) {
      snprintf(c->id, sizeof(c->id), i == CLIENTS ? "straggler" : "overlong");
      continue;
    }
    snprintf(c->id, sizeof(c->id), "client-%d", i);
    c->acks = i % 2 == 1;
    c->reconnects = i % 3 == 0;
    c->half_close = i == 2 || i == 5;
    c->probes = i == 0;
    c->big = i == 4;
  }
  pthread_barrier_init(&run.start, NULL, CLIENTS + 1);
  pthread_mutex_init(&run.progress_mutex, NULL);
  pthread_cond_init(&run.progress, NULL);
  for (i = 0; i < CLIENTS; i++)
    pthread_create(&threads[i], NULL, ingest_client_main, &clients[i]);
  pthread_create(&threads[CLIENTS], NULL, ingest_straggler_main, straggler);
  for (i = 0; i < CLIENTS; i++)
    pthread_join(threads[i], NULL);
  ingest_run_overlong(overlong);
  if (overlong->fd >= 0)
    close(overlong->fd);
  /* The same client (its records are the overlong run's) asks METRICS. */
  ingest_run_metrics(overlong);
  if (overlong->fd >= 0)
    close(overlong->fd);

  /* Stop the server while the straggler is mid-stream. */
  deadline = ingest_now_ms() + WAIT_MS;
  pthread_mutex_lock(&run.progress_mutex);
  while (run.straggler_oks == 0 && !run.straggler_finished &&
         ingest_now_ms() < deadline) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 1;
    pthread_cond_timedwait(&run.progress, &run.progress_mutex, &until);
  }
  progress = run.straggler_oks;
  pthread_mutex_unlock(&run.progress_mutex);
  if (progress == 0)
    fprintf(stderr, "FAIL: the straggler got no reply\n");
  kill(pid, SIGTERM);
  pthread_join(threads[CLIENTS], NULL);
  pthread_barrier_destroy(&run.start);
  pthread_cond_destroy(&run.progress);
  pthread_mutex_destroy(&run.progress_mutex);
  if (ingest_wait_server(pid, out_fd) != 0 || progress == 0)
    failed = 1;
  close(out_fd);

  for (i = 0; i < CLIENTS + 2; i++)
    if (clients[i].error[0] != '\0')
      failed = 1;

  /* The log as the server left it. */
  rc = mrlog_open(logdir, NULL, &log);
  if (rc != 0) {
    fprintf(stderr, "FAIL: mrlog_open(%s): %s\n", logdir, mrlog_strerror(rc));
    return 1;
  }
  for (i = 0; i < CLIENTS + 2 && !failed; i++)
    if (verify_client(log, &clients[i]) != 0)
      failed = 1;
  if (!failed &&
      (mrlog_stats(log, &stats) != 0 || stats.queues != CLIENTS + 2)) {
    fprintf(stderr, "FAIL: %" PRIu64 " queues in the log, want %d\n",
            stats.queues, CLIENTS + 2);
    failed = 1;
  }
  mrlog_close(log);

  /* A second server, with its consumer, in a log of its own. */
  snprintf(logdir, sizeof(logdir), "%s/consume", dir);
  if (!failed && ingest_run_consumer(server, logdir) != 0)
    failed = 1;

  for (i = 0; i < CLIENTS + 2; i++) {
    struct client *c = &clients[i];
    size_t k;
    if (c->error[0] != '\0')
      fprintf(stderr, "FAIL: %s\n", c->error);
    else
      printf("%-10s %4zu records sent, %4" PRIu64 " acknowledged, acked up "
             "to %s%" PRIu64 "\n",
             c->id, c->count, c->next, c->has_acked ? "" : "(none) ",
             c->has_acked ? c->acked_upto : 0);
    for (k = 0; k < c->count; k++)
      free(c->records[k].data);
    free(c->records);
  }
  nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  if (failed)
    return 1;
  printf("PASS: every reply matches the log\n");
  return 0;
}

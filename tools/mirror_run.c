/*
 * mirror_run.c -- runs `mrlog mirror` and `mrlog replica` (cmd_mirror.c
 * parses their options): opens the log for writing, starts
 * libmrlog_mirror on it, prints progress, and stops on a signal or, for
 * mirror --once, when every record of the log is confirmed.  Built only
 * with librabbitmq (tools/tools.mk); mirror_none.c stands in otherwise.
 *
 * Threads.  mrlog_open and mrlog_mirror_start (or mrlog_replica_start)
 * start the library's and the mirror's threads; the main thread only
 * waits, prints and stops them.  It blocks SIGINT and SIGTERM before the
 * first of those threads exists, so every thread inherits the mask and
 * the signals stay pending until the main thread takes them with
 * sigtimedwait(2): no handler runs, so nothing needs to be
 * async-signal-safe.  sigtimedwait is also the main thread's only sleep:
 * it wakes every TICK_MS to read the stats (no busy loop).
 *
 * Invariants:
 *  1. The log is opened for writing (mrlog_open takes its lock), so no
 *     other process appends while the mirror runs: the records to ship
 *     are exactly those durable at the open, queue by queue (the
 *     targets).  mirror needs an existing log (segment files in DIR, else
 *     66) and never creates one; replica creates DIR (and its parents) as
 *     needed.
 *  2. A mirror is done when, for every target, mrlog_mirror_queue reports
 *     next_confirmed >= the target's durable position.  --once stops at
 *     done; a signal first waits for done (the drain), so the stats
 *     printed are final and mrlog_mirror_stop has nothing left to wait
 *     for.
 *  3. Waiting for done gives up when --timeout seconds pass with records
 *     unconfirmed and stats.records_confirmed unchanged (0: never); a
 *     signal during --once, or a second one during the drain, gives up
 *     at once.  Giving up stops
 *     the mirror without waiting and exits 75: the unconfirmed records
 *     stay uncommitted under the consumer name, so the next run ships
 *     them.
 *  4. The stats printed with --json are read after the mirror is done (or
 *     gave up) and before mrlog_mirror_stop frees it; every field of
 *     struct mrlog_mirror_stats is printed.
 */
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mrlog_mirror.h"

#define TICK_MS 200          /* the main thread's wake-ups */
#define STOP_DRAINED_MS 5000 /* mrlog_mirror_stop's wait once done */

/* A queue the mirror must ship, and how far (invariant 1). */
struct target {
  char *name;       /* owned */
  uint64_t durable; /* durable_position at the open */
};

struct run {
  const struct tool_mirror_opts *o;
  mrlog *log;
  mrlog_mirror *m;
  struct target *targets; /* mirror: owned array */
  size_t ntargets;
  sigset_t stops;         /* SIGINT, SIGTERM: blocked in every thread */
  char line[640];         /* the last progress line printed */
  uint64_t line_ms;       /* when it was printed */
};

static uint64_t
now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The log's log_fn (any library thread): errors always, warnings (what
 * recovery did) unless quiet. */
static void
on_log(void *arg, int level, const char *message)
{
  const struct run *r = arg;

  if (level == MRLOG_LOG_ERROR || (level == MRLOG_LOG_WARN && !r->o->quiet))
    tool_warn("%s", message);
}

/* The mirror's log_fn (its thread): connections and their failures,
 * unless quiet (the progress line shows the last error too). */
static void
on_mirror_log(void *arg, int level, const char *message)
{
  const struct run *r = arg;

  (void)level;
  if (!r->o->quiet)
    tool_warn("%s", message);
}

/* Invariant 1: mirror ships an existing log only. */
static int
check_log_dir(const char *dir)
{
  uint64_t *segnos = NULL;
  size_t n = 0;
  int fd, err;

  fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    tool_warn("cannot open %s: %s", dir, strerror(errno));
    return TOOL_EXIT_NOINPUT;
  }
  err = tool_segment_list(fd, &segnos, &n);
  close(fd);
  free(segnos);
  if (err != 0) {
    tool_warn("cannot list %s: %s", dir, strerror(err));
    return TOOL_EXIT_NOINPUT;
  }
  if (n == 0) {
    tool_warn("%s: not an mrlog log directory (no segment files)", dir);
    return TOOL_EXIT_NOINPUT;
  }
  return 0;
}

static int
open_log(struct run *r)
{
  mrlog_policy policy;
  int status;

  mrlog_policy_init(&policy);
  policy.log_fn = on_log;
  policy.log_arg = r;
  policy.create_parents = r->o->replica;
  status = mrlog_open(r->o->dir, &policy, &r->log);
  if (status == 0)
    return 0;
  if (status == MRLOG_ELOCKED) {
    tool_warn("%s: the log is held by another process", r->o->dir);
    return TOOL_EXIT_TEMPFAIL;
  }
  tool_warn("cannot open the log in %s: %s", r->o->dir,
            mrlog_strerror(status));
  return tool_exit_of(status);
}

static int
add_target(void *arg, const char *queue)
{
  struct run *r = arg;
  const char *glob = r->o->queues != NULL ? r->o->queues : "*";
  struct mrlog_queue_info info;

  if (fnmatch(glob, queue, 0) != 0 ||
      mrlog_queue_info(r->log, queue, &info) != 0)
    return 0;
  r->targets = tool_xrealloc(r->targets,
                             (r->ntargets + 1) * sizeof(*r->targets));
  r->targets[r->ntargets].name = strdup(queue);
  if (r->targets[r->ntargets].name == NULL)
    return MRLOG_ENOMEM;
  r->targets[r->ntargets++].durable = info.durable_position;
  return 0;
}

/* How many targets are not yet confirmed up to their durable position:
 * 0 is done (invariant 2). */
static size_t
unconfirmed(struct run *r)
{
  uint64_t next, durable;
  size_t i, n = 0;

  for (i = 0; i < r->ntargets; i++)
    if (mrlog_mirror_queue(r->m, r->targets[i].name, &next, &durable) != 0 ||
        next < r->targets[i].durable)
      n++;
  return n;
}

static int
start(struct run *r)
{
  const struct tool_mirror_opts *o = r->o;
  struct mrlog_mirror_config c;
  int status;

  mrlog_mirror_config_init(&c);
  c.uris = o->uris;
  c.queues = o->queues;
  c.exchange = o->exchange;
  c.queue_prefix = o->queue_prefix;
  c.consumer = o->consumer;
  if (o->records_per_message != TOOL_MIRROR_DEFAULT)
    c.records_per_message = (unsigned)o->records_per_message;
  if (o->message_bytes != TOOL_MIRROR_DEFAULT)
    c.message_bytes = (size_t)o->message_bytes;
  if (o->messages_in_flight != TOOL_MIRROR_DEFAULT)
    c.messages_in_flight = (unsigned)o->messages_in_flight;
  if (o->heartbeat_s != TOOL_MIRROR_DEFAULT)
    c.heartbeat_s = (unsigned)o->heartbeat_s;
  c.log_fn = on_mirror_log;
  c.log_arg = r;
  status = o->replica ? mrlog_replica_start(r->log, &c, &r->m)
                      : mrlog_mirror_start(r->log, &c, &r->m);
  if (status == MRLOG_EINVAL) {
    tool_warn("malformed URI list: %s", o->uris);
    return TOOL_EXIT_USAGE;
  }
  if (status != 0) {
    tool_warn("cannot start: %s", mrlog_strerror(status));
    return TOOL_EXIT_OSERR;
  }
  return 0;
}

/* The progress line: on stderr when it changed and the interval has
 * passed since the last one (or always, with force). */
static void
progress(struct run *r, const struct mrlog_mirror_stats *s, bool force)
{
  char line[sizeof(r->line)], err[320] = "";
  uint64_t t = now_ms();

  if (r->o->quiet || (r->o->interval_s == 0 && !force))
    return;
  if (s->last_error != 0)
    snprintf(err, sizeof(err), ", last error %s: %s",
             mrlog_err_name(s->last_error), s->last_error_text);
  if (r->o->replica)
    snprintf(line, sizeof(line), "node %s %s, %" PRIu64 " queues, %" PRIu64
             " deliveries, %" PRIu64 " records applied, %" PRIu64
             " duplicate, %" PRIu64 " rejected%s",
             s->node[0] ? s->node : "-",
             s->connected ? "connected" : "not connected", s->queues,
             s->deliveries, s->records_applied, s->records_duplicate,
             s->rejected, err);
  else
    snprintf(line, sizeof(line), "node %s %s, %" PRIu64 " queues, %" PRIu64
             " records confirmed, lag %" PRIu64 "%s",
             s->node[0] ? s->node : "-",
             s->connected ? "connected" : "not connected", s->queues,
             s->records_confirmed, s->lag, err);
  if (!force && (strcmp(line, r->line) == 0 ||
                 t - r->line_ms < r->o->interval_s * 1000))
    return;
  tool_warn("%s", line);
  memcpy(r->line, line, sizeof(line));
  r->line_ms = t;
}

/* Every field of the stats, one JSON object (invariant 4). */
static void
print_json(const struct mrlog_mirror_stats *s)
{
  fputs("{", stdout);
  tool_json_u64(stdout, "connected", (uint64_t)s->connected, true);
  tool_json_str(stdout, "node", s->node, true);
  tool_json_u64(stdout, "messages_published", s->messages_published, true);
  tool_json_u64(stdout, "records_published", s->records_published, true);
  tool_json_u64(stdout, "messages_confirmed", s->messages_confirmed, true);
  tool_json_u64(stdout, "records_confirmed", s->records_confirmed, true);
  tool_json_u64(stdout, "nacks", s->nacks, true);
  tool_json_u64(stdout, "returns", s->returns, true);
  tool_json_u64(stdout, "connects", s->connects, true);
  tool_json_u64(stdout, "reconnects", s->reconnects, true);
  tool_json_u64(stdout, "queues", s->queues, true);
  tool_json_u64(stdout, "lag", s->lag, true);
  tool_json_u64(stdout, "deliveries", s->deliveries, true);
  tool_json_u64(stdout, "records_applied", s->records_applied, true);
  tool_json_u64(stdout, "records_duplicate", s->records_duplicate, true);
  tool_json_u64(stdout, "rejected", s->rejected, true);
  tool_json_u64(stdout, "deletes", s->deletes, true);
  tool_json_u64(stdout, "out_of_order", s->out_of_order, true);
  tool_json_u64(stdout, "truncations", s->truncations, true);
  printf("\"last_error\": %d, ", s->last_error);
  tool_json_str(stdout, "last_error_name",
                s->last_error != 0 ? mrlog_err_name(s->last_error) : NULL,
                true);
  tool_json_str(stdout, "last_error_text", s->last_error_text, false);
  fputs("}\n", stdout);
}

/* Sleeps until a stop signal or TICK_MS; the signal's number or 0. */
static int
wait_tick(struct run *r)
{
  struct timespec ts = { 0, TICK_MS * 1000000L };
  int sig = sigtimedwait(&r->stops, NULL, &ts);

  return sig > 0 ? sig : 0;
}

/* A mirror: waits for done (invariants 2 and 3).  Returns true when
 * done, false when it gave up (a timeout or a signal). */
static bool
wait_done(struct run *r, struct mrlog_mirror_stats *s)
{
  uint64_t confirmed = UINT64_MAX, since = 0;
  size_t left;

  for (;;) {
    mrlog_mirror_stats(r->m, s);
    progress(r, s, false);
    left = unconfirmed(r);
    if (left == 0)
      return true;
    if (s->records_confirmed != confirmed) {
      confirmed = s->records_confirmed;
      since = now_ms();
    } else if (r->o->timeout_s != 0 &&
               now_ms() - since >= r->o->timeout_s * 1000) {
      tool_warn("gave up: %" PRIu64 " s without a record confirmed; %zu of "
                "%zu queue(s) not confirmed", r->o->timeout_s, left,
                r->ntargets);
      return false;
    }
    if (wait_tick(r) != 0) {
      tool_warn("stopped by a signal; %zu of %zu queue(s) not confirmed",
                left, r->ntargets);
      return false;
    }
  }
}

/* Until a signal, with progress lines. */
static void
wait_signal(struct run *r)
{
  struct mrlog_mirror_stats s;

  do {
    mrlog_mirror_stats(r->m, &s);
    progress(r, &s, false);
  } while (wait_tick(r) == 0);
}

static int
run(struct run *r)
{
  struct mrlog_mirror_stats s;
  bool ok = true;
  int status, rc;

  if (!r->o->replica) {
    status = mrlog_list_queues(r->log, add_target, r);
    if (status != 0) {
      tool_warn("cannot list the queues: %s", mrlog_strerror(status));
      return tool_exit_of(status);
    }
    if (r->ntargets == 0 && !r->o->quiet)
      tool_warn("no queue of %s matches '%s'", r->o->dir,
                r->o->queues != NULL ? r->o->queues : "*");
  }
  rc = start(r);
  if (rc != 0)
    return rc;
  if (r->o->replica || !r->o->once)
    wait_signal(r);
  if (!r->o->replica)
    ok = wait_done(r, &s); /* --once, or the drain after a signal */
  mrlog_mirror_stats(r->m, &s);
  /* A replica's stop returns 0: what it has not acked comes again. */
  status = mrlog_mirror_stop(r->m, ok ? STOP_DRAINED_MS : 0);
  r->m = NULL;
  progress(r, &s, true);
  if (r->o->json)
    print_json(&s);
  if (!ok)
    return TOOL_EXIT_TEMPFAIL;
  if (status != 0) {
    tool_warn("stopped with records unconfirmed: %s",
              mrlog_strerror(status));
    return TOOL_EXIT_TEMPFAIL;
  }
  return TOOL_EXIT_OK;
}

int
tool_mirror_run(const struct tool_mirror_opts *o)
{
  struct run r;
  int rc, status;
  size_t i;

  memset(&r, 0, sizeof(r));
  r.o = o;
  if (!o->replica && (rc = check_log_dir(o->dir)) != 0)
    return rc;
  /* Before any thread exists: every thread inherits the mask. */
  sigemptyset(&r.stops);
  sigaddset(&r.stops, SIGINT);
  sigaddset(&r.stops, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &r.stops, NULL);
  signal(SIGPIPE, SIG_IGN);
  rc = open_log(&r);
  if (rc != 0)
    return rc;
  rc = run(&r); /* the mirror is stopped when it returns */
  status = mrlog_close(r.log);
  if (status != 0 && rc == 0) {
    tool_warn("closing the log: %s", mrlog_strerror(status));
    rc = tool_exit_of(status);
  }
  for (i = 0; i < r.ntargets; i++)
    free(r.targets[i].name);
  free(r.targets);
  if (fflush(stdout) != 0 && rc == 0)
    rc = TOOL_EXIT_IOERR;
  return rc;
}

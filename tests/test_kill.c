/*
 * test_kill.c -- kill -9 under load.  Each iteration forks a child that
 * opens the log directory and appends from several threads (single records,
 * explicit positions, batches, big records) and truncates, writing every
 * acknowledgement to a pipe; the parent SIGKILLs it at a random moment,
 * reopens the log and checks that nothing acknowledged is lost and that
 * nothing which was never appended appears; producers also commit a
 * consumer's position, and an acknowledged commit must never go back nor
 * a recovered one exceed what was submitted.  The directory is reused, so
 * later iterations recover logs that went through many kills.
 *
 * Durable mode (fsync_interval_ms = 0) acknowledges after fdatasync and
 * written mode (fsync_interval_ms > 0) after write(2); a SIGKILL loses
 * neither, since the kernel keeps written pages (power loss is not tested).
 *
 * The parent forks only while it has no log open (mrlog_close has joined
 * every library thread), so the child may use any function.  The child
 * never asserts and never returns into Check: it reports a problem through
 * the pipe and _exit()s.  Failures print the seed; MRLOG_KILL_SEED replays
 * its random choices (the kill timing stays up to the scheduler).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_mrlog.h"

#define KILL_QUEUES_MAX 8
#define KILL_THREADS_MAX 4
#define KILL_BATCH_MAX 8
#define KILL_BIG_MAX 12000u  /* payload bytes of the occasional big record */
#define KILL_KEEP_MIN 500u   /* a truncation keeps at least this many */
#define KILL_KEEP_SPAN 1500u /* ... and up to this many positions more */
#define KILL_MAGIC 0x6b696c6cu
#define KILL_SLEEP_MIN_MS 1
#define KILL_SLEEP_MAX_MS 30
#define KILL_WRITTEN_FSYNC_MS 5u

/* Every payload starts with this header; filler from th_fill follows. */
struct rec_hdr {
  uint64_t check;     /* th_hash of the payload bytes after this field */
  uint32_t magic;     /* KILL_MAGIC */
  uint32_t len;       /* whole payload length, header included */
  uint32_t iter;      /* iteration whose child appended it */
  uint32_t thread;    /* producer index in that child */
  uint64_t seq;       /* the producer's record counter, from 0 */
  uint32_t queue;     /* index of the queue it was appended to */
  uint16_t batch_idx; /* index in its batch; 0 for a single record */
  uint16_t batch_n;   /* records in its batch; 1 for a single record */
};
_Static_assert(sizeof(struct rec_hdr) == 40, "no padding in the header");

enum rep_kind {
  REP_APPEND = 1,   /* an append acknowledged (MRLOG_OK) at position */
  REP_TRUNC_INTENT, /* about to submit a truncation at position */
  REP_TRUNC_ACK,    /* the truncation at position was acknowledged */
  REP_CREATE,       /* the queue's creation was acknowledged */
  REP_ERROR,        /* the child failed: status, and where in position */
  REP_STARTED,      /* the log is open and the producers are starting */
  REP_COMMIT_INTENT, /* about to commit KILL_CONSUMER at position */
  REP_COMMIT_ACK     /* that commit was acknowledged (MRLOG_OK) */
};

#define KILL_CONSUMER "kill-consumer"


/* One message on the pipe, written with a single write(2). */
struct report {
  uint32_t kind;     /* enum rep_kind */
  uint32_t queue;    /* queue index */
  uint64_t position; /* see enum rep_kind */
  uint64_t hash;     /* REP_APPEND: th_hash of the whole payload */
  uint32_t len;      /* REP_APPEND: payload length */
  int32_t status;    /* REP_ERROR: the mrlog status */
};
_Static_assert(sizeof(struct report) <= _POSIX_PIPE_BUF, "atomic pipe writes");

static uint64_t mix64(uint64_t x) {
  /* splitmix64's finaliser: a seed per (seed, iteration, thread). */
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static uint64_t rnd(uint64_t *s) {
  *s = mix64(*s);
  return *s;
}

static void queue_name(char *buf, size_t n, uint32_t q) {
  snprintf(buf, n, "kill-q%" PRIu32, q);
}

static mrlog_policy kill_policy(unsigned fsync_ms) {
  mrlog_policy p = th_policy();

  p.fsync_interval_ms = fsync_ms;
  p.segment_bytes = 64u * 1024u;
  p.cleaner_interval_ms = 5;
  return p;
}

/* ---- The child ----------------------------------------------------------- */

/* The child's state, shared by its producers and callbacks. */
struct child {
  mrlog *log;                      /* the log this child opened */
  int wfd;                         /* write end of the pipe */
  uint32_t iter;                   /* iteration number, put in payloads */
  uint32_t nq;                     /* queues in use: 0 .. nq - 1 */
  uint64_t seed;                   /* the run's seed */
  char names[KILL_QUEUES_MAX][32]; /* queue names, by index */
  /* Per queue, one past the highest acknowledged position (from next at
   * open): where producers truncate behind.  Raised by callbacks. */
  atomic_uint_least64_t hi[KILL_QUEUES_MAX];
  /* Per queue, the last position handed to a commit of KILL_CONSUMER (from
   * the committed one at open), so each commit asks for more. */
  atomic_uint_least64_t cpos[KILL_QUEUES_MAX];
};

/* What a callback needs to report its mutation. */
struct pending {
  struct child *c;               /* the child (callbacks get only arg) */
  uint32_t kind;                 /* REP_APPEND, REP_TRUNC_ACK or
                                    REP_COMMIT_ACK */
  uint32_t queue;                /* queue index */
  bool explicit_pos;             /* MRLOG_DUPLICATE is expected only then
                                    (commits: another producer's higher
                                    one may land first) */
  uint32_t n;                    /* records (REP_APPEND) */
  uint64_t hash[KILL_BATCH_MAX]; /* th_hash of each record's payload */
  uint32_t len[KILL_BATCH_MAX];  /* each record's payload length */
};

static void send_report(int wfd, uint32_t kind, uint32_t queue,
                        uint64_t position, uint64_t hash, uint32_t len,
                        int status) {
  struct report r;

  memset(&r, 0, sizeof(r));
  r.kind = kind;
  r.queue = queue;
  r.position = position;
  r.hash = hash;
  r.len = len;
  r.status = status;
  /* Below PIPE_BUF, so all or nothing even if the child dies here.  A
   * failure means the parent is gone; nothing is left to tell. */
  if (write(wfd, &r, sizeof(r)) != (ssize_t)sizeof(r)) _exit(3);
}

static _Noreturn void child_fail(struct child *c, uint32_t where, int status) {
  send_report(c->wfd, REP_ERROR, 0, where, 0, 0, status);
  _exit(4);
}

static void child_done(void *arg, int status, uint64_t position) {
  struct pending *p = arg;
  struct child *c = p->c;
  uint32_t i;

  if (status == MRLOG_OK && p->kind == REP_APPEND) {
    uint64_t first = position - (p->n - 1), hi;
    for (i = 0; i < p->n; i++)
      send_report(c->wfd, REP_APPEND, p->queue, first + i, p->hash[i],
                  p->len[i], 0);
    hi = atomic_load(&c->hi[p->queue]);
    while (hi < position + 1 &&
           !atomic_compare_exchange_weak(&c->hi[p->queue], &hi, position + 1)) {
    }
  } else if (status == MRLOG_OK) {
    send_report(c->wfd, p->kind, p->queue, position, 0, 0, 0);
  } else if (!(status == MRLOG_DUPLICATE && p->explicit_pos)) {
    send_report(c->wfd, REP_ERROR, p->queue, 100 + p->kind, 0, 0, status);
  }
  free(p);
}

/* Builds one payload in buf and returns its length. */
static uint32_t make_payload(unsigned char *buf, const struct child *c,
                             uint32_t thread, uint64_t seq, uint32_t q,
                             uint16_t idx, uint16_t n, uint64_t *rng) {
  struct rec_hdr h;
  uint64_t r = rnd(rng);
  uint32_t len = (uint32_t)sizeof(h) +
                 (uint32_t)(r % 64 == 0 ? (r >> 8) % KILL_BIG_MAX
                                        : (r >> 8) % 200);

  memset(&h, 0, sizeof(h));
  h.magic = KILL_MAGIC;
  h.len = len;
  h.iter = c->iter;
  h.thread = thread;
  h.seq = seq;
  h.queue = q;
  h.batch_idx = idx;
  h.batch_n = n;
  memcpy(buf, &h, sizeof(h));
  th_fill(buf + sizeof(h), len - sizeof(h), mix64(r ^ seq));
  h.check = th_hash(buf + sizeof(h.check), len - sizeof(h.check));
  memcpy(buf, &h.check, sizeof(h.check));
  return len;
}

/* One producer thread's argument. */
struct producer {
  struct child *c;          /* the child */
  uint32_t index;           /* 0 .. threads - 1, put in payloads */
  pthread_barrier_t *start; /* releases all producers at once */
};

static void *producer_main(void *arg) {
  struct producer *pr = arg;
  struct child *c = pr->c;
  uint64_t rng = mix64(c->seed ^ ((uint64_t)c->iter << 32) ^ pr->index);
  uint64_t seq = 0;
  unsigned char *buf = malloc((size_t)KILL_BATCH_MAX * KILL_BIG_MAX + 4096);

  if (buf == NULL) child_fail(c, 1, MRLOG_ENOMEM);
  pthread_barrier_wait(pr->start);
  for (;;) {
    uint64_t r = rnd(&rng), pos = 0;
    uint32_t q = (uint32_t)(r % c->nq), op = (uint32_t)((r >> 8) % 1000);
    struct pending *p = calloc(1, sizeof(*p));
    struct iovec iov[KILL_BATCH_MAX];
    uint32_t i;
    size_t off = 0;

    if (p == NULL) child_fail(c, 2, MRLOG_ENOMEM);
    p->c = c;
    p->queue = q;
    if (op < 10) {
      /* Truncate far enough back that most of what this child appends
       * stays above every truncation, so the parent can require it. */
      uint64_t hi = atomic_load(&c->hi[q]), t;
      if (hi <= KILL_KEEP_MIN + KILL_KEEP_SPAN) {
        free(p);
        continue;
      }
      t = hi - 1 - KILL_KEEP_MIN - (r >> 20) % KILL_KEEP_SPAN;
      p->kind = REP_TRUNC_ACK;
      send_report(c->wfd, REP_TRUNC_INTENT, q, t, 0, 0, 0);
      mrlog_forget(mrlog_truncate(c->log, c->names[q], t, child_done, p));
      continue;
    }
    if (op < 14) {
      /* A commit, always asking for more than any commit before it. */
      uint64_t v = atomic_fetch_add(&c->cpos[q], 1) + 1 + (r >> 20) % 3;
      p->kind = REP_COMMIT_ACK;
      p->explicit_pos = true;
      send_report(c->wfd, REP_COMMIT_INTENT, q, v, 0, 0, 0);
      mrlog_forget(mrlog_commit(c->log, c->names[q], KILL_CONSUMER, v,
                                child_done, p));
      continue;
    }
    p->kind = REP_APPEND;
    p->n = op < 100 ? 2 + (uint32_t)((r >> 20) % (KILL_BATCH_MAX - 1)) : 1;
    if (op < 130 && op % 4 == 0) {
      /* An explicit position: at next (like a default append) or leaving a
       * gap; another producer may get there first (MRLOG_DUPLICATE). */
      struct mrlog_queue_info info;
      int rc = mrlog_queue_info(c->log, c->names[q], &info);
      if (rc != 0) child_fail(c, 3, rc);
      pos = info.next_position + (r >> 30) % 3;
      p->explicit_pos = true;
    }
    for (i = 0; i < p->n; i++) {
      uint32_t len = make_payload(buf + off, c, pr->index, seq++, q,
                                  (uint16_t)i, (uint16_t)p->n, &rng);
      iov[i].iov_base = buf + off;
      iov[i].iov_len = len;
      p->hash[i] = th_hash(buf + off, len);
      p->len[i] = len;
      off += len;
    }
    if (p->n == 1)
      mrlog_forget(mrlog_append(c->log, c->names[q],
                                p->explicit_pos ? &pos : NULL, buf, off,
                                child_done, p));
    else
      mrlog_forget(mrlog_append_batch(c->log, c->names[q],
                                      p->explicit_pos ? &pos : NULL, iov,
                                      p->n, child_done, p));
  }
  return NULL;
}

static _Noreturn void child_main(int wfd, unsigned fsync_ms, uint64_t seed,
                                 uint32_t iter) {
  static struct child c;
  struct producer pr[KILL_THREADS_MAX];
  pthread_t tid[KILL_THREADS_MAX];
  pthread_barrier_t start;
  mrlog_policy p = kill_policy(fsync_ms);
  uint64_t rng = mix64(seed ^ ((uint64_t)iter << 40) ^ 0xc0ffee);
  uint32_t q, nthreads, i;
  int rc;

  /* A safety net should the parent never kill us; Check's handler for
   * SIGALRM belongs to the runner. */
  signal(SIGALRM, SIG_DFL);
  alarm(60);
  c.wfd = wfd;
  c.iter = iter;
  c.seed = seed;
  c.nq = 4 + (uint32_t)(rnd(&rng) % (KILL_QUEUES_MAX - 3));
  nthreads = 3 + (uint32_t)(rnd(&rng) % (KILL_THREADS_MAX - 2));
  rc = mrlog_open(th_dir, &p, &c.log);
  if (rc != 0) child_fail(&c, 10, rc);
  for (q = 0; q < c.nq; q++) {
    struct mrlog_queue_info info;
    queue_name(c.names[q], sizeof(c.names[q]), q);
    if (!mrlog_queue_exists(c.log, c.names[q])) {
      mrlog_future *f = mrlog_create_queue(c.log, c.names[q], NULL, NULL);
      if (f == NULL) child_fail(&c, 11, MRLOG_ENOMEM);
      rc = mrlog_wait(f, NULL);
      if (rc != 0) child_fail(&c, 12, rc);
      send_report(wfd, REP_CREATE, q, 0, 0, 0, 0);
    }
    rc = mrlog_queue_info(c.log, c.names[q], &info);
    if (rc != 0) child_fail(&c, 13, rc);
    atomic_init(&c.hi[q], info.next_position);
    atomic_init(&c.cpos[q], 0);
    rc = mrlog_committed(c.log, c.names[q], KILL_CONSUMER, &info.next_position);
    if (rc == 0)
      atomic_init(&c.cpos[q], info.next_position);
    else if (rc != MRLOG_ENODATA)
      child_fail(&c, 17, rc);
  }
  if (rnd(&rng) % 2 == 0) {
    /* Sometimes truncate a queue past its end first (next moves up), while
     * no append is in flight that the truncation could cover. */
    struct mrlog_queue_info info;
    mrlog_future *f;
    uint64_t t;
    q = (uint32_t)(rnd(&rng) % c.nq);
    rc = mrlog_queue_info(c.log, c.names[q], &info);
    if (rc != 0) child_fail(&c, 14, rc);
    t = info.next_position + rnd(&rng) % 3;
    send_report(wfd, REP_TRUNC_INTENT, q, t, 0, 0, 0);
    f = mrlog_truncate(c.log, c.names[q], t, NULL, NULL);
    if (f == NULL) child_fail(&c, 15, MRLOG_ENOMEM);
    rc = mrlog_wait(f, NULL);
    if (rc != 0) child_fail(&c, 16, rc);
    send_report(wfd, REP_TRUNC_ACK, q, t, 0, 0, 0);
    atomic_store(&c.hi[q], t + 1);
  }
  if (pthread_barrier_init(&start, NULL, nthreads + 1) != 0) _exit(5);
  for (i = 0; i < nthreads; i++) {
    pr[i].c = &c;
    pr[i].index = i;
    pr[i].start = &start;
    if (pthread_create(&tid[i], NULL, producer_main, &pr[i]) != 0) _exit(6);
  }
  pthread_barrier_wait(&start);
  send_report(wfd, REP_STARTED, 0, 0, 0, 0, 0);
  for (;;) pause(); /* until SIGKILL */
}

/* ---- The parent ------------------------------------------------------------ */

/* A record the parent expects or saw. */
struct krec {
  uint64_t pos;   /* its position */
  uint64_t hash;  /* th_hash of the payload */
  uint32_t len;   /* payload length */
  uint32_t queue; /* queue index */
};

/* What the parent knows of one queue across iterations. */
struct kqueue {
  bool exists;       /* creation acknowledged, or seen by the parent */
  uint64_t min_pos;  /* one past the highest acknowledged truncation */
  uint64_t next;     /* next_position the parent saw last */
  struct krec *seen; /* records the parent saw last (durable since its
                        close), by position */
  size_t nseen;
  bool committed;       /* KILL_CONSUMER's commit acknowledged or seen */
  uint64_t commit_min;  /* its position may not be below this */
  uint64_t commit_max;  /* nor above the highest one submitted */
};

/* One test case's run. */
struct krun {
  const char *mode;                 /* "durable" or "written" */
  unsigned fsync_ms;                /* the policy's fsync_interval_ms */
  uint64_t seed;                    /* printed on failure */
  uint32_t iter;                    /* current iteration, from 0 */
  struct kqueue q[KILL_QUEUES_MAX]; /* the model, by queue index */
  struct report *reps;              /* this iteration's reports */
  size_t nreps, capreps;            /* reports held, slots allocated */
  /* Totals for the final check that the run tested something. */
  long acked, acked_checked, truncs_acked, carried_checked, children_killed;
  long commits_acked;
};

static _Noreturn void kfail(const struct krun *k, int line, const char *fmt,
                            ...) __attribute__((format(printf, 3, 4)));

static _Noreturn void kfail(const struct krun *k, int line, const char *fmt,
                            ...) {
  char msg[512];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  ck_abort_msg("%s mode, seed %" PRIu64 " (MRLOG_KILL_SEED), iteration %" PRIu32
               ", test_kill.c:%d: %s",
               k->mode, k->seed, k->iter, line, msg);
  abort(); /* not reached */
}

/* Checks cond in hot loops without recording passing assertions. */
#define KREQ(k, cond, ...)                                             \
  do {                                                                 \
    if (!(cond)) kfail((k), __LINE__, __VA_ARGS__);                    \
  } while (0)

static int cmp_krec(const void *a, const void *b) {
  const struct krec *x = a, *y = b;

  if (x->queue != y->queue) return x->queue < y->queue ? -1 : 1;
  if (x->pos != y->pos) return x->pos < y->pos ? -1 : 1;
  return 0;
}

static uint64_t now_ns(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Reads what is available (blocking: until EOF); false at EOF. */
static bool drain(struct krun *k, int fd, unsigned char *buf, size_t *have) {
  ssize_t r;

  do {
    r = read(fd, buf + *have, 65536 - *have);
  } while (r < 0 && errno == EINTR);
  KREQ(k, r >= 0, "read(pipe): %s", strerror(errno));
  if (r == 0) return false;
  *have += (size_t)r;
  while (*have >= sizeof(struct report)) {
    if (k->nreps == k->capreps) {
      k->capreps = k->capreps ? k->capreps * 2 : 4096;
      k->reps = realloc(k->reps, k->capreps * sizeof(*k->reps));
      KREQ(k, k->reps != NULL, "out of memory");
    }
    memcpy(&k->reps[k->nreps++], buf, sizeof(struct report));
    *have -= sizeof(struct report);
    memmove(buf, buf + sizeof(struct report), *have);
  }
  return true;
}

/* Forks the child, lets it run for sleep_ms, kills it and collects its
 * reports into k->reps. With from_start, sleep_ms counts from the child's
 * REP_STARTED report (the kill lands among the appends however long the
 * reopen took: a sanitizer build's recovery alone can outlast any fixed
 * delay); otherwise from the fork (the kill may land in the recovery). */
static void run_child(struct krun *k, unsigned sleep_ms, bool from_start) {
  static unsigned char buf[65536];
  int fds[2], status;
  size_t have = 0, i, seen = 0;
  uint64_t deadline, started_by;
  pid_t pid;

  ck_assert_int_eq(pipe(fds), 0);
  k->nreps = 0;
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    child_main(fds[1], k->fsync_ms, k->seed, k->iter);
  }
  close(fds[1]);
  /* Waiting for REP_STARTED is bounded: a child that never starts is
   * killed after 20 s and its run still checked. */
  started_by = now_ns() + 20000000000ull;
  deadline = from_start ? started_by : now_ns() + (uint64_t)sleep_ms * 1000000u;
  for (;;) {
    struct pollfd pfd = {fds[0], POLLIN, 0};
    uint64_t now = now_ns();
    if (now >= deadline) break;
    if (poll(&pfd, 1, (int)((deadline - now + 999999) / 1000000)) > 0 &&
        !drain(k, fds[0], buf, &have))
      break; /* EOF: the child is gone already */
    for (; from_start && seen < k->nreps; seen++) {
      if (k->reps[seen].kind == REP_STARTED) {
        deadline = now_ns() + (uint64_t)sleep_ms * 1000000u;
        from_start = false;
      }
    }
  }
  kill(pid, SIGKILL);
  while (drain(k, fds[0], buf, &have)) {
  }
  close(fds[0]);
  KREQ(k, waitpid(pid, &status, 0) == pid, "waitpid: %s", strerror(errno));
  KREQ(k, have == 0, "%zu bytes of a torn report", have);
  for (i = 0; i < k->nreps; i++)
    KREQ(k, k->reps[i].kind != REP_ERROR,
         "child error at step %" PRIu64 " (queue %" PRIu32 "): %d %s",
         k->reps[i].position, k->reps[i].queue, k->reps[i].status,
         mrlog_strerror(k->reps[i].status));
  KREQ(k, WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
       "child ended by itself (status %#x) before the kill", status);
  k->children_killed++;
}

/* Checks one record's payload against its queue and returns its header. */
static struct rec_hdr check_payload(const struct krun *k, uint32_t q,
                                    const struct th_rec *r) {
  struct rec_hdr h;

  KREQ(k, r->len >= sizeof(h), "queue %" PRIu32 " position %" PRIu64
       ": %zu-byte payload that was never appended", q, r->pos, r->len);
  memcpy(&h, r->data, sizeof(h));
  KREQ(k, h.magic == KILL_MAGIC && h.len == r->len && h.queue == q &&
       h.check == th_hash(r->data + sizeof(h.check), r->len - sizeof(h.check)),
       "queue %" PRIu32 " position %" PRIu64 ": payload of %zu bytes fails "
       "its checksum or names queue %" PRIu32, q, r->pos, r->len, h.queue);
  KREQ(k, h.iter <= k->iter && h.thread < KILL_THREADS_MAX &&
       h.batch_idx < h.batch_n && h.batch_n <= KILL_BATCH_MAX,
       "queue %" PRIu32 " position %" PRIu64 ": header out of range", q,
       r->pos);
  return h;
}

static const struct th_rec *find_rec(const struct th_recs *rs, uint64_t pos) {
  size_t lo = 0, hi = rs->n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (rs->v[mid].pos < pos) lo = mid + 1;
    else hi = mid;
  }
  return lo < rs->n && rs->v[lo].pos == pos ? &rs->v[lo] : NULL;
}

static const struct krec *find_seen(const struct kqueue *m, uint64_t pos) {
  size_t lo = 0, hi = m->nseen;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (m->seen[mid].pos < pos) lo = mid + 1;
    else hi = mid;
  }
  return lo < m->nseen && m->seen[lo].pos == pos ? &m->seen[lo] : NULL;
}

/* Requires the record e at its position with the same bytes. */
static void expect_rec(const struct krun *k, const struct th_recs *rs,
                       const struct krec *e, const char *what) {
  const struct th_rec *r = find_rec(rs, e->pos);

  KREQ(k, r != NULL, "queue %" PRIu32 ": %s record at position %" PRIu64
       " is lost", e->queue, what, e->pos);
  KREQ(k, r->len == e->len && th_hash(r->data, r->len) == e->hash,
       "queue %" PRIu32 ": %s record at position %" PRIu64 " changed (%zu "
       "bytes, was %" PRIu32 ")", e->queue, what, e->pos, r->len, e->len);
}

/* Checks queue q of the reopened log against the model and the reports
 * (acked: this queue's acknowledged appends, by position), then makes what
 * it saw the model for the next iteration. */
static void check_queue(struct krun *k, mrlog *log, uint32_t q,
                        const struct krec *acked, size_t nacked,
                        uint64_t trunc_hi) {
  struct kqueue *m = &k->q[q];
  struct mrlog_queue_info info;
  struct th_recs rs;
  uint64_t bytes = 0, *last_seq;
  char name[32];
  size_t i;
  int rc;

  queue_name(name, sizeof(name), q);
  if (!mrlog_queue_exists(log, name)) {
    KREQ(k, !m->exists && nacked == 0,
         "queue %" PRIu32 " is lost (%zu appends acknowledged)", q, nacked);
    return;
  }
  m->exists = true;
  /* Commits: never back below an acknowledged (or earlier recovered) one,
   * never above one submitted. */
  rc = mrlog_committed(log, name, KILL_CONSUMER, &info.next_position);
  KREQ(k, rc == 0 || (rc == MRLOG_ENODATA && !m->committed),
       "queue %" PRIu32 ": mrlog_committed = %d with a commit acknowledged",
       q, rc);
  if (rc == 0) {
    KREQ(k, info.next_position >= m->commit_min &&
         info.next_position <= m->commit_max, "queue %" PRIu32 ": committed "
         "%" PRIu64 ", outside [%" PRIu64 ", %" PRIu64 "] (acknowledged, "
         "submitted)", q, info.next_position, m->commit_min, m->commit_max);
    m->committed = true;
    m->commit_min = info.next_position;
  }
  rc = mrlog_queue_info(log, name, &info);
  KREQ(k, rc == 0, "mrlog_queue_info = %d", rc);
  rc = th_collect(log, name, 0, UINT64_MAX, &rs);
  KREQ(k, rc == 0, "mrlog_range = %d", rc);
  last_seq = calloc((size_t)(k->iter + 1) * KILL_THREADS_MAX, sizeof(*last_seq));
  KREQ(k, last_seq != NULL, "out of memory");
  for (i = 0; i < rs.n; i++) {
    const struct th_rec *r = &rs.v[i];
    struct rec_hdr h = check_payload(k, q, r);
    uint64_t *ls = &last_seq[(size_t)h.iter * KILL_THREADS_MAX + h.thread];
    KREQ(k, i == 0 || r->pos > rs.v[i - 1].pos,
         "queue %" PRIu32 ": position %" PRIu64 " after %" PRIu64, q, r->pos,
         rs.v[i - 1].pos);
    KREQ(k, r->pos >= m->min_pos, "queue %" PRIu32 ": position %" PRIu64
         " survived an acknowledged truncation below %" PRIu64, q, r->pos,
         m->min_pos);
    /* One producer's records enter the ring in call order, so they take
     * increasing positions. */
    KREQ(k, *ls == 0 || h.seq + 1 > *ls, "queue %" PRIu32 ": position %"
         PRIu64 " holds seq %" PRIu64 " of producer %" PRIu32 "/%" PRIu32
         " after seq %" PRIu64, q, r->pos, h.seq, h.iter, h.thread, *ls - 1);
    *ls = h.seq + 1;
    /* A batch is atomic: whoever survives has its successors after it. */
    if (h.batch_idx + 1 < h.batch_n) {
      const struct th_rec *n = i + 1 < rs.n ? &rs.v[i + 1] : NULL;
      struct rec_hdr nh;
      KREQ(k, n != NULL && n->pos == r->pos + 1, "queue %" PRIu32
           ": batch torn after position %" PRIu64, q, r->pos);
      nh = check_payload(k, q, n);
      KREQ(k, nh.iter == h.iter && nh.thread == h.thread &&
           nh.seq == h.seq + 1 && nh.batch_idx == h.batch_idx + 1,
           "queue %" PRIu32 ": batch torn after position %" PRIu64, q,
           r->pos);
    }
    /* A record of an earlier child was seen after that child's kill; one
     * that was not is a resurrection (its bytes are compared below). */
    KREQ(k, h.iter == k->iter || find_seen(m, r->pos) != NULL,
         "queue %" PRIu32 ": position %" PRIu64 " holds a record of iteration "
         "%" PRIu32 " that the parent did not see then", q, r->pos, h.iter);
    bytes += r->len;
  }
  free(last_seq);
  KREQ(k, info.records == rs.n && info.bytes == bytes &&
       info.first_position == (rs.n ? rs.v[0].pos : info.next_position) &&
       (rs.n == 0 || info.next_position > rs.v[rs.n - 1].pos),
       "queue %" PRIu32 ": info {first %" PRIu64 " next %" PRIu64 " records %"
       PRIu64 "} disagrees with the %zu records visited", q,
       info.first_position, info.next_position, info.records, rs.n);
  KREQ(k, info.next_position >= m->next && info.next_position >= m->min_pos,
       "queue %" PRIu32 ": next %" PRIu64 " went below %" PRIu64 " (seen) or %"
       PRIu64 " (truncation)", q, info.next_position, m->next, m->min_pos);
  for (i = 0; i < nacked; i++) {
    KREQ(k, i == 0 || acked[i].pos != acked[i - 1].pos,
         "queue %" PRIu32 ": position %" PRIu64 " acknowledged twice", q,
         acked[i].pos);
    KREQ(k, info.next_position > acked[i].pos, "queue %" PRIu32 ": next %"
         PRIu64 " but position %" PRIu64 " was acknowledged", q,
         info.next_position, acked[i].pos);
    /* Below a truncation this child submitted it may be gone, but if it
     * is there it is intact. */
    if (acked[i].pos >= trunc_hi) {
      expect_rec(k, &rs, &acked[i], "acknowledged");
      k->acked_checked++;
    } else if (find_rec(&rs, acked[i].pos) != NULL) {
      expect_rec(k, &rs, &acked[i], "acknowledged");
    }
  }
  for (i = 0; i < m->nseen; i++) {
    if (m->seen[i].pos >= trunc_hi) {
      expect_rec(k, &rs, &m->seen[i], "recovered earlier");
      k->carried_checked++;
    } else if (find_rec(&rs, m->seen[i].pos) != NULL) {
      expect_rec(k, &rs, &m->seen[i], "recovered earlier");
    }
  }
  m->next = info.next_position;
  free(m->seen);
  m->seen = calloc(rs.n ? rs.n : 1, sizeof(*m->seen));
  KREQ(k, m->seen != NULL, "out of memory");
  for (i = 0; i < rs.n; i++) {
    m->seen[i].pos = rs.v[i].pos;
    m->seen[i].hash = th_hash(rs.v[i].data, rs.v[i].len);
    m->seen[i].len = (uint32_t)rs.v[i].len;
    m->seen[i].queue = q;
  }
  m->nseen = rs.n;
  th_recs_free(&rs);
}

/* Reopens the log after a kill and checks every queue. */
static void check_log(struct krun *k) {
  mrlog_policy p = kill_policy(k->fsync_ms);
  uint64_t trunc_hi[KILL_QUEUES_MAX] = {0};
  struct krec *acked;
  size_t nacked = 0, i, j;
  struct mrlog_stats st;
  mrlog *log = NULL;
  uint32_t q;
  int rc;

  acked = malloc((k->nreps ? k->nreps : 1) * sizeof(*acked));
  KREQ(k, acked != NULL, "out of memory");
  for (i = 0; i < k->nreps; i++) {
    const struct report *r = &k->reps[i];
    KREQ(k, r->queue < KILL_QUEUES_MAX, "report for queue %" PRIu32, r->queue);
    switch (r->kind) {
    case REP_APPEND:
      acked[nacked].pos = r->position;
      acked[nacked].hash = r->hash;
      acked[nacked].len = r->len;
      acked[nacked].queue = r->queue;
      nacked++;
      break;
    case REP_TRUNC_INTENT:
      /* Submitted, maybe applied: records at or below may be gone. */
      if (r->position + 1 > trunc_hi[r->queue])
        trunc_hi[r->queue] = r->position + 1;
      break;
    case REP_TRUNC_ACK:
      /* Applied: records at or below must be gone. */
      if (r->position + 1 > k->q[r->queue].min_pos)
        k->q[r->queue].min_pos = r->position + 1;
      k->truncs_acked++;
      break;
    case REP_CREATE:
      k->q[r->queue].exists = true;
      break;
    case REP_COMMIT_INTENT:
      if (r->position > k->q[r->queue].commit_max)
        k->q[r->queue].commit_max = r->position;
      break;
    case REP_COMMIT_ACK:
      k->q[r->queue].committed = true;
      if (r->position > k->q[r->queue].commit_min)
        k->q[r->queue].commit_min = r->position;
      k->commits_acked++;
      break;
    case REP_STARTED:
      break;
    default:
      KREQ(k, false, "report of kind %" PRIu32, r->kind);
    }
  }
  k->acked += (long)nacked;
  if (nacked > 1) qsort(acked, nacked, sizeof(*acked), cmp_krec);
  rc = mrlog_open(th_dir, &p, &log);
  KREQ(k, rc == 0, "mrlog_open after the kill = %d (%s)", rc,
       mrlog_strerror(rc));
  for (q = 0, i = 0; q < KILL_QUEUES_MAX; q++) {
    for (j = i; j < nacked && acked[j].queue == q; j++) {
    }
    check_queue(k, log, q, acked + i, j - i, trunc_hi[q]);
    i = j;
  }
  rc = mrlog_stats(log, &st);
  KREQ(k, rc == 0 && st.failed == 0, "mrlog_stats = %d, failed = %d", rc,
       st.failed);
  rc = mrlog_close(log);
  KREQ(k, rc == 0, "mrlog_close = %d (%s)", rc, mrlog_strerror(rc));
  free(acked);
}

static void kill_loop(const char *mode, unsigned fsync_ms) {
  const char *env = getenv("MRLOG_KILL_SEED");
  const char *mult_env = getenv("CK_TIMEOUT_MULTIPLIER");
  unsigned sleep_max;
  int mult;
  struct krun k;
  uint64_t rng;
  long iterations = th_scaled(150), i;
  uint32_t q;

  memset(&k, 0, sizeof(k));
  k.mode = mode;
  k.fsync_ms = fsync_ms;
  k.seed = env != NULL && *env != '\0'
               ? strtoull(env, NULL, 0)
               : mix64(now_ns() ^ ((uint64_t)getpid() << 32));
  rng = k.seed;
  /* Sanitizer runs (CK_TIMEOUT_MULTIPLIER=4 in scripts/test.sh) are that
   * much slower: the latest kill comes that much later, so children still
   * get work acknowledged (a TSan run beside another one once got none in
   * 150 kills of at most 30 ms), while the earliest stays at 1 ms. */
  mult = mult_env != NULL && atoi(mult_env) > 1 ? atoi(mult_env) : 1;
  sleep_max = KILL_SLEEP_MAX_MS * (unsigned)(mult > 8 ? 8 : mult);
  if (iterations < 40) iterations = 40; /* for the summary check below */
  for (i = 0; i < iterations; i++) {
    unsigned sleep_ms = KILL_SLEEP_MIN_MS +
        (unsigned)(rnd(&rng) % (sleep_max - KILL_SLEEP_MIN_MS + 1));
    k.iter = (uint32_t)i;
    /* One kill in four counts from the fork and may land in recovery. */
    run_child(&k, sleep_ms, rnd(&rng) % 4 != 0);
    check_log(&k);
  }
  /* The run proved something only if the children got work acknowledged
   * and the parent had earlier records to re-check. */
  ck_assert_msg(k.children_killed == iterations && k.acked_checked > 0 &&
                k.truncs_acked > 0 && k.carried_checked > 0 &&
                k.commits_acked > 0,
                "%s mode, seed %" PRIu64 ": weak run: %ld kills, %ld appends "
                "acknowledged (%ld checked), %ld truncations, %ld carried "
                "records checked, %ld commits", mode, k.seed,
                k.children_killed, k.acked, k.acked_checked, k.truncs_acked,
                k.carried_checked, k.commits_acked);
  for (q = 0; q < KILL_QUEUES_MAX; q++) free(k.q[q].seen);
  free(k.reps);
}

START_TEST(test_kill_durable) {
  kill_loop("durable", 0);
}
END_TEST

START_TEST(test_kill_written) {
  kill_loop("written", KILL_WRITTEN_FSYNC_MS);
}
END_TEST

Suite *make_kill_suite(void) {
  Suite *s = suite_create("kill");
  TCase *tc;

  tc = tcase_create("durable");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_kill_durable);
  suite_add_tcase(s, tc);

  tc = tcase_create("written");
  tcase_add_checked_fixture(tc, th_setup, th_teardown);
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_kill_written);
  suite_add_tcase(s, tc);
  return s;
}

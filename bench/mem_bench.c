/*
 * mem_bench.c -- mrlog-mem-bench: does stats.memory_bytes (and the
 * memory_limit charge) account for the memory the process really holds?
 *
 *   mrlog-mem-bench [--scale F] [--store copy|mapped|both] [--check]
 *                   [--dir DIR] [--only NAME]
 *
 * Each scenario runs in a forked child on a fresh log: open, warm up
 * (futures, staging batches, the writer's buffers), measure the resident
 * set (/proc/self/statm) and the stats, run the scenario, wait for every
 * request to complete, measure again.  The table compares the growth of
 * memory_bytes and of the charge with the growth of the resident set:
 *   queues   100,000 queues with one 32-byte record each
 *   empty    1,000,000 empty records in one queue
 *   batch    one 64 MiB batch of 64-byte records, then 10,000 appends
 *   mixed    16 queues, records of 1 B .. 8 KiB (log-uniform), 256 MiB
 *            appended while truncation keeps 32 MiB retained
 *   limit    memory_limit 16 MiB, nonblocking: 100,000 queues are created
 *            and given four 100-byte records each, until refused; the
 *            resident set must stay within the limit plus LIMIT_SLACK
 * (counts times --scale; limit's memory_limit, not its queues, too).
 *
 * Measuring: the benchmark's own buffers are allocated and touched before
 * the first measurement; outstanding futures are bounded by WINDOW (the
 * future pool is warmed to that size); malloc_trim(0) runs before each
 * measurement, so memory the allocator caches after a free is not taken
 * for memory the library holds.  Under the mapped store memory_bytes
 * counts the mapped segment bytes, page cache that enters the resident
 * set only when records are read (or a truncation that drops part of a
 * chunk reads their lengths); the table's "heap" column is then the
 * charge, which leaves the retained payload out: the part that is
 * anonymous memory; "anon" is the growth of the resident set's anonymous
 * pages.
 *
 * --check: exit 1 if, for the copy store, memory_bytes and the growth of
 * the resident set differ by more than 10% of the latter; for the mapped
 * store, if the heap estimate and the growth of the anonymous resident
 * set (statm's resident less shared) differ by more than 10% and 512 KiB,
 * or the resident set grows past memory_bytes; or if the limit scenario
 * exceeds its bound.
 * Under a sanitizer (AddressSanitizer, ThreadSanitizer) the resident set
 * holds shadow memory: the comparison is printed, not asserted, and
 * --check runs at a fifth of the scale asked for.
 *
 * Invariants:
 *  1. The parent never opens a log or starts a thread; each child reports
 *     one struct result through a pipe.
 *  2. A child measures only after its last request completed (it waits
 *     for every future), so the charge holds no reservation then.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <mrlog.h>

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Under AddressSanitizer or ThreadSanitizer the resident set holds
 * their shadow memory too, in proportion to what the process touches:
 * the table is printed, not asserted, and --check runs at a fifth of its
 * scale (the sanitized library is 5-15 times slower). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif
#ifndef UNDER_SANITIZER
#define UNDER_SANITIZER 0
#endif

#define WINDOW 256                /* futures outstanding at most */
#define TOLERANCE 0.10            /* --check: |memory - rss| / rss */
#define LIMIT_MIB 16
#define HEAP_SLACK (512.0 * 1024) /* mapped heap vs anon: noise floor */
/* What the resident set may grow beyond memory_limit in the limit
 * scenario: staging batches (1 MiB per appending thread), the writer's
 * buffers for one frame, requests admitted before the limit was reached
 * whose records were charged when stored, the allocator's granularity. */
#define LIMIT_SLACK (4u << 20)

struct result {
  int ok;                 /* 0: the scenario failed (message printed) */
  uint64_t charge0, charge1, mem0, mem1, rss0, rss1, rss_peak;
  uint64_t anon0, anon1;  /* the resident set less its file pages */
  uint64_t payload;       /* retained payload at the end */
  uint64_t limit;         /* limit scenario: memory_limit */
  double secs;
};

struct ctx {
  mrlog *log;
  mrlog_future *win[WINDOW];
  unsigned n;             /* futures in win */
  long refused;           /* MRLOG_EFULL completions */
  long failed;            /* other errors */
  int store;
  double scale;
  const char *dir;
};

/* The resident set; OUT: *anon, its pages that are not file pages (the
 * mapped store's segment pages, page cache, are resident in the process
 * only as far as the library has read them). */
static uint64_t
rss_split(uint64_t *anon)
{
  unsigned long size = 0, res = 0, shared = 0;
  uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
  FILE *f = fopen("/proc/self/statm", "r");

  *anon = 0;
  if (f == NULL)
    return 0;
  if (fscanf(f, "%lu %lu %lu", &size, &res, &shared) != 3)
    res = shared = 0;
  fclose(f);
  *anon = res > shared ? (uint64_t)(res - shared) * page : 0;
  return (uint64_t)res * page;
}

static uint64_t
rss_bytes(void)
{
  uint64_t anon;

  return rss_split(&anon);
}

static double
now_s(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
settle(struct ctx *c, mrlog_future *f)
{
  int st = mrlog_wait(f, NULL);

  /* An append to a queue whose create was refused finds no queue. */
  if (st == MRLOG_EFULL || st == MRLOG_ENOQUEUE)
    c->refused++;
  else if (st != 0 && st != MRLOG_EEXIST)
    c->failed++;
}

/* Keeps at most WINDOW futures outstanding: waits for the oldest. */
static void
track(struct ctx *c, mrlog_future *f)
{
  if (c->n == WINDOW) {
    settle(c, c->win[0]);
    memmove(c->win, c->win + 1, (WINDOW - 1) * sizeof(c->win[0]));
    c->n--;
  }
  c->win[c->n++] = f;
}

static void
drain(struct ctx *c)
{
  unsigned i;

  for (i = 0; i < c->n; i++)
    settle(c, c->win[i]);
  c->n = 0;
  settle(c, mrlog_sync(c->log, NULL, NULL));
}

static long
scaled(const struct ctx *c, double n)
{
  long v = (long)(n * c->scale);

  return v < 1 ? 1 : v;
}

/* Measures once the resident set has stopped moving: the library's
 * prefault helper (lib/prefault.c) fills its ready regions, up to about
 * 4 MiB that memory_bytes does not count until a chunk takes one, on its
 * own thread after the writer took some, and a measurement taken while it
 * was still filling them read 2.7 MiB less growth than the library held
 * (the empty scenario on a loaded machine).  Two readings SETTLE_MS apart
 * must agree, for at most SETTLE_TRIES tries. */
#define SETTLE_MS 20
#define SETTLE_TRIES 100

static void
measure(struct ctx *c, uint64_t *charge, uint64_t *mem, uint64_t *rss,
        uint64_t *anon)
{
  struct timespec pause = { 0, SETTLE_MS * 1000000L };
  struct mrlog_stats st;
  uint64_t before, a;
  int i;

  malloc_trim(0);
  before = rss_split(&a);
  for (i = 0; i < SETTLE_TRIES; i++) {
    nanosleep(&pause, NULL);
    malloc_trim(0);
    *rss = rss_split(anon);
    if (*rss == before)
      break;
    before = *rss;
  }
  mrlog_stats(c->log, &st);
  *charge = st.memory_charged;
  *mem = st.memory_bytes;
  *rss = rss_split(anon);
}

/* ---- scenarios ---------------------------------------------------------- */

static const char zeros[8192];

static void
sc_queues(struct ctx *c, struct result *r)
{
  long n = scaled(c, 100000), i;
  char name[32];

  for (i = 0; i < n; i++) {
    snprintf(name, sizeof(name), "queue-%07ld", i);
    track(c, mrlog_create_queue(c->log, name, NULL, NULL));
    track(c, mrlog_append(c->log, name, NULL, zeros, 32, NULL, NULL));
  }
  drain(c);
  r->payload = (uint64_t)n * 32;
}

static void
sc_empty(struct ctx *c, struct result *r)
{
  long n = scaled(c, 1000000), i;
  static struct iovec v[1000];

  settle(c, mrlog_create_queue(c->log, "empty", NULL, NULL));
  for (i = 0; i < 1000; i++)
    v[i] = (struct iovec){ (void *)zeros, 0 };
  for (i = 0; i < n; i += 1000)
    track(c, mrlog_append_batch(c->log, "empty", NULL, v,
                                (size_t)(n - i < 1000 ? n - i : 1000), NULL,
                                NULL));
  drain(c);
  r->payload = 0;
}

static struct iovec *big_v; /* the batch's iovecs, made before measuring */
static size_t big_n;

static void
sc_batch_prepare(struct ctx *c)
{
  size_t i;

  big_n = (size_t)scaled(c, (64 << 20) / 64);
  big_v = malloc(big_n * sizeof(*big_v));
  if (big_v == NULL)
    exit(2);
  for (i = 0; i < big_n; i++)
    big_v[i] = (struct iovec){ (void *)zeros, 64 };
}

static void
sc_batch(struct ctx *c, struct result *r)
{
  long n = scaled(c, 10000), i;

  settle(c, mrlog_create_queue(c->log, "big", NULL, NULL));
  settle(c, mrlog_append_batch(c->log, "big", NULL, big_v, big_n, NULL,
                               NULL));
  for (i = 0; i < n; i++)
    track(c, mrlog_append(c->log, "big", NULL, zeros, 100, NULL, NULL));
  drain(c);
  r->payload = (uint64_t)big_n * 64 + (uint64_t)n * 100;
}

#define MIX_QUEUES 16
static uint32_t *mix_len;  /* record sizes, made before measuring */
static long mix_n;

static void
sc_mixed_prepare(struct ctx *c)
{
  uint64_t x = 0x9E3779B97F4A7C15ull, total = 0;
  uint64_t want = (uint64_t)scaled(c, 256.0 * (1 << 20));
  long cap = (long)(want / 64) + 16;

  mix_len = malloc((size_t)cap * sizeof(*mix_len));
  if (mix_len == NULL)
    exit(2);
  for (mix_n = 0; total < want && mix_n < cap; mix_n++) {
    /* xorshift64; a log-uniform length in [1, 8192]. */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    mix_len[mix_n] = (uint32_t)(1u << (x % 14)) +
                     (uint32_t)((x >> 8) % (1u << (x % 14)));
    if (mix_len[mix_n] > 8192)
      mix_len[mix_n] = 8192;
    total += mix_len[mix_n];
  }
}

static void
sc_mixed(struct ctx *c, struct result *r)
{
  uint64_t keep = (uint64_t)scaled(c, 32.0 * (1 << 20)) / MIX_QUEUES;
  uint64_t held[MIX_QUEUES] = { 0 };
  uint64_t head[MIX_QUEUES] = { 0 }; /* first retained position */
  char name[16];
  long i;
  int q;

  for (q = 0; q < MIX_QUEUES; q++) {
    snprintf(name, sizeof(name), "mix-%02d", q);
    settle(c, mrlog_create_queue(c->log, name, NULL, NULL));
  }
  for (i = 0; i < mix_n; i++) {
    q = (int)(i % MIX_QUEUES);
    snprintf(name, sizeof(name), "mix-%02d", q);
    track(c, mrlog_append(c->log, name, NULL, zeros, mix_len[i], NULL,
                          NULL));
    held[q] += mix_len[i];
    if (held[q] > keep) {
      /* Drop the oldest records of q down to half of keep (the k-th
       * record of q is mix_len[k * MIX_QUEUES + q]). */
      while (held[q] > keep / 2) {
        held[q] -= mix_len[head[q] * MIX_QUEUES + (uint64_t)q];
        head[q]++;
      }
      track(c, mrlog_truncate(c->log, name, head[q] - 1, NULL, NULL));
    }
  }
  drain(c);
  r->payload = 0;
  for (q = 0; q < MIX_QUEUES; q++)
    r->payload += held[q];
}

static void
sc_limit(struct ctx *c, struct result *r)
{
  long n = 100000, i, k;
  char name[32];

  for (i = 0; i < n; i++) {
    snprintf(name, sizeof(name), "queue-%07ld", i);
    track(c, mrlog_create_queue(c->log, name, NULL, NULL));
    for (k = 0; k < 4; k++)
      track(c, mrlog_append(c->log, name, NULL, zeros, 100, NULL, NULL));
    if (i % 1024 == 0) {
      uint64_t rss = rss_bytes();
      if (rss > r->rss_peak)
        r->rss_peak = rss;
    }
  }
  drain(c);
  r->payload = 0;
}

/* ---- running ------------------------------------------------------------ */

struct scenario {
  const char *name;
  void (*prepare)(struct ctx *c);
  void (*run)(struct ctx *c, struct result *r);
  int limited;
};

static const struct scenario scenarios[] = {
  { "queues", NULL, sc_queues, 0 },
  { "empty", NULL, sc_empty, 0 },
  { "batch", sc_batch_prepare, sc_batch, 0 },
  { "mixed", sc_mixed_prepare, sc_mixed, 0 },
  { "limit", NULL, sc_limit, 1 },
};
#define N_SCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

#define WARM_EMPTY 20000
static struct iovec warm_v[WARM_EMPTY];

static void
child(const struct scenario *s, struct ctx *c, int fd)
{
  struct result r;
  mrlog_policy pol;
  char dir[4096];
  double t0;
  int i, rc;

  memset(&r, 0, sizeof(r));
  snprintf(dir, sizeof(dir), "%s/%s-%d", c->dir, s->name, c->store);
  mrlog_policy_init(&pol);
  pol.fsync_interval_ms = 1000; /* acknowledged once written */
  pol.record_store = c->store;
  if (s->limited) {
    pol.memory_limit = (uint64_t)scaled(c, LIMIT_MIB << 20);
    pol.nonblocking = 1;
    r.limit = pol.memory_limit;
  }
  rc = mrlog_open(dir, &pol, &c->log);
  if (rc != 0) {
    fprintf(stderr, "mem-bench: open %s: %s\n", dir, mrlog_strerror(rc));
    exit(2);
  }
  if (s->prepare != NULL)
    s->prepare(c);
  /* Warm-up: the future pool (WINDOW), staging batches, the writer's
   * buffers, the prefault helper's ready regions (lib/prefault.c: a
   * fixed pool, started by the first chunk of its size, here the one of
   * the batch of empty records), and the heap the caller's thread
   * allocates requests from: WINDOW requests of 1,000 records each (the
   * empty scenario's shape) in flight at once.  Without the last, the
   * pages those requests spread over stayed resident after they were
   * freed (malloc_trim does not return pages that live allocations
   * share) and read as 0.3-0.7 MiB of growth the library does not hold. */
  settle(c, mrlog_create_queue(c->log, "warm", NULL, NULL));
  for (i = 0; i < 64 * WINDOW; i++)
    track(c, mrlog_append(c->log, "warm", NULL, zeros, 100, NULL, NULL));
  for (i = 0; i < WARM_EMPTY; i++)
    warm_v[i] = (struct iovec){ (void *)zeros, 0 };
  track(c, mrlog_append_batch(c->log, "warm", NULL, warm_v, WARM_EMPTY, NULL,
                              NULL));
  for (i = 0; i < 2 * WINDOW; i++)
    track(c, mrlog_append_batch(c->log, "warm", NULL, warm_v, 1000, NULL,
                                NULL));
  drain(c);
  settle(c, mrlog_truncate(c->log, "warm",
                           64 * WINDOW + WARM_EMPTY + 2 * WINDOW * 1000 - 1,
                           NULL, NULL));
  c->refused = c->failed = 0;
  measure(c, &r.charge0, &r.mem0, &r.rss0, &r.anon0);
  r.rss_peak = r.rss0;
  t0 = now_s();
  s->run(c, &r);
  r.secs = now_s() - t0;
  measure(c, &r.charge1, &r.mem1, &r.rss1, &r.anon1);
  if (r.rss1 > r.rss_peak)
    r.rss_peak = r.rss1;
  r.ok = c->failed == 0 && (s->limited ? c->refused > 0 : c->refused == 0);
  if (!r.ok)
    fprintf(stderr, "mem-bench: %s: %ld refused, %ld failed\n", s->name,
            c->refused, c->failed);
  mrlog_close(c->log);
  if (write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
    exit(2);
  exit(0);
}

static double
mib(uint64_t b)
{
  return (double)b / (1 << 20);
}

static int
run_one(const struct scenario *s, struct ctx *c, int check)
{
  struct result r;
  int fds[2], status, bad = 0;
  double grow, anon, mem, charge, heap, ratio;
  pid_t pid;

  if (pipe(fds) != 0)
    return 1;
  fflush(stdout);
  pid = fork();
  if (pid == 0) {
    close(fds[0]);
    child(s, c, fds[1]);
  }
  close(fds[1]);
  memset(&r, 0, sizeof(r));
  if (read(fds[0], &r, sizeof(r)) != (ssize_t)sizeof(r))
    r.ok = -1;
  close(fds[0]);
  waitpid(pid, &status, 0);
  if (r.ok < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    printf("%-7s %-6s  child failed\n", s->name,
           c->store == MRLOG_STORE_MAPPED ? "mapped" : "copy");
    return 1;
  }
  grow = (double)r.rss1 - (double)r.rss0;
  anon = (double)r.anon1 - (double)r.anon0;
  mem = (double)r.mem1 - (double)r.mem0;
  charge = (double)r.charge1 - (double)r.charge0;
  /* The mapped store's anonymous memory: the charge, which leaves out
   * the retained payload (page cache; memory.c). */
  heap = c->store == MRLOG_STORE_MAPPED ? charge : mem;
  if (s->limited) {
    grow = (double)r.rss_peak - (double)r.rss0;
    printf("%-7s %-6s %9.1f %9.1f %9.1f %9s  limit %.0f MiB, peak growth "
           "%.1f MiB (bound %.0f MiB)  %.1fs\n",
           s->name, c->store == MRLOG_STORE_MAPPED ? "mapped" : "copy",
           mib((uint64_t)charge), mib((uint64_t)mem), grow / (1 << 20), "",
           mib(r.limit), grow / (1 << 20), mib(r.limit + LIMIT_SLACK),
           r.secs);
    bad = grow > (double)(r.limit + LIMIT_SLACK);
  } else if (c->store == MRLOG_STORE_MAPPED) {
    /* memory_bytes counts the mapped bytes, resident only where read: a
     * bound of the growth.  The heap part (the charge) is compared with the growth of the anonymous part of the
     * resident set, within TOLERANCE like the copy store's figures, or
     * HEAP_SLACK where both are that small (mixed: 8 bytes of offsets per
     * retained record, a few hundred KiB). */
    ratio = grow > 0 ? mem / grow : 0;
    printf("%-7s %-6s %9.1f %9.1f %9.1f %9.3f  heap %.1f, anon %.1f "
           "(%.3f)  %.1fs\n", s->name, "mapped", charge / (1 << 20),
           mem / (1 << 20), grow / (1 << 20), ratio, heap / (1 << 20),
           anon / (1 << 20), anon > 0 ? heap / anon : 0, r.secs);
    bad = grow > mem * (1 + TOLERANCE) && grow - mem > (1 << 20);
    bad |= (anon <= 0 || heap / anon < 1 - TOLERANCE ||
            heap / anon > 1 + TOLERANCE) &&
           (heap - anon > HEAP_SLACK || anon - heap > HEAP_SLACK);
  } else {
    ratio = grow > 0 ? mem / grow : 0;
    printf("%-7s %-6s %9.1f %9.1f %9.1f %9.3f  %.1fs\n", s->name, "copy",
           charge / (1 << 20), mem / (1 << 20), grow / (1 << 20), ratio,
           r.secs);
    bad = ratio < 1 - TOLERANCE || ratio > 1 + TOLERANCE;
  }
  if (!r.ok)
    return 1;
  return check && bad && !UNDER_SANITIZER;
}

static void
usage(void)
{
  fprintf(stderr, "usage: mrlog-mem-bench [--scale F] [--store "
                  "copy|mapped|both] [--check] [--dir DIR] [--only NAME]\n");
}

int
main(int argc, char **argv)
{
  static const struct option opts[] = {
    { "scale", required_argument, NULL, 's' },
    { "store", required_argument, NULL, 'm' },
    { "check", no_argument, NULL, 'c' },
    { "dir", required_argument, NULL, 'd' },
    { "only", required_argument, NULL, 'o' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 }
  };
  struct ctx c;
  const char *store = "both", *only = NULL, *parent;
  char tmpl[4096], cmd[4200];
  int check = 0, opt, failures = 0, k;
  size_t i;

  memset(&c, 0, sizeof(c));
  c.scale = 1;
  parent = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (opt) {
    case 's': c.scale = atof(optarg); break;
    case 'm': store = optarg; break;
    case 'c': check = 1; break;
    case 'd': parent = optarg; break;
    case 'o': only = optarg; break;
    default: usage(); return opt == 'h' ? 0 : 2;
    }
  }
  if (c.scale <= 0 || (strcmp(store, "copy") && strcmp(store, "mapped") &&
                       strcmp(store, "both"))) {
    usage();
    return 2;
  }
  if (check && UNDER_SANITIZER)
    c.scale /= 5;
  snprintf(tmpl, sizeof(tmpl), "%s/mrlog-mem-bench.XXXXXX", parent);
  if (mkdtemp(tmpl) == NULL) {
    perror("mem-bench: mkdtemp");
    return 2;
  }
  c.dir = tmpl;
  printf("memory: scale %g%s; MiB grown after warm-up\n", c.scale,
         UNDER_SANITIZER ? " (sanitizer: not asserted)" : "");
  printf("%-7s %-6s %9s %9s %9s %9s\n", "", "store", "charge", "memory",
         "rss", "mem/rss");
  for (k = 0; k < 2; k++) {
    c.store = k ? MRLOG_STORE_MAPPED : MRLOG_STORE_COPY;
    if (strcmp(store, "both") && strcmp(store, k ? "mapped" : "copy"))
      continue;
    for (i = 0; i < N_SCENARIOS; i++) {
      if (only != NULL && strcmp(only, scenarios[i].name))
        continue;
      failures += run_one(&scenarios[i], &c, check);
    }
  }
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
  if (system(cmd) != 0)
    fprintf(stderr, "mem-bench: could not remove %s\n", tmpl);
  if (failures > 0)
    printf("memory: %d scenario(s) outside the bounds\n", failures);
  return failures > 0 && check ? 1 : failures > 0 ? 1 : 0;
}

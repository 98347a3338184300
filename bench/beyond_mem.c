/*
 * beyond_mem.c -- mrlog-beyond-bench: a log that retains several times
 * its memory_limit, read back in full.
 *
 *   mrlog-beyond-bench [--total-mib N] [--limit-mib N] [--record B]
 *                      [--queues Q] [--producers P] [--fsync-ms N]
 *                      [--runs R] [--configs LIST] [--drop-cache]
 *                      [--dir DIR]
 *
 * Each run appends --total-mib MiB (default 1024) of --record-byte
 * records (default 1024) to Q queues (default 4) from P producer threads
 * (default 4; producer t owns the queues t, t + P, ...), with the
 * interval fsync policy (--fsync-ms, default 10; 0: group commit), waits
 * for every append, then reads every record back with mrlog_range from P
 * reader threads and checks each byte: a record's bytes derive from its
 * queue and position.  The configurations (--configs, comma-separated;
 * default "beyond,ref"):
 *   beyond  MRLOG_STORE_MAPPED, memory_limit --limit-mib (default 256)
 *   ref     MRLOG_STORE_MAPPED, memory_limit twice the data and 64 MiB
 *           more: the reference, nothing can wait for memory
 *   copy    MRLOG_STORE_COPY with that large limit (the copy store
 *           retains only what its memory_limit holds)
 * --drop-cache writes the dirty pages back and drops the page cache
 * (/proc/sys/vm/drop_caches, needs root) between the append and the read
 * phase, so the mapped store's reads come from the disk.
 *
 * Measuring: every run is a forked child on a fresh log directory under
 * --dir (default $TMPDIR or /tmp), removed at its end.  A sampler thread
 * reads /proc/self/status every 10 ms (RssAnon: the process's own pages;
 * RssFile: the file pages mapped into it, the segment files' page cache
 * as far as records were read; VmHWM: the peak of their sum with
 * RssShmem) and mrlog_stats (memory_charged), keeping the peak of each per
 * phase.  "index" is what memory_limit was charged per retained record
 * once every append had completed, beyond the charge before the first.
 * One summary line per run; with --runs > 1, one line of medians per
 * configuration.  Exit status 1 if a record read back is wrong or
 * missing or an append failed.
 *
 * Invariants:
 *  1. The parent never opens a log or starts a thread; each child reports
 *     one struct result through a pipe.
 *  2. Each queue has one producer, which appends at explicit positions
 *     0, 1, ...: a queue's records and their bytes are known without
 *     looking at the completions.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <mrlog.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64
#define MAX_CONFIGS 8
#define SAMPLE_MS 10

struct opts {
  uint64_t total;               /* bytes appended per run */
  uint64_t limit;               /* memory_limit of "beyond" */
  uint32_t record;              /* bytes per record */
  unsigned queues, producers, fsync_ms, runs;
  int drop_cache;
  const char *dir;
};

struct config {
  const char *name;
  int store;
  uint64_t limit;
};

/* What a child reports (invariant 1). */
struct result {
  int ok;                       /* 0: failed (message printed) */
  uint64_t records, bad, missing, append_errors;
  double append_s, read_s;
  int dropped;                  /* the page cache was dropped before reads */
  /* Peaks, bytes: [0] append phase, [1] read phase. */
  uint64_t anon[2], file[2], charged[2];
  uint64_t hwm;                 /* VmHWM at the end */
  uint64_t charge0, charge1;    /* memory_charged before, after appends */
  uint64_t memory_bytes;        /* stats.memory_bytes after appends */
};

/* ---- /proc/self/status ------------------------------------------------- */

struct status {
  uint64_t anon, file, hwm;     /* bytes */
};

static void
read_status(struct status *s)
{
  char line[256];
  unsigned long long kb;
  FILE *f = fopen("/proc/self/status", "r");

  memset(s, 0, sizeof(*s));
  if (f == NULL)
    return;
  while (fgets(line, sizeof(line), f) != NULL) {
    if (sscanf(line, "RssAnon: %llu kB", &kb) == 1)
      s->anon = (uint64_t)kb << 10;
    else if (sscanf(line, "RssFile: %llu kB", &kb) == 1)
      s->file = (uint64_t)kb << 10;
    else if (sscanf(line, "VmHWM: %llu kB", &kb) == 1)
      s->hwm = (uint64_t)kb << 10;
  }
  fclose(f);
}

/* ---- the run (child) ---------------------------------------------------- */

struct run {
  const struct opts *o;
  mrlog *log;
  struct result *r;
  _Atomic int phase;            /* 0 append, 1 read, 2 stop */
  atomic_ulong completed;       /* appends completed */
  atomic_ulong failed;          /* of which with an error */
  uint64_t per_queue;           /* records per queue */
  unsigned index;               /* thread's index (per thread copy) */
};

static double
now_s(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The bytes of queue q's record at pos: 8-byte words of a xorshift
 * sequence seeded by both, the last word cut to fit. */
static void
record_bytes(uint8_t *buf, uint32_t len, unsigned q, uint64_t pos)
{
  uint64_t x = (pos + 1) * 0x9e3779b97f4a7c15ull ^ ((uint64_t)q << 56 | 1);
  uint32_t i;

  for (i = 0; i < len; i += 8) {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    uint64_t w = x * 0x2545f4914f6cdd1dull;
    memcpy(buf + i, &w, len - i < 8 ? len - i : 8);
  }
}

static void
on_done(void *arg, int status, uint64_t position)
{
  struct run *run = arg;

  (void)position;
  if (status != 0)
    atomic_fetch_add_explicit(&run->failed, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&run->completed, 1, memory_order_release);
}

struct worker {
  struct run *run;
  unsigned t;
  uint64_t bad, missing;        /* reader's findings */
};

static void *
producer(void *arg)
{
  struct worker *w = arg;
  struct run *run = w->run;
  const struct opts *o = run->o;
  uint8_t *buf = malloc(o->record);
  char name[32];
  uint64_t pos;
  unsigned q;

  if (buf == NULL)
    return NULL;
  /* Round-robin over the thread's queues, one record at a time. */
  for (pos = 0; pos < run->per_queue; pos++) {
    for (q = w->t; q < o->queues; q += o->producers) {
      snprintf(name, sizeof(name), "q%u", q);
      record_bytes(buf, o->record, q, pos);
      mrlog_forget(mrlog_append(run->log, name, &pos, buf,
                                        o->record, on_done, run));
    }
  }
  free(buf);
  return NULL;
}

struct check {
  const struct opts *o;
  unsigned q;
  uint64_t next;                /* position expected next */
  uint64_t bad;
  uint8_t *want;
};

static int
visit(void *arg, uint64_t position, const void *data, size_t len)
{
  struct check *c = arg;

  if (position != c->next)
    c->bad++;
  c->next = position + 1;
  record_bytes(c->want, c->o->record, c->q, position);
  if (len != c->o->record || memcmp(data, c->want, len) != 0)
    c->bad++;
  return 0;
}

static void *
reader(void *arg)
{
  struct worker *w = arg;
  struct run *run = w->run;
  const struct opts *o = run->o;
  struct check c = { o, 0, 0, 0, malloc(o->record) };
  char name[32];
  unsigned q;

  if (c.want == NULL)
    return NULL;
  for (q = w->t; q < o->queues; q += o->producers) {
    snprintf(name, sizeof(name), "q%u", q);
    c.q = q;
    c.next = 0;
    if (mrlog_range(run->log, name, 0, UINT64_MAX, visit, &c) != 0)
      c.bad++;
    w->missing += run->per_queue - (c.next < run->per_queue ? c.next
                                                            : run->per_queue);
  }
  w->bad = c.bad;
  free(c.want);
  return NULL;
}

static void *
sampler(void *arg)
{
  struct run *run = arg;
  struct result *r = run->r;
  struct mrlog_stats st;
  struct status s;
  int ph;

  while ((ph = atomic_load(&run->phase)) < 2) {
    read_status(&s);
    if (mrlog_stats(run->log, &st) != 0)
      st.memory_charged = 0;
    if (s.anon > r->anon[ph])
      r->anon[ph] = s.anon;
    if (s.file > r->file[ph])
      r->file[ph] = s.file;
    if (st.memory_charged > r->charged[ph])
      r->charged[ph] = st.memory_charged;
    usleep(SAMPLE_MS * 1000);
  }
  return NULL;
}

/* Removes the log directory: flat, segment files and LOCK. */
static void
remove_dir(const char *path)
{
  DIR *d = opendir(path);
  struct dirent *e;

  if (d != NULL) {
    while ((e = readdir(d)) != NULL)
      if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
        unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
  }
  rmdir(path);
}

static int
drop_cache(void)
{
  int fd, ok;

  sync();
  fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
  if (fd < 0)
    return 0;
  ok = write(fd, "1\n", 2) == 2;
  close(fd);
  return ok;
}

static void
child(const struct opts *o, const struct config *cfg, int fd)
{
  struct result r;
  struct run run;
  struct worker w[MAX_THREADS];
  pthread_t th[MAX_THREADS], samp;
  mrlog_policy pol;
  struct mrlog_stats st;
  struct status s;
  char path[4096], name[32];
  uint64_t total_records;
  double t0;
  unsigned i;
  int rc;

  memset(&r, 0, sizeof(r));
  memset(&run, 0, sizeof(run));
  run.o = o;
  run.r = &r;
  run.per_queue = o->total / o->record / o->queues;
  total_records = run.per_queue * o->queues;
  snprintf(path, sizeof(path), "%s/mrlog-beyond-XXXXXX", o->dir);
  if (mkdtemp(path) == NULL) {
    perror("mkdtemp");
    goto out;
  }
  mrlog_policy_init(&pol);
  pol.record_store = cfg->store;
  pol.memory_limit = cfg->limit;
  pol.fsync_interval_ms = o->fsync_ms;
  rc = mrlog_open(path, &pol, &run.log);
  if (rc != 0) {
    fprintf(stderr, "mrlog_open(%s): %s\n", path, mrlog_strerror(rc));
    goto out_dir;
  }
  for (i = 0; i < o->queues; i++) {
    snprintf(name, sizeof(name), "q%u", i);
    rc = mrlog_wait(mrlog_create_queue(run.log, name, NULL, NULL), NULL);
    if (rc != 0) {
      fprintf(stderr, "create %s: %s\n", name, mrlog_strerror(rc));
      goto out_log;
    }
  }
  mrlog_stats(run.log, &st);
  r.charge0 = st.memory_charged;
  pthread_create(&samp, NULL, sampler, &run);

  t0 = now_s();
  for (i = 0; i < o->producers; i++) {
    w[i] = (struct worker){ &run, i, 0, 0 };
    pthread_create(&th[i], NULL, producer, &w[i]);
  }
  for (i = 0; i < o->producers; i++)
    pthread_join(th[i], NULL);
  mrlog_wait(mrlog_sync(run.log, NULL, NULL), NULL);
  while (atomic_load_explicit(&run.completed, memory_order_acquire) <
         total_records)
    usleep(1000);
  r.append_s = now_s() - t0;
  r.append_errors = atomic_load(&run.failed);
  mrlog_stats(run.log, &st);
  r.charge1 = st.memory_charged;
  r.memory_bytes = st.memory_bytes;
  r.records = st.records;

  if (o->drop_cache)
    r.dropped = drop_cache();
  atomic_store(&run.phase, 1);
  t0 = now_s();
  for (i = 0; i < o->producers; i++) {
    w[i] = (struct worker){ &run, i, 0, 0 };
    pthread_create(&th[i], NULL, reader, &w[i]);
  }
  for (i = 0; i < o->producers; i++) {
    pthread_join(th[i], NULL);
    r.bad += w[i].bad;
    r.missing += w[i].missing;
  }
  r.read_s = now_s() - t0;
  atomic_store(&run.phase, 2);
  pthread_join(samp, NULL);
  read_status(&s);
  r.hwm = s.hwm;
  r.ok = r.bad == 0 && r.missing == 0 && r.append_errors == 0 &&
         r.records == total_records;
out_log:
  rc = mrlog_close(run.log);
  if (rc != 0) {
    fprintf(stderr, "mrlog_close: %s\n", mrlog_strerror(rc));
    r.ok = 0;
  }
out_dir:
  remove_dir(path);
out:
  if (write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
    _exit(1);
  _exit(0);
}

/* ---- the parent --------------------------------------------------------- */

static double
mib(uint64_t b)
{
  return (double)b / (1 << 20);
}

static int
run_one(const struct opts *o, const struct config *cfg, struct result *r)
{
  int fds[2], status;
  pid_t pid;

  if (pipe(fds) != 0)
    return -1;
  fflush(stdout);
  pid = fork();
  if (pid == 0) {
    close(fds[0]);
    child(o, cfg, fds[1]);
  }
  close(fds[1]);
  memset(r, 0, sizeof(*r));
  if (read(fds[0], r, sizeof(*r)) != (ssize_t)sizeof(*r))
    r->ok = -1;
  close(fds[0]);
  waitpid(pid, &status, 0);
  return r->ok < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ? -1
                                                                      : 0;
}

static void
print_run(const struct opts *o, const struct config *cfg,
          const struct result *r)
{
  double recs = (double)(o->total / o->record / o->queues * o->queues);
  double per = r->records > 0 ? (double)(r->charge1 - r->charge0) /
                                    (double)r->records
                              : 0;

  printf("%-6s %-6s limit %6.0f MiB: append %8.0f rec/s %6.1f MB/s "
         "(%.1f s); read%s %9.0f rec/s (%.2f s); peak anon %.1f/%.1f "
         "MiB, file %.1f/%.1f MiB, VmHWM %.1f MiB; charged peak "
         "%.1f MiB, index %.1f B/rec; %s\n",
         cfg->name, cfg->store == MRLOG_STORE_MAPPED ? "mapped" : "copy",
         mib(cfg->limit), recs / r->append_s,
         recs * o->record / r->append_s / 1e6, r->append_s,
         r->dropped ? " (cold)" : "", recs / r->read_s, r->read_s,
         mib(r->anon[0]), mib(r->anon[1]), mib(r->file[0]),
         mib(r->file[1]), mib(r->hwm),
         mib(r->charged[0] > r->charged[1] ? r->charged[0] : r->charged[1]),
         per, r->ok ? "ok" : "FAILED");
  if (!r->ok)
    printf("       records %ju, wrong %ju, missing %ju, append errors %ju\n",
           (uintmax_t)r->records, (uintmax_t)r->bad, (uintmax_t)r->missing,
           (uintmax_t)r->append_errors);
  fflush(stdout);
}

static int
cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;

  return x < y ? -1 : x > y;
}

static double
median(double *v, unsigned n)
{
  qsort(v, n, sizeof(*v), cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void
print_medians(const struct opts *o, const struct config *cfg,
              const struct result *rs, unsigned n)
{
  double recs = (double)(o->total / o->record / o->queues * o->queues);
  double ap[n], rd[n], anon[n], file[n], hwm[n], chg[n], idx[n];
  unsigned i;

  for (i = 0; i < n; i++) {
    ap[i] = recs / rs[i].append_s;
    rd[i] = recs / rs[i].read_s;
    anon[i] = mib(rs[i].anon[0] > rs[i].anon[1] ? rs[i].anon[0]
                                                : rs[i].anon[1]);
    file[i] = mib(rs[i].file[0] > rs[i].file[1] ? rs[i].file[0]
                                                : rs[i].file[1]);
    hwm[i] = mib(rs[i].hwm);
    chg[i] = mib(rs[i].charged[0] > rs[i].charged[1] ? rs[i].charged[0]
                                                     : rs[i].charged[1]);
    idx[i] = rs[i].records > 0 ? (double)(rs[i].charge1 - rs[i].charge0) /
                                     (double)rs[i].records
                               : 0;
  }
  printf("median %-6s (%u runs): append %.0f rec/s, read %.0f rec/s, "
         "peak anon %.1f MiB, file %.1f MiB, VmHWM %.1f MiB, charged "
         "%.1f MiB, index %.1f B/rec\n",
         cfg->name, n, median(ap, n), median(rd, n), median(anon, n),
         median(file, n), median(hwm, n), median(chg, n), median(idx, n));
}

static void
usage(const char *argv0)
{
  fprintf(stderr,
          "usage: %s [--total-mib N] [--limit-mib N] [--record B] "
          "[--queues Q] [--producers P] [--fsync-ms N] [--runs R] "
          "[--configs beyond,ref,copy] [--drop-cache] [--dir DIR]\n",
          argv0);
}

int
main(int argc, char **argv)
{
  static const struct option longs[] = {
    { "total-mib", required_argument, NULL, 't' },
    { "limit-mib", required_argument, NULL, 'l' },
    { "record", required_argument, NULL, 'b' },
    { "queues", required_argument, NULL, 'q' },
    { "producers", required_argument, NULL, 'p' },
    { "fsync-ms", required_argument, NULL, 'f' },
    { "runs", required_argument, NULL, 'r' },
    { "configs", required_argument, NULL, 'c' },
    { "drop-cache", no_argument, NULL, 'D' },
    { "dir", required_argument, NULL, 'd' },
    { NULL, 0, NULL, 0 }
  };
  struct opts o = { 1024ull << 20, 256ull << 20, 1024, 4, 4, 10, 1, 0,
                    NULL };
  const char *configs = "beyond,ref";
  struct config cfg[MAX_CONFIGS];
  struct result *rs;
  unsigned n_cfg = 0, k, i;
  char *list, *tok, *save;
  int c, failed = 0;

  o.dir = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
  while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
    switch (c) {
    case 't': o.total = strtoull(optarg, NULL, 10) << 20; break;
    case 'l': o.limit = strtoull(optarg, NULL, 10) << 20; break;
    case 'b': o.record = (uint32_t)strtoul(optarg, NULL, 10); break;
    case 'q': o.queues = (unsigned)strtoul(optarg, NULL, 10); break;
    case 'p': o.producers = (unsigned)strtoul(optarg, NULL, 10); break;
    case 'f': o.fsync_ms = (unsigned)strtoul(optarg, NULL, 10); break;
    case 'r': o.runs = (unsigned)strtoul(optarg, NULL, 10); break;
    case 'c': configs = optarg; break;
    case 'D': o.drop_cache = 1; break;
    case 'd': o.dir = optarg; break;
    default: usage(argv[0]); return 2;
    }
  }
  if (optind != argc || o.total == 0 || o.limit == 0 || o.record == 0 ||
      o.queues == 0 || o.producers == 0 || o.producers > MAX_THREADS ||
      o.producers > o.queues || o.runs == 0 ||
      o.total / o.record / o.queues == 0) {
    usage(argv[0]);
    return 2;
  }
  list = strdup(configs);
  for (tok = strtok_r(list, ",", &save); tok != NULL;
       tok = strtok_r(NULL, ",", &save)) {
    uint64_t big = 2 * o.total + (64ull << 20);

    if (n_cfg == MAX_CONFIGS) {
      usage(argv[0]);
      return 2;
    }
    if (strcmp(tok, "beyond") == 0)
      cfg[n_cfg++] = (struct config){ "beyond", MRLOG_STORE_MAPPED, o.limit };
    else if (strcmp(tok, "ref") == 0)
      cfg[n_cfg++] = (struct config){ "ref", MRLOG_STORE_MAPPED, big };
    else if (strcmp(tok, "copy") == 0)
      cfg[n_cfg++] = (struct config){ "copy", MRLOG_STORE_COPY, big };
    else {
      usage(argv[0]);
      return 2;
    }
  }
  printf("beyond: %.0f MiB of %u-byte records, %u queues, %u producers, "
         "%s, %u run(s)%s; anon/file peaks: append/read phase\n",
         mib(o.total), o.record, o.queues, o.producers,
         o.fsync_ms ? "fsync interval" : "group commit", o.runs,
         o.drop_cache ? ", page cache dropped before reads" : "");
  if (o.fsync_ms)
    printf("        fsync every %u ms\n", o.fsync_ms);
  rs = calloc(o.runs, sizeof(*rs));
  if (rs == NULL)
    return 1;
  for (k = 0; k < n_cfg; k++) {
    unsigned good = 0;

    for (i = 0; i < o.runs; i++) {
      if (run_one(&o, &cfg[k], &rs[good]) != 0) {
        printf("%-6s child failed\n", cfg[k].name);
        failed = 1;
        continue;
      }
      print_run(&o, &cfg[k], &rs[good]);
      failed |= !rs[good].ok;
      good++;
    }
    if (good > 1)
      print_medians(&o, &cfg[k], rs, good);
  }
  free(rs);
  free(list);
  return failed;
}

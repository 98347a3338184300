/*
 * main.c -- mrlog-bench: runs the same workloads against mrlog and its
 * peers, each run in a forked child, then prints the tables and targets.
 *
 *   mrlog-bench [--engines LIST] [--workloads LIST] [--runs N] [--dir DIR]
 *               [--json FILE] [--scale F] [--w2-seconds S] [--no-device]
 *               [--device-mib N] [--device-iters N] [--w5-timeout S]
 *               [--segment-kib N] [--w5-segment-kib N] [--run-timeout S]
 *               [--keep] [--help]
 *
 * Invariants:
 *   1. Order: device limits first, then for each run index, each workload
 *      in canonical order, each engine -- so engines alternate and share
 *      the machine's noise rather than one getting a quiet minute.
 *   2. W1's directory of (engine, run) is kept until that run index is
 *      done: W4cold and W4warm reopen it.  If W1 was not selected, an
 *      unreported W1 run prepares it.  W5 writes its own W1-shaped log in
 *      an unreported run first (with w5_segment_kib segments, so that a
 *      truncation to the midpoint frees whole segments) and reopens that.
 *      Every directory but W1's is removed right after its run.
 *   5. mrlog runs with its default segment_bytes unless --segment-kib is
 *      given: the targets are the default policy's.
 *   3. The process never starts a thread; only children do.
 *   4. Exit status: 0, or 1 if any run reported an error (or a durable
 *      run counted no sync calls, which would mean the fsync interposition
 *      is not working), 2 for bad usage.
 */
#include "device.h"
#include "mrlog.h"
#include "engine.h"
#include "report.h"
#include "workloads.h"

#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { W1, W1B, W2, W3, W4COLD, W4WARM, W5, N_WORKLOADS };
static const char *const workload_names[N_WORKLOADS] = {
  "W1", "W1b", "W2", "W3", "W4cold", "W4warm", "W5"
};

struct engine_slot {
  const char *name;
  const struct engine *engine; /* NULL: compiled out ("not built") */
};

static const struct engine_slot all_engines[] = {
  { "mrlog", &bench_engine_mrlog },
  { "mrlog-copy", &bench_engine_mrlog_copy },
#ifdef HAVE_ROCKSDB
  { "rocksdb", &bench_engine_rocksdb },
#else
  { "rocksdb", NULL },
#endif
#ifdef HAVE_LMDB
  { "lmdb", &bench_engine_lmdb },
#else
  { "lmdb", NULL },
#endif
#ifdef HAVE_SQLITE
  { "sqlite", &bench_engine_sqlite },
#else
  { "sqlite", NULL },
#endif
};
#define N_ENGINES (sizeof(all_engines) / sizeof(all_engines[0]))

struct options {
  int engine_on[N_ENGINES];     /* --engines (compiled-out ones forced 0) */
  int workload_on[N_WORKLOADS]; /* --workloads */
  int runs;                     /* --runs */
  const char *dir;              /* --dir: parent of the working dir */
  const char *json;             /* --json, NULL: stdout */
  double scale;                 /* --scale */
  double w2_seconds;            /* --w2-seconds */
  int device;                   /* 0 with --no-device */
  unsigned device_mib;          /* --device-mib */
  unsigned device_iters;        /* --device-iters */
  double w5_timeout;            /* --w5-timeout, seconds */
  unsigned segment_kib;         /* --segment-kib, 0: mrlog's default */
  unsigned w5_segment_kib;      /* --w5-segment-kib */
  unsigned run_timeout;         /* --run-timeout, seconds */
  int keep;                     /* --keep: leave W1's logs and the dir */
};

/* What a child runs: a workload for one engine, or the device probe. */
struct job {
  int workload;             /* W1 .. W5, or -1 for the device */
  struct wl_params p;
  struct device_params dp;
};

static void
usage(FILE *out)
{
  fprintf(out,
"usage: mrlog-bench [options]\n"
"  --engines LIST     comma-separated: mrlog,mrlog-copy,rocksdb,lmdb,sqlite\n"
"                     (default: all built; mrlog has the default store,\n"
"                     mapped; mrlog-copy is mrlog with record_store =\n"
"                     MRLOG_STORE_COPY; mrlog-mapped names mrlog)\n"
"  --workloads LIST   comma-separated: W1,W1b,W2,W3,W4cold,W4warm,W5 (default: all)\n"
"  --runs N           runs per workload and engine (default 3)\n"
"  --dir DIR          parent of the fresh working directory (default $TMPDIR or /tmp);\n"
"                     must be a real disk, not tmpfs\n"
"  --json FILE        write the JSON lines to FILE (default: stdout)\n"
"  --scale F          multiply record counts (W1: 1e6, W3: 2e5) by F (default 1)\n"
"  --w2-seconds S     W2 duration (default 3)\n"
"  --no-device        skip the device limits\n"
"  --device-mib N     sequential-write probe size in MiB (default 1024)\n"
"  --device-iters N   pwrite+fdatasync iterations (default 2000)\n"
"  --w5-timeout S     W5 space-back timeout (default 10)\n"
"  --segment-kib N    mrlog segment_bytes in KiB (default: the library's\n"
"                     default policy, 128 MiB)\n"
"  --w5-segment-kib N mrlog segment_bytes of W5's own log (default 8192 =\n"
"                     8 MiB, so its truncation frees whole segments)\n"
"  --run-timeout S    kill a run after S seconds (default 1200)\n"
"  --keep             keep the working directory and W1's logs (to inspect)\n"
"  --help             this text\n"
"Each run is a forked child; figures are per run.  Output: JSON lines, then\n"
"one table per workload and the targets section on stdout.\n");
}

/* "mrlog-mapped" names the engine "mrlog", whose default store is the
 * mapped one. */
static const char *
canonical_name(const char *tok)
{
  return strcasecmp(tok, "mrlog-mapped") == 0 ? "mrlog" : tok;
}

/* Parses a comma-separated list of names into on[] (n names known). */
static int
parse_list(const char *arg, const char *(*name_of)(size_t), size_t n,
           int *on)
{
  char *copy = strdup(arg), *tok, *save = NULL;
  size_t i;
  int rc = 0;

  memset(on, 0, n * sizeof(*on));
  for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    for (i = 0; i < n && strcasecmp(canonical_name(tok), name_of(i)) != 0;
         i++)
      ;
    if (i == n) {
      fprintf(stderr, "mrlog-bench: unknown name '%s'\n", tok);
      rc = -1;
    } else {
      on[i] = 1;
    }
  }
  free(copy);
  return rc;
}

static const char *engine_name(size_t i) { return all_engines[i].name; }
static const char *workload_name(size_t i) { return workload_names[i]; }

static int
parse_options(int argc, char **argv, struct options *o)
{
  static const struct option longopts[] = {
    { "engines", required_argument, NULL, 'e' },
    { "workloads", required_argument, NULL, 'w' },
    { "runs", required_argument, NULL, 'r' },
    { "dir", required_argument, NULL, 'd' },
    { "json", required_argument, NULL, 'j' },
    { "scale", required_argument, NULL, 's' },
    { "w2-seconds", required_argument, NULL, 'S' },
    { "no-device", no_argument, NULL, 'N' },
    { "device-mib", required_argument, NULL, 'M' },
    { "device-iters", required_argument, NULL, 'I' },
    { "w5-timeout", required_argument, NULL, 'T' },
    { "segment-kib", required_argument, NULL, 'K' },
    { "w5-segment-kib", required_argument, NULL, 'G' },
    { "run-timeout", required_argument, NULL, 'R' },
    { "keep", no_argument, NULL, 'k' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  size_t i;
  int c;

  for (i = 0; i < N_ENGINES; i++)
    o->engine_on[i] = all_engines[i].engine != NULL;
  for (i = 0; i < N_WORKLOADS; i++)
    o->workload_on[i] = 1;
  o->runs = 3;
  o->dir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  o->json = NULL;
  o->scale = 1.0;
  o->w2_seconds = 3.0;
  o->device = 1;
  o->device_mib = 1024;
  o->device_iters = 2000;
  o->w5_timeout = 10.0;
  o->segment_kib = 0;
  o->w5_segment_kib = 8192;
  o->run_timeout = 1200;
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (c) {
    case 'e':
      if (parse_list(optarg, engine_name, N_ENGINES, o->engine_on) != 0)
        return -1;
      break;
    case 'w':
      if (parse_list(optarg, workload_name, N_WORKLOADS, o->workload_on))
        return -1;
      break;
    case 'r': o->runs = atoi(optarg); break;
    case 'd': o->dir = optarg; break;
    case 'j': o->json = optarg; break;
    case 's': o->scale = atof(optarg); break;
    case 'S': o->w2_seconds = atof(optarg); break;
    case 'N': o->device = 0; break;
    case 'M': o->device_mib = (unsigned)atoi(optarg); break;
    case 'I': o->device_iters = (unsigned)atoi(optarg); break;
    case 'T': o->w5_timeout = atof(optarg); break;
    case 'K': o->segment_kib = (unsigned)atoi(optarg); break;
    case 'G': o->w5_segment_kib = (unsigned)atoi(optarg); break;
    case 'R': o->run_timeout = (unsigned)atoi(optarg); break;
    case 'k': o->keep = 1; break;
    case 'h': usage(stdout); exit(0);
    default: return -1;
    }
  }
  if (optind != argc || o->runs < 1 || !(o->scale > 0) ||
      !(o->w2_seconds > 0) || o->device_mib < 1 || o->device_iters < 1 ||
      !(o->w5_timeout >= 0) || (o->segment_kib != 0 && o->segment_kib < 4) ||
      o->w5_segment_kib < 4 || o->run_timeout < 1) {
    fprintf(stderr, "mrlog-bench: bad arguments\n");
    return -1;
  }
  return 0;
}

static void
child_main(void *arg, struct bench_result *r)
{
  struct job *job = arg;

  switch (job->workload) {
  case -1: device_probe(&job->dp, r); break;
  case W1: case W1B: case W3: wl_append(&job->p, r); break;
  case W2: wl_durable(&job->p, r); break;
  case W4COLD: case W4WARM: wl_read(&job->p, r); break;
  case W5: wl_truncate(&job->p, r); break;
  }
}

/* The parameters of workload w; dir is filled by the caller. */
static struct wl_params
params_for(const struct options *o, const struct engine *e, int w, int run)
{
  struct wl_params p;

  memset(&p, 0, sizeof(p));
  p.engine = e;
  p.run = run;
  p.records = (uint64_t)llround(1e6 * o->scale);
  if (p.records < 64)
    p.records = 64;
  p.record_bytes = 100;
  p.queues = 16;
  p.producers = 4;
  p.batch = w == W1B ? 100 : 1;
  p.sync_interval_ms = 10;
  p.segment_bytes = (uint64_t)(w == W5 ? o->w5_segment_kib : o->segment_kib)
                    << 10;
  p.w2_seconds = o->w2_seconds;
  p.w2_threads = 64;
  p.w5_timeout_s = o->w5_timeout;
  p.w5_fraction = 0.4;
  p.cold = w == W4COLD;
  if (w == W3) {
    p.records = (uint64_t)llround(2e5 * o->scale);
    if (p.records < 16)
      p.records = 16;
    p.record_bytes = 4096;
  }
  return p;
}

struct state {
  struct options o;             /* the command line */
  char base[PATH_MAX / 2];      /* the fresh working directory (half of
                                   PATH_MAX, so the run dirs below fit) */
  FILE *json;                   /* where JSON lines go */
  struct bench_result *results; /* every result, device first if run */
  size_t n;                     /* results kept */
  size_t cap;                   /* results allocated */
  int failed;                   /* some run reported errors */
  int done_runs;                /* runs finished, for the progress line */
  int total_runs;               /* runs planned */
};

static void
keep_result(struct state *s, const struct bench_result *r)
{
  struct bench_result *v;

  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 64;
    v = realloc(s->results, s->cap * sizeof(*v));
    if (v == NULL) {
      fprintf(stderr, "mrlog-bench: out of memory\n");
      exit(1);
    }
    s->results = v;
  }
  s->results[s->n++] = *r;
}

/* Runs one job in a child and fills *r (not recorded). */
static void
run_job(struct state *s, struct job *job, struct bench_result *r)
{
  bench_run_forked(child_main, job, s->o.run_timeout, r);
  if (job->workload >= 0)
    wl_finish(r);
}

static void
progress(struct state *s, const struct bench_result *r)
{
  s->done_runs++;
  fprintf(stderr, "[%3d/%3d] %-7s %-8s run %d: ", s->done_runs,
          s->total_runs, r->workload, r->engine, r->run);
  if (strcmp(r->workload, "W5") == 0)
    if (isnan(r->space_back_ms))
      fprintf(stderr, "durable %.2f ms, space not back within %g s "
              "(out of the directory: %.2f ms)",
              r->durable_ms, s->o.w5_timeout, r->dir_back_ms);
    else
      fprintf(stderr, "durable %.2f ms, out of the directory %.2f ms, "
              "space back %.2f ms", r->durable_ms, r->dir_back_ms,
              r->space_back_ms);
  else
    fprintf(stderr, "%.3g rec/s, %.1f MB/s, %.2f s", r->rec_per_s,
            r->mb_per_s, r->seconds);
  if (r->errors)
    fprintf(stderr, "  ERROR: %s", r->error);
  fputc('\n', stderr);
}

static void
w1_dir(const struct state *s, size_t e, int run, char *out)
{
  snprintf(out, PATH_MAX, "%s/%s-W1-r%d", s->base, all_engines[e].name, run);
}

/* Writes W1's records into dir (mkdir'd) in an unreported run, with p's
 * parameters: the log that W4 (W1's own, when W1 was not selected) or W5
 * reopens. */
static void
prepare_w1_log(struct state *s, const struct job *job, const char *dir)
{
  const struct engine *eng = job->p.engine;
  struct job prep = *job;
  struct bench_result r;

  prep.workload = W1;
  mkdir(dir, 0755);
  bench_result_init(&r, eng->name, "W1-prep", job->p.run);
  run_job(s, &prep, &r);
  if (r.errors)
    fprintf(stderr, "mrlog-bench: preparing %s's log for %s failed: %s\n",
            workload_names[job->workload], eng->name, r.error);
}

/* Runs workload w of engine e, run index run; records the result. */
static void
run_one(struct state *s, size_t e, int w, int run, int *w1_ready)
{
  const struct engine *eng = all_engines[e].engine;
  struct bench_result r;
  struct job job;
  char dir[PATH_MAX];
  int reuse_w1 = w == W4COLD || w == W4WARM;

  memset(&job, 0, sizeof(job));
  job.workload = w;
  job.p = params_for(&s->o, eng, reuse_w1 ? W1 : w, run);
  job.p.cold = w == W4COLD;
  if (w == W1 || reuse_w1)
    w1_dir(s, e, run, dir);
  else
    snprintf(dir, sizeof(dir), "%s/%s-%s-r%d", s->base, eng->name,
             workload_names[w], run);
  job.p.dir = dir;
  if (reuse_w1 && !w1_ready[e]) {
    prepare_w1_log(s, &job, dir); /* W1 was not selected */
    w1_ready[e] = 1;
  } else if (w == W5) {
    prepare_w1_log(s, &job, dir);
  } else if (!reuse_w1) {
    mkdir(dir, 0755);
  }
  bench_result_init(&r, eng->name, workload_names[w], run);
  run_job(s, &job, &r);
  /* Every durable run syncs: zero interposed calls would mean the
   * wrappers in fsync_count.c are not the ones the engine calls. */
  if ((w == W2 || w == W5) && r.fsyncs_interposed == 0)
    bench_result_fail(&r, "no fsync-family call was counted: the "
                      "interposition in fsync_count.c is not effective");
  if (r.errors)
    s->failed = 1;
  report_json(s->json, &r);
  keep_result(s, &r);
  progress(s, &r);
  if (w == W1)
    w1_ready[e] = 1;
  else if (!reuse_w1)
    bench_rm_rf(dir);
}

static void
run_device(struct state *s)
{
  struct bench_result r;
  struct wl_params w1;
  struct job job;

  memset(&job, 0, sizeof(job));
  job.workload = -1;
  job.dp.dir = s->base;
  job.dp.seq_bytes = (uint64_t)s->o.device_mib << 20;
  job.dp.sync_iterations = s->o.device_iters;
  /* W5's floor: the bytes W5 waits for, in files of its segment size. */
  w1 = params_for(&s->o, NULL, W5, 0);
  job.dp.unlink_file_bytes = w1.segment_bytes;
  job.dp.unlink_free_bytes =
      (uint64_t)(w1.w5_fraction * (double)(w1.records * w1.record_bytes));
  bench_result_init(&r, "device", "device", 0);
  fprintf(stderr, "[device] measuring the device limits in %s ...\n",
          s->base);
  bench_run_forked(child_main, &job, s->o.run_timeout, &r);
  if (r.errors)
    s->failed = 1;
  report_json(s->json, &r);
  keep_result(s, &r);
  fprintf(stderr, "[device] seq %.2f GiB/s (%.2f incl. fdatasync), "
          "fdatasync %.0f/s appending, %.0f/s overwriting, %.1f MB freed "
          "by unlink in %.2f ms%s%s\n",
          r.seq_gib_s, r.seq_sync_gib_s, r.sync_append_ops, r.sync_over_ops,
          r.unlink_freed_bytes / BENCH_MB, r.unlink_free_ms,
          r.errors ? "  ERROR: " : "", r.error);
}

static int
make_base(struct state *s)
{
  struct stat st;

  if (stat(s->o.dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    fprintf(stderr, "mrlog-bench: --dir %s is not a directory\n", s->o.dir);
    return -1;
  }
  if (snprintf(s->base, sizeof(s->base), "%s/mrlog-bench.XXXXXX",
               s->o.dir) >= (int)sizeof(s->base)) {
    fprintf(stderr, "mrlog-bench: --dir %s is too long\n", s->o.dir);
    return -1;
  }
  if (mkdtemp(s->base) == NULL) {
    perror("mrlog-bench: mkdtemp");
    return -1;
  }
  if (bench_dir_is_tmpfs(s->base))
    fprintf(stderr, "mrlog-bench: WARNING: %s is on tmpfs: fsync is free "
            "there and the figures say nothing about a disk; use --dir\n",
            s->base);
  return 0;
}

int
main(int argc, char **argv)
{
  static struct state s;
  struct report_config rc;
  struct report rep;
  char not_built[64] = "";
  int w1_ready[N_ENGINES], run, w, n_eng = 0, n_wl = 0;
  size_t e;

  if (parse_options(argc, argv, &s.o) != 0) {
    usage(stderr);
    return 2;
  }
  for (e = 0; e < N_ENGINES; e++) {
    if (all_engines[e].engine == NULL) {
      if (not_built[0])
        strcat(not_built, ",");
      strcat(not_built, all_engines[e].name);
      if (s.o.engine_on[e])
        fprintf(stderr, "mrlog-bench: %s: not built (its -dev package was "
                "missing at configure time)\n", all_engines[e].name);
      s.o.engine_on[e] = 0;
    }
    n_eng += s.o.engine_on[e];
  }
  for (w = 0; w < N_WORKLOADS; w++)
    n_wl += s.o.workload_on[w];
  s.total_runs = n_eng * n_wl * s.o.runs;
  s.json = stdout;
  if (s.o.json && (s.json = fopen(s.o.json, "w")) == NULL) {
    perror(s.o.json);
    return 2;
  }
  if (make_base(&s) != 0)
    return 1;
  bench_payload_init(0x6d726c6f67ull); /* "mrlog" */

  memset(&rc, 0, sizeof(rc));
  rc.scale = s.o.scale;
  rc.runs = s.o.runs;
  rc.w1_records = params_for(&s.o, NULL, W1, 0).records;
  rc.w3_records = params_for(&s.o, NULL, W3, 0).records;
  rc.w2_seconds = s.o.w2_seconds;
  rc.w2_threads = 64;
  rc.segment_bytes = (uint64_t)s.o.segment_kib << 10;
  if (rc.segment_bytes == 0) {
    struct mrlog_policy defaults;

    mrlog_policy_init(&defaults);
    rc.segment_bytes = defaults.segment_bytes;
  }
  rc.w5_segment_bytes = (uint64_t)s.o.w5_segment_kib << 10;
  rc.w5_timeout_s = s.o.w5_timeout;
  rc.dir = s.base;
  rc.tmpfs = bench_dir_is_tmpfs(s.base);
  rc.not_built = not_built;
  rc.cores = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
  report_json_config(s.json, &rc);

  if (s.o.device)
    run_device(&s);
  for (run = 0; run < s.o.runs; run++) {
    memset(w1_ready, 0, sizeof(w1_ready));
    for (w = 0; w < N_WORKLOADS; w++)
      for (e = 0; e < N_ENGINES; e++)
        if (s.o.workload_on[w] && s.o.engine_on[e])
          run_one(&s, e, w, run, w1_ready);
    for (e = 0; e < N_ENGINES && !s.o.keep; e++) {
      char dir[PATH_MAX];
      w1_dir(&s, e, run, dir);
      bench_rm_rf(dir);
    }
  }
  if (s.o.keep)
    fprintf(stderr, "mrlog-bench: kept %s\n", s.base);
  else
    bench_rm_rf(s.base);

  memset(&rep, 0, sizeof(rep));
  rep.config = &rc;
  rep.device = s.o.device ? &s.results[0] : NULL;
  rep.runs = s.o.device ? s.results + 1 : s.results;
  rep.n_runs = s.o.device ? s.n - 1 : s.n;
  report_tables(stdout, &rep);
  report_targets(stdout, &rep);
  if (s.failed)
    printf("SOME RUNS FAILED: see the ERROR lines above.\n");
  if (s.json != stdout)
    fclose(s.json);
  free(s.results);
  bench_payload_free();
  return s.failed ? 1 : 0;
}

/*
 * mirror_bench.c -- bench/mirror-bench: what libmrlog_mirror ships to a
 * RabbitMQ cluster, and what a replica takes from it, per second.  `make
 * bench-mirror` runs it (bench/mirror_bench.sh starts a 3-node cluster on
 * loopback first and stops it after); bench/README.md describes it.
 *
 * For each record size (100 B, 4 KiB) and each records_per_message (the
 * default 256, and 1), runs the cases of mirror_cases.c: backlog, e2e and
 * live, --runs times each, interleaved (run 1 of every setting, then run
 * 2, ...); then latency once per size with the default records per
 * message.  Prints one JSON line per run (--json), a table of medians
 * with min..max, the batched / one-per-message ratios, and the targets,
 * each met or not met with its measured number.
 *
 * Options: --uris LIST (default $MRLOG_AMQP_URIS), --runs N (3),
 * --queues N (16), --records N[,M] (100 B records per case: N batched,
 * 1,500,000; M one per message, 20,000), --records-4k N[,M] (4 KiB:
 * 50,000 and 15,000), --e2e-div N (the e2e case ships a 1/N part of
 * those, 4), --rpm N (the batched records_per_message, 256),
 * --in-flight N (messages_in_flight; the default 64), --lat-rate N
 * (records/s, 1000), --lat-seconds S (2), --cases LIST
 * (backlog,e2e,live,latency), --dir DIR ($TMPDIR or /tmp), --timeout S
 * (per case, 120), --json FILE.  Exit status: 0, or 1
 * when a case failed (an error, a timeout, a verification); a target not
 * met is reported, not an error.
 */
#include <mrlog.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror_bench.h"

#define MAX_RUNS 31
#define TARGET_RATE 200000.0
#define TARGET_RATIO 5.0

enum { C_BACKLOG = 1, C_E2E = 2, C_LIVE = 4, C_LATENCY = 8 };

static const char *const case_names[] = {"backlog", "e2e", "live",
                                         "latency"};

struct opts {
  unsigned runs;
  uint64_t records[2][2]; /* [size: 100 B, 4 KiB][rpm: batched, 1] */
  unsigned rpm;           /* the batched setting (the default 256) */
  unsigned e2e_div;       /* e2e ships records[][] / e2e_div */
  int cases;
  const char *json;
};

static const unsigned sizes[2] = {100, 4096};

/* Results of every run: [case][size][rpm: 0 batched, 1 single][run]. */
static struct mb_result res[3][2][2][MAX_RUNS];
static struct mb_result lat[2][MAX_RUNS];

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;

  return x < y ? -1 : x > y;
}

/* Median, min and max of n values (sorted in place). */
static double median(double *v, unsigned n, double *lo, double *hi) {
  qsort(v, n, sizeof(*v), cmp_double);
  *lo = v[0];
  *hi = v[n - 1];
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void json_line(FILE *f, const char *name, unsigned bytes,
                      unsigned rpm, unsigned queues, uint64_t records,
                      unsigned run, const struct mb_result *r) {
  if (f == NULL) return;
  fprintf(f, "{\"bench\":\"mirror\",\"case\":\"%s\",\"bytes\":%u,"
          "\"records_per_message\":%u,\"queues\":%u,\"records\":%ju,"
          "\"run\":%u,\"rec_per_s\":%.1f,\"seconds\":%.4f,"
          "\"setup_ms\":%.1f,\"total_s\":%.4f,\"append_rec_per_s\":%.1f,"
          "\"cpu_s\":%.3f,\"messages\":%ju,\"samples\":%ju,"
          "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
          "\"broker_p50_ms\":%.3f,\"broker_p99_ms\":%.3f}\n",
          name, bytes, rpm, queues, (uintmax_t)records, run, r->rate,
          r->seconds, r->setup_ms, r->total_s, r->append_rate, r->cpu_s,
          (uintmax_t)r->messages, (uintmax_t)r->samples, r->p50_ms,
          r->p99_ms, r->max_ms, r->floor_p50_ms, r->floor_p99_ms);
  fflush(f);
}

static int parse_cases(const char *list) {
  int set = 0;
  char *copy = strdup(list), *save = NULL, *tok;

  for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
    for (int c = 0; c < 4; c++)
      if (strcmp(tok, case_names[c]) == 0) set |= 1 << c;
  free(copy);
  return set;
}

/* "N[,M]": N records batched, M with one record per message. */
static void records(const char *v, uint64_t out[2]) {
  char *end;

  out[0] = strtoull(v, &end, 10);
  if (*end == ',') out[1] = strtoull(end + 1, NULL, 10);
}

static void usage(void) {
  fprintf(stderr, "usage: mirror-bench [--uris LIST] [--runs N] "
          "[--queues N] [--records N[,M]] [--records-4k N[,M]] [--rpm N] "
          "[--e2e-div N] [--in-flight N] [--lat-rate N] [--lat-seconds S] [--cases LIST] [--dir DIR] "
          "[--timeout S] [--json FILE]\n");
  exit(2);
}

/* The table of one case: one row per size and records per message. */
static double report_case(int c, const struct opts *o, unsigned queues,
                          double rates[2][2]) {
  printf("\n%s\n", c == 0 ? "SHIPPED AND CONFIRMED: a log holding N durable "
                            "records, mirror started; first publish to "
                            "records_confirmed == N, lag 0"
                 : c == 1 ? "END TO END: the same with a replica (a log fed "
                            "by mrlog_replica_start) consuming; first "
                            "publish to all N applied by the replica (then "
                            "compared byte for byte)"
                          : "LIVE: mirror running on empty queues; N "
                            "records appended as fast as the log takes "
                            "them; first append to all N confirmed");
  printf("  %5s %5s %9s %24s %7s %7s %8s %7s%s\n", "bytes", "rpm",
         "records", "rec/s (min-max)", "MB/s", "msgs", c == 2 ? "" : "setup ms",
         "CPU s", c == 2 ? "  appended rec/s" : "");
  for (int s = 0; s < 2; s++) {
    for (int k = 0; k < 2; k++) {
      double v[MAX_RUNS], w[MAX_RUNS], x[MAX_RUNS], y[MAX_RUNS], lo, hi, d;
      unsigned rpm = k == 0 ? o->rpm : 1;
      uint64_t n = o->records[s][k] / (c == 1 ? o->e2e_div : 1);
      char range[64];
      for (unsigned r = 0; r < o->runs; r++) {
        v[r] = res[c][s][k][r].rate;
        w[r] = res[c][s][k][r].setup_ms;
        x[r] = res[c][s][k][r].cpu_s;
        y[r] = res[c][s][k][r].append_rate;
      }
      rates[s][k] = median(v, o->runs, &lo, &hi);
      snprintf(range, sizeof(range), "%.0f (%.0f-%.0f)", rates[s][k], lo, hi);
      printf("  %5u %5u %9ju %24s %7.1f %7ju", sizes[s], rpm,
             (uintmax_t)(n / queues * queues), range,
             rates[s][k] * sizes[s] / 1e6,
             (uintmax_t)res[c][s][k][0].messages);
      if (c != 2) printf(" %8.0f", median(w, o->runs, &d, &d));
      else printf(" %8s", "");
      printf(" %7.2f", median(x, o->runs, &d, &d));
      if (c == 2) printf("  %.0f", median(y, o->runs, &d, &d));
      printf("\n");
    }
  }
  for (int s = 0; s < 2; s++)
    if (rates[s][1] > 0)
      printf("  %u B: batched / one record per message: %.1fx\n", sizes[s],
             rates[s][0] / rates[s][1]);
  return 0;
}

int main(int argc, char **argv) {
  struct mb_env env;
  struct opts o = {3, {{1500000, 20000}, {50000, 15000}}, 256, 4,
                   C_BACKLOG | C_E2E | C_LIVE | C_LATENCY, NULL};
  double rates[3][2][2];
  FILE *json = NULL;
  int failed = 0;

  memset(&env, 0, sizeof(env));
  memset(rates, 0, sizeof(rates));
  env.uris = getenv("MRLOG_AMQP_URIS");
  env.dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  env.queues = 16;
  env.timeout_s = 120;
  env.lat_rate = 1000;
  env.lat_seconds = 2;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (v == NULL) usage();
    if (strcmp(a, "--uris") == 0) env.uris = v;
    else if (strcmp(a, "--runs") == 0) o.runs = (unsigned)atoi(v);
    else if (strcmp(a, "--queues") == 0) env.queues = (unsigned)atoi(v);
    else if (strcmp(a, "--records") == 0) records(v, o.records[0]);
    else if (strcmp(a, "--records-4k") == 0) records(v, o.records[1]);
    else if (strcmp(a, "--rpm") == 0) o.rpm = (unsigned)atoi(v);
    else if (strcmp(a, "--e2e-div") == 0) o.e2e_div = (unsigned)atoi(v);
    else if (strcmp(a, "--in-flight") == 0) env.in_flight = (unsigned)atoi(v);
    else if (strcmp(a, "--lat-rate") == 0) env.lat_rate = (unsigned)atoi(v);
    else if (strcmp(a, "--lat-seconds") == 0) env.lat_seconds = atof(v);
    else if (strcmp(a, "--cases") == 0) o.cases = parse_cases(v);
    else if (strcmp(a, "--dir") == 0) env.dir = v;
    else if (strcmp(a, "--timeout") == 0) env.timeout_s = (unsigned)atoi(v);
    else if (strcmp(a, "--json") == 0) o.json = v;
    else usage();
    i++;
  }
  if (env.uris == NULL || o.runs < 1 || o.runs > MAX_RUNS ||
      env.queues < 1 || env.queues > MB_MAX_QUEUES || o.rpm < 1 ||
      o.e2e_div < 1 || o.cases == 0) {
    fprintf(stderr, "mirror-bench: need --uris or MRLOG_AMQP_URIS, 1 to %d "
            "runs, 1 to %d queues, a case\n", MAX_RUNS, MB_MAX_QUEUES);
    usage();
  }
  for (unsigned q = 0; q < env.queues; q++) {
    env.names[q] = malloc(16);
    snprintf(env.names[q], 16, "b%u", q);
  }
  if (o.json != NULL && (json = fopen(o.json, "w")) == NULL) {
    perror(o.json);
    return 1;
  }
  env.admin = admin_open(env.uris);
  if (env.admin == NULL ||
      admin_declare(env.admin, MB_EXCHANGE, MB_PREFIX, MB_CATALOG,
                    env.names, env.queues) != 0)
    return 1;
  printf("MIRROR BENCHMARK: %u queues, %u run(s) of each case, "
         "records_per_message %u and 1, messages_in_flight %u; mrlog %s\n",
         env.queues, o.runs, o.rpm, env.in_flight ? env.in_flight : 64,
         mrlog_version_string());
  fflush(stdout);
  for (unsigned r = 0; r < o.runs && !failed; r++) {
    for (int c = 0; c < 3 && !failed; c++) {
      if (!(o.cases & (1 << c))) continue;
      for (int s = 0; s < 2 && !failed; s++) {
        for (int k = 0; k < 2 && !failed; k++) {
          unsigned rpm = k == 0 ? o.rpm : 1;
          uint64_t n = o.records[s][k] / (c == 1 ? o.e2e_div : 1);
          struct mb_result *out = &res[c][s][k][r];
          int rc;
          n = n / env.queues * env.queues;
          rc = c == 0   ? mb_backlog(&env, sizes[s], rpm, n, out)
               : c == 1 ? mb_e2e(&env, sizes[s], rpm, n, out)
                        : mb_live(&env, sizes[s], rpm, n, out);
          fprintf(stderr, "  run %u %s %u B rpm %u: %s %.0f rec/s\n", r + 1,
                  case_names[c], sizes[s], rpm, rc == 0 ? "ok" : "FAILED",
                  out->rate);
          json_line(json, case_names[c], sizes[s], rpm, env.queues, n, r + 1,
                    out);
          failed |= rc != 0;
        }
      }
    }
    for (int s = 0; s < 2 && !failed && (o.cases & C_LATENCY); s++) {
      int rc = mb_latency(&env, sizes[s], o.rpm, &lat[s][r]);
      fprintf(stderr, "  run %u latency %u B: %s p50 %.2f ms p99 %.2f ms\n",
              r + 1, sizes[s], rc == 0 ? "ok" : "FAILED", lat[s][r].p50_ms,
              lat[s][r].p99_ms);
      json_line(json, "latency", sizes[s], o.rpm, env.queues,
                lat[s][r].samples, r + 1, &lat[s][r]);
      failed |= rc != 0;
    }
  }
  if (failed) {
    fprintf(stderr, "mirror-bench: a case failed\n");
  } else {
    for (int c = 0; c < 3; c++)
      if (o.cases & (1 << c)) report_case(c, &o, env.queues, rates[c]);
    if (o.cases & C_LATENCY) {
      printf("\nCONFIRM LATENCY: one record appended every %.3f ms round "
             "robin over the queues for %.1f s; from the append's completion "
             "(durable) to the first poll (every 0.1 ms) of "
             "mrlog_mirror_queue showing it confirmed and committed\n",
             1000.0 / env.lat_rate, env.lat_seconds);
      printf("  %5s %5s %8s %8s %8s %8s %17s\n", "bytes", "rpm", "samples",
             "p50 ms", "p99 ms", "max ms", "broker p50, p99");
      for (int s = 0; s < 2; s++) {
        double a[MAX_RUNS], b[MAX_RUNS], m[MAX_RUNS], f5[MAX_RUNS],
            f9[MAX_RUNS], d;
        for (unsigned r = 0; r < o.runs; r++) {
          a[r] = lat[s][r].p50_ms;
          b[r] = lat[s][r].p99_ms;
          m[r] = lat[s][r].max_ms;
          f5[r] = lat[s][r].floor_p50_ms;
          f9[r] = lat[s][r].floor_p99_ms;
        }
        printf("  %5u %5u %8ju %8.2f %8.2f %8.2f %8.2f %8.2f\n", sizes[s],
               o.rpm, (uintmax_t)lat[s][0].samples,
               median(a, o.runs, &d, &d), median(b, o.runs, &d, &d),
               median(m, o.runs, &d, &d), median(f5, o.runs, &d, &d),
               median(f9, o.runs, &d, &d));
      }
      printf("  (medians of the runs' figures; broker: the benchmark's own "
             "connection publishing persistent messages of a one-record "
             "body's size at the same pace, round robin, publish to "
             "confirm)\n");
    }
    if (o.cases & C_BACKLOG) {
      double rate = rates[0][0][0], ratio = rates[0][0][1] > 0
                                                ? rate / rates[0][0][1]
                                                : 0;
      printf("\nTARGETS\n");
      printf("  100 B shipped and confirmed, %u records per message: "
             ">= %.0f rec/s: %s (%.0f rec/s)\n", o.rpm, TARGET_RATE,
             rate >= TARGET_RATE ? "met" : "NOT MET", rate);
      printf("  the same against one record per message: >= %.0fx: %s "
             "(%.1fx)\n", TARGET_RATIO,
             ratio >= TARGET_RATIO ? "met" : "NOT MET", ratio);
    }
  }
  admin_delete(env.admin, MB_EXCHANGE, MB_PREFIX, MB_CATALOG, env.names,
               env.queues);
  admin_close(env.admin);
  for (unsigned q = 0; q < env.queues; q++) free(env.names[q]);
  if (json != NULL) fclose(json);
  return failed ? 1 : 0;
}

/*
 * device.h -- hardware limits (bench/device.c): sequential write bandwidth
 * fdatasync rate/latency and the time to free space by unlink, measured in the benchmark directory.
 */
#ifndef BENCH_DEVICE_H
#define BENCH_DEVICE_H

#include "harness.h"

struct device_params {
  const char *dir;          /* where the probe files go (exists) */
  uint64_t seq_bytes;       /* sequential write size (1 GiB) */
  unsigned sync_iterations; /* pwrite+fdatasync iterations (2000) */
  uint64_t unlink_file_bytes; /* unlink probe: file size (a segment) */
  uint64_t unlink_free_bytes; /* unlink probe: bytes to free (W5's) */
};

/* Runs the probes (in the calling process: main.c forks for it) and
 * fills the device fields of *r. */
void device_probe(const struct device_params *dp, struct bench_result *r);

#endif /* BENCH_DEVICE_H */

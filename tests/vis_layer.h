/*
 * vis_layer.h -- the file layer of tests/test_visibility.c, shared with
 * tests/test_watch.c: fdatasyncs that can be held at a gate or made to
 * fail, and a copy of each segment as its last good sync found it.
 */
#ifndef VIS_LAYER_H
#define VIS_LAYER_H

#include <stdbool.h>
#include <stdint.h>

#include "mrlog.h"

/* Forgets every file and opens the gate; call before vl_open. */
void vl_reset(void);
/* on: fdatasyncs wait at the gate until it opens again. */
void vl_hold(bool on);
/* on: fdatasyncs fail with EIO. */
void vl_fail(bool on);
/* Opens dir over the layer, asserting success. */
mrlog *vl_open(const char *dir, const mrlog_policy *policy);
/* Polls until stats.appends reaches n (the records are applied). */
void vl_wait_appends(mrlog *log, uint64_t n);

#endif /* VIS_LAYER_H */

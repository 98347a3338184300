/*
 * check_main.c -- the single runner of tests/check_mrlog: every module's
 * suite in one SRunner.  Tests fork (CK_FORK, the default), so a crash or a
 * failed assertion ends one test, not the run.  CK_RUN_SUITE / CK_RUN_CASE
 * select suites and cases; MRLOG_TEST_SCALE (percent) shrinks the big
 * workloads for slow (sanitizer) builds.
 */
#include <stdlib.h>

#include "check_mrlog.h"

int main(void) {
  SRunner *sr = srunner_create(make_unit_suite());
  int failed;

  srunner_add_suite(sr, make_api_suite());
  srunner_add_suite(sr, make_append_cb_suite());
  srunner_add_suite(sr, make_semantics_suite());
  srunner_add_suite(sr, make_persist_suite());
  srunner_add_suite(sr, make_recovery_suite());
  srunner_add_suite(sr, make_recovery_rules_suite());
  srunner_add_suite(sr, make_concurrency_suite());
  srunner_add_suite(sr, make_stage_suite());
  srunner_add_suite(sr, make_failure_suite());
  srunner_add_suite(sr, make_kill_suite());
  srunner_add_suite(sr, make_faults_suite());
  srunner_add_suite(sr, make_errseq_suite());
  srunner_add_suite(sr, make_powerloss_suite());
  srunner_add_suite(sr, make_time_suite());
  srunner_add_suite(sr, make_mapped_suite());
  srunner_add_suite(sr, make_mapfault_suite());
  srunner_add_suite(sr, make_limits_suite());
  srunner_add_suite(sr, make_holes_suite());
  srunner_add_suite(sr, make_misuse_suite());
  srunner_add_suite(sr, make_memory_suite());
  srunner_add_suite(sr, make_damage_suite());
  srunner_add_suite(sr, make_readonly_suite());
  srunner_add_suite(sr, make_errors_suite());
  srunner_add_suite(sr, make_quota_suite());
  srunner_add_suite(sr, make_consumer_suite());
  srunner_add_suite(sr, make_visibility_suite());
  srunner_add_suite(sr, make_watch_suite());
  srunner_add_suite(sr, make_poll_suite());
  srunner_add_suite(sr, make_metrics_suite());
  srunner_add_suite(sr, make_cursor_suite());
  srunner_add_suite(sr, make_range_walk_suite());
  srunner_add_suite(sr, make_get_policy_suite());
  srunner_add_suite(sr, make_poll_watch_suite());
  srunner_run_all(sr, CK_ENV);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

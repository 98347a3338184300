/*
 * mirror_test_local.c -- the cases of tests/mirror_test that need no
 * broker: the message body's worked example, and the arguments the start
 * calls refuse (mirror_test.h).
 */
#include <stdlib.h>
#include <string.h>

#include "body.h"
#include "mirror_test.h"
#include "mrlog.h"
#include "mrlog_mirror.h"

/* mrlog_mirror_start and mrlog_replica_start refuse bad arguments, before
 * any connection: MRLOG_EINVAL and *out NULL. */
int mirror_test_start_args(const char *uris) {
  char dir[] = "/tmp/mrlog-mirror-test.XXXXXX";
  struct mrlog_mirror_config cfg;
  mrlog_mirror *mir = (mrlog_mirror *)&cfg;
  mrlog *log;
  int bad = 0;

  CHECK(mkdtemp(dir) != NULL, "mkdtemp");
  CHECK(mrlog_open(dir, NULL, &log) == 0, "mrlog_open");
  for (int which = 0; which < 2; which++) {
    int (*start)(mrlog *, const struct mrlog_mirror_config *,
                 mrlog_mirror **) =
        which == 0 ? mrlog_mirror_start : mrlog_replica_start;
    for (int k = 0; k < 7; k++) {
      mrlog *l = log;

      mrlog_mirror_config_init(&cfg);
      cfg.uris = uris;
      switch (k) {
      case 0: l = NULL; break;
      case 1: cfg.uris = NULL; break;
      case 2: cfg.uris = "http://mrlog:mrlog@127.0.0.1:1/mrlog"; break;
      case 3: cfg.records_per_message = 0; break;
      case 4: cfg.messages_in_flight = 0; break;
      case 5: cfg.backoff_max_ms = cfg.backoff_min_ms - 1; break;
      case 6: cfg.reserved[7] = 1; break;
      }
      mir = (mrlog_mirror *)&cfg;
      if (start(l, &cfg, &mir) != MRLOG_EINVAL || mir != NULL) {
        printf("  %s, case %d: not refused\n",
               which == 0 ? "mirror" : "replica", k);
        bad = 1;
        if (mir != NULL && mir != (mrlog_mirror *)&cfg)
          mrlog_mirror_stop(mir, 0);
      }
    }
  }
  CHECK(mrlog_mirror_stop(NULL, 0) == MRLOG_EINVAL, "stop NULL");
  CHECK(mrlog_mirror_stats(NULL, NULL) == MRLOG_EINVAL, "stats NULL");
  mrlog_close(log);
  mirror_test_rm_rf(dir);
  return bad;
}

int mirror_test_body_example(void) {
  static const unsigned char want[71] = {
      0x4d, 0x52, 0x4c, 0x4d, 0x01, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00,
      0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x71, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x68, 0xe5, 0xcf, 0x8b, 0x01, 0x00, 0x00, 0x02, 0x00, 0x00,
      0x00, 0x68, 0x69, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
      0x68, 0xe5, 0xcf, 0x8b, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  struct mrlog__body body = {0};
  struct mrlog__body_view v;
  const char *why = "";
  unsigned char bad[71];

  CHECK(mrlog__body_begin(&body, "q", 1) == 0, "begin");
  CHECK(mrlog__body_add(&body, 7, 1700000000000ull, "hi", 2) == 0, "add");
  CHECK(mrlog__body_add(&body, 9, 1700000000001ull, NULL, 0) == 0, "add");
  mrlog__body_finish(&body);
  CHECK(body.len == sizeof(want) && memcmp(body.buf, want, body.len) == 0,
        "the encoding differs from docs/FORMAT.md 15.3");
  CHECK(mrlog__body_parse(want, sizeof(want), &v, &why) == 0, "%s", why);
  CHECK(v.count == 2 && v.first == 7 && v.last == 9, "parsed header");
  /* Each rule: a cut body, a changed position, a trailing byte. */
  CHECK(mrlog__body_parse(want, sizeof(want) - 1, &v, &why) != 0, "cut");
  memcpy(bad, want, sizeof(bad));
  bad[51] = 0x06; /* second record's position 9 -> 6 */
  CHECK(mrlog__body_parse(bad, sizeof(bad), &v, &why) != 0, "order");
  mrlog__body_free(&body);
  return 0;
}

/* The truncate marker of docs/FORMAT.md 15.6's example, and the rules a
 * replica checks before applying one. */
int mirror_test_truncate_example(void) {
  static const unsigned char want[17] = {
      0x4d, 0x52, 0x4c, 0x54, 0x01, 0x00, 0x01, 0x00, 0x05,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x71};
  struct mrlog__body body = {0};
  const char *why = "", *queue = NULL;
  unsigned char bad[17];
  uint64_t at = 0;
  size_t len = 0;

  CHECK(mrlog__body_truncate(&body, "q", 1, 5) == 0, "encode");
  CHECK(body.len == sizeof(want) && memcmp(body.buf, want, body.len) == 0,
        "the encoding differs from docs/FORMAT.md 15.6");
  CHECK(mrlog__body_truncate(&body, "q", 1, 0) != 0, "position 0 encoded");
  CHECK(mrlog__body_is_truncate(want, sizeof(want)) &&
            !mrlog__body_is_delete(want, sizeof(want)),
        "magic");
  CHECK(mrlog__body_parse_truncate(want, sizeof(want), &queue, &len, &at,
                                   &why) == 0,
        "%s", why);
  CHECK(len == 1 && queue[0] == 'q' && at == 5, "parsed");
  /* Each rule: cut, a byte after the name, version, position 0. */
  CHECK(mrlog__body_parse_truncate(want, sizeof(want) - 1, &queue, &len, &at,
                                   &why) != 0,
        "cut");
  memcpy(bad, want, sizeof(bad));
  bad[6] = 0; /* name length 0 */
  CHECK(mrlog__body_parse_truncate(bad, sizeof(bad), &queue, &len, &at,
                                   &why) != 0,
        "name length");
  memcpy(bad, want, sizeof(bad));
  bad[4] = 2;
  CHECK(mrlog__body_parse_truncate(bad, sizeof(bad), &queue, &len, &at,
                                   &why) != 0,
        "version");
  memcpy(bad, want, sizeof(bad));
  bad[8] = 0;
  CHECK(mrlog__body_parse_truncate(bad, sizeof(bad), &queue, &len, &at,
                                   &why) != 0,
        "position 0");
  mrlog__body_free(&body);
  return 0;
}

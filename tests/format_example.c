/*
 * format_example.c -- produces the worked example of docs/FORMAT.md
 * section 13 through the public API only, and prints the bytes the
 * section shows, in xxd's layout, for tests/format_example_check.sh.
 *
 * Every run uses the default policy with a fixed clock (1700000000000 ms),
 * so the bytes are the same on every run and machine.  Four logs, each in
 * its own fresh directory under $TMPDIR:
 *
 *  1. "plain": create "a", append "hi" and "there", truncate at 0, close;
 *     then reopen and close.  Prints segment 1 and segment 2 whole.
 *  2. "commit": as plain with truncate_on_commit, and a commit of
 *     consumer "r" at 1 in place of the truncate.  Prints segment 1's
 *     fifth frame (the COMMIT) and segment 2's first (the CHECKPOINT).
 *  3. "batch": create "a", then one batch of "hi" and "there".  Prints
 *     segment 1's third frame (the batch).
 *
 * Each block of output starts with a line "== what"; the check compares
 * the blocks, in order, with the hexdumps of the section.  Exits 1 with a
 * message on stderr if any call fails.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mrlog.h"

static uint64_t
fixed_now(void *arg)
{
  (void)arg;
  return 1700000000000ull;
}

static void
fail(const char *what, int rc)
{
  fprintf(stderr, "format_example: %s: %s\n", what, mrlog_strerror(rc));
  exit(1);
}

/* Waits for f and exits on any status but 0. */
static void
wait_ok(mrlog_future *f, const char *what)
{
  uint64_t pos;
  int rc = mrlog_wait(f, &pos);

  if (rc != 0)
    fail(what, rc);
}

static mrlog *
open_log(const char *dir, int truncate_on_commit)
{
  mrlog_policy policy;
  mrlog *log;
  int rc;

  mrlog_policy_init(&policy);
  policy.now_ms = fixed_now;
  policy.truncate_on_commit = truncate_on_commit;
  rc = mrlog_open(dir, &policy, &log);
  if (rc != 0)
    fail("mrlog_open", rc);
  return log;
}

static void
close_log(mrlog *log)
{
  int rc = mrlog_close(log);

  if (rc != 0)
    fail("mrlog_close", rc);
}

/* Reads dir/name whole into a malloc'd buffer.  OUT: *len. */
static uint8_t *
read_segment(const char *dir, const char *name, size_t *len)
{
  char path[4096];
  FILE *f;
  struct stat st;
  uint8_t *buf;

  snprintf(path, sizeof(path), "%s/%s", dir, name);
  f = fopen(path, "rb");
  if (f == NULL || fstat(fileno(f), &st) != 0) {
    fprintf(stderr, "format_example: %s: %s\n", path, strerror(errno));
    exit(1);
  }
  buf = malloc((size_t)st.st_size + 1);
  if (buf == NULL || fread(buf, 1, (size_t)st.st_size, f) !=
                         (size_t)st.st_size) {
    fprintf(stderr, "format_example: cannot read %s\n", path);
    exit(1);
  }
  fclose(f);
  *len = (size_t)st.st_size;
  return buf;
}

/* Prints bytes [from, to) of buf as `xxd -s from -l (to - from)` does. */
static void
hexdump(const uint8_t *buf, size_t from, size_t to)
{
  size_t line, i;

  for (line = from; line < to; line += 16) {
    size_t n = to - line < 16 ? to - line : 16;
    char ascii[17];

    printf("%08zx:", line);
    for (i = 0; i < 16; i++) {
      if (i % 2 == 0)
        printf(" ");
      if (i < n)
        printf("%02x", buf[line + i]);
      else
        printf("  ");
    }
    for (i = 0; i < n; i++) {
      uint8_t c = buf[line + i];
      ascii[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '.';
    }
    ascii[n] = '\0';
    printf("  %s\n", ascii);
  }
}

/* The offset of frame k (0 = the checkpoint at 32), walking the frames'
 * body_length fields; exits if the file ends first. */
static size_t
frame_offset(const uint8_t *buf, size_t len, int k)
{
  size_t off = 32;

  while (k-- > 0) {
    if (off + 16 > len)
      break;
    off += 16 + ((size_t)buf[off + 4] | (size_t)buf[off + 5] << 8 |
                 (size_t)buf[off + 6] << 16 | (size_t)buf[off + 7] << 24);
  }
  if (off + 16 > len) {
    fprintf(stderr, "format_example: no such frame\n");
    exit(1);
  }
  return off;
}

static void
print_file(const char *label, const char *dir, const char *name)
{
  size_t len;
  uint8_t *buf = read_segment(dir, name, &len);

  printf("== %s %s, %zu bytes\n", label, name, len);
  hexdump(buf, 0, len);
  free(buf);
}

static void
print_frame(const char *label, const char *dir, const char *name, int k)
{
  size_t len, off, end;
  uint8_t *buf = read_segment(dir, name, &len);

  off = frame_offset(buf, len, k);
  end = frame_offset(buf, len, k + 1);
  printf("== %s %s, frame %d at 0x%zx\n", label, name, k, off);
  hexdump(buf, off, end);
  free(buf);
}

/* Create "a", append "hi" then "there", each waited for. */
static void
create_and_append(mrlog *log)
{
  wait_ok(mrlog_create_queue(log, "a", NULL, NULL), "create");
  wait_ok(mrlog_append(log, "a", NULL, "hi", 2, NULL, NULL), "append hi");
  wait_ok(mrlog_append(log, "a", NULL, "there", 5, NULL, NULL),
          "append there");
}

static void
make_dir(char *tmpl)
{
  if (mkdtemp(tmpl) == NULL) {
    fprintf(stderr, "format_example: mkdtemp: %s\n", strerror(errno));
    exit(1);
  }
}

static void
remove_dir(const char *dir)
{
  static const char *names[] = {"LOCK", "0000000000000001.mrlog",
                                "0000000000000002.mrlog"};
  char path[4096];
  size_t i;

  for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
    (void)unlink(path);
  }
  (void)rmdir(dir);
}

int
main(void)
{
  const char *tmp = getenv("TMPDIR");
  char plain[4096], commit[4096], batch[4096];
  struct iovec recs[2] = {{"hi", 2}, {"there", 5}};
  mrlog *log;

  if (tmp == NULL || tmp[0] == '\0')
    tmp = "/tmp";
  snprintf(plain, sizeof(plain), "%s/mrlog-example-XXXXXX", tmp);
  snprintf(commit, sizeof(commit), "%s/mrlog-example-XXXXXX", tmp);
  snprintf(batch, sizeof(batch), "%s/mrlog-example-XXXXXX", tmp);
  make_dir(plain);
  make_dir(commit);
  make_dir(batch);

  log = open_log(plain, 0);
  create_and_append(log);
  wait_ok(mrlog_truncate(log, "a", 0, NULL, NULL), "truncate");
  close_log(log);
  print_file("plain", plain, "0000000000000001.mrlog");
  close_log(open_log(plain, 0));
  print_file("plain", plain, "0000000000000002.mrlog");

  log = open_log(commit, 1);
  create_and_append(log);
  wait_ok(mrlog_commit(log, "a", "r", 1, NULL, NULL), "commit");
  close_log(log);
  print_frame("commit", commit, "0000000000000001.mrlog", 4);
  close_log(open_log(commit, 1));
  print_frame("commit", commit, "0000000000000002.mrlog", 0);

  log = open_log(batch, 0);
  wait_ok(mrlog_create_queue(log, "a", NULL, NULL), "create");
  wait_ok(mrlog_append_batch(log, "a", NULL, recs, 2, NULL, NULL), "batch");
  close_log(log);
  print_frame("batch", batch, "0000000000000001.mrlog", 2);

  remove_dir(plain);
  remove_dir(commit);
  remove_dir(batch);
  return 0;
}

/*
 * make_seeds.c -- writes the seed corpora of the fuzz targets.
 *
 *   make_seeds RECOVERY_DIR API_DIR
 *
 * Recovery seeds come from real logs: the library writes logs of a few
 * shapes into a scratch directory, and the resulting files are packed into
 * the container of fuzz_common.h, twice: verbatim (FZ_RAW) and re-described
 * frame by frame (FZ_SYNTH), so that the fuzzer can mutate frame bodies
 * while the checksums stay valid.  A few damaged variants follow (torn
 * tail, corrupt middle frame with a witness, bad header).  API seeds are
 * small hand-written opcode streams.
 */
#include "fuzz_common.h"

#include <sys/uio.h>

#include "mrlog.h"

#define DIE(...)                        \
  do {                                  \
    fprintf(stderr, __VA_ARGS__);       \
    fputc('\n', stderr);                \
    exit(1);                            \
  } while (0)

static const char *out_rec, *out_api;

static void
save(const char *dir, const char *name, const void *p, size_t n)
{
  char path[4096];
  FILE *f;

  snprintf(path, sizeof(path), "%s/%s", dir, name);
  f = fopen(path, "wb");
  if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0)
    DIE("cannot write %s", path);
}

static void
ok(int rc, const char *what)
{
  if (rc != 0 && rc != MRLOG_DUPLICATE)
    DIE("%s: %s", what, mrlog_strerror(rc));
}

static mrlog *
open_log(uint64_t segment_bytes)
{
  mrlog_policy p;
  mrlog *log;

  mrlog_policy_init(&p);
  p.segment_bytes = segment_bytes;
  ok(mrlog_open(fz_dir_path, &p, &log), "open");
  return log;
}

#define W(x, what) ok(mrlog_wait((x), NULL), what)

static void
append(mrlog *log, const char *q, const char *s)
{
  W(mrlog_append(log, q, NULL, s, strlen(s), NULL, NULL), "append");
}

static int
segno_index(uint64_t segno)
{
  int i;

  for (i = 0; i < 16; i++)
    if (fz_segnos[i] == segno)
      return i;
  return -1;
}

static uint8_t *
slurp(const char *name, size_t *n)
{
  char path[4096];
  FILE *f;
  uint8_t *p;
  long len;

  snprintf(path, sizeof(path), "%s/%s", fz_dir_path, name);
  f = fopen(path, "rb");
  if (f == NULL)
    DIE("open %s", path);
  fseek(f, 0, SEEK_END);
  len = ftell(f);
  fseek(f, 0, SEEK_SET);
  p = malloc(len > 0 ? (size_t)len : 1);
  if (p == NULL || fread(p, 1, (size_t)len, f) != (size_t)len)
    DIE("read %s", path);
  fclose(f);
  *n = (size_t)len;
  return p;
}

/* Re-describes a real segment as a synth description. damage: -1 none,
 * else the frame index to damage (flip bcrc); torn: cut the last frame. */
static void
describe(struct fz_buf *out, const uint8_t *d, size_t n, uint64_t segno,
         int damage)
{
  size_t off = MRLOG_FILE_HEADER_SIZE;
  uint32_t body_len, synced;
  int idx = 0;

  fz_put_u8(out, 0);
  while (off < n && mrlog__frame_check(d + off, n - off, segno, (uint32_t)off,
                                       &body_len, &synced) == MRLOG_FRAME_OK) {
    uint8_t ctl;

    if (body_len > 0xffff)
      DIE("frame too big for a seed");
    ctl = synced == 0 ? 0 : synced == off ? 1 : 3;
    if (idx == damage)
      ctl |= 0x08;
    fz_put_u8(out, ctl);
    fz_put_u16(out, (uint16_t)body_len);
    if (ctl & 3) {
      if ((ctl & 3) == 3)
        fz_put_u32(out, synced);
    }
    fz_put(out, d + off + MRLOG_FRAME_HEADER_SIZE, body_len);
    off += MRLOG_FRAME_HEADER_SIZE + body_len;
    idx++;
  }
}

static void
entry(struct fz_buf *b, unsigned kind, unsigned idx, const void *p, size_t n)
{
  if (n > 0xffff)
    DIE("entry too big for a seed");
  fz_put_u8(b, (uint8_t)(kind << 4 | idx));
  fz_put_u16(b, (uint16_t)n);
  fz_put(b, p, n);
}

/* Packs the scratch directory as seeds named after shape. */
static void
pack(const char *shape)
{
  static const char *variants[] = { "raw", "synth", "torn", "damaged",
                                    "badhdr" };
  uint64_t segnos[64];
  size_t nseg = 0, v, i;
  DIR *d;
  struct dirent *e;

  d = opendir(fz_dir_path);
  while ((e = readdir(d)) != NULL) {
    uint64_t s = 0;
    int k;
    if (strlen(e->d_name) != 22 || strcmp(e->d_name + 16, ".mrlog") != 0)
      continue;
    s = strtoull(e->d_name, NULL, 16);
    if ((k = segno_index(s)) < 0)
      DIE("%s: segment %s is not in the container's table", shape, e->d_name);
    segnos[nseg++] = s;
  }
  closedir(d);
  /* Sort (few). */
  for (i = 1; i < nseg; i++)
    for (v = i; v > 0 && segnos[v - 1] > segnos[v]; v--) {
      uint64_t t = segnos[v];
      segnos[v] = segnos[v - 1];
      segnos[v - 1] = t;
    }

  for (v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
    struct fz_buf b = { 0 };
    char name[128];

    if (v >= 2 && nseg == 0)
      continue;
    fz_put_u8(&b, v == 0 ? 1 : 0); /* raw seeds also log */
    entry(&b, FZ_LOCK, 0, "", 0);
    for (i = 0; i < nseg; i++) {
      char seg[32];
      size_t n;
      uint8_t *data;
      bool last = i + 1 == nseg;
      struct fz_buf desc = { 0 };

      fz_segname(seg, segnos[i]);
      data = slurp(seg, &n);
      if (v == 0) {
        entry(&b, FZ_RAW, segno_index(segnos[i]), data, n);
      } else if (v == 4 && last) {
        data[3] ^= 0xff; /* bad magic */
        entry(&b, FZ_RAW, segno_index(segnos[i]), data, n);
      } else {
        describe(&desc, data, n, segnos[i],
                 v == 3 && i == 0 ? 1 : -1);
        if (v == 2 && last) {
          /* Torn: cut a few bytes off the last frame. */
          struct fz_buf full = { 0 };
          uint8_t cut[2];
          fz_synth(&full, desc.p, desc.len, segnos[i]);
          size_t at = full.len > 40 ? full.len - 5 : full.len;
          cut[0] = (uint8_t)at;
          cut[1] = (uint8_t)(at >> 8);
          struct fz_buf pd = { 0 };
          fz_put(&pd, cut, 2);
          fz_put(&pd, desc.p, desc.len);
          entry(&b, FZ_PARTIAL, segno_index(segnos[i]), pd.p, pd.len);
          free(full.p);
          free(pd.p);
        } else {
          entry(&b, FZ_SYNTH, segno_index(segnos[i]), desc.p, desc.len);
        }
      }
      free(desc.p);
      free(data);
    }
    if (v == 1)
      entry(&b, FZ_HOSTILE, 2, "junk", 4);
    snprintf(name, sizeof(name), "%s-%s", shape, variants[v]);
    save(out_rec, name, b.p, b.len);
    free(b.p);
  }
  fz_clean_dir(fz_dir_fd);
}

static void
shape_empty(void)
{
  mrlog_close(open_log(4096));
  pack("empty");
}

static void
shape_queues(void)
{
  mrlog *log = open_log(65536);
  static const char *qs[] = { "a", "b", "c", "orders/eu" };
  int i, j;
  char buf[64];

  for (i = 0; i < 4; i++)
    W(mrlog_create_queue(log, qs[i], NULL, NULL), "create");
  for (j = 0; j < 6; j++)
    for (i = 0; i < 4; i++) {
      snprintf(buf, sizeof(buf), "%s-record-%d", qs[i], j);
      append(log, qs[i], buf);
    }
  W(mrlog_truncate(log, "a", 2, NULL, NULL), "truncate");
  W(mrlog_delete_queue(log, "b", NULL, NULL), "delete");
  W(mrlog_truncate(log, "c", 100, NULL, NULL), "truncate past next");
  append(log, "c", "after the jump");
  mrlog_close(log);
  pack("queues");
}

static void
shape_rotation(void)
{
  mrlog *log = open_log(4096);
  char buf[300];
  int i;

  W(mrlog_create_queue(log, "hot", NULL, NULL), "create");
  W(mrlog_create_queue(log, "cold", NULL, NULL), "create");
  append(log, "cold", "pinned");
  memset(buf, 'r', sizeof(buf) - 1);
  buf[sizeof(buf) - 1] = '\0';
  for (i = 0; i < 30; i++) {
    buf[0] = (char)('A' + i % 26);
    append(log, "hot", buf);
    if (i % 10 == 9)
      W(mrlog_truncate(log, "hot", (uint64_t)i - 2, NULL, NULL), "truncate");
  }
  mrlog_close(log);
  /* A reopen adds a segment with a checkpoint of both queues. */
  log = open_log(4096);
  append(log, "hot", "after reopen");
  mrlog_close(log);
  pack("rotation");
}

static void
shape_batches(void)
{
  mrlog *log = open_log(65536);
  struct iovec iov[3] = { { "one", 3 }, { "", 0 }, { "three", 5 } };
  uint64_t p;

  W(mrlog_create_queue(log, "batch", NULL, NULL), "create");
  W(mrlog_append_batch(log, "batch", NULL, iov, 3, NULL, NULL), "batch");
  p = 10;
  W(mrlog_append_batch(log, "batch", &p, iov, 3, NULL, NULL), "batch at 10");
  p = 1ull << 40;
  W(mrlog_append(log, "batch", &p, "far", 3, NULL, NULL), "append far");
  W(mrlog_create_queue(log, "edge", NULL, NULL), "create");
  p = MRLOG_POSITION_MAX - 1;
  W(mrlog_append(log, "edge", &p, "near max", 8, NULL, NULL), "near max");
  W(mrlog_create_queue(log, "gone", NULL, NULL), "create");
  W(mrlog_truncate(log, "gone", UINT64_MAX, NULL, NULL), "truncate max");
  mrlog_close(log);
  pack("batches");
}

static void
shape_recreate(void)
{
  mrlog *log = open_log(4096);
  char name[300];
  int i;

  memset(name, 'n', sizeof(name) - 1);
  name[sizeof(name) - 1] = '\0';
  for (i = 0; i < 3; i++) {
    W(mrlog_create_queue(log, "x", NULL, NULL), "create");
    append(log, "x", "x1");
    W(mrlog_delete_queue(log, "x", NULL, NULL), "delete");
  }
  W(mrlog_create_queue(log, "x", NULL, NULL), "create");
  W(mrlog_create_queue(log, name, NULL, NULL), "create long");
  append(log, name, "long-named");
  mrlog_close(log);
  pack("recreate");
}

/* Named consumers (format version 4): COMMIT and UNCOMMIT frames, and
 * segments whose checkpoints list consumers. */
static void
shape_consumers(void)
{
  mrlog *log = open_log(4096);
  char buf[300];
  int i;

  W(mrlog_create_queue(log, "c", NULL, NULL), "create");
  W(mrlog_create_queue(log, "d", NULL, NULL), "create");
  for (i = 0; i < 40; i++) {
    snprintf(buf, sizeof(buf), "c-record-%d-%0200d", i, i);
    append(log, "c", buf);
    if (i % 5 == 4)
      W(mrlog_commit(log, "c", i % 10 == 4 ? "fast" : "slow",
                     (uint64_t)i + 1, NULL, NULL), "commit");
  }
  W(mrlog_commit(log, "d", "once", 7, NULL, NULL), "commit");
  W(mrlog_remove_consumer(log, "c", "fast", NULL, NULL), "uncommit");
  W(mrlog_truncate(log, "c", 20, NULL, NULL), "truncate");
  W(mrlog_commit(log, "c", "slow", 41, NULL, NULL), "commit past next");
  mrlog_close(log);
  pack("consumers");
}

/* ---- files at their limits ---------------------------------------------- */

/* One container with a sparse segment: the description of a real
 * segment, extended to size + (h >> 7) bytes, holes at (off, pages). */
static void
sparse_seed(const char *name, uint64_t segno, const uint8_t *data, size_t n,
            uint32_t size, uint8_t h, const uint32_t *holes)
{
  struct fz_buf b = { 0 }, e = { 0 };
  size_t i;

  fz_put_u8(&b, 0);
  entry(&b, FZ_LOCK, 0, "", 0);
  fz_put_u32(&e, size);
  fz_put_u8(&e, h);
  for (i = 0; i < (size_t)(h & 127); i++) {
    fz_put_u32(&e, holes[2 * i]);
    fz_put_u16(&e, (uint16_t)holes[2 * i + 1]);
  }
  describe(&e, data, n, segno, -1);
  entry(&b, FZ_SPARSE, segno_index(segno), e.p, e.len);
  save(out_rec, name, b.p, b.len);
  free(b.p);
  free(e.p);
}

/* Sparse and hostile files: a newest segment of a few KiB extended to
 * 4 GiB - 1 (and to 4 GiB, refused), a hole in the middle of a segment,
 * a frame declaring the largest body length, a checkpoint declaring 2^62
 * queues, and a segment of many tiny frames. */
static void
shape_limits(void)
{
  static const uint32_t mid[] = { 4096, 1 };
  mrlog *log = open_log(1u << 20);
  char rec[600];
  uint8_t *data;
  size_t n;
  int i;

  memset(rec, 'r', sizeof(rec) - 1);
  rec[sizeof(rec) - 1] = '\0';
  W(mrlog_create_queue(log, "s", NULL, NULL), "create");
  for (i = 0; i < 20; i++)
    append(log, "s", rec);
  mrlog_close(log);
  data = slurp("0000000000000001.mrlog", &n);
  sparse_seed("limits-sparse-tail", 1, data, n, 0xffffffffu, 0, NULL);
  sparse_seed("limits-sparse-over", 1, data, n, 0xffffffffu, 0x80, NULL);
  sparse_seed("limits-hole-middle", 1, data, n, (uint32_t)n, 1, mid);
  free(data);
  fz_clean_dir(fz_dir_fd);

  {
    /* A checkpoint, then a frame whose body_length field is the largest
     * (hcrc valid over it), in a file of 4 GiB - 1. */
    struct fz_buf b = { 0 }, e = { 0 };
    static const uint8_t ckpt[] = { MRLOG_OP_CHECKPOINT, 1, 0 };
    static const uint8_t huge_ckpt[] = {
      MRLOG_OP_CHECKPOINT, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
      0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 1, 1, 'q'
    };

    fz_put_u8(&b, 1);
    entry(&b, FZ_LOCK, 0, "", 0);
    fz_put_u32(&e, 0xffffffffu);
    fz_put_u8(&e, 0);
    fz_put_u8(&e, 0); /* hmode: valid header */
    fz_put_u8(&e, 1);
    fz_put_u16(&e, sizeof(ckpt));
    fz_put(&e, ckpt, sizeof(ckpt));
    fz_put_u8(&e, 0xc1);
    fz_put_u16(&e, 8);
    fz_put(&e, "\x02\x00\x01\x01xxxx", 8);
    entry(&b, FZ_SPARSE, 0, e.p, e.len);
    save(out_rec, "limits-huge-length", b.p, b.len);
    b.len = e.len = 0;
    fz_put_u8(&b, 1);
    entry(&b, FZ_LOCK, 0, "", 0);
    fz_put_u8(&e, 0);
    fz_put_u8(&e, 1);
    fz_put_u16(&e, sizeof(huge_ckpt));
    fz_put(&e, huge_ckpt, sizeof(huge_ckpt));
    entry(&b, FZ_SYNTH, 0, e.p, e.len);
    save(out_rec, "limits-huge-checkpoint", b.p, b.len);
    free(b.p);
    free(e.p);
  }

  log = open_log(1u << 20);
  W(mrlog_create_queue(log, "t", NULL, NULL), "create");
  for (i = 0; i < 1000; i++)
    W(mrlog_append(log, "t", NULL, "t", 1, NULL, NULL), "append");
  mrlog_close(log);
  pack("limits-tiny-frames");
}

/* ---- API seeds ---------------------------------------------------------- */

static void
api_seed(const char *name, const uint8_t *p, size_t n)
{
  save(out_api, name, p, n);
}

int
main(int argc, char **argv)
{
  if (argc != 3)
    DIE("usage: %s RECOVERY_DIR API_DIR", argv[0]);
  out_rec = argv[1];
  out_api = argv[2];
  fz_make_dir("seeds");
  fz_clean_dir(fz_dir_fd);
  shape_empty();
  shape_queues();
  shape_rotation();
  shape_batches();
  shape_recreate();
  shape_consumers();
  shape_limits();

  {
    /* op a b c: op%12 0 create 1 delete 2 append 3 batch 4 truncate 5 sync
     * 6 range 7 info 8 wait 9 wait_timeout 10 forget 11 reopen.  a: queue
     * (a%7) and mode (a>>6: 0 wait, 1 keep, 2 forget). */
    static const uint8_t basic[] = {
      0, 0, 0, 0, 0,   0, 1, 0, 0,   2, 0, 0, 5,   2, 0, 0, 9,
      2, 0x40, 0, 3,   3, 0x41, 0, 4,   4, 0, 0x01, 0,   6, 0, 1, 0,
      7, 0, 3, 0,      11, 0, 0, 0,   6, 1, 3, 0,    1, 0, 0, 0,
      7, 0, 3, 0,
    };
    static const uint8_t explicit[] = {
      1, 0, 2, 0, 0,   2, 2, 1, 8, 0x25,   2, 2, 1, 8, 0x03,
      3, 2, 1, 3, 0x60,  4, 2, 0x63, 0,   2, 2, 0, 1,   7, 2, 3, 0,
      11, 2, 1, 0,   6, 2, 0x23, 0, 0x40,
    };
    static const uint8_t async[] = {
      6, 0, 0, 0, 0,   2, 0x40, 0, 1,   2, 0x40, 0, 2,   2, 0x80, 0, 3,
      5, 0x40, 0, 0,  9, 0, 0, 1,   8, 0, 0, 0,   10, 0, 0, 0,
      3, 0x40, 0, 6,  4, 0x80, 0x20, 0,  6, 0, 0x0e, 0,   6, 0, 1, 0,
      0, 4, 0, 0,   2, 5, 0, 1,   6, 6, 0, 0,   7, 4, 1, 0,  11, 0, 0, 0,
    };
    static const uint8_t rotate[] = {
      9, 0, 3, 0, 0,   3, 3, 0, 6,   3, 3, 0, 6,   3, 3, 0, 6,
      3, 3, 0, 6,   3, 3, 0, 6,   3, 3, 0, 6,   3, 3, 0, 6,   4, 3, 0x05, 0,
      3, 3, 0, 6,   3, 3, 0, 6,   3, 3, 0, 6,   3, 3, 0, 6,   7, 3, 3, 0,
      11, 3, 0, 0,  4, 3, 0x60, 0,   2, 3, 0, 1,   7, 3, 3, 0,
    };
    api_seed("basic", basic, sizeof(basic));
    api_seed("explicit", explicit, sizeof(explicit));
    api_seed("async", async, sizeof(async));
    api_seed("rotate", rotate, sizeof(rotate));
  }
  return 0;
}

/*
 * damage.h -- the model log of the damage campaign (tests/test_damage.c),
 * built by tests/damage_model.c: what a small cleanly closed log must hold,
 * its files as closed, and where each record lies in them.
 *
 * Payloads are empty or at least 8 bytes and unique ("R", six digits, ":",
 * then bytes derived from the record's id), so a record's place on disk is
 * found by searching the files for its payload.  Only the public API and
 * POSIX are used; the frame walk that names the file roles (file header,
 * checkpoint frame, last frame) follows docs/FORMAT.md and falls back to
 * "the last 64 bytes" when a file does not parse.
 */
#ifndef DAMAGE_H
#define DAMAGE_H

#include "check_mrlog.h"

#define DM_NQ 5               /* queues the workload uses */
#define DM_MAX_RECS 1024      /* records it appends, at most */
#define DM_MAX_FILES 64       /* files of the closed log, at most */
#define DM_MAX_FRAMES 512     /* frames of one file the walk records */
#define DM_LEN_MAX 1536       /* longest payload */
/* policy.segment_bytes: several segments, each a little larger than the
 * 8 KiB around the damage SKIP_CORRUPT may lose (tests/test_damage.c), so
 * losing a whole segment to one bad sector breaks that rule. */
#define DM_SEGMENT_BYTES 8192
#define DM_FILE_HEADER 32     /* docs/FORMAT.md section 3 */
#define DM_FRAME_HEADER 16    /* docs/FORMAT.md section 6.1 */

extern const char *const dm_qname[DM_NQ];

/* A byte range of one file that holds (or brackets) a record. */
struct dm_loc {
  size_t file; /* index in dm_m.f */
  size_t lo;   /* first byte */
  size_t hi;   /* one past the last byte */
};

/* Every record ever acknowledged, in append order. */
struct dm_rec {
  int q;              /* queue index */
  int incarnation;    /* the queue's incarnation it was appended to */
  uint64_t pos;       /* its position */
  uint32_t len;       /* payload bytes: 0 or >= 8 */
  uint32_t id;        /* payload seed, unique */
  bool retained;      /* still in the model's state */
  int nloc;           /* 0: not on disk (or an empty one not bracketed) */
  struct dm_loc loc[2];
};

struct dm_queue {
  bool live;       /* exists now */
  bool existed;    /* was ever created */
  int incarnation; /* creations so far */
  uint64_t next;   /* the position a default append takes */
};

/* One file of the closed log, and where its frames are (parsed by the
 * documented frame header; fallbacks when the layout is not recognised). */
struct dm_file {
  char name[64];
  unsigned char *data;
  size_t len;
  bool newest;                        /* the highest-numbered segment */
  size_t ckpt_end;                    /* end of the first frame, or 0 */
  size_t last_start;                  /* start of the last frame */
  size_t nframes;                     /* frame starts found (0: unknown) */
  size_t frame_start[DM_MAX_FRAMES];
};

/* The model and the files; one per forked test. */
struct dm_model {
  struct dm_queue q[DM_NQ];
  struct dm_rec r[DM_MAX_RECS];
  size_t nrec;
  struct dm_file f[DM_MAX_FILES];
  size_t nfile;
};
extern struct dm_model dm_m;


/* The policy every open of the campaign uses: th_policy() with
 * DM_SEGMENT_BYTES, a fixed clock (so the bytes are the same every run)
 * and the given recovery policy. */
mrlog_policy dm_policy(int recovery);

/* Writes record id's payload of len bytes (0 or >= 8) into buf. */
void dm_payload(unsigned char *buf, uint32_t id, uint32_t len);

/* Builds the log in dir (three opens: creations, appends of varied
 * sizes and batches, explicit positions with gaps, truncations, a queue
 * deleted and recreated, one deleted for good), every mutation waited for,
 * and fills dm_m's queues and records. */
void dm_build(const char *dir);

/* Reads every file of the closed log in dir but LOCK into dm_m.f. */
void dm_load_files(const char *dir);

/* Finds each record in the files (asserts every retained one is there
 * exactly once) and brackets each empty one by its neighbours. */
void dm_locate(void);

/* True if a frame of f starts at off (per the frame walk). */
bool dm_is_frame_start(const struct dm_file *f, size_t off);

#endif /* DAMAGE_H */

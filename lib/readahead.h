/*
 * readahead.h -- reading the next segment file ahead during recovery
 * (lib/readahead.c), on a detached helper thread that the opener's
 * thread starts, waits for and stops.
 */
#ifndef MRLOG_READAHEAD_H
#define MRLOG_READAHEAD_H

#include "base.h"

#include <stddef.h>

struct mrlog;
struct mrlog__mapslot;

/* Reading the next segment file ahead during recovery (lib/readahead.c):
 * start asks the helper for name (after any earlier request is done);
 * take returns name's mrlog__read_file result, the helper's if it was
 * asked for, else its own; stop joins the helper.  Opener's thread only. */
struct mrlog__readahead;
void mrlog__readahead_start(struct mrlog *log, const char *name);
int mrlog__readahead_take(struct mrlog *log, const char *name, uint8_t **data,
                          size_t *len, struct mrlog__mapslot **watch);
void mrlog__readahead_stop(struct mrlog *log);

#endif /* MRLOG_READAHEAD_H */

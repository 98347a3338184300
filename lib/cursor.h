/*
 * cursor.h -- what the rest of the library calls in lib/cursor.c.
 */
#ifndef MRLOG_CURSOR_H
#define MRLOG_CURSOR_H

struct mrlog;

/* mrlog_close, once its threads are gone and before it frees the queues:
 * every cursor of log lets go of its chunk and answers MRLOG_ECLOSED from
 * then on (cursor.c invariant 4).  Takes cursor.c's registry mutex. */
void mrlog__cursor_detach_all(struct mrlog *log);

#endif /* MRLOG_CURSOR_H */

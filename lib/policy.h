/*
 * policy.h -- what mrlog_open does with the caller's policy (policy.c).
 */
#ifndef MRLOG_POLICY_H
#define MRLOG_POLICY_H

#include "base.h"

/* Copies the caller's policy (NULL: the defaults) into *dst, reading only
 * the bytes the caller's struct has (src->size, or 136 when it is 0, a
 * struct from a header older than 0.6.0); the fields it lacks take their
 * defaults.  MRLOG_EINVAL for a size no header ever had, or a newer
 * header's field this library does not know set to non-zero. */
int mrlog__policy_copy(mrlog_policy *dst, const mrlog_policy *src);
/* Fills in defaults for zero fields of *p and checks the rest: 0 or
 * MRLOG_EINVAL.  On 0, p->record_store is the store the log uses,
 * MRLOG_STORE_MAPPED or MRLOG_STORE_COPY, never MRLOG_STORE_DEFAULT: every
 * test of it elsewhere sees the resolved value. */
int mrlog__policy_normalize(mrlog_policy *p);

#endif /* MRLOG_POLICY_H */

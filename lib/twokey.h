/*
 * twokey.h -- a chained hash table of intrusive nodes keyed by two 64-bit
 * words (lib/twokey.c), for watch.c's tables.  No lock of its own.
 */
#ifndef MRLOG_TWOKEY_H
#define MRLOG_TWOKEY_H

#include <stddef.h>
#include <stdint.h>

/* Embedded in the caller's struct; k1 and k2 are set before insertion. */
struct mrlog__twokey_node {
  struct mrlog__twokey_node *next; /* bucket chain */
  uint64_t k1, k2;                 /* the key */
};

/* Zero-initialized: an empty table. */
struct mrlog__twokey {
  struct mrlog__twokey_node **b; /* cap bucket heads */
  size_t cap;                    /* power of two, or 0 */
  size_t n;                      /* nodes */
};

/* The node with key (k1, k2), or NULL. */
struct mrlog__twokey_node *mrlog__twokey_find(const struct mrlog__twokey *t,
                                              uint64_t k1, uint64_t k2);
/* Inserts node (its key not in t): 0, or MRLOG_ENOMEM (t unchanged). */
int mrlog__twokey_insert(struct mrlog__twokey *t,
                         struct mrlog__twokey_node *node);
/* Removes node, which is in t. */
void mrlog__twokey_remove(struct mrlog__twokey *t,
                          struct mrlog__twokey_node *node);

#endif /* MRLOG_TWOKEY_H */

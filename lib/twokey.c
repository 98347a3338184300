/*
 * twokey.c -- a chained hash table of intrusive nodes keyed by two 64-bit
 * words (lib/twokey.h).  No lock: the caller guards each table.
 *
 * Invariants:
 *  1. cap is 0 (no bucket array) or a power of two; a table grows by
 *     doubling once it holds cap nodes, and frees its buckets when it
 *     holds none, so an unused table costs nothing.
 *  2. A node is in at most one table, once; the table never frees nodes.
 */
#include "twokey.h"
#include "mrlog.h"

#include <stdlib.h>

static size_t
hash2(uint64_t a, uint64_t b)
{
  uint64_t x = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull);

  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 29;
  return (size_t)x;
}

struct mrlog__twokey_node *
mrlog__twokey_find(const struct mrlog__twokey *t, uint64_t k1, uint64_t k2)
{
  struct mrlog__twokey_node *n;

  if (t->cap == 0)
    return NULL;
  for (n = t->b[hash2(k1, k2) & (t->cap - 1)]; n != NULL; n = n->next)
    if (n->k1 == k1 && n->k2 == k2)
      return n;
  return NULL;
}

int
mrlog__twokey_insert(struct mrlog__twokey *t, struct mrlog__twokey_node *node)
{
  size_t i;

  if (t->n >= t->cap) {
    size_t cap = t->cap ? 2 * t->cap : 64;
    struct mrlog__twokey_node **b = calloc(cap, sizeof(*b));

    if (b == NULL)
      return MRLOG_ENOMEM;
    for (i = 0; i < t->cap; i++) {
      struct mrlog__twokey_node *n, *next;
      for (n = t->b[i]; n != NULL; n = next) {
        size_t j = hash2(n->k1, n->k2) & (cap - 1);
        next = n->next;
        n->next = b[j];
        b[j] = n;
      }
    }
    free(t->b);
    t->b = b;
    t->cap = cap;
  }
  i = hash2(node->k1, node->k2) & (t->cap - 1);
  node->next = t->b[i];
  t->b[i] = node;
  t->n++;
  return 0;
}

void
mrlog__twokey_remove(struct mrlog__twokey *t, struct mrlog__twokey_node *node)
{
  struct mrlog__twokey_node **p =
      &t->b[hash2(node->k1, node->k2) & (t->cap - 1)];

  while (*p != node)
    p = &(*p)->next;
  *p = node->next;
  t->n--;
  if (t->n == 0) {
    free(t->b);
    t->b = NULL;
    t->cap = 0;
  }
}

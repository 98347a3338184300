/*
 * crc32c.c -- CRC-32C over ISA-L.
 *
 * ISA-L's crc32_iscsi(buf, len, init) neither pre- nor post-inverts: it
 * returns the raw register.  The standard CRC-32C inverts both, so we pass
 * ~crc in and invert the result; this makes chaining (extend) work and
 * gives the standard check value.  ISA-L takes an int length, so long
 * buffers are fed in slices.
 */
#include "crc32c.h"

#include <isa-l/crc.h>
#include <limits.h>

#define SLICE ((size_t)1 << 30)

uint32_t
mrlog__crc32c_extend(uint32_t crc, const void *data, size_t len)
{
  const unsigned char *p = data;
  uint32_t reg = ~crc;

  while (len > 0) {
    size_t n = len < SLICE ? len : SLICE;
    reg = crc32_iscsi((unsigned char *)p, (int)n, reg);
    p += n;
    len -= n;
  }
  return ~reg;
}

/*
 * crc32c.h -- CRC-32C (Castagnoli, the iSCSI polynomial 0x1EDC6F41,
 * reflected), the checksum of every frame.  Backed by ISA-L's
 * crc32_iscsi, which picks SSE4.2/PCLMUL code at run time, and below 256
 * bytes by the CPU's crc32 instruction where it has one (crc32c.c).
 *
 * Conventions (those of RFC 3720 and of LevelDB's crc32c): the value of the
 * empty string is 0, and mrlog__crc32c_extend(mrlog__crc32c(a), b) equals
 * mrlog__crc32c(a || b).  crc32c("123456789") == 0xE3069283.
 */
#ifndef MRLOG_CRC32C_H
#define MRLOG_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t mrlog__crc32c_extend(uint32_t crc, const void *data, size_t len);

/* The same value through ISA-L alone, at every length: for tests that
 * check the short-buffer path against it. */
uint32_t mrlog__crc32c_extend_long(uint32_t crc, const void *data,
                                   size_t len);

static inline uint32_t
mrlog__crc32c(const void *data, size_t len)
{
  return mrlog__crc32c_extend(0, data, len);
}

#endif /* MRLOG_CRC32C_H */

/*
 * crc32c.c -- CRC-32C over ISA-L, with the CPU's crc32 instruction for
 * short buffers.
 *
 * ISA-L's crc32_iscsi(buf, len, init) neither pre- nor post-inverts: it
 * returns the raw register.  The standard CRC-32C inverts both, so we pass
 * ~crc in and invert the result; this makes chaining (extend) work and
 * gives the standard check value.  ISA-L takes an int length, so long
 * buffers are fed in slices.
 *
 * ISA-L's folding code pays a fixed set-up per call that dominates below a
 * few hundred bytes (a 16-byte frame identity or header, a small frame
 * body): there the SSE4.2 crc32 instruction, 8 bytes a step, is 2 to 10
 * times faster.  Both compute the same register, so the split point is a
 * speed choice only; tests/test_unit.c checks the two paths against each
 * other at every length around it.  The instruction is used only where
 * the CPU has it (checked once, at load).
 */
#include "crc32c.h"

#include <isa-l/crc.h>
#include <limits.h>
#include <string.h>

#define SLICE ((size_t)1 << 30)

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define HAVE_HW_SHORT 1

/* Below this many bytes the instruction path is used (when present). */
#define SHORT_MAX 256u

static int has_sse42;

__attribute__((constructor)) static void
detect(void)
{
  __builtin_cpu_init();
  has_sse42 = __builtin_cpu_supports("sse4.2");
}

__attribute__((target("sse4.2"))) static uint32_t
hw_short(uint32_t reg, const unsigned char *p, size_t len)
{
  uint64_t r = reg;
  uint64_t v;

  while (len >= 8) {
    memcpy(&v, p, 8);
    r = _mm_crc32_u64(r, v);
    p += 8;
    len -= 8;
  }
  reg = (uint32_t)r;
  while (len > 0) {
    reg = _mm_crc32_u8(reg, *p++);
    len--;
  }
  return reg;
}
#endif

uint32_t
mrlog__crc32c_extend(uint32_t crc, const void *data, size_t len)
{
  const unsigned char *p = data;
  uint32_t reg = ~crc;

#ifdef HAVE_HW_SHORT
  if (len < SHORT_MAX && has_sse42)
    return ~hw_short(reg, p, len);
#endif
  while (len > 0) {
    size_t n = len < SLICE ? len : SLICE;
    reg = crc32_iscsi((unsigned char *)p, (int)n, reg);
    p += n;
    len -= n;
  }
  return ~reg;
}

uint32_t
mrlog__crc32c_extend_long(uint32_t crc, const void *data, size_t len)
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

/* api_facts -- prints what include/mrlog.h and mrlog_policy_init() say, one
 * fact per line, for tests/api_doc_check.py to compare with docs/API.md:
 *   status NAME VALUE MESSAGE   every status code (MRLOG_STATUS_MAP)
 *   const NAME VALUE            the limits and version macros
 *   enum NAME VALUE             the enum constants a default may name
 *   default FIELD VALUE         what mrlog_policy_init() sets (pointers: 0)
 * Built against the public header only, and linked with the library. */
#include <inttypes.h>
#include <stdio.h>

#include "mrlog.h"

#define PRINT_STATUS(name, value, msg) \
  printf("status MRLOG_%s %d %s\n", #name, (int)(value), msg);
#define PRINT_CONST(name) \
  printf("const %s %" PRIu64 "\n", #name, (uint64_t)(name));
#define PRINT_ENUM(name) printf("enum %s %d\n", #name, (int)(name));
#define PRINT_DEFAULT(field) \
  printf("default %s %" PRIu64 "\n", #field, (uint64_t)p.field);
#define PRINT_DEFAULT_PTR(field) \
  printf("default %s %d\n", #field, p.field != NULL);

int main(void) {
  mrlog_policy p;

  MRLOG_STATUS_MAP(PRINT_STATUS)
  PRINT_CONST(MRLOG_VERSION_MAJOR)
  PRINT_CONST(MRLOG_VERSION_MINOR)
  PRINT_CONST(MRLOG_VERSION_PATCH)
  PRINT_CONST(MRLOG_FORMAT_VERSION_CURRENT)
  PRINT_CONST(MRLOG_QUEUE_NAME_MAX)
  PRINT_CONST(MRLOG_RECORD_MAX)
  PRINT_CONST(MRLOG_BATCH_BYTES_MAX)
  PRINT_CONST(MRLOG_BATCH_COUNT_MAX)
  PRINT_CONST(MRLOG_POSITION_MAX)
  PRINT_CONST(MRLOG_RECORD_OVERHEAD)
  PRINT_ENUM(MRLOG_STORE_DEFAULT)
  PRINT_ENUM(MRLOG_STORE_MAPPED)
  PRINT_ENUM(MRLOG_STORE_COPY)
  PRINT_ENUM(MRLOG_RECOVER_TOLERATE_TAIL)
  PRINT_ENUM(MRLOG_RECOVER_STRICT)
  PRINT_ENUM(MRLOG_RECOVER_SKIP_CORRUPT)

  mrlog_policy_init(&p);
  PRINT_DEFAULT(fsync_interval_ms)
  PRINT_DEFAULT(fsync_bytes)
  PRINT_DEFAULT(segment_bytes)
  PRINT_DEFAULT(memory_limit)
  PRINT_DEFAULT(ring_slots)
  PRINT_DEFAULT(nonblocking)
  PRINT_DEFAULT(cleaner_interval_ms)
  PRINT_DEFAULT(recovery)
  PRINT_DEFAULT(file_mode)
  PRINT_DEFAULT_PTR(log_fn)
  PRINT_DEFAULT_PTR(log_arg)
  PRINT_DEFAULT(segment_max_age_ms)
  PRINT_DEFAULT(retention_ms)
  PRINT_DEFAULT(fsync_writes)
  PRINT_DEFAULT_PTR(now_ms)
  PRINT_DEFAULT_PTR(now_arg)
  PRINT_DEFAULT(record_store)
  PRINT_DEFAULT(block_timeout_ms)
  return 0;
}

// cxx_header_test.cc -- include/mrlog.h must compile as C++ (extern "C",
// no C-only constructs) and its API must link from C++ against the shared
// library, which also proves mrlog_strerror is exported.
#include <mrlog.h>

#include <cstdio>
#include <cstring>

int main() {
  const char *message = mrlog_strerror(MRLOG_EINVAL);
  if (message == nullptr || std::strlen(message) == 0) {
    std::fprintf(stderr, "FAIL: mrlog_strerror(MRLOG_EINVAL) returned %s\n",
                 message == nullptr ? "NULL" : "an empty string");
    return 1;
  }
  std::printf("PASS: mrlog_strerror(MRLOG_EINVAL) = \"%s\"\n", message);
  return 0;
}

// cpp_example.cc -- typical use of the C++ wrapper (include/mrlog.hpp): a
// consumer-style queue that is appended to with callbacks, read back,
// acknowledged (truncated) and reopened.
//
//   usage: cpp_example [DIR]
//
// Without DIR it works in a fresh temporary directory and removes it at
// the end, which is how `make check` runs it.
#include <mrlog.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace {

int run(const std::string &dir) {
  // Open (throws mrlogpp::error on failure).  Durable group commit is the
  // default: a successful result means the record is on disk.
  mrlogpp::log log(dir);

  if (!log.exists("events")) {
    mrlogpp::result created = log.create_queue("events").get();
    if (!created.ok() && created.status != MRLOG_EEXIST)
      throw mrlogpp::error(created.status, "create_queue");
  }

  // Appends with a callback.  It runs on mrlog's flusher thread, so it
  // only counts; the futures carry the positions back to this thread.
  std::atomic<int> durable{0};
  std::vector<std::future<mrlogpp::result>> pending;
  for (int i = 0; i < 10; i++) {
    pending.push_back(log.append(
        "events", "event #" + std::to_string(i),
        [&durable](int status, std::uint64_t) {
          if (status == 0)
            durable.fetch_add(1, std::memory_order_relaxed);
        }));
  }
  std::uint64_t last = 0;
  for (auto &f : pending) {
    mrlogpp::result r = f.get();  // never call get() inside a callback
    if (!r.ok())
      throw mrlogpp::error(r.status, "append");
    last = r.position;
  }

  // A batch is atomic, on disk too.
  std::vector<std::string_view> batch{"batch a", "batch b", "batch c"};
  last = log.append_batch("events", batch).get().position;
  std::printf("%d appends durable; last position %llu\n", durable.load(),
              static_cast<unsigned long long>(last));

  // Read: the visitor gets each record in position order.
  log.range("events", [](std::uint64_t position, std::string_view payload) {
    std::printf("  %4llu  %.*s\n", static_cast<unsigned long long>(position),
                static_cast<int>(payload.size()), payload.data());
  });

  // Processed everything but the batch: drop it from the log.
  log.truncate("events", last - batch.size()).get();

  mrlog_stats_t st = log.stats();
  std::printf("records retained: %llu in %llu queue(s)\n",
              static_cast<unsigned long long>(st.records),
              static_cast<unsigned long long>(st.queues));

  // Close explicitly to see the status (the destructor would close too).
  int rc = log.close();
  if (rc != 0)
    throw mrlogpp::error(rc, "close");

  // Reopen: what was acknowledged is there, the truncated part is not.
  mrlogpp::log again(dir);
  auto info = again.queue_info("events");
  if (!info || info->records != batch.size()) {
    std::fprintf(stderr, "cpp_example: %llu records after reopen, want %zu\n",
                 info ? static_cast<unsigned long long>(info->records) : 0ull,
                 batch.size());
    return 1;
  }
  std::printf("after reopen: positions %llu..%llu\n",
              static_cast<unsigned long long>(info->first_position),
              static_cast<unsigned long long>(info->next_position - 1));
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  std::filesystem::path scratch;
  std::string dir;

  if (argc > 1) {
    dir = argv[1];
  } else {
    const char *tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") +
                        "/mrlog-cpp-example-XXXXXX";
    if (mkdtemp(templ.data()) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    scratch = templ;
    dir = (scratch / "log").string();
  }

  int rc;
  try {
    rc = run(dir);
  } catch (const mrlogpp::error &e) {
    std::fprintf(stderr, "cpp_example: %s\n", e.what());
    rc = 1;
  }
  if (!scratch.empty())
    std::filesystem::remove_all(scratch);
  return rc;
}

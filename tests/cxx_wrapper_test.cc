// cxx_wrapper_test.cc -- include/mrlog.hpp, every member: futures and
// callables (status form, result form, move-only, throwing), errors as
// statuses (duplicate position, missing queue, existing queue), exceptions
// from the constructor and the reads, record times (seek_time,
// range_time), cursors (a range-for over records, next(), seek(), the end,
// a deleted queue, a cursor outliving its log), watch and cursor::wait as
// cancellable futures, moves, close, get()
// refused on a library thread, and a reopen that sees the data.  Each check prints what it got on failure;
// the exit status is the verdict.
#include <mrlog.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <list>
#include <poll.h>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

// ThreadSanitizer cannot see the reference count of an exception object
// (it lives in libstdc++.so, which is not instrumented).  An exception
// thrown by a callable travels from the flusher to the thread that calls
// future.get(), and whichever thread drops the last reference destroys
// it, so TSan takes that destruction for a race with the catch handler's
// reads.  This suppression covers exactly that destruction inside the
// future's shared state; include/mrlog.hpp notes it for users.
extern "C" const char *__tsan_default_suppressions();
extern "C" __attribute__((used)) const char *__tsan_default_suppressions() {
  return "race:std::__future_base::_Result_base::_Deleter\n";
}

namespace {

int failures = 0;

#define CHECK(cond, ...)                                               \
  do {                                                                 \
    if (!(cond)) {                                                     \
      std::fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__,     \
                   #cond);                                             \
      std::fprintf(stderr, __VA_ARGS__);                               \
      std::fprintf(stderr, "\n");                                      \
      ++failures;                                                      \
    }                                                                  \
  } while (0)

// A future that hangs is a failure, not a hang of the test run.
mrlogpp::result get(std::future<mrlogpp::result> &&f) {
  if (f.wait_for(std::chrono::minutes(2)) != std::future_status::ready) {
    std::fprintf(stderr, "FAIL: a future never became ready\n");
    std::exit(1);
  }
  return f.get();
}

// Throws if f does not throw an mrlogpp::error; returns its status.
template <class F>
int error_status(F &&f) {
  try {
    f();
  } catch (const mrlogpp::error &e) {
    return e.status();
  }
  return 0;
}

struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    const char *tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") +
                        "/mrlog-cxx-XXXXXX";
    if (mkdtemp(templ.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed");
    path = templ;
  }
  ~temp_dir() { std::filesystem::remove_all(path); }
  std::string log() const { return (path / "log").string(); }
};

void test_open_errors(const temp_dir &dir) {
  // A missing parent directory is MRLOG_ENOENT.
  int status = error_status(
      [&] { mrlogpp::log l((dir.path / "missing" / "log").string()); });
  CHECK(status == MRLOG_ENOENT, "status %d", status);

  // The message names the call and the status.
  try {
    mrlogpp::log l((dir.path / "missing" / "log").string());
    CHECK(false, "no exception");
  } catch (const mrlogpp::error &e) {
    std::string what = e.what();
    CHECK(what.find("mrlog_open") != std::string::npos &&
              what.find("ENOENT") != std::string::npos,
          "what() = %s", e.what());
    CHECK(std::string(e.name()) == "ENOENT", "name %s", e.name());
    const std::runtime_error &base = e;  // derives std::runtime_error
    (void)base;
  }

  // A bad policy is refused too.
  mrlog_policy bad = mrlogpp::default_policy();
  bad.ring_slots = 3;
  status = error_status([&] { mrlogpp::log l(dir.log() + "-bad", bad); });
  CHECK(status == MRLOG_EINVAL, "bad policy: status %d", status);

  // A second opener of the same directory is locked out.
  mrlogpp::log first(dir.log());
  status = error_status([&] { mrlogpp::log second(dir.log()); });
  CHECK(status == MRLOG_ELOCKED, "second opener: status %d", status);
}

void test_mutations(mrlogpp::log &log) {
  const std::thread::id caller = std::this_thread::get_id();

  // create_queue with a callable: it runs on a library thread, before the
  // future is ready.
  std::atomic<bool> called{false};
  std::atomic<bool> other_thread{false};
  auto f = log.create_queue("orders", [&](int status, std::uint64_t pos) {
    other_thread = std::this_thread::get_id() != caller;
    called = status == 0 && pos == 0;
  });
  mrlogpp::result r = get(std::move(f));
  CHECK(r.ok() && r.position == 0, "create: %s", r.name());
  CHECK(called.load(), "the callable had not run when the future was ready");
  CHECK(other_thread.load(), "the callable ran on the calling thread");

  r = get(log.create_queue("orders"));
  CHECK(r.status == MRLOG_EEXIST, "second create: %s", r.name());

  // Default appends take 0, 1, 2; the payload is binary.
  const std::string binary("a\0b\nc", 5);
  r = get(log.append("orders", "first"));
  CHECK(r.ok() && r.position == 0, "append: %s at %llu", r.name(),
        (unsigned long long)r.position);
  r = get(log.append("orders", binary));
  CHECK(r.ok() && r.position == 1, "append binary at %llu",
        (unsigned long long)r.position);
  r = get(log.append("orders", std::string_view()));
  CHECK(r.ok() && r.position == 2, "empty append at %llu",
        (unsigned long long)r.position);

  // An explicit position, then a duplicate of it.
  r = get(log.append("orders", "ten", 10));
  CHECK(r.ok() && r.position == 10, "append at 10: %s", r.name());
  std::atomic<int> dup_status{0};
  r = get(log.append("orders", "again", std::optional<std::uint64_t>(5),
                     [&](mrlogpp::result cr) { dup_status = cr.status; }));
  CHECK(r.duplicate() && r.position == 5, "duplicate: %s at %llu", r.name(),
        (unsigned long long)r.position);
  CHECK(dup_status == MRLOG_DUPLICATE, "callable saw %d", dup_status.load());

  // A missing queue is a status, not an exception.
  r = get(log.append("nope", "x"));
  CHECK(r.status == MRLOG_ENOQUEUE, "missing queue: %s", r.name());
  r = get(log.truncate("nope", 3));
  CHECK(r.status == MRLOG_ENOQUEUE, "truncate missing: %s", r.name());
  r = get(log.delete_queue("nope"));
  CHECK(r.status == MRLOG_ENOQUEUE, "delete missing: %s", r.name());
  // An invalid name, too (too long; embedded NUL).
  r = get(log.append(std::string(MRLOG_QUEUE_NAME_MAX + 1, 'q'), "x"));
  CHECK(r.status == MRLOG_EINVAL, "long name: %s", r.name());
  r = get(log.create_queue(std::string_view("a\0b", 3)));
  CHECK(r.status == MRLOG_EINVAL, "NUL in name: %s", r.name());

  // Batches from several container types; the position is the last one.
  std::vector<std::string_view> views{"b0", "b1", "b2"};
  r = get(log.append_batch("orders", views));
  CHECK(r.ok() && r.position == 13, "batch of views at %llu",
        (unsigned long long)r.position);
  std::list<std::string> strings{"s0", "s1"};
  std::atomic<std::uint64_t> batch_pos{0};
  r = get(log.append_batch("orders", strings,
                           [&](int, std::uint64_t p) { batch_pos = p; }));
  CHECK(r.ok() && r.position == 15 && batch_pos == 15,
        "batch of strings at %llu", (unsigned long long)r.position);
  std::vector<std::vector<char>> bytes(20, std::vector<char>{'x', '\0'});
  r = get(log.append_batch("orders", bytes, 100));
  CHECK(r.ok() && r.position == 119, "20-record batch at 100: %llu",
        (unsigned long long)r.position);
  r = get(log.append_batch("orders", views, 50));
  CHECK(r.duplicate() && r.position == 52, "batch duplicate: %s at %llu",
        r.name(), (unsigned long long)r.position);
  r = get(log.append_batch("orders", std::vector<std::string>()));
  CHECK(r.status == MRLOG_EINVAL, "empty batch: %s", r.name());

  // A move-only callable.
  auto owned = std::make_unique<int>(7);
  std::atomic<int> seen{0};
  r = get(log.sync([p = std::move(owned), &seen](int s, std::uint64_t) {
    seen = s == 0 ? *p : -1;
  }));
  CHECK(r.ok() && seen == 7, "sync: %s, seen %d", r.name(), seen.load());

  // Truncate drops 0..1.
  r = get(log.truncate("orders", 1));
  CHECK(r.ok() && r.position == 1, "truncate: %s", r.name());

  // Consumers: commit, the forward-only rule, removal, the reads.
  r = get(log.commit("orders", "reader", 5));
  CHECK(r.ok() && r.position == 5, "commit: %s", r.name());
  r = get(log.commit("orders", "reader", 4));
  CHECK(r.duplicate() && r.position == 5, "commit back: %s", r.name());
  r = get(log.commit("orders", "gone", 2));
  CHECK(r.ok(), "commit gone: %s", r.name());
  r = get(log.remove_consumer("orders", "gone"));
  CHECK(r.ok() && r.position == 2, "remove_consumer: %s", r.name());
  r = get(log.remove_consumer("orders", "gone"));
  CHECK(r.status == MRLOG_ENODATA, "remove again: %s", r.name());
  CHECK(log.committed("orders", "reader") == std::optional<std::uint64_t>(5),
        "committed reader");
  CHECK(!log.committed("orders", "gone"), "committed gone");
  {
    auto consumers = log.list_consumers("orders");
    CHECK(consumers.size() == 1 && consumers[0].first == "reader" &&
              consumers[0].second == 5,
          "list_consumers: %zu", consumers.size());
  }
  try {
    (void)log.committed("nope", "reader");
    CHECK(false, "committed on a missing queue did not throw");
  } catch (const mrlogpp::error &e) {
    CHECK(e.status() == MRLOG_ENOQUEUE, "committed nope: %d", e.status());
  }

  // A throwing callable: the future rethrows, the append still happened.
  auto thrown = log.append("orders", "despite", [](int, std::uint64_t) {
    throw std::logic_error("from the callable");
  });
  try {
    get(std::move(thrown));
    CHECK(false, "get() did not rethrow the callable's exception");
  } catch (const std::logic_error &e) {
    CHECK(std::string(e.what()) == "from the callable", "what %s", e.what());
  }
  bool found = false;
  log.range("orders", 120, UINT64_MAX,
            [&](std::string_view p) { found = found || p == "despite"; });
  CHECK(found, "the append whose callable threw is not in the queue");

  // Many callables, each run exactly once, on any number of threads.
  std::atomic<int> runs{0};
  std::vector<std::future<mrlogpp::result>> futures;
  for (int i = 0; i < 200; i++)
    futures.push_back(
        log.append("orders", "bulk", [&runs](int, std::uint64_t) { ++runs; }));
  for (auto &fut : futures)
    CHECK(get(std::move(fut)).ok(), "bulk append failed");
  CHECK(runs == 200, "callables ran %d times", runs.load());

  // A second queue to delete.
  CHECK(get(log.create_queue("scratch")).ok(), "create scratch");
  r = get(log.delete_queue("scratch"));
  CHECK(r.ok(), "delete: %s", r.name());
}

void test_reads(const mrlogpp::log &log) {
  // 0..1 truncated; 2 (empty), 10, 11..15, 100..119, 120, 121..320 left.
  std::vector<std::uint64_t> positions;
  std::string two_payload = "unset";
  bool done = log.range("orders", [&](std::uint64_t pos, std::string_view p) {
    positions.push_back(pos);
    if (pos == 2)
      two_payload = std::string(p);
  });
  CHECK(done, "range did not reach the end");
  CHECK(positions.size() == 1 + 1 + 5 + 20 + 1 + 200,
        "range saw %zu records", positions.size());
  CHECK(!positions.empty() && positions.front() == 2, "first %llu",
        positions.empty() ? 0ull : (unsigned long long)positions.front());
  CHECK(two_payload.empty(), "record 2 holds \"%s\"", two_payload.c_str());

  // A bool visitor stops the walk.
  int visited = 0;
  done = log.range("orders", [&](std::string_view) { return ++visited < 3; });
  CHECK(!done && visited == 3, "stop after 3: done %d visited %d", done,
        visited);

  // A bool visitor that always says true walks to the end, like a void one
  // (an int one does not compile: tests/cxx_visitor_reject.sh).
  std::size_t all = 0;
  done = log.range("orders", [&](std::uint64_t, std::string_view) -> bool {
    ++all;
    return true;
  });
  CHECK(done && all == positions.size(), "bool true: done %d saw %zu of %zu",
        done, all, positions.size());

  // Bounds: [10, 14) holds 10, 11, 12, 13.
  std::string joined;
  log.range("orders", 10, 14, [&](std::uint64_t, std::string_view p) {
    joined += p;
    joined += '|';
  });
  CHECK(joined == "ten|b0|b1|b2|", "[10, 14): %s", joined.c_str());

  // A missing queue throws; so does a throwing visitor, after the walk.
  int status =
      error_status([&] { log.range("nope", [](std::string_view) {}); });
  CHECK(status == MRLOG_ENOQUEUE, "range missing: %d", status);
  int calls = 0;
  try {
    log.range("orders", [&](std::string_view) {
      ++calls;
      throw std::out_of_range("visitor");
    });
    CHECK(false, "the visitor's exception was lost");
  } catch (const std::out_of_range &) {
    CHECK(calls == 1, "the walk went on after the throw: %d calls", calls);
  }

  auto info = log.queue_info("orders");
  CHECK(info && info->first_position == 2 && info->next_position == 321 &&
            info->records == positions.size(),
        "queue_info first %llu next %llu records %llu",
        info ? (unsigned long long)info->first_position : 0ull,
        info ? (unsigned long long)info->next_position : 0ull,
        info ? (unsigned long long)info->records : 0ull);
  CHECK(!log.queue_info("nope"), "queue_info of a missing queue");
  status = error_status([&] { log.queue_info(""); });
  CHECK(status == MRLOG_EINVAL, "queue_info(\"\"): %d", status);

  CHECK(log.exists("orders") && !log.exists("scratch") && !log.exists("nope"),
        "exists");
  std::vector<std::string> names = log.list_queues();
  CHECK(names.size() == 1 && names[0] == "orders", "list_queues: %zu names",
        names.size());

  mrlog_stats_t st = log.stats();
  CHECK(st.queues == 1 && st.records == positions.size() && st.failed == 0,
        "stats: queues %llu records %llu", (unsigned long long)st.queues,
        (unsigned long long)st.records);

  mrlog_metrics_t m = log.metrics();
  CHECK(m.append_latency_ns.count > 0 &&
            m.fsync_ns.count <= log.stats().fsyncs,
        "metrics: %llu appends timed",
        (unsigned long long)m.append_latency_ns.count);
  std::string text = log.metrics_text();
  CHECK(text.find("mrlog_queue_appended_records_total{queue=\"orders\"}") !=
                std::string::npos &&
            text.back() == '\n' && text.find('\0') == std::string::npos,
        "metrics_text: %zu bytes", text.size());
}

void test_moves(mrlogpp::log &log) {
  mrlogpp::log empty;  // default-constructed: empty
  CHECK(!empty && empty.native_handle() == nullptr && empty.close() == 0,
        "a default-constructed log");

  mrlogpp::log moved(std::move(log));
  CHECK(!log && moved, "move construction");
  CHECK(moved.exists("orders"), "the moved-to log lost its queue");

  // An empty log: mutations complete with EINVAL, reads throw.
  mrlogpp::result r = get(log.append("orders", "x"));
  CHECK(r.status == MRLOG_EINVAL, "append on an empty log: %s", r.name());
  CHECK(!log.exists("orders"), "exists on an empty log");
  int status = error_status([&] { log.stats(); });
  CHECK(status == MRLOG_EINVAL, "stats on an empty log: %d", status);
  status = error_status([&] { log.list_queues(); });
  CHECK(status == MRLOG_EINVAL, "list_queues on an empty log: %d", status);
  status = error_status([&] { log.metrics_text(); });
  CHECK(status == MRLOG_EINVAL, "metrics_text on an empty log: %d", status);
  CHECK(log.close() == 0, "close of an empty log");

  log = std::move(moved);  // move assignment back
  CHECK(log && !moved, "move assignment");
  mrlogpp::log &same = log;
  log = std::move(same);  // a self-move leaves the log as it was
  CHECK(log && log.exists("orders"), "self-move");
}

}  // namespace

// Record times through a clock the test drives (policy.now_ms).
std::atomic<std::uint64_t> fake_now{0};

void test_times(const temp_dir &dir) {
  mrlog_policy policy = mrlogpp::default_policy();
  policy.now_ms = [](void *) -> std::uint64_t { return fake_now.load(); };
  mrlogpp::log log(dir.path.string() + "/timed", policy);
  get(log.create_queue("t"));
  fake_now = 1000;
  get(log.append("t", "a"));
  get(log.append("t", "b"));
  fake_now = 2000;
  get(log.append("t", "c"));
  auto at = log.seek_time("t", 1001);
  CHECK(at && *at == 2, "seek_time(1001) = %lld",
        at ? (long long)*at : -1ll);
  at = log.seek_time("t", 0);
  CHECK(at && *at == 0, "seek_time(0)");
  CHECK(!log.seek_time("t", 2001), "seek_time past the newest record");
  CHECK(error_status([&] { log.seek_time("nope", 0); }) == MRLOG_ENOQUEUE,
        "seek_time on a missing queue");
  std::vector<std::uint64_t> times;
  std::string all;
  bool done = log.range_time(
      "t", 0, UINT64_MAX,
      [&](std::uint64_t, std::uint64_t ms, std::string_view p) {
        times.push_back(ms);
        all += p;
      });
  CHECK(done && all == "abc" && times.size() == 3 && times[0] == 1000 &&
            times[1] == 1000 && times[2] == 2000,
        "range_time: \"%s\", %zu times", all.c_str(), times.size());
  int seen = 0;
  done = log.range_time("t", 0, UINT64_MAX,
                        [&](std::uint64_t, std::uint64_t, std::string_view) {
                          return ++seen < 2;
                        });
  CHECK(!done && seen == 2, "range_time stops when the visitor says so");
}

// Cursors: a range-for reads to the visible end and a later one goes on;
// next(), seek(), position(); a deleted queue and a closed log throw.
void test_cursors(const temp_dir &dir) {
  fake_now = 5000;
  mrlog_policy policy = mrlogpp::default_policy();
  policy.now_ms = [](void *) -> std::uint64_t { return fake_now.load(); };
  mrlogpp::log log(dir.path.string() + "/cursors", policy);
  get(log.create_queue("c"));
  for (int i = 0; i < 5; i++)
    get(log.append("c", std::string(1, char('a' + i))));

  mrlogpp::cursor cur = log.cursor("c", 1);
  std::string all;
  std::uint64_t expect = 1;
  for (const mrlogpp::record &r : cur) {
    CHECK(r.position == expect && r.unix_ms == 5000, "record %llu at %llu",
          (unsigned long long)r.position, (unsigned long long)r.unix_ms);
    all += r.data;
    ++expect;
  }
  CHECK(all == "bcde" && cur.position() == 5, "loop read \"%s\", at %llu",
        all.c_str(), (unsigned long long)cur.position());
  CHECK(cur.begin() == cur.end(), "a loop at the end reads nothing");
  get(log.append("c", "f"));
  all.clear();
  for (const auto &r : cur)
    all += r.data;
  CHECK(all == "f", "a second loop read \"%s\"", all.c_str());

  cur.seek(0);
  std::optional<mrlogpp::record> r = cur.next();
  CHECK(r && r->position == 0 && r->data == "a", "next after seek(0)");
  get(log.truncate("c", 3));
  r = cur.next();
  CHECK(r && r->position == 4 && r->data == "e",
        "next after a truncation: %llu",
        r ? (unsigned long long)r->position : 0ull);

  int status = error_status([&] { log.cursor("nope"); });
  CHECK(status == MRLOG_ENOQUEUE, "cursor on a missing queue: %d", status);
  mrlogpp::cursor moved(std::move(cur));
  CHECK(moved && !cur, "a moved cursor");
  status = error_status([&] { cur.next(); });
  CHECK(status == MRLOG_EINVAL, "next on an empty cursor: %d", status);

  mrlogpp::cursor other = log.cursor("c");
  get(log.delete_queue("c"));
  status = error_status([&] { moved.next(); });
  CHECK(status == MRLOG_ENOQUEUE, "next on a deleted queue: %d", status);
  get(log.create_queue("c"));
  status = error_status([&] {
    for (const auto &rec : other)
      (void)rec;
  });
  CHECK(status == MRLOG_ENOQUEUE, "a loop on a deleted queue: %d", status);

  mrlogpp::cursor last = log.cursor("c");
  CHECK(log.close() == 0, "close with cursors open");
  status = error_status([&] { last.next(); });
  CHECK(status == MRLOG_ECLOSED, "next after the log closed: %d", status);
}

// log::watch and cursor::wait as futures: a watch that an append from
// another thread completes (callable first), one that is already
// satisfied, cancel() giving MRLOG_ECANCELED once and MRLOG_EINVAL after,
// a missing queue, and a watch pending at close.
void test_watch(const temp_dir &dir) {
  mrlogpp::log log(dir.path.string() + "/watch");
  get(log.create_queue("w"));

  std::atomic<int> runs{0};
  mrlogpp::watch_future f = log.watch("w", 0, [&runs](int s, std::uint64_t) {
    if (s == 0)
      ++runs;
  });
  CHECK(f.wait_for(std::chrono::seconds(0)) != std::future_status::ready,
        "a watch on an empty queue is ready");
  std::thread writer([&log] { get(log.append("w", "one")); });
  mrlogpp::result r = get(std::move(f));
  writer.join();
  CHECK(r.ok() && r.position == 1 && runs == 1,
        "watch after an append: %s at %llu, %d runs", r.name(),
        (unsigned long long)r.position, runs.load());

  r = get(log.watch("w", 0));
  CHECK(r.ok() && r.position == 1, "a satisfied watch: %s at %llu",
        r.name(), (unsigned long long)r.position);

  mrlogpp::watch_future pending = log.watch("w", 1);
  CHECK(pending.cancel() == 0, "cancel of a pending watch");
  CHECK(pending.cancel() == MRLOG_EINVAL, "a second cancel");
  r = get(std::move(pending));
  CHECK(r.status == MRLOG_ECANCELED, "a cancelled watch: %s", r.name());

  r = get(log.watch("nope", 0));
  CHECK(r.status == MRLOG_ENOQUEUE, "a watch on a missing queue: %s",
        r.name());
  mrlogpp::watch_future empty;
  CHECK(empty.cancel() == MRLOG_EINVAL, "cancel of an empty watch_future");

  // cursor::wait: at the cursor's position, then cancelled.
  mrlogpp::cursor cur = log.cursor("w");
  for (const auto &rec : cur)
    (void)rec;
  mrlogpp::watch_future at_end = cur.wait();
  CHECK(at_end.wait_for(std::chrono::seconds(0)) != std::future_status::ready,
        "a wait at the end is ready");
  std::thread second([&log] { get(log.append("w", "two")); });
  r = get(std::move(at_end));
  second.join();
  CHECK(r.ok() && r.position == 2, "cursor wait: %s at %llu", r.name(),
        (unsigned long long)r.position);
  std::optional<mrlogpp::record> rec = cur.next();
  CHECK(rec && rec->position == 1 && rec->data == "two",
        "the record the wait announced");
  mrlogpp::watch_future cancelled = cur.wait();
  CHECK(mrlogpp::log::cancel(cancelled) == 0, "log::cancel");
  r = get(std::move(cancelled));
  CHECK(r.status == MRLOG_ECANCELED, "a cancelled cursor wait: %s",
        r.name());

  mrlogpp::watch_future at_close = log.watch("w", 10);
  CHECK(log.close() == 0, "close with a watch pending");
  CHECK(at_close.cancel() == MRLOG_EINVAL, "cancel after close");
  r = get(std::move(at_close));
  CHECK(r.status == MRLOG_ECLOSED, "a watch pending at close: %s", r.name());
}

// On a library thread, get() on a future that is not ready throws
// mrlogpp::error(MRLOG_EINVAL) instead of deadlocking, and the future
// stays valid; mrlog_on_library_thread() says where a call runs.
void test_library_thread(const temp_dir &dir) {
  mrlogpp::log log(dir.log() + "-lib");
  std::atomic<bool> on_library{false};
  std::atomic<int> status{0};
  mrlogpp::future inner;

  CHECK(!mrlog_on_library_thread(), "the test thread is not the library's");
  CHECK(get(log.create_queue("q")).ok(), "create");
  auto outer = log.append("q", "a", [&](int, std::uint64_t) {
    on_library = mrlog_on_library_thread();
    // Completes after this callable, on the same thread: not ready now.
    inner = log.append("q", "b");
    status = error_status([&] { inner.get(); });
  });
  mrlogpp::result r = get(std::move(outer));
  CHECK(r.ok() && r.position == 0, "outer append: %s", r.name());
  CHECK(on_library.load(), "the callable did not run on a library thread");
  CHECK(status == MRLOG_EINVAL, "get() on a library thread: status %d",
        status.load());
  r = get(std::move(inner));
  CHECK(r.ok() && r.position == 1, "inner append after the refused get: %s",
        r.name());
}

// Poll mode: callables run on the thread that calls run_completions,
// which watches completion_fd(); both throw MRLOG_EINVAL in the other mode.
void test_poll_mode(const temp_dir &dir) {
  mrlog_policy policy = mrlogpp::default_policy();
  policy.completion_mode = MRLOG_COMPLETE_ON_POLL;
  mrlogpp::log log(dir.log() + "-poll", policy);
  std::thread::id ran_on;
  int runs = 0;

  int fd = log.completion_fd();
  CHECK(fd >= 0, "completion_fd: %d", fd);
  auto created = log.create_queue("q");
  auto appended = log.append("q", "a", [&](int s, std::uint64_t) {
    ran_on = std::this_thread::get_id();
    runs += s == 0;
  });
  while (appended.wait_for(std::chrono::seconds(0)) !=
         std::future_status::ready) {
    struct pollfd pfd = {fd, POLLIN, 0};
    CHECK(::poll(&pfd, 1, 30000) == 1, "completion_fd not readable");
    log.run_completions(16);
  }
  CHECK(get(std::move(created)).ok() && get(std::move(appended)).ok(),
        "poll-mode mutations");
  CHECK(runs == 1 && ran_on == std::this_thread::get_id(),
        "the callable ran %d times, not on the polling thread", runs);
  CHECK(log.run_completions(16) == 0, "nothing left to run");

  mrlogpp::log other(dir.log() + "-nopoll");
  int status = error_status([&] { other.completion_fd(); });
  CHECK(status == MRLOG_EINVAL, "completion_fd not in poll mode: %d", status);
  status = error_status([&] { other.run_completions(1); });
  CHECK(status == MRLOG_EINVAL, "run_completions not in poll mode: %d",
        status);
}

int main() {
  try {
    temp_dir dir;
    test_open_errors(dir);
    test_times(dir);
    test_cursors(dir);
    test_watch(dir);
    test_library_thread(dir);
    test_poll_mode(dir);

    std::atomic<int> late_runs{0};
    {
      mrlogpp::log log(dir.log(), mrlogpp::default_policy());
      CHECK(log && log.native_handle() != nullptr, "open");
      test_mutations(log);
      test_reads(log);
      test_moves(log);
      // Pending work at destruction: close completes it, callables included.
      for (int i = 0; i < 50; i++)
        log.append("orders", "late", [&late_runs](int s, std::uint64_t) {
          if (s == 0)
            ++late_runs;
        });
    }
    CHECK(late_runs == 50, "%d of 50 callables ran by the destructor",
          late_runs.load());

    // Reopen: everything acknowledged is there.
    mrlogpp::log log(dir.log());
    auto info = log.queue_info("orders");
    CHECK(info && info->first_position == 2 && info->next_position == 371,
          "after reopen: next %llu",
          info ? (unsigned long long)info->next_position : 0ull);
    std::string ten;
    log.range("orders", 10, 11, [&](std::string_view p) { ten = p; });
    CHECK(ten == "ten", "after reopen, record 10 is \"%s\"", ten.c_str());
    std::string one;
    log.range("orders", 1, 2, [&](std::string_view p) { one = p; });
    CHECK(one.empty(), "truncated record 1 came back");
    CHECK(log.close() == 0, "close");
    CHECK(!log, "a closed log is empty");
  } catch (const std::exception &e) {
    std::fprintf(stderr, "FAIL: unexpected exception: %s\n", e.what());
    return 1;
  }
  if (failures != 0) {
    std::fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("PASS: mrlog.hpp\n");
  return 0;
}
